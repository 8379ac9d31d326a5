//! The production [`Anonymisers`]: each protected track gets a transcoding [`Pipeline`] on its
//! own thread (decode → anonymise → encode), whose packets go back into the hearing as the
//! anonymised variant.
//!
//! - Voice: the [`VoiceAnonymiser`] with a secret derived from the hearing's secret and the
//!   witness (HMAC-SHA-256), so a witness sounds the same through one hearing and different in
//!   the next. No secret known for the hearing → no stream: those not named get no audio.
//! - Face: masked (each face covered by an opaque fill, failing closed to a full-frame
//!   silhouette) or full-frame, by the [`FaceAnonymiser`], built on the pipeline's own thread
//!   (it takes a few hundred milliseconds). If it cannot be built or fails, the pipeline sends
//!   black pictures: never the raw picture.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use assize_media::{
    FaceAnonymiser, FaceMode, FaceSettings, I420Frame, VoiceAnonymiser, VoiceSettings,
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
    Box::new(FaceFilter { mode, face: None })
}

/// The face anonymiser as a pipeline filter, built on first use on the pipeline's thread.
struct FaceFilter {
    mode: FaceMode,
    face: Option<FaceAnonymiser>,
}

impl VideoFilter for FaceFilter {
    fn apply(&mut self, width: u32, height: u32, i420: &mut [u8]) -> Result<(), String> {
        if self.face.is_none() {
            self.face = Some(
                FaceAnonymiser::new(self.mode, FaceSettings::default())
                    .map_err(|e| format!("the face anonymiser cannot start: {e}"))?,
            );
        }
        let Some(face) = self.face.as_mut() else {
            return Err("no face anonymiser".into());
        };
        let mut frame = I420Frame::packed(width, height, i420).map_err(|e| e.to_string())?;
        face.process(&mut frame);
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
        };
        filter.apply(w, h, &mut picture).expect("a valid picture");
        assert_ne!(picture, original, "the silhouette replaces the picture");
        let mut short = vec![0u8; 10];
        assert!(
            filter.apply(w, h, &mut short).is_err(),
            "the pipeline then sends black"
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
