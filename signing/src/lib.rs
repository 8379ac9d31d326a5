//! # assize-signing
//!
//! Everything Assize needs to make and check evidence that survives years: CMS/CAdES signatures,
//! RFC 3161 timestamps, ASiC-E evidence containers and the keys that sign them. The crate does no IO:
//! it takes bytes and keys and returns bytes and typed reports; the server does the files and sockets.
//!
//! ## Module map
//! (filled in as the modules land; see `docs/architecture.md`)
//! - [`merkle`]: the RFC 9162 Merkle tree of the tamper-evident audit log, with inclusion and consistency proofs.

pub mod merkle;
