//! Table tests for the forwarding decision.
//!
//! The oracle below is written from the rules in the module documentation as a list of reasons
//! to withhold media, without calling any helper of the implementation (`may_publish`,
//! `is_bench`, …), so that a slip in one is not copied into the other.

use super::*;

const P: ParticipantId = ParticipantId(1);
const S: ParticipantId = ParticipantId(2);
const C1: Location = Location::Consultation(ConsultationRoomId(1));
const C2: Location = Location::Consultation(ConsultationRoomId(2));
const LOCATIONS: [Location; 5] = [
    Location::WaitingRoom,
    Location::HearingRoom,
    C1,
    C2,
    Location::Disconnected,
];
const MICS: [Mic; 3] = [Mic::Live, Mic::Muted, Mic::Locked];
const KINDS: [MediaKind; 2] = [MediaKind::Audio, MediaKind::Video];

#[derive(Clone, Copy, Debug)]
struct Case {
    state: HearingState,
    pub_role: HearingRole,
    pub_loc: Location,
    sub_role: HearingRole,
    sub_loc: Location,
    kind: MediaKind,
    mic: Mic,
    camera_on: bool,
    screened: bool,
}

/// Reasons, in court terms, why P's media must not reach S.
fn reasons_to_withhold(c: &Case) -> Vec<&'static str> {
    let mut why = Vec::new();
    use HearingState as H;
    if [H::Scheduled, H::Adjourned, H::Closed].contains(&c.state) {
        why.push("the hearing is not live");
    }
    if c.pub_loc != c.sub_loc {
        why.push("they are in different places");
    }
    if c.pub_loc == Location::WaitingRoom || c.sub_loc == Location::WaitingRoom {
        why.push("the waiting room carries no media");
    }
    if c.pub_loc == Location::Disconnected || c.sub_loc == Location::Disconnected {
        why.push("someone is disconnected");
    }
    if c.pub_role == HearingRole::Observer {
        why.push("observers are never heard or seen");
    }
    if c.kind == MediaKind::Audio && c.mic != Mic::Live {
        why.push("the microphone is muted");
    }
    if c.kind == MediaKind::Video && !c.camera_on {
        why.push("the camera is off");
    }
    if c.kind == MediaKind::Video && c.screened {
        why.push("S is screened from P");
    }
    if c.state == H::Paused && c.pub_loc == Location::HearingRoom {
        if c.kind == MediaKind::Video {
            why.push("no pictures in the courtroom during a recess");
        }
        if c.pub_role != HearingRole::Judge && c.pub_role != HearingRole::Clerk {
            why.push("only the bench is heard in the courtroom during a recess");
        }
    }
    why
}

fn room_for(c: &Case) -> RoomState {
    let mut room = RoomState::new(c.state);
    room.add(
        P,
        Participant {
            role: c.pub_role,
            location: c.pub_loc,
            mic: c.mic,
            camera_on: c.camera_on,
        },
    )
    .expect("a fresh id");
    room.add(
        S,
        Participant {
            role: c.sub_role,
            location: c.sub_loc,
            mic: Mic::Live,
            camera_on: true,
        },
    )
    .expect("a fresh id");
    room.set_screened(S, P, c.screened)
        .expect("both are present");
    room
}

#[test]
fn every_role_location_state_and_switch_combination_matches_the_rules() {
    let mut checked = 0usize;
    let mut allowed = 0usize;
    for state in HearingState::ALL {
        for pub_role in HearingRole::ALL {
            for sub_role in HearingRole::ALL {
                for pub_loc in LOCATIONS {
                    for sub_loc in LOCATIONS {
                        for kind in KINDS {
                            for mic in MICS {
                                for camera_on in [true, false] {
                                    for screened in [false, true] {
                                        let c = Case {
                                            state,
                                            pub_role,
                                            pub_loc,
                                            sub_role,
                                            sub_loc,
                                            kind,
                                            mic,
                                            camera_on,
                                            screened,
                                        };
                                        let why = reasons_to_withhold(&c);
                                        let room = room_for(&c);
                                        let got = may_forward(&room, P, S, kind);
                                        assert_eq!(got, why.is_empty(), "{c:?}: {why:?}");
                                        // Media never flows back to its own publisher.
                                        assert!(!may_forward(&room, P, P, kind));
                                        checked += 1;
                                        allowed += usize::from(got);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 10 * 10 * 5 * 5 * 2 * 3 * 2 * 2);
    // The table is not vacuous: a good share of cases forward.
    assert!(allowed > 1_000, "{allowed}");
}

fn three_in_session() -> RoomState {
    let mut room = RoomState::new(HearingState::InSession);
    for (id, role) in [
        (1, HearingRole::Judge),
        (2, HearingRole::DefenceCounsel),
        (3, HearingRole::Defendant),
    ] {
        room.add(ParticipantId(id), Participant::new(role))
            .expect("fresh ids");
        room.move_to(ParticipantId(id), Location::HearingRoom)
            .expect("known participant");
    }
    room
}

#[test]
fn everyone_in_the_hearing_room_receives_everyone_else_in_session() {
    let room = three_in_session();
    for a in 1..=3 {
        for b in 1..=3 {
            for kind in KINDS {
                let expected = a != b;
                assert_eq!(
                    may_forward(&room, ParticipantId(a), ParticipantId(b), kind),
                    expected,
                    "{a}->{b} {kind:?}"
                );
            }
        }
    }
}

#[test]
fn a_consultation_room_is_private_even_from_the_judge() {
    let mut room = three_in_session();
    let judge = ParticipantId(1);
    let counsel = ParticipantId(2);
    let client = ParticipantId(3);
    room.move_to(counsel, C1).expect("known");
    room.move_to(client, C1).expect("known");
    for kind in KINDS {
        assert!(may_forward(&room, counsel, client, kind));
        assert!(may_forward(&room, client, counsel, kind));
        assert!(!may_forward(&room, counsel, judge, kind));
        assert!(!may_forward(&room, judge, client, kind));
    }
}

#[test]
fn a_locked_consultation_room_keeps_newcomers_out_but_lets_members_leave() {
    let mut room = three_in_session();
    room.move_to(ParticipantId(2), C1).expect("known");
    room.set_consultation_locked(ConsultationRoomId(1), true);
    assert_eq!(
        room.move_to(ParticipantId(1), C1),
        Err(RoomError::ConsultationLocked)
    );
    // Re-entering the room one is already in is not "entering".
    assert_eq!(room.move_to(ParticipantId(2), C1), Ok(()));
    assert_eq!(
        room.move_to(ParticipantId(2), Location::HearingRoom),
        Ok(())
    );
    room.set_consultation_locked(ConsultationRoomId(1), false);
    assert_eq!(room.move_to(ParticipantId(1), C1), Ok(()));
}

#[test]
fn a_court_locked_microphone_cannot_be_unmuted_by_its_owner() {
    let mut room = three_in_session();
    let d = ParticipantId(3);
    room.lock_mic(d, true).expect("known");
    assert_eq!(room.set_muted(d, false), Err(RoomError::MicLocked));
    assert!(!may_forward(&room, d, ParticipantId(1), MediaKind::Audio));
    assert!(may_forward(&room, d, ParticipantId(1), MediaKind::Video));
    room.lock_mic(d, false).expect("known");
    // Unlocking leaves it muted; the participant unmutes.
    assert!(!may_forward(&room, d, ParticipantId(1), MediaKind::Audio));
    room.set_muted(d, false).expect("no longer locked");
    assert!(may_forward(&room, d, ParticipantId(1), MediaKind::Audio));
}

#[test]
fn removing_a_participant_removes_their_screens_and_their_media() {
    let mut room = three_in_session();
    room.set_screened(ParticipantId(3), ParticipantId(2), true)
        .expect("known");
    assert!(room.remove(ParticipantId(2)).is_some());
    assert!(!room.is_screened(ParticipantId(3), ParticipantId(2)));
    assert!(!may_forward(
        &room,
        ParticipantId(2),
        ParticipantId(3),
        MediaKind::Audio
    ));
    assert_eq!(
        room.set_screened(ParticipantId(3), ParticipantId(2), true),
        Err(RoomError::UnknownParticipant)
    );
    assert_eq!(
        room.add(ParticipantId(1), Participant::new(HearingRole::Clerk)),
        Err(RoomError::AlreadyJoined)
    );
}

#[test]
fn newcomers_wait_in_the_waiting_room_and_receive_nothing() {
    let mut room = three_in_session();
    room.add(ParticipantId(9), Participant::new(HearingRole::Witness))
        .expect("fresh id");
    room.add(ParticipantId(10), Participant::new(HearingRole::Witness))
        .expect("fresh id");
    for other in [1, 2, 3, 10] {
        for kind in KINDS {
            assert!(!may_forward(
                &room,
                ParticipantId(other),
                ParticipantId(9),
                kind
            ));
            assert!(!may_forward(
                &room,
                ParticipantId(9),
                ParticipantId(other),
                kind
            ));
        }
    }
}

#[test]
fn under_a_protective_order_raw_media_reaches_only_the_named_roles_and_everyone_else_the_anonymised()
 {
    let orders = [
        (false, FaceProtection::None),
        (true, FaceProtection::None),
        (false, FaceProtection::Masked),
        (true, FaceProtection::FullFrame),
    ];
    let named_sets: [&[HearingRole]; 3] = [
        &[],
        &[HearingRole::Judge],
        &[HearingRole::Judge, HearingRole::DefenceCounsel],
    ];
    let mut checked = 0usize;
    let mut anonymised = 0usize;
    for state in [HearingState::InSession, HearingState::Paused] {
        for pub_role in HearingRole::ALL {
            for sub_role in HearingRole::ALL {
                for pub_loc in [Location::HearingRoom, C1, Location::WaitingRoom] {
                    for sub_loc in [Location::HearingRoom, C1] {
                        for kind in KINDS {
                            for mic in [Mic::Live, Mic::Muted] {
                                for screened in [false, true] {
                                    let c = Case {
                                        state,
                                        pub_role,
                                        pub_loc,
                                        sub_role,
                                        sub_loc,
                                        kind,
                                        mic,
                                        camera_on: true,
                                        screened,
                                    };
                                    let base = reasons_to_withhold(&c).is_empty();
                                    for (voice, face) in orders {
                                        for named in named_sets {
                                            let mut room = room_for(&c);
                                            room.set_protection(
                                                P,
                                                Some(Protection {
                                                    voice_distorted: voice,
                                                    face,
                                                    raw_to: named.iter().copied().collect(),
                                                    keep_original: false,
                                                }),
                                            )
                                            .expect("P is present");
                                            let protected = match kind {
                                                MediaKind::Audio => voice,
                                                MediaKind::Video => face != FaceProtection::None,
                                            };
                                            let is_named = named.contains(&sub_role);
                                            let raw = may_forward_variant(
                                                &room,
                                                P,
                                                S,
                                                kind,
                                                Variant::Raw,
                                            );
                                            let anon = may_forward_variant(
                                                &room,
                                                P,
                                                S,
                                                kind,
                                                Variant::Anonymised,
                                            );
                                            assert_eq!(raw, may_forward(&room, P, S, kind));
                                            let (want_raw, want_anon) = match (base, protected) {
                                                (false, _) => (false, false),
                                                (true, false) => (true, false),
                                                (true, true) => (is_named, !is_named),
                                            };
                                            assert_eq!(
                                                (raw, anon),
                                                (want_raw, want_anon),
                                                "{c:?} voice={voice} face={face:?} named={named:?}"
                                            );
                                            // The security property: never both, and raw media of
                                            // a protected kind never reaches someone not named.
                                            assert!(!(raw && anon));
                                            if protected && !is_named {
                                                assert!(!raw);
                                            }
                                            checked += 1;
                                            anonymised += usize::from(anon);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 10 * 10 * 3 * 2 * 2 * 2 * 2 * 4 * 3);
    assert!(anonymised > 1_000, "{anonymised}");
}

#[test]
fn lifting_an_order_or_removing_the_participant_ends_the_protection() {
    let mut room = three_in_session();
    let order = Protection {
        voice_distorted: true,
        face: FaceProtection::Masked,
        raw_to: [HearingRole::Judge].into_iter().collect(),
        keep_original: false,
    };
    room.set_protection(ParticipantId(3), Some(order.clone()))
        .expect("present");
    assert!(!may_forward(
        &room,
        ParticipantId(3),
        ParticipantId(2),
        MediaKind::Video
    ));
    assert!(may_forward(
        &room,
        ParticipantId(3),
        ParticipantId(1),
        MediaKind::Video
    ));
    room.set_protection(ParticipantId(3), None)
        .expect("present");
    assert!(may_forward(
        &room,
        ParticipantId(3),
        ParticipantId(2),
        MediaKind::Video
    ));
    room.set_protection(ParticipantId(3), Some(order.clone()))
        .expect("present");
    room.remove(ParticipantId(3));
    assert_eq!(room.protection(ParticipantId(3)), None);
    assert_eq!(
        room.set_protection(ParticipantId(3), Some(order)),
        Err(RoomError::UnknownParticipant)
    );
}

#[test]
fn a_protected_witness_sees_only_their_own_anonymised_picture() {
    let mut room = three_in_session();
    let w = ParticipantId(3);
    let everything = |room: &RoomState| {
        let mut got = Vec::new();
        for kind in KINDS {
            for variant in [Variant::Raw, Variant::Anonymised] {
                if may_forward_variant(room, w, w, kind, variant) {
                    got.push((kind, variant));
                }
            }
        }
        got
    };
    assert!(
        everything(&room).is_empty(),
        "no order: nothing of one's own"
    );
    let mut order = Protection {
        voice_distorted: true,
        face: FaceProtection::None,
        raw_to: [HearingRole::Judge].into_iter().collect(),
        keep_original: false,
    };
    room.set_protection(w, Some(order.clone()))
        .expect("present");
    assert!(
        everything(&room).is_empty(),
        "a distorted voice is not echoed"
    );
    for face in [FaceProtection::Masked, FaceProtection::FullFrame] {
        order.face = face;
        room.set_protection(w, Some(order.clone()))
            .expect("present");
        assert_eq!(
            everything(&room),
            vec![(MediaKind::Video, Variant::Anonymised)]
        );
        // Wherever the witness is, even waiting: the preview shows them only themselves.
        room.move_to(w, Location::WaitingRoom).expect("present");
        assert_eq!(
            everything(&room),
            vec![(MediaKind::Video, Variant::Anonymised)]
        );
        room.move_to(w, Location::HearingRoom).expect("present");
    }
    room.set_camera(w, false).expect("present");
    assert!(everything(&room).is_empty(), "camera off: no preview");
}

/// Reasons, in court terms, why a packet of P's must not go into the recording. Written from
/// rule 8 without the implementation's helpers.
#[allow(clippy::too_many_arguments)] // one argument per dimension of the table
fn reasons_not_to_record(
    state: HearingState,
    role: HearingRole,
    loc: Location,
    mic: Mic,
    kind: MediaKind,
    protected_voice: bool,
    variant: Variant,
    recording: bool,
) -> Vec<&'static str> {
    use HearingState as H;
    let mut why = Vec::new();
    if !recording {
        why.push("the judge has not started recording");
    }
    if kind == MediaKind::Video {
        why.push("only sound is recorded");
    }
    if loc != Location::HearingRoom {
        why.push("only the hearing room is recorded (never a consultation or the waiting room)");
    }
    if [H::Scheduled, H::Adjourned, H::Closed].contains(&state) {
        why.push("the hearing is not live");
    }
    if role == HearingRole::Observer {
        why.push("observers are never heard");
    }
    if mic != Mic::Live {
        why.push("the microphone is muted");
    }
    if state == H::Paused && role != HearingRole::Judge && role != HearingRole::Clerk {
        why.push("only the bench is heard in the courtroom during a recess");
    }
    if protected_voice && variant == Variant::Raw {
        why.push("a protected voice is recorded only distorted");
    }
    if !protected_voice && variant == Variant::Anonymised {
        why.push("an unprotected voice has no anonymised variant");
    }
    why
}

/// Reasons, in court terms, why a raw packet of P's must not go into the court's encrypted
/// original-voice stream (rule 9). Written from the rules without the implementation's helpers.
#[allow(clippy::too_many_arguments)] // one argument per dimension of the table
fn reasons_not_to_record_original(
    state: HearingState,
    role: HearingRole,
    loc: Location,
    mic: Mic,
    kind: MediaKind,
    voice_distorted: bool,
    order_keeps_original: bool,
    recording: bool,
) -> Vec<&'static str> {
    // Where, when and whose: exactly what rule 8 asks of an unprotected voice sent as is.
    let mut why =
        reasons_not_to_record(state, role, loc, mic, kind, false, Variant::Raw, recording);
    if !voice_distorted {
        why.push("the voice is not distorted: it is in the ordinary record already, or private");
    }
    if !order_keeps_original {
        why.push("the order does not say the court keeps the original");
    }
    why
}

#[test]
fn every_combination_is_recorded_exactly_as_rules_8_and_9_say() {
    let mut checked = 0usize;
    let mut recorded = 0usize;
    let mut originals = 0usize;
    for state in HearingState::ALL {
        for role in HearingRole::ALL {
            for loc in LOCATIONS {
                for mic in MICS {
                    for kind in KINDS {
                        for protected_voice in [false, true] {
                            for face_masked in [false, true] {
                                for variant in [Variant::Raw, Variant::Anonymised] {
                                    for recording in [false, true] {
                                        for keep_original in [false, true] {
                                            let mut room = RoomState::new(state);
                                            room.add(
                                                P,
                                                Participant {
                                                    role,
                                                    location: loc,
                                                    mic,
                                                    camera_on: true,
                                                },
                                            )
                                            .expect("a fresh id");
                                            if protected_voice || face_masked {
                                                room.set_protection(
                                                    P,
                                                    Some(Protection {
                                                        voice_distorted: protected_voice,
                                                        face: if face_masked {
                                                            FaceProtection::Masked
                                                        } else {
                                                            FaceProtection::None
                                                        },
                                                        raw_to: HearingRole::ALL
                                                            .into_iter()
                                                            .collect(),
                                                        keep_original,
                                                    }),
                                                )
                                                .expect("present");
                                            }
                                            room.set_recording(recording);
                                            let why = reasons_not_to_record(
                                                state,
                                                role,
                                                loc,
                                                mic,
                                                kind,
                                                protected_voice,
                                                variant,
                                                recording,
                                            );
                                            let got = may_record(&room, P, kind, variant);
                                            assert_eq!(
                                                got,
                                                why.is_empty(),
                                                "{state:?} {role:?} {loc:?} {mic:?} {kind:?} \
                                             protected={protected_voice} {variant:?} \
                                             recording={recording}: {why:?}"
                                            );
                                            // An unknown participant is never recorded.
                                            assert!(!may_record(&room, S, kind, variant));
                                            // Rule 9: the same conditions, for an order that
                                            // distorts the voice and keeps the original.
                                            let why = reasons_not_to_record_original(
                                                state,
                                                role,
                                                loc,
                                                mic,
                                                kind,
                                                protected_voice,
                                                (protected_voice || face_masked) && keep_original,
                                                recording,
                                            );
                                            let original = may_record_original(&room, P, kind);
                                            assert_eq!(
                                                original,
                                                why.is_empty(),
                                                "original: {state:?} {role:?} {loc:?} {mic:?} \
                                             {kind:?} protected={protected_voice} \
                                             keep={keep_original} recording={recording}: {why:?}"
                                            );
                                            assert!(!may_record_original(&room, S, kind));
                                            checked += 1;
                                            recorded += usize::from(got);
                                            originals += usize::from(original);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 10 * 5 * 3 * 2 * 2 * 2 * 2 * 2 * 2);
    assert!(recorded > 50, "{recorded}");
    assert!(originals > 10, "{originals}");
}

#[test]
fn a_consultation_held_during_the_recording_is_never_recorded() {
    let mut room = three_in_session();
    room.set_recording(true);
    room.move_to(ParticipantId(2), C1).expect("known");
    room.move_to(ParticipantId(3), C1).expect("known");
    assert!(may_record(
        &room,
        ParticipantId(1),
        MediaKind::Audio,
        Variant::Raw
    ));
    for p in [2, 3] {
        for v in [Variant::Raw, Variant::Anonymised] {
            assert!(!may_record(&room, ParticipantId(p), MediaKind::Audio, v));
        }
    }
}

#[test]
fn a_dropped_participant_returns_where_it_was_unless_that_place_is_gone_or_locked() {
    let (counsel, defendant) = (ParticipantId(2), ParticipantId(3));
    // From the hearing room: back to the hearing room.
    let mut room = three_in_session();
    room.move_to(defendant, Location::Disconnected)
        .expect("known");
    assert_eq!(room.reconnect(defendant), Ok(Location::HearingRoom));
    // From an open consultation room: back into it.
    room.move_to(counsel, C1).expect("known");
    room.move_to(defendant, C1).expect("known");
    room.move_to(defendant, Location::Disconnected)
        .expect("known");
    assert_eq!(room.reconnect(defendant), Ok(C1));
    // From a consultation room locked meanwhile: the waiting room (nobody enters a locked room).
    room.move_to(defendant, Location::Disconnected)
        .expect("known");
    room.set_consultation_locked(ConsultationRoomId(1), true);
    assert_eq!(room.reconnect(defendant), Ok(Location::WaitingRoom));
    // From a consultation room that ended meanwhile: the hearing room, as its members went.
    room.set_consultation_locked(ConsultationRoomId(1), false);
    room.move_to(defendant, C1).expect("known");
    room.move_to(defendant, Location::Disconnected)
        .expect("known");
    room.move_to(counsel, Location::HearingRoom).expect("known");
    assert_eq!(room.reconnect(defendant), Ok(Location::HearingRoom));
    // From the waiting room, or moved by the court while away: the waiting room.
    room.move_to(defendant, Location::WaitingRoom)
        .expect("known");
    room.move_to(defendant, Location::Disconnected)
        .expect("known");
    assert_eq!(room.reconnect(defendant), Ok(Location::WaitingRoom));
    room.move_to(defendant, Location::HearingRoom)
        .expect("known");
    room.move_to(defendant, Location::Disconnected)
        .expect("known");
    room.move_to(defendant, Location::WaitingRoom)
        .expect("known");
    room.move_to(defendant, Location::Disconnected)
        .expect("known");
    assert_eq!(room.reconnect(defendant), Ok(Location::WaitingRoom));
    // Never seen: an error, nothing changes.
    assert_eq!(
        room.reconnect(ParticipantId(99)),
        Err(RoomError::UnknownParticipant)
    );
}
