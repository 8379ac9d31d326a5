//! Two Assize servers: state A hands its audit checkpoints to state B over mutual TLS, and B keeps
//! them as evidence against A rewriting its history.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use assize_server::pki::DataDir;
use assize_server::policy::Role;
use assize_tests::spawn_app_with;
use serde_json::json;

#[tokio::test]
async fn a_peer_keeps_the_checkpoints_we_hand_it() {
    // A's data directory exists first, so that B can be told to trust A's CA.
    let a_dir = tempfile::tempdir().unwrap();
    let a_data = a_dir.path().join("data");
    let a_pki = DataDir::bootstrap(&a_data).unwrap();
    let a_ca = a_pki.ca_cert.to_string_lossy().to_string();

    let b = spawn_app_with({
        let a_ca = a_ca.clone();
        move |s| s.tls.client_ca_files = vec![a_ca]
    })
    .await;
    let (b_admin, _) = b.sign_in_as(&[Role::Administrator]).await;
    let reg = b_admin
        .post(
            "/api/v1/authorities",
            json!({"name": "Central Authority of State A", "country": "FR",
                   "certificate_pem": std::fs::read_to_string(&a_pki.client_cert).unwrap()}),
        )
        .await;
    assert_eq!(reg.status, 201, "{reg:?}");
    let a_authority = reg.body["authority"]["id"].as_str().unwrap().to_string();

    let b_url = b.url.clone();
    let b_ca = b.data_dir.join("pki/ca.crt").to_string_lossy().to_string();
    let a = spawn_app_with(move |s| {
        s.data_dir = a_data;
        s.federation.peer_ca_files = vec![b_ca];
        s.federation.checkpoint_peers = vec![b_url];
    })
    .await;
    let (a_admin, _) = a.sign_in_as(&[Role::Administrator]).await;
    let cp = a_admin.get("/api/v1/audit/checkpoint").await;
    assert_eq!(cp.status, 200, "{cp:?}");
    let size = cp.body["checkpoint"]["tree_size"].as_i64().unwrap();

    // The hand-over runs in the background: give it a few seconds.
    let started = Instant::now();
    let held = loop {
        if let Some(c) = b.store.latest_peer_checkpoint(&a_authority).await.unwrap()
            && c.tree_size >= size
        {
            break c;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "B never received A's checkpoint"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(held.note, cp.body["checkpoint"]["note"].as_str().unwrap());

    // B refuses a checkpoint from A that is smaller than one it holds (history shrank).
    let (cert, key) = (
        std::fs::read_to_string(a.data_dir.join("pki/federation-client.crt")).unwrap(),
        std::fs::read_to_string(a.data_dir.join("pki/federation-client.key")).unwrap(),
    );
    let as_a = b.client_with(Some(format!("{cert}{key}").as_bytes()));
    let first = a_admin.get("/api/v1/audit/entries/0").await;
    assert_eq!(first.status, 200);
    let older_note = held.note.replace(&format!("\n{size}\n"), "\n1\n");
    use base64::Engine as _;
    let r = as_a
        .post(
            "/api/v1/federation/checkpoints",
            json!({"note": older_note, "signature": base64::engine::general_purpose::STANDARD.encode(&held.signature)}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_checkpoint"),
        "a note that does not match its signature: {r:?}"
    );
}
