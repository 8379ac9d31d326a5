//! The soak (issue #5, item 7): participants join, publish, receive and leave many times over real
//! TLS signaling and real WebRTC on loopback, and the SFU's state returns to where it was after
//! the first cycle. What is compared are counts — connections still in memory, attached
//! connections, published tracks, the room's participants, this process's UDP sockets and live
//! tokio tasks (the legs' writer tasks, the receive loops, the heartbeat samplers, the peer
//! connections' drivers) — never a timing. The server's RSS over hundreds of cycles is measured
//! by the benchmark (`cargo bench -p assize-tests --bench sfu_load -- soak`, in
//! `docs/performance.md`), where a separate process makes the figure the SFU's own.

use std::collections::HashSet;
use std::time::Duration;

use assize_server::sfu::room::{HearingState, Location, MediaKind, ParticipantId};
use assize_tests::rtc_client::{PayloadTypes, RtcClient, SfuServer, spawn_sfu_server, wait_until};

/// Cycles after the first (which creates the hearing and its two parties, and lets the runtime
/// and the allocator warm up).
const CYCLES: usize = 40;
const LIMIT: Duration = Duration::from_secs(30);
const HEARING: &str = "soak";

/// Everything the SFU holds that a leak would grow.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    /// Participant connections still in memory (`Sfu::live_connections`).
    connections: usize,
    /// Connections attached to the hearing.
    attached: usize,
    /// Tracks published in the hearing.
    published: usize,
    /// Participants in the room (they stay, disconnected, once they have been: the court keeps
    /// what it set for them; the same parties rejoin, so this must not grow).
    in_room: usize,
    /// UDP sockets open in this process (the SFU's and the clients').
    udp_sockets: usize,
    /// Tasks alive in this test's runtime (the SFU's and the clients').
    tasks: usize,
}

/// The inodes of every UDP socket in this network namespace.
fn udp_inodes() -> HashSet<String> {
    ["/proc/self/net/udp", "/proc/self/net/udp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().nth(9).map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// This process's open UDP sockets, from /proc/self/fd.
fn udp_sockets() -> usize {
    let udp = udp_inodes();
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable on Linux")
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|target| {
            target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .map(str::to_string)
        })
        .filter(|inode| udp.contains(inode))
        .count()
}

fn held(server: &SfuServer) -> Held {
    let hearing = server.sfu.hearings().get(HEARING);
    Held {
        connections: server.sfu.live_connections(),
        attached: hearing.as_ref().map_or(0, |h| h.attached_count()),
        published: hearing.as_ref().map_or(0, |h| h.published_count()),
        in_room: hearing
            .as_ref()
            .map_or(0, |h| h.room().participants().count()),
        udp_sockets: udp_sockets(),
        tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
    }
}

/// Two parties join, are admitted, receive each other's audio and video, and leave; returns once
/// the SFU has let go of both connections. With a `baseline`, also checks that the counts see
/// the two live connections (so that a leak would show in them).
async fn cycle(server: &SfuServer, n: usize, baseline: Option<&Held>) {
    let judge = RtcClient::join_as_party(
        server,
        HEARING,
        "judge",
        Some("soak-judge"),
        PayloadTypes::Chrome,
    )
    .await
    .unwrap_or_else(|e| panic!("cycle {n}: the judge joins: {e:#}"));
    let counsel = RtcClient::join_as_party(
        server,
        HEARING,
        "defence_counsel",
        Some("soak-counsel"),
        PayloadTypes::Firefox,
    )
    .await
    .unwrap_or_else(|e| panic!("cycle {n}: counsel joins: {e:#}"));
    let hearing = server
        .sfu
        .hearings()
        .get(HEARING)
        .expect("live once joined");
    hearing.update(|room| {
        room.set_state(HearingState::InSession);
        for c in [&judge, &counsel] {
            room.move_to(ParticipantId(c.participant), Location::HearingRoom)
                .expect("a participant of this hearing");
        }
    });
    let flowing = |a: &RtcClient, b: &RtcClient| {
        [MediaKind::Audio, MediaKind::Video]
            .iter()
            .all(|k| a.received(b.participant, *k) > 0)
    };
    assert!(
        wait_until(LIMIT, || flowing(&judge, &counsel)
            && flowing(&counsel, &judge))
        .await,
        "cycle {n}: media flows both ways"
    );
    if let Some(base) = baseline {
        let during = held(server);
        assert_eq!(
            (during.connections, during.attached, during.published),
            (2, 2, 4),
            "cycle {n}: {during:?}"
        );
        assert!(
            during.udp_sockets >= base.udp_sockets + 2 && during.tasks > base.tasks,
            "cycle {n}: the live connections show in the counts: {during:?} vs {base:?}"
        );
    }
    judge.close().await;
    counsel.close().await;
    assert!(
        wait_until(LIMIT, || hearing.attached_count() == 0
            && server.sfu.live_connections() == 0)
        .await,
        "cycle {n}: the SFU let go of both connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_and_leaving_many_times_leaves_the_sfu_as_it_was() {
    let server = spawn_sfu_server().await;
    cycle(&server, 0, None).await;
    // What remains after one cycle once everything wound down (heartbeat samplers end at their
    // next tick): the baseline.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline = held(&server);
    assert_eq!(
        (
            baseline.connections,
            baseline.attached,
            baseline.published,
            baseline.in_room
        ),
        (0, 0, 0, 2),
        "after the first cycle: {baseline:?}"
    );

    for n in 1..=CYCLES {
        cycle(&server, n, Some(&baseline)).await;
    }

    // Connections wind down asynchronously (closing, the samplers' last tick): wait for the
    // state to come back, then compare every count.
    wait_until(LIMIT, || held(&server) == baseline).await;
    assert_eq!(
        held(&server),
        baseline,
        "after {CYCLES} more cycles the SFU holds what it held after the first"
    );
}
