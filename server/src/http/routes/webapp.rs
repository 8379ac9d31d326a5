//! The web application: `web/` (plain HTML, CSS and ES modules, no build step) compiled into the
//! binary and served at `/` (the page) and `/app/...` (its assets).
//!
//! Like the OpenAPI document, these files are the same for everyone and hold no data, so no policy
//! action guards them; everything the application shows comes from the API, which does. Every
//! answer keeps the router's security headers, the strict Content-Security-Policy included (the
//! application has no inline script or style). Assets are revalidated on each use
//! (`Cache-Control: no-cache` with a strong `ETag` from the file's SHA-256), so a new binary is
//! picked up at once without file names that change.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::http::ApiError;

/// The files of `web/`, read at compile time.
#[derive(RustEmbed)]
#[folder = "../web/"]
struct WebFiles;

/// `GET /` and `GET /join` (where invitation links lead, the token in the fragment): the
/// application's page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /app/{*path}`: a script, style sheet, translation or image of the application.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// The content type for a file name; `None` for kinds the application does not ship.
fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "There is nothing at this address. Check the URL, or open the application at /.",
    )
    .into_response()
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    // Embedded names are plain relative paths: anything else cannot match, but refuse it early.
    if path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|s| s == ".." || s.is_empty())
    {
        return not_found();
    }
    let (Some(ctype), Some(file)) = (content_type(path), WebFiles::get(path)) else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let status = if matches {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let body = if matches {
        Body::empty()
    } else {
        Body::from(file.data.into_owned())
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_file_has_a_content_type() {
        for name in WebFiles::iter() {
            assert!(content_type(&name).is_some(), "{name} has no content type");
        }
    }

    #[test]
    fn paths_that_climb_or_are_unknown_are_not_found() {
        let h = HeaderMap::new();
        for p in [
            "../Cargo.toml",
            "js/../../x.js",
            "",
            "/etc/passwd",
            "nope.js",
            "js//main.js",
        ] {
            assert_eq!(serve(p, &h).status(), StatusCode::NOT_FOUND, "{p}");
        }
        assert_eq!(serve("index.html", &h).status(), StatusCode::OK);
    }
}
