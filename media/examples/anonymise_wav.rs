//! Anonymises a 16-bit mono (or first channel of a multi-channel) 48 kHz WAV file.
//!
//! ```text
//! cargo run --release -p assize-media --example anonymise_wav -- \
//!     --secret-hex <64 hex digits> [--warm-up calib.wav] [--frame 480] \
//!     [--coefficients 14] [--contrast 0.85] [--target-f0 HZ] [--warp FACTOR] in.wav out.wav
//! ```
//!
//! `--target-f0` and `--warp` pin the made-up voice's mean F0 and vocal-tract warp instead of
//! drawing them from the secret; the measurement script uses them to play an attacker who
//! searches the method's parameter space.
//!
//! Prints the latency and the real-time factor on stderr.

use std::process::ExitCode;
use std::time::Instant;

use assize_media::{VoiceAnonymiser, VoiceSettings};

fn read_wav(path: &str) -> Result<Vec<f32>, String> {
    let mut reader = hound::WavReader::open(path).map_err(|e| format!("{path}: {e}"))?;
    let spec = reader.spec();
    if spec.sample_rate != 48_000 {
        return Err(format!(
            "{path}: {} Hz, need 48000 Hz (convert with sox first)",
            spec.sample_rate
        ));
    }
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(format!("{path}: need 16-bit integer PCM"));
    }
    let channels = usize::from(spec.channels.max(1));
    let mut out = Vec::with_capacity(reader.len() as usize / channels);
    for (i, s) in reader.samples::<i16>().enumerate() {
        let s = s.map_err(|e| format!("{path}: {e}"))?;
        if i % channels == 0 {
            out.push(f32::from(s) / 32768.0);
        }
    }
    Ok(out)
}

fn parse_secret(hex: &str) -> Result<[u8; 32], String> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return Err("--secret-hex needs exactly 64 hex digits".into());
    }
    let mut secret = [0u8; 32];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| "--secret-hex: not a hex digit".to_string())?;
    }
    Ok(secret)
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut secret = None;
    let mut warm = None;
    let mut frame = 480usize;
    let mut settings = VoiceSettings::default();
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--secret-hex" => secret = Some(parse_secret(&value("--secret-hex")?)?),
            "--warm-up" => warm = Some(value("--warm-up")?),
            "--frame" => {
                frame = value("--frame")?
                    .parse()
                    .map_err(|_| "--frame: not a number")?;
            }
            "--coefficients" => {
                settings.cepstral_coefficients = value("--coefficients")?
                    .parse()
                    .map_err(|_| "--coefficients: not a number")?;
            }
            "--contrast" => {
                settings.contrast = value("--contrast")?
                    .parse()
                    .map_err(|_| "--contrast: not a number")?;
            }
            "--target-f0" => {
                let f: f32 = value("--target-f0")?
                    .parse()
                    .map_err(|_| "--target-f0: not a number")?;
                settings.target_f0_min_hz = f;
                settings.target_f0_max_hz = f;
            }
            "--warp" => {
                let w: f32 = value("--warp")?
                    .parse()
                    .map_err(|_| "--warp: not a number")?;
                settings.warp_min = w;
                settings.warp_max = w;
            }
            _ => files.push(a),
        }
    }
    let secret = secret.ok_or("--secret-hex is required")?;
    let [input, output] = files.as_slice() else {
        return Err("usage: anonymise_wav --secret-hex HEX [options] in.wav out.wav".into());
    };
    let samples = read_wav(input)?;
    let mut anon = VoiceAnonymiser::new(&secret, settings).map_err(|e| e.to_string())?;
    if let Some(w) = warm {
        anon.warm_up(&read_wav(&w)?);
    }
    let mut out = vec![0.0f32; samples.len()];
    let start = Instant::now();
    for (i, o) in samples
        .chunks(frame.max(1))
        .zip(out.chunks_mut(frame.max(1)))
    {
        anon.process(i, o).map_err(|e| e.to_string())?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let seconds = samples.len() as f64 / 48_000.0;
    eprintln!(
        "latency {} samples ({:.2} ms); processed {:.2} s in {:.1} ms: real-time factor {:.4}",
        anon.latency_samples(),
        anon.latency_samples() as f64 / 48.0,
        seconds,
        elapsed * 1e3,
        elapsed / seconds.max(1e-9)
    );
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer =
        hound::WavWriter::create(output, spec).map_err(|e| format!("{output}: {e}"))?;
    for v in out {
        writer
            .write_sample((v.clamp(-1.0, 1.0) * 32767.0) as i16)
            .map_err(|e| format!("{output}: {e}"))?;
    }
    writer.finalize().map_err(|e| format!("{output}: {e}"))?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anonymise_wav: {e}");
            ExitCode::FAILURE
        }
    }
}
