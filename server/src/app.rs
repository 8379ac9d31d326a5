//! Start-up: from [`Settings`] to a bound, running server (zero2prod's `Application`).
//!
//! [`Application::build`] does everything that can fail before a single request is served —
//! data directory, development PKI, key-permission checks, database connection and migrations,
//! TLS configuration, binding the port — so a bad setting stops the start with a clear message.
//! Tests build it on port 0 with their own data directory and database.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::audit::{Actor, AuditEvent, AuditLog, AuditTasks, CheckpointPolicy};
use crate::auth::Throttle;
use crate::config::Settings;
use crate::federation::FederationClient;
use crate::http::{self, AppState};
use crate::mail::{self, MailTasks};
use crate::metrics::Metrics;
use crate::notary::Notary;
use crate::pki::{DataDir, check_key_permissions};
use crate::server::{self, ServeOptions};
use crate::store::Store;
use crate::{accounts, tls};

/// A server that is bound and ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    tls: Arc<rustls::ServerConfig>,
    data_dir: DataDir,
    setup_link: Option<String>,
    audit_tasks: AuditTasks,
    /// The client MLA deliveries go out with (this server's federation identity).
    mla_client: FederationClient,
    mail_tasks: MailTasks,
}

impl Application {
    /// Prepares everything and binds the port.
    ///
    /// # Errors
    /// Any reason the server cannot start, with what to do about it.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let data_dir = DataDir::bootstrap(&settings.data_dir).with_context(|| {
            format!(
                "cannot prepare the data directory {}",
                settings.data_dir.display()
            )
        })?;
        for key in data_dir.key_files() {
            check_key_permissions(key)?;
        }
        // Reads mail.password_file and mail.ca_file: a bad one stops the start here.
        let smtp = mail::dispatch::smtp_transport(&settings.mail)?;

        let store = open_store(&settings).await?;

        let (cert, key) = if settings.tls.cert_file.is_empty() {
            (data_dir.tls_cert.clone(), data_dir.tls_key.clone())
        } else {
            (
                PathBuf::from(&settings.tls.cert_file),
                PathBuf::from(&settings.tls.key_file),
            )
        };
        let client_cas: Vec<PathBuf> = if settings.tls.client_ca_files.is_empty() {
            vec![data_dir.ca_cert.clone()]
        } else {
            settings
                .tls
                .client_ca_files
                .iter()
                .map(PathBuf::from)
                .collect()
        };
        let client_ca_refs: Vec<&std::path::Path> =
            client_cas.iter().map(PathBuf::as_path).collect();
        let mut federation_pem = Vec::new();
        for ca in &client_ca_refs {
            federation_pem.extend(
                std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?,
            );
            federation_pem.push(b'\n');
        }
        let federation_anchors = Arc::new(
            assize_signing::verify::TrustAnchors::from_pem(&federation_pem)
                .context("tls.client_ca_files holds no usable CA certificate")?,
        );
        let tls = Arc::new(
            tls::server_config(&cert, &key, &client_ca_refs).context("TLS set-up failed")?,
        );

        let addr = settings.listen_addr()?;
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen on {addr} (setting http.listen): is another server using this port?"
            )
        })?;
        let local_addr = listener.local_addr()?;
        let public_url: Arc<str> = settings.effective_public_url(local_addr).into();

        let (notary, audit, audit_tasks) =
            open_audit(&settings, &data_dir, &store, &public_url).await?;
        audit
            .append(
                AuditEvent::new(Actor::System, "server.start", "server")
                    .with(start_details(&settings, &notary)),
            )
            .await?;

        let setup_link = accounts::first_administrator_link(&store, &settings, &public_url).await?;
        let throttle = Throttle::new(
            settings.auth.max_failed_logins,
            settings.auth.max_failed_logins_per_address,
            Duration::from_secs(settings.auth.lockout_secs),
        );
        let sfu = crate::sfu::Sfu::new(settings.sfu_config()?);
        // What happens in a live hearing without a court action (a participant leaving, a
        // connection getting worse) goes to the audit log, and from there into the minutes.
        let (hearing_events, events_rx) =
            tokio::sync::mpsc::channel(crate::sfu::hearing::EVENT_QUEUE);
        sfu.hearings().set_events(hearing_events);
        tokio::spawn(audit_hearing_events(events_rx, audit.clone()));
        let vault = crate::vault::Vault::load_or_create(&settings.data_dir)
            .context("cannot load the attachment master key")?;
        let mla_client =
            FederationClient::new(&data_dir, &settings.federation.peer_ca_files, Vec::new())?;
        let mla = Arc::new(
            crate::mla::Mla::new(
                store.clone(),
                notary.clone(),
                vault,
                audit.clone(),
                federation_anchors.clone(),
                settings.mla.clone(),
                settings.mail.clone(),
            )
            .with_data_dir(data_dir.clone()),
        );
        let original_voice_recipient = match settings.recording.original_voice_recipient.as_str() {
            "" => None,
            path => Some(Arc::new(
                crate::recording::original::OriginalRecipient::load(std::path::Path::new(path))
                    .context(
                        "recording.original_voice_recipient cannot be used: give the court's \
                         RSA certificate (PEM) that a protected witness's original voice is \
                         encrypted to, or leave it empty to keep no original",
                    )?,
            )),
        };
        let recordings = Arc::new(
            crate::recording::Recordings::new(
                settings.recording_dir(),
                settings.recording.segment_secs,
                store.clone(),
                audit.clone(),
                notary.clone(),
            )
            .with_original_recipient(original_voice_recipient),
        );
        recordings.watch_failures();
        recordings
            .recover()
            .await
            .context("cannot check for recordings a server stop interrupted")?;
        let mut metrics = Metrics::new();
        metrics.register_collector(Box::new(sfu.anonymisers().collector()));
        let metrics = Arc::new(metrics);
        let mail_tasks = MailTasks::spawn(
            store.clone(),
            &settings.mail,
            smtp.map(|t| Box::new(t) as Box<dyn mail::dispatch::Deliver>),
            metrics.clone(),
        )?;
        let state = AppState {
            recordings,
            mla,
            sfu,
            hearing_transitions: Arc::default(),
            settings: Arc::new(settings),
            store,
            throttle: Arc::new(throttle),
            metrics,
            public_url,
            notary,
            audit,
            federation_anchors,
        };
        Ok(Self {
            listener,
            local_addr,
            state,
            tls,
            data_dir,
            setup_link,
            audit_tasks,
            mla_client,
            mail_tasks,
        })
    }

    /// The bound address (the real port when `http.listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `https://…` as users reach it.
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// The one-time link that creates the first administrator, when there is none yet.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    /// The data directory's layout.
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// The storage handle (tests and commands use it directly).
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.state.audit
    }

    /// Serves until `shutdown` completes, then finishes requests in flight and closes the database.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let options = ServeOptions {
            handshake_timeout: Duration::from_secs(self.state.settings.http.handshake_timeout_secs),
            shutdown_grace: Duration::from_secs(self.state.settings.http.shutdown_grace_secs),
        };
        let store = self.state.store.clone();
        let metrics = self.state.metrics.clone();
        let janitor = tokio::spawn(purge_sessions_periodically(
            store.clone(),
            self.state.settings.auth.session_idle_minutes * 60,
        ));
        let audit = self.state.audit.clone();
        let delivery = tokio::spawn(self.state.mla.clone().run_delivery(self.mla_client));
        let deadlines = tokio::spawn(self.state.mla.clone().run_deadline_watch());
        let rs = &self.state.settings.recording;
        let retention = tokio::spawn(self.state.recordings.clone().run_retention(
            crate::recording::retention::RetentionPolicy {
                default_days: rs.retention_days,
                by_court: rs.retention_by_court.clone(),
            },
            Duration::from_secs(rs.retention_sweep_secs),
        ));
        let router = http::router(self.state);
        let result =
            server::serve(self.listener, self.tls, router, metrics, options, shutdown).await;
        janitor.abort();
        delivery.abort();
        deadlines.abort();
        retention.abort();
        self.mail_tasks.shutdown().await;
        // Seal what the log holds before stopping, so the last entries are covered.
        if let Err(e) = audit
            .append(AuditEvent::new(Actor::System, "server.stop", "server"))
            .await
        {
            tracing::error!(error = format!("{e:#}"), "could not record the shutdown");
        }
        if let Err(e) = audit.checkpoint_now().await {
            tracing::error!(error = format!("{e:#}"), "final audit checkpoint failed");
        }
        self.audit_tasks.checkpointer.abort();
        self.audit_tasks.writer.abort();
        store.close().await;
        result
    }
}

/// Loads the notary and opens the audit log (starting its writer and checkpointer).
///
/// # Errors
/// When keys cannot be loaded or the log cannot be read.
pub async fn open_audit(
    settings: &Settings,
    data_dir: &DataDir,
    store: &Store,
    public_url: &str,
) -> anyhow::Result<(Arc<Notary>, AuditLog, AuditTasks)> {
    let notary = Arc::new(
        Notary::load(
            data_dir,
            store.clone(),
            &settings.tsa.policy_oid,
            settings.tsa.accuracy_ms,
            &settings.signing,
        )
        .await
        .context("cannot load the signing and time-stamping keys")?,
    );
    let origin = format!("assize/{}", public_url.trim_start_matches("https://"));
    let peers = if settings.federation.checkpoint_peers.is_empty() {
        None
    } else {
        Some(FederationClient::new(
            data_dir,
            &settings.federation.peer_ca_files,
            settings.federation.checkpoint_peers.clone(),
        )?)
    };
    let (audit, tasks) = AuditLog::open(
        store.clone(),
        notary.clone(),
        origin,
        CheckpointPolicy {
            every: Duration::from_secs(settings.audit.checkpoint_interval_secs),
            every_entries: settings.audit.checkpoint_every_entries,
        },
        peers,
    )
    .await
    .context("cannot open the audit log")?;
    Ok((notary, audit, tasks))
}

/// Connects to the configured database and brings its schema up to date.
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(
        &settings.effective_database_url(),
        settings.database_kind()?,
    )
    .await?;
    store.migrate().await?;
    Ok(store)
}

/// What the audit log records about a start: the version, the engine, a fingerprint of the
/// settings (the database password removed) and of the signing certificate — so a change of
/// configuration or keys between two starts is visible in the log.
fn start_details(settings: &Settings, notary: &Notary) -> serde_json::Value {
    use sha2::{Digest as _, Sha256};
    let mut redacted = settings.clone();
    redacted.database_url = crate::store::redact_url(&settings.effective_database_url());
    let settings_json = serde_json::to_vec(&redacted).unwrap_or_default();
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "database": format!("{:?}", settings.database_kind().ok()),
        "settings_sha256": hex::encode(Sha256::digest(&settings_json)),
        "signing_certificate_sha256": hex::encode(Sha256::digest(notary.signing_certificate())),
        "tsa_policy": settings.tsa.policy_oid,
    })
}

async fn purge_sessions_periodically(store: Store, idle_secs: i64) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        match store.purge_expired_sessions(idle_secs).await {
            Ok(n) if n > 0 => tracing::debug!(purged = n, "expired sessions removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not purge expired sessions"),
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("signal received");
}

/// Enters each live hearing's [`crate::sfu::hearing::HearingEvent`] in the audit log (no
/// personal data: participants by id) until the SFU is gone.
async fn audit_hearing_events(
    mut events: tokio::sync::mpsc::Receiver<(String, crate::sfu::hearing::HearingEvent)>,
    audit: AuditLog,
) {
    use crate::sfu::hearing::HearingEvent;
    while let Some((hearing, event)) = events.recv().await {
        let object = format!("hearing:{hearing}");
        let entry = match event {
            HearingEvent::Left { party } => {
                AuditEvent::new(Actor::System, "participant.disconnect", object)
                    .with(serde_json::json!({ "participant": party }))
            }
            HearingEvent::Returned { party, to } => {
                let back_to = match to {
                    crate::sfu::room::Location::HearingRoom => "hearing_room",
                    crate::sfu::room::Location::Consultation(_) => "consultation_room",
                    crate::sfu::room::Location::WaitingRoom => "waiting_room",
                    crate::sfu::room::Location::Disconnected => "disconnected",
                };
                AuditEvent::new(Actor::System, "participant.reconnect", object)
                    .with(serde_json::json!({ "participant": party, "back_to": back_to }))
            }
            HearingEvent::Quality { party, quality } => {
                AuditEvent::new(Actor::System, "participant.connection", object).with(
                    serde_json::json!({ "participant": party, "grade": quality.grade,
                                        "loss_percent": quality.loss_percent,
                                        "rtt_ms": quality.rtt_ms, "kbps": quality.kbps }),
                )
            }
        };
        if let Err(e) = audit.append(entry).await {
            tracing::error!(error = ?e, hearing = %hearing, "cannot audit a hearing event");
        }
    }
}
