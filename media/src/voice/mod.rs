//! The voice anonymiser for protected witnesses.
//!
//! # Design
//!
//! A causal analysis/resynthesis vocoder with a *pseudo-speaker normaliser* in the middle:
//! instead of moving the witness's voice by a secret amount (which an attacker can move back),
//! everything that identifies the speaker is pulled towards a population average, and a secret,
//! plausible voice is put on top.
//!
//! 1. 48 kHz → 16 kHz (polyphase windowed-sinc FIR, 97 taps).
//! 2. Every 5 ms hop: pre-emphasis (0.97), asymmetric 20 ms window, LPC order 28, mel-cepstrum
//!    of the LPC envelope (40 mel points, 16 coefficients after `c0`); YIN pitch at 8 kHz with a
//!    voicing decision with hysteresis.
//! 3. Envelope: the witness's running mean and within-speaker covariance are replaced by the
//!    population's (`μ_pop + Σ_pop^½ Σ_w^-½ (x − μ_w)`), a small secret tilt is added, the
//!    formant contrast is reduced (default 0.85) and only the first 14 coefficients are kept
//!    (settings); the envelope is then warped by a secret vocal-tract-length factor
//!    (0.85–1.17) and the band above ≈ 4 kHz is replaced by the population's shape at the
//!    frame's own level.
//! 4. F0: standardised by the witness's running log-F0 mean and deviation, then mapped to a
//!    secret target mean (95–220 Hz) with a narrow secret deviation (0.05–0.08 log units).
//! 5. Resynthesis at 16 kHz: Rosenberg glottal pulses + generic noise through an all-pole
//!    lattice (reflection coefficients interpolated within the hop), de-emphasis, level matched
//!    to the input's last 20 ms; 16 kHz → 48 kHz.
//!
//! While the running statistics settle (≈ 3 s of speech) the anonymiser is conservative: fewer
//! cepstral coefficients (8 rising to the setting), lower contrast and a narrower F0 contour.
//! [`VoiceAnonymiser::warm_up`] settles them from a calibration recording instead.
//!
//! # Latency
//!
//! One hop of buffering (240 samples at 48 kHz) plus the two resampling filters (48 samples
//! each, less two samples of decimation phase): [`LATENCY_SAMPLES`] = 334 samples ≈ 6.96 ms.
//!
//! # Security
//!
//! The voice parameters derive from a 32-byte per-hearing secret (HMAC-SHA256 per parameter);
//! the secret is not kept. The normaliser discards the witness's long-term spectral average,
//! within-speaker covariance, F0 level and range, aperiodicity and high band, so even the
//! secret does not allow the original voice to be restored. The instance prints as `REDACTED`.
//! What it keeps, by design, is what speech needs: the words, the timing and speaking rate, the
//! loudness contour and the *shape* of the intonation (standardised, in a narrow range). An
//! attacker who knows a witness's rhythm or accent can still use those.
//!
//! # Cost
//!
//! About 1% of one core per stream (release build, `bench_voice` example); no allocation
//! after construction.
//!
//! # Example
//!
//! ```
//! use assize_media::{VoiceAnonymiser, VoiceSettings};
//!
//! // One fresh random secret per hearing and witness (from a CSPRNG, not a constant).
//! let secret = [0x5a; 32];
//! let mut anon = VoiceAnonymiser::new(&secret, VoiceSettings::default())?;
//! let input = vec![0.0f32; 480]; // 10 ms at 48 kHz
//! let mut output = vec![0.0f32; 480];
//! anon.process(&input, &mut output)?;
//! assert_eq!(anon.latency_samples(), 334);
//! # Ok::<(), assize_media::VoiceError>(())
//! ```

// Filter, matrix and spectrum code indexes several arrays in step; index loops read better.
#![allow(clippy::needless_range_loop)]

mod analysis;
mod cepstrum;
mod dsp;
mod excitation;
pub mod features;
mod lpc;
mod normaliser;
mod pitch;
mod population;
mod resample;
mod secret;

use analysis::{Analyser, HOP};
use cepstrum::{CEP_DIM, Resynthesis};
use excitation::Excitation;
use lpc::{LatticeSynth, ORDER, levinson};
use normaliser::{EnvelopeMap, SpeakerStats};
use resample::{Interpolator, ROUND_TRIP_DELAY_48K};
use secret::SecretVoice;

/// Transport sample rate of frames given to and returned by the anonymiser.
pub const SAMPLE_RATE_HZ: u32 = 48_000;

/// Fixed delay from input to output, in 48 kHz samples: 334 (≈ 6.96 ms).
pub const LATENCY_SAMPLES: usize = 3 * HOP + ROUND_TRIP_DELAY_48K;

/// Output FIFO capacity at 48 kHz (prefill of one hop plus one hop produced at once).
const OUT_CAP: usize = 4 * 3 * HOP;
/// Hops between two recomputations of the envelope map (80 ms).
const MAP_UPDATE_HOPS: u32 = 16;
/// Sub-blocks per hop over which the reflection coefficients are interpolated.
const SUB_BLOCKS: usize = 4;
/// Cepstral coefficients kept while the statistics are unsettled.
const CONSERVATIVE_KEEP: f64 = 8.0;

/// Errors of the voice anonymiser.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum VoiceError {
    /// A setting is outside its allowed range (misuse; the message names the setting).
    #[error("voice setting `{name}` = {value} is out of range: allowed {allowed}")]
    InvalidSetting {
        /// Field of [`VoiceSettings`].
        name: &'static str,
        /// The rejected value.
        value: f32,
        /// Human-readable allowed range.
        allowed: &'static str,
    },
    /// `process` was given an output buffer of a different length than its input (misuse).
    #[error("output buffer has {output} samples but the input has {input}")]
    LengthMismatch {
        /// Input length.
        input: usize,
        /// Output length.
        output: usize,
    },
    /// The key derivation could not be initialised (cannot happen with HMAC-SHA256, which
    /// accepts any key length; kept so that no `unwrap` is needed).
    #[error("voice key derivation failed")]
    KeyDerivation,
}

/// Tunable settings with safe defaults ([`VoiceSettings::default`]).
///
/// Stronger anonymity costs intelligibility: fewer cepstral coefficients and lower contrast
/// anonymise more; a target range spanning both sexes costs the most intelligibility for
/// speakers mapped across.
#[derive(Clone, Debug, PartialEq)]
pub struct VoiceSettings {
    /// Mel-cepstral coefficients kept (envelope smoothing), 12 to 16. Default 14.
    pub cepstral_coefficients: u8,
    /// Formant contrast, 0.75 to 0.9. Default 0.85.
    pub contrast: f32,
    /// Lower bound of the secret F0 contour width (std of log-F0), 0 to 0.3. Default 0.05.
    pub f0_width_min: f32,
    /// Upper bound of the secret F0 contour width, 0 to 0.3. Default 0.08.
    pub f0_width_max: f32,
    /// Lowest secret target mean F0, 60 to 400 Hz. Default 95.
    pub target_f0_min_hz: f32,
    /// Highest secret target mean F0, 60 to 400 Hz. Default 220.
    pub target_f0_max_hz: f32,
    /// Lowest secret vocal-tract-length warp, 0.7 to 1.4. Default 0.85.
    pub warp_min: f32,
    /// Highest secret vocal-tract-length warp, 0.7 to 1.4. Default 1.17.
    pub warp_max: f32,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        Self {
            cepstral_coefficients: 14,
            contrast: 0.85,
            f0_width_min: 0.05,
            f0_width_max: 0.08,
            target_f0_min_hz: 95.0,
            target_f0_max_hz: 220.0,
            warp_min: 0.85,
            warp_max: 1.17,
        }
    }
}

impl VoiceSettings {
    /// Checks every setting against its allowed range.
    ///
    /// # Errors
    /// [`VoiceError::InvalidSetting`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), VoiceError> {
        fn check(
            name: &'static str,
            value: f32,
            lo: f32,
            hi: f32,
            allowed: &'static str,
        ) -> Result<(), VoiceError> {
            if value.is_finite() && (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(VoiceError::InvalidSetting {
                    name,
                    value,
                    allowed,
                })
            }
        }
        check(
            "cepstral_coefficients",
            f32::from(self.cepstral_coefficients),
            12.0,
            16.0,
            "12..=16",
        )?;
        check("contrast", self.contrast, 0.75, 0.9, "0.75..=0.9")?;
        check("f0_width_min", self.f0_width_min, 0.0, 0.3, "0..=0.3")?;
        check(
            "f0_width_max",
            self.f0_width_max,
            self.f0_width_min.max(0.0),
            0.3,
            "f0_width_min..=0.3",
        )?;
        check(
            "target_f0_min_hz",
            self.target_f0_min_hz,
            60.0,
            400.0,
            "60..=400",
        )?;
        check(
            "target_f0_max_hz",
            self.target_f0_max_hz,
            self.target_f0_min_hz.max(60.0),
            400.0,
            "target_f0_min_hz..=400",
        )?;
        check("warp_min", self.warp_min, 0.7, 1.4, "0.7..=1.4")?;
        check(
            "warp_max",
            self.warp_max,
            self.warp_min.max(0.7),
            1.4,
            "warp_min..=1.4",
        )?;
        Ok(())
    }
}

/// One witness's voice anonymiser: 48 kHz mono frames of any length in, the same number out.
///
/// One instance per witness stream (it holds that stream's running statistics); it is `Send`,
/// so it can live on the stream's codec thread.
#[derive(Clone)]
pub struct VoiceAnonymiser {
    settings: VoiceSettings,
    voice: SecretVoice,
    analyser: Analyser,
    stats: SpeakerStats,
    map: EnvelopeMap,
    resyn: Resynthesis,
    excitation: Excitation,
    lattice: LatticeSynth,
    interpolator: Interpolator,
    hops: u32,
    /// Previous hop's synthesis state, interpolated towards the new one.
    k_prev: [f64; ORDER + 1],
    gain_prev: f32,
    f0_prev: f64,
    pulse_prev: f32,
    noise_prev: f32,
    cep_prev: [f32; CEP_DIM + 1],
    deemph: f64,
    dc_x: f64,
    dc_y: f64,
    out: [f32; OUT_CAP],
    out_read: usize,
    out_len: usize,
}

impl std::fmt::Debug for VoiceAnonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VoiceAnonymiser(REDACTED)")
    }
}

impl VoiceAnonymiser {
    /// Builds an anonymiser whose made-up voice is derived from `secret`.
    ///
    /// # Errors
    /// [`VoiceError::InvalidSetting`] when a setting is out of range.
    ///
    /// # Security
    /// Use a fresh random secret per hearing (and per witness). The same secret always gives
    /// the same voice, which is what lets a witness sound consistent across a hearing.
    pub fn new(secret: &[u8; 32], settings: VoiceSettings) -> Result<Self, VoiceError> {
        settings.validate()?;
        let voice = SecretVoice::derive(secret, &settings)?;
        let mut reference = [0.0f32; CEP_DIM + 1];
        reference[1..].copy_from_slice(&population::MEAN);
        let resyn = Resynthesis::new(voice.warp, &reference);
        let excitation = Excitation::new(voice.noise_seed, voice.open_phase, voice.closing_phase);
        let mut out = [0.0f32; OUT_CAP];
        out[..3 * HOP].fill(0.0);
        Ok(Self {
            settings,
            analyser: Analyser::new(),
            stats: SpeakerStats::new(),
            map: EnvelopeMap::new(),
            resyn,
            excitation,
            lattice: LatticeSynth::new(),
            interpolator: Interpolator::new(),
            hops: 0,
            k_prev: [0.0; ORDER + 1],
            gain_prev: 0.0,
            f0_prev: voice.target_f0,
            pulse_prev: 0.0,
            noise_prev: 0.0,
            cep_prev: reference,
            deemph: 0.0,
            dc_x: 0.0,
            dc_y: 0.0,
            out,
            out_read: 0,
            out_len: 3 * HOP,
            voice,
        })
    }

    /// The fixed delay between input and output, in 48 kHz samples ([`LATENCY_SAMPLES`]).
    pub fn latency_samples(&self) -> usize {
        LATENCY_SAMPLES
    }

    /// The settings this instance was built with.
    pub fn settings(&self) -> &VoiceSettings {
        &self.settings
    }

    /// Settles the running speaker statistics from a calibration recording of the witness
    /// (48 kHz mono, ideally ≥ 30 s), so the first words of the hearing are fully anonymised.
    /// Produces no output and leaves the stream state untouched. Allocates; call it before
    /// the hearing, not on the media thread.
    pub fn warm_up(&mut self, speech: &[f32]) {
        let mut analyser = Analyser::new();
        for &x in speech {
            if let Some(f) = analyser.push(sanitise(x)) {
                self.learn(&f);
            }
        }
        self.map.update(&self.stats);
    }

    /// Anonymises one frame. `output` must be as long as `input`; any length works, including
    /// 0 and 1. Non-finite input samples count as silence; input is clipped to ±1.
    ///
    /// # Errors
    /// [`VoiceError::LengthMismatch`] when the lengths differ (nothing is processed).
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), VoiceError> {
        if input.len() != output.len() {
            return Err(VoiceError::LengthMismatch {
                input: input.len(),
                output: output.len(),
            });
        }
        for (x, y) in input.iter().zip(output.iter_mut()) {
            *y = self.step(*x);
        }
        Ok(())
    }

    /// Anonymises one frame in place.
    pub fn process_in_place(&mut self, frame: &mut [f32]) {
        for v in frame.iter_mut() {
            *v = self.step(*v);
        }
    }

    #[inline]
    fn step(&mut self, x: f32) -> f32 {
        if let Some(features) = self.analyser.push(sanitise(x)) {
            self.synthesise_hop(&features);
        }
        if self.out_len == 0 {
            // Cannot happen: one hop is always buffered ahead. Stay silent rather than panic.
            return 0.0;
        }
        let y = self.out[self.out_read];
        self.out_read = (self.out_read + 1) % OUT_CAP;
        self.out_len -= 1;
        y
    }

    fn learn(&mut self, f: &analysis::HopFeatures) {
        if f.speech {
            self.stats.add_envelope(&f.cepstrum);
            if f.pitch.voiced {
                self.stats.add_f0(f.pitch.f0);
            }
        }
    }

    fn synthesise_hop(&mut self, f: &analysis::HopFeatures) {
        self.learn(f);
        self.hops = self.hops.wrapping_add(1);
        if self.hops.is_multiple_of(MAP_UPDATE_HOPS) {
            self.map.update(&self.stats);
        }
        let settled = self.stats.settled();

        // Envelope: normalise, add the secret tilt, smooth in time, lifter.
        let mut cep = [0.0f32; CEP_DIM + 1];
        self.map.apply(&f.cepstrum, &mut cep);
        for (c, t) in cep[1..].iter_mut().zip(self.voice.tilt.iter()) {
            *c += t;
        }
        for (c, p) in cep.iter_mut().zip(self.cep_prev.iter()) {
            *c = 0.7 * *c + 0.3 * p;
        }
        self.cep_prev = cep;
        let keep = CONSERVATIVE_KEEP
            + (f64::from(self.settings.cepstral_coefficients) - CONSERVATIVE_KEEP) * settled;
        let contrast = f64::from(self.settings.contrast) * (0.85 + 0.15 * settled);
        let mut lifter = [0.0f64; CEP_DIM + 1];
        for (m, l) in lifter.iter_mut().enumerate().skip(1) {
            *l = contrast * (keep + 0.5 - m as f64).clamp(0.0, 1.0);
        }
        let mut r = [0.0f64; ORDER + 1];
        let deemph_power = self.resyn.autocorrelation(&cep, &lifter, &mut r);
        r[0] *= 1.0001;
        let mut a = [0.0f64; ORDER + 1];
        let mut k = [0.0f64; ORDER + 1];
        let err = levinson(&r, &mut a, &mut k);

        // Level: excitation gain so the output's power matches the input's last 20 ms.
        let power_gain = if err > 0.0 { deemph_power / err } else { 0.0 };
        let gain = if power_gain > 1e-12 && f.power.is_finite() {
            (f64::from(f.power) / power_gain).sqrt() as f32
        } else {
            0.0
        };

        // Source: secret F0 and generic voicing mix.
        let f0 = if f.pitch.voiced {
            let width = self.voice.f0_width * (0.5 + 0.5 * settled);
            (self.voice.target_f0.ln() + width * self.stats.f0_z(f.pitch.f0)).exp()
        } else {
            self.f0_prev
        };
        let (pulse, noise) = if f.pitch.voiced {
            (1.0f32, 0.0f32)
        } else {
            (0.0, 1.0)
        };

        let mut three = [0.0f32; 3];
        for i in 0..HOP {
            let t = (i + 1) as f32 / HOP as f32;
            let sub = i * SUB_BLOCKS / HOP;
            let tk = (sub + 1) as f64 / SUB_BLOCKS as f64;
            let mut ki = [0.0f64; ORDER + 1];
            for j in 1..=ORDER {
                ki[j] = self.k_prev[j] + (k[j] - self.k_prev[j]) * tk;
            }
            let g = self.gain_prev + (gain - self.gain_prev) * t;
            let p = self.pulse_prev + (pulse - self.pulse_prev) * t;
            let n = self.noise_prev + (noise - self.noise_prev) * t;
            let fi = self.f0_prev + (f0 - self.f0_prev) * f64::from(t);
            let e = self.excitation.next(fi, p, 0.3 * p, n) * g;
            let s = self.lattice.step(f64::from(e), &ki);
            self.deemph = s + 0.97 * self.deemph;
            // DC blocker (≈ 40 Hz).
            let y = self.deemph - self.dc_x + 0.984 * self.dc_y;
            self.dc_x = self.deemph;
            self.dc_y = y;
            let mut y = y as f32;
            if !y.is_finite() {
                y = 0.0;
            }
            self.interpolator.push(y.clamp(-1.0, 1.0), &mut three);
            for v in three {
                if self.out_len < OUT_CAP {
                    let w = (self.out_read + self.out_len) % OUT_CAP;
                    self.out[w] = v.clamp(-1.0, 1.0);
                    self.out_len += 1;
                }
            }
        }
        if !self.lattice.is_finite() || !self.deemph.is_finite() || !self.dc_y.is_finite() {
            self.lattice.reset();
            self.deemph = 0.0;
            self.dc_x = 0.0;
            self.dc_y = 0.0;
        }
        self.k_prev = k;
        self.gain_prev = gain;
        self.f0_prev = f0;
        self.pulse_prev = pulse;
        self.noise_prev = noise;
    }
}

/// Non-finite samples become silence; everything is clipped to full scale.
#[inline]
fn sanitise(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pulse train through two resonances, ≈ -20 dBFS, at 48 kHz.
    fn voiced(seconds: f32, f0: f32) -> Vec<f32> {
        let n = (seconds * 48_000.0) as usize;
        let (mut y1, mut y2, mut phase) = (0.0f32, 0.0f32, 0.0f32);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            phase += f0 / 48_000.0;
            let e = if phase >= 1.0 {
                phase -= 1.0;
                1.0
            } else {
                0.0
            };
            let r = 0.995f32;
            let y = e + 2.0 * r * (2.0 * std::f32::consts::PI * 600.0 / 48_000.0).cos() * y1
                - r * r * y2;
            y2 = y1;
            y1 = y;
            out.push(y);
        }
        let rms = (out.iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
        out.iter_mut().for_each(|v| *v *= 0.1 / rms);
        out
    }

    #[test]
    fn secret_parameters_stay_in_their_ranges_and_depend_on_the_secret() {
        let s = VoiceSettings::default();
        let mut seen = Vec::new();
        for b in 0..64u8 {
            let mut secret = [0u8; 32];
            secret[0] = b;
            secret[31] = b.wrapping_mul(7);
            let v = SecretVoice::derive(&secret, &s).unwrap();
            assert!((95.0..=220.0).contains(&v.target_f0), "{}", v.target_f0);
            assert!((0.05..=0.08).contains(&v.f0_width));
            assert!((0.85 - 1e-9..=1.17 + 1e-9).contains(&v.warp), "{}", v.warp);
            seen.push(v.target_f0);
        }
        seen.sort_by(f64::total_cmp);
        seen.dedup();
        assert_eq!(seen.len(), 64, "secrets collided on the target F0");
    }

    #[test]
    fn warm_up_settles_the_statistics_without_touching_the_stream() {
        let mut anon = VoiceAnonymiser::new(&[5; 32], VoiceSettings::default()).unwrap();
        let mut fresh = anon.clone();
        assert_eq!(anon.stats.settled(), 0.0);
        anon.warm_up(&voiced(5.0, 130.0));
        assert_eq!(anon.stats.settled(), 1.0);
        // The stream itself (buffers, filters) is as before: silence still gives silence.
        let mut a = vec![0.0f32; 4800];
        let mut b = vec![0.0f32; 4800];
        anon.process_in_place(&mut a);
        fresh.process_in_place(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn output_f0_follows_the_secret_target() {
        for (secret, input_f0) in [([11u8; 32], 100.0f32), ([12; 32], 180.0), ([13; 32], 240.0)] {
            let mut anon = VoiceAnonymiser::new(&secret, VoiceSettings::default()).unwrap();
            let speech = voiced(3.0, input_f0);
            anon.warm_up(&speech);
            let mut out = speech.clone();
            anon.process_in_place(&mut out);
            let mut f0: Vec<f32> = features::analyse(&out[48_000..])
                .into_iter()
                .filter(|f| f.voiced)
                .map(|f| f.f0_hz)
                .collect();
            assert!(f0.len() > 200, "only {} voiced frames", f0.len());
            f0.sort_by(f32::total_cmp);
            let median = f64::from(f0[f0.len() / 2]);
            let target = anon.voice.target_f0;
            assert!(
                (median / target - 1.0).abs() < 0.06,
                "input {input_f0} Hz: output {median:.1} Hz, target {target:.1} Hz"
            );
        }
    }
}
