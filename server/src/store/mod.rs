//! Storage: one interface over SQLite (the default) and PostgreSQL.
//!
//! Queries are written once, with `$1` placeholders that both engines accept, and run through
//! sqlx's `Any` driver at run time; the schema lives in `migrations/sqlite` and
//! `migrations/postgres` (same file names, each in its engine's dialect) and is embedded in the
//! binary. Every integration test runs against both engines in CI, which is what keeps the two
//! dialects honest. Integers (times as Unix seconds, flags as 0/1) are `i64` on both sides.
//!
//! Steps that change several rows run in one transaction, so a failure leaves nothing half-written.

mod audit;
mod hearings;
mod identity;
mod mail;
mod minutes;
pub mod mla;
mod recordings;

pub use audit::*;
pub use hearings::*;
pub use identity::*;
pub(crate) use mail::insert_outbox;
pub use mail::{ClaimedMail, OutboxRecord};
pub use minutes::*;
pub use recordings::*;

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor as _};

use crate::config::DatabaseKind;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Errors a caller can act on; anything else is a [`StoreError::Database`] failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique value (username, fingerprint…) is already taken.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The row to change does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed or could not be reached.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Turns a unique-constraint violation into [`StoreError::Conflict`].
    fn conflict_on_unique(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::Database(e),
        }
    }
}

/// The database behind the server. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Where writes go. SQLite: a pool of one connection, so that writers queue here (woken
    /// at once when the writer before them commits) instead of in SQLite's busy handler, which
    /// sleeps 1, 2, 5, 10 … 25 ms between tries and made the tail of every contended write.
    /// PostgreSQL: the same pool as reads.
    writer: AnyPool,
    kind: DatabaseKind,
}

impl Store {
    /// Opens a pool. For SQLite the file is created (mode 0600) when missing.
    ///
    /// # Errors
    /// When the database cannot be reached or opened; the message says which URL (without
    /// password) and why.
    pub async fn connect(url: &str, kind: DatabaseKind) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        if kind == DatabaseKind::Sqlite {
            let Some(path) = sqlite_path(url) else {
                anyhow::bail!(
                    "database_url {}: an in-memory SQLite database would lose everything when \
                     the server stops; name a file, e.g. sqlite:///var/lib/assize/assize.db",
                    redact_url(url)
                );
            };
            create_private_file(Path::new(path))
                .with_context(|| format!("cannot create the SQLite database {path}"))?;
        }
        let options: AnyConnectOptions = url
            .parse()
            .with_context(|| format!("database_url {} is not a valid URL", redact_url(url)))?;
        let pool = Self::pool_options(kind, if kind == DatabaseKind::Sqlite { 8 } else { 16 })
            .connect_with(options.clone())
            .await
            .with_context(|| {
                format!(
                    "cannot connect to the database at {}: check database_url and that the \
                     database server is running",
                    redact_url(url)
                )
            })?;
        let writer = match kind {
            DatabaseKind::Sqlite => Self::pool_options(kind, 1)
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open {} for writing", redact_url(url)))?,
            DatabaseKind::Postgres => pool.clone(),
        };
        Ok(Self { pool, writer, kind })
    }

    fn pool_options(kind: DatabaseKind, connections: u32) -> AnyPoolOptions {
        AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == DatabaseKind::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                             PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
    }

    /// The pool for statements that write outside a [`Self::begin_write`] transaction.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Brings the schema up to date. Idempotent.
    ///
    /// # Errors
    /// When a migration fails; it is rolled back and the database keeps its previous schema.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.kind {
            DatabaseKind::Sqlite => &SQLITE_MIGRATIONS,
            DatabaseKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("database migration failed")?;
        Ok(())
    }

    /// Checks that the database answers (readiness probe).
    ///
    /// # Errors
    /// When it does not answer within two seconds.
    pub async fn ping(&self) -> anyhow::Result<()> {
        tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(&self.pool),
        )
        .await
        .context("database did not answer within 2 s")??;
        Ok(())
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that read first cannot upgrade once another
    /// connection has committed (WAL mode answers `SQLITE_BUSY` without waiting), whereas an
    /// immediate one waits its turn under `busy_timeout`.
    ///
    /// # Errors
    /// When the database does not answer within the busy timeout.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.kind {
            DatabaseKind::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            DatabaseKind::Postgres => self.pool.begin().await,
        }
    }

    /// Which engine this is.
    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    /// Closes every connection (shutdown).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// The file path inside a `sqlite:` URL, if it names a file.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Creates an empty file readable by its owner only, unless it exists.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if path.exists() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A database URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Now, as Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear_in_redacted_urls() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/x"),
            "postgres://bob@db:5432/x"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact_url("sqlite://./a.db"), "sqlite://./a.db");
    }

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(sqlite_path("sqlite://./a.db?mode=rwc"), Some("./a.db"));
        assert_eq!(sqlite_path("sqlite:/tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
