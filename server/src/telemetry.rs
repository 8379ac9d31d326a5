//! Logs: `tracing` with a text or JSON formatter. `RUST_LOG` overrides `log.level`.
//!
//! # Security
//! Nothing secret is logged: request spans carry the method, the path (never the query string,
//! which can hold one-time tokens) and the request id; handlers log ids, never names of protected
//! witnesses, passwords, tokens or cookies.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber (once, in `main`). Logs go to standard error.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
