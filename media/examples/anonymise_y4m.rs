//! Anonymises a 4:2:0 Y4M video with the face anonymiser.
//!
//! ```text
//! cargo run --release -p assize-media --example anonymise_y4m -- \
//!     --mode masked|full-frame|none [--detect-every 2] [--long-side 320] [--margin 0.5] \
//!     in.y4m out.y4m
//! ```
//!
//! Prints, on stderr, the time per frame and how many frames were masked, silhouetted or left
//! alone. The measurement script (`tools/anonymity/measure_face.py`) uses it.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use assize_media::face::{Cover, FaceAnonymiser, FaceMode, FaceSettings, I420Frame, packed_len};

fn parse<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    v.as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} needs a number"))
}

/// Width and height from a Y4M stream header line.
fn header_size(header: &str) -> Result<(u32, u32), String> {
    let mut w = None;
    let mut h = None;
    for token in header.split_whitespace() {
        if let Some(v) = token.strip_prefix('W') {
            w = v.parse().ok();
        } else if let Some(v) = token.strip_prefix('H') {
            h = v.parse().ok();
        } else if let Some(c) = token.strip_prefix('C')
            && !c.starts_with("420")
        {
            return Err(format!("colour space {c}: only 4:2:0 is supported"));
        }
    }
    match (w, h) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err("Y4M header without W and H".into()),
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut settings = FaceSettings::default();
    let mut mode = FaceMode::Masked;
    let mut files = Vec::new();
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
            _ => files.push(a),
        }
    }
    let [input, output] = files.as_slice() else {
        return Err("usage: anonymise_y4m [options] in.y4m out.y4m".into());
    };
    let mut reader =
        BufReader::new(std::fs::File::open(input).map_err(|e| format!("{input}: {e}"))?);
    let mut header = String::new();
    reader
        .read_line(&mut header)
        .map_err(|e| format!("{input}: {e}"))?;
    if !header.starts_with("YUV4MPEG2 ") {
        return Err(format!("{input}: not a Y4M file"));
    }
    let (w, h) = header_size(&header)?;
    let mut writer =
        BufWriter::new(std::fs::File::create(output).map_err(|e| format!("{output}: {e}"))?);
    writer
        .write_all(header.as_bytes())
        .map_err(|e| format!("{output}: {e}"))?;

    let mut anon = FaceAnonymiser::new(mode, settings).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; packed_len(w, h)];
    let (mut frames, mut masked, mut silhouettes, mut busy) = (0u32, 0u32, 0u32, 0.0f64);
    loop {
        let mut line = String::new();
        if reader
            .read_line(&mut line)
            .map_err(|e| format!("{input}: {e}"))?
            == 0
        {
            break;
        }
        if !line.starts_with("FRAME") {
            return Err(format!("{input}: frame {frames}: no FRAME marker"));
        }
        reader
            .read_exact(&mut buf)
            .map_err(|e| format!("{input}: frame {frames}: {e}"))?;
        let start = Instant::now();
        let mut frame = I420Frame::packed(w, h, &mut buf).map_err(|e| e.to_string())?;
        match anon.process(&mut frame).cover {
            Cover::Masks(_) => masked += 1,
            Cover::Silhouette(_) => silhouettes += 1,
            _ => {}
        }
        busy += start.elapsed().as_secs_f64();
        writer
            .write_all(b"FRAME\n")
            .and_then(|()| writer.write_all(&buf))
            .map_err(|e| format!("{output}: {e}"))?;
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
