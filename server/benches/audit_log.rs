//! Audit-log benchmark (a load tool, not criterion: it measures sustained rates).
//!
//! `cargo bench -p assize-server --bench audit_log` prints:
//! 1. sustained appends per second on SQLite with group commit, for several numbers of concurrent
//!    callers — each caller awaits its sequence number, which it gets only after the entry is
//!    durable (`synchronous = FULL`);
//! 2. inclusion-proof time on a log of N entries (`ASSIZE_BENCH_ENTRIES`, default 1,000,000);
//! 3. full offline verification time of an export of that log (re-hash every entry, recompute the
//!    tree, check the checkpoint's signature and time-stamp).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use assize_server::audit::{Actor, AuditEvent, export};
use assize_server::config::Settings;
use assize_server::pki::DataDir;
use assize_server::store::AuditRow;
use assize_signing::merkle::{leaf_hash, verify_inclusion};
use serde_json::json;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let entries: u64 = std::env::var("ASSIZE_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seconds: u64 = std::env::var("ASSIZE_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);

    // 1. Sustained appends with group commit.
    for callers in [1usize, 16, 256] {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let dd = DataDir::bootstrap(&settings.data_dir).unwrap();
        let store = assize_server::app::open_store(&settings).await.unwrap();
        let (_n, log, _t) = assize_server::app::open_audit(&settings, &dd, &store, "https://bench")
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tasks = Vec::new();
        for c in 0..callers {
            let log = log.clone();
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    log.append(
                        AuditEvent::new(Actor::User(format!("u{c}")), "bench.append", "bench")
                            .with(json!({ "n": c })),
                    )
                    .await
                    .unwrap();
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
        let started = Instant::now();
        for t in tasks {
            t.await.unwrap();
        }
        let n = done.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "appends, SQLite, {callers:>3} concurrent callers: {:>8.0} durable appends/s ({n} in {:.1} s)",
            n as f64 / started.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        store.close().await;
    }

    // 2 and 3. A log of `entries` entries: written in bulk (the append path is measured above),
    // then loaded, checkpointed, proven and exported.
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().join("data"),
        ..Settings::default()
    };
    let dd = DataDir::bootstrap(&settings.data_dir).unwrap();
    let store = assize_server::app::open_store(&settings).await.unwrap();
    let t = Instant::now();
    let at = time::OffsetDateTime::now_utc();
    let mut seq = 0u64;
    while seq < entries {
        let mut rows = Vec::new();
        for _ in 0..2000.min(entries - seq) {
            let ev = AuditEvent::new(Actor::System, "bench.bulk", format!("object:{seq}"));
            let body = assize_server::audit::entry_body(seq, at, &ev).unwrap();
            rows.push(AuditRow {
                seq: seq as i64,
                at_ms: 0,
                actor: "system".into(),
                action: "bench.bulk".into(),
                object: format!("object:{seq}"),
                leaf_hash: leaf_hash(body.as_bytes()).as_bytes().to_vec(),
                body,
            });
            seq += 1;
        }
        store.append_audit(&rows).await.unwrap();
    }
    println!(
        "bulk-loaded {entries} entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let (_n, log, _t) = assize_server::app::open_audit(&settings, &dd, &store, "https://bench")
        .await
        .unwrap();
    println!(
        "opened the log (tree rebuilt from stored leaf hashes) in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let cp = log.checkpoint_now().await.unwrap().unwrap();
    let head = log.tree_head();

    let probes = 10_000u64;
    let t = Instant::now();
    for i in 0..probes {
        let idx = (i * 7919) % head.size;
        let (proof, _root) = log.inclusion_proof(idx, head.size).unwrap();
        std::hint::black_box(proof);
    }
    let per = t.elapsed() / probes as u32;
    println!(
        "inclusion proof, log of {} entries: {:.1} µs per proof",
        head.size,
        per.as_secs_f64() * 1e6
    );
    let row = store.audit_entry(123).await.unwrap().unwrap();
    let (proof, _) = log.inclusion_proof(123, head.size).unwrap();
    verify_inclusion(&leaf_hash(row.body.as_bytes()), 123, &proof, &head).unwrap();

    let file = dir.path().join("export.jsonl");
    let t = Instant::now();
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let anchors = std::fs::read_to_string(&dd.ca_cert).unwrap();
        export::export(&store, log.origin(), &anchors, &mut out)
            .await
            .unwrap();
    }
    let size = std::fs::metadata(&file).unwrap().len();
    println!(
        "exported in {:.1} s ({:.0} MB)",
        t.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    let ca = std::fs::read(&dd.ca_cert).unwrap();
    let t = Instant::now();
    let report = export::verify(
        std::io::BufReader::new(std::fs::File::open(&file).unwrap()),
        Some(&ca),
    )
    .unwrap();
    assert!(report.ok(), "{report:?}");
    println!(
        "verified the export offline: {} entries, {} checkpoint(s) in {:.2} s",
        report.entries,
        report.checkpoints_verified,
        t.elapsed().as_secs_f64()
    );
    assert_eq!(cp.tree_size as u64, report.entries);
}
