//! H.264 over real WebRTC on loopback: a client that offers only H.264 gets H.264; a leg carries
//! its publisher's codec, so a subscriber who did not negotiate that codec receives none of that
//! track (and is told so), while everything else flows; and a protected witness's H.264 video,
//! which the anonymising pipeline (VP8 only) cannot decode, reaches only those the order names.
//!
//! Timing-free: counts compared as "zero" against "more than a small minimum".

use std::time::Duration;

use assize_server::sfu::Hearing;
use assize_server::sfu::forward::Codec;
use assize_server::sfu::room::{
    FaceProtection, HearingRole, HearingState, Location, MediaKind, ParticipantId, Protection,
};
use assize_tests::rtc_client::{
    ClientOptions, PayloadTypes, RtcClient, SfuServer, VideoCodecs, spawn_sfu_server, wait_until,
};
use serde_json::json;

const AUDIO: MediaKind = MediaKind::Audio;
const VIDEO: MediaKind = MediaKind::Video;
/// How long a test waits for media to start flowing, at most (a loaded machine is slow).
const START_LIMIT: Duration = Duration::from_secs(20);
/// A counting window after media flows elsewhere.
const WINDOW: Duration = Duration::from_millis(1500);
/// At least this many packets count as "flowing".
const FLOWING: u64 = 5;

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

async fn join(server: &SfuServer, role: &str, pts: PayloadTypes, video: VideoCodecs) -> RtcClient {
    RtcClient::join_with_options(
        server,
        "h1",
        role,
        ClientOptions {
            video,
            ..ClientOptions::new(pts)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("the {role} joins: {e:#}"))
}

fn in_session(server: &SfuServer, clients: &[&RtcClient]) {
    hearing(server).update(|room| {
        room.set_state(HearingState::InSession);
        for c in clients {
            room.move_to(pid(c), Location::HearingRoom)
                .expect("a participant");
        }
    });
}

fn report(clients: &[&RtcClient]) -> String {
    let mut s = String::new();
    for sub in clients {
        for publ in clients {
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
        s += &format!(
            "errors p{}: {:?}, unsupported: {:?}; ",
            sub.participant,
            sub.errors(),
            sub.unsupported_tracks()
        );
    }
    s
}

fn notice(publisher: &RtcClient, codec: &str) -> serde_json::Value {
    json!({"v": 1, "type": "track_unsupported", "participant": publisher.participant,
           "kind": "video", "codec": codec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h264_only_publisher_reaches_h264_subscribers_and_never_a_vp8_only_one() {
    let server = spawn_sfu_server().await;
    // The judge's client offers only H.264; the clerk's offers both (with Firefox's payload
    // types, so the judge's H.264 needs its payload type rewritten: 102 → 126) and publishes
    // VP8; the defendant's offers only VP8.
    let judge = join(&server, "judge", PayloadTypes::Chrome, VideoCodecs::H264).await;
    let clerk = join(
        &server,
        "clerk",
        PayloadTypes::Firefox,
        VideoCodecs::Vp8AndH264,
    )
    .await;
    let defendant = join(&server, "defendant", PayloadTypes::Chrome, VideoCodecs::Vp8).await;
    let all = [&judge, &clerk, &defendant];
    in_session(&server, &all);
    assert!(
        judge.server_answer.contains("H264") && !judge.server_answer.contains("VP8"),
        "the H.264-only client is answered with H.264"
    );
    let flowing = wait_until(START_LIMIT, || {
        clerk.received(judge.participant, VIDEO) >= FLOWING
            && defendant.received(judge.participant, AUDIO) >= FLOWING
            && defendant.received(clerk.participant, VIDEO) >= FLOWING
            && judge.received(clerk.participant, AUDIO) >= FLOWING
            && judge.received(defendant.participant, AUDIO) >= FLOWING
    })
    .await;
    assert!(flowing, "media flows: {}", report(&all));
    tokio::time::sleep(WINDOW).await;

    // H.264 reaches the clerk, with the clerk's payload type, keyframes intact.
    let got = clerk.packets(judge.participant, VIDEO);
    assert!(got.len() as u64 >= FLOWING);
    assert!(
        got.iter()
            .all(|p| p.header.payload_type == PayloadTypes::Firefox.h264()),
        "rewritten to the clerk's H.264 payload type"
    );
    assert!(got.iter().all(|p| Codec::H264.is_keyframe(&p.payload)));
    // Not one packet of a codec the receiver cannot decode; audio and the rest flow.
    assert_eq!(
        defendant.received(judge.participant, VIDEO),
        0,
        "{}",
        report(&all)
    );
    assert_eq!(
        judge.received(clerk.participant, VIDEO),
        0,
        "{}",
        report(&all)
    );
    assert_eq!(
        judge.received(defendant.participant, VIDEO),
        0,
        "{}",
        report(&all)
    );
    assert!(clerk.received(defendant.participant, VIDEO) >= FLOWING);
    assert!(clerk.received(judge.participant, AUDIO) >= FLOWING);
    // Each is told which track it cannot receive, and nothing else went wrong.
    let told = wait_until(START_LIMIT, || {
        defendant.unsupported_tracks() == vec![notice(&judge, "H264")]
            && judge.unsupported_tracks().len() == 2
    })
    .await;
    assert!(told, "{}", report(&all));
    assert!(judge.unsupported_tracks().contains(&notice(&clerk, "VP8")));
    assert!(
        judge
            .unsupported_tracks()
            .contains(&notice(&defendant, "VP8"))
    );
    assert!(clerk.unsupported_tracks().is_empty());
    for c in all {
        assert!(c.errors().is_empty(), "{}", report(&all));
    }
    judge.close().await;
    clerk.close().await;
    defendant.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_witness_s_h264_video_reaches_only_the_named_roles() {
    let server = spawn_sfu_server().await;
    let judge = join(
        &server,
        "judge",
        PayloadTypes::Chrome,
        VideoCodecs::Vp8AndH264,
    )
    .await;
    let counsel = join(
        &server,
        "defence_counsel",
        PayloadTypes::Firefox,
        VideoCodecs::Vp8AndH264,
    )
    .await;
    let witness = join(&server, "witness", PayloadTypes::Chrome, VideoCodecs::H264).await;
    let all = [&judge, &counsel, &witness];
    // The order comes before the witness is let in: never a raw packet to counsel.
    hearing(&server).update(|room| {
        room.set_protection(
            pid(&witness),
            Some(Protection {
                voice_distorted: false,
                face: FaceProtection::Masked,
                raw_to: [HearingRole::Judge].into_iter().collect(),
                keep_original: false,
            }),
        )
        .expect("a participant")
    });
    in_session(&server, &all);
    let flowing = wait_until(START_LIMIT, || {
        judge.received(witness.participant, VIDEO) >= FLOWING
            && counsel.received(judge.participant, VIDEO) >= FLOWING
    })
    .await;
    assert!(flowing, "media flows: {}", report(&all));
    tokio::time::sleep(WINDOW).await;
    assert_eq!(
        counsel.received(witness.participant, VIDEO),
        0,
        "the pipeline cannot anonymise H.264: counsel gets no video of the witness; {}",
        report(&all)
    );
    assert_eq!(
        witness.received(witness.participant, VIDEO),
        0,
        "nor does the witness's preview"
    );
    assert!(!hearing(&server).has_anonymised_stream(pid(&witness), VIDEO));
    assert!(
        judge
            .packets(witness.participant, VIDEO)
            .iter()
            .all(|p| p.header.payload_type == PayloadTypes::Chrome.h264()),
        "the judge gets the original H.264"
    );
    assert!(
        counsel.received(witness.participant, AUDIO) >= FLOWING,
        "the voice is not protected"
    );
    judge.close().await;
    counsel.close().await;
    witness.close().await;
}

/// The payload types of the answer's video section, in order.
fn answered_video(answer: &str) -> Vec<String> {
    answer
        .lines()
        .find(|l| l.starts_with("m=video"))
        .map(|l| l.split_whitespace().skip(3).map(str::to_string).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_offering_both_video_codecs_is_answered_vp8_first_whatever_its_order() {
    let server = spawn_sfu_server().await;
    // Safari's order (H.264 first), and Chrome's (VP8 first).
    let safari = join(
        &server,
        "judge",
        PayloadTypes::Chrome,
        VideoCodecs::H264AndVp8,
    )
    .await;
    let chrome = join(
        &server,
        "clerk",
        PayloadTypes::Firefox,
        VideoCodecs::Vp8AndH264,
    )
    .await;
    assert_eq!(answered_video(&safari.server_answer), ["96", "102"]);
    assert_eq!(answered_video(&chrome.server_answer), ["120", "126"]);
    safari.close().await;
    chrome.close().await;
}
