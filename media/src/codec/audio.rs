//! Opus at 48 kHz mono with 20 ms frames and `f32` samples, over the `opus` crate (bundled
//! libopus).
//!
//! Browsers negotiate `opus/48000/2` but send speech as mono or "stereo" packets alike; a mono
//! decoder decodes either (downmixing), and a mono stream is a valid `opus/48000/2` stream, so
//! the anonymised voice is encoded mono.

use super::CodecError;

/// Sample rate of everything this module takes and returns (RTP's Opus clock too).
pub const OPUS_RATE_HZ: u32 = 48_000;
/// Samples in one 20 ms frame: what [`OpusEncoder::encode`] takes.
pub const FRAME_SAMPLES: usize = 960;
/// Samples in the longest Opus packet (120 ms): an output buffer this long always suffices.
pub const MAX_FRAME_SAMPLES: usize = 5760;
/// Concealment and FEC work in multiples of 2.5 ms.
const PLC_GRANULE: usize = 120;
/// Largest packet worth looking at (RFC 6716 allows 48 frames of 1275 bytes; RTP keeps it
/// below a datagram anyway). Longer input is refused before it reaches libopus.
const MAX_PACKET_BYTES: usize = 48 * 1275;
/// Encoder output buffer: the largest single packet libopus writes for 20 ms.
const MAX_ENCODED_BYTES: usize = 1500;
/// Bitrate bounds libopus accepts (kbit/s).
const BITRATE_RANGE_KBPS: (u32, u32) = (6, 510);

fn corrupt(e: &::opus::Error) -> CodecError {
    CodecError::Corrupt {
        codec: "opus",
        detail: e.to_string(),
    }
}

fn library(operation: &'static str, e: &::opus::Error) -> CodecError {
    CodecError::Library {
        codec: "opus",
        operation,
        detail: e.to_string(),
    }
}

/// An Opus decoder to 48 kHz mono `f32`.
pub struct OpusDecoder {
    inner: ::opus::Decoder,
    last_samples: usize,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("last_samples", &self.last_samples)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A fresh decoder.
    ///
    /// # Errors
    /// [`CodecError::Library`] if libopus cannot allocate one.
    pub fn new() -> Result<Self, CodecError> {
        let inner = ::opus::Decoder::new(OPUS_RATE_HZ, ::opus::Channels::Mono)
            .map_err(|e| library("init", &e))?;
        Ok(Self {
            inner,
            last_samples: FRAME_SAMPLES,
        })
    }

    /// Decodes one packet into the start of `out` and returns the number of samples written
    /// (480 to 5760; an `out` of [`MAX_FRAME_SAMPLES`] always suffices).
    ///
    /// # Errors
    /// [`CodecError::Corrupt`] for an empty, oversized or invalid packet, or when `out` is too
    /// short for it. The decoder stays usable.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize, CodecError> {
        if packet.is_empty() || packet.len() > MAX_PACKET_BYTES {
            return Err(CodecError::Corrupt {
                codec: "opus",
                detail: format!("packet of {} bytes", packet.len()),
            });
        }
        let out = clamp_len(out);
        let n = self
            .inner
            .decode_float(packet, out, false)
            .map_err(|e| corrupt(&e))?;
        self.last_samples = n.clamp(PLC_GRANULE, MAX_FRAME_SAMPLES);
        Ok(n)
    }

    /// Fills `out` with concealment for audio that was lost (libopus's packet-loss concealment,
    /// continuing from what was decoded last). Concealment works in steps of 2.5 ms: the
    /// largest multiple of 120 samples is concealed, any remainder is set to silence.
    ///
    /// # Errors
    /// [`CodecError::Library`] if libopus fails (it does not for valid lengths).
    pub fn conceal(&mut self, out: &mut [f32]) -> Result<(), CodecError> {
        let usable = out.len() - out.len() % PLC_GRANULE;
        let (body, rest) = out.split_at_mut(usable);
        rest.fill(0.0);
        for chunk in body.chunks_mut(MAX_FRAME_SAMPLES) {
            self.inner
                .decode_float(&[], chunk, false)
                .map_err(|e| library("conceal", &e))?;
        }
        Ok(())
    }

    /// Recovers the `out.len()` samples lost just before `next` from the in-band FEC that
    /// `next` carries (libopus conceals instead if it carries none). Decode `next` itself
    /// afterwards with [`Self::decode`]. Lengths are handled as in [`Self::conceal`].
    ///
    /// # Errors
    /// [`CodecError::Corrupt`] when `next` is invalid (nothing is recovered; conceal instead).
    pub fn recover(&mut self, next: &[u8], out: &mut [f32]) -> Result<(), CodecError> {
        if next.is_empty() || next.len() > MAX_PACKET_BYTES {
            return Err(CodecError::Corrupt {
                codec: "opus",
                detail: format!("packet of {} bytes", next.len()),
            });
        }
        let usable = (out.len() - out.len() % PLC_GRANULE).min(MAX_FRAME_SAMPLES);
        let (body, rest) = out.split_at_mut(usable);
        rest.fill(0.0);
        if body.is_empty() {
            return Ok(());
        }
        self.inner
            .decode_float(next, body, true)
            .map_err(|e| corrupt(&e))?;
        Ok(())
    }

    /// Samples in the last packet decoded (960 before the first): the step for concealing one
    /// lost packet.
    pub fn last_packet_samples(&self) -> usize {
        self.last_samples
    }
}

/// libopus takes buffer lengths as `int`; nothing here comes near, but never let the binding
/// panic over it.
fn clamp_len(out: &mut [f32]) -> &mut [f32] {
    let n = out.len().min(MAX_FRAME_SAMPLES);
    &mut out[..n]
}

/// An Opus encoder for 20 ms frames of 48 kHz mono speech, with in-band FEC.
pub struct OpusEncoder {
    inner: ::opus::Encoder,
    bitrate_kbps: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("bitrate_kbps", &self.bitrate_kbps)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// An encoder at `bitrate_kbps` (clamped to 6–510), tuned for speech (VoIP application,
    /// voice signal, in-band FEC for 10% expected loss).
    ///
    /// # Errors
    /// [`CodecError::Library`] if libopus refuses a setting.
    pub fn new(bitrate_kbps: u32) -> Result<Self, CodecError> {
        let mut inner = ::opus::Encoder::new(
            OPUS_RATE_HZ,
            ::opus::Channels::Mono,
            ::opus::Application::Voip,
        )
        .map_err(|e| library("init", &e))?;
        inner
            .set_signal(::opus::Signal::Voice)
            .map_err(|e| library("set signal", &e))?;
        inner
            .set_inband_fec(true)
            .map_err(|e| library("set fec", &e))?;
        inner
            .set_packet_loss_perc(10)
            .map_err(|e| library("set loss", &e))?;
        let mut enc = Self {
            inner,
            bitrate_kbps: 0,
            buf: vec![0; MAX_ENCODED_BYTES],
        };
        enc.set_bitrate(bitrate_kbps)?;
        Ok(enc)
    }

    /// Encodes one 20 ms frame ([`FRAME_SAMPLES`] samples) into one Opus packet.
    ///
    /// # Errors
    /// [`CodecError::FrameSize`] for any other length; [`CodecError::Library`] if libopus fails.
    pub fn encode(&mut self, frame: &[f32]) -> Result<Vec<u8>, CodecError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(CodecError::FrameSize {
                codec: "opus",
                expected: FRAME_SAMPLES,
                got: frame.len(),
                unit: "samples",
            });
        }
        let n = self
            .inner
            .encode_float(frame, &mut self.buf)
            .map_err(|e| library("encode", &e))?;
        Ok(self.buf[..n].to_vec())
    }

    /// Sets the target bitrate (kbit/s, clamped to 6–510) from the next frame on.
    ///
    /// # Errors
    /// [`CodecError::Library`] if libopus refuses it.
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        let kbps = kbps.clamp(BITRATE_RANGE_KBPS.0, BITRATE_RANGE_KBPS.1);
        let bits = i32::try_from(kbps * 1000).unwrap_or(i32::MAX);
        self.inner
            .set_bitrate(::opus::Bitrate::Bits(bits))
            .map_err(|e| library("set bitrate", &e))?;
        self.bitrate_kbps = kbps;
        Ok(())
    }

    /// The target bitrate in kbit/s.
    pub fn bitrate_kbps(&self) -> u32 {
        self.bitrate_kbps
    }
}
