//! Simulcast over real WebRTC on loopback: a publisher sends its camera as three layers
//! (`a=simulcast:send q;h;f`, RIDs in the header extension), and the SFU forwards exactly one
//! layer to each subscriber, switching a subscriber whose bandwidth estimate (REMB) is short to
//! a lower layer at that layer's keyframe, its sequence numbers contiguous.
//!
//! Layers are told apart by their synthetic payloads (size and last byte), so what a subscriber
//! received says which layer it was. Timing-free: every wait is "until this holds" with a
//! generous limit, and every assertion is about what arrived, not when.

use std::time::Duration;

use assize_server::sfu::Hearing;
use assize_server::sfu::forward::Codec;
use assize_server::sfu::room::{
    FaceProtection, HearingRole, HearingState, Location, MediaKind, ParticipantId, Protection,
};
use assize_tests::rtc_client::{
    ClientOptions, PayloadTypes, RtcClient, SfuServer, simulcast_layer_of, spawn_sfu_server,
    wait_until,
};
use rtc::rtp;

const VIDEO: MediaKind = MediaKind::Video;
const AUDIO: MediaKind = MediaKind::Audio;
/// How long a test waits for something to happen, at most (a loaded machine is slow).
const LIMIT: Duration = Duration::from_secs(30);
const LOW: usize = 0;
const HIGH: usize = 2;
/// A REMB below the middle layer's bitrate (≈ 123 kbit/s) and above nothing: the low layer.
const SHORT_ESTIMATE: f32 = 80_000.0;

fn pid(c: &RtcClient) -> ParticipantId {
    ParticipantId(c.participant)
}

fn hearing(server: &SfuServer) -> std::sync::Arc<Hearing> {
    server
        .sfu
        .hearings()
        .get("h1")
        .expect("the hearing is live")
}

/// The layer of each video packet `sub` received from `publ`, with the packet.
fn layers(sub: &RtcClient, publ: &RtcClient) -> Vec<(Option<usize>, rtp::Packet)> {
    sub.packets(publ.participant, VIDEO)
        .into_iter()
        .map(|p| (simulcast_layer_of(&p.payload), p))
        .collect()
}

fn count_of(sub: &RtcClient, publ: &RtcClient, layer: usize) -> usize {
    layers(sub, publ)
        .iter()
        .filter(|(l, _)| *l == Some(layer))
        .count()
}

fn describe(sub: &RtcClient, publ: &RtcClient) -> String {
    let got = layers(sub, publ);
    let mut runs: Vec<(Option<usize>, usize)> = Vec::new();
    for (l, _) in &got {
        match runs.last_mut() {
            Some((last, n)) if last == l => *n += 1,
            _ => runs.push((*l, 1)),
        }
    }
    format!("p{} received layer runs {runs:?}", sub.participant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscriber_gets_one_layer_and_a_short_estimate_switches_down_at_a_keyframe() {
    let server = spawn_sfu_server().await;
    let judge = RtcClient::join_with_options(
        &server,
        "h1",
        "judge",
        ClientOptions {
            simulcast_layers: 3,
            ..ClientOptions::new(PayloadTypes::Chrome)
        },
    )
    .await
    .expect("the judge joins, sending three layers");
    assert!(
        judge.server_answer.contains("a=simulcast:recv"),
        "the server accepts the layers: {}",
        judge.server_answer
    );
    let clerk = RtcClient::join(&server, "h1", "clerk", PayloadTypes::Chrome)
        .await
        .expect("the clerk joins");
    let counsel = RtcClient::join(&server, "h1", "defence_counsel", PayloadTypes::Firefox)
        .await
        .expect("counsel joins");
    let waiting = RtcClient::join(&server, "h1", "observer", PayloadTypes::Chrome)
        .await
        .expect("an observer joins (and waits)");
    let h = hearing(&server);

    // The server knows the three layers and has measured each, lowest first.
    let measured = wait_until(LIMIT, || {
        let l = h.simulcast_layers(pid(&judge), VIDEO);
        l.len() == 3 && l.iter().all(|(_, _, bps)| *bps > 0)
    })
    .await;
    let found = h.simulcast_layers(pid(&judge), VIDEO);
    assert!(measured, "three active layers: {found:?}");
    let rids: Vec<&str> = found.iter().map(|(rid, _, _)| rid.as_str()).collect();
    assert_eq!(
        rids,
        ["q", "h", "f"],
        "ranked by measured bitrate: {found:?}"
    );
    assert_eq!(h.codec_of(pid(&judge), VIDEO), Some(Codec::Vp8));

    h.update(|room| {
        room.set_state(HearingState::InSession);
        for c in [&judge, &clerk, &counsel] {
            room.move_to(pid(c), Location::HearingRoom)
                .expect("a participant");
        }
    });
    // Both subscribers start on the highest layer.
    let started = wait_until(LIMIT, || {
        count_of(&clerk, &judge, HIGH) >= 30 && count_of(&counsel, &judge, HIGH) >= 30
    })
    .await;
    assert!(
        started,
        "{}; {}",
        describe(&clerk, &judge),
        describe(&counsel, &judge)
    );
    for sub in [&clerk, &counsel] {
        let got = layers(sub, &judge);
        assert!(
            got.iter().all(|(l, _)| *l == Some(HIGH)),
            "one layer only: {}",
            describe(sub, &judge)
        );
        assert!(
            Codec::Vp8.is_keyframe(&got[0].1.payload),
            "the first packet is a keyframe"
        );
    }

    // The clerk's bandwidth is short: it switches to the low layer at a keyframe.
    let low_requests_before = judge.layer_keyframe_requests(LOW);
    clerk
        .send_remb(judge.participant, SHORT_ESTIMATE)
        .await
        .expect("a REMB");
    let switched = wait_until(LIMIT, || count_of(&clerk, &judge, LOW) >= 30).await;
    assert!(switched, "{}", describe(&clerk, &judge));
    let got = layers(&clerk, &judge);
    let first_low = got
        .iter()
        .position(|(l, _)| *l == Some(LOW))
        .expect("low-layer packets");
    assert!(
        got[..first_low].iter().all(|(l, _)| *l == Some(HIGH))
            && got[first_low..].iter().all(|(l, _)| *l == Some(LOW)),
        "one switch, from the high layer to the low one: {}",
        describe(&clerk, &judge)
    );
    let (before, after) = (&got[first_low - 1].1, &got[first_low].1);
    assert!(
        Codec::Vp8.is_keyframe(&after.payload),
        "the low layer starts on a keyframe"
    );
    assert_eq!(
        after.header.sequence_number,
        before.header.sequence_number.wrapping_add(1),
        "sequence numbers continue across the switch"
    );
    assert_eq!(
        after.header.ssrc, before.header.ssrc,
        "one stream to the subscriber"
    );
    let step = after.header.timestamp.wrapping_sub(before.header.timestamp);
    assert!(
        step > 0 && step < 0x8000_0000,
        "the timestamp moves forward across the switch ({step})"
    );
    assert_eq!(
        clerk.max_sequence_jump(judge.participant, VIDEO),
        1,
        "no gap in the clerk's sequence numbers"
    );
    // The server asked the low layer itself for that keyframe.
    let asked = wait_until(LIMIT, || {
        judge.layer_keyframe_requests(LOW) > low_requests_before
    })
    .await;
    assert!(
        asked,
        "a PLI for the low layer's SSRC reached the publisher"
    );

    // Counsel sent no estimate: still the high layer only, and more of it meanwhile.
    let counsel_high = count_of(&counsel, &judge, HIGH);
    let more = wait_until(LIMIT, || {
        count_of(&counsel, &judge, HIGH) >= counsel_high + 30
    })
    .await;
    assert!(more, "{}", describe(&counsel, &judge));
    assert!(
        layers(&counsel, &judge)
            .iter()
            .all(|(l, _)| *l == Some(HIGH)),
        "{}",
        describe(&counsel, &judge)
    );

    // The observer in the waiting room received nothing of any layer, nor the audio.
    assert_eq!(waiting.received(judge.participant, VIDEO), 0);
    assert_eq!(waiting.received(judge.participant, AUDIO), 0);

    for c in [&judge, &clerk, &counsel, &waiting] {
        assert!(c.errors().is_empty(), "{:?}", c.errors());
    }
    for c in [judge, clerk, counsel, waiting] {
        c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_without_simulcast_is_forwarded_as_before() {
    let server = spawn_sfu_server().await;
    let judge = RtcClient::join(&server, "h1", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    let clerk = RtcClient::join(&server, "h1", "clerk", PayloadTypes::Firefox)
        .await
        .expect("the clerk joins");
    let h = hearing(&server);
    h.update(|room| {
        room.set_state(HearingState::InSession);
        for c in [&judge, &clerk] {
            room.move_to(pid(c), Location::HearingRoom)
                .expect("a participant");
        }
    });
    let flowing = wait_until(LIMIT, || clerk.received(judge.participant, VIDEO) >= 30).await;
    assert!(flowing, "video flows");
    assert!(h.simulcast_layers(pid(&judge), VIDEO).is_empty());
    assert!(!judge.server_answer.contains("a=simulcast"));
    assert_eq!(clerk.max_sequence_jump(judge.participant, VIDEO), 1);
    judge.close().await;
    clerk.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_witness_s_layers_reach_only_the_named_and_the_others_get_the_anonymised_stream()
 {
    let server = spawn_sfu_server().await;
    server
        .sfu
        .anonymisers()
        .set_secret("h1", zeroize::Zeroizing::new([7; 32]));
    let witness = RtcClient::join_with_options(
        &server,
        "h1",
        "witness",
        ClientOptions {
            simulcast_layers: 3,
            ..ClientOptions::new(PayloadTypes::Chrome)
        },
    )
    .await
    .expect("the witness joins, sending three layers");
    let judge = RtcClient::join(&server, "h1", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    let counsel = RtcClient::join(&server, "h1", "defence_counsel", PayloadTypes::Firefox)
        .await
        .expect("counsel joins");
    let h = hearing(&server);
    let measured = wait_until(LIMIT, || {
        let l = h.simulcast_layers(pid(&witness), VIDEO);
        l.len() == 3 && l.iter().all(|(_, _, bps)| *bps > 0)
    })
    .await;
    assert!(measured, "{:?}", h.simulcast_layers(pid(&witness), VIDEO));
    h.update(|room| {
        room.set_protection(
            pid(&witness),
            Some(Protection {
                voice_distorted: false,
                face: FaceProtection::Masked,
                raw_to: [HearingRole::Judge].into_iter().collect(),
                keep_original: false,
            }),
        )
        .expect("present");
        room.set_state(HearingState::InSession);
        for c in [&witness, &judge, &counsel] {
            room.move_to(pid(c), Location::HearingRoom)
                .expect("present");
        }
    });
    // The synthetic layers do not decode: the server's pipeline sends black pictures, which is
    // what counsel receives — something, and never a layer.
    let flowing = wait_until(LIMIT, || {
        count_of(&judge, &witness, HIGH) >= 30 && counsel.received(witness.participant, VIDEO) >= 10
    })
    .await;
    assert!(
        flowing,
        "{}; counsel received {}",
        describe(&judge, &witness),
        counsel.received(witness.participant, VIDEO)
    );
    assert!(h.has_anonymised_stream(pid(&witness), VIDEO));
    assert!(
        layers(&judge, &witness)
            .iter()
            .all(|(l, _)| *l == Some(HIGH)),
        "the named judge: one raw layer, {}",
        describe(&judge, &witness)
    );
    assert!(
        layers(&counsel, &witness).iter().all(|(l, _)| l.is_none()),
        "counsel never receives a raw layer: {}",
        describe(&counsel, &witness)
    );
    for c in [witness, judge, counsel] {
        c.close().await;
    }
}
