//! Every endpoint, asked by every kind of caller: each role's session, API tokens, a session that
//! still has to enrol its second factor, another state's server (mutual TLS) and nobody.
//!
//! The expectations are written out here by hand, endpoint by endpoint, independently of the
//! policy module, so a change to the policy that is not also made here fails this test.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use assize_server::policy::Role;
use assize_tests::{Client, TestApp, spawn_app};
use serde_json::{Value, json};

const SUBJECTS: [&str; 11] = [
    "anonymous",
    "admin",
    "judge",
    "clerk",
    "officer",
    "admin_token",
    "judge_token",
    "enrolling",
    "authority",
    "all_roles",
    "witness",
];

struct Row {
    method: &'static str,
    path: String,
    body: Option<Value>,
    /// Subjects that pass authorization; everyone else gets 401 (anonymous) or 403.
    allowed: &'static [&'static str],
}

const EVERYONE: &[&str] = &SUBJECTS;
const SIGNED_IN: &[&str] = &[
    "admin",
    "judge",
    "clerk",
    "officer",
    "admin_token",
    "judge_token",
    "enrolling",
    "all_roles",
];
const SESSIONS: &[&str] = &[
    "admin",
    "judge",
    "clerk",
    "officer",
    "enrolling",
    "all_roles",
];
const FULL_SESSIONS: &[&str] = &["admin", "judge", "clerk", "officer", "all_roles"];
const ADMIN_ANY: &[&str] = &["admin", "admin_token", "all_roles"];
const ADMIN_SESSION: &[&str] = &["admin", "all_roles"];
const ADMIN_ANY_AND_PEERS: &[&str] = &["admin", "admin_token", "all_roles", "authority"];
/// Court staff (judge and clerk accounts), by session or token.
const COURT_STAFF: &[&str] = &["judge", "clerk", "judge_token", "all_roles"];
/// Judge and clerk accounts that take part in the test hearing (booked by `clerk`; `judge` and
/// `all_roles` assigned as judges), at a browser or, for participants and invitations, by token
/// too (but `judge_token` is another account, not part of the hearing).
const HEARING_BENCH: &[&str] = &["judge", "clerk", "all_roles"];
/// The hearing's judges, at a browser.
const HEARING_JUDGES: &[&str] = &["judge", "all_roles"];
/// Whoever takes part in the hearing: its bench and the invited witness.
const HEARING_PARTIES: &[&str] = &["judge", "clerk", "all_roles", "witness"];

/// Every fully signed-in account, by session or token.
const WITH_ACCOUNT: &[&str] = &[
    "admin",
    "judge",
    "clerk",
    "officer",
    "admin_token",
    "judge_token",
    "all_roles",
];
/// The officers of the local authority that drafted the test request (`officer`, `all_roles`).
const REQUEST_OFFICERS: &[&str] = &["officer", "all_roles"];
/// Its validating judge: a judge account acting for that authority (only `all_roles`).
const REQUEST_JUDGES: &[&str] = &["all_roles"];

fn rows(victim: &str, hearing: &str, request: &str) -> Vec<Row> {
    let r = |method, path: &str, body: Option<Value>, allowed| Row {
        method,
        path: path.to_string(),
        body,
        allowed,
    };
    vec![
        r("GET", "/healthz", None, EVERYONE),
        r("GET", "/readyz", None, EVERYONE),
        r("GET", "/metrics", None, ADMIN_ANY),
        r("GET", "/api/openapi.json", None, EVERYONE),
        // The web application's files hold no data (everything it shows comes from the API).
        r("GET", "/", None, EVERYONE),
        r("GET", "/join", None, EVERYONE),
        r("GET", "/app/js/main.js", None, EVERYONE),
        r(
            "POST",
            "/api/v1/setup",
            Some(
                json!({"token": "x", "username": "abc", "display_name": "x", "password": "a long password 1"}),
            ),
            EVERYONE,
        ),
        r(
            "POST",
            "/api/v1/password",
            Some(json!({"token": "x", "password": "a long password 1"})),
            EVERYONE,
        ),
        r("GET", "/api/v1/session", None, SIGNED_IN),
        r("POST", "/api/v1/session/totp", Some(json!({})), SESSIONS),
        r(
            "POST",
            "/api/v1/session/totp/confirm",
            Some(json!({"code": "000000"})),
            SESSIONS,
        ),
        r("GET", "/api/v1/tokens", None, FULL_SESSIONS),
        r(
            "POST",
            "/api/v1/tokens",
            Some(json!({"name": ""})),
            FULL_SESSIONS,
        ),
        r(
            "DELETE",
            "/api/v1/tokens/no-such-token",
            None,
            FULL_SESSIONS,
        ),
        r("GET", "/api/v1/users", None, ADMIN_ANY),
        r(
            "POST",
            "/api/v1/users",
            Some(json!({"username": "!", "display_name": "x", "roles": ["judge"]})),
            ADMIN_SESSION,
        ),
        r(
            "POST",
            &format!("/api/v1/users/{victim}/disable"),
            Some(json!({})),
            ADMIN_SESSION,
        ),
        r(
            "POST",
            &format!("/api/v1/users/{victim}/enable"),
            Some(json!({})),
            ADMIN_SESSION,
        ),
        r(
            "POST",
            &format!("/api/v1/users/{victim}/reset-totp"),
            Some(json!({})),
            ADMIN_SESSION,
        ),
        r(
            "POST",
            &format!("/api/v1/users/{victim}/password-link"),
            Some(json!({})),
            ADMIN_SESSION,
        ),
        r("GET", "/api/v1/authorities", None, WITH_ACCOUNT),
        r(
            "POST",
            "/api/v1/authorities",
            Some(json!({"name": "", "country": "FR", "certificate_pem": ""})),
            ADMIN_SESSION,
        ),
        r("GET", "/api/v1/federation/whoami", None, &["authority"]),
        r(
            "POST",
            "/api/v1/federation/checkpoints",
            Some(json!({"note": "x", "signature": "x"})),
            &["authority"],
        ),
        r("POST", "/tsa", Some(json!({})), EVERYONE),
        r("GET", "/tsa/certs.pem", None, EVERYONE),
        r("GET", "/api/v1/audit/checkpoint", None, ADMIN_ANY_AND_PEERS),
        r(
            "GET",
            "/api/v1/audit/consistency?from=1",
            None,
            ADMIN_ANY_AND_PEERS,
        ),
        r("GET", "/api/v1/audit/entries/0", None, ADMIN_ANY),
        r("GET", "/api/v1/hearings", None, COURT_STAFF),
        r(
            "POST",
            "/api/v1/hearings",
            Some(json!({"case_reference": "", "court": "x", "title": "x", "scheduled_at": 0})),
            COURT_STAFF,
        ),
        r(
            "GET",
            &format!("/api/v1/hearings/{hearing}"),
            None,
            COURT_STAFF,
        ),
        // Every participant reads their own situation (role, protective order, recording, the
        // others as the room shows them); nobody else, court staff included.
        r(
            "GET",
            &format!("/api/v1/hearings/{hearing}/me"),
            None,
            HEARING_PARTIES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/participants"),
            Some(json!({"user_id": "nobody", "role": "judge"})),
            HEARING_BENCH,
        ),
        r(
            "GET",
            &format!("/api/v1/hearings/{hearing}/invitations"),
            None,
            HEARING_BENCH,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/invitations"),
            Some(json!({"role": "judge", "label": "x"})),
            HEARING_BENCH,
        ),
        r(
            "DELETE",
            &format!("/api/v1/hearings/{hearing}/invitations/no-such-invitation"),
            None,
            HEARING_BENCH,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/invitations/no-such-invitation/reissue"),
            Some(json!({})),
            HEARING_BENCH,
        ),
        r(
            "POST",
            "/api/v1/hearing-invitations/redeem",
            Some(json!({"token": "x"})),
            EVERYONE,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/open"),
            Some(json!({})),
            HEARING_BENCH,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/start"),
            Some(json!({})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/pause"),
            Some(json!({})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/participants/nobody/admit"),
            Some(json!({})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/participants/nobody/call"),
            Some(json!({})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/participants/nobody/send-back"),
            Some(json!({})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/participants/nobody/remove"),
            Some(json!({})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/participants/nobody/microphone"),
            Some(json!({"locked": true})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/participants/nobody/camera"),
            Some(json!({"on": false})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/screens"),
            Some(json!({"subscriber": "a", "publisher": "b", "screened": true})),
            HEARING_JUDGES,
        ),
        // Allowed callers get 404 (nobody of that name) or 404 (no such room).
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/consultations"),
            Some(json!({"participants": ["nobody", "noone"]})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/consultations/1/lock"),
            None,
            HEARING_JUDGES,
        ),
        r(
            "DELETE",
            &format!("/api/v1/hearings/{hearing}/consultations/1"),
            None,
            HEARING_JUDGES,
        ),
        // Allowed callers get 409 (not recording / not live / already on) or 200.
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/recording/stop"),
            None,
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/recording/start"),
            None,
            HEARING_JUDGES,
        ),
        // Allowed callers get 404 `no_recording`.
        r(
            "GET",
            &format!("/api/v1/hearings/{hearing}/recording/export"),
            None,
            HEARING_BENCH,
        ),
        // The court's original voice: an account at a browser taking part in the hearing, so
        // far (the stream's orders decide the rest). Allowed callers get 404
        // `no_original_voice`.
        r(
            "GET",
            &format!("/api/v1/hearings/{hearing}/recordings/none/original"),
            None,
            HEARING_BENCH,
        ),
        // Allowed callers get 200: draft minutes, sealed now (the hearing is not closed).
        r(
            "GET",
            &format!("/api/v1/hearings/{hearing}/minutes?format=json"),
            None,
            HEARING_BENCH,
        ),
        // Without upgrade headers: admitted callers get a protocol error, others 401/403.
        r(
            "GET",
            &format!("/api/v1/hearings/{hearing}/signal"),
            None,
            HEARING_PARTIES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/resume"),
            Some(json!({})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/adjourn"),
            Some(json!({})),
            HEARING_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/hearings/{hearing}/close"),
            Some(json!({})),
            HEARING_JUDGES,
        ),
        r(
            "PUT",
            &format!("/api/v1/users/{victim}/authority"),
            Some(json!({"authority_id": null})),
            ADMIN_SESSION,
        ),
        r("GET", "/api/v1/mla/requests", None, REQUEST_OFFICERS),
        r(
            "POST",
            "/api/v1/mla/requests",
            Some(json!({"kind": "eio", "recipient": "nowhere", "form": {}})),
            REQUEST_OFFICERS,
        ),
        r(
            "GET",
            &format!("/api/v1/mla/requests/{request}"),
            None,
            REQUEST_OFFICERS,
        ),
        r(
            "PUT",
            &format!("/api/v1/mla/requests/{request}/form"),
            Some(json!({"form": {}})),
            REQUEST_OFFICERS,
        ),
        r(
            "POST",
            &format!("/api/v1/mla/requests/{request}/transitions"),
            Some(json!({"to": "TRANSMITTED"})),
            REQUEST_OFFICERS,
        ),
        r(
            "POST",
            &format!("/api/v1/mla/requests/{request}/transitions"),
            Some(json!({"to": "VALIDATED"})),
            REQUEST_JUDGES,
        ),
        r(
            "POST",
            &format!("/api/v1/mla/requests/{request}/extension"),
            Some(json!({"reason": "workload"})),
            REQUEST_OFFICERS,
        ),
        r(
            "POST",
            &format!("/api/v1/mla/requests/{request}/attachments?filename=note.json"),
            Some(json!({"a": 1})),
            REQUEST_OFFICERS,
        ),
        r(
            "GET",
            &format!("/api/v1/mla/requests/{request}/attachments/none"),
            None,
            REQUEST_OFFICERS,
        ),
        r(
            "GET",
            &format!("/api/v1/mla/requests/{request}/evidence"),
            None,
            REQUEST_OFFICERS,
        ),
        r(
            "GET",
            &format!("/api/v1/mla/requests/{request}/audit"),
            None,
            REQUEST_OFFICERS,
        ),
        // Returning a hearing's record: officers at a browser (the judge and clerk who may
        // export the record may not transmit it). Only the executing authority's officers get
        // past the request's half of the policy: this draft's own (issuing) officers get 404.
        r(
            "POST",
            &format!("/api/v1/mla/requests/{request}/evidence"),
            Some(json!({"hearing_id": hearing})),
            REQUEST_OFFICERS,
        ),
        r(
            "POST",
            "/api/v1/federation/mla/messages",
            Some(json!({"document": "", "seal": ""})),
            &["authority"],
        ),
        r(
            "GET",
            &format!("/api/v1/hearings/{hearing}/participants/none/protective-order"),
            None,
            HEARING_BENCH,
        ),
        r(
            "PUT",
            &format!("/api/v1/hearings/{hearing}/participants/none/protective-order"),
            Some(json!({"pseudonym": "X", "voice": "distorted", "face": "masked"})),
            HEARING_JUDGES,
        ),
        r(
            "DELETE",
            &format!("/api/v1/hearings/{hearing}/participants/none/protective-order"),
            None,
            HEARING_JUDGES,
        ),
        // Signing out last: it ends the sessions used above.
        r("DELETE", "/api/v1/session", None, SESSIONS),
    ]
}

async fn subjects(app: &TestApp) -> (Vec<(&'static str, Client)>, String, String) {
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let (judge, _) = app.sign_in_as(&[Role::Judge]).await;
    let (clerk, _) = app.sign_in_as(&[Role::Clerk]).await;
    let (officer, _) = app.sign_in_as(&[Role::Officer]).await;
    let (all, _) = app.sign_in_as(&Role::ALL).await;
    let admin_token = app.token_client(&[Role::Administrator]).await;
    let judge_token = app.token_client(&[Role::Judge]).await;
    // A judge who passed the password but has not enrolled TOTP yet.
    app.create_user("half.signed.in", &[Role::Judge]).await;
    let mut enrolling = app.client();
    let r = enrolling
        .sign_in("half.signed.in", assize_tests::PASSWORD, None)
        .await;
    assert_eq!(r.body["stage"], "totp_enrolment");
    let authority = app
        .authority_client(&admin, "Ministry of Justice, State B", "BE")
        .await;
    // A hearing booked by the clerk, with `judge` and `all_roles` as its judges and an invited
    // witness who redeemed the link.
    let booked = clerk
        .post(
            "/api/v1/hearings",
            json!({"case_reference": "CR-1", "court": "Court 1", "title": "R v X",
                   "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(booked.status, 201, "{booked:?}");
    let hearing = booked.body["id"].as_str().unwrap().to_string();
    for judge_id in [judge.user_id.clone(), all.user_id.clone()] {
        let r = clerk
            .post(
                &format!("/api/v1/hearings/{hearing}/participants"),
                json!({"user_id": judge_id.unwrap(), "role": "judge"}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    let invited = clerk
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            json!({"role": "witness", "label": "Witness A"}),
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let mut witness = app.client();
    let redeemed = witness
        .post(
            "/api/v1/hearing-invitations/redeem",
            json!({"token": invited.body["token"]}),
        )
        .await;
    assert_eq!(redeemed.status, 200, "{redeemed:?}");
    witness.csrf = redeemed.body["csrf_token"].as_str().map(str::to_string);
    // A local authority for `officer` and `all_roles`, and a draft of theirs to State B.
    let local = admin
        .post(
            "/api/v1/authorities",
            json!({"name": "Central Authority A", "country": "FR", "code": "FR-CA", "local": true}),
        )
        .await;
    assert_eq!(local.status, 201, "{local:?}");
    for member in [&officer, &all] {
        let r = admin
            .send(
                "PUT",
                &format!(
                    "/api/v1/users/{}/authority",
                    member.user_id.clone().unwrap()
                ),
                Some(json!({"authority_id": local.body["authority"]["id"]})),
            )
            .await;
        assert_eq!(r.status, 204, "{r:?}");
    }
    let directory = admin.get("/api/v1/authorities").await;
    let state_b = directory.body["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["local"] == false)
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let draft = officer
        .post(
            "/api/v1/mla/requests",
            json!({"kind": "eio", "recipient": state_b, "form": {}}),
        )
        .await;
    assert_eq!(draft.status, 201, "{draft:?}");
    let request = draft.body["request"]["id"].as_str().unwrap().to_string();
    let subjects = vec![
        ("anonymous", app.client()),
        ("admin", admin),
        ("judge", judge),
        ("clerk", clerk),
        ("officer", officer),
        ("admin_token", admin_token),
        ("judge_token", judge_token),
        ("enrolling", enrolling),
        ("authority", authority),
        ("all_roles", all),
        ("witness", witness),
    ];
    (subjects, hearing, request)
}

#[tokio::test]
async fn every_endpoint_is_authorized_as_every_role_and_as_nobody() {
    let app = spawn_app().await;
    let victim = app.create_user("victim.user", &[Role::Clerk]).await;
    let (subjects, hearing, request) = subjects(&app).await;
    assert_eq!(subjects.len(), SUBJECTS.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows(&victim, &hearing, &request) {
        for (name, client) in &subjects {
            let reply = client.send(row.method, &row.path, row.body.clone()).await;
            let allowed = row.allowed.contains(name);
            let ok = if allowed {
                reply.status != 401 && reply.status != 403
            } else if *name == "anonymous" {
                reply.status == 401
            } else if *name == "enrolling" {
                reply.status == 403 && reply.code() == "totp_enrolment_required"
            } else {
                reply.status == 403
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {name}: expected {}, got {} {}",
                    row.method,
                    row.path,
                    if allowed { "allowed" } else { "denied" },
                    reply.status,
                    reply.code()
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, 80 * SUBJECTS.len());
}

#[tokio::test]
async fn sign_in_is_open_to_everyone_but_checks_credentials() {
    let app = spawn_app().await;
    for (name, c) in subjects(&app).await.0 {
        // A different unknown account each time, so the per-account throttle stays out of it.
        let r = c
            .post(
                "/api/v1/session",
                json!({"username": format!("nobody.{name}"), "password": "wrong password"}),
            )
            .await;
        assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    }
}

#[tokio::test]
async fn an_authority_is_recognised_by_its_registered_certificate_only() {
    let app = spawn_app().await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let b = app
        .authority_client(&admin, "Central Authority B", "BE")
        .await;
    let who = b.get("/api/v1/federation/whoami").await;
    assert_eq!(who.status, 200, "{who:?}");
    assert_eq!(who.body["authority"]["name"], "Central Authority B");
    assert_eq!(who.body["authority"]["country"], "BE");

    // A valid certificate from the right CA, but not registered: not an authority.
    let (cert, key) = app.issue_client_identity("Unregistered");
    let stranger = app.client_with(Some(format!("{cert}{key}").as_bytes()));
    let r = stranger.get("/api/v1/federation/whoami").await;
    assert_eq!((r.status, r.code()), (401, "unknown_authority"));

    // The same certificate twice is a conflict.
    let r = admin
        .post(
            "/api/v1/authorities",
            json!({"name": "Again", "country": "BE", "certificate_pem": cert}),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = admin
        .post(
            "/api/v1/authorities",
            json!({"name": "Again", "country": "BE", "certificate_pem": cert}),
        )
        .await;
    assert_eq!(r.status, 409);

    // A certificate from another CA fails the TLS handshake itself.
    let other_key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other_ca = p.self_signed(&other_key).unwrap();
    let (cert, key) = assize_tests::issue_identity("Forger", &other_ca, &other_key);
    let forger = app.client_with(Some(format!("{cert}{key}").as_bytes()));
    let err = forger.http.get(format!("{}/healthz", app.url)).send().await;
    assert!(
        err.is_err(),
        "a certificate from an unknown CA is refused at the handshake"
    );
}
