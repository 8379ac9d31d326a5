//! Offline access to the anonymiser's analysis, for building the population tables and for
//! measurement tools. Allocates; not for the media thread.

use super::analysis::Analyser;
pub use super::cepstrum::CEP_DIM;

/// One 5 ms hop of analysis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameFeatures {
    /// Speech by energy.
    pub speech: bool,
    /// Voiced, by the anonymiser's pitch tracker.
    pub voiced: bool,
    /// F0 in Hz (meaningful when `voiced`).
    pub f0_hz: f32,
    /// Mel-cepstrum of the envelope, coefficients 1 to [`CEP_DIM`].
    pub cepstrum: [f32; CEP_DIM],
}

/// Analyses a 48 kHz mono recording hop by hop, exactly as the anonymiser does.
pub fn analyse(samples: &[f32]) -> Vec<FrameFeatures> {
    let mut analyser = Analyser::new();
    let mut out = Vec::with_capacity(samples.len() / 240 + 1);
    for &x in samples {
        let x = if x.is_finite() {
            x.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        if let Some(f) = analyser.push(x) {
            let mut cepstrum = [0.0f32; CEP_DIM];
            cepstrum.copy_from_slice(&f.cepstrum[1..]);
            out.push(FrameFeatures {
                speech: f.speech,
                voiced: f.pitch.voiced,
                f0_hz: f.pitch.f0,
                cepstrum,
            });
        }
    }
    out
}
