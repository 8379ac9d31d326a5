//! The audit log over HTTP: the latest signed checkpoint, entries with inclusion proofs,
//! consistency proofs (RFC 9162 §2.1.3–2.1.4), and peers' checkpoints.
//! Reading entries is itself an audited action.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::checkpoint::parse_note;
use crate::audit::{Actor, AuditEvent};
use crate::http::extract::{ApiJson, Caller};
use crate::http::{ApiError, ApiResult, AppState};
use crate::policy::{Action, Subject};
use crate::store::CheckpointRow;

fn checkpoint_json(c: &CheckpointRow) -> Value {
    json!({
        "tree_size": c.tree_size,
        "root_hash": hex::encode(&c.root_hash),
        "at_ms": c.at_ms,
        "note": c.note,
        "signature": base64::engine::general_purpose::STANDARD.encode(&c.signature),
    })
}

fn proof_json(proof: &[assize_signing::merkle::NodeHash]) -> Vec<String> {
    proof.iter().map(|h| hex::encode(h.as_bytes())).collect()
}

/// `GET /api/v1/audit/checkpoint`: the latest signed checkpoint (a new one is sealed first if
/// entries were added since).
pub async fn latest_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let _permit = caller.authorize(Action::ReadAuditCheckpoint)?;
    let cp = state.audit.checkpoint_now().await?;
    let cp = cp.ok_or_else(|| ApiError::not_found("checkpoint (the log is empty)"))?;
    Ok(Json(
        json!({ "checkpoint": checkpoint_json(&cp), "origin": state.audit.origin() }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct SizeQuery {
    tree_size: Option<u64>,
}

/// `GET /api/v1/audit/entries/{seq}?tree_size=N`: the entry and its inclusion proof in the tree
/// of N entries (default: the current tree).
pub async fn entry(
    State(state): State<AppState>,
    caller: Caller,
    Path(seq): Path<u64>,
    Query(q): Query<SizeQuery>,
) -> ApiResult<Json<Value>> {
    let _permit = caller.authorize(Action::ReadAuditLog)?;
    let size = q.tree_size.unwrap_or_else(|| state.audit.tree_head().size);
    let (proof, root) = state.audit.inclusion_proof(seq, size).map_err(|e| {
        ApiError::bad_request("invalid_proof_request", format!("No such proof: {e}."))
    })?;
    let row = state
        .store
        .audit_entry(i64::try_from(seq).unwrap_or(i64::MAX))
        .await?
        .ok_or_else(|| ApiError::not_found("audit entry"))?;
    state
        .audit
        .append(AuditEvent::new(
            Actor::from(&caller.subject),
            "audit.read",
            format!("audit:{seq}"),
        ))
        .await?;
    Ok(Json(json!({
        "seq": seq,
        "body": row.body,
        "leaf_hash": hex::encode(&row.leaf_hash),
        "tree_size": size,
        "root_hash": hex::encode(root.as_bytes()),
        "inclusion_proof": proof_json(&proof),
    })))
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// `GET /api/v1/audit/consistency?from=M&to=N`: proof that the tree of M entries is a prefix of
/// the tree of N entries (default: the current tree).
pub async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<Json<Value>> {
    let _permit = caller.authorize(Action::ReadAuditCheckpoint)?;
    let to = q.to.unwrap_or_else(|| state.audit.tree_head().size);
    let proof = state.audit.consistency_proof(q.from, to).map_err(|e| {
        ApiError::bad_request("invalid_proof_request", format!("No such proof: {e}."))
    })?;
    Ok(Json(
        json!({ "from": q.from, "to": to, "consistency_proof": proof_json(&proof) }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerCheckpoint {
    note: String,
    /// Base64 DER CAdES signature over the note.
    signature: String,
}

/// `POST /api/v1/federation/checkpoints`: a peer hands us its latest checkpoint. It must be
/// signed under a CA we trust for federation and must not be smaller than one we already hold.
pub async fn receive_peer_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PeerCheckpoint>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let _permit = caller.authorize(Action::SubmitPeerCheckpoint)?;
    let Subject::Authority { authority_id } = &caller.subject else {
        return Err(ApiError::unauthenticated());
    };
    let note =
        parse_note(&body.note).map_err(|e| ApiError::bad_request("invalid_checkpoint", e))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&body.signature)
        .map_err(|_| ApiError::bad_request("invalid_checkpoint", "The signature is not base64."))?;
    let report = assize_signing::verify::verify_detached(
        &signature,
        body.note.as_bytes(),
        &state.federation_anchors,
        &assize_signing::verify::VerifyOptions {
            now: time::OffsetDateTime::now_utc(),
            extra_certificates: Vec::new(),
        },
    );
    if let Some((check, finding)) = report.first_failure() {
        return Err(ApiError::bad_request(
            "invalid_checkpoint",
            format!("The checkpoint's signature failed the `{check}` check: {finding:?}."),
        ));
    }
    if let Some(prev) = state.store.latest_peer_checkpoint(authority_id).await?
        && u64::try_from(prev.tree_size).unwrap_or(0) > note.head.size
    {
        return Err(ApiError::conflict(format!(
            "We already hold a checkpoint of size {} from you; a smaller tree means history was rewritten.",
            prev.tree_size
        )));
    }
    let row = CheckpointRow {
        tree_size: i64::try_from(note.head.size).unwrap_or(i64::MAX),
        root_hash: note.head.root.as_bytes().to_vec(),
        at_ms: 0,
        note: body.note.clone(),
        signature,
    };
    state
        .store
        .insert_peer_checkpoint(authority_id, &row)
        .await?;
    state
        .audit
        .append(
            AuditEvent::new(Actor::from(&caller.subject), "audit.peer_checkpoint", format!("authority:{authority_id}"))
                .with(json!({ "tree_size": note.head.size, "root_hash": hex::encode(note.head.root.as_bytes()) })),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "stored": true }))))
}
