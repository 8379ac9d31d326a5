//! Time-limited TURN credentials in the coturn REST scheme ("TURN REST API", coturn's
//! `use-auth-secret`): username `"<expiry unix time>:<participant>"`, password
//! `base64(HMAC-SHA-1(shared secret, username))`. The TURN server checks the HMAC with the same
//! secret and refuses the credential once the time has passed, so a credential copied from a
//! browser is worth nothing after `ttl`. The server hands them out in `joined` when a TURN
//! server is configured (`[media] turn_urls`, `turn_secret_file`).

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::Serialize;
use zeroize::Zeroizing;

/// Longest credential lifetime accepted in the configuration.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// A configured TURN service.
#[derive(Clone)]
pub struct TurnConfig {
    /// `turn:` / `turns:` URLs as clients should use them.
    pub urls: Vec<String>,
    secret: Zeroizing<Vec<u8>>,
    /// How long a credential stays valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// One entry of a WebRTC `iceServers` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

impl TurnConfig {
    /// A TURN service at `urls` sharing `secret` with this server.
    ///
    /// # Errors
    /// No URL, a URL that is not `turn:`/`turns:`, an empty secret, or a lifetime of zero or
    /// over [`MAX_TTL`].
    pub fn new(
        urls: Vec<String>,
        secret: Zeroizing<Vec<u8>>,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        if urls.is_empty() {
            anyhow::bail!("no TURN URL");
        }
        if let Some(bad) = urls
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")) || u.len() > 512)
        {
            anyhow::bail!("{bad:?} is not a turn: or turns: URL");
        }
        if secret.is_empty() {
            anyhow::bail!("the TURN secret is empty");
        }
        if ttl.is_zero() || ttl > MAX_TTL {
            anyhow::bail!("a credential lifetime must be 1 s to 24 h");
        }
        Ok(Self { urls, secret, ttl })
    }

    /// The credentials for `participant`, valid from `now_unix` (seconds) for the lifetime.
    /// (`None` cannot happen: HMAC takes keys of any length.)
    pub fn credentials(&self, participant: &str, now_unix: u64) -> Option<IceServer> {
        let expiry = now_unix.saturating_add(self.ttl.as_secs());
        let username = format!("{expiry}:{participant}");
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&self.secret).ok()?;
        mac.update(username.as_bytes());
        let credential =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        Some(IceServer {
            urls: self.urls.clone(),
            username,
            credential,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TurnConfig {
        TurnConfig::new(
            vec!["turn:turn.court.example:3478?transport=udp".into()],
            Zeroizing::new(b"north-wind".to_vec()),
            Duration::from_secs(3600),
        )
        .expect("valid")
    }

    #[test]
    fn credentials_match_the_coturn_scheme() {
        // `echo -n "1700003600:p7" | openssl dgst -sha1 -hmac north-wind -binary | base64`
        let c = config()
            .credentials("p7", 1_700_000_000)
            .expect("credentials");
        assert_eq!(c.username, "1700003600:p7");
        assert_eq!(c.credential, "ImdbPFK0BnMGbWEdpz0AlbSQJEQ=");
        assert_eq!(c.urls, vec!["turn:turn.court.example:3478?transport=udp"]);
    }

    #[test]
    fn bad_settings_are_refused_and_the_secret_never_printed() {
        let secret = || Zeroizing::new(b"s".to_vec());
        let hour = Duration::from_secs(3600);
        assert!(TurnConfig::new(vec![], secret(), hour).is_err());
        assert!(TurnConfig::new(vec!["stun:x".into()], secret(), hour).is_err());
        assert!(TurnConfig::new(vec!["turn:x".into()], Zeroizing::new(vec![]), hour).is_err());
        assert!(TurnConfig::new(vec!["turn:x".into()], secret(), Duration::ZERO).is_err());
        assert!(TurnConfig::new(vec!["turn:x".into()], secret(), MAX_TTL * 2).is_err());
        assert!(!format!("{:?}", config()).contains("north-wind"));
    }
}
