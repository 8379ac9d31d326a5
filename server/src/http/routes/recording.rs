//! The hearing's recording over HTTP: the judge starts and stops it, the court exports it.
//!
//! `POST /api/v1/hearings/{id}/recording/start|stop` (the judge of the hearing, at a browser),
//! `GET /api/v1/hearings/{id}/recording/export` (judge or clerk of the hearing) and
//! `GET /api/v1/hearings/{id}/recordings/{recording}/original`, the court's encrypted original
//! voice (only an account at a browser whose role in the hearing the protective orders name). Each start,
//! stop and export is an audit entry; the recorder itself enters every closed segment (see
//! [`crate::recording`]). A start while recording, or a stop while not, is a 409 that changes
//! nothing: the hearing goes on.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::hearings::{audit, hearing_permit};
use crate::hearings::state_name;
use crate::http::extract::Caller;
use crate::http::{ApiError, ApiResult, AppState};
use crate::policy::{Action, Subject};
use crate::recording::RecordingError;
use crate::sfu::room::HearingState;

pub(crate) fn recording_error(e: RecordingError) -> ApiError {
    match e {
        RecordingError::AlreadyRecording => ApiError::new(
            StatusCode::CONFLICT,
            "already_recording",
            "The hearing is already being recorded. Stop the recording first \
             (POST …/recording/stop) to start a new one.",
        ),
        RecordingError::NotRecording => ApiError::new(
            StatusCode::CONFLICT,
            "not_recording",
            "The hearing is not being recorded, so there is nothing to stop. Start it with \
             POST …/recording/start.",
        ),
        RecordingError::NothingRecorded => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_recording",
            "This hearing has no finished recording to export. Stop a running recording first.",
        ),
        e @ RecordingError::Damaged { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "recording_damaged",
            format!(
                "{e}: the stored file was changed after it was sealed. Report this to the \
                 court's administrator; the audit log holds the hash it was sealed with."
            ),
        ),
        RecordingError::Deleted {
            deleted_at,
            audit_seq,
        } => record_deleted(deleted_at, audit_seq),
        RecordingError::NoOriginalRecipient => no_original_recipient(),
        RecordingError::NoOriginal => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_original_voice",
            "No original voice was kept with this recording (no protective order kept it, no \
             protected witness was heard while it ran, or it is still being recorded).",
        ),
        RecordingError::Other(e) => ApiError::internal(e),
    }
}

/// `409 original_voice_not_configured`: an order keeps the original, but there is no
/// certificate to encrypt it to.
pub(crate) fn no_original_recipient() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "original_voice_not_configured",
        "This server cannot keep a witness's original voice: the administrator must first \
         configure the court's certificate it is encrypted to \
         (recording.original_voice_recipient). Make the order without keep_original; the \
         distorted record is kept as always.",
    )
}

/// `410 record_deleted`: the retention sweep deleted the hearing's record.
pub(crate) fn record_deleted(deleted_at: i64, audit_seq: i64) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "record_deleted",
        format!(
            "This hearing's record (recordings and minutes) was deleted at the end of its \
             retention period. Audit entry {audit_seq} names what existed, with every \
             segment's hash."
        ),
    )
    .with_details(json!({ "deleted_at": deleted_at, "audit_seq": audit_seq }))
}

/// `POST /api/v1/hearings/{id}/recording/{start|stop}`
pub async fn control(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, verb)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if verb != "start" && verb != "stop" {
        return Err(ApiError::not_found("recording action"));
    }
    let (_permit, hearing, _) = hearing_permit(&state, &caller, &id, Action::RecordHearing).await?;
    if verb == "start" {
        if !matches!(
            hearing.state,
            HearingState::Open | HearingState::InSession | HearingState::Paused
        ) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "hearing_not_live",
                format!(
                    "A hearing that is {} cannot be recorded: open it first.",
                    state_name(hearing.state)
                ),
            ));
        }
        let started_by = match &caller.subject {
            Subject::User { user_id, .. } => user_id.clone(),
            _ => "unknown".into(),
        };
        let live = state.sfu.hearings().get_or_create(&id);
        let recording = state
            .recordings
            .start(&id, live, &started_by)
            .await
            .map_err(recording_error)?;
        audit(
            &state,
            &caller,
            "recording.start",
            &id,
            json!({ "recording": recording }),
        )
        .await?;
        Ok(Json(json!({ "recording": recording, "on": true })))
    } else {
        let report = state.recordings.stop(&id).await.map_err(recording_error)?;
        audit(
            &state,
            &caller,
            "recording.stop",
            &id,
            json!({ "recording": report.recording_id, "segments": report.segments,
                    "chain": report.chain, "problems": report.problems,
                    "dropped_packets": report.dropped_packets,
                    "original": report.original.as_ref().map(|o| &o.0) }),
        )
        .await?;
        Ok(Json(json!({
            "recording": report.recording_id, "on": false, "segments": report.segments,
            "chain": report.chain, "problems": report.problems,
            "original": report.original.as_ref().map(|(id, segments)| json!({
                "recording": id, "segments": segments })),
        })))
    }
}

/// `GET /api/v1/hearings/{id}/recording/export`: the sealed recording as ASiC-E.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let _permit = hearing_permit(&state, &caller, &id, Action::ExportHearingRecord).await?;
    let package = state
        .recordings
        .export(&id)
        .await
        .map_err(recording_error)?;
    audit(
        &state,
        &caller,
        "recording.export",
        &id,
        json!({ "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&package)) }),
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
                HeaderValue::from_static("attachment; filename=\"recording.asice\""),
            ),
        ],
        package,
    )
        .into_response())
}

/// `GET /api/v1/hearings/{id}/recordings/{recording}/original`: the court's original voice of
/// the protected witnesses heard during `recording`, as ASiC-E: the segments as encrypted to the
/// court's certificate (the server cannot decrypt them), the sealed manifest and its seal. Only
/// for a signed-in account at a browser whose role in the hearing every order in the stream
/// names; every download and every refusal is audited.
pub async fn original(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, recording)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (_standing, _, me) =
        hearing_permit(&state, &caller, &id, Action::DownloadOriginalVoice).await?;
    let original = state
        .recordings
        .original(&id, &recording)
        .await
        .map_err(recording_error)?;
    let audience = crate::recording::Recordings::original_audience(&original);
    let role = me.as_ref().map(|p| p.role);
    let refused = crate::policy::authorize_original_voice(&caller.subject, role, audience).is_err();
    let role_name = role.map(crate::hearings::role_name);
    if refused {
        audit(
            &state,
            &caller,
            "recording.original_refused",
            &id,
            json!({ "recording": recording, "original": original.id, "role": role_name }),
        )
        .await?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The protective order does not let your role in this hearing hear the witness's \
             original voice. Only the roles the order names may download it.",
        ));
    }
    let package = state
        .recordings
        .original_package(&id, &original)
        .await
        .map_err(recording_error)?;
    audit(
        &state,
        &caller,
        "recording.original_download",
        &id,
        json!({ "recording": recording, "original": original.id, "role": role_name,
                "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&package)) }),
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
                HeaderValue::from_static("attachment; filename=\"original-voice.asice\""),
            ),
        ],
        package,
    )
        .into_response())
}
