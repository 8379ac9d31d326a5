//! Derivation of the made-up voice from the per-hearing secret.
//!
//! Every parameter is `HMAC-SHA256(key = secret, "assize-media/voice/v1/" ‖ label)` read as a
//! uniform number in `[0, 1)` and mapped into the configured range: the same secret always gives
//! the same voice, different secrets give independent voices, and the labels keep the parameters
//! independent of each other. The secret itself is not stored.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{VoiceError, VoiceSettings};

/// The secret voice: what the normalised witness is turned into.
#[derive(Clone)]
pub(crate) struct SecretVoice {
    /// Target mean F0 in Hz.
    pub target_f0: f64,
    /// Target standard deviation of log-F0.
    pub f0_width: f64,
    /// Vocal-tract-length warp factor (> 1: shorter tract, formants up).
    pub warp: f64,
    /// Small offsets added to the first mel-cepstral coefficients (spectral tilt and balance).
    pub tilt: [f32; 3],
    /// Glottal open phase and closing phase, as fractions of the period (Rosenberg pulse).
    pub open_phase: f64,
    pub closing_phase: f64,
    /// Seed of the noise generator.
    pub noise_seed: u64,
}

fn uniform(secret: &[u8; 32], label: &str) -> Result<(f64, u64), VoiceError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| VoiceError::KeyDerivation)?;
    mac.update(b"assize-media/voice/v1/");
    mac.update(label.as_bytes());
    let out = mac.finalize().into_bytes();
    let mut word = [0u8; 8];
    word.copy_from_slice(&out[..8]);
    let bits = u64::from_le_bytes(word);
    Ok(((bits >> 11) as f64 / (1u64 << 53) as f64, bits))
}

fn log_interp(lo: f64, hi: f64, u: f64) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * u).exp()
}

impl SecretVoice {
    pub(crate) fn derive(secret: &[u8; 32], s: &VoiceSettings) -> Result<Self, VoiceError> {
        let (u_f0, _) = uniform(secret, "f0-mean")?;
        let (u_width, _) = uniform(secret, "f0-width")?;
        let (u_warp, _) = uniform(secret, "vtl-warp")?;
        let (u_open, _) = uniform(secret, "glottal-open")?;
        let (u_close, _) = uniform(secret, "glottal-close")?;
        let (_, seed) = uniform(secret, "noise-seed")?;
        let mut tilt = [0.0f32; 3];
        for (i, t) in tilt.iter_mut().enumerate() {
            let (u, _) = uniform(secret, ["tilt-1", "tilt-2", "tilt-3"][i])?;
            *t = ((u - 0.5) * 0.3 / (i + 1) as f64) as f32;
        }
        let target_f0 = log_interp(
            f64::from(s.target_f0_min_hz),
            f64::from(s.target_f0_max_hz),
            u_f0,
        );
        // A made-up speaker is more plausible when a low voice comes with a long vocal tract:
        // half of the warp's position follows the F0 target, half is independent.
        let warp_u = 0.5 * u_f0 + 0.5 * u_warp;
        Ok(Self {
            target_f0,
            f0_width: f64::from(s.f0_width_min)
                + f64::from(s.f0_width_max - s.f0_width_min) * u_width,
            warp: log_interp(f64::from(s.warp_min), f64::from(s.warp_max), warp_u),
            tilt,
            open_phase: 0.36 + 0.14 * u_open,
            closing_phase: 0.10 + 0.10 * u_close,
            noise_seed: seed | 1,
        })
    }
}
