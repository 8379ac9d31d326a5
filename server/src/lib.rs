//! # assize-server
//!
//! The Assize server: the IO shell around the court's logic. It owns configuration, start-up,
//! HTTPS, storage and (as they land) signaling, the SFU, the MLA workflow and mail. The signing
//! and media libraries (`assize-signing`, `assize-media`) do no IO; this crate feeds them.
//!
//! ## Module map
//! - [`config`]: the one [`config::Settings`] value: defaults → TOML → `ASSIZE_…` env, validated.
//! - [`app`]: start-up ([`app::Application`]): data directory, PKI, database, TLS, bind, run.
//! - [`server`]: the accept loop: TCP → TLS → HTTP/1.1 + HTTP/2 → router; graceful shutdown.
//! - [`tls`]: rustls configuration (TLS 1.2/1.3; optional client certificates for federation).
//! - [`pki`]: the data directory and the development CA, TLS, signing and TSA keys (0600).
//! - [`http`]: routes, the API error type, extractors (who is calling), middleware.
//! - [`policy`]: **the** authorization table: (subject, action) → permit or denial.
//! - [`auth`]: credentials: argon2id passwords, TOTP, random tokens, sign-in throttling.
//! - [`notary`]: this server's signing key and RFC 3161 TSA (durable serials), over `assize-signing`.
//! - [`audit`]: the tamper-evident log: group-committed entries, Merkle proofs, signed checkpoints,
//!   export and offline verification.
//! - [`federation`]: the mutual-TLS client for other states' servers (checkpoints today).
//! - [`hearings`]: the hearings workflow: **the** table of legal state transitions.
//! - [`accounts`]: account operations shared by the API and the command line.
//! - [`mail`]: e-mail: the transactional outbox, the SMTP dispatcher, S/MIME signed messages.
//! - [`store`]: SQLite/PostgreSQL storage behind one interface; migrations.
//! - [`metrics`]: Prometheus metrics, one registry per server.
//! - [`recording`]: the hearing's sealed audio recording (segments hashed, chained, audited).
//! - [`minutes`]: the hearing's minutes from its audit entries (JSON, HTML, PDF), sealed at close.
//! - [`sfu`]: the hearing SFU: room model and forwarding decision, WebRTC media, WebSocket signaling.
//! - [`telemetry`]: structured logs (text or JSON) with a request id on every line.

pub mod accounts;
pub mod anonymise;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod federation;
pub mod hearings;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod minutes;
pub mod mla;
pub mod notary;
pub mod pki;
pub mod policy;
pub mod recording;
pub mod server;
pub mod sfu;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod vault;
