//! The hearing record, first part: the sealed audio recording of the hearing room.
//!
//! ## Module map
//! - [`ogg`]: a small Ogg Opus writer (RFC 3533 pages with CRC, RFC 7845 headers and granule
//!   positions).
//! - [`mixer`]: the sans-IO mixer: Opus packets of many sources in (reordered, jitter-buffered,
//!   losses concealed), one 20 ms mono mix out.
//! - [`recorder`]: the recorder's own OS thread: mixes on a 20 ms clock, encodes, writes
//!   segment files, and closes, hashes and chains each segment.
//! - [`original`]: the court's encrypted original voice (a protected witness's raw voice, when
//!   the order keeps it): the recipient certificate and the recorder the SFU feeds.
//! - [`retention`]: the retention periods by court and the sweep that deletes a closed
//!   hearing's record at the end of its period (itself an audit entry naming what existed).
//! - this module: [`Recordings`], the async side: starts and stops recorders for the judge,
//!   enters each closed segment in the audit log and the database as it is written, seals the
//!   whole recording (CAdES B-T) at stop, notes recordings a crash interrupted, and builds the
//!   ASiC-E export.
//!
//! ## What is recorded
//! **The** rule is [`crate::sfu::room::may_record`]: the hearing room's audio as a listener
//! named in no protective order hears it, a protected voice only as its anonymised variant;
//! never a consultation room or the waiting room. The SFU hands the recorder exactly the
//! packets that rule allows (`Hearing::on_rtp` for raw, `Hearing::on_anonymised_rtp` for the
//! anonymised variant), so the recorder never sees a raw protected voice.
//!
//! The one exception is rule 9 ([`crate::sfu::room::may_record_original`]): when a protective
//! order keeps the original, the witness's raw voice goes to a **separate** stream whose
//! segments are encrypted to the court's certificate before they touch the disk ([`original`]).
//! It is a `recordings` row of its own (`original_of` names the ordinary recording), chained
//! and audited (`recording.original_segment`) and sealed at stop like the ordinary one, never
//! part of the ordinary export, and downloadable only by the roles the orders name.
//!
//! ## When the recorder fails
//! A write error (a full disk) stops the recorder writing: the segments closed before stay
//! sealed and verifiable, the failure is audited (`recording.failed`), recording goes off in the
//! room at once (every screen stops saying "recording", the bench gets a `recording_failed`
//! notice), and the recording is stopped and sealed as if the judge had stopped it, the failure
//! named in its manifest and in the minutes.
//!
//! ## Sealing as it records
//! Segment `i` (1, 2, …) is a self-contained Ogg Opus file. When it is closed its SHA-256 `h_i`
//! is chained: `c_0 = SHA-256("assize recording " ‖ recording id)`,
//! `c_i = SHA-256(c_{i-1} ‖ h_i ‖ i as u32 big-endian)`, and an audit entry
//! `recording.segment` with the hearing, recording, index, `h_i` and `c_i` is appended (no
//! personal data). At stop the manifest (every segment with its hash, chain value and audit
//! sequence number) is sealed with the server's CAdES B-T seal.

pub mod mixer;
pub mod ogg;
pub mod original;
pub mod recorder;
pub mod retention;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use assize_signing::asic::ContainerBuilder;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::audit::{Actor, AuditEvent, AuditLog};
use crate::notary::Notary;
use crate::sfu::Hearing;
use crate::sfu::room::{HearingRole, RoleSet};
use crate::store::{RecordingRecord, SegmentRecord, Store, now};
use original::{OriginalRecipient, OriginalRecorder};
use recorder::{RecorderConfig, RecorderEvent, RecorderThread, chain_start};

/// Jitter tolerance of the mix: 3 frames (60 ms).
pub const JITTER_FRAMES: usize = 3;
/// Opus bitrate of the recording (mono speech).
pub const BITRATE_KBPS: u32 = 32;

/// Why a recording could not be started, stopped or exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// Start while recording.
    #[error("the hearing is already being recorded")]
    AlreadyRecording,
    /// Stop while not recording.
    #[error("the hearing is not being recorded")]
    NotRecording,
    /// A stored segment no longer matches the hash sealed when it was written.
    #[error("segment {index} of recording {recording} does not match its sealed hash")]
    Damaged { recording: String, index: i64 },
    /// Nothing to export.
    #[error("the hearing has no finished recording")]
    NothingRecorded,
    /// The record was deleted at the end of its retention period.
    #[error("the hearing's record was deleted at the end of its retention period")]
    Deleted { deleted_at: i64, audit_seq: i64 },
    /// An order keeps the original voice but the server has no certificate to encrypt it to.
    #[error("no recipient certificate for the court's original voice is configured")]
    NoOriginalRecipient,
    /// No original voice was recorded with this recording.
    #[error("no original voice was recorded with this recording")]
    NoOriginal,
    /// Anything else (disk, database, sealing).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::store::StoreError> for RecordingError {
    fn from(e: crate::store::StoreError) -> Self {
        RecordingError::Other(e.into())
    }
}

struct Active {
    recording_id: String,
    started_by: String,
    hearing: Arc<Hearing>,
    thread: Arc<RecorderThread>,
    sealer: tokio::task::JoinHandle<Vec<String>>,
    /// The court's original voice, once an order keeps it.
    original: Option<ActiveOriginal>,
}

struct ActiveOriginal {
    id: String,
    recorder: Arc<OriginalRecorder>,
    sealer: tokio::task::JoinHandle<Vec<String>>,
}

/// What the sealer tasks need besides the recorder's events.
#[derive(Clone)]
struct SealTo {
    store: Store,
    audit: AuditLog,
    hearing_id: String,
    recording_id: String,
    /// `recording.segment` or `recording.original_segment`.
    action: &'static str,
    hearing: Arc<Hearing>,
    /// The ordinary recording this stream belongs to (itself, or the one an original was
    /// kept with): the one a failure stops.
    parent: String,
    /// Where a failure asks for the recording to be stopped and sealed (hearing, recording).
    failures: tokio::sync::mpsc::UnboundedSender<(String, String)>,
}

/// What a stop produced.
#[derive(Debug, Clone)]
pub struct StopReport {
    pub recording_id: String,
    pub segments: usize,
    /// The last chain value (hex).
    pub chain: String,
    /// What went wrong while recording (a full disk…), for the judge.
    pub problems: Vec<String>,
    /// Packets dropped because the recorder was behind.
    pub dropped_packets: u64,
    /// The court's original-voice stream sealed with it, if any: its id and segments.
    pub original: Option<(String, usize)>,
}

/// The recordings of every hearing on this server.
pub struct Recordings {
    dir: PathBuf,
    segment_frames: u32,
    store: Store,
    audit: AuditLog,
    notary: Arc<Notary>,
    active: tokio::sync::Mutex<HashMap<String, Active>>,
    original_recipient: Option<Arc<OriginalRecipient>>,
    failures: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    failed: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<(String, String)>>>,
}

impl std::fmt::Debug for Recordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recordings")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Recordings {
    /// Recordings written under `dir`, cut every `segment_secs` seconds.
    pub fn new(
        dir: PathBuf,
        segment_secs: u32,
        store: Store,
        audit: AuditLog,
        notary: Arc<Notary>,
    ) -> Self {
        let (failures, failed) = tokio::sync::mpsc::unbounded_channel();
        Self {
            dir,
            segment_frames: segment_secs.max(1) * 50,
            store,
            audit,
            notary,
            active: tokio::sync::Mutex::new(HashMap::new()),
            original_recipient: None,
            failures,
            failed: std::sync::Mutex::new(Some(failed)),
        }
    }

    /// The court's certificate the original voice is encrypted to (none: an order that keeps
    /// the original is refused).
    #[must_use]
    pub fn with_original_recipient(mut self, recipient: Option<Arc<OriginalRecipient>>) -> Self {
        self.original_recipient = recipient;
        self
    }

    /// Whether the court's original voice can be kept (a recipient is configured).
    pub fn keeps_originals(&self) -> bool {
        self.original_recipient.is_some()
    }

    /// Starts the task that stops and seals a recording whose recorder failed (a full disk),
    /// as if the judge had stopped it; the stop is audited (`recording.stop`, by the system).
    /// Call once, after wrapping in an `Arc`.
    pub fn watch_failures(self: &Arc<Self>) {
        let Some(mut failed) = self
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some((hearing_id, recording_id)) = failed.recv().await {
                let Some(me) = me.upgrade() else { return };
                // Only the recording that failed: not one the judge started since.
                let current = me
                    .active
                    .lock()
                    .await
                    .get(&hearing_id)
                    .map(|a| a.recording_id.clone());
                if current.as_deref() != Some(recording_id.as_str()) {
                    continue;
                }
                match me.stop(&hearing_id).await {
                    Ok(report) => {
                        let _ = me
                            .audit
                            .append(
                                AuditEvent::new(
                                    Actor::System,
                                    "recording.stop",
                                    format!("hearing:{hearing_id}"),
                                )
                                .with(
                                    json!({ "recording": report.recording_id,
                                    "segments": report.segments, "chain": report.chain,
                                    "problems": report.problems,
                                    "dropped_packets": report.dropped_packets,
                                    "original": report.original.as_ref().map(|o| &o.0),
                                    "reason": "the recorder failed" }),
                                ),
                            )
                            .await;
                    }
                    // Already stopped (both streams failed, or the judge was quicker).
                    Err(RecordingError::NotRecording) => {}
                    Err(e) => {
                        tracing::error!(error = ?e, hearing = %hearing_id,
                            "cannot seal a recording after its recorder failed");
                    }
                }
            }
        });
    }

    fn recording_dir(&self, hearing_id: &str, recording_id: &str) -> PathBuf {
        self.dir.join(hearing_id).join(recording_id)
    }

    /// At start-up: recordings that were on when the server stopped are marked interrupted and
    /// each gets an audit entry naming the unfinished segment file left behind (if any), and any
    /// closed segment file the stop kept from being audited, so they are noted rather than
    /// silently dropped. Their audited segments stay provable.
    ///
    /// # Errors
    /// On database or audit failure.
    pub async fn recover(&self) -> anyhow::Result<usize> {
        let interrupted = self.store.interrupt_open_recordings().await?;
        for r in &interrupted {
            let dir = self.recording_dir(&r.hearing_id, &r.id);
            let closed = self.store.segments(&r.id).await?;
            let mut unfinished = Vec::new();
            // A segment closed and renamed just before the stop, but not yet entered in the
            // audit log: on disk, yet not provable. Named too, so nothing is silently dropped.
            let mut unaudited = Vec::new();
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".part") {
                        unfinished.push(name);
                    } else if (name.ends_with(".opus") || name.ends_with(".opus.p7m"))
                        && !closed.iter().any(|s| s.file_name == name)
                    {
                        unaudited.push(name);
                    }
                }
            }
            unfinished.sort();
            unaudited.sort();
            let closed = closed.len();
            self.audit
                .append(
                    AuditEvent::new(
                        Actor::System,
                        "recording.interrupted",
                        format!("hearing:{}", r.hearing_id),
                    )
                    .with(
                        json!({ "recording": r.id, "closed_segments": closed,
                                  "unfinished_files": unfinished,
                                  "unaudited_files": unaudited }),
                    ),
                )
                .await?;
            tracing::warn!(recording = %r.id, closed, ?unfinished, ?unaudited,
                "a recording was interrupted by a server stop; its closed segments remain");
        }
        Ok(interrupted.len())
    }

    /// Whether `hearing_id` is being recorded now.
    pub async fn is_recording(&self, hearing_id: &str) -> bool {
        self.active.lock().await.contains_key(hearing_id)
    }

    /// Starts recording `hearing`'s hearing room. The caller has the judge's permit and
    /// audits the start.
    ///
    /// # Errors
    /// [`RecordingError::AlreadyRecording`]; disk or database failures.
    pub async fn start(
        &self,
        hearing_id: &str,
        hearing: Arc<Hearing>,
        started_by: &str,
    ) -> Result<String, RecordingError> {
        let mut active = self.active.lock().await;
        if active.contains_key(hearing_id) {
            return Err(RecordingError::AlreadyRecording);
        }
        let recording_id = uuid::Uuid::new_v4().to_string();
        let config = RecorderConfig {
            dir: self.recording_dir(hearing_id, &recording_id),
            recording_id: recording_id.clone(),
            segment_frames: self.segment_frames,
            jitter_frames: JITTER_FRAMES,
            bitrate_kbps: BITRATE_KBPS,
            encrypt_to: None,
            start_with_first_packet: false,
        };
        self.store
            .insert_recording(&recording_id, hearing_id, started_by, now())
            .await
            .context("recording the start")?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let thread = Arc::new(
            RecorderThread::spawn(config, tx)
                .with_context(|| format!("starting the recorder in {}", self.dir.display()))?,
        );
        let sealer = tokio::spawn(seal_segments(
            SealTo {
                store: self.store.clone(),
                audit: self.audit.clone(),
                hearing_id: hearing_id.to_string(),
                recording_id: recording_id.clone(),
                action: "recording.segment",
                parent: recording_id.clone(),
                hearing: hearing.clone(),
                failures: self.failures.clone(),
            },
            rx,
        ));
        let mut a = Active {
            recording_id: recording_id.clone(),
            started_by: started_by.to_string(),
            hearing: hearing.clone(),
            thread: thread.clone(),
            sealer,
            original: None,
        };
        let keeps = self
            .store
            .protective_orders_of(hearing_id)
            .await?
            .iter()
            .any(|o| o.keep_original && o.voice == "distorted");
        if keeps {
            self.start_original(hearing_id, &mut a).await?;
        }
        hearing.set_recorder(Some(thread));
        hearing.set_recording(true);
        active.insert(hearing_id.to_string(), a);
        Ok(recording_id)
    }

    /// While `hearing_id` is recorded, makes sure the court's original voice is recorded too
    /// (an order keeping it was just made). Nothing happens when not recording.
    ///
    /// # Errors
    /// [`RecordingError::NoOriginalRecipient`]; disk or database failures.
    pub async fn ensure_original(&self, hearing_id: &str) -> Result<(), RecordingError> {
        let mut active = self.active.lock().await;
        if let Some(a) = active.get_mut(hearing_id)
            && a.original.is_none()
        {
            self.start_original(hearing_id, a).await?;
        }
        Ok(())
    }

    async fn start_original(&self, hearing_id: &str, a: &mut Active) -> Result<(), RecordingError> {
        let recipient = self
            .original_recipient
            .clone()
            .ok_or(RecordingError::NoOriginalRecipient)?;
        let id = uuid::Uuid::new_v4().to_string();
        let config = RecorderConfig {
            dir: self.recording_dir(hearing_id, &id),
            recording_id: id.clone(),
            segment_frames: self.segment_frames,
            jitter_frames: JITTER_FRAMES,
            bitrate_kbps: BITRATE_KBPS,
            encrypt_to: Some(recipient),
            start_with_first_packet: true,
        };
        self.store
            .insert_original_recording(&id, &a.recording_id, hearing_id, &a.started_by, now())
            .await
            .context("recording the start of the original voice")?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let thread = Arc::new(RecorderThread::spawn(config, tx).with_context(|| {
            format!(
                "starting the original-voice recorder in {}",
                self.dir.display()
            )
        })?);
        let sealer = tokio::spawn(seal_segments(
            SealTo {
                store: self.store.clone(),
                audit: self.audit.clone(),
                hearing_id: hearing_id.to_string(),
                recording_id: id.clone(),
                action: "recording.original_segment",
                parent: a.recording_id.clone(),
                hearing: a.hearing.clone(),
                failures: self.failures.clone(),
            },
            rx,
        ));
        let recorder = Arc::new(OriginalRecorder::new(thread));
        a.hearing.set_original_recorder(Some(recorder.clone()));
        self.audit
            .append(
                AuditEvent::new(
                    Actor::System,
                    "recording.original_start",
                    format!("hearing:{hearing_id}"),
                )
                .with(json!({ "recording": a.recording_id, "original": id })),
            )
            .await?;
        a.original = Some(ActiveOriginal {
            id,
            recorder,
            sealer,
        });
        Ok(())
    }

    /// Stops recording `hearing_id`: closes the last segment, waits until every segment is
    /// recorded and audited, and seals the manifest (CAdES B-T). The caller audits the stop.
    ///
    /// # Errors
    /// [`RecordingError::NotRecording`]; sealing or database failures.
    pub async fn stop(&self, hearing_id: &str) -> Result<StopReport, RecordingError> {
        let a = self
            .active
            .lock()
            .await
            .remove(hearing_id)
            .ok_or(RecordingError::NotRecording)?;
        a.hearing.set_recorder(None);
        a.hearing.set_original_recorder(None);
        a.hearing.set_recording(false);
        let original = match a.original {
            Some(o) => Some(self.seal_original(hearing_id, &a.recording_id, o).await?),
            None => None,
        };
        let thread = a.thread.clone();
        tokio::task::spawn_blocking(move || thread.stop())
            .await
            .context("stopping the recorder")?;
        let dropped_packets = a.thread.dropped();
        drop(a.thread);
        let problems = a.sealer.await.context("sealing segments")?;
        let segments = self.store.segments(&a.recording_id).await?;
        let start = hex::encode(chain_start(&a.recording_id));
        let last = segments
            .last()
            .map_or_else(|| start.clone(), |s| s.chain.clone());
        let stopped_at = now();
        let manifest = json!({
            "recording": a.recording_id, "hearing": hearing_id,
            "stopped_at": stopped_at, "format": "audio/ogg; codecs=opus (48 kHz mono)",
            "chain": { "start": start, "last": last,
                       "rule": "c_i = SHA-256(c_{i-1} || sha256_i || i as u32 big-endian), c_0 = SHA-256(\"assize recording \" || recording)" },
            "segments": segments.iter().map(segment_json).collect::<Vec<_>>(),
            "problems": problems, "dropped_packets": dropped_packets,
            "original_voice": original.as_ref().map(|(id, _)| id),
        });
        let manifest = serde_json_canonicalizer::to_vec(&manifest).context("manifest")?;
        let seal = self.notary.seal_cades(&manifest).await?;
        self.store
            .seal_recording(&a.recording_id, stopped_at, &manifest, seal.as_der())
            .await
            .context("storing the sealed manifest")?;
        Ok(StopReport {
            recording_id: a.recording_id,
            segments: segments.len(),
            chain: last,
            problems,
            dropped_packets,
            original,
        })
    }

    /// Stops and seals the court's original-voice stream: its manifest names the recipient
    /// certificate and who may download it (the roles every order heard names).
    async fn seal_original(
        &self,
        hearing_id: &str,
        recording_id: &str,
        o: ActiveOriginal,
    ) -> Result<(String, usize), RecordingError> {
        let thread = o.recorder.thread().clone();
        tokio::task::spawn_blocking(move || thread.stop())
            .await
            .context("stopping the original-voice recorder")?;
        let dropped_packets = o.recorder.thread().dropped();
        let problems = o.sealer.await.context("sealing original segments")?;
        let audience: Vec<String> = o
            .recorder
            .audience()
            .roles()
            .map(|r| crate::hearings::role_name(r).to_string())
            .collect();
        let segments = self.store.segments(&o.id).await?;
        let start = hex::encode(chain_start(&o.id));
        let last = segments
            .last()
            .map_or_else(|| start.clone(), |s| s.chain.clone());
        let (fingerprint, subject) = self
            .original_recipient
            .as_ref()
            .map(|r| (r.fingerprint().to_string(), r.subject().to_string()))
            .unwrap_or_default();
        let stopped_at = now();
        let manifest = json!({
            "recording": o.id, "original_of": recording_id, "hearing": hearing_id,
            "stopped_at": stopped_at,
            "format": "application/pkcs7-mime; smime-type=enveloped-data (DER CMS EnvelopedData, AES-256-CBC, RSA key transport) of audio/ogg; codecs=opus (48 kHz mono)",
            "recipient": { "certificate_sha256": fingerprint, "subject": subject },
            "readable_by": audience,
            "chain": { "start": start, "last": last,
                       "rule": "c_i = SHA-256(c_{i-1} || sha256_i || i as u32 big-endian), c_0 = SHA-256(\"assize recording \" || recording); sha256_i over the encrypted file as stored" },
            "segments": segments.iter().map(segment_json).collect::<Vec<_>>(),
            "problems": problems, "dropped_packets": dropped_packets,
        });
        let manifest = serde_json_canonicalizer::to_vec(&manifest).context("manifest")?;
        let seal = self.notary.seal_cades(&manifest).await?;
        self.store
            .seal_recording(&o.id, stopped_at, &manifest, seal.as_der())
            .await
            .context("storing the original voice's sealed manifest")?;
        self.store
            .set_original_audience(&o.id, &audience)
            .await
            .context("storing who may read the original voice")?;
        Ok((o.id, segments.len()))
    }

    /// The court's original voice recorded with `recording_id`: the sealed stream record.
    ///
    /// # Errors
    /// [`RecordingError::NoOriginal`] when there is none (or it is still being recorded);
    /// [`RecordingError::Deleted`] after the retention period; database failures.
    pub async fn original(
        &self,
        hearing_id: &str,
        recording_id: &str,
    ) -> Result<RecordingRecord, RecordingError> {
        if let Some(d) = self.store.record_deletion(hearing_id).await? {
            return Err(RecordingError::Deleted {
                deleted_at: d.deleted_at,
                audit_seq: d.audit_seq,
            });
        }
        self.store
            .original_of(hearing_id, recording_id)
            .await?
            .filter(|r| r.status != "recording")
            .ok_or(RecordingError::NoOriginal)
    }

    /// Who may read an original-voice stream ([`Self::original`]).
    pub fn original_audience(original: &RecordingRecord) -> RoleSet {
        let roles: Vec<HearingRole> = original
            .raw_to
            .iter()
            .flatten()
            .filter_map(|r| crate::sfu::signal::parse_role(r))
            .collect();
        RoleSet::of(&roles)
    }

    /// An ASiC-E package of an original-voice stream ([`Self::original`]): its encrypted
    /// segments (`original/seg-NNNNN.opus.p7m`, CMS EnvelopedData to the court's certificate),
    /// its sealed manifest and seal, under a container seal. Each segment is checked against
    /// the hash sealed when it was written first. The server cannot decrypt what it hands out.
    ///
    /// # Errors
    /// [`RecordingError::Damaged`] naming a changed segment; reading or sealing failures.
    pub async fn original_package(
        &self,
        hearing_id: &str,
        original: &RecordingRecord,
    ) -> Result<Vec<u8>, RecordingError> {
        let mut b = ContainerBuilder::new();
        let mut add = |name: String, mime: &str, content: Vec<u8>| {
            b.add_document(&name, mime, content)
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("original voice package: {e}"))
        };
        let segments = self.store.segments(&original.id).await?;
        for (s, bytes) in self
            .read_verified(hearing_id, &original.id, &segments)
            .await?
        {
            add(
                format!("original/{}", s.file_name),
                "application/pkcs7-mime",
                bytes,
            )?;
        }
        if let (Some(m), Some(sig)) = (&original.manifest, &original.signature) {
            add(
                "original/manifest.json".into(),
                "application/json",
                m.clone(),
            )?;
            add(
                "original/manifest.p7s".into(),
                "application/pkcs7-signature",
                sig.clone(),
            )?;
        }
        let prepared = b
            .prepare()
            .map_err(|e| anyhow::anyhow!("original voice package: {e}"))?;
        let signature = self.notary.seal_cades(prepared.manifest()).await?;
        Ok(prepared
            .seal(&signature)
            .map_err(|e| anyhow::anyhow!("original voice package: {e}"))?)
    }

    /// Each segment's bytes, checked against the hash sealed when it was written.
    async fn read_verified<'a>(
        &self,
        hearing_id: &str,
        recording_id: &str,
        segments: &'a [SegmentRecord],
    ) -> Result<Vec<(&'a SegmentRecord, Vec<u8>)>, RecordingError> {
        let dir = self.recording_dir(hearing_id, recording_id);
        let mut out = Vec::with_capacity(segments.len());
        for s in segments {
            let path = dir.join(&s.file_name);
            let bytes = tokio::fs::read(&path)
                .await
                .with_context(|| format!("reading {}", path.display()))?;
            if hex::encode(Sha256::digest(&bytes)) != s.sha256 {
                return Err(RecordingError::Damaged {
                    recording: recording_id.to_string(),
                    index: s.index,
                });
            }
            out.push((s, bytes));
        }
        Ok(out)
    }

    /// An ASiC-E package of the hearing record of `hearing_id`: every finished recording's
    /// segment files, its sealed manifest and its seal; the minutes (`minutes/`, final once the
    /// hearing closed, else a draft sealed now); and a summary, under a container seal (CAdES
    /// B-T). Each segment is checked against the hash sealed when it was written first.
    ///
    /// # Errors
    /// [`RecordingError::NothingRecorded`] when there is neither a finished recording nor final
    /// minutes; [`RecordingError::Deleted`] after the retention period; [`RecordingError::Damaged`] naming the segment that
    /// changed on disk; reading or sealing failures.
    pub async fn export(&self, hearing_id: &str) -> Result<Vec<u8>, RecordingError> {
        if let Some(d) = self.store.record_deletion(hearing_id).await? {
            return Err(RecordingError::Deleted {
                deleted_at: d.deleted_at,
                audit_seq: d.audit_seq,
            });
        }
        let recordings = self.store.recordings(hearing_id).await?;
        let mut b = ContainerBuilder::new();
        let mut add = |name: String, mime: &str, content: Vec<u8>| {
            b.add_document(&name, mime, content)
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("recording package: {e}"))
        };
        let mut listed = Vec::new();
        for r in recordings.iter().filter(|r| r.status != "recording") {
            let segments = self.store.segments(&r.id).await?;
            let base = format!("recordings/{}", r.id);
            for (s, bytes) in self.read_verified(hearing_id, &r.id, &segments).await? {
                add(format!("{base}/{}", s.file_name), "audio/ogg", bytes)?;
            }
            if let (Some(m), Some(sig)) = (&r.manifest, &r.signature) {
                add(
                    format!("{base}/manifest.json"),
                    "application/json",
                    m.clone(),
                )?;
                add(
                    format!("{base}/manifest.p7s"),
                    "application/pkcs7-signature",
                    sig.clone(),
                )?;
            }
            listed.push(json!({
                "recording": r.id, "status": r.status, "started_at": r.started_at,
                "stopped_at": r.stopped_at,
                "segments": segments.iter().map(segment_json).collect::<Vec<_>>(),
            }));
        }
        // The minutes: final once the hearing closed, else a draft sealed now (a recording
        // without minutes would say nothing of who was there).
        let minutes = match self.store.minutes(hearing_id).await? {
            Some(r) => Some(crate::minutes::Sealed::from(r)),
            None if !listed.is_empty() => Some(
                crate::minutes::draft(&self.store, &self.notary, self.audit.origin(), hearing_id)
                    .await
                    .map_err(|e| anyhow::anyhow!("minutes: {e}"))?,
            ),
            None => None,
        };
        let Some(minutes) = minutes else {
            return Err(RecordingError::NothingRecorded);
        };
        for (name, mime, bytes) in minutes.files() {
            add(format!("minutes/{name}"), mime, bytes.to_vec())?;
        }
        let summary = json!({
            "hearing": hearing_id, "recordings": listed,
            "minutes": { "status": minutes.status, "directory": "minutes/" },
            "exported_at": now(), "exported_by": self.audit.origin(),
        });
        let summary = serde_json_canonicalizer::to_vec(&summary).context("summary")?;
        add("recording.json".into(), "application/json", summary)?;
        let prepared = b
            .prepare()
            .map_err(|e| anyhow::anyhow!("recording package: {e}"))?;
        let signature = self.notary.seal_cades(prepared.manifest()).await?;
        Ok(prepared
            .seal(&signature)
            .map_err(|e| anyhow::anyhow!("recording package: {e}"))?)
    }
}

fn segment_json(s: &SegmentRecord) -> Value {
    json!({ "index": s.index, "file": s.file_name, "sha256": s.sha256, "chain": s.chain,
            "samples": s.samples, "bytes": s.bytes, "closed_at": s.closed_at,
            "audit_seq": s.audit_seq })
}

/// Enters each closed segment in the audit log, then the database, as the recorder reports it;
/// returns the problems reported (also audited). A failure also takes recording off in the room
/// (the bench is told) and asks for the recording to be stopped and sealed.
async fn seal_segments(
    to: SealTo,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<RecorderEvent>,
) -> Vec<String> {
    let SealTo {
        store,
        audit,
        hearing_id,
        recording_id,
        action,
        parent,
        hearing,
        failures,
    } = to;
    let mut problems = Vec::new();
    let object = format!("hearing:{hearing_id}");
    while let Some(event) = rx.recv().await {
        match event {
            RecorderEvent::Segment(c) => {
                let (sha256, chain) = (hex::encode(c.sha256), hex::encode(c.chain));
                let entry = AuditEvent::new(Actor::System, action, object.clone())
                    .with(json!({ "recording": recording_id, "index": c.index,
                                  "sha256": sha256, "chain": chain, "samples": c.samples }));
                let audit_seq = match audit.append(entry).await {
                    Ok(seq) => i64::try_from(seq).unwrap_or(i64::MAX),
                    Err(e) => {
                        tracing::error!(error = ?e, recording = %recording_id, index = c.index,
                            "cannot audit a closed recording segment");
                        problems.push(format!("segment {} could not be audited", c.index));
                        -1
                    }
                };
                let row = SegmentRecord {
                    recording_id: recording_id.clone(),
                    index: i64::from(c.index),
                    file_name: c.file_name,
                    sha256,
                    chain,
                    samples: i64::try_from(c.samples).unwrap_or(i64::MAX),
                    bytes: i64::try_from(c.bytes).unwrap_or(i64::MAX),
                    closed_at: now(),
                    audit_seq,
                };
                if let Err(e) = store.insert_segment(&row).await {
                    tracing::error!(error = ?e, recording = %recording_id, index = c.index,
                        "cannot record a closed recording segment");
                    problems.push(format!("segment {} could not be stored", c.index));
                }
            }
            RecorderEvent::Failed(msg) => {
                tracing::error!(recording = %recording_id, error = %msg,
                    "the recorder stopped writing; the hearing goes on");
                let problem = format!("the recorder stopped writing: {msg}");
                let _ = audit
                    .append(
                        AuditEvent::new(Actor::System, "recording.failed", object.clone())
                            .with(json!({ "recording": recording_id, "error": msg })),
                    )
                    .await;
                problems.push(problem);
                hearing.recording_failed(&msg);
                let _ = failures.send((hearing_id.clone(), parent.clone()));
            }
        }
    }
    problems
}
