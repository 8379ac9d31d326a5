//! Media load for the SFU: the participants of the forwarding benchmark
//! (`benches/sfu_load.rs`, driven by `tools/bench-sfu.sh`) and of its soak run.
//!
//! A load participant is a real WebRTC peer on the same stack as [`crate::rtc_client::RtcClient`]
//! (`webrtc` 0.21: ICE, DTLS-SRTP, the default interceptors with NACK, RTCP reports and TWCC),
//! made cheap enough that one core drives many of them: it decodes nothing and keeps nothing. It
//! publishes synthetic Opus and VP8 RTP at a realistic rate and size ([`profile`]) and, for each
//! packet it receives, reads only the stamp its publisher wrote into the payload.
//!
//! ## The stamp
//! Every payload carries at [`STAMP_AT`] a magic, the publishing track's tag, the packet's index on
//! that track and its send time in nanoseconds since [`epoch`]. Publisher and receivers live in
//! one process and share that clock, so send→receive time is measured without clock sync. The
//! SFU forwards payloads untouched (it rewrites headers only), and so does Janus.
//!
//! ## Windows
//! A [`Meter`] counts, for the packets *sent* inside its window, how many copies were expected
//! (each send adds the number of subscribers that should receive it) and how many arrived, and
//! keeps a histogram of their send→receive times. Loss and latency of a step are read from the
//! window after a drain time, so packets still in flight when the window closes are not lost.
//!
//! ## Participants
//! - [`SfuParticipant`]: joins a hearing through the real signaling (TLS WebSocket) and answers
//!   the server's renegotiation offers, as the browser client does.
//! - [`DirectPair`]: two peers connected to each other with no server between them: the floor
//!   that the SFU's added latency is measured against (same generator, same load, same run).
//! - [`JanusPeer`](crate::janus): the same media against Janus's videoroom.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bytes::{BufMut as _, Bytes, BytesMut};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCSessionDescription, Registry,
    SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

use crate::rtc_client::{SignalSocket, opus, vp8};

/// Where the stamp starts in every payload: after the VP8 payload descriptor (1 byte) and a
/// keyframe's 10-byte header, so the first packet of a frame still looks like VP8 to anything
/// that peeks (Janus does, for keyframes).
pub const STAMP_AT: usize = 12;
const MAGIC: &[u8; 4] = b"AZLD";
const STAMP_LEN: usize = 4 + 4 + 4 + 8;

/// The media profile of one participant.
pub mod profile {
    /// Opus: one packet per 20 ms.
    pub const AUDIO_INTERVAL_MS: u64 = 20;
    /// Opus payload bytes (≈ 40 kbit/s).
    pub const AUDIO_BYTES: usize = 100;
    /// VP8 frame interval (≈ 30 frames per second).
    pub const VIDEO_INTERVAL_MS: u64 = 33;
    /// Every this many frames a keyframe (every ≈ 3 s).
    pub const KEYFRAME_EVERY: u64 = 90;
    /// Packets of a delta frame, and their payload bytes.
    pub const DELTA_PACKETS: usize = 2;
    /// Payload bytes of a delta frame's packets.
    pub const DELTA_BYTES: usize = 1_050;
    /// Packets of a keyframe.
    pub const KEY_PACKETS: usize = 8;
    /// Payload bytes of a keyframe's packets.
    pub const KEY_BYTES: usize = 1_150;

    /// Video payload bit rate of the profile, bit/s (≈ 520 kbit/s).
    pub fn video_bits_per_second() -> f64 {
        let frames = KEYFRAME_EVERY as f64;
        let bytes = (KEYFRAME_EVERY - 1) as f64 * (DELTA_PACKETS * DELTA_BYTES) as f64
            + (KEY_PACKETS * KEY_BYTES) as f64;
        bytes * 8.0 / (frames * VIDEO_INTERVAL_MS as f64 / 1000.0)
    }
}

/// The process's clock origin for stamps.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
pub fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What a received payload's stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The publishing track ([`track_tag`]).
    pub tag: u32,
    /// The packet's index on that track.
    pub index: u32,
    /// Send time, nanoseconds since [`epoch`].
    pub sent_ns: u64,
}

/// A track's tag: the participant's number and its kind.
pub fn track_tag(participant: u32, video: bool) -> u32 {
    participant << 1 | u32::from(video)
}

/// Reads the stamp of a payload (`None` for a payload that carries none).
pub fn read_stamp(payload: &[u8]) -> Option<Stamp> {
    let s = payload.get(STAMP_AT..STAMP_AT + STAMP_LEN)?;
    if &s[..4] != MAGIC {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
    let mut ns = [0u8; 8];
    ns.copy_from_slice(&s[12..20]);
    Some(Stamp {
        tag: u32_at(4),
        index: u32_at(8),
        sent_ns: u64::from_be_bytes(ns),
    })
}

/// A payload of `len` bytes beginning with `head`, stamped.
fn stamped(head: &[u8], len: usize, stamp: Stamp) -> Bytes {
    let len = len.max(STAMP_AT + STAMP_LEN);
    let mut b = BytesMut::with_capacity(len);
    b.put_slice(&head[..head.len().min(STAMP_AT)]);
    b.resize(STAMP_AT, 0xA5);
    b.put_slice(MAGIC);
    b.put_u32(stamp.tag);
    b.put_u32(stamp.index);
    b.put_u64(stamp.sent_ns);
    b.resize(len, 0xA5);
    b.freeze()
}

/// Histogram resolution.
const BUCKET_NS: u64 = 5_000;
/// Buckets: 5 µs each up to 200 ms; later arrivals land in the last one.
const BUCKETS: usize = 40_000;

/// Loss and latency of the packets sent inside one window. See the module docs.
#[derive(Debug)]
pub struct Meter {
    from_ns: AtomicU64,
    to_ns: AtomicU64,
    expected: AtomicU64,
    received: AtomicU64,
    hist: Box<[AtomicU64]>,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            from_ns: AtomicU64::new(u64::MAX),
            to_ns: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            received: AtomicU64::new(0),
            hist: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// What one window measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowReport {
    /// Copies that should have arrived (packets sent × their subscribers).
    pub expected: u64,
    /// Copies that arrived (a retransmitted duplicate counts again; loss is clamped at 0).
    pub received: u64,
    /// Median send→receive time, µs.
    pub p50_us: f64,
    /// 99th percentile send→receive time, µs.
    pub p99_us: f64,
}

impl WindowReport {
    /// The share of expected copies that did not arrive, 0..=1.
    pub fn loss(&self) -> f64 {
        if self.expected == 0 {
            return 0.0;
        }
        (1.0 - self.received as f64 / self.expected as f64).max(0.0)
    }
}

impl Meter {
    /// Starts a window from now for `length`, forgetting the previous one.
    pub fn open_window(&self, length: Duration) {
        self.from_ns.store(u64::MAX, Ordering::SeqCst);
        self.expected.store(0, Ordering::SeqCst);
        self.received.store(0, Ordering::SeqCst);
        for b in self.hist.iter() {
            b.store(0, Ordering::Relaxed);
        }
        let from = now_ns();
        let to = from.saturating_add(u64::try_from(length.as_nanos()).unwrap_or(u64::MAX));
        self.to_ns.store(to, Ordering::SeqCst);
        self.from_ns.store(from, Ordering::SeqCst);
    }

    fn in_window(&self, sent_ns: u64) -> bool {
        sent_ns >= self.from_ns.load(Ordering::Relaxed)
            && sent_ns < self.to_ns.load(Ordering::Relaxed)
    }

    /// A packet stamped `sent_ns` was sent to `subscribers` receivers.
    pub fn on_sent(&self, sent_ns: u64, subscribers: u64) {
        if self.in_window(sent_ns) {
            self.expected.fetch_add(subscribers, Ordering::Relaxed);
        }
    }

    /// A payload arrived now. Returns its stamp, if it has one.
    pub fn on_received(&self, payload: &[u8]) -> Option<Stamp> {
        let now = now_ns();
        let stamp = read_stamp(payload)?;
        if self.in_window(stamp.sent_ns) {
            self.received.fetch_add(1, Ordering::Relaxed);
            let bucket = usize::try_from(now.saturating_sub(stamp.sent_ns) / BUCKET_NS)
                .unwrap_or(usize::MAX)
                .min(BUCKETS - 1);
            self.hist[bucket].fetch_add(1, Ordering::Relaxed);
        }
        Some(stamp)
    }

    /// The window's figures (read after the window closed and in-flight packets drained).
    pub fn report(&self) -> WindowReport {
        let counts: Vec<u64> = self
            .hist
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| -> f64 {
            if total == 0 {
                return f64::NAN;
            }
            // The rank of the q-quantile (nearest rank), then the bucket that holds it.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    // The bucket's middle, in µs.
                    return (i as f64 + 0.5) * BUCKET_NS as f64 / 1_000.0;
                }
            }
            f64::NAN
        };
        WindowReport {
            expected: self.expected.load(Ordering::SeqCst),
            received: self.received.load(Ordering::SeqCst),
            p50_us: quantile(0.50),
            p99_us: quantile(0.99),
        }
    }
}

/// Counts the distinct tracks a participant receives stamped media on.
#[derive(Debug, Default)]
pub struct Flowing(AtomicUsize);

impl Flowing {
    /// Tracks with media so far.
    pub fn tracks(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Receives every remote track: stamps go to the meter; nothing is kept.
struct LoadHandler {
    meter: Arc<Meter>,
    flowing: Arc<Flowing>,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for LoadHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathered
            .send_replace(state == RTCIceGatheringState::Complete);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let meter = self.meter.clone();
        let flowing = self.flowing.clone();
        tokio::spawn(async move {
            let mut first = true;
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        let stamped = meter.on_received(&packet.payload).is_some();
                        if stamped && first {
                            first = false;
                            flowing.0.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

/// A peer connection for load: Opus 111 and VP8 96 (as Chrome registers them), the default
/// interceptors, host candidates on `ip` only, mDNS off. What it receives goes to `meter`.
pub(crate) async fn load_peer(
    ip: std::net::IpAddr,
    meter: Arc<Meter>,
    flowing: Arc<Flowing>,
) -> anyhow::Result<(Arc<dyn PeerConnection>, watch::Receiver<bool>)> {
    let (gathered_tx, gathered) = watch::channel(false);
    let mut media = MediaEngine::default();
    media.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus(),
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )?;
    media.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8(),
            payload_type: 96,
        },
        RtpCodecKind::Video,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    let pc = Box::pin(
        PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media)
            .with_setting_engine(
                SettingEngineBuilder::new()
                    .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                    .build(),
            )
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(LoadHandler {
                meter,
                flowing,
                gathered: gathered_tx,
            }))
            .with_udp_addrs(vec![std::net::SocketAddr::new(ip, 0)])
            .build(),
    )
    .await?;
    Ok((Arc::new(pc), gathered))
}

/// The local description once ICE gathering completed (all candidates in it: no trickle).
pub(crate) async fn gathered_description(
    pc: &Arc<dyn PeerConnection>,
    gathered: &mut watch::Receiver<bool>,
) -> anyhow::Result<String> {
    let _ = tokio::time::timeout(Duration::from_secs(5), gathered.wait_for(|g| *g)).await;
    Ok(pc
        .local_description()
        .await
        .ok_or_else(|| anyhow!("no local description"))?
        .sdp)
}

/// The two tracks a participant publishes.
pub(crate) struct Outgoing {
    audio: (Arc<TrackLocalStaticRTP>, u32, Arc<dyn RtpSender>),
    video: (Arc<TrackLocalStaticRTP>, u32, Arc<dyn RtpSender>),
}

/// Adds an Opus and a VP8 track to `pc`.
pub(crate) async fn add_outgoing(
    pc: &Arc<dyn PeerConnection>,
    number: u32,
) -> anyhow::Result<Outgoing> {
    let track = |kind, codec, ssrc, name: &str| {
        Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            format!("load-{number}"),
            format!("load-{number}-{name}"),
            name.to_string(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        )))
    };
    let (a_ssrc, v_ssrc) = (rand::random::<u32>(), rand::random::<u32>());
    let audio = track(RtpCodecKind::Audio, opus(), a_ssrc, "audio");
    let video = track(RtpCodecKind::Video, vp8(), v_ssrc, "video");
    let a_sender = pc.add_track(audio.clone() as Arc<dyn TrackLocal>).await?;
    let v_sender = pc.add_track(video.clone() as Arc<dyn TrackLocal>).await?;
    Ok(Outgoing {
        audio: (audio, a_ssrc, a_sender),
        video: (video, v_ssrc, v_sender),
    })
}

async fn negotiated_pt(sender: &Arc<dyn RtpSender>, mime: &str) -> anyhow::Result<u8> {
    sender
        .get_parameters()
        .await?
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
        .ok_or_else(|| anyhow!("{mime} not negotiated"))
}

impl Outgoing {
    /// Starts publishing (after the offer/answer): two tasks, each on its own random phase so
    /// that participants do not send in lockstep. Each send tells `meter` it goes to
    /// `subscribers` receivers.
    pub(crate) async fn start(
        self,
        number: u32,
        meter: Arc<Meter>,
        subscribers: u64,
    ) -> anyhow::Result<Vec<JoinHandle<()>>> {
        let a_pt = negotiated_pt(&self.audio.2, "audio/opus").await?;
        let v_pt = negotiated_pt(&self.video.2, "video/vp8").await?;
        Ok(vec![
            tokio::spawn(publish(
                self.audio.0,
                self.audio.1,
                a_pt,
                track_tag(number, false),
                meter.clone(),
                subscribers,
            )),
            tokio::spawn(publish(
                self.video.0,
                self.video.1,
                v_pt,
                track_tag(number, true),
                meter,
                subscribers,
            )),
        ])
    }
}

/// Publishes one track by the [`profile`] until aborted.
async fn publish(
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
    tag: u32,
    meter: Arc<Meter>,
    subscribers: u64,
) {
    let video = tag & 1 == 1;
    let period = Duration::from_millis(if video {
        profile::VIDEO_INTERVAL_MS
    } else {
        profile::AUDIO_INTERVAL_MS
    });
    let phase = period.mul_f64(rand::random::<f64>());
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seq: u16 = rand::random();
    let mut ts: u32 = rand::random();
    let mut index: u32 = 0;
    for frame in 0u64.. {
        tick.tick().await;
        let (packets, bytes, ts_step) = if !video {
            (1, profile::AUDIO_BYTES, 960)
        } else if frame % profile::KEYFRAME_EVERY == 0 {
            (profile::KEY_PACKETS, profile::KEY_BYTES, 2_970)
        } else {
            (profile::DELTA_PACKETS, profile::DELTA_BYTES, 2_970)
        };
        let key = video && frame % profile::KEYFRAME_EVERY == 0;
        for i in 0..packets {
            let head: &[u8] = match (video, i, key) {
                // Opus TOC: 20 ms CELT fullband, stereo, one frame.
                (false, _, _) => &[0xFC],
                // VP8 descriptor (start of partition 0), frame tag of a keyframe, start code,
                // 320x240.
                (true, 0, true) => &[
                    0x10, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
                ],
                // ... of an interframe.
                (true, 0, false) => &[0x10, 0x51, 0x02, 0x00],
                // A continuation packet.
                (true, _, _) => &[0x00],
            };
            let sent_ns = now_ns();
            let payload = stamped(
                head,
                bytes,
                Stamp {
                    tag,
                    index,
                    sent_ns,
                },
            );
            let packet = rtp::Packet {
                header: rtp::Header {
                    version: 2,
                    marker: i + 1 == packets,
                    payload_type,
                    sequence_number: seq,
                    timestamp: ts,
                    ssrc,
                    ..Default::default()
                },
                payload,
            };
            if track.write_rtp(packet).await.is_ok() {
                meter.on_sent(sent_ns, subscribers);
            }
            seq = seq.wrapping_add(1);
            index = index.wrapping_add(1);
        }
        ts = ts.wrapping_add(ts_step);
    }
}

/// One participant of a hearing on the Assize SFU, joined through the real signaling.
pub struct SfuParticipant {
    /// The participant id the server assigned.
    pub participant: u64,
    /// Tracks this participant receives media on.
    pub flowing: Arc<Flowing>,
    pc: Arc<dyn PeerConnection>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SfuParticipant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SfuParticipant")
            .field("participant", &self.participant)
            .finish_non_exhaustive()
    }
}

impl SfuParticipant {
    /// Joins `hearing` on the signaling server at `addr` (trusting `ca` only) as `role` and
    /// `party` (the test admission's query), publishes as participant `number` of the load, and
    /// feeds what it receives to `meter`. `subscribers`: how many others receive its tracks.
    ///
    /// # Errors
    /// Any failed step of signaling or ICE/DTLS set-up.
    #[allow(clippy::too_many_arguments)]
    pub async fn join(
        addr: std::net::SocketAddr,
        ca: &std::path::Path,
        hearing: &str,
        role: &str,
        party: &str,
        number: u32,
        meter: Arc<Meter>,
        subscribers: u64,
    ) -> anyhow::Result<Self> {
        let path = format!("/api/v1/hearings/{hearing}/signal?role={role}&party={party}");
        let mut socket = SignalSocket::open(addr, ca, &path, None)
            .await
            .map_err(|e| anyhow!("signaling refused: {e:?}"))?;
        socket.send_json(&json!({"v": 1, "type": "join"})).await?;
        let joined = socket.recv_json(Duration::from_secs(20)).await?;
        if joined["type"] != "joined" {
            bail!("expected joined, got {joined}");
        }
        let participant = joined["participant"]
            .as_u64()
            .ok_or_else(|| anyhow!("no participant id in {joined}"))?;
        let flowing = Arc::new(Flowing::default());
        let (pc, mut gathered) = load_peer(addr.ip(), meter.clone(), flowing.clone()).await?;
        let outgoing = add_outgoing(&pc, number).await?;
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        let sdp = gathered_description(&pc, &mut gathered).await?;
        socket
            .send_json(&json!({"v": 1, "type": "offer", "sdp": sdp}))
            .await?;
        let answer = loop {
            let msg = socket.recv_json(Duration::from_secs(20)).await?;
            match msg["type"].as_str() {
                Some("answer") => break msg,
                Some("error") => bail!("the server refused the offer: {msg}"),
                _ => {}
            }
        };
        pc.set_remote_description(RTCSessionDescription::answer(
            answer["sdp"].as_str().unwrap_or_default().to_string(),
        )?)
        .await
        .context("the server's answer")?;
        let mut tasks = outgoing.start(number, meter, subscribers).await?;
        // Signaling: answer the server's offers (a leg added or removed), as the browser does.
        let pc2 = pc.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok(msg) = socket.recv_json(Duration::from_secs(24 * 3600)).await {
                if msg["type"] != "offer" {
                    continue;
                }
                let sdp = msg["sdp"].as_str().unwrap_or_default().to_string();
                let answered: anyhow::Result<String> = async {
                    pc2.set_remote_description(RTCSessionDescription::offer(sdp)?)
                        .await?;
                    let answer = pc2.create_answer(None).await?;
                    pc2.set_local_description(answer).await?;
                    Ok(pc2
                        .local_description()
                        .await
                        .ok_or_else(|| anyhow!("no local answer"))?
                        .sdp)
                }
                .await;
                let Ok(sdp) = answered else { break };
                if socket
                    .send_json(&json!({"v": 1, "type": "answer", "sdp": sdp}))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }));
        Ok(Self {
            participant,
            flowing,
            pc,
            tasks,
        })
    }

    /// Leaves: stops publishing, closes the signaling socket and the peer connection.
    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.pc.close().await;
    }
}

/// Two peers connected directly, the first publishing to the second: the floor of the
/// generator's own send→receive time.
pub struct DirectPair {
    /// Tracks the receiving peer gets media on (2 once flowing).
    pub flowing: Arc<Flowing>,
    a: Arc<dyn PeerConnection>,
    b: Arc<dyn PeerConnection>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for DirectPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectPair")
    }
}

impl DirectPair {
    /// Connects two peers on `ip`; the first publishes as participant `number` into `meter`.
    ///
    /// # Errors
    /// Any failed step of the offer/answer or ICE/DTLS set-up.
    pub async fn connect(
        ip: std::net::IpAddr,
        number: u32,
        meter: Arc<Meter>,
    ) -> anyhow::Result<Self> {
        let flowing = Arc::new(Flowing::default());
        // The publishing peer receives nothing; it shares the meter.
        let (a, mut a_gathered) = load_peer(ip, meter.clone(), Arc::default()).await?;
        let (b, mut b_gathered) = load_peer(ip, meter.clone(), flowing.clone()).await?;
        let outgoing = add_outgoing(&a, number).await?;
        let offer = a.create_offer(None).await?;
        a.set_local_description(offer).await?;
        let offer = gathered_description(&a, &mut a_gathered).await?;
        b.set_remote_description(RTCSessionDescription::offer(offer)?)
            .await?;
        let answer = b.create_answer(None).await?;
        b.set_local_description(answer).await?;
        let answer = gathered_description(&b, &mut b_gathered).await?;
        a.set_remote_description(RTCSessionDescription::answer(answer)?)
            .await?;
        let tasks = outgoing.start(number, meter, 1).await?;
        Ok(Self {
            flowing,
            a,
            b,
            tasks,
        })
    }

    /// Stops and closes both peers.
    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.a.close().await;
        let _ = self.b.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_and_a_foreign_payload_has_none() {
        let s = Stamp {
            tag: track_tag(41, true),
            index: 7,
            sent_ns: 123_456_789,
        };
        let p = stamped(&[0x10, 0x50], 1_050, s);
        assert_eq!(p.len(), 1_050);
        assert_eq!(&p[..2], &[0x10, 0x50]);
        assert_eq!(read_stamp(&p), Some(s));
        assert_eq!(read_stamp(&[0u8; 100]), None);
        assert_eq!(read_stamp(&p[..20]), None);
    }

    #[test]
    fn the_window_counts_only_packets_sent_inside_it() {
        let m = Meter::default();
        let before = now_ns();
        m.open_window(Duration::from_secs(60));
        let inside = now_ns();
        m.on_sent(before, 5);
        m.on_sent(inside, 5);
        let stamp = |sent_ns| {
            stamped(
                &[],
                100,
                Stamp {
                    tag: 0,
                    index: 0,
                    sent_ns,
                },
            )
        };
        m.on_received(&stamp(before));
        for _ in 0..4 {
            m.on_received(&stamp(inside));
        }
        let r = m.report();
        assert_eq!((r.expected, r.received), (5, 4));
        assert!((r.loss() - 0.2).abs() < 1e-9);
        assert!(r.p50_us >= 0.0 && r.p99_us >= r.p50_us);
    }

    #[test]
    fn the_profile_is_about_half_a_megabit_of_video() {
        let bps = profile::video_bits_per_second();
        assert!((450_000.0..600_000.0).contains(&bps), "{bps}");
    }
}
