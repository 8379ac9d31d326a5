//! Causal per-hop analysis at 16 kHz: pre-emphasis, an asymmetric 20 ms window ending at the
//! newest sample, LPC of order 28, the mel-cepstrum of the LPC envelope, the hop's level, an
//! energy-based speech detector and the pitch tracker.

use super::cepstrum::{CEP_DIM, MelAnalysis};
use super::lpc::{ORDER, autocorrelation, levinson};
use super::pitch::{PitchFrame, PitchTracker};
use super::resample::Decimator;

/// Hop at 16 kHz (5 ms).
pub(crate) const HOP: usize = 80;
/// Analysis window at 16 kHz (20 ms).
pub(crate) const WINDOW: usize = 320;
/// Hops over which the output level is measured (20 ms): long enough to span a pitch period,
/// so the output level does not pulse with the witness's F0.
const LEVEL_HOPS: usize = 4;
const PRE_EMPHASIS: f32 = 0.97;

/// What one hop of analysis yields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HopFeatures {
    /// Mel-cepstrum of the envelope, `c[0..=CEP_DIM]`.
    pub cepstrum: [f32; CEP_DIM + 1],
    /// Mean power of the input over the last 20 ms (16 kHz band).
    pub power: f32,
    /// Speech by energy (above the tracked noise floor and an absolute floor).
    pub speech: bool,
    pub pitch: PitchFrame,
}

#[derive(Clone)]
pub(crate) struct Analyser {
    decimator: Decimator,
    /// Pre-emphasised 16 kHz samples, newest last.
    buf: [f32; WINDOW],
    hop: [f32; HOP],
    fill: usize,
    last_raw: f32,
    window: [f32; WINDOW],
    hop_power: [f32; LEVEL_HOPS],
    hop_index: usize,
    floor_db: f32,
    mel: MelAnalysis,
    pitch: PitchTracker,
    lag_window: [f64; ORDER + 1],
}

impl Analyser {
    pub(crate) fn new() -> Self {
        // Asymmetric window: slow half-Hann rise over 17.5 ms, quick quarter-cosine fall over
        // the newest 2.5 ms, so the envelope follows the newest hop with little lag.
        let rise = 280;
        let mut window = [0.0f32; WINDOW];
        for (n, w) in window.iter_mut().enumerate() {
            *w = if n < rise {
                0.5 - 0.5 * (std::f32::consts::PI * (n as f32 + 0.5) / rise as f32).cos()
            } else {
                (std::f32::consts::FRAC_PI_2 * (n - rise) as f32 / (WINDOW - rise) as f32).cos()
            };
        }
        let mut lag_window = [0.0f64; ORDER + 1];
        for (n, l) in lag_window.iter_mut().enumerate() {
            let x = 2.0 * std::f64::consts::PI * 60.0 * n as f64 / 16_000.0;
            *l = (-0.5 * x * x).exp();
        }
        Self {
            decimator: Decimator::new(),
            buf: [0.0; WINDOW],
            hop: [0.0; HOP],
            fill: 0,
            last_raw: 0.0,
            window,
            hop_power: [0.0; LEVEL_HOPS],
            hop_index: 0,
            floor_db: -70.0,
            mel: MelAnalysis::new(),
            pitch: PitchTracker::new(),
            lag_window,
        }
    }

    /// Feeds one 48 kHz sample; when it completes a hop, returns that hop's features.
    #[inline]
    pub(crate) fn push(&mut self, x: f32) -> Option<HopFeatures> {
        let y = self.decimator.push(x)?;
        self.hop[self.fill] = y;
        self.fill += 1;
        if self.fill < HOP {
            return None;
        }
        self.fill = 0;
        Some(self.analyse_hop())
    }

    fn analyse_hop(&mut self) -> HopFeatures {
        let hop = self.hop;
        self.buf.copy_within(HOP.., 0);
        let mut prev = self.last_raw;
        for (dst, &s) in self.buf[WINDOW - HOP..].iter_mut().zip(hop.iter()) {
            *dst = s - PRE_EMPHASIS * prev;
            prev = s;
        }
        self.last_raw = prev;

        let p_hop = hop.iter().map(|v| v * v).sum::<f32>() / HOP as f32;
        self.hop_power[self.hop_index % LEVEL_HOPS] = p_hop;
        self.hop_index = self.hop_index.wrapping_add(1);
        let power = self.hop_power.iter().sum::<f32>() / LEVEL_HOPS as f32;

        // Speech detector: 12 dB over a slowly rising, quickly falling noise floor.
        let level_db = 10.0 * (power + 1e-12).log10();
        if level_db < self.floor_db {
            self.floor_db += 0.3 * (level_db - self.floor_db);
        } else {
            self.floor_db += 0.01;
        }
        self.floor_db = self.floor_db.clamp(-90.0, -20.0);
        let speech = level_db > (self.floor_db + 12.0).max(-60.0);

        let mut windowed = [0.0f32; WINDOW];
        for ((w, b), win) in windowed
            .iter_mut()
            .zip(self.buf.iter())
            .zip(self.window.iter())
        {
            *w = b * win;
        }
        let mut r = [0.0f64; ORDER + 1];
        autocorrelation(&windowed, &mut r);
        for (rn, l) in r.iter_mut().zip(self.lag_window.iter()) {
            *rn *= l;
        }
        r[0] = r[0] * 1.0001 + 1e-10;
        let mut a = [0.0f64; ORDER + 1];
        let mut k = [0.0f64; ORDER + 1];
        let err = levinson(&r, &mut a, &mut k);
        let mut cepstrum = [0.0f32; CEP_DIM + 1];
        self.mel.cepstrum(&a, err, &mut cepstrum);

        let pitch = self.pitch.process(&hop, speech);
        HopFeatures {
            cepstrum,
            power,
            speech,
            pitch,
        }
    }
}
