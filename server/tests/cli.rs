//! The `assize` binary as an operator uses it: zero-configuration start, bad settings, and the
//! `user` and `migrate` commands.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn assize(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_assize"));
    c.current_dir(dir).env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("ASSIZE_") {
            c.env_remove(k);
        }
    }
    c
}

fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = assize(dir).args(args).output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn serve_with_no_arguments_answers_healthz_on_8443_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = assize(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    assert_eq!(first, "Assize is listening on https://127.0.0.1:8443");
    let mut setup_link = None;
    for line in lines.by_ref().take(6) {
        let line = line.unwrap();
        if line.contains("/setup?token=") {
            setup_link = Some(line.trim().to_string());
        }
    }
    assert!(setup_link.is_some_and(|l| l.starts_with("https://127.0.0.1:8443/setup?token=")));

    let ca = std::fs::read(dir.path().join("assize-data/pki/ca.crt")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = rt.block_on(async {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap();
        client
            .get("https://127.0.0.1:8443/healthz")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(body, r#"{"status":"ok"}"#);

    for key in ["ca", "signing", "tsa", "federation-client"] {
        let p = dir.path().join(format!("assize-data/pki/{key}.key"));
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&p).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{}", p.display());
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server stops after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l == "Assize stopped."), "{rest:?}");
}

#[test]
fn a_bad_setting_stops_the_start_naming_the_setting_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = assize(dir.path())
        .env("ASSIZE_HTTP__LISTEN", "everywhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`http.listen`") && err.contains("fix:"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("a.toml"),
        "[auth]\nsession_idle_minutes = \"long\"\n",
    )
    .unwrap();
    let out = assize(dir.path())
        .args(["--config", "a.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.session_idle_minutes"), "{err}");
    assert!(
        !dir.path().join("assize-data").exists(),
        "nothing is created on a bad start"
    );
}

#[test]
fn user_commands_manage_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(dir.path(), &["migrate"]);
    assert!(ok, "{err}");
    assert!(out.contains("up to date"));

    let (ok, out, err) = run(
        dir.path(),
        &[
            "user",
            "add",
            "--username",
            "J.Martin",
            "--display-name",
            "Judge Martin",
            "--role",
            "judge",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("created j.martin (judge)"), "{out}");
    assert!(
        out.contains("https://127.0.0.1:8443/password?token="),
        "{out}"
    );

    let (ok, _, err) = run(
        dir.path(),
        &[
            "user",
            "add",
            "--username",
            "j.martin",
            "--display-name",
            "X",
            "--role",
            "clerk",
        ],
    );
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "user",
            "add",
            "--username",
            "x1",
            "--display-name",
            "X",
            "--role",
            "king",
        ],
    );
    assert!(!ok);
    assert!(err.contains("unknown role"), "{err}");

    let (ok, out, _) = run(dir.path(), &["user", "list"]);
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.starts_with("j.martin") && l.contains("judge") && l.ends_with("active")),
        "{out}"
    );

    let (ok, out, _) = run(dir.path(), &["user", "disable", "j.martin"]);
    assert!(ok, "{out}");
    let (_, out, _) = run(dir.path(), &["user", "list"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("j.martin") && l.ends_with("disabled")),
        "{out}"
    );
    assert!(run(dir.path(), &["user", "enable", "j.martin"]).0);
    assert!(run(dir.path(), &["user", "reset-totp", "j.martin"]).0);
    let (ok, out, _) = run(dir.path(), &["user", "password-link", "j.martin"]);
    assert!(ok && out.contains("/password?token="), "{out}");
    let (ok, _, err) = run(dir.path(), &["user", "disable", "nobody"]);
    assert!(!ok && err.contains("no account named"), "{err}");
}

#[test]
fn audit_export_and_verify_work_offline_and_name_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["clerk.one", "clerk.two", "clerk.three"] {
        let (ok, _, err) = run(
            dir.path(),
            &[
                "user",
                "add",
                "--username",
                name,
                "--display-name",
                "C",
                "--role",
                "clerk",
            ],
        );
        assert!(ok, "{err}");
    }
    let (ok, out, err) = run(dir.path(), &["audit", "export", "log.jsonl"]);
    assert!(ok, "{err}");
    assert!(out.contains("exported"), "{out}");

    let (ok, out, err) = run(
        dir.path(),
        &[
            "audit",
            "verify",
            "log.jsonl",
            "--ca",
            "assize-data/pki/ca.crt",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("OK: the export is intact"), "{out}");

    // One byte changed inside entry 2's body.
    let text = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    let tampered: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("{\"entry\":{\"seq\":2,") {
                l.replacen("user.create", "user.creatE", 1)
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_ne!(
        tampered.join("\n") + "\n",
        text,
        "the test changed something"
    );
    std::fs::write(dir.path().join("bad.jsonl"), tampered.join("\n") + "\n").unwrap();
    let (ok, _, err) = run(dir.path(), &["audit", "verify", "bad.jsonl"]);
    assert!(!ok);
    assert!(
        err.contains("verification FAILED") && err.contains("entry 2 was altered"),
        "{err}"
    );
}

fn write_wav(path: &Path, rate: u32, seconds: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (rate as f32 * seconds) as usize;
    for i in 0..n {
        let t = i as f32 / rate as f32;
        // A voiced sound: harmonics of 120 Hz with a formant-like tilt.
        let v: f32 = (1..30)
            .map(|k| (2.0 * std::f32::consts::PI * 120.0 * k as f32 * t).sin() / k as f32)
            .sum();
        w.write_sample((v * 4000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn read_wav(path: &Path) -> Vec<i16> {
    hound::WavReader::open(path)
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn anonymise_distorts_a_recorded_voice_with_the_hearing_secret() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_wav(&d.join("in.wav"), 48_000, 2.0);
    for (name, secret) in [("a.key", "11".repeat(32)), ("b.key", "22".repeat(32))] {
        std::fs::write(d.join(name), format!("{secret}\n")).unwrap();
        std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let anonymise = |key: &str, out: &str| {
        run(
            d,
            &["anonymise", "--voice", "--secret-file", key, "in.wav", out],
        )
    };
    let (ok, out, err) = anonymise("a.key", "a1.wav");
    assert!(ok, "{err}");
    assert!(out.contains("anonymised 2.0 s of voice"), "{out}");
    let (ok, _, err) = anonymise("a.key", "a2.wav");
    assert!(ok, "{err}");
    let (ok, _, err) = anonymise("b.key", "b.wav");
    assert!(ok, "{err}");
    let (input, a1, a2, b) = (
        read_wav(&d.join("in.wav")),
        read_wav(&d.join("a1.wav")),
        read_wav(&d.join("a2.wav")),
        read_wav(&d.join("b.wav")),
    );
    assert_eq!(a1.len(), input.len());
    assert_ne!(a1, input, "the voice is changed");
    assert_eq!(a1, a2, "the same secret gives the same voice");
    assert_ne!(a1, b, "another secret gives another voice");
    assert!(a1.iter().any(|s| s.unsigned_abs() > 500), "not silence");

    // A secret others can read is refused; so is a file at another rate, naming the fix.
    std::fs::set_permissions(d.join("b.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, err) = anonymise("b.key", "x.wav");
    assert!(!ok && err.contains("b.key"), "{err}");
    write_wav(&d.join("cd.wav"), 44_100, 0.5);
    let (ok, _, err) = run(
        d,
        &[
            "anonymise",
            "--voice",
            "--secret-file",
            "a.key",
            "cd.wav",
            "y.wav",
        ],
    );
    assert!(!ok && err.contains("48000"), "{err}");
    assert!(!d.join("y.wav").exists(), "nothing half-written");
}
