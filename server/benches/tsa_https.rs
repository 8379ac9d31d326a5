//! TSA throughput over HTTPS with keep-alive, beside OpenSSL's raw ECDSA P-256 signing rate on the
//! same machine in the same run.
//!
//! `cargo bench -p assize-server --bench tsa_https` starts a real server (release build), sends
//! one fixed RFC 3161 request from `ASSIZE_BENCH_CLIENTS` (default 32) keep-alive connections for
//! `ASSIZE_BENCH_SECONDS` (default 10), then runs `openssl speed -seconds 10 ecdsap256` and prints
//! tokens/s, signs/s and the ratio.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use assize_server::app::Application;
use assize_server::config::Settings;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tokens_per_s = rt.block_on(load());
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "10", "ecdsap256"])
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    // "256 bits ecdsa (nistp256)   0.0000s   0.0001s  47343.0  15000.0"
    let signs = text
        .lines()
        .find(|l| l.contains("ecdsa (nistp256)"))
        .and_then(|l| l.split_whitespace().rev().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("openssl speed output");
    println!("openssl speed ecdsap256: {signs:.0} signs/s (one core)");
    println!(
        "ratio TSA tokens over HTTPS / raw ECDSA signs: {:.2}",
        tokens_per_s / signs
    );
}

async fn load() -> f64 {
    let clients: usize = std::env::var("ASSIZE_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let seconds: u64 = std::env::var("ASSIZE_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: dir.path().join("data"),
        ..Settings::default()
    };
    settings.http.listen = "127.0.0.1:0".into();
    settings.log.level = "warn".into();
    let app = Application::build(settings).await.unwrap();
    let url = format!("https://{}/tsa", app.local_addr());
    let ca = std::fs::read(&app.data_dir().ca_cert).unwrap();
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    std::fs::write(dir.path().join("doc"), b"bench").unwrap();
    let q = dir.path().join("q.tsq");
    let st = Command::new("openssl")
        .args(["ts", "-query", "-sha256", "-cert", "-data"])
        .arg(dir.path().join("doc"))
        .arg("-out")
        .arg(&q)
        .status()
        .unwrap();
    assert!(st.success());
    let query = std::fs::read(&q).unwrap();

    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .http1_only()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, query, done) = (client.clone(), url.clone(), query.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = client
                    .post(&url)
                    .header("content-type", "application/timestamp-query")
                    .body(query.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let body = r.bytes().await.unwrap();
                assert!(body.len() > 500, "a token, not a rejection");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!(
        "TSA over HTTPS (keep-alive, {clients} clients, client in the same process): {rate:.0} tokens/s"
    );
    rate
}
