//! Behaviour of the voice anonymiser as a black box: 48 kHz frames in, frames out.

use assize_media::voice::features::analyse;
use assize_media::{LATENCY_SAMPLES, VoiceAnonymiser, VoiceError, VoiceSettings};

const FS: f32 = 48_000.0;

/// A synthetic vowel-like voice: a glottal-ish pulse train with vibrato through three formant
/// resonators, at roughly -20 dBFS, with syllable-like amplitude modulation.
fn synthetic_voice(seconds: f32, f0: f32, seed: u32) -> Vec<f32> {
    let n = (seconds * FS) as usize;
    let formants = [(700.0f32, 80.0f32), (1200.0, 100.0), (2600.0, 150.0)];
    let mut state = [[0.0f32; 2]; 3];
    let mut phase = 0.0f32;
    let mut s = seed.max(1);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f32 / FS;
        let f = f0 * (1.0 + 0.05 * (2.0 * std::f32::consts::PI * 3.0 * t).sin());
        phase += f / FS;
        let mut e = 0.0;
        if phase >= 1.0 {
            phase -= 1.0;
            e = 1.0;
        }
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        e += 0.02 * ((s as f32 / u32::MAX as f32) - 0.5);
        let mut y = e;
        for ((fc, bw), st) in formants.iter().zip(state.iter_mut()) {
            let r = (-std::f32::consts::PI * bw / FS).exp();
            let c = 2.0 * r * (2.0 * std::f32::consts::PI * fc / FS).cos();
            let v = y + c * st[0] - r * r * st[1];
            st[1] = st[0];
            st[0] = v;
            y = v * (1.0 - r);
        }
        let env = 0.6 + 0.4 * (2.0 * std::f32::consts::PI * 4.0 * t).sin();
        out.push(y * env);
    }
    let rms = (out.iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
    out.iter_mut().for_each(|v| *v *= 0.1 / rms);
    out
}

fn run(anon: &mut VoiceAnonymiser, input: &[f32], frame: usize) -> Vec<f32> {
    let mut output = vec![0.0f32; input.len()];
    for (i, o) in input.chunks(frame).zip(output.chunks_mut(frame)) {
        anon.process(i, o).expect("chunks of equal length");
    }
    output
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

fn secret(byte: u8) -> [u8; 32] {
    [byte; 32]
}

#[test]
fn the_same_secret_gives_the_same_output() {
    let input = synthetic_voice(1.0, 150.0, 1);
    let a = run(
        &mut VoiceAnonymiser::new(&secret(1), VoiceSettings::default()).unwrap(),
        &input,
        480,
    );
    let b = run(
        &mut VoiceAnonymiser::new(&secret(1), VoiceSettings::default()).unwrap(),
        &input,
        480,
    );
    assert_eq!(a, b);
}

#[test]
fn frame_size_does_not_change_the_output() {
    let input = synthetic_voice(0.5, 150.0, 2);
    let a = run(
        &mut VoiceAnonymiser::new(&secret(1), VoiceSettings::default()).unwrap(),
        &input,
        480,
    );
    let b = run(
        &mut VoiceAnonymiser::new(&secret(1), VoiceSettings::default()).unwrap(),
        &input,
        317,
    );
    assert_eq!(a, b);
}

#[test]
fn different_secrets_give_different_voices() {
    let input = synthetic_voice(1.0, 150.0, 1);
    let a = run(
        &mut VoiceAnonymiser::new(&secret(1), VoiceSettings::default()).unwrap(),
        &input,
        480,
    );
    let b = run(
        &mut VoiceAnonymiser::new(&secret(2), VoiceSettings::default()).unwrap(),
        &input,
        480,
    );
    let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    assert!(rms(&diff) > 0.5 * rms(&a), "outputs too similar");
    // And the made-up F0 differs: compare the voiced F0 medians of the two outputs.
    let fa = median_f0(&a[24_000..]);
    let fb = median_f0(&b[24_000..]);
    assert!((fa / fb - 1.0).abs() > 0.02 || fa != fb, "{fa} vs {fb}");
}

fn median_f0(x: &[f32]) -> f32 {
    let mut f: Vec<f32> = analyse(x)
        .into_iter()
        .filter(|f| f.voiced)
        .map(|f| f.f0_hz)
        .collect();
    assert!(f.len() > 20, "too few voiced frames in output: {}", f.len());
    f.sort_by(|a, b| a.total_cmp(b));
    f[f.len() / 2]
}

#[test]
fn latency_is_at_most_20_ms_reported_and_measured() {
    let anon = VoiceAnonymiser::new(&secret(3), VoiceSettings::default()).unwrap();
    assert_eq!(anon.latency_samples(), LATENCY_SAMPLES);
    assert!(
        anon.latency_samples() <= 960,
        "latency {} samples",
        anon.latency_samples()
    );
    // Onset test: silence, then a voice starting at a known sample.
    for onset in [24_000usize, 24_111, 24_239] {
        let mut anon = VoiceAnonymiser::new(&secret(3), VoiceSettings::default()).unwrap();
        let mut input = vec![0.0f32; onset];
        input.extend(synthetic_voice(0.3, 140.0, 4));
        let output = run(&mut anon, &input, 480);
        let first = output.iter().position(|v| v.abs() > 1e-3).unwrap();
        let delay = first as isize - onset as isize;
        assert!(delay >= 0, "output before input: {delay}");
        // The algorithmic delay is LATENCY_SAMPLES; the audible onset can come a little later,
        // when the first glottal pulse of the made-up voice falls late in the first hop.
        assert!(delay <= 960, "onset delay {delay} samples is over 20 ms");
        eprintln!("onset at {onset}: output onset after {delay} samples");
    }
}

#[test]
fn hostile_inputs_never_panic_and_give_sane_output() {
    let full_scale: Vec<f32> = (0..9600)
        .map(|i| if (i / 100) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let beyond: Vec<f32> = (0..9600)
        .map(|i| if i % 2 == 0 { 1e30 } else { -1e30 })
        .collect();
    let nan = vec![f32::NAN; 9600];
    let inf: Vec<f32> = (0..9600)
        .map(|i| {
            if i % 3 == 0 {
                f32::INFINITY
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect();
    let mixed: Vec<f32> = synthetic_voice(0.2, 120.0, 5)
        .into_iter()
        .enumerate()
        .map(|(i, v)| if i % 97 == 0 { f32::NAN } else { v })
        .collect();
    let silence = vec![0.0f32; 9600];
    let tiny = vec![1e-38f32; 9600];
    let cases: [(&str, &[f32], usize); 9] = [
        ("silence", &silence, 480),
        ("denormal-level", &tiny, 480),
        ("full-scale square", &full_scale, 480),
        ("beyond full scale", &beyond, 480),
        ("NaN", &nan, 480),
        ("infinities", &inf, 480),
        ("speech with NaN samples", &mixed, 480),
        ("one-sample frames", &mixed, 1),
        ("odd frames", &full_scale, 7),
    ];
    for (name, input, frame) in cases {
        let mut anon = VoiceAnonymiser::new(&secret(9), VoiceSettings::default()).unwrap();
        let out = run(&mut anon, input, frame);
        assert!(
            out.iter().all(|v| v.is_finite() && v.abs() <= 1.0),
            "{name}: bad sample"
        );
        // The stream recovers: speech afterwards comes out as speech.
        let after = run(&mut anon, &synthetic_voice(0.5, 150.0, 6), 480);
        assert!(rms(&after[12_000..]) > 0.02, "{name}: no recovery");
    }
    let mut anon = VoiceAnonymiser::new(&secret(9), VoiceSettings::default()).unwrap();
    anon.warm_up(&[]);
    anon.warm_up(&nan);
    anon.warm_up(&beyond);
    anon.process(&[], &mut []).unwrap();
    anon.process_in_place(&mut []);
    assert_eq!(
        anon.process(&[0.0; 4], &mut [0.0; 3]),
        Err(VoiceError::LengthMismatch {
            input: 4,
            output: 3
        })
    );
}

#[test]
fn output_level_tracks_input_level() {
    let mut anon = VoiceAnonymiser::new(&secret(4), VoiceSettings::default()).unwrap();
    let speech = synthetic_voice(2.0, 130.0, 7);
    let out = run(&mut anon, &speech, 480);
    let ratio_db = 20.0 * (rms(&out[24_000..]) / rms(&speech[24_000..])).log10();
    assert!(
        ratio_db.abs() < 6.0,
        "speech level changed by {ratio_db} dB"
    );
    let quiet: Vec<f32> = speech.iter().map(|v| v * 0.01).collect();
    let out = run(&mut anon, &quiet, 480);
    let ratio_db = 20.0 * (rms(&out[24_000..]) / rms(&quiet[24_000..])).log10();
    assert!(
        ratio_db.abs() < 6.0,
        "quiet speech level changed by {ratio_db} dB"
    );
    let out = run(&mut anon, &vec![0.0; 48_000], 480);
    assert!(
        rms(&out[4800..]) < 1e-5,
        "silence came out at {}",
        rms(&out[4800..])
    );
}

#[test]
fn output_f0_moves_to_the_secret_target() {
    // Pin the target range to one value so the target is known without the secret.
    let settings = VoiceSettings {
        target_f0_min_hz: 120.0,
        target_f0_max_hz: 120.0,
        ..VoiceSettings::default()
    };
    for (input_f0, s) in [(210.0f32, 5u8), (95.0, 6)] {
        let mut anon = VoiceAnonymiser::new(&secret(s), settings.clone()).unwrap();
        let speech = synthetic_voice(3.0, input_f0, 8);
        anon.warm_up(&speech);
        let out = run(&mut anon, &speech, 960);
        let f0 = median_f0(&out[48_000..]);
        assert!(
            (f0 / 120.0 - 1.0).abs() < 0.06,
            "input {input_f0} Hz came out at {f0} Hz"
        );
    }
}

#[test]
fn settings_out_of_range_are_refused_with_their_name() {
    let bad = VoiceSettings {
        contrast: 1.5,
        ..VoiceSettings::default()
    };
    match VoiceAnonymiser::new(&secret(1), bad) {
        Err(VoiceError::InvalidSetting { name, .. }) => assert_eq!(name, "contrast"),
        other => panic!("unexpected {other:?}"),
    }
    let bad = VoiceSettings {
        target_f0_min_hz: 200.0,
        target_f0_max_hz: 100.0,
        ..VoiceSettings::default()
    };
    assert!(VoiceAnonymiser::new(&secret(1), bad).is_err());
    let bad = VoiceSettings {
        warp_max: f32::NAN,
        ..VoiceSettings::default()
    };
    assert!(VoiceAnonymiser::new(&secret(1), bad).is_err());
}

#[test]
fn the_anonymiser_prints_as_redacted() {
    let anon = VoiceAnonymiser::new(&secret(1), VoiceSettings::default()).unwrap();
    assert_eq!(format!("{anon:?}"), "VoiceAnonymiser(REDACTED)");
}
