//! The HTTP layer: routes, shared state and the middleware every request passes through.
//!
//! Order of the layers, outermost first: request id → trace span (method, path, request id; never
//! the query string, which may carry one-time tokens) → security headers → timeout → body limit →
//! metrics → the route. Every error, including unknown routes and wrong methods, is a JSON
//! [`ApiError`] with a stable code.

pub mod error;
pub mod extract;
mod routes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ApiResult};

use crate::audit::AuditLog;
use crate::auth::Throttle;
use crate::config::Settings;
use crate::metrics::{HttpLabels, Metrics};
use crate::notary::Notary;
use crate::store::Store;

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub throttle: Arc<Throttle>,
    pub metrics: Arc<Metrics>,
    /// Base URL for links the server prints or returns (`https://host:port`).
    pub public_url: Arc<str>,
    /// This server's signing key and time-stamping authority.
    pub notary: Arc<Notary>,
    /// The tamper-evident audit log.
    pub audit: AuditLog,
    /// The CAs trusted for other states' servers (their client certificates and their seals).
    pub federation_anchors: Arc<assize_signing::verify::TrustAnchors>,
    /// The hearing SFU: live rooms and media.
    pub sfu: Arc<crate::sfu::Sfu>,
    /// Held while a hearing's state changes, so that the database and the SFU room see the
    /// changes in the same order. Changes are rare and made by people: one lock suffices.
    pub hearing_transitions: Arc<tokio::sync::Mutex<()>>,
    /// Mutual legal assistance: requests, messages, delivery.
    pub mla: Arc<crate::mla::Mla>,
    /// Hearing recordings (start, stop, seal, export).
    pub recordings: Arc<crate::recording::Recordings>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the whole application router.
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.http.request_timeout_secs);
    let body_limit = state.settings.http.max_body_bytes;

    // Signaling joins through the policy: an assigned judge's or clerk's session, or a redeemed
    // invitation for that hearing (`routes::hearings::PolicyAdmission`).
    let signaling = crate::sfu::signal::router(
        state.sfu.clone(),
        Arc::new(routes::PolicyAdmission::new(state.clone())),
    );
    routes::routes(&state.settings.mla)
        .merge(signaling)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track_metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "timeout",
                        "The server took too long to answer. Nothing may have been changed; check, then try again.",
                    )
                }))
                .timeout(timeout),
        )
        .layer(axum::middleware::map_response(security_headers))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// The security headers every response carries, unless the handler set its own: one layer that
/// writes them all (five `SetResponseHeaderLayer`s cost five service hops per request).
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=63072000"),
    ),
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    ),
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
];

async fn security_headers(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if let header::Entry::Vacant(slot) = headers.entry(name) {
            slot.insert(value);
        }
    }
    resp
}

async fn track_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let labels = HttpLabels {
        method,
        route,
        status: resp.status().as_u16(),
    };
    state.metrics.http_requests.get_or_create(&labels).inc();
    state
        .metrics
        .http_duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// Turns the plain-text rejections of axum's own extractors (a malformed path parameter or query
/// string, say) into the API's JSON error shape, so every 4xx a client sees has a stable code.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !status.is_client_error() || is_json || resp.headers().contains_key(header::UPGRADE) {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let message = if text.trim().is_empty() {
        "The request is not valid for this address (see docs/protocol.md).".to_string()
    } else {
        format!("The request is not valid: {}", text.trim())
    };
    ApiError::new(status, "invalid_request", message).into_response()
}

async fn fallback() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "There is nothing at this address. Check the URL.",
    )
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This address does not accept this method (see docs/protocol.md).",
    )
    .into_response()
}
