//! Release-mode timing of the voice anonymiser (no WAV needed).
//!
//! ```text
//! cargo run --release -p assize-media --example bench_voice [-- SECONDS [FRAME]]
//! ```
//!
//! Feeds a synthetic voiced signal with pauses in 10 ms frames (480 samples) and prints the
//! real-time factor per stream: processing time / audio time, for one core.

use std::time::Instant;

use assize_media::{VoiceAnonymiser, VoiceSettings};

fn signal(seconds: f64) -> Vec<f32> {
    let n = (seconds * 48_000.0) as usize;
    let (mut y1, mut y2, mut phase, mut s) = (0.0f32, 0.0f32, 0.0f32, 1u32);
    (0..n)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            phase += 140.0 * (1.0 + 0.1 * (3.0 * t).sin()) / 48_000.0;
            let mut e = 0.0;
            if phase >= 1.0 {
                phase -= 1.0;
                e = 1.0;
            }
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            e += 0.05 * (s as f32 / u32::MAX as f32 - 0.5);
            let y =
                e + 1.98 * y1 * (2.0 * std::f32::consts::PI * 500.0 / 48_000.0).cos() - 0.98 * y2;
            y2 = y1;
            y1 = y;
            let talking = (t * 0.7).fract() < 0.75;
            if talking { 0.01 * y } else { 0.0 }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(60.0);
    let frame: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(480)
        .max(1);
    let input = signal(seconds);
    let mut output = vec![0.0f32; input.len()];
    let Ok(mut anon) = VoiceAnonymiser::new(&[7; 32], VoiceSettings::default()) else {
        eprintln!("default settings refused");
        return;
    };
    let start = Instant::now();
    for (i, o) in input.chunks(frame).zip(output.chunks_mut(frame)) {
        if anon.process(i, o).is_err() {
            eprintln!("length mismatch");
            return;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let energy: f64 = output.iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
    eprintln!(
        "{seconds} s of 48 kHz audio in {frame}-sample frames: {:.1} ms, real-time factor {:.4} \
         ({:.1} ms per second of audio); output energy {energy:.3}",
        elapsed * 1e3,
        elapsed / seconds,
        elapsed / seconds * 1e3
    );
}
