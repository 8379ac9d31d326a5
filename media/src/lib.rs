//! # assize-media
//!
//! The distortion DSP for protected witnesses: a voice anonymiser (48 kHz frames in, frames out) and a
//! face anonymiser. No IO and no async runtime: the server feeds frames from its own codec threads.
//!
//! ## Module map
//! (filled in as the modules land; see `docs/architecture.md`)
