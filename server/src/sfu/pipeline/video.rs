//! The VP8 stage: RTP packets → frames → decode → filter → encode → RTP packets.
//!
//! Frames are reassembled here rather than with `rtc`'s `Vp8Packet` depacketizer, which
//! refuses valid packets shorter than 4 bytes (a frame's last fragment can be 2) and keeps the
//! optional-field flags of one packet for the next. The RFC 7741 payload descriptor is read by
//! [`descriptor`], a small reader that never panics.

use std::sync::Arc;
use std::time::Instant;

use assize_media::codec::{
    DecodedFrame, Vp8Decoder, Vp8Encoder, fill_black_i420, i420_len, vp8_frame_info,
};
use rtc::rtp;

use super::reorder::{Ordered, Reorder};
use super::{
    Control, Emitted, Inbound, KeyframeRequester, PipelineConfig, RtpOut, Stage, Stats,
    VideoFilter, bump, guarded,
};

/// A reassembled frame larger than this is dropped as hostile (bytes).
const MAX_FRAME_BYTES: usize = 4 << 20;

/// What an RFC 7741 payload descriptor says about its packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Descriptor {
    /// S bit with partition index 0: the packet starts a frame.
    pub starts_frame: bool,
    /// Bytes of descriptor before the VP8 data.
    pub len: usize,
}

/// Reads the VP8 payload descriptor at the start of an RTP payload (RFC 7741 §4.2). `None` if
/// the payload ends inside the descriptor or has no VP8 data after it.
pub(super) fn descriptor(payload: &[u8]) -> Option<Descriptor> {
    let first = *payload.first()?;
    let mut len = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(len)?;
        len += 1;
        if ext & 0x80 != 0 {
            // PictureID: 7 or 15 bits (M flag).
            let pid = *payload.get(len)?;
            len += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            len += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            len += 1; // TID/Y/KEYIDX
        }
    }
    (payload.len() > len).then_some(Descriptor {
        starts_frame: first & 0x10 != 0 && first & 0x07 == 0,
        len,
    })
}

/// A complete VP8 frame.
#[derive(Debug)]
pub(super) struct Frame {
    pub data: Vec<u8>,
    pub timestamp: u32,
    pub keyframe: bool,
    /// When the packet that completed it was queued.
    pub arrived: Instant,
}

/// What reassembly yields.
#[derive(Debug)]
pub(super) enum Assembled {
    Frame(Frame),
    /// Data was lost or unusable: the decoder needs a keyframe.
    Broken,
}

/// Reassembles frames from packets in sequence order.
#[derive(Debug, Default)]
pub(super) struct Assembler {
    current: Option<(u32, Vec<u8>)>,
    /// Timestamp of a frame already reported broken (its remaining packets are dropped
    /// quietly).
    discarding: Option<u32>,
}

impl Assembler {
    pub fn packet(&mut self, inbound: &Inbound, out: &mut Vec<Assembled>) {
        let packet = &inbound.packet;
        if packet.payload.is_empty() {
            return; // Padding only (bandwidth probing).
        }
        let ts = packet.header.timestamp;
        let Some(d) = descriptor(&packet.payload) else {
            self.broken(ts, out);
            return;
        };
        let data = &packet.payload[d.len..];
        if d.starts_frame {
            if self.current.take().is_some() {
                // The previous frame never got its last packet.
                out.push(Assembled::Broken);
            }
            self.discarding = None;
            self.current = Some((ts, data.to_vec()));
        } else {
            match &mut self.current {
                Some((cts, buf)) if *cts == ts => buf.extend_from_slice(data),
                _ => {
                    self.broken(ts, out);
                    return;
                }
            }
        }
        let too_big = self
            .current
            .as_ref()
            .is_some_and(|(_, b)| b.len() > MAX_FRAME_BYTES);
        if too_big {
            self.broken(ts, out);
            return;
        }
        if packet.header.marker
            && let Some((timestamp, data)) = self.current.take()
        {
            let keyframe = vp8_frame_info(&data).is_some_and(|i| i.keyframe);
            out.push(Assembled::Frame(Frame {
                data,
                timestamp,
                keyframe,
                arrived: inbound.arrived,
            }));
        }
    }

    /// Packets went missing.
    pub fn gap(&mut self, out: &mut Vec<Assembled>) {
        self.current = None;
        self.discarding = None;
        out.push(Assembled::Broken);
    }

    fn broken(&mut self, ts: u32, out: &mut Vec<Assembled>) {
        self.current = None;
        if self.discarding != Some(ts) {
            self.discarding = Some(ts);
            out.push(Assembled::Broken);
        }
    }
}

/// Unwraps 32-bit RTP timestamps into increasing encoder timestamps.
#[derive(Debug, Default)]
struct Pts {
    last_ts: Option<u32>,
    last_pts: i64,
}

impl Pts {
    fn next(&mut self, ts: u32) -> i64 {
        let pts = match self.last_ts {
            None => 0,
            Some(last) => {
                // Signed distance: a reordered older timestamp must not move time backwards.
                let step = i64::from(ts.wrapping_sub(last) as i32);
                (self.last_pts + step).max(self.last_pts + 1)
            }
        };
        self.last_ts = Some(ts);
        self.last_pts = pts;
        pts
    }
}

/// A picture that may be sent: filtered, or black. Never a raw decoded picture.
#[derive(Debug)]
struct OutputPicture {
    width: u32,
    height: u32,
    i420: Vec<u8>,
}

pub(super) struct VideoStage {
    reorder: Reorder<Inbound>,
    assembler: Assembler,
    decoder: Vp8Decoder,
    encoder: Option<Vp8Encoder>,
    filter: Box<dyn VideoFilter>,
    /// The filter panicked once: it is not trusted again (everything is black from then on).
    filter_poisoned: bool,
    need_keyframe: bool,
    force_keyframe: bool,
    bitrate_kbps: u32,
    config: PipelineConfig,
    /// The last picture sent (filtered or black), re-encoded when a viewer asks for a
    /// keyframe while the input is frozen.
    last_output: Option<OutputPicture>,
    pts: Pts,
    rtp: RtpOut,
    requester: KeyframeRequester,
    stats: Arc<Stats>,
}

impl VideoStage {
    pub fn new(
        filter: Box<dyn VideoFilter>,
        config: &PipelineConfig,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Self> {
        let mut payloader = rtp::codec::vp8::Vp8Payloader::default();
        payloader.enable_picture_id = true;
        stats.record_bitrate(config.clamp_bitrate(config.bitrate_kbps));
        Ok(Self {
            reorder: Reorder::new(config.reorder_window),
            assembler: Assembler::default(),
            decoder: Vp8Decoder::with_max_side(config.max_side)?,
            encoder: None,
            filter,
            filter_poisoned: false,
            need_keyframe: true,
            force_keyframe: false,
            bitrate_kbps: config.clamp_bitrate(config.bitrate_kbps),
            config: config.clone(),
            last_output: None,
            pts: Pts::default(),
            rtp: RtpOut::new(config, Box::new(payloader), true),
            requester: KeyframeRequester::new(config.keyframe_request_interval),
            stats,
        })
    }

    fn order(&mut self, batch: Vec<Inbound>, frames: &mut Vec<Assembled>) {
        let mut ordered = Vec::new();
        for inbound in batch {
            let seq = inbound.packet.header.sequence_number;
            self.reorder.push(seq, inbound, &mut ordered);
        }
        self.assemble(ordered, frames);
    }

    fn assemble(&mut self, ordered: Vec<Ordered<Inbound>>, frames: &mut Vec<Assembled>) {
        for o in ordered {
            match o {
                Ordered::Packet(p) => self.assembler.packet(&p, frames),
                Ordered::Gap(_) => self.assembler.gap(frames),
            }
        }
        self.stats
            .packets_late
            .store(self.reorder.late(), std::sync::atomic::Ordering::Relaxed);
    }

    fn handle(&mut self, frames: Vec<Assembled>, out: &mut Emitted) {
        let total = frames
            .iter()
            .filter(|f| matches!(f, Assembled::Frame(_)))
            .count();
        let mut seen = 0;
        for item in frames {
            match item {
                Assembled::Broken => {
                    self.need_keyframe = true;
                    self.requester.request(&self.stats, out);
                }
                Assembled::Frame(frame) => {
                    seen += 1;
                    // Behind by more than the backlog allows: decode (to keep the reference
                    // pictures) but filter and encode only the newest.
                    let newest = seen == total;
                    let encode = newest || total <= self.config.max_backlog_frames;
                    self.frame(frame, encode, out);
                }
            }
        }
    }

    fn frame(&mut self, frame: Frame, encode: bool, out: &mut Emitted) {
        bump(&self.stats.frames_in);
        let started = Instant::now();
        if self.need_keyframe && !frame.keyframe {
            // Frozen until the publisher's next keyframe.
            bump(&self.stats.frames_skipped);
            self.requester.request(&self.stats, out);
            if self.force_keyframe {
                self.resend_last(frame.timestamp, frame.arrived, out);
            }
            return;
        }
        match self.decoder.decode(&frame.data) {
            Err(e) => {
                tracing::debug!(error = %e, "witness video frame not decodable: sending black");
                bump(&self.stats.decode_errors);
                self.need_keyframe = true;
                self.requester.request(&self.stats, out);
                let (width, height) = self.current_size();
                let mut i420 = vec![0; i420_len(width, height)];
                fill_black_i420(width, height, &mut i420);
                bump(&self.stats.frames_black);
                let picture = OutputPicture {
                    width,
                    height,
                    i420,
                };
                self.encode(picture, frame.timestamp, frame.arrived, out);
            }
            Ok(None) => {}
            Ok(Some(decoded)) => {
                self.need_keyframe = false;
                if !encode {
                    bump(&self.stats.frames_skipped);
                    return;
                }
                let picture = self.filtered(decoded);
                self.encode(picture, frame.timestamp, frame.arrived, out);
                self.stats.record_processing(started);
            }
        }
    }

    /// Runs the filter; black on error or panic. The decoded picture is consumed either way.
    fn filtered(&mut self, decoded: DecodedFrame) -> OutputPicture {
        let DecodedFrame {
            width,
            height,
            mut i420,
        } = decoded;
        let result = if self.filter_poisoned {
            Err("the filter panicked earlier".to_string())
        } else {
            let filter = &mut self.filter;
            let buf = &mut i420;
            match guarded(move || filter.apply(width, height, buf)) {
                Ok(r) => r,
                Err(panic) => {
                    self.filter_poisoned = true;
                    tracing::error!(%panic, "the video filter panicked: sending black from now on");
                    Err(panic)
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "video filter failed: sending black");
            bump(&self.stats.filter_errors);
            bump(&self.stats.frames_black);
            fill_black_i420(width, height, &mut i420);
        }
        OutputPicture {
            width,
            height,
            i420,
        }
    }

    /// The size black pictures are sent at: the last picture's, or the configured fallback.
    fn current_size(&self) -> (u32, u32) {
        self.last_output
            .as_ref()
            .map(|p| (p.width, p.height))
            .or_else(|| self.encoder.as_ref().map(Vp8Encoder::dimensions))
            .unwrap_or(self.config.fallback_size)
    }

    /// A viewer wants a keyframe while the input is frozen: encode the last picture sent
    /// again (or a black one if nothing was sent yet).
    fn resend_last(&mut self, timestamp: u32, arrived: Instant, out: &mut Emitted) {
        let picture = match self.last_output.take() {
            Some(p) => p,
            None => {
                let (width, height) = self.config.fallback_size;
                let mut i420 = vec![0; i420_len(width, height)];
                fill_black_i420(width, height, &mut i420);
                bump(&self.stats.frames_black);
                OutputPicture {
                    width,
                    height,
                    i420,
                }
            }
        };
        self.encode(picture, timestamp, arrived, out);
    }

    fn encode(
        &mut self,
        picture: OutputPicture,
        timestamp: u32,
        arrived: Instant,
        out: &mut Emitted,
    ) {
        let (width, height) = (picture.width, picture.height);
        let encoder = match &mut self.encoder {
            Some(enc) => enc.resize(width, height).map(|()| enc),
            None => Vp8Encoder::new(width, height, self.bitrate_kbps)
                .map(|enc| self.encoder.insert(enc)),
        };
        let encoder = match encoder {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "witness video encoder unavailable");
                bump(&self.stats.encode_errors);
                return;
            }
        };
        let force = std::mem::take(&mut self.force_keyframe);
        let pts = self.pts.next(timestamp);
        match encoder.encode(&picture.i420, pts, force) {
            Ok(frames) => {
                for f in frames {
                    if force && f.keyframe {
                        bump(&self.stats.keyframes_forced);
                    }
                    self.rtp.send(&f.data, timestamp, &mut out.packets);
                }
                bump(&self.stats.frames_out);
                out.newest_arrival = Some(arrived);
            }
            Err(e) => {
                tracing::warn!(error = %e, "witness video frame not encoded");
                bump(&self.stats.encode_errors);
                self.force_keyframe |= force;
            }
        }
        self.last_output = Some(picture);
    }
}

impl Stage for VideoStage {
    fn control(&mut self, control: Control) {
        match control {
            Control::ForceKeyframe => self.force_keyframe = true,
            Control::SetBitrate(kbps) => {
                self.bitrate_kbps = self.config.clamp_bitrate(kbps);
                self.stats.record_bitrate(self.bitrate_kbps);
                if let Some(enc) = &mut self.encoder
                    && let Err(e) = enc.set_bitrate(self.bitrate_kbps)
                {
                    tracing::warn!(error = %e, "witness video bitrate not changed");
                }
            }
        }
    }

    fn process(&mut self, batch: Vec<Inbound>, out: &mut Emitted) {
        let mut frames = Vec::new();
        self.order(batch, &mut frames);
        self.handle(frames, out);
    }

    fn finish(&mut self, out: &mut Emitted) {
        let mut ordered = Vec::new();
        self.reorder.flush(&mut ordered);
        let mut frames = Vec::new();
        self.assemble(ordered, &mut frames);
        self.handle(frames, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_of_every_shape_are_read() {
        // Minimal: S=1, PID=0.
        assert_eq!(
            descriptor(&[0x10, 0xaa]),
            Some(Descriptor {
                starts_frame: true,
                len: 1
            })
        );
        // X, I with a 15-bit picture id, L, T/K.
        assert_eq!(
            descriptor(&[0x90, 0xf0, 0x81, 0x23, 0x07, 0x40, 0xaa]),
            Some(Descriptor {
                starts_frame: true,
                len: 6
            })
        );
        // X, I with a 7-bit picture id, continuation.
        assert_eq!(
            descriptor(&[0x80, 0x80, 0x05, 0xaa, 0xbb]),
            Some(Descriptor {
                starts_frame: false,
                len: 3
            })
        );
        // S set but partition 1: not a frame start.
        assert_eq!(
            descriptor(&[0x11, 0xaa]).map(|d| d.starts_frame),
            Some(false)
        );
    }

    #[test]
    fn short_or_empty_descriptors_are_refused_without_panicking() {
        for bad in [
            &[][..],
            &[0x10],
            &[0x90],
            &[0x90, 0x80],
            &[0x90, 0x80, 0x81],
            &[0x90, 0x80, 0x81, 0x00],
            &[0x90, 0xf0, 0x81, 0x23, 0x07, 0x40],
        ] {
            assert_eq!(descriptor(bad), None, "{bad:?}");
        }
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = descriptor(&[a, b, 0x81]);
            }
        }
    }

    #[test]
    fn timestamps_unwrap_and_never_go_back() {
        let mut pts = Pts::default();
        assert_eq!(pts.next(u32::MAX - 1499), 0);
        assert_eq!(pts.next(1500), 3000);
        assert_eq!(pts.next(0), 3001, "an older timestamp still moves forward");
        assert_eq!(pts.next(4500), 7501);
    }
}
