//! Media isolation over real WebRTC on loopback: real TLS, real WebSocket signaling, real
//! ICE/DTLS/SRTP, the room changed through the SFU's API as the court's controls would.
//!
//! Timing-free by design (the machine may be loaded). "None" is exact: the test client stamps
//! every synthetic packet with the moment it was sent, and no packet sent after the room changed
//! may arrive where the room forbids it (packets already on their way are sent before the
//! change, so no settle time is needed for them, however slow the machine). "Flows" compares a
//! count over a window, after a settle time, with a small minimum.

use std::time::Duration;

use assize_server::sfu::Hearing;
use assize_server::sfu::room::{
    ConsultationRoomId, HearingState, Location, MediaKind, ParticipantId,
};
use assize_tests::rtc_client::{
    PayloadTypes, RtcClient, SfuServer, spawn_sfu_server, stamp_now, wait_until,
};

const AUDIO: MediaKind = MediaKind::Audio;
const VIDEO: MediaKind = MediaKind::Video;
/// How long a test waits for media to start flowing, at most (a loaded machine is slow).
const START_LIMIT: Duration = Duration::from_secs(20);
/// Time for packets in flight when the room changed to arrive.
const SETTLE: Duration = Duration::from_millis(700);
/// The counting window.
const WINDOW: Duration = Duration::from_millis(1500);
/// At least this many packets in a window count as "flowing" (expected ≈ 75 audio, 45 video).
const FLOWING: u64 = 5;

struct Court {
    server: SfuServer,
    judge: RtcClient,
    counsel: RtcClient,
    defendant: RtcClient,
}

impl Court {
    fn hearing(&self) -> std::sync::Arc<Hearing> {
        self.server
            .sfu
            .hearings()
            .get("h1")
            .expect("the hearing is live")
    }

    fn clients(&self) -> [&RtcClient; 3] {
        [&self.judge, &self.counsel, &self.defendant]
    }

    async fn close(self) {
        self.judge.close().await;
        self.counsel.close().await;
        self.defendant.close().await;
    }
}

fn pid(c: &RtcClient) -> ParticipantId {
    ParticipantId(c.participant)
}

/// A judge (Chrome payload types), defence counsel (Firefox payload types, so every leg needs
/// its payload type rewritten) and a defendant, all in the hearing room, in session, with media
/// flowing between every pair.
async fn court_in_session() -> Court {
    let server = spawn_sfu_server().await;
    let judge = RtcClient::join(&server, "h1", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    let counsel = RtcClient::join(&server, "h1", "defence_counsel", PayloadTypes::Firefox)
        .await
        .expect("counsel joins");
    let defendant = RtcClient::join(&server, "h1", "defendant", PayloadTypes::Chrome)
        .await
        .expect("the defendant joins");
    let court = Court {
        server,
        judge,
        counsel,
        defendant,
    };
    court.hearing().update(|room| {
        room.set_state(HearingState::InSession);
        for c in court.clients() {
            room.move_to(pid(c), Location::HearingRoom)
                .expect("a participant");
        }
    });
    let flowing = wait_until(START_LIMIT, || {
        court.clients().iter().all(|sub| {
            court.clients().iter().all(|publ| {
                publ.participant == sub.participant
                    || (sub.received(publ.participant, AUDIO) >= FLOWING
                        && sub.received(publ.participant, VIDEO) >= FLOWING)
            })
        })
    })
    .await;
    assert!(flowing, "media flows between all three: {}", report(&court));
    court
}

fn report(court: &Court) -> String {
    let mut s = String::new();
    for sub in court.clients() {
        for publ in court.clients() {
            if publ.participant != sub.participant {
                s += &format!(
                    "p{}<-p{}: a{} v{}; ",
                    sub.participant,
                    publ.participant,
                    sub.received(publ.participant, AUDIO),
                    sub.received(publ.participant, VIDEO)
                );
            }
        }
        s += &format!("errors p{}: {:?}; ", sub.participant, sub.errors());
    }
    s
}

/// Packets each subscriber receives from each publisher during one window after settling, and
/// the moment the window was opened (just after the room changed).
struct Window {
    deltas: Vec<((u64, u64, MediaKind), u64)>,
    changed_at: u64,
}

impl Window {
    /// Called just after the room changed.
    async fn measure(court: &Court) -> Self {
        let changed_at = stamp_now();
        tokio::time::sleep(SETTLE).await;
        let snapshot = |court: &Court| {
            let mut v = Vec::new();
            for sub in court.clients() {
                for publ in court.clients() {
                    for kind in [AUDIO, VIDEO] {
                        v.push((
                            (sub.participant, publ.participant, kind),
                            sub.received(publ.participant, kind),
                        ));
                    }
                }
            }
            v
        };
        let before = snapshot(court);
        tokio::time::sleep(WINDOW).await;
        let after = snapshot(court);
        Self {
            deltas: before
                .into_iter()
                .zip(after)
                .map(|((k, b), (_, a))| (k, a.saturating_sub(b)))
                .collect(),
            changed_at,
        }
    }

    /// Packets of `publ`'s `kind` that `sub` received and `publ` sent after the room changed:
    /// none where the room forbids it (and many where it allows it: the stamps are there).
    fn since_change(&self, sub: &RtcClient, publ: &RtcClient, kind: MediaKind) -> u64 {
        sub.received_sent_after(publ.participant, kind, self.changed_at)
    }

    fn got(&self, sub: &RtcClient, publ: &RtcClient, kind: MediaKind) -> u64 {
        self.deltas
            .iter()
            .find(|(k, _)| *k == (sub.participant, publ.participant, kind))
            .map_or(0, |(_, n)| *n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_in_the_hearing_room_hear_and_see_each_other() {
    let court = court_in_session().await;
    let w = Window::measure(&court).await;
    for sub in court.clients() {
        for publ in court.clients() {
            if sub.participant != publ.participant {
                for kind in [AUDIO, VIDEO] {
                    assert!(w.got(sub, publ, kind) >= FLOWING, "{}", report(&court));
                }
            }
        }
    }
    for c in court.clients() {
        assert!(c.errors().is_empty(), "{:?}", c.errors());
    }
    court.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_sent_to_the_waiting_room_receives_nothing_and_is_not_heard() {
    let court = court_in_session().await;
    court.hearing().update(|room| {
        room.move_to(pid(&court.defendant), Location::WaitingRoom)
            .expect("a participant")
    });
    let w = Window::measure(&court).await;
    for other in [&court.judge, &court.counsel] {
        for kind in [AUDIO, VIDEO] {
            assert_eq!(
                w.since_change(&court.defendant, other, kind),
                0,
                "{kind:?} leaked to the waiting room"
            );
            assert_eq!(
                w.since_change(other, &court.defendant, kind),
                0,
                "{kind:?} leaked from the waiting room"
            );
        }
    }
    // The hearing goes on without them.
    assert!(w.got(&court.judge, &court.counsel, AUDIO) >= FLOWING);
    assert!(w.got(&court.counsel, &court.judge, VIDEO) >= FLOWING);

    // Called back in: media flows again (and the video restarts with a keyframe request).
    let requests_before = court.judge.keyframe_requests();
    court.hearing().update(|room| {
        room.move_to(pid(&court.defendant), Location::HearingRoom)
            .expect("a participant")
    });
    let w = Window::measure(&court).await;
    assert!(w.got(&court.defendant, &court.judge, VIDEO) >= FLOWING);
    assert!(w.got(&court.judge, &court.defendant, AUDIO) >= FLOWING);
    // The same count that is zero above, now that the room allows it.
    assert!(w.since_change(&court.defendant, &court.judge, AUDIO) >= FLOWING);
    assert!(court.judge.keyframe_requests() > requests_before);
    // About 100 audio packets were withheld; the defendant's stream resumes without a hole
    // (a few packets may be dropped at the moment of the change, not a hundred).
    let jump = court
        .defendant
        .max_sequence_jump(court.judge.participant, AUDIO);
    assert!(
        (1..=10).contains(&jump),
        "sequence numbers jumped by {jump}"
    );
    court.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screened_participant_hears_the_witness_but_receives_no_video() {
    let court = court_in_session().await;
    // The defendant must not see defence counsel (standing in for a protected witness).
    court.hearing().update(|room| {
        room.set_screened(pid(&court.defendant), pid(&court.counsel), true)
            .expect("participants")
    });
    let w = Window::measure(&court).await;
    assert_eq!(w.since_change(&court.defendant, &court.counsel, VIDEO), 0);
    assert!(w.got(&court.defendant, &court.counsel, AUDIO) >= FLOWING);
    // Screening is one-way and personal: the judge still sees counsel, counsel sees the defendant.
    assert!(w.got(&court.judge, &court.counsel, VIDEO) >= FLOWING);
    assert!(w.got(&court.counsel, &court.defendant, VIDEO) >= FLOWING);
    court.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consultation_room_is_private_even_from_the_judge() {
    let court = court_in_session().await;
    court.hearing().update(|room| {
        let c1 = Location::Consultation(ConsultationRoomId(1));
        room.move_to(pid(&court.counsel), c1)
            .expect("a participant");
        room.move_to(pid(&court.defendant), c1)
            .expect("a participant");
        room.set_consultation_locked(ConsultationRoomId(1), true);
    });
    let w = Window::measure(&court).await;
    for kind in [AUDIO, VIDEO] {
        assert!(w.got(&court.counsel, &court.defendant, kind) >= FLOWING);
        assert!(w.got(&court.defendant, &court.counsel, kind) >= FLOWING);
        for member in [&court.counsel, &court.defendant] {
            assert_eq!(
                w.since_change(&court.judge, member, kind),
                0,
                "the judge overheard {kind:?}"
            );
            assert_eq!(w.since_change(member, &court.judge, kind), 0);
        }
    }
    court.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_participant_is_seen_but_not_heard() {
    let court = court_in_session().await;
    court.hearing().update(|room| {
        room.lock_mic(pid(&court.counsel), true)
            .expect("a participant")
    });
    let w = Window::measure(&court).await;
    for other in [&court.judge, &court.defendant] {
        assert_eq!(w.since_change(other, &court.counsel, AUDIO), 0);
        assert!(w.got(other, &court.counsel, VIDEO) >= FLOWING);
    }
    assert!(w.got(&court.counsel, &court.judge, AUDIO) >= FLOWING);
    court.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_pause_only_the_bench_is_heard_in_the_hearing_room() {
    let court = court_in_session().await;
    court
        .hearing()
        .update(|room| room.set_state(HearingState::Paused));
    let w = Window::measure(&court).await;
    // The judge can still call the parties back…
    for party in [&court.counsel, &court.defendant] {
        assert!(w.got(party, &court.judge, AUDIO) >= FLOWING);
        assert_eq!(w.since_change(party, &court.judge, VIDEO), 0);
    }
    // …but nothing else is carried in the courtroom during the recess.
    for sub in court.clients() {
        for publ in [&court.counsel, &court.defendant] {
            if sub.participant != publ.participant {
                for kind in [AUDIO, VIDEO] {
                    assert_eq!(
                        w.since_change(sub, publ, kind),
                        0,
                        "{kind:?} during the recess"
                    );
                }
            }
        }
    }
    // Adjourned: nothing at all.
    court
        .hearing()
        .update(|room| room.set_state(HearingState::Adjourned));
    let w = Window::measure(&court).await;
    for sub in court.clients() {
        for publ in court.clients() {
            for kind in [AUDIO, VIDEO] {
                assert_eq!(w.since_change(sub, publ, kind), 0);
            }
        }
    }
    court.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_survives_the_screened_participant_reconnecting() {
    let server = spawn_sfu_server().await;
    let witness =
        RtcClient::join_as_party(&server, "h1", "witness", Some("w-1"), PayloadTypes::Chrome)
            .await
            .expect("the witness joins");
    let defendant = RtcClient::join_as_party(
        &server,
        "h1",
        "defendant",
        Some("d-1"),
        PayloadTypes::Firefox,
    )
    .await
    .expect("the defendant joins");
    let hearing = server.sfu.hearings().get("h1").expect("live");
    let (w, d) = (pid(&witness), pid(&defendant));
    hearing.update(|room| {
        room.set_state(HearingState::InSession);
        room.move_to(w, Location::HearingRoom).expect("known");
        room.move_to(d, Location::HearingRoom).expect("known");
        room.set_screened(d, w, true).expect("known");
    });
    assert!(
        wait_until(START_LIMIT, || defendant.received(w.0, AUDIO) >= FLOWING).await,
        "the defendant hears the witness"
    );
    assert_eq!(defendant.received(w.0, VIDEO), 0);

    // The defendant's connection drops and comes back (same party).
    defendant.close().await;
    assert!(
        wait_until(START_LIMIT, || !hearing.is_attached(d)).await,
        "the server notices the drop"
    );
    let defendant = RtcClient::join_as_party(
        &server,
        "h1",
        "defendant",
        Some("d-1"),
        PayloadTypes::Firefox,
    )
    .await
    .expect("the defendant rejoins");
    assert_eq!(pid(&defendant), d, "the same participant");
    assert_eq!(
        hearing.room().participant(d).map(|p| p.location),
        Some(Location::HearingRoom),
        "back at once: where they were, not in the waiting room"
    );
    assert!(
        wait_until(START_LIMIT, || defendant.received(w.0, AUDIO) >= FLOWING).await,
        "the defendant hears the witness again"
    );
    // The rejoined defendant's video reaches the witness (a new leg: on a loaded machine it
    // may start well after the audio that the wait above saw)...
    assert!(
        wait_until(START_LIMIT, || witness.received(d.0, VIDEO) >= FLOWING).await,
        "the screen is one-way"
    );
    // ...while, a window later, the defendant has still seen nothing of the witness.
    tokio::time::sleep(WINDOW).await;
    assert_eq!(defendant.received(w.0, VIDEO), 0, "still screened");
    witness.close().await;
    defendant.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_participant_s_raw_media_reaches_only_those_the_order_names() {
    use assize_server::sfu::room::{FaceProtection, HearingRole, Protection};
    let court = court_in_session().await;
    // The defendant stands in for a protected witness: voice and face protected, the original
    // for the judge only. This room has no hearing secret (so no voice stream) and the test
    // client's VP8 is keyframe-shaped but not decodable (so the fail-closed video pipeline
    // sends black pictures of its own): defence counsel gets no audio and never the raw
    // media. (tests/tests/protected_witness.rs does this with real, decodable media.)
    court.hearing().update(|room| {
        room.set_protection(
            pid(&court.defendant),
            Some(Protection {
                voice_distorted: true,
                face: FaceProtection::Masked,
                raw_to: [HearingRole::Judge].into_iter().collect(),
                keep_original: false,
            }),
        )
        .expect("a participant")
    });
    let ordered_at = stamp_now();
    let w = Window::measure(&court).await;
    // Nothing raw sent after the order reaches counsel: no audio (no voice stream here) and no
    // video but the server's own pictures (which carry no send stamp).
    for kind in [AUDIO, VIDEO] {
        assert_eq!(
            court
                .counsel
                .received_sent_after(court.defendant.participant, kind, ordered_at),
            0,
            "counsel received raw {kind:?}: {}",
            report(&court)
        );
    }
    assert!(w.got(&court.judge, &court.defendant, AUDIO) >= FLOWING);
    assert!(w.got(&court.judge, &court.defendant, VIDEO) >= FLOWING);
    // Everyone else's media is untouched.
    assert!(w.got(&court.counsel, &court.judge, VIDEO) >= FLOWING);
    assert!(w.got(&court.defendant, &court.counsel, AUDIO) >= FLOWING);

    // Lifting the order restores the raw media to counsel.
    court.hearing().update(|room| {
        room.set_protection(pid(&court.defendant), None)
            .expect("a participant")
    });
    let w = Window::measure(&court).await;
    assert!(w.got(&court.counsel, &court.defendant, VIDEO) >= FLOWING);
    assert!(
        w.since_change(&court.counsel, &court.defendant, VIDEO) >= FLOWING,
        "the raw video, stamped, reaches counsel again"
    );
    court.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_grades_each_participant_s_connection() {
    use assize_server::sfu::quality::Grade;
    use assize_tests::rtc_client::RecordedMedia;
    let court = court_in_session().await;
    // A fourth participant whose network loses one packet in four on the way to the server.
    let lossy = RtcClient::join_with_media(
        &court.server,
        "h1",
        "witness",
        "lossy",
        RecordedMedia {
            lose_one_in: Some(4),
            ..RecordedMedia::synthetic()
        },
    )
    .await
    .expect("the witness joins");
    let h = court.hearing();
    let graded = wait_until(START_LIMIT, || {
        court.clients().iter().all(|c| {
            h.quality_of(pid(c))
                .is_some_and(|q| q.grade == Grade::Good && q.kbps > 0)
        }) && h
            .quality_of(pid(&lossy))
            .is_some_and(|q| q.grade == Grade::Bad && q.loss_percent >= 20.0)
    })
    .await;
    let all: Vec<_> = court
        .clients()
        .iter()
        .chain([&&lossy])
        .map(|c| h.quality_of(pid(c)))
        .collect();
    assert!(graded, "{all:?}");
    let q = h.quality_of(pid(&lossy)).expect("graded");
    assert!(
        (20.0..=30.0).contains(&q.loss_percent),
        "one in four lost: {q:?}"
    );
    assert!(
        all.iter().flatten().all(|q| q.rtt_ms.is_some()),
        "every connection has a round-trip time: {all:?}"
    );
    // Once gone, a participant has no heartbeat.
    let id = pid(&lossy);
    lossy.close().await;
    assert!(wait_until(START_LIMIT, || h.quality_of(id).is_none()).await);
    court.close().await;
}
