//! The hearing record in tests: a hearing recorded for a moment and closed, and the ASiC-E
//! packages it exports, read and tampered with as an attacker who rebuilds the container would.
// Test harness: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::{Client, assize_binary};

/// Books a hearing with `case_reference` in `court`, opens it, records for a moment (a server
/// with `recording.segment_secs = 1` closes a segment) and closes it, as its judge. Returns the
/// hearing's id and the recording's id.
pub async fn recorded_and_closed(
    judge: &Client,
    case_reference: &str,
    court: &str,
) -> (String, String) {
    let r = judge
        .post(
            "/api/v1/hearings",
            json!({"case_reference": case_reference, "court": court, "title": "Hearing of W.",
                   "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let hearing = r.body["id"].as_str().unwrap().to_string();
    let h = format!("/api/v1/hearings/{hearing}");
    let r = judge.post(&format!("{h}/open"), json!({})).await;
    assert!(r.status == 200 || r.status == 204, "{r:?}");
    let r = judge.post(&format!("{h}/recording/start"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let recording = r.body["recording"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = judge.post(&format!("{h}/close"), json!({})).await;
    assert!(r.status == 200 || r.status == 204, "{r:?}");
    (hearing, recording)
}

/// A package's files in container order (`mimetype` first).
pub fn ordered_entries(package: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(package)).unwrap();
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut content = Vec::new();
        f.read_to_end(&mut content).unwrap();
        out.push((f.name().to_string(), content));
    }
    out
}

/// Rewrites a ZIP with one byte of `target` changed (a tamperer who rebuilds the container).
pub fn rewrite_entry(package: &[u8], target: &str) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, mut content) in ordered_entries(package) {
        if name == target {
            let at = content.len() / 2;
            content[at] ^= 1;
        }
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        out.start_file(name, opts).unwrap();
        out.write_all(&content).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// Runs `assize verify PACKAGE --ca …` offline: whether it passed, and what it printed.
pub fn assize_verify(package: &[u8], cas: &[&Path], work: &Path) -> (bool, String) {
    let file = work.join(format!("{}.asice", uuid::Uuid::new_v4()));
    std::fs::write(&file, package).unwrap();
    let mut cmd = std::process::Command::new(assize_binary());
    cmd.arg("verify").arg(&file);
    for ca in cas {
        cmd.arg("--ca").arg(ca);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
