//! One-time links: creating the first administrator, and setting a password.
//!
//! The link's token is the credential. It is stored only as a hash, expires
//! (`auth.one_time_link_hours`), and is spent in the same transaction that uses it, so a failed
//! attempt (a weak password, a taken username) leaves the link usable and nothing half-created.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use serde::Deserialize;
use serde_json::json;

use super::session::UserView;
use crate::audit::{Actor, AuditEvent};
use crate::auth;
use crate::http::extract::{ApiJson, Caller};
use crate::http::{ApiError, ApiResult, AppState};
use crate::policy::{Action, Role};
use crate::store::{NewUser, StoreError};

const SETUP_PAGE: &str = include_str!("../../../assets/setup.html");
const PASSWORD_PAGE: &str = include_str!("../../../assets/password.html");
const SCRIPT: &str = include_str!("../../../assets/onetime.js");

pub async fn setup_page() -> Html<&'static str> {
    Html(SETUP_PAGE)
}

pub async fn password_page() -> Html<&'static str> {
    Html(PASSWORD_PAGE)
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

fn spent_link() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "invalid_link",
        "This link is unknown, already used or expired. Ask for a new one (an administrator can \
         create it; for the first administrator, restart the server to print a new one).",
    )
}

fn weak_password(e: auth::PasswordRule) -> ApiError {
    ApiError::bad_request("weak_password", format!("Choose another password: {e}."))
        .with_details(json!({ "field": "password" }))
}

async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .map_err(ApiError::internal)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstAdministrator {
    token: String,
    username: String,
    display_name: String,
    password: String,
}

/// `POST /api/v1/setup`
pub async fn create_first_administrator(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<FirstAdministrator>,
) -> ApiResult<impl IntoResponse> {
    let _permit = caller.authorize(Action::RedeemOneTimeLink)?;
    let username = auth::normalise_username(&body.username).map_err(|e| {
        ApiError::bad_request("invalid_username", format!("Choose another username: {e}."))
            .with_details(json!({ "field": "username" }))
    })?;
    let display_name = body.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "invalid_display_name",
            "Give a name of 1 to 200 characters.",
        )
        .with_details(json!({ "field": "display_name" })));
    }
    auth::check_new_password(&body.password, &username).map_err(weak_password)?;
    let password_hash = hash(body.password).await?;
    let new = NewUser {
        username: &username,
        display_name,
        roles: &[Role::Administrator],
        password_hash: Some(&password_hash),
    };
    let user = match state
        .store
        .redeem_first_administrator(&auth::token_hash(&body.token), &new)
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Err(spent_link()),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = %user.id, "first administrator created");
    state
        .audit
        .append(AuditEvent::new(
            Actor::Anonymous,
            "user.create_first_administrator",
            format!("user:{}", user.id),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user": UserView::from(&user) })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    token: String,
    password: String,
}

/// `POST /api/v1/password`
pub async fn set_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SetPassword>,
) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::RedeemOneTimeLink)?;
    // The username is only known after the link is looked up; check length rules first, the
    // "not the username" rule against an empty name, then spend the link.
    auth::check_new_password(&body.password, "").map_err(weak_password)?;
    let password_hash = hash(body.password).await?;
    let user = match state
        .store
        .redeem_set_password(&auth::token_hash(&body.token), &password_hash)
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Err(spent_link()),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = %user.id, "password set through a one-time link");
    state
        .audit
        .append(AuditEvent::new(
            Actor::Anonymous,
            "user.password_set",
            format!("user:{}", user.id),
        ))
        .await?;
    Ok(Json(json!({ "user": UserView::from(&user) })))
}
