//! The SFU's transport feedback over real WebRTC on loopback: transport-wide congestion control
//! (TWCC) feedback to publishers, NACKs to a publisher whose packets are lost on the way in,
//! and retransmissions (on RTX where negotiated) to a subscriber whose packets are lost on the
//! way out. Loss is simulated at each client's wire ([`assize_tests::wire_tap`]), below the
//! client's own NACK and TWCC interceptors, as a lossy network would.

use std::time::Duration;

use assize_server::sfu::room::{HearingState, Location, MediaKind, ParticipantId};
use assize_tests::rtc_client::{
    ClientOptions, PayloadTypes, RtcClient, SfuServer, spawn_sfu_server, wait_until,
};

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
