//! The server seals with a key on a PKCS#11 token (SoftHSM2 here) when `[signing]` says so:
//! `assize audit export` seals a checkpoint, and its signer is the token's certificate, not the
//! PEM key of the data directory. The binary runs as a child process with `SOFTHSM2_CONF` set
//! (setting it in-process would be `unsafe` and racy).
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const MODULE_CANDIDATES: [&str; 3] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assize(dir: &Path, conf: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_assize"));
    c.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("SOFTHSM2_CONF", conf);
    for (k, _) in std::env::vars() {
        if k.starts_with("ASSIZE_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn checkpoints_are_sealed_with_the_key_on_the_token() {
    let Some(module) = MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("SKIPPED: softhsm2 is not installed (apt-get install softhsm2 opensc)");
        return;
    };
    if Command::new("pkcs11-tool").arg("--help").output().is_err() {
        eprintln!("SKIPPED: pkcs11-tool (opensc) is missing");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    let soft = |args: &[&str]| {
        run(Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(args))
    };
    soft(&[
        "--init-token",
        "--free",
        "--label",
        "assize",
        "--pin",
        "246810",
        "--so-pin",
        "13579",
    ]);
    let tool = |args: &[&str]| {
        run(Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &conf)
            .arg("--module")
            .arg(&module)
            .args(["--token-label", "assize"])
            .args(args))
    };
    tool(&[
        "--login",
        "--pin",
        "246810",
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--id",
        "07",
        "--label",
        "court-seal",
    ]);
    let pub_der = dir.join("pub.der");
    tool(&[
        "--read-object",
        "--type",
        "pubkey",
        "--id",
        "07",
        "-o",
        pub_der.to_str().unwrap(),
    ]);

    // The data directory and its CA exist after a first command.
    run(assize(dir, &conf).args(["audit", "export", "before.jsonl"]));
    let data = dir.join("assize-data");
    // Certify the token's public key with the data directory's CA.
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(data.join("pki/ca.key")).unwrap())
            .unwrap();
    let ca = rcgen::CertificateParams::from_ca_cert_pem(
        &std::fs::read_to_string(data.join("pki/ca.crt")).unwrap(),
    )
    .unwrap()
    .self_signed(&ca_key)
    .unwrap();
    let spki = rcgen::SubjectPublicKeyInfo::from_der(&std::fs::read(&pub_der).unwrap()).unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "Court seal (on token)");
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::ContentCommitment,
    ];
    // rcgen 0.13 writes no extensions unless one of a few is present.
    p.use_authority_key_identifier_extension = true;
    let cert = p.signed_by(&spki, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("seal.crt"), cert.pem()).unwrap();
    let pin = dir.join("pin");
    std::fs::write(&pin, "246810\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(
        dir.join("assize.toml"),
        format!(
            "[signing]\npkcs11_module = \"{}\"\npkcs11_token_label = \"assize\"\n\
             pkcs11_key_label = \"court-seal\"\npkcs11_pin_file = \"{}\"\n\
             certificate_file = \"{}\"\n",
            module.display(),
            pin.display(),
            dir.join("seal.crt").display()
        ),
    )
    .unwrap();

    // Export seals a checkpoint with the configured key.
    run(assize(dir, &conf).args(["--config", "assize.toml", "audit", "export", "log.jsonl"]));
    let out = run(assize(dir, &conf).args([
        "audit",
        "verify",
        "log.jsonl",
        "--ca",
        data.join("pki/ca.crt").to_str().unwrap(),
    ]));
    assert!(out.contains("OK: the export is intact"), "{out}");
    // The last checkpoint's signer is the token's certificate.
    let export = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
    let checkpoint: serde_json::Value = export
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v.get("checkpoint").is_some())
        .unwrap();
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(checkpoint["checkpoint"]["signature"].as_str().unwrap())
        .unwrap();
    std::fs::write(dir.join("cp.p7s"), sig).unwrap();
    std::fs::write(
        dir.join("cp.note"),
        checkpoint["checkpoint"]["note"].as_str().unwrap(),
    )
    .unwrap();
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "cp.p7s",
            "-content",
            "cp.note",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
            "-signer",
            "signer.pem",
            "-CAfile",
        ])
        .arg(data.join("pki/ca.crt")));
    let signer = std::fs::read_to_string(dir.join("signer.pem")).unwrap();
    assert_eq!(
        signer.trim(),
        cert.pem().trim(),
        "sealed by the token's key"
    );

    // A wrong PIN stops the command with a message naming the settings.
    std::fs::write(&pin, "000000\n").unwrap();
    let out = assize(dir, &conf)
        .args(["--config", "assize.toml", "audit", "export", "log2.jsonl"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signing.pkcs11"), "{err}");
}
