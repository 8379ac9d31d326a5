//! The pseudo-speaker normaliser: running statistics of the witness's mel-cepstrum and log-F0,
//! and the maps that replace them by population statistics.
//!
//! Envelope: `y = μ_pop + Σ_pop^{1/2} · clip(Σ_w^{-1/2} (x − μ_w))`, where `μ_w, Σ_w` are the
//! witness's running mean and within-speaker covariance. The running estimates are shrunk
//! towards the population values while few speech frames have been seen (a Bayesian prior worth
//! [`COV_PRIOR_FRAMES`] frames), and forget with a horizon of [`HORIZON_FRAMES`] frames.
//! F0: `log f0' = log target + width · clip((log f0 − μ_f) / σ_f)`.

use super::cepstrum::CEP_DIM;
use super::population;

/// Forgetting horizon of the running statistics, in 5 ms speech frames (≈ 10 s of speech).
const HORIZON_FRAMES: f64 = 2000.0;
/// Prior weight of the population covariance, in frames.
const COV_PRIOR_FRAMES: f64 = 200.0;
/// Prior weight of the population mean, in frames.
const MEAN_PRIOR_FRAMES: f64 = 20.0;
/// Whitened coordinates are clipped to this many standard deviations.
const Z_CLIP: f64 = 3.5;
/// Speech frames after which the running statistics count as settled (≈ 3 s).
pub(crate) const SETTLE_FRAMES: f64 = 600.0;

type Mat = [[f64; CEP_DIM]; CEP_DIM];

/// Running statistics of one witness.
#[derive(Clone)]
pub(crate) struct SpeakerStats {
    n: f64,
    mean: [f64; CEP_DIM],
    cov: Mat,
    f0_n: f64,
    f0_mean: f64,
    f0_var: f64,
}

impl SpeakerStats {
    pub(crate) fn new() -> Self {
        Self {
            n: 0.0,
            mean: [0.0; CEP_DIM],
            cov: [[0.0; CEP_DIM]; CEP_DIM],
            f0_n: 0.0,
            f0_mean: 0.0,
            f0_var: 0.0,
        }
    }

    /// Adds one speech frame's cepstrum (`c[1..=CEP_DIM]`).
    pub(crate) fn add_envelope(&mut self, c: &[f32; CEP_DIM + 1]) {
        self.n += 1.0;
        let alpha = (1.0 / self.n).max(1.0 / HORIZON_FRAMES);
        let mut d = [0.0f64; CEP_DIM];
        for i in 0..CEP_DIM {
            d[i] = f64::from(c[i + 1]) - self.mean[i];
            self.mean[i] += alpha * d[i];
        }
        for i in 0..CEP_DIM {
            for j in 0..=i {
                let v = (1.0 - alpha) * (self.cov[i][j] + alpha * d[i] * d[j]);
                self.cov[i][j] = v;
                self.cov[j][i] = v;
            }
        }
    }

    /// Adds one voiced frame's F0.
    pub(crate) fn add_f0(&mut self, f0: f32) {
        let l = f64::from(f0.max(1.0)).ln();
        self.f0_n += 1.0;
        let alpha = (1.0 / self.f0_n).max(1.0 / HORIZON_FRAMES);
        let d = l - self.f0_mean;
        self.f0_mean += alpha * d;
        self.f0_var = (1.0 - alpha) * (self.f0_var + alpha * d * d);
    }

    /// How settled the statistics are, 0 (nothing seen) to 1.
    pub(crate) fn settled(&self) -> f64 {
        (self.n / SETTLE_FRAMES).min(1.0)
    }

    /// Mean estimate shrunk towards the population.
    fn mean_estimate(&self) -> [f64; CEP_DIM] {
        let n = self.n.min(HORIZON_FRAMES);
        let mut m = [0.0; CEP_DIM];
        for (i, v) in m.iter_mut().enumerate() {
            *v = (n * self.mean[i] + MEAN_PRIOR_FRAMES * f64::from(population::MEAN[i]))
                / (n + MEAN_PRIOR_FRAMES);
        }
        m
    }

    /// Covariance estimate shrunk towards the population.
    fn cov_estimate(&self) -> Mat {
        let n = self.n.min(HORIZON_FRAMES);
        let mut c = [[0.0; CEP_DIM]; CEP_DIM];
        for i in 0..CEP_DIM {
            for j in 0..CEP_DIM {
                c[i][j] = (n * self.cov[i][j]
                    + COV_PRIOR_FRAMES * f64::from(population::WITHIN_COV[i][j]))
                    / (n + COV_PRIOR_FRAMES);
            }
        }
        c
    }

    /// Standardised log-F0, shrunk towards a generic prior (log 140 Hz, σ 0.2) early on.
    pub(crate) fn f0_z(&self, f0: f32) -> f64 {
        const PRIOR: f64 = 20.0;
        let n = self.f0_n.min(HORIZON_FRAMES);
        let mean = (n * self.f0_mean + PRIOR * 140f64.ln()) / (n + PRIOR);
        let var = (n * self.f0_var + PRIOR * 0.04) / (n + PRIOR);
        let sd = var.sqrt().max(0.03);
        ((f64::from(f0.max(1.0)).ln() - mean) / sd).clamp(-2.5, 2.5)
    }
}

/// The current envelope map, recomputed from the statistics every few frames.
#[derive(Clone)]
pub(crate) struct EnvelopeMap {
    /// `Σ_w^{-1/2}`.
    whiten: Mat,
    /// `Σ_pop^{1/2}`.
    colour: Mat,
    mean_w: [f64; CEP_DIM],
}

impl EnvelopeMap {
    pub(crate) fn new() -> Self {
        let colour = sym_power(&population_cov(), 0.5);
        let mut map = Self {
            whiten: [[0.0; CEP_DIM]; CEP_DIM],
            colour,
            mean_w: [0.0; CEP_DIM],
        };
        map.update(&SpeakerStats::new());
        map
    }

    pub(crate) fn update(&mut self, stats: &SpeakerStats) {
        self.whiten = sym_power(&stats.cov_estimate(), -0.5);
        self.mean_w = stats.mean_estimate();
    }

    /// Maps the witness's cepstrum `x[1..]` onto the population; `c0` is passed through.
    pub(crate) fn apply(&self, x: &[f32; CEP_DIM + 1], y: &mut [f32; CEP_DIM + 1]) {
        let mut d = [0.0f64; CEP_DIM];
        for i in 0..CEP_DIM {
            d[i] = f64::from(x[i + 1]) - self.mean_w[i];
        }
        let mut z = [0.0f64; CEP_DIM];
        for i in 0..CEP_DIM {
            let v: f64 = self.whiten[i]
                .iter()
                .zip(d.iter())
                .map(|(w, d)| w * d)
                .sum();
            z[i] = if v.is_finite() {
                v.clamp(-Z_CLIP, Z_CLIP)
            } else {
                0.0
            };
        }
        y[0] = x[0];
        for i in 0..CEP_DIM {
            let v: f64 = self.colour[i]
                .iter()
                .zip(z.iter())
                .map(|(c, z)| c * z)
                .sum();
            y[i + 1] = (f64::from(population::MEAN[i]) + v) as f32;
        }
    }
}

fn population_cov() -> Mat {
    let mut c = [[0.0; CEP_DIM]; CEP_DIM];
    for i in 0..CEP_DIM {
        for j in 0..CEP_DIM {
            c[i][j] = f64::from(population::WITHIN_COV[i][j]);
        }
    }
    c
}

/// `M^p` for a symmetric positive semi-definite `M` (eigenvalues floored for stability).
pub(crate) fn sym_power(m: &Mat, p: f64) -> Mat {
    let (vals, vecs) = jacobi_eigen(m);
    let trace: f64 = vals.iter().sum();
    let floor = (trace / CEP_DIM as f64 * 1e-3).max(1e-8);
    let mut out = [[0.0; CEP_DIM]; CEP_DIM];
    for k in 0..CEP_DIM {
        let lam = vals[k].max(floor).powf(p);
        for i in 0..CEP_DIM {
            for j in 0..CEP_DIM {
                out[i][j] += vecs[i][k] * lam * vecs[j][k];
            }
        }
    }
    out
}

/// Cyclic Jacobi eigen-decomposition: eigenvalues and eigenvectors (as columns).
fn jacobi_eigen(m: &Mat) -> ([f64; CEP_DIM], Mat) {
    let mut a = *m;
    let mut v = [[0.0; CEP_DIM]; CEP_DIM];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..12 {
        let mut off = 0.0;
        for i in 0..CEP_DIM {
            for j in i + 1..CEP_DIM {
                off += a[i][j] * a[i][j];
            }
        }
        if off.is_nan() || off <= 1e-22 {
            break;
        }
        for p in 0..CEP_DIM {
            for q in p + 1..CEP_DIM {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..CEP_DIM {
                    let akp = a[k][p];
                    let akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..CEP_DIM {
                    let apk = a[p][k];
                    let aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let vkp = row[p];
                    let vkq = row[q];
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut vals = [0.0; CEP_DIM];
    for (i, val) in vals.iter_mut().enumerate() {
        *val = if a[i][i].is_finite() { a[i][i] } else { 0.0 };
    }
    (vals, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_square_root_squares_back() {
        let mut m = [[0.0; CEP_DIM]; CEP_DIM];
        for i in 0..CEP_DIM {
            for j in 0..CEP_DIM {
                m[i][j] = 0.3f64.powi((i as i32 - j as i32).abs()) * (1.0 + 0.1 * i as f64);
            }
        }
        for i in 0..CEP_DIM {
            for j in 0..i {
                let s = 0.5 * (m[i][j] + m[j][i]);
                m[i][j] = s;
                m[j][i] = s;
            }
        }
        let r = sym_power(&m, 0.5);
        let inv = sym_power(&m, -0.5);
        for i in 0..CEP_DIM {
            for j in 0..CEP_DIM {
                let sq: f64 = (0..CEP_DIM).map(|k| r[i][k] * r[k][j]).sum();
                assert!((sq - m[i][j]).abs() < 1e-9);
                let id: f64 = (0..CEP_DIM).map(|k| r[i][k] * inv[k][j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((id - want).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn a_settled_witness_is_mapped_onto_the_population_mean() {
        let mut stats = SpeakerStats::new();
        let mut frame = [0.0f32; CEP_DIM + 1];
        let mut s = 7u32;
        for _ in 0..3000 {
            for (i, c) in frame.iter_mut().enumerate().skip(1) {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *c = 0.5 + i as f32 * 0.1 + 0.2 * ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5);
            }
            stats.add_envelope(&frame);
        }
        let mut map = EnvelopeMap::new();
        map.update(&stats);
        let mut mean = [0.0f32; CEP_DIM + 1];
        for (i, c) in mean.iter_mut().enumerate().skip(1) {
            *c = 0.5 + i as f32 * 0.1;
        }
        let mut y = [0.0f32; CEP_DIM + 1];
        map.apply(&mean, &mut y);
        for i in 0..CEP_DIM {
            // Within a third of the population's own spread (the mean estimate keeps a small
            // prior weight on the population mean).
            let sd = population::WITHIN_COV[i][i].sqrt();
            assert!(
                (y[i + 1] - population::MEAN[i]).abs() < 0.35 * sd,
                "coefficient {i}"
            );
        }
    }
}
