//! The hearing's minutes against the real server: a hearing with a witness under a protective
//! order is held (joins, admission, call, excusal, a pause, a recording, a participant leaving);
//! the draft before the close and the final minutes sealed at the close tell it in JSON, HTML and
//! PDF (read back with poppler's `pdftotext`), never with the protected witness's name; the
//! record export carries them and verifies offline (`assize verify`, `openssl cms`), a changed
//! byte in them is named, and the stored minutes cannot be changed.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use assize_server::policy::Role;
use assize_tests::record::{assize_verify, ordered_entries, recorded_and_closed, rewrite_entry};
use assize_tests::rtc_client::SignalSocket;
use assize_tests::{Client, PASSWORD, TestApp, set_cookie, spawn_app_with};
use serde_json::{Value, json};

const REPLY: Duration = Duration::from_secs(10);
/// What the court calls the witness: their real name, which the minutes must never show.
const REAL_NAME: &str = "Jeanne Realname-Secret";
const PSEUDONYM: &str = "Witness X";

async fn court() -> TestApp {
    spawn_app_with(|s| {
        s.auth.totp_required_roles = vec![];
        s.recording.segment_secs = 1;
    })
    .await
}

/// A signed-in account: its client, session cookie and user id.
async fn staff(app: &TestApp, roles: &[Role]) -> (Client, String, String) {
    let username = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let id = app.create_user(&username, roles).await;
    let mut client = app.client();
    let r = client.sign_in(&username, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let cookie = set_cookie(&r, "__Host-assize_session").unwrap();
    (client, cookie, id)
}

/// Invites and redeems: (participant id, hearing cookie).
async fn invited(
    app: &TestApp,
    judge: &Client,
    hearing: &str,
    role: &str,
    label: &str,
) -> (String, String) {
    let r = judge
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            json!({"role": role, "label": label}),
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
    (
        r.body["participant_id"].as_str().unwrap().to_string(),
        set_cookie(&r, "__Host-assize_hearing").unwrap(),
    )
}

async fn join(app: &TestApp, hearing: &str, cookie: &str) -> SignalSocket {
    let mut s = app.signal(hearing, Some(cookie)).await.unwrap();
    s.send_json(&json!({"v": 1, "type": "join"})).await.unwrap();
    let joined = s.recv_json(REPLY).await.unwrap();
    assert_eq!(joined["type"], "joined", "{joined}");
    s
}

/// `GET …/minutes?QUERY`: (status, minutes status header, body).
async fn minutes(client: &Client, hearing: &str, query: &str) -> (u16, String, Vec<u8>) {
    let r = client
        .http
        .get(format!(
            "{}/api/v1/hearings/{hearing}/minutes?{query}",
            client.base
        ))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("x-assize-minutes-status")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, r.bytes().await.unwrap().to_vec())
}

async fn post(c: &Client, path: &str) {
    let r = c.post(path, json!({})).await;
    assert!(r.status == 200 || r.status == 204, "{path}: {r:?}");
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn pdftotext(pdf: &[u8], work: &Path) -> String {
    let file = work.join("minutes.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils, see tools/install-deps.sh)");
    assert!(
        out.status.success(),
        "pdftotext refused the PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn entries(package: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    ordered_entries(package).into_iter().collect()
}

fn actions(m: &Value) -> Vec<String> {
    m["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

fn event<'a>(m: &'a Value, action: &str) -> &'a Value {
    m["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} in {m}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minutes_tell_the_hearing_seal_at_the_close_and_never_name_the_protected_witness() {
    let app = court().await;
    let (clerk, _, _) = staff(&app, &[Role::Clerk]).await;
    let (judge, judge_cookie, judge_id) = staff(&app, &[Role::Judge]).await;
    let r = clerk
        .post(
            "/api/v1/hearings",
            json!({"case_reference": "2026-CR-7 <b>", "court": "Tribunal de Bruxelles",
                   "title": "R v Y & Z", "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let hearing = r.body["id"].as_str().unwrap().to_string();
    let h = format!("/api/v1/hearings/{hearing}");
    let r = clerk
        .post(
            &format!("{h}/participants"),
            json!({"user_id": judge_id, "role": "judge"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let judge_seat = r.body["id"].as_str().unwrap().to_string();
    let (witness, witness_cookie) = invited(&app, &judge, &hearing, "witness", REAL_NAME).await;
    let (counsel, counsel_cookie) =
        invited(&app, &judge, &hearing, "defence_counsel", "Maître Dupont").await;
    let r = judge
        .send(
            "PUT",
            &format!("{h}/participants/{witness}/protective-order"),
            Some(
                json!({"pseudonym": PSEUDONYM, "voice": "distorted", "face": "masked",
                        "raw_to": ["judge"]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    // The hearing: opened, everyone connects, in session, counsel admitted, the witness
    // called, recorded, a pause, the witness excused and leaving.
    post(&clerk, &format!("{h}/open")).await;
    let witness_socket = join(&app, &hearing, &witness_cookie).await;
    let _counsel_socket = join(&app, &hearing, &counsel_cookie).await;
    let _judge_socket = join(&app, &hearing, &judge_cookie).await;
    post(&judge, &format!("{h}/start")).await;
    post(&judge, &format!("{h}/participants/{judge_seat}/admit")).await;
    post(&judge, &format!("{h}/participants/{counsel}/admit")).await;
    post(&judge, &format!("{h}/participants/{witness}/call")).await;
    post(&judge, &format!("{h}/recording/start")).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    post(&judge, &format!("{h}/pause")).await;
    post(&judge, &format!("{h}/resume")).await;
    post(&judge, &format!("{h}/participants/{witness}/send-back")).await;
    drop(witness_socket);

    // A draft before the close, for the judge or the clerk: sealed, marked draft.
    let mut draft = Value::Null;
    for _ in 0..50 {
        let (status, kind, body) = minutes(&clerk, &hearing, "format=json").await;
        assert_eq!((status, kind.as_str()), (200, "draft"));
        draft = serde_json::from_slice(&body).unwrap();
        if actions(&draft)
            .iter()
            .any(|a| a == "participant.disconnect")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(draft["schema"], "assize.minutes/1");
    assert_eq!(draft["status"], "draft");
    let left = event(&draft, "participant.disconnect");
    assert_eq!(left["participant"]["name"], PSEUDONYM, "{left}");
    assert!(
        draft["connection_incidents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["grade"] == "disconnected" && i["participant"]["name"] == PSEUDONYM),
        "{draft}"
    );
    // The witness is there only under the pseudonym.
    let w = draft["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == witness.as_str())
        .unwrap();
    assert_eq!(
        (w["name"].as_str(), w["protected"].as_bool()),
        (Some(PSEUDONYM), Some(true))
    );
    assert!(w["first_connected_at"].is_string(), "{w}");
    let (_, _, html) = minutes(&judge, &hearing, "format=html").await;
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("DRAFT"));
    assert!(
        html.contains("2026-CR-7 &lt;b&gt;") && !html.contains("<b>"),
        "escaped"
    );

    // Closing seals the final minutes; the running recording is stopped and sealed first.
    post(&judge, &format!("{h}/close")).await;
    let (status, kind, final_json) = minutes(&clerk, &hearing, "format=json").await;
    assert_eq!((status, kind.as_str()), (200, "final"));
    let (_, _, again) = minutes(&judge, &hearing, "").await;
    assert_eq!(again, final_json, "stored once, returned as sealed");
    let m: Value = serde_json::from_slice(&final_json).unwrap();
    assert_eq!(m["status"], "final");
    assert_eq!(m["hearing"]["state"], "closed");
    let moves: Vec<(String, String)> = m["state_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["to"].as_str().unwrap().into(),
                s["by"]["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("open", "clerk"),
        ("in_session", "judge"),
        ("paused", "judge"),
        ("in_session", "judge"),
        ("closed", "judge"),
    ]
    .iter()
    .map(|(a, b)| ((*a).into(), (*b).into()))
    .collect();
    assert_eq!(moves, expected);
    let pause = &m["interruptions"][0];
    assert_eq!(
        (pause["kind"].as_str(), pause["by"]["role"].as_str()),
        (Some("pause"), Some("judge"))
    );
    assert!(pause["until"].is_string(), "{pause}");
    let call = event(&m, "participant.call");
    assert_eq!(call["participant"]["name"], PSEUDONYM);
    assert_eq!(call["by"]["role"], "judge");
    assert_eq!(
        event(&m, "participant.admit")["participant"]["role"],
        "judge"
    );
    assert_eq!(
        event(&m, "participant.send_back")["participant"]["name"],
        PSEUDONYM
    );
    let order = &m["protective_orders"][0];
    assert_eq!(
        (order["change"].as_str(), order["voice"].as_str()),
        (Some("set"), Some("distorted"))
    );
    assert_eq!(m["orders_in_force"][0]["participant"]["name"], PSEUDONYM);
    let rec = &m["recordings"][0];
    assert_eq!(rec["status"], "sealed");
    assert!(rec["segments"].as_u64().unwrap() >= 1, "{rec}");
    assert_eq!(rec["started_by"]["role"], "judge");
    assert!(actions(&m).contains(&"recording.stop".to_string()));
    assert!(
        !contains(&final_json, REAL_NAME),
        "the witness's name is in the minutes"
    );

    // The readable forms: HTML in English and French, the PDF read by an independent reader.
    let work = tempfile::tempdir().unwrap();
    let (_, _, html) = minutes(&judge, &hearing, "format=html").await;
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("Minutes of the hearing") && !html.contains("DRAFT"));
    assert!(html.contains(PSEUDONYM) && !html.contains(REAL_NAME));
    assert!(html.contains("R v Y &amp; Z"));
    let (_, _, fr) = minutes(&judge, &hearing, "format=html&lang=fr").await;
    assert!(contains(&fr, "Procès-verbal d&#39;audience"));
    let (_, _, pdf) = minutes(&judge, &hearing, "format=pdf").await;
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdftotext(&pdf, work.path());
    assert!(text.contains("Minutes of the hearing"), "{text}");
    assert!(text.contains("Tribunal de Bruxelles"), "{text}");
    assert!(
        text.contains(PSEUDONYM) && text.contains("called"),
        "{text}"
    );
    assert!(text.contains("Maître Dupont"), "Latin-1 survives: {text}");
    assert!(!text.contains(REAL_NAME), "{text}");
    let (_, _, pdf_fr) = minutes(&judge, &hearing, "format=pdf&lang=fr").await;
    assert!(pdftotext(&pdf_fr, work.path()).contains("Procès-verbal d'audience"));

    // Bad input: a clear 400.
    let (status, _, _) = minutes(&judge, &hearing, "format=docx").await;
    assert_eq!(status, 400);
    let (status, _, _) = minutes(&judge, &hearing, "format=html&lang=de").await;
    assert_eq!(status, 400);

    // The record export carries the final minutes; it verifies offline, with assize and openssl.
    let r = judge
        .http
        .get(format!("{}{h}/recording/export", judge.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let package = r.bytes().await.unwrap().to_vec();
    let files = entries(&package);
    assert_eq!(files["minutes/minutes.json"], final_json);
    assert_eq!(files["minutes/minutes.pdf"], pdf);
    let ca = app.data_dir.join("pki").join("ca.crt");
    let (ok, text) = assize_verify(&package, &[&ca], work.path());
    assert!(ok, "{text}");
    for f in [
        "manifest.json",
        "minutes.json",
        "minutes.html",
        "minutes.pdf",
    ] {
        assert!(text.contains(&format!("ok      minutes/{f}")), "{text}");
    }
    let (c, s) = (
        work.path().join("manifest.json"),
        work.path().join("manifest.p7s"),
    );
    std::fs::write(&c, &files["minutes/manifest.json"]).unwrap();
    std::fs::write(&s, &files["minutes/manifest.p7s"]).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .arg("-in")
        .arg(&s)
        .arg("-content")
        .arg(&c)
        .arg("-CAfile")
        .arg(&ca)
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Value = serde_json::from_slice(&files["minutes/manifest.json"]).unwrap();
    assert_eq!(manifest["status"], "final");
    assert_eq!(manifest["files"].as_array().unwrap().len(), 3);

    // One changed byte in the minutes' PDF, container rebuilt: named, and only it.
    let tampered = rewrite_entry(&package, "minutes/minutes.pdf");
    let (ok, text) = assize_verify(&tampered, &[&ca], work.path());
    assert!(!ok, "{text}");
    assert!(text.contains("FAILED  minutes/minutes.pdf"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("FAILED")).count(),
        1,
        "{text}"
    );

    // The stored minutes are never changed, not even by hand in the database.
    let refused = app
        .try_sql(&format!(
            "UPDATE hearing_minutes SET pdf = document WHERE hearing_id = '{hearing}'"
        ))
        .await;
    assert!(refused.is_err(), "the trigger refuses");
}

#[tokio::test]
async fn a_hearing_closed_without_a_recording_still_exports_its_sealed_minutes() {
    let app = court().await;
    let (judge, _, _) = staff(&app, &[Role::Judge]).await;
    let r = judge
        .post(
            "/api/v1/hearings",
            json!({"case_reference": "CR-2", "court": "Tribunal", "title": "R v Q",
                   "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let hearing = r.body["id"].as_str().unwrap().to_string();
    let h = format!("/api/v1/hearings/{hearing}");
    // Nothing recorded and not closed: nothing to export.
    let r = judge.get(&format!("{h}/recording/export")).await;
    assert_eq!((r.status, r.code()), (404, "no_recording"));
    post(&judge, &format!("{h}/open")).await;
    post(&judge, &format!("{h}/close")).await;
    let r = judge
        .http
        .get(format!("{}{h}/recording/export", judge.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let package = r.bytes().await.unwrap().to_vec();
    let files = entries(&package);
    let m: Value = serde_json::from_slice(&files["minutes/minutes.json"]).unwrap();
    assert_eq!(m["status"], "final");
    assert_eq!(m["recordings"], json!([]));
    let work = tempfile::tempdir().unwrap();
    let ca = app.data_dir.join("pki").join("ca.crt");
    let (ok, text) = assize_verify(&package, &[&ca], work.path());
    assert!(ok, "{text}");
    // The seal is in the audit log.
    let audit = app
        .store
        .audit_entries_about(&format!("hearing:{hearing}"))
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "minutes.seal"));
}

#[tokio::test]
async fn at_the_end_of_its_court_s_retention_period_a_record_is_deleted_on_the_record() {
    let app = spawn_app_with(|s| {
        s.auth.totp_required_roles = vec![];
        s.recording.segment_secs = 1;
        s.recording.retention_days = 3650;
        s.recording
            .retention_by_court
            .insert("Short Court".into(), 1);
        s.recording.retention_sweep_secs = 1;
    })
    .await;
    let (judge, _, _) = staff(&app, &[Role::Judge]).await;
    let (short, short_rec) = recorded_and_closed(&judge, "CR-R", "Short Court").await;
    let (long, _) = recorded_and_closed(&judge, "CR-R", "Long Court").await;
    let short_dir = app.data_dir.join("recordings").join(&short);
    let long_dir = app.data_dir.join("recordings").join(&long);
    assert!(short_dir.exists() && long_dir.exists());
    let segments = app.store.segments(&short_rec).await.unwrap();
    assert!(!segments.is_empty());

    // Both closed two days ago: the short court's day is over, the other's ten years are not.
    app.sql(&format!(
        "UPDATE hearings SET updated_at = updated_at - 172800 WHERE id IN ('{short}', '{long}')"
    ))
    .await;
    let mut gone = false;
    for _ in 0..100 {
        if app.store.record_deletion(&short).await.unwrap().is_some() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(gone, "the sweep deleted the short court's record");
    assert!(!short_dir.exists(), "its segment files are gone");
    assert!(long_dir.exists(), "the other court's record stays");

    // Export and minutes answer 410, naming the audit entry that says what existed.
    let r = judge
        .get(&format!("/api/v1/hearings/{short}/recording/export"))
        .await;
    assert_eq!((r.status, r.code()), (410, "record_deleted"), "{r:?}");
    let seq = r.body["error"]["details"]["audit_seq"].as_i64().unwrap();
    let r = judge
        .get(&format!("/api/v1/hearings/{short}/minutes"))
        .await;
    assert_eq!((r.status, r.code()), (410, "record_deleted"), "{r:?}");
    let entry = app.store.audit_entry(seq).await.unwrap().unwrap();
    assert_eq!(entry.action, "record.deleted");
    let body: Value = serde_json::from_str(&entry.body).unwrap();
    let listed = &body["details"]["recordings"][0];
    assert_eq!(listed["recording"], short_rec.as_str());
    let hashes: Vec<&str> = listed["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sha256"].as_str().unwrap())
        .collect();
    let sealed: Vec<&str> = segments.iter().map(|s| s.sha256.as_str()).collect();
    assert_eq!(hashes, sealed, "the audit log still proves what existed");
    assert_eq!(body["details"]["retention_days"], 1);
    assert!(body["details"]["minutes_manifest_sha256"].is_string());
    // The segment rows (hashes) stay; the minutes went with the record.
    assert_eq!(
        app.store.segments(&short_rec).await.unwrap().len(),
        segments.len()
    );
    assert!(app.store.minutes(&short).await.unwrap().is_none());

    // The other record is whole and still exports; nothing else can delete it.
    let r = judge
        .http
        .get(format!(
            "{}/api/v1/hearings/{long}/recording/export",
            judge.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = judge
        .delete(&format!("/api/v1/hearings/{long}/recording/export"))
        .await;
    assert_eq!(r.status, 405, "no route deletes a record");
    let refused = app
        .try_sql(&format!(
            "DELETE FROM hearing_minutes WHERE hearing_id = '{long}'"
        ))
        .await;
    assert!(refused.is_err(), "the minutes' trigger refuses");
    let refused = app
        .try_sql(&format!(
            "DELETE FROM record_deletions WHERE hearing_id = '{short}'"
        ))
        .await;
    assert!(refused.is_err(), "the deletion's entry is append-only");
    assert!(app.store.minutes(&long).await.unwrap().is_some());
}
