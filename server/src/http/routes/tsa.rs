//! RFC 3161 over HTTP (§3.4): `POST /tsa` with `application/timestamp-query`, answered with
//! `application/timestamp-reply`; and the TSA's certificate chain for verifiers.
//!
//! A malformed or unsupported request is answered with a `TimeStampResp` carrying the right
//! PKIFailureInfo (badDataFormat, badAlg, unacceptedPolicy…), as the RFC wants, not an error page.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::extract::Caller;
use crate::http::{ApiError, ApiResult, AppState};
use crate::policy::Action;

const QUERY: &str = "application/timestamp-query";
const REPLY: &str = "application/timestamp-reply";

/// `POST /tsa`
pub async fn timestamp(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let _permit = caller.authorize(Action::RequestTimestamp)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.eq_ignore_ascii_case(QUERY) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send a DER TimeStampReq with `Content-Type: application/timestamp-query` (RFC 3161 §3.4).",
        ));
    }
    let reply = state.notary.timestamp_response(&body).await;
    Ok(([(header::CONTENT_TYPE, REPLY)], reply).into_response())
}

/// `GET /tsa/certs.pem`: the TSA certificate followed by its CA.
pub async fn certificates(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        state.notary.tsa_chain_pem().to_string(),
    )
}
