//! # assize-media
//!
//! The distortion DSP for protected witnesses (voice and face), and the codecs around it. No IO
//! and no async runtime: the server feeds frames from its own codec threads and gets frames back.
//!
//! ## Module map
//! - [`voice`]: the voice anonymiser, [`VoiceAnonymiser`] (48 kHz mono frames in, frames out;
//!   causal, ≈ 7 ms latency). Inside it: `resample` (48 ↔ 16 kHz), `analysis` (LPC, mel-cepstrum,
//!   speech detection), `pitch` (YIN with voicing hysteresis), `normaliser` (the pseudo-speaker
//!   normaliser), `population` (generated population tables), `secret` (per-hearing voice
//!   derivation), `excitation` (glottal pulses and noise), `cepstrum` and `lpc` (envelope
//!   maths), `dsp` (vectorisable dot products); [`voice::features`] exposes the analysis
//!   to offline tools (the population-table builder, measurements).
//!
//! - [`codec`]: the Opus and VP8 codecs the server's transcoding pipeline decodes a protected
//!   witness's media with and encodes the distorted media again ([`codec::OpusDecoder`],
//!   [`codec::OpusEncoder`], [`codec::Vp8Decoder`], [`codec::Vp8Encoder`]). Pictures cross
//!   every API boundary as packed I420 buffers ([`codec::i420_len`]). The crate's only `unsafe`
//!   code, the libvpx binding, lives in it.
//! - [`face`]: the face anonymiser, [`FaceAnonymiser`] (I420 frames in place; opaque masks
//!   over detected faces, failing closed to a full-frame silhouette, or the silhouette alone).
//!   Inside it: `frame` (the validated [`I420Frame`] view), `detector` (the [`FaceDetector`]
//!   trait and boxes), `centerface` (the bundled CenterFace model run with `tract-onnx`),
//!   `tracker` (the fail-closed masking policy, pure), `silhouette` (the full-frame grid).
//! - [`y4m`]: bounded reading and writing of 4:2:0 Y4M streams (recorded testimony, test
//!   videos for the browser's fake camera).

pub mod codec;
pub mod face;
pub mod voice;
pub mod y4m;

pub use face::{
    DetectionTicket, FaceAnonymiser, FaceDetector, FaceError, FaceMode, FaceSettings, FrameReport,
    I420Frame,
};
pub use voice::{LATENCY_SAMPLES, SAMPLE_RATE_HZ, VoiceAnonymiser, VoiceError, VoiceSettings};
