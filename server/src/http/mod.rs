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
        .layer(axum::middleware::from_fn(run_to_completion))
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

/// A request that may change something (any method but GET, HEAD, OPTIONS, TRACE) runs to its
/// end on a task of its own, even when the client goes away or the timeout answers first.
///
/// Otherwise hyper drops the handler's future at the client's disconnect (and the timeout
/// layer at its deadline) wherever it happens to be waiting: a recording stopped in the room
/// but never sealed or audited, a transition stored but not announced. Handlers are written as
/// a sequence of steps that each leave a consistent state; this makes sure the sequence is not
/// cut between two of them. The client that left simply does not read the answer; the one that
/// timed out was told "nothing may have been changed; check, then try again".
async fn run_to_completion(req: Request, next: Next) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    let work = tracing::Instrument::instrument(next.run(req), tracing::Span::current());
    match tokio::spawn(work).await {
        Ok(response) => response,
        Err(e) => {
            ApiError::internal(anyhow::anyhow!("the request's task failed: {e}")).into_response()
        }
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::routing::post;
    use tower::ServiceExt as _;

    use super::*;

    /// A handler that signals it has started, waits to be released, then records that it ran
    /// to its end.
    fn slow_router(
        entered: tokio::sync::mpsc::Sender<()>,
        release: Arc<tokio::sync::Notify>,
        finished: Arc<AtomicBool>,
    ) -> Router {
        let handler = move || {
            let (entered, release, finished) = (entered.clone(), release.clone(), finished.clone());
            async move {
                let _ = entered.send(()).await;
                release.notified().await;
                finished.store(true, Ordering::SeqCst);
                "done"
            }
        };
        Router::new()
            .route("/change", post(handler.clone()).get(handler))
            .layer(axum::middleware::from_fn(run_to_completion))
    }

    async fn abandon(method: &str) -> bool {
        let (entered_tx, mut entered) = tokio::sync::mpsc::channel(1);
        let release = Arc::new(tokio::sync::Notify::new());
        let finished = Arc::new(AtomicBool::new(false));
        let app = slow_router(entered_tx, release.clone(), finished.clone());
        let request = Request::builder()
            .method(method)
            .uri("/change")
            .body(axum::body::Body::empty())
            .expect("a valid request");
        // The client: sends the request, then goes away while the handler is mid-way.
        let client = tokio::spawn(app.oneshot(request));
        entered.recv().await.expect("the handler starts");
        client.abort();
        let _ = client.await;
        release.notify_one();
        for _ in 0..200 {
            if finished.load(Ordering::SeqCst) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_change_runs_to_its_end_when_the_client_goes_away() {
        assert!(abandon("POST").await, "the POST handler finished");
        // A read is simply dropped: nothing to finish.
        assert!(!abandon("GET").await, "the GET handler was cancelled");
    }
}
