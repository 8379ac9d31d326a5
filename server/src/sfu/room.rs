//! The hearing's room model and **the** forwarding decision.
//!
//! Everything here is plain data: no sockets, no clock, no WebRTC types. The media plumbing asks
//! [`may_forward`] for every RTP packet it is about to hand to a subscriber, so a change to the
//! [`RoomState`] (a participant moved to the waiting room, a microphone muted, a screen put up)
//! takes effect on the very next packet.
//!
//! ## The rules, in court terms
//!
//! Media flows from a publisher to a subscriber only when **all** of these hold:
//!
//! 1. They are two different participants, both known to the room.
//! 2. The hearing is live: [`HearingState::Open`], [`HearingState::InSession`] or
//!    [`HearingState::Paused`]. Before it opens (`Scheduled`) and once it is `Adjourned` or
//!    `Closed`, nothing flows anywhere, consultation rooms included.
//! 3. Both are in the same place, and that place carries media: the hearing room or the same
//!    consultation room. The waiting room carries nothing at all, not even between two people
//!    waiting there (witnesses waiting to testify must not hear each other); a disconnected
//!    participant neither sends nor receives.
//! 4. The publisher's role may speak and be seen: an [`HearingRole::Observer`] (the public, the
//!    press) only watches and listens; nothing it sends is forwarded.
//! 5. Audio: the publisher's microphone is live (neither muted by themselves nor locked by the
//!    court). Video: the publisher's camera is on, and the subscriber is not screened from the
//!    publisher (screening hides a face, never a voice: the defence must hear a screened witness).
//! 6. A **paused** hearing (a short recess) keeps the hearing-room connections up but goes quiet:
//!    only the bench (judge and clerk) is still heard in the hearing room, so the court can say
//!    "we resume in five minutes" or call the parties back; no video flows there and no one else
//!    is heard, so that nothing is said in the courtroom off the record. Consultation rooms keep
//!    working during a pause: a recess is exactly when counsel confers with the client.
//!
//! 7. **Protective orders.** A participant under an order has, for each protected kind (voice
//!    distorted: audio; face masked or full-frame: video), two variants of that media: the raw
//!    one, which only the roles the order names receive, and the anonymised one (made on the
//!    server), which everyone else receives. [`may_forward`] decides for the raw media;
//!    [`may_forward_variant`] for either. Until an anonymised stream exists, those not named
//!    receive nothing of the protected kind: never the raw media.
//!
//! 8. **Recording.** While the judge has recording on, the server records what a listener in
//!    the hearing room who is named in no protective order would hear: the audio of every
//!    publisher in the hearing room whose voice is forwarded there by rules 2–6, and for a
//!    protected voice only the anonymised variant, never the raw one ([`may_record`]). Nothing
//!    said in a consultation room or the waiting room is ever recorded.
//!
//! A consultation room is private: only its members receive its media; the judge is no
//! exception. It can be locked, which stops anyone else from entering it
//! ([`RoomState::move_to`]); locking never changes what its present members receive.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A participant of one hearing, as the SFU numbers them (not an account id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParticipantId(pub u64);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// A consultation room of one hearing (1, 2, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsultationRoomId(pub u16);

/// Whether a track carries sound or pictures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

/// The part a participant plays in the hearing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HearingRole {
    Judge,
    Clerk,
    Prosecutor,
    DefenceCounsel,
    Defendant,
    Witness,
    Expert,
    Interpreter,
    /// The public or the press: receives, never publishes.
    Observer,
    /// An official of another state attending under a mutual legal assistance request.
    RemoteOfficial,
}

impl HearingRole {
    /// Every role, for tables.
    pub const ALL: [HearingRole; 10] = [
        HearingRole::Judge,
        HearingRole::Clerk,
        HearingRole::Prosecutor,
        HearingRole::DefenceCounsel,
        HearingRole::Defendant,
        HearingRole::Witness,
        HearingRole::Expert,
        HearingRole::Interpreter,
        HearingRole::Observer,
        HearingRole::RemoteOfficial,
    ];

    /// Whether what this role sends is ever forwarded.
    pub fn may_publish(self) -> bool {
        !matches!(self, HearingRole::Observer)
    }

    /// This role's bit in a [`RoleSet`].
    pub fn bit(self) -> u16 {
        let i = HearingRole::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(0);
        1 << i
    }

    /// Whether this role is the bench, still heard in the hearing room during a pause.
    pub fn is_bench(self) -> bool {
        matches!(self, HearingRole::Judge | HearingRole::Clerk)
    }
}

/// A set of hearing roles as bits ([`HearingRole::bit`]): small enough to pass with every
/// packet and to narrow atomically (the roles every order in a mix names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoleSet(pub u16);

impl RoleSet {
    /// Every role.
    pub const ALL: RoleSet = RoleSet((1 << HearingRole::ALL.len()) - 1);

    /// The roles in `roles`.
    pub fn of<'a>(roles: impl IntoIterator<Item = &'a HearingRole>) -> Self {
        RoleSet(roles.into_iter().fold(0, |m, r| m | r.bit()))
    }

    /// Whether `role` is in the set.
    pub fn contains(self, role: HearingRole) -> bool {
        self.0 & role.bit() != 0
    }

    /// The roles in the set, in [`HearingRole::ALL`] order.
    pub fn roles(self) -> impl Iterator<Item = HearingRole> {
        HearingRole::ALL
            .into_iter()
            .filter(move |r| self.contains(*r))
    }
}

/// Where a participant is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// Admitted to the hearing's lobby, waiting to be called in. Carries no media.
    WaitingRoom,
    /// The (virtual) courtroom.
    HearingRoom,
    /// A private room, e.g. counsel with the client, or the interpreter briefing.
    Consultation(ConsultationRoomId),
    /// Known to the hearing but not connected.
    Disconnected,
}

/// The hearing's procedural state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HearingState {
    /// Planned; not yet opened. No media.
    Scheduled,
    /// Opened by the court: participants are admitted and connected, before the session starts.
    Open,
    /// In session, on the record.
    InSession,
    /// A short recess: only the bench is heard in the hearing room (see the module docs).
    Paused,
    /// Adjourned to another day. No media.
    Adjourned,
    /// Closed. No media.
    Closed,
}

impl HearingState {
    /// Every state, for tables.
    pub const ALL: [HearingState; 6] = [
        HearingState::Scheduled,
        HearingState::Open,
        HearingState::InSession,
        HearingState::Paused,
        HearingState::Adjourned,
        HearingState::Closed,
    ];
}

/// A participant's microphone as the court sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mic {
    /// Heard.
    #[default]
    Live,
    /// Muted by the participant, who may unmute.
    Muted,
    /// Muted by the court; the participant cannot unmute.
    Locked,
}

/// One participant's state in the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    pub role: HearingRole,
    pub location: Location,
    pub mic: Mic,
    pub camera_on: bool,
}

impl Participant {
    /// A participant who has just joined: in the waiting room, microphone live, camera on.
    pub fn new(role: HearingRole) -> Self {
        Self {
            role,
            location: Location::WaitingRoom,
            mic: Mic::Live,
            camera_on: true,
        }
    }
}

/// How a protected participant's face is hidden from those the order does not name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaceProtection {
    /// Not hidden.
    None,
    /// Each face covered by an opaque fill.
    Masked,
    /// The whole picture reduced to a silhouette that still shows movement.
    FullFrame,
}

/// A protective order as the room applies it: which media are anonymised, and which roles
/// receive the original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protection {
    pub voice_distorted: bool,
    pub face: FaceProtection,
    /// The roles that receive the undistorted media (e.g. only the judge).
    pub raw_to: BTreeSet<HearingRole>,
    /// Whether the court keeps the original (undistorted) voice while recording: encrypted to
    /// the court's certificate, in a stream of its own, readable only by `raw_to` (rule 9).
    pub keep_original: bool,
}

impl Protection {
    /// Whether this kind of media is anonymised for those not named.
    pub fn protects(&self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Audio => self.voice_distorted,
            MediaKind::Video => self.face != FaceProtection::None,
        }
    }
}

/// Which version of a protected participant's media a packet belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    /// As the participant's device sent it.
    Raw,
    /// Distorted on the server under a protective order.
    Anonymised,
}

/// Why a change to the room was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The participant is not part of this hearing.
    #[error("no such participant in this hearing")]
    UnknownParticipant,
    /// The participant id is taken.
    #[error("the participant is already part of this hearing")]
    AlreadyJoined,
    /// The consultation room is locked and the participant is not in it.
    #[error("the consultation room is locked")]
    ConsultationLocked,
    /// The participant's microphone was locked by the court.
    #[error("the court has locked this microphone")]
    MicLocked,
}

/// Everything [`may_forward`] looks at: one hearing's participants, state and rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomState {
    state: HearingState,
    participants: BTreeMap<ParticipantId, Participant>,
    /// (subscriber, publisher): the subscriber must not see the publisher.
    screens: BTreeSet<(ParticipantId, ParticipantId)>,
    locked_consultations: BTreeSet<ConsultationRoomId>,
    protections: BTreeMap<ParticipantId, Protection>,
    /// Whether the judge has the hearing room recorded now (rule 8).
    recording: bool,
    /// Where each disconnected participant was when their connection dropped.
    dropped_from: BTreeMap<ParticipantId, Location>,
}

impl Default for RoomState {
    fn default() -> Self {
        Self::new(HearingState::Scheduled)
    }
}

impl RoomState {
    /// An empty room in `state`.
    pub fn new(state: HearingState) -> Self {
        Self {
            state,
            participants: BTreeMap::new(),
            screens: BTreeSet::new(),
            locked_consultations: BTreeSet::new(),
            protections: BTreeMap::new(),
            recording: false,
            dropped_from: BTreeMap::new(),
        }
    }

    /// Whether the hearing room is being recorded.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Records the judge's decision to start or stop recording (the recorder itself lives
    /// elsewhere; the room only says what [`may_record`] allows).
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// The hearing's procedural state.
    pub fn state(&self) -> HearingState {
        self.state
    }

    /// Moves the hearing to `state` (the workflow that decides which moves are legal lives
    /// elsewhere; the room only records the result).
    pub fn set_state(&mut self, state: HearingState) {
        self.state = state;
    }

    /// One participant.
    pub fn participant(&self, id: ParticipantId) -> Option<&Participant> {
        self.participants.get(&id)
    }

    /// All participants, by id.
    pub fn participants(&self) -> impl Iterator<Item = (ParticipantId, &Participant)> {
        self.participants.iter().map(|(id, p)| (*id, p))
    }

    /// Adds a participant.
    ///
    /// # Errors
    /// [`RoomError::AlreadyJoined`] when the id is taken.
    pub fn add(&mut self, id: ParticipantId, participant: Participant) -> Result<(), RoomError> {
        if self.participants.contains_key(&id) {
            return Err(RoomError::AlreadyJoined);
        }
        self.participants.insert(id, participant);
        Ok(())
    }

    /// Removes a participant, every screen that names them, and their protection.
    pub fn remove(&mut self, id: ParticipantId) -> Option<Participant> {
        self.screens.retain(|(s, p)| *s != id && *p != id);
        self.protections.remove(&id);
        self.dropped_from.remove(&id);
        self.participants.remove(&id)
    }

    fn get_mut(&mut self, id: ParticipantId) -> Result<&mut Participant, RoomError> {
        self.participants
            .get_mut(&id)
            .ok_or(RoomError::UnknownParticipant)
    }

    /// Moves a participant. Entering a locked consultation room is refused; leaving one is not.
    ///
    /// # Errors
    /// [`RoomError::UnknownParticipant`], [`RoomError::ConsultationLocked`].
    pub fn move_to(&mut self, id: ParticipantId, to: Location) -> Result<(), RoomError> {
        let locked =
            matches!(to, Location::Consultation(c) if self.locked_consultations.contains(&c));
        let p = self.get_mut(id)?;
        if locked && p.location != to {
            return Err(RoomError::ConsultationLocked);
        }
        let from = std::mem::replace(&mut p.location, to);
        // Any other move of a dropped participant (the court's) supersedes where they were.
        self.dropped_from.remove(&id);
        if to == Location::Disconnected && from != Location::Disconnected {
            self.dropped_from.insert(id, from);
        }
        Ok(())
    }

    /// A participant whose connection dropped comes back: to the hearing room, or to their
    /// consultation room while it is open and unlocked, if that is where the connection dropped
    /// (a consultation room that ended meanwhile sent its members to the hearing room);
    /// anywhere else, and after a locked consultation room, to the waiting room, to be admitted
    /// again. Returns where they are now.
    ///
    /// # Errors
    /// [`RoomError::UnknownParticipant`].
    pub fn reconnect(&mut self, id: ParticipantId) -> Result<Location, RoomError> {
        let back = match self.dropped_from.get(&id).copied() {
            Some(Location::HearingRoom) => Location::HearingRoom,
            Some(Location::Consultation(c)) => {
                let open = self
                    .participants
                    .iter()
                    .any(|(o, p)| *o != id && p.location == Location::Consultation(c));
                if !open {
                    Location::HearingRoom
                } else if self.locked_consultations.contains(&c) {
                    Location::WaitingRoom
                } else {
                    Location::Consultation(c)
                }
            }
            _ => Location::WaitingRoom,
        };
        self.move_to(id, back)?;
        Ok(back)
    }

    /// Changes a participant's role.
    ///
    /// # Errors
    /// [`RoomError::UnknownParticipant`].
    pub fn set_role(&mut self, id: ParticipantId, role: HearingRole) -> Result<(), RoomError> {
        self.get_mut(id)?.role = role;
        Ok(())
    }

    /// The court locks or unlocks a participant's microphone (locking also mutes it).
    ///
    /// # Errors
    /// [`RoomError::UnknownParticipant`].
    pub fn lock_mic(&mut self, id: ParticipantId, locked: bool) -> Result<(), RoomError> {
        let p = self.get_mut(id)?;
        p.mic = if locked { Mic::Locked } else { Mic::Muted };
        Ok(())
    }

    /// The participant mutes or unmutes themselves.
    ///
    /// # Errors
    /// [`RoomError::UnknownParticipant`]; [`RoomError::MicLocked`] when unmuting a locked
    /// microphone.
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) -> Result<(), RoomError> {
        let p = self.get_mut(id)?;
        match (p.mic, muted) {
            (Mic::Locked, false) => Err(RoomError::MicLocked),
            (Mic::Locked, true) => Ok(()),
            (_, true) => {
                p.mic = Mic::Muted;
                Ok(())
            }
            (_, false) => {
                p.mic = Mic::Live;
                Ok(())
            }
        }
    }

    /// Turns a participant's camera on or off.
    ///
    /// # Errors
    /// [`RoomError::UnknownParticipant`].
    pub fn set_camera(&mut self, id: ParticipantId, on: bool) -> Result<(), RoomError> {
        self.get_mut(id)?.camera_on = on;
        Ok(())
    }

    /// `subscriber` must not (or may again) see `publisher`'s video.
    ///
    /// # Errors
    /// [`RoomError::UnknownParticipant`] when either is not in the room.
    pub fn set_screened(
        &mut self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        screened: bool,
    ) -> Result<(), RoomError> {
        if !self.participants.contains_key(&subscriber)
            || !self.participants.contains_key(&publisher)
        {
            return Err(RoomError::UnknownParticipant);
        }
        if screened {
            self.screens.insert((subscriber, publisher));
        } else {
            self.screens.remove(&(subscriber, publisher));
        }
        Ok(())
    }

    /// Every screen up now, as (subscriber, publisher): the subscriber does not see the
    /// publisher's video.
    pub fn screens(&self) -> impl Iterator<Item = (ParticipantId, ParticipantId)> + '_ {
        self.screens.iter().copied()
    }

    /// Whether `subscriber` is screened from seeing `publisher`.
    pub fn is_screened(&self, subscriber: ParticipantId, publisher: ParticipantId) -> bool {
        self.screens.contains(&(subscriber, publisher))
    }

    /// Locks or unlocks a consultation room against newcomers.
    pub fn set_consultation_locked(&mut self, room: ConsultationRoomId, locked: bool) {
        if locked {
            self.locked_consultations.insert(room);
        } else {
            self.locked_consultations.remove(&room);
        }
    }

    /// Whether a consultation room is locked.
    pub fn is_consultation_locked(&self, room: ConsultationRoomId) -> bool {
        self.locked_consultations.contains(&room)
    }

    /// Puts a participant under a protective order (`Some`) or lifts it (`None`).
    ///
    /// # Errors
    /// [`RoomError::UnknownParticipant`].
    pub fn set_protection(
        &mut self,
        id: ParticipantId,
        protection: Option<Protection>,
    ) -> Result<(), RoomError> {
        if !self.participants.contains_key(&id) {
            return Err(RoomError::UnknownParticipant);
        }
        match protection {
            Some(p) => self.protections.insert(id, p),
            None => self.protections.remove(&id),
        };
        Ok(())
    }

    /// A participant's protective order, if any.
    pub fn protection(&self, id: ParticipantId) -> Option<&Protection> {
        self.protections.get(&id)
    }
}

/// **The** forwarding decision for what publishers send: may `publisher`'s `kind` media, as
/// their device sent it, reach `subscriber` now?
///
/// See the module documentation for the rules. Unknown participants receive and send nothing.
pub fn may_forward(
    room: &RoomState,
    publisher: ParticipantId,
    subscriber: ParticipantId,
    kind: MediaKind,
) -> bool {
    may_forward_variant(room, publisher, subscriber, kind, Variant::Raw)
}

/// The forwarding decision for one variant of `publisher`'s media (rule 7): the raw media of a
/// protected kind only to the roles the order names, the anonymised media only to everyone
/// else, and for an unprotected kind only the raw media exists.
pub fn may_forward_variant(
    room: &RoomState,
    publisher: ParticipantId,
    subscriber: ParticipantId,
    kind: MediaKind,
    variant: Variant,
) -> bool {
    if publisher == subscriber {
        // The preview: a protected witness receives their own anonymised picture, so they see
        // what the others see. Never their raw media, never their own voice (an echo).
        return variant == Variant::Anonymised
            && kind == MediaKind::Video
            && room
                .participant(publisher)
                .is_some_and(|p| p.camera_on && p.location != Location::Disconnected)
            && room
                .protections
                .get(&publisher)
                .is_some_and(|o| o.protects(MediaKind::Video));
    }
    if !may_forward_base(room, publisher, subscriber, kind) {
        return false;
    }
    let protected = room
        .protections
        .get(&publisher)
        .filter(|p| p.protects(kind));
    match (protected, variant) {
        (None, Variant::Raw) => true,
        (None, Variant::Anonymised) => false,
        (Some(order), v) => {
            let named = room
                .participant(subscriber)
                .is_some_and(|s| order.raw_to.contains(&s.role));
            named == (v == Variant::Raw)
        }
    }
}

/// **The** recording decision (rule 8): may this packet of `publisher`'s `kind` media, in
/// `variant`, go into the hearing's recording now?
///
/// Only audio is recorded, only while recording is on, only from the hearing room and only what
/// is heard there (the hearing is live, the publisher's role is heard, the microphone is live,
/// during a pause only the bench). A protected voice is recorded only as its anonymised
/// variant; an unprotected one only as sent.
pub fn may_record(
    room: &RoomState,
    publisher: ParticipantId,
    kind: MediaKind,
    variant: Variant,
) -> bool {
    if !heard_on_the_record(room, publisher, kind) {
        return false;
    }
    let protected = room
        .protections
        .get(&publisher)
        .is_some_and(|p| p.protects(kind));
    protected == (variant == Variant::Anonymised)
}

/// **The** decision for the court's original voice (rule 9): may this raw packet of
/// `publisher`'s `kind` media go into the encrypted original-voice stream now?
///
/// Only while recording, only audio, only what rule 8 would record of the publisher (hearing
/// room, live, heard role, live microphone, the bench alone during a pause), and only for a
/// publisher whose order both distorts the voice and keeps the original. An unprotected voice
/// is already in the ordinary record as sent; it never goes here.
pub fn may_record_original(room: &RoomState, publisher: ParticipantId, kind: MediaKind) -> bool {
    heard_on_the_record(room, publisher, kind)
        && room
            .protections
            .get(&publisher)
            .is_some_and(|p| p.voice_distorted && p.keep_original)
}

/// Rule 8 without the variant: recording is on, this is audio, and the publisher is heard in
/// the hearing room now.
fn heard_on_the_record(room: &RoomState, publisher: ParticipantId, kind: MediaKind) -> bool {
    if !room.recording || kind != MediaKind::Audio {
        return false;
    }
    let Some(publ) = room.participant(publisher) else {
        return false;
    };
    publ.location == Location::HearingRoom
        && publ.role.may_publish()
        && publ.mic == Mic::Live
        && place_carries_media(room.state, publ.location, kind, publ.role)
}

/// Whether `location` carries `kind` media from a publisher in `role` while the hearing is in
/// `state` (rules 2, 3 and 6).
fn place_carries_media(
    state: HearingState,
    location: Location,
    kind: MediaKind,
    role: HearingRole,
) -> bool {
    match (state, location) {
        (HearingState::Scheduled | HearingState::Adjourned | HearingState::Closed, _) => false,
        (_, Location::WaitingRoom | Location::Disconnected) => false,
        (HearingState::Open | HearingState::InSession, Location::HearingRoom) => true,
        (HearingState::Paused, Location::HearingRoom) => {
            kind == MediaKind::Audio && role.is_bench()
        }
        (
            HearingState::Open | HearingState::InSession | HearingState::Paused,
            Location::Consultation(_),
        ) => true,
    }
}

fn may_forward_base(
    room: &RoomState,
    publisher: ParticipantId,
    subscriber: ParticipantId,
    kind: MediaKind,
) -> bool {
    if publisher == subscriber {
        return false;
    }
    let (Some(publ), Some(subs)) = (room.participant(publisher), room.participant(subscriber))
    else {
        return false;
    };
    if publ.location != subs.location || !publ.role.may_publish() {
        return false;
    }
    if !place_carries_media(room.state, publ.location, kind, publ.role) {
        return false;
    }
    match kind {
        MediaKind::Audio => publ.mic == Mic::Live,
        MediaKind::Video => publ.camera_on && !room.is_screened(subscriber, publisher),
    }
}

#[cfg(test)]
mod tests;
