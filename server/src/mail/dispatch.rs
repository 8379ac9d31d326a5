//! The dispatcher: sends due outbox rows over SMTP, at least once.
//!
//! One task per server, started by [`crate::app::Application::build`] and stopped at shutdown.
//! Every `mail.poll_interval_ms` it refreshes the outbox-depth gauge and, when an SMTP server is
//! configured, works through the due rows:
//!
//! 1. claim one row with a conditional UPDATE (a lease of [`LEASE`]; a second dispatcher on the
//!    same database gets nothing);
//! 2. hand the stored bytes to the SMTP server unchanged;
//! 3. on acceptance, set `sent_at`; on failure, count the attempt, keep the error, and make the
//!    row due again after [`RetryPolicy::delay_after`] (doubling, capped).
//!
//! A failure that concerns the SMTP server rather than the message (connection refused, TLS,
//! timeout, a 4xx answer) ends the round: the other due rows wait for the next poll instead of
//! each waiting for the same dead server. A row is never deleted.
//!
//! The dispatcher talks to SMTP through the small [`Deliver`] interface, so its loop is tested
//! without sockets; time is a parameter of [`Dispatcher::send_due`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use secrecy::ExposeSecret as _;
use tokio::sync::watch;

use crate::config::{ConfigError, MailSettings, MailTls};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// How long a claim holds a row: longer than one SMTP conversation can take ([`SMTP_TIMEOUT`]
/// per command), so a live dispatcher never loses its lease mid-send.
pub const LEASE: Duration = Duration::from_secs(10 * 60);

/// The longest wait for any one SMTP step (connect, TLS, a command's answer).
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

/// Rows looked at per round.
const BATCH: i64 = 20;

/// The longest stored or logged error text.
const MAX_ERROR_CHARS: usize = 500;

/// When to try again after failures: `initial`, doubling after each further failure, at most
/// `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// The policy from `mail.retry_initial_secs` and `mail.retry_max_secs`.
    pub fn from_settings(m: &MailSettings) -> Self {
        Self {
            initial: Duration::from_secs(m.retry_initial_secs),
            max: Duration::from_secs(m.retry_max_secs),
        }
    }

    /// The wait after the `failures`-th failed attempt in a row (1 for the first).
    pub fn delay_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        self.initial
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// Why one delivery failed.
#[derive(Debug)]
pub struct DeliveryError {
    /// What went wrong, for the outbox's `last_error` and the log (never a password).
    pub reason: String,
    /// The SMTP server itself failed or is unreachable (as opposed to refusing this message):
    /// the rest of the round waits too.
    pub server_unavailable: bool,
}

/// Hands one message to the next hop. Implemented by lettre's SMTP transport; tests use fakes.
#[async_trait::async_trait]
pub trait Deliver: Send + Sync {
    /// Delivers `message` (complete RFC 5322 bytes, sent unchanged) to the envelope's recipients.
    ///
    /// # Errors
    /// [`DeliveryError`] when the next hop did not accept the message.
    async fn deliver(&self, envelope: &Envelope, message: &[u8]) -> Result<(), DeliveryError>;
}

#[async_trait::async_trait]
impl Deliver for AsyncSmtpTransport<Tokio1Executor> {
    async fn deliver(&self, envelope: &Envelope, message: &[u8]) -> Result<(), DeliveryError> {
        // lettre ends DATA with CRLF "." CRLF whatever the message ends with; without this, a
        // message ending in CRLF would arrive with an extra empty line.
        let message = message.strip_suffix(b"\r\n").unwrap_or(message);
        self.send_raw(envelope, message)
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError {
                reason: e.to_string(),
                server_unavailable: !e.is_permanent(),
            })
    }
}

/// The SMTP transport the `[mail]` settings describe, or `None` when no `mail.smtp_host` is set.
/// Reads `mail.password_file` (which must be mode 0600) and `mail.ca_file`.
///
/// # Errors
/// A [`ConfigError`] naming the setting whose file cannot be used.
pub fn smtp_transport(
    m: &MailSettings,
) -> Result<Option<AsyncSmtpTransport<Tokio1Executor>>, ConfigError> {
    if !m.enabled() {
        return Ok(None);
    }
    let mut tls = TlsParameters::builder(m.smtp_host.clone());
    if !m.ca_file.is_empty() {
        let pem = std::fs::read(&m.ca_file).map_err(|e| {
            ConfigError::new(
                "mail.ca_file",
                format!("cannot read {}: {e}", m.ca_file),
                "name a PEM file with the CA certificate that issued the SMTP server's certificate",
            )
        })?;
        let count = rustls_pemfile::certs(&mut pem.as_slice())
            .filter(Result::is_ok)
            .count();
        let cert = Certificate::from_pem(&pem)
            .ok()
            .filter(|_| count > 0)
            .ok_or_else(|| {
                ConfigError::new(
                    "mail.ca_file",
                    format!("{} holds no PEM certificate", m.ca_file),
                    "name a PEM file (-----BEGIN CERTIFICATE-----) with the SMTP server's CA",
                )
            })?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build().map_err(|e| {
        ConfigError::new(
            "mail.ca_file",
            format!("the TLS settings for {} cannot be used: {e}", m.smtp_host),
            "check that mail.ca_file holds CA certificates",
        )
    })?;
    let mode = match m.tls {
        MailTls::Starttls => Tls::Required(tls),
        MailTls::Implicit => Tls::Wrapper(tls),
        MailTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&m.smtp_host)
        .port(m.effective_port())
        .tls(mode)
        .timeout(Some(SMTP_TIMEOUT));
    if !m.username.is_empty() {
        builder = builder.credentials(Credentials::new(m.username.clone(), read_password(m)?));
    }
    Ok(Some(builder.build()))
}

/// The SMTP password from `mail.password_file` (mode 0600 required) or `ASSIZE_MAIL__PASSWORD`.
fn read_password(m: &MailSettings) -> Result<String, ConfigError> {
    if let Some(p) = &m.password {
        return Ok(p.expose_secret().to_string());
    }
    let path = std::path::Path::new(&m.password_file);
    crate::pki::check_key_permissions(path).map_err(|e| {
        ConfigError::new(
            "mail.password_file",
            format!("{e:#}"),
            format!(
                "make the file readable by the server's account only: chmod 600 {}",
                path.display()
            ),
        )
    })?;
    let text = secrecy::SecretString::from(std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "mail.password_file",
            format!("cannot read {}: {e}", path.display()),
            "name a UTF-8 text file holding only the SMTP password",
        )
    })?);
    let password = text.expose_secret();
    let password = password
        .strip_suffix("\r\n")
        .or_else(|| password.strip_suffix('\n'))
        .unwrap_or(password);
    if password.is_empty() {
        return Err(ConfigError::new(
            "mail.password_file",
            format!("{} is empty", path.display()),
            "write the SMTP password into the file",
        ));
    }
    Ok(password.to_string())
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub failed: usize,
    /// The round stopped early (full batch, or the server is unavailable) with rows still due.
    pub more_due: bool,
}

/// Sends due outbox rows through a [`Deliver`].
pub struct Dispatcher {
    store: Store,
    transport: Option<Box<dyn Deliver>>,
    sender: Address,
    policy: RetryPolicy,
    /// This dispatcher's name in `lease_owner`.
    owner: String,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("owner", &self.owner)
            .field("sending", &self.transport.is_some())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher sending as `sender` (the envelope's MAIL FROM) through `transport`; with
    /// `None` it only keeps the outbox gauge current.
    pub fn new(
        store: Store,
        transport: Option<Box<dyn Deliver>>,
        sender: Address,
        policy: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            transport,
            sender,
            policy,
            owner: format!("dispatcher-{}", uuid::Uuid::new_v4().simple()),
            metrics,
        }
    }

    /// One round at time `now` (Unix seconds): claims and sends up to a batch of due rows.
    ///
    /// # Errors
    /// When the database fails; a row claimed before that is retried after its lease.
    pub async fn send_due(&self, now: i64) -> Result<Round, StoreError> {
        let mut round = Round::default();
        let Some(transport) = &self.transport else {
            return Ok(round);
        };
        let due = self.store.due_mail(now, BATCH).await?;
        round.more_due = due.len() as i64 == BATCH;
        let lease_until = now.saturating_add(LEASE.as_secs() as i64);
        for id in due {
            let Some(mail) = self
                .store
                .claim_mail(&id, &self.owner, now, lease_until)
                .await?
            else {
                continue; // another dispatcher has it
            };
            let envelope = mail
                .recipients
                .iter()
                .map(|r| r.parse::<Address>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())
                .and_then(|to| {
                    Envelope::new(Some(self.sender.clone()), to).map_err(|e| e.to_string())
                });
            let result = match envelope {
                Ok(envelope) => transport.deliver(&envelope, &mail.message).await,
                Err(reason) => Err(DeliveryError {
                    reason: format!("the stored recipients are unusable: {reason}"),
                    server_unavailable: false,
                }),
            };
            match result {
                Ok(()) => {
                    self.store
                        .mark_mail_sent(&mail.id, crate::store::now())
                        .await?;
                    self.metrics.mail_sent.inc();
                    round.sent += 1;
                    tracing::info!(mail_id = %mail.id, "mail sent");
                }
                Err(e) => {
                    let failures =
                        u32::try_from(mail.attempts.saturating_add(1)).unwrap_or(u32::MAX);
                    let delay = self.policy.delay_after(failures);
                    let reason: String = e.reason.chars().take(MAX_ERROR_CHARS).collect();
                    self.store
                        .mark_mail_failed(
                            &mail.id,
                            &self.owner,
                            &reason,
                            now.saturating_add(delay.as_secs() as i64),
                        )
                        .await?;
                    self.metrics.mail_send_failures.inc();
                    round.failed += 1;
                    tracing::warn!(
                        mail_id = %mail.id,
                        attempt = failures,
                        retry_in_secs = delay.as_secs(),
                        error = %reason,
                        "mail not sent; it stays in the outbox and is retried"
                    );
                    if e.server_unavailable {
                        round.more_due = false;
                        break;
                    }
                }
            }
        }
        Ok(round)
    }

    /// Refreshes the outbox-depth gauge.
    async fn refresh_depth(&self) {
        match self.store.mail_outbox_depth().await {
            Ok(n) => {
                self.metrics.mail_outbox_depth.set(n);
            }
            Err(e) => tracing::debug!(error = %e, "cannot count the mail outbox"),
        }
    }

    /// Rounds every `poll` until `stop` turns true (or its sender goes away).
    async fn run(self, mut stop: watch::Receiver<bool>, poll: Duration) {
        loop {
            self.refresh_depth().await;
            let more = match self.send_due(crate::store::now()).await {
                Ok(round) => round.more_due,
                Err(e) => {
                    tracing::warn!(error = %e, "mail dispatcher cannot read the outbox");
                    false
                }
            };
            if *stop.borrow() {
                break;
            }
            if more {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                _ = stop.changed() => break,
            }
        }
    }
}

/// The running dispatcher; [`MailTasks::shutdown`] stops it.
#[derive(Debug)]
pub struct MailTasks {
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl MailTasks {
    /// Starts the dispatcher for `settings` (which [`smtp_transport`] has turned into
    /// `transport`). Logs one warning when no SMTP server is configured.
    ///
    /// # Errors
    /// When `mail.from` is not an address (validation prevents it).
    pub fn spawn(
        store: Store,
        settings: &MailSettings,
        transport: Option<Box<dyn Deliver>>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let sender = settings
            .from
            .parse::<lettre::message::Mailbox>()
            .context("mail.from is not an address")?
            .email;
        if transport.is_none() {
            tracing::warn!(
                "mail.smtp_host is not set: notices and requests are kept in the mail outbox \
                 and sent once an SMTP server is configured (nothing is lost); see \
                 `assize mail queue`"
            );
        }
        let dispatcher = Dispatcher::new(
            store,
            transport,
            sender,
            RetryPolicy::from_settings(settings),
            metrics,
        );
        let (stop, stop_rx) = watch::channel(false);
        let handle =
            tokio::spawn(dispatcher.run(stop_rx, Duration::from_millis(settings.poll_interval_ms)));
        Ok(Self { stop, handle })
    }

    /// Stops the dispatcher: it finishes the message in hand (up to a few seconds), then ends.
    /// A message cut off mid-send is sent again after its lease (at least once).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(5), &mut self.handle)
            .await
            .is_err()
        {
            self.handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::config::DatabaseKind;
    use crate::mail::OutgoingMail;

    /// A next hop that answers from a script and records what it accepted.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<VecDeque<Result<(), DeliveryError>>>,
        accepted: Arc<Mutex<Vec<Vec<String>>>>,
    }

    #[async_trait::async_trait]
    impl Deliver for Scripted {
        async fn deliver(&self, envelope: &Envelope, _: &[u8]) -> Result<(), DeliveryError> {
            let answer = self.answers.lock().unwrap().pop_front().unwrap_or(Ok(()));
            if answer.is_ok() {
                let to = envelope.to().iter().map(ToString::to_string).collect();
                self.accepted.lock().unwrap().push(to);
            }
            answer
        }
    }

    fn down() -> Result<(), DeliveryError> {
        Err(DeliveryError {
            reason: "Connection refused".into(),
            server_unavailable: true,
        })
    }

    fn refused() -> Result<(), DeliveryError> {
        Err(DeliveryError {
            reason: "550 mailbox unavailable".into(),
            server_unavailable: false,
        })
    }

    async fn outbox_with(n: usize) -> (tempfile::TempDir, Store, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url, DatabaseKind::Sqlite).await.unwrap();
        store.migrate().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let m = OutgoingMail::notice("a@court.example", [format!("o{i}@x.example")], "s", "b")
                .unwrap();
            ids.push(store.enqueue_mail(&m).await.unwrap());
        }
        (dir, store, ids)
    }

    fn dispatcher(
        store: &Store,
        answers: Vec<Result<(), DeliveryError>>,
    ) -> (Dispatcher, Arc<Mutex<Vec<Vec<String>>>>) {
        let script = Scripted {
            answers: Mutex::new(answers.into()),
            accepted: Arc::default(),
        };
        let accepted = script.accepted.clone();
        let d = Dispatcher::new(
            store.clone(),
            Some(Box::new(script)),
            "a@court.example".parse().unwrap(),
            RetryPolicy {
                initial: Duration::from_secs(30),
                max: Duration::from_secs(900),
            },
            Arc::new(Metrics::new()),
        );
        (d, accepted)
    }

    #[tokio::test]
    async fn a_failed_message_waits_for_its_backoff_and_is_then_sent_once() {
        let (_dir, store, ids) = outbox_with(1).await;
        let (d, accepted) = dispatcher(&store, vec![down(), down()]);
        let t = crate::store::now();

        let r = d.send_due(t).await.unwrap();
        assert_eq!((r.sent, r.failed), (0, 1));
        let row = store.outbox_record(&ids[0]).await.unwrap().unwrap();
        assert_eq!((row.attempts, row.next_attempt_at), (1, t + 30));
        assert_eq!(row.last_error.as_deref(), Some("Connection refused"));

        assert_eq!(
            d.send_due(t + 29).await.unwrap(),
            Round::default(),
            "not yet"
        );
        let r = d.send_due(t + 30).await.unwrap();
        assert_eq!((r.sent, r.failed), (0, 1));
        let row = store.outbox_record(&ids[0]).await.unwrap().unwrap();
        assert_eq!(
            (row.attempts, row.next_attempt_at),
            (2, t + 30 + 60),
            "doubled"
        );

        let r = d.send_due(t + 90).await.unwrap();
        assert_eq!((r.sent, r.failed), (1, 0));
        assert!(d.send_due(t + 10_000).await.unwrap() == Round::default());
        assert_eq!(accepted.lock().unwrap().len(), 1, "sent once");
        let row = store.outbox_record(&ids[0]).await.unwrap().unwrap();
        assert!(row.sent_at.is_some() && row.last_error.is_none());
        assert_eq!(store.mail_outbox_depth().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn an_unavailable_server_ends_the_round_but_a_refused_message_does_not() {
        let (_dir, store, ids) = outbox_with(3).await;
        let t = crate::store::now();
        let (d, _) = dispatcher(&store, vec![down()]);
        let r = d.send_due(t).await.unwrap();
        assert_eq!((r.sent, r.failed), (0, 1));
        let mut attempts = Vec::new();
        for id in &ids {
            attempts.push(store.outbox_record(id).await.unwrap().unwrap().attempts);
        }
        attempts.sort_unstable();
        assert_eq!(
            attempts,
            [0, 0, 1],
            "the others were not tried against a dead server"
        );

        let (d, accepted) = dispatcher(&store, vec![refused()]);
        let r = d.send_due(t).await.unwrap();
        assert_eq!((r.sent, r.failed), (1, 1), "one refused, the next one sent");
        assert_eq!(accepted.lock().unwrap().len(), 1);
        assert_eq!(
            store.mail_outbox_depth().await.unwrap(),
            2,
            "nothing is deleted"
        );
    }

    #[tokio::test]
    async fn a_leased_message_is_not_claimed_again_until_the_lease_runs_out() {
        let (_dir, store, ids) = outbox_with(1).await;
        let t = crate::store::now();
        let lease = LEASE.as_secs() as i64;
        assert!(
            store
                .claim_mail(&ids[0], "crashed", t, t + lease)
                .await
                .unwrap()
                .is_some()
        );
        let (d, accepted) = dispatcher(&store, vec![]);
        assert_eq!(d.send_due(t + lease - 1).await.unwrap(), Round::default());
        let r = d.send_due(t + lease).await.unwrap();
        assert_eq!(r.sent, 1, "sent again after the lease: at least once");
        assert_eq!(accepted.lock().unwrap().len(), 1);
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let p = RetryPolicy {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(900),
        };
        let waits: Vec<u64> = (1..=8).map(|n| p.delay_after(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(p.delay_after(0).as_secs(), 30);
        assert_eq!(p.delay_after(u32::MAX).as_secs(), 900);
        let tiny = RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(86_400),
        };
        assert_eq!(tiny.delay_after(40).as_secs(), 86_400);
    }
}
