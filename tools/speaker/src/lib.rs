//! An independent speaker-verification model for tests and tools: "is this the witness's voice?"
//!
//! The protected-witness tests must show that what defence counsel hears is not recognisably
//! the witness. The measurement script (`tools/anonymity/measure.py`) asks `resemblyzer`, a
//! GE2E speaker encoder (Wan et al. 2018; three LSTM layers of 256 over 40 mel bands, a
//! 256-dimensional d-vector). PyTorch is far too big for CI, so this module runs the *same
//! trained weights* (Apache-2.0, converted to `tools/speaker/data/ge2e.bin` by
//! `tools/anonymity/convert_resemblyzer.py`) with the same front end:
//!
//! - 16 kHz mono, volume raised (never lowered) to -30 dBFS, long silences trimmed;
//! - a power mel spectrogram as librosa computes it (25 ms Hann window, 10 ms hop, 40 Slaney
//!   mel bands, centred frames with zero padding), *not* log-mel;
//! - partial utterances of 160 frames every 77 frames (rate 1.3), each embedded, averaged and
//!   normalised.
//!
//! One difference: resemblyzer finds silences with WebRTC's VAD; this module uses the signal's
//! energy in the same 30 ms windows, then the same smoothing and dilation. On the committed
//! test recordings the similarities agree with resemblyzer's to within a few hundredths (see the
//! tests below). The model knows nothing of Assize's anonymiser: it was trained on real
//! speakers (LibriSpeech, VoxCeleb) years before it.
//!
//! A crate of its own so that the workspace can compile it optimised even in debug builds
//! (`[profile.dev.package.assize-speaker]`): unoptimised, one embedding took seconds.

use std::path::Path;
use std::sync::OnceLock;

use ndarray::{Array1, Array2, ArrayView2, Axis, s};

/// Sample rate the model works at.
pub const MODEL_RATE: u32 = 16_000;
/// Embedding size.
pub const DIM: usize = 256;
const HIDDEN: usize = 256;
const MELS: usize = 40;
const N_FFT: usize = 400;
const HOP: usize = 160;
const PARTIAL_FRAMES: usize = 160;

/// One LSTM layer's weights (PyTorch's gate order: input, forget, cell, output).
struct Layer {
    w_ih: Array2<f32>,
    w_hh: Array2<f32>,
    bias: Array1<f32>,
}

/// The GE2E speaker encoder with resemblyzer's weights.
pub struct SpeakerEncoder {
    layers: Vec<Layer>,
    linear_w: Array2<f32>,
    linear_b: Array1<f32>,
    mel_basis: Array2<f32>,
    window: Vec<f32>,
}

impl std::fmt::Debug for SpeakerEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakerEncoder").finish_non_exhaustive()
    }
}

/// Where the test data of this module lives.
pub fn data_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

impl SpeakerEncoder {
    /// The encoder, loaded once per test process.
    ///
    /// # Panics
    /// When the weights file is missing or malformed: the test cannot go on.
    pub fn shared() -> &'static SpeakerEncoder {
        static ENCODER: OnceLock<SpeakerEncoder> = OnceLock::new();
        ENCODER.get_or_init(|| {
            let bytes = std::fs::read(data_dir().join("ge2e.bin")).expect("the GE2E weights");
            SpeakerEncoder::from_bytes(&bytes).expect("well-formed GE2E weights")
        })
    }

    /// Reads the converted weights (see `tools/anonymity/convert_resemblyzer.py`).
    ///
    /// # Errors
    /// When the magic or the size is wrong.
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let body = bytes
            .strip_prefix(b"GE2Ev1\0\0")
            .ok_or_else(|| anyhow::anyhow!("not a GE2Ev1 weights file"))?;
        let mut floats = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut take = |n: usize| -> anyhow::Result<Vec<f32>> {
            let v: Vec<f32> = floats.by_ref().take(n).collect();
            anyhow::ensure!(v.len() == n, "the weights file is truncated");
            Ok(v)
        };
        let mut layers = Vec::new();
        for input in [MELS, HIDDEN, HIDDEN] {
            let w_ih = Array2::from_shape_vec((4 * HIDDEN, input), take(4 * HIDDEN * input)?)?;
            let w_hh = Array2::from_shape_vec((4 * HIDDEN, HIDDEN), take(4 * HIDDEN * HIDDEN)?)?;
            let b_ih = Array1::from(take(4 * HIDDEN)?);
            let b_hh = Array1::from(take(4 * HIDDEN)?);
            layers.push(Layer {
                w_ih,
                w_hh,
                bias: b_ih + b_hh,
            });
        }
        let linear_w = Array2::from_shape_vec((DIM, HIDDEN), take(DIM * HIDDEN)?)?;
        let linear_b = Array1::from(take(DIM)?);
        anyhow::ensure!(
            body.len() % 4 == 0 && floats.next().is_none(),
            "the weights file has trailing bytes"
        );
        let window = (0..N_FFT)
            .map(|n| {
                0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos() as f32
            })
            .collect();
        Ok(Self {
            layers,
            linear_w,
            linear_b,
            mel_basis: slaney_mel_basis(),
            window,
        })
    }

    /// The d-vector of an utterance at any sample rate (mono samples in -1..1): unit length,
    /// non-negative.
    pub fn embed(&self, samples: &[f32], rate: u32) -> Vec<f32> {
        let wav = preprocess(&resample_to_model_rate(samples, rate));
        self.embed_preprocessed(&wav)
    }

    /// The d-vector of 16 kHz audio that is already preprocessed.
    fn embed_preprocessed(&self, wav: &[f32]) -> Vec<f32> {
        // Partial utterances as resemblyzer's `compute_partial_slices(rate=1.3,
        // min_coverage=0.75)`.
        let n_frames = (wav.len() + 1).div_ceil(HOP);
        let frame_step = ((MODEL_RATE as f64 / 1.3) / HOP as f64).round() as usize;
        let steps = (n_frames + frame_step + 1)
            .saturating_sub(PARTIAL_FRAMES)
            .max(1);
        let mut starts: Vec<usize> = (0..steps).step_by(frame_step).collect();
        if let Some(&last) = starts.last() {
            let coverage = (wav.len() as f64 - (last * HOP) as f64) / (PARTIAL_FRAMES * HOP) as f64;
            if coverage < 0.75 && starts.len() > 1 {
                starts.pop();
            }
        }
        let needed = (starts.last().copied().unwrap_or(0) + PARTIAL_FRAMES) * HOP;
        let mut padded = wav.to_vec();
        if padded.len() <= needed {
            padded.resize(needed, 0.0);
        }
        let mel = self.mel_spectrogram(&padded);
        let mut sum = Array1::<f32>::zeros(DIM);
        for start in &starts {
            let partial = mel.slice(s![*start..*start + PARTIAL_FRAMES, ..]);
            sum += &self.forward(partial);
        }
        let norm = sum.dot(&sum).sqrt().max(1e-12);
        (sum / norm).to_vec()
    }

    /// The encoder network on one partial utterance (frames x mel bands).
    fn forward(&self, frames: ArrayView2<'_, f32>) -> Array1<f32> {
        let mut x = frames.to_owned();
        let mut h = vec![0.0_f32; HIDDEN];
        let mut g = vec![0.0_f32; 4 * HIDDEN];
        for layer in &self.layers {
            // All time steps' input projections at once (one matrix product), then the
            // recurrence, a matrix-vector product per step written out (row-major weights).
            let projected = x.dot(&layer.w_ih.t());
            let w_hh = layer
                .w_hh
                .as_slice()
                .expect("weights built from a vector are contiguous");
            let mut out = Array2::<f32>::zeros((x.nrows(), HIDDEN));
            h.fill(0.0);
            let mut c = [0.0_f32; HIDDEN];
            for (t, xt) in projected.axis_iter(Axis(0)).enumerate() {
                for (k, gk) in g.iter_mut().enumerate() {
                    let row = &w_hh[k * HIDDEN..(k + 1) * HIDDEN];
                    *gk = xt[k] + dot(row, &h) + layer.bias[k];
                }
                for k in 0..HIDDEN {
                    let i = sigmoid(g[k]);
                    let f = sigmoid(g[HIDDEN + k]);
                    let cell = g[2 * HIDDEN + k].tanh();
                    let o = sigmoid(g[3 * HIDDEN + k]);
                    c[k] = f * c[k] + i * cell;
                    h[k] = o * c[k].tanh();
                }
                out.row_mut(t).iter_mut().zip(&h).for_each(|(o, v)| *o = *v);
            }
            x = out;
        }
        let h = Array1::from(h);
        let e = (self.linear_w.dot(&h) + &self.linear_b).mapv(|v| v.max(0.0));
        let norm = e.dot(&e).sqrt().max(1e-12);
        e / norm
    }

    /// librosa's `melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40)`: frames x
    /// bands of mel-weighted power.
    fn mel_spectrogram(&self, wav: &[f32]) -> Array2<f32> {
        let pad = N_FFT / 2;
        let mut padded = vec![0.0_f32; pad];
        padded.extend_from_slice(wav);
        padded.resize(padded.len() + pad, 0.0);
        let frames = 1 + (padded.len() - N_FFT) / HOP;
        let mut planner = rustfft::FftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(N_FFT);
        let bins = N_FFT / 2 + 1;
        let mut power = Array2::<f32>::zeros((frames, bins));
        let mut buf = vec![rustfft::num_complex::Complex32::new(0.0, 0.0); N_FFT];
        for f in 0..frames {
            for (n, b) in buf.iter_mut().enumerate() {
                *b =
                    rustfft::num_complex::Complex32::new(padded[f * HOP + n] * self.window[n], 0.0);
            }
            fft.process(&mut buf);
            for k in 0..bins {
                power[[f, k]] = buf[k].norm_sqr();
            }
        }
        power.dot(&self.mel_basis.t())
    }
}

/// A dot product with eight running sums, which the compiler turns into vector instructions
/// (one running sum would have to add in order).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0_f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a
        .chunks_exact(8)
        .remainder()
        .iter()
        .zip(b.chunks_exact(8).remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Cosine similarity of two embeddings (both unit length: their dot product).
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// librosa's `filters.mel(sr=16000, n_fft=400, n_mels=40)`: Slaney's mel scale and area
/// normalisation, 0 to 8 kHz. Bands x FFT bins.
fn slaney_mel_basis() -> Array2<f32> {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4_f64.ln() / 27.0;
    let hz_to_mel = |f: f64| {
        if f >= MIN_LOG_HZ {
            min_log_mel + (f / MIN_LOG_HZ).ln() / logstep
        } else {
            f / F_SP
        }
    };
    let mel_to_hz = |m: f64| {
        if m >= min_log_mel {
            MIN_LOG_HZ * (logstep * (m - min_log_mel)).exp()
        } else {
            F_SP * m
        }
    };
    let top = hz_to_mel(f64::from(MODEL_RATE) / 2.0);
    let mel_f: Vec<f64> = (0..MELS + 2)
        .map(|i| mel_to_hz(top * i as f64 / (MELS + 1) as f64))
        .collect();
    let bins = N_FFT / 2 + 1;
    let mut basis = Array2::<f32>::zeros((MELS, bins));
    for m in 0..MELS {
        let enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
        for k in 0..bins {
            let freq = k as f64 * f64::from(MODEL_RATE) / N_FFT as f64;
            let lower = (freq - mel_f[m]) / (mel_f[m + 1] - mel_f[m]);
            let upper = (mel_f[m + 2] - freq) / (mel_f[m + 2] - mel_f[m + 1]);
            basis[[m, k]] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    basis
}

/// A windowed-sinc low-pass at 7.6 kHz for 48 kHz (Blackman window, 121 taps, unit DC gain).
fn low_pass_7k6_at_48k() -> Vec<f64> {
    const TAPS: usize = 121;
    let cutoff = 7_600.0 / 48_000.0;
    let span = (TAPS - 1) as f64;
    (0..TAPS)
        .map(|n| {
            let m = n as f64 - span / 2.0;
            let sinc = if m == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * std::f64::consts::PI * cutoff * m).sin() / (std::f64::consts::PI * m)
            };
            let phase = 2.0 * std::f64::consts::PI * n as f64 / span;
            sinc * (0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos())
        })
        .collect()
}

/// `signal` (at 48 kHz) filtered by `taps`, read at every `step`-th sample (centred filter).
fn filter_and_pick(signal: &[f32], taps: &[f64], step: usize, gain: f64) -> Vec<f32> {
    let half = taps.len() / 2;
    (0..signal.len().div_ceil(step))
        .map(|o| {
            let centre = o * step;
            let mut acc = 0.0_f64;
            for (k, t) in taps.iter().enumerate() {
                if let Some(x) = (centre + k).checked_sub(half).and_then(|i| signal.get(i)) {
                    acc += f64::from(*x) * t;
                }
            }
            (acc * gain) as f32
        })
        .collect()
}

/// Resamples to 16 kHz: 48 kHz through [`low_pass_7k6_at_48k`] and decimation by 3; 16 kHz
/// unchanged.
///
/// # Panics
/// At other rates (the tests use only these two).
pub fn resample_to_model_rate(samples: &[f32], rate: u32) -> Vec<f32> {
    if rate == MODEL_RATE {
        return samples.to_vec();
    }
    assert_eq!(rate, 48_000, "only 16 and 48 kHz are supported");
    filter_and_pick(samples, &low_pass_7k6_at_48k(), 3, 1.0)
}

/// 16 kHz to 48 kHz: zeros stuffed between the samples, then the same low-pass (gain 3).
pub fn upsample_16k_to_48k(samples: &[f32]) -> Vec<f32> {
    let stuffed: Vec<f32> = samples.iter().flat_map(|v| [*v, 0.0, 0.0]).collect();
    filter_and_pick(&stuffed, &low_pass_7k6_at_48k(), 1, 3.0)
}

/// resemblyzer's `preprocess_wav` at 16 kHz: volume normalisation to -30 dBFS (raise only),
/// then trimming of long silences (energy in place of WebRTC's VAD; see the module docs).
pub fn preprocess(wav: &[f32]) -> Vec<f32> {
    let mean_square =
        wav.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / wav.len().max(1) as f64;
    let dbfs = 10.0 * mean_square.max(1e-20).log10();
    let change = -30.0 - dbfs;
    let gain = if change > 0.0 {
        10f64.powf(change / 20.0)
    } else {
        1.0
    };
    let wav: Vec<f32> = wav.iter().map(|v| (f64::from(*v) * gain) as f32).collect();

    // 30 ms windows; "voice" where the window's energy is within 25 dB of the loudest tenth.
    let window = 480;
    let usable = wav.len() - wav.len() % window;
    let energies: Vec<f64> = wav[..usable]
        .chunks_exact(window)
        .map(|w| w.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / window as f64)
        .collect();
    if energies.is_empty() {
        return wav;
    }
    let mut sorted = energies.clone();
    sorted.sort_by(f64::total_cmp);
    let loud = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
    let flags: Vec<f64> = energies
        .iter()
        .map(|e| {
            if *e > loud * 10f64.powf(-2.5) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    // resemblyzer: moving average of width 8, rounded, then binary dilation by 7.
    let width = 8usize;
    let mut padded = vec![0.0; (width - 1) / 2];
    padded.extend_from_slice(&flags);
    padded.extend(std::iter::repeat_n(0.0, width / 2));
    let smoothed: Vec<bool> = (0..flags.len())
        .map(|i| (padded[i..i + width].iter().sum::<f64>() / width as f64).round() >= 1.0)
        .collect();
    let reach = 3usize; // a structure of 7 centred on each window
    let keep: Vec<bool> = (0..smoothed.len())
        .map(|i| {
            let from = i.saturating_sub(reach);
            let to = (i + reach + 1).min(smoothed.len());
            smoothed[from..to].iter().any(|b| *b)
        })
        .collect();
    wav[..usable]
        .chunks_exact(window)
        .zip(keep)
        .filter(|(_, k)| *k)
        .flat_map(|(w, _)| w.iter().copied())
        .collect()
}

/// Reads a 16-bit PCM mono WAV.
///
/// # Errors
/// When the file cannot be read or is not 16-bit mono PCM.
pub fn read_wav(path: &Path) -> anyhow::Result<(Vec<f32>, u32)> {
    let bytes = std::fs::read(path)?;
    anyhow::ensure!(bytes.len() > 44 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE");
    let mut at = 12;
    let (mut rate, mut data) = (None, None);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body = bytes
            .get(at + 8..at + 8 + len)
            .ok_or_else(|| anyhow::anyhow!("truncated chunk"))?;
        match id {
            b"fmt " => {
                anyhow::ensure!(body.len() >= 16, "short fmt chunk");
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let bits = u16::from_le_bytes([body[14], body[15]]);
                anyhow::ensure!(channels == 1 && bits == 16, "not 16-bit mono");
                rate = Some(u32::from_le_bytes([body[4], body[5], body[6], body[7]]));
            }
            b"data" => data = Some(body),
            _ => {}
        }
        at += 8 + len + len % 2;
    }
    let (rate, data) = rate
        .zip(data)
        .ok_or_else(|| anyhow::anyhow!("no fmt or data chunk"))?;
    Ok((
        data.chunks_exact(2)
            .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
            .collect(),
        rate,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embed_file(name: &str) -> Vec<f32> {
        let (samples, rate) = read_wav(&data_dir().join(name)).expect("the test recording");
        SpeakerEncoder::shared().embed(&samples, rate)
    }

    #[test]
    fn the_network_computes_what_the_reference_computes() {
        // The same synthetic partial as `convert_resemblyzer.py`, whose numpy forward pass
        // printed these (indices 2, 4, 6 and the sum of all 256).
        let frames = Array2::from_shape_fn((PARTIAL_FRAMES, MELS), |(t, c)| {
            (0.1 * t as f32 + 0.3 * c as f32).sin().abs()
        });
        let e = SpeakerEncoder::shared().forward(frames.view());
        for (i, want) in [(2, 0.037632), (4, 0.022774), (6, 0.007950)] {
            assert!(
                (e[i] - want).abs() < 1e-4,
                "component {i}: {} vs {want}",
                e[i]
            );
        }
        assert!((e.sum() - 7.917758).abs() < 1e-3, "sum {}", e.sum());
    }

    #[test]
    fn it_tells_speakers_apart_as_resemblyzer_does() {
        // resemblyzer 0.1.4 (librosa 0.11, webrtcvad) on the same files gave: slt a vs slt b
        // 0.943; slt vs rms 0.546/0.558, vs awb 0.576/0.565, vs kal16 0.518/0.484.
        let a = embed_file("witness_slt_a.wav");
        let b = embed_file("witness_slt_b.wav");
        let same = similarity(&a, &b);
        assert!((same - 0.943).abs() < 0.03, "same speaker {same:.3}");
        for (other, want) in [
            ("other_rms.wav", 0.558),
            ("other_awb.wav", 0.565),
            ("other_kal16.wav", 0.484),
        ] {
            let sim = similarity(&b, &embed_file(other));
            assert!(
                (sim - want).abs() < 0.05,
                "{other}: {sim:.3} vs resemblyzer's {want}"
            );
            assert!(sim < same - 0.2);
        }
        // The 48 kHz path gives the same answer as 16 kHz.
        let (samples, _) = read_wav(&data_dir().join("witness_slt_a.wav")).expect("a recording");
        let upsampled = upsample_16k_to_48k(&samples);
        let a48 = SpeakerEncoder::shared().embed(&upsampled, 48_000);
        assert!(similarity(&a, &a48) > 0.97, "{}", similarity(&a, &a48));
    }
}
