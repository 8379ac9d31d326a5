//! The mel-cepstral envelope domain: LPC envelope → mel-cepstrum (analysis), and mel-cepstrum →
//! warped linear-frequency log spectrum → autocorrelation (resynthesis).
//!
//! The envelope is sampled at [`MEL_POINTS`] mel-spaced frequencies between 60 Hz and 7.8 kHz,
//! taken as a log power spectrum and turned into a cepstrum with an orthonormal DCT-II. Only the
//! first [`CEP_DIM`] coefficients after `c0` are ever kept: this is the smoothing that drops
//! the fine spectral detail that carries much of a speaker's identity.

use super::dsp::dot64;
use super::lpc::ORDER;

/// Number of mel-spaced envelope samples.
pub(crate) const MEL_POINTS: usize = 40;
/// Cepstral coefficients after `c0` that are analysed, normalised and resynthesised.
pub const CEP_DIM: usize = 16;
/// Linear-frequency bins of the resynthesis spectrum (0 to 8 kHz inclusive).
pub(crate) const LIN_BINS: usize = 257;
const MEL_LO_HZ: f64 = 60.0;
const MEL_HI_HZ: f64 = 7800.0;
const FS: f64 = 16_000.0;

fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// Fixed tables for analysis: `A(e^{jω})` at the mel points and the DCT.
#[derive(Clone)]
pub(crate) struct MelAnalysis {
    cos_tab: Vec<[f64; ORDER + 1]>,
    sin_tab: Vec<[f64; ORDER + 1]>,
    dct: Vec<[f64; MEL_POINTS]>,
}

impl MelAnalysis {
    pub(crate) fn new() -> Self {
        let lo = hz_to_mel(MEL_LO_HZ);
        let hi = hz_to_mel(MEL_HI_HZ);
        let mut cos_tab = Vec::with_capacity(MEL_POINTS);
        let mut sin_tab = Vec::with_capacity(MEL_POINTS);
        for k in 0..MEL_POINTS {
            let f = mel_to_hz(lo + (hi - lo) * k as f64 / (MEL_POINTS - 1) as f64);
            let w = 2.0 * std::f64::consts::PI * f / FS;
            let mut c = [0.0; ORDER + 1];
            let mut s = [0.0; ORDER + 1];
            for i in 0..=ORDER {
                c[i] = (w * i as f64).cos();
                s[i] = (w * i as f64).sin();
            }
            cos_tab.push(c);
            sin_tab.push(s);
        }
        Self {
            cos_tab,
            sin_tab,
            dct: dct_table(),
        }
    }

    /// Mel-cepstrum `c[0..=CEP_DIM]` of the all-pole envelope `err / |A|²`.
    pub(crate) fn cepstrum(&self, a: &[f64; ORDER + 1], err: f64, out: &mut [f32; CEP_DIM + 1]) {
        let mut logs = [0.0f64; MEL_POINTS];
        let log_err = err.max(1e-12).ln();
        for (k, l) in logs.iter_mut().enumerate() {
            let (mut re, mut im) = (0.0, 0.0);
            for i in 0..=ORDER {
                re += a[i] * self.cos_tab[k][i];
                im -= a[i] * self.sin_tab[k][i];
            }
            *l = log_err - (re * re + im * im).max(1e-12).ln();
        }
        for (m, o) in out.iter_mut().enumerate() {
            let v: f64 = self.dct[m]
                .iter()
                .zip(logs.iter())
                .map(|(d, l)| d * l)
                .sum();
            *o = v as f32;
        }
    }
}

fn dct_table() -> Vec<[f64; MEL_POINTS]> {
    let n = MEL_POINTS as f64;
    (0..=CEP_DIM)
        .map(|m| {
            let s = if m == 0 {
                (1.0 / n).sqrt()
            } else {
                (2.0 / n).sqrt()
            };
            let mut row = [0.0; MEL_POINTS];
            for (k, r) in row.iter_mut().enumerate() {
                *r = s * (std::f64::consts::PI * m as f64 * (k as f64 + 0.5) / n).cos();
            }
            row
        })
        .collect()
}

/// Resynthesis tables for one vocal-tract-length warp factor.
#[derive(Clone)]
pub(crate) struct Resynthesis {
    dct: Vec<[f64; MEL_POINTS]>,
    /// Per linear bin: mel-grid index and interpolation weight, after the warp.
    map: Vec<(usize, f64)>,
    /// Per linear bin: weight of the generic high band (0 below 3.5 kHz, 1 above 4.5 kHz).
    high: Vec<f64>,
    /// `cos_lin[n][b]`: trapezoid-weighted cosines turning a power spectrum into `r[n]`.
    cos_lin: Vec<[f64; LIN_BINS]>,
    /// Generic (population) log spectrum on the linear grid, unwarped.
    reference: [f64; LIN_BINS],
    ref_high_mean: f64,
    /// Per linear bin: power gain of the de-emphasis filter `1 / (1 − 0.97 z⁻¹)`.
    deemph: [f64; LIN_BINS],
}

impl Resynthesis {
    /// `warp > 1` moves formants up (a shorter vocal tract); `reference` is the population
    /// mean cepstrum used for the generic high band.
    pub(crate) fn new(warp: f64, reference: &[f32; CEP_DIM + 1]) -> Self {
        let lo = hz_to_mel(MEL_LO_HZ);
        let hi = hz_to_mel(MEL_HI_HZ);
        let pos_of = |f: f64| -> (usize, f64) {
            let p = ((hz_to_mel(f.max(0.0)) - lo) / (hi - lo) * (MEL_POINTS - 1) as f64)
                .clamp(0.0, (MEL_POINTS - 1) as f64);
            let i = (p.floor() as usize).min(MEL_POINTS - 2);
            (i, p - i as f64)
        };
        let mut map = Vec::with_capacity(LIN_BINS);
        let mut plain = Vec::with_capacity(LIN_BINS);
        let mut high = Vec::with_capacity(LIN_BINS);
        for b in 0..LIN_BINS {
            let f = b as f64 * (FS / 2.0) / (LIN_BINS - 1) as f64;
            map.push(pos_of(f / warp));
            plain.push(pos_of(f));
            high.push(((f - 3500.0) / 1000.0).clamp(0.0, 1.0));
        }
        let cos_lin = (0..=ORDER)
            .map(|n| {
                let mut row = [0.0; LIN_BINS];
                for (b, r) in row.iter_mut().enumerate() {
                    let w = if b == 0 || b == LIN_BINS - 1 {
                        0.5
                    } else {
                        1.0
                    };
                    *r = w
                        * (std::f64::consts::PI * b as f64 * n as f64 / (LIN_BINS - 1) as f64)
                            .cos();
                }
                row
            })
            .collect();
        let dct = dct_table();
        let mut ref_mel = [0.0f64; MEL_POINTS];
        mel_log_spectrum(&dct, reference, &[1.0; CEP_DIM + 1], &mut ref_mel);
        let mut reference_lin = [0.0f64; LIN_BINS];
        let mut acc = 0.0;
        let mut wsum = 0.0;
        for b in 0..LIN_BINS {
            let (i, t) = plain[b];
            reference_lin[b] = ref_mel[i] * (1.0 - t) + ref_mel[i + 1] * t;
            acc += high[b] * reference_lin[b];
            wsum += high[b];
        }
        let mut deemph = [0.0f64; LIN_BINS];
        for (b, d) in deemph.iter_mut().enumerate() {
            let w = std::f64::consts::PI * b as f64 / (LIN_BINS - 1) as f64;
            *d = 1.0 / (1.0 - 2.0 * 0.97 * w.cos() + 0.97 * 0.97);
        }
        Self {
            deemph,
            dct,
            map,
            high,
            cos_lin,
            reference: reference_lin,
            ref_high_mean: acc / wsum.max(1e-9),
        }
    }

    /// Turns a (normalised) mel-cepstrum into the autocorrelation `r[0..=ORDER]` of the warped
    /// envelope, with the band above ≈ 4 kHz replaced by the generic reference shape at the
    /// frame's own high-band level. `lifter` weights each coefficient (smoothing).
    pub(crate) fn autocorrelation(
        &self,
        cep: &[f32; CEP_DIM + 1],
        lifter: &[f64; CEP_DIM + 1],
        r: &mut [f64; ORDER + 1],
    ) -> f64 {
        let mut mel = [0.0f64; MEL_POINTS];
        mel_log_spectrum(&self.dct, cep, lifter, &mut mel);
        let mut lin = [0.0f64; LIN_BINS];
        let mut acc = 0.0;
        let mut wsum = 0.0;
        for b in 0..LIN_BINS {
            let (i, t) = self.map[b];
            lin[b] = mel[i] * (1.0 - t) + mel[i + 1] * t;
            acc += self.high[b] * lin[b];
            wsum += self.high[b];
        }
        let offset = acc / wsum.max(1e-9) - self.ref_high_mean;
        let mut peak = f64::NEG_INFINITY;
        for b in 0..LIN_BINS {
            let h = self.high[b];
            lin[b] = (1.0 - h) * lin[b] + h * (self.reference[b] + offset);
            peak = peak.max(lin[b]);
        }
        // Power spectrum, scaled so the peak is 1 (the level is restored later by the gain
        // control), which keeps the numbers tame.
        let mut pow = [0.0f64; LIN_BINS];
        let mut deemph_power = 0.0;
        for ((p, l), (c, d)) in pow
            .iter_mut()
            .zip(lin.iter())
            .zip(self.cos_lin[0].iter().zip(self.deemph.iter()))
        {
            *p = (l - peak).max(-60.0).exp();
            deemph_power += c * *p * d;
        }
        for (n, rn) in r.iter_mut().enumerate() {
            *rn = dot64(&self.cos_lin[n], &pow);
        }
        deemph_power
    }
}

/// Inverse DCT of the liftered cepstrum: log power at the mel points.
fn mel_log_spectrum(
    dct: &[[f64; MEL_POINTS]],
    cep: &[f32; CEP_DIM + 1],
    lifter: &[f64; CEP_DIM + 1],
    out: &mut [f64; MEL_POINTS],
) {
    out.iter_mut().for_each(|v| *v = 0.0);
    for m in 0..=CEP_DIM {
        let c = f64::from(cep[m]) * lifter[m];
        if c == 0.0 {
            continue;
        }
        for (o, d) in out.iter_mut().zip(dct[m].iter()) {
            *o += c * d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lpc::{autocorrelation, levinson};
    use super::*;

    #[test]
    fn analysis_then_resynthesis_keeps_the_formant_below_4_khz() {
        // A two-resonance signal (≈ 500 Hz and ≈ 1500 Hz).
        let mut x = vec![0.0f32; 640];
        let (mut y1, mut y2) = (0.0f32, 0.0f32);
        let mut s = 1u32;
        for v in x.iter_mut() {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let e = (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let y = e + 2.0 * 0.97 * (2.0 * std::f32::consts::PI * 500.0 / 16_000.0).cos() * y1
                - 0.97 * 0.97 * y2;
            y2 = y1;
            y1 = y;
            *v = y;
        }
        let mut r = [0.0f64; ORDER + 1];
        autocorrelation(&x, &mut r);
        let mut a = [0.0f64; ORDER + 1];
        let mut k = [0.0f64; ORDER + 1];
        let err = levinson(&r, &mut a, &mut k);
        let mut cep = [0.0f32; CEP_DIM + 1];
        MelAnalysis::new().cepstrum(&a, err, &mut cep);
        let resyn = Resynthesis::new(1.0, &[0.0; CEP_DIM + 1]);
        let mut r2 = [0.0f64; ORDER + 1];
        resyn.autocorrelation(&cep, &[1.0; CEP_DIM + 1], &mut r2);
        let mut a2 = [0.0f64; ORDER + 1];
        levinson(&r2, &mut a2, &mut k);
        // Evaluate 1/|A2|² on a grid; its maximum should be near 500 Hz.
        let mut best = (0.0, 0.0);
        for f in (100..3000).step_by(10) {
            let w = 2.0 * std::f64::consts::PI * f as f64 / 16_000.0;
            let (mut re, mut im) = (0.0, 0.0);
            for (i, ai) in a2.iter().enumerate() {
                re += ai * (w * i as f64).cos();
                im -= ai * (w * i as f64).sin();
            }
            let g = 1.0 / (re * re + im * im);
            if g > best.1 {
                best = (f as f64, g);
            }
        }
        assert!((best.0 - 500.0).abs() < 80.0, "peak at {} Hz", best.0);
    }
}
