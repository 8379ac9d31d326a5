//! A key generated inside SoftHSM2 (never extractable) signs CAdES signatures that
//! `openssl cms -verify` accepts.
//!
//! SoftHSM reads its configuration from the SOFTHSM2_CONF environment variable when the module
//! is initialised. Setting an environment variable in-process is `unsafe` in edition 2024 (and
//! racy with other tests), so the outer test prepares a token and re-runs this test binary with
//! the variable set, executing only the ignored inner test.

// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use assize_signing::KeyError;
use assize_signing::cades::sign_detached;
use assize_signing::keys::{CertificateDer, Pkcs11Config, Pkcs11Signer, SigningIdentity};
use assize_signing::verify::verify_detached;
use common::*;
use time::OffsetDateTime;

const MODULE_CANDIDATES: [&str; 3] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];
const DIR_VAR: &str = "ASSIZE_TEST_PKCS11_DIR";
const DOC: &[u8] = b"Letter of request signed on a hardware token";

fn module() -> Option<PathBuf> {
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn tool_available(name: &str) -> bool {
    Command::new(name).arg("--help").output().is_ok()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", describe(&out));
}

#[test]
fn pkcs11_signer_signs_with_a_non_extractable_key_on_softhsm() {
    let Some(module) = module() else {
        eprintln!(
            "SKIPPED: softhsm2 is not installed (no libsofthsm2.so); apt-get install softhsm2 opensc"
        );
        return;
    };
    if !tool_available("softhsm2-util") || !tool_available("pkcs11-tool") {
        eprintln!("SKIPPED: softhsm2-util or pkcs11-tool (opensc) is missing");
        return;
    }
    let pki = Pki::new();
    let dir = pki.dir.path();
    std::fs::create_dir(dir.join("tokens")).unwrap();
    let conf = pki.write(
        "softhsm2.conf",
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        )
        .as_bytes(),
    );
    run(Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "t",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ]));
    run(Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &conf)
        .arg("--module")
        .arg(&module)
        .args([
            "--token-label",
            "t",
            "--login",
            "--pin",
            "1234",
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--id",
            "01",
            "--label",
            "clerk",
        ]));
    run(Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &conf)
        .arg("--module")
        .arg(&module)
        .args([
            "--token-label",
            "t",
            "--read-object",
            "--type",
            "pubkey",
            "--id",
            "01",
            "-o",
        ])
        .arg(dir.join("pub.der")));
    // Certify the token's public key with the test CA.
    let public =
        openssl::pkey::PKey::public_key_from_der(&std::fs::read(dir.join("pub.der")).unwrap())
            .unwrap();
    let cert = make_cert(
        "Clerk on token",
        &public,
        Kind::Signer,
        (&pki.ca, &pki.ca_key),
        -1,
        30,
    );
    pki.write("token-cert.der", &cert.to_der().unwrap());
    pki.write("module.path", module.to_str().unwrap().as_bytes());

    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "pkcs11_inner_signs_on_the_token",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env(DIR_VAR, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout.contains("1 passed"),
        "inner test did not run: {stdout}"
    );

    // The signature made on the token verifies with the openssl CLI.
    pki.write("doc.txt", DOC);
    let out = openssl(
        &[
            &"cms",
            &"-verify",
            &"-binary",
            &"-inform",
            &"DER",
            &"-in",
            &"token.p7s",
            &"-content",
            &"doc.txt",
            &"-CAfile",
            &"ca.pem",
            &"-purpose",
            &"any",
            &"-out",
            &"/dev/null",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
#[ignore = "run by pkcs11_signer_signs_with_a_non_extractable_key_on_softhsm with SOFTHSM2_CONF set"]
fn pkcs11_inner_signs_on_the_token() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        eprintln!(
            "SKIPPED: only runs inside pkcs11_signer_signs_with_a_non_extractable_key_on_softhsm"
        );
        return;
    };
    let dir = Path::new(&dir);
    let module = PathBuf::from(std::fs::read_to_string(dir.join("module.path")).unwrap());
    let config = |pin, token_label, key_label| Pkcs11Config {
        module_path: &module,
        token_label,
        pin,
        key_label,
        key_id: None,
    };
    // Wrong token label and unknown key label are reported as such.
    assert!(matches!(
        Pkcs11Signer::open(&config("1234", "nope", Some("clerk"))),
        Err(KeyError::TokenNotFound { .. })
    ));
    assert!(matches!(
        Pkcs11Signer::open(&config("1234", "t", Some("missing"))),
        Err(KeyError::KeyNotFound { found: 0 })
    ));

    let signer = Pkcs11Signer::open(&config("1234", "t", Some("clerk"))).unwrap();
    assert!(!format!("{signer:?}").contains("1234"));
    let cert =
        CertificateDer::from_der(&std::fs::read(dir.join("token-cert.der")).unwrap()).unwrap();
    let identity = SigningIdentity::new(Box::new(signer), cert, vec![]).unwrap();

    let tsa_pki = Pki::new();
    let pending = sign_detached(&identity, DOC, OffsetDateTime::now_utc()).unwrap();
    let token = tsa_pki
        .tsa()
        .stamp_imprint(
            &pending.timestamp_imprint(),
            serials().next_serial().unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let sig = pending.attach_timestamp(&token).unwrap();
    std::fs::write(dir.join("token.p7s"), sig.as_der()).unwrap();

    // Our verifier: the signer chains to the outer CA, the TSA to this PKI's CA.
    let mut anchors_pem = std::fs::read(dir.join("ca.pem")).unwrap();
    anchors_pem.extend(tsa_pki.ca.to_pem().unwrap());
    let anchors = assize_signing::verify::TrustAnchors::from_pem(&anchors_pem).unwrap();
    let report = verify_detached(sig.as_der(), DOC, &anchors, &options());
    assert!(report.is_valid(), "{report:#?}");
}
