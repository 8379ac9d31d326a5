//! The production [`Anonymisers`]: each protected track gets a transcoding [`Pipeline`] on its
//! own thread (decode → anonymise → encode), whose packets go back into the hearing as the
//! anonymised variant.
//!
//! - Voice: the [`VoiceAnonymiser`] with a secret derived from the hearing's secret and the
//!   witness (HMAC-SHA-256), so a witness sounds the same through one hearing and different in
//!   the next. No secret known for the hearing → no stream: those not named get no audio.
//! - Face: masked (each face covered by an opaque fill, failing closed to a full-frame
//!   silhouette) or full-frame, by the [`FaceAnonymiser`], built on the pipeline's own thread.
//!   Masked: the face detector runs on a second thread of the stream's, so no picture waits
//!   for inference (see `FaceFilter`). If the anonymiser cannot be built or fails, the
//!   pipeline sends black pictures: never the raw picture.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use assize_media::face::{CenterFace, Detection, DetectorError, FaceDetector as _};
use assize_media::{
    DetectionTicket, FaceAnonymiser, FaceMode, FaceSettings, I420Frame, VoiceAnonymiser,
    VoiceSettings,
};
use hmac::{Hmac, Mac as _};
use rtc::rtp;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::hearing::{AnonymisedStream, Anonymisers, Hearing, HearingKey};
use super::pipeline::{
    Control, Filter, Pipeline, PipelineConfig, PipelineCounters, PipelineHandle, PipelineStats,
    VideoFilter, VoiceFilter,
};
use super::room::{FaceProtection, MediaKind, ParticipantId, Protection};

/// Anonymisers backed by the transcoding pipeline.
#[derive(Default)]
pub struct PipelineAnonymisers {
    secrets: Mutex<HashMap<HearingKey, Zeroizing<[u8; 32]>>>,
    registry: Arc<StreamRegistry>,
}

/// The counters of every pipeline this server ran, for metrics: live ones read at scrape time,
/// finished ones folded into per-kind totals when their stream is dropped.
#[derive(Debug, Default)]
pub struct StreamRegistry {
    inner: Mutex<RegistryInner>,
}

#[derive(Debug, Default)]
struct RegistryInner {
    next_id: u64,
    live: HashMap<u64, (MediaKind, PipelineStats)>,
    retired: [PipelineCounters; 2],
}

fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

/// Totals over the pipelines of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindTotals {
    /// Pipelines whose worker runs now.
    pub running: u64,
    /// Event counts over every pipeline ever started (gauges of live ones: largest latency).
    pub counts: PipelineCounters,
}

impl StreamRegistry {
    fn register(&self, kind: MediaKind, stats: PipelineStats) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.next_id += 1;
        let id = inner.next_id;
        inner.live.insert(id, (kind, stats));
        id
    }

    fn retire(&self, id: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((kind, stats)) = inner.live.remove(&id) {
            inner.retired[kind_index(kind)].add_counts(&stats.snapshot());
        }
    }

    /// Totals for audio and for video, in that order.
    pub fn totals(&self) -> [(MediaKind, KindTotals); 2] {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = [MediaKind::Audio, MediaKind::Video].map(|kind| {
            (
                kind,
                KindTotals {
                    running: 0,
                    counts: inner.retired[kind_index(kind)],
                },
            )
        });
        for (kind, stats) in inner.live.values() {
            let now = stats.snapshot();
            let slot = &mut out[kind_index(*kind)].1;
            slot.running += u64::from(now.running);
            slot.counts.add_counts(&now);
        }
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// Exposes the [`StreamRegistry`] as Prometheus metrics (`assize_pipeline_*`), read at scrape
/// time. Counts only: no hearing or participant appears in a label.
#[derive(Debug)]
pub struct PipelineCollector(Arc<StreamRegistry>);

impl prometheus_client::collector::Collector for PipelineCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let totals = self.0.totals();
        let label = |kind: MediaKind| KindLabel {
            kind: match kind {
                MediaKind::Audio => "audio",
                MediaKind::Video => "video",
            },
        };
        {
            let gauge = ConstGauge::new(0_i64);
            let mut family = encoder.encode_descriptor(
                "pipeline_streams",
                "Anonymising pipelines running now",
                None,
                gauge.metric_type(),
            )?;
            for (kind, t) in &totals {
                let running = i64::try_from(t.running).unwrap_or(i64::MAX);
                ConstGauge::new(running).encode(family.encode_family(&label(*kind))?)?;
            }
        }
        type Get = fn(&PipelineCounters) -> u64;
        let counters: [(&str, &str, Get); 14] = [
            (
                "pipeline_packets_in",
                "Protected RTP packets queued for anonymising",
                |c| c.packets_in,
            ),
            (
                "pipeline_packets_dropped",
                "Protected RTP packets dropped: input queue full",
                |c| c.packets_dropped,
            ),
            (
                "pipeline_packets_late",
                "Protected RTP packets dropped as late or duplicate",
                |c| c.packets_late,
            ),
            (
                "pipeline_packets_out",
                "Anonymised RTP packets sent on",
                |c| c.packets_out,
            ),
            (
                "pipeline_packets_out_dropped",
                "Anonymised RTP packets dropped: output queue full",
                |c| c.packets_out_dropped,
            ),
            (
                "pipeline_frames_in",
                "Frames reassembled (video) or packets decoded (audio)",
                |c| c.frames_in,
            ),
            (
                "pipeline_frames_out",
                "Anonymised frames encoded and sent",
                |c| c.frames_out,
            ),
            (
                "pipeline_frames_skipped",
                "Frames not sent: waiting for a keyframe or behind",
                |c| c.frames_skipped,
            ),
            (
                "pipeline_frames_black",
                "Frames sent black or silent because a step failed",
                |c| c.frames_black,
            ),
            (
                "pipeline_decode_errors",
                "Frames the decoder refused",
                |c| c.decode_errors,
            ),
            (
                "pipeline_filter_errors",
                "Frames the anonymiser failed on",
                |c| c.filter_errors,
            ),
            (
                "pipeline_encode_errors",
                "Frames the encoder failed on",
                |c| c.encode_errors,
            ),
            (
                "pipeline_keyframes_requested",
                "Keyframe requests sent to protected publishers",
                |c| c.keyframes_requested,
            ),
            (
                "pipeline_keyframes_forced",
                "Keyframes the server's encoder made on request",
                |c| c.keyframes_forced,
            ),
        ];
        for (name, help, get) in counters {
            let metric = ConstCounter::new(0_u64);
            let mut family = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
            for (kind, t) in &totals {
                ConstCounter::new(get(&t.counts)).encode(family.encode_family(&label(*kind))?)?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for PipelineAnonymisers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PipelineAnonymisers(..)")
    }
}

impl PipelineAnonymisers {
    /// Totals over every pipeline (metrics, tests).
    pub fn registry(&self) -> &StreamRegistry {
        &self.registry
    }

    /// A metrics collector over this server's pipelines.
    pub fn collector(&self) -> PipelineCollector {
        PipelineCollector(self.registry.clone())
    }

    /// Gives the anonymisers a hearing's secret (the HTTP layer does, before a protected
    /// witness can publish).
    pub fn set_secret(&self, hearing: &str, secret: Zeroizing<[u8; 32]>) {
        self.secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hearing.to_string(), secret);
    }

    /// The voice secret of one witness in one hearing.
    fn voice_secret(&self, hearing: &str, party: &str) -> Option<Zeroizing<[u8; 32]>> {
        let secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        let key = secrets.get(hearing)?;
        voice_secret_for(key, party)
    }
}

/// The voice secret of `party` under a hearing secret: HMAC-SHA-256(hearing secret,
/// "assize-voice:" ‖ party). `assize hearing-secret --participant` writes the same.
pub fn voice_secret_for(hearing_secret: &[u8; 32], party: &str) -> Option<Zeroizing<[u8; 32]>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(hearing_secret).ok()?;
    mac.update(b"assize-voice:");
    mac.update(party.as_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    Some(out)
}

/// The face anonymiser as a pipeline filter, exactly as a protected witness's video pipeline
/// runs it (for benchmarks and tools; the anonymiser is built on the first picture, on the
/// pipeline's thread).
#[must_use]
pub fn face_filter(mode: FaceMode) -> Box<dyn VideoFilter> {
    face_filter_counted(mode).0
}

/// [`face_filter`] with counters of what it did to each picture (benchmarks, tools).
#[must_use]
pub fn face_filter_counted(mode: FaceMode) -> (Box<dyn VideoFilter>, Arc<FaceCounters>) {
    let counters = Arc::new(FaceCounters::default());
    let filter = FaceFilter {
        mode,
        face: None,
        detector: None,
        counters: counters.clone(),
    };
    (Box::new(filter), counters)
}

/// What a face filter did, picture by picture (no picture data).
#[derive(Debug, Default)]
pub struct FaceCounters {
    /// Pictures with one or more face masks.
    pub masked: std::sync::atomic::AtomicU64,
    /// Pictures covered whole (silhouette: full-frame mode, or Masked failing closed).
    pub silhouette: std::sync::atomic::AtomicU64,
    /// Pictures left as they were (no face known, or no protection).
    pub untouched: std::sync::atomic::AtomicU64,
    /// Detector answers taken.
    pub answers: std::sync::atomic::AtomicU64,
    /// Deferred answers by how many pictures after the one they are about they were taken:
    /// 1, 2, 3, 4 or more.
    pub answer_delay: [std::sync::atomic::AtomicU64; 4],
    /// Pictures seen.
    pictures: std::sync::atomic::AtomicU64,
}

impl FaceCounters {
    /// Notes an answer about picture `about` taken before the next picture is covered.
    fn answered(&self, about: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let delay = self.pictures.load(Relaxed).saturating_sub(about);
        let slot = usize::try_from(delay.clamp(1, 4) - 1).unwrap_or(3);
        if let Some(c) = self.answer_delay.get(slot) {
            c.fetch_add(1, Relaxed);
        }
    }

    fn count(&self, report: &assize_media::FrameReport) {
        use assize_media::face::{Cover, DetectorOutcome};
        use std::sync::atomic::Ordering::Relaxed;
        match report.cover {
            Cover::Masks(_) => self.masked.fetch_add(1, Relaxed),
            Cover::Silhouette(_) => self.silhouette.fetch_add(1, Relaxed),
            _ => self.untouched.fetch_add(1, Relaxed),
        };
        if !matches!(report.detector, DetectorOutcome::NotRun) {
            self.answers.fetch_add(1, Relaxed);
        }
        self.pictures.fetch_add(1, Relaxed);
    }
}

/// The face anonymiser as a pipeline filter, built on first use on the pipeline's thread.
///
/// Masked: the detector runs on a thread of its own (`assize-face-detect`), so a picture never
/// waits for inference. When a detection is due ([`FaceAnonymiser::prepare`]) the raw picture
/// is copied to that thread; its answer is taken on a later picture ([`FaceAnonymiser::answer`])
/// and every picture is covered at once with what is known ([`FaceAnonymiser::cover`]: masks
/// carried forward from the frame of the last answer; the whole frame until the first answer,
/// from a cut until the detector has seen the new scene, and while a detection is late). A
/// model that does not load or fails makes every picture a silhouette; a detector thread that
/// dies makes every picture black.
struct FaceFilter {
    mode: FaceMode,
    face: Option<FaceAnonymiser>,
    detector: Option<DetectorThread>,
    counters: Arc<FaceCounters>,
}

/// One picture for the detector thread.
struct DetectJob {
    ticket: DetectionTicket,
    width: u32,
    height: u32,
    picture: Vec<u8>,
}

/// The detector thread's answer, with the picture's buffer for reuse.
struct DetectDone {
    ticket: DetectionTicket,
    result: Result<Vec<Detection>, DetectorError>,
    picture: Vec<u8>,
}

/// The pipeline's end of a detector thread. Dropping it ends the thread (after the detection
/// under way, if any).
struct DetectorThread {
    jobs: std::sync::mpsc::SyncSender<DetectJob>,
    done: std::sync::mpsc::Receiver<DetectDone>,
    spare: Vec<u8>,
}

impl DetectorThread {
    fn spawn(long_side: u32) -> Result<Self, String> {
        // One job at a time is ever out (the anonymiser hands out one ticket at a time).
        let (jobs, job_rx) = std::sync::mpsc::sync_channel::<DetectJob>(1);
        let (done_tx, done) = std::sync::mpsc::sync_channel::<DetectDone>(1);
        std::thread::Builder::new()
            .name("assize-face-detect".into())
            .spawn(move || detect_loop(long_side, &job_rx, &done_tx))
            .map_err(|e| format!("cannot start the face detector's thread: {e}"))?;
        Ok(Self {
            jobs,
            done,
            spare: Vec::new(),
        })
    }
}

/// The detector thread: loads the model (a few hundred milliseconds, off the picture path),
/// then answers jobs until the pipeline drops its end.
fn detect_loop(
    long_side: u32,
    jobs: &std::sync::mpsc::Receiver<DetectJob>,
    done: &std::sync::mpsc::SyncSender<DetectDone>,
) {
    let mut model = CenterFace::bundled(long_side);
    if let Err(e) = &model {
        tracing::error!(error = %e, "the face detection model does not load; the protected witness's picture stays a silhouette");
    }
    while let Ok(mut job) = jobs.recv() {
        let mut faces = Vec::new();
        let result = match model.as_mut() {
            Ok(m) => match I420Frame::packed(job.width, job.height, &mut job.picture) {
                Ok(frame) => m.detect(&frame, &mut faces).map(|()| faces),
                Err(e) => Err(DetectorError::Inference(e.to_string())),
            },
            Err(e) => Err(DetectorError::Inference(e.to_string())),
        };
        let answer = DetectDone {
            ticket: job.ticket,
            result,
            picture: job.picture,
        };
        if done.send(answer).is_err() {
            break;
        }
    }
}

impl FaceFilter {
    fn start(&mut self) -> Result<(), String> {
        let settings = FaceSettings::default();
        if self.mode == FaceMode::Masked {
            if self.detector.is_none() {
                self.detector = Some(DetectorThread::spawn(settings.detector_long_side)?);
            }
            self.face = Some(
                FaceAnonymiser::deferred(self.mode, settings)
                    .map_err(|e| format!("the face anonymiser cannot start: {e}"))?,
            );
        } else {
            self.face = Some(
                FaceAnonymiser::new(self.mode, settings)
                    .map_err(|e| format!("the face anonymiser cannot start: {e}"))?,
            );
        }
        Ok(())
    }
}

impl VideoFilter for FaceFilter {
    fn apply(&mut self, width: u32, height: u32, i420: &mut [u8]) -> Result<(), String> {
        if self.face.is_none() {
            self.start()?;
        }
        let Some(face) = self.face.as_mut() else {
            return Err("no face anonymiser".into());
        };
        // The detector's answers so far (at most one).
        if let Some(d) = self.detector.as_mut() {
            loop {
                match d.done.try_recv() {
                    Ok(answer) => {
                        self.counters.answered(answer.ticket.frame());
                        face.answer(
                            answer.ticket,
                            answer.result.as_deref().map_err(Clone::clone),
                        );
                        d.spare = answer.picture;
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        return Err("the face detector's thread has stopped".into());
                    }
                }
            }
        }
        let ticket =
            face.prepare(&I420Frame::packed(width, height, i420).map_err(|e| e.to_string())?);
        if let Some(ticket) = ticket {
            let sent = match self.detector.as_mut() {
                Some(d) => {
                    let mut picture = std::mem::take(&mut d.spare);
                    picture.clear();
                    picture.extend_from_slice(i420);
                    d.jobs
                        .try_send(DetectJob {
                            ticket,
                            width,
                            height,
                            picture,
                        })
                        .is_ok()
                }
                None => false,
            };
            if !sent {
                // Counted as a failed detection: the whole frame is covered, and it is
                // asked again on the next picture.
                face.answer(ticket, Err(DetectorError::NoAnswer));
            }
        }
        let mut frame = I420Frame::packed(width, height, i420).map_err(|e| e.to_string())?;
        let report = face.cover(&mut frame);
        self.counters.count(&report);
        Ok(())
    }
}

struct PipelineStream {
    handle: PipelineHandle,
    task: tokio::task::JoinHandle<()>,
    registry: Arc<StreamRegistry>,
    id: u64,
}

impl AnonymisedStream for PipelineStream {
    fn push(&self, packet: &rtp::Packet) {
        // Never blocks; a full queue drops (counted by the pipeline).
        let _ = self.handle.push(packet.clone());
    }

    fn request_keyframe(&self) {
        let _ = self.handle.control(Control::ForceKeyframe);
    }

    fn set_bitrate(&self, kbps: u32) {
        let _ = self.handle.control(Control::SetBitrate(kbps));
    }

    fn counters(&self) -> Option<PipelineCounters> {
        Some(self.handle.counters())
    }
}

impl Drop for PipelineStream {
    fn drop(&mut self) {
        self.task.abort();
        self.registry.retire(self.id);
    }
}

impl Anonymisers for PipelineAnonymisers {
    fn start(
        &self,
        hearing: &Arc<Hearing>,
        publisher: ParticipantId,
        kind: MediaKind,
        order: &Protection,
    ) -> Option<Box<dyn AnonymisedStream>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (filter, config) = match kind {
            MediaKind::Audio => {
                let party = hearing.party_of(publisher)?;
                let secret = self.voice_secret(hearing.key(), &party)?;
                let voice = VoiceAnonymiser::new(&secret, VoiceSettings::default()).ok()?;
                (
                    Filter::Audio(Box::new(VoiceFilter::new(voice))),
                    PipelineConfig::audio(),
                )
            }
            MediaKind::Video => {
                if order.face == FaceProtection::None {
                    return None;
                }
                let mode = if order.face == FaceProtection::FullFrame {
                    FaceMode::FullFrame
                } else {
                    FaceMode::Masked
                };
                (Filter::Video(face_filter(mode)), PipelineConfig::video())
            }
        };
        let (handle, mut output) = match Pipeline::spawn(filter, config) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot start an anonymising pipeline; the protected media is withheld");
                return None;
            }
        };
        let weak = Arc::downgrade(hearing);
        let task = runtime.spawn(async move {
            loop {
                tokio::select! {
                    packet = output.rtp.recv() => {
                        let (Some(packet), Some(h)) = (packet, weak.upgrade()) else { break };
                        h.on_anonymised_rtp(publisher, kind, packet.packet());
                    }
                    Some(()) = output.keyframe_requests.recv() => {
                        if let Some(h) = weak.upgrade() {
                            h.request_publisher_keyframe(publisher, kind);
                        }
                    }
                }
            }
        });
        tracing::info!(%publisher, ?kind, "anonymising pipeline started");
        let id = self.registry.register(kind, handle.stats());
        Some(Box::new(PipelineStream {
            handle,
            task,
            registry: self.registry.clone(),
            id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_face_filter_changes_every_picture_and_refuses_bad_geometry() {
        let (w, h) = (64u32, 48u32);
        let len = assize_media::codec::i420_len(w, h);
        let original: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
        let mut picture = original.clone();
        let mut filter = FaceFilter {
            mode: FaceMode::FullFrame,
            face: None,
            detector: None,
            counters: Arc::default(),
        };
        filter.apply(w, h, &mut picture).expect("a valid picture");
        assert_ne!(picture, original, "the silhouette replaces the picture");
        let mut short = vec![0u8; 10];
        assert!(
            filter.apply(w, h, &mut short).is_err(),
            "the pipeline then sends black"
        );
    }

    /// The public-domain astronaut portrait (256x256 I420) on a 640x360 textured backdrop at
    /// (300, 40); its face box, eyebrows to chin, is (382, 69)-(437, 130).
    fn astronaut_picture() -> (Vec<u8>, (usize, usize, usize, usize)) {
        const ASTRONAUT: &[u8] =
            include_bytes!("../../../media/tests/data/face/astronaut_256x256.i420");
        let (w, h, sw, at) = (640usize, 360usize, 256usize, (300usize, 40usize));
        let mut p = vec![128u8; assize_media::codec::i420_len(w as u32, h as u32)];
        for y in 0..h {
            for x in 0..w {
                p[y * w + x] = (90 + (x / 16 + y / 16) % 2 * 30) as u8;
            }
        }
        for r in 0..sw {
            for c in 0..sw {
                p[(at.1 + r) * w + at.0 + c] = ASTRONAUT[r * sw + c];
            }
        }
        let (cw, ch, scw) = (w / 2, h / 2, sw / 2);
        for plane in 0..2 {
            let (dst, src) = (w * h + plane * cw * ch, sw * sw + plane * scw * scw);
            for r in 0..scw {
                for c in 0..scw {
                    p[dst + (at.1 / 2 + r) * cw + at.0 / 2 + c] = ASTRONAUT[src + r * scw + c];
                }
            }
        }
        (p, (382, 69, 437, 130))
    }

    #[test]
    fn the_masked_filter_never_waits_for_the_detector_and_never_shows_the_face() {
        let (original, (x0, y0, x1, y1)) = astronaut_picture();
        let face_luma = |p: &[u8]| -> Vec<u8> {
            (y0..y1)
                .flat_map(|y| p[y * 640 + x0..y * 640 + x1].iter().copied())
                .collect()
        };
        let mut filter = FaceFilter {
            mode: FaceMode::Masked,
            face: None,
            detector: None,
            counters: Arc::default(),
        };
        let mut masked_after = None;
        for n in 0..500 {
            let mut picture = original.clone();
            filter
                .apply(640, 360, &mut picture)
                .expect("a valid picture");
            let mut levels = face_luma(&picture);
            levels.sort_unstable();
            levels.dedup();
            assert!(
                levels.len() <= 4,
                "picture {n}: the face region holds {} luma levels: raw samples escaped",
                levels.len()
            );
            if levels == [assize_media::face::MASK_LUMA]
                && picture[10 * 640 + 10] == original[10 * 640 + 10]
            {
                masked_after = Some(n);
                break;
            }
            // A camera delivers a picture every 33 ms; the detector answers in between.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let n = masked_after.expect("the detector's answer arrives and the face alone is masked");
        assert!(
            n >= 1,
            "the first picture is covered whole: no answer can exist yet"
        );
    }

    #[test]
    fn each_witness_has_a_voice_secret_of_their_own_within_a_hearing() {
        let hearing = [7u8; 32];
        let a = voice_secret_for(&hearing, "participant-a").expect("a key");
        let b = voice_secret_for(&hearing, "participant-b").expect("a key");
        let a2 = voice_secret_for(&hearing, "participant-a").expect("a key");
        assert_eq!(*a, *a2);
        assert_ne!(*a, *b);
        assert_ne!(
            *voice_secret_for(&[8u8; 32], "participant-a").expect("a key"),
            *a
        );
    }
}
