//! The web application in real headless browsers against a real server: Debian's Chromium driven
//! by `playwright-core` (`tests/browser/stories.mjs`, tests ending `_in_chromium`) and Debian's
//! Firefox ESR driven by `puppeteer-core` over WebDriver BiDi (`tests/browser/firefox.mjs`,
//! tests ending `_in_firefox`; its live story puts a witness in Firefox and the judge in
//! Chromium); plus checks of the application's files that need no browser (the two
//! translations have the same keys; every key the scripts use exists; the assets are served
//! with their types, validators and the security headers).
//!
//! Needs `node`, `npm`, `/usr/bin/chromium` and `/usr/bin/firefox-esr` (`tools/install-deps.sh`
//! installs them); without them the browser test fails and says which command installs them,
//! except that without Firefox the Firefox tests are skipped with a loud message outside CI
//! (`CI` unset). `npm ci` runs in `tests/browser` when its `node_modules` lacks a package.
//! Screenshots of each main screen go to `$ASSIZE_SCREENSHOTS` when set (`docs/screenshots` to
//! refresh the committed set; Firefox's are named `*-firefox.png` and not committed, as they
//! show the same screens), else to a folder under the target directory.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use assize_server::config::Settings;
use assize_server::pki::DataDir;
use assize_server::policy::Role;
use assize_tests::{Client, PASSWORD, TestApp, spawn_app, spawn_app_with};
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

/// Checks the tools, installs the node packages when missing, and runs `stories` (a
/// comma-separated list of the stories in `tests/browser/stories.mjs`, in Chromium) with `vars`.
///
/// # Panics
/// When a tool is missing (saying how to install it) or a story fails (with its output).
async fn run_stories(stories: &str, vars: Vec<(&'static str, String)>) {
    run_script("stories.mjs", stories, vars).await;
}

/// Firefox ESR, as Debian installs it.
const FIREFOX: &str = "/usr/bin/firefox-esr";

/// Whether Firefox is here to run the Firefox stories. When it is not, outside CI the test says
/// so loudly and is skipped; in CI (`CI` set, as `.ci/run` and CI services do) it fails, since
/// CI installs Firefox (`tools/install-deps.sh`).
fn firefox_is_installed(test: &str) -> bool {
    if Path::new(FIREFOX).exists() {
        return true;
    }
    let install = "run `sudo apt-get install -y firefox-esr` (or tools/install-deps.sh)";
    assert!(
        std::env::var_os("CI").is_none_or(|v| v.is_empty()),
        "{test}: {FIREFOX} is missing, and CI must run the Firefox stories: {install}"
    );
    // Straight to the process's standard error, not through `eprintln!`, which the test
    // harness captures and hides for a test that passes.
    let bar = "!".repeat(78);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "\n{bar}\nSKIPPED {test}: {FIREFOX} is missing, so the web application was NOT \
             tested in Firefox.\nTo run it: {install}.\n{bar}\n"
        )
        .as_bytes(),
    );
    false
}

/// As [`run_stories`], for the stories of `tests/browser/firefox.mjs`: Firefox (driven by
/// puppeteer-core over WebDriver BiDi), with Chromium for the other side of the live story.
async fn run_firefox_stories(stories: &str, vars: Vec<(&'static str, String)>) {
    run_script("firefox.mjs", stories, vars).await;
}

/// Checks the tools, installs the node packages when missing, and runs `stories` of the Node
/// script `script` (in `tests/browser`) with `vars`. Node runs on a blocking thread, so the
/// servers of the calling test keep serving.
///
/// # Panics
/// When a tool is missing (saying how to install it) or a story fails (with its output).
// The stories' own lines go to the test's standard output, which the harness shows with
// `--nocapture` (and keeps otherwise).
#[allow(clippy::print_stdout)]
async fn run_script(script: &'static str, stories: &str, vars: Vec<(&'static str, String)>) {
    let missing = missing_tools();
    assert!(
        missing.is_empty(),
        "the browser tests need: {}",
        missing.join("; ")
    );
    let dir = repo().join("tests/browser");
    if ["playwright-core", "puppeteer-core", "axe-core"]
        .iter()
        .any(|p| !dir.join("node_modules").join(p).exists())
    {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(ok.success(), "`npm ci` in tests/browser failed");
    }
    let shots = std::env::var("ASSIZE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    let stories = stories.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .current_dir(&dir)
            .env("ASSIZE_STORIES", stories)
            .env("ASSIZE_SCREENSHOTS", &shots)
            .env("ASSIZE_PASSWORD", PASSWORD)
            .envs(vars)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all stories passed"),
        "the browser stories failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

#[tokio::test]
async fn a_clerk_books_a_hearing_and_invites_and_a_french_browser_gets_french_in_chromium() {
    let _browser = LIVE.lock().await;
    // Arrange: a server and a clerk who enrols the second factor in the browser.
    let app = spawn_app().await;
    app.create_user("clerk.martin", &[Role::Clerk]).await;

    // Act: the stories, in Chromium.
    run_stories(
        "clerk,french",
        vec![
            ("ASSIZE_URL", app.url.clone()),
            ("ASSIZE_CLERK", "clerk.martin".into()),
        ],
    )
    .await;

    // Assert: what the browser did is on the server.
    let hearings = app.store.list_hearings().await.unwrap();
    assert_eq!(hearings.len(), 1);
    assert_eq!(hearings[0].case_reference, "TJ-PARIS-2026-0042");
    assert_eq!(
        hearings[0].state,
        assize_server::sfu::room::HearingState::Open
    );
}

/// Registers `code` as a local authority of `app` and assigns `user` to it; returns the
/// administrator's client.
async fn local_authority(
    app: &TestApp,
    code: &str,
    name: &str,
    country: &str,
    user: &str,
) -> Client {
    let (admin, _) = app.sign_in_as(&[Role::Administrator]).await;
    let local = admin
        .post(
            "/api/v1/authorities",
            json!({"code": code, "name": name, "country": country, "local": true,
                   "email": format!("mla@{}.example", country.to_lowercase())}),
        )
        .await;
    assert_eq!(local.status, 201, "{local:?}");
    let r = admin
        .send(
            "PUT",
            &format!("/api/v1/users/{user}/authority"),
            Some(json!({"authority_id": local.body["authority"]["id"]})),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    admin
}

/// Registers the other state's authority `code`, reached at `peer`'s address with the client
/// certificate of its data directory.
async fn foreign_authority(admin: &Client, peer: &TestApp, code: &str, name: &str, country: &str) {
    let cert = std::fs::read_to_string(peer.data_dir.join("pki/federation-client.crt")).unwrap();
    let r = admin
        .post(
            "/api/v1/authorities",
            json!({"code": code, "name": name, "country": country,
                   "endpoint": peer.url, "certificate_pem": cert}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}

#[tokio::test]
async fn an_officer_of_state_a_completes_validates_and_sends_an_eio_and_state_b_recognises_it_in_chromium()
 {
    let _browser = LIVE.lock().await;
    // Arrange: two servers that trust each other's CA for mutual TLS, each with its local
    // authority and an officer (A's is also a judge, to validate), each knowing the other.
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a_data, b_data) = (dir_a.path().join("data"), dir_b.path().join("data"));
    let a_ca = DataDir::bootstrap(&a_data).unwrap().ca_cert;
    let b_ca = DataDir::bootstrap(&b_data).unwrap().ca_cert;
    let federate = |own: PathBuf, own_ca: PathBuf, peer_ca: PathBuf| {
        move |s: &mut Settings| {
            s.data_dir = own;
            s.tls.client_ca_files = vec![
                own_ca.to_string_lossy().into(),
                peer_ca.to_string_lossy().into(),
            ];
            s.federation.peer_ca_files = vec![peer_ca.to_string_lossy().into()];
            s.mla.retry_max_secs = 2;
        }
    };
    let a = spawn_app_with(federate(a_data, a_ca.clone(), b_ca.clone())).await;
    let b = spawn_app_with(federate(b_data, b_ca, a_ca)).await;
    let a_officer = a
        .create_user("officer.dupont", &[Role::Officer, Role::Judge])
        .await;
    let b_officer = b.create_user("officer.weber", &[Role::Officer]).await;
    let a_admin = local_authority(
        &a,
        "FR-CA",
        "Bureau de l'entraide pénale internationale",
        "FR",
        &a_officer,
    )
    .await;
    let b_admin = local_authority(&b, "DE-BfJ", "Bundesamt für Justiz", "DE", &b_officer).await;
    foreign_authority(&a_admin, &b, "DE-BfJ", "Bundesamt für Justiz", "DE").await;
    foreign_authority(
        &b_admin,
        &a,
        "FR-CA",
        "Bureau de l'entraide pénale internationale",
        "FR",
    )
    .await;
    // B's court hears the witness under the EIO's file reference, records and closes: the
    // record B's officer returns at the end of the story.
    let (b_judge, _) = b.sign_in_as(&[Role::Judge]).await;
    let (hearing, _) = assize_tests::record::recorded_and_closed(
        &b_judge,
        "JI-2026-0042",
        "Amtsgericht Tiergarten",
    )
    .await;

    // Act: the story, in Chromium, with a browser for each officer.
    run_stories(
        "federation",
        vec![
            ("ASSIZE_URL", a.url.clone()),
            ("ASSIZE_URL_B", b.url.clone()),
            ("ASSIZE_OFFICER", "officer.dupont".into()),
            ("ASSIZE_OFFICER_B", "officer.weber".into()),
            ("ASSIZE_RECIPIENT", "DE-BfJ".into()),
        ],
    )
    .await;

    // Assert: both servers hold the request, recognised by B, with the same form; and A has
    // heard of the recognition.
    let requests = |app: &TestApp, code: &'static str| {
        let store = app.store.clone();
        async move {
            let authority = store.authority_by_code(code).await.unwrap().unwrap();
            store.mla_requests_of(&authority.id, 10).await.unwrap()
        }
    };
    let (at_a, at_b) = (requests(&a, "FR-CA").await, requests(&b, "DE-BfJ").await);
    assert_eq!((at_a.len(), at_b.len()), (1, 1));
    assert_eq!(at_a[0].id, at_b[0].id);
    assert_eq!(at_b[0].side, "executing");
    assert_eq!(at_b[0].status, "EVIDENCE_TRANSMITTED");
    assert_eq!(at_a[0].status, "EVIDENCE_TRANSMITTED");
    // A verified the hearing's record on arrival, as `assize verify` does.
    let checks = a.store.mla_evidence_checks(&at_a[0].id).await.unwrap();
    assert_eq!(checks.len(), 1, "one evidence package");
    assert_eq!(checks[0].outcome, "verified");
    let audited = b
        .store
        .audit_entries_about(&format!("hearing:{hearing}"))
        .await
        .unwrap();
    assert!(
        audited.iter().any(|e| e.action == "recording.export"),
        "B audited the export of the record it returned"
    );
    let form = |r: &assize_server::store::mla::RequestRow| -> Value {
        serde_json::from_str(&r.form).unwrap()
    };
    assert_eq!(form(&at_a[0]), form(&at_b[0]));
    assert_eq!(
        form(&at_b[0])["section_k"]["file_reference"],
        "JI-2026-0042"
    );
}

#[tokio::test]
async fn an_invited_witness_checks_camera_and_microphone_then_waits_and_a_refused_camera_is_explained_in_chromium()
 {
    let _browser = LIVE.lock().await;
    // Arrange: a hearing with two invited witnesses, booked through the API.
    let app = spawn_app().await;
    let (clerk, _) = app.sign_in_as(&[Role::Clerk]).await;
    let r = clerk
        .post(
            "/api/v1/hearings",
            json!({"case_reference": "TJ-LYON-2026-0007", "court": "Tribunal judiciaire de Lyon",
                   "title": "Hearing of two witnesses", "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let hearing = r.body["id"].as_str().unwrap().to_string();
    let mut links = Vec::new();
    for label in ["Witness B", "Witness C"] {
        let r = clerk
            .post(
                &format!("/api/v1/hearings/{hearing}/invitations"),
                json!({"role": "witness", "label": label}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        links.push(r.body["link"].as_str().unwrap().to_string());
    }
    assert!(links[0].contains("/join#"), "{}", links[0]);
    let r = clerk
        .post(&format!("/api/v1/hearings/{hearing}/open"), json!({}))
        .await;
    assert_eq!(r.status, 200, "the waiting room opens: {r:?}");

    // Act: the invitees' browsers (the link opened twice, then a French browser that refuses).
    run_stories(
        "join",
        vec![
            ("ASSIZE_URL", app.url.clone()),
            ("ASSIZE_INVITE", links[0].clone()),
            ("ASSIZE_INVITE_FR", links[1].clone()),
        ],
    )
    .await;

    // Assert: each link was spent exactly once, by the page.
    let list = clerk
        .get(&format!("/api/v1/hearings/{hearing}/invitations"))
        .await;
    assert_eq!(list.status, 200, "{list:?}");
    let invitations = list.body["invitations"].as_array().unwrap();
    assert_eq!(invitations.len(), 2);
    assert!(
        invitations.iter().all(|i| i["redeemed_at"].is_i64()),
        "{invitations:?}"
    );
    let audit = app.store.audit_entries(0, i64::MAX).await.unwrap();
    let redeemed = audit
        .iter()
        .filter(|e| e.action == "invitation.redeem")
        .count();
    assert_eq!(
        redeemed, 2,
        "one redemption per link, none for the second try"
    );
}

/// Held for the whole of each browser test, so that they run one after another. A live
/// (WebRTC) test creates and removes a veth pair, and browsers watch the machine's interfaces:
/// another test's Chromium then fails a navigation with `net::ERR_NETWORK_CHANGED` (seen in
/// CI), and when two live tests overlapped the witness's video sometimes never arrived.
static LIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A veth pair with a non-loopback address on one end, for the time of a test: browsers
/// gather no ICE candidates on loopback and ignore loopback candidates, so a WebRTC test in a
/// browser needs the server's media on another address. All traffic to it stays on this
/// machine. Removed on drop.
struct MediaInterface {
    name: String,
    address: String,
}

impl MediaInterface {
    /// # Panics
    /// When the interface cannot be made (this needs `CAP_NET_ADMIN`), with `ip`'s own error.
    fn create() -> Self {
        // One per live test: the tests of this file run in parallel in one process, and one
        // test's interface must not be replaced or removed under another's server.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = (std::process::id() + k) % 250 + 1;
        let name = format!("assize{n}");
        let address = format!("10.200.{n}.1");
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("`ip` runs");
            assert!(
                out.status.success(),
                "`ip {}` failed: {} (the live browser test needs CAP_NET_ADMIN, e.g. root, \
                 and iproute2: `apt-get install -y iproute2`)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        };
        // A leftover of an interrupted run with this number is replaced.
        let _ = Command::new("ip").args(["link", "del", &name]).output();
        let peer = format!("{name}p");
        ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]);
        let iface = Self {
            name: name.clone(),
            address: address.clone(),
        };
        // No IPv6 link-local addresses: they would appear a moment after the link comes up
        // (duplicate address detection), and Chromium aborts a page load under way on any
        // change of the machine's addresses (`net::ERR_NETWORK_CHANGED`).
        ip(&["link", "set", "dev", &name, "addrgenmode", "none"]);
        ip(&["link", "set", "dev", &peer, "addrgenmode", "none"]);
        ip(&["addr", "add", &format!("{address}/24"), "dev", &name]);
        ip(&["link", "set", &name, "up"]);
        ip(&["link", "set", &peer, "up"]);
        // The link is up (carrier on both ends) before any browser starts: nothing about
        // this interface changes under it afterwards.
        for _ in 0..50 {
            let out = Command::new("ip")
                .args(["-o", "link", "show", &name])
                .output()
                .expect("`ip` runs");
            if String::from_utf8_lossy(&out.stdout).contains("state UP") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        iface
    }
}

impl Drop for MediaInterface {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
    }
}

#[tokio::test]
async fn a_judge_starts_and_calls_an_invited_witness_and_each_sees_the_other_s_video_over_real_webrtc_in_chromium()
 {
    // Arrange: the server's media on a non-loopback address; a judge (password only) who books
    // the hearing, invites a witness and opens the waiting room.
    let _live = LIVE.lock().await;
    let iface = MediaInterface::create();
    let address = iface.address.clone();
    let app = spawn_app_with(move |s| {
        s.auth.totp_required_roles = vec![];
        s.media.addresses = vec![address];
    })
    .await;
    app.create_user("judge.roux", &[Role::Judge]).await;
    let mut judge = app.client();
    let r = judge.sign_in("judge.roux", PASSWORD, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = judge
        .post(
            "/api/v1/hearings",
            json!({"case_reference": "TJ-NANTES-2026-0311", "court": "Tribunal judiciaire de Nantes",
                   "title": "Hearing of witness A", "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let hearing = r.body["id"].as_str().unwrap().to_string();
    let r = judge
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            json!({"role": "witness", "label": "Witness A"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let link = r.body["link"].as_str().unwrap().to_string();
    let r = judge
        .post(&format!("/api/v1/hearings/{hearing}/open"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    // Act: the judge's and the witness's browsers.
    run_stories(
        "live",
        vec![
            ("ASSIZE_URL", app.url.clone()),
            ("ASSIZE_JUDGE", "judge.roux".into()),
            ("ASSIZE_HEARING", hearing.clone()),
            ("ASSIZE_INVITE", link),
        ],
    )
    .await;

    // Assert: the server saw what the browsers did: the session started, the witness called.
    let h = judge.get(&format!("/api/v1/hearings/{hearing}")).await;
    assert_eq!(h.body["state"], "in_session", "{h:?}");
    let audit = app.store.audit_entries(0, i64::MAX).await.unwrap();
    for action in [
        "hearing.start",
        "participant.call",
        "participant.connect",
        "participant.disconnect",
        "participant.reconnect",
    ] {
        assert!(
            audit.iter().any(|e| e.action == action),
            "{action} is in the audit log"
        );
    }
    let back = audit
        .iter()
        .find(|e| e.action == "participant.reconnect")
        .map(|e| e.body.clone());
    assert!(
        back.is_some_and(|d| d.contains("hearing_room")),
        "the witness came back to the hearing room"
    );
    drop(iface);
}

/// Grace Hopper's official portrait (public domain), 256x300 I420 (the media crate's test data).
const PORTRAIT: &[u8] = include_bytes!("../../media/tests/data/face/grace_hopper_256x300.i420");
const FACE_W: u32 = 256;
const FACE_H: u32 = 300;

/// Faces CenterFace finds (confidence ≥ 0.5) in a picture a story saved as raw RGBA
/// (`…-<width>x<height>.rgba`), and whether the picture has texture (luma standard deviation
/// above 8: not a blank or uniformly covered picture).
fn faces_in_rgba(detector: &mut assize_media::face::CenterFace, path: &Path) -> (usize, bool) {
    use assize_media::face::FaceDetector as _;
    let name = path.file_stem().unwrap().to_string_lossy().to_string();
    let size = name.rsplit('-').next().unwrap();
    let (w, h) = size.split_once('x').unwrap();
    let (w, h): (usize, usize) = (w.parse().unwrap(), h.parse().unwrap());
    let rgba = std::fs::read(path).unwrap();
    assert_eq!(rgba.len(), w * h * 4, "{name}");
    let full_w = w;
    // BT.601 studio range; 4:2:0 from the top-left pixel of each 2x2 block (even sizes).
    let (w, h) = (w & !1, h & !1);
    let at = |x: usize, y: usize| {
        let i = (y * full_w + x) * 4;
        (
            f64::from(rgba[i]),
            f64::from(rgba[i + 1]),
            f64::from(rgba[i + 2]),
        )
    };
    let mut i420 = vec![0u8; w * h * 3 / 2];
    let (mut sum, mut sum2) = (0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = at(x, y);
            let luma = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
            sum += luma;
            sum2 += luma * luma;
            i420[y * w + x] = luma.round().clamp(0.0, 255.0) as u8;
        }
    }
    let (u_at, v_at) = (w * h, w * h + w * h / 4);
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let (r, g, b) = at(x, y);
            let c = (y / 2) * (w / 2) + x / 2;
            i420[u_at + c] = (128.0 - 0.148 * r - 0.291 * g + 0.439 * b)
                .round()
                .clamp(0.0, 255.0) as u8;
            i420[v_at + c] = (128.0 + 0.439 * r - 0.368 * g - 0.071 * b)
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    let n = (w * h) as f64;
    let sd = (sum2 / n - (sum / n).powi(2)).max(0.0).sqrt();
    let frame = assize_media::I420Frame::packed(w as u32, h as u32, &mut i420).expect("a picture");
    let mut found = Vec::new();
    detector
        .detect(&frame, &mut found)
        .expect("the detector answers");
    (found.iter().filter(|d| d.score >= 0.5).count(), sd > 8.0)
}

#[tokio::test]
async fn a_protected_witness_reads_what_is_hidden_beside_their_preview_and_the_judge_runs_the_console_in_chromium()
 {
    // Arrange: as in the live story, a judge's hearing on a non-loopback media address, with an
    // invited witness and an interpreter, its waiting room open.
    let _live = LIVE.lock().await;
    let iface = MediaInterface::create();
    let address = iface.address.clone();
    let app = spawn_app_with(move |s| {
        s.auth.totp_required_roles = vec![];
        s.media.addresses = vec![address];
    })
    .await;
    app.create_user("judge.morel", &[Role::Judge]).await;
    let mut judge = app.client();
    let r = judge.sign_in("judge.morel", PASSWORD, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = judge
        .post(
            "/api/v1/hearings",
            json!({"case_reference": "TJ-LILLE-2026-0123", "court": "Tribunal judiciaire de Lille",
                   "title": "Hearing of a protected witness", "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let hearing = r.body["id"].as_str().unwrap().to_string();
    let mut links = Vec::new();
    let mut witness = String::new();
    for (role, label) in [("witness", "Witness A"), ("interpreter", "Interpreter C")] {
        let r = judge
            .post(
                &format!("/api/v1/hearings/{hearing}/invitations"),
                json!({"role": role, "label": label}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        links.push(r.body["link"].as_str().unwrap().to_string());
        if role == "witness" {
            witness = r.body["invitation"]["participant_id"]
                .as_str()
                .unwrap()
                .to_string();
        }
    }
    let r = judge
        .post(&format!("/api/v1/hearings/{hearing}/open"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    // Every fake camera shows a face: Grace Hopper's official portrait (public domain).
    let media = tempfile::tempdir().unwrap();
    let video = media.path().join("face.y4m");
    {
        use assize_media::y4m;
        let header = y4m::Y4mHeader::new(FACE_W, FACE_H, 30);
        let mut data = Vec::new();
        y4m::write_header(&mut data, &header).unwrap();
        for _ in 0..30 {
            y4m::write_frame(&mut data, &header, PORTRAIT).unwrap();
        }
        std::fs::write(&video, data).unwrap();
    }
    let frames = std::env::var_os("ASSIZE_KEEP_FRAMES")
        .map_or_else(|| media.path().join("frames"), PathBuf::from);

    // Act: the judge's, the witness's and the interpreter's browsers.
    run_stories(
        "witness",
        vec![
            ("ASSIZE_URL", app.url.clone()),
            ("ASSIZE_JUDGE", "judge.morel".into()),
            ("ASSIZE_HEARING", hearing.clone()),
            ("ASSIZE_INVITE", links[0].clone()),
            ("ASSIZE_INVITE_INTERPRETER", links[1].clone()),
            ("ASSIZE_FAKE_VIDEO", video.to_string_lossy().into()),
            ("ASSIZE_FRAMES", frames.to_string_lossy().into()),
        ],
    )
    .await;

    // Assert: the interpreter's page (not named in the order) received pictures of the witness
    // with no face CenterFace can find, and not blank ones; the judge's (named) did show the
    // face: the control that the face was there to be found.
    let mut detector = assize_media::face::CenterFace::bundled(320).expect("the detector");
    let (mut judge_faces, mut interpreter_pictures, mut interpreter_textured) = (0, 0, 0);
    for entry in std::fs::read_dir(&frames).expect("the stories saved pictures") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (faces, textured) = faces_in_rgba(&mut detector, &path);
        if name.starts_with("judge-") {
            judge_faces += faces;
        } else {
            assert_eq!(
                faces, 0,
                "a face in what the interpreter's page received: {name}"
            );
            interpreter_pictures += 1;
            interpreter_textured += usize::from(textured);
        }
    }
    eprintln!(
        "faces found: {judge_faces} in the judge's 3 pictures; none in the interpreter's \
         {interpreter_pictures} ({interpreter_textured} of them textured)"
    );
    assert!(
        judge_faces >= 1,
        "the control: the judge's page shows the face"
    );
    assert_eq!(interpreter_pictures, 6);
    assert!(
        interpreter_textured >= 1,
        "the interpreter's pictures are not all blank"
    );

    // Assert: the order the judge made in the browser is the one in force, and every step of
    // the console is on the record.
    let order = app.store.protective_order(&witness).await.unwrap().unwrap();
    assert_eq!(
        (
            order.pseudonym.as_str(),
            order.voice.as_str(),
            order.face.as_str()
        ),
        ("Witness X", "distorted", "masked")
    );
    assert_eq!(order.raw_to, ["judge"]);
    let audit = app.store.audit_entries(0, i64::MAX).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "protective_order.set",
        "participant.call",
        "participant.admit",
        "recording.start",
        "consultation.open",
        "consultation.lock",
        "consultation.unlock",
        "consultation.end",
        "recording.stop",
    ] {
        assert!(actions.contains(&action), "{action} is in the audit log");
    }
    drop(iface);
}

#[tokio::test]
async fn a_clerk_signs_in_with_an_authenticator_code_books_a_hearing_and_invites_in_firefox() {
    let _browser = LIVE.lock().await;
    if !firefox_is_installed(
        "a_clerk_signs_in_with_an_authenticator_code_books_a_hearing_and_invites_in_firefox",
    ) {
        return;
    }
    // Arrange: a server and a clerk who enrols the second factor in the browser.
    let app = spawn_app().await;
    app.create_user("clerk.bernard", &[Role::Clerk]).await;

    // Act: the clerk's story, in Firefox.
    run_firefox_stories(
        "clerk",
        vec![
            ("ASSIZE_URL", app.url.clone()),
            ("ASSIZE_CLERK", "clerk.bernard".into()),
        ],
    )
    .await;

    // Assert: what the browser did is on the server: the hearing, open, with two invitations.
    let hearings = app.store.list_hearings().await.unwrap();
    assert_eq!(hearings.len(), 1);
    assert_eq!(hearings[0].case_reference, "TJ-BORDEAUX-2026-0099");
    assert_eq!(
        hearings[0].state,
        assize_server::sfu::room::HearingState::Open
    );
    let audit = app.store.audit_entries(0, i64::MAX).await.unwrap();
    let invitations = audit
        .iter()
        .filter(|e| e.action == "invitation.create")
        .count();
    assert_eq!(invitations, 2, "Witness A's and Expert B's invitations");
}

/// A live hearing for the Firefox stories: its server's media on a non-loopback address (on the
/// returned interface), judge `judge` (password only) who booked it, a witness "Witness A"
/// invited (the returned link), its waiting room open. Returns the server, the judge's client,
/// the hearing's id and the link.
async fn live_hearing(
    judge_name: &str,
    case_reference: &str,
) -> (MediaInterface, TestApp, Client, String, String) {
    let iface = MediaInterface::create();
    let address = iface.address.clone();
    let app = spawn_app_with(move |s| {
        s.auth.totp_required_roles = vec![];
        s.media.addresses = vec![address];
    })
    .await;
    app.create_user(judge_name, &[Role::Judge]).await;
    let mut judge = app.client();
    let r = judge.sign_in(judge_name, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = judge
        .post(
            "/api/v1/hearings",
            json!({"case_reference": case_reference, "court": "Tribunal judiciaire de Rennes",
                   "title": "Hearing of witness A", "scheduled_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let hearing = r.body["id"].as_str().unwrap().to_string();
    let r = judge
        .post(
            &format!("/api/v1/hearings/{hearing}/invitations"),
            json!({"role": "witness", "label": "Witness A"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let link = r.body["link"].as_str().unwrap().to_string();
    let r = judge
        .post(&format!("/api/v1/hearings/{hearing}/open"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    (iface, app, judge, hearing, link)
}

/// What the server must have seen of a live story: the session started, the witness called and
/// connected, the invitation link spent once.
async fn assert_the_witness_was_called_in(app: &TestApp, judge: &Client, hearing: &str) {
    let h = judge.get(&format!("/api/v1/hearings/{hearing}")).await;
    assert_eq!(h.body["state"], "in_session", "{h:?}");
    let audit = app.store.audit_entries(0, i64::MAX).await.unwrap();
    for action in ["hearing.start", "participant.call", "participant.connect"] {
        assert!(
            audit.iter().any(|e| e.action == action),
            "{action} is in the audit log"
        );
    }
    let redeemed = audit
        .iter()
        .filter(|e| e.action == "invitation.redeem")
        .count();
    assert_eq!(redeemed, 1, "the witness's link is spent once");
}

#[tokio::test]
async fn a_judge_in_chromium_calls_an_invited_witness_and_each_sees_the_other_s_video_over_real_webrtc_with_the_witness_in_firefox()
 {
    let _live = LIVE.lock().await;
    if !firefox_is_installed(
        "a_judge_in_chromium_calls_an_invited_witness_and_each_sees_the_other_s_video_over_real_webrtc_with_the_witness_in_firefox",
    ) {
        return;
    }
    // Arrange: as in the Chromium live story, a judge's hearing on a non-loopback media address,
    // with an invited witness, its waiting room open.
    let (iface, app, judge, hearing, link) =
        live_hearing("judge.lefevre", "TJ-RENNES-2026-0512").await;

    // Act: the judge's Chromium and the witness's Firefox.
    run_firefox_stories(
        "live",
        vec![
            ("ASSIZE_URL", app.url.clone()),
            ("ASSIZE_JUDGE", "judge.lefevre".into()),
            ("ASSIZE_HEARING", hearing.clone()),
            ("ASSIZE_INVITE", link),
        ],
    )
    .await;

    // Assert: the server saw what the browsers did.
    assert_the_witness_was_called_in(&app, &judge, &hearing).await;
    drop(iface);
}

#[tokio::test]
async fn a_judge_calls_a_witness_in_chromium_from_the_console_and_each_sees_the_other_s_video_over_real_webrtc_with_the_judge_in_firefox()
 {
    let _live = LIVE.lock().await;
    if !firefox_is_installed(
        "a_judge_calls_a_witness_in_chromium_from_the_console_and_each_sees_the_other_s_video_over_real_webrtc_with_the_judge_in_firefox",
    ) {
        return;
    }
    // Arrange: the same hearing, for a judge who will use Firefox.
    let (iface, app, judge, hearing, link) =
        live_hearing("judge.girard", "TJ-RENNES-2026-0513").await;

    // Act: the judge's Firefox and the witness's Chromium.
    run_firefox_stories(
        "judge",
        vec![
            ("ASSIZE_URL", app.url.clone()),
            ("ASSIZE_JUDGE", "judge.girard".into()),
            ("ASSIZE_HEARING", hearing.clone()),
            ("ASSIZE_INVITE", link),
        ],
    )
    .await;

    // Assert: the server saw what the browsers did.
    assert_the_witness_was_called_in(&app, &judge, &hearing).await;
    drop(iface);
}
