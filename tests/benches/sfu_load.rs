//! SFU forwarding under load, against Janus, and the SFU's memory over connect/disconnect cycles
//! (issue #5, items 7 and 8). Driven by `tools/bench-sfu.sh`; figures go to
//! `docs/performance.md`, "SFU forwarding under load". No thresholds: it measures and prints.
//!
//! ## Processes
//! - **The server** runs in its own process, pinned to one core: for Assize this binary re-executed
//!   in `serve` mode (the real TLS signaling server and SFU, `assize_tests::rtc_client::
//!   spawn_sfu_server_with`, with the test admission), for Janus the `janus` binary with a
//!   generated configuration (`assize_tests::janus`). Its CPU time and RSS are read from
//!   `/proc/PID/stat` and `/proc/PID/status`. The `serve` mode takes commands on stdin
//!   (`admit HEARING`: open the hearing and move everyone in the waiting room into the hearing
//!   room, as the judge would; `count HEARING`: the SFU's state; `quit`).
//! - **The load generator** is this process: one single-threaded tokio runtime, pinned by the
//!   script to the other core; cheap participants (`assize_tests::load`) that publish stamped
//!   synthetic Opus (50 packets/s) and VP8 (~520 kbit/s, ~1,100-byte packets, a keyframe every
//!   3 s) and read only the stamps of what they receive.
//!
//! ## A run (`cargo bench -p assize-tests --bench sfu_load`)
//! For each target (`ASSIZE_BENCH_TARGETS`, default `assize janus`), rooms of 6 participants are
//! added step by step (`ASSIZE_BENCH_ROOMS`, the room counts, default `1 2 3 4 5 6 8 10`): every
//! participant publishes audio and video and receives the other five's, so a room forwards
//! 6 × 2 × 5 = 60 tracks. A direct client-to-client pair (no server) runs throughout: its
//! send→receive time is the generator's own floor, measured under the same load in the same
//! window, and the server's *added* latency is the difference. After warm-up, each step measures
//! for `ASSIZE_BENCH_SECONDS` (default 10) and reports the server's CPU share, forwarded tracks
//! per server core (tracks ÷ CPU share), loss, p50/p99 send→receive through the server and
//! directly, and RSS growth per participant. A target stops when loss passes 1 % or the server's
//! or the generator's core saturates.
//!
//! ## Soak (`… --bench sfu_load -- soak`)
//! `ASSIZE_BENCH_SOAK_CYCLES` (default 500) cycles of two participants joining one hearing,
//! publishing, receiving each other, and leaving; the server's RSS and SFU state every
//! `ASSIZE_BENCH_SOAK_EVERY` (default 50) cycles.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use assize_server::sfu::SfuConfig;
use assize_server::sfu::room::{HearingState, Location};
use assize_tests::janus::{JanusApi, JanusParticipant, JanusProcess, create_room};
use assize_tests::load::{DirectPair, Flowing, Meter, SfuParticipant, WindowReport, profile};
use assize_tests::rtc_client::spawn_sfu_server_with;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// Six participants who all publish (an observer would not).
const ROLES: [&str; 6] = [
    "judge",
    "clerk",
    "prosecutor",
    "defence_counsel",
    "defendant",
    "interpreter",
];
const ROOM: usize = ROLES.len();
/// Tracks a room forwards: each participant's two tracks to the five others.
const TRACKS_PER_ROOM: usize = ROOM * 2 * (ROOM - 1);

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
struct Settings {
    ip: IpAddr,
    rooms: Vec<usize>,
    seconds: u64,
    server_cpu: usize,
    targets: Vec<String>,
    janus_port: u16,
    soak_cycles: usize,
    soak_every: usize,
}

impl Settings {
    fn from_env() -> Self {
        let rooms: Vec<usize> = std::env::var("ASSIZE_BENCH_ROOMS")
            .unwrap_or_else(|_| "1 2 3 4 5 6 8 10".into())
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        Self {
            ip: env("ASSIZE_BENCH_IP", IpAddr::from([127, 0, 0, 1])),
            rooms,
            seconds: env("ASSIZE_BENCH_SECONDS", 10),
            server_cpu: env("ASSIZE_BENCH_SERVER_CPU", 0),
            targets: std::env::var("ASSIZE_BENCH_TARGETS")
                .unwrap_or_else(|_| "assize janus".into())
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            janus_port: env("ASSIZE_BENCH_JANUS_PORT", 18_088),
            soak_cycles: env("ASSIZE_BENCH_SOAK_CYCLES", 500),
            soak_every: env("ASSIZE_BENCH_SOAK_EVERY", 50).max(1),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = Settings::from_env();
    if args.iter().any(|a| a == "serve") {
        // The server's own runtime, as `assize serve` builds it: one worker per core it may
        // use (one, pinned).
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(serve(settings.ip));
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = if args.iter().any(|a| a == "soak") {
        rt.block_on(soak(&settings))
    } else {
        rt.block_on(load(&settings))
    };
    if let Err(e) = result {
        eprintln!("sfu_load: {e:#}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The Assize server process.

async fn serve(ip: IpAddr) {
    let server = spawn_sfu_server_with(SfuConfig {
        ice_ips: vec![ip],
        udp_ports: None,
        turn: None,
    })
    .await;
    println!("READY {} {}", server.addr, server.ca_cert().display());
    // Commands come on stdin, read on a thread of their own (tokio's `io-std` is not enabled in
    // the workspace, and a blocking read must not hold a runtime worker).
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("admit"), Some(key)) => {
                let moved = server.sfu.hearings().get(key).map_or(0, |h| {
                    h.update(|room| {
                        room.set_state(HearingState::InSession);
                        let waiting: Vec<_> = room
                            .participants()
                            .filter(|(_, p)| p.location == Location::WaitingRoom)
                            .map(|(id, _)| id)
                            .collect();
                        for id in &waiting {
                            let _ = room.move_to(*id, Location::HearingRoom);
                        }
                        waiting.len()
                    })
                });
                println!("ok {moved}");
            }
            (Some("count"), Some(key)) => {
                let (attached, published) = server
                    .sfu
                    .hearings()
                    .get(key)
                    .map_or((0, 0), |h| (h.attached_count(), h.published_count()));
                println!(
                    "ok live={} attached={attached} published={published}",
                    server.sfu.live_connections()
                );
            }
            (Some("quit"), _) => break,
            _ => println!("error unknown command: {line}"),
        }
    }
}

/// The Assize server process, seen from the generator.
struct AssizeChild {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    addr: SocketAddr,
    ca: PathBuf,
}

impl AssizeChild {
    async fn start(s: &Settings) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new("taskset")
            .arg("-c")
            .arg(s.server_cpu.to_string())
            .arg(exe)
            .arg("serve")
            .env("ASSIZE_BENCH_IP", s.ip.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the server process (taskset)")?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
        let mut stdout =
            BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await??
            .ok_or_else(|| anyhow!("the server process exited"))?;
        let mut words = ready.split_whitespace();
        let (Some("READY"), Some(addr), Some(ca)) = (words.next(), words.next(), words.next())
        else {
            bail!("unexpected first line from the server: {ready}");
        };
        Ok(Self {
            child,
            stdin,
            stdout,
            addr: addr.parse()?,
            ca: PathBuf::from(ca),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    async fn command(&mut self, line: &str) -> anyhow::Result<String> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        let reply = self
            .stdout
            .next_line()
            .await?
            .ok_or_else(|| anyhow!("the server process exited"))?;
        reply
            .strip_prefix("ok")
            .map(|r| r.trim().to_string())
            .ok_or_else(|| anyhow!("the server answered {line:?} with {reply:?}"))
    }
}

// ---------------------------------------------------------------------------------------------
// /proc readings.

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: the fields start after its closing parenthesis.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let at = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    at(11) + at(12)
}

/// Resident set size of a process, kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    // The machine's CPUs, not this process's (it is pinned to one).
    let cpus = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    format!("{cpus} CPUs, {model}, load average {}", load.join(" "))
}

// ---------------------------------------------------------------------------------------------
// The load.

/// One participant under either server.
enum Participant {
    Assize(SfuParticipant),
    Janus(JanusParticipant),
}

impl Participant {
    fn flowing(&self) -> &Arc<Flowing> {
        match self {
            Participant::Assize(p) => &p.flowing,
            Participant::Janus(p) => &p.flowing,
        }
    }

    async fn close(self) {
        match self {
            Participant::Assize(p) => p.close().await,
            Participant::Janus(p) => p.close().await,
        }
    }
}

/// The server under test.
enum Server {
    Assize(Box<AssizeChild>),
    Janus(JanusProcess, JanusApi),
}

impl Server {
    fn pid(&self) -> u32 {
        match self {
            Server::Assize(c) => c.pid(),
            Server::Janus(j, _) => j.pid(),
        }
    }

    /// Adds room `room` (0-based) with six participants numbered from `first`.
    async fn add_room(
        &mut self,
        s: &Settings,
        room: usize,
        first: u32,
        meter: &Arc<Meter>,
    ) -> anyhow::Result<Vec<Participant>> {
        let others = (ROOM - 1) as u64;
        let mut out = Vec::with_capacity(ROOM);
        match self {
            Server::Assize(child) => {
                let hearing = format!("load-{room}");
                for (i, role) in ROLES.iter().enumerate() {
                    let number = first + u32::try_from(i)?;
                    let p = SfuParticipant::join(
                        child.addr,
                        &child.ca,
                        &hearing,
                        role,
                        &format!("r{room}p{i}"),
                        number,
                        meter.clone(),
                        others,
                    )
                    .await
                    .with_context(|| format!("{role} joining {hearing}"))?;
                    out.push(Participant::Assize(p));
                }
                let moved = child.command(&format!("admit {hearing}")).await?;
                if moved != ROOM.to_string() {
                    bail!("admitting {hearing} moved {moved} participants, not {ROOM}");
                }
            }
            Server::Janus(_, api) => {
                let id = 1_000 + room as u64;
                create_room(api, id, ROOM as u64).await?;
                let feeds: Vec<u64> = (0..ROOM as u64).map(|i| id * 100 + i + 1).collect();
                let mut publishers = Vec::with_capacity(ROOM);
                for (i, feed) in feeds.iter().enumerate() {
                    let number = first + u32::try_from(i)?;
                    publishers.push(
                        JanusParticipant::publish(
                            api,
                            s.ip,
                            id,
                            *feed,
                            number,
                            meter.clone(),
                            others,
                        )
                        .await
                        .with_context(|| format!("publisher {feed} in janus room {id}"))?,
                    );
                }
                for mut p in publishers {
                    let theirs: Vec<u64> = feeds.iter().copied().filter(|f| *f != p.feed).collect();
                    p.subscribe(api, s.ip, id, &theirs, meter.clone())
                        .await
                        .with_context(|| format!("subscriber {} in janus room {id}", p.feed))?;
                    out.push(Participant::Janus(p));
                }
            }
        }
        Ok(out)
    }
}

/// One measured step.
#[derive(Debug, Clone)]
struct Row {
    rooms: usize,
    tracks: usize,
    server_cpu: f64,
    generator_cpu: f64,
    through: WindowReport,
    direct: WindowReport,
    mem_per_participant_kb: f64,
}

impl Row {
    fn tracks_per_core(&self) -> f64 {
        if self.server_cpu > 0.0 {
            self.tracks as f64 / self.server_cpu
        } else {
            f64::NAN
        }
    }

    fn print_header() {
        println!(
            "{:>5} {:>7} {:>8} {:>11} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "rooms",
            "tracks",
            "srv CPU",
            "tracks/core",
            "loss %",
            "p50 µs",
            "p99 µs",
            "floor p50",
            "floor p99",
            "added p50",
            "added p99",
            "kB/part",
            "gen CPU"
        );
    }

    fn print(&self) {
        println!(
            "{:>5} {:>7} {:>7.1}% {:>11.0} {:>7.3} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>7.1}%",
            self.rooms,
            self.tracks,
            self.server_cpu * 100.0,
            self.tracks_per_core(),
            self.through.loss() * 100.0,
            self.through.p50_us,
            self.through.p99_us,
            self.direct.p50_us,
            self.direct.p99_us,
            self.through.p50_us - self.direct.p50_us,
            self.through.p99_us - self.direct.p99_us,
            self.mem_per_participant_kb,
            self.generator_cpu * 100.0,
        );
    }
}

async fn load(s: &Settings) -> anyhow::Result<()> {
    let hz = clock_ticks();
    println!(
        "SFU forwarding under load: rooms of {ROOM}, {TRACKS_PER_ROOM} forwarded tracks per room"
    );
    println!(
        "per participant: Opus {} B every {} ms; VP8 {:.0} kbit/s ({} × {} B per frame every {} ms, keyframe {} × {} B every {} frames)",
        profile::AUDIO_BYTES,
        profile::AUDIO_INTERVAL_MS,
        profile::video_bits_per_second() / 1000.0,
        profile::DELTA_PACKETS,
        profile::DELTA_BYTES,
        profile::VIDEO_INTERVAL_MS,
        profile::KEY_PACKETS,
        profile::KEY_BYTES,
        profile::KEYFRAME_EVERY,
    );
    println!(
        "server pinned to CPU {}, ICE on {}, {} s per step; machine: {}",
        s.server_cpu,
        s.ip,
        s.seconds,
        machine()
    );
    let mut results: Vec<(String, Vec<Row>)> = Vec::new();
    for target in &s.targets {
        let rows = run_target(target, s, hz).await?;
        results.push((target.clone(), rows));
    }
    // The comparison: the best tracks per core each reached with loss at most 1 %, and the CPU
    // share each needed for the largest load both carried.
    if let [(a_name, a), (b_name, b)] = results.as_slice() {
        let best = |rows: &[Row]| {
            rows.iter()
                .filter(|r| r.through.loss() <= 0.01)
                .map(Row::tracks_per_core)
                .fold(f64::NAN, f64::max)
        };
        let (ba, bb) = (best(a), best(b));
        println!(
            "\nbest forwarded tracks per server core at ≤ 1 % loss: {a_name} {ba:.0}, {b_name} {bb:.0}, ratio {a_name}/{b_name} {:.2}",
            ba / bb
        );
        for ra in a {
            if let Some(rb) = b.iter().find(|r| r.rooms == ra.rooms) {
                println!(
                    "{} rooms: server CPU {a_name} {:.1}% vs {b_name} {:.1}% (ratio {b_name}/{a_name} {:.2}); added p99 {a_name} {:.0} µs vs {b_name} {:.0} µs",
                    ra.rooms,
                    ra.server_cpu * 100.0,
                    rb.server_cpu * 100.0,
                    rb.server_cpu / ra.server_cpu,
                    ra.through.p99_us - ra.direct.p99_us,
                    rb.through.p99_us - rb.direct.p99_us,
                );
            }
        }
    }
    Ok(())
}

async fn run_target(target: &str, s: &Settings, hz: f64) -> anyhow::Result<Vec<Row>> {
    let mut server = match target {
        "assize" => Server::Assize(Box::new(AssizeChild::start(s).await?)),
        "janus" => {
            if s.ip.is_loopback() {
                bail!(
                    "janus gathers no ICE candidate on {}: set ASSIZE_BENCH_IP to a local non-loopback address",
                    s.ip
                );
            }
            let j = JanusProcess::start(s.ip, s.janus_port, Some(s.server_cpu)).await?;
            let api = JanusApi::connect(&j.url).await?;
            Server::Janus(j, api)
        }
        other => bail!("unknown target {other} (assize or janus)"),
    };
    let pid = server.pid();
    let me = std::process::id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_base = rss_kb(pid);
    println!("\n== {target} (pid {pid}, RSS at start {rss_base} kB)");
    let meter = Arc::new(Meter::default());
    let floor = Arc::new(Meter::default());
    let direct = DirectPair::connect(s.ip, u32::MAX >> 2, floor.clone()).await?;
    let mut participants: Vec<Participant> = Vec::new();
    let mut rows = Vec::new();
    Row::print_header();
    let mut next_number = 0u32;
    'steps: for &rooms in &s.rooms {
        while participants.len() / ROOM < rooms {
            let room = participants.len() / ROOM;
            match server.add_room(s, room, next_number, &meter).await {
                Ok(mut added) => participants.append(&mut added),
                Err(e) => {
                    println!("stopped: could not add room {}: {e:#}", room + 1);
                    break 'steps;
                }
            }
            next_number += u32::try_from(ROOM)?;
        }
        // Warm-up: every participant receives all five others' two tracks.
        let want = 2 * (ROOM - 1);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline
            && (participants.iter().any(|p| p.flowing().tracks() < want)
                || direct.flowing.tracks() < 2)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let short = participants
            .iter()
            .filter(|p| p.flowing().tracks() < want)
            .count();
        if short > 0 {
            println!("warning: {short} participants do not receive all {want} tracks");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;

        let window = Duration::from_secs(s.seconds);
        let (cpu0, gen0, t0) = (cpu_ticks(pid), cpu_ticks(me), Instant::now());
        meter.open_window(window);
        floor.open_window(window);
        tokio::time::sleep(window).await;
        let (cpu1, gen1, wall) = (cpu_ticks(pid), cpu_ticks(me), t0.elapsed().as_secs_f64());
        // Let what was sent inside the window arrive.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let rss = rss_kb(pid);
        let row = Row {
            rooms,
            tracks: rooms * TRACKS_PER_ROOM,
            server_cpu: (cpu1 - cpu0) as f64 / hz / wall,
            generator_cpu: (gen1 - gen0) as f64 / hz / wall,
            through: meter.report(),
            direct: floor.report(),
            mem_per_participant_kb: rss.saturating_sub(rss_base) as f64 / participants.len() as f64,
        };
        row.print();
        let stop = if row.through.loss() > 0.01 {
            Some("loss passed 1 %")
        } else if row.server_cpu > 0.95 {
            Some("the server's core saturated")
        } else if row.generator_cpu > 0.95 {
            Some("the generator's core saturated (figures beyond this measure the generator)")
        } else {
            None
        };
        rows.push(row);
        if let Some(why) = stop {
            println!("stopped: {why}");
            break;
        }
    }
    for p in participants {
        p.close().await;
    }
    direct.close().await;
    if let Server::Janus(j, _) = &server {
        let log = j.log();
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("[ERR]"))
            .take(5)
            .collect();
        if !errors.is_empty() {
            println!("janus errors (first 5): {errors:#?}");
        }
    }
    drop(server);
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// The soak.

async fn soak(s: &Settings) -> anyhow::Result<()> {
    let mut child = AssizeChild::start(s).await?;
    let pid = child.pid();
    println!(
        "SFU soak: {} cycles of 2 participants joining, publishing, receiving and leaving; server pinned to CPU {}; machine: {}",
        s.soak_cycles,
        s.server_cpu,
        machine()
    );
    println!("RSS at start: {} kB", rss_kb(pid));
    let meter = Arc::new(Meter::default());
    let started = Instant::now();
    for cycle in 1..=s.soak_cycles {
        let mut ps = Vec::new();
        for (i, role) in ["judge", "defence_counsel"].iter().enumerate() {
            ps.push(
                SfuParticipant::join(
                    child.addr,
                    &child.ca,
                    "soak",
                    role,
                    &format!("soak-{i}"),
                    u32::try_from(i)?,
                    meter.clone(),
                    1,
                )
                .await?,
            );
        }
        child.command("admit soak").await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while ps.iter().any(|p| p.flowing.tracks() < 2) {
            if Instant::now() > deadline {
                bail!("cycle {cycle}: media did not flow both ways");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for p in ps {
            p.close().await;
        }
        // Wait until the server let go of both connections before the same parties rejoin.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = child.command("count soak").await?;
            if state == "live=0 attached=0 published=0" {
                break;
            }
            if Instant::now() > deadline {
                bail!("cycle {cycle}: the server still holds {state}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if cycle % s.soak_every == 0 || cycle == 1 {
            println!(
                "cycles {cycle:>5}: server RSS {:>7} kB, {}, {:.0} s",
                rss_kb(pid),
                child.command("count soak").await?,
                started.elapsed().as_secs_f64()
            );
        }
    }
    child.command("quit").await.ok();
    Ok(())
}
