//! One live hearing: its [`RoomState`] and its participants' connections.
//!
//! This is the glue between the pure room model and the media plumbing. It knows connections
//! only through the small [`MediaConnection`] trait (Galène's design: the group logic does not
//! depend on the WebRTC library), so it can be driven by fakes in tests and by
//! [`super::peer::WebRtcConnection`] in production.
//!
//! Every RTP packet a participant publishes goes through [`Hearing::on_rtp`], which asks
//! [`may_forward`] about each other participant **for that packet**: a change made with
//! [`Hearing::update`] applies from the next packet on, with no renegotiation and no delay.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rtc::rtp;

use super::forward::{Codec, KeyframeThrottle};
use super::room::{
    HearingRole, Location, MediaKind, Participant, ParticipantId, Protection, RoleSet, RoomState,
    Variant, may_forward_variant, may_record, may_record_original,
};
use super::simulcast::{Decision, LayerChoice, Layers};

/// At most one keyframe request per publisher track in this interval.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// What a subscriber's leg did with a forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for sending.
    Sent,
    /// Queued, and it is the first after a gap: a video subscriber needs a keyframe.
    Resumed,
    /// Not sent: no leg yet, not negotiated yet, or the subscriber is too slow (queue full).
    Dropped,
}

/// What the hearing needs from a participant's media connection. Implementations must not block:
/// these are called on the forwarding path, for every packet.
pub trait MediaConnection: Send + Sync + 'static {
    /// Sends a packet of the `variant` of `publisher`'s `kind` track to this participant (the
    /// room allowed it; the sender asks again for that variant just before sending).
    fn forward(
        &self,
        publisher: ParticipantId,
        kind: MediaKind,
        variant: Variant,
        packet: &rtp::Packet,
    ) -> Delivery;
    /// The room withheld a packet of `publisher`'s `kind` track from this participant.
    fn withhold(&self, publisher: ParticipantId, kind: MediaKind);
    /// `publisher` now publishes a `kind` track in `codec`: prepare a leg for it (renegotiating).
    /// The leg carries that codec; a subscriber who did not negotiate it gets nothing on it.
    fn track_published(&self, publisher: ParticipantId, kind: MediaKind, codec: Codec);
    /// `publisher` left the hearing: drop its legs.
    fn publisher_left(&self, publisher: ParticipantId);
    /// Asks this participant's own `kind` track for a keyframe.
    fn request_keyframe(&self, kind: MediaKind);
    /// Asks this participant's own simulcast `kind` track for a keyframe of the layer sent on
    /// `ssrc`. Without layers (the default) it is [`Self::request_keyframe`].
    fn request_layer_keyframe(&self, kind: MediaKind, ssrc: u32) {
        let _ = ssrc;
        self.request_keyframe(kind);
    }
}

/// One anonymised stream of a protected participant's track: the server-side transcoding
/// (decode → anonymise → encode). It receives the raw packets and hands its own packets back to
/// the hearing through [`Hearing::on_anonymised_rtp`]. Dropping it stops it.
pub trait AnonymisedStream: Send + Sync {
    /// A raw packet of the protected track. Must not block (drop when behind).
    fn push(&self, packet: &rtp::Packet);
    /// A receiver of the anonymised stream needs a keyframe: force one on the server's encoder.
    fn request_keyframe(&self);
    /// The receivers of the anonymised stream can take at most `kbps`: set the encoder's
    /// target bitrate (the stream clamps it to its own range).
    fn set_bitrate(&self, kbps: u32);
    /// The stream's counters, where it has any (metrics, tests).
    fn counters(&self) -> Option<super::pipeline::PipelineCounters> {
        None
    }
}

/// Starts anonymised streams for protected tracks (the production implementation runs the
/// transcoding pipeline; tests use fakes). When it cannot start one, those not named in the
/// order receive nothing of that track: never the raw media.
pub trait Anonymisers: Send + Sync + 'static {
    /// A stream for `publisher`'s `kind` track in `hearing` under `order`, or `None`.
    fn start(
        &self,
        hearing: &Arc<Hearing>,
        publisher: ParticipantId,
        kind: MediaKind,
        order: &Protection,
    ) -> Option<Box<dyn AnonymisedStream>>;
}

/// Where the hearing room's recorded audio goes (the recorder). Only packets that
/// [`may_record`] allows reach it: a protected voice only as its anonymised variant. Must not
/// block.
pub trait RecordingSink: Send + Sync {
    /// One packet of `publisher`'s voice, in `variant`, for the recording.
    fn record(&self, publisher: ParticipantId, variant: Variant, packet: &rtp::Packet);
}

/// Where the court's original voice goes (the encrypted original-voice recorder). Only packets
/// that [`may_record_original`] allows reach it, each with the roles its order names (`raw_to`),
/// so the recorder knows who may ever read what it holds. Must not block.
pub trait OriginalVoiceSink: Send + Sync {
    /// One raw packet of `publisher`'s protected voice, recorded under an order naming `raw_to`.
    fn record_original(&self, publisher: ParticipantId, raw_to: RoleSet, packet: &rtp::Packet);
}

/// An anonymised stream and the order it was started under.
type RunningStream = (Protection, Arc<dyn AnonymisedStream>);

/// Who receives one layer of a simulcast track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LayerReceiver {
    /// A subscriber's leg (when the room allows it the raw track).
    Subscriber(ParticipantId),
    /// The anonymising pipeline of a protected track (it decodes one layer).
    Anonymiser,
}

/// A publisher's simulcast track: its layers and which one each receiver gets.
#[derive(Debug, Default)]
struct SimulcastTrack {
    layers: Layers,
    choices: HashMap<LayerReceiver, LayerChoice>,
}

/// The RTP header bytes counted with each payload in a layer's measured bitrate.
const RTP_HEADER_BYTES: usize = 12;

/// Why [`Hearing::admit`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmitError {
    /// The party already has a live connection to this hearing.
    #[error("already connected to this hearing")]
    AlreadyConnected,
}

/// A hearing's identifier as it appears in URLs.
pub type HearingKey = String;

/// Something that happened in a live hearing that no court action caused, for the hearing's
/// record (the shell audits it; the minutes read it from there). Named by party: the stable
/// name from the join ticket, the hearing participant's id.
#[derive(Debug, Clone, PartialEq)]
pub enum HearingEvent {
    /// The party's connection ended (they left, or lost the connection).
    Left { party: String },
    /// The party connected again soon after their connection dropped, and is back where they
    /// were (the hearing room or their consultation room), not in the waiting room.
    Returned { party: String, to: Location },
    /// The party's connection quality changed grade (a first sample counts as a change from
    /// good).
    Quality {
        party: String,
        quality: super::quality::Quality,
    },
}

/// Where a hearing's events go: a bounded queue the shell drains. A full queue drops the event
/// (logged): the media path never waits for the record.
pub type HearingEvents = tokio::sync::mpsc::Sender<(HearingKey, HearingEvent)>;

/// Events queued for the shell at most (quality changes come every 2 s per participant at most).
pub const EVENT_QUEUE: usize = 1024;

/// A participant whose connection dropped and who connects again within this long returns
/// where they were, not to the waiting room ([`Hearing::admit`]).
pub const RETURN_GRACE: Duration = Duration::from_secs(300);

/// One live hearing.
pub struct Hearing {
    key: HearingKey,
    room: RwLock<RoomState>,
    conns: RwLock<BTreeMap<ParticipantId, Arc<dyn MediaConnection>>>,
    published: Mutex<BTreeMap<(ParticipantId, MediaKind), Codec>>,
    /// Party (stable name from the join ticket) → participant id.
    parties: Mutex<HashMap<String, ParticipantId>>,
    /// When each disconnected participant's connection ended.
    dropped_at: Mutex<HashMap<ParticipantId, Instant>>,
    /// Keyframe requests per publisher track and, for a simulcast track, per layer (SSRC).
    throttle: Mutex<KeyframeThrottle<(ParticipantId, MediaKind, Option<u32>)>>,
    /// The simulcast tracks (a client that sends layers): their layers and each receiver's
    /// choice. A track not in here is forwarded as it comes.
    simulcast: Mutex<HashMap<(ParticipantId, MediaKind), SimulcastTrack>>,
    next_id: AtomicU64,
    /// Makes the anonymised variants of protected tracks (none: those not named get nothing).
    anonymisers: Option<Arc<dyn Anonymisers>>,
    /// The running anonymised streams, with the order each was started under.
    streams: Mutex<HashMap<(ParticipantId, MediaKind), RunningStream>>,
    /// Set once the hearing is shared (`Arc`), so streams can call back into it.
    this: Mutex<std::sync::Weak<Hearing>>,
    /// The latest bandwidth estimate (bit/s) of each receiver of an anonymised stream.
    estimates: Mutex<HashMap<(ParticipantId, MediaKind), BTreeMap<ParticipantId, u64>>>,
    /// The recorder while the judge has recording on.
    recorder: RwLock<Option<Arc<dyn RecordingSink>>>,
    /// The court's original-voice recorder while recording, when an order keeps the original.
    original_recorder: RwLock<Option<Arc<dyn OriginalVoiceSink>>>,
    /// Recording failures (a full disk), for the bench's screens: each signaling session of a
    /// judge or clerk tells its client (`recording_failed`).
    recording_failures: tokio::sync::broadcast::Sender<String>,
    /// Each connected participant's connection quality over the last interval (heartbeat).
    quality: Mutex<HashMap<ParticipantId, super::quality::Quality>>,
    /// Whether recording is on, for every participant's screen (the signaling sessions watch
    /// it and tell their client each change).
    recording_on: tokio::sync::watch::Sender<bool>,
    /// Where [`HearingEvent`]s go, once the shell has set it.
    events: std::sync::OnceLock<HearingEvents>,
}

impl std::fmt::Debug for Hearing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hearing")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Hearing {
    /// A hearing with an empty room.
    pub fn new(key: HearingKey, room: RoomState) -> Self {
        Self {
            key,
            room: RwLock::new(room),
            conns: RwLock::new(BTreeMap::new()),
            published: Mutex::new(BTreeMap::new()),
            parties: Mutex::new(HashMap::new()),
            dropped_at: Mutex::new(HashMap::new()),
            throttle: Mutex::new(KeyframeThrottle::new(KEYFRAME_REQUEST_INTERVAL)),
            simulcast: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            anonymisers: None,
            streams: Mutex::new(HashMap::new()),
            this: Mutex::new(std::sync::Weak::new()),
            estimates: Mutex::new(HashMap::new()),
            recorder: RwLock::new(None),
            original_recorder: RwLock::new(None),
            recording_failures: tokio::sync::broadcast::Sender::new(8),
            quality: Mutex::new(HashMap::new()),
            recording_on: tokio::sync::watch::Sender::new(false),
            events: std::sync::OnceLock::new(),
        }
    }

    /// Sends this hearing's [`HearingEvent`]s to `events` (the first call wins).
    pub fn set_events(&self, events: HearingEvents) {
        let _ = self.events.set(events);
    }

    fn emit(&self, event: HearingEvent) {
        if let Some(tx) = self.events.get()
            && tx.try_send((self.key.clone(), event)).is_err()
        {
            tracing::warn!(hearing = %self.key, "hearing event queue full or closed; an event is not recorded");
        }
    }

    /// Turns recording on or off in the room (rule 8 follows from the next packet on) and
    /// tells every connected participant: each signaling session watches
    /// [`Self::recording_notices`].
    pub fn set_recording(&self, on: bool) {
        self.update(|room| room.set_recording(on));
        self.recording_on.send_replace(on);
    }

    /// Whether recording is on now and each change from here on. A watch, not a queue: a
    /// participant always learns the latest state, and a start and stop in quick succession
    /// may reach a slow client as the final state only.
    pub fn recording_notices(&self) -> tokio::sync::watch::Receiver<bool> {
        self.recording_on.subscribe()
    }

    /// Attaches (or detaches) the recorder. What reaches it is decided per packet by
    /// [`may_record`], which also needs the room's recording flag on.
    pub fn set_recorder(&self, recorder: Option<Arc<dyn RecordingSink>>) {
        *self
            .recorder
            .write()
            .unwrap_or_else(PoisonError::into_inner) = recorder;
    }

    /// Attaches (or detaches) the court's original-voice recorder. What reaches it is decided
    /// per packet by [`may_record_original`].
    pub fn set_original_recorder(&self, recorder: Option<Arc<dyn OriginalVoiceSink>>) {
        *self
            .original_recorder
            .write()
            .unwrap_or_else(PoisonError::into_inner) = recorder;
    }

    /// Whether an original-voice recorder is attached.
    pub fn has_original_recorder(&self) -> bool {
        self.original_recorder
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The recorder stopped writing (`reason`, e.g. a full disk): recording goes off in the
    /// room from the next packet, both recorders are detached, every participant's screen is
    /// told recording is off ([`Self::recording_notices`]) and the bench is told why
    /// ([`Self::recording_failures`]). What was recorded before stays sealed and verifiable.
    pub fn recording_failed(&self, reason: &str) {
        self.set_recorder(None);
        self.set_original_recorder(None);
        self.set_recording(false);
        let _ = self.recording_failures.send(reason.to_owned());
    }

    /// Each recording failure from here on (see [`Self::recording_failed`]).
    pub fn recording_failures(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.recording_failures.subscribe()
    }

    fn record(&self, publisher: ParticipantId, variant: Variant, packet: &rtp::Packet) {
        let recorder = self
            .recorder
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(r) = recorder {
            r.record(publisher, variant, packet);
        }
    }

    /// A shared hearing whose protected tracks are anonymised by `anonymisers`.
    pub fn with_anonymisers(
        key: HearingKey,
        room: RoomState,
        anonymisers: Option<Arc<dyn Anonymisers>>,
    ) -> Arc<Self> {
        let mut h = Self::new(key, room);
        h.anonymisers = anonymisers;
        let h = Arc::new(h);
        *h.this.lock().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(&h);
        h
    }

    /// The hearing's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A copy of the room as it is now.
    pub fn room(&self) -> RoomState {
        self.room
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the room (move a participant, mute, screen, pause…); forwarding follows from the
    /// next packet on.
    pub fn update<R>(&self, change: impl FnOnce(&mut RoomState) -> R) -> R {
        let mut room = self.room.write().unwrap_or_else(PoisonError::into_inner);
        change(&mut room)
    }

    /// Connects `party` (a stable name for the person in this hearing, from the join ticket) as
    /// `role`. A party seen before gets its old participant id back, with everything the court
    /// set for it (screens, a locked microphone) still in force. Back within [`RETURN_GRACE`] of
    /// its connection dropping, it returns where it was ([`RoomState::reconnect`]: a network
    /// blip does not cost a witness their place); later, it starts again in the waiting room, to
    /// be re-admitted. A new party is added to the waiting room.
    ///
    /// Screens and locks are keyed by participant id, so this is what keeps a reconnecting
    /// participant from shedding them.
    ///
    /// # Errors
    /// [`AdmitError::AlreadyConnected`] while the party has a live connection.
    pub fn admit(&self, party: &str, role: HearingRole) -> Result<ParticipantId, AdmitError> {
        let mut parties = self.parties.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = parties.get(party) {
            let mut room = self.room.write().unwrap_or_else(PoisonError::into_inner);
            let reconnecting = room
                .participant(id)
                .is_some_and(|p| p.location == Location::Disconnected);
            if reconnecting {
                let recent = self
                    .dropped_at
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id)
                    .is_some_and(|at| at.elapsed() <= RETURN_GRACE);
                room.set_role(id, role)
                    .map_err(|_| AdmitError::AlreadyConnected)?;
                let back = if recent {
                    room.reconnect(id)
                } else {
                    room.move_to(id, Location::WaitingRoom)
                        .map(|()| Location::WaitingRoom)
                }
                .map_err(|_| AdmitError::AlreadyConnected)?;
                drop(room);
                if back != Location::WaitingRoom {
                    self.emit(HearingEvent::Returned {
                        party: party.to_string(),
                        to: back,
                    });
                }
                return Ok(id);
            }
            if room.participant(id).is_some() {
                return Err(AdmitError::AlreadyConnected);
            }
            // Removed by the court meanwhile: joins afresh below.
        }
        loop {
            let id = ParticipantId(self.next_id.fetch_add(1, Ordering::Relaxed));
            if self
                .update(|room| room.add(id, Participant::new(role)))
                .is_ok()
            {
                parties.insert(party.to_string(), id);
                return Ok(id);
            }
        }
    }

    /// The participant id `party` was given when it joined, if it has joined this hearing and
    /// has not been removed since. The court's controls address participants through this.
    pub fn participant_of(&self, party: &str) -> Option<ParticipantId> {
        let id = *self
            .parties
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(party)?;
        let room = self.room.read().unwrap_or_else(PoisonError::into_inner);
        room.participant(id).is_some().then_some(id)
    }

    /// The party (stable name from the join ticket) of a participant.
    pub fn party_of(&self, id: ParticipantId) -> Option<String> {
        self.parties
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone())
    }

    /// Asks `publisher`'s own `kind` track for a keyframe (throttled), e.g. for the decoder of
    /// an anonymising pipeline that lost packets.
    pub fn request_publisher_keyframe(&self, publisher: ParticipantId, kind: MediaKind) {
        let layer = self.layer_of(LayerReceiver::Anonymiser, publisher, kind);
        self.request_keyframe(publisher, kind, layer, Instant::now());
    }

    /// Attaches `id`'s media connection and prepares legs for every track already published.
    pub fn attach(&self, id: ParticipantId, conn: Arc<dyn MediaConnection>) {
        self.conns
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, conn.clone());
        let published: Vec<_> = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(&key, &codec)| (key, codec))
            .collect();
        for ((publisher, kind), codec) in published {
            if publisher != id {
                conn.track_published(publisher, kind, codec);
            }
        }
    }

    /// A participant's connection ended: they stay in the room as
    /// [`Location::Disconnected`] (keeping what the court set for them) and their tracks are
    /// removed from everyone's connection.
    pub fn disconnect(&self, id: ParticipantId) {
        let was_connected = self.update(|room| {
            room.participant(id)
                .is_some_and(|p| p.location != Location::Disconnected)
                && room.move_to(id, Location::Disconnected).is_ok()
        });
        if was_connected {
            self.dropped_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, Instant::now());
        }
        self.detach(id);
        if was_connected && let Some(party) = self.party_of(id) {
            self.emit(HearingEvent::Left { party });
        }
    }

    /// Removes a participant from the hearing altogether (the court dismissed them).
    pub fn remove(&self, id: ParticipantId) {
        self.update(|room| room.remove(id));
        self.detach(id);
    }

    /// Records `id`'s connection quality over the last interval (ignored once detached).
    pub fn set_quality(&self, id: ParticipantId, quality: super::quality::Quality) {
        if self.is_attached(id) {
            let before = self
                .quality
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, quality)
                .map_or(super::quality::Grade::Good, |q| q.grade);
            if before != quality.grade
                && let Some(party) = self.party_of(id)
            {
                self.emit(HearingEvent::Quality { party, quality });
            }
        }
    }

    /// `id`'s connection quality over the last interval, while connected.
    pub fn quality_of(&self, id: ParticipantId) -> Option<super::quality::Quality> {
        self.quality
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
    }

    fn detach(&self, id: ParticipantId) {
        self.quality
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        self.stop_stream(id, MediaKind::Audio);
        self.stop_stream(id, MediaKind::Video);
        self.conns
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(p, _), _| *p != id);
        self.throttle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .forget_where(|(p, _, _)| *p == id);
        {
            let mut simulcast = self
                .simulcast
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            simulcast.retain(|(p, _), _| *p != id);
            for track in simulcast.values_mut() {
                track.choices.remove(&LayerReceiver::Subscriber(id));
            }
        }
        for conn in self.connections() {
            conn.publisher_left(id);
        }
    }

    /// Whether `id` has an attached connection.
    pub fn is_attached(&self, id: ParticipantId) -> bool {
        self.conns
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id)
    }

    /// How many participants have a connection attached now (metrics; the soak test checks it
    /// returns to zero).
    pub fn attached_count(&self) -> usize {
        self.conns
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// How many tracks are published now (metrics; the soak test checks it returns to zero).
    pub fn published_count(&self) -> usize {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn connections(&self) -> Vec<Arc<dyn MediaConnection>> {
        self.conns
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// `publisher` started publishing a `kind` track in `codec`: every other connection gets a
    /// leg for it.
    pub fn on_track_published(&self, publisher: ParticipantId, kind: MediaKind, codec: Codec) {
        let fresh = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((publisher, kind), codec)
            .is_none();
        if !fresh {
            return;
        }
        if kind == MediaKind::Video && !anonymisable(codec) {
            tracing::info!(
                %publisher,
                codec = codec.name(),
                "video the anonymising pipeline cannot decode: under a protective order, those the order does not name receive none of it"
            );
        }
        // A witness's own video gets a leg back to them too, for the preview of their
        // anonymised picture should an order protect it (rule 7 decides what flows on it).
        let preview = kind == MediaKind::Video
            && self
                .room
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .participant(publisher)
                .is_some_and(|p| p.role == HearingRole::Witness);
        let conns = self.conns.read().unwrap_or_else(PoisonError::into_inner);
        for (id, conn) in conns.iter() {
            if *id != publisher || preview {
                conn.track_published(publisher, kind, codec);
            }
        }
    }

    /// The codec of `publisher`'s `kind` track, while it is published.
    pub fn codec_of(&self, publisher: ParticipantId, kind: MediaKind) -> Option<Codec> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(publisher, kind))
            .copied()
    }

    /// One RTP packet from `publisher`'s `kind` track: forward it to exactly the participants
    /// the room allows, now. Under a protective order the packet also feeds the anonymised
    /// stream, and those who receive that variant get nothing of this packet.
    ///
    /// A simulcast track's packet is one layer's: each receiver gets it only if that is the
    /// layer chosen for it ([`super::simulcast`]); the room's rule is asked as for any packet.
    pub fn on_rtp(&self, publisher: ParticipantId, kind: MediaKind, packet: &rtp::Packet) {
        let now = Instant::now();
        let layer = packet.header.ssrc;
        let mut resumed = false;
        let recorded;
        let original;
        // Keyframes of layers some receiver waits for.
        let mut wanted: BTreeSet<u32> = BTreeSet::new();
        let mut feed_anonymiser = true;
        let mut is_simulcast = false;
        let keyframe = self
            .codec_of(publisher, kind)
            .is_some_and(|c| c.is_keyframe(&packet.payload));
        let order = {
            let room = self.room.read().unwrap_or_else(PoisonError::into_inner);
            recorded = may_record(&room, publisher, kind, Variant::Raw);
            original = may_record_original(&room, publisher, kind)
                .then(|| room.protection(publisher).map(|o| RoleSet::of(&o.raw_to)))
                .flatten();
            let order = room
                .protection(publisher)
                .filter(|p| p.protects(kind))
                .cloned();
            let mut simulcast = self
                .simulcast
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut track = simulcast.get_mut(&(publisher, kind));
            let ranked = match track.as_deref_mut() {
                Some(t) => {
                    is_simulcast = true;
                    if !t
                        .layers
                        .observe(layer, packet.payload.len() + RTP_HEADER_BYTES, now)
                    {
                        // Not an announced layer (one beyond `MAX_LAYERS`, or one whose RID
                        // never arrived): nobody gets it.
                        return;
                    }
                    Some(t.layers.ranked(now))
                }
                None => None,
            };
            let mut choose = |receiver: LayerReceiver| -> bool {
                let (Some(t), Some(ranked)) = (track.as_deref_mut(), ranked.as_deref()) else {
                    return true;
                };
                let (decision, want) = t
                    .choices
                    .entry(receiver)
                    .or_default()
                    .on_packet(layer, keyframe, ranked, now);
                wanted.extend(want);
                decision != Decision::Skip
            };
            let conns = self.conns.read().unwrap_or_else(PoisonError::into_inner);
            for (&subscriber, conn) in conns.iter() {
                if subscriber == publisher {
                    continue;
                }
                if may_forward_variant(&room, publisher, subscriber, kind, Variant::Raw) {
                    if !choose(LayerReceiver::Subscriber(subscriber)) {
                        continue;
                    }
                    resumed |=
                        conn.forward(publisher, kind, Variant::Raw, packet) == Delivery::Resumed;
                } else if !may_forward_variant(
                    &room,
                    publisher,
                    subscriber,
                    kind,
                    Variant::Anonymised,
                ) {
                    conn.withhold(publisher, kind);
                }
            }
            if order.is_some() {
                // The anonymiser decodes one layer, chosen as for a subscriber that never
                // reports an estimate: the highest, changed only at a keyframe.
                feed_anonymiser = choose(LayerReceiver::Anonymiser);
            }
            order
        };
        if recorded {
            self.record(publisher, Variant::Raw, packet);
        }
        if let Some(raw_to) = original {
            let sink = self
                .original_recorder
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(sink) = sink {
                sink.record_original(publisher, raw_to, packet);
            }
        }
        match order {
            Some(order) => {
                if let Some(stream) = self.stream_for(publisher, kind, &order)
                    && feed_anonymiser
                {
                    stream.push(packet);
                }
            }
            None => self.stop_stream(publisher, kind),
        }
        if resumed && kind == MediaKind::Video && !(is_simulcast && keyframe) {
            // Someone starts (or starts again) receiving this video: they need a keyframe.
            self.request_keyframe(publisher, kind, is_simulcast.then_some(layer), now);
        }
        for layer in wanted {
            self.request_keyframe(publisher, kind, Some(layer), now);
        }
    }

    /// `publisher`'s `kind` track is a simulcast track, and its layer `rid` arrived on `ssrc`
    /// (the first packet of each layer). From now on each receiver gets one layer of it.
    pub fn on_simulcast_layer(
        &self,
        publisher: ParticipantId,
        kind: MediaKind,
        ssrc: u32,
        rid: &str,
    ) {
        let added = self
            .simulcast
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((publisher, kind))
            .or_default()
            .layers
            .add(ssrc, rid);
        if !added {
            tracing::debug!(%publisher, ssrc, "a simulcast layer is already known or one too many");
        }
    }

    /// The layers of `publisher`'s simulcast `kind` track as `(rid, ssrc, bit/s)`, lowest
    /// first (inactive ones last, with 0). Empty for a track without layers.
    pub fn simulcast_layers(
        &self,
        publisher: ParticipantId,
        kind: MediaKind,
    ) -> Vec<(String, u32, u64)> {
        self.simulcast
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&(publisher, kind))
            .map(|t| t.layers.describe(Instant::now()))
            .unwrap_or_default()
    }

    /// The layer (SSRC) of `publisher`'s simulcast `kind` track that `subscriber` receives
    /// now, or waits for.
    pub fn simulcast_layer_of(
        &self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        kind: MediaKind,
    ) -> Option<u32> {
        self.layer_of(LayerReceiver::Subscriber(subscriber), publisher, kind)
    }

    fn layer_of(
        &self,
        receiver: LayerReceiver,
        publisher: ParticipantId,
        kind: MediaKind,
    ) -> Option<u32> {
        let simulcast = self
            .simulcast
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let choice = simulcast.get(&(publisher, kind))?.choices.get(&receiver)?;
        choice.current().or(choice.pending())
    }

    /// One packet of the anonymised variant of `publisher`'s `kind` track (from its
    /// [`AnonymisedStream`]): forwarded, on the same leg, only to those the order does not name.
    pub fn on_anonymised_rtp(
        &self,
        publisher: ParticipantId,
        kind: MediaKind,
        packet: &rtp::Packet,
    ) {
        let mut resumed = false;
        let recorded;
        {
            let room = self.room.read().unwrap_or_else(PoisonError::into_inner);
            recorded = may_record(&room, publisher, kind, Variant::Anonymised);
            let conns = self.conns.read().unwrap_or_else(PoisonError::into_inner);
            for (&subscriber, conn) in conns.iter() {
                // The publisher itself may be among them: a protected witness sees their own
                // anonymised picture as the others do (rule 7's preview).
                if may_forward_variant(&room, publisher, subscriber, kind, Variant::Anonymised) {
                    resumed |= conn.forward(publisher, kind, Variant::Anonymised, packet)
                        == Delivery::Resumed;
                }
            }
        }
        if recorded {
            self.record(publisher, Variant::Anonymised, packet);
        }
        if resumed && kind == MediaKind::Video {
            self.anonymised_keyframe(publisher, kind);
        }
    }

    /// The running stream for a protected track, started (or restarted under a changed order)
    /// on demand. `None` when no anonymiser is available: then nobody gets this variant.
    fn stream_for(
        &self,
        publisher: ParticipantId,
        kind: MediaKind,
        order: &Protection,
    ) -> Option<Arc<dyn AnonymisedStream>> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((o, s)) = streams.get(&(publisher, kind))
            && o == order
        {
            return Some(s.clone());
        }
        streams.remove(&(publisher, kind));
        // The pipeline decodes VP8 (and Opus) only: a track in another codec (H.264) gets no
        // anonymised stream, so those the order does not name receive none of it (fail
        // closed; the raw track still goes only to the named roles, by the room's rule).
        if !self.codec_of(publisher, kind).is_some_and(anonymisable) {
            return None;
        }
        let factory = self.anonymisers.as_ref()?;
        let me = self
            .this
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .upgrade()?;
        let stream: Arc<dyn AnonymisedStream> = factory.start(&me, publisher, kind, order)?.into();
        streams.insert((publisher, kind), (order.clone(), stream.clone()));
        drop(streams);
        // The decoder starts on a keyframe.
        if kind == MediaKind::Video {
            let layer = self.layer_of(LayerReceiver::Anonymiser, publisher, kind);
            self.request_keyframe(publisher, kind, layer, Instant::now());
        }
        Some(stream)
    }

    fn stop_stream(&self, publisher: ParticipantId, kind: MediaKind) {
        let stopped = self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(publisher, kind));
        drop(stopped);
    }

    /// `subscriber` can take at most `bits_per_second` of `publisher`'s `kind` track (its
    /// receiver estimate, REMB). The server encodes the anonymised variant itself, so its
    /// encoder follows the lowest estimate among those who receive that variant now; estimates
    /// of receivers that no longer get it are forgotten. The raw variant is the publisher's
    /// encoder, not ours: nothing to do here.
    pub fn on_receiver_estimate(
        &self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        kind: MediaKind,
        bits_per_second: u64,
    ) {
        // A simulcast track: the estimate also chooses this subscriber's layer.
        if let Some(track) = self
            .simulcast
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&(publisher, kind))
        {
            track
                .choices
                .entry(LayerReceiver::Subscriber(subscriber))
                .or_default()
                .on_estimate(bits_per_second);
        }
        let receivers: BTreeSet<ParticipantId> = {
            let room = self.room.read().unwrap_or_else(PoisonError::into_inner);
            let conns = self.conns.read().unwrap_or_else(PoisonError::into_inner);
            conns
                .keys()
                .copied()
                .filter(|&s| may_forward_variant(&room, publisher, s, kind, Variant::Anonymised))
                .collect()
        };
        if !receivers.contains(&subscriber) {
            return;
        }
        let lowest = {
            let mut all = self
                .estimates
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let these = all.entry((publisher, kind)).or_default();
            these.insert(subscriber, bits_per_second);
            these.retain(|s, _| receivers.contains(s));
            these.values().min().copied()
        };
        let stream = self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(publisher, kind))
            .map(|(_, s)| s.clone());
        if let (Some(bps), Some(stream)) = (lowest, stream) {
            stream.set_bitrate(u32::try_from(bps / 1000).unwrap_or(u32::MAX));
        }
    }

    /// The counters of the anonymised stream of this track, if one runs and has counters.
    pub fn anonymised_counters(
        &self,
        publisher: ParticipantId,
        kind: MediaKind,
    ) -> Option<super::pipeline::PipelineCounters> {
        let stream = self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(publisher, kind))
            .map(|(_, s)| s.clone())?;
        stream.counters()
    }

    /// Whether an anonymised stream runs for this track (tests and metrics).
    pub fn has_anonymised_stream(&self, publisher: ParticipantId, kind: MediaKind) -> bool {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&(publisher, kind))
    }

    fn anonymised_keyframe(&self, publisher: ParticipantId, kind: MediaKind) {
        let stream = self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(publisher, kind))
            .map(|(_, s)| s.clone());
        if let Some(s) = stream {
            s.request_keyframe();
        }
    }

    /// Whether the room allows the `variant` of `publisher`'s `kind` media to reach
    /// `subscriber` at this moment (the leg writers ask again just before sending).
    pub fn may_forward_now(
        &self,
        publisher: ParticipantId,
        subscriber: ParticipantId,
        kind: MediaKind,
        variant: Variant,
    ) -> bool {
        let room = self.room.read().unwrap_or_else(PoisonError::into_inner);
        may_forward_variant(&room, publisher, subscriber, kind, variant)
    }

    /// A subscriber asked for a keyframe of `publisher`'s `kind` track (PLI/FIR). Passed on,
    /// throttled, and only when the subscriber may receive that track at all.
    pub fn on_keyframe_request(
        &self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        kind: MediaKind,
    ) {
        if self.may_forward_now(publisher, subscriber, kind, Variant::Raw) {
            // Of a simulcast track: the layer this subscriber gets.
            let layer = self.simulcast_layer_of(subscriber, publisher, kind);
            self.request_keyframe(publisher, kind, layer, Instant::now());
        } else {
            let anonymised = {
                let room = self.room.read().unwrap_or_else(PoisonError::into_inner);
                may_forward_variant(&room, publisher, subscriber, kind, Variant::Anonymised)
            };
            // A receiver of the anonymised stream: the server's encoder makes the keyframe.
            if anonymised {
                self.anonymised_keyframe(publisher, kind);
            }
        }
    }

    /// Asks `publisher`'s `kind` track (or its simulcast `layer`) for a keyframe, at most once
    /// per [`KEYFRAME_REQUEST_INTERVAL`] per track and layer.
    fn request_keyframe(
        &self,
        publisher: ParticipantId,
        kind: MediaKind,
        layer: Option<u32>,
        now: Instant,
    ) {
        let pass = self
            .throttle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allow((publisher, kind, layer), now);
        if !pass {
            return;
        }
        let conn = self
            .conns
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&publisher)
            .cloned();
        match (conn, layer) {
            (Some(conn), Some(ssrc)) => conn.request_layer_keyframe(kind, ssrc),
            (Some(conn), None) => conn.request_keyframe(kind),
            (None, _) => {}
        }
    }
}

/// Every live hearing on this server, by key.
#[derive(Default)]
pub struct Hearings {
    map: Mutex<HashMap<HearingKey, Arc<Hearing>>>,
    anonymisers: Option<Arc<dyn Anonymisers>>,
    events: std::sync::OnceLock<HearingEvents>,
}

impl std::fmt::Debug for Hearings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hearings")
            .field("anonymisers", &self.anonymisers.is_some())
            .finish_non_exhaustive()
    }
}

impl Hearings {
    /// No live hearing yet; protected tracks anonymised by `anonymisers` (`None`: those not
    /// named in an order receive nothing of the protected media).
    pub fn new(anonymisers: Option<Arc<dyn Anonymisers>>) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            anonymisers,
            events: std::sync::OnceLock::new(),
        }
    }

    /// Sends every hearing's [`HearingEvent`]s to `events` from now on (the first call wins;
    /// call it at start-up, before any hearing is live).
    pub fn set_events(&self, events: HearingEvents) {
        let _ = self.events.set(events);
    }

    /// The hearing with `key`, created (scheduled, empty) if it is not live yet.
    pub fn get_or_create(&self, key: &str) -> Arc<Hearing> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_string())
            .or_insert_with(|| {
                let h = Hearing::with_anonymisers(
                    key.to_string(),
                    RoomState::default(),
                    self.anonymisers.clone(),
                );
                if let Some(events) = self.events.get() {
                    h.set_events(events.clone());
                }
                h
            })
            .clone()
    }

    /// The hearing with `key`, if live.
    pub fn get(&self, key: &str) -> Option<Arc<Hearing>> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }
}

/// Whether the anonymising pipeline can decode a track in `codec` (it decodes Opus and VP8).
fn anonymisable(codec: Codec) -> bool {
    matches!(codec, Codec::Opus | Codec::Vp8)
}

#[cfg(test)]
mod tests {
    //! The hearing driven through fake connections: what reaches whom, per packet.

    use super::*;
    use crate::sfu::room::{HearingState, Location};

    #[derive(Default)]
    struct Fake {
        got: Mutex<Vec<(ParticipantId, MediaKind)>>,
        withheld: Mutex<usize>,
        legs: Mutex<Vec<(ParticipantId, MediaKind)>>,
        keyframes: Mutex<usize>,
    }

    impl MediaConnection for Fake {
        fn forward(&self, p: ParticipantId, k: MediaKind, _: Variant, _: &rtp::Packet) -> Delivery {
            let mut got = self.got.lock().expect("not poisoned in tests");
            got.push((p, k));
            if got.len() == 1 {
                Delivery::Resumed
            } else {
                Delivery::Sent
            }
        }
        fn withhold(&self, _: ParticipantId, _: MediaKind) {
            *self.withheld.lock().expect("not poisoned in tests") += 1;
        }
        fn track_published(&self, p: ParticipantId, k: MediaKind, _: Codec) {
            self.legs
                .lock()
                .expect("not poisoned in tests")
                .push((p, k));
        }
        fn publisher_left(&self, p: ParticipantId) {
            self.legs
                .lock()
                .expect("not poisoned in tests")
                .retain(|(q, _)| *q != p);
        }
        fn request_keyframe(&self, _: MediaKind) {
            *self.keyframes.lock().expect("not poisoned in tests") += 1;
        }
    }

    #[test]
    fn a_state_change_applies_to_the_very_next_packet() {
        let h = Hearing::new("h".into(), RoomState::new(HearingState::InSession));
        let a = h.admit("a", HearingRole::Judge).expect("new");
        let b = h.admit("b", HearingRole::Witness).expect("new");
        let (fa, fb) = (Arc::new(Fake::default()), Arc::new(Fake::default()));
        h.attach(a, fa.clone());
        h.attach(b, fb.clone());
        h.on_track_published(a, MediaKind::Video, Codec::Vp8);
        assert_eq!(*fb.legs.lock().expect("ok"), vec![(a, MediaKind::Video)]);
        let pkt = rtp::Packet::default();
        h.on_rtp(a, MediaKind::Video, &pkt);
        assert!(fb.got.lock().expect("ok").is_empty(), "both still wait");
        h.update(|r| {
            r.move_to(a, Location::HearingRoom).expect("known");
            r.move_to(b, Location::HearingRoom).expect("known");
        });
        h.on_rtp(a, MediaKind::Video, &pkt);
        assert_eq!(fb.got.lock().expect("ok").len(), 1);
        // The first video packet after a gap asked the publisher for a keyframe.
        assert_eq!(*fa.keyframes.lock().expect("ok"), 1);
        h.update(|r| r.move_to(b, Location::WaitingRoom).expect("known"));
        h.on_rtp(a, MediaKind::Video, &pkt);
        assert_eq!(fb.got.lock().expect("ok").len(), 1);
        assert_eq!(*fb.withheld.lock().expect("ok"), 2);
        assert!(
            fa.got.lock().expect("ok").is_empty(),
            "never back to the publisher"
        );
    }

    /// A fake anonymiser: marks what it was given and re-emits it as "anonymised" (payload
    /// type 99) into the hearing.
    #[derive(Default)]
    struct FakeAnonymisers {
        started: Mutex<usize>,
        keyframes: Arc<Mutex<usize>>,
        bitrates: Arc<Mutex<Vec<u32>>>,
    }

    struct FakeStream {
        hearing: std::sync::Weak<Hearing>,
        publisher: ParticipantId,
        kind: MediaKind,
        keyframes: Arc<Mutex<usize>>,
        bitrates: Arc<Mutex<Vec<u32>>>,
    }

    impl AnonymisedStream for FakeStream {
        fn push(&self, packet: &rtp::Packet) {
            let mut out = packet.clone();
            out.header.payload_type = 99;
            if let Some(h) = self.hearing.upgrade() {
                h.on_anonymised_rtp(self.publisher, self.kind, &out);
            }
        }
        fn request_keyframe(&self) {
            *self.keyframes.lock().expect("ok") += 1;
        }
        fn set_bitrate(&self, kbps: u32) {
            self.bitrates.lock().expect("ok").push(kbps);
        }
    }

    impl Anonymisers for FakeAnonymisers {
        fn start(
            &self,
            hearing: &Arc<Hearing>,
            publisher: ParticipantId,
            kind: MediaKind,
            _: &Protection,
        ) -> Option<Box<dyn AnonymisedStream>> {
            *self.started.lock().expect("ok") += 1;
            Some(Box::new(FakeStream {
                hearing: Arc::downgrade(hearing),
                publisher,
                kind,
                keyframes: self.keyframes.clone(),
                bitrates: self.bitrates.clone(),
            }))
        }
    }

    #[derive(Default)]
    struct Recorder {
        got: Mutex<Vec<u8>>,
    }

    impl MediaConnection for Recorder {
        fn forward(&self, _: ParticipantId, _: MediaKind, _: Variant, p: &rtp::Packet) -> Delivery {
            self.got.lock().expect("ok").push(p.header.payload_type);
            Delivery::Sent
        }
        fn withhold(&self, _: ParticipantId, _: MediaKind) {}
        fn track_published(&self, _: ParticipantId, _: MediaKind, _: Codec) {}
        fn publisher_left(&self, _: ParticipantId) {}
        fn request_keyframe(&self, _: MediaKind) {}
    }

    #[test]
    fn under_an_order_the_named_get_the_raw_packets_and_the_others_only_the_anonymised_ones() {
        use crate::sfu::room::FaceProtection;
        let factory = Arc::new(FakeAnonymisers::default());
        let h = Hearing::with_anonymisers(
            "h".into(),
            RoomState::new(HearingState::InSession),
            Some(factory.clone()),
        );
        let judge = h.admit("j", HearingRole::Judge).expect("new");
        let counsel = h.admit("c", HearingRole::DefenceCounsel).expect("new");
        let witness = h.admit("w", HearingRole::Witness).expect("new");
        let (fj, fc) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        h.attach(judge, fj.clone());
        h.attach(counsel, fc.clone());
        h.update(|r| {
            for p in [judge, counsel, witness] {
                r.move_to(p, Location::HearingRoom).expect("known");
            }
            r.set_protection(
                witness,
                Some(Protection {
                    voice_distorted: true,
                    face: FaceProtection::Masked,
                    raw_to: [HearingRole::Judge].into_iter().collect(),
                    keep_original: false,
                }),
            )
            .expect("known");
        });
        h.on_track_published(witness, MediaKind::Video, Codec::Vp8);
        let mut pkt = rtp::Packet::default();
        pkt.header.payload_type = 96;
        for _ in 0..5 {
            h.on_rtp(witness, MediaKind::Video, &pkt);
        }
        assert_eq!(
            *fj.got.lock().expect("ok"),
            vec![96; 5],
            "the judge: the original"
        );
        assert_eq!(
            *fc.got.lock().expect("ok"),
            vec![99; 5],
            "counsel: only the anonymised"
        );
        assert_eq!(
            *factory.started.lock().expect("ok"),
            1,
            "one stream per track"
        );
        // A keyframe request from counsel goes to the server's encoder.
        h.on_keyframe_request(counsel, witness, MediaKind::Video);
        assert_eq!(*factory.keyframes.lock().expect("ok"), 1);
        // So does counsel's bandwidth estimate; the judge's is about the raw track: ignored.
        h.on_receiver_estimate(counsel, witness, MediaKind::Video, 420_000);
        h.on_receiver_estimate(judge, witness, MediaKind::Video, 90_000);
        assert_eq!(*factory.bitrates.lock().expect("ok"), vec![420]);
        // Lifting the order stops the stream; everyone gets the original.
        h.update(|r| r.set_protection(witness, None).expect("known"));
        h.on_rtp(witness, MediaKind::Video, &pkt);
        assert!(!h.has_anonymised_stream(witness, MediaKind::Video));
        assert_eq!(fc.got.lock().expect("ok").last(), Some(&96));
    }

    #[test]
    fn a_protected_witness_s_h264_video_reaches_only_the_named_and_starts_no_anonymiser() {
        use crate::sfu::room::FaceProtection;
        let factory = Arc::new(FakeAnonymisers::default());
        let h = Hearing::with_anonymisers(
            "h".into(),
            RoomState::new(HearingState::InSession),
            Some(factory.clone()),
        );
        let judge = h.admit("j", HearingRole::Judge).expect("new");
        let counsel = h.admit("c", HearingRole::DefenceCounsel).expect("new");
        let witness = h.admit("w", HearingRole::Witness).expect("new");
        let (fj, fc, fw) = (
            Arc::new(Recorder::default()),
            Arc::new(Recorder::default()),
            Arc::new(Recorder::default()),
        );
        h.attach(judge, fj.clone());
        h.attach(counsel, fc.clone());
        h.attach(witness, fw.clone());
        h.update(|r| {
            for p in [judge, counsel, witness] {
                r.move_to(p, Location::HearingRoom).expect("known");
            }
            r.set_protection(
                witness,
                Some(Protection {
                    voice_distorted: true,
                    face: FaceProtection::Masked,
                    raw_to: [HearingRole::Judge].into_iter().collect(),
                    keep_original: false,
                }),
            )
            .expect("known");
        });
        h.on_track_published(witness, MediaKind::Video, Codec::H264);
        h.on_track_published(witness, MediaKind::Audio, Codec::Opus);
        let mut pkt = rtp::Packet::default();
        pkt.header.payload_type = 102;
        for _ in 0..5 {
            h.on_rtp(witness, MediaKind::Video, &pkt);
        }
        assert_eq!(
            *fj.got.lock().expect("ok"),
            vec![102; 5],
            "the judge: the original"
        );
        assert!(fc.got.lock().expect("ok").is_empty(), "counsel: nothing");
        assert!(fw.got.lock().expect("ok").is_empty(), "no preview either");
        assert!(!h.has_anonymised_stream(witness, MediaKind::Video));
        // The voice (Opus) is anonymised as ever.
        h.on_rtp(witness, MediaKind::Audio, &rtp::Packet::default());
        assert!(h.has_anonymised_stream(witness, MediaKind::Audio));
        assert_eq!(
            *factory.started.lock().expect("ok"),
            1,
            "the voice's stream only"
        );
    }

    #[test]
    fn the_anonymised_encoder_follows_the_slowest_receiver_still_receiving_it() {
        use crate::sfu::room::FaceProtection;
        let factory = Arc::new(FakeAnonymisers::default());
        let h = Hearing::with_anonymisers(
            "h".into(),
            RoomState::new(HearingState::InSession),
            Some(factory.clone()),
        );
        let witness = h.admit("w", HearingRole::Witness).expect("new");
        let counsel = h.admit("c", HearingRole::DefenceCounsel).expect("new");
        let observer = h.admit("o", HearingRole::Observer).expect("new");
        for p in [counsel, observer] {
            h.attach(p, Arc::new(Recorder::default()));
        }
        h.update(|r| {
            for p in [witness, counsel, observer] {
                r.move_to(p, Location::HearingRoom).expect("known");
            }
            r.set_protection(
                witness,
                Some(Protection {
                    voice_distorted: false,
                    face: FaceProtection::FullFrame,
                    raw_to: Default::default(),
                    keep_original: false,
                }),
            )
            .expect("known");
        });
        h.on_track_published(witness, MediaKind::Video, Codec::Vp8);
        h.on_rtp(witness, MediaKind::Video, &rtp::Packet::default());
        h.on_receiver_estimate(counsel, witness, MediaKind::Video, 900_000);
        h.on_receiver_estimate(observer, witness, MediaKind::Video, 300_000);
        h.on_receiver_estimate(counsel, witness, MediaKind::Video, 800_000);
        // The observer leaves for the waiting room: its old estimate no longer holds us back.
        h.update(|r| r.move_to(observer, Location::WaitingRoom).expect("known"));
        h.on_receiver_estimate(counsel, witness, MediaKind::Video, 700_000);
        // A stale report from the waiting room changes nothing.
        h.on_receiver_estimate(observer, witness, MediaKind::Video, 50_000);
        assert_eq!(
            *factory.bitrates.lock().expect("ok"),
            vec![900, 300, 300, 700]
        );
    }

    #[test]
    fn without_an_anonymiser_those_not_named_receive_nothing() {
        use crate::sfu::room::FaceProtection;
        let h =
            Hearing::with_anonymisers("h".into(), RoomState::new(HearingState::InSession), None);
        let counsel = h.admit("c", HearingRole::DefenceCounsel).expect("new");
        let witness = h.admit("w", HearingRole::Witness).expect("new");
        let fc = Arc::new(Recorder::default());
        h.attach(counsel, fc.clone());
        h.update(|r| {
            for p in [counsel, witness] {
                r.move_to(p, Location::HearingRoom).expect("known");
            }
            r.set_protection(
                witness,
                Some(Protection {
                    voice_distorted: true,
                    face: FaceProtection::None,
                    raw_to: Default::default(),
                    keep_original: false,
                }),
            )
            .expect("known");
        });
        h.on_rtp(witness, MediaKind::Audio, &rtp::Packet::default());
        h.on_rtp(witness, MediaKind::Video, &rtp::Packet::default());
        assert_eq!(
            fc.got.lock().expect("ok").len(),
            1,
            "video only: the voice is protected"
        );
    }

    #[test]
    fn keyframe_requests_are_throttled_and_need_permission() {
        let h = Hearing::new("h".into(), RoomState::new(HearingState::InSession));
        let a = h.admit("a", HearingRole::Judge).expect("new");
        let b = h.admit("b", HearingRole::Witness).expect("new");
        let c = h.admit("c", HearingRole::Observer).expect("new");
        let fa = Arc::new(Fake::default());
        h.attach(a, fa.clone());
        h.update(|r| {
            r.move_to(a, Location::HearingRoom).expect("known");
            r.move_to(b, Location::HearingRoom).expect("known");
        });
        // c waits in the waiting room: its requests are ignored.
        h.on_keyframe_request(c, a, MediaKind::Video);
        assert_eq!(*fa.keyframes.lock().expect("ok"), 0);
        for _ in 0..10 {
            h.on_keyframe_request(b, a, MediaKind::Video);
        }
        assert_eq!(*fa.keyframes.lock().expect("ok"), 1);
    }

    #[test]
    fn a_late_joiner_gets_legs_for_tracks_already_published_and_leaving_removes_them() {
        let h = Hearing::new("h".into(), RoomState::new(HearingState::InSession));
        let a = h.admit("a", HearingRole::Judge).expect("new");
        h.attach(a, Arc::new(Fake::default()));
        h.on_track_published(a, MediaKind::Audio, Codec::Opus);
        h.on_track_published(a, MediaKind::Audio, Codec::Opus);
        let b = h.admit("b", HearingRole::Clerk).expect("new");
        let fb = Arc::new(Fake::default());
        h.attach(b, fb.clone());
        assert_eq!(*fb.legs.lock().expect("ok"), vec![(a, MediaKind::Audio)]);
        h.remove(a);
        assert!(fb.legs.lock().expect("ok").is_empty());
        assert!(h.room().participant(a).is_none());
        assert!(!h.is_attached(a));
    }

    #[test]
    fn a_party_back_soon_returns_where_it_was_and_one_back_late_waits_to_be_readmitted() {
        let h = Hearing::new("h".into(), RoomState::new(HearingState::InSession));
        let witness = h.admit("w", HearingRole::Witness).expect("new");
        h.attach(witness, Arc::new(Fake::default()));
        h.update(|r| r.move_to(witness, Location::HearingRoom).expect("known"));
        // A network blip: back at once, in the hearing room.
        h.disconnect(witness);
        assert_eq!(h.admit("w", HearingRole::Witness), Ok(witness));
        assert_eq!(
            h.room().participant(witness).map(|p| p.location),
            Some(Location::HearingRoom)
        );
        // Gone longer than the grace: the waiting room, to be called again.
        h.attach(witness, Arc::new(Fake::default()));
        h.disconnect(witness);
        let long_ago = Instant::now().checked_sub(RETURN_GRACE + Duration::from_secs(1));
        if let Some(at) = long_ago {
            h.dropped_at
                .lock()
                .expect("not poisoned")
                .insert(witness, at);
            assert_eq!(h.admit("w", HearingRole::Witness), Ok(witness));
            assert_eq!(
                h.room().participant(witness).map(|p| p.location),
                Some(Location::WaitingRoom)
            );
        }
        // Sent back by the court while disconnected: the court's move stands.
        h.attach(witness, Arc::new(Fake::default()));
        h.update(|r| r.move_to(witness, Location::HearingRoom).expect("known"));
        h.disconnect(witness);
        h.update(|r| r.move_to(witness, Location::WaitingRoom).expect("known"));
        h.update(|r| r.move_to(witness, Location::Disconnected).expect("known"));
        assert_eq!(h.admit("w", HearingRole::Witness), Ok(witness));
        assert_eq!(
            h.room().participant(witness).map(|p| p.location),
            Some(Location::WaitingRoom)
        );
    }

    #[test]
    fn a_reconnecting_party_keeps_its_id_and_its_screens() {
        let h = Hearing::new("h".into(), RoomState::new(HearingState::InSession));
        let witness = h.admit("w", HearingRole::Witness).expect("new");
        let defendant = h.admit("d", HearingRole::Defendant).expect("new");
        h.attach(defendant, Arc::new(Fake::default()));
        h.update(|r| {
            r.set_screened(defendant, witness, true).expect("known");
            r.move_to(defendant, Location::HearingRoom).expect("known");
        });
        assert_eq!(
            h.admit("d", HearingRole::Defendant),
            Err(AdmitError::AlreadyConnected),
            "one live connection per party"
        );
        h.disconnect(defendant);
        assert!(!h.is_attached(defendant));
        assert_eq!(
            h.room().participant(defendant).map(|p| p.location),
            Some(Location::Disconnected)
        );
        assert_eq!(h.admit("d", HearingRole::Defendant), Ok(defendant));
        let room = h.room();
        assert!(room.is_screened(defendant, witness));
        assert_eq!(
            room.participant(defendant).map(|p| p.location),
            Some(Location::HearingRoom),
            "back at once: where they were"
        );
        // Dismissed by the court: a later join is a new participant.
        h.remove(defendant);
        let again = h.admit("d", HearingRole::Defendant).expect("new");
        assert_ne!(again, defendant);
        assert!(!h.room().is_screened(again, witness));
    }

    #[derive(Default)]
    struct FakeSink {
        got: Mutex<Vec<(ParticipantId, Variant, u8)>>,
    }

    impl RecordingSink for FakeSink {
        fn record(&self, p: ParticipantId, v: Variant, packet: &rtp::Packet) {
            self.got
                .lock()
                .expect("ok")
                .push((p, v, packet.header.payload_type));
        }
    }

    #[test]
    fn the_recorder_gets_the_hearing_room_only_and_a_protected_voice_only_anonymised() {
        use crate::sfu::room::{ConsultationRoomId, FaceProtection};
        let h = Hearing::with_anonymisers(
            "h".into(),
            RoomState::new(HearingState::InSession),
            Some(Arc::new(FakeAnonymisers::default())),
        );
        let judge = h.admit("j", HearingRole::Judge).expect("new");
        let counsel = h.admit("c", HearingRole::DefenceCounsel).expect("new");
        let defendant = h.admit("d", HearingRole::Defendant).expect("new");
        let witness = h.admit("w", HearingRole::Witness).expect("new");
        let sink = Arc::new(FakeSink::default());
        h.set_recorder(Some(sink.clone()));
        h.update(|r| {
            for p in [judge, witness] {
                r.move_to(p, Location::HearingRoom).expect("known");
            }
            let c1 = Location::Consultation(ConsultationRoomId(1));
            r.move_to(counsel, c1).expect("known");
            r.move_to(defendant, c1).expect("known");
            r.set_protection(
                witness,
                Some(Protection {
                    voice_distorted: true,
                    face: FaceProtection::None,
                    raw_to: [HearingRole::Judge].into_iter().collect(),
                    keep_original: false,
                }),
            )
            .expect("known");
        });
        for p in [judge, counsel, defendant, witness] {
            h.on_track_published(p, MediaKind::Audio, Codec::Opus);
            h.on_track_published(p, MediaKind::Video, Codec::Vp8);
        }
        let mut pkt = rtp::Packet::default();
        pkt.header.payload_type = 111;
        let speak = |h: &Hearing| {
            for p in [judge, counsel, defendant, witness] {
                h.on_rtp(p, MediaKind::Audio, &pkt);
                h.on_rtp(p, MediaKind::Video, &pkt);
            }
        };
        speak(&h);
        assert!(sink.got.lock().expect("ok").is_empty(), "recording is off");
        h.update(|r| r.set_recording(true));
        speak(&h);
        assert_eq!(
            *sink.got.lock().expect("ok"),
            vec![
                (judge, Variant::Raw, 111),
                // The fake anonymiser re-emits with payload type 99: the distorted variant.
                (witness, Variant::Anonymised, 99),
            ],
            "nothing from the consultation room, and the witness only distorted"
        );
        h.set_recorder(None);
        speak(&h);
        assert_eq!(sink.got.lock().expect("ok").len(), 2);
    }
    #[derive(Default)]
    struct FakeOriginalSink {
        got: Mutex<Vec<(ParticipantId, RoleSet)>>,
    }

    impl OriginalVoiceSink for FakeOriginalSink {
        fn record_original(&self, p: ParticipantId, raw_to: RoleSet, _: &rtp::Packet) {
            self.got.lock().expect("ok").push((p, raw_to));
        }
    }

    #[test]
    fn only_a_witness_whose_order_keeps_the_original_reaches_the_original_recorder_and_a_failure_stops_both()
     {
        use crate::sfu::room::FaceProtection;
        let h = Hearing::with_anonymisers(
            "h".into(),
            RoomState::new(HearingState::InSession),
            Some(Arc::new(FakeAnonymisers::default())),
        );
        let judge = h.admit("j", HearingRole::Judge).expect("new");
        let kept = h.admit("w1", HearingRole::Witness).expect("new");
        let not_kept = h.admit("w2", HearingRole::Witness).expect("new");
        let sink = Arc::new(FakeSink::default());
        let original = Arc::new(FakeOriginalSink::default());
        h.set_recorder(Some(sink.clone()));
        h.set_original_recorder(Some(original.clone()));
        let order = |keep_original| Protection {
            voice_distorted: true,
            face: FaceProtection::None,
            raw_to: [HearingRole::Judge].into_iter().collect(),
            keep_original,
        };
        h.update(|r| {
            for p in [judge, kept, not_kept] {
                r.move_to(p, Location::HearingRoom).expect("known");
            }
            r.set_protection(kept, Some(order(true))).expect("known");
            r.set_protection(not_kept, Some(order(false)))
                .expect("known");
        });
        for p in [judge, kept, not_kept] {
            h.on_track_published(p, MediaKind::Audio, Codec::Opus);
        }
        let mut failures = h.recording_failures();
        let mut notices = h.recording_notices();
        let pkt = rtp::Packet::default();
        let speak = |h: &Hearing| {
            for p in [judge, kept, not_kept] {
                h.on_rtp(p, MediaKind::Audio, &pkt);
                h.on_rtp(p, MediaKind::Video, &pkt);
            }
        };
        speak(&h);
        assert!(
            original.got.lock().expect("ok").is_empty(),
            "recording is off"
        );
        h.set_recording(true);
        speak(&h);
        assert_eq!(
            *original.got.lock().expect("ok"),
            vec![(kept, RoleSet::of(&[HearingRole::Judge]))],
            "only the witness whose order keeps the original, raw, with the roles it names"
        );
        // The distorted record never gets a raw protected voice.
        assert!(
            sink.got
                .lock()
                .expect("ok")
                .iter()
                .all(|(p, v, _)| *p == judge || *v == Variant::Anonymised)
        );
        assert!(*notices.borrow_and_update());
        h.recording_failed("No space left on device (os error 28)");
        assert_eq!(
            failures.try_recv().expect("told"),
            "No space left on device (os error 28)"
        );
        assert!(!*notices.borrow_and_update(), "every screen: recording off");
        let (before, originals_before) = (
            sink.got.lock().expect("ok").len(),
            original.got.lock().expect("ok").len(),
        );
        h.set_recording(true);
        speak(&h);
        assert_eq!(sink.got.lock().expect("ok").len(), before, "detached");
        assert_eq!(original.got.lock().expect("ok").len(), originals_before);
    }

    #[test]
    fn a_leaving_participant_and_each_change_of_connection_grade_become_hearing_events() {
        use crate::sfu::quality::{Grade, Quality};
        let hearings = Hearings::new(None);
        let (tx, mut rx) = tokio::sync::mpsc::channel(EVENT_QUEUE);
        hearings.set_events(tx);
        let h = hearings.get_or_create("h");
        let w = h.admit("participant-w", HearingRole::Witness).expect("new");
        h.attach(w, Arc::new(Fake::default()));
        let q = |loss: f64, grade| Quality {
            loss_percent: loss,
            rtt_ms: Some(40),
            kbps: 30,
            grade,
        };
        h.set_quality(w, q(0.0, Grade::Good));
        h.set_quality(w, q(12.0, Grade::Poor));
        h.set_quality(w, q(13.0, Grade::Poor));
        h.set_quality(w, q(1.0, Grade::Good));
        h.disconnect(w);
        // Disconnecting again (the socket's own leave after the court's) says nothing more.
        h.disconnect(w);
        let mut got = Vec::new();
        while let Ok(e) = rx.try_recv() {
            got.push(e);
        }
        let party = "participant-w".to_string();
        assert_eq!(
            got,
            vec![
                (
                    "h".to_string(),
                    HearingEvent::Quality {
                        party: party.clone(),
                        quality: q(12.0, Grade::Poor)
                    }
                ),
                (
                    "h".to_string(),
                    HearingEvent::Quality {
                        party: party.clone(),
                        quality: q(1.0, Grade::Good)
                    }
                ),
                ("h".to_string(), HearingEvent::Left { party }),
            ]
        );
    }

    /// Records the variant and SSRC (layer) of every packet forwarded, and the layer keyframe
    /// requests received as a publisher.
    #[derive(Default)]
    struct LayerRecorder {
        got: Mutex<Vec<(Variant, u32)>>,
        layer_keyframes: Mutex<Vec<u32>>,
    }

    impl MediaConnection for LayerRecorder {
        fn forward(&self, _: ParticipantId, _: MediaKind, v: Variant, p: &rtp::Packet) -> Delivery {
            self.got.lock().expect("ok").push((v, p.header.ssrc));
            Delivery::Sent
        }
        fn withhold(&self, _: ParticipantId, _: MediaKind) {}
        fn track_published(&self, _: ParticipantId, _: MediaKind, _: Codec) {}
        fn publisher_left(&self, _: ParticipantId) {}
        fn request_keyframe(&self, _: MediaKind) {}
        fn request_layer_keyframe(&self, _: MediaKind, ssrc: u32) {
            self.layer_keyframes.lock().expect("ok").push(ssrc);
        }
    }

    /// A VP8 packet of layer `ssrc` whose payload is `size` bytes; a keyframe start or not.
    fn vp8_layer_packet(ssrc: u32, size: usize, keyframe: bool) -> rtp::Packet {
        let mut payload = vec![0x10, if keyframe { 0x00 } else { 0x01 }];
        payload.resize(size, 0xA5);
        let mut pkt = rtp::Packet::default();
        pkt.header.ssrc = ssrc;
        pkt.header.payload_type = 96;
        pkt.payload = bytes::Bytes::from(payload);
        pkt
    }

    #[test]
    fn each_subscriber_gets_one_simulcast_layer_and_the_unnamed_never_a_raw_one() {
        use crate::sfu::room::FaceProtection;
        const LOW: u32 = 0x10;
        const HIGH: u32 = 0x30;
        let factory = Arc::new(FakeAnonymisers::default());
        let h = Hearing::with_anonymisers(
            "h".into(),
            RoomState::new(HearingState::InSession),
            Some(factory.clone()),
        );
        let judge = h.admit("j", HearingRole::Judge).expect("new");
        let counsel = h.admit("c", HearingRole::DefenceCounsel).expect("new");
        let observer = h.admit("o", HearingRole::Observer).expect("new");
        let waiting = h.admit("wr", HearingRole::Observer).expect("new");
        let witness = h.admit("w", HearingRole::Witness).expect("new");
        let recorders: Vec<(ParticipantId, Arc<LayerRecorder>)> =
            [judge, counsel, observer, waiting, witness]
                .into_iter()
                .map(|p| (p, Arc::new(LayerRecorder::default())))
                .collect();
        for (p, r) in &recorders {
            h.attach(*p, r.clone());
        }
        let got = |p: ParticipantId| -> Vec<(Variant, u32)> {
            recorders
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, r)| r.got.lock().expect("ok").clone())
                .unwrap_or_default()
        };
        h.update(|r| {
            for p in [judge, counsel, observer, witness] {
                r.move_to(p, Location::HearingRoom).expect("known");
            }
        });
        h.on_track_published(witness, MediaKind::Video, Codec::Vp8);
        h.on_simulcast_layer(witness, MediaKind::Video, LOW, "q");
        h.on_simulcast_layer(witness, MediaKind::Video, HIGH, "f");
        let send = |frames: usize, keyframe_every: usize| {
            for i in 1..=frames {
                // Both layers are measured before the first keyframe.
                let key = i % keyframe_every == 0;
                h.on_rtp(witness, MediaKind::Video, &vp8_layer_packet(LOW, 200, key));
                h.on_rtp(
                    witness,
                    MediaKind::Video,
                    &vp8_layer_packet(HIGH, 1000, key),
                );
            }
        };
        send(30, 10);
        let high_only = |p: ParticipantId| {
            let g = got(p);
            !g.is_empty() && g.iter().all(|&(v, s)| v == Variant::Raw && s == HIGH)
        };
        assert!(high_only(judge), "the judge: the high layer only");
        assert!(high_only(counsel), "counsel: the high layer only");
        assert!(got(waiting).is_empty(), "the waiting room: nothing");
        // The observer's bandwidth is short: it steps down at the low layer's keyframe.
        h.on_receiver_estimate(observer, witness, MediaKind::Video, 60_000);
        send(30, 10);
        let observer_got = got(observer);
        let first_low = observer_got
            .iter()
            .position(|&(_, s)| s == LOW)
            .expect("the observer switched");
        assert!(observer_got[..first_low].iter().all(|&(_, s)| s == HIGH));
        assert!(observer_got[first_low..].iter().all(|&(_, s)| s == LOW));
        assert_eq!(
            h.simulcast_layer_of(observer, witness, MediaKind::Video),
            Some(LOW)
        );
        assert_eq!(
            h.simulcast_layer_of(judge, witness, MediaKind::Video),
            Some(HIGH)
        );
        // A protective order naming the judge only.
        h.update(|r| {
            r.set_protection(
                witness,
                Some(Protection {
                    voice_distorted: false,
                    face: FaceProtection::Masked,
                    raw_to: [HearingRole::Judge].into_iter().collect(),
                    keep_original: false,
                }),
            )
            .expect("known");
        });
        let before: Vec<usize> = [judge, counsel, observer]
            .into_iter()
            .map(|p| got(p).len())
            .collect();
        send(30, 10);
        let judge_now = &got(judge)[before[0]..];
        assert!(!judge_now.is_empty());
        assert!(
            judge_now
                .iter()
                .all(|&(v, s)| v == Variant::Raw && s == HIGH)
        );
        for (p, n) in [(counsel, before[1]), (observer, before[2])] {
            let now = &got(p)[n..];
            assert!(!now.is_empty(), "the anonymised stream reaches {p}");
            assert!(
                now.iter().all(|&(v, _)| v == Variant::Anonymised),
                "{p} receives no raw layer under the order"
            );
            // The anonymiser decodes one layer: the highest, from its keyframe.
            assert!(now.iter().all(|&(_, s)| s == HIGH), "one layer anonymised");
        }
        assert!(got(waiting).is_empty(), "the waiting room: still nothing");
        assert_eq!(*factory.started.lock().expect("ok"), 1);
        // A keyframe request from the judge goes to the layer the judge receives.
        let witness_conn = &recorders[4].1;
        std::thread::sleep(KEYFRAME_REQUEST_INTERVAL);
        h.on_keyframe_request(judge, witness, MediaKind::Video);
        assert_eq!(
            witness_conn.layer_keyframes.lock().expect("ok").last(),
            Some(&HIGH)
        );
    }

    #[test]
    fn a_track_without_layers_is_forwarded_as_it_comes() {
        let h = Hearing::new("h".into(), RoomState::new(HearingState::InSession));
        let judge = h.admit("j", HearingRole::Judge).expect("new");
        let clerk = h.admit("c", HearingRole::Clerk).expect("new");
        let fc = Arc::new(LayerRecorder::default());
        h.attach(clerk, fc.clone());
        h.update(|r| {
            r.move_to(judge, Location::HearingRoom).expect("known");
            r.move_to(clerk, Location::HearingRoom).expect("known");
        });
        h.on_track_published(judge, MediaKind::Video, Codec::Vp8);
        // Two SSRCs (an encoder restart, say), no keyframe: everything goes through.
        for ssrc in [1, 2, 1] {
            h.on_rtp(judge, MediaKind::Video, &vp8_layer_packet(ssrc, 100, false));
        }
        assert_eq!(fc.got.lock().expect("ok").len(), 3);
        assert!(h.simulcast_layers(judge, MediaKind::Video).is_empty());
    }
}
