//! API tokens for machines (a Prometheus scraper, a case-management system). Created from an
//! interactive session; the secret is shown once and stored only as a hash.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use crate::audit::{Actor, AuditEvent};
use crate::auth;
use crate::http::extract::{ApiJson, Caller};
use crate::http::{ApiError, ApiResult, AppState};
use crate::policy::Action;
use crate::store::now;

/// `GET /api/v1/tokens`
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::ManageOwnApiTokens)?;
    let tokens = state.store.api_tokens_of(&caller.user()?.id).await?;
    Ok(Json(json!({ "tokens": tokens })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// `POST /api/v1/tokens`: returns the secret once.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<impl IntoResponse> {
    let _permit = caller.authorize(Action::ManageOwnApiTokens)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "invalid_name",
            "Give the token a name of 1 to 100 characters.",
        )
        .with_details(json!({ "field": "name" })));
    }
    let expires_at = match body.expires_in_days {
        None => None,
        Some(d @ 1..=3650) => Some(now() + i64::from(d) * 86_400),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_expiry",
                "expires_in_days must be between 1 and 3650.",
            )
            .with_details(json!({ "field": "expires_in_days" })));
        }
    };
    let secret = format!("asz_{}", auth::random_token());
    let user = caller.user()?;
    let info = state
        .store
        .insert_api_token(&user.id, name, &auth::token_hash(&secret), expires_at)
        .await?;
    tracing::info!(user_id = %user.id, token_id = %info.id, "API token created");
    state
        .audit
        .append(
            AuditEvent::new(
                Actor::from(&caller.subject),
                "token.create",
                format!("token:{}", info.id),
            )
            .with(json!({ "name": info.name, "expires_at": info.expires_at })),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": secret, "info": info })),
    ))
}

/// `DELETE /api/v1/tokens/{id}`
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let _permit = caller.authorize(Action::ManageOwnApiTokens)?;
    state
        .store
        .revoke_api_token(&caller.user()?.id, &id)
        .await?;
    state
        .audit
        .append(AuditEvent::new(
            Actor::from(&caller.subject),
            "token.revoke",
            format!("token:{id}"),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
