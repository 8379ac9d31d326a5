//! `assize audit export` and `assize audit verify`: the log as a file, checked with no server.
//!
//! The export is JSON Lines, in log order:
//!
//! ```text
//! {"header": {"format": "assize-audit-export", "version": 1, "origin": …, "trust_anchors_pem": …}}
//! {"entry": {"seq": 0, "leaf_hash": "<hex>", "body": "<canonical JSON>"}}
//! …
//! {"checkpoint": {"tree_size": N, "root_hash": "<hex>", "note": "…", "signature": "<base64 DER>"}}
//! …
//! {"end": {"entries": N, "checkpoints": M}}
//! ```
//!
//! A checkpoint line follows the entry that makes the tree reach its size. The verifier
//! recomputes the tree as it streams (memory O(log n)), re-hashes every entry, checks each
//! checkpoint's CAdES signature and time-stamp against the trust anchors, compares its root with
//! the recomputed one, and reports the first problem precisely:
//! - an entry whose body no longer matches the hash recorded when it was appended (altered);
//! - a sequence number out of order (inserted or reordered) or missing (removed);
//! - a checkpoint whose root does not match (an entry in its range was rewritten consistently);
//! - a checkpoint whose signature or time-stamp fails, or signed by an unknown key;
//! - an export cut short.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use assize_signing::merkle::{CompactRange, NodeHash, leaf_hash};
use assize_signing::verify::{TrustAnchors, VerifyOptions, verify_detached};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::checkpoint::parse_note;
use crate::store::Store;

/// Longest line accepted when verifying (an entry body, or a checkpoint with its signature).
pub const MAX_LINE: usize = 4 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Header {
        format: String,
        version: u32,
        origin: String,
        exported_at: String,
        trust_anchors_pem: String,
    },
    Entry {
        seq: u64,
        leaf_hash: String,
        body: String,
    },
    Checkpoint {
        tree_size: u64,
        root_hash: String,
        note: String,
        signature: String,
    },
    End {
        entries: u64,
        checkpoints: u64,
    },
}

/// Writes the whole log. Reads the database in pages, so memory stays bounded.
///
/// # Errors
/// On database or write failure.
pub async fn export<W: Write>(
    store: &Store,
    origin: &str,
    anchors_pem: &str,
    out: &mut W,
) -> anyhow::Result<(u64, u64)> {
    let header = Line::Header {
        format: "assize-audit-export".into(),
        version: 1,
        origin: origin.into(),
        exported_at: OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?,
        trust_anchors_pem: anchors_pem.into(),
    };
    writeln!(out, "{}", serde_json::to_string(&header)?)?;
    let len = store.audit_len().await?;
    let checkpoints = store.checkpoints().await?;
    let mut cp = checkpoints.iter().filter(|c| c.tree_size <= len).peekable();
    let (mut n_entries, mut n_checkpoints) = (0u64, 0u64);
    const PAGE: i64 = 10_000;
    let mut from = 0;
    while from < len {
        for row in store.audit_entries(from, (from + PAGE).min(len)).await? {
            let line = Line::Entry {
                seq: u64::try_from(row.seq)?,
                leaf_hash: hex::encode(&row.leaf_hash),
                body: row.body,
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
            n_entries += 1;
            while let Some(c) = cp.next_if(|c| c.tree_size == row.seq + 1) {
                let line = Line::Checkpoint {
                    tree_size: u64::try_from(c.tree_size)?,
                    root_hash: hex::encode(&c.root_hash),
                    note: c.note.clone(),
                    signature: base64::engine::general_purpose::STANDARD.encode(&c.signature),
                };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
                n_checkpoints += 1;
            }
        }
        from += PAGE;
    }
    writeln!(
        out,
        "{}",
        serde_json::to_string(&Line::End {
            entries: n_entries,
            checkpoints: n_checkpoints
        })?
    )?;
    out.flush()?;
    Ok((n_entries, n_checkpoints))
}

/// What the verifier found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub origin: String,
    pub entries: u64,
    pub checkpoints_verified: u64,
    /// Entries after the last checkpoint: intact as far as the file shows, but no signed
    /// checkpoint covers them yet.
    pub uncovered_entries: u64,
    /// The first problem, if any. `None` means the whole export verified.
    pub problem: Option<String>,
    /// True when the trust anchors came from the export itself rather than from the caller.
    pub trusted_embedded_anchors: bool,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies an export. `anchors_pem`: the CA(s) the caller trusts; `None` uses the export's own
/// (reported as such: it proves integrity, not who signed).
///
/// # Errors
/// Only when the file cannot be read at all; every problem in its content is in the report.
pub fn verify<R: BufRead>(
    mut input: R,
    anchors_pem: Option<&[u8]>,
) -> anyhow::Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut range = CompactRange::new();
    let mut anchors: Option<TrustAnchors> = match anchors_pem {
        Some(pem) => {
            Some(TrustAnchors::from_pem(pem).context("the --ca file holds no usable certificate")?)
        }
        None => None,
    };
    let mut last_checkpoint = 0u64;
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    let mut seen_header = false;
    let mut ended = false;
    loop {
        buf.clear();
        let n = std::io::Read::take(input.by_ref(), MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .context("reading the export")?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.len() > MAX_LINE {
            report.problem = Some(format!("line {line_no} is longer than {MAX_LINE} bytes"));
            return Ok(report);
        }
        if ended {
            report.problem = Some(format!("line {line_no}: content after the end record"));
            return Ok(report);
        }
        let line: Line = match serde_json::from_slice(&buf) {
            Ok(l) => l,
            Err(e) if buf.last() != Some(&b'\n') => {
                report.problem = Some(format!("the export is cut short at line {line_no} ({e})"));
                return Ok(report);
            }
            Err(e) => {
                report.problem = Some(format!("line {line_no} is not a valid export record: {e}"));
                return Ok(report);
            }
        };
        match line {
            Line::Header {
                format,
                version,
                origin,
                trust_anchors_pem,
                ..
            } => {
                if seen_header || line_no != 1 {
                    report.problem = Some(format!("line {line_no}: a second header"));
                    return Ok(report);
                }
                if format != "assize-audit-export" || version != 1 {
                    report.problem = Some(format!(
                        "not an Assize audit export version 1 ({format} v{version})"
                    ));
                    return Ok(report);
                }
                seen_header = true;
                report.origin = origin;
                if anchors.is_none() {
                    report.trusted_embedded_anchors = true;
                    anchors = TrustAnchors::from_pem(trust_anchors_pem.as_bytes()).ok();
                }
            }
            _ if !seen_header => {
                report.problem = Some("the export does not start with its header".into());
                return Ok(report);
            }
            Line::Entry {
                seq,
                leaf_hash: recorded,
                body,
            } => {
                let expected = range.size();
                if seq != expected {
                    report.problem = Some(if seq > expected {
                        format!(
                            "entry {expected} is missing where expected (removed or reordered): the next entry in the file is {seq}"
                        )
                    } else {
                        format!(
                            "entry {seq} appears out of order after entry {} (inserted or reordered)",
                            expected - 1
                        )
                    });
                    return Ok(report);
                }
                let body_seq = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["seq"].as_u64());
                if body_seq != Some(seq) {
                    report.problem = Some(format!(
                        "entry {seq} was altered: its content names sequence number {body_seq:?}"
                    ));
                    return Ok(report);
                }
                let h = leaf_hash(body.as_bytes());
                if hex::encode(h.as_bytes()) != recorded {
                    report.problem = Some(format!(
                        "entry {seq} was altered: its content no longer matches the hash recorded when it was appended"
                    ));
                    return Ok(report);
                }
                range.push_leaf_hash(h);
                report.entries += 1;
            }
            Line::Checkpoint {
                tree_size,
                root_hash,
                note,
                signature,
            } => {
                if let Err(p) = check_checkpoint(
                    &range,
                    tree_size,
                    &root_hash,
                    &note,
                    &signature,
                    anchors.as_ref(),
                    &report.origin,
                ) {
                    report.problem = Some(if p.contains("does not match the entries") {
                        format!(
                            "{p}: an entry between {last_checkpoint} and {} was altered, inserted or removed",
                            tree_size.saturating_sub(1)
                        )
                    } else {
                        p
                    });
                    return Ok(report);
                }
                last_checkpoint = tree_size;
                report.checkpoints_verified += 1;
            }
            Line::End {
                entries,
                checkpoints,
            } => {
                if entries != report.entries || checkpoints != report.checkpoints_verified {
                    report.problem = Some(format!(
                        "the end record counts {entries} entries and {checkpoints} checkpoints, the file has {} and {}",
                        report.entries, report.checkpoints_verified
                    ));
                    return Ok(report);
                }
                ended = true;
            }
        }
    }
    if !ended {
        report.problem = Some(format!(
            "the export is cut short after line {line_no} (no end record)"
        ));
    }
    report.uncovered_entries = report.entries - last_checkpoint;
    Ok(report)
}

fn check_checkpoint(
    range: &CompactRange,
    tree_size: u64,
    root_hex: &str,
    note: &str,
    signature_b64: &str,
    anchors: Option<&TrustAnchors>,
    origin: &str,
) -> Result<(), String> {
    let parsed = parse_note(note).map_err(|e| format!("checkpoint at size {tree_size}: {e}"))?;
    if parsed.head.size != tree_size || hex::encode(parsed.head.root.as_bytes()) != root_hex {
        return Err(format!(
            "checkpoint at size {tree_size}: its fields differ from its signed note"
        ));
    }
    if parsed.origin != origin {
        return Err(format!(
            "checkpoint at size {tree_size} is for log {:?}, not {origin:?}",
            parsed.origin
        ));
    }
    if range.size() != tree_size {
        return Err(format!(
            "checkpoint at size {tree_size} is out of place (after entry {})",
            range.size()
        ));
    }
    let expected = NodeHash::from_slice(&hex::decode(root_hex).unwrap_or_default())
        .map_err(|e| format!("checkpoint at size {tree_size}: root hash {e}"))?;
    if range.root() != expected {
        return Err(format!(
            "checkpoint at size {tree_size} does not match the entries"
        ));
    }
    let anchors = anchors
        .ok_or("no usable trust anchors: pass --ca with the CA that issued the server's key")?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature_b64)
        .map_err(|_| format!("checkpoint at size {tree_size}: the signature is not base64"))?;
    let report = verify_detached(
        &signature,
        note.as_bytes(),
        anchors,
        &VerifyOptions {
            now: OffsetDateTime::now_utc(),
            extra_certificates: Vec::new(),
        },
    );
    if let Some((check, finding)) = report.first_failure() {
        return Err(format!(
            "checkpoint at size {tree_size}: signature check `{check}` failed: {finding:?}"
        ));
    }
    Ok(())
}
