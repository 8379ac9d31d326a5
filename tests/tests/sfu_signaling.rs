//! The signaling endpoint against hostile and careless clients, and the media plumbing's
//! life cycle (leave, late join, keyframe requests), over real TLS and WebRTC on loopback.

use std::time::Duration;

use assize_server::sfu::SfuConfig;
use assize_server::sfu::room::{HearingState, Location, MediaKind, ParticipantId};
use assize_tests::rtc_client::{
    PayloadTypes, RtcClient, SignalSocket, spawn_sfu_server, spawn_sfu_server_with, wait_until,
};
use serde_json::json;

const REPLY: Duration = Duration::from_secs(10);
const START_LIMIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_error_replies_and_the_socket_stays_usable() {
    let server = spawn_sfu_server().await;
    let mut s = SignalSocket::connect(&server, "h1", "witness")
        .await
        .expect("the socket opens");
    let huge = format!(r#"{{"v":1,"type":"offer","sdp":"{}"}}"#, "x".repeat(70_000));
    let cases: [(&str, &str); 8] = [
        ("not json", "invalid_message"),
        (r#"{"type":"join"}"#, "invalid_message"),
        (r#"{"v":9,"type":"join"}"#, "unsupported_version"),
        (r#"{"v":1,"type":"subpoena"}"#, "unknown_type"),
        (r#"{"v":1,"type":"offer","sdp":17}"#, "invalid_message"),
        (r#"{"v":1,"type":"answer","sdp":"v=0"}"#, "not_joined"),
        (
            r#"{"v":1,"type":"candidate","candidate":{"candidate":"x"}}"#,
            "not_joined",
        ),
        (&huge, "message_too_large"),
    ];
    for (text, code) in cases {
        s.send_text(text).await.expect("sent");
        let reply = s.recv_json(REPLY).await.expect("a reply");
        assert_eq!(reply["type"], "error", "{reply}");
        assert_eq!(reply["code"], code, "{reply}");
        assert_eq!(reply["v"], 1);
    }
    // Still usable: joining works.
    s.send_json(&json!({"v": 1, "type": "join"}))
        .await
        .expect("sent");
    let joined = s.recv_json(REPLY).await.expect("a reply");
    assert_eq!(joined["type"], "joined", "{joined}");
    s.send_json(&json!({"v": 1, "type": "join"}))
        .await
        .expect("sent");
    assert_eq!(
        s.recv_json(REPLY).await.expect("a reply")["code"],
        "already_joined"
    );
    // A candidate the ICE agent cannot use is refused with an error, too.
    s.send_json(
        &json!({"v": 1, "type": "candidate", "candidate": {"candidate": "candidate:garbage"}}),
    )
    .await
    .expect("sent");
    let reply = s.recv_json(REPLY).await.expect("a reply");
    assert_eq!(reply["code"], "invalid_candidate", "{reply}");
    // A broken SDP is refused by the media layer, with an error, not a dropped socket.
    s.send_json(&json!({"v": 1, "type": "offer", "sdp": "v=0\r\nnonsense"}))
        .await
        .expect("sent");
    let reply = s.recv_json(REPLY).await.expect("a reply");
    assert_eq!(reply["code"], "invalid_sdp", "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_without_disturbing_the_hearing() {
    let server = spawn_sfu_server().await;
    let judge = RtcClient::join(&server, "h1", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    let clerk = RtcClient::join(&server, "h1", "clerk", PayloadTypes::Chrome)
        .await
        .expect("the clerk joins");
    let hearing = server.sfu.hearings().get("h1").expect("live");
    hearing.update(|room| {
        room.set_state(HearingState::InSession);
        for c in [&judge, &clerk] {
            room.move_to(ParticipantId(c.participant), Location::HearingRoom)
                .expect("a participant");
        }
    });
    let mut flooder = SignalSocket::connect(&server, "h1", "observer")
        .await
        .expect("the socket opens");
    for _ in 0..200 {
        flooder
            .send_text(r#"{"v":1,"type":"bogus"}"#)
            .await
            .expect("sent");
    }
    let mut codes = Vec::new();
    while let Ok(reply) = flooder.recv_json(Duration::from_secs(2)).await {
        codes.push(reply["code"].as_str().unwrap_or_default().to_string());
    }
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    assert!(codes.len() < 200, "not every flooded message is answered");
    // Meanwhile the hearing carries on.
    let before = judge.received(clerk.participant, MediaKind::Audio);
    assert!(
        wait_until(START_LIMIT, || judge
            .received(clerk.participant, MediaKind::Audio)
            > before + 5)
        .await
    );
    judge.close().await;
    clerk.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_is_refused_without_an_admissible_role() {
    let server = spawn_sfu_server().await;
    assert!(
        SignalSocket::connect(&server, "h1", "emperor")
            .await
            .is_err()
    );
    assert!(
        SignalSocket::connect(&server, "..%2Fetc", "judge")
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_can_leave_and_join_late_and_keyframe_requests_reach_the_publisher() {
    let server = spawn_sfu_server().await;
    let judge = RtcClient::join(&server, "h1", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    let clerk = RtcClient::join(&server, "h1", "clerk", PayloadTypes::Firefox)
        .await
        .expect("the clerk joins");
    let leaver = RtcClient::join(&server, "h1", "expert", PayloadTypes::Chrome)
        .await
        .expect("the expert joins");
    let hearing = server.sfu.hearings().get("h1").expect("live");
    let admit_all = |ids: &[u64]| {
        hearing.update(|room| {
            room.set_state(HearingState::InSession);
            for id in ids {
                room.move_to(ParticipantId(*id), Location::HearingRoom)
                    .expect("a participant");
            }
        });
    };
    admit_all(&[judge.participant, clerk.participant, leaver.participant]);
    assert!(
        wait_until(START_LIMIT, || {
            judge.received(leaver.participant, MediaKind::Video) > 5
                && clerk.received(judge.participant, MediaKind::Video) > 5
        })
        .await
    );

    // A subscriber's PLI reaches the publisher (throttled: a burst of 20 is at most a few).
    // First let the throttle window of the keyframe requested when media started run out.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = judge.keyframe_requests();
    for _ in 0..20 {
        clerk.send_pli(judge.participant).await.expect("a PLI");
    }
    assert!(wait_until(START_LIMIT, || judge.keyframe_requests() > before).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(judge.keyframe_requests() - before <= 3, "throttled");

    // The expert leaves; the others carry on and a late witness joins and is received.
    let leaver_id = ParticipantId(leaver.participant);
    leaver.close().await;
    assert!(
        wait_until(START_LIMIT, || hearing
            .room()
            .participant(leaver_id)
            .is_some_and(|p| p.location == Location::Disconnected))
        .await,
        "the server notices the departure: {:?}",
        hearing.room().participant(leaver_id)
    );
    let witness = RtcClient::join(&server, "h1", "witness", PayloadTypes::Chrome)
        .await
        .expect("the witness joins");
    admit_all(&[witness.participant]);
    assert!(
        wait_until(START_LIMIT, || {
            witness.received(judge.participant, MediaKind::Audio) > 5
                && witness.received(clerk.participant, MediaKind::Video) > 5
                && judge.received(witness.participant, MediaKind::Video) > 5
                && clerk.received(witness.participant, MediaKind::Audio) > 5
        })
        .await,
        "the late witness: judge {:?} clerk {:?} witness {:?}",
        judge.errors(),
        clerk.errors(),
        witness.errors()
    );
    for c in [&judge, &clerk, &witness] {
        assert!(c.errors().is_empty(), "{:?}", c.errors());
    }
    judge.close().await;
    clerk.close().await;
    witness.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_sockets_use_the_configured_address_and_port_range() {
    let config = SfuConfig {
        udp_ports: Some(47_100..=47_199),
        ..SfuConfig::loopback()
    };
    let server = spawn_sfu_server_with(config).await;
    let a = RtcClient::join(&server, "h2", "judge", PayloadTypes::Chrome)
        .await
        .expect("joins");
    let b = RtcClient::join(&server, "h2", "clerk", PayloadTypes::Chrome)
        .await
        .expect("joins");
    for client in [&a, &b] {
        let candidates: Vec<&str> = client
            .server_answer
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .collect();
        assert!(!candidates.is_empty(), "{}", client.server_answer);
        for c in candidates {
            // candidate:<foundation> <component> <transport> <priority> <address> <port> typ …
            let fields: Vec<&str> = c.split_whitespace().collect();
            assert_eq!(fields.get(4), Some(&"127.0.0.1"), "{c}");
            let port: u16 = fields.get(5).and_then(|p| p.parse().ok()).expect("a port");
            assert!((47_100..=47_199).contains(&port), "{c}");
        }
    }
    let hearing = server.sfu.hearings().get("h2").expect("live");
    hearing.update(|room| {
        room.set_state(HearingState::Open);
        for c in [&a, &b] {
            room.move_to(ParticipantId(c.participant), Location::HearingRoom)
                .expect("a participant");
        }
    });
    assert!(
        wait_until(START_LIMIT, || a.received(b.participant, MediaKind::Video)
            > 5)
        .await,
        "media flows in an opened hearing"
    );
    a.close().await;
    b.close().await;
}

#[test]
fn wildcard_and_empty_media_settings_are_refused_at_start() {
    let wildcard = SfuConfig {
        ice_ips: vec!["0.0.0.0".parse().expect("an address")],
        ..SfuConfig::loopback()
    };
    assert!(wildcard.validate().is_err());
    let none = SfuConfig {
        ice_ips: vec![],
        ..SfuConfig::loopback()
    };
    assert!(none.validate().is_err());
    let bad_range = SfuConfig {
        udp_ports: Some(0..=10),
        ..SfuConfig::loopback()
    };
    assert!(bad_range.validate().is_err());
    assert!(SfuConfig::loopback().validate().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_and_leaving_repeatedly_leaves_nothing_behind() {
    let server = spawn_sfu_server().await;
    let judge = RtcClient::join(&server, "h3", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    for _ in 0..8 {
        let visitor = RtcClient::join(&server, "h3", "observer", PayloadTypes::Chrome)
            .await
            .expect("a visitor joins");
        visitor.close().await;
    }
    let hearing = server.sfu.hearings().get("h3").expect("live");
    assert!(
        wait_until(START_LIMIT, || hearing
            .room()
            .participants()
            .filter(|(_, p)| p.location != Location::Disconnected)
            .count()
            == 1)
        .await,
        "every visitor left the room"
    );
    assert!(
        wait_until(START_LIMIT, || server.sfu.live_connections() == 1).await,
        "connections still in memory: {}",
        server.sfu.live_connections()
    );
    assert!(judge.errors().is_empty(), "{:?}", judge.errors());
    judge.close().await;
    assert!(
        wait_until(START_LIMIT, || server.sfu.live_connections() == 0).await,
        "connections still in memory: {}",
        server.sfu.live_connections()
    );
}

/// A coturn server on loopback sharing `secret` with us (its REST-API credential scheme); killed
/// when dropped.
struct Coturn {
    child: std::process::Child,
    port: u16,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn coturn(secret: &str) -> Coturn {
    let port = free_udp_port();
    let relay_min = 49_000 + (port % 500) * 2;
    let child = std::process::Command::new("turnserver")
        .args([
            "-n",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            "--allow-loopback-peers",
            "--use-auth-secret",
            "--realm=assize.test",
            "--log-file=stdout",
        ])
        .arg(format!("--static-auth-secret={secret}"))
        .arg(format!("--listening-port={port}"))
        .arg(format!("--min-port={relay_min}"))
        .arg(format!("--max-port={}", relay_min + 40))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("coturn's turnserver runs (tools/install-deps.sh installs the coturn package)");
    Coturn { child, port }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_behind_a_firewall_joins_through_turn_with_time_limited_credentials() {
    use assize_server::sfu::turn::TurnConfig;
    let secret = "a-shared-turn-secret-for-the-test";
    let turn = coturn(secret);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let config = SfuConfig {
        turn: Some(
            TurnConfig::new(
                vec![format!("turn:127.0.0.1:{}?transport=udp", turn.port)],
                zeroize::Zeroizing::new(secret.as_bytes().to_vec()),
                Duration::from_secs(600),
            )
            .expect("valid"),
        ),
        ..SfuConfig::loopback()
    };
    let server = spawn_sfu_server_with(config).await;
    let judge = RtcClient::join(&server, "t1", "judge", PayloadTypes::Chrome)
        .await
        .expect("the judge joins");
    let remote = RtcClient::join_relayed(&server, "t1", "witness")
        .await
        .expect("the remote witness joins through TURN");
    let (local, _) = remote.descriptions().await;
    let candidates: Vec<&str> = local
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert!(!candidates.is_empty(), "{local}");
    assert!(
        candidates.iter().all(|c| c.contains(" typ relay")),
        "relay candidates only: {candidates:?}"
    );
    let hearing = server.sfu.hearings().get("t1").expect("live");
    hearing.update(|room| {
        room.set_state(HearingState::InSession);
        for c in [&judge, &remote] {
            room.move_to(ParticipantId(c.participant), Location::HearingRoom)
                .expect("a participant");
        }
    });
    let flowing = wait_until(START_LIMIT, || {
        judge.received(remote.participant, MediaKind::Audio) > 10
            && remote.received(judge.participant, MediaKind::Audio) > 10
    })
    .await;
    assert!(flowing, "media flows both ways through the relay");
    judge.close().await;
    remote.close().await;

    // Credentials made with another secret: coturn refuses them, so there is no relay at all.
    let forged = SfuConfig {
        turn: Some(
            TurnConfig::new(
                vec![format!("turn:127.0.0.1:{}?transport=udp", turn.port)],
                zeroize::Zeroizing::new(b"not-the-shared-secret".to_vec()),
                Duration::from_secs(600),
            )
            .expect("valid"),
        ),
        ..SfuConfig::loopback()
    };
    let server = spawn_sfu_server_with(forged).await;
    let refused = RtcClient::join_relayed(&server, "t2", "witness").await;
    if let Ok(client) = refused {
        let (local, _) = client.descriptions().await;
        assert!(
            !local.contains(" typ relay"),
            "coturn allocated a relay for forged credentials: {local}"
        );
        client.close().await;
    }
}

#[test]
fn turn_credentials_expire_and_are_bound_to_the_shared_secret() {
    use assize_server::sfu::turn::TurnConfig;
    let config = TurnConfig::new(
        vec!["turns:turn.court.example:5349".into()],
        zeroize::Zeroizing::new(b"s3cret".to_vec()),
        Duration::from_secs(3600),
    )
    .expect("valid");
    let a = config.credentials("p1", 1_000).expect("credentials");
    let b = config.credentials("p2", 1_000).expect("credentials");
    assert_eq!(a.username, "4600:p1");
    assert_ne!(a.credential, b.credential, "each participant their own");
    let other = TurnConfig::new(
        vec!["turns:turn.court.example:5349".into()],
        zeroize::Zeroizing::new(b"another".to_vec()),
        Duration::from_secs(3600),
    )
    .expect("valid");
    assert_ne!(
        other
            .credentials("p1", 1_000)
            .expect("credentials")
            .credential,
        a.credential
    );
}
