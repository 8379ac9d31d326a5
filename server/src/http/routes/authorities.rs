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
    let _permit = caller.authorize(Action::ViewDirectory)?;
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
    /// The identifier both servers use (letters, digits, `-`, `_`, `.`; at most 64). Defaults to
    /// `<country>-<random>` for compatibility with earlier registrations.
    code: Option<String>,
    /// `central` (default) or `competent`.
    kind: Option<String>,
    /// Hosted on this server (an authority whose officers sign in here).
    #[serde(default)]
    local: bool,
    /// Base URL of its Assize server (other states' authorities).
    endpoint: Option<String>,
    /// Functional mailbox.
    email: Option<String>,
    /// The PEM client certificate its server will present (other states' authorities).
    certificate_pem: Option<String>,
    /// The PEM certificate the authority seals its messages with (other states' authorities,
    /// optional): when given, only seals by this very certificate are accepted from it.
    seal_certificate_pem: Option<String>,
}

fn field_error(code: &'static str, field: &'static str, message: &str) -> ApiError {
    ApiError::bad_request(code, message.to_owned()).with_details(json!({ "field": field }))
}

/// A plausible e-mail address (one `@`, no spaces or angle brackets, bounded).
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.contains('@')
        && s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
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
    let code = body.code.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            body.country,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    });
    if code.is_empty()
        || code.len() > 64
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(field_error(
            "invalid_code",
            "code",
            "Give a code of 1 to 64 letters, digits, '-', '_' or '.', e.g. DE-BfJ.",
        ));
    }
    let kind = body.kind.as_deref().unwrap_or("central");
    if !matches!(kind, "central" | "competent") {
        return Err(field_error(
            "invalid_kind",
            "kind",
            "The kind is 'central' (central authority) or 'competent' (a court, a prosecutor).",
        ));
    }
    if let Some(e) = &body.endpoint {
        let ok = url::Url::parse(e).is_ok_and(|u| {
            u.scheme() == "https" && u.host().is_some() && u.query().is_none() && e.len() <= 500
        });
        if !ok || body.local {
            return Err(field_error(
                "invalid_endpoint",
                "endpoint",
                "The endpoint is the https:// base URL of the other state's Assize server (local authorities have none).",
            ));
        }
    }
    if let Some(e) = &body.email
        && !valid_email(e)
    {
        return Err(field_error(
            "invalid_email",
            "email",
            "Give a valid e-mail address such as mla@justice.example.",
        ));
    }
    let fp = match (&body.certificate_pem, body.local) {
        (None, true) => None,
        (Some(_), true) => {
            return Err(field_error(
                "invalid_certificate",
                "certificate_pem",
                "A local authority has no certificate of its own: leave certificate_pem out.",
            ));
        }
        // An authority without a server, reached by S/MIME e-mail only.
        (None, false) if body.endpoint.is_none() && body.email.is_some() => None,
        (None, false) => {
            return Err(field_error(
                "invalid_certificate",
                "certificate_pem",
                "Give the PEM client certificate the other state's server presents (or, for an authority without a server, no endpoint and an e-mail address).",
            ));
        }
        (Some(pem), false) => Some(pem_fingerprint(pem).map_err(|e| {
            field_error(
                "invalid_certificate",
                "certificate_pem",
                &format!("The certificate cannot be used: {e}."),
            )
        })?),
    };
    let seal_fp = match (&body.seal_certificate_pem, body.local) {
        (None, _) => None,
        (Some(_), true) => {
            return Err(field_error(
                "invalid_certificate",
                "seal_certificate_pem",
                "A local authority's seal is configured on this server ([[signing.authorities]]) or issued by it: leave seal_certificate_pem out.",
            ));
        }
        (Some(pem), false) => Some(pem_fingerprint(pem).map_err(|e| {
            field_error(
                "invalid_certificate",
                "seal_certificate_pem",
                &format!("The seal certificate cannot be used: {e}."),
            )
        })?),
    };
    if body.local {
        // Its seal exists before it can act: configured, or a development one issued now.
        state
            .notary
            .authority_seal(&code, name, &body.country)
            .map_err(ApiError::internal)?;
    }
    let rec = state
        .store
        .insert_authority(&crate::store::NewAuthority {
            code: &code,
            name,
            country: &body.country,
            kind,
            local: body.local,
            endpoint: body.endpoint.as_deref(),
            email: body.email.as_deref(),
            cert_sha256: fp.as_deref(),
            seal_cert_sha256: seal_fp.as_deref(),
        })
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
                json!({ "code": rec.code, "name": rec.name, "country": rec.country, "local": rec.local,
                        "endpoint": rec.endpoint, "cert_sha256": rec.cert_sha256,
                        "seal_cert_sha256": rec.seal_cert_sha256 }),
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
