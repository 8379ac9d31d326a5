//! Rate conversion between the 48 kHz transport rate and the 16 kHz analysis/resynthesis rate.
//!
//! Both converters use the same linear-phase windowed-sinc low-pass (97 taps at 48 kHz, cut-off
//! 7.2 kHz, Blackman window, ≈ 74 dB stop band). Being linear-phase, each adds a fixed delay of
//! [`FIR_DELAY_48K`] samples at 48 kHz, which the anonymiser counts in its latency budget.
//! All state lives in fixed-size arrays: no allocation per sample or per frame.

use super::dsp::dot;

/// Number of taps of the shared low-pass (odd, so the delay is a whole number of samples).
const TAPS: usize = 97;
/// Group delay of one converter, in 48 kHz samples.
const FIR_DELAY_48K: usize = (TAPS - 1) / 2;
/// Delay of decimator + interpolator in series when the interpolator's three outputs are
/// queued as soon as the decimator emits: two filter delays, less the two samples by which the
/// decimator's output instant (every third input) runs ahead of the queue position.
pub(crate) const ROUND_TRIP_DELAY_48K: usize = 2 * FIR_DELAY_48K - 2;
/// Number of 16 kHz samples the interpolator needs to remember.
const POLY: usize = TAPS.div_ceil(3);

/// The shared low-pass, normalised to unit DC gain.
fn lowpass() -> [f32; TAPS] {
    let fc = 7200.0 / 48_000.0;
    let mut h = [0.0f32; TAPS];
    let mid = (TAPS - 1) as f64 / 2.0;
    let mut sum = 0.0f64;
    let mut tmp = [0.0f64; TAPS];
    for (n, t) in tmp.iter_mut().enumerate() {
        let x = n as f64 - mid;
        let sinc = if x == 0.0 {
            2.0 * fc
        } else {
            (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
        };
        let w = 2.0 * std::f64::consts::PI * n as f64 / (TAPS - 1) as f64;
        let blackman = 0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos();
        *t = sinc * blackman;
        sum += *t;
    }
    for (hn, t) in h.iter_mut().zip(tmp.iter()) {
        *hn = (*t / sum) as f32;
    }
    h
}

/// 48 kHz → 16 kHz: low-pass, keep every third sample.
#[derive(Clone)]
pub(crate) struct Decimator {
    h: [f32; TAPS],
    /// Doubled ring buffer so the last `TAPS` samples are always one contiguous slice.
    ring: [f32; 2 * TAPS],
    pos: usize,
    phase: u8,
}

impl Decimator {
    pub(crate) fn new() -> Self {
        Self {
            h: lowpass(),
            ring: [0.0; 2 * TAPS],
            pos: 0,
            phase: 0,
        }
    }

    /// Feeds one 48 kHz sample; returns a 16 kHz sample on every third call.
    #[inline]
    pub(crate) fn push(&mut self, x: f32) -> Option<f32> {
        self.ring[self.pos] = x;
        self.ring[self.pos + TAPS] = x;
        self.pos += 1;
        if self.pos == TAPS {
            self.pos = 0;
        }
        self.phase += 1;
        if self.phase < 3 {
            return None;
        }
        self.phase = 0;
        // Oldest sample at `pos`, newest at `pos + TAPS - 1`; the filter is symmetric.
        Some(dot(&self.ring[self.pos..self.pos + TAPS], &self.h))
    }
}

/// 16 kHz → 48 kHz: zero-stuff by three and low-pass (polyphase form).
#[derive(Clone)]
pub(crate) struct Interpolator {
    /// Polyphase branches, time-reversed so they line up with the ring (oldest first):
    /// `phases[p][POLY - 1 - j] = 3 * h[p + 3j]` (zero-padded).
    phases: [[f32; POLY]; 3],
    ring: [f32; 2 * POLY],
    pos: usize,
}

impl Interpolator {
    pub(crate) fn new() -> Self {
        let h = lowpass();
        let mut phases = [[0.0f32; POLY]; 3];
        for (p, branch) in phases.iter_mut().enumerate() {
            for (j, c) in branch.iter_mut().enumerate() {
                let k = p + 3 * j;
                if k < TAPS {
                    *c = 3.0 * h[k];
                }
            }
            branch.reverse();
        }
        Self {
            phases,
            ring: [0.0; 2 * POLY],
            pos: 0,
        }
    }

    /// Feeds one 16 kHz sample and writes the three 48 kHz samples it yields.
    #[inline]
    pub(crate) fn push(&mut self, x: f32, out: &mut [f32; 3]) {
        self.ring[self.pos] = x;
        self.ring[self.pos + POLY] = x;
        self.pos += 1;
        if self.pos == POLY {
            self.pos = 0;
        }
        // Oldest sample at `pos`, newest at `pos + POLY - 1`.
        let recent = &self.ring[self.pos..self.pos + POLY];
        for (o, branch) in out.iter_mut().zip(self.phases.iter()) {
            *o = dot(branch, recent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_a_tone_keeps_level_and_has_the_advertised_delay() {
        let mut d = Decimator::new();
        let mut u = Interpolator::new();
        let f = 440.0f32;
        let n = 4800;
        let input: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * f * i as f32 / 48_000.0).sin())
            .collect();
        let mut output = Vec::with_capacity(n);
        let mut three = [0.0f32; 3];
        for &x in &input {
            if let Some(y) = d.push(x) {
                u.push(y, &mut three);
                output.extend_from_slice(&three);
            }
        }
        let delay = ROUND_TRIP_DELAY_48K;
        let mut err = 0.0f32;
        let mut pow = 0.0f32;
        for i in 1000..n - 200 {
            err += (output[i] - input[i - delay]).powi(2);
            pow += input[i - delay].powi(2);
        }
        assert!(err / pow < 1e-3, "relative error {}", err / pow);
    }
}
