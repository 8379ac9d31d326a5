//! Remote hearings, the court's workflow around the SFU, against the real server: booking,
//! invitations (single-use, expiring, revocable, bound to one hearing), admission to the
//! signaling socket by the policy, the judge's controls, and the transition table over HTTP.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use assize_server::policy::Role;
use assize_server::sfu::room::MediaKind;
use assize_tests::rtc_client::{PayloadTypes, RtcClient, SignalRefusal, SignalSocket, wait_until};
use assize_tests::{Client, PASSWORD, Reply, TestApp, set_cookie, spawn_app_with};
use serde_json::{Value, json};

const REPLY: Duration = Duration::from_secs(10);
const SESSION_COOKIE: &str = "__Host-assize_session";
const HEARING_COOKIE: &str = "__Host-assize_hearing";

/// A server whose staff sign in with a password only, so the test can hold their cookies.
async fn court() -> TestApp {
    spawn_app_with(|s| s.auth.totp_required_roles = vec![]).await
}

/// A signed-in account: its client, its session cookie (`name=value`) and its id.
struct Staff {
    client: Client,
    cookie: String,
    id: String,
}

async fn staff(app: &TestApp, roles: &[Role]) -> Staff {
    let username = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let id = app.create_user(&username, roles).await;
    let mut client = app.client();
    let r = client.sign_in(&username, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let cookie = set_cookie(&r, SESSION_COOKIE).unwrap();
    Staff { client, cookie, id }
}

/// An invited person after redeeming: their client (with CSRF token) and hearing cookie.
struct Invited {
    client: Client,
    cookie: String,
    participant: String,
}

async fn book(clerk: &Client, case: &str) -> String {
    let r = clerk
        .post(
            "/api/v1/hearings",
            json!({"case_reference": case, "court": "Tribunal de Bruxelles", "title": "R v X",
                   "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["state"], "scheduled");
    r.body["id"].as_str().unwrap().to_string()
}

async fn assign_judge(clerk: &Client, hearing: &str, judge: &Staff) {
    let r = clerk
        .post(
            &format!("/api/v1/hearings/{hearing}/participants"),
            json!({"user_id": judge.id, "role": "judge"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}

/// Invites someone; returns the token and the invitation id.
async fn invite(clerk: &Client, hearing: &str, role: &str, label: &str) -> (String, String) {
    let r = clerk
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            json!({"role": role, "label": label}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let token = r.body["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 43, "256 random bits, base64url");
    assert!(
        r.body["link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#{token}"))
    );
    (
        token,
        r.body["invitation"]["id"].as_str().unwrap().to_string(),
    )
}

async fn redeem_with(client: &Client, token: &str) -> Reply {
    client
        .post(
            "/api/v1/hearing-invitations/redeem",
            json!({ "token": token }),
        )
        .await
}

async fn redeem(app: &TestApp, token: &str) -> Invited {
    let mut client = app.client();
    let r = redeem_with(&client, token).await;
    assert_eq!(r.status, 200, "{r:?}");
    client.csrf = r.body["csrf_token"].as_str().map(str::to_string);
    Invited {
        client,
        cookie: set_cookie(&r, HEARING_COOKIE).unwrap(),
        participant: r.body["participant_id"].as_str().unwrap().to_string(),
    }
}

async fn post(c: &Client, path: &str) -> Reply {
    c.post(path, json!({})).await
}

fn refusal(r: Result<SignalSocket, SignalRefusal>) -> (u16, String) {
    match r {
        Ok(_) => panic!("the socket opened"),
        Err(SignalRefusal::Status(status, body)) => (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_string(),
        ),
        Err(SignalRefusal::Failed(e)) => panic!("no HTTP answer: {e:#}"),
    }
}

async fn join(app: &TestApp, hearing: &str, cookie: &str) -> (SignalSocket, Value) {
    let mut s = app
        .signal(hearing, Some(cookie))
        .await
        .unwrap_or_else(|e| panic!("the socket opens: {e:?}"));
    s.send_json(&json!({"v": 1, "type": "join"})).await.unwrap();
    let joined = s.recv_json(REPLY).await.unwrap();
    assert_eq!(joined["type"], "joined", "{joined}");
    (s, joined)
}

/// The participant id under which a staff member's account takes part in hearing `path`.
async fn seat_of(staff: &Staff, path: &str) -> String {
    let view = staff.client.get(path).await;
    view.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == staff.id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn participant<'a>(hearing: &'a Value, id: &str) -> &'a Value {
    hearing["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_books_invites_a_witness_who_joins_as_a_witness_and_the_judge_calls_them() {
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let judge = staff(&app, &[Role::Judge]).await;
    let hearing = book(&clerk.client, "2026-CR-0042").await;
    assign_judge(&clerk.client, &hearing, &judge).await;
    let (token, _) = invite(&clerk.client, &hearing, "witness", "Witness A").await;
    let witness = redeem(&app, &token).await;

    // Before the waiting room opens, nobody connects.
    let (status, code) = refusal(app.signal(&hearing, Some(&witness.cookie)).await);
    assert_eq!((status, code.as_str()), (409, "hearing_not_open"));

    let r = post(&clerk.client, &format!("/api/v1/hearings/{hearing}/open")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], "open");

    let (_w, joined) = join(&app, &hearing, &witness.cookie).await;
    assert_eq!(joined["hearing"], hearing.as_str());
    let (_j, _) = join(&app, &hearing, &judge.cookie).await;

    // The witness waits in the waiting room, as a witness.
    let view = judge
        .client
        .get(&format!("/api/v1/hearings/{hearing}"))
        .await;
    assert_eq!(view.status, 200, "{view:?}");
    let w = participant(&view.body, &witness.participant);
    assert_eq!(w["role"], "witness");
    assert_eq!(w["location"], "waiting_room");

    // The judge starts the session and calls the witness in; a judge is not "called".
    let r = post(&judge.client, &format!("/api/v1/hearings/{hearing}/start")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let base = format!("/api/v1/hearings/{hearing}/participants");
    let r = post(
        &judge.client,
        &format!("{base}/{}/call", witness.participant),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let judge_participant = view.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == judge.id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(&judge.client, &format!("{base}/{judge_participant}/call")).await;
    assert_eq!((r.status, r.code()), (409, "not_callable"));

    // Microphone lock and camera off reach the room.
    let r = judge
        .client
        .post(
            &format!("{base}/{}/microphone", witness.participant),
            json!({"locked": true}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = judge
        .client
        .post(
            &format!("{base}/{}/camera", witness.participant),
            json!({"on": false}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let view = judge
        .client
        .get(&format!("/api/v1/hearings/{hearing}"))
        .await;
    let w = participant(&view.body, &witness.participant);
    assert_eq!(w["location"], "hearing_room");
    assert_eq!(w["microphone"], "locked");
    assert_eq!(w["camera_on"], false);

    // Back to the waiting room, then dismissed: the witness's access ends.
    let r = post(
        &judge.client,
        &format!("{base}/{}/send-back", witness.participant),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = post(
        &judge.client,
        &format!("{base}/{}/remove", witness.participant),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let (status, code) = refusal(app.signal(&hearing, Some(&witness.cookie)).await);
    assert_eq!((status, code.as_str()), (401, "hearing_session_expired"));
}

#[tokio::test]
async fn an_invitation_works_once_and_never_after_expiry_or_revocation() {
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let hearing = book(&clerk.client, "2026-CR-0043").await;

    // Once.
    let (token, _) = invite(&clerk.client, &hearing, "expert", "Expert 1").await;
    let first = redeem(&app, &token).await;
    let again = redeem_with(&app.client(), &token).await;
    assert_eq!((again.status, again.code()), (404, "invitation_unusable"));

    // Not after expiry.
    let (token, id) = invite(&clerk.client, &hearing, "witness", "Witness B").await;
    app.sql(&format!(
        "UPDATE hearing_invitations SET expires_at = 1 WHERE id = '{id}'"
    ))
    .await;
    let late = redeem_with(&app.client(), &token).await;
    assert_eq!((late.status, late.code()), (404, "invitation_unusable"));

    // Not after revocation.
    let (token, id) = invite(&clerk.client, &hearing, "witness", "Witness C").await;
    let r = clerk
        .client
        .delete(&format!("/api/v1/hearings/{hearing}/invitations/{id}"))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let revoked = redeem_with(&app.client(), &token).await;
    assert_eq!(
        (revoked.status, revoked.code()),
        (404, "invitation_unusable")
    );

    // Revoking a redeemed invitation ends the session it became.
    let list = clerk
        .client
        .get(&format!("/api/v1/hearings/{hearing}/invitations"))
        .await;
    assert_eq!(list.status, 200);
    let spent = list.body["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["participant_id"] == first.participant.as_str())
        .unwrap();
    assert!(spent["redeemed_at"].is_i64());
    assert!(spent.get("token").is_none() && spent.get("token_hash").is_none());
    post(&clerk.client, &format!("/api/v1/hearings/{hearing}/open")).await;
    let (_s, _) = join(&app, &hearing, &first.cookie).await;
    let r = clerk
        .client
        .delete(&format!(
            "/api/v1/hearings/{hearing}/invitations/{}",
            spent["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status, 204);
    let (status, code) = refusal(app.signal(&hearing, Some(&first.cookie)).await);
    assert_eq!((status, code.as_str()), (401, "hearing_session_expired"));
    // The stale cookie does not stand in the way of a new invitation.
    let (token, _) = invite(&clerk.client, &hearing, "expert", "Expert 1").await;
    let r = redeem_with(&first.client, &token).await;
    assert_eq!(r.status, 200, "{r:?}");

    // Only the hash is stored: no column holds the token itself.
    let stored = audit_and_invitations(&app).await;
    assert!(!stored.contains(&token));
}

#[tokio::test]
async fn a_lost_or_expired_link_is_reissued_for_the_same_participant_and_the_old_one_stops() {
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let hearing = book(&clerk.client, "2026-CR-0044").await;
    let (old_token, old_id) = invite(&clerk.client, &hearing, "witness", "Witness D").await;
    let first = redeem(&app, &old_token).await;
    post(&clerk.client, &format!("/api/v1/hearings/{hearing}/open")).await;

    // The witness lost their device: the clerk issues a new link for the same person.
    let path = format!("/api/v1/hearings/{hearing}/invitations/{old_id}/reissue");
    let r = clerk
        .client
        .post(&path, json!({ "expires_in_hours": 0 }))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_expiry"), "{r:?}");
    let r = clerk.client.post(&path, json!({})).await;
    assert_eq!(r.status, 201, "{r:?}");
    let new_token = r.body["token"].as_str().unwrap().to_string();
    assert!(r.body["link"].as_str().unwrap().ends_with(&new_token));
    assert_eq!(
        r.body["invitation"]["participant_id"],
        first.participant.as_str(),
        "the same participant"
    );

    // The old link and the session it became no longer work; the new link does, once.
    let (status, code) = refusal(app.signal(&hearing, Some(&first.cookie)).await);
    assert_eq!((status, code.as_str()), (401, "hearing_session_expired"));
    let stale = redeem_with(&app.client(), &old_token).await;
    assert_eq!((stale.status, stale.code()), (404, "invitation_unusable"));
    let again = redeem(&app, &new_token).await;
    assert_eq!(again.participant, first.participant);
    let twice = redeem_with(&app.client(), &new_token).await;
    assert_eq!((twice.status, twice.code()), (404, "invitation_unusable"));

    // Unknown invitations, and the court's removed participants, get no new link.
    let r = clerk
        .client
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations/no-such/reissue"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    // (The judge removes participants; here, as the store sees it.)
    app.sql(&format!(
        "UPDATE hearing_participants SET removed_at = 1 WHERE id = '{}'",
        first.participant
    ))
    .await;
    let r = clerk.client.post(&path, json!({})).await;
    assert_eq!(r.status, 404, "{r:?}");
    let stored = audit_and_invitations(&app).await;
    assert!(stored.contains("invitation.reissue"));
    assert!(!stored.contains(&new_token), "only the hash is stored");
}

/// Every audit entry's body and every invitation row, as one text to search.
async fn audit_and_invitations(app: &TestApp) -> String {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let mut text = String::new();
    for row in sqlx::query("SELECT body FROM audit_entries")
        .fetch_all(&mut conn)
        .await
        .unwrap()
    {
        text.push_str(&row.get::<String, _>(0));
        text.push('\n');
    }
    for row in sqlx::query("SELECT id, token_hash FROM hearing_invitations")
        .fetch_all(&mut conn)
        .await
        .unwrap()
    {
        text.push_str(&row.get::<String, _>(0));
        text.push_str(&row.get::<String, _>(1));
        text.push('\n');
    }
    let _ = conn.close().await;
    text
}

#[tokio::test]
async fn an_invitation_for_one_hearing_does_not_admit_to_another() {
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let a = book(&clerk.client, "A").await;
    let b = book(&clerk.client, "B").await;
    for h in [&a, &b] {
        let r = post(&clerk.client, &format!("/api/v1/hearings/{h}/open")).await;
        assert_eq!(r.status, 200);
    }
    let (token, _) = invite(&clerk.client, &a, "witness", "Witness A").await;
    let witness = redeem(&app, &token).await;
    let (status, code) = refusal(app.signal(&b, Some(&witness.cookie)).await);
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    // …nor to the API beyond joining its own hearing.
    let r = witness.client.get(&format!("/api/v1/hearings/{a}")).await;
    assert_eq!(r.status, 403);
    let r = witness.client.get("/api/v1/session").await;
    assert_eq!(r.status, 403);
    let (_s, joined) = join(&app, &a, &witness.cookie).await;
    assert_eq!(joined["hearing"], a.as_str());
}

#[tokio::test]
async fn strangers_and_staff_of_other_hearings_are_refused_at_the_signaling_door() {
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let hearing = book(&clerk.client, "2026-CR-0044").await;
    post(&clerk.client, &format!("/api/v1/hearings/{hearing}/open")).await;

    let (status, _) = refusal(app.signal(&hearing, None).await);
    assert_eq!(status, 401);
    let other_judge = staff(&app, &[Role::Judge]).await;
    let (status, _) = refusal(app.signal(&hearing, Some(&other_judge.cookie)).await);
    assert_eq!(status, 403);
    let officer = staff(&app, &[Role::Officer]).await;
    let (status, _) = refusal(app.signal(&hearing, Some(&officer.cookie)).await);
    assert_eq!(status, 403);
    let forged = format!("{HEARING_COOKIE}=not-a-real-session");
    let (status, code) = refusal(app.signal(&hearing, Some(&forged)).await);
    assert_eq!((status, code.as_str()), (401, "hearing_session_expired"));
    // The clerk who booked it is part of it.
    let (_s, _) = join(&app, &hearing, &clerk.cookie).await;
}

#[tokio::test]
async fn a_defendant_cannot_use_the_judges_controls_but_a_remote_official_may_interrupt() {
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let judge = staff(&app, &[Role::Judge]).await;
    let hearing = book(&clerk.client, "2026-CR-0045").await;
    assign_judge(&clerk.client, &hearing, &judge).await;
    let (token, _) = invite(&clerk.client, &hearing, "defendant", "Defendant").await;
    let defendant = redeem(&app, &token).await;
    let (token, _) = invite(&clerk.client, &hearing, "remote_official", "Official").await;
    let official = redeem(&app, &token).await;
    post(&clerk.client, &format!("/api/v1/hearings/{hearing}/open")).await;

    let h = format!("/api/v1/hearings/{hearing}");
    for path in [
        format!("{h}/start"),
        format!("{h}/pause"),
        format!("{h}/close"),
        format!("{h}/participants/{}/admit", defendant.participant),
        format!("{h}/participants/{}/remove", official.participant),
    ] {
        let r = post(&defendant.client, &path).await;
        assert_eq!(r.status, 403, "{path}: {r:?}");
    }
    let r = defendant
        .client
        .post(
            &format!("{h}/invitations"),
            json!({"role": "witness", "label": "Someone"}),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    // The clerk opens, but only the judge conducts.
    let r = post(&clerk.client, &format!("{h}/start")).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = post(&judge.client, &format!("{h}/start")).await;
    assert_eq!(r.status, 200, "{r:?}");
    // The remote official interrupts, but cannot resume.
    let r = post(&official.client, &format!("{h}/pause")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], "paused");
    let r = post(&official.client, &format!("{h}/resume")).await;
    assert_eq!(r.status, 403, "{r:?}");
    // Without its CSRF token, the official's session cannot change anything.
    let mut no_csrf = official.client.clone();
    no_csrf.csrf = None;
    let r = post(&no_csrf, &format!("{h}/pause")).await;
    assert_eq!((r.status, r.code()), (403, "csrf_failed"));
}

#[tokio::test]
async fn illegal_transitions_answer_409_with_the_legal_next_states() {
    let app = court().await;
    let judge = staff(&app, &[Role::Judge]).await;
    let hearing = book(&judge.client, "2026-CR-0046").await;
    let h = format!("/api/v1/hearings/{hearing}");

    let r = post(&judge.client, &format!("{h}/start")).await;
    assert_eq!((r.status, r.code()), (409, "illegal_transition"));
    assert_eq!(
        r.body["error"]["details"]["legal_next_states"],
        json!(["open"])
    );
    assert_eq!(r.body["error"]["details"]["from"], "scheduled");

    for (verb, state) in [
        ("open", "open"),
        ("start", "in_session"),
        ("pause", "paused"),
        ("resume", "in_session"),
        ("adjourn", "adjourned"),
        ("open", "open"),
        ("close", "closed"),
    ] {
        let r = post(&judge.client, &format!("{h}/{verb}")).await;
        assert_eq!(r.status, 200, "{verb}: {r:?}");
        assert_eq!(r.body["state"], state);
    }
    let r = post(&judge.client, &format!("{h}/resume")).await;
    assert_eq!((r.status, r.code()), (409, "illegal_transition"));
    assert_eq!(r.body["error"]["details"]["legal_next_states"], json!([]));
    let r = post(&judge.client, &format!("{h}/recess")).await;
    assert_eq!(r.status, 404);

    // Every move is in the audit trail, under the hearing's id.
    let log = audit_and_invitations(&app).await;
    for action in [
        "hearing.book",
        "hearing.open",
        "hearing.start",
        "hearing.pause",
        "hearing.resume",
        "hearing.adjourn",
        "hearing.close",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(action) && l.contains(&format!("hearing:{hearing}"))),
            "{action} is audited"
        );
    }
}

#[tokio::test]
async fn the_audit_trail_names_participants_by_id_never_by_label() {
    let app = court().await;
    let judge = staff(&app, &[Role::Judge]).await;
    let hearing = book(&judge.client, "2026-CR-0047").await;
    let (token, _) = invite(&judge.client, &hearing, "witness", "Protected Witness Zulu").await;
    let witness = redeem(&app, &token).await;
    post(&judge.client, &format!("/api/v1/hearings/{hearing}/open")).await;
    let (_s, _) = join(&app, &hearing, &witness.cookie).await;
    let r = post(
        &judge.client,
        &format!(
            "/api/v1/hearings/{hearing}/participants/{}/admit",
            witness.participant
        ),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let log = audit_and_invitations(&app).await;
    for action in [
        "invitation.create",
        "invitation.redeem",
        "participant.connect",
        "participant.admit",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(action) && l.contains(&witness.participant)),
            "{action} names the participant by id"
        );
    }
    assert!(!log.contains("Zulu"), "a label never reaches the audit log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_follows_the_judges_controls_for_an_invited_witness() {
    const AUDIO: MediaKind = MediaKind::Audio;
    const VIDEO: MediaKind = MediaKind::Video;
    let app = court().await;
    let judge = staff(&app, &[Role::Judge]).await;
    let hearing = book(&judge.client, "2026-CR-0048").await;
    let (token, _) = invite(&judge.client, &hearing, "witness", "Witness A").await;
    let witness = redeem(&app, &token).await;
    let h = format!("/api/v1/hearings/{hearing}");
    for verb in ["open", "start"] {
        let r = post(&judge.client, &format!("{h}/{verb}")).await;
        assert_eq!(r.status, 200, "{verb}: {r:?}");
    }
    let socket = app.signal(&hearing, Some(&judge.cookie)).await.unwrap();
    let j = RtcClient::join_on(socket, PayloadTypes::Chrome)
        .await
        .unwrap();
    let socket = app.signal(&hearing, Some(&witness.cookie)).await.unwrap();
    let w = RtcClient::join_on(socket, PayloadTypes::Firefox)
        .await
        .unwrap();

    // The judge takes the bench (everyone joins in the waiting room).
    let bench = seat_of(&judge, &h).await;
    let base = format!("{h}/participants");
    let r = post(&judge.client, &format!("{base}/{bench}/admit")).await;
    assert_eq!(r.status, 204, "{r:?}");

    // The waiting witness neither hears nor is heard.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(w.received(j.participant, AUDIO), 0);
    assert_eq!(j.received(w.participant, AUDIO), 0);

    // Called in: sound and pictures both ways.
    let r = post(
        &judge.client,
        &format!("{base}/{}/call", witness.participant),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let flowing = wait_until(Duration::from_secs(60), || {
        [AUDIO, VIDEO]
            .iter()
            .all(|k| w.received(j.participant, *k) >= 10 && j.received(w.participant, *k) >= 10)
    })
    .await;
    assert!(flowing, "media flows once the witness is called in");

    // The judge's console sees the witness's connection (the heartbeat, every 2 s).
    let mut connection = Value::Null;
    for _ in 0..100 {
        let view = judge.client.get(&h).await;
        connection = participant(&view.body, &witness.participant)["connection"].clone();
        if connection["grade"] == "good" && connection["kbps"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(connection["grade"], "good", "{connection}");
    assert_eq!(connection["loss_percent"], 0.0, "{connection}");

    // The court locks the witness's microphone: still seen, no longer heard.
    let r = judge
        .client
        .post(
            &format!("{base}/{}/microphone", witness.participant),
            json!({"locked": true}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (audio, video) = (
        j.received(w.participant, AUDIO),
        j.received(w.participant, VIDEO),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        j.received(w.participant, AUDIO),
        audio,
        "no audio once locked"
    );
    assert!(j.received(w.participant, VIDEO) > video, "video goes on");
    j.close().await;
    w.close().await;
}

#[tokio::test]
async fn the_judge_sets_changes_and_lifts_a_witness_s_protective_order_on_the_record() {
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let judge = staff(&app, &[Role::Judge]).await;
    let hearing = book(&clerk.client, "CR-PO-1").await;
    assign_judge(&clerk.client, &hearing, &judge).await;
    let r = clerk
        .client
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            json!({"role": "witness", "label": "Witness 1"}),
        )
        .await;
    let witness = r.body["invitation"]["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/hearings/{hearing}/participants/{witness}/protective-order");
    let order = json!({"pseudonym": "Witness X", "voice": "distorted", "face": "masked",
                       "raw_to": ["judge"]});

    // Only the judge makes the order; the clerk may read it.
    let r = clerk.client.send("PUT", &path, Some(order.clone())).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = judge.client.send("PUT", &path, Some(order.clone())).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["protective_order"]["raw_to"], json!(["judge"]));
    let r = clerk.client.get(&path).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["protective_order"]["pseudonym"], "Witness X");

    // Bad orders are refused, naming the field.
    for (bad, field) in [
        (
            json!({"pseudonym": "", "voice": "distorted", "face": "none"}),
            "pseudonym",
        ),
        (
            json!({"pseudonym": "X", "voice": "robot", "face": "none"}),
            "voice",
        ),
        (
            json!({"pseudonym": "X", "voice": "none", "face": "blur"}),
            "face",
        ),
        (
            json!({"pseudonym": "X", "voice": "none", "face": "none"}),
            "voice",
        ),
        (
            json!({"pseudonym": "X", "voice": "distorted", "face": "none", "raw_to": ["observer"]}),
            "raw_to",
        ),
    ] {
        let r = judge.client.send("PUT", &path, Some(bad.clone())).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_protective_order"),
            "{bad}"
        );
        assert_eq!(r.body["error"]["details"]["field"], field, "{bad}");
    }
    // Only a witness is put under an order.
    let r = judge
        .client
        .send(
            "PUT",
            &format!(
                "/api/v1/hearings/{hearing}/participants/{}/protective-order",
                judge_participant(&app, &hearing, &judge.id).await
            ),
            Some(order.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "not_a_witness"));

    // Changed, then lifted; each step is an audit entry that names the witness by id only.
    let changed = json!({"pseudonym": "Witness X", "voice": "distorted", "face": "full_frame",
                         "raw_to": ["judge", "prosecutor"]});
    assert_eq!(
        judge.client.send("PUT", &path, Some(changed)).await.status,
        200
    );
    assert_eq!(judge.client.delete(&path).await.status, 204);
    assert_eq!(judge.client.get(&path).await.status, 404);
    assert_eq!(judge.client.delete(&path).await.status, 404);
    let len = app.store.audit_len().await.unwrap();
    let log = app.store.audit_entries(0, len).await.unwrap();
    let steps: Vec<&str> = log
        .iter()
        .filter(|e| e.action.starts_with("protective_order."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "protective_order.set",
            "protective_order.set",
            "protective_order.lift"
        ]
    );
    assert!(
        log.iter().all(|e| !e.body.contains("Witness 1")),
        "labels never in the log"
    );
}

async fn judge_participant(app: &TestApp, hearing: &str, user: &str) -> String {
    app.store
        .participant_by_account(hearing, user)
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn each_hearing_has_its_own_anonymiser_secret_sealed_at_rest() {
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let (h1, h2) = (
        book(&clerk.client, "CR-S-1").await,
        book(&clerk.client, "CR-S-2").await,
    );
    let vault = assize_server::vault::Vault::load_or_create(&app.data_dir).unwrap();
    let s1 = assize_server::anonymise::hearing_secret(&app.store, &vault, &h1)
        .await
        .unwrap();
    let again = assize_server::anonymise::hearing_secret(&app.store, &vault, &h1)
        .await
        .unwrap();
    let s2 = assize_server::anonymise::hearing_secret(&app.store, &vault, &h2)
        .await
        .unwrap();
    assert_eq!(*s1, *again, "the same voice through one hearing");
    assert_ne!(*s1, *s2, "another voice in the next");
    let (wrapped, ciphertext) = app.store.hearing_secret(&h1).await.unwrap().unwrap();
    assert!(
        !ciphertext.windows(32).any(|w| w == s1.as_ref())
            && !wrapped.windows(32).any(|w| w == s1.as_ref()),
        "never stored in clear"
    );
    // Moved to another hearing's row, it does not open.
    app.sql(&format!(
        "UPDATE hearing_secrets SET wrapped_key = (SELECT wrapped_key FROM hearing_secrets WHERE hearing_id = '{h1}'), \
         ciphertext = (SELECT ciphertext FROM hearing_secrets WHERE hearing_id = '{h1}') WHERE hearing_id = '{h2}'"
    ))
    .await;
    assert!(
        assize_server::anonymise::hearing_secret(&app.store, &vault, &h2)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_operator_exports_a_witness_s_voice_secret_the_same_as_the_live_pipeline_uses() {
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let hearing = book(&clerk.client, "CR-S-3").await;
    let r = clerk
        .client
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            json!({"role": "witness", "label": "Witness 3"}),
        )
        .await;
    let witness = r.body["invitation"]["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.key");
    let config = dir.path().join("assize.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\ndatabase_url = \"{}\"\n",
            app.data_dir.display(),
            app.database_url
        ),
    )
    .unwrap();
    let bin = assize_tests::assize_binary();
    let run = std::process::Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .args([
            "hearing-secret",
            &hearing,
            "--participant",
            &witness,
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let vault = assize_server::vault::Vault::load_or_create(&app.data_dir).unwrap();
    let secret = assize_server::anonymise::hearing_secret(&app.store, &vault, &hearing)
        .await
        .unwrap();
    let live = assize_server::sfu::anonymisers::voice_secret_for(&secret, &witness).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        hex::encode(live.as_ref())
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_sends_counsel_and_client_to_a_private_consultation_and_back() {
    const AUDIO: MediaKind = MediaKind::Audio;
    let app = court().await;
    let judge = staff(&app, &[Role::Judge]).await;
    let hearing = book(&judge.client, "2026-CR-0051").await;
    let (counsel_token, _) = invite(&judge.client, &hearing, "defence_counsel", "Counsel").await;
    let (client_token, _) = invite(&judge.client, &hearing, "defendant", "Defendant").await;
    let counsel = redeem(&app, &counsel_token).await;
    let defendant = redeem(&app, &client_token).await;
    let h = format!("/api/v1/hearings/{hearing}");
    for verb in ["open", "start"] {
        let r = post(&judge.client, &format!("{h}/{verb}")).await;
        assert_eq!(r.status, 200, "{verb}: {r:?}");
    }
    let mut clients = Vec::new();
    for cookie in [&judge.cookie, &counsel.cookie, &defendant.cookie] {
        let socket = app.signal(&hearing, Some(cookie)).await.unwrap();
        clients.push(
            RtcClient::join_on(socket, PayloadTypes::Chrome)
                .await
                .unwrap(),
        );
    }
    let (j, c, d) = (&clients[0], &clients[1], &clients[2]);
    let bench = seat_of(&judge, &h).await;
    for p in [&bench, &counsel.participant, &defendant.participant] {
        let r = post(&judge.client, &format!("{h}/participants/{p}/admit")).await;
        assert_eq!(r.status, 204, "{r:?}");
    }
    let all_hear = wait_until(Duration::from_secs(20), || {
        j.received(c.participant, AUDIO) >= 10 && c.received(d.participant, AUDIO) >= 10
    })
    .await;
    assert!(all_hear, "everyone hears everyone in the hearing room");

    // The bench never sits in a consultation room; two names at least.
    let consult = format!("{h}/consultations");
    let r = judge
        .client
        .post(
            &consult,
            json!({"participants": [bench, counsel.participant]}),
        )
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(r.body["error"]["code"], "bench_not_in_consultation");
    let r = judge
        .client
        .post(&consult, json!({"participants": [counsel.participant]}))
        .await;
    assert_eq!(r.status, 400, "{r:?}");

    let r = judge
        .client
        .post(
            &consult,
            json!({"participants": [counsel.participant, defendant.participant]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let room = r.body["consultation"].as_u64().unwrap();
    let view = judge.client.get(&h).await;
    for p in [&counsel.participant, &defendant.participant] {
        assert_eq!(participant(&view.body, p)["location"], "consultation_room");
    }
    // Counsel and client hear each other; the judge hears neither.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (jc, jd, cd) = (
        j.received(c.participant, AUDIO),
        j.received(d.participant, AUDIO),
        c.received(d.participant, AUDIO),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        j.received(c.participant, AUDIO),
        jc,
        "the judge cannot listen in"
    );
    assert_eq!(j.received(d.participant, AUDIO), jd);
    assert!(
        c.received(d.participant, AUDIO) >= cd + 10,
        "counsel hears the client"
    );

    for verb in ["lock", "unlock"] {
        let r = post(&judge.client, &format!("{consult}/{room}/{verb}")).await;
        assert_eq!(r.status, 204, "{verb}: {r:?}");
    }
    let r = post(&judge.client, &format!("{consult}/99/lock")).await;
    assert_eq!(r.status, 404, "{r:?}");

    // Back to the hearing room: the judge hears counsel again.
    let r = judge
        .client
        .send("DELETE", &format!("{consult}/{room}"), None)
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let before = j.received(c.participant, AUDIO);
    let back = wait_until(Duration::from_secs(10), || {
        j.received(c.participant, AUDIO) >= before + 10
    })
    .await;
    assert!(back, "the judge hears counsel again");
    let log = audit_and_invitations(&app).await;
    for action in [
        "consultation.open",
        "consultation.lock",
        "consultation.unlock",
        "consultation.end",
    ] {
        assert!(log.contains(action), "{action} is audited");
    }
    for client in clients {
        client.close().await;
    }
}

/// The other participants in a `/me` answer, by role.
fn others_by_role<'a>(me: &'a Value, role: &str) -> Vec<&'a Value> {
    me["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] == role)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_participant_reads_their_own_situation_and_a_protected_witness_is_named_only_by_pseudonym()
 {
    // Arrange: a hearing with a judge, a protected witness (known to the court as "Witness
    // Jane R.", to everyone else as "Witness X") and defence counsel, all connected.
    let app = court().await;
    let clerk = staff(&app, &[Role::Clerk]).await;
    let judge = staff(&app, &[Role::Judge]).await;
    let hearing = book(&clerk.client, "CR-ME-1").await;
    assign_judge(&clerk.client, &hearing, &judge).await;
    let (witness_token, _) = invite(&clerk.client, &hearing, "witness", "Witness Jane R.").await;
    let (counsel_token, _) = invite(&clerk.client, &hearing, "defence_counsel", "Me Durand").await;
    let witness = redeem(&app, &witness_token).await;
    let counsel = redeem(&app, &counsel_token).await;
    let me_path = format!("/api/v1/hearings/{hearing}/me");

    // Before any order or connection: the witness's own role, no order, nobody shown.
    let r = witness.client.get(&me_path).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["role"], "witness");
    assert_eq!(r.body["participant_id"], witness.participant.as_str());
    assert_eq!(r.body["location"], "not_connected");
    assert_eq!(r.body["protective_order"], Value::Null);
    assert_eq!(r.body["recording"], false);
    assert_eq!(r.body["participants"], json!([]));

    let order = json!({"pseudonym": "Witness X", "voice": "distorted", "face": "masked",
                       "raw_to": ["judge"]});
    let r = judge
        .client
        .send(
            "PUT",
            &format!(
                "/api/v1/hearings/{hearing}/participants/{}/protective-order",
                witness.participant
            ),
            Some(order),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        post(&judge.client, &format!("/api/v1/hearings/{hearing}/open"))
            .await
            .status,
        200
    );
    let (_w, _) = join(&app, &hearing, &witness.cookie).await;
    let (_c, _) = join(&app, &hearing, &counsel.cookie).await;
    let (_j, _) = join(&app, &hearing, &judge.cookie).await;

    // Act and assert: waiting, the witness reads what is hidden and from whom, and learns
    // nobody (the waiting room carries no media); the bench sees everyone connected.
    let r = witness.client.get(&me_path).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["location"], "waiting_room");
    assert!(r.body["number"].is_u64(), "{r:?}");
    assert_eq!(r.body["participants"], json!([]));
    let r = judge.client.get(&me_path).await;
    assert_eq!(r.body["participants"].as_array().unwrap().len(), 2, "{r:?}");

    // In the hearing room, everyone there is shown.
    let at = |p: &str| format!("/api/v1/hearings/{hearing}/participants/{p}");
    let bench = seat_of(&judge, &format!("/api/v1/hearings/{hearing}")).await;
    for verb in [
        format!("{}/admit", at(&bench)),
        format!("{}/call", at(&witness.participant)),
        format!("{}/admit", at(&counsel.participant)),
    ] {
        assert_eq!(post(&judge.client, &verb).await.status, 204, "{verb}");
    }
    let r = witness.client.get(&me_path).await;
    assert_eq!(r.body["location"], "hearing_room");
    assert_eq!(r.body["pseudonym"], "Witness X");
    assert_eq!(
        r.body["protective_order"],
        json!({"pseudonym": "Witness X", "voice": "distorted", "face": "masked",
               "raw_to": ["judge"], "keep_original": false})
    );
    assert_eq!(r.body["hearing"]["state"], "open");
    assert_eq!(
        others_by_role(&r.body, "defence_counsel")[0]["name"],
        "Me Durand"
    );
    assert_eq!(others_by_role(&r.body, "judge").len(), 1);
    assert_eq!(r.body["participants"].as_array().unwrap().len(), 2);

    // Counsel sees the witness under the pseudonym only; the court's label never reaches them.
    let r = counsel.client.get(&me_path).await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = others_by_role(&r.body, "witness");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["name"], "Witness X");
    assert_eq!(seen[0]["protected"], true);
    assert_eq!(r.body["protective_order"], Value::Null);
    let text = r.body.to_string();
    assert!(!text.contains("Jane"), "the label leaks to counsel: {text}");

    // The bench knows both names.
    let r = judge.client.get(&me_path).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["role"], "judge");
    let seen = others_by_role(&r.body, "witness");
    assert_eq!(seen[0]["name"], "Witness Jane R.");
    assert_eq!(seen[0]["pseudonym"], "Witness X");

    // Recording on and off shows in everyone's answer.
    let rec = format!("/api/v1/hearings/{hearing}/recording");
    assert_eq!(
        post(&judge.client, &format!("{rec}/start")).await.status,
        200
    );
    for c in [&witness.client, &counsel.client, &judge.client] {
        assert_eq!(c.get(&me_path).await.body["recording"], true);
    }
    assert_eq!(
        post(&judge.client, &format!("{rec}/stop")).await.status,
        200
    );
    assert_eq!(witness.client.get(&me_path).await.body["recording"], false);

    // Another hearing's participant, or court staff not in this hearing, learn nothing.
    let outsider = staff(&app, &[Role::Judge]).await;
    assert_eq!(outsider.client.get(&me_path).await.status, 403);
    let other = book(&clerk.client, "CR-ME-2").await;
    let r = witness
        .client
        .get(&format!("/api/v1/hearings/{other}/me"))
        .await;
    assert_eq!(r.status, 403, "{r:?}");
}
