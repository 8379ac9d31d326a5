//! The tamper-evident audit log, attacked as someone with the database would.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use assize_server::audit::export;
use assize_server::policy::Role;
use assize_signing::merkle::{NodeHash, TreeHead, leaf_hash, verify_consistency, verify_inclusion};
use assize_tests::{TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};

fn hash(hex_str: &str) -> NodeHash {
    NodeHash::from_slice(&hex::decode(hex_str).unwrap()).unwrap()
}

fn proof(v: &Value) -> Vec<NodeHash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect()
}

async fn export_of(app: &TestApp) -> Vec<u8> {
    let anchors = std::fs::read_to_string(app.data_dir.join("pki/ca.crt")).unwrap();
    let mut out = Vec::new();
    let head = app.client().get("/healthz").await;
    assert_eq!(head.status, 200);
    export::export(&app.store, "assize/test", &anchors, &mut out)
        .await
        .unwrap();
    out
}

/// An export whose origin matches the checkpoints' (the server's public URL).
async fn export_now(app: &TestApp, admin: &assize_tests::Client) -> Vec<u8> {
    let cp = admin.get("/api/v1/audit/checkpoint").await;
    assert_eq!(cp.status, 200, "{cp:?}");
    let origin = cp.body["origin"].as_str().unwrap().to_string();
    let anchors = std::fs::read_to_string(app.data_dir.join("pki/ca.crt")).unwrap();
    let mut out = Vec::new();
    export::export(&app.store, &origin, &anchors, &mut out)
        .await
        .unwrap();
    out
}

fn verify(bytes: &[u8]) -> export::VerifyReport {
    export::verify(std::io::Cursor::new(bytes), None).unwrap()
}

#[tokio::test]
async fn actions_are_logged_with_inclusion_proofs_under_a_signed_checkpoint() {
    let app = spawn_app().await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let r = admin
        .post(
            "/api/v1/users",
            json!({"username": "j.roux", "display_name": "Judge Roux", "roles": ["judge"]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let cp = admin.get("/api/v1/audit/checkpoint").await;
    assert_eq!(cp.status, 200, "{cp:?}");
    let size = cp.body["checkpoint"]["tree_size"].as_u64().unwrap();
    let root = hash(cp.body["checkpoint"]["root_hash"].as_str().unwrap());
    let head = TreeHead::new(size, root);

    let mut actions = Vec::new();
    for seq in 0..size {
        let e = admin
            .get(&format!("/api/v1/audit/entries/{seq}?tree_size={size}"))
            .await;
        assert_eq!(e.status, 200, "{e:?}");
        let body = e.body["body"].as_str().unwrap();
        let entry: Value = serde_json::from_str(body).unwrap();
        assert_eq!(entry["seq"], seq);
        actions.push(entry["action"].as_str().unwrap().to_string());
        verify_inclusion(
            &leaf_hash(body.as_bytes()),
            seq,
            &proof(&e.body["inclusion_proof"]),
            &head,
        )
        .unwrap();
    }
    for expected in [
        "server.start",
        "auth.sign_in",
        "auth.totp_enrolled",
        "user.create",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    // Reading the log is itself logged.
    let later = admin.get("/api/v1/audit/checkpoint").await.body["checkpoint"]["tree_size"]
        .as_u64()
        .unwrap();
    let last = admin
        .get(&format!("/api/v1/audit/entries/{}", later - 1))
        .await;
    assert!(
        last.body["body"]
            .as_str()
            .unwrap()
            .contains("\"action\":\"audit.read\""),
        "{last:?}"
    );

    // The checkpoint's CAdES signature verifies with OpenSSL, over the note.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("note"),
        cp.body["checkpoint"]["note"].as_str().unwrap(),
    )
    .unwrap();
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(cp.body["checkpoint"]["signature"].as_str().unwrap())
        .unwrap();
    std::fs::write(d.join("note.p7s"), sig).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", "note.p7s", "-content", "note",
            "-purpose", "any", "-CAfile",
        ])
        .arg(app.data_dir.join("pki/ca.crt"))
        .args(["-out", "/dev/null"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_database_refuses_updates_and_deletes_of_the_log() {
    let app = spawn_app().await;
    app.sign_in_as(&[Role::Clerk]).await;
    for sql in [
        "UPDATE audit_entries SET actor = 'someone else' WHERE seq = 0",
        "DELETE FROM audit_entries WHERE seq = 0",
        "DELETE FROM audit_entries",
    ] {
        let err = app.try_sql(sql).await.expect_err(sql);
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if app.on_postgres() {
        let err = app.try_sql("TRUNCATE audit_entries").await.unwrap_err();
        assert!(err.contains("append-only"), "{err}");
    }
}

#[tokio::test]
async fn a_byte_flipped_with_sql_is_named_by_the_offline_verifier() {
    let app = spawn_app().await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    for i in 0..5 {
        admin
            .post(
                "/api/v1/users",
                json!({"username": format!("clerk{i}"), "display_name": "C", "roles": ["clerk"]}),
            )
            .await;
    }
    let clean = export_now(&app, &admin).await;
    let report = verify(&clean);
    assert!(report.ok(), "{report:?}");
    assert!(report.checkpoints_verified >= 1);

    // The attacker, with the database, drops the trigger and edits entry 4.
    let drop = if app.on_postgres() {
        "DROP TRIGGER audit_entries_append_only ON audit_entries"
    } else {
        "DROP TRIGGER audit_entries_no_update"
    };
    app.try_sql(drop).await.unwrap();
    app.try_sql(
        "UPDATE audit_entries SET body = replace(body, '\"actor\"', '\"actoR\"') WHERE seq = 4",
    )
    .await
    .unwrap();
    let tampered = export_of(&app).await;
    let report = export::verify(std::io::Cursor::new(&tampered), None).unwrap();
    let problem = report.problem.expect("tampering is found");
    assert!(problem.contains("entry 4 was altered"), "{problem}");
}

#[tokio::test]
async fn the_verifier_names_removed_reordered_rewritten_and_cut_short_exports() {
    let app = spawn_app().await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    for i in 0..6 {
        admin
            .post(
                "/api/v1/users",
                json!({"username": format!("judge{i}"), "display_name": "J", "roles": ["judge"]}),
            )
            .await;
    }
    let clean = String::from_utf8(export_now(&app, &admin).await).unwrap();
    let lines: Vec<&str> = clean.lines().collect();
    let entry_line = |seq: u64| {
        lines
            .iter()
            .position(|l| l.starts_with(&format!("{{\"entry\":{{\"seq\":{seq},")))
            .unwrap()
    };
    let join = |ls: &[String]| {
        ls.iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .into_bytes()
    };
    let owned: Vec<String> = lines.iter().map(|s| s.to_string()).collect();

    let mut removed = owned.clone();
    removed.remove(entry_line(3));
    assert!(
        verify(&join(&removed))
            .problem
            .unwrap()
            .contains("entry 3 is missing")
    );

    let mut swapped = owned.clone();
    swapped.swap(entry_line(2), entry_line(3));
    let p = verify(&join(&swapped)).problem.unwrap();
    assert!(
        p.contains("entry 2 is missing where expected (removed or reordered)"),
        "{p}"
    );

    // A consistent rewrite: new content and a matching leaf hash. Only the signed checkpoint
    // catches it, and the verifier names the range it covers.
    let mut rewritten = owned.clone();
    let i = entry_line(2);
    let mut v: Value = serde_json::from_str(&rewritten[i]).unwrap();
    let body = v["entry"]["body"]
        .as_str()
        .unwrap()
        .replace("\"actor\":\"", "\"actor\":\"forged-");
    v["entry"]["leaf_hash"] = json!(hex::encode(leaf_hash(body.as_bytes()).as_bytes()));
    v["entry"]["body"] = json!(body);
    rewritten[i] = v.to_string();
    let p = verify(&join(&rewritten)).problem.unwrap();
    assert!(
        p.contains("does not match the entries") && p.contains("altered, inserted or removed"),
        "{p}"
    );

    let cut = &clean.as_bytes()[..clean.len() - 30];
    assert!(verify(cut).problem.unwrap().contains("cut short"));

    // A checkpoint signature under another CA is refused when the reader names its CA.
    let other = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other_ca = p.self_signed(&other).unwrap().pem();
    let report = export::verify(
        std::io::Cursor::new(clean.as_bytes()),
        Some(other_ca.as_bytes()),
    )
    .unwrap();
    assert!(report.problem.unwrap().contains("signature check"));
}

#[tokio::test]
async fn deleting_the_last_entries_breaks_consistency_with_an_earlier_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d1 = data.clone();
    let app = spawn_app_with(move |s| s.data_dir = d1).await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    for i in 0..4 {
        admin
            .post(
                "/api/v1/users",
                json!({"username": format!("officer{i}"), "display_name": "O", "roles": ["officer"]}),
            )
            .await;
    }
    // A peer (here: the test) keeps this checkpoint.
    let kept = admin.get("/api/v1/audit/checkpoint").await.body["checkpoint"].clone();
    let old = TreeHead::new(
        kept["tree_size"].as_u64().unwrap(),
        hash(kept["root_hash"].as_str().unwrap()),
    );
    let db = app.database_url.clone();
    let pg = app.on_postgres();
    let _keep = app.stop_keeping_database().await;

    // The attacker removes the last entries (and the checkpoints that mention them).
    let drops = if pg {
        "DROP TRIGGER audit_entries_append_only ON audit_entries; \
         DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints"
    } else {
        "DROP TRIGGER audit_entries_no_delete; DROP TRIGGER audit_checkpoints_no_delete"
    };
    let cut = old.size - 3;
    assize_tests::run_sql(&db, drops).await.unwrap();
    assize_tests::run_sql(
        &db,
        &format!("DELETE FROM audit_entries WHERE seq >= {cut}; DELETE FROM audit_checkpoints"),
    )
    .await
    .unwrap();

    // The server restarts on the rewritten history and keeps logging.
    let app = spawn_app_with(move |s| {
        s.data_dir = data;
        s.database_url = db;
    })
    .await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    for i in 0..6 {
        admin
            .post(
                "/api/v1/users",
                json!({"username": format!("newclerk{i}"), "display_name": "N", "roles": ["clerk"]}),
            )
            .await;
    }
    let now = admin.get("/api/v1/audit/checkpoint").await.body["checkpoint"].clone();
    let new = TreeHead::new(
        now["tree_size"].as_u64().unwrap(),
        hash(now["root_hash"].as_str().unwrap()),
    );
    assert!(new.size > old.size, "old {old:?}, new {new:?}");
    let c = admin
        .get(&format!(
            "/api/v1/audit/consistency?from={}&to={}",
            old.size, new.size
        ))
        .await;
    assert_eq!(c.status, 200);
    let result = verify_consistency(&old, &new, &proof(&c.body["consistency_proof"]));
    assert!(
        result.is_err(),
        "the rewritten log cannot prove consistency with the kept checkpoint"
    );
}

#[tokio::test]
async fn concurrent_actions_and_checkpoints_never_lose_an_entry() {
    let app = spawn_app_with(|s| s.auth.max_failed_logins_per_address = 10_000).await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let before = admin.get("/api/v1/audit/checkpoint").await.body["checkpoint"]["tree_size"]
        .as_u64()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let c = app.client();
        tasks.push(tokio::spawn(async move {
            c.post(
                "/api/v1/session",
                json!({"username": format!("nobody{i}"), "password": "wrong password"}),
            )
            .await
            .status
        }));
        if i % 10 == 0 {
            let a = admin.clone();
            tasks.push(tokio::spawn(async move {
                a.get("/api/v1/audit/checkpoint").await.status
            }));
        }
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(
            status == 401 || status == 200,
            "an action failed under concurrency: {status}"
        );
    }
    let after = admin.get("/api/v1/audit/checkpoint").await.body["checkpoint"]["tree_size"]
        .as_u64()
        .unwrap();
    assert!(
        after >= before + 60,
        "every failed sign-in is an entry: {before} → {after}"
    );
}

#[tokio::test]
async fn proofs_for_trees_the_server_never_had_are_refused_precisely() {
    let app = spawn_app().await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let size = admin.get("/api/v1/audit/checkpoint").await.body["checkpoint"]["tree_size"]
        .as_u64()
        .unwrap();
    for path in [
        format!("/api/v1/audit/entries/0?tree_size={}", size + 1000),
        format!("/api/v1/audit/entries/{}?tree_size={size}", size + 5),
        format!("/api/v1/audit/consistency?from={}&to={size}", size + 1),
        format!("/api/v1/audit/consistency?from=0&to={size}"),
        "/api/v1/audit/consistency?from=18446744073709551615".to_string(),
    ] {
        let r = admin.get(&path).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_proof_request"),
            "{path}: {r:?}"
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("No such proof"),
            "{r:?}"
        );
    }
    let r = admin.get("/api/v1/audit/entries/not-a-number").await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{r:?}");
    let r = admin.get("/api/v1/audit/consistency?from=abc").await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{r:?}");
}
