//! A WebRTC test participant for the hearing SFU, and a TLS server that serves the signaling
//! route.
//!
//! - [`SfuServer`]: the real TLS accept loop (`assize_server::server::serve`) with the
//!   development PKI, serving [`assize_server::sfu::signal::router`] with the insecure query
//!   admission, for the SFU's own tests (the application mounts it with the policy's admission:
//!   see `TestApp::signal`).
//! - [`SignalSocket`]: WebSocket-over-TLS to the signaling endpoint, trusting the server's
//!   development CA only; speaks raw JSON (for hostile-input tests).
//! - [`RtcClient`]: a participant over `webrtc` 0.21: joins through the real signaling,
//!   publishes synthetic Opus (every 20 ms) and VP8 (every 33 ms, each packet a keyframe-looking
//!   frame; or H.264 IDR slices, for a client that offers only H.264: [`VideoCodecs`]; or
//!   2–3 simulcast layers: [`ClientOptions::simulcast_layers`]) RTP, or real media encoded
//!   beforehand ([`RecordedMedia`]), answers the server's
//!   renegotiation offers, counts packets received per publisher and kind and keeps the first
//!   of them (to decode), and counts keyframe requests received.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lossy_relay::{LossyRelay, RelayCounters};
use crate::wire_tap::{Losses, WIRE_TAP_SLOT, WireCounters, WireTap, WireTapHandle};
use anyhow::{Context as _, anyhow, bail};
use assize_server::sfu::peer::KeyframeRequestMarker;
use assize_server::sfu::room::MediaKind;
use assize_server::sfu::rtx::{RTX_UNWRAPPER_SLOT, RtxUnwrapper};
use assize_server::sfu::signal::UnauthenticatedRoleFromQuery;
use assize_server::sfu::{Sfu, SfuConfig};
use futures_util::{SinkExt as _, StreamExt as _};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Slot, TwccSenderBuilder};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpRtxParameters, RtpCodecKind,
};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCSessionDescription, Registry,
    SettingEngineBuilder, register_default_interceptors,
};

/// A TLS server serving only the SFU signaling route.
pub struct SfuServer {
    pub addr: SocketAddr,
    pub sfu: Arc<Sfu>,
    ca_cert: PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for SfuServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SfuServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SfuServer {
    /// The development CA that issued the server's TLS certificate (clients trust only it).
    pub fn ca_cert(&self) -> &std::path::Path {
        &self.ca_cert
    }
}

impl Drop for SfuServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts a signaling server on 127.0.0.1 with a fresh development PKI.
///
/// # Panics
/// When the server cannot start: the test cannot go on.
pub async fn spawn_sfu_server() -> SfuServer {
    spawn_sfu_server_with(SfuConfig::loopback()).await
}

/// Starts a signaling server whose SFU uses `config`.
///
/// # Panics
/// When the server cannot start: the test cannot go on.
pub async fn spawn_sfu_server_with(config: SfuConfig) -> SfuServer {
    use assize_server::{metrics, pki, server, tls};
    // `RUST_LOG=assize_server::sfu=debug cargo test …` shows the SFU's logs (with --nocapture).
    if std::env::var_os("RUST_LOG").is_some() {
        assize_server::telemetry::init(assize_server::config::LogFormat::Text, "warn");
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = pki::DataDir::bootstrap(dir.path()).expect("the development PKI");
    let tls = Arc::new(tls::server_config(&data.tls_cert, &data.tls_key, &[]).expect("TLS"));
    let sfu = Sfu::new(config);
    let router = assize_server::sfu::signal::router::<()>(
        sfu.clone(),
        Arc::new(UnauthenticatedRoleFromQuery),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("a bound address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        tls,
        router,
        Arc::new(metrics::Metrics::new()),
        server::ServeOptions {
            handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(1),
        },
        async {
            let _ = rx.await;
        },
    ));
    SfuServer {
        addr,
        sfu,
        ca_cert: data.ca_cert.clone(),
        _dir: dir,
        shutdown: Some(tx),
    }
}

type Wss =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Why a signaling socket did not open.
#[derive(Debug)]
pub enum SignalRefusal {
    /// The server answered the upgrade with this HTTP status and JSON body (the API error).
    Status(u16, Value),
    /// Anything else (TLS, network, protocol).
    Failed(anyhow::Error),
}

impl From<rustls::Error> for SignalRefusal {
    fn from(e: rustls::Error) -> Self {
        SignalRefusal::Failed(e.into())
    }
}

/// A WebSocket to the signaling endpoint, over TLS.
pub struct SignalSocket {
    ws: Wss,
}

impl std::fmt::Debug for SignalSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignalSocket")
    }
}

impl SignalSocket {
    /// Opens `/api/v1/hearings/{hearing}/signal?role={role}`.
    ///
    /// # Errors
    /// When TLS or the WebSocket handshake fails (e.g. the server refuses the upgrade).
    pub async fn connect(server: &SfuServer, hearing: &str, role: &str) -> anyhow::Result<Self> {
        Self::connect_with_query(server, hearing, &format!("role={role}")).await
    }

    /// Opens `/api/v1/hearings/{hearing}/signal?{query}`.
    ///
    /// # Errors
    /// When TLS or the WebSocket handshake fails (e.g. the server refuses the upgrade).
    pub async fn connect_with_query(
        server: &SfuServer,
        hearing: &str,
        query: &str,
    ) -> anyhow::Result<Self> {
        let path = format!("/api/v1/hearings/{hearing}/signal?{query}");
        Self::open(server.addr, &server.ca_cert, &path, None)
            .await
            .map_err(|r| match r {
                SignalRefusal::Status(status, body) => {
                    anyhow!("the server refused the upgrade: {status} {body}")
                }
                SignalRefusal::Failed(e) => e,
            })
    }

    /// Opens `wss://{addr}{path}`, trusting `ca_cert` only and presenting `cookie` (a
    /// `Cookie:` header value) when given: the application's signaling endpoint, admitted by the
    /// policy.
    ///
    /// # Errors
    /// [`SignalRefusal::Status`] when the server answered the upgrade with an HTTP error.
    pub async fn open(
        addr: SocketAddr,
        ca_cert: &std::path::Path,
        path: &str,
        cookie: Option<&str>,
    ) -> Result<Self, SignalRefusal> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut roots = rustls::RootCertStore::empty();
        for cert in assize_server::tls::load_certs(ca_cert).map_err(SignalRefusal::Failed)? {
            roots.add(cert)?;
        }
        let mut config =
            rustls::ClientConfig::builder_with_provider(assize_server::tls::provider())
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        // WebSocket upgrades are HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| SignalRefusal::Failed(e.into()))?;
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .context("TLS handshake")
            .map_err(SignalRefusal::Failed)?;
        let mut request = format!("wss://{addr}{path}")
            .into_client_request()
            .map_err(|e| SignalRefusal::Failed(e.into()))?;
        if let Some(c) = cookie {
            request.headers_mut().insert(
                "cookie",
                c.parse().map_err(
                    |e: tokio_tungstenite::tungstenite::http::header::InvalidHeaderValue| {
                        SignalRefusal::Failed(e.into())
                    },
                )?,
            );
        }
        match tokio_tungstenite::client_async(request, tls).await {
            Ok((ws, _)) => Ok(Self { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err(SignalRefusal::Status(resp.status().as_u16(), body))
            }
            Err(e) => Err(SignalRefusal::Failed(
                anyhow::Error::from(e).context("WebSocket handshake"),
            )),
        }
    }

    /// Sends a text frame as is.
    ///
    /// # Errors
    /// When the socket is closed.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends a JSON message.
    ///
    /// # Errors
    /// When the socket is closed.
    pub async fn send_json(&mut self, value: &Value) -> anyhow::Result<()> {
        self.send_text(&value.to_string()).await
    }

    /// The next JSON message from the server, within `within`.
    ///
    /// # Errors
    /// On timeout, close, or a non-JSON frame.
    pub async fn recv_json(&mut self, within: Duration) -> anyhow::Result<Value> {
        loop {
            let msg = tokio::time::timeout(within, self.ws.next())
                .await
                .map_err(|_| anyhow!("no message within {within:?}"))?
                .ok_or_else(|| anyhow!("the socket closed"))??;
            match msg {
                Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
                Message::Close(frame) => bail!("the server closed the socket: {frame:?}"),
                _ => continue,
            }
        }
    }
}

/// Which payload types a client registers (they differ between browsers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadTypes {
    /// Opus 111, VP8 96.
    Chrome,
    /// Opus 109, VP8 120.
    Firefox,
}

impl PayloadTypes {
    fn opus(self) -> u8 {
        match self {
            PayloadTypes::Chrome => 111,
            PayloadTypes::Firefox => 109,
        }
    }

    fn vp8(self) -> u8 {
        match self {
            PayloadTypes::Chrome => 96,
            PayloadTypes::Firefox => 120,
        }
    }

    /// RTX for VP8 (`apt` = [`Self::vp8`]).
    fn rtx(self) -> u8 {
        match self {
            PayloadTypes::Chrome => 97,
            PayloadTypes::Firefox => 124,
        }
    }

    /// H.264, packetization mode 1 (Chrome 102, Firefox 126).
    pub fn h264(self) -> u8 {
        match self {
            PayloadTypes::Chrome => 102,
            PayloadTypes::Firefox => 126,
        }
    }

    /// RTX for H.264 (`apt` = [`Self::h264`]).
    fn h264_rtx(self) -> u8 {
        match self {
            PayloadTypes::Chrome => 103,
            PayloadTypes::Firefox => 127,
        }
    }
}

/// Which video codecs a test client offers. It publishes the first it offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCodecs {
    /// VP8 only (the default).
    Vp8,
    /// H.264 only, as some hardware-decoding clients offer; publishes synthetic H.264 whose
    /// every packet is an IDR slice.
    H264,
    /// VP8, then H.264 (publishes VP8).
    Vp8AndH264,
    /// H.264, then VP8 (as Safari orders them; publishes H.264).
    H264AndVp8,
}

impl VideoCodecs {
    fn offers_vp8(self) -> bool {
        matches!(self, Self::Vp8 | Self::Vp8AndH264 | Self::H264AndVp8)
    }

    fn offers_h264(self) -> bool {
        matches!(self, Self::H264 | Self::Vp8AndH264 | Self::H264AndVp8)
    }
}

/// How a test client behaves on the wire, beyond its payload types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    pub payload_types: PayloadTypes,
    /// Offer `video/rtx` (apt = VP8) and send its own video retransmissions on an RTX SSRC,
    /// as browsers do.
    pub rtx: bool,
    /// Stamp every sent packet with a transport-wide sequence number (the TWCC sender
    /// interceptor), as browsers do, so the server's TWCC receiver has something to answer.
    pub twcc: bool,
    /// Video lost on the way to and from the server ([`crate::wire_tap`]).
    pub losses: Losses,
    /// The video codecs offered.
    pub video: VideoCodecs,
    /// Publish the video as this many simulcast layers (2 or 3; 0: one stream, as today),
    /// offered with `a=simulcast:send` and RIDs `q`, `h`, `f`: synthetic VP8 whose payload size
    /// grows with the layer ([`SIMULCAST_PAYLOAD_SIZES`]) and whose last byte names it
    /// ([`simulcast_layer_of`]); a keyframe every [`SIMULCAST_KEYFRAME_EVERY`] frames and on a
    /// keyframe request for that layer. VP8 only, no RTX.
    pub simulcast_layers: usize,
}

impl ClientOptions {
    /// A client like the default one: no RTX, no transport-wide sequence numbers, no loss.
    pub fn new(payload_types: PayloadTypes) -> Self {
        Self {
            payload_types,
            rtx: false,
            twcc: false,
            losses: Losses::default(),
            video: VideoCodecs::Vp8,
            simulcast_layers: 0,
        }
    }
}

type Counts = Arc<Mutex<HashMap<(u64, MediaKind), u64>>>;
/// Per received track: the last sequence number and the largest forward jump seen.
type SeqGaps = Arc<Mutex<HashMap<(u64, MediaKind), (u16, u16)>>>;
type RemoteTracks = Arc<Mutex<HashMap<(u64, MediaKind), Arc<dyn TrackRemote>>>>;
/// The first packets received per track, kept to be decoded.
type Kept = Arc<Mutex<HashMap<(u64, MediaKind), Vec<rtp::Packet>>>>;
/// Per received track: the send stamps ([`stamp_of`]) of the packets received, in order.
type Stamps = Arc<Mutex<HashMap<(u64, MediaKind), Vec<u64>>>>;

/// Send stamps kept per received track (over 10 minutes of video).
const STAMPS_PER_TRACK: usize = 20_000;
/// The marker before a synthetic payload's send stamp.
const STAMP_MARK: &[u8; 4] = b"AZst";

fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// Now, as a send stamp: microseconds since this process's first stamp. Compare it with the
/// stamps of received packets to tell what was sent after a moment of the test (e.g. after the
/// room changed) from what was already on its way, however loaded the machine.
pub fn stamp_now() -> u64 {
    u64::try_from(epoch().elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The send stamp of a synthetic payload: its last 12 bytes are `AZst` and the moment the
/// publisher handed it to its track ([`stamp_now`]). `None` for any other payload (real media,
/// or what a server's anonymising pipeline made).
pub fn stamp_of(payload: &[u8]) -> Option<u64> {
    let tail = payload.len().checked_sub(12).map(|at| &payload[at..])?;
    (&tail[..4] == STAMP_MARK).then(|| u64::from_be_bytes(tail[4..].try_into().unwrap_or_default()))
}

/// `payload` with its send stamp, if it is one of the synthetic payloads (whose last bytes are
/// filler); real media is sent as it is.
fn stamped(payload: &bytes::Bytes) -> bytes::Bytes {
    let synthetic = [
        synthetic_opus_payload(),
        synthetic_vp8_payload(),
        synthetic_h264_payload(),
    ];
    if !synthetic.contains(payload) {
        return payload.clone();
    }
    let mut p = payload.to_vec();
    let at = p.len() - 12;
    p[at..at + 4].copy_from_slice(STAMP_MARK);
    p[at + 4..].copy_from_slice(&stamp_now().to_be_bytes());
    bytes::Bytes::from(p)
}

/// Packets kept per received track (400 s of audio; about 200 s of 640x480 video).
const KEPT_PER_TRACK: usize = 20_000;

/// The RIDs of the simulcast layers, lowest first.
pub const SIMULCAST_RIDS: [&str; 3] = ["q", "h", "f"];
/// The synthetic payload size of each simulcast layer, lowest first (≈ 51, 123 and 243 kbit/s
/// at 30 frames a second with the RTP header).
pub const SIMULCAST_PAYLOAD_SIZES: [usize; 3] = [200, 500, 1000];
/// A simulcast layer sends a keyframe every this many frames (≈ 0.5 s) unless asked sooner.
pub const SIMULCAST_KEYFRAME_EVERY: u64 = 15;
/// The last byte of a synthetic simulcast payload is this plus the layer's index.
const SIMULCAST_MARK: u8 = 0xB0;

/// A synthetic VP8 payload of simulcast layer `layer` (0: lowest): a keyframe or not, as the
/// payload header says, [`SIMULCAST_PAYLOAD_SIZES`] long, its last byte naming the layer.
pub fn synthetic_vp8_layer_payload(layer: usize, keyframe: bool) -> bytes::Bytes {
    let size = SIMULCAST_PAYLOAD_SIZES
        .get(layer)
        .copied()
        .unwrap_or(SIMULCAST_PAYLOAD_SIZES[0]);
    // Descriptor (start of partition 0), then the frame tag (P bit clear on a keyframe) and,
    // on a keyframe, the start code and a 320x240 size, as [`synthetic_vp8_payload`].
    let mut p = if keyframe {
        vec![
            0x10, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
        ]
    } else {
        vec![0x10, 0x51, 0x02, 0x00]
    };
    p.resize(size - 1, 0xA5);
    p.push(SIMULCAST_MARK + u8::try_from(layer).unwrap_or(0));
    bytes::Bytes::from(p)
}

/// The simulcast layer (0: lowest) a synthetic payload belongs to, if it is one.
pub fn simulcast_layer_of(payload: &[u8]) -> Option<usize> {
    let last = *payload.last()?;
    let layer = usize::from(last.checked_sub(SIMULCAST_MARK)?);
    (layer < SIMULCAST_RIDS.len() && payload.len() == SIMULCAST_PAYLOAD_SIZES[layer])
        .then_some(layer)
}

/// Per simulcast layer SSRC: keyframe requests received for it, and whether one is owed.
type LayerRequests = Arc<Mutex<HashMap<u32, (u64, bool)>>>;

/// Real media to publish instead of the synthetic packets, looped: one Opus payload per 20 ms,
/// and one VP8 frame (its RTP payloads, in order) per 33 ms.
#[derive(Debug, Clone, Default)]
pub struct RecordedMedia {
    pub audio: Vec<bytes::Bytes>,
    pub video: Vec<Vec<bytes::Bytes>>,
    /// Simulated network loss: one RTP packet in this many is not sent (its sequence number
    /// is skipped, as a lost packet's would be).
    pub lose_one_in: Option<u16>,
}

impl RecordedMedia {
    /// The synthetic packets ([`synthetic_opus_payload`], [`synthetic_vp8_payload`]).
    pub fn synthetic() -> Self {
        Self {
            audio: vec![synthetic_opus_payload()],
            video: vec![vec![synthetic_vp8_payload()]],
            lose_one_in: None,
        }
    }
}

/// A participant with a real peer connection.
pub struct RtcClient {
    /// The participant id the server assigned.
    pub participant: u64,
    /// The SDP of the server's answer to this client's offer.
    pub server_answer: String,
    pc: Arc<dyn PeerConnection>,
    counts: Counts,
    gaps: SeqGaps,
    remote: RemoteTracks,
    kept: Kept,
    stamps: Stamps,
    keyframe_requests: Arc<AtomicU64>,
    /// Simulcast layers published (SSRC, lowest first) and keyframe requests per layer.
    layer_ssrcs: Vec<u32>,
    layer_requests: LayerRequests,
    errors: Arc<Mutex<Vec<Value>>>,
    /// The server's `track_unsupported` notices.
    unsupported: Arc<Mutex<Vec<Value>>>,
    /// The server's `recording_failed` notices (the bench only).
    recording_failed: Arc<Mutex<Vec<Value>>>,
    /// The recording state as the server told it: at the join, then each `recording` event.
    recording: Arc<Mutex<Vec<bool>>>,
    wire: WireTapHandle,
    relay: Option<Arc<LossyRelay>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RtcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtcClient")
            .field("participant", &self.participant)
            .finish_non_exhaustive()
    }
}

struct ClientHandler {
    counts: Counts,
    gaps: SeqGaps,
    remote: RemoteTracks,
    kept: Kept,
    stamps: Stamps,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ClientHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathered
            .send_replace(state == RTCIceGatheringState::Complete);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = match track.kind().await {
            RtpCodecKind::Audio => MediaKind::Audio,
            RtpCodecKind::Video => MediaKind::Video,
            _ => return,
        };
        // The server names each forwarded stream after its publisher: "p7".
        let stream = track.stream_id().await;
        let Some(publisher) = stream.strip_prefix('p').and_then(|n| n.parse::<u64>().ok()) else {
            return;
        };
        self.remote
            .lock()
            .expect("not poisoned")
            .insert((publisher, kind), track.clone());
        let counts = self.counts.clone();
        let gaps = self.gaps.clone();
        let kept = self.kept.clone();
        let stamps = self.stamps.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        let seq = packet.header.sequence_number;
                        gaps.lock()
                            .expect("not poisoned")
                            .entry((publisher, kind))
                            .and_modify(|(last, max_jump)| {
                                let jump = seq.wrapping_sub(*last);
                                if jump < 0x8000 {
                                    *max_jump = (*max_jump).max(jump);
                                    *last = seq;
                                }
                            })
                            .or_insert((seq, 0));
                        {
                            let mut kept = kept.lock().expect("not poisoned");
                            let these = kept.entry((publisher, kind)).or_default();
                            if these.len() < KEPT_PER_TRACK {
                                these.push(packet.clone());
                            }
                        }
                        if let Some(stamp) = stamp_of(&packet.payload) {
                            let mut stamps = stamps.lock().expect("not poisoned");
                            let these = stamps.entry((publisher, kind)).or_default();
                            if these.len() < STAMPS_PER_TRACK {
                                these.push(stamp);
                            }
                        }
                        *counts
                            .lock()
                            .expect("not poisoned")
                            .entry((publisher, kind))
                            .or_default() += 1;
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

/// The peer connection's configuration: by default host candidates only; relayed, the TURN
/// servers of `joined` with the relay-only policy.
fn rtc_configuration(
    joined: &Value,
    relay_only: bool,
) -> anyhow::Result<rtc::peer_connection::configuration::RTCConfiguration> {
    let mut builder = RTCConfigurationBuilder::new();
    if relay_only {
        let servers: Vec<rtc::peer_connection::transport::RTCIceServer> = joined["ice_servers"]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| anyhow!("joined names no TURN server: {joined}"))?
            .iter()
            .map(|s| rtc::peer_connection::transport::RTCIceServer {
                urls: s["urls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect(),
                username: s["username"].as_str().unwrap_or_default().to_string(),
                credential: s["credential"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        builder = builder.with_ice_servers(servers).with_ice_transport_policy(
            rtc::peer_connection::configuration::RTCIceTransportPolicy::Relay,
        );
    }
    Ok(builder.build())
}

fn codec(
    mime: &str,
    clock_rate: u32,
    channels: u16,
    fmtp: &str,
    fb: &[(&str, &str)],
) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: mime.to_string(),
        clock_rate,
        channels,
        sdp_fmtp_line: fmtp.to_string(),
        rtcp_feedback: fb
            .iter()
            .map(|(t, p)| RTCPFeedback {
                typ: (*t).to_string(),
                parameter: (*p).to_string(),
            })
            .collect(),
    }
}

/// Opus as the test clients register it.
pub fn opus() -> RTCRtpCodec {
    codec("audio/opus", 48_000, 2, "minptime=10;useinbandfec=1", &[])
}

/// VP8 as the test clients register it (NACK, PLI, FIR).
pub fn vp8() -> RTCRtpCodec {
    codec(
        "video/VP8",
        90_000,
        0,
        "",
        &[("nack", ""), ("nack", "pli"), ("ccm", "fir")],
    )
}

/// H.264 as the test clients register it (constrained baseline, packetization mode 1; NACK,
/// PLI, FIR).
pub fn h264() -> RTCRtpCodec {
    codec(
        "video/H264",
        90_000,
        0,
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        &[("nack", ""), ("nack", "pli"), ("ccm", "fir")],
    )
}

/// An H.264 payload: one IDR slice NAL unit (type 5) + filler. Not decodable, but it looks
/// like a keyframe to anything that peeks.
pub fn synthetic_h264_payload() -> bytes::Bytes {
    let mut p = vec![0x65, 0x88, 0x84, 0x00];
    p.resize(200, 0xA5);
    bytes::Bytes::from(p)
}

/// The synthetic Opus payload: a 60-byte packet of 0xFC.
pub fn synthetic_opus_payload() -> bytes::Bytes {
    bytes::Bytes::from(vec![0xFC; 60])
}

/// A VP8 payload: descriptor (start of partition 0) + a key-frame header (frame tag, start
/// code, 320x240) + filler. Not decodable, but it looks like a keyframe to anything that peeks.
pub fn synthetic_vp8_payload() -> bytes::Bytes {
    let mut p = vec![
        0x10, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
    ];
    p.resize(200, 0xA5);
    bytes::Bytes::from(p)
}

impl RtcClient {
    /// Joins `hearing` as `role` through the real signaling and starts publishing.
    ///
    /// # Errors
    /// When any step of signaling or ICE/DTLS set-up fails within a generous time.
    pub async fn join(
        server: &SfuServer,
        hearing: &str,
        role: &str,
        payload_types: PayloadTypes,
    ) -> anyhow::Result<Self> {
        Self::join_as_party(server, hearing, role, None, payload_types).await
    }

    /// Joins as a named party (a reconnect with the same party is the same participant).
    ///
    /// # Errors
    /// As [`Self::join`].
    pub async fn join_as_party(
        server: &SfuServer,
        hearing: &str,
        role: &str,
        party: Option<&str>,
        payload_types: PayloadTypes,
    ) -> anyhow::Result<Self> {
        let query = match party {
            Some(p) => format!("role={role}&party={p}"),
            None => format!("role={role}"),
        };
        let socket = SignalSocket::connect_with_query(server, hearing, &query).await?;
        Self::join_on(socket, payload_types).await
    }

    /// Joins over a signaling socket that is already open (e.g. one the application admitted
    /// with a cookie: [`crate::TestApp::signal`]).
    ///
    /// # Errors
    /// When joining or the WebRTC set-up fails.
    pub async fn join_on(
        socket: SignalSocket,
        payload_types: PayloadTypes,
    ) -> anyhow::Result<Self> {
        Self::join_on_with(socket, payload_types, None).await
    }

    /// Joins as a named party and publishes `media` instead of synthetic packets.
    ///
    /// # Errors
    /// As [`Self::join`].
    pub async fn join_with_media(
        server: &SfuServer,
        hearing: &str,
        role: &str,
        party: &str,
        media: RecordedMedia,
    ) -> anyhow::Result<Self> {
        let query = format!("role={role}&party={party}");
        let socket = SignalSocket::connect_with_query(server, hearing, &query).await?;
        Self::join_on_with(socket, PayloadTypes::Chrome, Some(media)).await
    }

    /// Joins over an open signaling socket, publishing `media` if given (else synthetic).
    ///
    /// # Errors
    /// When joining or the WebRTC set-up fails.
    pub async fn join_on_with(
        socket: SignalSocket,
        payload_types: PayloadTypes,
        recorded: Option<RecordedMedia>,
    ) -> anyhow::Result<Self> {
        Self::join_inner(socket, ClientOptions::new(payload_types), recorded, false).await
    }

    /// Joins `hearing` as `role` with `options` (RTX, TWCC, a lossy link) and starts
    /// publishing synthetic media.
    ///
    /// # Errors
    /// As [`Self::join`].
    pub async fn join_with_options(
        server: &SfuServer,
        hearing: &str,
        role: &str,
        options: ClientOptions,
    ) -> anyhow::Result<Self> {
        let socket =
            SignalSocket::connect_with_query(server, hearing, &format!("role={role}")).await?;
        Self::join_inner(socket, options, None, false).await
    }

    /// Joins as a participant behind a firewall that lets nothing but TURN through: only the
    /// relay candidates of the TURN servers the server hands out in `joined`.
    ///
    /// # Errors
    /// As [`Self::join`], or when `joined` names no TURN server.
    pub async fn join_relayed(
        server: &SfuServer,
        hearing: &str,
        role: &str,
    ) -> anyhow::Result<Self> {
        let socket =
            SignalSocket::connect_with_query(server, hearing, &format!("role={role}")).await?;
        Self::join_inner(socket, ClientOptions::new(PayloadTypes::Chrome), None, true).await
    }

    async fn join_inner(
        mut socket: SignalSocket,
        options: ClientOptions,
        recorded: Option<RecordedMedia>,
        relay_only: bool,
    ) -> anyhow::Result<Self> {
        let payload_types = options.payload_types;
        socket.send_json(&json!({"v": 1, "type": "join"})).await?;
        let joined = socket.recv_json(Duration::from_secs(20)).await?;
        if joined["type"] != "joined" {
            bail!("expected joined, got {joined}");
        }
        let participant = joined["participant"]
            .as_u64()
            .ok_or_else(|| anyhow!("no participant id in {joined}"))?;
        let on = joined["recording"]
            .as_bool()
            .ok_or_else(|| anyhow!("no recording state in {joined}"))?;
        let recording = Arc::new(Mutex::new(vec![on]));
        let note_recording = |msg: &Value, seen: &Mutex<Vec<bool>>| {
            if msg["type"] == "recording"
                && let Some(on) = msg["on"].as_bool()
            {
                seen.lock().expect("not poisoned").push(on);
            }
        };

        let counts: Counts = Arc::default();
        let gaps: SeqGaps = Arc::default();
        let remote: RemoteTracks = Arc::default();
        let kept: Kept = Arc::default();
        let stamps: Stamps = Arc::default();
        let (gathered_tx, mut gathered) = watch::channel(false);
        let mut media = MediaEngine::default();
        media.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus(),
                payload_type: payload_types.opus(),
            },
            RtpCodecKind::Audio,
        )?;
        let mut video_codecs = Vec::new();
        if options.video.offers_vp8() {
            video_codecs.push((vp8(), payload_types.vp8(), payload_types.rtx()));
        }
        if options.video.offers_h264() {
            let h = (h264(), payload_types.h264(), payload_types.h264_rtx());
            if options.video == VideoCodecs::H264AndVp8 {
                video_codecs.insert(0, h);
            } else {
                video_codecs.push(h);
            }
        }
        // Every video codec registered, in order of preference (RTX after its codec).
        let mut video_preferences = Vec::new();
        for (codec_params, pt, rtx) in &video_codecs {
            video_preferences.push(RTCRtpCodecParameters {
                rtp_codec: codec_params.clone(),
                payload_type: *pt,
            });
            if options.rtx {
                video_preferences.push(RTCRtpCodecParameters {
                    rtp_codec: codec("video/rtx", 90_000, 0, &format!("apt={pt}"), &[]),
                    payload_type: *rtx,
                });
            }
        }
        for params in &video_preferences {
            media.register_codec(params.clone(), RtpCodecKind::Video)?;
        }
        // The published video: the first codec offered.
        let (video_codec, published_pt, published_rtx) = video_codecs
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("no video codec offered"))?;
        let rtx_pt = options.rtx.then_some(published_rtx);
        let (tap, wire) = WireTap::new(options.losses, published_pt, rtx_pt);
        if options.simulcast_layers > 0 {
            webrtc::peer_connection::configure_simulcast_extension_headers(&mut media)?;
        }
        let mut registry = register_default_interceptors(Registry::new(), &mut media)?
            .with(Slot::from(14_000), KeyframeRequestMarker::default())
            .with(Slot::from(WIRE_TAP_SLOT), tap)
            .with(Slot::from(RTX_UNWRAPPER_SLOT), RtxUnwrapper::default());
        if options.twcc {
            registry = registry.with(Slot::TwccSender, TwccSenderBuilder::new().build());
        }
        let settings =
            SettingEngineBuilder::new().with_multicast_dns_mode(MulticastDnsMode::Disabled);
        let pc: Arc<dyn PeerConnection> = Arc::new(
            Box::pin(
                PeerConnectionBuilder::new()
                    .with_configuration(rtc_configuration(&joined, relay_only)?)
                    .with_media_engine(media)
                    .with_setting_engine(settings.build())
                    .with_interceptor_registry(registry)
                    .with_handler(Arc::new(ClientHandler {
                        counts: counts.clone(),
                        gaps: gaps.clone(),
                        remote: remote.clone(),
                        kept: kept.clone(),
                        stamps: stamps.clone(),
                        gathered: gathered_tx,
                    }))
                    .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
                    .build(),
            )
            .await?,
        );

        let audio_ssrc = rand::random::<u32>();
        let video_ssrc = rand::random::<u32>();
        let video_rtx = options.rtx.then(|| RTCRtpRtxParameters {
            ssrc: rand::random::<u32>(),
        });
        let local = |kind, codec, ssrc, rtx, name: &str| {
            Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                format!("client-{participant}"),
                format!("client-{participant}-{name}"),
                name.to_string(),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        rtx,
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            )))
        };
        let audio = local(RtpCodecKind::Audio, opus(), audio_ssrc, None, "audio");
        let video_mime = video_codec.mime_type.clone();
        let layers = options.simulcast_layers.min(SIMULCAST_RIDS.len());
        let layer_ssrcs: Vec<u32> = (0..layers).map(|_| rand::random::<u32>()).collect();
        let video = if layers == 0 {
            local(
                RtpCodecKind::Video,
                video_codec,
                video_ssrc,
                video_rtx,
                "video",
            )
        } else {
            // One track, one encoding per layer: the offer says `a=simulcast:send q;h;f`.
            Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                format!("client-{participant}"),
                format!("client-{participant}-video"),
                "video".to_string(),
                RtpCodecKind::Video,
                layer_ssrcs
                    .iter()
                    .zip(SIMULCAST_RIDS)
                    .map(|(&ssrc, rid)| RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters {
                            rid: rid.to_string(),
                            ssrc: Some(ssrc),
                            ..Default::default()
                        },
                        codec: video_codec.clone(),
                        ..Default::default()
                    })
                    .collect(),
            )))
        };
        let audio_sender = pc.add_track(audio.clone() as Arc<dyn TrackLocal>).await?;
        let video_sender = pc.add_track(video.clone() as Arc<dyn TrackLocal>).await?;
        if video_codecs.len() > 1 {
            // A track's transceiver offers only the track's codec; a browser offers every
            // codec it has. Offer them all, as a browser would.
            let mut found = false;
            for transceiver in pc.get_transceivers().await {
                if let Some(sender) = transceiver.sender().await?
                    && sender.id() == video_sender.id()
                {
                    transceiver
                        .set_codec_preferences(video_preferences.clone())
                        .await?;
                    found = true;
                }
            }
            if !found {
                bail!("no video transceiver");
            }
        }

        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        let _ = tokio::time::timeout(Duration::from_secs(5), gathered.wait_for(|g| *g)).await;
        let sdp = pc
            .local_description()
            .await
            .ok_or_else(|| anyhow!("no local offer"))?
            .sdp;
        socket
            .send_json(&json!({"v": 1, "type": "offer", "sdp": sdp}))
            .await?;
        let answer = loop {
            let msg = socket.recv_json(Duration::from_secs(20)).await?;
            match msg["type"].as_str() {
                Some("answer") => break msg,
                Some("error") => bail!("the server refused the offer: {msg}"),
                _ => note_recording(&msg, &recording),
            }
        };
        let relay = match options.losses.received_video_in_network_one_in {
            Some(n) => Some(Arc::new(LossyRelay::start(payload_types.vp8(), n).await?)),
            None => None,
        };
        let through_relay = {
            let relay = relay.clone();
            move |sdp: String| match &relay {
                Some(r) => r.rewrite(&sdp),
                None => sdp,
            }
        };
        let answer_sdp = answer["sdp"].as_str().unwrap_or_default().to_string();
        pc.set_remote_description(RTCSessionDescription::answer(through_relay(
            answer_sdp.clone(),
        ))?)
        .await?;

        let negotiated_pt = |params: webrtc::error::Result<
            rtc::rtp_transceiver::rtp_sender::RTCRtpSendParameters,
        >,
                             mime: &str| {
            params.ok().and_then(|p| {
                p.rtp_parameters
                    .codecs
                    .iter()
                    .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
                    .map(|c| c.payload_type)
            })
        };
        let audio_pt = negotiated_pt(audio_sender.get_parameters().await, "audio/opus")
            .ok_or_else(|| anyhow!("opus not negotiated"))?;
        let video_pt = negotiated_pt(video_sender.get_parameters().await, &video_mime)
            .ok_or_else(|| anyhow!("{video_mime} not negotiated"))?;

        let mut tasks = Vec::new();
        // Publish: Opus every 20 ms, VP8 every 33 ms.
        let media = recorded.unwrap_or_else(|| {
            let mut media = RecordedMedia::synthetic();
            if video_mime.eq_ignore_ascii_case("video/H264") {
                media.video = vec![vec![synthetic_h264_payload()]];
            }
            media
        });
        let lose = media.lose_one_in;
        let audio_frames = media.audio.into_iter().map(|p| vec![p]).collect();
        let video_frames = media.video;
        tasks.push(tokio::spawn(publish(
            audio,
            audio_ssrc,
            audio_pt,
            960,
            20,
            audio_frames,
            lose,
        )));
        let layer_requests: LayerRequests = Arc::new(Mutex::new(
            layer_ssrcs.iter().map(|&s| (s, (0, false))).collect(),
        ));
        if layers == 0 {
            tasks.push(tokio::spawn(publish(
                video.clone(),
                video_ssrc,
                video_pt,
                3000,
                33,
                video_frames,
                lose,
            )));
        } else {
            // The MID and RID header extensions, with the ids this connection negotiated: the
            // receiver learns each layer's SSRC from its first packets' RID.
            let params = video_sender.get_parameters().await?;
            let ext_id = |uri: &str| {
                params
                    .rtp_parameters
                    .header_extensions
                    .iter()
                    .find(|e| e.uri == uri)
                    .and_then(|e| u8::try_from(e.id).ok())
            };
            let mid_id = ext_id("urn:ietf:params:rtp-hdrext:sdes:mid")
                .ok_or_else(|| anyhow!("the MID header extension was not negotiated"))?;
            let rid_id = ext_id("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id")
                .ok_or_else(|| anyhow!("the RID header extension was not negotiated"))?;
            let mut mid = None;
            for transceiver in pc.get_transceivers().await {
                if let Some(sender) = transceiver.sender().await?
                    && sender.id() == video_sender.id()
                {
                    mid = transceiver.mid().await?;
                }
            }
            let mid = mid.ok_or_else(|| anyhow!("the video transceiver has no MID"))?;
            for (layer, &ssrc) in layer_ssrcs.iter().enumerate() {
                tasks.push(tokio::spawn(publish_layer(
                    video.clone(),
                    LayerWire {
                        layer,
                        ssrc,
                        payload_type: video_pt,
                        mid: (mid_id, mid.clone()),
                        rid: (rid_id, SIMULCAST_RIDS[layer]),
                    },
                    layer_requests.clone(),
                )));
            }
        }
        // Count the keyframe requests the SFU sends for our video (and per simulcast layer).
        let keyframe_requests = Arc::new(AtomicU64::new(0));
        let kr = keyframe_requests.clone();
        let lr = layer_requests.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(event) = video.poll().await {
                if let TrackLocalEvent::OnRtcpPacket(packets) = event {
                    let n = packets
                        .iter()
                        .filter(|p| assize_server::sfu::peer::is_keyframe_request(p.as_ref()))
                        .count();
                    kr.fetch_add(n as u64, Ordering::Relaxed);
                    let mut lr = lr.lock().expect("not poisoned");
                    for p in &packets {
                        if let Some(pli) = p.as_any().downcast_ref::<
                            rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication,
                        >() && let Some((count, owed)) = lr.get_mut(&pli.media_ssrc)
                        {
                            *count += 1;
                            *owed = true;
                        }
                    }
                }
            }
        }));
        // Signaling: answer the server's renegotiation offers; keep errors for the test.
        let errors: Arc<Mutex<Vec<Value>>> = Arc::default();
        let errs = errors.clone();
        let unsupported: Arc<Mutex<Vec<Value>>> = Arc::default();
        let unsup = unsupported.clone();
        let recording_failed: Arc<Mutex<Vec<Value>>> = Arc::default();
        let failed = recording_failed.clone();
        let seen = recording.clone();
        let pc2 = pc.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok(msg) = socket.recv_json(Duration::from_secs(3600)).await else {
                    break;
                };
                match msg["type"].as_str() {
                    Some("offer") => {
                        let sdp =
                            through_relay(msg["sdp"].as_str().unwrap_or_default().to_string());
                        let result: anyhow::Result<String> = async {
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
                        match result {
                            Ok(sdp) => {
                                if socket
                                    .send_json(&json!({"v": 1, "type": "answer", "sdp": sdp}))
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                            }
                            Err(e) => errs
                                .lock()
                                .expect("not poisoned")
                                .push(json!({"client_error": e.to_string()})),
                        }
                    }
                    Some("error") => errs.lock().expect("not poisoned").push(msg),
                    Some("track_unsupported") => unsup.lock().expect("not poisoned").push(msg),
                    Some("recording_failed") => failed.lock().expect("not poisoned").push(msg),
                    _ => note_recording(&msg, &seen),
                }
            }
        }));
        Ok(Self {
            participant,
            server_answer: answer_sdp,
            pc,
            counts,
            gaps,
            remote,
            kept,
            stamps,
            keyframe_requests,
            layer_ssrcs,
            layer_requests,
            errors,
            unsupported,
            recording_failed,
            recording,
            wire,
            relay,
            tasks,
        })
    }

    /// The recording states the server told this participant, in order: the state at the join
    /// (from `joined`), then one per `recording` event.
    pub fn recording_notices(&self) -> Vec<bool> {
        self.recording.lock().expect("not poisoned").clone()
    }

    /// The first packets received from `publisher`'s `kind` track (at most
    /// [`KEPT_PER_TRACK`]), in arrival order.
    pub fn packets(&self, publisher: u64, kind: MediaKind) -> Vec<rtp::Packet> {
        self.kept
            .lock()
            .expect("not poisoned")
            .get(&(publisher, kind))
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets the packets kept so far from `publisher`'s `kind` track, so that what arrives
    /// from now on is kept (up to the limit per track) however long the test has run.
    pub fn forget_packets(&self, publisher: u64, kind: MediaKind) {
        self.kept
            .lock()
            .expect("not poisoned")
            .remove(&(publisher, kind));
    }

    /// This client's current local and remote session descriptions (SDP).
    pub async fn descriptions(&self) -> (String, String) {
        let local = self.pc.local_description().await.map(|d| d.sdp);
        let remote = self.pc.remote_description().await.map(|d| d.sdp);
        (local.unwrap_or_default(), remote.unwrap_or_default())
    }

    /// Reports a receiver estimate (REMB) of `bits_per_second` for `publisher`'s video as
    /// received here, as a browser's congestion control would.
    ///
    /// # Errors
    /// When no video from `publisher` has arrived yet, or the connection is gone.
    pub async fn send_remb(&self, publisher: u64, bits_per_second: f32) -> anyhow::Result<()> {
        let track = self.remote_video(publisher)?;
        let ssrcs = track.ssrcs().await;
        track
            .write_rtcp(vec![Box::new(
                rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate {
                    sender_ssrc: 0,
                    bitrate: bits_per_second,
                    ssrcs,
                },
            )])
            .await?;
        Ok(())
    }

    fn remote_video(&self, publisher: u64) -> anyhow::Result<Arc<dyn TrackRemote>> {
        self.remote
            .lock()
            .expect("not poisoned")
            .get(&(publisher, MediaKind::Video))
            .cloned()
            .ok_or_else(|| anyhow!("no video from p{publisher} yet"))
    }

    /// Packets received so far from `publisher`'s `kind` track.
    pub fn received(&self, publisher: u64, kind: MediaKind) -> u64 {
        self.counts
            .lock()
            .expect("not poisoned")
            .get(&(publisher, kind))
            .copied()
            .unwrap_or(0)
    }

    /// Synthetic packets received so far from `publisher`'s `kind` track that its publisher
    /// sent after `after` ([`stamp_now`]): zero, however loaded the machine, for a track the
    /// room stopped forwarding to this client at `after` (packets already on their way then
    /// are sent before it). Real media carries no stamp and is not counted.
    pub fn received_sent_after(&self, publisher: u64, kind: MediaKind, after: u64) -> u64 {
        self.stamps
            .lock()
            .expect("not poisoned")
            .get(&(publisher, kind))
            .map_or(0, |s| s.iter().filter(|&&t| t > after).count() as u64)
    }

    /// The largest forward jump in sequence numbers seen on `publisher`'s `kind` track (1 means
    /// no packet was ever missing).
    pub fn max_sequence_jump(&self, publisher: u64, kind: MediaKind) -> u16 {
        self.gaps
            .lock()
            .expect("not poisoned")
            .get(&(publisher, kind))
            .map_or(0, |(_, jump)| *jump)
    }

    /// Sends a picture loss indication (PLI) for `publisher`'s video as received here, as a
    /// decoder that lost a frame would.
    ///
    /// # Errors
    /// When no video from `publisher` has arrived yet, or the connection is gone.
    pub async fn send_pli(&self, publisher: u64) -> anyhow::Result<()> {
        let track = self.remote_video(publisher)?;
        let media_ssrc = track
            .ssrcs()
            .await
            .first()
            .copied()
            .ok_or_else(|| anyhow!("the track has no SSRC"))?;
        track
            .write_rtcp(vec![Box::new(
                rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc,
                },
            )])
            .await?;
        Ok(())
    }

    /// Sends a generic NACK (RFC 4585) for `publisher`'s video as received here, asking for
    /// `seqs` again (whether or not they were lost), as a broken or hostile client might.
    ///
    /// # Errors
    /// When no video from `publisher` has arrived yet, or the connection is gone.
    pub async fn send_nack(&self, publisher: u64, seqs: &[u16]) -> anyhow::Result<()> {
        use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
        let track = self.remote_video(publisher)?;
        let media_ssrc = track
            .ssrcs()
            .await
            .first()
            .copied()
            .ok_or_else(|| anyhow!("the track has no SSRC"))?;
        let mut nacks: Vec<NackPair> = Vec::new();
        for &seq in seqs {
            match nacks.last_mut() {
                Some(last) if (1..=16).contains(&seq.wrapping_sub(last.packet_id)) => {
                    last.lost_packets |= 1 << (seq.wrapping_sub(last.packet_id) - 1);
                }
                _ => nacks.push(NackPair::new(seq)),
            }
        }
        track
            .write_rtcp(vec![Box::new(TransportLayerNack {
                sender_ssrc: 0,
                media_ssrc,
                nacks,
            })])
            .await?;
        Ok(())
    }

    /// Keyframe requests (PLI/FIR) the SFU sent for this client's video so far.
    pub fn keyframe_requests(&self) -> u64 {
        self.keyframe_requests.load(Ordering::Relaxed)
    }

    /// The SSRCs of this client's simulcast layers, lowest first (empty without simulcast).
    pub fn simulcast_ssrcs(&self) -> Vec<u32> {
        self.layer_ssrcs.clone()
    }

    /// PLIs the SFU sent for simulcast layer `layer` (0: lowest) of this client's video.
    pub fn layer_keyframe_requests(&self, layer: usize) -> u64 {
        let Some(ssrc) = self.layer_ssrcs.get(layer) else {
            return 0;
        };
        self.layer_requests
            .lock()
            .expect("not poisoned")
            .get(ssrc)
            .map_or(0, |(n, _)| *n)
    }

    /// What crossed this client's wire so far: feedback from the server, losses, repairs.
    pub fn wire(&self) -> WireCounters {
        self.wire.counters()
    }

    /// What the lossy relay in front of this client lost and saw again (if it has one:
    /// [`Losses::received_video_in_network_one_in`]).
    pub fn relay(&self) -> Option<RelayCounters> {
        self.relay.as_ref().map(|r| r.counters())
    }

    /// `error` messages the server sent (and client-side renegotiation failures).
    pub fn errors(&self) -> Vec<Value> {
        self.errors.lock().expect("not poisoned").clone()
    }

    /// The server's `track_unsupported` notices so far (a track in a codec this client did
    /// not negotiate).
    pub fn unsupported_tracks(&self) -> Vec<Value> {
        self.unsupported.lock().expect("not poisoned").clone()
    }

    /// The server's `recording_failed` notices so far (sent to the bench when the recorder
    /// could not write).
    pub fn recording_failures(&self) -> Vec<Value> {
        self.recording_failed.lock().expect("not poisoned").clone()
    }

    /// Leaves: stops publishing, closes the socket and the peer connection.
    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.pc.close().await;
    }
}

async fn publish(
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
    ts_step: u32,
    every_ms: u64,
    frames: Vec<Vec<bytes::Bytes>>,
    lose_one_in: Option<u16>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(every_ms));
    let mut seq: u16 = rand::random();
    let mut ts: u32 = rand::random();
    let mut sent = 0u64;
    for frame in frames.iter().cycle() {
        tick.tick().await;
        for (i, payload) in frame.iter().enumerate() {
            sent += 1;
            if lose_one_in.is_some_and(|n| n > 0 && sent.is_multiple_of(u64::from(n))) {
                seq = seq.wrapping_add(1);
                continue;
            }
            let packet = rtp::Packet {
                header: rtp::Header {
                    version: 2,
                    // The last packet of a frame.
                    marker: i + 1 == frame.len(),
                    payload_type,
                    sequence_number: seq,
                    timestamp: ts,
                    ssrc,
                    ..Default::default()
                },
                payload: stamped(payload),
            };
            if track.write_rtp(packet).await.is_err() {
                // Not bound yet, or closed: keep ticking; close aborts this task.
            }
            seq = seq.wrapping_add(1);
        }
        ts = ts.wrapping_add(ts_step);
    }
}

/// How one simulcast layer goes on the wire.
struct LayerWire {
    layer: usize,
    ssrc: u32,
    payload_type: u8,
    /// The MID header extension's id and the video transceiver's MID.
    mid: (u8, String),
    /// The RID header extension's id and the layer's RID.
    rid: (u8, &'static str),
}

/// Publishes one simulcast layer: a synthetic VP8 frame (one packet) every 33 ms, a keyframe
/// every [`SIMULCAST_KEYFRAME_EVERY`] frames and right after a keyframe request for it.
async fn publish_layer(track: Arc<TrackLocalStaticRTP>, wire: LayerWire, requests: LayerRequests) {
    let mut tick = tokio::time::interval(Duration::from_millis(33));
    let mut seq: u16 = rand::random();
    let mut ts: u32 = rand::random();
    for frame in 0u64.. {
        tick.tick().await;
        let asked = requests
            .lock()
            .expect("not poisoned")
            .get_mut(&wire.ssrc)
            .is_some_and(|(_, owed)| std::mem::take(owed));
        let keyframe = asked || frame.is_multiple_of(SIMULCAST_KEYFRAME_EVERY);
        let mut header = rtp::Header {
            version: 2,
            marker: true,
            payload_type: wire.payload_type,
            sequence_number: seq,
            timestamp: ts,
            ssrc: wire.ssrc,
            ..Default::default()
        };
        let mid = bytes::Bytes::from(wire.mid.1.clone().into_bytes());
        let rid = bytes::Bytes::from_static(wire.rid.1.as_bytes());
        if header.set_extension(wire.mid.0, mid).is_err()
            || header.set_extension(wire.rid.0, rid).is_err()
        {
            return;
        }
        let packet = rtp::Packet {
            header,
            payload: synthetic_vp8_layer_payload(wire.layer, keyframe),
        };
        // Not bound yet, or closed: keep ticking; close aborts this task.
        let _ = track.write_rtp(packet).await;
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(3000);
    }
}

/// Waits until `done` holds, checking every 100 ms, for at most `limit`. Returns whether it did.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_payloads_carry_a_send_stamp_and_real_media_does_not() {
        let before = stamp_now();
        for synthetic in [
            synthetic_opus_payload(),
            synthetic_vp8_payload(),
            synthetic_h264_payload(),
        ] {
            let sent = stamped(&synthetic);
            assert_eq!(sent.len(), synthetic.len());
            assert_eq!(sent[..8], synthetic[..8], "the codec's header is kept");
            assert!(stamp_of(&sent).is_some_and(|t| t >= before && t <= stamp_now()));
            assert_eq!(stamp_of(&synthetic), None);
        }
        let real = bytes::Bytes::from_static(&[0x78, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        assert_eq!(stamped(&real), real);
        for short in [&b""[..], b"AZst", b"AZst1234567"] {
            assert_eq!(stamp_of(short), None);
        }
    }
}
