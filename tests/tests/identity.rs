//! The first administrator, passwords, sign-in with TOTP, sessions, CSRF, throttling, API tokens.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use assize_server::policy::Role;
use assize_tests::{PASSWORD, spawn_app, spawn_app_with, totp_code};
use serde_json::json;

fn link_token(link: &str) -> String {
    link.split("token=")
        .nth(1)
        .expect("a token in the link")
        .to_string()
}

#[tokio::test]
async fn the_setup_link_creates_the_first_administrator_once() {
    let app = spawn_app().await;
    let link = app
        .setup_link
        .clone()
        .expect("a new server prints a setup link");
    assert!(link.starts_with(&format!("{}/setup?token=", app.url)));
    let token = link_token(&link);
    let c = app.client();

    // The page behind the link is served.
    let page = c.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("first administrator"));

    // A weak password is refused and leaves the link usable: nothing half-written.
    let weak = c
        .post(
            "/api/v1/setup",
            json!({"token": token, "username": "root", "display_name": "R", "password": "short"}),
        )
        .await;
    assert_eq!((weak.status, weak.code()), (400, "weak_password"));
    assert_eq!(app.store.count_active_administrators().await.unwrap(), 0);

    let ok = c
        .post("/api/v1/setup", json!({"token": token, "username": "Root", "display_name": "Court IT", "password": PASSWORD}))
        .await;
    assert_eq!(ok.status, 201, "{ok:?}");
    assert_eq!(ok.body["user"]["username"], "root");
    assert_eq!(ok.body["user"]["roles"], json!(["administrator"]));

    let again = c
        .post(
            "/api/v1/setup",
            json!({"token": token, "username": "root2", "display_name": "X", "password": PASSWORD}),
        )
        .await;
    assert_eq!((again.status, again.code()), (410, "invalid_link"));
    let forged = c.post("/api/v1/setup", json!({"token": "forged", "username": "root3", "display_name": "X", "password": PASSWORD})).await;
    assert_eq!((forged.status, forged.code()), (410, "invalid_link"));
    assert_eq!(app.store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_expired_setup_link_is_refused() {
    let app = spawn_app().await;
    let token = link_token(app.setup_link.as_ref().unwrap());
    app.sql("UPDATE one_time_links SET expires_at = 0").await;
    let r = app
        .client()
        .post(
            "/api/v1/setup",
            json!({"token": token, "username": "root", "display_name": "R", "password": PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (410, "invalid_link"));
}

#[tokio::test]
async fn administrator_creates_a_judge_who_sets_a_password_and_enrols_totp() {
    let app = spawn_app().await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let r = admin
        .post(
            "/api/v1/users",
            json!({"username": "j.dupont", "display_name": "Judge Dupont", "roles": ["judge"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let token = link_token(r.body["password_link"].as_str().unwrap());

    let mut judge = app.client();
    // No password yet: sign-in fails like a wrong password.
    assert_eq!(
        judge.sign_in("j.dupont", PASSWORD, None).await.code(),
        "invalid_credentials"
    );
    let set = judge
        .post(
            "/api/v1/password",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(
        judge
            .post(
                "/api/v1/password",
                json!({"token": token, "password": PASSWORD})
            )
            .await
            .status,
        410
    );

    // Judges must enrol a second factor before anything else.
    let s = judge.sign_in("J.Dupont", PASSWORD, None).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["stage"], "totp_enrolment");
    assert_eq!(
        judge.get("/api/v1/tokens").await.code(),
        "totp_enrolment_required"
    );
    let offer = judge.post("/api/v1/session/totp", json!({})).await;
    let secret = offer.body["secret_base32"].as_str().unwrap().to_string();
    assert!(
        offer.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Assize:j.dupont?")
    );
    let bad = judge
        .post("/api/v1/session/totp/confirm", json!({"code": "000000"}))
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_totp"));
    let ok = judge
        .post(
            "/api/v1/session/totp/confirm",
            json!({"code": totp_code(&secret, 0)}),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(judge.get("/api/v1/tokens").await.status, 200);

    // Next sign-in needs the code; the code just used cannot be replayed.
    let mut again = app.client();
    assert_eq!(
        again.sign_in("j.dupont", PASSWORD, None).await.code(),
        "totp_required"
    );
    assert_eq!(
        again
            .sign_in("j.dupont", PASSWORD, Some(&totp_code(&secret, 0)))
            .await
            .code(),
        "invalid_totp"
    );
    let next = again
        .sign_in("j.dupont", PASSWORD, Some(&totp_code(&secret, 1)))
        .await;
    assert_eq!(next.status, 200, "{next:?}");
    assert_eq!(next.body["stage"], "full");
    let replay = app
        .client()
        .sign_in("j.dupont", PASSWORD, Some(&totp_code(&secret, 1)))
        .await;
    assert_eq!(replay.code(), "invalid_totp", "a TOTP code works once");
}

#[tokio::test]
async fn totp_can_be_made_optional_by_configuration() {
    let app = spawn_app_with(|s| s.auth.totp_required_roles.clear()).await;
    let (c, secret) = app.sign_in_as(&[Role::Judge]).await;
    assert!(secret.is_none());
    assert_eq!(c.get("/api/v1/session").await.body["stage"], "full");
}

#[tokio::test]
async fn wrong_passwords_are_throttled() {
    let app = spawn_app_with(|s| s.auth.max_failed_logins = 3).await;
    app.create_user("clerk.a", &[Role::Clerk]).await;
    let mut c = app.client();
    for _ in 0..3 {
        assert_eq!(
            c.sign_in("clerk.a", "wrong password!!", None).await.code(),
            "invalid_credentials"
        );
    }
    let r = c.sign_in("clerk.a", PASSWORD, None).await;
    assert_eq!((r.status, r.code()), (429, "too_many_attempts"));
    assert!(r.headers.get("retry-after").is_some());
    // Unknown users get the same answer as wrong passwords.
    assert_eq!(
        c.sign_in("nobody.here", PASSWORD, None).await.code(),
        "invalid_credentials"
    );
}

#[tokio::test]
async fn disabled_accounts_cannot_sign_in_and_lose_their_sessions() {
    let app = spawn_app().await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let (officer, _) = app.sign_in_as(&[Role::Officer]).await;
    let id = officer.user_id.clone().unwrap();
    assert_eq!(officer.get("/api/v1/session").await.status, 200);
    let r = admin
        .post(&format!("/api/v1/users/{id}/disable"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        officer.get("/api/v1/session").await.code(),
        "session_expired"
    );
    // The last administrator cannot disable themself.
    let me = admin.user_id.clone().unwrap();
    assert_eq!(
        admin
            .post(&format!("/api/v1/users/{me}/disable"), json!({}))
            .await
            .status,
        409
    );
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token() {
    let app = spawn_app().await;
    let (mut c, _) = app.sign_in_as(&[Role::Clerk]).await;
    let good = c.csrf.take().unwrap();
    let r = c.post("/api/v1/tokens", json!({"name": "x"})).await;
    assert_eq!((r.status, r.code()), (403, "csrf_failed"));
    c.csrf = Some("0".repeat(64));
    assert_eq!(
        c.post("/api/v1/tokens", json!({"name": "x"})).await.code(),
        "csrf_failed"
    );
    // Reads need no token, and the session tells the client its token again after a reload.
    c.csrf = None;
    let me = c.get("/api/v1/session").await;
    assert_eq!(me.body["csrf_token"], good);
    c.csrf = Some(good);
    assert_eq!(
        c.post("/api/v1/tokens", json!({"name": "x"})).await.status,
        201
    );
}

#[tokio::test]
async fn sessions_end_when_idle_or_signed_out() {
    let app = spawn_app().await;
    let (c, _) = app.sign_in_as(&[Role::Judge]).await;
    assert_eq!(c.get("/api/v1/session").await.status, 200);
    app.sql("UPDATE sessions SET last_seen_at = last_seen_at - 3600")
        .await;
    let r = c.get("/api/v1/session").await;
    assert_eq!((r.status, r.code()), (401, "session_expired"));

    let (c, _) = app.sign_in_as(&[Role::Judge]).await;
    assert_eq!(c.delete("/api/v1/session").await.status, 204);
    // The browser drops the cookie, and the server forgot the session.
    assert_eq!(c.get("/api/v1/session").await.code(), "unauthenticated");
    assert!(app.store.purge_expired_sessions(1800).await.is_ok());
}

#[tokio::test]
async fn the_session_cookie_is_secure_httponly_and_strict() {
    let app = spawn_app_with(|s| s.auth.totp_required_roles.clear()).await;
    app.create_user("cookie.check", &[Role::Clerk]).await;
    let resp = app
        .client()
        .http
        .post(format!("{}/api/v1/session", app.url))
        .json(&json!({"username": "cookie.check", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("__Host-assize_session="), "{cookie}");
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
}

#[tokio::test]
async fn api_tokens_work_until_revoked_and_are_stored_hashed() {
    let app = spawn_app().await;
    let (c, _) = app.sign_in_as(&[Role::Administrator]).await;
    let r = c
        .post(
            "/api/v1/tokens",
            json!({"name": "prometheus", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(r.status, 201);
    let secret = r.body["token"].as_str().unwrap().to_string();
    let id = r.body["info"]["id"].as_str().unwrap().to_string();
    let mut t = app.client();
    t.bearer = Some(secret.clone());
    assert_eq!(t.get("/api/v1/users").await.status, 200);
    // The secret is shown once, never listed again.
    let rows = c.get("/api/v1/tokens").await;
    assert!(!rows.body.to_string().contains(&secret));
    assert_eq!(c.delete(&format!("/api/v1/tokens/{id}")).await.status, 204);
    let r = t.get("/api/v1/users").await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));
    let mut junk = app.client();
    junk.bearer = Some("asz_not_a_token".into());
    assert_eq!(junk.get("/api/v1/session").await.code(), "invalid_token");
}
