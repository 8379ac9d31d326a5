//! The web application in a real headless browser: Debian's Chromium driven by `playwright-core`
//! (`tests/browser/stories.mjs`) against a real server, plus checks of the application's files
//! that need no browser (the two translations have the same keys; every key the scripts use
//! exists; the assets are served with their types, validators and the security headers).
//!
//! Needs `node`, `npm` and `/usr/bin/chromium` (`tools/install-deps.sh` installs them); without
//! them the browser test fails and says which command installs them. `npm ci` runs in
//! `tests/browser` when its `node_modules` is missing. Screenshots of each main screen go to
//! `$ASSIZE_SCREENSHOTS` when set (`docs/screenshots` to refresh the committed set), else to a
//! folder under the target directory.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use assize_server::policy::Role;
use assize_tests::{PASSWORD, spawn_app};
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn keys(lang: &str) -> BTreeSet<String> {
    let path = repo().join(format!("web/i18n/{lang}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{lang}.json: {e}"));
    let map = v
        .as_object()
        .unwrap_or_else(|| panic!("{lang}.json is not an object"));
    for (k, v) in map {
        assert!(
            v.as_str().is_some_and(|s| !s.trim().is_empty()),
            "{lang}.json: {k} is not a non-empty text"
        );
    }
    map.keys().cloned().collect()
}

#[test]
fn english_and_french_have_exactly_the_same_keys() {
    let (en, fr) = (keys("en"), keys("fr"));
    let only_en: Vec<_> = en.difference(&fr).collect();
    let only_fr: Vec<_> = fr.difference(&en).collect();
    assert!(
        only_en.is_empty() && only_fr.is_empty(),
        "missing from fr.json: {only_en:?}; missing from en.json: {only_fr:?}"
    );
}

/// Every literal key in `t("…")` calls of the scripts, and every `label`/`hint` of the form
/// descriptions, is in en.json (keys built at run time, like `role.${r}`, are checked by the
/// stories that show them).
#[test]
fn every_key_the_scripts_name_is_translated() {
    let en = keys("en");
    let mut missing = Vec::new();
    let mut files = vec![repo().join("web/js/forms.js")];
    for dir in ["web/js", "web/js/views"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "js") {
                files.push(p);
            }
        }
    }
    let mut found = 0;
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        let forms = file.ends_with("forms.js");
        let patterns: &[(&str, &str)] = if forms {
            &[
                ("label: \"", "form."),
                ("item: \"", "form."),
                ("hint: \"", ""),
            ]
        } else {
            &[(" t(\"", ""), ("(t(\"", ""), ("[t(\"", "")]
        };
        for (pat, prefix) in patterns {
            for (at, _) in src.match_indices(pat) {
                let rest = &src[at + pat.len()..];
                let key: String = rest.chars().take_while(|&c| c != '"').collect();
                found += 1;
                let full = format!("{prefix}{key}");
                if !en.contains(&full) {
                    missing.push(format!("{}: {full}", file.display()));
                }
            }
        }
    }
    assert!(
        found > 200,
        "the scan found only {found} keys: has the code changed shape?"
    );
    assert!(
        missing.is_empty(),
        "keys missing from en.json:\n{}",
        missing.join("\n")
    );
}

#[tokio::test]
async fn the_application_is_served_with_types_validators_and_the_security_headers() {
    let app = spawn_app().await;
    let c = app.client();
    for (path, ctype) in [
        ("/", "text/html; charset=utf-8"),
        ("/app/js/main.js", "text/javascript; charset=utf-8"),
        ("/app/app.css", "text/css; charset=utf-8"),
        ("/app/i18n/fr.json", "application/json"),
    ] {
        let r = c
            .http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], ctype, "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("default-src 'self'"),
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        let etag = h["etag"].to_str().unwrap().to_string();
        let again = c
            .http
            .get(format!("{}{path}", app.url))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} with its ETag");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    }
    let page = c.get("/").await;
    assert_eq!(page.status, 200);
    let html = c
        .http
        .get(format!("{}/", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style: the CSP forbids them"
    );
    for bad in [
        "/app/nope.js",
        "/app/../Cargo.toml",
        "/app/js/",
        "/app/index.md",
    ] {
        let r = c.get(bad).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{bad}");
    }
}

/// What a machine lacks to run the stories, with the command that installs it.
fn missing_tools() -> Vec<String> {
    let mut missing = Vec::new();
    let runs = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !runs("node") || !runs("npm") {
        missing.push(
            "node and npm: run `sudo apt-get install -y nodejs npm` (or tools/install-deps.sh)"
                .into(),
        );
    }
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push(
            "/usr/bin/chromium: run `sudo apt-get install -y chromium` (or tools/install-deps.sh)"
                .into(),
        );
    }
    missing
}

#[tokio::test]
async fn a_clerk_books_and_invites_and_an_officer_completes_and_validates_an_eio_in_chromium() {
    let missing = missing_tools();
    assert!(
        missing.is_empty(),
        "the browser tests need: {}",
        missing.join("; ")
    );
    let dir = repo().join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(ok.success(), "`npm ci` in tests/browser failed");
    }

    // Arrange: a server, a clerk and an officer (both enrol their second factor in the
    // browser), the officer's authority and another state's authority to write to.
    let app = spawn_app().await;
    app.create_user("clerk.martin", &[Role::Clerk]).await;
    let officer = app
        .create_user("officer.dupont", &[Role::Officer, Role::Judge])
        .await;
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let local = admin
        .post(
            "/api/v1/authorities",
            json!({"code": "FR-CA", "name": "Bureau de l'entraide pénale internationale",
                   "country": "FR", "local": true, "email": "beppi@justice.example"}),
        )
        .await;
    assert_eq!(local.status, 201, "{local:?}");
    let (cert, _key) = app.issue_client_identity("Bundesamt für Justiz");
    let foreign = admin
        .post(
            "/api/v1/authorities",
            json!({"code": "DE-BfJ", "name": "Bundesamt für Justiz", "country": "DE",
                   "endpoint": "https://127.0.0.1:9", "certificate_pem": cert}),
        )
        .await;
    assert_eq!(foreign.status, 201, "{foreign:?}");
    let r = admin
        .send(
            "PUT",
            &format!("/api/v1/users/{officer}/authority"),
            Some(json!({"authority_id": local.body["authority"]["id"]})),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");

    let shots = std::env::var("ASSIZE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&shots).unwrap();

    // Act: the stories, in Chromium. Node runs on a blocking thread; the server keeps serving.
    let url = app.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("stories.mjs")
            .current_dir(&dir)
            .env("ASSIZE_URL", url)
            .env("ASSIZE_SCREENSHOTS", &shots)
            .env("ASSIZE_PASSWORD", PASSWORD)
            .env("ASSIZE_CLERK", "clerk.martin")
            .env("ASSIZE_OFFICER", "officer.dupont")
            .env("ASSIZE_RECIPIENT", "DE-BfJ")
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");

    // Assert: every story passed, and what the browser did is on the server.
    assert!(
        out.status.success() && stdout.contains("all stories passed"),
        "the browser stories failed:\n{stdout}\n{stderr}"
    );
    let hearings = app.store.list_hearings().await.unwrap();
    assert_eq!(hearings.len(), 1);
    assert_eq!(hearings[0].case_reference, "TJ-PARIS-2026-0042");
    assert_eq!(
        hearings[0].state,
        assize_server::sfu::room::HearingState::Open
    );
}
