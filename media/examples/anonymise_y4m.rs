//! Anonymises a 4:2:0 Y4M video with the face anonymiser.
//!
//! ```text
//! cargo run --release -p assize-media --example anonymise_y4m -- \
//!     --mode masked|full-frame|none [--detect-every 2] [--long-side 320] [--margin 0.5] \
//!     [--detector-delay FRAMES] in.y4m out.y4m
//! ```
//!
//! `--detector-delay N` (N > 0) runs the detection deferred, as the live pipeline does, with
//! each answer handed back N frames after the frame it is about: a deterministic stand-in for a
//! detector thread that takes N frame intervals (the live pipeline's answers take one to two
//! frames at 30 fps on this machine; `docs/performance.md`).
//!
//! Prints, on stderr, the time per frame and how many frames were masked, silhouetted or left
//! alone. The measurement script (`tools/anonymity/measure_face.py`) uses it.

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use std::collections::VecDeque;

use assize_media::face::{
    CenterFace, Cover, Detection, DetectionTicket, DetectorError, FaceAnonymiser, FaceDetector,
    FaceMode, FaceSettings, I420Frame,
};
use assize_media::y4m;

fn parse<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    v.as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} needs a number"))
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut settings = FaceSettings::default();
    let mut mode = FaceMode::Masked;
    let mut files = Vec::new();
    let mut delay = 0u64;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mode" => {
                mode = match args.next().as_deref() {
                    Some("masked") => FaceMode::Masked,
                    Some("full-frame") => FaceMode::FullFrame,
                    Some("none") => FaceMode::None,
                    _ => return Err("--mode masked|full-frame|none".into()),
                }
            }
            "--detect-every" => settings.detect_every = parse(&a, args.next())?,
            "--long-side" => settings.detector_long_side = parse(&a, args.next())?,
            "--margin" => settings.margin = parse(&a, args.next())?,
            "--detector-delay" => delay = parse(&a, args.next())?,
            _ => files.push(a),
        }
    }
    let [input, output] = files.as_slice() else {
        return Err("usage: anonymise_y4m [options] in.y4m out.y4m".into());
    };
    let mut reader =
        BufReader::new(std::fs::File::open(input).map_err(|e| format!("{input}: {e}"))?);
    let header = y4m::read_header(&mut reader, u32::MAX).map_err(|e| format!("{input}: {e}"))?;
    let (w, h) = (header.width, header.height);
    let mut writer =
        BufWriter::new(std::fs::File::create(output).map_err(|e| format!("{output}: {e}"))?);
    y4m::write_header(&mut writer, &header).map_err(|e| format!("{output}: {e}"))?;

    let long_side = settings.detector_long_side;
    let mut anon = if delay == 0 {
        FaceAnonymiser::new(mode, settings)
    } else {
        FaceAnonymiser::deferred(mode, settings)
    }
    .map_err(|e| e.to_string())?;
    // Deferred runs hold the detector here; in line, the anonymiser holds its own.
    let mut model = if delay > 0 && mode == FaceMode::Masked {
        Some(CenterFace::bundled(long_side).map_err(|e| e.to_string())?)
    } else {
        None
    };
    type Waiting = (u64, DetectionTicket, Result<Vec<Detection>, DetectorError>);
    let mut waiting: VecDeque<Waiting> = VecDeque::new();
    let mut buf = Vec::new();
    let (mut frames, mut masked, mut silhouettes, mut busy) = (0u32, 0u32, 0u32, 0.0f64);
    while y4m::read_frame(&mut reader, &header, u64::from(frames), &mut buf)
        .map_err(|e| format!("{input}: {e}"))?
    {
        let start = Instant::now();
        let mut frame = I420Frame::packed(w, h, &mut buf).map_err(|e| e.to_string())?;
        let report = if delay == 0 {
            anon.process(&mut frame)
        } else {
            let now = u64::from(frames);
            while waiting.front().is_some_and(|(due, _, _)| *due <= now) {
                if let Some((_, ticket, result)) = waiting.pop_front() {
                    anon.answer(ticket, result.as_deref().map_err(Clone::clone));
                }
            }
            if let Some(ticket) = anon.prepare(&frame) {
                let mut faces = Vec::new();
                let result = match model.as_mut() {
                    Some(m) => m.detect(&frame, &mut faces).map(|()| faces),
                    None => Err(DetectorError::NoAnswer),
                };
                waiting.push_back((now + delay, ticket, result));
            }
            anon.cover(&mut frame)
        };
        match report.cover {
            Cover::Masks(_) => masked += 1,
            Cover::Silhouette(_) => silhouettes += 1,
            _ => {}
        }
        busy += start.elapsed().as_secs_f64();
        y4m::write_frame(&mut writer, &header, &buf).map_err(|e| format!("{output}: {e}"))?;
        frames += 1;
    }
    writer.flush().map_err(|e| format!("{output}: {e}"))?;
    eprintln!(
        "{frames} frames {w}x{h}: {:.2} ms/frame; {masked} masked, {silhouettes} silhouette, {} \
         untouched",
        busy * 1e3 / f64::from(frames.max(1)),
        frames - masked - silhouettes
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anonymise_y4m: {e}");
            ExitCode::FAILURE
        }
    }
}
