//! Submit-to-signed-receipt latency between two local servers (issue #3, "Benchmarks").
//!
//! `cargo bench -p assize-tests --bench mla_latency` starts state A and state B as the MLA
//! integration tests do (`assize_tests::mla::two_states`: two real servers in this process, SQLite,
//! mutual TLS, B reached through the tests' TCP relay), prepares validated EIOs with one
//! attachment each (untimed), then measures, per request, from the start of the officer's
//! `POST …/transitions {"to": "TRANSMITTED"}` until A's record of the request message is
//! `DELIVERED` with B's sealed receipt stored. That covers A sealing the transmission, its
//! delivery loop posting the message over mutual TLS, B verifying the seal and time-stamp,
//! storing the request and sealing the receipt, and A verifying and recording the receipt.
//!
//! A's record is polled through the store every millisecond (a cheap indexed query, rather than
//! an HTTPS `GET` that would compete for the same cores), so figures carry up to ~1 ms of polling
//! granularity.
//!
//! Two phases: one officer transmitting one request at a time, then `ASSIZE_BENCH_OFFICERS`
//! officers (default 4) each transmitting their own requests one at a time, concurrently.
//! `ASSIZE_BENCH_REQUESTS` (default 200) requests per phase; `ASSIZE_BENCH_ATTACHMENT_BYTES`
//! (default 65536) per request. Reports p50/p95/p99/max; no thresholds.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assize_server::policy::Role;
use assize_tests::Client;
use assize_tests::mla::{States, assign, step, two_states, validated_eio};
use serde_json::json;

/// Deliveries that needed more than one attempt (a retry waits for the backoff, ≥ 1 s).
static RETRIED: AtomicUsize = AtomicUsize::new(0);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let requests = env("ASSIZE_BENCH_REQUESTS", 200);
    let officers = env("ASSIZE_BENCH_OFFICERS", 4).max(1);
    let attachment = vec![0x25u8; env("ASSIZE_BENCH_ATTACHMENT_BYTES", 64 * 1024)];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = two_states().await;
        println!(
            "MLA submit-to-signed-receipt latency: {requests} requests per phase, {} byte attachment each",
            attachment.len()
        );

        let ids = prepare(&s, &s.a_officer, requests, &attachment).await;
        let mut one = Vec::with_capacity(requests);
        let started = Instant::now();
        for id in &ids {
            one.push(transmit_and_wait(&s, &s.a_officer, id).await);
        }
        report("1 officer, one request at a time", &mut one, started.elapsed());

        let mut clients = vec![s.a_officer.clone()];
        while clients.len() < officers {
            let (officer, _) = s.a.sign_in_as(&[Role::Officer]).await;
            assign(&s.a_admin, &officer, &s.a_authority).await;
            clients.push(officer);
        }
        let per_officer = requests.div_ceil(officers);
        let mut batches = Vec::new();
        for officer in &clients {
            batches.push(prepare(&s, officer, per_officer, &attachment).await);
        }
        let started = Instant::now();
        let mut all = Vec::with_capacity(per_officer * officers);
        let results = concurrently(&s, &clients, &batches).await;
        for r in results {
            all.extend(r);
        }
        report(
            &format!("{officers} officers concurrently, each one request at a time"),
            &mut all,
            started.elapsed(),
        );
    });
}

/// `n` validated EIOs of `officer`'s, ready to transmit (not timed).
async fn prepare(s: &States, officer: &Client, n: usize, attachment: &[u8]) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(validated_eio(s, officer, attachment).await);
    }
    ids
}

/// Every officer works through its batch at the same time; the latencies of each.
async fn concurrently(
    s: &States,
    clients: &[Client],
    batches: &[Vec<String>],
) -> Vec<Vec<Duration>> {
    futures_util::future::join_all(
        clients
            .iter()
            .zip(batches)
            .map(|(officer, ids)| async move {
                let mut lat = Vec::with_capacity(ids.len());
                for id in ids {
                    lat.push(transmit_and_wait(s, officer, id).await);
                }
                lat
            }),
    )
    .await
}

/// Transmits `id` and waits until A has B's sealed receipt for it: the latency.
async fn transmit_and_wait(s: &States, officer: &Client, id: &str) -> Duration {
    let started = Instant::now();
    let sent = step(officer, id, json!({"to": "TRANSMITTED"})).await;
    assert_eq!(sent["message"]["transport_status"], "SUBMITTED");
    loop {
        let messages = s.a.store.mla_messages(id).await.unwrap();
        let delivered = messages.iter().find(|m| {
            m.message_type == "request"
                && m.transport_status == "DELIVERED"
                && m.receipt.is_some()
                && m.receipt_seal.is_some()
        });
        if let Some(m) = delivered {
            if m.attempts > 1 {
                RETRIED.fetch_add(1, Ordering::Relaxed);
            }
            return started.elapsed();
        }
        if let Some(m) = messages
            .iter()
            .find(|m| m.message_type == "request" && m.transport_status == "FAILED")
        {
            panic!("request {id} was refused: {:?}", m.last_error);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "request {id} not delivered within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn report(phase: &str, lat: &mut [Duration], wall: Duration) {
    lat.sort();
    let pct = |p: f64| {
        let i = ((p / 100.0) * lat.len() as f64).ceil() as usize;
        lat[i.clamp(1, lat.len()) - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{phase}: n={} p50={:.1} ms p95={:.1} ms p99={:.1} ms max={:.1} ms ({:.1} requests/s; {} delivered after a retry)",
        lat.len(),
        ms(pct(50.0)),
        ms(pct(95.0)),
        ms(pct(99.0)),
        ms(lat[lat.len() - 1]),
        lat.len() as f64 / wall.as_secs_f64(),
        RETRIED.swap(0, Ordering::Relaxed)
    );
}
