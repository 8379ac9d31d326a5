//! The OpenAPI document (`GET /api/openapi.json`) held to the server it describes.
//!
//! The document is written by hand, so these tests are what keep it true: it lists exactly the
//! routes the router registers (read from the route table's source), every `$ref` resolves, every
//! request schema accepts and refuses the same bodies as the handler's serde struct, and real
//! requests and answers fit their schemas. The schema check here is deliberately light: types,
//! required and unknown properties, enums and the combinators; no formats, patterns or bounds.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use assize_server::policy::Role;
use assize_tests::{Client, PASSWORD, Reply, TestApp, spawn_app};
use serde_json::{Map, Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

// --- the router, from its source ------------------------------------------------------------

/// A server source file, up to its unit tests.
fn server_source(relative: &str) -> String {
    let path = format!("{}/../server/src/{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The text without `//` comments, so that a commented-out route does not count.
fn without_comments(src: &str) -> String {
    let mut out = String::new();
    for line in src.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\\' if in_string => escaped = !escaped,
                b'"' if !escaped => in_string = !in_string,
                b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                    cut = i;
                    break;
                }
                _ => escaped = false,
            }
            if b != b'\\' {
                escaped = false;
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// The names of the functions called in `text` (`get` in `get(probes::healthz)`).
fn called_functions(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if bytes.get(j) == Some(&b'(') {
                names.push(&text[start..i]);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Every `.route("PATH", get(…).post(…))` in `src`, as (path, method) pairs.
fn routes_in(src: &str) -> BTreeSet<(String, String)> {
    let src = without_comments(src);
    for other in [".nest(", ".nest_service(", ".route_service("] {
        assert!(
            !src.contains(other),
            "the route table uses `{other}`: teach this test to read it"
        );
    }
    let mut routes = BTreeSet::new();
    let mut rest = src.as_str();
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at + ".route(".len()..];
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a closed .route( call");
        let args = &call[..end];
        let mut parts = args.splitn(3, '"');
        let (_, path, handlers) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        let called = called_functions(handlers);
        assert!(
            !called
                .iter()
                .any(|f| ["any", "on"].contains(f) || f.ends_with("_service")),
            "{path} is routed by {called:?}: teach this test to read it"
        );
        let methods: Vec<&str> = called.into_iter().filter(|f| METHODS.contains(f)).collect();
        assert!(!methods.is_empty(), "no method found for {path}");
        // OpenAPI has no catch-all parameter: axum's `{*rest}` is documented as `{rest}` (and
        // its description says it may hold slashes).
        let path = path.replace("{*", "{");
        for m in methods {
            assert!(
                routes.insert((path.clone(), m.to_string())),
                "{m} {path} twice"
            );
        }
        rest = &call[end..];
    }
    routes
}

/// What the server registers: the route table and the signaling route merged into it.
fn router_routes() -> BTreeSet<(String, String)> {
    let mut routes = routes_in(&server_source("http/routes/mod.rs"));
    let signaling = routes_in(&server_source("sfu/signal.rs"));
    assert_eq!(signaling.len(), 1, "{signaling:?}");
    routes.extend(signaling);
    routes
}

// --- the document ----------------------------------------------------------------------------

async fn fetch_document(app: &TestApp) -> Value {
    let resp = app
        .client()
        .http
        .get(format!("{}/api/openapi.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "application/json");
    let text = resp.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).expect("the document is valid JSON");
    assert!(doc.is_object());
    doc
}

fn document_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for key in item.as_object().unwrap().keys() {
            if METHODS.contains(&key.as_str()) {
                routes.insert((path.clone(), key.clone()));
            } else {
                assert!(
                    ["parameters", "summary", "description", "servers"].contains(&key.as_str()),
                    "{path} has an unknown key {key}"
                );
            }
        }
    }
    routes
}

/// Follows `$ref`s (local ones only) to the object they name.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        v = doc
            .pointer(r.strip_prefix('#').expect("a local $ref"))
            .unwrap_or_else(|| panic!("{r} does not resolve"));
    }
    v
}

fn all_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                out.push(r);
            }
            m.values().for_each(|x| all_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| all_refs(x, out)),
        _ => {}
    }
}

/// Each operation with its path and method.
fn operations(doc: &Value) -> Vec<(String, String, &Value, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                ops.push((path.clone(), method.clone(), item, op));
            }
        }
    }
    ops
}

/// The path parameters declared for an operation (on the path item or the operation).
fn path_parameters<'a>(doc: &'a Value, item: &'a Value, op: &'a Value) -> Vec<&'a Value> {
    [item, op]
        .iter()
        .filter_map(|x| x["parameters"].as_array())
        .flatten()
        .map(|p| resolve(doc, p))
        .filter(|p| p["in"] == "path")
        .collect()
}

// --- a light schema check ----------------------------------------------------------------------

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other}"),
    }
}

/// Where `value` breaks `schema`: types, const and enum, required and unknown properties, items,
/// and `allOf` / `anyOf` / `oneOf` (the latter read as "at least one").
fn violations(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = doc
            .pointer(r.strip_prefix('#').unwrap())
            .unwrap_or_else(|| panic!("{r} does not resolve"));
        violations(doc, target, value, at, out);
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        out.push(format!("{at}: {value} is not {c}"));
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {e:?}"));
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("{at}: a malformed type"),
        };
        if !types.iter().any(|t| type_matches(t, value)) {
            out.push(format!("{at}: {value} is not of type {types:?}"));
            return;
        }
    }
    for all in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        violations(doc, all, value, at, out);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alternatives) = schema.get(key).and_then(Value::as_array) {
            let fits = alternatives.iter().any(|alt| {
                let mut scratch = Vec::new();
                violations(doc, alt, value, at, &mut scratch);
                scratch.is_empty()
            });
            if !fits {
                out.push(format!("{at}: {value} fits none of {key}"));
            }
        }
    }
    if let Some(obj) = value.as_object() {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap();
            if !obj.contains_key(name) {
                out.push(format!("{at}: `{name}` is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            match properties.and_then(|p| p.get(k)) {
                Some(s) => violations(doc, s, v, &format!("{at}.{k}"), out),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(format!("{at}: `{k}` is not a property"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            violations(doc, items, v, &format!("{at}[{i}]"), out);
        }
    }
}

/// A value the schema allows: with only the required properties, or (`full`) with all of the
/// top level's (nested objects always minimal).
fn example(doc: &Value, schema: &Value, full: bool) -> Value {
    let schema = resolve(doc, schema);
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        return e.iter().find(|v| !v.is_null()).unwrap().clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema.get(key).and_then(|a| a.get(0)) {
            return example(doc, first, full);
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in all {
            if let Value::Object(m) = example(doc, part, full) {
                merged.extend(m);
            }
        }
        return Value::Object(merged);
    }
    let t = match &schema["type"] {
        Value::String(s) => s.as_str(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap(),
        other => panic!("no example for a schema of type {other}"),
    };
    match t {
        "string" => json!("x"),
        "integer" => schema.get("minimum").cloned().unwrap_or(json!(1)),
        "boolean" => json!(false),
        "array" => json!([]),
        "object" => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut m = Map::new();
            for (k, s) in schema["properties"].as_object().into_iter().flatten() {
                if full || required.contains(&k.as_str()) {
                    m.insert(k.clone(), example(doc, s, false));
                }
            }
            Value::Object(m)
        }
        other => panic!("no example for type {other}"),
    }
}

/// The JSON request schema of an operation, if it takes JSON.
fn request_schema<'a>(doc: &'a Value, path: &str, method: &str) -> Option<&'a Value> {
    let op = &doc["paths"][path][method];
    let body = resolve(doc, op.get("requestBody")?);
    body["content"]
        .get("application/json")
        .map(|m| &m["schema"])
}

/// Checks a real exchange: the reply has `status`, the request body (if any) fits the
/// operation's request schema, and the reply's JSON body fits the response schema for `status`.
fn conforms(
    doc: &Value,
    method: &str,
    path: &str,
    body: Option<&Value>,
    reply: &Reply,
    status: u16,
) {
    assert_eq!(reply.status, status, "{method} {path}: {reply:?}");
    let mut out = Vec::new();
    if let Some(body) = body {
        let schema = request_schema(doc, path, method)
            .unwrap_or_else(|| panic!("{method} {path} documents no JSON body"));
        violations(doc, schema, body, "request", &mut out);
    }
    let response = doc["paths"][path][method]["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path} documents no {status}"));
    let response = resolve(doc, response);
    if let Some(media) = response
        .get("content")
        .and_then(|c| c.get("application/json"))
    {
        violations(doc, &media["schema"], &reply.body, "response", &mut out);
    } else {
        assert!(
            reply.body.is_null(),
            "{method} {path}: an undocumented JSON body"
        );
    }
    assert!(out.is_empty(), "{method} {path}:\n{}", out.join("\n"));
}

// --- the tests -------------------------------------------------------------------------------

#[tokio::test]
async fn the_document_describes_exactly_the_routes_of_the_router() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );

    let registered = router_routes();
    let documented = document_routes(&doc);
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty() && extra.is_empty(),
        "routes missing from the document: {undocumented:?}\nin the document but not routed: {extra:?}"
    );
    // The route table as it stands: a sanity check on the parsing above.
    assert!(registered.contains(&("/api/v1/tokens/{id}".into(), "delete".into())));
    assert!(registered.contains(&("/api/v1/hearings/{id}/signal".into(), "get".into())));
    assert!(registered.len() > 50, "{}", registered.len());
}

#[tokio::test]
async fn every_reference_resolves_and_every_operation_is_complete() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;

    let mut refs = Vec::new();
    all_refs(&doc, &mut refs);
    assert!(refs.len() > 100, "{}", refs.len());
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r}: only local references"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let mut ids = BTreeSet::new();
    for (path, method, item, op) in operations(&doc) {
        let at = format!("{method} {path}");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no operationId"));
        assert!(ids.insert(id.to_string()), "{at}: operationId {id} twice");
        assert!(op["summary"].is_string(), "{at}: no summary");
        assert!(
            op["responses"]
                .as_object()
                .is_some_and(|r| r.keys().any(|k| k.starts_with(['1', '2']))),
            "{at}: no success response"
        );
        // Explicit, even when public (`[]`), so nobody reads a missing one as "public".
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: no security"));
        for requirement in security {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(
                    schemes.contains_key(scheme),
                    "{at}: unknown scheme {scheme}"
                );
            }
        }
        // Path parameters: exactly the template's.
        let template: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: BTreeSet<&str> = path_parameters(&doc, item, op)
            .iter()
            .map(|p| {
                assert_eq!(p["required"], true, "{at}: path parameters are required");
                p["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(template, declared, "{at}: path parameters");
    }
}

#[tokio::test]
async fn request_schemas_accept_and_refuse_what_the_handlers_do() {
    // Bodies are parsed before the handler asks the policy, so a caller without credentials
    // learns from `400 invalid_request` whether the body fit the handler's struct.
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let anonymous = app.client();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (path, method, item, op) in operations(&doc) {
        let Some(schema) = request_schema(&doc, &path, &method) else {
            continue;
        };
        let mut url = path.clone();
        for p in path_parameters(&doc, item, op) {
            let value = example(&doc, &p["schema"], false);
            let value = value.as_str().map_or(value.to_string(), str::to_string);
            url = url.replace(&format!("{{{}}}", p["name"].as_str().unwrap()), &value);
        }
        let schema_object = resolve(&doc, schema);
        let minimal = example(&doc, schema, false);
        let full = example(&doc, schema, true);
        // (case, body, whether the handler must take it; None: the schema must merely agree).
        let mut cases: Vec<(String, Value, Option<bool>)> = vec![
            ("the required fields".into(), minimal.clone(), Some(true)),
            ("every field".into(), full.clone(), Some(true)),
        ];
        for name in schema_object["required"].as_array().into_iter().flatten() {
            let mut body = minimal.clone();
            body.as_object_mut().unwrap().remove(name.as_str().unwrap());
            cases.push((format!("no `{name}`"), body, Some(false)));
        }
        let mut body = full.clone();
        body["not_a_documented_field"] = json!(1);
        cases.push(("an unknown field".into(), body, None));
        for (case, body, expected) in cases {
            let mut out = Vec::new();
            violations(&doc, schema, &body, "body", &mut out);
            let fits = out.is_empty();
            let reply = anonymous
                .send(&method.to_uppercase(), &url, Some(body.clone()))
                .await;
            let parsed =
                !matches!(reply.code(), "invalid_request" | "invalid_json") && reply.status != 415;
            if fits != parsed || expected.is_some_and(|e| e != parsed) {
                failures.push(format!(
                    "{method} {path} with {case} {body}: the schema says {}, the server {} {}",
                    if fits { "yes" } else { "no" },
                    reply.status,
                    reply.code()
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 60, "{checked}");
}

#[tokio::test]
async fn real_requests_and_answers_fit_their_schemas() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let doc = &doc;
    let anonymous = app.client();
    for (path, name) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let r = anonymous.get(path).await;
        conforms(doc, "get", path, None, &r, 200);
        assert_eq!(r.body["status"], name);
    }

    // Signing in: a clerk without a second factor yet is half signed in.
    app.create_user("new.clerk", &[Role::Clerk]).await;
    let mut half = app.client();
    let body = json!({"username": "new.clerk", "password": PASSWORD});
    let r = half.post("/api/v1/session", body.clone()).await;
    conforms(doc, "post", "/api/v1/session", Some(&body), &r, 200);
    half.csrf = r.body["csrf_token"].as_str().map(str::to_string);
    let r = half.post("/api/v1/session/totp", json!({})).await;
    conforms(doc, "post", "/api/v1/session/totp", None, &r, 200);

    // Accounts, tokens and the directory, as an administrator.
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let r = admin.get("/api/v1/session").await;
    conforms(doc, "get", "/api/v1/session", None, &r, 200);
    let body = json!({"name": "case management", "expires_in_days": 30});
    let r = admin.post("/api/v1/tokens", body.clone()).await;
    conforms(doc, "post", "/api/v1/tokens", Some(&body), &r, 201);
    let r = admin.get("/api/v1/tokens").await;
    conforms(doc, "get", "/api/v1/tokens", None, &r, 200);
    let body = json!({"username": "j.martin", "display_name": "Judge Martin", "roles": ["judge"]});
    let r = admin.post("/api/v1/users", body.clone()).await;
    conforms(doc, "post", "/api/v1/users", Some(&body), &r, 201);
    let r = admin.get("/api/v1/users").await;
    conforms(doc, "get", "/api/v1/users", None, &r, 200);
    let body = json!({"name": "Central Authority A", "country": "FR", "code": "FR-CA", "local": true,
                      "email": "mla@justice.example"});
    let r = admin.post("/api/v1/authorities", body.clone()).await;
    conforms(doc, "post", "/api/v1/authorities", Some(&body), &r, 201);
    let local = r.body["authority"]["id"].clone();
    let (cert, _key) = app.issue_client_identity("Central Authority B");
    let body = json!({"name": "Central Authority B", "country": "BE", "code": "BE-CA", "kind": "central",
                      "endpoint": "https://b.example", "certificate_pem": cert});
    let r = admin.post("/api/v1/authorities", body.clone()).await;
    conforms(doc, "post", "/api/v1/authorities", Some(&body), &r, 201);
    let r = admin.get("/api/v1/authorities").await;
    conforms(doc, "get", "/api/v1/authorities", None, &r, 200);
    let r = admin.get("/api/v1/audit/checkpoint").await;
    conforms(doc, "get", "/api/v1/audit/checkpoint", None, &r, 200);
    let r = admin.get("/api/v1/audit/consistency?from=1").await;
    conforms(doc, "get", "/api/v1/audit/consistency", None, &r, 200);

    // An EIO drafted by an officer of the local authority.
    let (officer, _) = app.sign_in_as(&[Role::Officer]).await;
    let body = json!({"authority_id": local});
    let path = format!(
        "/api/v1/users/{}/authority",
        officer.user_id.clone().unwrap()
    );
    let r = admin.send("PUT", &path, Some(body.clone())).await;
    conforms(
        doc,
        "put",
        "/api/v1/users/{id}/authority",
        Some(&body),
        &r,
        204,
    );
    let body = json!({"kind": "eio", "recipient": "BE-CA",
                      "form": {"section_a": {"issuing_state": "FR", "executing_state": "BE"},
                               "section_c": {"measures": [{"kind": "hearing_by_videoconference"}]}}});
    let r = officer.post("/api/v1/mla/requests", body.clone()).await;
    conforms(doc, "post", "/api/v1/mla/requests", Some(&body), &r, 201);
    let request = r.body["request"]["id"].as_str().unwrap().to_string();
    let r = officer.get("/api/v1/mla/requests").await;
    conforms(doc, "get", "/api/v1/mla/requests", None, &r, 200);
    let r = officer
        .get(&format!("/api/v1/mla/requests/{request}"))
        .await;
    conforms(doc, "get", "/api/v1/mla/requests/{id}", None, &r, 200);
    let body = json!({"form": {"section_b": {"urgent": true, "reasons": "detention"}}});
    let r = officer
        .send(
            "PUT",
            &format!("/api/v1/mla/requests/{request}/form"),
            Some(body.clone()),
        )
        .await;
    conforms(
        doc,
        "put",
        "/api/v1/mla/requests/{id}/form",
        Some(&body),
        &r,
        200,
    );
    let uploaded = upload(&officer, &request, "statement.txt", b"a witness statement").await;
    conforms(
        doc,
        "post",
        "/api/v1/mla/requests/{id}/attachments",
        None,
        &uploaded,
        201,
    );
    let r = officer
        .get(&format!("/api/v1/mla/requests/{request}/audit"))
        .await;
    conforms(doc, "get", "/api/v1/mla/requests/{id}/audit", None, &r, 200);
    let seq = r.body["entries"][0]["seq"].as_i64().unwrap();
    let r = officer
        .get(&format!("/api/v1/mla/requests/{request}/audit?seq={seq}"))
        .await;
    assert!(r.body["inclusion_proof"].is_array(), "{r:?}");
    conforms(doc, "get", "/api/v1/mla/requests/{id}/audit", None, &r, 200);

    // A hearing booked by a clerk, with an invited witness.
    let (clerk, _) = app.sign_in_as(&[Role::Clerk]).await;
    let body = json!({"case_reference": "CR-1", "court": "Court 1", "title": "R v X",
                      "scheduled_at": 1_900_000_000});
    let r = clerk.post("/api/v1/hearings", body.clone()).await;
    conforms(doc, "post", "/api/v1/hearings", Some(&body), &r, 201);
    let hearing = r.body["id"].as_str().unwrap().to_string();
    let r = clerk.get("/api/v1/hearings").await;
    conforms(doc, "get", "/api/v1/hearings", None, &r, 200);
    let body = json!({"role": "witness", "label": "Witness A", "expires_in_hours": 24});
    let r = clerk
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            body.clone(),
        )
        .await;
    conforms(
        doc,
        "post",
        "/api/v1/hearings/{id}/invitations",
        Some(&body),
        &r,
        201,
    );
    let body = json!({"token": r.body["token"]});
    let witness = app.client();
    let r = witness
        .post("/api/v1/hearing-invitations/redeem", body.clone())
        .await;
    conforms(
        doc,
        "post",
        "/api/v1/hearing-invitations/redeem",
        Some(&body),
        &r,
        200,
    );
    let r = clerk
        .get(&format!("/api/v1/hearings/{hearing}/invitations"))
        .await;
    conforms(
        doc,
        "get",
        "/api/v1/hearings/{id}/invitations",
        None,
        &r,
        200,
    );
    let r = clerk
        .post(&format!("/api/v1/hearings/{hearing}/open"), json!({}))
        .await;
    conforms(doc, "post", "/api/v1/hearings/{id}/{verb}", None, &r, 200);
    let r = clerk.get(&format!("/api/v1/hearings/{hearing}")).await;
    conforms(doc, "get", "/api/v1/hearings/{id}", None, &r, 200);
    let r = witness.get(&format!("/api/v1/hearings/{hearing}/me")).await;
    conforms(doc, "get", "/api/v1/hearings/{id}/me", None, &r, 200);
    let r = clerk.get(&format!("/api/v1/hearings/{hearing}/me")).await;
    conforms(doc, "get", "/api/v1/hearings/{id}/me", None, &r, 200);

    // Errors have the shared shape.
    let r = anonymous.get("/api/v1/hearings").await;
    conforms(doc, "get", "/api/v1/hearings", None, &r, 401);
}

/// Uploads a raw attachment, as the API wants it (the file as the body).
async fn upload(officer: &Client, request: &str, filename: &str, content: &[u8]) -> Reply {
    let resp = officer
        .http
        .post(format!(
            "{}/api/v1/mla/requests/{request}/attachments?filename={filename}",
            officer.base
        ))
        .header("x-csrf-token", officer.csrf.clone().unwrap())
        .header("content-type", "text/plain")
        .body(content.to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// Guards the parser: a commented-out route and a string with `//` are read correctly.
#[test]
fn the_route_parser_reads_methods_and_skips_comments() {
    let src = r#"
        Router::new()
            // .route("/old", get(old))
            .route("/a/{id}", get(a::get).post(a::create)) // trailing comment
            .route(
                "/b",
                axum::routing::delete(b::revoke),
            )
            .route("/c", post(c::upload).layer(DefaultBodyLimit::max(limit)))
    "#;
    let found: BTreeMap<String, Vec<String>> =
        routes_in(src)
            .into_iter()
            .fold(BTreeMap::new(), |mut m, (p, method)| {
                m.entry(p).or_default().push(method);
                m
            });
    assert_eq!(
        found,
        BTreeMap::from([
            (
                "/a/{id}".to_string(),
                vec!["get".to_string(), "post".to_string()]
            ),
            ("/b".to_string(), vec!["delete".to_string()]),
            ("/c".to_string(), vec!["post".to_string()]),
        ])
    );
}
