//! A request's evidence package: an ASiC-E container (ETSI EN 319 162-1) with every sealed
//! message and its seal, every receipt and its seal, every attachment, and a summary, all listed
//! with their digests in the manifest, which this server seals (CAdES B-T).
//!
//! Layout:
//! ```text
//! request.json                         summary: parties, status, deadlines, message list
//! messages/001-request-TRANSMITTED.json + .p7s    the sealed document and its seal
//! messages/001-receipt.json + .p7s                the other server's signed receipt
//! attachments/<id>-<name>                          the files, decrypted
//! META-INF/ASiCManifest.xml, META-INF/signature001.p7s
//! ```
//! Each `.p7s` verifies with `openssl cms -verify -binary -inform DER -in X.p7s -content X.json`.

use assize_signing::asic::ContainerBuilder;
use serde_json::json;

use super::Mla;
use super::transport::deadlines_of;
use crate::http::ApiError;
use crate::store::mla::RequestRow;
use crate::store::now;

/// A file name made safe for a container path (ASCII letters, digits, `.`, `_`, `-`).
fn safe_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    while out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push_str("file");
    }
    out
}

impl Mla {
    /// Builds and seals the evidence package of one request.
    ///
    /// # Errors
    /// When an attachment cannot be decrypted or sealing fails.
    pub async fn evidence_package(&self, r: &RequestRow) -> Result<Vec<u8>, ApiError> {
        let (issuing, executing) = self.parties(r).await?;
        let messages = self.store.mla_messages(&r.id).await?;
        let attachments = self.store.mla_attachments(&r.id).await?;
        let mut b = ContainerBuilder::new();
        let add = |b: &mut ContainerBuilder, name: String, mime: &str, content: Vec<u8>| {
            b.add_document(&name, mime, content)
                .map(|_| ())
                .map_err(|e| ApiError::internal(anyhow::anyhow!("evidence package: {e}")))
        };
        let mut listed = Vec::new();
        for m in &messages {
            let base = format!("messages/{:03}-{}-{}", m.seq, m.message_type, m.to_status);
            add(
                &mut b,
                format!("{base}.json"),
                "application/json",
                m.document.clone(),
            )?;
            add(
                &mut b,
                format!("{base}.p7s"),
                "application/pkcs7-signature",
                m.seal.clone(),
            )?;
            let mut receipt_name = None;
            if let (Some(receipt), Some(seal)) = (&m.receipt, &m.receipt_seal)
                && !receipt.is_empty()
            {
                let rb = format!("messages/{:03}-receipt", m.seq);
                add(
                    &mut b,
                    format!("{rb}.json"),
                    "application/json",
                    receipt.clone(),
                )?;
                add(
                    &mut b,
                    format!("{rb}.p7s"),
                    "application/pkcs7-signature",
                    seal.clone(),
                )?;
                receipt_name = Some(format!("{rb}.json"));
            }
            listed.push(json!({
                "seq": m.seq, "id": m.id, "direction": m.direction, "type": m.message_type,
                "from_status": m.from_status, "to_status": m.to_status,
                "document": format!("{base}.json"), "seal": format!("{base}.p7s"),
                "document_sha256": m.document_sha256, "transport_status": m.transport_status,
                "receipt": receipt_name, "created_at": m.created_at, "delivered_at": m.delivered_at,
            }));
        }
        let mut files = Vec::new();
        for a in &attachments {
            let name = format!("attachments/{}-{}", a.id, safe_name(&a.filename));
            let content = self.open_attachment(a)?;
            files.push(json!({ "id": a.id, "file": name, "filename": a.filename,
                               "sha256": a.sha256, "size": a.size, "message": a.message_id }));
            add(&mut b, name, "application/octet-stream", content)?;
        }
        let form: serde_json::Value = serde_json::from_str(&r.form).unwrap_or_default();
        let summary = json!({
            "request": r, "form": form,
            "issuing_authority": { "code": issuing.code, "name": issuing.name, "country": issuing.country },
            "executing_authority": { "code": executing.code, "name": executing.name, "country": executing.country },
            "deadlines": deadlines_of(r, now()),
            "messages": listed, "attachments": files,
            "exported_at": now(), "exported_by": self.audit.origin(),
        });
        let summary = serde_json_canonicalizer::to_vec(&summary).map_err(anyhow::Error::from)?;
        add(&mut b, "request.json".into(), "application/json", summary)?;
        let prepared = b
            .prepare()
            .map_err(|e| ApiError::internal(anyhow::anyhow!("evidence package: {e}")))?;
        let signature = self.notary.seal_cades(prepared.manifest()).await?;
        prepared
            .seal(&signature)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("evidence package: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("../../etc/passwd"), "_._.._etc_passwd");
        assert_eq!(safe_name("procès-verbal.pdf"), "proc_s-verbal.pdf");
        assert_eq!(safe_name(""), "file");
        assert_eq!(safe_name(".hidden"), "_hidden");
    }
}

/// The result of checking an evidence package offline.
#[derive(Debug)]
pub struct PackageReport {
    /// One line per check: the file and what was found.
    pub lines: Vec<(String, Result<(), String>)>,
}

impl PackageReport {
    /// Whether everything verified.
    pub fn is_valid(&self) -> bool {
        !self.lines.is_empty() && self.lines.iter().all(|(_, r)| r.is_ok())
    }

    /// The files that failed, with why.
    pub fn failures(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|(f, r)| r.as_ref().err().map(|e| format!("{f}: {e}")))
            .collect()
    }
}

/// Checks an evidence package with no server: the container (every file against the sealed
/// manifest, the manifest's seal and time-stamp), then every message and receipt against its
/// own seal. `anchors` are the CAs of both servers.
pub fn verify_package(
    package: &[u8],
    anchors: &assize_signing::verify::TrustAnchors,
) -> PackageReport {
    use assize_signing::asic::{AsicContainer, ReadLimits, verify_container};
    use assize_signing::verify::{VerifyOptions, verify_detached};
    let options = VerifyOptions {
        now: time::OffsetDateTime::now_utc(),
        extra_certificates: Vec::new(),
    };
    let mut lines = Vec::new();
    let container = match AsicContainer::read(package, &ReadLimits::default()) {
        Ok(c) => c,
        Err(e) => {
            lines.push(("(container)".to_string(), Err(format!("unreadable: {e}"))));
            return PackageReport { lines };
        }
    };
    let report = verify_container(&container, anchors, &options);
    let failed = report.failed_files();
    match report.signature.as_ref().and_then(|s| s.first_failure()) {
        Some((check, finding)) => lines.push((
            "META-INF/signature001.p7s".into(),
            Err(format!("{check}: {finding}")),
        )),
        None if report.signature.is_some() => {
            lines.push(("META-INF/signature001.p7s".into(), Ok(())));
        }
        None => lines.push((
            "META-INF/ASiCManifest.xml".into(),
            Err("no signature over the manifest".into()),
        )),
    }
    for name in container.names() {
        if name == "mimetype" || name.starts_with("META-INF/") {
            continue;
        }
        let mut result = if failed.contains(&name) {
            Err("does not match the sealed manifest (changed, added or missing)".to_string())
        } else {
            Ok(())
        };
        // A message or receipt, a recording's or the minutes' manifest: its own seal too.
        if result.is_ok()
            && let Some(base) = name.strip_suffix(".json")
            && (name.starts_with("messages/")
                || name.starts_with("recordings/")
                || name == "minutes/manifest.json")
        {
            let seal_name = format!("{base}.p7s");
            match (container.get(name), container.get(&seal_name)) {
                (Some(doc), Some(seal)) => {
                    let r = verify_detached(seal, doc, anchors, &options);
                    if let Some((check, finding)) = r.first_failure() {
                        result = Err(format!("its seal {seal_name} fails: {check}: {finding}"));
                    }
                }
                _ => result = Err(format!("{seal_name} is missing")),
            }
        }
        // The minutes: their manifest is sealed; every other file of the set must have the
        // hash the sealed manifest lists for it.
        if result.is_ok()
            && let Some(file) = name.strip_prefix("minutes/")
            && file != "manifest.json"
            && file != "manifest.p7s"
        {
            result = listed_in_minutes_manifest(&container, file);
        }
        lines.push((name.to_string(), result));
    }
    for f in failed {
        if !lines.iter().any(|(n, _)| n == f) {
            lines.push((
                f.to_string(),
                Err("missing or not covered by the manifest".into()),
            ));
        }
    }
    PackageReport { lines }
}

/// Whether `minutes/<file>` has the SHA-256 that the minutes' manifest (sealed, checked on its
/// own line) lists for it.
fn listed_in_minutes_manifest(
    container: &assize_signing::asic::AsicContainer,
    file: &str,
) -> Result<(), String> {
    use sha2::Digest as _;
    let manifest = container
        .get("minutes/manifest.json")
        .ok_or("minutes/manifest.json is missing")?;
    let manifest: serde_json::Value = serde_json::from_slice(manifest)
        .map_err(|_| "minutes/manifest.json is not JSON".to_string())?;
    let listed = manifest["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["name"] == file))
        .and_then(|f| f["sha256"].as_str())
        .ok_or_else(|| "not listed in the sealed minutes/manifest.json".to_string())?;
    let content = container.get(&format!("minutes/{file}")).ok_or("missing")?;
    if hex::encode(sha2::Sha256::digest(content)) == listed {
        Ok(())
    } else {
        Err("does not match the hash in the sealed minutes/manifest.json".into())
    }
}
