//! VP8 over the system libvpx (`env-libvpx-sys`, imported as `vpx_sys`): the one module of this
//! crate with `unsafe` code.
//!
//! Both directions speak **packed I420** ([`super::i420_len`]): the decoder copies libvpx's
//! strided planes out row by row, the encoder points a `vpx_image_t` at the caller's buffer
//! with the packed strides (`vpx_img_wrap` alone would assume an even luma stride).
//!
//! ## What the `unsafe` relies on
//! - A codec context is initialised by `vpx_codec_*_init_ver` before any other call and
//!   destroyed exactly once, in `Drop`; it and its configuration are boxed so their addresses
//!   stay put (libvpx keeps a pointer to the configuration until it has copied it).
//! - Values that bindgen types as Rust enums (`fmt`, a packet's `kind`) are read from libvpx
//!   memory as plain integers, so an unexpected value is an error, not undefined behaviour.
//! - Images and packets returned by libvpx are read before the next call on that context and
//!   copied out; nothing borrowed from libvpx outlives the call that returned it.
//! - The encoder configuration is never zeroed by hand (libvpx aborts on some all-zero
//!   configurations): `vpx_codec_enc_config_default` fills it into a `MaybeUninit`.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_long, c_uint, c_ulong};
use std::ptr;

use vpx_sys as ffi;

use super::{CodecError, DEFAULT_MAX_SIDE, i420_len, vp8_frame_info};

/// Encoder timebase: RTP's 90 kHz video clock, so RTP timestamps can serve as `pts`.
pub const TIMEBASE_HZ: i32 = 90_000;
/// Frame duration assumed for the first frame (30 fps in the 90 kHz timebase).
const DEFAULT_DURATION: c_ulong = 3_000;
/// Largest picture side VP8 can code.
const VP8_MAX_SIDE: u32 = 16_383;
/// `cpu-used` for realtime encoding: negative is a fixed speed in libvpx's VP8 realtime mode
/// (positive would let the encoder adapt its speed to a CPU budget it measures itself).
const CPU_USED: c_int = -8;
/// `vpx_img_fmt::VPX_IMG_FMT_I420` as the integer libvpx stores.
const FMT_I420: u32 = 0x102;
/// `vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT` as the integer libvpx stores.
const CX_FRAME_PKT: u32 = 0;

/// A decoded picture, packed I420.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Y, then U, then V, no padding ([`super::i420_len`] bytes).
    pub i420: Vec<u8>,
}

impl std::fmt::Debug for DecodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pixels are a witness's face until a filter has run: never printed.
        f.debug_struct("DecodedFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// One compressed VP8 frame.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The VP8 bitstream of one frame (what an RTP payloader splits into packets).
    pub data: Vec<u8>,
    /// An intra frame: a receiver can start or recover here.
    pub keyframe: bool,
}

impl std::fmt::Debug for EncodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedFrame")
            .field("bytes", &self.data.len())
            .field("keyframe", &self.keyframe)
            .finish()
    }
}

/// libvpx's message for `err` on `ctx`, with the detail string when there is one.
fn describe(ctx: &mut ffi::vpx_codec_ctx_t, err: ffi::vpx_codec_err_t) -> String {
    // SAFETY: `vpx_codec_err_to_string` returns a pointer to a static NUL-terminated string for
    // every error value; `vpx_codec_error_detail` returns NULL or a NUL-terminated string owned
    // by the initialised context `ctx`, which we copy before the next call on it.
    unsafe {
        let base = CStr::from_ptr(ffi::vpx_codec_err_to_string(err))
            .to_string_lossy()
            .into_owned();
        let detail = ffi::vpx_codec_error_detail(ctx);
        if detail.is_null() {
            base
        } else {
            format!("{base}: {}", CStr::from_ptr(detail).to_string_lossy())
        }
    }
}

fn init_error(operation: &'static str, err: ffi::vpx_codec_err_t) -> CodecError {
    // SAFETY: as in `describe`: a static string for every error value.
    let detail = unsafe { CStr::from_ptr(ffi::vpx_codec_err_to_string(err)) }
        .to_string_lossy()
        .into_owned();
    CodecError::Library {
        codec: "vp8",
        operation,
        detail,
    }
}

// ---------------------------------------------------------------------------------------------
// Decoder

/// An initialised libvpx decoder context.
struct DecoderContext {
    ctx: Box<ffi::vpx_codec_ctx_t>,
    _cfg: Box<ffi::vpx_codec_dec_cfg_t>,
}

// SAFETY: a libvpx context has no thread affinity; this one is owned exclusively and only ever
// used through `&mut self`, so moving it to another thread (the pipeline's worker) is sound.
unsafe impl Send for DecoderContext {}

impl DecoderContext {
    fn new() -> Result<Self, CodecError> {
        // One thread: the server runs one OS thread per stream and budgets a core for it.
        let cfg = Box::new(ffi::vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        });
        let mut ctx = Box::new(MaybeUninit::<ffi::vpx_codec_ctx_t>::zeroed());
        // SAFETY: `ctx` is writable memory for a context (all-zero is a valid "not yet
        // initialised" context: null pointers, `VPX_CODEC_OK`); `cfg` is a valid configuration
        // that outlives the context (both are boxed and dropped together); the interface comes
        // from libvpx; the ABI version is the one the bindings were generated for.
        let err = unsafe {
            ffi::vpx_codec_dec_init_ver(
                ctx.as_mut_ptr(),
                ffi::vpx_codec_vp8_dx(),
                &raw const *cfg,
                0,
                ffi::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            // libvpx destroys a context whose initialisation failed.
            return Err(init_error("decoder init", err));
        }
        // SAFETY: initialised by the successful `vpx_codec_dec_init_ver` above.
        let ctx = unsafe { ctx.assume_init() };
        Ok(Self { ctx, _cfg: cfg })
    }
}

impl Drop for DecoderContext {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed only here, once.
        unsafe {
            ffi::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A VP8 decoder to packed I420.
pub struct Vp8Decoder {
    inner: DecoderContext,
    max_side: u32,
}

impl std::fmt::Debug for Vp8Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Decoder")
            .field("max_side", &self.max_side)
            .finish_non_exhaustive()
    }
}

impl Vp8Decoder {
    /// A decoder that refuses keyframes larger than [`DEFAULT_MAX_SIDE`] on either side.
    ///
    /// # Errors
    /// [`CodecError::Library`] if libvpx cannot create a decoder.
    pub fn new() -> Result<Self, CodecError> {
        Self::with_max_side(DEFAULT_MAX_SIDE)
    }

    /// A decoder that refuses keyframes larger than `max_side` pixels on either side.
    ///
    /// # Errors
    /// [`CodecError::Library`] if libvpx cannot create a decoder.
    pub fn with_max_side(max_side: u32) -> Result<Self, CodecError> {
        Ok(Self {
            inner: DecoderContext::new()?,
            max_side,
        })
    }

    /// Decodes one complete VP8 frame (as reassembled from its RTP packets).
    ///
    /// `Ok(None)` when the frame produced no picture to show.
    ///
    /// # Errors
    /// [`CodecError::Corrupt`] for bytes that are not a decodable VP8 frame (including an inter
    /// frame whose reference is missing); [`CodecError::TooLarge`] for a keyframe over the
    /// size limit. After an error, decode again from the next keyframe.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<DecodedFrame>, CodecError> {
        let corrupt = |detail: &str| CodecError::Corrupt {
            codec: "vp8",
            detail: detail.to_string(),
        };
        let info = vp8_frame_info(data).ok_or_else(|| corrupt("not a VP8 frame"))?;
        if let Some((width, height)) = info.dimensions {
            if width == 0 || height == 0 {
                return Err(corrupt("keyframe of zero size"));
            }
            if width > self.max_side || height > self.max_side {
                return Err(CodecError::TooLarge {
                    width,
                    height,
                    max: self.max_side,
                });
            }
        }
        let len = c_uint::try_from(data.len()).map_err(|_| corrupt("frame too long"))?;
        let ctx: &mut ffi::vpx_codec_ctx_t = &mut self.inner.ctx;
        // SAFETY: `ctx` is an initialised decoder; `data` is valid for `len` bytes for the
        // duration of the call and libvpx does not keep the pointer (frame mode, no
        // VPX_CODEC_USE_INPUT_FRAGMENTS); no user data; deadline 0 = best.
        let err =
            unsafe { ffi::vpx_codec_decode(ctx, data.as_ptr(), len, ptr::null_mut(), 0 as c_long) };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(CodecError::Corrupt {
                codec: "vp8",
                detail: describe(ctx, err),
            });
        }
        let mut iter: ffi::vpx_codec_iter_t = ptr::null();
        // SAFETY: initialised decoder; `iter` starts at NULL as the API requires.
        let img = unsafe { ffi::vpx_codec_get_frame(ctx, &mut iter) };
        if img.is_null() {
            return Ok(None);
        }
        // SAFETY: a non-null image from `vpx_codec_get_frame` is valid and unchanged until the
        // next call on this decoder; `copy_out` only reads it.
        let frame = unsafe { copy_out(img, self.max_side) }?;
        Ok(Some(frame))
    }
}

/// Copies a libvpx I420 image into a packed buffer.
///
/// # Safety
/// `img` must point to a valid `vpx_image_t` whose planes hold at least `stride × rows` bytes
/// for their visible rows (as every image libvpx returns does).
unsafe fn copy_out(
    img: *const ffi::vpx_image_t,
    max_side: u32,
) -> Result<DecodedFrame, CodecError> {
    let unsupported = |detail: String| CodecError::Corrupt {
        codec: "vp8",
        detail,
    };
    // SAFETY (whole block): the caller guarantees `img` is valid; every field is read through a
    // raw pointer to a plain integer or pointer type (the enum-typed `fmt` as its `u32`).
    let (fmt, width, height, xs, ys, planes, strides) = unsafe {
        (
            ptr::addr_of!((*img).fmt).cast::<u32>().read(),
            (*img).d_w,
            (*img).d_h,
            (*img).x_chroma_shift,
            (*img).y_chroma_shift,
            (*img).planes,
            (*img).stride,
        )
    };
    if fmt != FMT_I420 || xs != 1 || ys != 1 {
        return Err(unsupported(format!(
            "decoded image format {fmt:#x} is not I420"
        )));
    }
    if width == 0 || height == 0 || width > max_side || height > max_side {
        return Err(unsupported(format!("decoded image of {width}x{height}")));
    }
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = Vec::with_capacity(i420_len(width, height));
    for (plane, (pw, ph)) in [(w, h), (cw, ch), (cw, ch)].into_iter().enumerate() {
        let base = planes[plane];
        let stride = usize::try_from(strides[plane]).unwrap_or(0);
        if base.is_null() || stride < pw {
            return Err(unsupported(format!(
                "decoded plane {plane} has stride {}",
                strides[plane]
            )));
        }
        for row in 0..ph {
            // SAFETY: libvpx allocates each plane with `stride` bytes per row for at least
            // the visible rows, and `pw <= stride`; the image is not modified while we read.
            let line = unsafe { std::slice::from_raw_parts(base.add(row * stride), pw) };
            out.extend_from_slice(line);
        }
    }
    Ok(DecodedFrame {
        width,
        height,
        i420: out,
    })
}

// ---------------------------------------------------------------------------------------------
// Encoder

/// An initialised libvpx VP8 encoder context with its configuration.
struct EncoderContext {
    ctx: Box<ffi::vpx_codec_ctx_t>,
    cfg: Box<ffi::vpx_codec_enc_cfg_t>,
}

// SAFETY: as for `DecoderContext`: no thread affinity, exclusively owned, used through `&mut`.
unsafe impl Send for EncoderContext {}

impl EncoderContext {
    fn new(width: u32, height: u32, bitrate_kbps: u32) -> Result<Self, CodecError> {
        let mut cfg = Box::new(MaybeUninit::<ffi::vpx_codec_enc_cfg_t>::uninit());
        // SAFETY: `vpx_codec_enc_config_default` writes a complete default configuration for
        // the VP8 interface into `cfg` (usage 0) and returns OK when it did.
        let err = unsafe {
            ffi::vpx_codec_enc_config_default(ffi::vpx_codec_vp8_cx(), cfg.as_mut_ptr(), 0)
        };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(init_error("default config", err));
        }
        // SAFETY: fully written by the successful call above.
        let mut cfg = unsafe { cfg.assume_init() };
        cfg.g_w = width;
        cfg.g_h = height;
        cfg.g_timebase = ffi::vpx_rational {
            num: 1,
            den: TIMEBASE_HZ,
        };
        cfg.g_threads = 1;
        cfg.g_lag_in_frames = 0;
        cfg.g_error_resilient = ffi::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.g_pass = ffi::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.rc_end_usage = ffi::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = bitrate_kbps.max(1);
        cfg.rc_dropframe_thresh = 0;
        cfg.rc_resize_allowed = 0;
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        cfg.kf_mode = ffi::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_max_dist = 3000;

        let mut ctx = Box::new(MaybeUninit::<ffi::vpx_codec_ctx_t>::zeroed());
        // SAFETY: as for the decoder: zeroed context memory, a valid configuration boxed
        // alongside the context for its whole life, libvpx's interface, the bindings' ABI.
        let err = unsafe {
            ffi::vpx_codec_enc_init_ver(
                ctx.as_mut_ptr(),
                ffi::vpx_codec_vp8_cx(),
                &raw const *cfg,
                0,
                ffi::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(init_error("encoder init", err));
        }
        // SAFETY: initialised by the successful `vpx_codec_enc_init_ver` above.
        let ctx = unsafe { ctx.assume_init() };
        let mut this = Self { ctx, cfg };
        for (id, value) in [
            (ffi::vp8e_enc_control_id::VP8E_SET_CPUUSED, CPU_USED),
            (ffi::vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY, 0),
            (ffi::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD, 1),
            (ffi::vp8e_enc_control_id::VP8E_SET_TOKEN_PARTITIONS, 0),
            // Caps a keyframe at 9 frames' worth of bits, as libwebrtc does: a forced keyframe
            // must not flood the receivers' links.
            (
                ffi::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT,
                900,
            ),
        ] {
            let ctx: &mut ffi::vpx_codec_ctx_t = &mut this.ctx;
            // SAFETY: initialised encoder; each of these controls takes one `int` argument,
            // passed as a C variadic `int`.
            let err = unsafe { ffi::vpx_codec_control_(ctx, id as c_int, value) };
            if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
                return Err(CodecError::Library {
                    codec: "vp8",
                    operation: "encoder control",
                    detail: describe(ctx, err),
                });
            }
        }
        Ok(this)
    }
}

impl Drop for EncoderContext {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here, once.
        unsafe {
            ffi::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A realtime VP8 encoder from packed I420 (one thread, CBR, no lookahead, error resilient,
/// fixed speed 8).
///
/// Timestamps (`pts`) are in RTP's 90 kHz video clock and must increase.
pub struct Vp8Encoder {
    inner: EncoderContext,
    width: u32,
    height: u32,
    last_pts: Option<i64>,
}

impl std::fmt::Debug for Vp8Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Encoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bitrate_kbps", &self.inner.cfg.rc_target_bitrate)
            .finish_non_exhaustive()
    }
}

fn check_dimensions(width: u32, height: u32) -> Result<(), CodecError> {
    if width == 0 || height == 0 || width > VP8_MAX_SIDE || height > VP8_MAX_SIDE {
        return Err(CodecError::InvalidDimensions { width, height });
    }
    Ok(())
}

impl Vp8Encoder {
    /// An encoder for `width × height` pictures at `bitrate_kbps`.
    ///
    /// # Errors
    /// [`CodecError::InvalidDimensions`] for a zero side or one above 16383;
    /// [`CodecError::Library`] if libvpx refuses the configuration.
    pub fn new(width: u32, height: u32, bitrate_kbps: u32) -> Result<Self, CodecError> {
        check_dimensions(width, height)?;
        Ok(Self {
            inner: EncoderContext::new(width, height, bitrate_kbps)?,
            width,
            height,
            last_pts: None,
        })
    }

    /// The picture size this encoder takes.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The target bitrate in kbit/s.
    pub fn bitrate_kbps(&self) -> u32 {
        self.inner.cfg.rc_target_bitrate
    }

    /// Re-creates the encoder for a new picture size, keeping the bitrate. The next frame is a
    /// keyframe. Nothing happens if the size is unchanged.
    ///
    /// # Errors
    /// As [`Self::new`]; on error the encoder keeps its old size.
    pub fn resize(&mut self, width: u32, height: u32) -> Result<(), CodecError> {
        if (width, height) == (self.width, self.height) {
            return Ok(());
        }
        check_dimensions(width, height)?;
        self.inner = EncoderContext::new(width, height, self.bitrate_kbps())?;
        self.width = width;
        self.height = height;
        Ok(())
    }

    /// Sets the target bitrate (kbit/s, at least 1) from the next frame on.
    ///
    /// # Errors
    /// [`CodecError::Library`] if libvpx refuses the new configuration (the old one stays).
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        let old = self.inner.cfg.rc_target_bitrate;
        self.inner.cfg.rc_target_bitrate = kbps.max(1);
        let EncoderContext { ctx, cfg } = &mut self.inner;
        let ctx: &mut ffi::vpx_codec_ctx_t = ctx;
        // SAFETY: initialised encoder; `cfg` is a complete configuration (the one it was
        // created with, bitrate changed), which libvpx copies.
        let err = unsafe { ffi::vpx_codec_enc_config_set(ctx, &raw const **cfg) };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            let detail = describe(ctx, err);
            self.inner.cfg.rc_target_bitrate = old;
            return Err(CodecError::Library {
                codec: "vp8",
                operation: "set bitrate",
                detail,
            });
        }
        Ok(())
    }

    /// Encodes one packed I420 picture of the encoder's size, taken at `pts` (90 kHz).
    /// `force_keyframe` makes this frame a keyframe (a receiver asked for one).
    ///
    /// Returns the compressed frames produced (one, with no lookahead).
    ///
    /// # Errors
    /// [`CodecError::FrameSize`] when `i420` is not [`super::i420_len`] bytes for the
    /// encoder's size; [`CodecError::Library`] if libvpx fails.
    pub fn encode(
        &mut self,
        i420: &[u8],
        pts: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, CodecError> {
        let expected = i420_len(self.width, self.height);
        if i420.len() != expected {
            return Err(CodecError::FrameSize {
                codec: "vp8",
                expected,
                got: i420.len(),
                unit: "bytes",
            });
        }
        let duration = match self.last_pts {
            Some(last) if pts > last => c_ulong::try_from(pts - last).unwrap_or(DEFAULT_DURATION),
            _ => DEFAULT_DURATION,
        };
        let (w, h) = (self.width as usize, self.height as usize);
        let cw = w.div_ceil(2);
        let data = i420.as_ptr().cast_mut();
        let mut img = MaybeUninit::<ffi::vpx_image_t>::zeroed();
        // SAFETY: `vpx_img_wrap` only initialises the descriptor `img` (it clears it, then
        // sets format, sizes and plane pointers into `data`); it neither reads nor writes the
        // picture. Stride alignment 1.
        let wrapped = unsafe {
            ffi::vpx_img_wrap(
                img.as_mut_ptr(),
                ffi::vpx_img_fmt::VPX_IMG_FMT_I420,
                self.width,
                self.height,
                1,
                data,
            )
        };
        if wrapped.is_null() {
            return Err(CodecError::Library {
                codec: "vp8",
                operation: "wrap image",
                detail: "vpx_img_wrap refused the picture".into(),
            });
        }
        // SAFETY: initialised by the successful `vpx_img_wrap`.
        let mut img = unsafe { img.assume_init() };
        // The packed layout: chroma rows are ⌈w/2⌉ bytes (vpx_img_wrap would round the luma
        // stride up to even and derive the chroma planes from that).
        // SAFETY: offsets stay within `i420`, which is `w·h + 2·cw·ch` bytes long.
        unsafe {
            img.planes[0] = data;
            img.planes[1] = data.add(w * h);
            img.planes[2] = data.add(w * h + cw * h.div_ceil(2));
        }
        img.stride = [w as c_int, cw as c_int, cw as c_int, 0];
        let flags: c_long = if force_keyframe {
            ffi::VPX_EFLAG_FORCE_KF as c_long
        } else {
            0
        };
        let ctx: &mut ffi::vpx_codec_ctx_t = &mut self.inner.ctx;
        // SAFETY: initialised encoder; `img` describes `i420`, which is borrowed for the whole
        // call and only read (the parameter is `const vpx_image_t *`); with no lookahead the
        // encoder has finished with the picture when the call returns.
        let err = unsafe {
            ffi::vpx_codec_encode(
                ctx,
                &img,
                pts,
                duration,
                flags,
                c_ulong::from(ffi::VPX_DL_REALTIME),
            )
        };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(CodecError::Library {
                codec: "vp8",
                operation: "encode",
                detail: describe(ctx, err),
            });
        }
        self.last_pts = Some(pts);
        let mut frames = Vec::with_capacity(1);
        let mut iter: ffi::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: initialised encoder; `iter` starts at NULL and is only advanced by libvpx.
            let pkt = unsafe { ffi::vpx_codec_get_cx_data(ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: a non-null packet is valid until the next call on this encoder; its kind
            // is read as the integer libvpx stored; for a frame packet, `data.frame` is the
            // active union member and `buf` holds `sz` bytes, copied out at once.
            unsafe {
                if ptr::addr_of!((*pkt).kind).cast::<u32>().read() != CX_FRAME_PKT {
                    continue;
                }
                let frame = (*pkt).data.frame;
                let Ok(len) = usize::try_from(frame.sz) else {
                    continue;
                };
                if frame.buf.is_null() || len == 0 {
                    continue;
                }
                let bytes = std::slice::from_raw_parts(frame.buf.cast::<u8>(), len);
                frames.push(EncodedFrame {
                    data: bytes.to_vec(),
                    keyframe: frame.flags & ffi::VPX_FRAME_IS_KEY != 0,
                });
            }
        }
        Ok(frames)
    }
}
