//! Other states' authorities, known by the client certificate their server presents (mutual TLS).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::audit::{Actor, AuditEvent};
use crate::http::extract::{ApiJson, Caller};
use crate::http::{ApiError, ApiResult, AppState};
use crate::policy::{Action, Subject};

/// `GET /api/v1/authorities`
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::ManageAuthorities)?;
    Ok(Json(
        json!({ "authorities": state.store.list_authorities().await? }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAuthority {
    name: String,
    /// ISO 3166-1 alpha-2, upper case.
    country: String,
    /// The PEM client certificate its server will present.
    certificate_pem: String,
}

/// The SHA-256 fingerprint (hex) of the first certificate in a PEM text.
///
/// # Errors
/// A sentence when the text holds no certificate.
pub fn pem_fingerprint(pem: &str) -> Result<String, &'static str> {
    let der = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .ok_or("no PEM certificate found")?
        .map_err(|_| "the PEM text is malformed")?;
    Ok(hex::encode(Sha256::digest(der.as_ref())))
}

/// `POST /api/v1/authorities`
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewAuthority>,
) -> ApiResult<impl IntoResponse> {
    let _permit = caller.authorize(Action::ManageAuthorities)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "invalid_name",
            "Give the authority a name of 1 to 200 characters.",
        )
        .with_details(json!({ "field": "name" })));
    }
    if body.country.len() != 2 || !body.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::bad_request(
            "invalid_country",
            "Give the country as two capital letters (ISO 3166-1), e.g. FR.",
        )
        .with_details(json!({ "field": "country" })));
    }
    let fp = pem_fingerprint(&body.certificate_pem).map_err(|e| {
        ApiError::bad_request(
            "invalid_certificate",
            format!("The certificate cannot be used: {e}."),
        )
        .with_details(json!({ "field": "certificate_pem" }))
    })?;
    let rec = state
        .store
        .insert_authority(name, &body.country, &fp)
        .await?;
    tracing::info!(authority_id = %rec.id, "authority registered");
    state
        .audit
        .append(
            AuditEvent::new(
                Actor::from(&caller.subject),
                "authority.register",
                format!("authority:{}", rec.id),
            )
            .with(
                json!({ "name": rec.name, "country": rec.country, "cert_sha256": rec.cert_sha256 }),
            ),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "authority": rec }))))
}

/// `GET /api/v1/federation/whoami`: which authority the server takes the caller to be.
pub async fn whoami(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let _permit = caller.authorize(Action::FederationWhoAmI)?;
    let Subject::Authority { authority_id } = &caller.subject else {
        return Err(ApiError::unauthenticated());
    };
    let me = state
        .store
        .authority_by_id(authority_id)
        .await?
        .ok_or_else(|| ApiError::not_found("authority"))?;
    Ok(Json(json!({ "authority": me })))
}
