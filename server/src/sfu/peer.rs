//! The [`MediaConnection`] implementation over `webrtc` 0.21: one peer connection per
//! participant, which receives the participant's audio and video and sends them every other
//! participant's tracks ("legs").
//!
//! ## Shape
//! - An **actor task** per connection owns the offer/answer state: the client's first offer is
//!   answered; every later change (a leg added or removed) is a **server-initiated offer**, one
//!   at a time, queued while one is outstanding. Clients never offer again after the first one
//!   (protocol v1), so there is no glare to resolve.
//! - The **forwarding path** does not go through the actor: [`MediaConnection::forward`]
//!   rewrites the packet for the leg ([`LegRewriter`]) under a short lock and `try_send`s it to
//!   the leg's writer task; a full queue drops the packet (a slow subscriber never slows the
//!   others). The writer asks the room once more just before sending, so a backlog queued
//!   before a change is not delivered after it.
//! - Keyframe requests (PLI/FIR) from the subscriber reach us only because the
//!   [`KeyframeRequestMarker`] interceptor marks them for the application; they go to
//!   [`Hearing::on_keyframe_request`], which throttles them.
//!
//! ## Network
//! ICE binds the configured explicit IP addresses (a wildcard would skip loopback and follow
//! interface changes we do not want), one UDP socket per address, on a port taken from the
//! configured range (the crate has no port-range or single-port mode: we try ports ourselves).
//! mDNS is off: it needs a multicast socket, which containers often lack ("No such device").

use std::collections::HashMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpRtxParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder, configure_simulcast_extension_headers,
    register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

use super::Sfu;
use super::forward::{Codec, LegRewriter, Rewrite};
use super::hearing::{Delivery, Hearing, MediaConnection};
use super::nack_limit::{NACK_LIMITER_SLOT, NackLimiter};
use super::quality;
use super::room::{MediaKind, ParticipantId, Variant};
use super::rtx::{RTX_UNWRAPPER_SLOT, RtxUnwrapper};

/// Opus, as Chrome offers it.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// VP8, as Chrome offers it.
pub const VP8_PAYLOAD_TYPE: u8 = 96;
/// H.264 (constrained baseline, packetization mode 1), negotiated when a client offers no VP8.
pub const H264_PAYLOAD_TYPE: u8 = 102;
/// RTX for H.264.
pub const H264_RTX_PAYLOAD_TYPE: u8 = 103;
/// Packets queued per leg before the leg starts dropping (≈ 1 s of 30 fps video).
const LEG_QUEUE: usize = 256;
/// How long to wait for ICE gathering before sending a description anyway.
const GATHER_TIMEOUT: Duration = Duration::from_secs(3);

/// Signaling input for a connection, already parsed.
#[derive(Debug)]
pub enum RemoteSignal {
    Offer(String),
    Answer(String),
    Candidate(RTCIceCandidateInit),
}

/// Signaling output of a connection, for the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSignal {
    Offer(String),
    Answer(String),
    /// Something the client did could not be applied (bad SDP, answer without offer…).
    Error {
        code: &'static str,
        message: String,
    },
    /// A track cannot be sent to this participant: it is in a codec they did not negotiate
    /// (an H.264-only publisher, a VP8-only subscriber). Nothing of it is sent; the rest goes on.
    TrackUnsupported {
        publisher: ParticipantId,
        kind: MediaKind,
        codec: Codec,
    },
    /// The peer connection failed or closed.
    Closed,
}

/// RTX (RFC 4588) for VP8, as Chrome offers it: retransmissions on their own SSRC and payload
/// type, so a receiver can tell a repair from a duplicate.
pub const RTX_PAYLOAD_TYPE: u8 = 97;

/// The codecs the SFU negotiates, with their RTCP feedback.
///
/// - `transport-cc` (audio and video) with the transport-wide-cc header extension (registered
///   by `register_default_interceptors`, whose TWCC receiver answers it): a publisher's packets
///   get TransportLayerCC feedback, from which the browser estimates its own send rate.
/// - `nack` (video): the NACK generator asks a publisher again for what was lost on the way
///   in, and the NACK responder resends to a subscriber what was lost on the way out; with
///   `video/rtx` negotiated, on the leg's RTX SSRC and payload type; never more than the
///   leg's retransmission budget ([`NackLimiter`]).
/// - `nack pli`, `ccm fir` (video): keyframe requests ([`KeyframeRequestMarker`]).
/// - `goog-remb` (video): receivers report their bandwidth, which the anonymised streams'
///   encoders follow. Legs carry no transport-wide sequence numbers (see [`LegRewriter`]), so
///   a browser subscriber keeps estimating on its side and sending REMB.
///
/// VP8 is registered before H.264, so a client offering both gets VP8 (the codec the
/// anonymising pipeline decodes); a client offering only H.264 gets H.264, with the same
/// feedback.
fn codecs() -> [(RTCRtpCodecParameters, RtpCodecKind); 5] {
    let feedback = |list: &[&str]| -> Vec<RTCPFeedback> {
        list.iter()
            .map(|fb| {
                let (typ, parameter) = fb.split_once(' ').unwrap_or((fb, ""));
                RTCPFeedback {
                    typ: typ.to_string(),
                    parameter: parameter.to_string(),
                }
            })
            .collect()
    };
    let video_feedback = || feedback(&["nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"]);
    let rtx = |apt: u8, payload_type: u8| {
        (
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: "video/rtx".to_string(),
                    clock_rate: 90_000,
                    channels: 0,
                    sdp_fmtp_line: format!("apt={apt}"),
                    rtcp_feedback: vec![],
                },
                payload_type,
            },
            RtpCodecKind::Video,
        )
    };
    [
        (
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    rtcp_feedback: feedback(&["transport-cc"]),
                    ..opus_codec()
                },
                payload_type: OPUS_PAYLOAD_TYPE,
            },
            RtpCodecKind::Audio,
        ),
        (
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    rtcp_feedback: video_feedback(),
                    ..vp8_codec()
                },
                payload_type: VP8_PAYLOAD_TYPE,
            },
            RtpCodecKind::Video,
        ),
        rtx(VP8_PAYLOAD_TYPE, RTX_PAYLOAD_TYPE),
        (
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    rtcp_feedback: video_feedback(),
                    ..h264_codec()
                },
                payload_type: H264_PAYLOAD_TYPE,
            },
            RtpCodecKind::Video,
        ),
        rtx(H264_PAYLOAD_TYPE, H264_RTX_PAYLOAD_TYPE),
    ]
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".to_string(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_string(),
        rtcp_feedback: vec![],
    }
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "video/VP8".to_string(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "video/H264".to_string(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .to_string(),
        rtcp_feedback: vec![],
    }
}

/// The codec parameters a leg's track announces.
fn codec_parameters(codec: Codec) -> RTCRtpCodec {
    match codec {
        Codec::Opus => opus_codec(),
        Codec::Vp8 => vp8_codec(),
        Codec::H264 => h264_codec(),
    }
}

fn kind_of(kind: RtpCodecKind) -> Option<MediaKind> {
    match kind {
        RtpCodecKind::Audio => Some(MediaKind::Audio),
        RtpCodecKind::Video => Some(MediaKind::Video),
        _ => None,
    }
}

/// Marks inbound PLI, FIR and REMB for delivery to the application and stops every other
/// inbound RTCP packet at the end of the chain (the interceptors before this one have acted on
/// it already). Nothing a participant sends in RTCP (its SDES CNAME above all) is ever relayed:
/// what reaches the application is only read, and each leg's RTCP is the server's own.
/// Placed last on the read path; without it `TrackLocal::poll` never yields a keyframe request.
#[derive(Default)]
pub struct KeyframeRequestMarker {
    inbound: VecDeque<TaggedPacket>,
    outbound: VecDeque<TaggedPacket>,
}

impl std::fmt::Debug for KeyframeRequestMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyframeRequestMarker")
            .field("queued_in", &self.inbound.len())
            .field("queued_out", &self.outbound.len())
            .finish()
    }
}

/// Whether an RTCP packet asks for a keyframe.
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// Whether an inbound RTCP packet is feedback the application acts on: a keyframe request or a
/// receiver's bandwidth estimate.
pub fn is_delivered_feedback(packet: &dyn rtc::rtcp::Packet) -> bool {
    is_keyframe_request(packet) || packet.as_any().is::<ReceiverEstimatedMaximumBitrate>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestMarker {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &mut msg.message.packet {
            packets.retain(|p| is_delivered_feedback(p.as_ref()));
            if packets.is_empty() {
                // An empty RTCP list is reserved; there is nothing for the application anyway.
                return Ok(());
            }
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.inbound.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inbound.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.outbound.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.outbound.pop_front()
    }
}

impl Interceptor for KeyframeRequestMarker {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// Slot for [`KeyframeRequestMarker`]: after every built-in interceptor on the read path.
const MARKER_SLOT: usize = 14_000;

/// One publisher's track as sent to this participant.
struct Leg {
    rewriter: LegRewriter,
    tx: mpsc::Sender<(Variant, rtp::Packet)>,
    track: Arc<TrackLocalStaticRTP>,
    sender: Option<Arc<dyn RtpSender>>,
    rtcp_started: bool,
    /// The publisher's codec, which this leg carries.
    codec: Codec,
    /// The subscriber did not negotiate `codec`: nothing is ever sent on this leg.
    unsupported: bool,
}

enum Command {
    Remote(RemoteSignal),
    AddLeg(ParticipantId, MediaKind, Codec),
    RemoveLegs(ParticipantId),
    /// The connection closed: end the actor (it holds the peer connection).
    Shutdown,
}

/// A track the participant publishes, with its SSRC (for keyframe requests).
type InboundTrack = (Arc<dyn TrackRemote>, u32);

/// What the hearing, the handler and the actor share about one participant's connection.
pub struct Shared {
    id: ParticipantId,
    hearing: Weak<Hearing>,
    legs: Mutex<HashMap<(ParticipantId, MediaKind), Leg>>,
    inbound: Mutex<HashMap<MediaKind, InboundTrack>>,
    /// The codec of each payload type the participant may send, as negotiated (learnt after
    /// every remote description): a published track's codec when the crate's track does not
    /// know it (see [`Handler::on_track`]).
    payload_codecs: Mutex<HashMap<(MediaKind, u8), Codec>>,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedSender<LocalSignal>,
    gathered: watch::Sender<bool>,
    _live: LiveGuard,
}

/// Counts a connection in [`Sfu::live_connections`] while it exists.
struct LiveGuard(Arc<std::sync::atomic::AtomicUsize>);

impl LiveGuard {
    fn new(counter: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The legs a REMB names, each with its share of the estimate (bit/s). A compound RTCP
    /// packet reaches the track of its first report, so the REMB is matched to legs here by
    /// SSRC; the estimate covers every SSRC listed, so each gets an equal share.
    fn estimates_of(
        &self,
        remb: &ReceiverEstimatedMaximumBitrate,
    ) -> Vec<((ParticipantId, MediaKind), u64)> {
        if remb.ssrcs.is_empty() || !remb.bitrate.is_finite() || remb.bitrate < 0.0 {
            return Vec::new();
        }
        // A float in [0, 2^64) converts exactly enough; `as` saturates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let share = (f64::from(remb.bitrate) / remb.ssrcs.len() as f64) as u64;
        let legs = self.legs.lock().unwrap_or_else(PoisonError::into_inner);
        legs.iter()
            .filter(|(_, leg)| remb.ssrcs.contains(&leg.rewriter.ssrc()))
            .map(|(key, _)| (*key, share))
            .collect()
    }
}

impl MediaConnection for Shared {
    fn forward(
        &self,
        publisher: ParticipantId,
        kind: MediaKind,
        variant: Variant,
        packet: &rtp::Packet,
    ) -> Delivery {
        let mut legs = self.legs.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(leg) = legs.get_mut(&(publisher, kind)) else {
            return Delivery::Dropped;
        };
        let mut out = packet.clone();
        match leg.rewriter.rewrite(&mut out.header) {
            Rewrite::NotReady => Delivery::Dropped,
            Rewrite::Send { resumed } => match leg.tx.try_send((variant, out)) {
                Ok(()) if resumed => Delivery::Resumed,
                Ok(()) => Delivery::Sent,
                Err(_) => {
                    // Queue full: the subscriber is too slow. Count it as a gap so the
                    // sequence numbers it sees stay contiguous.
                    leg.rewriter.withhold();
                    Delivery::Dropped
                }
            },
        }
    }

    fn withhold(&self, publisher: ParticipantId, kind: MediaKind) {
        let mut legs = self.legs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(leg) = legs.get_mut(&(publisher, kind)) {
            leg.rewriter.withhold();
        }
    }

    fn track_published(&self, publisher: ParticipantId, kind: MediaKind, codec: Codec) {
        let _ = self.commands.send(Command::AddLeg(publisher, kind, codec));
    }

    fn publisher_left(&self, publisher: ParticipantId) {
        let _ = self.commands.send(Command::RemoveLegs(publisher));
    }

    fn request_keyframe(&self, kind: MediaKind) {
        self.send_pli(kind, None);
    }

    fn request_layer_keyframe(&self, kind: MediaKind, ssrc: u32) {
        self.send_pli(kind, Some(ssrc));
    }
}

impl Shared {
    /// Sends a PLI for this participant's own `kind` track: for its simulcast layer `layer`, or
    /// for the track's first SSRC. The layers all arrive on the one remote track.
    fn send_pli(&self, kind: MediaKind, layer: Option<u32>) {
        let inbound = self
            .inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&kind)
            .cloned();
        if let Some((track, first_ssrc)) = inbound {
            let media_ssrc = layer.unwrap_or(first_ssrc);
            tokio::spawn(async move {
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc,
                };
                if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                    tracing::debug!(error = %e, "keyframe request not sent");
                }
            });
        }
    }
}

struct Handler {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.shared
            .gathered
            .send_replace(state == RTCIceGatheringState::Complete);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(participant = %self.shared.id, %state, "peer connection state");
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            let _ = self.shared.events.send(LocalSignal::Closed);
        }
    }

    /// A track the participant publishes. Its codec is that of its first packet's payload type
    /// as negotiated (the crate's own view of the track's codec only where that payload type
    /// was not learnt), and it is published to the hearing then. The track is always read: an
    /// unread track fills the crate's queue, and then nothing of it reaches anyone.
    ///
    /// Why not the crate's view alone: `rtc` 0.21 replaces a receiver's track, codec unset, on
    /// every remote description (`start_rtp`), and copies the codec into the application's
    /// track only once, when it opens. A renegotiation (a leg added for a new participant) that
    /// lands between the first packet and that copy leaves the application's track without a
    /// codec for good. This was the `sfu_isolation` flake: one participant's audio or video
    /// reached nobody.
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(kind) = kind_of(track.kind().await) else {
            return;
        };
        let Some(ssrc) = track.ssrcs().await.first().copied() else {
            tracing::debug!(participant = %self.shared.id, "remote track without SSRC");
            return;
        };
        let crate_view = track
            .codec(ssrc)
            .await
            .and_then(|c| Codec::from_mime(&c.mime_type));
        if crate_view.is_none() {
            tracing::debug!(participant = %self.shared.id, ?kind,
                "the crate's track has no codec: taking it from the first packet's payload type");
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut published = false;
            let mut unknown_reported = false;
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        if !published {
                            let pt = packet.header.payload_type;
                            let Some(codec) = shared.codec_of_payload(kind, pt).or(crate_view)
                            else {
                                if !std::mem::replace(&mut unknown_reported, true) {
                                    // Only registered codecs can be negotiated: a bug.
                                    tracing::warn!(participant = %shared.id, payload_type = pt,
                                        "a track in an unknown codec is not forwarded");
                                }
                                continue;
                            };
                            shared.publish(kind, &track, ssrc, codec);
                            published = true;
                        }
                        let Some(h) = shared.hearing.upgrade() else {
                            break;
                        };
                        h.on_rtp(shared.id, kind, &packet);
                    }
                    // Simulcast: every layer arrives on this one track, each announced by an
                    // `OnOpen` with its RID and SSRC before its first packet. A track without
                    // RIDs is not simulcast and is forwarded as it comes.
                    TrackRemoteEvent::OnOpen(init) => {
                        let Some(rid) = init.rid.as_deref().filter(|r| !r.is_empty()) else {
                            continue;
                        };
                        let Some(h) = shared.hearing.upgrade() else {
                            break;
                        };
                        tracing::debug!(participant = %shared.id, rid = ?rid, ssrc = init.ssrc,
                            "simulcast layer");
                        h.on_simulcast_layer(shared.id, kind, init.ssrc, rid);
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

impl Shared {
    /// `kind` is published in `codec` on `track`: the hearing adds a leg for it to everyone.
    fn publish(&self, kind: MediaKind, track: &Arc<dyn TrackRemote>, ssrc: u32, codec: Codec) {
        self.inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kind, (track.clone(), ssrc));
        if let Some(h) = self.hearing.upgrade() {
            h.on_track_published(self.id, kind, codec);
        }
    }

    /// The codec the participant negotiated for `payload_type` in `kind` media.
    fn codec_of_payload(&self, kind: MediaKind, payload_type: u8) -> Option<Codec> {
        self.payload_codecs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(kind, payload_type))
            .copied()
    }
}

/// The codec of each payload type an SDP's `a=rtpmap` lines name, by media kind: what the
/// participant's packets in that description's media sections will carry. Payload types of
/// codecs the SFU does not negotiate are left out. Only reads a description the crate has
/// already accepted; never panics on any text.
pub(crate) fn payload_codecs_of_sdp(sdp: &str) -> HashMap<(MediaKind, u8), Codec> {
    let mut codecs = HashMap::new();
    let mut kind = None;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(media) = line.strip_prefix("m=") {
            kind = match media.split(' ').next() {
                Some("audio") => Some(MediaKind::Audio),
                Some("video") => Some(MediaKind::Video),
                _ => None,
            };
        } else if let (Some(kind), Some(map)) = (kind, line.strip_prefix("a=rtpmap:")) {
            let mut parts = map.splitn(2, ' ');
            let pt = parts.next().and_then(|pt| pt.parse::<u8>().ok());
            let name = parts.next().and_then(|enc| enc.split('/').next());
            let prefix = match kind {
                MediaKind::Audio => "audio/",
                MediaKind::Video => "video/",
            };
            if let (Some(pt), Some(name)) = (pt, name)
                && let Some(codec) = Codec::from_mime(&format!("{prefix}{name}"))
                && codec.kind() == kind
                && pt < 128
            {
                codecs.insert((kind, pt), codec);
            }
        }
    }
    codecs
}

/// Learns the payload types the participant sends with, from a remote description the crate
/// accepted.
fn learn_payload_types(shared: &Shared, sdp: &str) {
    let learnt = payload_codecs_of_sdp(sdp);
    tracing::debug!(participant = %shared.id, payload_types = ?learnt, "negotiated payload types");
    shared
        .payload_codecs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(learnt);
}

/// A participant's live peer connection.
pub struct WebRtcConnection {
    shared: Arc<Shared>,
    pc: Arc<dyn PeerConnection>,
    closed: AtomicBool,
}

impl std::fmt::Debug for WebRtcConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcConnection")
            .field("participant", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl WebRtcConnection {
    /// Builds the peer connection for participant `id` of `hearing`. Local descriptions and
    /// errors come out of `events`; feed the client's messages to [`Self::signal`].
    ///
    /// # Errors
    /// When no socket can be bound on the configured addresses and ports.
    pub async fn connect(
        sfu: &Sfu,
        hearing: &Arc<Hearing>,
        id: ParticipantId,
        events: mpsc::UnboundedSender<LocalSignal>,
    ) -> anyhow::Result<Arc<Self>> {
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (gathered, gathered_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            id,
            hearing: Arc::downgrade(hearing),
            legs: Mutex::new(HashMap::new()),
            inbound: Mutex::new(HashMap::new()),
            payload_codecs: Mutex::new(HashMap::new()),
            commands,
            events,
            gathered,
            _live: LiveGuard::new(sfu.live_counter()),
        });
        let pc = Box::pin(build_peer_connection(sfu, shared.clone())).await?;
        let conn = Arc::new(Self {
            shared: shared.clone(),
            pc: pc.clone(),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(sample_quality(Arc::downgrade(&shared), Arc::downgrade(&pc)));
        tokio::spawn(run_actor(shared, pc, commands_rx, gathered_rx));
        Ok(conn)
    }

    /// The hearing-facing side of this connection.
    pub fn media(&self) -> Arc<dyn MediaConnection> {
        self.shared.clone()
    }

    /// Passes a client signaling message to the connection.
    pub fn signal(&self, signal: RemoteSignal) {
        let _ = self.shared.commands.send(Command::Remote(signal));
    }

    /// Closes the peer connection (idempotent).
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.shared.commands.send(Command::Shutdown);
        self.shared
            .legs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.shared
            .inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing the peer connection");
        }
    }
}

async fn build_peer_connection(
    sfu: &Sfu,
    shared: Arc<Shared>,
) -> anyhow::Result<Arc<dyn PeerConnection>> {
    let config = sfu.config();
    config.validate()?;
    let ports: Vec<u16> = match &config.udp_ports {
        Some(range) => sfu.ports_to_try(range.clone()),
        None => vec![0],
    };
    let mut last_error = None;
    for port in ports {
        let mut media = MediaEngine::default();
        for (codec, kind) in codecs() {
            media
                .register_codec(codec, kind)
                .context("registering a codec")?;
        }
        // The MID, RID and repaired-RID header extensions: a client may send its video as
        // simulcast layers (`a=simulcast:send`), told apart by their RID.
        configure_simulcast_extension_headers(&mut media)
            .context("registering the simulcast header extensions")?;
        let registry = register_default_interceptors(Registry::new(), &mut media)
            .context("registering the default interceptors")?
            .with(Slot::from(MARKER_SLOT), KeyframeRequestMarker::default())
            .with(Slot::from(RTX_UNWRAPPER_SLOT), RtxUnwrapper::default())
            .with(
                Slot::from(NACK_LIMITER_SLOT),
                NackLimiter::new(sfu.retransmissions_refused_counter()),
            );
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let addrs: Vec<SocketAddr> = config
            .ice_ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        let built = Box::pin(
            PeerConnectionBuilder::new()
                .with_configuration(RTCConfigurationBuilder::new().build())
                .with_media_engine(media)
                .with_setting_engine(settings)
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(Handler {
                    shared: shared.clone(),
                }))
                .with_udp_addrs(addrs)
                .build(),
        )
        .await;
        match built {
            Ok(pc) => return Ok(Arc::new(pc)),
            Err(e) => last_error = Some(e),
        }
    }
    Err(anyhow::anyhow!(
        "no UDP socket for WebRTC could be bound on {:?} (setting sfu ice_ips / udp_ports): {}",
        config.ice_ips,
        last_error.map_or_else(|| "no port to try".to_string(), |e| e.to_string())
    ))
}

/// Offer/answer state of one connection.
struct Negotiation {
    /// The client's first offer was answered.
    started: bool,
    /// A server offer is waiting for its answer.
    offering: bool,
    /// Legs changed since the last offer.
    dirty: bool,
    /// Leg changes that arrived before the client's first offer.
    deferred: Vec<Command>,
}

async fn run_actor(
    shared: Arc<Shared>,
    pc: Arc<dyn PeerConnection>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut gathered: watch::Receiver<bool>,
) {
    let mut neg = Negotiation {
        started: false,
        offering: false,
        dirty: false,
        deferred: Vec::new(),
    };
    while let Some(command) = commands.recv().await {
        let result = match command {
            Command::Shutdown => break,
            Command::Remote(RemoteSignal::Offer(sdp)) => {
                on_client_offer(&shared, &pc, &mut neg, &mut gathered, sdp).await
            }
            Command::Remote(RemoteSignal::Answer(sdp)) => {
                on_client_answer(&shared, &pc, &mut neg, sdp).await
            }
            Command::Remote(RemoteSignal::Candidate(c)) => pc
                .add_ice_candidate(c)
                .await
                .map_err(|e| ("invalid_candidate", e.to_string())),
            cmd @ (Command::AddLeg(..) | Command::RemoveLegs(_)) if !neg.started => {
                neg.deferred.push(cmd);
                Ok(())
            }
            Command::AddLeg(publisher, kind, codec) => {
                add_leg(&shared, &pc, publisher, kind, codec).await;
                neg.dirty = true;
                Ok(())
            }
            Command::RemoveLegs(publisher) => {
                remove_legs(&shared, &pc, publisher).await;
                neg.dirty = true;
                Ok(())
            }
        };
        if let Err((code, message)) = result {
            let _ = shared.events.send(LocalSignal::Error { code, message });
        }
        if neg.started
            && neg.dirty
            && !neg.offering
            && let Err((code, message)) = offer(&shared, &pc, &mut neg, &mut gathered).await
        {
            let _ = shared.events.send(LocalSignal::Error { code, message });
        }
    }
}

type SignalResult = Result<(), (&'static str, String)>;

async fn on_client_offer(
    shared: &Arc<Shared>,
    pc: &Arc<dyn PeerConnection>,
    neg: &mut Negotiation,
    gathered: &mut watch::Receiver<bool>,
    sdp: String,
) -> SignalResult {
    if neg.started {
        return Err((
            "unexpected_offer",
            "protocol v1: the client offers once, at the start; later offers come from the server"
                .into(),
        ));
    }
    let offer =
        RTCSessionDescription::offer(sdp.clone()).map_err(|e| ("invalid_sdp", e.to_string()))?;
    pc.set_remote_description(offer)
        .await
        .map_err(|e| ("invalid_sdp", e.to_string()))?;
    learn_payload_types(shared, &sdp);
    prefer_vp8(pc).await;
    let answer = pc
        .create_answer(None)
        .await
        .map_err(|e| ("negotiation_failed", e.to_string()))?;
    pc.set_local_description(answer)
        .await
        .map_err(|e| ("negotiation_failed", e.to_string()))?;
    let desc = local_description(pc, gathered).await?;
    let _ = shared.events.send(LocalSignal::Answer(desc));
    neg.started = true;
    after_negotiation(shared).await;
    for cmd in std::mem::take(&mut neg.deferred) {
        match cmd {
            Command::AddLeg(p, k, c) => add_leg(shared, pc, p, k, c).await,
            Command::RemoveLegs(p) => remove_legs(shared, pc, p).await,
            Command::Remote(_) | Command::Shutdown => {}
        }
        neg.dirty = true;
    }
    Ok(())
}

/// Orders the answer's video codecs VP8 first, whatever the client's order (Safari offers H.264
/// first): the answer's order decides what the client sends, and VP8 is what every other client
/// and the anonymising pipeline can take. The crate answers in the offer's order otherwise.
/// `set_codec_preferences` refuses a list with a codec the client did not offer (and any audio
/// transceiver): then there is nothing to choose, and the transceiver is left as it is.
async fn prefer_vp8(pc: &Arc<dyn PeerConnection>) {
    let order: Vec<RTCRtpCodecParameters> = codecs()
        .into_iter()
        .filter(|(c, kind)| *kind == RtpCodecKind::Video && c.rtp_codec.mime_type != "video/rtx")
        .map(|(c, _)| c)
        .collect();
    for transceiver in pc.get_transceivers().await {
        // An error only means "not a transceiver with both codecs".
        let _ = transceiver.set_codec_preferences(order.clone()).await;
    }
}

async fn on_client_answer(
    shared: &Arc<Shared>,
    pc: &Arc<dyn PeerConnection>,
    neg: &mut Negotiation,
    sdp: String,
) -> SignalResult {
    if !neg.offering {
        return Err(("unexpected_answer", "there is no offer to answer".into()));
    }
    let answer =
        RTCSessionDescription::answer(sdp.clone()).map_err(|e| ("invalid_sdp", e.to_string()))?;
    pc.set_remote_description(answer)
        .await
        .map_err(|e| ("invalid_sdp", e.to_string()))?;
    learn_payload_types(shared, &sdp);
    neg.offering = false;
    after_negotiation(shared).await;
    Ok(())
}

async fn offer(
    shared: &Arc<Shared>,
    pc: &Arc<dyn PeerConnection>,
    neg: &mut Negotiation,
    gathered: &mut watch::Receiver<bool>,
) -> SignalResult {
    neg.dirty = false;
    let offer = pc
        .create_offer(None)
        .await
        .map_err(|e| ("negotiation_failed", e.to_string()))?;
    pc.set_local_description(offer)
        .await
        .map_err(|e| ("negotiation_failed", e.to_string()))?;
    let desc = local_description(pc, gathered).await?;
    neg.offering = true;
    let _ = shared.events.send(LocalSignal::Offer(desc));
    Ok(())
}

/// The local description once ICE gathering completed (candidates included: the server does
/// not trickle), or after [`GATHER_TIMEOUT`] with what there is.
async fn local_description(
    pc: &Arc<dyn PeerConnection>,
    gathered: &mut watch::Receiver<bool>,
) -> Result<String, (&'static str, String)> {
    let _ = tokio::time::timeout(GATHER_TIMEOUT, gathered.wait_for(|done| *done)).await;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or(("negotiation_failed", "no local description".to_string()))
}

/// The heartbeat: every [`quality::SAMPLE_INTERVAL`], this connection's statistics become its
/// [`quality::Quality`] in the hearing. Holds no strong reference between samples, so it ends
/// with the connection.
async fn sample_quality(shared: Weak<Shared>, pc: Weak<dyn PeerConnection>) {
    let mut tick = tokio::time::interval(quality::SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last: Option<quality::Sample> = None;
    loop {
        tick.tick().await;
        let Some(pc) = pc.upgrade() else { break };
        let now = Instant::now();
        let report = pc
            .get_stats(now, webrtc::peer_connection::StatsSelector::None)
            .await;
        drop(pc);
        let sample = sample_of(&report, now);
        let Some(shared) = shared.upgrade() else {
            break;
        };
        if let (Some(before), Some(h)) = (last, shared.hearing.upgrade())
            && let Some(q) = quality::between(&before, &sample)
        {
            h.set_quality(shared.id, q);
        }
        last = Some(sample);
    }
}

/// The counters of a statistics report that the heartbeat needs: what arrived from the
/// participant on every inbound track, and the connection's round-trip time (the selected
/// candidate pair's, else the participant's receiver reports').
fn sample_of(report: &rtc::statistics::report::RTCStatsReport, at: Instant) -> quality::Sample {
    let mut sample = quality::Sample {
        at,
        packets_received: 0,
        packets_lost: 0,
        bytes_received: 0,
        rtt_seconds: None,
    };
    for s in report.inbound_rtp_streams() {
        let r = &s.received_rtp_stream_stats;
        sample.packets_received += r.packets_received;
        sample.packets_lost += u64::try_from(r.packets_lost).unwrap_or(0);
        sample.bytes_received += s.bytes_received + s.header_bytes_received;
    }
    sample.rtt_seconds = report
        .candidate_pairs()
        .filter(|p| p.nominated && p.current_round_trip_time > 0.0)
        .map(|p| p.current_round_trip_time)
        .next()
        .or_else(|| {
            report
                .iter()
                .filter_map(|e| match e {
                    rtc::statistics::report::RTCStatsReportEntry::RemoteInboundRtp(r)
                        if r.round_trip_time > 0.0 =>
                    {
                        Some(r.round_trip_time)
                    }
                    _ => None,
                })
                .next()
        });
    sample
}

/// After a completed offer/answer: learn each new leg's negotiated payload type and start
/// listening for its keyframe requests (the track is bound now).
async fn after_negotiation(shared: &Arc<Shared>) {
    let pending: Vec<_> = {
        let legs = shared.legs.lock().unwrap_or_else(PoisonError::into_inner);
        legs.iter()
            .filter(|(_, leg)| {
                !leg.unsupported && (leg.rewriter.payload_type().is_none() || !leg.rtcp_started)
            })
            .filter_map(|(key, leg)| {
                leg.sender
                    .clone()
                    .map(|s| (*key, s, leg.track.clone(), leg.codec))
            })
            .collect()
    };
    for ((publisher, kind), sender, track, codec) in pending {
        // The payload type this subscriber negotiated for the publisher's codec. None: they
        // cannot decode it, and the leg never sends (a VP8 payload type on H.264 data would
        // reach a decoder that cannot read it).
        let pt = match sender.get_parameters().await {
            Ok(params) => Some(
                params
                    .rtp_parameters
                    .codecs
                    .iter()
                    .find(|c| Codec::from_mime(&c.rtp_codec.mime_type) == Some(codec))
                    .map(|c| c.payload_type),
            ),
            Err(e) => {
                tracing::debug!(error = %e, "sender parameters not available yet");
                None
            }
        };
        let start_rtcp = {
            let mut legs = shared.legs.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(leg) = legs.get_mut(&(publisher, kind)) else {
                continue;
            };
            let pt = match pt {
                Some(Some(pt)) => Some(pt),
                Some(None) => {
                    leg.unsupported = true;
                    unsupported_codec(shared, publisher, kind, codec);
                    None
                }
                None => None,
            };
            if let Some(pt) = pt {
                leg.rewriter.set_payload_type(pt);
            }
            let start = pt.is_some() && !leg.rtcp_started;
            leg.rtcp_started |= start;
            start
        };
        if start_rtcp {
            let hearing = shared.hearing.clone();
            let subscriber = shared.id;
            let weak = Arc::downgrade(shared);
            tokio::spawn(async move {
                while let Some(event) = track.poll().await {
                    let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                        continue;
                    };
                    let Some(h) = hearing.upgrade() else { break };
                    if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                        h.on_keyframe_request(subscriber, publisher, kind);
                    }
                    for remb in packets.iter().filter_map(|p| {
                        p.as_any().downcast_ref::<ReceiverEstimatedMaximumBitrate>()
                    }) {
                        let Some(shared) = weak.upgrade() else { break };
                        for (leg, bps) in shared.estimates_of(remb) {
                            h.on_receiver_estimate(subscriber, leg.0, leg.1, bps);
                        }
                    }
                }
            });
        }
    }
}

/// The subscriber did not negotiate `codec`, the codec of `publisher`'s `kind` track: nothing
/// of that track will be sent to them. Logged, and the subscriber is told.
fn unsupported_codec(shared: &Shared, publisher: ParticipantId, kind: MediaKind, codec: Codec) {
    tracing::warn!(
        subscriber = %shared.id,
        %publisher,
        ?kind,
        codec = codec.name(),
        "the subscriber did not negotiate the publisher's codec: nothing is sent on this leg"
    );
    let _ = shared.events.send(LocalSignal::TrackUnsupported {
        publisher,
        kind,
        codec,
    });
}

async fn add_leg(
    shared: &Arc<Shared>,
    pc: &Arc<dyn PeerConnection>,
    publisher: ParticipantId,
    kind: MediaKind,
    codec: Codec,
) {
    if shared
        .legs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains_key(&(publisher, kind))
    {
        return;
    }
    let ssrc = rand::random::<u32>();
    let (rtp_kind, name) = match kind {
        MediaKind::Audio => (RtpCodecKind::Audio, "audio"),
        MediaKind::Video => (RtpCodecKind::Video, "video"),
    };
    // The stream id names the publisher, so the client can tell whose track it receives.
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        publisher.to_string(),
        format!("{publisher}-{name}"),
        format!("{publisher}-{name}"),
        rtp_kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                // Video retransmissions go on their own SSRC where the subscriber negotiated
                // RTX (the crate drops this when it did not, and resends on `ssrc`).
                rtx: (kind == MediaKind::Video).then(|| RTCRtpRtxParameters {
                    ssrc: rand::random::<u32>(),
                }),
                ..Default::default()
            },
            codec: codec_parameters(codec),
            ..Default::default()
        }],
    )));
    let mut unsupported = false;
    let sender = match pc.add_track(track.clone() as Arc<dyn TrackLocal>).await {
        Ok(s) => Some(s),
        Err(rtc::shared::error::Error::ErrRTPTransceiverCodecUnsupported) => {
            // The subscriber's offer had no such codec: the leg stays, and never sends.
            unsupported = true;
            unsupported_codec(shared, publisher, kind, codec);
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, participant = %shared.id, %publisher, "cannot add a leg");
            None
        }
    };
    let (tx, mut rx) = mpsc::channel::<(Variant, rtp::Packet)>(LEG_QUEUE);
    let writer = track.clone();
    let hearing = shared.hearing.clone();
    let subscriber = shared.id;
    tokio::spawn(async move {
        while let Some((variant, packet)) = rx.recv().await {
            // Asked again at the last moment: a packet queued just before the room changed
            // (the subscriber sent to the waiting room, say) is not sent after the change.
            let Some(h) = hearing.upgrade() else { break };
            if !h.may_forward_now(publisher, subscriber, kind, variant) {
                continue;
            }
            drop(h);
            // Errors before the track is bound, or after close, are expected: drop the packet.
            let _ = writer.write_rtp(packet).await;
        }
    });
    shared
        .legs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            (publisher, kind),
            Leg {
                rewriter: LegRewriter::with_clock_rate(
                    ssrc,
                    match kind {
                        MediaKind::Audio => 48_000,
                        MediaKind::Video => 90_000,
                    },
                ),
                tx,
                track,
                sender,
                rtcp_started: false,
                codec,
                unsupported,
            },
        );
}

async fn remove_legs(shared: &Arc<Shared>, pc: &Arc<dyn PeerConnection>, publisher: ParticipantId) {
    let removed: Vec<Leg> = {
        let mut legs = shared.legs.lock().unwrap_or_else(PoisonError::into_inner);
        let keys: Vec<_> = legs
            .keys()
            .filter(|(p, _)| *p == publisher)
            .copied()
            .collect();
        keys.into_iter().filter_map(|k| legs.remove(&k)).collect()
    };
    for leg in removed {
        if let Some(sender) = &leg.sender
            && let Err(e) = pc.remove_track(sender).await
        {
            tracing::debug!(error = %e, "removing a leg");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_types_are_read_per_media_section_as_the_client_numbered_them() {
        // Firefox numbers Opus 109, VP8 120, H.264 126, and RTX 124 (not a codec of its own).
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 109 9\r\na=rtpmap:109 opus/48000/2\r\na=rtpmap:9 G722/8000/1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 120 124 126\r\na=rtpmap:120 VP8/90000\r\n\
            a=rtpmap:124 rtx/90000\r\na=rtpmap:126 H264/90000\r\n";
        let codecs = payload_codecs_of_sdp(sdp);
        assert_eq!(codecs.len(), 3, "{codecs:?}");
        assert_eq!(codecs[&(MediaKind::Audio, 109)], Codec::Opus);
        assert_eq!(codecs[&(MediaKind::Video, 120)], Codec::Vp8);
        assert_eq!(codecs[&(MediaKind::Video, 126)], Codec::H264);
    }

    #[test]
    fn a_codec_named_in_the_wrong_kind_of_section_or_nonsense_is_ignored_without_panicking() {
        for sdp in [
            "m=audio 9 RTP 96\na=rtpmap:96 VP8/90000\n",
            "m=video 9 RTP 96\na=rtpmap:96 opus/48000/2\n",
            "a=rtpmap:96 VP8/90000\n",
            "m=application 9 DTLS 5000\na=rtpmap:96 VP8/90000\n",
            "m=video\na=rtpmap:300 VP8/90000\na=rtpmap:200 VP8/90000\na=rtpmap:x VP8\n",
            "m=video 9\na=rtpmap:\na=rtpmap: \na=rtpmap:96\na=rtpmap:96 \na=rtpmap:96 /\n",
            "m=\u{e9}\na=rtpmap:96 VP8\u{e9}/90000\n",
            "",
        ] {
            assert!(payload_codecs_of_sdp(sdp).is_empty(), "{sdp:?}");
        }
        // Case as the RFCs allow, and a line ending in spaces.
        let codecs = payload_codecs_of_sdp("m=video 9 RTP 96\na=rtpmap:96 vp8/90000  \n");
        assert_eq!(codecs[&(MediaKind::Video, 96)], Codec::Vp8);
    }
}
