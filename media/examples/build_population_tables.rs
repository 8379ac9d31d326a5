//! Builds `media/src/voice/population.rs` from recordings of many speakers.
//!
//! ```text
//! cargo run --release -p assize-media --example build_population_tables -- \
//!     OUT.rs DIR
//! ```
//!
//! `DIR` holds one sub-directory per speaker with 48 kHz 16-bit WAV files (as written by
//! `tools/anonymity/build_population.sh`). Every recording is analysed exactly as the
//! anonymiser analyses a witness; the speech frames of each speaker give a mean mel-cepstrum
//! and a covariance. The table holds the mean of the speaker means and the pooled
//! within-speaker covariance (the mean of the speaker covariances), each synthesis engine
//! (the name's prefix up to the first `-`) weighing the same.

#![allow(clippy::needless_range_loop)] // matrix code: index loops read better

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use assize_media::voice::features::{CEP_DIM, analyse};

fn read_wav(path: &Path) -> Result<Vec<f32>, String> {
    let mut reader =
        hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec = reader.spec();
    if spec.sample_rate != 48_000 || spec.bits_per_sample != 16 {
        return Err(format!("{}: need 48 kHz 16-bit", path.display()));
    }
    let channels = usize::from(spec.channels.max(1));
    let mut out = Vec::new();
    for (i, s) in reader.samples::<i16>().enumerate() {
        let s = s.map_err(|e| format!("{}: {e}", path.display()))?;
        if i % channels == 0 {
            out.push(f32::from(s) / 32768.0);
        }
    }
    Ok(out)
}

struct Speaker {
    name: String,
    frames: usize,
    mean: [f64; CEP_DIM],
    cov: [[f64; CEP_DIM]; CEP_DIM],
}

fn speaker(dir: &Path) -> Result<Option<Speaker>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    files.sort();
    let mut frames: Vec<[f32; CEP_DIM]> = Vec::new();
    for f in &files {
        frames.extend(
            analyse(&read_wav(f)?)
                .into_iter()
                .filter(|f| f.speech)
                .map(|f| f.cepstrum),
        );
    }
    if frames.len() < 200 {
        return Ok(None);
    }
    let n = frames.len() as f64;
    let mut mean = [0.0f64; CEP_DIM];
    for fr in &frames {
        for (m, v) in mean.iter_mut().zip(fr.iter()) {
            *m += f64::from(*v) / n;
        }
    }
    let mut cov = [[0.0f64; CEP_DIM]; CEP_DIM];
    for fr in &frames {
        for i in 0..CEP_DIM {
            let di = f64::from(fr[i]) - mean[i];
            for j in 0..CEP_DIM {
                cov[i][j] += di * (f64::from(fr[j]) - mean[j]) / n;
            }
        }
    }
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Some(Speaker {
        name,
        frames: frames.len(),
        mean,
        cov,
    }))
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out_path, dir] = args.as_slice() else {
        return Err("usage: build_population_tables OUT.rs DIR".into());
    };
    let mut dirs: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{dir}: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut speakers = Vec::new();
    for d in &dirs {
        match speaker(d)? {
            Some(s) => {
                eprintln!(
                    "{}: {} speech frames, mean c1..c4 {:.2?}",
                    s.name,
                    s.frames,
                    &s.mean[..4]
                );
                speakers.push(s);
            }
            None => eprintln!("{}: too little speech, skipped", d.display()),
        }
    }
    if speakers.len() < 2 {
        return Err("need at least two speakers".into());
    }
    // Every synthesis engine weighs the same, and every voice the same within its engine:
    // the many espeak-ng variants share one synthesiser's spectral character and would
    // otherwise define the reference on their own.
    let group_of = |name: &str| name.split('-').next().unwrap_or_default().to_string();
    let mut groups: Vec<String> = speakers.iter().map(|s| group_of(&s.name)).collect();
    groups.sort();
    groups.dedup();
    let mut mean = [0.0f64; CEP_DIM];
    let mut cov = [[0.0f64; CEP_DIM]; CEP_DIM];
    for s in &speakers {
        let g = group_of(&s.name);
        let in_group = speakers.iter().filter(|t| group_of(&t.name) == g).count() as f64;
        let w = 1.0 / (groups.len() as f64 * in_group);
        for i in 0..CEP_DIM {
            mean[i] += w * s.mean[i];
            for j in 0..CEP_DIM {
                cov[i][j] += w * s.cov[i][j];
            }
        }
    }
    eprintln!("engines weighted equally: {}", groups.join(", "));
    let total: usize = speakers.iter().map(|s| s.frames).sum();
    let mut src = String::new();
    let _ = writeln!(
        src,
        "//! Population statistics of the mel-cepstrum (generated; do not edit)."
    );
    let _ = writeln!(src, "//!");
    let _ = writeln!(
        src,
        "//! Generated by `tools/anonymity/build_population.py` with the"
    );
    let _ = writeln!(
        src,
        "//! `build_population_tables` example from {} synthetic voices",
        speakers.len()
    );
    let _ = writeln!(
        src,
        "//! and {total} speech frames of 5 ms. None of these voices is used to"
    );
    let _ = writeln!(
        src,
        "//! measure the anonymiser. Each engine ({}) weighs the same.",
        groups.join(", ")
    );
    let _ = writeln!(src, "//! Voices:");
    let mut line = String::from("//!");
    for s in &speakers {
        if line.len() + s.name.len() > 95 {
            let _ = writeln!(src, "{line}");
            line = String::from("//!");
        }
        line.push(' ');
        line.push_str(&s.name);
    }
    let _ = writeln!(src, "{line}");
    let _ = writeln!(src);
    let _ = writeln!(src, "use super::cepstrum::CEP_DIM;");
    let _ = writeln!(src);
    let _ = writeln!(src, "/// Number of voices the tables were computed from.");
    let _ = writeln!(
        src,
        "#[allow(dead_code, reason = \"documents the table; read by tests\")]"
    );
    let _ = writeln!(
        src,
        "pub(crate) const SPEAKERS: usize = {};",
        speakers.len()
    );
    let _ = writeln!(src);
    let _ = writeln!(
        src,
        "/// Mean over voices of each voice's mean mel-cepstrum (`c1..=c{CEP_DIM}`)."
    );
    let _ = writeln!(src, "#[rustfmt::skip]");
    let _ = write!(src, "pub(crate) const MEAN: [f32; CEP_DIM] = [");
    for v in mean {
        let _ = write!(src, "{:?}, ", v as f32);
    }
    let _ = writeln!(src, "];");
    let _ = writeln!(src);
    let _ = writeln!(
        src,
        "/// Pooled within-speaker covariance of the mel-cepstrum."
    );
    let _ = writeln!(src, "#[rustfmt::skip]");
    let _ = writeln!(
        src,
        "pub(crate) const WITHIN_COV: [[f32; CEP_DIM]; CEP_DIM] = ["
    );
    for row in cov {
        let _ = write!(src, "    [");
        for v in row {
            let _ = write!(src, "{:?}, ", v as f32);
        }
        let _ = writeln!(src, "],");
    }
    let _ = writeln!(src, "];");
    std::fs::write(out_path, src).map_err(|e| format!("{out_path}: {e}"))?;
    eprintln!(
        "wrote {out_path}: {} voices, {total} frames",
        speakers.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("build_population_tables: {e}");
            ExitCode::FAILURE
        }
    }
}
