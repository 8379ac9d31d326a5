//! Probes, metrics, request ids, error answers for unknown routes, TLS versions, shutdown.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use assize_server::policy::Role;
use assize_tests::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_over_https() {
    let app = spawn_app().await;
    let c = app.client();
    let h = c.get("/healthz").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.body["status"], "ok");
    let r = c.get("/readyz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ready");
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = spawn_app().await;
    let r = app.client().get("/healthz").await;
    let id = r
        .headers
        .get("x-request-id")
        .expect("a request id")
        .to_str()
        .unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(
        r.headers.get("strict-transport-security").unwrap(),
        "max-age=63072000"
    );
    assert_eq!(r.headers.get("x-content-type-options").unwrap(), "nosniff");
    assert!(
        r.headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let app = spawn_app().await;
    let c = app.client();
    let r = c.get("/no/such/page").await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = c.send("PUT", "/healthz", None).await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
}

#[tokio::test]
async fn readyz_fails_with_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.store.close().await;
    let r = app.client().get("/readyz").await;
    assert_eq!((r.status, r.code()), (503, "database_unavailable"), "{r:?}");
    // Liveness does not depend on the database.
    assert_eq!(app.client().get("/healthz").await.status, 200);
}

#[tokio::test]
async fn metrics_are_prometheus_text_for_administrators_only() {
    let app = spawn_app().await;
    let admin = app.token_client(&[Role::Administrator]).await;
    app.client().get("/healthz").await;
    let resp = admin
        .http
        .get(format!("{}/metrics", app.url))
        .bearer_auth(admin.bearer.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(
            "assize_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("assize_sign_ins_total{outcome=\"ok\"}"),
        "{text}"
    );
    let judge = app.token_client(&[Role::Judge]).await;
    assert_eq!(judge.get("/metrics").await.status, 403);
    assert_eq!(app.client().get("/metrics").await.status, 401);
}

#[tokio::test]
async fn only_tls_1_2_and_1_3_are_spoken() {
    let app = spawn_app().await;
    let ca = app.data_dir.join("pki/ca.crt");
    let connect = |flag: &'static str| {
        let addr = app.addr.to_string();
        let ca = ca.clone();
        async move {
            tokio::process::Command::new("openssl")
                .args(["s_client", "-connect", &addr, flag, "-CAfile"])
                .arg(&ca)
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .expect("openssl is installed")
        }
    };
    let out = connect("-tls1_3").await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("TLSv1.3"),
        "{out:?}"
    );
    let out = connect("-tls1_2").await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("TLSv1.2"),
        "{out:?}"
    );
    let out = connect("-tls1_1").await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Cipher is (NONE)"),
        "TLS 1.1 must fail: {out:?}"
    );
    assert!(!out.status.success(), "TLS 1.1 must fail: {out:?}");
}

#[tokio::test]
async fn shutdown_is_graceful_and_closes_the_port() {
    let app = spawn_app().await;
    let addr = app.addr;
    let (c, _) = app.sign_in_as(&[Role::Judge]).await;
    assert_eq!(c.get("/api/v1/session").await.status, 200);
    app.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the port is closed after shutdown"
    );
}

#[tokio::test]
async fn a_second_start_on_the_same_data_keeps_keys_and_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d1 = data.clone();
    let app = assize_tests::spawn_app_with(move |s| s.data_dir = d1).await;
    let key_before = std::fs::read(data.join("pki/signing.key")).unwrap();
    app.create_user("judge.one", &[Role::Judge]).await;
    let db = app.database_url.clone();
    let _keep = app.stop_keeping_database().await;
    let d2 = data.clone();
    let app = assize_tests::spawn_app_with(move |s| {
        s.data_dir = d2;
        s.database_url = db;
    })
    .await;
    assert_eq!(
        key_before,
        std::fs::read(data.join("pki/signing.key")).unwrap()
    );
    assert!(
        app.store
            .user_by_username("judge.one")
            .await
            .unwrap()
            .is_some()
    );
}
