//! The hearing's minutes over HTTP: `GET /api/v1/hearings/{id}/minutes?format=json|html|pdf`
//! (`&lang=en|fr` for HTML and PDF), for the judge and clerk of that hearing only (the policy's
//! [`Action::ExportHearingRecord`]: the minutes are part of the hearing record).
//!
//! A closed hearing has final minutes, sealed at its close (see [`crate::minutes`]); they are
//! returned as stored (in English; `lang=fr` renders the sealed JSON with French labels). Before
//! the close each request makes a draft, sealed and audited as `minutes.draft`, and marked
//! draft in every format.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::hearings::{audit, hearing_permit};
use crate::http::extract::Caller;
use crate::http::{ApiError, ApiResult, AppState};
use crate::minutes::{self, Lang, MinutesError, Sealed, Status};
use crate::policy::Action;
use crate::sfu::room::HearingState;

#[derive(Debug, Deserialize)]
pub struct MinutesQuery {
    format: Option<String>,
    lang: Option<String>,
}

pub(crate) fn minutes_error(e: MinutesError) -> ApiError {
    match e {
        MinutesError::NoHearing => ApiError::not_found("hearing"),
        MinutesError::Other(e) => ApiError::internal(e),
    }
}

/// `GET /api/v1/hearings/{id}/minutes`
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<MinutesQuery>,
) -> ApiResult<Response> {
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "html" | "pdf") {
        return Err(
            ApiError::bad_request("invalid_format", "format is json, html or pdf.")
                .with_details(json!({ "field": "format" })),
        );
    }
    let lang = match q.lang.as_deref() {
        None => Lang::En,
        Some(l) => Lang::parse(l).ok_or_else(|| {
            ApiError::bad_request("invalid_lang", "lang is en or fr.")
                .with_details(json!({ "field": "lang" }))
        })?,
    };
    let (_permit, hearing, _) =
        hearing_permit(&state, &caller, &id, Action::ExportHearingRecord).await?;
    if let Some(d) = state.store.record_deletion(&id).await? {
        return Err(super::recording::record_deleted(d.deleted_at, d.audit_seq));
    }
    let sealed: Sealed = if hearing.state == HearingState::Closed {
        // Sealed at the close; made now if that failed then (the TSA was down…).
        minutes::seal_final(&state.store, &state.notary, &state.audit, &id)
            .await
            .map_err(minutes_error)?
    } else {
        let d = minutes::draft(&state.store, &state.notary, state.audit.origin(), &id)
            .await
            .map_err(minutes_error)?;
        audit(
            &state,
            &caller,
            "minutes.draft",
            &id,
            json!({ "manifest_sha256": hex::encode(Sha256::digest(&d.manifest)) }),
        )
        .await?;
        d
    };
    let draft = sealed.status == Status::Draft;
    let (content_type, body): (&'static str, Vec<u8>) = match (format, lang) {
        ("json", _) => ("application/json", sealed.document),
        ("html", Lang::En) => ("text/html; charset=utf-8", sealed.html),
        ("pdf", Lang::En) => ("application/pdf", sealed.pdf),
        (f, lang) => {
            // Another language: rendered from the sealed JSON.
            let m: minutes::Minutes = serde_json::from_slice(&sealed.document)
                .map_err(|e| ApiError::internal(e.into()))?;
            if f == "html" {
                (
                    "text/html; charset=utf-8",
                    minutes::render::html(lang, &m).into_bytes(),
                )
            } else {
                let title = format!("{} {}", m.hearing.case_reference, m.hearing.title);
                (
                    "application/pdf",
                    minutes::pdf::render(&title, &minutes::render::lines(lang, &m)),
                )
            }
        }
    };
    let name = format!(
        "attachment; filename=\"minutes{}.{format}\"",
        if draft { "-draft" } else { "" }
    );
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&name).map_err(|e| ApiError::internal(e.into()))?,
    );
    h.insert(
        "x-assize-minutes-status",
        HeaderValue::from_static(if draft { "draft" } else { "final" }),
    );
    Ok(resp)
}
