//! Request extractors: who is calling ([`Caller`]) and bounded JSON bodies ([`ApiJson`]).
//!
//! [`Caller`] turns whatever credential a request carries into a policy [`Subject`], in this order:
//! an `Authorization: Bearer` API token; the session cookie (with the CSRF check on every
//! state-changing method); a mutual-TLS client certificate registered to an authority; else
//! anonymous. A credential that is present but wrong is an error, never a silent downgrade.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::auth;
use crate::policy::{self, Action, Credential, Permit, Subject};
use crate::store::{HearingSessionRecord, SessionRecord, SessionStage, UserRecord, now};

/// The session cookie. `__Host-` makes browsers insist on Secure, Path=/ and no Domain.
pub const SESSION_COOKIE: &str = "__Host-assize_session";
/// The hearing-session cookie: what a redeemed invitation becomes. Valid for one hearing only.
pub const HEARING_COOKIE: &str = "__Host-assize_hearing";
/// The header that must carry the session's CSRF token on POST, PUT, PATCH and DELETE.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Facts about the connection, set by the accept loop on every request.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// SHA-256 (hex) of the client certificate, when one was presented and verified.
    pub client_cert_sha256: Option<String>,
}

/// The authenticated (or anonymous) caller of a request.
#[derive(Debug)]
pub struct Caller {
    pub subject: Subject,
    pub user: Option<UserRecord>,
    pub session: Option<SessionRecord>,
    pub api_token_id: Option<String>,
    pub remote: Option<SocketAddr>,
    /// The session's CSRF token (sessions only), for `GET /api/v1/session`.
    pub csrf_token: Option<String>,
    /// The hearing session, when the caller holds a redeemed invitation.
    pub hearing_session: Option<HearingSessionRecord>,
}

impl Caller {
    /// A caller known only by `subject`; the credential-specific fields start empty.
    fn bare(subject: Subject, remote: Option<SocketAddr>) -> Self {
        Caller {
            subject,
            user: None,
            session: None,
            api_token_id: None,
            remote,
            csrf_token: None,
            hearing_session: None,
        }
    }

    /// Asks the policy whether this caller may perform `action`.
    ///
    /// # Errors
    /// 401 or 403 with the reason.
    pub fn authorize(&self, action: Action) -> Result<Permit, ApiError> {
        policy::authorize(&self.subject, action).map_err(|d| {
            if d == policy::Denial::Unauthenticated && action == Action::FederationWhoAmI {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unknown_authority",
                    "This endpoint is for other states' servers: connect with a client certificate \
                     registered to your authority.",
                );
            }
            d.into()
        })
    }

    /// The signed-in user; callers use it after a [`Permit`] for a user-only action.
    ///
    /// # Errors
    /// 401 when there is none.
    pub fn user(&self) -> Result<&UserRecord, ApiError> {
        self.user.as_ref().ok_or_else(ApiError::unauthenticated)
    }
}

fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let conn = parts.extensions.get::<ConnInfo>().cloned();
        let remote = conn.as_ref().map(|c| c.remote);

        if let Some(authz) = parts.headers.get(header::AUTHORIZATION) {
            let token = authz
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid_token",
                        "The Authorization header must be `Bearer <API token>`.",
                    )
                })?;
            let Some((token_id, user)) = state
                .store
                .user_by_api_token(&auth::token_hash(token))
                .await?
            else {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "This API token is unknown, revoked or expired. Create a new one.",
                ));
            };
            return Ok(Caller {
                subject: Subject::User {
                    user_id: user.id.clone(),
                    roles: user.roles.clone(),
                    credential: Credential::ApiToken,
                },
                user: Some(user),
                session: None,
                api_token_id: Some(token_id),
                remote,
                csrf_token: None,
                hearing_session: None,
            });
        }

        if let Some(cookie) = cookie_value(parts, SESSION_COOKIE) {
            let hash = auth::token_hash(cookie);
            let Some(session) = state.store.session(&hash).await? else {
                return Err(ApiError::session_expired());
            };
            let t = now();
            let idle = state.settings.auth.session_idle_minutes * 60;
            if session.expires_at <= t || session.last_seen_at + idle <= t || session.user.disabled
            {
                state.store.delete_session(&hash).await?;
                return Err(ApiError::session_expired());
            }
            if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
                let presented = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !auth::token_matches(presented, &session.csrf_hash) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "csrf_failed",
                        "This request lacks its X-CSRF-Token header. Reload the page and try again.",
                    ));
                }
            }
            // Record activity at most once a minute, to spare the database.
            if t - session.last_seen_at >= 60 {
                state.store.touch_session(&hash, t).await?;
            }
            let credential = match session.stage {
                SessionStage::Full => Credential::Session,
                SessionStage::TotpEnrolment => Credential::SessionAwaitingTotpEnrolment,
            };
            let user = session.user.clone();
            return Ok(Caller {
                subject: Subject::User {
                    user_id: user.id.clone(),
                    roles: user.roles.clone(),
                    credential,
                },
                user: Some(user),
                session: Some(session),
                api_token_id: None,
                remote,
                csrf_token: Some(auth::csrf_token_for(cookie)),
                hearing_session: None,
            });
        }

        if let Some(cookie) = cookie_value(parts, HEARING_COOKIE) {
            let Some(hs) = state
                .store
                .hearing_session(&auth::token_hash(cookie))
                .await?
            else {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "hearing_session_expired",
                    "Your access to this hearing has ended or was withdrawn. Ask the court for a \
                     new invitation.",
                ));
            };
            let csrf = auth::csrf_token_for(cookie);
            if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
                let presented = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !auth::token_matches(presented, &auth::token_hash(&csrf)) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "csrf_failed",
                        "This request lacks its X-CSRF-Token header. Reload the page and try again.",
                    ));
                }
            }
            return Ok(Caller {
                subject: Subject::HearingParticipant {
                    hearing_id: hs.hearing_id.clone(),
                    participant_id: hs.participant.id.clone(),
                    role: hs.participant.role,
                },
                user: None,
                session: None,
                api_token_id: None,
                remote,
                csrf_token: Some(csrf),
                hearing_session: Some(hs),
            });
        }

        if let Some(fp) = conn.as_ref().and_then(|c| c.client_cert_sha256.as_deref())
            && let Some(authority) = state.store.authority_by_fingerprint(fp).await?
        {
            return Ok(Caller::bare(
                Subject::Authority {
                    authority_id: authority.id,
                },
                remote,
            ));
        }

        Ok(Caller::bare(Subject::Anonymous, remote))
    }
}

/// A JSON body whose errors are API errors (400 `invalid_json`, 413, 415) instead of plain text.
/// The body size is bounded by the router's limit before parsing starts.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with `Content-Type: application/json`.",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "invalid_json",
            format!("The body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "invalid_request",
            format!(
                "The body does not have the expected fields: {}",
                e.body_text()
            ),
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            payload_too_large()
        }
        other => ApiError::bad_request("invalid_request", other.body_text()),
    }
}

/// 413 with the stable code.
pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "The request body is larger than this server accepts (setting http.max_body_bytes).",
    )
}
