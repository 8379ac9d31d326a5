//! The hearing's sealed audio recording against the real server: the judge's start and stop
//! (a second start and a stop with no start are refused with 409 and change nothing), segments
//! sealed as they are written (hash chain, audit entries), the ASiC-E export checked offline
//! with `assize verify`, segments decoded by ffmpeg, and tampering named; every participant told
//! when recording starts and stops; and what is recorded when real WebRTC media flows (the
//! hearing room, not a consultation room held at the same time; a protected voice only
//! distorted).
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::time::Duration;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use assize_server::policy::Role;
use assize_server::recording::recorder::{RecorderConfig, RecorderEvent, RecorderThread};
use assize_server::sfu::hearing::RecordingSink;
use assize_server::sfu::room::{
    ConsultationRoomId, FaceProtection, HearingRole, HearingState, Location, MediaKind,
    ParticipantId, Protection, Variant,
};
use assize_tests::record::{assize_verify, rewrite_entry};
use assize_tests::rtc_client::{
    PayloadTypes, RecordedMedia, RtcClient, spawn_sfu_server, wait_until,
};
use assize_tests::{Client, PASSWORD, TestApp, assize_binary, set_cookie, spawn_app_with};
use serde_json::json;
use sha2::{Digest as _, Sha256};

async fn court() -> TestApp {
    spawn_app_with(|s| {
        s.auth.totp_required_roles = vec![];
        s.recording.segment_secs = 1;
    })
    .await
}

async fn judge(app: &TestApp) -> Client {
    judge_with_cookie(app).await.0
}

/// A signed-in judge and their session cookie (`name=value`, for the signaling socket).
async fn judge_with_cookie(app: &TestApp) -> (Client, String) {
    let username = format!("j{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    app.create_user(&username, &[Role::Judge]).await;
    let mut client = app.client();
    let r = client.sign_in(&username, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let cookie = set_cookie(&r, "__Host-assize_session").unwrap();
    (client, cookie)
}

/// Invites a `role` to the hearing and redeems the invitation: the hearing cookie.
async fn invited(app: &TestApp, judge: &Client, hearing: &str, role: &str) -> String {
    let r = judge
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            json!({"role": role, "label": "Participant"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let token = r.body["token"].as_str().unwrap();
    let r = app
        .client()
        .post(
            "/api/v1/hearing-invitations/redeem",
            json!({ "token": token }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    set_cookie(&r, "__Host-assize_hearing").unwrap()
}

/// A hearing booked by `judge` (who becomes its judge) and opened.
async fn open_hearing(judge: &Client) -> String {
    let r = judge
        .post(
            "/api/v1/hearings",
            json!({"case_reference": "CR-1", "court": "Tribunal", "title": "R v X",
                   "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = judge
        .post(&format!("/api/v1/hearings/{id}/open"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    id
}

async fn export(client: &Client, hearing: &str) -> (u16, Vec<u8>) {
    let r = client
        .http
        .get(format!(
            "{}/api/v1/hearings/{hearing}/recording/export",
            client.base
        ))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_recording_is_started_once_stopped_once_sealed_and_refuses_the_rest() {
    let app = court().await;
    let judge = judge(&app).await;
    let hearing = open_hearing(&judge).await;
    let base = format!("/api/v1/hearings/{hearing}/recording");

    // A stop with no start: 409, and nothing was recorded.
    let r = judge.post(&format!("{base}/stop"), json!({})).await;
    assert_eq!((r.status, r.code()), (409, "not_recording"), "{r:?}");
    let (status, _) = export(&judge, &hearing).await;
    assert_eq!(status, 404);

    let r = judge.post(&format!("{base}/start"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["on"], true);
    let recording = r.body["recording"].as_str().unwrap().to_string();
    // A second start while on: 409, and the first recording goes on.
    let r = judge.post(&format!("{base}/start"), json!({})).await;
    assert_eq!((r.status, r.code()), (409, "already_recording"), "{r:?}");

    tokio::time::sleep(Duration::from_millis(2600)).await;
    // Closed segments are in the database (and the audit log) while still recording.
    let written = app.store.segments(&recording).await.unwrap();
    assert!(written.len() >= 2, "{written:?}");
    assert!(written.iter().all(|s| s.audit_seq > 0));

    let r = judge.post(&format!("{base}/stop"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["on"], false);
    assert_eq!(r.body["problems"], json!([]));
    let segments = app.store.segments(&recording).await.unwrap();
    assert!(segments.len() >= 3, "{segments:?}");
    assert_eq!(r.body["segments"], segments.len());
    assert_eq!(r.body["chain"], segments.last().unwrap().chain);
    // The chain recomputes from the files on disk.
    let dir = app
        .data_dir
        .join("recordings")
        .join(&hearing)
        .join(&recording);
    let mut link: [u8; 32] = Sha256::digest(format!("assize recording {recording}")).into();
    for s in &segments {
        let bytes = std::fs::read(dir.join(&s.file_name)).unwrap();
        let h: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(hex::encode(h), s.sha256);
        let mut c = Sha256::new();
        c.update(link);
        c.update(h);
        c.update(u32::try_from(s.index).unwrap().to_be_bytes());
        link = c.finalize().into();
        assert_eq!(hex::encode(link), s.chain);
    }
    // Stopping again: 409.
    let r = judge.post(&format!("{base}/stop"), json!({})).await;
    assert_eq!((r.status, r.code()), (409, "not_recording"), "{r:?}");
}

#[tokio::test]
async fn the_export_verifies_offline_decodes_with_ffmpeg_and_a_changed_byte_is_named() {
    let app = court().await;
    let judge = judge(&app).await;
    let hearing = open_hearing(&judge).await;
    let base = format!("/api/v1/hearings/{hearing}/recording");
    let r = judge.post(&format!("{base}/start"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let recording = r.body["recording"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let r = judge.post(&format!("{base}/stop"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");

    let (status, package) = export(&judge, &hearing).await;
    assert_eq!(status, 200);
    let work = tempfile::tempdir().unwrap();
    let ca = app.data_dir.join("pki").join("ca.crt");
    let (ok, text) = assize_verify(&package, &[&ca], work.path());
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("ok      recordings/{recording}/manifest.json")),
        "{text}"
    );

    // Every segment is a self-contained Ogg Opus file an independent decoder accepts.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&package)).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let segments: Vec<&String> = names.iter().filter(|n| n.ends_with(".opus")).collect();
    assert!(segments.len() >= 2, "{names:?}");
    for name in &segments {
        let mut bytes = Vec::new();
        zip.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
        let file = work.path().join("segment.opus");
        std::fs::write(&file, &bytes).unwrap();
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,sample_rate,channels",
            ])
            .args(["-show_entries", "format=duration", "-of", "json"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        let probe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(probe["streams"][0]["codec_name"], "opus", "{probe}");
        assert_eq!(probe["streams"][0]["channels"], 1, "{probe}");
        let duration: f64 = probe["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(duration > 0.0 && duration <= 1.05, "{name}: {duration}");
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-xerror", "-i"])
            .arg(&file)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        assert!(
            out.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A tamperer changes one byte of a segment and rebuilds the container: named.
    let target = segments[1].clone();
    let tampered = rewrite_entry(&package, &target);
    let (ok, text) = assize_verify(&tampered, &[&ca], work.path());
    assert!(!ok, "{text}");
    assert!(text.contains(&format!("FAILED  {target}")), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("FAILED")).count(),
        1,
        "only that segment: {text}"
    );

    // A changed byte in a stored segment: the server refuses to export it as evidence and
    // names it.
    let dir = app
        .data_dir
        .join("recordings")
        .join(&hearing)
        .join(&recording);
    let path = dir.join("seg-00002.opus");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let r = judge.get(&format!("{base}/export")).await;
    assert_eq!((r.status, r.code()), (409, "recording_damaged"), "{r:?}");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("segment 2 of recording"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_participant_is_told_when_recording_starts_and_stops_and_joiners_learn_the_state() {
    let app = court().await;
    let (judge, judge_cookie) = judge_with_cookie(&app).await;
    let hearing = open_hearing(&judge).await;
    let witness_cookie = invited(&app, &judge, &hearing, "witness").await;
    let counsel_cookie = invited(&app, &judge, &hearing, "defence_counsel").await;
    let join = |cookie: String| {
        let (app, hearing) = (&app, &hearing);
        async move {
            let socket = app.signal(hearing, Some(&cookie)).await.unwrap();
            RtcClient::join_on(socket, PayloadTypes::Chrome)
                .await
                .unwrap()
        }
    };
    // Joined before the start (the witness waits in the waiting room: told all the same).
    let bench = join(judge_cookie).await;
    let witness = join(witness_cookie).await;
    assert_eq!(bench.recording_notices(), [false]);
    assert_eq!(witness.recording_notices(), [false]);

    let base = format!("/api/v1/hearings/{hearing}/recording");
    let r = judge.post(&format!("{base}/start"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let limit = Duration::from_secs(20);
    let told_on = wait_until(limit, || {
        [&bench, &witness]
            .iter()
            .all(|c| c.recording_notices() == [false, true])
    })
    .await;
    assert!(
        told_on,
        "judge {:?}, witness {:?}",
        bench.recording_notices(),
        witness.recording_notices()
    );
    // A refused second start tells nobody anything new.
    let r = judge.post(&format!("{base}/start"), json!({})).await;
    assert_eq!(r.status, 409, "{r:?}");

    // Joining while recording: the state comes with the join.
    let counsel = join(counsel_cookie).await;
    assert_eq!(counsel.recording_notices(), [true]);

    let r = judge.post(&format!("{base}/stop"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let told_off = wait_until(limit, || {
        bench.recording_notices() == [false, true, false]
            && witness.recording_notices() == [false, true, false]
            && counsel.recording_notices() == [true, false]
    })
    .await;
    assert!(
        told_off,
        "judge {:?}, witness {:?}, counsel {:?}",
        bench.recording_notices(),
        witness.recording_notices(),
        counsel.recording_notices()
    );
    // A refused stop with nothing recording tells nobody anything either.
    let r = judge.post(&format!("{base}/stop"), json!({})).await;
    assert_eq!(r.status, 409, "{r:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bench.recording_notices(), [false, true, false]);
    bench.close().await;
    witness.close().await;
    counsel.close().await;
}

/// The payloads that reached the recorder, per (publisher, variant).
type Seen = HashMap<(u64, Variant), Vec<Vec<u8>>>;

/// Counts what reaches the recorder, per publisher and variant, and keeps the payloads, then
/// hands each packet on to the real recorder.
struct Counting {
    inner: Arc<RecorderThread>,
    seen: Mutex<Seen>,
}

impl Counting {
    fn count(&self, publisher: u64, variant: Variant) -> usize {
        self.seen
            .lock()
            .unwrap()
            .get(&(publisher, variant))
            .map_or(0, Vec::len)
    }

    fn payloads_of(&self, publisher: u64) -> Vec<Vec<u8>> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|((p, _), _)| *p == publisher)
            .flat_map(|(_, v)| v.iter().cloned())
            .collect()
    }
}

impl RecordingSink for Counting {
    fn record(&self, publisher: ParticipantId, variant: Variant, packet: &rtc::rtp::Packet) {
        self.seen
            .lock()
            .unwrap()
            .entry((publisher.0, variant))
            .or_default()
            .push(packet.payload.to_vec());
        self.inner.record(publisher, variant, packet);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_media_records_the_hearing_room_not_the_consultation_and_the_witness_only_distorted() {
    use assize_tests::audio::{amplitude_at, ffmpeg_decode, tone, voice};
    const AUDIO: MediaKind = MediaKind::Audio;
    let limit = Duration::from_secs(40);
    let server = spawn_sfu_server().await;
    server
        .sfu
        .anonymisers()
        .set_secret("rec", zeroize::Zeroizing::new([9; 32]));
    let media = |audio| RecordedMedia {
        audio,
        ..RecordedMedia::synthetic()
    };
    let witness_voice = voice(1.0);
    let raw_voice: HashSet<Vec<u8>> = witness_voice.iter().map(|p| p.to_vec()).collect();
    let join = |role: &'static str, party: &'static str, audio| {
        let server = &server;
        async move {
            RtcClient::join_with_media(server, "rec", role, party, media(audio))
                .await
                .unwrap_or_else(|e| panic!("{party} joins: {e:#}"))
        }
    };
    let judge = join("judge", "judge", tone(440.0, 0.2, 1.0)).await;
    let counsel = join("defence_counsel", "counsel", tone(1000.0, 0.2, 1.0)).await;
    let defendant = join("defendant", "defendant", tone(1300.0, 0.2, 1.0)).await;
    let witness = join("witness", "w-1", witness_voice).await;
    let hearing = server.sfu.hearings().get("rec").unwrap();
    let pid = |c: &RtcClient| ParticipantId(c.participant);
    hearing.update(|room| {
        room.set_protection(
            pid(&witness),
            Some(Protection {
                voice_distorted: true,
                face: FaceProtection::None,
                raw_to: [HearingRole::Judge].into_iter().collect(),
                keep_original: false,
            }),
        )
        .unwrap();
        room.set_state(HearingState::InSession);
        for c in [&judge, &witness] {
            room.move_to(pid(c), Location::HearingRoom).unwrap();
        }
        for c in [&counsel, &defendant] {
            room.move_to(pid(c), Location::Consultation(ConsultationRoomId(1)))
                .unwrap();
        }
    });

    // The real recorder, behind a counter, attached as the judge's start attaches it.
    let dir = tempfile::tempdir().unwrap();
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let recorder = Arc::new(
        RecorderThread::spawn(
            RecorderConfig {
                dir: dir.path().to_path_buf(),
                recording_id: "r-1".into(),
                segment_frames: 100,
                jitter_frames: assize_server::recording::JITTER_FRAMES,
                bitrate_kbps: assize_server::recording::BITRATE_KBPS,
                encrypt_to: None,
                start_with_first_packet: false,
            },
            events_tx,
        )
        .unwrap(),
    );
    let counting = Arc::new(Counting {
        inner: recorder.clone(),
        seen: Mutex::default(),
    });
    hearing.set_recorder(Some(counting.clone()));
    hearing.set_recording(true);

    // Four seconds of the judge and the (distorted) witness, while the consultation is live.
    let (j, w, c, d) = (
        judge.participant,
        witness.participant,
        counsel.participant,
        defendant.participant,
    );
    let enough = wait_until(limit, || {
        counting.count(j, Variant::Raw) >= 200
            && counting.count(w, Variant::Anonymised) >= 200
            && counsel.received(d, AUDIO) >= 200
            && defendant.received(c, AUDIO) >= 200
    })
    .await;
    assert!(
        enough,
        "judge {}, witness anonymised {}, consultation {}/{}",
        counting.count(j, Variant::Raw),
        counting.count(w, Variant::Anonymised),
        counsel.received(d, AUDIO),
        defendant.received(c, AUDIO)
    );
    hearing.set_recording(false);
    hearing.set_recorder(None);
    let r = recorder.clone();
    tokio::task::spawn_blocking(move || r.stop()).await.unwrap();

    // The recorder saw the judge and the witness's anonymised voice, nothing of the witness's
    // own voice, and nothing of the consultation room.
    assert_eq!(counting.count(w, Variant::Raw), 0);
    assert!(
        counting
            .payloads_of(w)
            .iter()
            .all(|p| !raw_voice.contains(p)),
        "no packet of the witness's own voice reaches the recorder"
    );
    for p in [c, d] {
        assert!(counting.payloads_of(p).is_empty(), "consultation: {p}");
    }
    let mut segments = Vec::new();
    while let Ok(event) = events.try_recv() {
        match event {
            RecorderEvent::Segment(s) => segments.push(s.file_name),
            other => panic!("{other:?}"),
        }
    }
    assert!(segments.len() >= 2, "{segments:?}");

    // What ffmpeg decodes: the judge's 440 Hz, not the consultation's 1000 and 1300 Hz.
    let mut samples = Vec::new();
    for s in &segments {
        samples.extend(ffmpeg_decode(&dir.path().join(s)).unwrap());
    }
    let seconds: Vec<&[f32]> = samples.chunks_exact(48_000).collect();
    assert!(seconds.len() >= 3, "{} samples", samples.len());
    let mut judge_tone: Vec<f64> = seconds.iter().map(|s| amplitude_at(s, 440.0)).collect();
    judge_tone.sort_by(f64::total_cmp);
    let heard = judge_tone[judge_tone.len() / 2];
    assert!(
        heard > 0.05,
        "the judge's tone is in the recording: {judge_tone:?}"
    );
    for hz in [1000.0, 1300.0] {
        let loudest = seconds
            .iter()
            .map(|s| amplitude_at(s, hz))
            .fold(0.0, f64::max);
        assert!(
            loudest < heard / 10.0,
            "{hz} Hz from the consultation room: {loudest:.4} against {heard:.4} at 440 Hz"
        );
    }
    for client in [judge, counsel, defendant, witness] {
        client.close().await;
    }
}

/// Every audit entry's body, in order.
async fn audit_bodies(database_url: &str) -> Vec<serde_json::Value> {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let rows = sqlx::query("SELECT body FROM audit_entries ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    rows.iter()
        .map(|r| serde_json::from_str(&r.get::<String, _>(0)).unwrap())
        .collect()
}

/// Kills the process when dropped (a failing test leaves no server behind).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_recording_leaves_every_closed_segment_verifiable_and_notes_the_rest()
 {
    // Set up the court in process, then hand its data directory and database to the real
    // binary.
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let keep = data_dir.clone();
    let app = spawn_app_with(move |s| {
        s.auth.totp_required_roles = vec![];
        s.data_dir = keep;
    })
    .await;
    let database_url = app.database_url.clone();
    let username = format!("j{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    app.create_user(&username, &[Role::Judge]).await;
    let ca = app.data_dir.join("pki").join("ca.crt");
    let _database = app.stop_keeping_database().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = work.path().join("assize.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\ndatabase_url = \"{database_url}\"\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\n\
             [auth]\ntotp_required_roles = []\n\
             [recording]\nsegment_secs = 1\n",
            data_dir.display()
        ),
    )
    .unwrap();
    let mut server = Killed(
        std::process::Command::new(assize_binary())
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .cookie_store(true)
        .https_only(true)
        .build()
        .unwrap();
    let mut judge = Client {
        http,
        base: format!("https://127.0.0.1:{port}"),
        csrf: None,
        bearer: None,
        user_id: None,
    };
    let up = wait_until(Duration::from_secs(60), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    assert!(up, "the server listens: {:?}", server.0.try_wait());
    let r = judge.sign_in(&username, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let hearing = open_hearing(&judge).await;
    let r = judge
        .post(
            &format!("/api/v1/hearings/{hearing}/recording/start"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let recording = r.body["recording"].as_str().unwrap().to_string();
    let dir = data_dir.join("recordings").join(&hearing).join(&recording);

    // Two segments closed and audited, the third being written: kill -9.
    let audited = |n: usize| {
        let url = database_url.clone();
        let recording = recording.clone();
        async move {
            audit_bodies(&url)
                .await
                .iter()
                .filter(|b| {
                    b["action"] == "recording.segment" && b["details"]["recording"] == *recording
                })
                .count()
                >= n
        }
    };
    let mut ready = false;
    for _ in 0..300 {
        let part = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
            })
            .unwrap_or(false);
        if part && audited(2).await {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "two segments audited while recording");
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let parts: Vec<&String> = left.iter().filter(|n| n.ends_with(".part")).collect();
    assert_eq!(parts.len(), 1, "{left:?}");

    // The next start notes the interruption, naming the unfinished file.
    let app = spawn_app_with(|s| {
        s.auth.totp_required_roles = vec![];
        s.data_dir = data_dir.clone();
        s.database_url = database_url.clone();
    })
    .await;
    let segments = app.store.segments(&recording).await.unwrap();
    assert!(segments.len() >= 2, "{segments:?}");
    let bodies = audit_bodies(&database_url).await;
    let noted: Vec<&serde_json::Value> = bodies
        .iter()
        .filter(|b| b["action"] == "recording.interrupted")
        .collect();
    assert_eq!(noted.len(), 1, "{bodies:?}");
    let details = &noted[0]["details"];
    assert_eq!(details["recording"], recording.as_str(), "{details}");
    assert_eq!(details["unfinished_files"], json!(parts), "{details}");
    assert_eq!(details["closed_segments"], segments.len(), "{details}");
    // Every closed file on disk was audited (else it would be named here).
    assert_eq!(details["unaudited_files"], json!([]), "{details}");

    // Every closed segment: on disk, in the chain, audited, decodable.
    let mut link: [u8; 32] = Sha256::digest(format!("assize recording {recording}")).into();
    for s in &segments {
        let bytes = std::fs::read(dir.join(&s.file_name)).unwrap();
        let h: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(hex::encode(h), s.sha256, "{}", s.file_name);
        let mut c = Sha256::new();
        c.update(link);
        c.update(h);
        c.update(u32::try_from(s.index).unwrap().to_be_bytes());
        link = c.finalize().into();
        assert_eq!(hex::encode(link), s.chain);
        assert!(
            bodies.iter().any(|b| b["action"] == "recording.segment"
                && serde_json::to_string(b).unwrap().contains(&s.sha256)),
            "segment {} is in the audit log",
            s.index
        );
        assert!(
            !assize_tests::audio::ffmpeg_decode(&dir.join(&s.file_name))
                .unwrap()
                .is_empty()
        );
    }
    // Only the interrupted segment is missing from the record.
    let closed_on_disk = left.iter().filter(|n| n.ends_with(".opus")).count();
    assert_eq!(closed_on_disk, segments.len(), "{left:?}");

    // The export of the interrupted recording verifies offline.
    let judge = {
        let mut c = app.client();
        let r = c.sign_in(&username, PASSWORD, None).await;
        assert_eq!(r.status, 200, "{r:?}");
        c
    };
    let (status, package) = export(&judge, &hearing).await;
    assert_eq!(status, 200);
    let (ok, text) = assize_verify(&package, &[&ca], work.path());
    assert!(ok, "{text}");
    for s in &segments {
        assert!(
            text.contains(&format!("ok      recordings/{recording}/{}", s.file_name)),
            "{text}"
        );
    }
}
