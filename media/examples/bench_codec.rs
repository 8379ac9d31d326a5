//! Release-mode cost of the server-side transcoding, per stream and frame.
//!
//! ```text
//! cargo run --release -p assize-media --example bench_codec [-- FRAMES]
//! ```
//!
//! - VP8 at 640x480 (800 kbit/s) and 1280x720 (1500 kbit/s): a camera-like synthetic sequence
//!   (moving shapes and sensor noise) is encoded once as the publisher would; then each frame
//!   is decoded, passed through an identity filter and encoded again, timed per frame.
//! - Opus: 20 ms frames of a synthetic voice are decoded, anonymised with `VoiceAnonymiser` and
//!   encoded again; reported as a share of one core.
//!
//! Means are the benchmark thread's own CPU time over the whole run (Linux
//! `/proc/thread-self/schedstat`, elsewhere wall-clock), so a busy shared machine inflates them
//! less; per-frame percentiles are wall-clock (schedstat only advances at scheduler ticks).

use std::time::{Duration, Instant};

use assize_media::codec::{
    FRAME_SAMPLES, MAX_FRAME_SAMPLES, OpusDecoder, OpusEncoder, Vp8Decoder, Vp8Encoder, i420_len,
};
use assize_media::{VoiceAnonymiser, VoiceSettings};

fn camera(width: u32, height: u32, t: u32, noise: &mut u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut buf = vec![128u8; i420_len(width, height)];
    let tf = t as f32 / 30.0;
    let (cx, cy) = (
        w as f32 * (0.5 + 0.2 * (tf * 0.9).sin()),
        h as f32 * (0.45 + 0.1 * (tf * 1.3).cos()),
    );
    let r2 = (h as f32 * 0.25).powi(2);
    for y in 0..h {
        for x in 0..w {
            *noise ^= *noise << 13;
            *noise ^= *noise >> 17;
            *noise ^= *noise << 5;
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let base = if dx * dx + dy * dy < r2 {
                170.0 + 30.0 * ((x as f32 * 0.05 + tf).sin())
            } else {
                60.0 + 80.0 * (y as f32 / h as f32) + 20.0 * ((x / 40 + y / 40) % 2) as f32
            };
            let grain = (*noise % 7) as f32 - 3.0;
            buf[y * w + x] = (base + grain).clamp(0.0, 255.0) as u8;
        }
    }
    buf
}

/// This thread's CPU time (falls back to wall-clock time where schedstat is unavailable).
#[derive(Clone, Copy)]
struct Clock(Option<u64>, Instant);

impl Clock {
    fn now() -> Self {
        let cpu = std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        Self(cpu, Instant::now())
    }

    fn elapsed(self) -> Duration {
        let now = Self::now();
        match (self.0, now.0) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => now.1 - self.1,
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn vp8(width: u32, height: u32, kbps: u32, frames: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut publisher = Vp8Encoder::new(width, height, kbps)?;
    let mut noise = 1u32;
    let mut stream = Vec::new();
    for t in 0..frames {
        let pic = camera(width, height, t, &mut noise);
        for f in publisher.encode(&pic, i64::from(t) * 3000, false)? {
            stream.push(f.data);
        }
    }
    let mut decoder = Vp8Decoder::new()?;
    let mut encoder = Vp8Encoder::new(width, height, kbps)?;
    let identity = |_: &mut [u8]| {};
    let mut times = Vec::with_capacity(stream.len());
    let mut bytes = 0;
    let cpu = Clock::now();
    for (t, data) in stream.iter().enumerate() {
        let start = Instant::now();
        let Some(mut pic) = decoder.decode(data)? else {
            continue;
        };
        identity(&mut pic.i420);
        for f in encoder.encode(&pic.i420, t as i64 * 3000, false)? {
            bytes += f.data.len();
        }
        times.push(start.elapsed());
    }
    let mean = cpu.elapsed().as_secs_f64() * 1e3 / times.len() as f64;
    times.sort();
    eprintln!(
        "VP8 {width}x{height} @ {kbps} kbit/s, {} frames: decode+identity+encode mean {mean:.2} ms \
         CPU, wall p50 {:.2}, p95 {:.2}, max {:.2} ms per frame; at 30 fps {:.0}% of one core; output \
         {:.0} kbit/s",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 1.0),
        mean * 30.0 / 10.0,
        bytes as f64 * 8.0 / (times.len() as f64 / 30.0) / 1e3,
    );
    Ok(())
}

fn voice(seconds: u32) -> Vec<f32> {
    let n = seconds as usize * 48_000;
    let (mut y1, mut y2, mut phase) = (0.0f32, 0.0f32, 0.0f32);
    (0..n)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            phase += 140.0 * (1.0 + 0.1 * (3.0 * t).sin()) / 48_000.0;
            let e = if phase >= 1.0 {
                phase -= 1.0;
                1.0
            } else {
                0.0
            };
            let y =
                e + 1.98 * y1 * (2.0 * std::f32::consts::PI * 500.0 / 48_000.0).cos() - 0.98 * y2;
            y2 = y1;
            y1 = y;
            if (t * 0.7).fract() < 0.75 {
                0.01 * y
            } else {
                0.0
            }
        })
        .collect()
}

fn opus(seconds: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut publisher = OpusEncoder::new(32)?;
    let packets = voice(seconds)
        .chunks_exact(FRAME_SAMPLES)
        .map(|f| publisher.encode(f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut decoder = OpusDecoder::new()?;
    let mut anon = VoiceAnonymiser::new(&[7; 32], VoiceSettings::default())?;
    let mut encoder = OpusEncoder::new(32)?;
    let mut buf = vec![0.0; MAX_FRAME_SAMPLES];
    // The whole chain on CPU time, then the anonymiser alone on the same (decoded) audio.
    let mut decoded = Vec::with_capacity(packets.len() * FRAME_SAMPLES);
    let cpu = Clock::now();
    for p in &packets {
        let n = decoder.decode(p, &mut buf)?;
        decoded.extend_from_slice(&buf[..n]);
        anon.process_in_place(&mut buf[..n]);
        encoder.encode(&buf[..n])?;
    }
    let total = cpu.elapsed().as_secs_f64();
    let mut anon = VoiceAnonymiser::new(&[7; 32], VoiceSettings::default())?;
    let cpu = Clock::now();
    for frame in decoded.chunks_mut(FRAME_SAMPLES) {
        anon.process_in_place(frame);
    }
    let filter = cpu.elapsed();
    let audio = packets.len() as f64 * 0.02;
    eprintln!(
        "Opus 48 kHz mono 20 ms, {seconds} s: decode+anonymise+encode {:.3} ms per frame = {:.2}% \
         of one core (Opus decode+encode {:.2}%, anonymiser {:.2}%)",
        total * 1e3 / packets.len() as f64,
        total / audio * 100.0,
        (total - filter.as_secs_f64()) / audio * 100.0,
        filter.as_secs_f64() / audio * 100.0,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frames: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    vp8(640, 480, 800, frames)?;
    vp8(1280, 720, 1500, frames)?;
    opus(60)?;
    Ok(())
}
