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
//!
//! A hearing's record (the ASiC-E of `Recordings::export`) returned by the executing authority
//! travels as an attachment of the move to EVIDENCE_TRANSMITTED
//! ([`Mla::transmit_hearing_record`]); the issuing side checks it on arrival with
//! [`verify_package`], the function `assize verify` runs, and refuses the message with a
//! negative receipt naming the file when it fails.

use assize_signing::asic::ContainerBuilder;
use axum::http::StatusCode;
use serde_json::json;

use super::transport::deadlines_of;
use super::workflow::{self, Side, Status};
use super::{Act, AttachmentRef, Envelope, Mla, Rejected, fatal_any, refuse};
use crate::audit::{Actor, AuditEvent};
use crate::http::ApiError;
use crate::store::mla::{AttachmentRow, EvidenceCheckRow, MessageRow, RequestRow};
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

    #[test]
    fn a_package_s_id_is_a_uuid_derived_from_its_bytes() {
        use super::content_id;
        let a = content_id(b"package one");
        assert_eq!(a, content_id(b"package one"), "the same bytes, the same id");
        assert_ne!(a, content_id(b"package one!"));
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
    }

    #[test]
    fn a_hearing_belongs_to_a_request_by_its_case_reference() {
        use super::hearing_is_linked;
        let request = crate::store::mla::RequestRow {
            id: "0f1e2d3c-0000-4000-8000-000000000000".into(),
            kind: "eio".into(),
            reference: "JI-2026-0042".into(),
            issuing_authority_id: "a".into(),
            executing_authority_id: "b".into(),
            side: "executing".into(),
            status: "IN_EXECUTION".into(),
            urgent: false,
            form: "{}".into(),
            requested_date: None,
            transmitted_at: None,
            received_at: None,
            acknowledged_at: None,
            recognised_at: None,
            finished_at: None,
            extended_at: None,
            extension_reason: None,
            retrieved_at: None,
            created_by: None,
            created_at: 0,
            updated_at: 0,
        };
        for (case, linked) in [
            ("JI-2026-0042", true),
            (" JI-2026-0042 ", true),
            ("DE-BfJ/0f1e2d3c", true),
            ("DE-BfJ/0f1e2d3", false),
            ("FR-CA/0f1e2d3c", false),
            ("JI-2026-0043", false),
            ("", false),
        ] {
            assert_eq!(
                hearing_is_linked(case, &request, "DE-BfJ"),
                linked,
                "{case:?}"
            );
        }
        let unreferenced = crate::store::mla::RequestRow {
            reference: String::new(),
            ..request
        };
        assert!(!hearing_is_linked("", &unreferenced, "DE-BfJ"));
        assert!(!hearing_is_linked(" ", &unreferenced, "DE-BfJ"));
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

// --- a hearing's record returned as evidence ------------------------------------------------

/// The media type of an ASiC-E container. In a message that moves a request to
/// EVIDENCE_TRANSMITTED, every attachment of this type is an evidence package and is verified
/// on arrival ([`verify_package`]); one that fails refuses the whole message.
pub const ASICE_MEDIA_TYPE: &str = "application/vnd.etsi.asic-e+zip";

/// The attachment id of a package: derived from its SHA-256 (the first 16 bytes, with the
/// UUID version 8 and variant bits set), so that the same bytes always have the same id and are
/// never stored twice.
pub fn content_id(package: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(package);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The name a hearing's record has as an attachment.
pub fn hearing_record_filename(hearing_id: &str) -> String {
    format!("hearing-record-{}.asice", safe_name(hearing_id))
}

/// Whether a hearing is linked to a request: its case reference is the request's file
/// reference (the issuing authority's, which the executing court books the hearing under) or
/// the executing authority's reference from the Annex B. An empty reference links nothing.
pub fn hearing_is_linked(case_reference: &str, request: &RequestRow, executing_code: &str) -> bool {
    let case = case_reference.trim();
    !case.is_empty()
        && (case == request.reference.trim()
            || case == super::executing_reference(executing_code, &request.id))
}

impl Mla {
    /// Whether this side may move `request` to `to` now: the workflow's table, with the same
    /// 409 and legal next states as [`Mla::act`]. Lets a caller refuse before costly work.
    ///
    /// # Errors
    /// 409 `illegal_transition`.
    pub fn check_move(request: &RequestRow, to: Status) -> Result<(), ApiError> {
        let side = Side::parse(&request.side).ok_or_else(|| anyhow::anyhow!("bad side"))?;
        let from = Status::parse(&request.status).ok_or_else(|| anyhow::anyhow!("bad status"))?;
        workflow::transition(from, to, side)
            .map(|_| ())
            .map_err(|e| {
                ApiError::new(StatusCode::CONFLICT, "illegal_transition", format!("{e}."))
                    .with_details(json!({
                        "from": from.as_str(), "to": to.as_str(),
                        "legal": e.legal.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                    }))
            })
    }

    /// Returns a closed hearing's exported record (`package`, the ASiC-E of
    /// `Recordings::export`) as evidence: stores it, encrypted and content-addressed
    /// ([`content_id`]), as an attachment of `request` in the same transaction as the move to
    /// EVIDENCE_TRANSMITTED that carries it to the issuing authority's server, and audits it.
    ///
    /// # Errors
    /// 409 when the move is not legal now or this hearing's record was already returned in
    /// this request; 413 when the package is larger than `mla.max_attachment_bytes`; sealing or
    /// database failures (then nothing is stored).
    pub async fn transmit_hearing_record(
        &self,
        user_id: &str,
        request: &RequestRow,
        hearing_id: &str,
        package: Vec<u8>,
        note: Option<String>,
    ) -> Result<(RequestRow, MessageRow, AttachmentRow), ApiError> {
        use sha2::{Digest as _, Sha256};
        Self::check_move(request, Status::EvidenceTransmitted)?;
        if package.len() as u64 > self.settings.max_attachment_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "attachment_too_large",
                format!(
                    "The hearing's record is larger than {} bytes (mla.max_attachment_bytes): ask the administrator to raise it. Nothing was stored or sent.",
                    self.settings.max_attachment_bytes
                ),
            ));
        }
        let filename = hearing_record_filename(hearing_id);
        let id = content_id(&package);
        if let Some(earlier) = self
            .store
            .mla_attachments(&request.id)
            .await?
            .into_iter()
            .find(|a| a.filename == filename || a.id == id)
        {
            return Err(super::already_transmitted(&earlier));
        }
        let sealed = self.vault.seal(&id, &package);
        let attachment = AttachmentRow {
            id,
            request_id: request.id.clone(),
            message_id: None,
            filename,
            media_type: ASICE_MEDIA_TYPE.into(),
            size: package.len() as i64,
            sha256: hex::encode(Sha256::digest(&package)),
            wrapped_key: sealed.wrapped_key,
            ciphertext: sealed.ciphertext,
            created_at: now(),
        };
        let act = Act {
            to: Status::EvidenceTransmitted.as_str().into(),
            note,
            form: None,
        };
        let (row, message) = self
            .act_with(user_id, request, act, vec![attachment.clone()])
            .await?;
        let mut attachment = attachment;
        attachment.message_id = Some(message.id.clone());
        self.audit
            .append(
                AuditEvent::new(
                    Actor::User(user_id.into()),
                    "mla.hearing_record_transmit",
                    format!("mla_request:{}", request.id),
                )
                .with(json!({
                    "hearing": hearing_id, "attachment": attachment.id,
                    "sha256": attachment.sha256, "size": attachment.size, "message": message.id,
                })),
            )
            .await?;
        Ok((row, message, attachment))
    }

    /// On arrival: verifies every evidence package ([`ASICE_MEDIA_TYPE`]) of a message that
    /// moves a request to EVIDENCE_TRANSMITTED, as `assize verify` does, against the federation
    /// trust anchors. Returns the checks to record with the message.
    ///
    /// # Errors
    /// A refusal `evidence_invalid` naming the attachment and the first file that failed.
    pub(super) async fn check_evidence(
        &self,
        env: &Envelope,
        files: &[(AttachmentRef, Vec<u8>)],
        t: i64,
    ) -> Result<Vec<EvidenceCheckRow>, Rejected> {
        if env.to_status != Status::EvidenceTransmitted {
            return Ok(Vec::new());
        }
        let mut checks = Vec::new();
        for (listed, content) in files {
            let media = listed
                .media_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim();
            if !media.eq_ignore_ascii_case(ASICE_MEDIA_TYPE) {
                continue;
            }
            let anchors = self.anchors.clone();
            let bytes = content.clone();
            // Unzipping and hashing a large package is CPU work: off the async workers.
            let report = tokio::task::spawn_blocking(move || verify_package(&bytes, &anchors))
                .await
                .map_err(|e| fatal_any(anyhow::anyhow!("verifying an evidence package: {e}")))?;
            if !report.is_valid() {
                let failures = report.failures();
                return Err(refuse(
                    "evidence_invalid",
                    format!(
                        "the evidence package {} ({}) does not verify: {}",
                        listed.id,
                        listed.filename,
                        failures.join("; ")
                    ),
                )
                .into());
            }
            let lines: Vec<serde_json::Value> = report
                .lines
                .iter()
                .map(|(file, _)| json!({ "file": file, "ok": true }))
                .collect();
            checks.push(EvidenceCheckRow {
                attachment_id: listed.id.clone(),
                request_id: env.request_id.clone(),
                message_id: env.message_id.clone(),
                outcome: "verified".into(),
                files: lines.len() as i64,
                report: serde_json::Value::Array(lines).to_string(),
                checked_at: t,
            });
        }
        Ok(checks)
    }
}
