//! # assize-signing
//!
//! Everything Assize needs to make and check evidence that survives years: CMS/CAdES signatures,
//! RFC 3161 timestamps, ASiC-E evidence containers and the keys that sign them. The crate does no IO:
//! it takes bytes and keys and returns bytes and typed reports; the server does the files and sockets.
//! The one exception is loading a PKCS#11 module, which is the hardware boundary.
//!
//! ## Module map
//! * [`keys`]: the [`keys::Signer`] trait, software keys ([`keys::PemSigner`]), PKCS#11 tokens
//!   ([`keys::Pkcs11Signer`]) and [`keys::SigningIdentity`] (a signer proven to match its
//!   certificate).
//! * [`cades`]: detached CAdES baseline B-T signatures, built in two steps so the time-stamp can
//!   come from any TSA: [`cades::sign_detached`] → [`cades::PendingSignature`] →
//!   [`cades::PendingSignature::attach_timestamp`] → [`cades::CadesSignature`].
//! * [`tsa`]: the core of an RFC 3161 / RFC 5816 time-stamp authority: bounded request parsing,
//!   responses with PKIFailureInfo, monotonic serial numbers.
//! * [`verify`]: verification of signatures and tokens against caller-supplied trust anchors,
//!   returning reports ([`verify::SignatureReport`], [`verify::TimestampReport`]), never a bare
//!   `bool`.
//! * [`asic`]: ASiC-E containers (ETSI EN 319 162-1) with a CAdES signature over an
//!   `ASiCManifest`: building, bounded reading of outside containers, verification that names
//!   the file that changed.
//! * [`merkle`]: the RFC 9162 Merkle tree of the tamper-evident audit log, with inclusion and
//!   consistency proofs.
//! * [`error`]: error families: untrusted input ([`error::InputError`]), caller misuse
//!   ([`error::MisuseError`]), keys and tokens ([`error::KeyError`]).
//!
//! ## How the server uses it
//! ```text
//! identity = SigningIdentity::new(Box::new(Pkcs11Signer::open(&cfg)?), cert, chain)?
//! pending  = cades::sign_detached(&identity, document, now)?
//! token    = <TSA>(pending.timestamp_request(nonce, true)?)      // own tsa core or remote
//! p7s      = pending.attach_timestamp(&token)?
//! report   = verify::verify_detached(p7s.as_der(), document, &anchors, &opts)
//! ```

#![warn(missing_docs)]

pub mod asic;
mod asn1;
pub mod cades;
pub mod error;
pub mod keys;
pub mod merkle;
pub mod tsa;
pub mod verify;

/// Object identifiers (TSA policies) as used throughout the API.
pub use der::oid::ObjectIdentifier;
pub use error::{Error, InputError, KeyError, MisuseError};
