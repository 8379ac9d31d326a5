//! Signing in and out, and enrolling the TOTP second factor.
//!
//! `POST /api/v1/session` checks the password (argon2id, on a blocking thread) and, for an
//! account with TOTP, the 6-digit code. An account whose role requires TOTP but has none yet gets
//! a session that can only enrol (`stage: "totp_enrolment"`). The session cookie is `Secure`,
//! `HttpOnly`, `SameSite=Strict`; the response carries the CSRF token the client must send back in
//! `X-CSRF-Token` on every state-changing request.

use std::net::{IpAddr, Ipv4Addr};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Actor, AuditEvent};
use crate::auth;
use crate::http::extract::{ApiJson, Caller, ConnInfo, SESSION_COOKIE};
use crate::http::{ApiError, ApiResult, AppState};
use crate::policy::{Action, Role};
use crate::store::{SessionStage, UserRecord, now};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    username: String,
    password: String,
    #[serde(default)]
    totp_code: Option<String>,
}

/// The public view of an account.
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub totp_enrolled: bool,
    pub disabled: bool,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            roles: u.roles.clone(),
            totp_enrolled: u.totp_secret.is_some(),
            disabled: u.disabled,
        }
    }
}

fn stage_name(stage: SessionStage) -> &'static str {
    match stage {
        SessionStage::Full => "full",
        SessionStage::TotpEnrolment => "totp_enrolment",
    }
}

fn needs_totp(state: &AppState, user: &UserRecord) -> bool {
    user.roles
        .iter()
        .any(|r| state.settings.auth.totp_required_roles.contains(r))
}

fn too_many_attempts(wait: std::time::Duration) -> ApiError {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!(
            "Too many failed sign-in attempts. Wait {minutes} minute(s) and try again, or ask an \
             administrator to check your account."
        ),
    )
    .with_retry_after(wait.as_secs().max(1))
}

/// `POST /api/v1/session`
pub async fn sign_in(
    State(state): State<AppState>,
    conn: Option<axum::Extension<ConnInfo>>,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let username = body.username.trim().to_lowercase();
    if username.is_empty()
        || username.len() > 64
        || body.password.len() > auth::MAX_PASSWORD_CHARS * 4
    {
        return Err(ApiError::invalid_credentials());
    }
    let addr = conn
        .map(|c| c.remote.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Some(wait) = state.throttle.check(&username, addr) {
        state.metrics.sign_in("throttled");
        state
            .audit
            .append(
                AuditEvent::new(Actor::Anonymous, "auth.sign_in_throttled", "sign-in")
                    .with(json!({ "address": addr.to_string() })),
            )
            .await?;
        return Err(too_many_attempts(wait));
    }

    let user = state.store.user_by_username(&username).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let password = body.password;
    let ok =
        tokio::task::spawn_blocking(move || auth::verify_password(&password, stored.as_deref()))
            .await
            .map_err(|e| ApiError::internal(e.into()))?;
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            state.throttle.fail(&username, addr);
            state.metrics.sign_in("bad_password");
            tracing::info!(%addr, "sign-in refused: wrong username or password");
            // The attempted username is not recorded: people type passwords into it.
            let object = match &user {
                Some(u) => format!("user:{}", u.id),
                None => "unknown-account".to_string(),
            };
            state
                .audit
                .append(
                    AuditEvent::new(Actor::Anonymous, "auth.sign_in_failed", object)
                        .with(json!({ "reason": "password", "address": addr.to_string() })),
                )
                .await?;
            return Err(ApiError::invalid_credentials());
        }
    };

    let stage = match (&user.totp_secret, needs_totp(&state, &user)) {
        (Some(secret), _) => {
            let Some(code) = body.totp_code.as_deref().filter(|c| !c.trim().is_empty()) else {
                state.metrics.sign_in("totp_missing");
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "totp_required",
                    "Enter the 6-digit code from your authenticator app.",
                ));
            };
            let step = auth::totp_check(secret, code, u64::try_from(now()).unwrap_or(0));
            let accepted = match step {
                Some(step) => state.store.consume_totp_step(&user.id, step).await?,
                None => false,
            };
            if !accepted {
                state.throttle.fail(&username, addr);
                state.metrics.sign_in("bad_totp");
                state
                    .audit
                    .append(
                        AuditEvent::new(
                            Actor::Anonymous,
                            "auth.sign_in_failed",
                            format!("user:{}", user.id),
                        )
                        .with(json!({ "reason": "totp", "address": addr.to_string() })),
                    )
                    .await?;
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_totp",
                    "The 6-digit code is wrong or was already used. Wait for the next code and try again.",
                ));
            }
            SessionStage::Full
        }
        (None, true) => SessionStage::TotpEnrolment,
        (None, false) => SessionStage::Full,
    };

    state.throttle.succeed(&username);
    let token = auth::random_token();
    let csrf = auth::csrf_token_for(&token);
    let max_age = state.settings.auth.session_max_hours * 3600;
    let expires_at = now() + max_age;
    state
        .store
        .insert_session(
            &auth::token_hash(&token),
            &auth::token_hash(&csrf),
            &user.id,
            stage,
            expires_at,
        )
        .await?;
    state.metrics.sign_in("ok");
    state
        .audit
        .append(
            AuditEvent::new(
                Actor::User(user.id.clone()),
                "auth.sign_in",
                format!("user:{}", user.id),
            )
            .with(json!({ "stage": stage_name(stage), "address": addr.to_string() })),
        )
        .await?;
    tracing::info!(user_id = %user.id, stage = stage_name(stage), "signed in");

    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    );
    let mut resp = Json(json!({
        "user": UserView::from(&user),
        "stage": stage_name(stage),
        "csrf_token": csrf,
        "expires_at": expires_at,
    }))
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.into()))?,
    );
    Ok(resp)
}

/// `GET /api/v1/session`: who am I, and my CSRF token.
pub async fn current(caller: Caller) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::ViewOwnAccount)?;
    let user = caller.user()?;
    let stage = caller
        .session
        .as_ref()
        .map_or("api_token", |s| stage_name(s.stage));
    Ok(Json(
        json!({ "user": UserView::from(user), "stage": stage, "csrf_token": caller.csrf_token }),
    ))
}

/// `DELETE /api/v1/session`: sign out.
pub async fn sign_out(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let _permit = caller.authorize(Action::SignOut)?;
    if let Some(s) = &caller.session {
        state.store.delete_session(&s.token_hash).await?;
        let user = caller.user()?;
        state
            .audit
            .append(AuditEvent::new(
                Actor::User(user.id.clone()),
                "auth.sign_out",
                format!("user:{}", user.id),
            ))
            .await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "__Host-assize_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(resp)
}

/// `POST /api/v1/session/totp`: offer a new TOTP secret for the authenticator app.
pub async fn begin_totp_enrolment(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::EnrolTotp)?;
    let user = caller.user()?;
    if user.totp_secret.is_some() {
        return Err(ApiError::conflict(
            "A second factor is already set up for this account. To replace it, ask an administrator to reset it.",
        ));
    }
    let secret = auth::new_totp_secret();
    let (base32, uri) = auth::totp_provisioning(&secret, &user.username)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("TOTP provisioning failed")))?;
    state.store.set_totp_pending(&user.id, &secret).await?;
    Ok(Json(json!({ "secret_base32": base32, "otpauth_uri": uri })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotp {
    code: String,
}

/// `POST /api/v1/session/totp/confirm`: the first code proves the app is set up.
pub async fn confirm_totp_enrolment(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConfirmTotp>,
) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::EnrolTotp)?;
    let user = caller.user()?;
    let session = caller
        .session
        .as_ref()
        .ok_or_else(ApiError::unauthenticated)?;
    let Some(pending) = &user.totp_pending else {
        return Err(ApiError::conflict(
            "Start the set-up first (POST /api/v1/session/totp).",
        ));
    };
    let Some(step) = auth::totp_check(pending, &body.code, u64::try_from(now()).unwrap_or(0))
    else {
        return Err(ApiError::bad_request(
            "invalid_totp",
            "The 6-digit code is wrong. Check the clock of the device with the authenticator app and try the next code.",
        ));
    };
    state
        .store
        .confirm_totp(&user.id, pending, step, &session.token_hash)
        .await?;
    tracing::info!(user_id = %user.id, "TOTP second factor enrolled");
    state
        .audit
        .append(AuditEvent::new(
            Actor::User(user.id.clone()),
            "auth.totp_enrolled",
            format!("user:{}", user.id),
        ))
        .await?;
    Ok(Json(json!({ "stage": "full" })))
}
