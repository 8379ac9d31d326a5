//! Real audio for the media tests: Opus packets of test signals (encoded with the project's
//! libopus wrapper, 20 ms each), ffmpeg as the independent decoder, and a Goertzel filter to
//! ask "how much of this frequency is in there".

use std::path::Path;

use assize_media::codec::{FRAME_SAMPLES, OpusEncoder};

/// Samples per second of every signal here.
pub const RATE: f64 = 48_000.0;

/// Encodes `seconds` of `signal(t)` (t in seconds) as one Opus packet per 20 ms at 32 kbit/s.
///
/// # Panics
/// When libopus refuses: the test cannot go on.
pub fn opus_packets(seconds: f64, mut signal: impl FnMut(f64) -> f64) -> Vec<bytes::Bytes> {
    let mut opus = OpusEncoder::new(32).expect("an Opus encoder");
    let frames = (seconds * 50.0).round() as usize;
    (0..frames)
        .map(|f| {
            let frame: Vec<f32> = (0..FRAME_SAMPLES)
                .map(|n| signal((f * FRAME_SAMPLES + n) as f64 / RATE) as f32)
                .collect();
            bytes::Bytes::from(opus.encode(&frame).expect("encodes"))
        })
        .collect()
}

/// A steady sine tone of `hz` at amplitude `amplitude`, as Opus packets (`seconds` long; a
/// whole number of periods per second, so it loops without a click).
pub fn tone(hz: f64, amplitude: f64, seconds: f64) -> Vec<bytes::Bytes> {
    opus_packets(seconds, |t| {
        amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()
    })
}

/// A voiced, speech-like sound: a 140 Hz glottal-like harmonic series (12 harmonics falling
/// as 1/k) with a 5 Hz vibrato of ±12 Hz, as Opus packets.
pub fn voice(seconds: f64) -> Vec<bytes::Bytes> {
    let mut phase = 0.0_f64;
    opus_packets(seconds, move |t| {
        let f0 = 140.0 + 12.0 * (2.0 * std::f64::consts::PI * 5.0 * t).sin();
        phase += 2.0 * std::f64::consts::PI * f0 / RATE;
        let v: f64 = (1..=12).map(|k| (k as f64 * phase).sin() / k as f64).sum();
        0.15 * v
    })
}

/// Decodes an audio file with ffmpeg (an independent decoder) to 48 kHz mono samples.
///
/// # Errors
/// When ffmpeg cannot run or refuses the file (its message included).
pub fn ffmpeg_decode(file: &Path) -> anyhow::Result<Vec<f32>> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "f32le", "-ac", "1", "-ar", "48000", "-"])
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "ffmpeg refused {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The amplitude of the `hz` component of `samples` (Goertzel over the whole slice): a sine of
/// amplitude `a` at exactly `hz` gives about `a`; a window of one second resolves 1 Hz.
pub fn amplitude_at(samples: &[f32], hz: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0_f64, 0.0_f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}
