//! WebSocket signaling for hearings: `GET /api/v1/hearings/{id}/signal` (upgrade).
//!
//! One socket per participant. Messages are JSON text frames `{"v": 1, "type": …}` (see
//! `docs/protocol.md`, "Hearing signaling"). Input is untrusted: every message is bounded in
//! size ([`SOFT_MESSAGE_LIMIT`]) and rate ([`MESSAGES_PER_SECOND`]); a bad message is answered
//! with an `error` message and the socket stays open. Nothing one client sends can affect
//! another participant's connection.
//!
//! ## Who may join
//! The endpoint does not decide that. It asks an [`Admission`] implementation, given the
//! upgrade request's head, for a [`JoinTicket`] (hearing, role). The HTTP layer plugs the real
//! policy in there (session or token → account → is this account a party to this hearing, in
//! which role). [`UnauthenticatedRoleFromQuery`] is a **temporary, insecure** stand-in for tests
//! and development only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use webrtc::peer_connection::RTCIceCandidateInit;

use super::Sfu;
use super::hearing::Hearing;
use super::peer::{LocalSignal, RemoteSignal, WebRtcConnection};
use super::room::{HearingRole, MediaKind, ParticipantId};
use crate::http::ApiError;

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u64 = 1;
/// Largest message answered normally; larger ones get an `error` (`message_too_large`).
pub const SOFT_MESSAGE_LIMIT: usize = 64 * 1024;
/// Largest frame the socket accepts at all; beyond it the socket is closed.
pub const HARD_MESSAGE_LIMIT: usize = 256 * 1024;
/// Sustained message rate allowed per socket (token bucket of the same depth).
pub const MESSAGES_PER_SECOND: f64 = 50.0;
/// Rejected messages after which the socket is closed (policy violation).
const MAX_REJECTED: u32 = 500;
/// Longest hearing id accepted in the path.
const MAX_HEARING_ID: usize = 64;

/// Proof that the HTTP layer authorised one participant to join one hearing in one role.
///
/// Build it only in an [`Admission`] implementation, after the policy said yes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinTicket {
    hearing: String,
    party: String,
    role: HearingRole,
    protection: Option<crate::sfu::room::Protection>,
}

impl JoinTicket {
    /// A ticket for `party` to join `hearing` as `role`. **Call only after the policy
    /// authorised it.**
    ///
    /// `party` names the person stably within the hearing (an account id, a summons number):
    /// a reconnect with the same party gets the same participant, with the screens and locks
    /// the court set still in force. Never derive it from anything the client chooses.
    pub fn authorised(
        hearing: impl Into<String>,
        party: impl Into<String>,
        role: HearingRole,
    ) -> Self {
        Self {
            hearing: hearing.into(),
            party: party.into(),
            role,
            protection: None,
        }
    }

    /// The protective order the court made for this party, applied in the room the moment they
    /// join (before any of their media can flow).
    #[must_use]
    pub fn with_protection(mut self, protection: Option<crate::sfu::room::Protection>) -> Self {
        self.protection = protection;
        self
    }

    /// The protective order, if any.
    pub fn protection(&self) -> Option<&crate::sfu::room::Protection> {
        self.protection.as_ref()
    }

    /// The party.
    pub fn party(&self) -> &str {
        &self.party
    }

    /// The hearing.
    pub fn hearing(&self) -> &str {
        &self.hearing
    }

    /// The role.
    pub fn role(&self) -> HearingRole {
        self.role
    }
}

/// Decides who joins which hearing, from the upgrade request's head.
#[async_trait::async_trait]
pub trait Admission: Send + Sync + 'static {
    /// A ticket for the caller to join `hearing`, or the error to answer with (401, 403, 404…).
    ///
    /// # Errors
    /// Whatever the policy refuses, as the API error the client should see.
    async fn admit(&self, hearing: &str, request: &mut Parts) -> Result<JoinTicket, ApiError>;
}

/// **TEMPORARY AND INSECURE — tests and development only.** Lets anyone join any hearing in
/// the role named by the `role` query parameter (`?role=judge`), as the party named by `party`
/// (`&party=alice`; a fresh random party when absent). Replace with an [`Admission`] backed by
/// the policy before this endpoint is mounted in production.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnauthenticatedRoleFromQuery;

#[async_trait::async_trait]
impl Admission for UnauthenticatedRoleFromQuery {
    async fn admit(&self, hearing: &str, request: &mut Parts) -> Result<JoinTicket, ApiError> {
        let query = request.uri.query().unwrap_or("");
        let role = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("role="))
            .and_then(parse_role)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Name the hearing role in the query: ?role=judge (temporary test admission).",
                )
            })?;
        let party = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("party="))
            .filter(|p| valid_hearing_id(p))
            .map_or_else(
                || format!("anonymous-{}", uuid::Uuid::new_v4()),
                str::to_string,
            );
        Ok(JoinTicket::authorised(hearing, party, role))
    }
}

/// Parses a role's wire name (`defence_counsel`, …).
pub fn parse_role(name: &str) -> Option<HearingRole> {
    Some(match name {
        "judge" => HearingRole::Judge,
        "clerk" => HearingRole::Clerk,
        "prosecutor" => HearingRole::Prosecutor,
        "defence_counsel" => HearingRole::DefenceCounsel,
        "defendant" => HearingRole::Defendant,
        "witness" => HearingRole::Witness,
        "expert" => HearingRole::Expert,
        "interpreter" => HearingRole::Interpreter,
        "observer" => HearingRole::Observer,
        "remote_official" => HearingRole::RemoteOfficial,
        _ => return None,
    })
}

#[derive(Clone)]
struct SignalState {
    sfu: Arc<Sfu>,
    admission: Arc<dyn Admission>,
}

/// The signaling route, ready to merge into the application router:
/// `app_routes.merge(sfu::signal::router(sfu, admission))`.
pub fn router<S>(sfu: Arc<Sfu>, admission: Arc<dyn Admission>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/v1/hearings/{id}/signal", get(upgrade))
        .with_state(SignalState { sfu, admission })
}

fn valid_hearing_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_HEARING_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn upgrade(
    State(state): State<SignalState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    if !valid_hearing_id(&id) {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is no such hearing.",
        )
        .into_response();
    }
    let (mut parts, _body) = request.into_parts();
    // Who is asking comes first: a stranger learns nothing, not even whether the upgrade
    // request was well-formed.
    let ticket = match state.admission.admit(&id, &mut parts).await {
        Ok(t) if t.hearing() == id => t,
        Ok(_) => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "This ticket is for another hearing.",
            )
            .into_response();
        }
        Err(e) => return e.into_response(),
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    ws.max_message_size(HARD_MESSAGE_LIMIT)
        .max_frame_size(HARD_MESSAGE_LIMIT)
        .on_upgrade(move |socket| session(socket, state.sfu, ticket))
}

/// A client message, once the envelope (`v`, `type`) checked out.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Join {},
    Offer { sdp: String },
    Answer { sdp: String },
    Candidate { candidate: CandidateJson },
    Leave {},
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateJson {
    candidate: String,
    #[serde(default)]
    sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    sdp_mline_index: Option<u16>,
    #[serde(default)]
    username_fragment: Option<String>,
}

const CLIENT_TYPES: [&str; 5] = ["join", "offer", "answer", "candidate", "leave"];

/// Why a message was refused: `(code, message)` for the `error` reply.
type Refused = (&'static str, String);

/// Decodes one text frame. Never panics, whatever the input.
fn decode(text: &str) -> Result<ClientMessage, Refused> {
    if text.len() > SOFT_MESSAGE_LIMIT {
        return Err((
            "message_too_large",
            format!("messages are limited to {SOFT_MESSAGE_LIMIT} bytes"),
        ));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|_| ("invalid_message", "not JSON".to_string()))?;
    let Some(obj) = value.as_object() else {
        return Err(("invalid_message", "expected a JSON object".into()));
    };
    match obj.get("v").and_then(Value::as_u64) {
        Some(PROTOCOL_VERSION) => {}
        Some(_) => {
            return Err((
                "unsupported_version",
                format!("this server speaks protocol version {PROTOCOL_VERSION}"),
            ));
        }
        None => return Err(("invalid_message", "missing \"v\"".into())),
    }
    let Some(kind) = obj.get("type").and_then(Value::as_str) else {
        return Err(("invalid_message", "missing \"type\"".into()));
    };
    if !CLIENT_TYPES.contains(&kind) {
        return Err(("unknown_type", "unknown message type".into()));
    }
    serde_json::from_value(value.clone()).map_err(|e| {
        (
            "invalid_message",
            format!("malformed \"{kind}\" message: {e}"),
        )
    })
}

fn encode(message: Value) -> Message {
    let mut message = message;
    if let Some(obj) = message.as_object_mut() {
        obj.insert("v".into(), json!(PROTOCOL_VERSION));
    }
    Message::Text(message.to_string().into())
}

fn error_message(code: &str, message: &str) -> Message {
    encode(json!({"type": "error", "code": code, "message": message}))
}

/// A token bucket: [`MESSAGES_PER_SECOND`] sustained, bursts of the same size.
#[derive(Debug)]
struct RateLimit {
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(now: Instant) -> Self {
        Self {
            tokens: MESSAGES_PER_SECOND,
            last: now,
        }
    }

    fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * MESSAGES_PER_SECOND).min(MESSAGES_PER_SECOND);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The next change of the recording state; pending forever before the join (or if the hearing
/// is gone).
async fn recording_change(watched: &mut Option<watch::Receiver<bool>>) -> bool {
    if let Some(rx) = watched
        && rx.changed().await.is_ok()
    {
        return *rx.borrow_and_update();
    }
    std::future::pending().await
}

/// The next recording failure (see [`Hearing::recording_failed`]); pending forever before the
/// join and for those not on the bench.
async fn recording_failure(
    watched: &mut Option<tokio::sync::broadcast::Receiver<String>>,
) -> String {
    if let Some(rx) = watched {
        loop {
            match rx.recv().await {
                Ok(reason) => return reason,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    std::future::pending().await
}

/// The joined participant behind one socket.
struct Joined {
    hearing: Arc<Hearing>,
    id: ParticipantId,
    conn: Arc<WebRtcConnection>,
}

impl Joined {
    async fn leave(self) {
        self.hearing.disconnect(self.id);
        self.conn.close().await;
    }
}

async fn session(mut socket: WebSocket, sfu: Arc<Sfu>, ticket: JoinTicket) {
    let (events_tx, mut events) = mpsc::unbounded_channel::<LocalSignal>();
    let mut limit = RateLimit::new(Instant::now());
    let mut rejected = 0u32;
    let mut last_rate_error: Option<Instant> = None;
    let mut joined: Option<Joined> = None;
    // Whether the hearing is being recorded, watched from the join on: every change is told.
    let mut recording: Option<watch::Receiver<bool>> = None;
    // Why recording stopped on its own (a full disk), told to the bench from the join on.
    let mut failures: Option<tokio::sync::broadcast::Receiver<String>> = None;

    loop {
        let incoming = tokio::select! {
            msg = socket.recv() => msg,
            on = recording_change(&mut recording) => {
                if socket.send(encode(json!({"type": "recording", "on": on}))).await.is_err() {
                    break;
                }
                continue;
            }
            reason = recording_failure(&mut failures) => {
                let notice = encode(json!({
                    "type": "recording_failed",
                    "reason": reason,
                    "message": "The recording stopped: the server could not write it. What was \
                                recorded before is sealed. Ask the administrator to fix the \
                                cause, then start recording again.",
                }));
                if socket.send(notice).await.is_err() {
                    break;
                }
                continue;
            }
            Some(event) = events.recv() => {
                let out = match event {
                    LocalSignal::Offer(sdp) => encode(json!({"type": "offer", "sdp": sdp})),
                    LocalSignal::Answer(sdp) => encode(json!({"type": "answer", "sdp": sdp})),
                    LocalSignal::Error { code, message } => error_message(code, &message),
                    LocalSignal::TrackUnsupported { publisher, kind, codec } => encode(json!({
                        "type": "track_unsupported",
                        "participant": publisher.0,
                        "kind": match kind {
                            MediaKind::Audio => "audio",
                            MediaKind::Video => "video",
                        },
                        "codec": codec.name(),
                    })),
                    LocalSignal::Closed => {
                        let _ = socket.send(error_message("media_closed", "the media connection closed")).await;
                        break;
                    }
                };
                if socket.send(out).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let text = match incoming {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Binary(_))) => {
                rejected += 1;
                if socket
                    .send(error_message("invalid_message", "send JSON text frames"))
                    .await
                    .is_err()
                {
                    break;
                }
                continue;
            }
        };
        let now = Instant::now();
        if !limit.allow(now) {
            rejected += 1;
            if rejected > MAX_REJECTED {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: 1008,
                        reason: "too many rejected messages".into(),
                    })))
                    .await;
                break;
            }
            // One rate error per second at most: answering each would amplify the flood.
            if last_rate_error.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
                last_rate_error = Some(now);
                if socket
                    .send(error_message(
                        "rate_limited",
                        "too many messages; slow down",
                    ))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            continue;
        }
        let reply = match decode(text.as_str()) {
            Err(refused) => {
                rejected += 1;
                Some(refused)
            }
            Ok(ClientMessage::Leave {}) => break,
            Ok(ClientMessage::Join {}) if joined.is_some() => {
                Some(("already_joined", "this socket has joined already".into()))
            }
            Ok(ClientMessage::Join {}) => {
                let hearing = sfu.hearings().get_or_create(ticket.hearing());
                let id = match hearing.admit(ticket.party(), ticket.role()) {
                    Ok(id) => {
                        // The court's order holds from the first packet: the participant
                        // starts in the waiting room, where nothing flows, and is protected
                        // before anything can.
                        if let Some(order) = ticket.protection() {
                            let _ =
                                hearing.update(|room| room.set_protection(id, Some(order.clone())));
                        }
                        id
                    }
                    Err(_) => {
                        let msg = error_message(
                            "already_connected",
                            "you are connected to this hearing elsewhere; close that first",
                        );
                        if socket.send(msg).await.is_err() {
                            break;
                        }
                        continue;
                    }
                };
                match Box::pin(WebRtcConnection::connect(
                    &sfu,
                    &hearing,
                    id,
                    events_tx.clone(),
                ))
                .await
                {
                    Ok(conn) => {
                        hearing.attach(id, conn.media());
                        let ice_servers: Vec<_> = sfu
                            .config()
                            .turn
                            .as_ref()
                            .and_then(|t| {
                                let now = std::time::SystemTime::now()
                                    .duration_since(std::time::UNIX_EPOCH)
                                    .map_or(0, |d| d.as_secs());
                                t.credentials(&format!("p{}", id.0), now)
                            })
                            .into_iter()
                            .collect();
                        if ticket.role().is_bench() {
                            failures = Some(hearing.recording_failures());
                        }
                        let mut notices = hearing.recording_notices();
                        let on = *notices.borrow_and_update();
                        recording = Some(notices);
                        let msg = encode(json!({
                            "type": "joined",
                            "hearing": ticket.hearing(),
                            "participant": id.0,
                            "ice_servers": ice_servers,
                            "recording": on,
                        }));
                        joined = Some(Joined { hearing, id, conn });
                        if socket.send(msg).await.is_err() {
                            break;
                        }
                        None
                    }
                    Err(e) => {
                        tracing::error!(
                            error = format!("{e:#}"),
                            "cannot create a peer connection"
                        );
                        hearing.disconnect(id);
                        Some((
                            "media_unavailable",
                            "the server cannot take media connections now; try again later".into(),
                        ))
                    }
                }
            }
            Ok(other) => match &joined {
                None => Some(("not_joined", "send a \"join\" message first".into())),
                Some(j) => {
                    j.conn.signal(match other {
                        ClientMessage::Offer { sdp } => RemoteSignal::Offer(sdp),
                        ClientMessage::Answer { sdp } => RemoteSignal::Answer(sdp),
                        ClientMessage::Candidate { candidate: c } => {
                            RemoteSignal::Candidate(RTCIceCandidateInit {
                                candidate: c.candidate,
                                sdp_mid: c.sdp_mid,
                                sdp_mline_index: c.sdp_mline_index,
                                username_fragment: c.username_fragment,
                                ..Default::default()
                            })
                        }
                        ClientMessage::Join {} | ClientMessage::Leave {} => continue,
                    });
                    None
                }
            },
        };
        if let Some((code, message)) = reply
            && socket.send(error_message(code, &message)).await.is_err()
        {
            break;
        }
    }
    if let Some(j) = joined.take() {
        j.leave().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_and_malformed_messages_are_refused_with_a_code() {
        let big = format!(
            r#"{{"v":1,"type":"offer","sdp":"{}"}}"#,
            "a".repeat(SOFT_MESSAGE_LIMIT)
        );
        let cases: &[(&str, &str)] = &[
            ("", "invalid_message"),
            ("null", "invalid_message"),
            ("[1,2]", "invalid_message"),
            (r#"{"type":"join"}"#, "invalid_message"),
            (r#"{"v":"1","type":"join"}"#, "invalid_message"),
            (r#"{"v":2,"type":"join"}"#, "unsupported_version"),
            (r#"{"v":1}"#, "invalid_message"),
            (r#"{"v":1,"type":7}"#, "invalid_message"),
            (r#"{"v":1,"type":"dance"}"#, "unknown_type"),
            (r#"{"v":1,"type":"offer"}"#, "invalid_message"),
            (r#"{"v":1,"type":"offer","sdp":5}"#, "invalid_message"),
            (
                r#"{"v":1,"type":"candidate","candidate":"x"}"#,
                "invalid_message",
            ),
            (
                r#"{"v":1,"type":"candidate","candidate":{"candidate":"x","sdpMLineIndex":70000}}"#,
                "invalid_message",
            ),
            ("{\"v\":1,\"type\":\"join\"", "invalid_message"),
            (&big, "message_too_large"),
        ];
        for (text, code) in cases {
            match decode(text) {
                Err((got, _)) => assert_eq!(got, *code, "{text:.80}"),
                Ok(m) => panic!("{text:.80} was accepted as {m:?}"),
            }
        }
    }

    #[test]
    fn well_formed_messages_decode() {
        assert!(matches!(
            decode(r#"{"v":1,"type":"join"}"#),
            Ok(ClientMessage::Join {})
        ));
        assert!(matches!(
            decode(r#"{"v":1,"type":"answer","sdp":"v=0"}"#),
            Ok(ClientMessage::Answer { .. })
        ));
        assert!(matches!(
            decode(
                r#"{"v":1,"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}"#
            ),
            Ok(ClientMessage::Candidate { .. })
        ));
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(t0);
        let burst = (0..100).filter(|_| r.allow(t0)).count();
        assert_eq!(burst, 50);
        let later = t0 + Duration::from_millis(100);
        let refill = (0..100).filter(|_| r.allow(later)).count();
        assert_eq!(refill, 5);
    }

    #[test]
    fn hearing_ids_are_short_and_plain() {
        assert!(valid_hearing_id("2026-CR-0042_a"));
        assert!(!valid_hearing_id(""));
        assert!(!valid_hearing_id("../etc"));
        assert!(!valid_hearing_id(&"a".repeat(65)));
        assert_eq!(
            parse_role("defence_counsel"),
            Some(HearingRole::DefenceCounsel)
        );
        assert_eq!(parse_role("Judge"), None);
    }
}
