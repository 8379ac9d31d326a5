//! Error types.
//!
//! Three families, kept apart because the server reacts differently to each:
//!
//! * [`InputError`]: outside input (a request, a token, a container) is malformed, too large or
//!   inconsistent. Expected in normal operation; answer the client, never panic.
//! * [`MisuseError`]: the caller (our own server) handed in something unusable: a certificate
//!   that does not fit its key, a TSA certificate without the timeStamping usage, a document name
//!   that cannot be put in a container. A bug or a configuration fault; fix the caller.
//! * [`KeyError`]: the key or the hardware token failed.
//!
//! [`enum@Error`] is their union, returned by operations that can hit more than one family.
//! Verification of signatures and tokens does not use errors for "this signature is bad": it
//! returns a report (see [`crate::verify`]).

use thiserror::Error;

/// Any failure of this crate's operations.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Outside input was malformed, too large or inconsistent.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The caller used the API wrongly or supplied unusable material.
    #[error(transparent)]
    Misuse(#[from] MisuseError),
    /// The signing key or token failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Encoding our own DER structure failed (lengths beyond DER limits); a bug, not an input
    /// problem.
    #[error("DER encoding failed: {0}")]
    Encoding(der::Error),
    /// OpenSSL failed on an operation over well-formed material (allocation, internal error).
    #[error("OpenSSL failed: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// Outside input was malformed, too large or inconsistent.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InputError {
    /// The input is larger than the configured bound.
    #[error("{what} is too large: {actual} bytes, limit {limit}")]
    TooLarge {
        /// What was being read.
        what: &'static str,
        /// Its size (or the size reached before reading stopped).
        actual: u64,
        /// The bound.
        limit: u64,
    },
    /// The input is not the DER structure expected.
    #[error("{what} is not valid DER: {source}")]
    Der {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's complaint.
        #[source]
        source: der::Error,
    },
    /// The input decodes but its content is not acceptable.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// Why it is not acceptable.
        reason: String,
    },
    /// A time-stamp authority answered with a non-granted status.
    #[error("the time-stamp authority refused: status {status}{}", .text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    TimestampRefused {
        /// The PKIStatus value.
        status: u8,
        /// The authority's free text, if any.
        text: Option<String>,
    },
    /// A time-stamp token does not cover the signature it was meant for.
    #[error("the time-stamp token does not cover this signature value")]
    TimestampImprintMismatch,
    /// The ZIP container is malformed.
    #[error("malformed ZIP container: {0}")]
    Zip(String),
    /// A container entry has a name that could escape the extraction directory or is ambiguous.
    #[error("unsafe entry name in container: {name:?}")]
    UnsafeEntryName {
        /// The offending name.
        name: String,
    },
    /// A container entry could not be decompressed or failed its CRC check.
    #[error("container entry {name:?} is corrupt: {reason}")]
    CorruptEntry {
        /// The entry's name.
        name: String,
        /// What the ZIP reader reported.
        reason: String,
    },
    /// Two container entries have the same name.
    #[error("duplicate entry name in container: {name:?}")]
    DuplicateEntry {
        /// The repeated name.
        name: String,
    },
}

/// The caller used the API wrongly or supplied unusable material.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MisuseError {
    /// A certificate supplied by the caller could not be parsed.
    #[error("certificate is not usable: {0}")]
    BadCertificate(String),
    /// The certificate's public key does not belong to the signer's private key.
    #[error("the certificate does not match the signing key")]
    CertificateKeyMismatch,
    /// The TSA certificate lacks the critical extended key usage timeStamping (RFC 3161 §2.3).
    #[error("the TSA certificate needs a critical extendedKeyUsage with only id-kp-timeStamping")]
    NotATsaCertificate,
    /// A configuration value is not acceptable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The serial number counter cannot go higher.
    #[error("the serial number counter is exhausted")]
    SerialExhausted,
    /// A document name cannot be placed in an ASiC container.
    #[error("document name not allowed in a container: {name:?} ({reason})")]
    DocumentName {
        /// The name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// The signing key or the token holding it failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The private key could not be read or is of an unsupported type.
    #[error("unsupported or unreadable private key: {0}")]
    Unsupported(String),
    /// OpenSSL failed while signing.
    #[error("OpenSSL signing failed: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// The PKCS#11 module reported an error.
    #[error("PKCS#11 failed: {0}")]
    Pkcs11(#[from] cryptoki::error::Error),
    /// No token with the configured label is present.
    #[error("no PKCS#11 token labelled {label:?}")]
    TokenNotFound {
        /// The configured label.
        label: String,
    },
    /// No private key (or more than one) matches the configured label/id on the token.
    #[error("expected exactly one private key matching the configuration, found {found}")]
    KeyNotFound {
        /// How many matched.
        found: usize,
    },
    /// The token returned a signature of unexpected shape.
    #[error("the token returned a malformed signature ({len} bytes)")]
    MalformedTokenSignature {
        /// Its length.
        len: usize,
    },
    /// The lock around the token session was poisoned by a panic in another thread.
    #[error("the PKCS#11 session lock is poisoned")]
    Poisoned,
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Encoding(e)
    }
}

/// Shorthand for a DER decoding failure of outside input.
pub(crate) fn der_input(what: &'static str) -> impl FnOnce(der::Error) -> InputError {
    move |source| InputError::Der { what, source }
}

/// Shorthand for an invalid-content failure of outside input.
pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> InputError {
    InputError::Invalid {
        what,
        reason: reason.into(),
    }
}
