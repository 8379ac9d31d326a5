//! Two Assize servers in one process, state A (FR) and state B (DE), each knowing the other: the
//! set-up shared by the MLA integration tests (`tests/tests/mla.rs`) and the submit-to-receipt
//! latency benchmark (`tests/benches/mla_latency.rs`).
//!
//! B is reached through a [`Relay`], a TCP forwarder that can drop one answer ("B dies
//! mid-delivery") and follow B to a new port after a restart.
// Test harness: a failure is the test (or benchmark) failing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use assize_server::config::Settings;
use assize_server::pki::DataDir;
use assize_server::policy::Role;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::{Client, TestApp, spawn_app_with};

pub const A_CODE: &str = "FR-CA";
pub const B_CODE: &str = "DE-BfJ";

pub fn complete_eio() -> Value {
    json!({
        "section_a": {"issuing_state": "FR", "executing_state": "DE"},
        "section_b": {"urgent": false},
        "section_c": {"measures": [
            {"kind": "hearing_by_videoconference", "description": "Hear the witness W. about the transfers of May 2026."},
            {"kind": "banking_information", "description": "Statements of account DE00 1234 for 2026."}]},
        "section_e": {"persons": [{"name": "W.", "status": "witness", "languages": "de"}]},
        "section_f": {"proceedings": "criminal"},
        "section_g": {"facts": "Between 1 and 31 May 2026 the suspect transferred funds obtained by fraud.",
                      "offences": [{"legal_classification": "Escroquerie (art. 313-1 code pénal)",
                                    "annex_d_category": 8, "maximum_penalty": "5 years' imprisonment"}]},
        "section_h": {"videoconference": {"person_to_be_heard": "W.", "capacity": "witness"}},
        "section_k": {"authority_type": "investigating_judge", "name": "Tribunal judiciaire de Paris",
                      "representative": "J. Dupont", "position": "juge d'instruction",
                      "file_reference": "JI-2026-0042", "email": "ji.paris@justice.example"}
    })
}

/// A TCP relay in front of B that can "kill B mid-delivery" once: it lets the request through
/// (B processes and commits it) and then drops B's answer and the connection.
#[derive(Debug)]
pub struct Relay {
    pub port: u16,
    /// The port of B the relay forwards to (changed when B restarts elsewhere).
    pub target: Arc<AtomicU16>,
    /// Arms the cut: the next large request's answer is dropped.
    pub cut_next_answer: Arc<AtomicBool>,
    /// How many answers were cut.
    pub cuts: Arc<AtomicU64>,
}

impl Relay {
    pub async fn start() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(0));
        let cut_next_answer = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicU64::new(0));
        let (t, c, n) = (target.clone(), cut_next_answer.clone(), cuts.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (t, c, n) = (t.clone(), c.clone(), n.clone());
                tokio::spawn(async move {
                    let Ok(server) =
                        TcpStream::connect(("127.0.0.1", t.load(Ordering::SeqCst))).await
                    else {
                        return;
                    };
                    // As the servers themselves do: without it, Nagle's algorithm meets the
                    // peer's delayed ACK and a relayed answer can wait 40 ms.
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    relay(client, server, c, n).await;
                });
            }
        });
        Relay {
            port,
            target,
            cut_next_answer,
            cuts,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

/// Copies both ways. When cutting is armed and the client has sent a large body (more than
/// 64 KiB: the TLS handshake is long over), the first bytes of the server's answer are dropped
/// and both connections closed.
async fn relay(client: TcpStream, server: TcpStream, cut: Arc<AtomicBool>, cuts: Arc<AtomicU64>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let sent = Arc::new(AtomicU64::new(0));
    let sent_up = sent.clone();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 16384];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    sent_up.fetch_add(n as u64, Ordering::SeqCst);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut buf = vec![0u8; 16384];
    loop {
        match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if sent.load(Ordering::SeqCst) > 64 * 1024
                    && cut
                        .compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                {
                    cuts.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                if cw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    up.abort();
}

/// Both states, each with an officer (and A with a validating judge), each knowing the other.
#[derive(Debug)]
pub struct States {
    pub a: TestApp,
    pub b: TestApp,
    pub a_officer: Client,
    /// A's administrator, and A's own authority as the directory returned it (to add officers).
    pub a_admin: Client,
    pub a_authority: Value,
    pub a_judge: Client,
    pub b_officer: Client,
    pub b_admin: Client,
    pub relay: Relay,
    pub a_ca: PathBuf,
    pub b_ca: PathBuf,
    pub b_data: PathBuf,
    pub b_port: u16,
    pub _dirs: (tempfile::TempDir, tempfile::TempDir),
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn b_settings(s: &mut Settings, b_data: &Path, port: u16, a_ca: &Path, b_ca: &Path) {
    s.data_dir = b_data.to_path_buf();
    s.http.listen = format!("127.0.0.1:{port}");
    s.tls.client_ca_files = vec![a_ca.to_string_lossy().into(), b_ca.to_string_lossy().into()];
    s.federation.peer_ca_files = vec![a_ca.to_string_lossy().into()];
    s.mla.retry_max_secs = 2;
}

pub async fn assign(admin: &Client, user: &Client, authority: &Value) {
    let r = admin
        .send(
            "PUT",
            &format!("/api/v1/users/{}/authority", user.user_id.clone().unwrap()),
            Some(json!({"authority_id": authority["authority"]["id"]})),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
}

pub async fn two_states() -> States {
    two_states_with(|_| {}).await
}

pub async fn two_states_with(tune_b: impl FnOnce(&mut Settings) + Send + 'static) -> States {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (a_data, b_data) = (dir_a.path().join("data"), dir_b.path().join("data"));
    let a_pki = DataDir::bootstrap(&a_data).unwrap();
    let b_pki = DataDir::bootstrap(&b_data).unwrap();
    let (a_ca, b_ca) = (a_pki.ca_cert.clone(), b_pki.ca_cert.clone());
    let relay = Relay::start().await;
    let b_port = free_port();
    relay.target.store(b_port, Ordering::SeqCst);

    let b = spawn_app_with({
        let (b_data, a_ca, b_ca) = (b_data.clone(), a_ca.clone(), b_ca.clone());
        move |s| {
            b_settings(s, &b_data, b_port, &a_ca, &b_ca);
            tune_b(s);
        }
    })
    .await;
    let a = spawn_app_with({
        let (a_ca, b_ca) = (a_ca.clone(), b_ca.clone());
        move |s| {
            s.data_dir = a_data;
            s.tls.client_ca_files =
                vec![a_ca.to_string_lossy().into(), b_ca.to_string_lossy().into()];
            s.federation.peer_ca_files = vec![b_ca.to_string_lossy().into()];
            s.mla.retry_max_secs = 2;
        }
    })
    .await;

    // State A's directory: itself, and B (reached through the relay).
    let (a_admin, _) = a.sign_in_as(&[Role::Administrator]).await;
    let a_local = a_admin
        .post(
            "/api/v1/authorities",
            json!({"code": A_CODE, "name": "Bureau de l'entraide pénale internationale", "country": "FR",
                   "local": true, "email": "beppi@justice.example"}),
        )
        .await;
    assert_eq!(a_local.status, 201, "{a_local:?}");
    let r = a_admin
        .post(
            "/api/v1/authorities",
            json!({"code": B_CODE, "name": "Bundesamt für Justiz", "country": "DE",
                   "endpoint": relay.url(),
                   "certificate_pem": std::fs::read_to_string(&b_pki.client_cert).unwrap()}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let (a_officer, _) = a.sign_in_as(&[Role::Officer]).await;
    let (a_judge, _) = a.sign_in_as(&[Role::Judge]).await;
    assign(&a_admin, &a_officer, &a_local.body).await;
    assign(&a_admin, &a_judge, &a_local.body).await;

    // State B's directory: itself, and A.
    let (b_admin, _) = b.sign_in_as(&[Role::Administrator]).await;
    let b_local = b_admin
        .post(
            "/api/v1/authorities",
            json!({"code": B_CODE, "name": "Bundesamt für Justiz", "country": "DE", "local": true,
                   "email": "rechtshilfe@bfj.example"}),
        )
        .await;
    assert_eq!(b_local.status, 201, "{b_local:?}");
    let r = b_admin
        .post(
            "/api/v1/authorities",
            json!({"code": A_CODE, "name": "Bureau de l'entraide pénale internationale", "country": "FR",
                   "endpoint": a.url,
                   "certificate_pem": std::fs::read_to_string(&a_pki.client_cert).unwrap()}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let (b_officer, _) = b.sign_in_as(&[Role::Officer]).await;
    assign(&b_admin, &b_officer, &b_local.body).await;

    States {
        a,
        b,
        a_officer,
        a_admin,
        a_authority: a_local.body,
        a_judge,
        b_officer,
        b_admin,
        relay,
        a_ca,
        b_ca,
        b_data,
        b_port,
        _dirs: (dir_a, dir_b),
    }
}

/// Polls `GET /api/v1/mla/requests/{id}` until `check` holds (deliveries run in the background).
pub async fn wait_for(
    client: &Client,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let r = client.get(&format!("/api/v1/mla/requests/{id}")).await;
        if r.status == 200 && check(&r.body) {
            return r.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}; last answer {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn status_is(s: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["request"]["status"] == s
}

pub async fn step(client: &Client, id: &str, body: Value) -> Value {
    let r = client
        .post(
            &format!("/api/v1/mla/requests/{id}/transitions"),
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{body} → {r:?}");
    r.body
}

pub async fn upload(client: &Client, id: &str, name: &str, content: &[u8]) -> Value {
    let resp = client
        .http
        .post(format!(
            "{}/api/v1/mla/requests/{id}/attachments?filename={name}",
            client.base
        ))
        .header("content-type", "application/pdf")
        .header("x-csrf-token", client.csrf.clone().unwrap_or_default())
        .body(content.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

/// A's officer drafts a complete EIO with one attachment and A's judge validates it: ready to
/// transmit. Returns the request id.
pub async fn validated_eio(s: &States, officer: &Client, attachment: &[u8]) -> String {
    let draft = officer
        .post(
            "/api/v1/mla/requests",
            json!({"kind": "eio", "recipient": B_CODE, "form": complete_eio()}),
        )
        .await;
    assert_eq!(draft.status, 201, "{draft:?}");
    assert_eq!(draft.body["missing"], json!([]), "{draft:?}");
    let id = draft.body["request"]["id"].as_str().unwrap().to_string();
    upload(officer, &id, "commission-rogatoire.pdf", attachment).await;
    step(&s.a_judge, &id, json!({"to": "VALIDATED"})).await;
    id
}

/// A's officer drafts a complete EIO with one attachment, A's judge validates it, the officer
/// transmits it. Returns the request id.
pub async fn send_eio(s: &States, attachment: &[u8]) -> String {
    let id = validated_eio(s, &s.a_officer, attachment).await;
    let sent = step(&s.a_officer, &id, json!({"to": "TRANSMITTED"})).await;
    assert_eq!(sent["message"]["transport_status"], "SUBMITTED");
    id
}
