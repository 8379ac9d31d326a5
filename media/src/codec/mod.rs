//! Audio and video codecs for the server-side transcoding of a protected witness's media.
//!
//! The server cannot distort what it cannot see: a protected witness's Opus and VP8 streams are
//! decoded, passed through the anonymisers and encoded again. This module is that codec layer,
//! with no IO and no threads: the server's pipeline (one OS thread per stream) drives it.
//!
//! ## Module map
//! - `audio`: [`OpusDecoder`] / [`OpusEncoder`], 48 kHz mono, 20 ms frames, `f32` samples;
//!   packet-loss concealment and in-band FEC recovery (over the `opus` crate and its bundled
//!   libopus, which has its own safe API).
//! - `vpx`: [`Vp8Decoder`] / [`Vp8Encoder`], VP8 to and from **packed I420** buffers (Y, then U, then V,
//!   no padding; see [`i420_len`]), realtime settings (over the system libvpx). All `unsafe` of
//!   this crate lives in that one module, `vpx`.
//! - [`vp8_frame_info`]: what a VP8 frame's first bytes say (keyframe, dimensions), read without
//!   the codec.
//!
//! ## Untrusted input
//! Everything a decoder is given came off the network. Corrupt, truncated or random bytes give
//! a [`CodecError`], never a panic; a keyframe announcing a picture larger than the decoder's
//! limit is refused before libvpx allocates for it.

mod audio;
mod vpx;

pub use audio::{FRAME_SAMPLES, MAX_FRAME_SAMPLES, OPUS_RATE_HZ, OpusDecoder, OpusEncoder};
pub use vpx::{DecodedFrame, EncodedFrame, Vp8Decoder, Vp8Encoder};

/// Largest picture side the VP8 decoder accepts by default (pixels). VP8 allows 16383; a
/// keyframe announcing more than this is refused before libvpx allocates for it.
pub const DEFAULT_MAX_SIDE: u32 = 4096;

/// Errors of the codec wrappers.
///
/// [`CodecError::Corrupt`] and [`CodecError::TooLarge`] are about untrusted input (what a
/// publisher sent); the others are misuse or a failing codec library.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The compressed data could not be decoded (corrupt, truncated, not this codec, or an
    /// inter frame without its reference). Untrusted input: expected on a bad network.
    #[error("{codec}: cannot decode: {detail}")]
    Corrupt {
        /// `"opus"` or `"vp8"`.
        codec: &'static str,
        /// What the library said.
        detail: String,
    },
    /// A VP8 keyframe announces a picture larger than the decoder accepts. Untrusted input.
    #[error("vp8: keyframe of {width}x{height} exceeds the limit of {max} pixels per side")]
    TooLarge {
        /// Announced width.
        width: u32,
        /// Announced height.
        height: u32,
        /// The decoder's limit.
        max: u32,
    },
    /// A raw frame has the wrong number of samples or bytes for the codec's configuration
    /// (misuse).
    #[error("{codec}: frame has {got} {unit}, expected {expected}")]
    FrameSize {
        /// `"opus"` or `"vp8"`.
        codec: &'static str,
        /// What the configuration requires.
        expected: usize,
        /// What was given.
        got: usize,
        /// `"samples"` or `"bytes"`.
        unit: &'static str,
    },
    /// Picture dimensions of zero, or larger than VP8 can code (misuse).
    #[error("vp8: invalid picture size {width}x{height}")]
    InvalidDimensions {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// The codec library refused to initialise, configure or encode (a bad setting or an
    /// internal failure; the detail is the library's message).
    #[error("{codec}: {operation} failed: {detail}")]
    Library {
        /// `"opus"` or `"vp8"`.
        codec: &'static str,
        /// What was attempted (`"init"`, `"encode"`, `"set bitrate"`…).
        operation: &'static str,
        /// What the library said.
        detail: String,
    },
}

/// Size in bytes of a packed I420 picture: `width × height` luma bytes, then two chroma planes
/// of `⌈width/2⌉ × ⌈height/2⌉` bytes each (U, then V), with no padding between rows or planes.
///
/// This is the buffer layout at every API boundary of the media crate (the face anonymiser's
/// `I420Frame::packed` wraps the same layout).
pub fn i420_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    w * h + 2 * cw * ch
}

/// Fills a packed I420 buffer with black (studio range: Y = 16, U = V = 128).
///
/// A buffer whose length does not match `width × height` is filled as far as it goes, luma
/// first: whatever it held is overwritten either way.
pub fn fill_black_i420(width: u32, height: u32, i420: &mut [u8]) {
    let luma = (width as usize * height as usize).min(i420.len());
    let (y, uv) = i420.split_at_mut(luma);
    y.fill(16);
    uv.fill(128);
}

/// What the first bytes of a VP8 frame say (RFC 6386 §9.1), read without the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8FrameInfo {
    /// An intra frame: decodable on its own; a receiver that lost data recovers here.
    pub keyframe: bool,
    /// The picture size a keyframe announces (`None` for inter frames).
    pub dimensions: Option<(u32, u32)>,
}

/// Reads the frame tag of a VP8 frame (and a keyframe's start code and dimensions).
///
/// Returns `None` when the bytes are too short to be a VP8 frame or a keyframe lacks the start
/// code `9d 01 2a`.
pub fn vp8_frame_info(frame: &[u8]) -> Option<Vp8FrameInfo> {
    let tag = frame.get(..3)?;
    // Bit 0 of the frame tag is the *inverse* key frame flag.
    if tag[0] & 1 == 1 {
        return Some(Vp8FrameInfo {
            keyframe: false,
            dimensions: None,
        });
    }
    let head = frame.get(3..10)?;
    if head[..3] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    // 14 bits of size, 2 bits of scaling each.
    let width = u32::from(u16::from_le_bytes([head[3], head[4]]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([head[5], head[6]]) & 0x3fff);
    Some(Vp8FrameInfo {
        keyframe: true,
        dimensions: Some((width, height)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i420_length_rounds_chroma_up_for_odd_sizes() {
        assert_eq!(i420_len(640, 480), 640 * 480 * 3 / 2);
        assert_eq!(i420_len(3, 3), 9 + 2 * 4);
        assert_eq!(i420_len(0, 0), 0);
    }

    #[test]
    fn frame_info_reads_keyframe_sizes_and_rejects_bad_start_codes() {
        let key = [0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        assert_eq!(
            vp8_frame_info(&key),
            Some(Vp8FrameInfo {
                keyframe: true,
                dimensions: Some((640, 480))
            })
        );
        let mut bad = key;
        bad[4] = 0;
        assert_eq!(vp8_frame_info(&bad), None);
        assert_eq!(vp8_frame_info(&key[..5]), None);
        assert_eq!(
            vp8_frame_info(&[0x51, 0, 0]).map(|i| i.keyframe),
            Some(false)
        );
        assert_eq!(vp8_frame_info(&[]), None);
    }
}
