//! Mutual legal assistance over HTTP: officers' requests (EIO and generic MLA), their
//! attachments, moves through the workflow, evidence packages; and the server-to-server
//! endpoint other states' servers deliver sealed messages to.
//!
//! Every request-scoped handler asks the policy twice ([`request_permit`]): the account-level
//! table, then whether the caller acts for one of the request's two authorities. To anyone
//! else a request does not exist (404).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{Actor, AuditEvent};
use crate::http::extract::{ApiJson, Caller};
use crate::http::{ApiError, ApiResult, AppState};
use crate::mla::transport::{deadlines_of, envelope_of};
use crate::mla::workflow::{self, Kind, Side, Status};
use crate::mla::{Act, Mla, WireMessage};
use crate::policy::{self, Action, Permit, Subject};
use crate::store::mla::RequestRow;
use crate::store::{AuthorityRecord, now};

/// The local authority the caller acts for.
async fn my_authority(state: &AppState, caller: &Caller) -> ApiResult<AuthorityRecord> {
    let Subject::User { user_id, .. } = &caller.subject else {
        return Err(ApiError::unauthenticated());
    };
    let id = state.store.user_authority(user_id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "no_authority",
            "Your account does not act for any authority. Ask an administrator to assign you to yours.",
        )
    })?;
    state
        .store
        .authority_by_id(&id)
        .await?
        .filter(|a| a.local)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "no_authority",
                "The authority your account acts for is not hosted here. Ask an administrator.",
            )
        })
}

/// Loads a request and asks both halves of the policy. A stranger gets 404.
async fn request_permit(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> ApiResult<(RequestRow, AuthorityRecord, Permit)> {
    // The account-level half first, so that a stranger learns nothing.
    policy::decide(&caller.subject, action)?;
    let me = my_authority(state, caller).await?;
    let request = state
        .store
        .mla_request(id)
        .await?
        .ok_or_else(|| ApiError::not_found("request"))?;
    let party = if request.issuing_authority_id == me.id {
        Some(Side::Issuing)
    } else if request.executing_authority_id == me.id {
        Some(Side::Executing)
    } else {
        None
    };
    let permit = policy::authorize_for_request(&caller.subject, party, action)
        .map_err(|_| ApiError::not_found("request"))?;
    Ok((request, me, permit))
}

fn user_id(caller: &Caller) -> ApiResult<String> {
    match &caller.subject {
        Subject::User { user_id, .. } => Ok(user_id.clone()),
        _ => Err(ApiError::unauthenticated()),
    }
}

/// A request as the API shows it: its row, form, running deadlines, the completeness check
/// (drafts), the moves this side may make, messages and attachments.
async fn view(state: &AppState, r: &RequestRow) -> ApiResult<Value> {
    let messages = state.store.mla_messages(&r.id).await?;
    let attachments = state.store.mla_attachments(&r.id).await?;
    let evidence_checks: Vec<Value> = state
        .store
        .mla_evidence_checks(&r.id)
        .await?
        .into_iter()
        .map(|c| {
            let report: Value = serde_json::from_str(&c.report).unwrap_or_default();
            json!({ "attachment_id": c.attachment_id, "message_id": c.message_id,
                    "outcome": c.outcome, "files": c.files, "report": report,
                    "checked_at": c.checked_at })
        })
        .collect();
    let (issuing, executing) = state.mla.parties(r).await?;
    let kind = Kind::parse(&r.kind).unwrap_or(Kind::Eio);
    let form: Value = serde_json::from_str(&r.form).unwrap_or_default();
    let missing = if r.status == Status::Draft.as_str() {
        Mla::check_form(kind, &form).unwrap_or_default()
    } else {
        Vec::new()
    };
    let side = Side::parse(&r.side).unwrap_or(Side::Issuing);
    // The executing side's hearings under this request's references: the records its officer
    // may return as evidence (POST …/evidence), with the references a court books them under.
    let (hearings, references) = if side == Side::Executing {
        let executing_ref = crate::mla::executing_reference(&executing.code, &r.id);
        let linked = state
            .store
            .hearings_with_case_reference(&r.reference, &executing_ref)
            .await?
            .into_iter()
            .map(|h| {
                json!({ "id": h.id, "court": h.court, "case_reference": h.case_reference,
                        "scheduled_at": h.scheduled_at,
                        "state": crate::hearings::state_name(h.state) })
            })
            .collect::<Vec<_>>();
        (json!(linked), json!([r.reference.trim(), executing_ref]))
    } else {
        (json!([]), json!([]))
    };
    let next: Vec<&str> = Status::parse(&r.status)
        .map(|s| workflow::legal_next(s, side))
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !(r.status == "TRANSMITTED" && *s == Status::Acknowledged))
        .map(Status::as_str)
        .collect();
    let timeline: Vec<Value> = messages
        .iter()
        .map(|m| {
            let env = envelope_of(m);
            json!({
                "id": m.id, "seq": m.seq, "direction": m.direction, "type": m.message_type,
                "from_status": m.from_status, "to_status": m.to_status,
                "transport_status": m.transport_status, "attempts": m.attempts,
                "last_error": m.last_error, "created_at": m.created_at, "delivered_at": m.delivered_at,
                "document_sha256": m.document_sha256,
                "note": env.as_ref().and_then(|e| e.note.clone()),
                "form": env.as_ref().and_then(|e| if e.to_status == Status::Acknowledged { e.form.clone() } else { None }),
                "actor": m.actor,
            })
        })
        .collect();
    Ok(json!({
        "request": r,
        "form": form,
        "issuing_authority": { "id": issuing.id, "code": issuing.code, "name": issuing.name, "country": issuing.country },
        "executing_authority": { "id": executing.id, "code": executing.code, "name": executing.name, "country": executing.country },
        "deadlines": deadlines_of(r, now()),
        "missing": missing,
        "next": next,
        "messages": timeline,
        "attachments": attachments,
        "evidence_checks": evidence_checks,
        "hearings": hearings,
        "hearing_references": references,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
}

/// `GET /api/v1/mla/requests`: the requests the caller's authority sent or received.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let _permit = caller.authorize(Action::ViewMlaRequests)?;
    let me = my_authority(&state, &caller).await?;
    let rows = state
        .store
        .mla_requests_of(&me.id, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    let t = now();
    let requests: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "kind": r.kind, "reference": r.reference, "status": r.status,
                "side": r.side, "urgent": r.urgent,
                "box": if r.issuing_authority_id == me.id { "outbox" } else { "inbox" },
                "updated_at": r.updated_at, "deadlines": deadlines_of(r, t),
            })
        })
        .collect();
    Ok(Json(json!({ "authority": me.code, "requests": requests })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// `eio` or `mla`.
    kind: String,
    /// The code of the executing (requested) authority in the directory.
    recipient: String,
    /// The form so far (may be incomplete while a draft).
    #[serde(default = "empty_object")]
    form: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// `POST /api/v1/mla/requests`: a new draft from the caller's authority.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewRequest>,
) -> ApiResult<impl IntoResponse> {
    let _permit = caller.authorize(Action::DraftMlaRequest)?;
    let me = my_authority(&state, &caller).await?;
    let kind = Kind::parse(&body.kind).ok_or_else(|| {
        ApiError::bad_request("invalid_kind", "The kind is 'eio' or 'mla'.")
            .with_details(json!({ "field": "kind" }))
    })?;
    let recipient = state
        .store
        .authority_by_code(&body.recipient)
        .await?
        .filter(|a| !a.local && a.id != me.id);
    if recipient.is_none() {
        state
            .audit
            .append(
                AuditEvent::new(
                    Actor::from(&caller.subject),
                    "mla.draft_refused",
                    format!("authority:{}", me.id),
                )
                .with(json!({ "code": "unknown_authority" })),
            )
            .await?;
    }
    let recipient = recipient.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_authority",
                format!(
                    "{:?} is not another state's authority in the directory. Pick one from GET /api/v1/authorities.",
                    body.recipient
                ),
            )
            .with_details(json!({ "field": "recipient" }))
        })?;
    let row = state
        .mla
        .create_draft(&user_id(&caller)?, &me, &recipient, kind, body.form)
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, &row).await?)))
}

/// `GET /api/v1/mla/requests/{id}`
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (mut r, me, _permit) =
        request_permit(&state, &caller, &id, Action::ViewMlaRequests).await?;
    // The executing authority's first look: the incoming request is RETRIEVED.
    if r.side == Side::Executing.as_str()
        && r.executing_authority_id == me.id
        && r.retrieved_at.is_none()
        && state.store.mla_mark_retrieved(&r.id, now()).await?
    {
        state
            .audit
            .append(AuditEvent::new(
                Actor::from(&caller.subject),
                "mla.retrieve",
                format!("mla_request:{}", r.id),
            ))
            .await?;
        r.retrieved_at = Some(now());
    }
    Ok(Json(view(&state, &r).await?))
}

/// At most this many entries of one request's audit trail are listed, the oldest first; the
/// reply says `truncated` when there were more.
pub const MAX_REQUEST_AUDIT_ENTRIES: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// One entry of the trail, with its inclusion proof.
    seq: Option<u64>,
}

/// One audit entry as the request's trail shows it: the logged entry (its canonical body is the
/// Merkle leaf) split into its fields. MLA entries carry identifiers, hashes, statuses and
/// codes, never the persons a request names (the form stays in the sealed documents).
fn audit_entry_json(row: &crate::store::AuditRow) -> Value {
    let body: Value = serde_json::from_str(&row.body).unwrap_or_default();
    json!({
        "seq": row.seq,
        "time": body.get("time").cloned().unwrap_or(Value::Null),
        "at_ms": row.at_ms,
        "actor": row.actor,
        "action": row.action,
        "details": body.get("details").cloned().unwrap_or_else(empty_object),
        "leaf_hash": hex::encode(&row.leaf_hash),
    })
}

/// `GET /api/v1/mla/requests/{id}/audit[?seq=N]`: the request's audit trail, every entry whose
/// object is `mla_request:{id}` on this server, oldest first (at most
/// [`MAX_REQUEST_AUDIT_ENTRIES`]); with `seq`, that one entry with its inclusion proof in the
/// current tree. Access as for viewing the request: the audit log at large stays the
/// administrators' (`GET /api/v1/audit/entries/{seq}`), but a request's own officers may read
/// and check what was logged about it. Reading a proof is audited as `audit.read`.
pub async fn audit_trail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let (r, _, _permit) = request_permit(&state, &caller, &id, Action::ViewMlaRequests).await?;
    let object = format!("mla_request:{}", r.id);
    if let Some(seq) = q.seq {
        // Only an entry about this request: any other seq is "not found", whatever it holds.
        let row = state
            .store
            .audit_entry(i64::try_from(seq).unwrap_or(i64::MAX))
            .await?
            .filter(|row| row.object == object)
            .ok_or_else(|| ApiError::not_found("audit entry of this request"))?;
        let size = state.audit.tree_head().size;
        let (proof, root) = state.audit.inclusion_proof(seq, size).map_err(|e| {
            ApiError::bad_request("invalid_proof_request", format!("No such proof: {e}."))
        })?;
        state
            .audit
            .append(AuditEvent::new(
                Actor::from(&caller.subject),
                "audit.read",
                format!("audit:{seq}"),
            ))
            .await?;
        let mut entry = audit_entry_json(&row);
        entry["body"] = json!(row.body);
        entry["tree_size"] = json!(size);
        entry["root_hash"] = json!(hex::encode(root.as_bytes()));
        entry["inclusion_proof"] = json!(
            proof
                .iter()
                .map(|h| hex::encode(h.as_bytes()))
                .collect::<Vec<_>>()
        );
        return Ok(Json(entry));
    }
    let limit = i64::try_from(MAX_REQUEST_AUDIT_ENTRIES + 1).unwrap_or(i64::MAX);
    let rows = state
        .store
        .audit_entries_about_first(&object, limit)
        .await?;
    let truncated = rows.len() > MAX_REQUEST_AUDIT_ENTRIES;
    let entries: Vec<Value> = rows
        .iter()
        .take(MAX_REQUEST_AUDIT_ENTRIES)
        .map(audit_entry_json)
        .collect();
    Ok(Json(json!({
        "request_id": r.id,
        "entries": entries,
        "limit": MAX_REQUEST_AUDIT_ENTRIES,
        "truncated": truncated,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormBody {
    form: Value,
}

/// `PUT /api/v1/mla/requests/{id}/form`: replaces a draft's form.
pub async fn update_form(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FormBody>,
) -> ApiResult<Json<Value>> {
    let (r, _, _permit) = request_permit(&state, &caller, &id, Action::DraftMlaRequest).await?;
    let row = state
        .mla
        .update_draft(&user_id(&caller)?, &r, body.form)
        .await?;
    Ok(Json(view(&state, &row).await?))
}

/// `POST /api/v1/mla/requests/{id}/transitions` `{"to": "…", "note": "…"}`
pub async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Act>,
) -> ApiResult<Json<Value>> {
    // Validation (and undoing it) is the judicial authority's signature; every other move is
    // the officer's.
    let action = if body.to == Status::Validated.as_str() || body.to == Status::Draft.as_str() {
        Action::ValidateMlaRequest
    } else {
        Action::ActOnMlaRequest
    };
    let (r, me, _permit) = request_permit(&state, &caller, &id, action).await?;
    let mine = if r.side == Side::Issuing.as_str() {
        &r.issuing_authority_id
    } else {
        &r.executing_authority_id
    };
    if *mine != me.id {
        return Err(ApiError::not_found("request"));
    }
    let (row, message) = state.mla.act(&user_id(&caller)?, &r, body).await?;
    let mut v = view(&state, &row).await?;
    v["message"] = json!({ "id": message.id, "transport_status": message.transport_status,
                           "document_sha256": message.document_sha256 });
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    reason: String,
}

/// `POST /api/v1/mla/requests/{id}/extension`: the executing side extends the recognition
/// deadline once (Art. 12(5)).
pub async fn extend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExtensionBody>,
) -> ApiResult<Json<Value>> {
    let (r, _, _permit) = request_permit(&state, &caller, &id, Action::ActOnMlaRequest).await?;
    let row = state
        .mla
        .extend(&user_id(&caller)?, &r, &body.reason)
        .await?;
    Ok(Json(view(&state, &row).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentQuery {
    filename: String,
}

/// `POST /api/v1/mla/requests/{id}/attachments?filename=NAME` with the file as the body and its
/// media type as `Content-Type`. It travels with this side's next message.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<AttachmentQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<impl IntoResponse> {
    let (r, _, _permit) = request_permit(&state, &caller, &id, Action::DraftMlaRequest).await?;
    // Read at most one byte more than allowed: an oversize file is refused (and recorded)
    // without being buffered whole.
    let max = state.settings.mla.max_attachment_bytes;
    let limited = http_body_util::Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX));
    let body: Bytes = match http_body_util::BodyExt::collect(limited).await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            state
                .audit
                .append(
                    AuditEvent::new(
                        Actor::from(&caller.subject),
                        "mla.attachment_refused",
                        format!("mla_request:{}", r.id),
                    )
                    .with(json!({ "code": "attachment_too_large", "limit": max })),
                )
                .await?;
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "attachment_too_large",
                format!(
                    "The file is larger than {max} bytes (mla.max_attachment_bytes): split it or ask the administrator. Nothing was stored."
                ),
            ));
        }
        Err(_) => {
            return Err(ApiError::bad_request(
                "incomplete_upload",
                "The upload was interrupted. Nothing was stored; send the file again.",
            ));
        }
    };
    let filename = q.filename.trim();
    if filename.is_empty()
        || filename.len() > 255
        || filename
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(ApiError::bad_request(
            "invalid_filename",
            "Give the file's name (1–255 bytes, no slashes or control characters) as ?filename=.",
        )
        .with_details(json!({ "field": "filename" })));
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 100 && v.contains('/') && v.is_ascii())
        .unwrap_or("application/octet-stream");
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_attachment",
            "The file is empty. Choose the file again.",
        ));
    }
    let row = state
        .mla
        .add_attachment(
            Actor::from(&caller.subject),
            &r,
            filename,
            media_type,
            &body,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "attachment": row }))))
}

/// `GET /api/v1/mla/requests/{id}/attachments/{attachment}`: the file, decrypted.
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, attachment)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (r, _, _permit) = request_permit(&state, &caller, &id, Action::ViewMlaRequests).await?;
    let a = state
        .store
        .mla_attachments(&r.id)
        .await?
        .into_iter()
        .find(|a| a.id == attachment)
        .ok_or_else(|| ApiError::not_found("attachment"))?;
    let content = state.mla.open_attachment(&a)?;
    state
        .audit
        .append(
            AuditEvent::new(
                Actor::from(&caller.subject),
                "mla.attachment_read",
                format!("mla_request:{}", r.id),
            )
            .with(json!({ "attachment": a.id })),
        )
        .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!(
                    "attachment; filename=\"{}\"",
                    a.filename
                        .replace(|c: char| !c.is_ascii_graphic() || c == '"', "_")
                ))
                .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        content,
    )
        .into_response())
}

/// `GET /api/v1/mla/requests/{id}/evidence`: the ASiC-E evidence package.
pub async fn evidence(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (r, _, _permit) = request_permit(&state, &caller, &id, Action::ExportMlaEvidence).await?;
    let package = state.mla.evidence_package(&r).await?;
    state
        .audit
        .append(
            AuditEvent::new(
                Actor::from(&caller.subject),
                "mla.evidence_export",
                format!("mla_request:{}", r.id),
            )
            .with(
                json!({ "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&package)) }),
            ),
        )
        .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.etsi.asic-e+zip"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"request-{}.asice\"", r.id))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        package,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HearingRecordBody {
    /// The closed hearing whose record is returned.
    hearing_id: String,
    /// A covering note for the issuing authority.
    note: Option<String>,
}

/// `POST /api/v1/mla/requests/{id}/evidence` `{"hearing_id": "…", "note": "…"}`: an officer of
/// the executing authority returns a closed hearing's sealed record (the ASiC-E export, as
/// `GET /api/v1/hearings/{id}/recording/export` gives it) as evidence. The hearing must be
/// booked under the request's reference (the issuing authority's file reference or the Annex B
/// executing reference). The record is attached and the request moves to EVIDENCE_TRANSMITTED
/// in one transaction; the sealed message goes to the issuing authority's server, which
/// verifies the package on arrival.
pub async fn transmit_hearing_record(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HearingRecordBody>,
) -> ApiResult<impl IntoResponse> {
    let (r, me, _permit) =
        request_permit(&state, &caller, &id, Action::TransmitHearingRecord).await?;
    if r.side != Side::Executing.as_str() || r.executing_authority_id != me.id {
        return Err(ApiError::not_found("request"));
    }
    // Refuse an illegal move before exporting (which seals, and reads every segment).
    Mla::check_move(&r, Status::EvidenceTransmitted)?;
    let not_linked = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "hearing_not_linked",
            "No hearing of this request has that id: a hearing is returned in a request when it \
             was booked with the request's reference (the issuing authority's file reference or \
             the executing reference of the Annex B) as its case reference.",
        )
        .with_details(json!({ "field": "hearing_id" }))
    };
    let hearing = state
        .store
        .hearing(&body.hearing_id)
        .await?
        .ok_or_else(not_linked)?;
    let (_, executing) = state.mla.parties(&r).await?;
    if !crate::mla::evidence::hearing_is_linked(&hearing.case_reference, &r, &executing.code) {
        return Err(not_linked());
    }
    if hearing.state != crate::sfu::room::HearingState::Closed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "hearing_not_closed",
            format!(
                "The hearing is {}: its record is final, and can be returned, once the judge has closed it.",
                crate::hearings::state_name(hearing.state)
            ),
        ));
    }
    let package = state
        .recordings
        .export(&hearing.id)
        .await
        .map_err(super::recording::recording_error)?;
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&package));
    super::hearings::audit(
        &state,
        &caller,
        "recording.export",
        &hearing.id,
        json!({ "sha256": sha256, "mla_request": r.id }),
    )
    .await?;
    let (row, message, attachment) = state
        .mla
        .transmit_hearing_record(&user_id(&caller)?, &r, &hearing.id, package, body.note)
        .await?;
    let mut v = view(&state, &row).await?;
    v["message"] = json!({ "id": message.id, "transport_status": message.transport_status,
                           "document_sha256": message.document_sha256 });
    v["attachment"] = json!(attachment);
    Ok((StatusCode::CREATED, Json(v)))
}

/// `POST /api/v1/federation/mla/messages`: another state's server delivers a sealed message.
/// Answers 200 with a sealed receipt, or 422 with a sealed negative receipt saying why.
pub async fn deliver(
    State(state): State<AppState>,
    caller: Caller,
    conn: Option<axum::Extension<crate::http::extract::ConnInfo>>,
    ApiJson(wire): ApiJson<WireMessage>,
) -> ApiResult<Response> {
    let _permit = match caller.authorize(Action::DeliverMlaMessage) {
        Ok(p) => p,
        Err(e) => {
            // Someone who is not a registered authority tried to deliver: on the record.
            state
                .audit
                .append(
                    AuditEvent::new(
                        Actor::from(&caller.subject),
                        "mla.delivery_refused",
                        "federation:mla",
                    )
                    .with(json!({
                        "code": e.code,
                        "remote": caller.remote.map(|r| r.ip().to_string()),
                        "client_cert_sha256": conn.and_then(|c| c.0.client_cert_sha256),
                    })),
                )
                .await?;
            return Err(e);
        }
    };
    let Subject::Authority { authority_id } = &caller.subject else {
        return Err(ApiError::unauthenticated());
    };
    let sender = state
        .store
        .authority_by_id(authority_id)
        .await?
        .ok_or_else(|| ApiError::not_found("authority"))?;
    let (status, receipt) = state.mla.receive(&sender, wire).await?;
    Ok((status, Json(receipt)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAuthority {
    /// The local authority's id, or null for none.
    authority_id: Option<String>,
}

/// `PUT /api/v1/users/{id}/authority`: the authority an account acts for.
pub async fn set_user_authority(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserAuthority>,
) -> ApiResult<StatusCode> {
    let _permit = caller.authorize(Action::ManageUsers)?;
    state
        .store
        .set_user_authority(&id, body.authority_id.as_deref())
        .await?;
    state
        .audit
        .append(
            AuditEvent::new(
                Actor::from(&caller.subject),
                "user.set_authority",
                format!("user:{id}"),
            )
            .with(json!({ "authority": body.authority_id })),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
