//! Credentials: password hashing, TOTP (RFC 6238), random tokens and sign-in throttling.
//!
//! Nothing here touches the database or HTTP; `http::session` does, using these pieces.
//!
//! # Security
//! Passwords are hashed with argon2id (OWASP parameters: 19 MiB, 2 passes). Session cookies, CSRF
//! tokens, API tokens and one-time links are 256-bit random values stored only as SHA-256 hashes,
//! so a copy of the database does not let anyone sign in. TOTP codes are single-use: the store
//! refuses a time step that is not later than the last one accepted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use totp_rs::{Secret, TOTP};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (argon2 cost does not depend on it, but bodies are bounded anyway).
pub const MAX_PASSWORD_CHARS: usize = 1024;

fn argon2() -> Argon2<'static> {
    // OWASP's recommended minimum for argon2id: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a new password is refused; the message tells the user what to do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordRule {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password must have at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("the password must not be the username")]
    SameAsUsername,
}

/// Checks a new password against the rules (length; not the username).
///
/// # Errors
/// The first rule broken.
pub fn check_new_password(password: &str, username: &str) -> Result<(), PasswordRule> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(PasswordRule::TooShort);
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(PasswordRule::TooLong);
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(PasswordRule::SameAsUsername);
    }
    Ok(())
}

/// Checks and normalises a username: 3–64 characters of `a-z 0-9 . _ -`, stored lower-case.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn normalise_username(raw: &str) -> Result<String, &'static str> {
    let u = raw.trim().to_lowercase();
    if !(3..=64).contains(&u.len()) {
        return Err("a username has 3 to 64 characters");
    }
    if !u
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err("a username may only contain letters a-z, digits, '.', '_' and '-'");
    }
    Ok(u)
}

/// Hashes a password with argon2id and a random salt. CPU-heavy: call from a blocking thread.
///
/// # Errors
/// Only if argon2 itself fails (it does not for valid parameters).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2 failed: {e}"))?
        .to_string())
}

/// Checks a password against a stored hash. With no hash (unknown user, or no password set yet)
/// a dummy hash is checked instead so that the answer takes the same time. CPU-heavy.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy =
        DUMMY.get_or_init(|| hash_password("dummy password for timing").unwrap_or_default());
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(phc)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false);
    ok && real
}

/// A fresh 256-bit random token, URL-safe base64 without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The form in which tokens are stored: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The CSRF token belonging to a session cookie. Derived, so the client can fetch it again after
/// a reload (`GET /api/v1/session`); only someone holding the HttpOnly cookie can learn it.
pub fn csrf_token_for(session_token: &str) -> String {
    token_hash(&format!("assize-csrf:{session_token}"))
}

/// Compares a presented token with a stored hash in constant time.
pub fn token_matches(token: &str, stored_hash: &str) -> bool {
    token_hash(token)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

// --- TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps, ±1 step of clock skew) ------------------

/// Length of a TOTP step in seconds.
pub const TOTP_STEP_SECS: u64 = 30;

/// A new random TOTP secret (160 bits, as RFC 4226 recommends).
pub fn new_totp_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], account: &str) -> Option<TOTP> {
    TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        TOTP_STEP_SECS,
        secret.to_vec(),
        Some("Assize".to_string()),
        account.to_string(),
    )
    .ok()
}

/// What an authenticator app needs: the base32 secret and the `otpauth://` URI (for a QR code).
pub fn totp_provisioning(secret: &[u8], account: &str) -> Option<(String, String)> {
    let t = totp(secret, account)?;
    let b32 = Secret::Raw(secret.to_vec()).to_encoded().to_string();
    Some((b32, t.get_url()))
}

/// Checks a 6-digit code at `now` (Unix seconds), allowing one step of skew either way. Returns
/// the time step the code belongs to; the caller must then make sure that step is later than the
/// last one accepted ([`crate::store::Store::consume_totp_step`]).
pub fn totp_check(secret: &[u8], code: &str, now: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, "")?;
    let step = now / TOTP_STEP_SECS;
    let mut found = None;
    for s in [step.saturating_sub(1), step, step + 1] {
        let expected = t.generate(s * TOTP_STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = i64::try_from(s).ok();
        }
    }
    found
}

// --- throttling ------------------------------------------------------------------------------

/// Counts failed sign-ins per account and per network address and locks either for a while
/// after too many. In memory: a restart forgets, which is acceptable for throttling (the
/// argon2 cost still bounds guessing).
#[derive(Debug)]
pub struct Throttle {
    max_per_account: u32,
    max_per_address: u32,
    lockout: Duration,
    state: Mutex<HashMap<ThrottleKey, Failures>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    Account(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

/// Upper bound on remembered keys, so a flood of made-up usernames cannot exhaust memory.
const THROTTLE_MAX_KEYS: usize = 100_000;

impl Throttle {
    pub fn new(max_per_account: u32, max_per_address: u32, lockout: Duration) -> Self {
        Self {
            max_per_account,
            max_per_address,
            lockout,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// If either key is locked, how long until it is free.
    pub fn check(&self, account: &str, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        [
            ThrottleKey::Account(account.to_lowercase()),
            ThrottleKey::Address(addr),
        ]
        .iter()
        .filter_map(|k| state.get(k).and_then(|f| f.locked_until))
        .filter(|until| *until > now)
        .map(|until| until - now)
        .max()
    }

    /// Records a failure; returns the lock now in force, if any.
    pub fn fail(&self, account: &str, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.len() >= THROTTLE_MAX_KEYS {
            let lockout = self.lockout;
            state.retain(|_, f| {
                now.duration_since(f.first) < lockout || f.locked_until.is_some_and(|u| u > now)
            });
        }
        let mut longest = None;
        for (key, max) in [
            (
                ThrottleKey::Account(account.to_lowercase()),
                self.max_per_account,
            ),
            (ThrottleKey::Address(addr), self.max_per_address),
        ] {
            let f = state.entry(key).or_insert(Failures {
                count: 0,
                first: now,
                locked_until: None,
            });
            if now.duration_since(f.first) >= self.lockout
                && f.locked_until.is_none_or(|u| u <= now)
            {
                *f = Failures {
                    count: 0,
                    first: now,
                    locked_until: None,
                };
            }
            f.count += 1;
            if f.count >= max {
                f.locked_until = Some(now + self.lockout);
                f.count = 0;
                f.first = now;
                longest = Some(self.lockout);
            }
        }
        longest
    }

    /// A successful sign-in clears the account's count (not the address's).
    pub fn succeed(&self, account: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.remove(&ThrottleKey::Account(account.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("correct horse batterx", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("x", Some("not a phc string")));
    }

    #[test]
    fn password_rules_explain_themselves() {
        assert_eq!(
            check_new_password("short", "u"),
            Err(PasswordRule::TooShort)
        );
        assert_eq!(
            check_new_password("alicealice12", "AliceAlice12"),
            Err(PasswordRule::SameAsUsername)
        );
        assert!(check_new_password("a long enough passphrase", "alice").is_ok());
    }

    #[test]
    fn rfc6238_sha1_vectors_pass() {
        // RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", truncated to 6 digits.
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            let step = totp_check(secret, code, t).expect("valid code");
            assert_eq!(step as u64, t / 30);
        }
        assert_eq!(totp_check(secret, "287083", 59), None);
        assert_eq!(totp_check(secret, "28708", 59), None);
        assert_eq!(totp_check(secret, "28708a", 59), None);
        // One step of skew either way, not two.
        assert!(totp_check(secret, "287082", 59 + 30).is_some());
        assert!(totp_check(secret, "287082", 59 + 60).is_none());
    }

    #[test]
    fn tokens_are_random_and_compared_by_hash() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert!(token_matches(&a, &token_hash(&a)));
        assert!(!token_matches(&a, &token_hash("other")));
    }

    #[test]
    fn the_throttle_locks_an_account_after_repeated_failures() {
        let t = Throttle::new(3, 100, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(t.fail("Alice", ip).is_none());
        assert!(t.fail("alice", ip).is_none());
        assert!(t.check("alice", ip).is_none());
        assert!(t.fail("alice", ip).is_some());
        assert!(t.check("ALICE", ip).is_some());
        assert!(t.check("bob", ip).is_none());
    }

    #[test]
    fn the_throttle_locks_an_address_spraying_many_accounts() {
        let t = Throttle::new(100, 3, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for name in ["a", "b", "c"] {
            t.fail(name, ip);
        }
        assert!(t.check("d", ip).is_some());
        assert!(t.check("d", "10.0.0.2".parse().unwrap()).is_none());
    }
}
