//! The Opus stage: RTP packets → decode (with concealment of losses) → filter → 20 ms frames
//! → encode → RTP packets.
//!
//! Each RTP packet carries one Opus packet (RFC 7587); its timestamp counts 48 kHz samples.
//! Decoded samples go through the filter and into a FIFO that is cut into 20 ms frames for the
//! encoder, so any input packet duration works. A timestamp gap of up to
//! [`MAX_CONCEALED_SAMPLES`] is filled by concealment (the last lost packet from the next one's
//! in-band FEC); a longer gap, or a jump back, restarts the timeline there.

use std::sync::Arc;
use std::time::Instant;

use assize_media::codec::{FRAME_SAMPLES, MAX_FRAME_SAMPLES, OpusDecoder, OpusEncoder};
use rtc::rtp;

use super::reorder::{Ordered, Reorder};
use super::{
    AudioFilter, Control, Emitted, Inbound, PipelineConfig, RtpOut, Stage, Stats, bump, guarded,
};

/// Longest gap filled by concealment (200 ms); beyond it the stream restarts at the new packet.
const MAX_CONCEALED_SAMPLES: u32 = 9_600;

pub(super) struct AudioStage {
    reorder: Reorder<Inbound>,
    decoder: OpusDecoder,
    encoder: OpusEncoder,
    filter: Box<dyn AudioFilter>,
    filter_poisoned: bool,
    config: PipelineConfig,
    /// Filtered samples not yet encoded.
    fifo: Vec<f32>,
    /// Input timestamp of `fifo[0]`.
    fifo_ts: u32,
    /// Input timestamp expected next (after the last decoded packet).
    next_ts: Option<u32>,
    scratch: Vec<f32>,
    rtp: RtpOut,
    stats: Arc<Stats>,
}

impl AudioStage {
    pub fn new(
        filter: Box<dyn AudioFilter>,
        config: &PipelineConfig,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Self> {
        stats.record_bitrate(config.clamp_bitrate(config.bitrate_kbps));
        Ok(Self {
            reorder: Reorder::new(config.reorder_window),
            decoder: OpusDecoder::new()?,
            encoder: OpusEncoder::new(config.clamp_bitrate(config.bitrate_kbps))?,
            filter,
            filter_poisoned: false,
            config: config.clone(),
            fifo: Vec::with_capacity(4 * MAX_FRAME_SAMPLES),
            fifo_ts: 0,
            next_ts: None,
            scratch: vec![0.0; MAX_FRAME_SAMPLES],
            rtp: RtpOut::new(config, Box::new(rtp::codec::opus::OpusPayloader), false),
            stats,
        })
    }

    fn packet(&mut self, inbound: &Inbound, out: &mut Emitted) {
        let payload = &inbound.packet.payload;
        if payload.is_empty() {
            return; // Padding only.
        }
        bump(&self.stats.frames_in);
        let started = Instant::now();
        let ts = inbound.packet.header.timestamp;
        match self.next_ts {
            None => self.fifo_ts = ts,
            Some(expected) => {
                let gap = ts.wrapping_sub(expected);
                if gap == 0 {
                } else if gap <= MAX_CONCEALED_SAMPLES {
                    self.conceal(gap as usize, payload);
                } else {
                    // Silence suppression, a pause, or a jump back: start the timeline again.
                    self.restart(ts, out);
                }
            }
        }
        let n = match self.decoder.decode(payload, &mut self.scratch) {
            Ok(n) => {
                self.filter_into_fifo(n);
                n
            }
            Err(e) => {
                tracing::debug!(error = %e, "witness audio packet not decodable: silence");
                bump(&self.stats.decode_errors);
                bump(&self.stats.frames_black);
                let n = self.decoder.last_packet_samples();
                self.fifo.extend(std::iter::repeat_n(0.0, n));
                n
            }
        };
        self.next_ts = Some(ts.wrapping_add(n as u32));
        if self.drain(out) {
            out.newest_arrival = Some(inbound.arrived);
        }
        self.stats.record_processing(started);
    }

    /// Fills `gap` lost samples: concealment, then FEC from `next` for the last lost packet.
    fn conceal(&mut self, gap: usize, next: &[u8]) {
        let fec = self.decoder.last_packet_samples().min(gap);
        let mut plc = vec![0.0; gap - fec];
        if let Err(e) = self.decoder.conceal(&mut plc) {
            tracing::debug!(error = %e, "concealment failed: silence");
            plc.fill(0.0);
        }
        let mut recovered = vec![0.0; fec];
        if self.decoder.recover(next, &mut recovered).is_err()
            && self.decoder.conceal(&mut recovered).is_err()
        {
            recovered.fill(0.0);
        }
        plc.extend_from_slice(&recovered);
        self.apply_filter(&mut plc);
        self.fifo.extend_from_slice(&plc);
    }

    /// Runs the filter on `scratch[..n]` and queues the result.
    fn filter_into_fifo(&mut self, n: usize) {
        let mut samples = std::mem::take(&mut self.scratch);
        self.apply_filter(&mut samples[..n]);
        self.fifo.extend_from_slice(&samples[..n]);
        self.scratch = samples;
    }

    /// The filter, failing closed: a panic silences this run and every later one.
    fn apply_filter(&mut self, samples: &mut [f32]) {
        if !self.filter_poisoned {
            let filter = &mut self.filter;
            let buf = &mut *samples;
            if let Err(panic) = guarded(move || filter.apply(buf)) {
                self.filter_poisoned = true;
                tracing::error!(%panic, "the audio filter panicked: silence from now on");
            } else {
                return;
            }
        }
        bump(&self.stats.filter_errors);
        samples.fill(0.0);
    }

    /// Pads the FIFO to a whole frame with silence, sends it, and starts again at `ts`.
    fn restart(&mut self, ts: u32, out: &mut Emitted) {
        let partial = self.fifo.len() % FRAME_SAMPLES;
        if partial != 0 {
            self.fifo
                .extend(std::iter::repeat_n(0.0, FRAME_SAMPLES - partial));
        }
        self.drain(out);
        self.fifo.clear();
        self.fifo_ts = ts;
    }

    /// Encodes and sends every whole 20 ms frame queued; whether any was sent.
    fn drain(&mut self, out: &mut Emitted) -> bool {
        let mut sent = false;
        let mut start = 0;
        while self.fifo.len() - start >= FRAME_SAMPLES {
            let frame = &self.fifo[start..start + FRAME_SAMPLES];
            match self.encoder.encode(frame) {
                Ok(packet) => {
                    self.rtp.send(&packet, self.fifo_ts, &mut out.packets);
                    bump(&self.stats.frames_out);
                    sent = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "witness audio frame not encoded");
                    bump(&self.stats.encode_errors);
                }
            }
            self.fifo_ts = self.fifo_ts.wrapping_add(FRAME_SAMPLES as u32);
            start += FRAME_SAMPLES;
        }
        self.fifo.drain(..start);
        sent
    }

    fn ordered(&mut self, ordered: Vec<Ordered<Inbound>>, out: &mut Emitted) {
        for o in ordered {
            // Gaps show in the timestamps; concealment works from those.
            if let Ordered::Packet(p) = o {
                self.packet(&p, out);
            }
        }
        self.stats
            .packets_late
            .store(self.reorder.late(), std::sync::atomic::Ordering::Relaxed);
    }
}

impl Stage for AudioStage {
    fn control(&mut self, control: Control) {
        match control {
            Control::ForceKeyframe => {}
            Control::SetBitrate(kbps) => {
                let kbps = self.config.clamp_bitrate(kbps);
                match self.encoder.set_bitrate(kbps) {
                    Ok(()) => self.stats.record_bitrate(kbps),
                    Err(e) => tracing::warn!(error = %e, "witness audio bitrate not changed"),
                }
            }
        }
    }

    fn process(&mut self, batch: Vec<Inbound>, out: &mut Emitted) {
        let mut ordered = Vec::new();
        for inbound in batch {
            let seq = inbound.packet.header.sequence_number;
            self.reorder.push(seq, inbound, &mut ordered);
        }
        self.ordered(ordered, out);
    }

    fn finish(&mut self, out: &mut Emitted) {
        let mut ordered = Vec::new();
        self.reorder.flush(&mut ordered);
        self.ordered(ordered, out);
    }
}
