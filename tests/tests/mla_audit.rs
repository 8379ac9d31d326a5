//! A request's audit trail (`GET /api/v1/mla/requests/{id}/audit`) over two real servers:
//! each state reads what its own log recorded about its copy of the request, can check any of
//! those entries against the log's Merkle tree, and nobody else reads either.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use assize_server::policy::Role;
use assize_tests::Client;
use assize_tests::mla::{assign, send_eio, status_is, two_states, wait_for};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Polls the trail until it holds every action of `wanted` (deliveries run in the background).
async fn trail_with(client: &Client, id: &str, wanted: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let r = client
            .get(&format!("/api/v1/mla/requests/{id}/audit"))
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        let have = actions(&r.body);
        if wanted.iter().all(|w| have.contains(&(*w).to_string())) {
            return r.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {wanted:?}; the trail has {have:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn actions(trail: &Value) -> Vec<String> {
    trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

fn node(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().to_vec()
}

/// RFC 9162 §2.1.3.2, written here independently of the server's Merkle code: the root that the
/// inclusion proof of leaf `index` in a tree of `size` leaves leads to.
fn root_from_inclusion_proof(index: u64, size: u64, leaf: &[u8], proof: &[Vec<u8>]) -> Vec<u8> {
    assert!(index < size);
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = leaf.to_vec();
    for p in proof {
        assert!(snode > 0, "the proof is longer than the path");
        if fnode & 1 == 1 || fnode == snode {
            r = node(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    assert_eq!(snode, 0, "the proof is shorter than the path");
    r
}

#[tokio::test]
async fn each_state_reads_and_proves_its_own_audit_trail_of_a_request_and_nobody_else_reads_it() {
    let s = two_states().await;
    let id = send_eio(&s, b"%PDF-1.7 the order").await;
    // B receives it and acknowledges it at once; A learns of the acknowledgement.
    wait_for(&s.b_officer, &id, "B to receive", status_is("ACKNOWLEDGED")).await;
    wait_for(
        &s.a_officer,
        &id,
        "A to hear back",
        status_is("ACKNOWLEDGED"),
    )
    .await;

    // A's officer: drafting, the attachment, the judge's validation, the sending, B's signed
    // receipt and B's acknowledgement arriving, oldest first, with who did each.
    let a_trail = trail_with(
        &s.a_officer,
        &id,
        &["mla.message_delivered", "mla.message_received"],
    )
    .await;
    assert_eq!(a_trail["request_id"], id.as_str());
    assert_eq!(a_trail["limit"], 1000);
    assert_eq!(a_trail["truncated"], false);
    let a_actions = actions(&a_trail);
    // The receipt and B's acknowledgement are recorded by different tasks: either may be first.
    let mut last_two = a_actions[4..].to_vec();
    last_two.sort();
    assert_eq!(
        (&a_actions[..4], last_two.as_slice()),
        (
            &[
                "mla.draft",
                "mla.attachment_add",
                "mla.transition",
                "mla.transition"
            ]
            .map(String::from)[..],
            &["mla.message_delivered", "mla.message_received"].map(String::from)[..],
        ),
        "{a_trail:#}"
    );
    let entries = a_trail["entries"].as_array().unwrap();
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {seqs:?}"
    );
    let judge = format!("user:{}", s.a_judge.user_id.clone().unwrap());
    let officer = format!("user:{}", s.a_officer.user_id.clone().unwrap());
    assert_eq!(entries[0]["actor"], officer.as_str());
    assert_eq!(entries[2]["actor"], judge.as_str());
    assert_eq!(entries[2]["details"]["from"], "DRAFT");
    assert_eq!(entries[2]["details"]["to"], "VALIDATED");
    assert_eq!(entries[3]["actor"], officer.as_str());
    assert_eq!(entries[3]["details"]["to"], "TRANSMITTED");
    assert_eq!(entries[4]["actor"], "system");
    assert!(
        entries[5]["actor"]
            .as_str()
            .unwrap()
            .starts_with("authority:")
    );
    assert_eq!(entries[5]["details"]["to"], "ACKNOWLEDGED");
    // The details are identifiers, hashes and statuses: none of the persons the form names.
    let text = a_trail.to_string();
    for person in ["W.", "Dupont", "the witness", "transfers"] {
        assert!(!text.contains(person), "{person} in the trail: {text}");
    }

    // B's officer reads B's copy: its own log, in which the request arrived, was acknowledged
    // by B's server and opened by the officer; nothing of A's drafting.
    // B's server then sent its acknowledgement to A (delivered, before or after the officer's
    // first look).
    let b_trail = trail_with(
        &s.b_officer,
        &id,
        &["mla.retrieve", "mla.message_delivered"],
    )
    .await;
    let b_actions = actions(&b_trail);
    let mut later = b_actions[2..].to_vec();
    later.sort();
    assert_eq!(
        (&b_actions[..2], later.as_slice()),
        (
            &["mla.message_received", "mla.acknowledge"].map(String::from)[..],
            &["mla.message_delivered", "mla.retrieve"].map(String::from)[..],
        ),
        "{b_trail:#}"
    );
    assert!(!b_actions.contains(&"mla.draft".to_string()));
    let b_entries = b_trail["entries"].as_array().unwrap();
    assert_eq!(b_entries[0]["details"]["to"], "TRANSMITTED");
    let retrieve = b_entries
        .iter()
        .find(|e| e["action"] == "mla.retrieve")
        .unwrap();
    assert_eq!(
        retrieve["actor"],
        format!("user:{}", s.b_officer.user_id.clone().unwrap()).as_str()
    );

    // The sending, proved: its body hashes to its leaf, and the proof leads from the leaf to the
    // root of the tree, the same root the administrators' audit endpoint gives for that size.
    let sent = &entries[3];
    let seq = sent["seq"].as_u64().unwrap();
    let r = s
        .a_officer
        .get(&format!("/api/v1/mla/requests/{id}/audit?seq={seq}"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.body["body"].as_str().unwrap();
    let logged: Value = serde_json::from_str(body).unwrap();
    assert_eq!(logged["action"], "mla.transition");
    assert_eq!(logged["object"], format!("mla_request:{id}").as_str());
    assert_eq!(logged["details"], sent["details"]);
    let leaf = {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(body.as_bytes());
        h.finalize().to_vec()
    };
    assert_eq!(r.body["leaf_hash"], hex::encode(&leaf).as_str());
    let proof: Vec<Vec<u8>> = r.body["inclusion_proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
        .collect();
    let size = r.body["tree_size"].as_u64().unwrap();
    let root = root_from_inclusion_proof(seq, size, &leaf, &proof);
    assert_eq!(r.body["root_hash"], hex::encode(&root).as_str());
    let admin = s
        .a_admin
        .get(&format!("/api/v1/audit/entries/{seq}?tree_size={size}"))
        .await;
    assert_eq!(admin.status, 200, "{admin:?}");
    assert_eq!(admin.body["root_hash"], r.body["root_hash"]);
    assert_eq!(admin.body["body"], body);
    // A leaf the proof does not belong to leads elsewhere.
    let other = root_from_inclusion_proof(seq, size, &node(b"x", b"y"), &proof);
    assert_ne!(hex::encode(other), r.body["root_hash"].as_str().unwrap());

    // Only this request's entries are proved through it: another entry of A's log (the first,
    // from setting A up) is "not found", and so is A's entry asked of B.
    let r = s
        .a_officer
        .get(&format!("/api/v1/mla/requests/{id}/audit?seq=0"))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    let b_seqs: Vec<u64> = b_entries
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let foreign = seqs
        .iter()
        .map(|s| u64::try_from(*s).unwrap())
        .find(|s| !b_seqs.contains(s))
        .unwrap();
    let r = s
        .b_officer
        .get(&format!("/api/v1/mla/requests/{id}/audit?seq={foreign}"))
        .await;
    assert_eq!(r.status, 404, "{r:?}");

    // An officer of another authority hosted on A: the request does not exist for them.
    let other = s
        .a_admin
        .post(
            "/api/v1/authorities",
            json!({"code": "FR-PNF", "name": "Parquet national financier", "country": "FR",
                   "local": true, "email": "pnf@justice.example"}),
        )
        .await;
    assert_eq!(other.status, 201, "{other:?}");
    let (stranger, _) = s.a.sign_in_as(&[Role::Officer]).await;
    assign(&s.a_admin, &stranger, &other.body).await;
    for path in [
        format!("/api/v1/mla/requests/{id}/audit"),
        format!("/api/v1/mla/requests/{id}/audit?seq={seq}"),
    ] {
        let r = stranger.get(&path).await;
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(r.body.get("entries").is_none() && r.body.get("body").is_none());
    }
    // An officer acting for no authority, and a clerk: refused.
    let (unassigned, _) = s.a.sign_in_as(&[Role::Officer]).await;
    let r = unassigned
        .get(&format!("/api/v1/mla/requests/{id}/audit"))
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.code(), "no_authority");
    let (clerk, _) = s.a.sign_in_as(&[Role::Clerk]).await;
    let r = clerk.get(&format!("/api/v1/mla/requests/{id}/audit")).await;
    assert_eq!(r.status, 403, "{r:?}");
}
