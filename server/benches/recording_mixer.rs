//! CPU cost of recording a hearing: the recorder's per-frame work (decode 6 Opus streams, mix,
//! encode the mix, write Ogg pages) for N seconds of audio, run as fast as it goes on one
//! thread. Reports the share of one core the real-time recorder needs.
//!
//! `cargo bench -p assize-server --bench recording_mixer -- [SECONDS] [STREAMS]`

// A benchmark prints its figures.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use assize_media::codec::{FRAME_SAMPLES, OpusEncoder};
use assize_server::recording::mixer::Mixer;
use assize_server::recording::ogg::OggOpusWriter;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let seconds: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(60);
    let streams: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(6);
    let frames = seconds * 50;
    // Synthetic speech-like input: each participant a different tone with a syllable envelope,
    // encoded once up front (the participants' devices do this work, not the server).
    let input: Vec<Vec<Vec<u8>>> = (0..streams)
        .map(|s| {
            let mut enc = OpusEncoder::new(32).expect("encoder");
            let freq = 150.0 + 70.0 * s as f32;
            (0..frames)
                .map(|f| {
                    let pcm: Vec<f32> = (0..FRAME_SAMPLES)
                        .map(|i| {
                            let t = (f * FRAME_SAMPLES + i) as f32 / 48_000.0;
                            let env =
                                (0.5 + 0.5 * (2.0 * std::f32::consts::PI * 3.0 * t).sin()) * 0.3;
                            env * (2.0 * std::f32::consts::PI * freq * t).sin()
                        })
                        .collect();
                    enc.encode(&pcm).expect("encode")
                })
                .collect()
        })
        .collect();
    let mut mixer: Mixer<usize> = Mixer::new(3);
    let mut encoder = OpusEncoder::new(32).expect("encoder");
    let mut ogg = OggOpusWriter::new(Vec::new(), 1, 312, "assize").expect("in memory");
    let mut pcm = [0.0f32; FRAME_SAMPLES];
    let started = Instant::now();
    for f in 0..frames {
        for (s, packets) in input.iter().enumerate() {
            mixer.push(s, f as u16, packets[f].clone());
        }
        mixer.mix(&mut pcm);
        let packet = encoder.encode(&pcm).expect("encode");
        ogg.push(&packet, FRAME_SAMPLES as u32).expect("in memory");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let bytes = ogg.finish().expect("in memory").len();
    println!(
        "recorded {seconds} s of a {streams}-participant hearing in {elapsed:.3} s of CPU: \
         {:.2} % of one core ({:.1} µs per 20 ms frame); {bytes} bytes of Ogg Opus",
        100.0 * elapsed / seconds as f64,
        1e6 * elapsed / frames as f64
    );
}
