//! Linear prediction: autocorrelation analysis, Levinson–Durbin and an all-pole lattice synthesis
//! filter driven by reflection coefficients (stable as long as every |k| < 1, which Levinson
//! guarantees for a positive-definite autocorrelation and which we enforce by clamping).

use super::dsp::dot;

/// LPC order at 16 kHz.
pub(crate) const ORDER: usize = 28;

/// Autocorrelation of `x` at lags `0..r.len()`.
pub(crate) fn autocorrelation(x: &[f32], r: &mut [f64]) {
    for (lag, rl) in r.iter_mut().enumerate() {
        let mut acc = 0.0f64;
        if lag < x.len() {
            acc = f64::from(dot(&x[lag..], x));
        }
        *rl = acc;
    }
}

/// Levinson–Durbin recursion.
///
/// Fills `a` (`a[0] = 1`, `A(z) = Σ a[i] z^-i`) and the reflection coefficients `k[1..=p]`
/// (`k[0]` unused), returns the prediction-error power. A silent or degenerate input gives
/// `A(z) = 1` and zero reflection coefficients.
pub(crate) fn levinson(r: &[f64], a: &mut [f64], k: &mut [f64]) -> f64 {
    let p = a.len() - 1;
    a.iter_mut().for_each(|v| *v = 0.0);
    k.iter_mut().for_each(|v| *v = 0.0);
    a[0] = 1.0;
    if !(r[0].is_finite() && r[0] > 1e-12) {
        return 0.0;
    }
    let mut err = r[0];
    for i in 1..=p {
        let mut acc = r[i];
        for j in 1..i {
            acc += a[j] * r[i - j];
        }
        let ki = (-acc / err).clamp(-0.9995, 0.9995);
        if !ki.is_finite() {
            break;
        }
        // a_j <- a_j + k a_{i-j}, in place, pairwise.
        let half = i / 2;
        for j in 1..=half {
            let lo = a[j];
            let hi = a[i - j];
            a[j] = lo + ki * hi;
            if j != i - j {
                a[i - j] = hi + ki * lo;
            }
        }
        a[i] = ki;
        k[i] = ki;
        err *= 1.0 - ki * ki;
        if err <= r[0] * 1e-9 {
            break;
        }
    }
    err
}

/// All-pole synthesis filter `1/A(z)` in lattice form.
#[derive(Clone)]
pub(crate) struct LatticeSynth {
    b: [f64; ORDER + 1],
}

impl LatticeSynth {
    pub(crate) fn new() -> Self {
        Self {
            b: [0.0; ORDER + 1],
        }
    }

    /// Filters one excitation sample with reflection coefficients `k[1..=ORDER]`.
    #[inline]
    pub(crate) fn step(&mut self, e: f64, k: &[f64; ORDER + 1]) -> f64 {
        let mut f = e;
        for i in (1..=ORDER).rev() {
            f -= k[i] * self.b[i - 1];
            self.b[i] = self.b[i - 1] + k[i] * f;
        }
        self.b[0] = f;
        f
    }

    pub(crate) fn reset(&mut self) {
        self.b = [0.0; ORDER + 1];
    }

    pub(crate) fn is_finite(&self) -> bool {
        self.b.iter().all(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lattice_equals_direct_form_all_pole_filter() {
        // A resonant signal, analysed, then filtered both ways.
        let x: Vec<f32> = (0..400)
            .map(|i| {
                let t = i as f32;
                (0.3 * t).sin() + 0.5 * (1.1 * t).sin() + 0.01 * ((i * 7919) % 13) as f32
            })
            .collect();
        let mut r = [0.0f64; ORDER + 1];
        autocorrelation(&x, &mut r);
        r[0] *= 1.0001;
        let mut a = [0.0f64; ORDER + 1];
        let mut k = [0.0f64; ORDER + 1];
        let err = levinson(&r, &mut a, &mut k);
        assert!(err > 0.0 && err < r[0]);
        let mut lat = LatticeSynth::new();
        let mut hist = [0.0f64; ORDER + 1];
        for n in 0..200 {
            let e = if n % 37 == 0 { 1.0 } else { 0.0 };
            let y_lat = lat.step(e, &k);
            let mut y = e;
            for i in 1..=ORDER {
                y -= a[i] * hist[i - 1];
            }
            hist.copy_within(0..ORDER, 1);
            hist[0] = y;
            assert!(
                (y - y_lat).abs() < 1e-6 * (1.0 + y.abs()),
                "n={n}: {y} vs {y_lat}"
            );
        }
    }

    #[test]
    fn silent_input_gives_a_flat_filter() {
        let r = [0.0f64; ORDER + 1];
        let mut a = [0.0f64; ORDER + 1];
        let mut k = [0.0f64; ORDER + 1];
        assert_eq!(levinson(&r, &mut a, &mut k), 0.0);
        assert_eq!(a[0], 1.0);
        assert!(k.iter().all(|&v| v == 0.0));
    }
}
