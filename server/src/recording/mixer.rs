//! The recording mixer: many Opus streams in, one 48 kHz mono mix out, 20 ms at a time.
//!
//! Sans-IO: [`Mixer::push`] takes one RTP payload of one source with its sequence number;
//! [`Mixer::mix`] produces the next 20 ms of the mix. The recorder's thread calls `mix` on a
//! 20 ms clock; tests and the benchmark call it directly.
//!
//! Per source:
//! - packets are put back in order ([`Reorder`], a window of `jitter_frames` packets); a packet
//!   given up on is concealed by the decoder (at most [`MAX_CONCEALED_FRAMES`] frames), beyond
//!   that the gap is silence;
//! - decoded samples wait in a FIFO; a source starts (and, after running dry, restarts) playing
//!   only once `jitter_frames` frames are buffered, so network jitter up to that much does not
//!   cut holes in the mix; when it runs dry the rest of the frame is silence;
//! - the FIFO is bounded (`max_buffer_frames`): a source whose clock runs fast loses its oldest
//!   samples rather than drifting ever later;
//! - a source silent for [`IDLE_TICKS_FORGET`] frames is forgotten (its decoder freed).
//!
//! A corrupt packet decodes as concealment; nothing a participant sends can stop the mix.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use assize_media::codec::{FRAME_SAMPLES, MAX_FRAME_SAMPLES, OpusDecoder};

use crate::sfu::pipeline::reorder::{Ordered, Reorder};

/// Lost packets concealed by the decoder at most; a longer gap is silence.
pub const MAX_CONCEALED_FRAMES: u16 = 5;
/// Frames (20 ms) without a packet after which a source is forgotten.
pub const IDLE_TICKS_FORGET: u32 = 250;

/// Counters for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MixerCounters {
    pub packets: u64,
    pub corrupt: u64,
    pub lost: u64,
    pub late: u64,
    pub underruns: u64,
    pub overflow_samples: u64,
}

struct Source {
    decoder: OpusDecoder,
    reorder: Reorder<Vec<u8>>,
    fifo: VecDeque<f32>,
    playing: bool,
    idle_ticks: u32,
}

/// Mixes the sources keyed by `K` (the recorder uses publisher and variant).
pub struct Mixer<K> {
    sources: HashMap<K, Source>,
    jitter_frames: usize,
    max_buffer_frames: usize,
    scratch: Vec<f32>,
    ordered: Vec<Ordered<Vec<u8>>>,
    counters: MixerCounters,
}

impl<K> std::fmt::Debug for Mixer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer")
            .field("sources", &self.sources.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Copy> Mixer<K> {
    /// A mixer that tolerates `jitter_frames` × 20 ms of jitter and reordering (at least 1) and
    /// buffers at most `max_buffer_frames` frames per source (at least twice the jitter).
    pub fn new(jitter_frames: usize) -> Self {
        let jitter_frames = jitter_frames.max(1);
        Self {
            sources: HashMap::new(),
            jitter_frames,
            max_buffer_frames: jitter_frames * 2 + 4,
            scratch: vec![0.0; MAX_FRAME_SAMPLES],
            ordered: Vec::new(),
            counters: MixerCounters::default(),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> MixerCounters {
        self.counters
    }

    /// Sources currently known.
    pub fn sources(&self) -> usize {
        self.sources.len()
    }

    /// One RTP payload (an Opus packet) of `source` with its RTP sequence number.
    pub fn push(&mut self, source: K, seq: u16, payload: Vec<u8>) {
        self.counters.packets += 1;
        if !self.sources.contains_key(&source) {
            let Ok(decoder) = OpusDecoder::new() else {
                // libopus could not allocate: this source stays out of the mix.
                return;
            };
            self.sources.insert(
                source,
                Source {
                    decoder,
                    reorder: Reorder::new(self.jitter_frames),
                    fifo: VecDeque::new(),
                    playing: false,
                    idle_ticks: 0,
                },
            );
        }
        let Some(src) = self.sources.get_mut(&source) else {
            return;
        };
        src.idle_ticks = 0;
        let late_before = src.reorder.late();
        let mut ordered = std::mem::take(&mut self.ordered);
        src.reorder.push(seq, payload, &mut ordered);
        self.counters.late += src.reorder.late() - late_before;
        for item in ordered.drain(..) {
            match item {
                Ordered::Packet(p) => match src.decoder.decode(&p, &mut self.scratch) {
                    Ok(n) => src.fifo.extend(&self.scratch[..n]),
                    Err(_) => {
                        self.counters.corrupt += 1;
                        conceal(src, 1, &mut self.scratch);
                    }
                },
                Ordered::Gap(n) => {
                    self.counters.lost += u64::from(n);
                    conceal(src, n, &mut self.scratch);
                }
            }
        }
        self.ordered = ordered;
        let cap = self.max_buffer_frames * FRAME_SAMPLES;
        if src.fifo.len() > cap {
            let excess = src.fifo.len() - cap;
            src.fifo.drain(..excess);
            self.counters.overflow_samples += excess as u64;
        }
    }

    /// The next 20 ms of the mix ([`FRAME_SAMPLES`] samples, clipped to ±1).
    pub fn mix(&mut self, out: &mut [f32; FRAME_SAMPLES]) {
        out.fill(0.0);
        let need = self.jitter_frames * FRAME_SAMPLES;
        for src in self.sources.values_mut() {
            src.idle_ticks = src.idle_ticks.saturating_add(1);
            if !src.playing && src.fifo.len() >= need {
                src.playing = true;
            }
            if !src.playing {
                continue;
            }
            let n = src.fifo.len().min(FRAME_SAMPLES);
            for (o, s) in out.iter_mut().zip(src.fifo.drain(..n)) {
                *o += s;
            }
            if n < FRAME_SAMPLES {
                self.counters.underruns += 1;
                src.playing = false;
            }
        }
        self.sources.retain(|_, s| s.idle_ticks < IDLE_TICKS_FORGET);
        for o in out.iter_mut() {
            *o = o.clamp(-1.0, 1.0);
        }
    }
}

/// Appends concealment for `frames` lost 20 ms frames (silence beyond
/// [`MAX_CONCEALED_FRAMES`], or if the decoder fails).
fn conceal(src: &mut Source, frames: u16, scratch: &mut [f32]) {
    let buf = &mut scratch[..FRAME_SAMPLES];
    for i in 0..frames.min(MAX_CONCEALED_FRAMES * 4) {
        if i < MAX_CONCEALED_FRAMES && src.decoder.conceal(buf).is_ok() {
            src.fifo.extend(buf.iter());
        } else {
            src.fifo.extend(std::iter::repeat_n(0.0, FRAME_SAMPLES));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assize_media::codec::OpusEncoder;

    /// 20 ms Opus packets of a sine tone.
    pub(crate) fn tone_packets(freq: f32, amplitude: f32, frames: usize) -> Vec<Vec<u8>> {
        let mut enc = OpusEncoder::new(32).expect("encoder");
        (0..frames)
            .map(|f| {
                let frame: Vec<f32> = (0..FRAME_SAMPLES)
                    .map(|i| {
                        let t = (f * FRAME_SAMPLES + i) as f32 / 48_000.0;
                        amplitude * (2.0 * std::f32::consts::PI * freq * t).sin()
                    })
                    .collect();
                enc.encode(&frame).expect("encode")
            })
            .collect()
    }

    fn energy(x: &[f32]) -> f32 {
        x.iter().map(|s| s * s).sum::<f32>() / x.len().max(1) as f32
    }

    #[test]
    fn a_source_starts_after_the_jitter_buffer_fills_and_is_heard() {
        let mut m = Mixer::new(3);
        let packets = tone_packets(440.0, 0.5, 20);
        let mut out = [0.0; FRAME_SAMPLES];
        let mut heard = Vec::new();
        for (i, p) in packets.into_iter().enumerate() {
            m.push(1u8, i as u16, p);
            m.mix(&mut out);
            heard.push(energy(&out));
        }
        assert!(heard[..2].iter().all(|&e| e == 0.0), "{heard:?}");
        assert!(heard[10..].iter().all(|&e| e > 0.01), "{heard:?}");
    }

    #[test]
    fn reordered_and_lost_packets_do_not_stop_the_mix_and_garbage_is_survived() {
        let mut m = Mixer::new(3);
        let packets = tone_packets(300.0, 0.5, 40);
        let mut out = [0.0; FRAME_SAMPLES];
        // Swap pairs, drop every 7th, and throw in garbage.
        let mut order: Vec<usize> = (0..40).collect();
        for pair in order.chunks_mut(2) {
            pair.swap(0, 1);
        }
        for i in order {
            if i % 7 == 3 {
                continue;
            }
            m.push(9u8, i as u16, packets[i].clone());
            m.push(8u8, i as u16, vec![0xFF; 3]);
            m.mix(&mut out);
        }
        let c = m.counters();
        assert!(c.lost >= 5, "{c:?}");
        assert!(c.corrupt > 0, "{c:?}");
        assert!(out.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
    }

    #[test]
    fn a_participant_who_stops_mid_hearing_does_not_stall_the_mix_and_is_forgotten() {
        let mut m = Mixer::new(3);
        let judge = tone_packets(440.0, 0.3, 400);
        let witness = tone_packets(1000.0, 0.3, 40);
        let mut out = [0.0; FRAME_SAMPLES];
        let mut after_the_stop = Vec::new();
        for (i, p) in judge.into_iter().enumerate() {
            m.push(1u8, i as u16, p);
            // The witness's connection dies after 40 frames: no packet from them again.
            if let Some(w) = witness.get(i) {
                m.push(2u8, i as u16, w.clone());
            }
            m.mix(&mut out);
            if i >= 50 {
                after_the_stop.push(energy(&out));
            }
        }
        // Every frame after the stop still carries the judge (nothing waits for the witness).
        assert!(
            after_the_stop.iter().all(|&e| e > 0.01),
            "{:?}",
            after_the_stop.iter().filter(|&&e| e <= 0.01).count()
        );
        assert_eq!(after_the_stop.len(), 350);
        // And the silent source is dropped once idle long enough.
        assert_eq!(m.sources(), 1, "the witness's decoder is freed");
    }

    #[test]
    fn two_sources_are_summed() {
        let mut a = Mixer::new(1);
        let mut both = Mixer::new(1);
        let pa = tone_packets(440.0, 0.3, 30);
        let pb = tone_packets(1000.0, 0.3, 30);
        let (mut oa, mut ob) = ([0.0; FRAME_SAMPLES], [0.0; FRAME_SAMPLES]);
        let (mut ea, mut eb) = (0.0, 0.0);
        for i in 0..30 {
            a.push(1u8, i as u16, pa[i].clone());
            both.push(1u8, i as u16, pa[i].clone());
            both.push(2u8, i as u16, pb[i].clone());
            a.mix(&mut oa);
            both.mix(&mut ob);
            if i > 10 {
                ea += energy(&oa);
                eb += energy(&ob);
            }
        }
        assert!(eb > ea * 1.5, "{ea} {eb}");
    }
}
