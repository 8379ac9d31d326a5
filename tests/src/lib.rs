//! # assize-tests
//!
//! The integration-test harness (zero2prod's `spawn_app`): every test starts the real server on
//! port 0 with its own data directory and its own fresh database, and talks to it over HTTPS as a
//! client would.
//!
//! - Database: a temporary SQLite file by default; when `ASSIZE_TEST_POSTGRES_URL` is set (e.g.
//!   `postgres://postgres@127.0.0.1:5432/postgres`), a newly created PostgreSQL database that is
//!   dropped when the test ends.
//! - TLS: clients trust the server's development CA and nothing else.
//! - Accounts: [`TestApp::sign_in_as`] creates an account with the given roles and signs it in
//!   through the real API, enrolling TOTP when the role requires it.
//! - Hearings: [`rtc_client`] is a WebRTC participant for the SFU and a server for its signaling;
//!   [`TestApp::signal`] opens the application's own signaling socket with a cookie.
//! - Load: [`load`] makes cheap WebRTC participants with stamped media for the SFU benchmark
//!   and soak; [`janus`] runs Janus's videoroom under the same load, for comparison.
//! - The hearing record: [`record`] holds and closes a recorded hearing, and reads, tampers
//!   with and verifies (`assize verify`) the packages it exports.
//! - Mail: [`smtp_sink`] is an SMTP server (STARTTLS, AUTH PLAIN, DATA) that records what it
//!   receives and can be stopped and restarted on the same port.

pub mod audio;
pub mod janus;
pub mod load;
pub mod lossy_relay;
pub mod mla;
pub mod record;
pub mod rtc_client;
pub mod smtp_sink;
pub mod wire_tap;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use assize_server::app::Application;
use assize_server::auth;
use assize_server::config::Settings;
use assize_server::policy::Role;
use assize_server::store::{NewUser, Store};
use serde_json::{Value, json};

/// The environment variable that switches the suite to PostgreSQL.
pub const POSTGRES_ENV: &str = "ASSIZE_TEST_POSTGRES_URL";

/// Every test account's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server for one test.
pub struct TestApp {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub addr: SocketAddr,
    /// The first-administrator link the server printed at start.
    pub setup_link: Option<String>,
    /// The database URL this server uses (for tests that play the attacker with SQL).
    pub database_url: String,
    pub data_dir: PathBuf,
    /// A storage handle onto the same database.
    pub store: Store,
    ca_pem: Vec<u8>,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pg: Option<PgTestDb>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Keeps a test's PostgreSQL database alive after its server stopped (see
/// [`TestApp::stop_keeping_database`]); dropping it drops the database.
#[derive(Debug)]
pub struct DatabaseGuard(#[allow(dead_code)] Option<PgTestDb>);

/// A PostgreSQL database created for one test, dropped afterwards.
#[derive(Debug)]
struct PgTestDb {
    admin_url: String,
    name: String,
}

impl PgTestDb {
    async fn create(admin_url: &str) -> anyhow::Result<(Self, String)> {
        use sqlx::Connection as _;
        let name = format!("assize_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::postgres::PgConnection::connect(admin_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let base = admin_url.split('?').next().unwrap_or(admin_url);
        let cut = base
            .rfind('/')
            .filter(|&i| i > "postgres://".len())
            .unwrap_or(base.len());
        let url = format!("{}/{}", &base[..cut], name);
        Ok((
            Self {
                admin_url: admin_url.to_string(),
                name,
            },
            url,
        ))
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use sqlx::Connection as _;
                if let Ok(mut conn) = sqlx::postgres::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Starts a server with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `configure` has adjusted its settings.
///
/// # Panics
/// When the server cannot start: the test cannot go on.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = Settings {
        data_dir: dir.path().join("data"),
        ..Settings::default()
    };
    settings.http.listen = "127.0.0.1:0".into();
    let pg = match std::env::var(POSTGRES_ENV) {
        Ok(admin) if !admin.is_empty() => {
            let (db, url) = PgTestDb::create(&admin)
                .await
                .expect("creating a PostgreSQL test database");
            settings.database_url = url;
            Some(db)
        }
        _ => None,
    };
    configure(&mut settings);
    let database_url = settings.effective_database_url();
    let data_dir = settings.data_dir.clone();
    let app = Application::build(settings)
        .await
        .expect("the server starts");
    let addr = app.local_addr();
    let setup_link = app.setup_link().map(str::to_string);
    let store = app.store().clone();
    let ca_pem = std::fs::read(&app.data_dir().ca_cert).expect("the development CA exists");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        url: format!("https://{addr}"),
        addr,
        setup_link,
        database_url,
        data_dir,
        store,
        ca_pem,
        _dir: dir,
        shutdown: Some(tx),
        handle: Some(handle),
        pg,
    }
}

/// A response's status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn from(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// The stable error code, if this is an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// A client with its own cookie jar and, once signed in, its CSRF token.
#[derive(Clone, Debug)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
    pub user_id: Option<String>,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(c) = &self.csrf {
            rb = rb.header("x-csrf-token", c);
        }
        if let Some(b) = &self.bearer {
            rb = rb.bearer_auth(b);
        }
        rb
    }

    /// Sends any request and reads the reply.
    ///
    /// # Panics
    /// When the server cannot be reached at all.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Reply::from(rb.send().await.expect("the server answers")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None).await
    }

    /// Signs in with a username and password (and an optional TOTP code), keeping the CSRF token.
    pub async fn sign_in(&mut self, username: &str, password: &str, totp: Option<&str>) -> Reply {
        let mut body = json!({ "username": username, "password": password });
        if let Some(code) = totp {
            body["totp_code"] = json!(code);
        }
        let r = self.post("/api/v1/session", body).await;
        if r.status == 200 {
            self.csrf = r.body["csrf_token"].as_str().map(str::to_string);
            self.user_id = r.body["user"]["id"].as_str().map(str::to_string);
        }
        r
    }
}

/// The `name=value` pair of cookie `name` that a reply sets, for a `Cookie:` header.
pub fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|kv| kv.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// The current TOTP code for a base32 secret, `steps_ahead` steps from now.
///
/// # Panics
/// On a malformed secret.
pub fn totp_code(secret_base32: &str, steps_ahead: u64) -> String {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_string())
        .to_bytes()
        .expect("a base32 secret");
    let t = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        None,
        String::new(),
    )
    .expect("a valid TOTP");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    t.generate(now + 30 * steps_ahead)
}

impl TestApp {
    /// A new client (own cookie jar) that trusts this server's development CA only.
    ///
    /// # Panics
    /// When the client cannot be built.
    pub fn client(&self) -> Client {
        self.client_with(None)
    }

    /// A client that presents a TLS client certificate (PEM certificate followed by PEM key).
    ///
    /// # Panics
    /// When the client cannot be built.
    pub fn client_with(&self, identity_pem: Option<&[u8]>) -> Client {
        let ca = reqwest::Certificate::from_pem(&self.ca_pem).expect("the CA parses");
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .cookie_store(true)
            .https_only(true);
        if let Some(pem) = identity_pem {
            b = b.identity(reqwest::Identity::from_pem(pem).expect("a PEM identity"));
        }
        Client {
            http: b.build().expect("a client"),
            base: self.url.clone(),
            csrf: None,
            bearer: None,
            user_id: None,
        }
    }

    /// Creates an account with a password, directly in the store.
    ///
    /// # Panics
    /// When the account cannot be created.
    pub async fn create_user(&self, username: &str, roles: &[Role]) -> String {
        let hash = auth::hash_password(PASSWORD).expect("hashing works");
        self.store
            .create_user(&NewUser {
                username,
                display_name: username,
                roles,
                password_hash: Some(&hash),
            })
            .await
            .expect("the account is created")
            .id
    }

    /// Creates an account with `roles` and signs it in through the API, enrolling a TOTP second
    /// factor first when the server requires one. Returns the client and the TOTP secret (if any).
    ///
    /// # Panics
    /// When any step fails.
    pub async fn sign_in_as(&self, roles: &[Role]) -> (Client, Option<String>) {
        let username = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.create_user(&username, roles).await;
        let mut c = self.client();
        let r = c.sign_in(&username, PASSWORD, None).await;
        assert_eq!(r.status, 200, "{r:?}");
        if r.body["stage"] == "totp_enrolment" {
            let offer = c.post("/api/v1/session/totp", json!({})).await;
            assert_eq!(offer.status, 200, "{offer:?}");
            let secret = offer.body["secret_base32"]
                .as_str()
                .expect("a secret")
                .to_string();
            let done = c
                .post(
                    "/api/v1/session/totp/confirm",
                    json!({ "code": totp_code(&secret, 0) }),
                )
                .await;
            assert_eq!(done.status, 200, "{done:?}");
            return (c, Some(secret));
        }
        (c, None)
    }

    /// Opens this server's signaling socket for `hearing`, presenting `cookie` (a `Cookie:`
    /// header value such as `__Host-assize_hearing=…`) when given.
    ///
    /// # Errors
    /// [`rtc_client::SignalRefusal::Status`] when admission refuses the upgrade.
    pub async fn signal(
        &self,
        hearing: &str,
        cookie: Option<&str>,
    ) -> Result<rtc_client::SignalSocket, rtc_client::SignalRefusal> {
        let ca = self.data_dir.join("pki/ca.crt");
        rtc_client::SignalSocket::open(
            self.addr,
            &ca,
            &format!("/api/v1/hearings/{hearing}/signal"),
            cookie,
        )
        .await
    }

    /// An API-token client for a new account with `roles`.
    ///
    /// # Panics
    /// When any step fails.
    pub async fn token_client(&self, roles: &[Role]) -> Client {
        let (c, _) = self.sign_in_as(roles).await;
        let r = c
            .post("/api/v1/tokens", json!({ "name": "test machine" }))
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        let mut t = self.client();
        t.bearer = r.body["token"].as_str().map(str::to_string);
        t
    }

    /// A client certificate (PEM certificate + PEM key) for `common_name`, issued by this server's
    /// development CA, with the clientAuth extended key usage.
    ///
    /// # Panics
    /// When the CA cannot be read.
    pub fn issue_client_identity(&self, common_name: &str) -> (String, String) {
        let ca_key_pem =
            std::fs::read_to_string(self.data_dir.join("pki/ca.key")).expect("the CA key");
        let ca_key = rcgen::KeyPair::from_pem(&ca_key_pem).expect("a CA key");
        let ca_params =
            rcgen::CertificateParams::from_ca_cert_pem(&String::from_utf8_lossy(&self.ca_pem))
                .expect("a CA cert");
        let ca = ca_params.self_signed(&ca_key).expect("the CA re-signs");
        issue_identity(common_name, &ca, &ca_key)
    }

    /// A client presenting a certificate registered as another state's authority.
    ///
    /// # Panics
    /// When registration fails.
    pub async fn authority_client(&self, admin: &Client, name: &str, country: &str) -> Client {
        let (cert, key) = self.issue_client_identity(name);
        let r = admin
            .post(
                "/api/v1/authorities",
                json!({ "name": name, "country": country, "certificate_pem": cert }),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        self.client_with(Some(format!("{cert}{key}").as_bytes()))
    }

    /// Runs SQL on the server's database directly (as an attacker or operator would).
    ///
    /// # Panics
    /// When the SQL fails.
    pub async fn sql(&self, sql: &str) {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.database_url)
            .await
            .expect("a database connection");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .expect("the SQL runs");
        let _ = conn.close().await;
    }

    /// Runs SQL on the server's database directly and returns the database's answer.
    ///
    /// # Errors
    /// The database's error (e.g. a trigger refusing the statement).
    pub async fn try_sql(&self, sql: &str) -> Result<(), String> {
        run_sql(&self.database_url, sql).await
    }

    /// Whether this test runs on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// Stops the server gracefully and waits for it.
    ///
    /// # Panics
    /// When the server reports an error on the way down.
    pub async fn stop(self) {
        drop(self.stop_keeping_database().await);
    }

    /// Stops the server but keeps its database until the guard is dropped (restart tests).
    ///
    /// # Panics
    /// When the server reports an error on the way down.
    pub async fn stop_keeping_database(mut self) -> DatabaseGuard {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await
                .expect("the server task ends")
                .expect("the server stops cleanly");
        }
        DatabaseGuard(self.pg.take())
    }
}

/// Issues a clientAuth certificate for `common_name` from `ca`; returns (certificate, key) PEM.
///
/// # Panics
/// When rcgen fails.
pub fn issue_identity(
    common_name: &str,
    ca: &rcgen::Certificate,
    ca_key: &rcgen::KeyPair,
) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("a key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let cert = params.signed_by(&key, ca, ca_key).expect("the CA signs");
    (cert.pem(), key.serialize_pem())
}

/// Runs SQL on a database by URL (no server needed) and returns the database's answer.
///
/// # Errors
/// The database's error.
pub async fn run_sql(database_url: &str, sql: &str) -> Result<(), String> {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let r = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    r.map(|_| ()).map_err(|e| e.to_string())
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

/// The `assize` binary next to this test executable, brought up to date first (a test run of
/// this crate alone does not build the server's binary).
///
/// # Panics
/// When it cannot be built.
pub fn assize_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = dir.join("assize");
    // Built (or found up to date) once per test process, so a test never runs a binary older
    // than the code it tests.
    static BUILT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        std::process::Command::new(cargo)
            .args(["build", "-p", "assize-server", "--bin", "assize"])
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(ok, "building the assize binary failed");
    bin
}
