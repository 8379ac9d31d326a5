//! Two Assize servers, state A (FR) and state B (DE), exchange a European Investigation Order
//! over mutual TLS: sealed messages, signed receipts, the workflow on both sides, deliveries that
//! survive the other server going away, and the evidence packages both sides can prove.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use assize_server::pki::DataDir;
use assize_server::policy::Role;
use assize_tests::mla::{
    A_CODE, B_CODE, States, assign, b_settings, complete_eio, send_eio, status_is, step,
    two_states, two_states_with, upload, wait_for,
};
use assize_tests::{Client, DatabaseGuard, assize_binary, spawn_app_with};
use base64::Engine as _;
use serde_json::{Value, json};

fn package_of(r: &reqwest::Response) -> bool {
    r.headers()["content-type"] == "application/vnd.etsi.asic-e+zip"
}

async fn evidence(client: &Client, id: &str) -> Vec<u8> {
    let r = client
        .http
        .get(format!("{}/api/v1/mla/requests/{id}/evidence", client.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(package_of(&r));
    r.bytes().await.unwrap().to_vec()
}

/// Checks a package three ways: `assize verify`, and `openssl cms -verify` on the container's
/// seal and on every message and receipt.
fn check_package(package: &[u8], cas: &[&Path], work: &Path) {
    let file = work.join("package.asice");
    std::fs::write(&file, package).unwrap();
    let mut cmd = std::process::Command::new(assize_binary());
    cmd.arg("verify").arg(&file);
    for ca in cas {
        cmd.arg("--ca").arg(ca);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "assize verify: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("OK: the package is intact"), "{text}");

    let bundle = work.join("cas.pem");
    let mut pem = Vec::new();
    for ca in cas {
        pem.extend(std::fs::read(ca).unwrap());
    }
    std::fs::write(&bundle, pem).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(package)).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut content = Vec::new();
        f.read_to_end(&mut content).unwrap();
        files.insert(f.name().to_string(), content);
    }
    let mut pairs = vec![(
        "META-INF/ASiCManifest.xml".to_string(),
        "META-INF/signature001.p7s".to_string(),
    )];
    for name in files.keys() {
        if let Some(base) = name.strip_suffix(".json")
            && name.starts_with("messages/")
        {
            pairs.push((name.clone(), format!("{base}.p7s")));
        }
    }
    assert!(pairs.len() > 4, "{:?}", files.keys());
    for (content, seal) in pairs {
        let (c, s) = (work.join("content"), work.join("seal.p7s"));
        std::fs::write(&c, &files[&content]).unwrap();
        std::fs::write(&s, &files[&seal]).unwrap();
        let out = std::process::Command::new("openssl")
            .args([
                "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
            ])
            .arg("-in")
            .arg(&s)
            .arg("-content")
            .arg(&c)
            .arg("-CAfile")
            .arg(&bundle)
            .args(["-out", "/dev/null"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl cms -verify {seal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn an_eio_goes_from_state_a_to_state_b_and_back_and_both_records_agree() {
    let s = two_states().await;
    let order = vec![7u8; 100 * 1024];
    let id = send_eio(&s, &order).await;

    // B receives it, acknowledges it at once (Annex B), and A learns of the acknowledgement.
    let at_b = wait_for(&s.b_officer, &id, "B to receive", status_is("ACKNOWLEDGED")).await;
    assert_eq!(at_b["request"]["side"], "executing");
    assert_eq!(at_b["request"]["reference"], "JI-2026-0042");
    assert_eq!(at_b["form"], complete_eio());
    assert!(
        at_b["request"]["retrieved_at"].is_i64(),
        "opened by B's officer"
    );
    let names: Vec<&str> = at_b["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acknowledgement", "recognition"]);
    assert_eq!(at_b["deadlines"][0]["state"], "met");
    assert_eq!(at_b["deadlines"][1]["state"], "running");
    let at_a = wait_for(
        &s.a_officer,
        &id,
        "A to see the acknowledgement",
        status_is("ACKNOWLEDGED"),
    )
    .await;
    let ack = at_a["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to_status"] == "ACKNOWLEDGED")
        .unwrap();
    assert_eq!(ack["direction"], "in");
    assert_eq!(ack["form"]["issuing_reference"], "JI-2026-0042");
    assert_eq!(ack["form"]["receiving_country"], "DE");
    assert!(
        at_a["request"]["received_at"].is_i64(),
        "A knows when B received it"
    );
    // The attachment arrived intact.
    let att = &at_b["attachments"][0];
    assert_eq!(att["filename"], "commission-rogatoire.pdf");
    let got = s
        .b_officer
        .http
        .get(format!(
            "{}/api/v1/mla/requests/{id}/attachments/{}",
            s.b.url,
            att["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), order.as_slice());

    // B asks for more information; A provides it with another document.
    step(
        &s.b_officer,
        &id,
        json!({"to": "INFO_REQUESTED", "note": "Please give W.'s address."}),
    )
    .await;
    wait_for(
        &s.a_officer,
        &id,
        "A to see the question",
        status_is("INFO_REQUESTED"),
    )
    .await;
    upload(&s.a_officer, &id, "adresse.pdf", b"W. lives at ...").await;
    step(
        &s.a_officer,
        &id,
        json!({"to": "INFO_PROVIDED", "note": "See the attached note."}),
    )
    .await;
    let at_b = wait_for(
        &s.b_officer,
        &id,
        "B to get the answer",
        status_is("INFO_PROVIDED"),
    )
    .await;
    assert_eq!(at_b["attachments"].as_array().unwrap().len(), 2);

    // B recognises, executes and sends the evidence.
    step(&s.b_officer, &id, json!({"to": "RECOGNISED"})).await;
    step(&s.b_officer, &id, json!({"to": "IN_EXECUTION"})).await;
    upload(
        &s.b_officer,
        &id,
        "procès-verbal d'audition.pdf",
        b"Record of the hearing of W.",
    )
    .await;
    step(
        &s.b_officer,
        &id,
        json!({"to": "EVIDENCE_TRANSMITTED", "note": "Record of the hearing."}),
    )
    .await;
    step(&s.b_officer, &id, json!({"to": "EXECUTED"})).await;
    let at_a = wait_for(
        &s.a_officer,
        &id,
        "A to see the execution",
        status_is("EXECUTED"),
    )
    .await;
    assert_eq!(at_a["attachments"].as_array().unwrap().len(), 3);
    let names: Vec<&str> = at_a["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acknowledgement", "recognition", "execution"]);

    // An illegal move is refused with the legal ones.
    let r = s
        .b_officer
        .post(
            &format!("/api/v1/mla/requests/{id}/transitions"),
            json!({"to": "RECOGNISED"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "illegal_transition"), "{r:?}");
    assert_eq!(
        r.body["error"]["details"]["legal"],
        json!(["EVIDENCE_TRANSMITTED"])
    );

    // A closes the file; B follows.
    step(&s.a_officer, &id, json!({"to": "CLOSED"})).await;
    let at_b = wait_for(
        &s.b_officer,
        &id,
        "B to see the closure",
        status_is("CLOSED"),
    )
    .await;
    let at_a = wait_for(&s.a_officer, &id, "every delivery", |v| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["transport_status"] != "SUBMITTED")
    })
    .await;

    // Both records agree: the same exchanged messages, byte for byte, all delivered.
    let exchanged = |v: &Value| -> Vec<(String, String)> {
        let mut m: Vec<(String, String)> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] != "local")
            .map(|m| {
                (
                    m["id"].as_str().unwrap().into(),
                    m["document_sha256"].as_str().unwrap().into(),
                )
            })
            .collect();
        m.sort();
        m
    };
    assert_eq!(exchanged(&at_a), exchanged(&at_b));
    assert_eq!(exchanged(&at_a).len(), 9, "{at_a:#}");
    for v in [&at_a, &at_b] {
        for m in v["messages"].as_array().unwrap() {
            assert!(
                ["DELIVERED", "RETRIEVED", "LOCAL"]
                    .contains(&m["transport_status"].as_str().unwrap()),
                "{m}"
            );
        }
    }

    // Both evidence packages verify, with `assize verify` and with openssl.
    let work = tempfile::tempdir().unwrap();
    for client in [&s.a_officer, &s.b_officer] {
        let package = evidence(client, &id).await;
        check_package(&package, &[&s.a_ca, &s.b_ca], work.path());
        // One changed byte anywhere fails and names the file.
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&package)).unwrap();
        let target = (0..zip.len())
            .map(|i| zip.by_index(i).unwrap().name().to_string())
            .find(|n| n.starts_with("attachments/"))
            .unwrap();
        drop(zip);
        let tampered = rewrite_entry(&package, &target);
        let anchors = assize_signing::verify::TrustAnchors::from_pem(
            &[
                std::fs::read(&s.a_ca).unwrap(),
                std::fs::read(&s.b_ca).unwrap(),
            ]
            .concat(),
        )
        .unwrap();
        let report = assize_server::mla::evidence::verify_package(&tampered, &anchors);
        assert!(!report.is_valid());
        assert!(
            report.failures().iter().any(|f| f.starts_with(&target)),
            "{:?}",
            report.failures()
        );
    }

    // The other side's requests are invisible to an officer of another authority on B.
    let other = s
        .b_admin
        .post(
            "/api/v1/authorities",
            json!({"code": "DE-GStA-B", "name": "Generalstaatsanwaltschaft Berlin", "country": "DE",
                   "kind": "competent", "local": true}),
        )
        .await;
    assert_eq!(other.status, 201);
    let (stranger, _) = s.b.sign_in_as(&[Role::Officer]).await;
    assign(&s.b_admin, &stranger, &other.body).await;
    let r = stranger.get(&format!("/api/v1/mla/requests/{id}")).await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = stranger.get("/api/v1/mla/requests").await;
    assert_eq!(r.body["requests"], json!([]));
    let r = stranger
        .get(&format!("/api/v1/mla/requests/{id}/evidence"))
        .await;
    assert_eq!(r.status, 404);
}

/// Rewrites one entry of a zip with one byte changed (a forger repacking the container).
fn rewrite_entry(package: &[u8], target: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(package)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().to_string();
        let mut content = Vec::new();
        f.read_to_end(&mut content).unwrap();
        if name == target {
            content[0] ^= 1;
        }
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        out.start_file(name, opts).unwrap();
        out.write_all(&content).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_delivery_cut_after_b_committed_is_retried_and_arrives_exactly_once() {
    let s = two_states().await;
    // B will process the request and its answer will be lost, as if B died before replying.
    s.relay.cut_next_answer.store(true, Ordering::SeqCst);
    let id = send_eio(&s, &vec![1u8; 200 * 1024]).await;
    let at_a = wait_for(&s.a_officer, &id, "the retried delivery", |v| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "request" && m["transport_status"] == "DELIVERED")
    })
    .await;
    assert_eq!(
        s.relay.cuts.load(Ordering::SeqCst),
        1,
        "the answer was cut once"
    );
    let request_msg = at_a["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "request")
        .unwrap();
    assert!(
        request_msg["attempts"].as_i64().unwrap() >= 2,
        "{request_msg}"
    );
    // Exactly one request, one incoming message for it, one acknowledgement, at B.
    let list = s.b_officer.get("/api/v1/mla/requests").await;
    assert_eq!(
        list.body["requests"].as_array().unwrap().len(),
        1,
        "{list:?}"
    );
    let at_b = wait_for(&s.b_officer, &id, "B's copy", status_is("ACKNOWLEDGED")).await;
    let kinds: Vec<(&str, &str)> = at_b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("in", "request"), ("out", "transition")]);
    assert_eq!(at_b["attachments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn messages_wait_while_b_is_down_and_go_out_when_it_is_back() {
    let States {
        a,
        b,
        a_officer,
        a_judge,
        a_admin: _,
        a_authority: _,
        b_officer: _,
        b_admin: _,
        relay,
        a_ca,
        b_ca,
        b_data,
        b_port,
        _dirs,
    } = two_states().await;
    let b_db = b.database_url.clone();
    let guard: DatabaseGuard = b.stop_keeping_database().await;
    let s_like = (a_officer, a_judge);
    // A transmits while B is down: the message waits in A's queue.
    let draft = s_like
        .0
        .post(
            "/api/v1/mla/requests",
            json!({"kind": "eio", "recipient": B_CODE, "form": complete_eio()}),
        )
        .await;
    let id = draft.body["request"]["id"].as_str().unwrap().to_string();
    step(&s_like.1, &id, json!({"to": "VALIDATED"})).await;
    step(&s_like.0, &id, json!({"to": "TRANSMITTED"})).await;
    let waiting = wait_for(&s_like.0, &id, "failed attempts", |v| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "request" && m["attempts"].as_i64().unwrap() >= 2)
    })
    .await;
    let m = waiting["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "request")
        .unwrap();
    assert_eq!(m["transport_status"], "SUBMITTED");
    assert!(
        m["last_error"].as_str().unwrap().contains("cannot reach"),
        "{m}"
    );

    // B comes back on the same address with the same data.
    let b = spawn_app_with(move |s| {
        b_settings(s, &b_data, b_port, &a_ca, &b_ca);
        s.database_url = b_db;
    })
    .await;
    let (b_officer, _) = b.sign_in_as(&[Role::Officer]).await;
    let local = b.store.authority_by_code(B_CODE).await.unwrap().unwrap();
    b.store
        .set_user_authority(b_officer.user_id.as_deref().unwrap(), Some(&local.id))
        .await
        .unwrap();
    wait_for(
        &b_officer,
        &id,
        "B to receive after restart",
        status_is("ACKNOWLEDGED"),
    )
    .await;
    wait_for(
        &s_like.0,
        &id,
        "A to see the acknowledgement",
        status_is("ACKNOWLEDGED"),
    )
    .await;
    let list = b_officer.get("/api/v1/mla/requests").await;
    assert_eq!(list.body["requests"].as_array().unwrap().len(), 1);
    drop(relay);
    drop(a);
    b.stop().await;
    drop(guard);
}

/// Posts a message to B as A's server (mutual TLS with A's federation certificate).
fn as_server_a(s: &States) -> Client {
    let (cert, key) = (
        std::fs::read_to_string(s.a.data_dir.join("pki/federation-client.crt")).unwrap(),
        std::fs::read_to_string(s.a.data_dir.join("pki/federation-client.key")).unwrap(),
    );
    s.b.client_with(Some(format!("{cert}{key}").as_bytes()))
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

/// B's negative receipt: 422, sealed by B, with the code.
fn refused(r: &assize_tests::Reply, code: &str, b_ca: &Path) {
    assert_eq!(r.status, 422, "{r:?}");
    let receipt = unb64(&r.body["receipt"]);
    let seal = unb64(&r.body["seal"]);
    let anchors =
        assize_signing::verify::TrustAnchors::from_pem(&std::fs::read(b_ca).unwrap()).unwrap();
    let report = assize_signing::verify::verify_detached(
        &seal,
        &receipt,
        &anchors,
        &assize_signing::verify::VerifyOptions {
            now: time::OffsetDateTime::now_utc(),
            extra_certificates: vec![],
        },
    );
    assert!(report.is_valid(), "the negative receipt is sealed by B");
    let receipt: Value = serde_json::from_slice(&receipt).unwrap();
    assert_eq!(receipt["outcome"], "rejected");
    assert_eq!(receipt["code"], code, "{receipt}");
}

#[tokio::test]
async fn tampered_forged_replayed_and_misaddressed_messages_are_refused_with_signed_reasons() {
    let s = two_states().await;
    let id = send_eio(&s, &vec![3u8; 1000]).await;
    wait_for(
        &s.a_officer,
        &id,
        "the acknowledgement",
        status_is("ACKNOWLEDGED"),
    )
    .await;
    // The genuine message as A sent it (read from A's store).
    let sent = s.a.store.mla_messages(&id).await.unwrap();
    let original = sent.iter().find(|m| m.message_type == "request").unwrap();
    let attachments =
        s.a.store
            .mla_message_attachments(&original.id)
            .await
            .unwrap();
    assert_eq!(attachments.len(), 1);
    let plain = vec![3u8; 1000];
    let wire = |document: &[u8], seal: &[u8], content: &[u8]| {
        json!({"document": b64(document), "seal": b64(seal),
               "attachments": [{"id": attachments[0].id, "content": b64(content)}]})
    };
    let a_server = as_server_a(&s);
    let deliver = |body: Value| {
        let c = &a_server;
        async move { c.post("/api/v1/federation/mla/messages", body).await }
    };

    // A replay of the very same message: the original receipt, nothing applied twice.
    let r = deliver(wire(&original.document, &original.seal, &plain)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let receipt: Value = serde_json::from_slice(&unb64(&r.body["receipt"])).unwrap();
    assert_eq!(receipt["outcome"], "accepted");
    assert_eq!(receipt["message_id"].as_str().unwrap(), original.id,);
    assert_eq!(s.b.store.mla_messages(&id).await.unwrap().len(), 2);

    // A tampered document (one changed byte): the seal no longer matches.
    let mut doc = original.document.clone();
    let pos = doc.windows(4).position(|w| w == b"W. a").unwrap_or(10);
    doc[pos] ^= 1;
    let r = deliver(wire(&doc, &original.seal, &plain)).await;
    // Same message id, different content: a replay or a forgery.
    refused(&r, "message_id_reused", &s.b_ca);

    // A new message id with the old seal: the seal does not cover it.
    let mut env: Value = serde_json::from_slice(&original.document).unwrap();
    env["message_id"] = json!(uuid::Uuid::new_v4().to_string());
    env["request_id"] = json!(uuid::Uuid::new_v4().to_string());
    let forged = serde_json::to_vec(&env).unwrap();
    let r = deliver(wire(&forged, &original.seal, &plain)).await;
    refused(&r, "bad_seal", &s.b_ca);

    // A tampered attachment.
    let r = deliver(
        json!({"document": b64(&forged), "seal": b64(&original.seal),
                           "attachments": [{"id": attachments[0].id, "content": b64(b"other")}]}),
    )
    .await;
    assert_eq!(r.status, 422);

    // Sealed with a certificate from a CA B does not trust (a forger's own CA).
    let forger_dir = tempfile::tempdir().unwrap();
    let forger = DataDir::bootstrap(&forger_dir.path().join("d")).unwrap();
    let signer =
        assize_signing::keys::PemSigner::from_pem(&std::fs::read(&forger.signing_key).unwrap())
            .unwrap();
    let identity = assize_signing::keys::SigningIdentity::new(
        Box::new(signer),
        assize_signing::keys::CertificateDer::from_pem(
            &std::fs::read(&forger.signing_cert).unwrap(),
        )
        .unwrap(),
        vec![
            assize_signing::keys::CertificateDer::from_pem(
                &std::fs::read(&forger.ca_cert).unwrap(),
            )
            .unwrap(),
        ],
    )
    .unwrap();
    let pending =
        assize_signing::cades::sign_detached(&identity, &forged, time::OffsetDateTime::now_utc())
            .unwrap();
    let forged_seal = pending.to_baseline_b().unwrap();
    let r = deliver(wire(&forged, &forged_seal, &plain)).await;
    refused(&r, "bad_seal", &s.b_ca);

    // Addressed to an authority B does not host; claiming to be another sender.
    let mut env: Value = serde_json::from_slice(&original.document).unwrap();
    env["to"] = json!("XX-NOBODY");
    let r = deliver(wire(
        &serde_json::to_vec(&env).unwrap(),
        &original.seal,
        &plain,
    ))
    .await;
    refused(&r, "unknown_recipient", &s.b_ca);
    let mut env: Value = serde_json::from_slice(&original.document).unwrap();
    env["from"] = json!("IT-MG");
    let r = deliver(wire(
        &serde_json::to_vec(&env).unwrap(),
        &original.seal,
        &plain,
    ))
    .await;
    refused(&r, "sender_mismatch", &s.b_ca);

    // Malformed input.
    let r = deliver(json!({"document": "%%%", "seal": ""})).await;
    refused(&r, "malformed", &s.b_ca);
    let r = deliver(json!({"document": b64(b"[1,2,3]"), "seal": ""})).await;
    refused(&r, "malformed", &s.b_ca);

    // A third state's server, registered at B, pushing a step into a request between A and B.
    let (c_cert, c_key) = s.b.issue_client_identity("Server of State C");
    let r = s
        .b_admin
        .post(
            "/api/v1/authorities",
            json!({"code": "IT-MG", "name": "Ministero della Giustizia", "country": "IT",
                   "endpoint": "https://it.example", "certificate_pem": c_cert}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let as_c = s.b.client_with(Some(format!("{c_cert}{c_key}").as_bytes()));
    let step_doc = serde_json_canonicalizer::to_vec(&json!({
        "v": 1, "message_id": uuid::Uuid::new_v4().to_string(), "request_id": id,
        "kind": "eio", "reference": "JI-2026-0042", "from": "IT-MG", "to": B_CODE,
        "type": "transition", "from_status": "ACKNOWLEDGED", "to_status": "WITHDRAWN",
        "urgent": false, "form": null, "note": "withdrawn", "attachments": [],
        "created_at": time::OffsetDateTime::now_utc().unix_timestamp(),
    }))
    .unwrap();
    // Sealed with a certificate naming IT-MG, so that the seal passes and the party check speaks.
    let it_seal = issue_from_a(&s.a.data_dir, |p| {
        p.distinguished_name.push(
            rcgen::DnType::CustomDnType(assize_server::pki::ORGANIZATION_IDENTIFIER.to_vec()),
            "IT-MG",
        );
    });
    let sealed =
        Sealer::of(&s.a.data_dir, Some(it_seal)).seal(&step_doc, time::OffsetDateTime::now_utc());
    let r = as_c
        .post(
            "/api/v1/federation/mla/messages",
            json!({"document": b64(&step_doc), "seal": b64(&sealed)}),
        )
        .await;
    refused(&r, "not_a_party", &s.b_ca);

    // Nothing of a refused message is stored; every refusal is in B's audit log.
    let entries = s.b.store.mla_messages(&id).await.unwrap();
    assert_eq!(entries.len(), 2, "nothing of a refused message is stored");
    let len = s.b.store.audit_len().await.unwrap();
    let log = s.b.store.audit_entries(0, len).await.unwrap();
    let refusals = log
        .iter()
        .filter(|e| e.action == "mla.message_refused")
        .count();
    assert_eq!(refusals, 9, "one audit entry per refused message");
    // Someone who is not a registered authority cannot deliver at all.
    let r =
        s.b.client()
            .post(
                "/api/v1/federation/mla/messages",
                json!({"document": "", "seal": ""}),
            )
            .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn incomplete_requests_name_the_missing_fields_and_cannot_be_validated() {
    let s = two_states().await;
    let mut form = complete_eio();
    form["section_g"]["offences"][0]["maximum_penalty"] = Value::Null;
    let draft = s
        .a_officer
        .post(
            "/api/v1/mla/requests",
            json!({"kind": "eio", "recipient": B_CODE, "form": form}),
        )
        .await;
    assert_eq!(draft.status, 201);
    assert_eq!(
        draft.body["missing"][0]["field"],
        "section_g.offences[0].maximum_penalty"
    );
    let id = draft.body["request"]["id"].as_str().unwrap();
    let r = s
        .a_judge
        .post(
            &format!("/api/v1/mla/requests/{id}/transitions"),
            json!({"to": "VALIDATED"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "incomplete"), "{r:?}");
    assert_eq!(
        r.body["error"]["details"]["missing"][0]["field"],
        "section_g.offences[0].maximum_penalty"
    );
    // Skipping validation is illegal, and says what is legal.
    let r = s
        .a_officer
        .post(
            &format!("/api/v1/mla/requests/{id}/transitions"),
            json!({"to": "TRANSMITTED"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "illegal_transition"));
    assert_eq!(r.body["error"]["details"]["legal"], json!(["VALIDATED"]));
    // An officer cannot validate (that is the judicial authority's signature).
    let r = s
        .a_officer
        .post(
            &format!("/api/v1/mla/requests/{id}/transitions"),
            json!({"to": "VALIDATED"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{r:?}");
    // Unknown fields and unknown recipients are refused, naming the field.
    let r = s
        .a_officer
        .send(
            "PUT",
            &format!("/api/v1/mla/requests/{id}/form"),
            Some(json!({"form": {"section_z": {}}})),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_form"), "{r:?}");
    let r = s
        .a_officer
        .post(
            "/api/v1/mla/requests",
            json!({"kind": "eio", "recipient": "XX-NOBODY", "form": {}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "unknown_authority"));
    // An oversize attachment is refused and nothing is stored.
    let r = s
        .a_officer
        .http
        .post(format!(
            "{}/api/v1/mla/requests/{id}/attachments?filename=big.bin",
            s.a.url
        ))
        .header("x-csrf-token", s.a_officer.csrf.clone().unwrap_or_default())
        .body(vec![0u8; 26 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(s.a.store.mla_attachments(id).await.unwrap().is_empty());
}

/// A's keys, read from its data directory, to seal messages as A would — at any time, or with
/// another certificate.
struct Sealer {
    signing: assize_signing::keys::SigningIdentity,
    tsa: assize_signing::tsa::TimeStampAuthority,
}

fn pem_identity(cert: &[u8], key: &[u8], ca: &[u8]) -> assize_signing::keys::SigningIdentity {
    use assize_signing::keys::{CertificateDer, PemSigner, SigningIdentity};
    SigningIdentity::new(
        Box::new(PemSigner::from_pem(key).unwrap()),
        CertificateDer::from_pem(cert).unwrap(),
        vec![CertificateDer::from_pem(ca).unwrap()],
    )
    .unwrap()
}

impl Sealer {
    /// Seals with the given key, or with the seal of state A's authority (`FR-CA`) kept in `data`.
    fn of(data: &Path, signing: Option<(String, String)>) -> Sealer {
        let read = |p: &str| std::fs::read(data.join(p)).unwrap();
        let ca = read("pki/ca.crt");
        let signing = match signing {
            Some((cert, key)) => pem_identity(cert.as_bytes(), key.as_bytes(), &ca),
            None => pem_identity(
                &read(&format!("pki/authorities/{A_CODE}.crt")),
                &read(&format!("pki/authorities/{A_CODE}.key")),
                &ca,
            ),
        };
        let tsa = assize_signing::tsa::TimeStampAuthority::new(
            pem_identity(&read("pki/tsa.crt"), &read("pki/tsa.key"), &ca),
            assize_signing::tsa::TsaConfig {
                default_policy: "1.3.6.1.4.1.32473.3161.1".parse().unwrap(),
                accepted_policies: vec![],
                accuracy: None,
                include_tsa_name: true,
            },
        )
        .unwrap();
        Sealer { signing, tsa }
    }

    fn seal(&self, document: &[u8], at: time::OffsetDateTime) -> Vec<u8> {
        let pending = assize_signing::cades::sign_detached(&self.signing, document, at).unwrap();
        let mut serials = assize_signing::tsa::SerialCounter::resume(1u128 << 100);
        let token = self
            .tsa
            .stamp_imprint(
                &pending.timestamp_imprint(),
                serials.next_serial().unwrap(),
                at,
            )
            .unwrap();
        pending.attach_timestamp(&token).unwrap().into_der()
    }
}

/// A fresh request message from A to B, as canonical JSON.
fn fresh_request() -> Vec<u8> {
    let env = json!({
        "v": 1, "message_id": uuid::Uuid::new_v4().to_string(),
        "request_id": uuid::Uuid::new_v4().to_string(), "kind": "eio",
        "reference": "JI-2026-0099", "from": A_CODE, "to": B_CODE, "type": "request",
        "from_status": "VALIDATED", "to_status": "TRANSMITTED", "urgent": false,
        "form": complete_eio(), "note": null, "attachments": [],
        "created_at": time::OffsetDateTime::now_utc().unix_timestamp(),
    });
    serde_json_canonicalizer::to_vec(&env).unwrap()
}

/// Issues a certificate from A's CA for a new key: (cert PEM, key PEM).
fn issue_from_a(
    data: &Path,
    customise: impl FnOnce(&mut rcgen::CertificateParams),
) -> (String, String) {
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(data.join("pki/ca.key")).unwrap())
            .unwrap();
    let ca = rcgen::CertificateParams::from_ca_cert_pem(
        &std::fs::read_to_string(data.join("pki/ca.crt")).unwrap(),
    )
    .unwrap()
    .self_signed(&ca_key)
    .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "Seal of State A");
    // rcgen 0.13 writes no extensions at all (key usage included) unless one of a few others
    // is present: the authority key identifier is one.
    p.use_authority_key_identifier_extension = true;
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::ContentCommitment,
    ];
    customise(&mut p);
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn stale_and_future_time_stamps_and_unfit_certificates_are_refused() {
    let s = two_states_with(|b| b.mla.max_message_age_secs = 600).await;
    let a_data = s.a.data_dir.clone();
    let a_server = as_server_a(&s);
    let now = time::OffsetDateTime::now_utc();
    let deliver = |document: Vec<u8>, seal: Vec<u8>| {
        let c = &a_server;
        async move {
            c.post(
                "/api/v1/federation/mla/messages",
                json!({"document": b64(&document), "seal": b64(&seal)}),
            )
            .await
        }
    };
    let genuine = Sealer::of(&a_data, None);

    // A message sealed now by A's own keys is accepted: the baseline.
    let doc = fresh_request();
    let r = deliver(doc.clone(), genuine.seal(&doc, now)).await;
    assert_eq!(r.status, 200, "{r:?}");

    // Sealed 30 minutes ago, beyond B's 10-minute limit: stale.
    let doc = fresh_request();
    let r = deliver(
        doc.clone(),
        genuine.seal(&doc, now - time::Duration::minutes(30)),
    )
    .await;
    refused(&r, "stale_timestamp", &s.b_ca);
    // Time-stamped an hour in the future.
    let doc = fresh_request();
    let r = deliver(
        doc.clone(),
        genuine.seal(&doc, now + time::Duration::hours(1)),
    )
    .await;
    refused(&r, "future_timestamp", &s.b_ca);

    // A certificate of A's CA that expired yesterday.
    let expired = issue_from_a(&a_data, |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = now - time::Duration::days(1);
    });
    let doc = fresh_request();
    let r = deliver(
        doc.clone(),
        Sealer::of(&a_data, Some(expired)).seal(&doc, now),
    )
    .await;
    refused(&r, "bad_seal", &s.b_ca);
    assert!(
        serde_json::from_slice::<Value>(&unb64(&r.body["receipt"])).unwrap()["reason"]
            .as_str()
            .unwrap()
            .contains("not trusted"),
        "{r:?}"
    );
    // A certificate of A's CA whose key usage does not allow signatures.
    let unfit = issue_from_a(&a_data, |p| {
        p.key_usages = vec![rcgen::KeyUsagePurpose::KeyEncipherment]
    });
    let doc = fresh_request();
    let r = deliver(
        doc.clone(),
        Sealer::of(&a_data, Some(unfit)).seal(&doc, now),
    )
    .await;
    refused(&r, "bad_seal", &s.b_ca);
    assert!(
        serde_json::from_slice::<Value>(&unb64(&r.body["receipt"])).unwrap()["reason"]
            .as_str()
            .unwrap()
            .contains("key usage"),
        "{r:?}"
    );
    // Only the baseline request exists at B.
    let list = s.b_officer.get("/api/v1/mla/requests").await;
    assert_eq!(
        list.body["requests"].as_array().unwrap().len(),
        1,
        "{list:?}"
    );
}

#[tokio::test]
async fn the_receiving_authority_is_told_by_e_mail_of_arrivals_and_of_lapsed_deadlines_once() {
    use assize_tests::smtp_sink::{SinkTls, SmtpSink};
    let sink = SmtpSink::start(SinkTls::None).await;
    let port = sink.addr().port();
    let s = two_states_with(move |b| {
        b.mail.smtp_host = "127.0.0.1".into();
        b.mail.smtp_port = Some(port);
        b.mail.tls = assize_server::config::MailTls::None;
        b.mail.from = "Assize DE <assize@bfj.example>".into();
        b.mail.poll_interval_ms = 100;
        b.mla.deadline_check_secs = 1;
    })
    .await;
    let id = send_eio(&s, b"order").await;
    let got = sink
        .wait_until(Duration::from_secs(30), "the arrival notice", |m| {
            m.iter().any(|m| m.text().contains("a new EIO has arrived"))
        })
        .await;
    let arrival = got
        .iter()
        .find(|m| m.text().contains("a new EIO has arrived"))
        .unwrap();
    assert_eq!(arrival.rcpt_to, ["rechtshilfe@bfj.example"]);
    assert!(arrival.text().contains(&id));
    assert!(
        !arrival.text().contains("W."),
        "no personal data of the persons concerned"
    );

    // Thirty-one days after receipt, recognition has not been decided: the deadline lapsed.
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 31 * 24 * 3600;
    s.b.sql(&format!(
        "UPDATE mla_requests SET received_at = {past} WHERE id = '{id}'"
    ))
    .await;
    let lapsed = |m: &[assize_tests::smtp_sink::ReceivedMail]| {
        m.iter()
            .filter(|m| m.text().contains("recognition deadline has passed"))
            .count()
    };
    sink.wait_until(Duration::from_secs(30), "the lapse notice", |m| {
        lapsed(m) >= 1
    })
    .await;
    // The watcher runs every second; the notice is sent once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(lapsed(&sink.received()), 1);
    let at_b = s.b_officer.get(&format!("/api/v1/mla/requests/{id}")).await;
    let rec = at_b.body["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "recognition")
        .unwrap()
        .clone();
    assert_eq!(rec["state"], "lapsed");
}

#[tokio::test]
async fn an_authority_without_a_server_gets_the_request_as_s_mime_e_mail() {
    use assize_tests::smtp_sink::{SinkTls, SmtpSink};
    let sink = SmtpSink::start(SinkTls::None).await;
    let port = sink.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let a = spawn_app_with(move |s| {
        s.mail.smtp_host = "127.0.0.1".into();
        s.mail.smtp_port = Some(port);
        s.mail.tls = assize_server::config::MailTls::None;
        s.mail.from = "BEPPI <entraide@justice.example>".into();
        s.mail.poll_interval_ms = 100;
        s.data_dir = dir.path().join("data");
    })
    .await;
    let (admin, _) = a.sign_in_as(&[Role::Administrator]).await;
    let local = admin
        .post(
            "/api/v1/authorities",
            json!({"code": A_CODE, "name": "BEPPI", "country": "FR", "local": true}),
        )
        .await;
    let r = admin
        .post(
            "/api/v1/authorities",
            json!({"code": "IT-MG", "name": "Ministero della Giustizia", "country": "IT",
                   "email": "cooperazione@giustizia.example"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let (officer, _) = a.sign_in_as(&[Role::Officer]).await;
    let (judge, _) = a.sign_in_as(&[Role::Judge]).await;
    assign(&admin, &officer, &local.body).await;
    assign(&admin, &judge, &local.body).await;
    let mut form = complete_eio();
    form["section_a"]["executing_state"] = json!("IT");
    let draft = officer
        .post(
            "/api/v1/mla/requests",
            json!({"kind": "eio", "recipient": "IT-MG", "form": form}),
        )
        .await;
    let id = draft.body["request"]["id"].as_str().unwrap().to_string();
    upload(&officer, &id, "ordine.pdf", b"%PDF-1.4 order").await;
    step(&judge, &id, json!({"to": "VALIDATED"})).await;
    step(&officer, &id, json!({"to": "TRANSMITTED"})).await;
    let got = sink
        .wait_until(Duration::from_secs(30), "the S/MIME request", |m| {
            !m.is_empty()
        })
        .await;
    assert_eq!(got[0].rcpt_to, ["cooperazione@giustizia.example"]);
    let text = got[0].text();
    assert!(text.contains("multipart/signed"), "{text}");
    assert!(text.contains("request.json.p7s") && text.contains("ordine.pdf"));
    let work = tempfile::tempdir().unwrap();
    let eml = work.path().join("msg.eml");
    std::fs::write(&eml, &got[0].data).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["smime", "-verify", "-purpose", "any", "-in"])
        .arg(&eml)
        .arg("-CAfile")
        .arg(a.data_dir.join("pki/ca.crt"))
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at_a = wait_for(&officer, &id, "the hand-over", |v| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "request" && m["transport_status"] == "DELIVERED")
    })
    .await;
    let m = at_a["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "request")
        .unwrap();
    assert!(m["last_error"].as_str().unwrap().contains("S/MIME"), "{m}");
}

/// `openssl cms -verify` of a detached seal over `content` against `ca`; returns the signer's
/// certificate (PEM) as openssl found it.
fn openssl_signer(content: &[u8], seal: &[u8], ca: &Path, work: &Path) -> String {
    let (c, s, signer) = (
        work.join("content"),
        work.join("seal.p7s"),
        work.join("signer.pem"),
    );
    std::fs::write(&c, content).unwrap();
    std::fs::write(&s, seal).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .arg("-in")
        .arg(&s)
        .arg("-content")
        .arg(&c)
        .arg("-CAfile")
        .arg(ca)
        .arg("-signer")
        .arg(&signer)
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl cms -verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&signer).unwrap()
}

/// The subject of a PEM certificate, as `openssl x509` prints it (UTF-8, one line).
fn openssl_subject(pem: &str, work: &Path) -> String {
    let file = work.join("cert.pem");
    std::fs::write(&file, pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "utf8,sep_comma_plus",
        ])
        .arg("-in")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The DER of the first certificate in a PEM text.
fn der_of(pem: &str) -> Vec<u8> {
    assize_signing::keys::CertificateDer::from_pem(pem.as_bytes())
        .unwrap()
        .as_der()
        .to_vec()
}

/// Posts to A as B's server (mutual TLS with B's federation certificate).
fn as_server_b(s: &States) -> Client {
    let (cert, key) = (
        std::fs::read_to_string(s.b_data.join("pki/federation-client.crt")).unwrap(),
        std::fs::read_to_string(s.b_data.join("pki/federation-client.key")).unwrap(),
    );
    s.a.client_with(Some(format!("{cert}{key}").as_bytes()))
}

#[tokio::test]
async fn each_authority_seals_with_its_own_key_and_a_seal_of_another_authority_is_refused() {
    let s = two_states().await;
    let work = tempfile::tempdir().unwrap();
    let id = send_eio(&s, &vec![5u8; 2000]).await;
    wait_for(
        &s.a_officer,
        &id,
        "the acknowledgement",
        status_is("ACKNOWLEDGED"),
    )
    .await;
    let fr_seal =
        std::fs::read_to_string(s.a.data_dir.join(format!("pki/authorities/{A_CODE}.crt")))
            .unwrap();
    let de_seal =
        std::fs::read_to_string(s.b_data.join(format!("pki/authorities/{B_CODE}.crt"))).unwrap();

    // The request as A sent it: openssl finds FR-CA's own seal certificate as the signer, its
    // subject naming the authority — not the server's signing certificate.
    let at_a = s.a.store.mla_messages(&id).await.unwrap();
    let request = at_a.iter().find(|m| m.message_type == "request").unwrap();
    let signer = openssl_signer(&request.document, &request.seal, &s.a_ca, work.path());
    assert_eq!(der_of(&signer), der_of(&fr_seal));
    let subject = openssl_subject(&signer, work.path());
    assert!(
        subject.contains("organizationIdentifier=FR-CA"),
        "{subject}"
    );
    assert!(
        subject.contains("CN=Bureau de l'entraide pénale internationale"),
        "{subject}"
    );
    assert_ne!(
        der_of(&signer),
        der_of(&std::fs::read_to_string(s.a.data_dir.join("pki/signing.crt")).unwrap()),
        "not the server's own key"
    );
    // B's receipt for it and B's Annex B are sealed by DE-BfJ's own seal.
    let receipt = request.receipt.as_ref().unwrap();
    let signer = openssl_signer(
        receipt,
        request.receipt_seal.as_ref().unwrap(),
        &s.b_ca,
        work.path(),
    );
    assert_eq!(der_of(&signer), der_of(&de_seal));
    assert!(openssl_subject(&signer, work.path()).contains("organizationIdentifier=DE-BfJ"));
    let ack = at_a.iter().find(|m| m.to_status == "ACKNOWLEDGED").unwrap();
    let signer = openssl_signer(&ack.document, &ack.seal, &s.b_ca, work.path());
    assert_eq!(der_of(&signer), der_of(&de_seal));

    // B hosts a second authority, with a seal of its own.
    let r = s
        .b_admin
        .post(
            "/api/v1/authorities",
            json!({"code": "DE-GBA", "name": "Generalbundesanwalt", "country": "DE", "local": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let gba = (
        std::fs::read_to_string(s.b_data.join("pki/authorities/DE-GBA.crt")).unwrap(),
        std::fs::read_to_string(s.b_data.join("pki/authorities/DE-GBA.key")).unwrap(),
    );
    assert!(openssl_subject(&gba.0, work.path()).contains("organizationIdentifier=DE-GBA"));

    // A step in the name of DE-BfJ, over B's own connection, sealed by DE-GBA: refused by A,
    // in a negative receipt sealed by FR-CA that says whose seal it was.
    let step_doc = |to_status: &str| {
        serde_json_canonicalizer::to_vec(&json!({
            "v": 1, "message_id": uuid::Uuid::new_v4().to_string(), "request_id": id,
            "kind": "eio", "reference": "JI-2026-0042", "from": B_CODE, "to": A_CODE,
            "type": "transition", "from_status": "ACKNOWLEDGED", "to_status": to_status,
            "urgent": false, "form": null, "note": "recognised", "attachments": [],
            "created_at": time::OffsetDateTime::now_utc().unix_timestamp(),
        }))
        .unwrap()
    };
    let b_server = as_server_b(&s);
    let now = time::OffsetDateTime::now_utc();
    let doc = step_doc("RECOGNISED");
    let seal = Sealer::of(&s.b_data, Some(gba)).seal(&doc, now);
    let r = b_server
        .post(
            "/api/v1/federation/mla/messages",
            json!({"document": b64(&doc), "seal": b64(&seal)}),
        )
        .await;
    refused(&r, "wrong_authority", &s.a_ca);
    let receipt: Value = serde_json::from_slice(&unb64(&r.body["receipt"])).unwrap();
    let reason = receipt["reason"].as_str().unwrap();
    assert!(
        reason.contains("Generalbundesanwalt") && reason.contains("does not name DE-BfJ"),
        "{reason}"
    );
    assert_eq!(receipt["by"], A_CODE);
    let signer = openssl_signer(
        &unb64(&r.body["receipt"]),
        &unb64(&r.body["seal"]),
        &s.a_ca,
        work.path(),
    );
    assert_eq!(
        der_of(&signer),
        der_of(&fr_seal),
        "the refusal is sealed by FR-CA"
    );

    // Sealed by B's server key (a certificate of the right server, not of the authority).
    let doc = step_doc("RECOGNISED");
    let server_key = (
        std::fs::read_to_string(s.b_data.join("pki/signing.crt")).unwrap(),
        std::fs::read_to_string(s.b_data.join("pki/signing.key")).unwrap(),
    );
    let seal = Sealer::of(&s.b_data, Some(server_key)).seal(&doc, now);
    let r = b_server
        .post(
            "/api/v1/federation/mla/messages",
            json!({"document": b64(&doc), "seal": b64(&seal)}),
        )
        .await;
    refused(&r, "wrong_authority", &s.a_ca);

    // Nothing of either was applied: A still has the request ACKNOWLEDGED, as B does.
    let r = s.a_officer.get(&format!("/api/v1/mla/requests/{id}")).await;
    assert_eq!(r.body["request"]["status"], "ACKNOWLEDGED");
    assert_eq!(s.a.store.mla_messages(&id).await.unwrap().len(), at_a.len());

    // The genuine step, sealed by DE-BfJ through B's API, arrives and is applied.
    step(&s.b_officer, &id, json!({"to": "RECOGNISED"})).await;
    wait_for(
        &s.a_officer,
        &id,
        "the recognition",
        status_is("RECOGNISED"),
    )
    .await;
}

#[tokio::test]
async fn a_pinned_seal_certificate_is_the_only_one_accepted_for_that_authority() {
    let s = two_states().await;
    let work = tempfile::tempdir().unwrap();
    // B registers a third state's authority with its server's client certificate and the one
    // certificate it seals with (both issued by A's CA, which B trusts).
    let (c_cert, c_key) = s.b.issue_client_identity("Server of State C");
    let named = |cn: &'static str| {
        move |p: &mut rcgen::CertificateParams| {
            p.distinguished_name.push(rcgen::DnType::CommonName, cn);
            p.distinguished_name.push(
                rcgen::DnType::CustomDnType(assize_server::pki::ORGANIZATION_IDENTIFIER.to_vec()),
                "IT-MG",
            );
        }
    };
    let pinned = issue_from_a(&s.a.data_dir, named("Ministero della Giustizia"));
    let other = issue_from_a(&s.a.data_dir, named("Another key naming IT-MG"));
    let r = s
        .b_admin
        .post(
            "/api/v1/authorities",
            json!({"code": "IT-MG", "name": "Ministero della Giustizia", "country": "IT",
                   "endpoint": "https://it.example", "certificate_pem": c_cert,
                   "seal_certificate_pem": pinned.0}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.body["authority"]["seal_cert_sha256"].as_str().unwrap(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(der_of(&pinned.0)))
    );
    let as_c = s.b.client_with(Some(format!("{c_cert}{c_key}").as_bytes()));
    let request = |from: &str| {
        let mut env: Value = serde_json::from_slice(&fresh_request()).unwrap();
        env["from"] = json!(from);
        serde_json_canonicalizer::to_vec(&env).unwrap()
    };
    let now = time::OffsetDateTime::now_utc();

    // Another certificate that names IT-MG and chains to a trusted CA: not the pinned one.
    let doc = request("IT-MG");
    let seal = Sealer::of(&s.a.data_dir, Some(other)).seal(&doc, now);
    let r = as_c
        .post(
            "/api/v1/federation/mla/messages",
            json!({"document": b64(&doc), "seal": b64(&seal)}),
        )
        .await;
    refused(&r, "wrong_authority", &s.b_ca);
    let receipt: Value = serde_json::from_slice(&unb64(&r.body["receipt"])).unwrap();
    assert!(
        receipt["reason"]
            .as_str()
            .unwrap()
            .contains("not by the seal certificate the directory lists for IT-MG"),
        "{receipt}"
    );

    // The pinned certificate: accepted, and B's receipt is sealed by DE-BfJ.
    let doc = request("IT-MG");
    let seal = Sealer::of(&s.a.data_dir, Some(pinned)).seal(&doc, now);
    let r = as_c
        .post(
            "/api/v1/federation/mla/messages",
            json!({"document": b64(&doc), "seal": b64(&seal)}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let signer = openssl_signer(
        &unb64(&r.body["receipt"]),
        &unb64(&r.body["seal"]),
        &s.b_ca,
        work.path(),
    );
    let de_seal =
        std::fs::read_to_string(s.b_data.join(format!("pki/authorities/{B_CODE}.crt"))).unwrap();
    assert_eq!(der_of(&signer), der_of(&de_seal));
}

#[tokio::test]
async fn an_authority_seal_from_the_settings_is_the_one_used() {
    // B's authority seals with a key named in [[signing.authorities]] (issued by B's CA, which
    // A trusts), not with a development seal.
    let seal_dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (
        seal_dir.path().join("bfj.crt"),
        seal_dir.path().join("bfj.key"),
    );
    let s = two_states_with({
        let (cert_file, key_file) = (cert_file.clone(), key_file.clone());
        move |b| {
            let ca_key = rcgen::KeyPair::from_pem(
                &std::fs::read_to_string(b.data_dir.join("pki/ca.key")).unwrap(),
            )
            .unwrap();
            let ca = rcgen::CertificateParams::from_ca_cert_pem(
                &std::fs::read_to_string(b.data_dir.join("pki/ca.crt")).unwrap(),
            )
            .unwrap()
            .self_signed(&ca_key)
            .unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(
                rcgen::DnType::CommonName,
                "Bundesamt für Justiz (configured)",
            );
            p.distinguished_name.push(
                rcgen::DnType::CustomDnType(assize_server::pki::ORGANIZATION_IDENTIFIER.to_vec()),
                B_CODE,
            );
            p.use_authority_key_identifier_extension = true;
            p.key_usages = vec![
                rcgen::KeyUsagePurpose::DigitalSignature,
                rcgen::KeyUsagePurpose::ContentCommitment,
            ];
            let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
            std::fs::write(&cert_file, cert.pem()).unwrap();
            std::fs::write(&key_file, key.serialize_pem()).unwrap();
            std::fs::set_permissions(
                &key_file,
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
            b.signing.authorities = vec![assize_server::config::AuthoritySigning {
                code: B_CODE.into(),
                key_file: key_file.to_string_lossy().into(),
                certificate_file: cert_file.to_string_lossy().into(),
                ..Default::default()
            }];
        }
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let id = send_eio(&s, &vec![9u8; 500]).await;
    wait_for(
        &s.a_officer,
        &id,
        "the acknowledgement",
        status_is("ACKNOWLEDGED"),
    )
    .await;
    let at_a = s.a.store.mla_messages(&id).await.unwrap();
    let ack = at_a.iter().find(|m| m.to_status == "ACKNOWLEDGED").unwrap();
    let signer = openssl_signer(&ack.document, &ack.seal, &s.b_ca, work.path());
    assert_eq!(
        der_of(&signer),
        der_of(&std::fs::read_to_string(&cert_file).unwrap()),
        "the Annex B is sealed with the configured key"
    );
    assert!(
        !s.b_data
            .join(format!("pki/authorities/{B_CODE}.key"))
            .exists(),
        "no development seal was issued for a configured authority"
    );
}
