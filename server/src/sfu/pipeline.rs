//! The transcoding pipeline for a protected witness's media: RTP in, distorted RTP out.
//!
//! A protective order can say that a witness's face and voice reach only the people it names.
//! The server then cannot simply forward the witness's packets: it decodes them, runs the
//! anonymiser (a [`VideoFilter`] or an [`AudioFilter`]) on every picture or sample, encodes the
//! result again and sends that, as a stream of its own (own SSRC, sequence numbers and
//! timestamps), to everyone the order does not name. Those it names keep getting the raw track.
//!
//! ## Shape
//! One pipeline per stream, each on its **own OS thread** (codec work never runs on the tokio
//! runtime): [`Pipeline::spawn`] returns a [`PipelineHandle`] for the network side and a
//! [`PipelineOutput`] for the forwarding side.
//! - **Input**: [`PipelineHandle::push`] queues a publisher's RTP packet on a bounded channel;
//!   when it is full the packet is dropped and counted, so the network task never blocks.
//! - **Worker**: reorders minimally (`reorder`), reassembles frames, decodes, filters,
//!   encodes and packetizes (`video` for VP8, `audio` for Opus).
//! - **Output**: [`PipelineOutput::rtp`] yields [`DistortedPacket`]s; lost or corrupt input
//!   makes [`PipelineOutput::keyframe_requests`] ask for a keyframe from the publisher.
//! - **Control**: [`Control::ForceKeyframe`] (a viewer's PLI/FIR) and [`Control::SetBitrate`]
//!   (the receivers' bandwidth) act on the server's encoder.
//! - **Counters**: [`PipelineHandle::counters`] for metrics.
//!
//! ## Fail-closed
//! The raw media never leaves the pipeline. Every decoded picture goes through the filter
//! before it is encoded; what cannot be filtered is replaced, never passed on:
//! - a filter error (or panic) turns the picture **black** (audio: silence); after a panic the
//!   filter is not trusted again and the stream stays black;
//! - a picture that cannot be decoded is replaced by a black one at the current resolution;
//!   until the next keyframe the output **freezes** (nothing is encoded; a viewer's keyframe
//!   request re-encodes the last *output* picture);
//! - a worker that falls behind by more than `max_backlog_frames` decodes the backlog (to keep
//!   its references) but filters and encodes only the newest picture: a freeze, never a
//!   shortcut;
//! - a full output channel drops distorted packets; a stopped worker closes the output.
//!
//! Only this module can make a [`DistortedPacket`], so forwarding code that takes one for a
//! protected track cannot be handed the raw packet by mistake.

mod audio;
pub(crate) mod reorder;
mod video;

#[cfg(test)]
mod tests;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use assize_media::VoiceAnonymiser;
use assize_media::codec::fill_black_i420;
use crossbeam_channel as cb;
use rtc::rtp;
use tokio::sync::mpsc;

/// Largest number of input packets the worker takes in one go.
const MAX_BATCH: usize = 4096;

/// Distorts one picture in place.
///
/// `i420` is packed I420 of `width × height` (`assize_media::codec::i420_len` bytes: Y, then U,
/// then V). The face anonymiser implements this; so do [`BlackFrame`] and the tests' filters.
pub trait VideoFilter: Send {
    /// Distorts the picture in place.
    ///
    /// # Errors
    /// A message for the log; the pipeline then sends a black picture instead.
    fn apply(&mut self, width: u32, height: u32, i420: &mut [u8]) -> Result<(), String>;
}

/// Distorts a run of 48 kHz mono samples in place (any length; the pipeline passes what each
/// packet decodes to, usually 20 ms).
pub trait AudioFilter: Send {
    /// Distorts the samples in place.
    fn apply(&mut self, samples: &mut [f32]);
}

/// A filter that makes every picture black: the fallback while no face anonymiser is
/// available, and what the pipeline itself sends when a filter fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlackFrame;

impl VideoFilter for BlackFrame {
    fn apply(&mut self, width: u32, height: u32, i420: &mut [u8]) -> Result<(), String> {
        fill_black_i420(width, height, i420);
        Ok(())
    }
}

/// A filter that silences every sample: the audio counterpart of [`BlackFrame`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Silence;

impl AudioFilter for Silence {
    fn apply(&mut self, samples: &mut [f32]) {
        samples.fill(0.0);
    }
}

/// The voice anonymiser as a pipeline filter.
#[derive(Debug)]
pub struct VoiceFilter {
    anonymiser: VoiceAnonymiser,
}

impl VoiceFilter {
    /// Wraps an anonymiser built (and perhaps warmed up) for this hearing and witness.
    pub fn new(anonymiser: VoiceAnonymiser) -> Self {
        Self { anonymiser }
    }
}

impl AudioFilter for VoiceFilter {
    fn apply(&mut self, samples: &mut [f32]) {
        self.anonymiser.process_in_place(samples);
    }
}

/// The filter of a stream, which also says what the stream is.
pub enum Filter {
    /// A VP8 video stream, distorted by this filter.
    Video(Box<dyn VideoFilter>),
    /// An Opus audio stream, distorted by this filter.
    Audio(Box<dyn AudioFilter>),
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Video(_) => "Filter::Video",
            Self::Audio(_) => "Filter::Audio",
        })
    }
}

/// What the forwarding side tells a running pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// A viewer asked for a keyframe (PLI/FIR): the next picture out is one. Video only.
    ForceKeyframe,
    /// The encoder's target bitrate in kbit/s (clamped to the configured range), following
    /// the receivers' bandwidth.
    SetBitrate(u32),
}

/// Settings of one pipeline. [`PipelineConfig::video`] and [`PipelineConfig::audio`] give
/// sensible defaults.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// SSRC of the output stream (random by default; the forwarding rewrites it per leg).
    pub ssrc: u32,
    /// Payload type of the output stream (rewritten per leg too).
    pub payload_type: u8,
    /// Largest output RTP packet, header included (bytes).
    pub mtu: usize,
    /// Input packets queued before [`PipelineHandle::push`] drops.
    pub input_capacity: usize,
    /// Output packets queued before the worker drops.
    pub output_capacity: usize,
    /// Frames the worker may be behind before it skips to the newest (video).
    pub max_backlog_frames: usize,
    /// Packets held while waiting for a missing one before it counts as lost.
    pub reorder_window: usize,
    /// Initial encoder bitrate (kbit/s).
    pub bitrate_kbps: u32,
    /// Lowest bitrate [`Control::SetBitrate`] can set.
    pub min_bitrate_kbps: u32,
    /// Highest bitrate [`Control::SetBitrate`] can set.
    pub max_bitrate_kbps: u32,
    /// At most one keyframe request to the publisher per interval.
    pub keyframe_request_interval: Duration,
    /// Size of black pictures sent before any picture was decoded (video).
    pub fallback_size: (u32, u32),
    /// Largest picture side accepted from the publisher (video).
    pub max_side: u32,
}

impl PipelineConfig {
    /// Defaults for a VP8 stream: MTU 1200, backlog 2 frames, 1000 kbit/s (150–2500).
    pub fn video() -> Self {
        Self {
            ssrc: rand::random(),
            payload_type: super::peer::VP8_PAYLOAD_TYPE,
            mtu: 1200,
            input_capacity: 1024,
            output_capacity: 1024,
            max_backlog_frames: 2,
            reorder_window: 16,
            bitrate_kbps: 1000,
            min_bitrate_kbps: 150,
            max_bitrate_kbps: 2500,
            keyframe_request_interval: Duration::from_millis(500),
            fallback_size: (640, 480),
            max_side: assize_media::codec::DEFAULT_MAX_SIDE,
        }
    }

    /// Defaults for an Opus stream: 32 kbit/s (16–64), a reorder window of 3 packets.
    pub fn audio() -> Self {
        Self {
            payload_type: super::peer::OPUS_PAYLOAD_TYPE,
            input_capacity: 256,
            output_capacity: 256,
            reorder_window: 3,
            bitrate_kbps: 32,
            min_bitrate_kbps: 16,
            max_bitrate_kbps: 64,
            ..Self::video()
        }
    }

    fn clamp_bitrate(&self, kbps: u32) -> u32 {
        kbps.clamp(
            self.min_bitrate_kbps,
            self.max_bitrate_kbps.max(self.min_bitrate_kbps),
        )
    }
}

/// An RTP packet of a protected stream **after** the pipeline: decoded, filtered (or replaced
/// by black/silence) and encoded again. Only the pipeline makes these.
#[derive(Debug, Clone)]
pub struct DistortedPacket(rtp::Packet);

impl DistortedPacket {
    /// The packet (the pipeline's own SSRC, sequence numbers and timestamps).
    pub fn packet(&self) -> &rtp::Packet {
        &self.0
    }

    /// The packet, to rewrite for a leg and send.
    pub fn into_packet(self) -> rtp::Packet {
        self.0
    }
}

/// A snapshot of a pipeline's counters (for metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineCounters {
    /// RTP packets queued by [`PipelineHandle::push`].
    pub packets_in: u64,
    /// Packets dropped because the input queue was full.
    pub packets_dropped: u64,
    /// Packets dropped as late or duplicate by the reordering.
    pub packets_late: u64,
    /// Distorted packets handed to the output.
    pub packets_out: u64,
    /// Distorted packets dropped because the output queue was full.
    pub packets_out_dropped: u64,
    /// Frames reassembled (video) or packets decoded (audio).
    pub frames_in: u64,
    /// Frames encoded and sent.
    pub frames_out: u64,
    /// Frames not sent: waiting for a keyframe after a loss, or skipped when behind.
    pub frames_skipped: u64,
    /// Frames sent black (or silent) because decoding or the filter failed.
    pub frames_black: u64,
    /// Frames the decoder refused.
    pub decode_errors: u64,
    /// Frames the filter failed on.
    pub filter_errors: u64,
    /// Frames the encoder failed on.
    pub encode_errors: u64,
    /// Keyframe requests sent to the publisher.
    pub keyframes_requested: u64,
    /// Keyframes encoded on request ([`Control::ForceKeyframe`]).
    pub keyframes_forced: u64,
    /// Decode + filter + encode time of the last frame (µs).
    pub last_processing_us: u64,
    /// Arrival of the last input packet of a frame to its output (µs).
    pub last_latency_us: u64,
    /// Largest such latency so far (µs).
    pub max_latency_us: u64,
    /// The encoder's target bitrate now (kbit/s), after [`Control::SetBitrate`] and clamping.
    pub bitrate_kbps: u64,
    /// Whether the worker thread is still running.
    pub running: bool,
}

impl PipelineCounters {
    /// Adds `other`'s event counts to these (for totals over many pipelines). The gauges
    /// (`last_*`, `bitrate_kbps`, `running`) are left alone; `max_latency_us` takes the larger.
    pub fn add_counts(&mut self, other: &PipelineCounters) {
        self.packets_in += other.packets_in;
        self.packets_dropped += other.packets_dropped;
        self.packets_late += other.packets_late;
        self.packets_out += other.packets_out;
        self.packets_out_dropped += other.packets_out_dropped;
        self.frames_in += other.frames_in;
        self.frames_out += other.frames_out;
        self.frames_skipped += other.frames_skipped;
        self.frames_black += other.frames_black;
        self.decode_errors += other.decode_errors;
        self.filter_errors += other.filter_errors;
        self.encode_errors += other.encode_errors;
        self.keyframes_requested += other.keyframes_requested;
        self.keyframes_forced += other.keyframes_forced;
        self.max_latency_us = self.max_latency_us.max(other.max_latency_us);
    }
}

/// The live counters a worker updates (relaxed atomics: metrics, not synchronisation).
#[derive(Debug, Default)]
struct Stats {
    packets_in: AtomicU64,
    packets_dropped: AtomicU64,
    packets_late: AtomicU64,
    packets_out: AtomicU64,
    packets_out_dropped: AtomicU64,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    frames_skipped: AtomicU64,
    frames_black: AtomicU64,
    decode_errors: AtomicU64,
    filter_errors: AtomicU64,
    encode_errors: AtomicU64,
    keyframes_requested: AtomicU64,
    keyframes_forced: AtomicU64,
    last_processing_us: AtomicU64,
    last_latency_us: AtomicU64,
    max_latency_us: AtomicU64,
    bitrate_kbps: AtomicU64,
    running: AtomicBool,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    fn snapshot(&self) -> PipelineCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PipelineCounters {
            packets_in: get(&self.packets_in),
            packets_dropped: get(&self.packets_dropped),
            packets_late: get(&self.packets_late),
            packets_out: get(&self.packets_out),
            packets_out_dropped: get(&self.packets_out_dropped),
            frames_in: get(&self.frames_in),
            frames_out: get(&self.frames_out),
            frames_skipped: get(&self.frames_skipped),
            frames_black: get(&self.frames_black),
            decode_errors: get(&self.decode_errors),
            filter_errors: get(&self.filter_errors),
            encode_errors: get(&self.encode_errors),
            keyframes_requested: get(&self.keyframes_requested),
            keyframes_forced: get(&self.keyframes_forced),
            last_processing_us: get(&self.last_processing_us),
            last_latency_us: get(&self.last_latency_us),
            max_latency_us: get(&self.max_latency_us),
            bitrate_kbps: get(&self.bitrate_kbps),
            running: self.running.load(Ordering::Relaxed),
        }
    }

    fn record_latency(&self, since: Instant) {
        let us = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_latency_us.store(us, Ordering::Relaxed);
        self.max_latency_us.fetch_max(us, Ordering::Relaxed);
    }

    fn record_bitrate(&self, kbps: u32) {
        self.bitrate_kbps.store(u64::from(kbps), Ordering::Relaxed);
    }

    fn record_processing(&self, since: Instant) {
        let us = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_processing_us.store(us, Ordering::Relaxed);
    }
}

/// A publisher's packet with the moment it was queued (for the latency counters).
#[derive(Debug)]
struct Inbound {
    packet: rtp::Packet,
    arrived: Instant,
}

/// What a stage produced from one batch.
#[derive(Debug, Default)]
struct Emitted {
    packets: Vec<rtp::Packet>,
    /// Ask the publisher for a keyframe (already throttled).
    keyframe_request: bool,
    /// Input arrival of the newest frame sent in this batch.
    newest_arrival: Option<Instant>,
}

/// The codec work of one stream; the worker loop around it is shared.
trait Stage: Send {
    fn control(&mut self, control: Control);
    fn process(&mut self, batch: Vec<Inbound>, out: &mut Emitted);
    /// The input closed: release what the reordering still holds.
    fn finish(&mut self, out: &mut Emitted);
}

/// Runs a filter, turning a panic into an error (the pipeline then fails closed).
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "filter panicked".to_string())
    })
}

/// Asks the publisher for keyframes, at most once per interval.
#[derive(Debug)]
struct KeyframeRequester {
    interval: Duration,
    last: Option<Instant>,
}

impl KeyframeRequester {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    fn request(&mut self, stats: &Stats, out: &mut Emitted) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < self.interval)
        {
            return;
        }
        self.last = Some(now);
        out.keyframe_request = true;
        bump(&stats.keyframes_requested);
    }
}

/// The output side of the RTP stream: own SSRC, sequence numbers, timestamps (the input's
/// plus a random offset, so the timing of the publisher's capture is kept).
#[derive(Debug)]
struct RtpOut {
    ssrc: u32,
    payload_type: u8,
    seq: u16,
    ts_offset: u32,
    max_payload: usize,
    payloader: Box<dyn rtp::packetizer::Payloader>,
    /// Video: marker on the last packet of a frame. Audio: marker on the first packet only.
    video: bool,
    first: bool,
}

impl RtpOut {
    fn new(
        config: &PipelineConfig,
        payloader: Box<dyn rtp::packetizer::Payloader>,
        video: bool,
    ) -> Self {
        Self {
            ssrc: config.ssrc,
            payload_type: config.payload_type,
            seq: rand::random(),
            ts_offset: rand::random(),
            // The 12-byte RTP header without extensions.
            max_payload: config.mtu.saturating_sub(12).max(64),
            payloader,
            video,
            first: true,
        }
    }

    /// Packetizes one encoded frame captured at input timestamp `input_ts`.
    fn send(&mut self, frame: &[u8], input_ts: u32, out: &mut Vec<rtp::Packet>) {
        let payloads = match self
            .payloader
            .payload(self.max_payload, &bytes::Bytes::copy_from_slice(frame))
        {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "payloader refused a frame");
                return;
            }
        };
        let count = payloads.len();
        for (i, payload) in payloads.into_iter().enumerate() {
            let marker = if self.video {
                i + 1 == count
            } else {
                self.first
            };
            self.first = false;
            out.push(rtp::Packet {
                header: rtp::header::Header {
                    version: 2,
                    marker,
                    payload_type: self.payload_type,
                    sequence_number: self.seq,
                    timestamp: input_ts.wrapping_add(self.ts_offset),
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                payload,
            });
            self.seq = self.seq.wrapping_add(1);
        }
    }
}

/// Starts pipelines.
#[derive(Debug)]
pub struct Pipeline;

impl Pipeline {
    /// Starts a pipeline for one stream on its own thread. `filter` says whether the stream is
    /// VP8 video or Opus audio and how it is distorted.
    ///
    /// # Errors
    /// When a codec cannot be created or the thread cannot be started.
    pub fn spawn(
        filter: Filter,
        config: PipelineConfig,
    ) -> anyhow::Result<(PipelineHandle, PipelineOutput)> {
        let stats = Arc::new(Stats::default());
        let (stage, name): (Box<dyn Stage>, _) = match filter {
            Filter::Video(f) => (
                Box::new(video::VideoStage::new(f, &config, stats.clone())?),
                "assize-video-pipeline",
            ),
            Filter::Audio(f) => (
                Box::new(audio::AudioStage::new(f, &config, stats.clone())?),
                "assize-audio-pipeline",
            ),
        };
        let (input_tx, input_rx) = cb::bounded(config.input_capacity.max(1));
        let (control_tx, control_rx) = cb::bounded(64);
        let (rtp_tx, rtp_rx) = mpsc::channel(config.output_capacity.max(1));
        let (kf_tx, kf_rx) = mpsc::channel(1);
        stats.running.store(true, Ordering::Relaxed);
        let worker = Worker {
            stage,
            input: input_rx,
            control: control_rx,
            rtp: rtp_tx,
            keyframes: kf_tx,
            stats: stats.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || worker.run())
            .context("starting a media pipeline thread")?;
        Ok((
            PipelineHandle {
                input: input_tx,
                control: control_tx,
                stats,
                thread: Some(thread),
            },
            PipelineOutput {
                rtp: rtp_rx,
                keyframe_requests: kf_rx,
            },
        ))
    }
}

/// The network side of a pipeline: feed it packets and controls. Dropping it (or
/// [`Self::close`]) stops the worker once it has finished what is queued.
#[derive(Debug)]
pub struct PipelineHandle {
    input: cb::Sender<Inbound>,
    control: cb::Sender<Control>,
    stats: Arc<Stats>,
    thread: Option<JoinHandle<()>>,
}

impl PipelineHandle {
    /// Queues a publisher's RTP packet. Never blocks: returns `false` when the packet was
    /// dropped (queue full, counted in `packets_dropped`, or the worker stopped).
    pub fn push(&self, packet: rtp::Packet) -> bool {
        match self.input.try_send(Inbound {
            packet,
            arrived: Instant::now(),
        }) {
            Ok(()) => {
                bump(&self.stats.packets_in);
                true
            }
            Err(_) => {
                bump(&self.stats.packets_dropped);
                false
            }
        }
    }

    /// Sends a control message. Never blocks: `false` if it could not be queued.
    pub fn control(&self, control: Control) -> bool {
        self.control.try_send(control).is_ok()
    }

    /// The counters now.
    pub fn counters(&self) -> PipelineCounters {
        self.stats.snapshot()
    }

    /// A reader of this pipeline's counters that outlives the handle (for metrics).
    pub fn stats(&self) -> PipelineStats {
        PipelineStats(self.stats.clone())
    }

    /// Closes the input and waits for the worker to finish what is queued. Blocking: call it
    /// from a blocking context (not a tokio worker), or just drop the handle.
    pub fn close(mut self) {
        let thread = self.thread.take();
        drop(self);
        if let Some(t) = thread
            && t.join().is_err()
        {
            tracing::warn!("a media pipeline thread panicked");
        }
    }
}

/// Reads one pipeline's live counters; cheap to clone.
#[derive(Debug, Clone)]
pub struct PipelineStats(Arc<Stats>);

impl PipelineStats {
    /// The counters now.
    pub fn snapshot(&self) -> PipelineCounters {
        self.0.snapshot()
    }
}

/// The forwarding side of a pipeline.
#[derive(Debug)]
pub struct PipelineOutput {
    /// The distorted stream; ends when the worker stops.
    pub rtp: mpsc::Receiver<DistortedPacket>,
    /// One message per keyframe request for the publisher (lost or corrupt input), throttled;
    /// pass each on as a PLI on the publisher's track.
    pub keyframe_requests: mpsc::Receiver<()>,
}

struct Worker {
    stage: Box<dyn Stage>,
    input: cb::Receiver<Inbound>,
    control: cb::Receiver<Control>,
    rtp: mpsc::Sender<DistortedPacket>,
    keyframes: mpsc::Sender<()>,
    stats: Arc<Stats>,
}

impl Worker {
    fn run(mut self) {
        let never = cb::never();
        let mut control_open = true;
        loop {
            let control = if control_open { &self.control } else { &never };
            let mut batch = Vec::new();
            cb::select! {
                recv(control) -> msg => match msg {
                    Ok(c) => self.stage.control(c),
                    Err(_) => control_open = false,
                },
                recv(self.input) -> msg => match msg {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                },
            }
            // Controls first, so a keyframe request sent before a packet applies to it.
            while let Ok(c) = self.control.try_recv() {
                self.stage.control(c);
            }
            if batch.is_empty() {
                continue;
            }
            while batch.len() < MAX_BATCH {
                match self.input.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let mut out = Emitted::default();
            self.stage.process(batch, &mut out);
            if !self.emit(out) {
                break;
            }
        }
        let mut out = Emitted::default();
        self.stage.finish(&mut out);
        self.emit(out);
        self.stats.running.store(false, Ordering::Relaxed);
    }

    /// Hands packets to the output; `false` when nobody listens any more.
    fn emit(&self, out: Emitted) -> bool {
        if out.keyframe_request {
            // Capacity 1: a request already pending covers this one.
            let _ = self.keyframes.try_send(());
        }
        for packet in out.packets {
            match self.rtp.try_send(DistortedPacket(packet)) {
                Ok(()) => bump(&self.stats.packets_out),
                Err(mpsc::error::TrySendError::Full(_)) => bump(&self.stats.packets_out_dropped),
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        if let Some(t) = out.newest_arrival {
            self.stats.record_latency(t);
        }
        true
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Also on a panic: the counters must not claim a dead worker runs.
        self.stats.running.store(false, Ordering::Relaxed);
    }
}
