//! The RFC 3161 time-stamping authority over HTTPS, checked with OpenSSL's own client.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use assize_tests::{TestApp, spawn_app, spawn_app_with};

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn post_query(app: &TestApp, query: Vec<u8>) -> (u16, String, Vec<u8>) {
    let resp = app
        .client()
        .http
        .post(format!("{}/tsa", app.url))
        .header("content-type", "application/timestamp-query")
        .body(query)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, resp.bytes().await.unwrap().to_vec())
}

async fn certs(app: &TestApp, dir: &Path) {
    let pem = app
        .client()
        .http
        .get(format!("{}/tsa/certs.pem", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        pem.matches("BEGIN CERTIFICATE").count() == 2,
        "TSA certificate and CA: {pem}"
    );
    std::fs::write(dir.join("chain.pem"), &pem).unwrap();
    std::fs::copy(app.data_dir.join("pki/ca.crt"), dir.join("ca.pem")).unwrap();
}

fn serial_of(dir: &Path, reply: &str) -> u128 {
    let (ok, text) = openssl(&["ts", "-reply", "-in", reply, "-text"], dir);
    assert!(ok, "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("Serial number:"))
        .expect("a serial number");
    let hex = line
        .trim_start_matches("Serial number:")
        .trim()
        .trim_start_matches("0x");
    u128::from_str_radix(hex, 16).unwrap()
}

#[tokio::test]
async fn openssl_ts_queries_get_tokens_that_openssl_verifies() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certs(&app, d).await;
    std::fs::write(d.join("doc.txt"), b"EIO 2026/117, annex A").unwrap();
    for (name, extra) in [
        ("a", vec!["-cert"]),
        ("b", vec!["-no_nonce"]),
        ("c", vec!["-sha512", "-cert"]),
    ] {
        let req = format!("{name}.tsq");
        let mut args = vec!["ts", "-query", "-data", "doc.txt", "-out", &req];
        if !extra.contains(&"-sha512") {
            args.push("-sha256");
        }
        args.extend(extra.iter().copied());
        let (ok, text) = openssl(&args, d);
        assert!(ok, "{text}");
        let (status, ct, body) = post_query(&app, std::fs::read(d.join(&req)).unwrap()).await;
        assert_eq!((status, ct.as_str()), (200, "application/timestamp-reply"));
        let reply = format!("{name}.tsr");
        std::fs::write(d.join(&reply), body).unwrap();
        let (ok, text) = openssl(
            &[
                "ts",
                "-verify",
                "-in",
                &reply,
                "-queryfile",
                &req,
                "-CAfile",
                "ca.pem",
                "-untrusted",
                "chain.pem",
            ],
            d,
        );
        assert!(ok && text.contains("Verification: OK"), "{name}: {text}");
    }
}

#[tokio::test]
async fn bad_requests_get_rfc3161_rejections_not_error_pages() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("doc.txt"), b"x").unwrap();
    let (ok, text) = openssl(
        &[
            "ts", "-query", "-data", "doc.txt", "-sha1", "-out", "sha1.tsq",
        ],
        d,
    );
    assert!(ok, "{text}");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "sha1",
            std::fs::read(d.join("sha1.tsq")).unwrap(),
            "unrecognized or unsupported algorithm",
        ),
        (
            "garbage",
            b"\x30\x03\x02\x01".to_vec(),
            "transaction not permitted or supported",
        ),
        ("empty", Vec::new(), ""),
        ("huge", vec![0x30; 100_000], ""),
    ];
    for (name, query, failure) in cases {
        let (status, ct, body) = post_query(&app, query).await;
        assert_eq!(
            (status, ct.as_str()),
            (200, "application/timestamp-reply"),
            "{name}"
        );
        let file = format!("{name}.tsr");
        std::fs::write(d.join(&file), body).unwrap();
        let (ok, text) = openssl(&["ts", "-reply", "-in", &file, "-text"], d);
        assert!(ok, "{name}: {text}");
        assert!(
            text.contains("Status: Rejected") || text.contains("rejection"),
            "{name}: {text}"
        );
        let _ = failure;
    }
    let r = app.client().post("/tsa", serde_json::json!({})).await;
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
}

#[tokio::test]
async fn serial_numbers_keep_increasing_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let data = d.join("data");
    std::fs::write(d.join("doc.txt"), b"doc").unwrap();
    let (ok, text) = openssl(
        &[
            "ts", "-query", "-data", "doc.txt", "-sha256", "-out", "q.tsq",
        ],
        &d,
    );
    assert!(ok, "{text}");
    let query = std::fs::read(d.join("q.tsq")).unwrap();

    let d1 = data.clone();
    let app = spawn_app_with(move |s| s.data_dir = d1).await;
    let mut serials = Vec::new();
    for i in 0..3 {
        let (_, _, body) = post_query(&app, query.clone()).await;
        std::fs::write(d.join(format!("{i}.tsr")), body).unwrap();
        serials.push(serial_of(&d, &format!("{i}.tsr")));
    }
    let db = app.database_url.clone();
    let _keep = app.stop_keeping_database().await;
    let d2 = data.clone();
    let app = spawn_app_with(move |s| {
        s.data_dir = d2;
        s.database_url = db;
    })
    .await;
    let (_, _, body) = post_query(&app, query.clone()).await;
    std::fs::write(d.join("after.tsr"), body).unwrap();
    serials.push(serial_of(&d, "after.tsr"));
    assert!(
        serials.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {serials:?}"
    );
}
