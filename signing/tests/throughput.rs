//! Quick throughput figure for the TSA core (ignored by default; run in release mode):
//! `cargo test --release -p assize-signing --test throughput -- --ignored --nocapture`
//! Compare with `openssl speed -seconds 3 ecdsap256` (sign/s).

mod common;

use std::time::{Duration, Instant};

use common::*;
use time::OffsetDateTime;

#[test]
#[ignore = "measurement, not a test: run in release mode with --ignored --nocapture"]
fn tsa_tokens_per_second() {
    let pki = Pki::new();
    let tsa = pki.tsa();
    let mut serials = serials();
    let req = {
        let data = pki.write("d.bin", b"x");
        let out = openssl(
            &[
                &"ts", &"-query", &"-data", &data, &"-sha256", &"-cert", &"-out", &"q.tsq",
            ],
            pki.dir.path(),
        );
        assert!(out.status.success(), "{}", describe(&out));
        std::fs::read(pki.path("q.tsq")).unwrap()
    };
    let now = OffsetDateTime::now_utc();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(3) {
        let resp = tsa
            .respond(&req, serials.next_serial().unwrap(), now)
            .unwrap();
        assert!(resp.outcome.is_ok());
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    println!("TSA core: {rate:.0} tokens/s (one thread, ECDSA P-256, certReq, nonce)");
}
