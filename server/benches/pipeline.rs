//! Added latency of the witness transcoding pipeline, paced like a live camera.
//!
//! `cargo bench -p assize-server --bench pipeline` encodes a camera-like synthetic sequence as
//! a browser would (VP8, 30 fps, Chrome-style RTP with picture ids), then pushes it into a
//! video pipeline in real time (one frame every 33.3 ms) with an identity filter, and measures
//! for each frame the time from queueing its last RTP packet to receiving the last packet of
//! the re-encoded frame: the latency the server adds. `ASSIZE_BENCH_SECONDS` (default 10) sets
//! the length; 640x480 and 1280x720 are run.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use assize_media::codec::{Vp8Encoder, i420_len};
use assize_server::sfu::pipeline::{Filter, Pipeline, PipelineConfig, VideoFilter};
use rtc::rtp;
use rtc::rtp::packetizer::Payloader;

struct Identity;

impl VideoFilter for Identity {
    fn apply(&mut self, _: u32, _: u32, _: &mut [u8]) -> Result<(), String> {
        Ok(())
    }
}

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
            buf[y * w + x] = (base + (*noise % 7) as f32 - 3.0).clamp(0.0, 255.0) as u8;
        }
    }
    buf
}

/// The publisher's RTP, frame by frame.
fn publish(width: u32, height: u32, kbps: u32, frames: u32) -> Vec<Vec<rtp::Packet>> {
    let mut enc = Vp8Encoder::new(width, height, kbps).unwrap();
    let mut payloader = rtp::codec::vp8::Vp8Payloader::default();
    payloader.enable_picture_id = true;
    let mut noise = 1u32;
    let mut seq = 0u16;
    (0..frames)
        .map(|t| {
            let pic = camera(width, height, t, &mut noise);
            let mut packets = Vec::new();
            for f in enc.encode(&pic, i64::from(t) * 3000, false).unwrap() {
                let payloads = payloader.payload(1188, &f.data.into()).unwrap();
                let n = payloads.len();
                for (i, payload) in payloads.into_iter().enumerate() {
                    packets.push(rtp::Packet {
                        header: rtp::header::Header {
                            version: 2,
                            marker: i + 1 == n,
                            payload_type: 96,
                            sequence_number: seq,
                            timestamp: t * 3000,
                            ssrc: 1,
                            ..Default::default()
                        },
                        payload,
                    });
                    seq = seq.wrapping_add(1);
                }
            }
            packets
        })
        .collect()
}

fn run(width: u32, height: u32, kbps: u32, seconds: u32) {
    let frames = publish(width, height, kbps, seconds * 30);
    let config = PipelineConfig {
        bitrate_kbps: kbps,
        ..PipelineConfig::video()
    };
    let (handle, mut output) = Pipeline::spawn(Filter::Video(Box::new(Identity)), config).unwrap();
    let receiver = std::thread::spawn(move || {
        let mut done = Vec::new();
        while let Some(p) = output.rtp.blocking_recv() {
            let h = &p.packet().header;
            if h.marker {
                done.push((h.timestamp, Instant::now()));
            }
        }
        done
    });
    let start = Instant::now();
    let mut queued = Vec::with_capacity(frames.len());
    for (i, frame) in frames.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / 30.0);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for p in frame {
            handle.push(p);
        }
        queued.push(Instant::now());
    }
    let counters = handle.counters();
    handle.close();
    let done = receiver.join().unwrap();
    let first_ts = done.first().map(|d| d.0).unwrap_or(0);
    let mut latency: Vec<f64> = done
        .iter()
        .filter_map(|(ts, at)| {
            let index = (ts.wrapping_sub(first_ts) / 3000) as usize;
            Some(
                at.checked_duration_since(*queued.get(index)?)?
                    .as_secs_f64()
                    * 1e3,
            )
        })
        .collect();
    latency.sort_by(f64::total_cmp);
    let pct = |p: f64| latency[((latency.len() - 1) as f64 * p).round() as usize];
    let mean = latency.iter().sum::<f64>() / latency.len() as f64;
    println!(
        "{width}x{height} @ {kbps} kbit/s, 30 fps for {seconds} s: {} of {} frames out; added \
         latency mean {mean:.1} ms, p50 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1} ms; skipped {}, \
         dropped packets {}",
        latency.len(),
        queued.len(),
        pct(0.5),
        pct(0.95),
        pct(0.99),
        pct(1.0),
        counters.frames_skipped,
        counters.packets_dropped,
    );
}

fn main() {
    let seconds = std::env::var("ASSIZE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    run(640, 480, 800, seconds);
    run(1280, 720, 1500, seconds);
}
