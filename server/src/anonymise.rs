//! `assize anonymise`: the protected-witness anonymisers applied to a recorded file, as a court
//! needs before disclosing a recorded testimony. The same `assize-media` code and settings as the
//! live pipeline: 20 ms frames through [`VoiceAnonymiser`] with the default settings for a WAV;
//! every picture of a 4:2:0 Y4M video through the [`FaceAnonymiser`] (masked or full-frame) with
//! the default settings.
//!
//! The secret decides the made-up voice: the same secret gives the same voice (one hearing),
//! another secret another voice. It is read from a file (32 raw bytes, or 64 hex digits) that
//! must be readable by its owner only.

use std::path::Path;

use anyhow::Context as _;
use assize_media::{
    FaceAnonymiser, FaceMode, FaceSettings, I420Frame, SAMPLE_RATE_HZ, VoiceAnonymiser,
    VoiceSettings, y4m,
};
use zeroize::Zeroizing;

use crate::pki::check_key_permissions;

/// Samples per 20 ms frame at 48 kHz: what the live pipeline hands the anonymiser.
pub const FRAME_SAMPLES: usize = 960;

/// Reads a per-hearing secret: 32 raw bytes, or 64 hex digits (a trailing newline is fine).
///
/// # Errors
/// When the file is readable by others, unreadable or not a 256-bit secret.
pub fn read_secret(path: &Path) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    check_key_permissions(path)?;
    let bytes = Zeroizing::new(
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    let mut secret = Zeroizing::new([0u8; 32]);
    if bytes.len() == 32 {
        secret.copy_from_slice(&bytes);
        return Ok(secret);
    }
    let text = std::str::from_utf8(&bytes).unwrap_or("").trim();
    if text.len() == 64
        && let Ok(raw) = hex::decode(text)
    {
        secret.copy_from_slice(&raw);
        return Ok(secret);
    }
    anyhow::bail!(
        "{} must hold a 256-bit secret: 32 raw bytes or 64 hex digits (e.g. `openssl rand -hex 32 > FILE; chmod 600 FILE`)",
        path.display()
    )
}

/// What was done.
#[derive(Debug)]
pub struct Report {
    pub seconds: f64,
    pub kind: &'static str,
}

/// Distorts the voice in a WAV file (48 kHz, 16-bit PCM; the first channel is used) and writes a
/// 48 kHz mono 16-bit WAV.
///
/// # Errors
/// An unreadable or unsupported input, with what to do about it; nothing is written then.
pub fn anonymise_wav(input: &Path, output: &Path, secret: &[u8; 32]) -> anyhow::Result<Report> {
    let mut reader = hound::WavReader::open(input)
        .with_context(|| format!("{} is not a readable WAV file", input.display()))?;
    let spec = reader.spec();
    if spec.sample_rate != SAMPLE_RATE_HZ {
        anyhow::bail!(
            "{} is sampled at {} Hz; convert it to 48000 Hz first (ffmpeg -i IN -ar 48000 -ac 1 OUT.wav)",
            input.display(),
            spec.sample_rate
        );
    }
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        anyhow::bail!(
            "{} is not 16-bit PCM; convert it first (ffmpeg -i IN -ar 48000 -ac 1 -sample_fmt s16 OUT.wav)",
            input.display()
        );
    }
    let channels = usize::from(spec.channels.max(1));
    let mut samples = Vec::with_capacity(reader.len() as usize / channels);
    for (i, s) in reader.samples::<i16>().enumerate() {
        let s = s.with_context(|| format!("{} is truncated or corrupt", input.display()))?;
        if i % channels == 0 {
            samples.push(f32::from(s) / 32768.0);
        }
    }
    let mut voice = VoiceAnonymiser::new(secret, VoiceSettings::default())
        .map_err(|e| anyhow::anyhow!("the voice anonymiser cannot start: {e}"))?;
    for frame in samples.chunks_mut(FRAME_SAMPLES) {
        voice.process_in_place(frame);
    }
    // Write to a temporary file and rename: a failure leaves no half-written output.
    let tmp = output.with_extension("partial");
    {
        let mut writer = hound::WavWriter::create(
            &tmp,
            hound::WavSpec {
                channels: 1,
                sample_rate: SAMPLE_RATE_HZ,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            },
        )
        .with_context(|| format!("cannot write {}", tmp.display()))?;
        for s in &samples {
            // Quantise with rounding; the clamp keeps clipping inside the 16-bit range.
            let v = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
            writer.write_sample(v)?;
        }
        writer.finalize()?;
    }
    std::fs::rename(&tmp, output)
        .with_context(|| format!("cannot move the result to {}", output.display()))?;
    Ok(Report {
        seconds: samples.len() as f64 / f64::from(SAMPLE_RATE_HZ),
        kind: "voice",
    })
}

/// Covers the faces in a 4:2:0 Y4M video (masked: each face under an opaque mask, failing
/// closed to the full-frame silhouette; or the full-frame silhouette throughout) and writes a
/// Y4M of the same size and frame rate.
///
/// # Errors
/// An unreadable, unsupported or truncated input, with what to do about it; nothing is written
/// then (the output appears only once complete).
pub fn anonymise_y4m(input: &Path, output: &Path, mode: FaceMode) -> anyhow::Result<Report> {
    use std::io::Write as _;
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot read {}", input.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let header = y4m::read_header(&mut reader, assize_media::codec::DEFAULT_MAX_SIDE)
        .with_context(|| format!("{} cannot be anonymised", input.display()))?;
    let mut face = FaceAnonymiser::new(mode, FaceSettings::default())
        .map_err(|e| anyhow::anyhow!("the face anonymiser cannot start: {e}"))?;
    let tmp = output.with_extension("partial");
    let result = (|| -> anyhow::Result<u64> {
        let mut writer = std::io::BufWriter::new(
            std::fs::File::create(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?,
        );
        y4m::write_header(&mut writer, &header)?;
        let mut picture = Vec::new();
        let mut frames = 0u64;
        while y4m::read_frame(&mut reader, &header, frames, &mut picture)
            .with_context(|| format!("{} cannot be anonymised", input.display()))?
        {
            let mut frame = I420Frame::packed(header.width, header.height, &mut picture)
                .map_err(|e| anyhow::anyhow!("frame {frames}: {e}"))?;
            face.process(&mut frame);
            y4m::write_frame(&mut writer, &header, &picture)?;
            frames += 1;
        }
        let file = writer
            .into_inner()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", tmp.display(), e.error()))?;
        file.sync_all()?;
        Ok(frames)
    })();
    let frames = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, output)
        .with_context(|| format!("cannot move the result to {}", output.display()))?;
    let _ = std::io::stdout().flush();
    #[allow(clippy::cast_precision_loss)] // frame counts far below 2^52
    let seconds = frames as f64 / header.fps();
    Ok(Report {
        seconds,
        kind: match mode {
            FaceMode::FullFrame => "video (full-frame silhouette)",
            _ => "video (faces masked)",
        },
    })
}

/// A hearing's anonymiser secret: made (random, sealed with the vault) the first time it is
/// asked for, the same ever after.
///
/// # Errors
/// On database failure, or when the stored secret does not open (another master key).
pub async fn hearing_secret(
    store: &crate::store::Store,
    vault: &crate::vault::Vault,
    hearing_id: &str,
) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let aad = format!("hearing-secret:{hearing_id}");
    if store.hearing_secret(hearing_id).await?.is_none() {
        let mut fresh = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), fresh.as_mut());
        let sealed = vault.seal(&aad, fresh.as_ref());
        store
            .insert_hearing_secret(hearing_id, &sealed.wrapped_key, &sealed.ciphertext)
            .await?;
    }
    let (wrapped_key, ciphertext) = store
        .hearing_secret(hearing_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the hearing secret vanished"))?;
    let plain = Zeroizing::new(
        vault
            .open(
                &aad,
                &crate::vault::Sealed {
                    wrapped_key,
                    ciphertext,
                },
            )
            .context("the hearing secret does not open")?,
    );
    let mut secret = Zeroizing::new([0u8; 32]);
    anyhow::ensure!(plain.len() == 32, "the hearing secret is not 256 bits");
    secret.copy_from_slice(&plain);
    Ok(secret)
}
