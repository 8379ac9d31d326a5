//! The hearing record, second part: the minutes, generated from what the server recorded about
//! the hearing, sealed when it closes.
//!
//! ## Module map
//! - [`model`]: the minutes as data (schema `assize.minutes/1`) and [`model::build`], which
//!   makes them from the hearing's audit entries, participants, orders and recordings. Pure.
//! - [`render`]: the readable forms: self-contained HTML and the plain lines of the PDF, in
//!   English or French. Pure.
//! - [`pdf`]: a text-only PDF writer. Pure.
//! - this module: the IO. [`generate`] reads the sources from the store and seals a set; the
//!   HTTP layer calls [`seal_final`] when a hearing closes and [`generate`] with
//!   [`Status::Draft`] when a judge or clerk asks before that.
//!
//! ## What is sealed
//! A set is three files, `minutes.json` (the canonical JSON of [`model::Minutes`]),
//! `minutes.html` and `minutes.pdf`, and a manifest, `manifest.json` (canonical JSON listing
//! each file's SHA-256), sealed CAdES B-T by the server's notary (`manifest.p7s`). The record
//! export carries all five under `minutes/`, and `assize verify` checks the seal and every
//! listed hash offline. Final minutes are stored once per hearing (never updated); a draft is
//! sealed (so what was handed out is provable), audited as `minutes.draft`, and not stored.

pub mod model;
pub mod pdf;
pub mod render;

use anyhow::Context as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::audit::{Actor, AuditEvent, AuditLog};
use crate::notary::Notary;
use crate::store::{MAX_MINUTES_ENTRIES, MinutesRecord, Store, StoreError, now};
pub use model::{Minutes, Status};
pub use render::Lang;

/// The schema of the sealed manifest.
pub const MANIFEST_SCHEMA: &str = "assize.minutes-manifest/1";

/// The file names of a set, as in the manifest and under `minutes/` in the export.
pub const JSON_FILE: &str = "minutes.json";
pub const HTML_FILE: &str = "minutes.html";
pub const PDF_FILE: &str = "minutes.pdf";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const SEAL_FILE: &str = "manifest.p7s";

/// Why minutes could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MinutesError {
    /// No such hearing.
    #[error("no such hearing")]
    NoHearing,
    /// The store, the notary or the time-stamp failed.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<StoreError> for MinutesError {
    fn from(e: StoreError) -> Self {
        MinutesError::Other(e.into())
    }
}

/// A sealed set: the three renderings, the manifest and its CAdES B-T seal.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub status: Status,
    pub generated_at: i64,
    pub document: Vec<u8>,
    pub html: Vec<u8>,
    pub pdf: Vec<u8>,
    pub manifest: Vec<u8>,
    pub signature: Vec<u8>,
}

impl From<MinutesRecord> for Sealed {
    fn from(r: MinutesRecord) -> Self {
        Self {
            status: Status::Final,
            generated_at: r.generated_at,
            document: r.document,
            html: r.html,
            pdf: r.pdf,
            manifest: r.manifest,
            signature: r.signature,
        }
    }
}

impl Sealed {
    /// The five files of the set, by name, for a package.
    pub fn files(&self) -> [(&'static str, &'static str, &[u8]); 5] {
        [
            (JSON_FILE, "application/json", self.document.as_slice()),
            (HTML_FILE, "text/html", self.html.as_slice()),
            (PDF_FILE, "application/pdf", self.pdf.as_slice()),
            (MANIFEST_FILE, "application/json", self.manifest.as_slice()),
            (
                SEAL_FILE,
                "application/pkcs7-signature",
                self.signature.as_slice(),
            ),
        ]
    }
}

/// Reads what the minutes of `hearing_id` are made from and builds them (not sealed).
///
/// # Errors
/// [`MinutesError::NoHearing`]; store failures.
pub async fn build(
    store: &Store,
    server: &str,
    hearing_id: &str,
    status: Status,
) -> Result<Minutes, MinutesError> {
    let hearing = store
        .hearing(hearing_id)
        .await?
        .ok_or(MinutesError::NoHearing)?;
    let participants = store.participants(hearing_id).await?;
    let orders = store.protective_orders_of(hearing_id).await?;
    let entries = store
        .audit_entries_about(&format!("hearing:{hearing_id}"))
        .await?;
    let truncated = i64::try_from(entries.len()).unwrap_or(i64::MAX) >= MAX_MINUTES_ENTRIES;
    let mut recordings = Vec::new();
    for r in store.recordings(hearing_id).await? {
        let segments = store.segments(&r.id).await?;
        recordings.push((r, segments));
    }
    Ok(model::build(&model::Sources {
        hearing: &hearing,
        participants: &participants,
        orders: &orders,
        entries: &entries,
        recordings: &recordings,
        status,
        generated_at: time::OffsetDateTime::now_utc(),
        server,
        truncated,
    }))
}

/// The minutes' canonical JSON.
///
/// # Errors
/// Only if serialisation fails (plain data: never in practice).
pub fn document_bytes(m: &Minutes) -> anyhow::Result<Vec<u8>> {
    serde_json_canonicalizer::to_vec(m).context("minutes document")
}

/// Renders and seals `m`: the three files and the manifest over them (CAdES B-T).
///
/// # Errors
/// When sealing or time-stamping fails.
pub async fn seal(notary: &Notary, m: &Minutes) -> anyhow::Result<Sealed> {
    let document = document_bytes(m)?;
    let html = render::html(Lang::En, m).into_bytes();
    let title = format!("{} {}", m.hearing.case_reference, m.hearing.title);
    let pdf = pdf::render(&title, &render::lines(Lang::En, m));
    let files: Vec<_> = [
        (JSON_FILE, "application/json", &document),
        (HTML_FILE, "text/html", &html),
        (PDF_FILE, "application/pdf", &pdf),
    ]
    .iter()
    .map(|(name, mime, bytes)| {
        json!({ "name": name, "media_type": mime, "sha256": hex::encode(Sha256::digest(bytes)) })
    })
    .collect();
    let manifest = json!({
        "schema": MANIFEST_SCHEMA, "minutes_schema": model::SCHEMA, "hearing": m.hearing.id,
        "status": m.status, "generated_at": m.generated_at, "server": m.server, "files": files,
    });
    let manifest = serde_json_canonicalizer::to_vec(&manifest).context("minutes manifest")?;
    let signature = notary.seal_cades(&manifest).await?.as_der().to_vec();
    Ok(Sealed {
        status: m.status,
        generated_at: now(),
        document,
        html,
        pdf,
        manifest,
        signature,
    })
}

/// The final minutes of a closed hearing: the stored set, or (first time) generated, sealed,
/// stored and audited as `minutes.seal`. Two callers racing both seal; the first stored wins
/// and both return it.
///
/// # Errors
/// [`MinutesError::NoHearing`]; store, sealing or audit failures (nothing is stored then).
pub async fn seal_final(
    store: &Store,
    notary: &Notary,
    audit: &AuditLog,
    hearing_id: &str,
) -> Result<Sealed, MinutesError> {
    if let Some(r) = store.minutes(hearing_id).await? {
        return Ok(r.into());
    }
    let m = build(store, audit.origin(), hearing_id, Status::Final).await?;
    let sealed = seal(notary, &m).await?;
    let record = MinutesRecord {
        hearing_id: hearing_id.to_string(),
        generated_at: sealed.generated_at,
        document: sealed.document.clone(),
        html: sealed.html.clone(),
        pdf: sealed.pdf.clone(),
        manifest: sealed.manifest.clone(),
        signature: sealed.signature.clone(),
    };
    match store.insert_minutes(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Ok(store
                .minutes(hearing_id)
                .await?
                .ok_or(StoreError::NotFound("minutes"))?
                .into());
        }
        Err(e) => return Err(e.into()),
    }
    audit
        .append(
            AuditEvent::new(
                Actor::System,
                "minutes.seal",
                format!("hearing:{hearing_id}"),
            )
            .with(
                json!({ "manifest_sha256": hex::encode(Sha256::digest(&sealed.manifest)),
                              "events": m.events.len(), "last_seq": m.audit.last_seq }),
            ),
        )
        .await?;
    Ok(sealed)
}

/// Draft minutes of a hearing not closed yet: generated and sealed now, not stored. The caller
/// audits the draft (`minutes.draft`).
///
/// # Errors
/// [`MinutesError::NoHearing`]; store or sealing failures.
pub async fn draft(
    store: &Store,
    notary: &Notary,
    server: &str,
    hearing_id: &str,
) -> Result<Sealed, MinutesError> {
    let m = build(store, server, hearing_id, Status::Draft).await?;
    Ok(seal(notary, &m).await?)
}
