//! The pipeline driven like the SFU will drive it: RTP made by encoding a synthetic picture or
//! tone and packetizing it with `rtc`'s payloaders goes in; what comes out is decoded and
//! checked. No WebRTC connection is involved.

use std::sync::Mutex;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use assize_media::codec::{
    DecodedFrame, FRAME_SAMPLES, MAX_FRAME_SAMPLES, OpusDecoder, OpusEncoder, Vp8Decoder,
    Vp8Encoder, i420_len,
};
use assize_media::{VoiceAnonymiser, VoiceSettings};
use rtc::rtp::packetizer::{Depacketizer, Payloader};

use super::*;

const W: u32 = 320;
const H: u32 = 240;

/// A moving synthetic picture, packed I420 (gradients and a sliding bright square).
fn pattern(width: u32, height: u32, t: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut buf = vec![0u8; i420_len(width, height)];
    let side = w.min(h) / 4;
    let sx = (t as usize * 6) % (w - side);
    for y in 0..h {
        for x in 0..w {
            let inside = (sx..sx + side).contains(&x) && (h / 3..h / 3 + side).contains(&y);
            buf[y * w + x] = if inside {
                235
            } else {
                (30 + x * 150 / w) as u8
            };
        }
    }
    let luma = w * h;
    let chroma = (buf.len() - luma) / 2;
    buf[luma..luma + chroma].fill(100);
    buf[luma + chroma..].fill(160);
    buf
}

/// Paints every picture one colour: if any raw picture escaped, the output would show it.
struct Paint(u8, u8, u8);

impl VideoFilter for Paint {
    fn apply(&mut self, width: u32, height: u32, i420: &mut [u8]) -> Result<(), String> {
        let luma = (width * height) as usize;
        let chroma = (i420.len() - luma) / 2;
        i420[..luma].fill(self.0);
        i420[luma..luma + chroma].fill(self.1);
        i420[luma + chroma..].fill(self.2);
        Ok(())
    }
}

const PAINT: (u8, u8, u8) = (200, 60, 180);
const BLACK: (u8, u8, u8) = (16, 128, 128);

fn paint() -> Filter {
    Filter::Video(Box::new(Paint(PAINT.0, PAINT.1, PAINT.2)))
}

struct Failing;

impl VideoFilter for Failing {
    fn apply(&mut self, _: u32, _: u32, _: &mut [u8]) -> Result<(), String> {
        Err("no face found".into())
    }
}

/// Panics on the third picture, leaving it half painted.
struct PanicsOnThird(u32);

impl VideoFilter for PanicsOnThird {
    fn apply(&mut self, width: u32, height: u32, i420: &mut [u8]) -> Result<(), String> {
        self.0 += 1;
        Paint(PAINT.0, PAINT.1, PAINT.2).apply(width, height, i420)?;
        if self.0 == 3 {
            i420[..100].fill(0);
            panic!("filter bug");
        }
        Ok(())
    }
}

/// Blocks in its first picture until released (a worker stuck in slow work), then paints.
struct Gate {
    entered: std_mpsc::Sender<()>,
    release: Mutex<std_mpsc::Receiver<()>>,
    first: bool,
}

impl VideoFilter for Gate {
    fn apply(&mut self, width: u32, height: u32, i420: &mut [u8]) -> Result<(), String> {
        if std::mem::take(&mut self.first) {
            let _ = self.entered.send(());
            let _ = self.release.lock().expect("not poisoned").recv();
        }
        Paint(PAINT.0, PAINT.1, PAINT.2).apply(width, height, i420)
    }
}

fn gate() -> (Filter, std_mpsc::Receiver<()>, std_mpsc::Sender<()>) {
    let (entered_tx, entered_rx) = std_mpsc::channel();
    let (release_tx, release_rx) = std_mpsc::channel();
    let filter = Gate {
        entered: entered_tx,
        release: Mutex::new(release_rx),
        first: true,
    };
    (Filter::Video(Box::new(filter)), entered_rx, release_tx)
}

/// A publisher as a browser would be: VP8 at 30 fps, packetized like Chrome (picture ids).
struct Publisher {
    encoder: Vp8Encoder,
    payloader: rtp::codec::vp8::Vp8Payloader,
    seq: u16,
    ts: u32,
    t: u32,
}

impl Publisher {
    fn new(width: u32, height: u32) -> Self {
        Self {
            encoder: Vp8Encoder::new(width, height, 600).expect("encoder"),
            payloader: {
                let mut p = rtp::codec::vp8::Vp8Payloader::default();
                p.enable_picture_id = true;
                p
            },
            seq: 65_500,
            ts: u32::MAX - 10_000,
            t: 0,
        }
    }

    /// The packets of the next frame.
    fn frame(&mut self, force_keyframe: bool) -> Vec<rtp::Packet> {
        let (w, h) = self.encoder.dimensions();
        let frames = self
            .encoder
            .encode(
                &pattern(w, h, self.t),
                i64::from(self.t) * 3000,
                force_keyframe,
            )
            .expect("encodes");
        self.t += 1;
        let mut packets = Vec::new();
        for f in frames {
            let payloads = self
                .payloader
                .payload(1188, &bytes::Bytes::from(f.data))
                .expect("payloads");
            let n = payloads.len();
            for (i, payload) in payloads.into_iter().enumerate() {
                packets.push(rtp::Packet {
                    header: rtp::header::Header {
                        version: 2,
                        marker: i + 1 == n,
                        payload_type: 96,
                        sequence_number: self.seq,
                        timestamp: self.ts,
                        ssrc: 0x1111,
                        ..Default::default()
                    },
                    payload,
                });
                self.seq = self.seq.wrapping_add(1);
            }
        }
        self.ts = self.ts.wrapping_add(3000);
        packets
    }

    fn frames(&mut self, n: usize, keyframe_at: &[usize]) -> Vec<Vec<rtp::Packet>> {
        (0..n)
            .map(|i| self.frame(keyframe_at.contains(&i)))
            .collect()
    }
}

/// Every video frame is processed (no backlog skipping), keyframe requests unthrottled.
fn video_config() -> PipelineConfig {
    PipelineConfig {
        max_backlog_frames: usize::MAX,
        keyframe_request_interval: Duration::ZERO,
        ..PipelineConfig::video()
    }
}

struct Run {
    out: Vec<DistortedPacket>,
    counters: PipelineCounters,
    keyframe_requests: usize,
}

fn finish(handle: PipelineHandle, mut output: PipelineOutput) -> Run {
    let stats = handle.stats.clone();
    handle.close();
    let mut out = Vec::new();
    while let Some(p) = output.rtp.blocking_recv() {
        out.push(p);
    }
    let mut keyframe_requests = 0;
    while output.keyframe_requests.try_recv().is_ok() {
        keyframe_requests += 1;
    }
    Run {
        out,
        counters: stats.snapshot(),
        keyframe_requests,
    }
}

fn run(filter: Filter, config: PipelineConfig, packets: Vec<rtp::Packet>) -> Run {
    let (handle, output) = Pipeline::spawn(filter, config).expect("spawns");
    for p in packets {
        assert!(handle.push(p), "room in the queue");
    }
    finish(handle, output)
}

struct OutFrame {
    picture: DecodedFrame,
    keyframe: bool,
}

/// Decodes the pipeline's output as a viewer would, checking the stream's own numbering.
fn decode(out: &[DistortedPacket], ssrc: u32) -> Vec<OutFrame> {
    let mut decoder = Vp8Decoder::new().expect("decoder");
    let mut frames = Vec::new();
    let mut data = Vec::new();
    let mut prev: Option<&rtp::header::Header> = None;
    for p in out {
        let h = &p.packet().header;
        assert_eq!(h.ssrc, ssrc, "the pipeline's own SSRC");
        if let Some(prev) = prev {
            assert_eq!(h.sequence_number, prev.sequence_number.wrapping_add(1));
            assert!(h.timestamp.wrapping_sub(prev.timestamp) < 0x8000_0000);
        }
        prev = Some(h);
        let mut vp8 = rtp::codec::vp8::Vp8Packet::default();
        let payload = vp8.depacketize(&p.packet().payload).expect("valid VP8 RTP");
        data.extend_from_slice(&payload);
        if h.marker {
            let keyframe = data[0] & 1 == 0;
            let picture = decoder
                .decode(&data)
                .expect("the output decodes")
                .expect("a picture");
            frames.push(OutFrame { picture, keyframe });
            data.clear();
        }
    }
    frames
}

/// Whether every pixel of every plane is within 4 of the colour.
fn is_colour(p: &DecodedFrame, (y, u, v): (u8, u8, u8)) -> bool {
    let luma = (p.width * p.height) as usize;
    let chroma = (p.i420.len() - luma) / 2;
    let near = |plane: &[u8], c: u8| plane.iter().all(|&x| x.abs_diff(c) <= 4);
    near(&p.i420[..luma], y)
        && near(&p.i420[luma..luma + chroma], u)
        && near(&p.i420[luma + chroma..], v)
}

#[test]
fn every_output_picture_is_the_filters_and_no_raw_picture_escapes() {
    let packets: Vec<_> = Publisher::new(W, H).frames(30, &[]).concat();
    let config = video_config();
    let ssrc = config.ssrc;
    let r = run(paint(), config, packets);
    let frames = decode(&r.out, ssrc);
    assert_eq!(frames.len(), 30, "one picture out per picture in");
    for f in &frames {
        assert_eq!((f.picture.width, f.picture.height), (W, H));
        assert!(is_colour(&f.picture, PAINT), "only painted pictures leave");
    }
    assert!(frames[0].keyframe);
    let c = r.counters;
    assert_eq!((c.frames_in, c.frames_out, c.frames_black), (30, 30, 0));
    assert_eq!(c.packets_out, r.out.len() as u64);
    assert!(!c.running);
    assert!(
        r.out.iter().all(|p| p.packet().payload.len() + 12 <= 1200),
        "MTU"
    );
}

#[test]
fn a_failing_filter_yields_black_pictures() {
    let packets: Vec<_> = Publisher::new(W, H).frames(10, &[]).concat();
    let config = video_config();
    let ssrc = config.ssrc;
    let r = run(Filter::Video(Box::new(Failing)), config, packets);
    let frames = decode(&r.out, ssrc);
    assert_eq!(frames.len(), 10);
    assert!(frames.iter().all(|f| is_colour(&f.picture, BLACK)));
    assert_eq!(
        (r.counters.filter_errors, r.counters.frames_black),
        (10, 10)
    );
}

#[test]
fn a_panicking_filter_yields_black_pictures_from_then_on() {
    let packets: Vec<_> = Publisher::new(W, H).frames(8, &[]).concat();
    let config = video_config();
    let ssrc = config.ssrc;
    let r = run(Filter::Video(Box::new(PanicsOnThird(0))), config, packets);
    let frames = decode(&r.out, ssrc);
    assert_eq!(frames.len(), 8, "the worker survives the panic");
    for (i, f) in frames.iter().enumerate() {
        let expected = if i < 2 { PAINT } else { BLACK };
        assert!(is_colour(&f.picture, expected), "picture {i}");
    }
    assert_eq!(r.counters.frames_black, 6);
}

/// Makes a frame's first partition claim more bytes than there are: libvpx refuses it.
fn corrupt(frame: &mut [rtp::Packet]) {
    let mut payload = frame[0].payload.to_vec();
    let d = video::descriptor(&payload).expect("descriptor");
    payload[d.len] |= 0xe0;
    payload[d.len + 1] = 0xff;
    payload[d.len + 2] = 0xff;
    frame[0].payload = payload.into();
}

#[test]
fn a_corrupt_frame_turns_black_then_freezes_until_the_next_keyframe() {
    let mut frames = Publisher::new(W, H).frames(16, &[10]);
    corrupt(&mut frames[3]);
    let config = video_config();
    let ssrc = config.ssrc;
    let r = run(paint(), config, frames.concat());
    let out = decode(&r.out, ssrc);
    // 0–2 painted, 3 black, 4–9 frozen (not sent), 10–15 painted again from the keyframe.
    assert_eq!(out.len(), 3 + 1 + 6);
    for (i, f) in out.iter().enumerate() {
        let expected = if i == 3 { BLACK } else { PAINT };
        assert!(is_colour(&f.picture, expected), "output picture {i}");
    }
    let c = r.counters;
    assert_eq!(
        (c.decode_errors, c.frames_black, c.frames_skipped),
        (1, 1, 6)
    );
    assert!(r.keyframe_requests >= 1 && c.keyframes_requested >= 1);
}

#[test]
fn a_lost_packet_freezes_the_output_and_asks_the_publisher_for_a_keyframe() {
    let mut publisher = Publisher::new(W, H);
    let mut frames = publisher.frames(12, &[0, 8]);
    // Frame 4 loses its first packet; the last packet of frame 1 and the first of frame 2
    // arrive swapped (reordering repairs that).
    frames[4].remove(0);
    let swap = frames[0].len() + frames[1].len() - 1;
    let mut packets = frames.concat();
    packets.swap(swap, swap + 1);
    let mut config = video_config();
    config.reorder_window = 2;
    let ssrc = config.ssrc;
    let r = run(paint(), config, packets);
    let out = decode(&r.out, ssrc);
    // 0–3 sent, 4 lost, 5–7 frozen, 8–11 sent.
    assert_eq!(out.len(), 4 + 4);
    assert!(out.iter().all(|f| is_colour(&f.picture, PAINT)));
    assert!(r.keyframe_requests >= 1);
    assert_eq!(r.counters.frames_skipped, 3);
    assert_eq!(
        r.counters.frames_black, 0,
        "a loss freezes, it does not go black"
    );
}

fn wait_for(handle: &PipelineHandle, what: impl Fn(&PipelineCounters) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !what(&handle.counters()) {
        assert!(
            Instant::now() < deadline,
            "timed out: {:?}",
            handle.counters()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_viewers_keyframe_request_makes_the_next_picture_a_keyframe() {
    let mut publisher = Publisher::new(W, H);
    let config = video_config();
    let ssrc = config.ssrc;
    let (handle, output) = Pipeline::spawn(paint(), config).expect("spawns");
    for p in publisher.frames(10, &[]).concat() {
        handle.push(p);
    }
    wait_for(&handle, |c| c.frames_out == 10);
    assert!(handle.control(Control::ForceKeyframe));
    assert!(handle.control(Control::SetBitrate(300)));
    for p in publisher.frames(10, &[]).concat() {
        handle.push(p);
    }
    let r = finish(handle, output);
    let out = decode(&r.out, ssrc);
    let keys: Vec<_> = (0..out.len()).filter(|&i| out[i].keyframe).collect();
    assert_eq!(
        keys,
        vec![0, 10],
        "the publisher sent one keyframe; we made the second"
    );
    assert_eq!(r.counters.keyframes_forced, 1);
    assert_eq!(
        r.counters.bitrate_kbps, 300,
        "the encoder follows SetBitrate"
    );
}

#[test]
fn a_full_input_queue_drops_rather_than_blocks() {
    let mut publisher = Publisher::new(W, H);
    let (filter, entered, release) = gate();
    let config = PipelineConfig {
        input_capacity: 32,
        ..video_config()
    };
    let (handle, output) = Pipeline::spawn(filter, config).expect("spawns");
    for p in publisher.frame(false) {
        handle.push(p);
    }
    entered
        .recv_timeout(Duration::from_secs(20))
        .expect("the worker is stuck in the filter");
    // Encoded before pushing (encoding is the slow part in a debug build on a busy machine).
    let frames: Vec<Vec<rtp::Packet>> = (0..200).map(|_| publisher.frame(false)).collect();
    // The worker is held inside the filter until `release`: a push that waited for room would
    // never return. Pushing on another thread turns that into a failure rather than a hang.
    let (done_tx, done_rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        let refused: usize = frames
            .into_iter()
            .flatten()
            .map(|p| usize::from(!handle.push(p)))
            .sum();
        let _ = done_tx.send((refused, handle));
    });
    let (refused, handle) = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("push never waits for the worker");
    let c = handle.counters();
    assert!(
        refused > 150 && c.packets_dropped == refused as u64,
        "{c:?}"
    );
    release.send(()).expect("worker alive");
    let r = finish(handle, output);
    assert_eq!(r.counters.packets_dropped, refused as u64);
}

#[test]
fn a_worker_that_falls_behind_skips_to_the_newest_picture() {
    let mut publisher = Publisher::new(W, H);
    let (filter, entered, release) = gate();
    let config = PipelineConfig {
        max_backlog_frames: 2,
        ..video_config()
    };
    let ssrc = config.ssrc;
    let (handle, output) = Pipeline::spawn(filter, config).expect("spawns");
    for p in publisher.frame(false) {
        handle.push(p);
    }
    entered
        .recv_timeout(Duration::from_secs(20))
        .expect("the worker is stuck in the filter");
    for p in publisher.frames(10, &[]).concat() {
        assert!(handle.push(p));
    }
    release.send(()).expect("worker alive");
    let r = finish(handle, output);
    let out = decode(&r.out, ssrc);
    assert_eq!(
        out.len(),
        2,
        "the first picture, then straight to the newest"
    );
    assert!(out.iter().all(|f| is_colour(&f.picture, PAINT)));
    assert_eq!((r.counters.frames_in, r.counters.frames_skipped), (11, 9));
}

#[test]
fn a_resolution_change_by_the_publisher_follows_through() {
    let mut publisher = Publisher::new(W, H);
    let mut packets = publisher.frames(5, &[]).concat();
    publisher.encoder.resize(176, 144).expect("resizes");
    packets.extend(publisher.frames(5, &[]).concat());
    let config = video_config();
    let ssrc = config.ssrc;
    let out = decode(&run(paint(), config, packets).out, ssrc);
    let sizes: Vec<_> = out
        .iter()
        .map(|f| (f.picture.width, f.picture.height))
        .collect();
    assert_eq!(sizes, [[(W, H); 5], [(176, 144); 5]].concat());
    assert!(out[5].keyframe);
    assert!(out.iter().all(|f| is_colour(&f.picture, PAINT)));
}

#[test]
fn the_worker_stops_when_the_input_closes() {
    let (handle, mut output) = Pipeline::spawn(paint(), video_config()).expect("spawns");
    assert!(handle.counters().running);
    let stats = handle.stats.clone();
    drop(handle);
    assert!(output.rtp.blocking_recv().is_none(), "the output ends");
    assert!(output.keyframe_requests.blocking_recv().is_none());
    assert!(!stats.snapshot().running);
}

// ---------------------------------------------------------------------------------------------
// Audio

/// A vowel-like synthetic voice (pulse train through three formants), 48 kHz.
fn voice(samples: usize) -> Vec<f32> {
    let mut state = [[0.0f32; 2]; 3];
    let mut phase = 0.0f32;
    (0..samples)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            phase += 120.0 * (1.0 + 0.05 * (6.0 * t).sin()) / 48_000.0;
            let mut y = if phase >= 1.0 {
                phase -= 1.0;
                1.0
            } else {
                0.0
            };
            for ((fc, bw), st) in [(700.0f32, 80.0f32), (1200.0, 100.0), (2600.0, 150.0)]
                .iter()
                .zip(state.iter_mut())
            {
                let r = (-std::f32::consts::PI * bw / 48_000.0).exp();
                let c = 2.0 * r * (2.0 * std::f32::consts::PI * fc / 48_000.0).cos();
                let v = y + c * st[0] - r * r * st[1];
                st[1] = st[0];
                st[0] = v;
                y = v * (1.0 - r);
            }
            y * 150.0
        })
        .collect()
}

/// RTP for Opus packets of 20 ms, numbered from a wrap-around.
fn opus_rtp(signal: &[f32]) -> Vec<rtp::Packet> {
    let mut enc = OpusEncoder::new(32).expect("encoder");
    signal
        .chunks_exact(FRAME_SAMPLES)
        .enumerate()
        .map(|(i, frame)| rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: 111,
                sequence_number: 65_530u16.wrapping_add(i as u16),
                timestamp: (u32::MAX - 2_000).wrapping_add(i as u32 * 960),
                ssrc: 0x2222,
                ..Default::default()
            },
            payload: enc.encode(frame).expect("encodes").into(),
        })
        .collect()
}

/// Decodes the output, checking it is one 20 ms packet per step; per-frame RMS.
fn decode_audio(out: &[DistortedPacket]) -> Vec<f32> {
    let mut dec = OpusDecoder::new().expect("decoder");
    let mut buf = vec![0.0; MAX_FRAME_SAMPLES];
    let mut levels = Vec::new();
    for (i, p) in out.iter().enumerate() {
        let h = &p.packet().header;
        if i > 0 {
            let prev = &out[i - 1].packet().header;
            assert_eq!(h.sequence_number, prev.sequence_number.wrapping_add(1));
            assert_eq!(
                h.timestamp.wrapping_sub(prev.timestamp),
                960,
                "contiguous 20 ms"
            );
        }
        let n = dec.decode(&p.packet().payload, &mut buf).expect("decodes");
        assert_eq!(n, FRAME_SAMPLES);
        levels.push((buf[..n].iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt());
    }
    levels
}

#[test]
fn the_voice_filter_turns_opus_into_opus_that_decodes_and_conceals_a_loss() {
    let mut packets = opus_rtp(&voice(48_000));
    packets.remove(20);
    let anonymiser = VoiceAnonymiser::new(&[7; 32], VoiceSettings::default()).expect("valid");
    let filter = Filter::Audio(Box::new(VoiceFilter::new(anonymiser)));
    let r = run(filter, PipelineConfig::audio(), packets);
    let levels = decode_audio(&r.out);
    assert_eq!(
        levels.len(),
        50,
        "the lost packet was concealed, not skipped"
    );
    let speaking = levels[5..].iter().filter(|&&l| l > 0.01).count();
    assert!(speaking > 35, "the anonymised voice is audible: {levels:?}");
    let c = r.counters;
    assert_eq!((c.frames_in, c.frames_out, c.decode_errors), (49, 50, 0));
}

/// Passes audio through unchanged, so the test can tell the input from silence.
struct Unchanged;

impl AudioFilter for Unchanged {
    fn apply(&mut self, _: &mut [f32]) {}
}

#[test]
fn undecodable_audio_becomes_silence() {
    let mut packets = opus_rtp(&voice(30 * FRAME_SAMPLES));
    for p in &mut packets[10..20] {
        p.payload = bytes::Bytes::from_static(&[0x03]);
    }
    let r = run(
        Filter::Audio(Box::new(Unchanged)),
        PipelineConfig::audio(),
        packets,
    );
    let levels = decode_audio(&r.out);
    assert_eq!(levels.len(), 30);
    assert!(levels[3..9].iter().all(|&l| l > 0.02), "{levels:?}");
    assert!(levels[12..19].iter().all(|&l| l < 0.002), "{levels:?}");
    assert!(levels[23..].iter().all(|&l| l > 0.02), "{levels:?}");
    assert_eq!(r.counters.decode_errors, 10);
}

#[test]
fn a_panicking_audio_filter_fails_silent() {
    struct Bug;
    impl AudioFilter for Bug {
        fn apply(&mut self, _: &mut [f32]) {
            panic!("audio filter bug");
        }
    }
    let r = run(
        Filter::Audio(Box::new(Bug)),
        PipelineConfig::audio(),
        opus_rtp(&voice(10 * FRAME_SAMPLES)),
    );
    let levels = decode_audio(&r.out);
    assert_eq!(levels.len(), 10);
    assert!(levels.iter().all(|&l| l < 0.002), "{levels:?}");
}
