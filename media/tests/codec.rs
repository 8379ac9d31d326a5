//! The codec wrappers as black boxes: round trips, keyframe forcing, resolution changes, and
//! hostile input (which must give errors, never a panic).

use assize_media::codec::{
    CodecError, FRAME_SAMPLES, MAX_FRAME_SAMPLES, OpusDecoder, OpusEncoder, Vp8Decoder, Vp8Encoder,
    i420_len, vp8_frame_info,
};

/// A synthetic moving picture: smooth gradients plus a bright square sliding across, with
/// chroma gradients, packed I420.
fn pattern(width: u32, height: u32, t: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut buf = vec![0u8; i420_len(width, height)];
    let side = (w.min(h) / 4).max(2);
    let sx = (t as usize * 4) % w.saturating_sub(side).max(1);
    let sy = h / 3;
    for y in 0..h {
        for x in 0..w {
            let inside = (sx..sx + side).contains(&x) && (sy..sy + side).contains(&y);
            buf[y * w + x] = if inside {
                230
            } else {
                (40 + (x * 120 / w) + (y * 60 / h)) as u8
            };
        }
    }
    let (u, v) = buf[w * h..].split_at_mut(cw * ch);
    for y in 0..ch {
        for x in 0..cw {
            u[y * cw + x] = (90 + x * 60 / cw) as u8;
            v[y * cw + x] = (150 - y * 50 / ch) as u8;
        }
    }
    buf
}

/// Luma PSNR in dB.
fn psnr_y(a: &[u8], b: &[u8], width: u32, height: u32) -> f64 {
    let n = (width * height) as usize;
    let mse = a[..n]
        .iter()
        .zip(&b[..n])
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / n as f64;
    if mse == 0.0 {
        return 99.0;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// Deterministic pseudo-random bytes (xorshift32), so failures reproduce.
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn encode_one(enc: &mut Vp8Encoder, frame: &[u8], pts: i64, force: bool) -> (Vec<u8>, bool) {
    let mut out = enc.encode(frame, pts, force).expect("encodes");
    assert_eq!(out.len(), 1, "no lookahead: one frame out per frame in");
    let f = out.remove(0);
    (f.data, f.keyframe)
}

#[test]
fn a_moving_pattern_survives_vp8_with_a_sane_psnr() {
    for (w, h) in [(320, 240), (161, 121)] {
        let mut enc = Vp8Encoder::new(w, h, 800).expect("encoder");
        let mut dec = Vp8Decoder::new().expect("decoder");
        let mut worst = f64::MAX;
        for t in 0..30u32 {
            let src = pattern(w, h, t);
            let (data, key) = encode_one(&mut enc, &src, i64::from(t) * 3000, false);
            assert_eq!(key, t == 0, "only the first frame is a keyframe");
            let out = dec.decode(&data).expect("decodes").expect("a picture");
            assert_eq!((out.width, out.height), (w, h));
            assert_eq!(out.i420.len(), i420_len(w, h));
            worst = worst.min(psnr_y(&src, &out.i420, w, h));
        }
        assert!(worst > 30.0, "{w}x{h}: worst luma PSNR {worst:.1} dB");
    }
}

#[test]
fn the_frame_after_a_forced_keyframe_request_is_a_keyframe() {
    let mut enc = Vp8Encoder::new(320, 240, 500).expect("encoder");
    let mut dec = Vp8Decoder::new().expect("decoder");
    for t in 0..20u32 {
        let force = t == 12;
        let (data, key) = encode_one(&mut enc, &pattern(320, 240, t), i64::from(t) * 3000, force);
        assert_eq!(key, t == 0 || t == 12, "frame {t}");
        assert_eq!(vp8_frame_info(&data).map(|i| i.keyframe), Some(key));
        // A decoder that joins at the forced keyframe can start there.
        if t == 12 {
            let mut late = Vp8Decoder::new().expect("decoder");
            assert!(late.decode(&data).expect("decodes").is_some());
        }
        dec.decode(&data).expect("decodes");
    }
}

#[test]
fn a_resolution_change_mid_stream_re_creates_the_encoder_and_the_decoder_follows() {
    let mut enc = Vp8Encoder::new(320, 240, 500).expect("encoder");
    let mut dec = Vp8Decoder::new().expect("decoder");
    let mut pts = 0;
    for (w, h) in [(320, 240), (176, 144), (640, 360)] {
        enc.resize(w, h).expect("resizes");
        assert_eq!(enc.dimensions(), (w, h));
        assert_eq!(enc.bitrate_kbps(), 500, "the bitrate survives a resize");
        for t in 0..5u32 {
            let (data, key) = encode_one(&mut enc, &pattern(w, h, t), pts, false);
            pts += 3000;
            assert_eq!(key, t == 0, "a new size starts with a keyframe");
            let out = dec.decode(&data).expect("decodes").expect("a picture");
            assert_eq!((out.width, out.height), (w, h));
        }
    }
    // A frame of the old size is refused, not misread.
    assert!(matches!(
        enc.encode(&pattern(320, 240, 0), pts, false),
        Err(CodecError::FrameSize { .. })
    ));
}

#[test]
fn the_bitrate_setting_changes_the_output_size() {
    // Noisy pictures, so that the rate controller, not the content, limits the size.
    let size_at = |kbps| {
        let mut noise = Noise(7);
        let mut enc = Vp8Encoder::new(320, 240, 2000).expect("encoder");
        enc.set_bitrate(kbps).expect("bitrate");
        assert_eq!(enc.bitrate_kbps(), kbps);
        (0..60u32)
            .map(|t| {
                let mut frame = pattern(320, 240, t);
                frame
                    .iter_mut()
                    .for_each(|p| *p ^= noise.next() as u8 & 0x1f);
                encode_one(&mut enc, &frame, i64::from(t) * 3000, false)
                    .0
                    .len()
            })
            .sum::<usize>()
    };
    let (high, low) = (size_at(1500), size_at(100));
    assert!(high > 3 * low, "1500 kbps: {high} B, 100 kbps: {low} B");
}

#[test]
fn encoder_misuse_is_an_error() {
    assert!(matches!(
        Vp8Encoder::new(0, 240, 500),
        Err(CodecError::InvalidDimensions { .. })
    ));
    assert!(matches!(
        Vp8Encoder::new(20_000, 240, 500),
        Err(CodecError::InvalidDimensions { .. })
    ));
    let mut enc = Vp8Encoder::new(64, 64, 500).expect("encoder");
    assert!(matches!(
        enc.encode(&[0; 10], 0, false),
        Err(CodecError::FrameSize { .. })
    ));
    assert!(enc.resize(0, 0).is_err());
    assert_eq!(
        enc.dimensions(),
        (64, 64),
        "a failed resize keeps the old size"
    );
}

/// A short real stream: a keyframe and inter frames.
fn real_stream() -> Vec<Vec<u8>> {
    let mut enc = Vp8Encoder::new(160, 120, 300).expect("encoder");
    (0..6u32)
        .map(|t| encode_one(&mut enc, &pattern(160, 120, t), i64::from(t) * 3000, false).0)
        .collect()
}

#[test]
fn hostile_bytes_to_the_vp8_decoder_are_errors_not_panics() {
    let stream = real_stream();
    let mut dec = Vp8Decoder::new().expect("decoder");
    assert!(dec.decode(&[]).is_err(), "empty");
    assert!(
        dec.decode(&stream[1]).is_err(),
        "an inter frame before any keyframe"
    );
    // Truncated keyframes: every length short of the whole.
    let key = &stream[0];
    for n in 0..key.len() - 1 {
        let mut fresh = Vp8Decoder::new().expect("decoder");
        assert!(
            fresh.decode(&key[..n]).is_err(),
            "keyframe cut to {n} bytes"
        );
    }
    // Random bytes, with and without a valid keyframe header in front.
    let mut noise = Noise(0x1234_5678);
    for i in 0..400 {
        let len = (noise.next() % 3000) as usize;
        let mut bytes = noise.bytes(len);
        if i % 2 == 0 && bytes.len() > 10 {
            bytes[..10].copy_from_slice(&key[..10]);
        }
        let mut fresh = Vp8Decoder::new().expect("decoder");
        // Random data behind a valid header may happen to decode; it must not panic.
        let _ = fresh.decode(&bytes);
        let _ = dec.decode(&bytes);
    }
    // Bit flips in a real stream: decoded or refused, never a panic.
    for i in 0..300usize {
        let mut fresh = Vp8Decoder::new().expect("decoder");
        for (j, frame) in stream.iter().enumerate() {
            let mut f = frame.clone();
            let bit = (noise.next() as usize) % (f.len() * 8);
            if (i + j) % 2 == 0 {
                f[bit / 8] ^= 1 << (bit % 8);
            }
            let _ = fresh.decode(&f);
        }
    }
    // A keyframe announcing a huge picture is refused before libvpx allocates for it.
    let mut huge = key.clone();
    huge[6..10].copy_from_slice(&[0xff, 0x3f, 0xff, 0x3f]);
    assert!(matches!(
        dec.decode(&huge),
        Err(CodecError::TooLarge {
            width: 16383,
            height: 16383,
            ..
        })
    ));
    // And after all that, the next keyframe recovers the decoder.
    for frame in &stream {
        let out = dec.decode(frame).expect("recovers").expect("a picture");
        assert_eq!((out.width, out.height), (160, 120));
    }
}

fn sine(freq: f32, amplitude: f32, samples: usize) -> Vec<f32> {
    (0..samples)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / 48_000.0).sin())
        .collect()
}

/// Share of `x`'s energy at `freq` (Goertzel), 0 to 1.
fn tone_share(x: &[f32], freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / 48_000.0;
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s = v + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let energy: f32 = x.iter().map(|v| v * v).sum();
    2.0 * power / (x.len() as f32 * energy)
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

#[test]
fn a_sine_survives_opus() {
    let input = sine(440.0, 0.5, 48_000);
    let mut enc = OpusEncoder::new(32).expect("encoder");
    let mut dec = OpusDecoder::new().expect("decoder");
    let mut out = Vec::new();
    let mut buf = vec![0.0; MAX_FRAME_SAMPLES];
    for frame in input.chunks(FRAME_SAMPLES) {
        let packet = enc.encode(frame).expect("encodes");
        assert!(!packet.is_empty() && packet.len() < 400);
        let n = dec.decode(&packet, &mut buf).expect("decodes");
        assert_eq!(n, FRAME_SAMPLES);
        out.extend_from_slice(&buf[..n]);
    }
    let tail = &out[9600..];
    assert!(tone_share(tail, 440.0) > 0.9, "{}", tone_share(tail, 440.0));
    let ratio = rms(tail) / rms(&input[9600..]);
    assert!((0.7..1.4).contains(&ratio), "level ratio {ratio}");
}

#[test]
fn a_lost_opus_packet_is_concealed_or_recovered_from_fec() {
    let input = sine(300.0, 0.4, 48_000);
    let mut enc = OpusEncoder::new(32).expect("encoder");
    let packets: Vec<_> = input
        .chunks(FRAME_SAMPLES)
        .map(|f| enc.encode(f).expect("encodes"))
        .collect();
    let mut dec = OpusDecoder::new().expect("decoder");
    let mut buf = vec![0.0; MAX_FRAME_SAMPLES];
    for p in &packets[..20] {
        dec.decode(p, &mut buf).expect("decodes");
    }
    assert_eq!(dec.last_packet_samples(), FRAME_SAMPLES);
    // Packet 20 is lost: conceal it, then packet 21 is lost too: recover it from 22's FEC.
    let mut gap = vec![0.0; FRAME_SAMPLES];
    dec.conceal(&mut gap).expect("conceals");
    assert!(rms(&gap) > 0.05, "concealment continues the tone");
    dec.recover(&packets[22], &mut gap).expect("recovers");
    assert!(rms(&gap) > 0.05 && gap.iter().all(|v| v.is_finite()));
    assert_eq!(
        dec.decode(&packets[22], &mut buf).expect("decodes"),
        FRAME_SAMPLES
    );
    // Odd lengths: concealed to the 2.5 ms step, the rest silent.
    let mut odd = vec![1.0; 130];
    dec.conceal(&mut odd).expect("conceals");
    assert!(odd[120..].iter().all(|&v| v == 0.0));
}

#[test]
fn hostile_bytes_to_the_opus_decoder_are_errors_not_panics() {
    let mut dec = OpusDecoder::new().expect("decoder");
    let mut buf = vec![0.0; MAX_FRAME_SAMPLES];
    assert!(dec.decode(&[], &mut buf).is_err(), "empty");
    // Code 3 (arbitrary frame count) without its count byte; a zero frame count; a frame
    // length that overruns the packet.
    for bad in [&[0x03][..], &[0x03, 0x00], &[0x02, 0xff, 0x01]] {
        assert!(
            matches!(dec.decode(bad, &mut buf), Err(CodecError::Corrupt { .. })),
            "{bad:?}"
        );
    }
    assert!(dec.decode(&vec![0; 100_000], &mut buf).is_err(), "oversize");
    assert!(
        dec.decode(&[0x78, 0, 0], &mut [0.0; 10]).is_err(),
        "no room"
    );
    let mut noise = Noise(0xdead_beef);
    for _ in 0..2000 {
        let len = 1 + (noise.next() % 1500) as usize;
        // Opus accepts many byte strings as valid packets: decoded or refused, never a panic.
        if let Ok(n) = dec.decode(&noise.bytes(len), &mut buf) {
            assert!(n <= MAX_FRAME_SAMPLES);
            assert!(buf[..n].iter().all(|v| v.is_finite()));
        }
    }
    let mut enc = OpusEncoder::new(24).expect("encoder");
    assert!(matches!(
        enc.encode(&[0.0; 100]),
        Err(CodecError::FrameSize { .. })
    ));
    enc.set_bitrate(100_000).expect("clamped");
    assert_eq!(enc.bitrate_kbps(), 510);
}
