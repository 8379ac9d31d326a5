//! Synthetic excitation: a Rosenberg glottal pulse train mixed with noise.
//!
//! Each period is generated when it starts (pitch-synchronous), from the Rosenberg glottal-flow
//! derivative, pre-emphasised like the analysis (so the all-pole envelope fitted on
//! pre-emphasised speech sees a roughly flat source) and normalised to unit power. The pulse
//! has the glottal phase of a real source, which sounds less buzzy than a bare impulse.
//! Voiced frames also get a fixed amount of high-tilted noise: a generic aperiodicity that does
//! not follow the witness's.

/// Longest period in samples at 16 kHz (40 Hz).
const MAX_PERIOD: usize = 400;
const PRE_EMPHASIS: f64 = 0.97;

#[derive(Clone)]
pub(crate) struct Excitation {
    rng: u64,
    shape: [f32; MAX_PERIOD],
    len: usize,
    pos: usize,
    frac: f64,
    open: f64,
    close: f64,
    prev_noise: f32,
}

impl Excitation {
    pub(crate) fn new(seed: u64, open: f64, close: f64) -> Self {
        Self {
            rng: seed | 1,
            shape: [0.0; MAX_PERIOD],
            len: 0,
            pos: 0,
            frac: 0.0,
            open,
            close,
            prev_noise: 0.0,
        }
    }

    /// Uniform noise with unit variance (xorshift64*).
    #[inline]
    fn noise(&mut self) -> f32 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let u = (v >> 40) as f32 / (1u64 << 24) as f32;
        (u - 0.5) * 12f32.sqrt()
    }

    fn start_period(&mut self, f0: f64) {
        let t = 16_000.0 / f0.clamp(40.0, 500.0) + self.frac;
        let len = (t.floor() as usize).clamp(32, MAX_PERIOD);
        self.frac = (t - len as f64).clamp(0.0, 1.0);
        self.len = len;
        self.pos = 0;
        let n = len as f64;
        let mut prev = 0.0f64;
        let mut energy = 0.0f64;
        for i in 0..len {
            let phi = (i as f64 + 0.5) / n;
            let g = if phi < self.open {
                (std::f64::consts::PI * phi / self.open).sin() / self.open
            } else if phi < self.open + self.close {
                -(std::f64::consts::FRAC_PI_2 * (phi - self.open) / self.close).sin() / self.close
                    * 2.0
            } else {
                0.0
            };
            let v = g - PRE_EMPHASIS * prev;
            prev = g;
            self.shape[i] = v as f32;
            energy += v * v;
        }
        let scale = if energy > 0.0 {
            (n / energy).sqrt()
        } else {
            0.0
        };
        for s in &mut self.shape[..len] {
            *s *= scale as f32;
        }
    }

    /// Next excitation sample: `pulse` weighs the glottal pulses, `breath` the high-tilted
    /// noise of voiced frames, `noise` the white noise of unvoiced frames.
    #[inline]
    pub(crate) fn next(&mut self, f0: f64, pulse: f32, breath: f32, noise: f32) -> f32 {
        if self.pos >= self.len {
            self.start_period(f0);
        }
        let p = self.shape[self.pos];
        self.pos += 1;
        let n = self.noise();
        let hp = (n - self.prev_noise) * std::f32::consts::FRAC_1_SQRT_2;
        self.prev_noise = n;
        pulse * p + breath * hp + noise * n
    }
}
