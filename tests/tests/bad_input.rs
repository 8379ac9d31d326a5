//! Bad input gets a clear error with the right status and a stable code, never a panic, and
//! leaves nothing half-written.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;

use assize_server::app::Application;
use assize_server::config::Settings;
use assize_server::policy::Role;
use assize_tests::spawn_app;
use serde_json::json;

#[tokio::test]
async fn oversize_malformed_and_mistyped_bodies_are_refused() {
    let app = spawn_app().await;
    let c = app.client();
    let url = format!("{}/api/v1/session", app.url);

    let big = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let r = c
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["error"]["code"], "payload_too_large");

    let cases: [(&str, &str, u16, &str); 7] = [
        ("application/json", "{not json", 400, "invalid_json"),
        ("application/json", "", 400, "invalid_json"),
        ("application/json", "[]", 400, "invalid_request"),
        (
            "application/json",
            r#"{"username": 5, "password": "x"}"#,
            400,
            "invalid_request",
        ),
        (
            "application/json",
            r#"{"username": "a", "password": "x", "admin": true}"#,
            400,
            "invalid_request",
        ),
        (
            "text/plain",
            r#"{"username": "a", "password": "x"}"#,
            415,
            "unsupported_media_type",
        ),
        ("application/json", "\u{0}\u{1}\u{2}", 400, "invalid_json"),
    ];
    for (ct, body, status, code) in cases {
        let r = c
            .http
            .post(&url)
            .header("content-type", ct)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{ct} {body:?}");
        let j: serde_json::Value = r.json().await.unwrap();
        assert_eq!(j["error"]["code"], code, "{ct} {body:?}");
    }
    // The server is still fine.
    assert_eq!(c.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn hostile_sign_in_fields_never_crash_the_server() {
    let app = spawn_app().await;
    let c = app.client();
    let long = "x".repeat(100_000);
    for (u, p) in [
        ("", ""),
        ("   ", "x"),
        (long.as_str(), "x"),
        ("a", long.as_str()),
        ("\u{202e}admin", "x"),
        ("admin'; DROP TABLE users; --", "x"),
        ("ǅemo", "x"),
    ] {
        let r = c
            .post("/api/v1/session", json!({"username": u, "password": p}))
            .await;
        assert_eq!((r.status, r.code()), (401, "invalid_credentials"), "{u:?}");
    }
    assert_eq!(
        c.get("/readyz").await.status,
        200,
        "the users table is still there"
    );
}

#[tokio::test]
async fn invalid_account_fields_name_the_field() {
    let app = spawn_app().await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    for (body, code, field) in [
        (
            json!({"username": "a", "display_name": "x", "roles": ["judge"]}),
            "invalid_username",
            "username",
        ),
        (
            json!({"username": "abc def", "display_name": "x", "roles": ["judge"]}),
            "invalid_username",
            "username",
        ),
        (
            json!({"username": "abc", "display_name": " ", "roles": ["judge"]}),
            "invalid_display_name",
            "display_name",
        ),
        (
            json!({"username": "abc", "display_name": "x", "roles": []}),
            "invalid_roles",
            "roles",
        ),
        (
            json!({"username": "abc", "display_name": "x", "roles": ["judge", "judge"]}),
            "invalid_roles",
            "roles",
        ),
    ] {
        let r = admin.post("/api/v1/users", body.clone()).await;
        assert_eq!((r.status, r.code()), (400, code), "{body}");
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    let r = admin
        .post(
            "/api/v1/users",
            json!({"username": "abc", "display_name": "x", "roles": ["emperor"]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"));
    // Nothing was created by any of these.
    assert_eq!(
        admin.get("/api/v1/users").await.body["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A taken username is a conflict, and leaves the first account as it was.
    assert_eq!(
        admin
            .post(
                "/api/v1/users",
                json!({"username": "dup", "display_name": "One", "roles": ["clerk"]})
            )
            .await
            .status,
        201
    );
    let r = admin
        .post(
            "/api/v1/users",
            json!({"username": "DUP", "display_name": "Two", "roles": ["judge"]}),
        )
        .await;
    assert_eq!(r.status, 409);
    let dup = app.store.user_by_username("dup").await.unwrap().unwrap();
    assert_eq!(
        (dup.display_name.as_str(), dup.roles.as_slice()),
        ("One", &[Role::Clerk][..])
    );
}

fn settings_in(dir: &std::path::Path) -> Settings {
    let mut s = Settings {
        data_dir: dir.join("data"),
        ..Settings::default()
    };
    s.http.listen = "127.0.0.1:0".into();
    s
}

#[tokio::test]
async fn a_key_file_readable_by_others_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(settings_in(dir.path())).await.unwrap();
    let key = app.data_dir().signing_key.clone();
    drop(app);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Application::build(settings_in(dir.path()))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("readable by others") && msg.contains("chmod 600"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unreachable_database_stops_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.database_url = "postgres://assize:secret-password@127.0.0.1:9/assize".into();
    let err = Application::build(s).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("cannot connect to the database"), "{msg}");
    assert!(
        !msg.contains("secret-password"),
        "the password is never printed: {msg}"
    );
}

#[tokio::test]
async fn invalid_settings_stop_the_start_and_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.http.max_body_bytes = 1;
    let err = Application::build(s).await.unwrap_err().to_string();
    assert!(
        err.contains("http.max_body_bytes") && err.contains("fix:"),
        "{err}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created before settings are valid"
    );
}
