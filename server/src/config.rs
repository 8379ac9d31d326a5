//! Settings: one [`Settings`] value, built once in `main` (or by a test) and passed down.
//!
//! Layers, later ones winning: the embedded defaults below → a TOML file (`--config FILE`) →
//! `ASSIZE_…` environment variables (`ASSIZE_HTTP__LISTEN=0.0.0.0:8443`, two underscores between a
//! section and its key). Every value is validated at start; a bad one stops the start with a message
//! that names the setting and says how to fix it. Unknown keys are refused, so a typo never silently
//! falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::policy::Role;

/// Environment variables with the `ASSIZE_` prefix that are not settings (or, like the SMTP
/// password, are read verbatim rather than parsed as a value).
const NON_SETTING_ENV: &[&str] = &[
    "CONFIG",
    "TEST_POSTGRES_URL",
    "LOG_FORMAT",
    "LOG",
    "MAIL__PASSWORD",
];

/// The environment variable holding the SMTP password (read verbatim: a password such as
/// `"x"`, `123` or `[a]` must not be parsed as a quoted string, number or array).
pub const MAIL_PASSWORD_ENV: &str = "ASSIZE_MAIL__PASSWORD";

/// Everything the server can be told. Defaults are safe for a single development machine.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the database, certificates and keys live. Created on first start (mode 0700).
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`. Empty: SQLite at `DATA_DIR/assize.db`.
    pub database_url: String,
    /// The address users type into their browser; used in printed links. Empty: derived from
    /// `http.listen`.
    pub public_url: String,
    pub http: HttpSettings,
    pub tls: TlsSettings,
    pub auth: AuthSettings,
    pub tsa: TsaSettings,
    pub audit: AuditSettings,
    pub federation: FederationSettings,
    pub media: MediaSettings,
    pub recording: RecordingSettings,
    pub mla: MlaSettings,
    pub signing: SigningSettings,
    pub mail: MailSettings,
    pub log: LogSettings,
}

/// Where the key that seals this server's documents lives: by default the PEM file
/// `pki/signing.key` in the data directory; or a PKCS#11 token (an HSM), which never lets the
/// key out.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSettings {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`. Empty: PEM.
    pub pkcs11_module: String,
    /// The token's label.
    pub pkcs11_token_label: String,
    /// The private key's label (CKA_LABEL).
    pub pkcs11_key_label: String,
    /// A file holding the user PIN (mode 0600).
    pub pkcs11_pin_file: String,
    /// The PEM certificate of the token's key (issued by the CA in `pki/ca.crt`).
    pub certificate_file: String,
    /// The seals of the authorities hosted here (`[[signing.authorities]]`), one per authority
    /// that has its own key. A hosted authority not listed seals with a development key issued
    /// by `pki/ca.crt` on first use (`pki/authorities/<code>.key`).
    pub authorities: Vec<AuthoritySigning>,
}

/// The key one hosted authority seals its documents, transitions and receipts with: a PEM file
/// (mode 0600) or a key on a PKCS#11 token.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthoritySigning {
    /// The authority's code in the directory, e.g. `FR-CA`.
    pub code: String,
    /// Its PEM private key (mode 0600). Leave empty when the key is on a token.
    pub key_file: String,
    /// The key's PEM certificate. Its subject should name the authority; the other state
    /// checks the seal against the certificate its directory lists for the authority.
    pub certificate_file: String,
    /// PEM certificates from the issuer up to the trust anchor, sent inside each seal. Empty:
    /// `pki/ca.crt`.
    pub chain_file: String,
    /// The PKCS#11 module; empty for a PEM key.
    pub pkcs11_module: String,
    /// The token's label.
    pub pkcs11_token_label: String,
    /// The private key's label (CKA_LABEL).
    pub pkcs11_key_label: String,
    /// A file holding the user PIN (mode 0600).
    pub pkcs11_pin_file: String,
}

/// Mutual legal assistance: limits on what other servers and officers send, and delivery.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlaSettings {
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: u64,
    /// Largest message another server may deliver (document, seal and attachments, base64).
    pub max_message_bytes: u64,
    /// Longest wait between two delivery attempts to a server that does not answer.
    pub retry_max_secs: u64,
    /// A delivered message whose seal's time-stamp is older than this is refused as stale.
    pub max_message_age_secs: u64,
    /// How often deadlines are checked for notices.
    pub deadline_check_secs: u64,
}

impl Default for MlaSettings {
    fn default() -> Self {
        Self {
            max_attachment_bytes: 25 * 1024 * 1024,
            max_message_bytes: 100 * 1024 * 1024,
            retry_max_secs: 300,
            max_message_age_secs: 30 * 24 * 3600,
            deadline_check_secs: 300,
        }
    }
}

/// Outgoing mail: notices to officers and S/MIME-signed requests to authorities without an
/// Assize server. Messages are written to the outbox (in the database) first and sent by the
/// dispatcher, so an unreachable SMTP server delays mail and never loses it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// The SMTP server (host name or IP address, no port). Empty: nothing is sent; mail waits in
    /// the outbox until this is set.
    pub smtp_host: String,
    /// The SMTP port. Unset: 587 for `starttls`, 465 for `implicit`, 25 for `none`.
    pub smtp_port: Option<u16>,
    /// How the connection is protected.
    pub tls: MailTls,
    /// The SMTP user name. Empty: no authentication.
    pub username: String,
    /// A file holding the SMTP password (mode 0600; one trailing newline is ignored).
    pub password_file: String,
    /// The SMTP password, from the environment only (`ASSIZE_MAIL__PASSWORD`, read verbatim);
    /// refused in the TOML file. Never serialised, so never part of the settings fingerprint,
    /// and printed as `[REDACTED]`.
    #[serde(skip)]
    pub password: Option<secrecy::SecretString>,
    /// The sender of every message (`From:` of notices, and the envelope sender of all mail),
    /// e.g. `Assize <assize@court.example>`.
    pub from: String,
    /// A PEM CA certificate (or several) that issues the SMTP server's certificate, trusted in
    /// addition to the public roots.
    pub ca_file: String,
    /// How often the dispatcher looks for due mail, in milliseconds.
    pub poll_interval_ms: u64,
    /// The wait after the first failed attempt; it doubles after each further failure…
    pub retry_initial_secs: u64,
    /// …up to this.
    pub retry_max_secs: u64,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// Plain connection upgraded with STARTTLS before anything is sent; refused if the server
    /// does not offer it (submission, port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (submissions, port 465).
    Implicit,
    /// No encryption: only to an SMTP relay on this machine (loopback).
    None,
}

impl MailTls {
    /// The usual port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            MailTls::Starttls => 587,
            MailTls::Implicit => 465,
            MailTls::None => 25,
        }
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_host: String::new(),
            smtp_port: None,
            tls: MailTls::Starttls,
            username: String::new(),
            password_file: String::new(),
            password: None,
            from: "Assize <assize@localhost>".into(),
            ca_file: String::new(),
            poll_interval_ms: 5000,
            retry_initial_secs: 30,
            retry_max_secs: 15 * 60,
        }
    }
}

impl MailSettings {
    /// The port to connect to, after applying the default for `tls`.
    pub fn effective_port(&self) -> u16 {
        self.smtp_port.unwrap_or(self.tls.default_port())
    }

    /// Whether an SMTP server is configured (otherwise mail only accumulates in the outbox).
    pub fn enabled(&self) -> bool {
        !self.smtp_host.is_empty()
    }

    /// Checks the `[mail]` values and the relations between them.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first `mail.…` setting that cannot be used.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "mail.from",
                format!("{:?} is not an e-mail address", self.from),
                "give the sender as assize@court.example or \"Assize <assize@court.example>\"",
            ));
        }
        if !(10..=3_600_000).contains(&self.poll_interval_ms) {
            return Err(ConfigError::new(
                "mail.poll_interval_ms",
                format!("{} is outside 10..=3600000", self.poll_interval_ms),
                "choose how often to look for due mail, e.g. 5000 (five seconds)",
            ));
        }
        if !(1..=86_400).contains(&self.retry_initial_secs) {
            return Err(ConfigError::new(
                "mail.retry_initial_secs",
                format!("{} is outside 1..=86400", self.retry_initial_secs),
                "choose the wait after a first failed attempt in seconds, e.g. 30",
            ));
        }
        if !(self.retry_initial_secs..=86_400).contains(&self.retry_max_secs) {
            return Err(ConfigError::new(
                "mail.retry_max_secs",
                format!(
                    "{} is outside {}..=86400",
                    self.retry_max_secs, self.retry_initial_secs
                ),
                "choose the longest wait between attempts in seconds, at least \
                 mail.retry_initial_secs, e.g. 900",
            ));
        }
        if self.smtp_port == Some(0) {
            return Err(ConfigError::new(
                "mail.smtp_port",
                "is 0",
                "give the SMTP server's port (587 for starttls, 465 for implicit), or leave it \
                 out for the default",
            ));
        }
        let host = self.smtp_host.as_str();
        if host.contains("://")
            || host
                .chars()
                .any(|c| c.is_whitespace() || c == '/' || c == '@')
            || (host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err())
        {
            return Err(ConfigError::new(
                "mail.smtp_host",
                format!("{host:?} is not a host name or IP address"),
                "give only the host, e.g. smtp.court.example, and the port in mail.smtp_port",
            ));
        }
        if self.enabled() && self.tls == MailTls::None && !is_loopback_host(host) {
            return Err(ConfigError::new(
                "mail.tls",
                format!(
                    "\"none\" would send mail (and any password) unencrypted to {host}, which is \
                     not this machine"
                ),
                "use tls = \"starttls\" (port 587) or \"implicit\" (port 465); plain SMTP is \
                 allowed only to a relay on this machine (localhost, 127.0.0.1 or ::1)",
            ));
        }
        let has_password = !self.password_file.is_empty() || self.password.is_some();
        if !self.password_file.is_empty() && self.password.is_some() {
            return Err(ConfigError::new(
                "mail.password_file / mail.password",
                "both are set",
                "keep one: the password file (mode 0600) or ASSIZE_MAIL__PASSWORD",
            ));
        }
        if self.username.is_empty() && has_password {
            return Err(ConfigError::new(
                "mail.username",
                "is empty although a password is set",
                "set the SMTP user name, or remove the password for a relay without \
                 authentication",
            ));
        }
        if !self.username.is_empty() && !has_password {
            return Err(ConfigError::new(
                "mail.password_file",
                "is empty although mail.username is set",
                "put the SMTP password in a file readable by the server only (chmod 600) and \
                 name it here, or set ASSIZE_MAIL__PASSWORD",
            ));
        }
        Ok(())
    }
}

/// Whether `host` names this machine: `localhost` or a loopback address.
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The hearing SFU's media sockets (WebRTC over UDP).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSettings {
    /// The IP addresses the SFU binds and advertises to participants (ICE host candidates).
    /// Explicit addresses only: not `0.0.0.0` or `::`.
    pub addresses: Vec<String>,
    /// The lowest UDP port for media (set both or neither; neither: ephemeral ports).
    pub udp_port_min: Option<u16>,
    /// The highest UDP port for media.
    pub udp_port_max: Option<u16>,
    /// TURN servers for participants behind restrictive firewalls (`turn:` / `turns:` URLs, as
    /// clients use them). Empty: none is offered.
    pub turn_urls: Vec<String>,
    /// The secret shared with the TURN server (coturn `static-auth-secret`), in a file readable
    /// by its owner only. Required with `turn_urls`.
    pub turn_secret_file: Option<std::path::PathBuf>,
    /// How long a participant's TURN credentials stay valid (seconds; at most a day).
    pub turn_ttl_secs: u64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            addresses: vec!["127.0.0.1".into()],
            udp_port_min: None,
            udp_port_max: None,
            turn_urls: Vec::new(),
            turn_secret_file: None,
            turn_ttl_secs: 3600,
        }
    }
}

/// Hearing recordings (`[recording]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingSettings {
    /// Where segment files are written (one directory per hearing and recording). Empty:
    /// `DATA_DIR/recordings`.
    pub directory: String,
    /// Length of one sealed segment in seconds: a crash loses at most the segment in progress.
    pub segment_secs: u32,
    /// How long a closed hearing's record (its recordings and minutes) is kept, in days from
    /// the close, unless `retention_by_court` names the hearing's court. Then the retention
    /// sweep deletes it (an audit entry names what was deleted and every segment's hash).
    pub retention_days: u32,
    /// Per court (the hearing's `court` exactly as booked): its own retention period in days.
    pub retention_by_court: std::collections::BTreeMap<String, u32>,
    /// How often the retention sweep looks for records whose period has ended, in seconds.
    pub retention_sweep_secs: u64,
    /// The court's X.509 certificate (PEM, RSA ≥ 2048 bits) that a protected witness's
    /// original voice is encrypted to when a protective order keeps it (CMS EnvelopedData).
    /// Only the holder of its private key can ever listen to it; the server cannot. Empty: no
    /// original is ever kept, and an order asking for it is refused.
    pub original_voice_recipient: String,
}

/// Longest retention period accepted (100 years), in days.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

impl Default for RecordingSettings {
    fn default() -> Self {
        Self {
            directory: String::new(),
            segment_secs: 60,
            retention_days: 3650,
            retention_by_court: std::collections::BTreeMap::new(),
            retention_sweep_secs: 3600,
            original_voice_recipient: String::new(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSettings {
    /// PEM CAs that issue other states' servers' HTTPS certificates (besides the public roots).
    pub peer_ca_files: Vec<String>,
    /// Peer servers (`https://…`) that receive this server's audit checkpoints.
    pub checkpoint_peers: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsaSettings {
    /// The policy OID put in time-stamp tokens.
    pub policy_oid: String,
    /// The clock accuracy stated in tokens, in milliseconds (0–999).
    pub accuracy_ms: u16,
}

impl Default for TsaSettings {
    fn default() -> Self {
        Self {
            policy_oid: crate::notary::DEFAULT_TSA_POLICY.into(),
            accuracy_ms: 500,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Seal a checkpoint at least this often while the log grows.
    pub checkpoint_interval_secs: u64,
    /// …and whenever this many entries were added since the last one.
    pub checkpoint_every_entries: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_interval_secs: 60,
            checkpoint_every_entries: 1000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Socket address for HTTPS. Port 0 picks a free port (tests).
    pub listen: String,
    /// Largest request body accepted by any endpoint, in bytes.
    pub max_body_bytes: usize,
    /// Longest time a request may take before it is answered with 503 `timeout`.
    pub request_timeout_secs: u64,
    /// Longest time a TLS handshake may take.
    pub handshake_timeout_secs: u64,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace_secs: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain for HTTPS. Empty: the development certificate in the data directory.
    pub cert_file: String,
    /// PEM private key for HTTPS (must be mode 0600). Empty: the development key.
    pub key_file: String,
    /// PEM CA certificates that other states' servers' client certificates must chain to.
    /// Empty: the development CA in the data directory.
    pub client_ca_files: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Roles whose members must use a TOTP second factor.
    pub totp_required_roles: Vec<Role>,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: i64,
    /// A session ends this many hours after sign-in, however active.
    pub session_max_hours: i64,
    /// Failed sign-ins for one account before it is locked for `lockout_secs`.
    pub max_failed_logins: u32,
    /// Failed sign-ins from one network address before it is locked for `lockout_secs`.
    pub max_failed_logins_per_address: u32,
    /// How long a lock after repeated failures lasts.
    pub lockout_secs: u64,
    /// Lifetime of one-time links (first administrator, password set).
    pub one_time_link_hours: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` (humans) or `json` (log collectors).
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `assize_server=debug,info`.
    pub level: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./assize-data"),
            database_url: String::new(),
            public_url: String::new(),
            http: HttpSettings::default(),
            tls: TlsSettings::default(),
            auth: AuthSettings::default(),
            tsa: TsaSettings::default(),
            audit: AuditSettings::default(),
            federation: FederationSettings::default(),
            media: MediaSettings::default(),
            recording: RecordingSettings::default(),
            mla: MlaSettings::default(),
            signing: SigningSettings::default(),
            mail: MailSettings::default(),
            log: LogSettings::default(),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8443".into(),
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            handshake_timeout_secs: 10,
            shutdown_grace_secs: 10,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            totp_required_roles: vec![Role::Administrator, Role::Judge, Role::Clerk, Role::Officer],
            session_idle_minutes: 30,
            session_max_hours: 12,
            max_failed_logins: 5,
            max_failed_logins_per_address: 50,
            lockout_secs: 15 * 60,
            one_time_link_hours: 24,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A setting that cannot be used, with the fix. Printed as is to the operator.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in `{setting}`: {problem}\n  fix: {fix}")]
pub struct ConfigError {
    pub setting: String,
    pub problem: String,
    pub fix: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Refuses an SMTP password written into a configuration file: files get committed and copied.
fn refuse_password_in_file(file: &Figment) -> Result<(), ConfigError> {
    if file.find_value("mail.password").is_ok() {
        return Err(ConfigError::new(
            "mail.password",
            "is in the configuration file",
            "remove it; put the password in a file readable by the server only (chmod 600) and \
             set mail.password_file, or set ASSIZE_MAIL__PASSWORD in the service's environment",
        ));
    }
    Ok(())
}

/// Which database engine a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl Settings {
    /// Layers defaults, the optional TOML file and the environment, then validates.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting that cannot be used.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("{} does not exist or is not a file", path.display()),
                    "give the path of a TOML file, or leave --config out to use the defaults",
                ));
            }
            refuse_password_in_file(&Figment::from(Toml::file_exact(path)))?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(
            Env::prefixed("ASSIZE_")
                .filter(|key| {
                    !NON_SETTING_ENV
                        .iter()
                        .any(|k| key.as_str().eq_ignore_ascii_case(k))
                })
                .split("__"),
        );
        let mut settings = Self::extract(figment)?;
        if let Some(password) = std::env::var_os(MAIL_PASSWORD_ENV) {
            let password = password.into_string().map_err(|_| {
                ConfigError::new(
                    "mail.password",
                    format!("{MAIL_PASSWORD_ENV} is not valid UTF-8"),
                    "set the SMTP password as UTF-8 text, or use mail.password_file",
                )
            })?;
            if !password.is_empty() {
                settings.mail.password = Some(password.into());
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Settings from a TOML text over the defaults (no environment), validated.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting that cannot be used.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        refuse_password_in_file(&Figment::from(Toml::string(text)))?;
        let settings = Self::extract(
            Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(text)),
        )?;
        settings.validate()?;
        Ok(settings)
    }

    fn extract(figment: Figment) -> Result<Self, ConfigError> {
        figment.extract().map_err(|e| {
            let setting = e.path.join(".");
            ConfigError::new(
                if setting.is_empty() {
                    "configuration"
                } else {
                    &setting
                },
                e.kind.to_string(),
                "correct the value in the TOML file or the ASSIZE_ environment variable \
                 (see docs/operations.md for every setting and its type)",
            )
        })
    }

    /// The directory recordings are written to.
    pub fn recording_dir(&self) -> PathBuf {
        if self.recording.directory.is_empty() {
            self.data_dir.join("recordings")
        } else {
            PathBuf::from(&self.recording.directory)
        }
    }

    /// Checks every value and the relations between them.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting that cannot be used.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "data_dir",
                "is empty",
                "set a directory the server may create, e.g. ./assize-data",
            ));
        }
        self.listen_addr()?;
        self.database_kind()?;
        if !self.public_url.is_empty() && !self.public_url.starts_with("https://") {
            return Err(ConfigError::new(
                "public_url",
                format!("{:?} is not an https:// URL", self.public_url),
                "Assize is only served over HTTPS: set e.g. https://assize.court.example",
            ));
        }
        let sg = &self.signing;
        if !sg.pkcs11_module.is_empty() {
            for (name, v) in [
                ("signing.pkcs11_token_label", &sg.pkcs11_token_label),
                ("signing.pkcs11_key_label", &sg.pkcs11_key_label),
                ("signing.pkcs11_pin_file", &sg.pkcs11_pin_file),
                ("signing.certificate_file", &sg.certificate_file),
            ] {
                if v.is_empty() {
                    return Err(ConfigError::new(
                        name,
                        "is empty while signing.pkcs11_module is set",
                        "set it too (the token, the key's label, a 0600 file with the PIN, and the key's certificate), or leave signing.pkcs11_module empty to sign with pki/signing.key",
                    ));
                }
            }
        }
        let mut codes = std::collections::HashSet::new();
        for a in &sg.authorities {
            if a.code.is_empty() || !codes.insert(a.code.as_str()) {
                return Err(ConfigError::new(
                    "signing.authorities.code",
                    format!("{:?} is empty or listed twice", a.code),
                    "give each [[signing.authorities]] entry the directory code of one authority hosted here",
                ));
            }
            let needed: &[(&str, &String)] = if a.pkcs11_module.is_empty() {
                &[
                    ("signing.authorities.key_file", &a.key_file),
                    ("signing.authorities.certificate_file", &a.certificate_file),
                ]
            } else {
                &[
                    (
                        "signing.authorities.pkcs11_token_label",
                        &a.pkcs11_token_label,
                    ),
                    ("signing.authorities.pkcs11_key_label", &a.pkcs11_key_label),
                    ("signing.authorities.pkcs11_pin_file", &a.pkcs11_pin_file),
                    ("signing.authorities.certificate_file", &a.certificate_file),
                ]
            };
            for (name, v) in needed {
                if v.is_empty() {
                    return Err(ConfigError::new(
                        name,
                        format!("is empty for the authority {}", a.code),
                        "give a PEM key file (0600) and its certificate, or the PKCS#11 module, token, key label, PIN file and certificate",
                    ));
                }
            }
        }
        if !(1..=3600).contains(&self.recording.segment_secs) {
            return Err(ConfigError::new(
                "recording.segment_secs",
                format!("{} is outside 1..=3600", self.recording.segment_secs),
                "choose a segment length between 1 second and 1 hour (default 60)",
            ));
        }
        if !(1..=MAX_RETENTION_DAYS).contains(&self.recording.retention_days) {
            return Err(ConfigError::new(
                "recording.retention_days",
                format!(
                    "{} is outside 1..={MAX_RETENTION_DAYS}",
                    self.recording.retention_days
                ),
                "give the days a closed hearing's record is kept (default 3650, ten years)",
            ));
        }
        for (court, days) in &self.recording.retention_by_court {
            if court.trim().is_empty() || !(1..=MAX_RETENTION_DAYS).contains(days) {
                return Err(ConfigError::new(
                    "recording.retention_by_court",
                    format!("{court:?} = {days}"),
                    "name each court as its hearings are booked, with 1 to 36500 days",
                ));
            }
        }
        if !(1..=86_400).contains(&self.recording.retention_sweep_secs) {
            return Err(ConfigError::new(
                "recording.retention_sweep_secs",
                format!(
                    "{} is outside 1..=86400",
                    self.recording.retention_sweep_secs
                ),
                "sweep between every second and once a day (default 3600)",
            ));
        }
        let m = &self.mla;
        if !(1024..=1024 * 1024 * 1024).contains(&m.max_attachment_bytes) {
            return Err(ConfigError::new(
                "mla.max_attachment_bytes",
                format!("{} is outside 1024..=1073741824", m.max_attachment_bytes),
                "choose a limit between 1 KiB and 1 GiB (default 26214400)",
            ));
        }
        if m.max_message_bytes < m.max_attachment_bytes.saturating_mul(4) / 3 + 65_536
            || m.max_message_bytes > 4 * 1024 * 1024 * 1024
        {
            return Err(ConfigError::new(
                "mla.max_message_bytes",
                format!(
                    "{} cannot carry one attachment of mla.max_attachment_bytes in base64",
                    m.max_message_bytes
                ),
                "set it to at least 4/3 of mla.max_attachment_bytes plus 64 KiB, and at most 4 GiB",
            ));
        }
        for (name, v) in [
            ("mla.retry_max_secs", m.retry_max_secs),
            ("mla.max_message_age_secs", m.max_message_age_secs),
            ("mla.deadline_check_secs", m.deadline_check_secs),
        ] {
            if v == 0 || v > 365 * 24 * 3600 {
                return Err(ConfigError::new(
                    name,
                    format!("{v} is outside 1..=31536000"),
                    "give a number of seconds between 1 and one year",
                ));
            }
        }
        let h = &self.http;
        if !(1024..=1024 * 1024 * 1024).contains(&h.max_body_bytes) {
            return Err(ConfigError::new(
                "http.max_body_bytes",
                format!("{} is outside 1024..=1073741824", h.max_body_bytes),
                "choose a limit between 1 KiB and 1 GiB (default 1048576)",
            ));
        }
        for (name, v) in [
            ("http.request_timeout_secs", h.request_timeout_secs),
            ("http.handshake_timeout_secs", h.handshake_timeout_secs),
            ("http.shutdown_grace_secs", h.shutdown_grace_secs),
            ("auth.lockout_secs", self.auth.lockout_secs),
            (
                "audit.checkpoint_interval_secs",
                self.audit.checkpoint_interval_secs,
            ),
        ] {
            if !(1..=86_400).contains(&v) {
                return Err(ConfigError::new(
                    name,
                    format!("{v} is outside 1..=86400 seconds"),
                    "choose a number of seconds between 1 and 86400",
                ));
            }
        }
        let a = &self.auth;
        for (name, v, max) in [
            ("auth.session_idle_minutes", a.session_idle_minutes, 24 * 60),
            ("auth.session_max_hours", a.session_max_hours, 24 * 7),
            ("auth.one_time_link_hours", a.one_time_link_hours, 24 * 14),
        ] {
            if !(1..=max).contains(&v) {
                return Err(ConfigError::new(
                    name,
                    format!("{v} is outside 1..={max}"),
                    format!("choose a value between 1 and {max}"),
                ));
            }
        }
        for (name, v) in [
            ("auth.max_failed_logins", a.max_failed_logins),
            (
                "auth.max_failed_logins_per_address",
                a.max_failed_logins_per_address,
            ),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(ConfigError::new(
                    name,
                    format!("{v} is outside 1..=10000"),
                    "choose how many failures to allow before a lock, e.g. 5",
                ));
            }
        }
        if !(1..=1_000_000).contains(&self.audit.checkpoint_every_entries) {
            return Err(ConfigError::new(
                "audit.checkpoint_every_entries",
                format!(
                    "{} is outside 1..=1000000",
                    self.audit.checkpoint_every_entries
                ),
                "choose how many new entries trigger a checkpoint, e.g. 1000",
            ));
        }
        if let Some(bad) = self
            .federation
            .checkpoint_peers
            .iter()
            .find(|u| !u.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "federation.checkpoint_peers",
                format!("{bad:?} is not an https:// URL"),
                "list peer servers as https://host:port",
            ));
        }
        if self.tsa.accuracy_ms > 999 {
            return Err(ConfigError::new(
                "tsa.accuracy_ms",
                format!("{} is over 999", self.tsa.accuracy_ms),
                "give the clock accuracy in milliseconds, 0 to 999",
            ));
        }
        // Check each arc's size first: the OID parser panics on arcs above u32 (const-oid 0.9).
        let arcs_fit = !self.tsa.policy_oid.is_empty()
            && self.tsa.policy_oid.len() <= 200
            && self
                .tsa
                .policy_oid
                .split('.')
                .all(|a| a.parse::<u32>().is_ok());
        if !arcs_fit || assize_signing::ObjectIdentifier::new(&self.tsa.policy_oid).is_err() {
            return Err(ConfigError::new(
                "tsa.policy_oid",
                format!("{:?} is not an object identifier", self.tsa.policy_oid),
                "give a dotted OID such as 1.2.3.4.5 (your TSA policy's identifier)",
            ));
        }
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            return Err(ConfigError::new(
                "tls.cert_file / tls.key_file",
                "only one of the two is set",
                "set both (your certificate chain and its key) or neither (development certificate)",
            ));
        }
        self.sfu_config()?;
        self.mail.validate()?;
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(ConfigError::new(
                "log.level",
                format!("{:?} is not a log filter: {e}", self.log.level),
                "use a level such as info, debug or warn",
            ));
        }
        Ok(())
    }

    /// The SFU's configuration from the `[media]` settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `media.addresses` or `media.udp_port_min/max`.
    pub fn sfu_config(&self) -> Result<crate::sfu::SfuConfig, ConfigError> {
        let m = &self.media;
        if m.addresses.is_empty() {
            return Err(ConfigError::new(
                "media.addresses",
                "is empty",
                "name the IP address(es) participants reach the server at, e.g. [\"192.0.2.10\"]",
            ));
        }
        let mut ice_ips = Vec::with_capacity(m.addresses.len());
        for a in &m.addresses {
            let ip: std::net::IpAddr = a.parse().map_err(|_| {
                ConfigError::new(
                    "media.addresses",
                    format!("{a:?} is not an IP address"),
                    "give IP addresses such as 192.0.2.10 or 2001:db8::10 (no host names, no ports)",
                )
            })?;
            if ip.is_unspecified() {
                return Err(ConfigError::new(
                    "media.addresses",
                    format!("{a} is a wildcard address"),
                    "name the explicit address(es) participants reach the server at",
                ));
            }
            ice_ips.push(ip);
        }
        let udp_ports = match (m.udp_port_min, m.udp_port_max) {
            (None, None) => None,
            (Some(lo), Some(hi)) if lo > 0 && lo <= hi => Some(lo..=hi),
            (Some(lo), Some(hi)) => {
                return Err(ConfigError::new(
                    "media.udp_port_min / media.udp_port_max",
                    format!("{lo}..{hi} is not a usable range"),
                    "give 1 <= udp_port_min <= udp_port_max, e.g. 40000 and 40999",
                ));
            }
            _ => {
                return Err(ConfigError::new(
                    "media.udp_port_min / media.udp_port_max",
                    "only one of the two is set",
                    "set both (the firewall's UDP range for media) or neither (ephemeral ports)",
                ));
            }
        };
        let turn = if m.turn_urls.is_empty() {
            None
        } else {
            let Some(file) = &m.turn_secret_file else {
                return Err(ConfigError::new(
                    "media.turn_secret_file",
                    "is missing",
                    "name the file holding the secret shared with the TURN server \
                     (coturn's static-auth-secret), mode 0600",
                ));
            };
            let secret = crate::pki::check_key_permissions(file)
                .and_then(|()| {
                    std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read it: {e}"))
                })
                .map_err(|e| {
                    ConfigError::new(
                        "media.turn_secret_file",
                        format!("{}: {e:#}", file.display()),
                        "create it with `openssl rand -hex 32 > FILE; chmod 600 FILE` and give \
                         coturn the same text as static-auth-secret",
                    )
                })?;
            let text = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
            let config = crate::sfu::turn::TurnConfig::new(
                m.turn_urls.clone(),
                zeroize::Zeroizing::new(text),
                std::time::Duration::from_secs(m.turn_ttl_secs),
            )
            .map_err(|e| {
                ConfigError::new(
                    "media.turn_urls / media.turn_ttl_secs",
                    e.to_string(),
                    "give turn: or turns: URLs and a lifetime of 1 to 86400 seconds",
                )
            })?;
            Some(config)
        };
        let config = crate::sfu::SfuConfig {
            ice_ips,
            udp_ports,
            turn,
        };
        config.validate().map_err(|e| {
            ConfigError::new(
                "media",
                e.to_string(),
                "correct the [media] settings (see docs/operations.md)",
            )
        })?;
        Ok(config)
    }

    /// The parsed `http.listen` address.
    ///
    /// # Errors
    /// When `http.listen` is not an `IP:PORT`.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.http.listen.parse().map_err(|_| {
            ConfigError::new(
                "http.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:8443",
                    self.http.listen
                ),
                "give an IP address and a port, e.g. 127.0.0.1:8443 or [::1]:8443",
            )
        })
    }

    /// The database URL after applying the default.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("assize.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// Which engine `database_url` selects.
    ///
    /// # Errors
    /// When the URL names neither SQLite nor PostgreSQL.
    pub fn database_kind(&self) -> Result<DatabaseKind, ConfigError> {
        let url = self.effective_database_url();
        if url.starts_with("sqlite:") {
            Ok(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres)
        } else {
            Err(ConfigError::new(
                "database_url",
                "is neither a sqlite: nor a postgres:// URL",
                "use sqlite://PATH (default) or postgres://USER@HOST:5432/DATABASE",
            ))
        }
    }

    /// The URL to print in links, after applying the default.
    pub fn effective_public_url(&self, bound: SocketAddr) -> String {
        if self.public_url.is_empty() {
            format!("https://{bound}")
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn a_bad_listen_address_names_the_setting() {
        let s = Settings {
            http: HttpSettings {
                listen: "localhost".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = s.validate().unwrap_err();
        assert_eq!(e.setting, "http.listen");
        assert!(e.to_string().contains("fix:"));
    }

    #[test]
    fn hostile_policy_oids_are_refused_without_panicking() {
        for oid in [
            "",
            "1",
            "1.2.",
            "x.y",
            "2.25.303070522468776040966171809058032444825",
            "1..2",
            "-1.2",
        ] {
            let mut s = Settings::default();
            s.tsa.policy_oid = oid.into();
            assert_eq!(
                s.validate().unwrap_err().setting,
                "tsa.policy_oid",
                "{oid:?}"
            );
        }
    }

    #[test]
    fn an_unknown_database_is_refused() {
        let s = Settings {
            database_url: "mysql://x".into(),
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().setting, "database_url");
    }

    #[test]
    fn toml_typos_and_wrong_types_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.toml");
        std::fs::write(&f, "[http]\nmax_body_bytes = \"big\"\n").unwrap();
        let e = Settings::load(Some(&f)).unwrap_err();
        assert_eq!(e.setting, "http.max_body_bytes", "{e}");
        std::fs::write(&f, "[http]\nlisten_adress = \"1.2.3.4:5\"\n").unwrap();
        let e = Settings::load(Some(&f)).unwrap_err();
        assert!(e.to_string().contains("listen_adress"), "{e}");
    }

    #[test]
    fn hostile_toml_gives_setting_errors_not_panics() {
        let deep = format!("a = {}1{}", "[".repeat(500), "]".repeat(500));
        for text in [
            "http = 5",
            "[http]\nmax_body_bytes = -1",
            "[http]\nmax_body_bytes = 99999999999999999999999",
            "[auth]\ntotp_required_roles = [\"emperor\"]",
            "[auth]\nsession_idle_minutes = 1e308",
            "[[http]]\nlisten = 1",
            "data_dir = \"\"",
            "\u{0}",
            "[tsa]\npolicy_oid = \"1.2.99999999999999999999999\"",
            deep.as_str(),
        ] {
            assert!(Settings::from_toml_str(text).is_err(), "{text:?}");
        }
        Settings::from_toml_str("[http]\nlisten = \"127.0.0.1:9443\"").unwrap();
    }

    #[test]
    fn bad_retention_settings_name_the_setting_and_a_court_may_have_its_own_period() {
        let cases: &[(&str, &str)] = &[
            (
                "[recording]\nretention_days = 0",
                "recording.retention_days",
            ),
            (
                "[recording]\nretention_days = 36501",
                "recording.retention_days",
            ),
            (
                "[recording.retention_by_court]\n\"Tribunal\" = 0",
                "recording.retention_by_court",
            ),
            (
                "[recording.retention_by_court]\n\" \" = 10",
                "recording.retention_by_court",
            ),
            (
                "[recording]\nretention_sweep_secs = 0",
                "recording.retention_sweep_secs",
            ),
        ];
        for (toml, setting) in cases {
            assert_eq!(
                Settings::from_toml_str(toml).unwrap_err().setting,
                *setting,
                "{toml}"
            );
        }
        let ok = Settings::from_toml_str(
            "[recording.retention_by_court]\n\"Tribunal de Bruxelles\" = 1825",
        )
        .unwrap();
        assert_eq!(ok.recording.retention_days, 3650);
        assert_eq!(
            ok.recording.retention_by_court["Tribunal de Bruxelles"],
            1825
        );
    }

    #[test]
    fn bad_media_settings_name_the_setting() {
        let cases: &[(&str, &str)] = &[
            ("[media]\naddresses = []", "media.addresses"),
            ("[media]\naddresses = [\"0.0.0.0\"]", "media.addresses"),
            ("[media]\naddresses = [\"example.org\"]", "media.addresses"),
            (
                "[media]\nudp_port_min = 40000",
                "media.udp_port_min / media.udp_port_max",
            ),
            (
                "[media]\nudp_port_min = 5\nudp_port_max = 4",
                "media.udp_port_min / media.udp_port_max",
            ),
            (
                "[media]\nudp_port_min = 0\nudp_port_max = 4",
                "media.udp_port_min / media.udp_port_max",
            ),
        ];
        for (toml, setting) in cases {
            assert_eq!(
                Settings::from_toml_str(toml).unwrap_err().setting,
                *setting,
                "{toml}"
            );
        }
        let ok = Settings::from_toml_str(
            "[media]\naddresses = [\"192.0.2.10\"]\nudp_port_min = 40000\nudp_port_max = 40999",
        )
        .unwrap();
        let sfu = ok.sfu_config().unwrap();
        assert_eq!(sfu.udp_ports, Some(40000..=40999));
    }

    #[test]
    fn bad_mail_settings_name_the_setting() {
        let cases: &[(&str, &str)] = &[
            ("[mail]\nfrom = \"not an address\"", "mail.from"),
            ("[mail]\npoll_interval_ms = 0", "mail.poll_interval_ms"),
            ("[mail]\nretry_initial_secs = 0", "mail.retry_initial_secs"),
            (
                "[mail]\nretry_initial_secs = 60\nretry_max_secs = 30",
                "mail.retry_max_secs",
            ),
            ("[mail]\nsmtp_port = 0", "mail.smtp_port"),
            (
                "[mail]\nsmtp_host = \"smtp://mx.example\"",
                "mail.smtp_host",
            ),
            ("[mail]\nsmtp_host = \"mx.example:25\"", "mail.smtp_host"),
            ("[mail]\ntls = \"ssl\"", "mail.tls"),
            (
                "[mail]\nsmtp_host = \"mx.example\"\ntls = \"none\"",
                "mail.tls",
            ),
            (
                "[mail]\nsmtp_host = \"192.0.2.25\"\ntls = \"none\"",
                "mail.tls",
            ),
            ("[mail]\nusername = \"assize\"", "mail.password_file"),
            ("[mail]\npassword_file = \"/run/pw\"", "mail.username"),
            ("[mail]\npassword = \"hunter2\"", "mail.password"),
            ("[mail]\nsmtp_hots = \"mx.example\"", "mail"),
        ];
        for (toml, setting) in cases {
            let e = Settings::from_toml_str(toml).unwrap_err();
            assert!(e.setting.starts_with(setting), "{toml}: {e}");
            assert!(e.to_string().contains("fix:"), "{e}");
        }
    }

    #[test]
    fn plain_smtp_is_allowed_to_this_machine_only() {
        for host in ["localhost", "127.0.0.1", "127.0.0.53", "::1"] {
            let text = format!("[mail]\nsmtp_host = \"{host}\"\ntls = \"none\"");
            let s = Settings::from_toml_str(&text).unwrap();
            assert_eq!(s.mail.effective_port(), 25);
        }
        let e = Settings::from_toml_str("[mail]\nsmtp_host = \"mail.example\"\ntls = \"none\"")
            .unwrap_err();
        assert!(e.to_string().contains("not this machine"), "{e}");
        let s = Settings::from_toml_str("[mail]\nsmtp_host = \"mail.example\"").unwrap();
        assert_eq!(
            (s.mail.tls, s.mail.effective_port()),
            (MailTls::Starttls, 587)
        );
    }

    #[test]
    fn the_smtp_password_is_never_serialised() {
        let mut s = Settings::default();
        s.mail.username = "assize".into();
        s.mail.password = Some("hunter2".into());
        s.validate().unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let e = Settings::load(Some(Path::new("/nonexistent/assize.toml"))).unwrap_err();
        assert_eq!(e.setting, "--config");
    }
}
