//! The SFU's transport feedback over real WebRTC on loopback: transport-wide congestion control
//! (TWCC) feedback to publishers, NACKs to a publisher whose packets are lost on the way in,
//! and retransmissions (on RTX where negotiated) to a subscriber whose packets are lost on the
//! way out. Loss is simulated at each client's wire ([`assize_tests::wire_tap`]), below the
//! client's own NACK and TWCC interceptors, as a lossy network would; for a subscriber without
//! RTX, in a UDP relay before the client's SRTP ([`assize_tests::lossy_relay`]).

use std::time::Duration;

use assize_server::sfu::room::{HearingState, Location, MediaKind, ParticipantId};
use assize_tests::rtc_client::{
    ClientOptions, PayloadTypes, RtcClient, SfuServer, spawn_sfu_server, wait_until,
};
use assize_tests::wire_tap::Losses;

const START_LIMIT: Duration = Duration::from_secs(20);
const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

fn admit_all(server: &SfuServer, hearing: &str, clients: &[&RtcClient]) {
    let hearing = server.sfu.hearings().get(hearing).expect("live");
    hearing.update(|room| {
        room.set_state(HearingState::InSession);
        for c in clients {
            room.move_to(ParticipantId(c.participant), Location::HearingRoom)
                .expect("a participant");
        }
    });
}

/// The id `sdp` maps the transport-wide-cc header extension to, if it is negotiated.
fn twcc_extension_id(sdp: &str) -> Option<u8> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=extmap:"))
        .find(|l| l.contains(TWCC_URI))
        .and_then(|l| l.split([' ', '/']).next())
        .and_then(|id| id.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_receive_transport_wide_feedback_and_legs_carry_no_foreign_sequence_numbers() {
    let server = spawn_sfu_server().await;
    let twcc = |payload_types| ClientOptions {
        twcc: true,
        ..ClientOptions::new(payload_types)
    };
    let judge = RtcClient::join_with_options(&server, "h1", "judge", twcc(PayloadTypes::Chrome))
        .await
        .expect("the judge joins");
    let clerk = RtcClient::join_with_options(&server, "h1", "clerk", twcc(PayloadTypes::Firefox))
        .await
        .expect("the clerk joins");

    // The server answers with the extension and the feedback, for audio and video.
    let answer = &judge.server_answer;
    assert!(twcc_extension_id(answer).is_some(), "{answer}");
    for pt in [111, 96] {
        assert!(
            answer.contains(&format!("a=rtcp-fb:{pt} transport-cc")),
            "payload type {pt}: {answer}"
        );
    }
    assert!(
        clerk.server_answer.contains("a=rtcp-fb:109 transport-cc")
            && clerk.server_answer.contains("a=rtcp-fb:120 transport-cc"),
        "{}",
        clerk.server_answer
    );

    admit_all(&server, "h1", &[&judge, &clerk]);
    let flowing = wait_until(START_LIMIT, || {
        judge.wire().transport_cc_received >= 10
            && clerk.wire().transport_cc_received >= 10
            && clerk.received(judge.participant, MediaKind::Video) >= 30
            && clerk.received(judge.participant, MediaKind::Audio) >= 30
            && judge.received(clerk.participant, MediaKind::Video) >= 30
    })
    .await;
    assert!(
        flowing,
        "judge {:?}, clerk {:?}, clerk got {} video",
        judge.wire(),
        clerk.wire(),
        clerk.received(judge.participant, MediaKind::Video)
    );

    // What the server forwards carries none of the publisher's transport-wide sequence
    // numbers (they count another transport's packets), nor any of its own.
    for c in [&judge, &clerk] {
        let (_, server_sdp) = c.descriptions().await;
        let id = twcc_extension_id(&server_sdp).expect("negotiated on the legs too");
        let wire = c.wire();
        assert_eq!(
            wire.received_extension_ids.get(&id),
            None,
            "{:?}",
            wire.received_extension_ids
        );
        assert!(c.errors().is_empty(), "{:?}", c.errors());
    }
    judge.close().await;
    clerk.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_s_lost_video_is_resent_on_the_rtx_stream_it_negotiated() {
    let server = spawn_sfu_server().await;
    let judge = RtcClient::join(&server, "h1", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    // The clerk offers RTX, with Firefox's payload types (VP8 120, RTX 124: not the server's
    // 96 and 97), and its network loses one video packet in ten on the way from the server.
    let clerk = RtcClient::join_with_options(
        &server,
        "h1",
        "clerk",
        ClientOptions {
            rtx: true,
            losses: Losses {
                received_video_one_in: Some(10),
                ..Losses::default()
            },
            ..ClientOptions::new(PayloadTypes::Firefox)
        },
    )
    .await
    .expect("the clerk joins");
    // The expert does not offer RTX.
    let expert = RtcClient::join(&server, "h1", "expert", PayloadTypes::Chrome)
        .await
        .expect("the expert joins");
    admit_all(&server, "h1", &[&judge, &clerk, &expert]);

    let repaired = wait_until(START_LIMIT, || {
        clerk.wire().repaired.len() >= 20
            && expert.received(clerk.participant, MediaKind::Video) >= 30
    })
    .await;
    let wire = clerk.wire();
    assert!(
        repaired,
        "lost {} repaired {}",
        wire.lost_received.len(),
        wire.repaired.len()
    );
    // Every repair came on the leg's RTX SSRC and payload type, and only what was lost.
    assert_eq!(wire.repaired_on_rtx, wire.repaired.len() as u64, "{wire:?}");
    assert!(wire.repaired.is_subset(&wire.lost_received));
    let (_, server_offer) = clerk.descriptions().await;
    assert!(
        server_offer.contains("a=rtpmap:124 rtx/90000") && server_offer.contains("apt=120"),
        "{server_offer}"
    );
    assert!(server_offer.contains("a=ssrc-group:FID"), "{server_offer}");
    // The expert is offered no RTX (it would resend as-is on the leg's own SSRC).
    let (_, server_offer) = expert.descriptions().await;
    assert!(!server_offer.contains("rtx/90000"), "{server_offer}");
    assert!(!server_offer.contains("ssrc-group:FID"), "{server_offer}");
    assert_eq!(expert.wire().rtx_received, 0);
    for c in [&judge, &clerk, &expert] {
        assert!(c.errors().is_empty(), "{:?}", c.errors());
    }
    judge.close().await;
    clerk.close().await;
    expert.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_without_rtx_gets_its_lost_video_resent_as_it_was() {
    let server = spawn_sfu_server().await;
    let judge = RtcClient::join(&server, "h1", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    // The clerk offers no RTX; the network in front of it loses one video packet in ten
    // (before its SRTP, so a retransmission of the same packet is not a replay).
    let clerk = RtcClient::join_with_options(
        &server,
        "h1",
        "clerk",
        ClientOptions {
            losses: Losses {
                received_video_in_network_one_in: Some(10),
                ..Losses::default()
            },
            ..ClientOptions::new(PayloadTypes::Firefox)
        },
    )
    .await
    .expect("the clerk joins");
    admit_all(&server, "h1", &[&judge, &clerk]);

    let repaired = wait_until(START_LIMIT, || {
        clerk.relay().is_some_and(|r| r.resent.len() >= 20)
    })
    .await;
    let relay = clerk.relay().expect("a relay");
    assert!(
        repaired,
        "lost {} resent {} relayed {}",
        relay.lost.len(),
        relay.resent.len(),
        relay.relayed_down
    );
    assert!(relay.resent.is_subset(&relay.lost));
    assert_eq!(clerk.wire().rtx_received, 0);
    assert!(clerk.received(judge.participant, MediaKind::Video) > 0);
    for c in [&judge, &clerk] {
        assert!(c.errors().is_empty(), "{:?}", c.errors());
    }
    judge.close().await;
    clerk.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_nacks_a_publisher_s_lost_video_and_forwards_the_retransmissions_sent_on_rtx() {
    a_publisher_s_lost_video_is_nacked_and_repaired(PayloadTypes::Chrome, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_nacks_a_publisher_s_lost_video_and_forwards_the_retransmissions_sent_as_is() {
    a_publisher_s_lost_video_is_nacked_and_repaired(PayloadTypes::Firefox, false).await;
}

async fn a_publisher_s_lost_video_is_nacked_and_repaired(payload_types: PayloadTypes, rtx: bool) {
    let server = spawn_sfu_server().await;
    // The judge's network loses one video packet in ten on the way to the server.
    let judge = RtcClient::join_with_options(
        &server,
        "h1",
        "judge",
        ClientOptions {
            rtx,
            losses: Losses {
                sent_video_one_in: Some(10),
                ..Losses::default()
            },
            ..ClientOptions::new(payload_types)
        },
    )
    .await
    .expect("the judge joins");
    let clerk = RtcClient::join(&server, "h1", "clerk", PayloadTypes::Chrome)
        .await
        .expect("the clerk joins");
    admit_all(&server, "h1", &[&judge, &clerk]);

    let nacked = wait_until(START_LIMIT, || {
        let w = judge.wire();
        w.nacks_received > 0 && w.lost_sent.intersection(&w.nacked).count() >= 10
    })
    .await;
    let w = judge.wire();
    assert!(
        nacked,
        "lost {:?}, NACKed {:?}",
        w.lost_sent.len(),
        w.nacked.len()
    );
    // The server asks only for what it did not get.
    let sent_after_first_loss = w.lost_sent.first().copied().unwrap_or_default();
    assert!(
        w.nacked
            .iter()
            .filter(|s| s.wrapping_sub(sent_after_first_loss) < 0x8000)
            .all(|s| w.lost_sent.contains(s)),
        "NACKed but not lost: {:?}",
        w.nacked.difference(&w.lost_sent).collect::<Vec<_>>()
    );
    // The judge's NACK responder resent them (on its RTX stream where negotiated), and the
    // server took those as the lost packets: the clerk ends up with every sequence number of
    // the judge's video.
    assert!(!w.resent.is_empty(), "{w:?}");
    if rtx {
        assert!(w.rtx_sent > 0, "{w:?}");
    } else {
        assert_eq!(w.rtx_sent, 0, "{w:?}");
    }
    let holes = |clerk: &RtcClient| {
        let seqs: Vec<u16> = clerk
            .packets(judge.participant, MediaKind::Video)
            .iter()
            .map(|p| p.header.sequence_number)
            .collect();
        let first = *seqs.first()?;
        let got: std::collections::BTreeSet<u16> = seqs
            .iter()
            .map(|s| s.wrapping_sub(first))
            .filter(|r| *r < 0x8000)
            .collect();
        let last = *got.last()?;
        // The newest second may still be under repair.
        let settled = last.checked_sub(60)?;
        Some((0..=settled).filter(|r| !got.contains(r)).count())
    };
    let complete = wait_until(START_LIMIT, || {
        clerk.received(judge.participant, MediaKind::Video) >= 200 && holes(&clerk) == Some(0)
    })
    .await;
    assert!(
        complete,
        "{:?} sequence numbers missing at the clerk",
        holes(&clerk)
    );
    // A repaired packet is not asked for again (on RTX, the server unwraps the repair before
    // its NACK generator looks: `sfu::rtx`; else it would NACK it every 100 ms for seconds).
    let asked = |w: &assize_tests::wire_tap::WireCounters| -> Vec<(u16, u64)> {
        w.resent
            .iter()
            .map(|s| (*s, w.nack_requests.get(s).copied().unwrap_or(0)))
            .collect()
    };
    let before = asked(&judge.wire());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after: std::collections::HashMap<u16, u64> = asked(&judge.wire()).into_iter().collect();
    assert!(
        before.iter().all(|(seq, n)| after.get(seq) == Some(n)),
        "repaired packets NACKed again: before {before:?}, after {after:?}"
    );
    for c in [&judge, &clerk] {
        assert!(c.errors().is_empty(), "{:?}", c.errors());
    }
    judge.close().await;
    clerk.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_nacking_everything_gets_only_a_share_of_its_leg_resent() {
    let server = spawn_sfu_server().await;
    let judge = RtcClient::join(&server, "h1", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    // The clerk negotiates RTX, so every retransmission it gets is visible on its RTX stream.
    let clerk = RtcClient::join_with_options(
        &server,
        "h1",
        "clerk",
        ClientOptions {
            rtx: true,
            ..ClientOptions::new(PayloadTypes::Chrome)
        },
    )
    .await
    .expect("the clerk joins");
    admit_all(&server, "h1", &[&judge, &clerk]);
    let flowing = wait_until(START_LIMIT, || {
        clerk.received(judge.participant, MediaKind::Video) >= 20
    })
    .await;
    assert!(flowing, "video flows");

    // The clerk asks, 150 times, for the last 17 packets again: 2,550 retransmissions asked.
    for _ in 0..150 {
        let got = clerk.packets(judge.participant, MediaKind::Video);
        let last = got.last().map_or(0, |p| p.header.sequence_number);
        let window: Vec<u16> = (0..17u16).rev().map(|i| last.wrapping_sub(i)).collect();
        clerk
            .send_nack(judge.participant, &window)
            .await
            .expect("a NACK");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let what was granted arrive: until the server has refused some and the clerk has had
    // another 30 packets of video.
    let seen = clerk.received(judge.participant, MediaKind::Video);
    let settled = wait_until(START_LIMIT, || {
        server.sfu.retransmissions_refused() > 0
            && clerk.received(judge.participant, MediaKind::Video) >= seen + 30
    })
    .await;
    assert!(settled, "refused {}", server.sfu.retransmissions_refused());
    let wire = clerk.wire();
    // What arrived counts the unwrapped retransmissions too: the originals are the rest.
    let sent = clerk
        .received(judge.participant, MediaKind::Video)
        .saturating_sub(wire.rtx_received);
    let budget = sent * u64::from(assize_server::sfu::nack_limit::BUDGET_PERCENT) / 100
        + u64::from(assize_server::sfu::nack_limit::BURST);
    eprintln!(
        "{} retransmissions for {sent} packets (budget {budget}), {} refused",
        wire.rtx_received,
        server.sfu.retransmissions_refused()
    );
    assert!(wire.rtx_received > 0, "retransmissions are sent: {wire:?}");
    assert!(
        wire.rtx_received <= budget,
        "{} retransmissions for {sent} packets (budget {budget})",
        wire.rtx_received
    );
    assert!(server.sfu.retransmissions_refused() >= 2_550 - budget);
    judge.close().await;
    clerk.close().await;
}
