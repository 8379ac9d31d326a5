//! Account administration (administrators only; changes need an interactive session).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::session::UserView;
use crate::accounts::{self, AccountError};
use crate::audit::{Actor, AuditEvent};
use crate::http::extract::{ApiJson, Caller};
use crate::http::{ApiError, ApiResult, AppState};
use crate::policy::{Action, Role};

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(s) => s.into(),
            AccountError::LastAdministrator => {
                ApiError::conflict(format!("{}.", capitalise(&e.to_string())))
            }
            AccountError::InvalidUsername(_) => field_error("invalid_username", "username", &e),
            AccountError::InvalidDisplayName => {
                field_error("invalid_display_name", "display_name", &e)
            }
            AccountError::InvalidRoles => field_error("invalid_roles", "roles", &e),
        }
    }
}

fn field_error(code: &'static str, field: &str, e: &AccountError) -> ApiError {
    ApiError::bad_request(code, format!("{}.", capitalise(&e.to_string())))
        .with_details(json!({ "field": field }))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// `GET /api/v1/users`
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::ListUsers)?;
    let users = state.store.list_users().await?;
    Ok(Json(
        json!({ "users": users.iter().map(UserView::from).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    username: String,
    display_name: String,
    roles: Vec<Role>,
}

/// `POST /api/v1/users`: creates the account and returns the one-time link for its password.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<impl IntoResponse> {
    let _permit = caller.authorize(Action::ManageUsers)?;
    if body.roles.len() > Role::ALL.len() {
        return Err(AccountError::InvalidRoles.into());
    }
    let (user, link) = accounts::create_user(
        &state.store,
        &state.settings,
        &state.public_url,
        &body.username,
        &body.display_name,
        &body.roles,
    )
    .await?;
    tracing::info!(by = %caller.user()?.id, user_id = %user.id, "account created");
    state
        .audit
        .append(
            AuditEvent::new(
                Actor::from(&caller.subject),
                "user.create",
                format!("user:{}", user.id),
            )
            .with(json!({ "roles": user.roles })),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user": UserView::from(&user), "password_link": link })),
    ))
}

async fn set_disabled(
    state: AppState,
    caller: Caller,
    id: String,
    disabled: bool,
) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::ManageUsers)?;
    if disabled && caller.user()?.id == id {
        return Err(ApiError::conflict("You cannot disable your own account."));
    }
    let user = accounts::set_disabled(&state.store, &id, disabled).await?;
    tracing::info!(by = %caller.user()?.id, user_id = %id, disabled, "account status changed");
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    state
        .audit
        .append(AuditEvent::new(
            Actor::from(&caller.subject),
            action,
            format!("user:{id}"),
        ))
        .await?;
    Ok(Json(json!({ "user": UserView::from(&user) })))
}

/// `POST /api/v1/users/{id}/disable`: also ends its sessions and revokes its API tokens.
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    set_disabled(state, caller, id, true).await
}

/// `POST /api/v1/users/{id}/enable`
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    set_disabled(state, caller, id, false).await
}

/// `POST /api/v1/users/{id}/reset-totp`: the user enrols again at next sign-in.
pub async fn reset_totp(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let _permit = caller.authorize(Action::ManageUsers)?;
    state.store.reset_totp(&id).await?;
    tracing::info!(by = %caller.user()?.id, user_id = %id, "second factor reset");
    state
        .audit
        .append(AuditEvent::new(
            Actor::from(&caller.subject),
            "user.reset_totp",
            format!("user:{id}"),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/users/{id}/password-link`: a new one-time link to set the password.
pub async fn password_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::ManageUsers)?;
    if state.store.user_by_id(&id).await?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    let link =
        accounts::password_link(&state.store, &state.settings, &state.public_url, &id).await?;
    state
        .audit
        .append(AuditEvent::new(
            Actor::from(&caller.subject),
            "user.password_link",
            format!("user:{id}"),
        ))
        .await?;
    Ok(Json(json!({ "password_link": link })))
}
