//! The API's own description: `GET /api/openapi.json`, an OpenAPI 3.1 document.
//!
//! The document (`server/src/http/openapi.json`) is plain JSON maintained by hand beside the route
//! table, and compiled into the binary. `tests/tests/openapi.rs` holds it to the router: a route
//! added, removed or given another method without the document fails that test, and so does a
//! request schema that the handler's body struct would not accept.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as shipped.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// `GET /api/openapi.json`: to everyone, without credentials, like the probes. It describes the
/// API, never data, so no policy action guards it.
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::DOCUMENT;

    #[test]
    fn the_shipped_document_is_openapi_3_1_json_that_describes_itself() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
        );
        assert!(doc["paths"]["/api/openapi.json"]["get"].is_object());
    }
}
