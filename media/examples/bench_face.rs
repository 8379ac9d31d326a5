//! Release-mode timing of the face anonymiser (no video file needed).
//!
//! ```text
//! cargo run --release -p assize-media --example bench_face [-- FRAMES [LONG_SIDE]]
//! ```
//!
//! Moves the astronaut test picture across a textured backdrop at 640x360 and 1280x720 and
//! prints milliseconds per frame, on one thread, for Masked with the detector on every frame
//! and on every 2nd and 3rd, and for FullFrame. The frame copy is outside the timing.

use std::time::Instant;

use assize_media::face::{FaceAnonymiser, FaceMode, FaceSettings, I420Frame, packed_len};

const ASTRONAUT: &[u8] = include_bytes!("../tests/data/face/astronaut_256x256.i420");

/// A `w` x `h` packed I420 frame with the astronaut at (`x`, `y`), both even.
fn frame(w: usize, h: usize, x: usize, y: usize) -> Vec<u8> {
    let mut out = vec![128u8; packed_len(w as u32, h as u32)];
    for r in 0..h {
        for c in 0..w {
            out[r * w + c] = (90 + (c / 16 + r / 16) % 2 * 30) as u8;
        }
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    for r in 0..256.min(h.saturating_sub(y)) {
        for c in 0..256.min(w.saturating_sub(x)) {
            out[(y + r) * w + x + c] = ASTRONAUT[r * 256 + c];
        }
    }
    for r in 0..128.min(ch.saturating_sub(y / 2)) {
        for c in 0..128.min(cw.saturating_sub(x / 2)) {
            let i = (y / 2 + r) * cw + x / 2 + c;
            out[w * h + i] = ASTRONAUT[65_536 + r * 128 + c];
            out[w * h + cw * ch + i] = ASTRONAUT[65_536 + 16_384 + r * 128 + c];
        }
    }
    out
}

fn bench(w: usize, h: usize, mode: FaceMode, settings: FaceSettings, frames: usize) -> Option<f64> {
    let mut anon = match FaceAnonymiser::new(mode, settings) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return None;
        }
    };
    let sources: Vec<Vec<u8>> = (0..16)
        .map(|i| frame(w, h, (i * (w - 256) / 16) & !1, ((h - 256) / 4) & !1))
        .collect();
    let mut busy = 0.0;
    for i in 0..frames {
        let mut buf = sources[i % sources.len()].clone();
        let start = Instant::now();
        let mut f = I420Frame::packed(w as u32, h as u32, &mut buf).ok()?;
        anon.process(&mut f);
        busy += start.elapsed().as_secs_f64();
    }
    Some(busy * 1e3 / frames as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let frames: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(100)
        .max(1);
    let long_side: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(320);
    eprintln!("{frames} frames per row, detector long side {long_side}, one thread");
    for (w, h) in [(640, 360), (1280, 720)] {
        for every in [1, 2, 3] {
            let settings = FaceSettings {
                detect_every: every,
                detector_long_side: long_side,
                ..FaceSettings::default()
            };
            if let Some(ms) = bench(w, h, FaceMode::Masked, settings, frames) {
                eprintln!("{w}x{h} Masked, detector every {every}: {ms:.2} ms/frame");
            }
        }
        if let Some(ms) = bench(w, h, FaceMode::FullFrame, FaceSettings::default(), frames) {
            eprintln!("{w}x{h} FullFrame: {ms:.2} ms/frame");
        }
    }
}
