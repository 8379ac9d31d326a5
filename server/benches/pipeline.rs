//! Added latency of the witness transcoding pipeline, paced like a live camera.
//!
//! `cargo bench -p assize-server --bench pipeline` encodes a camera-like synthetic sequence as
//! a browser would (VP8, 30 fps, Chrome-style RTP with picture ids), then pushes it into a
//! video pipeline in real time (one frame every 33.3 ms), and measures for each frame the time
//! from queueing its last RTP packet to receiving the last packet of the re-encoded frame: the
//! latency the server adds. A public-domain portrait (Grace Hopper, `media/tests/data/face`)
//! moves over the scene, so the face anonymiser has a face to find.
//!
//! Rows: 640x480 with an identity filter (the codec-only floor), with the server's own face
//! filter in Masked mode (CenterFace, the production schedule) and in FullFrame mode, and
//! 1280x720 with the identity filter and Masked. The first second of each row is left out of
//! the latency figures (it includes building the face anonymiser, a few hundred milliseconds,
//! which a live hearing pays once when the order is set) and reported on its own line. The
//! share of one core is the process's CPU time over the row (from `/proc/self/stat`) divided
//! by its wall time: the pipeline thread, plus the negligible feeding and receiving threads.
//!
//! `ASSIZE_BENCH_SECONDS` (default 10) sets the length of each row; `ASSIZE_BENCH_ROWS` (for
//! example `640-masked,640-identity`) picks rows.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use assize_media::FaceMode;
use assize_media::codec::{Vp8Encoder, i420_len};
use assize_server::sfu::anonymisers::{FaceCounters, face_filter_counted};
use assize_server::sfu::pipeline::{Filter, Pipeline, PipelineConfig, VideoFilter};
use rtc::rtp;
use rtc::rtp::packetizer::Payloader;

struct Identity;

impl VideoFilter for Identity {
    fn apply(&mut self, _: u32, _: u32, _: &mut [u8]) -> Result<(), String> {
        Ok(())
    }
}

/// The portrait, packed I420 256x300.
const FACE: &[u8] = include_bytes!("../../media/tests/data/face/grace_hopper_256x300.i420");
const FACE_W: usize = 256;
const FACE_H: usize = 300;

/// Pastes the portrait (scaled by `scale` = 1 or 2 in each direction) with its top-left corner
/// at (`x0`, `y0`), both even.
fn paste_face(buf: &mut [u8], w: usize, h: usize, x0: usize, y0: usize, scale: usize) {
    let (fy, fu, fv) = (
        &FACE[..FACE_W * FACE_H],
        &FACE[FACE_W * FACE_H..FACE_W * FACE_H * 5 / 4],
        &FACE[FACE_W * FACE_H * 5 / 4..],
    );
    let (luma, chroma) = buf.split_at_mut(w * h);
    let (u, v) = chroma.split_at_mut(w * h / 4);
    for y in 0..(FACE_H * scale).min(h - y0) {
        for x in 0..(FACE_W * scale).min(w - x0) {
            luma[(y0 + y) * w + x0 + x] = fy[(y / scale) * FACE_W + x / scale];
        }
    }
    for y in 0..(FACE_H * scale / 2).min((h - y0) / 2) {
        for x in 0..(FACE_W * scale / 2).min((w - x0) / 2) {
            let (sy, sx) = (y / scale, x / scale);
            u[(y0 / 2 + y) * (w / 2) + x0 / 2 + x] = fu[sy * (FACE_W / 2) + sx];
            v[(y0 / 2 + y) * (w / 2) + x0 / 2 + x] = fv[sy * (FACE_W / 2) + sx];
        }
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
    // The witness, swaying slowly from side to side: a face of 256x300 at 640x480 (512x600
    // would not fit 720p, so 1280x720 gets the same size), like someone sitting at a webcam.
    let scale = 1;
    let span = w.saturating_sub(FACE_W * scale) as f32;
    let x0 = ((span * (0.5 + 0.4 * (tf * 0.5).sin())) as usize) & !1;
    let y0 = ((h.saturating_sub(FACE_H * scale) as f32 * 0.5) as usize) & !1;
    paste_face(&mut buf, w, h, x0, y0, scale);
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

/// Frames as (index, added latency in ms).
type Timed = Vec<(usize, f64)>;

/// CPU time of this process so far, in seconds (user + system, from `/proc/self/stat`).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn run(
    label: &str,
    filter: Box<dyn VideoFilter>,
    width: u32,
    height: u32,
    kbps: u32,
    seconds: u32,
) {
    let frames = publish(width, height, kbps, seconds * 30);
    let config = PipelineConfig {
        bitrate_kbps: kbps,
        ..PipelineConfig::video()
    };
    let cpu_before = process_cpu_seconds();
    let (handle, mut output) = Pipeline::spawn(Filter::Video(filter), config).unwrap();
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
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    // The encoder keeps the input's timestamps, so a frame's index is its timestamp / 3000.
    let first_ts = done.first().map(|d| d.0).unwrap_or(0);
    let (warm_up, steady): (Timed, Timed) = done
        .iter()
        .filter_map(|(ts, at)| {
            let index = (ts.wrapping_sub(first_ts) / 3000) as usize;
            let ms = at
                .checked_duration_since(*queued.get(index)?)?
                .as_secs_f64()
                * 1e3;
            Some((index, ms))
        })
        .partition(|(index, _)| *index < 30);
    let summarise = |rows: &[(usize, f64)]| {
        let mut latency: Vec<f64> = rows.iter().map(|r| r.1).collect();
        latency.sort_by(f64::total_cmp);
        if latency.is_empty() {
            return "no frames".to_string();
        }
        let pct = |p: f64| latency[((latency.len() - 1) as f64 * p).round() as usize];
        let mean = latency.iter().sum::<f64>() / latency.len() as f64;
        format!(
            "{} frames, mean {mean:.1} ms, p50 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1} ms",
            latency.len(),
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(1.0)
        )
    };
    println!(
        "{label} {width}x{height} @ {kbps} kbit/s, 30 fps for {seconds} s: {} of {} frames out; \
         share of one core {:.0}%; skipped {}, dropped packets {}\n  added latency after the \
         first second: {}\n  first second: {}",
        done.len(),
        queued.len(),
        100.0 * cpu / wall,
        counters.frames_skipped,
        counters.packets_dropped,
        summarise(&steady),
        summarise(&warm_up),
    );
}

/// What the face filter did to the pictures of a row.
fn print_faces(c: &FaceCounters) {
    use std::sync::atomic::Ordering::Relaxed;
    let (masked, whole, untouched) = (
        c.masked.load(Relaxed),
        c.silhouette.load(Relaxed),
        c.untouched.load(Relaxed),
    );
    let total = (masked + whole + untouched).max(1) as f64;
    let delay = c.answer_delay.each_ref().map(|d| d.load(Relaxed));
    println!(
        "  face filter: {masked} pictures masked, {whole} covered whole ({:.1}%), {untouched} \
         untouched; {} detector answers, taken 1/2/3/4+ pictures after theirs: {}/{}/{}/{}",
        100.0 * whole as f64 / total,
        c.answers.load(Relaxed),
        delay[0],
        delay[1],
        delay[2],
        delay[3]
    );
}

fn main() {
    let seconds = std::env::var("ASSIZE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let rows = std::env::var("ASSIZE_BENCH_ROWS").unwrap_or_else(|_| {
        "640-identity,640-masked,640-fullframe,1280-identity,1280-masked".into()
    });
    for row in rows.split(',') {
        let (width, height, kbps) = if row.starts_with("1280") {
            (1280, 720, 1500)
        } else {
            (640, 480, 800)
        };
        let (filter, faces): (Box<dyn VideoFilter>, _) = match row.split_once('-').map(|r| r.1) {
            Some("masked") => {
                let (f, c) = face_filter_counted(FaceMode::Masked);
                (f, Some(c))
            }
            Some("fullframe") => {
                let (f, c) = face_filter_counted(FaceMode::FullFrame);
                (f, Some(c))
            }
            _ => (Box::new(Identity), None),
        };
        run(row, filter, width, height, kbps, seconds);
        if let Some(c) = faces {
            print_faces(&c);
        }
    }
}
