//! The court's encrypted original voice (issue #8) and the recorder's bad input, against the
//! real server over real WebRTC on loopback:
//!
//! - a witness under an order that keeps the original publishes real speech; the ordinary
//!   record holds only the distorted voice; the original's segments on disk are CMS
//!   EnvelopedData with no Ogg in sight, `openssl cms -decrypt` with the court's key yields Ogg
//!   that ffmpeg decodes, and an independent speaker-verification model recognises the witness
//!   in it; counsel and a clerk the order does not name cannot download it (403, refusals
//!   audited), the named judge can; a changed byte in an encrypted segment is named;
//! - without a recipient certificate, such an order is refused with what to configure;
//! - a full disk mid-recording: the judge is told (`recording_failed`), every screen stops
//!   saying "recording", the recording is sealed with what was closed before (verifiable
//!   offline), and the minutes say what happened.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assize_server::policy::Role;
use assize_speaker::{self as speaker, SpeakerEncoder, similarity};
use assize_tests::record::assize_verify;
use assize_tests::rtc_client::{PayloadTypes, RecordedMedia, RtcClient, wait_until};
use assize_tests::{Client, PASSWORD, TestApp, set_cookie, spawn_app_with};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

/// The court's RSA certificate and key, made with the `openssl` command as a court would.
fn court_key_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let (crt, key) = (dir.join("court.crt"), dir.join("court.key"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=Registry of the Court of Test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (crt, key)
}

async fn signed_in(app: &TestApp, roles: &[Role]) -> (Client, String, String) {
    let username = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let id = app.create_user(&username, roles).await;
    let mut client = app.client();
    let r = client.sign_in(&username, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let cookie = set_cookie(&r, "__Host-assize_session").unwrap();
    (client, cookie, id)
}

/// Invites `role` and redeems: the invited person's client, hearing cookie and participant id.
async fn invited(
    app: &TestApp,
    judge: &Client,
    hearing: &str,
    role: &str,
) -> (Client, String, String) {
    let r = judge
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            json!({"role": role, "label": "Participant"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let mut client = app.client();
    let r = client
        .post(
            "/api/v1/hearing-invitations/redeem",
            json!({ "token": r.body["token"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    client.csrf = r.body["csrf_token"].as_str().map(str::to_string);
    (
        client,
        set_cookie(&r, "__Host-assize_hearing").unwrap(),
        r.body["participant_id"].as_str().unwrap().to_string(),
    )
}

/// A hearing booked by `judge` (its judge), opened.
async fn open_hearing(judge: &Client) -> String {
    let r = judge
        .post(
            "/api/v1/hearings",
            json!({"case_reference": "CR-8", "court": "Tribunal", "title": "R v Y",
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

/// The witness's real speech (flite's `slt` voice, 5 s) as Opus packets, sent in a loop.
fn witness_speech() -> RecordedMedia {
    let (speech, rate) = speaker::read_wav(&speaker::data_dir().join("witness_slt_a.wav"))
        .expect("the witness's recording");
    assert_eq!(rate, speaker::MODEL_RATE);
    let speech = speaker::upsample_16k_to_48k(&speech);
    let seconds = speech.len() as f64 / 48_000.0;
    RecordedMedia {
        audio: assize_tests::audio::opus_packets(seconds, move |t| {
            f64::from(speech.get((t * 48_000.0) as usize).copied().unwrap_or(0.0))
        }),
        ..RecordedMedia::synthetic()
    }
}

async fn get_bytes(client: &Client, path: &str) -> (u16, Vec<u8>, Value) {
    let r = client
        .http
        .get(format!("{}{path}", client.base))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap().to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, bytes, json)
}

/// Every audit entry's action and details, in order.
async fn audit_entries(database_url: &str) -> Vec<(String, Value)> {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let rows = sqlx::query("SELECT action, body FROM audit_entries ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    rows.iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                serde_json::from_str::<Value>(&r.get::<String, _>(1)).unwrap()["details"].clone(),
            )
        })
        .collect()
}

fn zip_entries(package: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(package)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().to_string(), bytes)
        })
        .collect()
}

fn contains_ogg(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"OggS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_original_is_encrypted_to_the_court_and_only_the_named_judge_downloads_it() {
    let keys = tempfile::tempdir().unwrap();
    let (court_crt, court_key) = court_key_pair(keys.path());
    let recipient = court_crt.to_string_lossy().into_owned();
    let app = spawn_app_with(move |s| {
        s.auth.totp_required_roles = vec![];
        s.recording.segment_secs = 1;
        s.recording.original_voice_recipient = recipient;
    })
    .await;
    let (judge, _, _) = signed_in(&app, &[Role::Judge]).await;
    let hearing = open_hearing(&judge).await;
    let (clerk, _, clerk_id) = signed_in(&app, &[Role::Clerk]).await;
    let r = judge
        .post(
            &format!("/api/v1/hearings/{hearing}/participants"),
            json!({"user_id": clerk_id, "role": "clerk"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let (_, witness_cookie, witness_id) = invited(&app, &judge, &hearing, "witness").await;
    let (counsel, _, _) = invited(&app, &judge, &hearing, "defence_counsel").await;

    // The order: voice distorted, the original kept for the judge only.
    let r = judge
        .send(
            "PUT",
            &format!("/api/v1/hearings/{hearing}/participants/{witness_id}/protective-order"),
            Some(
                json!({"pseudonym": "Witness X", "voice": "distorted", "face": "none",
                        "raw_to": ["judge"], "keep_original": true}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["protective_order"]["keep_original"], true, "{r:?}");

    // The witness speaks in the hearing room while the judge records.
    let socket = app.signal(&hearing, Some(&witness_cookie)).await.unwrap();
    let witness = RtcClient::join_on_with(socket, PayloadTypes::Chrome, Some(witness_speech()))
        .await
        .unwrap();
    let h = format!("/api/v1/hearings/{hearing}");
    let r = judge.post(&format!("{h}/start"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = judge
        .post(&format!("{h}/participants/{witness_id}/call"), json!({}))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = judge.post(&format!("{h}/recording/start"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let recording = r.body["recording"].as_str().unwrap().to_string();
    // Six closed segments of the original: enough speech for the speaker model.
    let deadline = Instant::now() + LIMIT;
    let original = loop {
        if let Some(o) = app.store.original_of(&hearing, &recording).await.unwrap()
            && app.store.segments(&o.id).await.unwrap().len() >= 6
        {
            break o.id;
        }
        assert!(
            Instant::now() < deadline,
            "no six original segments in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let r = judge.post(&format!("{h}/recording/stop"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["original"]["recording"], original.as_str(), "{r:?}");
    witness.close().await;

    // On disk: only encrypted segments, no Ogg anywhere, nothing left half-written.
    let dir = app
        .data_dir
        .join("recordings")
        .join(&hearing)
        .join(&original);
    let segments = app.store.segments(&original).await.unwrap();
    assert!(segments.len() >= 6, "{segments:?}");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        segments
            .iter()
            .map(|s| s.file_name.clone())
            .collect::<Vec<_>>(),
        "only the sealed, encrypted segments"
    );
    let work = tempfile::tempdir().unwrap();
    let mut heard = Vec::new();
    for s in &segments {
        assert!(s.file_name.ends_with(".opus.p7m"), "{}", s.file_name);
        let path = dir.join(&s.file_name);
        let bytes = std::fs::read(&path).unwrap();
        assert!(!contains_ogg(&bytes), "{} holds clear Ogg", s.file_name);
        // The court decrypts with its key, exactly as docs/operations.md says.
        let clear = work.path().join(format!("{}.ogg", s.index));
        let out = Command::new("openssl")
            .args(["cms", "-decrypt", "-inform", "DER", "-in"])
            .arg(&path)
            .arg("-recip")
            .arg(&court_crt)
            .arg("-inkey")
            .arg(&court_key)
            .arg("-out")
            .arg(&clear)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            s.file_name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::read(&clear).unwrap().starts_with(b"OggS"));
        heard.extend(assize_tests::audio::ffmpeg_decode(&clear).unwrap());
    }
    // Whose voice: the witness's, as an independent speaker-verification model judges it
    // (enrolled with another recording of the witness, against strangers).
    let model = SpeakerEncoder::shared();
    let (enrolment, rate) = speaker::read_wav(&speaker::data_dir().join("witness_slt_b.wav"))
        .expect("the enrolment recording");
    let witness_voice = model.embed(&enrolment, rate);
    let original_sim = similarity(&witness_voice, &model.embed(&heard, 48_000));
    let closest_stranger = ["other_rms.wav", "other_awb.wav", "other_kal16.wav"]
        .map(|f| {
            let (s, r) = speaker::read_wav(&speaker::data_dir().join(f)).expect("a stranger");
            similarity(&witness_voice, &model.embed(&s, r))
        })
        .into_iter()
        .fold(f32::MIN, f32::max);
    println!(
        "original voice: similarity {original_sim:.3}, closest stranger {closest_stranger:.3}"
    );
    assert!(
        original_sim > closest_stranger + 0.2,
        "the decrypted original is the witness's own voice: {original_sim:.3} against \
         strangers up to {closest_stranger:.3}"
    );

    // The ordinary export holds the distorted record only: no original, nothing encrypted.
    let (status, package, _) = get_bytes(&judge, &format!("{h}/recording/export")).await;
    assert_eq!(status, 200);
    let entries = zip_entries(&package);
    assert!(
        entries
            .iter()
            .all(|(n, _)| !n.contains(&original) && !n.ends_with(".p7m")),
        "{:?}",
        entries.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let distorted: Vec<_> = entries
        .iter()
        .filter(|(n, _)| n.starts_with(&format!("recordings/{recording}/")) && n.ends_with(".opus"))
        .collect();
    assert!(distorted.len() >= 2, "the distorted record is exported");
    let first = work.path().join("distorted.opus");
    std::fs::write(&first, &distorted[0].1).unwrap();
    assert!(
        !assize_tests::audio::ffmpeg_decode(&first)
            .unwrap()
            .is_empty()
    );

    // Who may download the original: not counsel (an invitation), not a clerk the order does
    // not name; the judge it names may.
    let path = format!("{h}/recordings/{recording}/original");
    let (status, _, body) = get_bytes(&counsel, &path).await;
    assert_eq!(status, 403, "counsel: {body}");
    let (status, _, body) = get_bytes(&clerk, &path).await;
    assert_eq!(status, 403, "clerk: {body}");
    let (status, package, body) = get_bytes(&judge, &path).await;
    assert_eq!(status, 200, "judge: {body}");
    let entries = zip_entries(&package);
    for s in &segments {
        let (_, bytes) = entries
            .iter()
            .find(|(n, _)| *n == format!("original/{}", s.file_name))
            .unwrap_or_else(|| panic!("{} in the package", s.file_name));
        assert_eq!(*bytes, std::fs::read(dir.join(&s.file_name)).unwrap());
    }
    let (_, manifest) = entries
        .iter()
        .find(|(n, _)| n == "original/manifest.json")
        .unwrap();
    let manifest: Value = serde_json::from_slice(manifest).unwrap();
    assert_eq!(manifest["readable_by"], json!(["judge"]));
    assert_eq!(manifest["original_of"], recording.as_str());
    let ca = app.data_dir.join("pki").join("ca.crt");
    let (ok, text) = assize_verify(&package, &[&ca], work.path());
    assert!(ok, "{text}");

    // Each encrypted segment was chained into the audit log as stored; each refusal and the
    // download are audited.
    let audit = audit_entries(&app.database_url).await;
    let chained: Vec<&Value> = audit
        .iter()
        .filter(|(a, b)| a == "recording.original_segment" && b["recording"] == original.as_str())
        .map(|(_, b)| b)
        .collect();
    assert_eq!(chained.len(), segments.len());
    for (entry, s) in chained.iter().zip(&segments) {
        assert_eq!(entry["sha256"], s.sha256.as_str());
    }
    let count = |action: &str| audit.iter().filter(|(a, _)| a == action).count();
    assert_eq!(
        count("recording.original_refused"),
        1,
        "the clerk's refusal"
    );
    assert_eq!(count("recording.original_download"), 1);
    let order = audit
        .iter()
        .find(|(a, _)| a == "protective_order.set")
        .unwrap();
    assert_eq!(order.1["keep_original"], true);

    // A changed byte in an encrypted segment is named.
    let victim = &segments[1];
    let path_on_disk = dir.join(&victim.file_name);
    let mut bytes = std::fs::read(&path_on_disk).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path_on_disk, &bytes).unwrap();
    let (status, _, body) = get_bytes(&judge, &path).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "recording_damaged");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("segment {} of recording {original}", victim.index)),
        "{message}"
    );

    // The minutes' protective-order section says the original is kept.
    let r = judge.get(&format!("{h}/minutes?format=json")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["orders_in_force"][0]["keep_original"], true, "{r:?}");
}

#[tokio::test]
async fn keeping_the_original_without_a_recipient_certificate_is_refused_with_what_to_configure() {
    let app = spawn_app_with(|s| s.auth.totp_required_roles = vec![]).await;
    let (judge, _, _) = signed_in(&app, &[Role::Judge]).await;
    let hearing = open_hearing(&judge).await;
    let (_, _, witness) = invited(&app, &judge, &hearing, "witness").await;
    let path = format!("/api/v1/hearings/{hearing}/participants/{witness}/protective-order");
    let order = |keep: bool| {
        json!({"pseudonym": "Witness X", "voice": "distorted", "face": "none",
               "raw_to": ["judge"], "keep_original": keep})
    };
    let r = judge.send("PUT", &path, Some(order(true))).await;
    assert_eq!((r.status, r.code()), (409, "original_voice_not_configured"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("recording.original_voice_recipient"),
        "{r:?}"
    );
    // Nothing was stored; the same order without the original is made.
    let r = judge.get(&path).await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = judge.send("PUT", &path, Some(order(false))).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["protective_order"]["keep_original"], false);
    // An original for a voice that is not distorted, or for nobody, makes no sense.
    let r = judge
        .send(
            "PUT",
            &path,
            Some(json!({"pseudonym": "W", "voice": "none", "face": "masked",
                        "raw_to": ["judge"], "keep_original": true})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_protective_order"));
}

#[tokio::test]
async fn a_recipient_that_cannot_be_used_stops_the_start_and_names_the_setting() {
    use assize_server::app::Application;
    use assize_server::config::Settings;
    let dir = tempfile::tempdir().unwrap();
    let settings = |recipient: &Path| {
        let mut s = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        s.http.listen = "127.0.0.1:0".into();
        s.recording.original_voice_recipient = recipient.to_string_lossy().into_owned();
        s
    };
    // Missing, not a certificate, and an EC key (no RSA key transport).
    let not_pem = dir.path().join("court.txt");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let ec = dir.path().join("ec.crt");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=EC court", "-keyout"])
        .arg(dir.path().join("ec.key"))
        .arg("-out")
        .arg(&ec)
        .output()
        .unwrap();
    assert!(out.status.success());
    for (path, says) in [
        (dir.path().join("missing.crt"), "cannot read"),
        (not_pem, "not a PEM certificate"),
        (ec, "RSA"),
    ] {
        let err = Application::build(settings(&path)).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("recording.original_voice_recipient") && msg.contains(says),
            "{msg}"
        );
    }
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (the caller skips) when mounting is not permitted here.
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .ok()?;
        if out.status.success() {
            Some(Self(at.to_path_buf()))
        } else {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs to fill ({}); run as root to test a full disk",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Writes zeros to `file` until the file system is full.
fn fill(file: &Path) {
    use std::io::Write as _;
    let mut f = std::fs::File::create(file).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_recording_tells_the_judge_and_keeps_every_closed_segment() {
    let base = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&base.path().join("recordings"), "4m") else {
        return;
    };
    let directory = disk.0.to_string_lossy().into_owned();
    let app = spawn_app_with(move |s| {
        s.auth.totp_required_roles = vec![];
        s.recording.segment_secs = 1;
        s.recording.directory = directory;
    })
    .await;
    let (judge, judge_cookie, _) = signed_in(&app, &[Role::Judge]).await;
    let hearing = open_hearing(&judge).await;
    let (_, witness_cookie, _) = invited(&app, &judge, &hearing, "witness").await;
    let join = |cookie: String| {
        let (app, hearing) = (&app, &hearing);
        async move {
            let socket = app.signal(hearing, Some(&cookie)).await.unwrap();
            RtcClient::join_on(socket, PayloadTypes::Chrome)
                .await
                .unwrap()
        }
    };
    let bench = join(judge_cookie).await;
    let witness = join(witness_cookie).await;
    let h = format!("/api/v1/hearings/{hearing}");
    let r = judge.post(&format!("{h}/recording/start"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let recording = r.body["recording"].as_str().unwrap().to_string();
    let deadline = Instant::now() + LIMIT;
    while app.store.segments(&recording).await.unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no two segments in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The disk fills up under the recorder.
    let filler = disk.0.join("filler");
    fill(&filler);

    // The judge is told why; everyone's screen stops saying "recording"; the recording is
    // sealed as if stopped.
    let told = wait_until(LIMIT, || {
        !bench.recording_failures().is_empty()
            && bench.recording_notices().last() == Some(&false)
            && witness.recording_notices().last() == Some(&false)
    })
    .await;
    assert!(
        told,
        "judge {:?} {:?}, witness {:?}",
        bench.recording_failures(),
        bench.recording_notices(),
        witness.recording_notices()
    );
    let notice = &bench.recording_failures()[0];
    assert!(
        notice["message"]
            .as_str()
            .unwrap()
            .contains("administrator"),
        "{notice}"
    );
    assert!(
        witness.recording_failures().is_empty(),
        "the bench is told, not the witness"
    );
    let deadline = Instant::now() + LIMIT;
    let sealed = loop {
        let r = app.store.recordings(&hearing).await.unwrap();
        if let Some(r) = r
            .into_iter()
            .find(|r| r.id == recording && r.status == "sealed")
        {
            break r;
        }
        assert!(Instant::now() < deadline, "the recording is not sealed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let manifest: Value = serde_json::from_slice(sealed.manifest.as_ref().unwrap()).unwrap();
    let problems = manifest["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("stopped writing")),
        "{manifest}"
    );
    // Nothing more to stop: the server stopped it.
    let r = judge.post(&format!("{h}/recording/stop"), json!({})).await;
    assert_eq!((r.status, r.code()), (409, "not_recording"));
    let me = judge.get(&format!("{h}/me")).await;
    assert_eq!(me.body["recording"], false, "{me:?}");

    // Every closed segment verifies offline, once there is room to build the package.
    std::fs::remove_file(&filler).unwrap();
    let (status, package, _) = get_bytes(&judge, &format!("{h}/recording/export")).await;
    assert_eq!(status, 200);
    let work = tempfile::tempdir().unwrap();
    let ca = app.data_dir.join("pki").join("ca.crt");
    let (ok, text) = assize_verify(&package, &[&ca], work.path());
    assert!(ok, "{text}");
    let closed = app.store.segments(&recording).await.unwrap();
    assert!(closed.len() >= 2, "{closed:?}");
    for s in &closed {
        assert!(
            text.contains(&format!("recordings/{recording}/{}", s.file_name)),
            "{text}"
        );
    }

    // The minutes say what happened.
    let r = judge.get(&format!("{h}/minutes?format=json")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let kinds: Vec<&str> = r.body["interruptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"recording_failed"), "{kinds:?}");
    bench.close().await;
    witness.close().await;
}
