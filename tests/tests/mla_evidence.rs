//! A hearing's record returned as evidence in an MLA request, between two real servers: state A
//! (FR) issues an EIO for the hearing of a witness; state B (DE) holds and records the hearing,
//! closes it, and its officer returns the sealed record (`POST …/evidence`), which moves the
//! request to EVIDENCE_TRANSMITTED on both sides. A verifies the package on arrival as
//! `assize verify` does and records the result; the same package verifies offline; one changed
//! byte in it is refused by A with a negative receipt naming the file. Who may return a record
//! (an officer of the executing authority, at a browser) and which hearing (a closed one booked
//! under the request's reference) is checked on the way.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use assize_server::policy::Role;
use assize_tests::Client;
use assize_tests::mla::{send_eio, status_is, step, two_states_with, wait_for};
use assize_tests::record::{assize_verify, ordered_entries, recorded_and_closed, rewrite_entry};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The EIO's file reference (`complete_eio`): B books the hearing under it.
const REFERENCE: &str = "JI-2026-0042";
const ASICE: &str = "application/vnd.etsi.asic-e+zip";

async fn download(client: &Client, id: &str, attachment: &str) -> Vec<u8> {
    let r = client
        .http
        .get(format!(
            "{}/api/v1/mla/requests/{id}/attachments/{attachment}",
            client.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

async fn upload_package(client: &Client, id: &str, name: &str, package: &[u8]) {
    let r = client
        .http
        .post(format!(
            "{}/api/v1/mla/requests/{id}/attachments?filename={name}",
            client.base
        ))
        .header("content-type", ASICE)
        .header("x-csrf-token", client.csrf.clone().unwrap_or_default())
        .body(package.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

fn actions(entries: &[assize_server::store::AuditRow]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

fn attachments(view: &Value) -> Vec<Value> {
    view["attachments"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_closed_hearing_s_record_is_returned_as_evidence_and_verified_by_the_issuing_side() {
    let s = two_states_with(|b| b.recording.segment_secs = 1).await;
    let id = send_eio(&s, b"%PDF-1.7 commission rogatoire").await;
    wait_for(&s.b_officer, &id, "the EIO at B", status_is("ACKNOWLEDGED")).await;
    let (b_judge, _) = s.b.sign_in_as(&[Role::Judge]).await;
    let (b_clerk, _) = s.b.sign_in_as(&[Role::Clerk]).await;

    // B's court hears W. under the EIO's reference, records the hearing and closes it.
    let (hearing, recording) =
        recorded_and_closed(&b_judge, REFERENCE, "Amtsgericht Tiergarten").await;
    let path = format!("/api/v1/mla/requests/{id}/evidence");
    let body = json!({"hearing_id": hearing, "note": "The record of the hearing of W."});

    // Not in execution yet: the workflow refuses, with the legal moves; nothing is exported.
    step(&s.b_officer, &id, json!({"to": "RECOGNISED"})).await;
    let r = s.b_officer.post(&path, body.clone()).await;
    assert_eq!((r.status, r.code()), (409, "illegal_transition"), "{r:?}");
    assert!(r.body["error"]["details"]["legal"].is_array(), "{r:?}");
    step(&s.b_officer, &id, json!({"to": "IN_EXECUTION"})).await;

    // The court's judge and clerk may export the record but not transmit it; an officer's API
    // token may not either; the issuing authority's officer does not see the move at all.
    let r = b_judge
        .get(&format!("/api/v1/hearings/{hearing}/recording/export"))
        .await;
    assert_eq!(r.status, 200, "the judge exports the record");
    for staff in [&b_judge, &b_clerk] {
        let r = staff.post(&path, body.clone()).await;
        assert_eq!((r.status, r.code()), (403, "forbidden"), "{r:?}");
    }
    let token = s.b.token_client(&[Role::Officer]).await;
    let r = token.post(&path, body.clone()).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = s.a_officer.post(&path, body.clone()).await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{r:?}");

    // Only a closed hearing booked under this request's reference.
    let (unrelated, _) =
        recorded_and_closed(&b_judge, "AG-2026-77", "Amtsgericht Tiergarten").await;
    // The officer's view of the request lists the hearings it may return, and nothing else.
    let v = s.b_officer.get(&format!("/api/v1/mla/requests/{id}")).await;
    let listed: Vec<&str> = v.body["hearings"]
        .as_array()
        .expect("hearings")
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert_eq!(listed, [hearing.as_str()], "{}", v.body["hearings"]);
    assert_eq!(v.body["hearings"][0]["state"], "closed");
    assert_eq!(v.body["hearing_references"][0], REFERENCE);
    let v = s.a_officer.get(&format!("/api/v1/mla/requests/{id}")).await;
    assert_eq!(
        v.body["hearings"],
        json!([]),
        "the issuing side lists no hearing"
    );
    for hearing_id in [unrelated.as_str(), "no-such-hearing"] {
        let r = s
            .b_officer
            .post(&path, json!({ "hearing_id": hearing_id }))
            .await;
        assert_eq!((r.status, r.code()), (422, "hearing_not_linked"), "{r:?}");
    }
    let open = b_judge
        .post(
            "/api/v1/hearings",
            json!({"case_reference": REFERENCE, "court": "Amtsgericht Tiergarten",
                   "title": "Second hearing of W.", "scheduled_at": 1_900_000_000}),
        )
        .await;
    let open = open.body["id"].as_str().unwrap().to_string();
    let r = b_judge
        .post(&format!("/api/v1/hearings/{open}/open"), json!({}))
        .await;
    assert!(r.status < 300, "{r:?}");
    let r = s.b_officer.post(&path, json!({ "hearing_id": open })).await;
    assert_eq!((r.status, r.code()), (409, "hearing_not_closed"), "{r:?}");
    // None of these stored or sent anything.
    let at_b = s.b_officer.get(&format!("/api/v1/mla/requests/{id}")).await;
    assert_eq!(at_b.body["request"]["status"], "IN_EXECUTION");
    assert_eq!(attachments(&at_b.body).len(), 1, "only the order");

    // B's officer returns the record: attached and sent with the move, in one step.
    let r = s.b_officer.post(&path, body.clone()).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["request"]["status"], "EVIDENCE_TRANSMITTED");
    let attachment = r.body["attachment"].clone();
    let attachment_id = attachment["id"].as_str().unwrap().to_string();
    let sha256 = attachment["sha256"].as_str().unwrap().to_string();
    assert_eq!(attachment["media_type"], ASICE);
    assert_eq!(
        attachment["filename"],
        format!("hearing-record-{hearing}.asice")
    );
    assert_eq!(attachment["message_id"], r.body["message"]["id"]);
    let r = s.b_officer.post(&path, body.clone()).await;
    assert_eq!((r.status, r.code()), (409, "already_transmitted"), "{r:?}");

    // A receives it through the federation path, verifies it and records the result.
    let at_a = wait_for(
        &s.a_officer,
        &id,
        "the record at A",
        status_is("EVIDENCE_TRANSMITTED"),
    )
    .await;
    let checks = at_a["evidence_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{at_a:#}");
    assert_eq!(checks[0]["attachment_id"], attachment_id.as_str());
    assert_eq!(checks[0]["outcome"], "verified");
    let checked: Vec<&str> = checks[0]["report"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["file"].as_str().unwrap())
        .collect();
    assert!(checked.contains(&"minutes/manifest.json"), "{checked:?}");
    assert!(
        checked
            .iter()
            .any(|f| f.starts_with(&format!("recordings/{recording}/seg-"))),
        "{checked:?}"
    );
    let at_b = wait_for(&s.b_officer, &id, "the receipt at B", |v| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["transport_status"] != "SUBMITTED")
    })
    .await;
    assert_eq!(at_b["request"]["status"], "EVIDENCE_TRANSMITTED");

    // The package A holds is B's, byte for byte, and verifies offline with B's CA.
    let package = download(&s.a_officer, &id, &attachment_id).await;
    assert_eq!(hex::encode(Sha256::digest(&package)), sha256);
    assert_eq!(
        package,
        download(&s.b_officer, &id, &attachment_id).await,
        "the same bytes on both sides"
    );
    let work = tempfile::tempdir().unwrap();
    let (ok, text) = assize_verify(&package, &[&s.b_ca], work.path());
    assert!(ok, "{text}");
    assert!(text.contains("minutes/manifest.json"), "{text}");

    // On the record on both sides.
    let object = format!("mla_request:{id}");
    let a_audit = s.a.store.audit_entries_about(&object).await.unwrap();
    assert!(
        actions(&a_audit).contains(&"mla.evidence_verified"),
        "{:?}",
        actions(&a_audit)
    );
    let b_audit = s.b.store.audit_entries_about(&object).await.unwrap();
    assert!(
        actions(&b_audit).contains(&"mla.hearing_record_transmit"),
        "{:?}",
        actions(&b_audit)
    );
    let hearing_audit =
        s.b.store
            .audit_entries_about(&format!("hearing:{hearing}"))
            .await
            .unwrap();
    assert!(
        hearing_audit
            .iter()
            .any(|e| e.action == "recording.export" && e.body.contains(&id)),
        "the export for the request is on the hearing's record"
    );

    // One changed byte in a segment, the container rebuilt: `assize verify` names the file...
    let segment = ordered_entries(&package)
        .into_iter()
        .map(|(name, _)| name)
        .find(|n| n.starts_with(&format!("recordings/{recording}/seg-")))
        .unwrap();
    let tampered = rewrite_entry(&package, &segment);
    let (ok, text) = assize_verify(&tampered, &[&s.b_ca], work.path());
    assert!(!ok, "{text}");
    assert!(text.contains(&format!("FAILED  {segment}")), "{text}");
    // ...and A refuses it as evidence with a negative receipt that names it.
    upload_package(
        &s.b_officer,
        &id,
        "hearing-record-corrected.asice",
        &tampered,
    )
    .await;
    step(
        &s.b_officer,
        &id,
        json!({"to": "EVIDENCE_TRANSMITTED", "note": "A corrected record."}),
    )
    .await;
    let at_b = wait_for(&s.b_officer, &id, "A's refusal at B", |v| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["transport_status"] == "FAILED")
    })
    .await;
    let failed = at_b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["transport_status"] == "FAILED")
        .unwrap();
    let reason = failed["last_error"].as_str().unwrap();
    assert!(reason.starts_with("evidence_invalid"), "{reason}");
    assert!(reason.contains(&segment), "{reason}");
    // Nothing of the refused message is stored at A.
    let at_a = s.a_officer.get(&format!("/api/v1/mla/requests/{id}")).await;
    assert_eq!(at_a.body["evidence_checks"].as_array().unwrap().len(), 1);
    let tampered_sha = hex::encode(Sha256::digest(&tampered));
    assert!(
        attachments(&at_a.body)
            .iter()
            .all(|a| a["sha256"] != tampered_sha.as_str())
    );
    let a_audit =
        s.a.store
            .audit_entries_about(&format!("mla_message:{}", failed["id"].as_str().unwrap()))
            .await
            .unwrap();
    assert!(
        actions(&a_audit).contains(&"mla.message_refused"),
        "{:?}",
        actions(&a_audit)
    );
}
