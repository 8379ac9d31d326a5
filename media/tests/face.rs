//! Behaviour of the face anonymiser as a black box: I420 frames in, frames out.
//!
//! Pictures: `tests/data/face/` (public domain; see the README there). True face boxes were
//! annotated by hand on the full-size sources, eyebrows to chin and ear to ear.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use assize_media::face::{
    CenterFace, Cover, Detection, DetectorError, DetectorOutcome, FaceAnonymiser, FaceBox,
    FaceDetector, FaceError, FaceMode, FaceSettings, I420Frame, MASK_CHROMA, MASK_LUMA, Plane,
    PlaneName, SilhouetteReason, packed_len,
};

const ASTRONAUT: &[u8] = include_bytes!("data/face/astronaut_256x256.i420");
const ASTRONAUT_FACE: FaceBox = FaceBox {
    x0: 82.0,
    y0: 29.0,
    x1: 137.0,
    y1: 90.0,
};
const GRACE: &[u8] = include_bytes!("data/face/grace_hopper_256x300.i420");
const GRACE_FACE: FaceBox = FaceBox {
    x0: 80.0,
    y0: 60.0,
    x1: 185.0,
    y1: 167.0,
};

/// A packed I420 picture we own.
#[derive(Clone)]
struct Picture {
    w: usize,
    h: usize,
    data: Vec<u8>,
}

impl Picture {
    fn new(w: usize, h: usize, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), packed_len(w as u32, h as u32));
        Self { w, h, data }
    }

    /// A flat, slightly textured backdrop.
    fn backdrop(w: usize, h: usize) -> Self {
        let mut p = Self::new(w, h, vec![128; packed_len(w as u32, h as u32)]);
        for y in 0..h {
            for x in 0..w {
                p.data[y * w + x] = (90 + (x / 16 + y / 16) % 2 * 30) as u8;
            }
        }
        p
    }

    fn frame(&mut self) -> I420Frame<'_> {
        I420Frame::packed(self.w as u32, self.h as u32, &mut self.data).unwrap()
    }

    fn cw(&self) -> usize {
        self.w.div_ceil(2)
    }

    fn y(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.w + x]
    }

    fn uv(&self, x: usize, y: usize) -> (u8, u8) {
        let (cw, ch) = (self.cw(), self.h.div_ceil(2));
        let base = self.w * self.h;
        (
            self.data[base + y * cw + x],
            self.data[base + cw * ch + y * cw + x],
        )
    }

    /// Copies `src` with its top-left corner at (`x`, `y`) (both even).
    fn paste(&mut self, src: &Picture, x: usize, y: usize) {
        assert!(x.is_multiple_of(2) && y.is_multiple_of(2));
        for r in 0..src.h.min(self.h.saturating_sub(y)) {
            for c in 0..src.w.min(self.w.saturating_sub(x)) {
                self.data[(y + r) * self.w + x + c] = src.y(c, r);
            }
        }
        let (cw, ch) = (self.cw(), self.h.div_ceil(2));
        let base = self.w * self.h;
        for r in 0..src.h.div_ceil(2).min(ch.saturating_sub(y / 2)) {
            for c in 0..src.cw().min(cw.saturating_sub(x / 2)) {
                let (u, v) = src.uv(c, r);
                self.data[base + (y / 2 + r) * cw + x / 2 + c] = u;
                self.data[base + cw * ch + (y / 2 + r) * cw + x / 2 + c] = v;
            }
        }
    }

    /// Every luma and chroma sample inside `b` (clamped to the picture).
    fn samples_in(&self, b: &FaceBox) -> (Vec<u8>, Vec<(u8, u8)>) {
        let x0 = b.x0.max(0.0).floor() as usize;
        let y0 = b.y0.max(0.0).floor() as usize;
        let x1 = (b.x1.ceil() as usize).min(self.w);
        let y1 = (b.y1.ceil() as usize).min(self.h);
        let mut luma = Vec::new();
        let mut chroma = Vec::new();
        for y in y0..y1 {
            for x in x0..x1 {
                luma.push(self.y(x, y));
                chroma.push(self.uv(x / 2, y / 2));
            }
        }
        (luma, chroma)
    }
}

fn astronaut() -> Picture {
    Picture::new(256, 256, ASTRONAUT.to_vec())
}

fn grace() -> Picture {
    Picture::new(256, 300, GRACE.to_vec())
}

/// The astronaut at (x, y) in a `w` x `h` backdrop, with its true face box there.
fn astronaut_in(w: usize, h: usize, x: usize, y: usize) -> (Picture, FaceBox) {
    let mut p = Picture::backdrop(w, h);
    p.paste(&astronaut(), x, y);
    (p, ASTRONAUT_FACE.shift(x as f32, y as f32))
}

/// Asserts every sample of `region` is exactly the mask colour: the region carries nothing.
fn assert_masked(p: &Picture, region: &FaceBox, what: &str) {
    let (luma, chroma) = p.samples_in(region);
    assert!(!luma.is_empty(), "{what}: empty region");
    let bad = luma.iter().filter(|&&v| v != MASK_LUMA).count();
    assert_eq!(
        bad, 0,
        "{what}: {bad} luma samples of the face region survive"
    );
    let bad = chroma
        .iter()
        .filter(|&&c| c != (MASK_CHROMA, MASK_CHROMA))
        .count();
    assert_eq!(
        bad, 0,
        "{what}: {bad} chroma samples of the face region survive"
    );
}

/// The true face box with the margin the issue asks for (hair, ears, chin): a quarter of the
/// face's larger side on every side.
fn with_margin(b: &FaceBox) -> FaceBox {
    let m = 0.25 * b.size();
    b.expand(m, m)
}

fn detect(p: &mut Picture) -> Vec<Detection> {
    let mut cf = CenterFace::bundled(320).unwrap();
    let mut faces = Vec::new();
    cf.detect(&p.frame(), &mut faces).unwrap();
    faces
}

fn best_match(faces: &[Detection], truth: &FaceBox) -> Option<Detection> {
    faces
        .iter()
        .filter(|d| d.score >= 0.5)
        .max_by(|a, b| a.bbox.iou(truth).total_cmp(&b.bbox.iou(truth)))
        .copied()
}

#[test]
fn centerface_finds_the_face_in_each_test_picture() {
    for (name, mut p, truth) in [
        ("astronaut", astronaut(), ASTRONAUT_FACE),
        ("grace_hopper", grace(), GRACE_FACE),
    ] {
        let faces = detect(&mut p);
        let d = best_match(&faces, &truth).unwrap_or_else(|| panic!("{name}: {faces:?}"));
        assert!(d.bbox.iou(&truth) > 0.5, "{name}: {d:?}");
        let confident = faces.iter().filter(|d| d.score >= 0.5).count();
        assert_eq!(confident, 1, "{name}: one face, {faces:?}");
    }
}

#[test]
fn centerface_finds_a_face_placed_anywhere_in_wide_frames_and_nothing_in_a_blank_one() {
    for (w, h, x, y) in [
        (640, 360, 300, 40),
        (1280, 720, 900, 400),
        (640, 480, 0, 200),
    ] {
        let (mut p, truth) = astronaut_in(w, h, x, y);
        let faces = detect(&mut p);
        let d = best_match(&faces, &truth).unwrap_or_else(|| panic!("{w}x{h}: {faces:?}"));
        assert!(d.bbox.iou(&truth) > 0.5, "{w}x{h}: {d:?} vs {truth:?}");
    }
    let mut blank = Picture::backdrop(640, 360);
    let faces = detect(&mut blank);
    assert!(faces.iter().all(|d| d.score < 0.2), "{faces:?}");
}

#[test]
fn masked_covers_every_sample_of_the_face_and_its_margin_and_leaves_the_rest() {
    for (w, h, x, y) in [(640, 360, 300, 40), (1280, 720, 64, 400), (257, 255, 0, 0)] {
        let (mut p, truth) = astronaut_in(w, h, x, y);
        let original = p.clone();
        let mut anon = FaceAnonymiser::new(FaceMode::Masked, FaceSettings::default()).unwrap();
        let report = anon.process(&mut p.frame());
        assert_eq!(report.detector, DetectorOutcome::Faces(1), "{w}x{h}");
        assert_eq!(report.cover, Cover::Masks(1), "{w}x{h}");
        assert_masked(&p, &with_margin(&truth), &format!("{w}x{h}"));
        // Far from the face, the picture is untouched.
        let far = FaceBox::new(0.0, 0.0, w as f32, h as f32);
        let (a, _) = p.samples_in(&far);
        let (b, _) = original.samples_in(&far);
        let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        let face_area = 4.0 * with_margin(&truth).area();
        assert!(
            (changed as f32) < face_area,
            "{w}x{h}: {changed} samples changed"
        );
    }
}

type Answer = Result<Vec<Detection>, DetectorError>;

/// A detector whose answers the test scripts frame by frame; it records how often it ran.
#[derive(Clone, Default)]
struct Scripted {
    answers: Arc<Mutex<Vec<Answer>>>,
    calls: Arc<Mutex<usize>>,
}

impl Scripted {
    fn answer(&self, a: Answer) {
        self.answers.lock().unwrap().push(a);
    }
    fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }
}

impl FaceDetector for Scripted {
    fn detect(
        &mut self,
        _frame: &I420Frame<'_>,
        faces: &mut Vec<Detection>,
    ) -> Result<(), DetectorError> {
        *self.calls.lock().unwrap() += 1;
        faces.clear();
        let mut answers = self.answers.lock().unwrap();
        // An empty script means "no face".
        let a = if answers.is_empty() {
            Ok(Vec::new())
        } else {
            answers.remove(0)
        };
        a.map(|f| faces.extend(f))
    }
}

fn hit(b: FaceBox, score: f32) -> Answer {
    Ok(vec![Detection { bbox: b, score }])
}

fn scripted(settings: FaceSettings) -> (FaceAnonymiser, Scripted) {
    let s = Scripted::default();
    let anon =
        FaceAnonymiser::with_detector(FaceMode::Masked, settings, Box::new(s.clone())).unwrap();
    (anon, s)
}

#[test]
fn a_face_the_detector_stops_seeing_stays_masked_then_the_whole_frame_is_covered() {
    let settings = FaceSettings {
        detect_every: 1,
        hold_frames: 10,
        ..Default::default()
    };
    let (mut anon, det) = scripted(settings);
    let (frame, truth) = astronaut_in(640, 360, 300, 40);
    det.answer(hit(truth, 0.9));
    let mut last_cover = None;
    for n in 0..=10 {
        // Frames 1.. : the detector misses (empty answers) although the face is there.
        let mut p = frame.clone();
        let report = anon.process(&mut p.frame());
        assert_eq!(report.cover, Cover::Masks(1), "frame {n}");
        assert_masked(&p, &with_margin(&truth), &format!("frame {n}"));
        last_cover = Some(report.cover);
    }
    assert_eq!(last_cover, Some(Cover::Masks(1)));
    for n in 11..40 {
        let mut p = frame.clone();
        let report = anon.process(&mut p.frame());
        assert_eq!(
            report.cover,
            Cover::Silhouette(SilhouetteReason::FaceLost),
            "frame {n}"
        );
        assert_flat_cells(&p, 12, 3, &format!("frame {n}"));
    }
    // A confident detection where the face was ends the lost state.
    det.answer(hit(truth.shift(10.0, 0.0), 0.8));
    let mut p = frame.clone();
    assert_eq!(anon.process(&mut p.frame()).cover, Cover::Masks(1));
    assert_masked(&p, &with_margin(&truth.shift(10.0, 0.0)), "refound");
}

#[test]
fn a_detector_that_fails_or_is_late_covers_the_whole_frame_until_it_answers() {
    let (mut anon, det) = scripted(FaceSettings {
        detect_every: 4,
        ..Default::default()
    });
    let (frame, truth) = astronaut_in(640, 360, 300, 40);
    det.answer(Err(DetectorError::NoAnswer));
    det.answer(Err(DetectorError::Inference("boom".into())));
    det.answer(hit(truth, 0.9));
    let expect = [
        (
            DetectorOutcome::Failed,
            Cover::Silhouette(SilhouetteReason::NoDetectorAnswer),
        ),
        (
            DetectorOutcome::Failed,
            Cover::Silhouette(SilhouetteReason::NoDetectorAnswer),
        ),
        (DetectorOutcome::Faces(1), Cover::Masks(1)),
        (DetectorOutcome::NotRun, Cover::Masks(1)),
    ];
    for (n, (detector, cover)) in expect.into_iter().enumerate() {
        let mut p = frame.clone();
        let report = anon.process(&mut p.frame());
        assert_eq!(
            (report.detector, report.cover),
            (detector, cover),
            "frame {n}"
        );
        assert!(
            p.samples_in(&truth).0.iter().all(|&v| v == MASK_LUMA)
                || matches!(report.cover, Cover::Silhouette(_)),
        );
    }
    assert_eq!(
        det.calls(),
        3,
        "retried on each frame while failing, then every 4th"
    );
}

#[test]
fn a_detector_that_never_loads_is_no_answer_and_a_broken_model_fails_construction() {
    assert!(matches!(
        CenterFace::from_onnx(b"not an onnx model", 320),
        Err(FaceError::Model(_))
    ));
    assert!(matches!(
        CenterFace::from_onnx(&[], 320),
        Err(FaceError::Model(_))
    ));
    assert!(matches!(
        CenterFace::bundled(10),
        Err(FaceError::InvalidSetting {
            name: "detector_long_side",
            ..
        })
    ));
}

#[test]
fn masks_follow_a_moving_face_between_detections_every_third_frame() {
    let (mut anon, det) = scripted(FaceSettings {
        detect_every: 3,
        ..Default::default()
    });
    // The face moves 6 px per frame (a tenth of its size), the detector sees it every 3rd.
    for n in 0..30usize {
        let x = 100 + 6 * n;
        let (mut p, truth) = astronaut_in(640, 360, x & !1, 40);
        if n % 3 == 0 {
            det.answer(hit(truth, 0.9));
        }
        let report = anon.process(&mut p.frame());
        assert_eq!(report.detector_ran(), n % 3 == 0, "frame {n}");
        assert_masked(&p, &with_margin(&truth), &format!("frame {n}"));
    }
}

#[test]
fn a_scene_cut_runs_the_detector_at_once() {
    let (mut anon, det) = scripted(FaceSettings {
        detect_every: 6,
        ..Default::default()
    });
    let blank = Picture::backdrop(640, 360);
    // A camera switch: the picture changes at once (another, brighter room) with a face in it.
    let mut cut = Picture::backdrop(640, 360);
    cut.data[..640 * 360].iter_mut().for_each(|p| *p += 80);
    cut.paste(&astronaut(), 300, 40);
    let cut_truth = ASTRONAUT_FACE.shift(300.0, 40.0);
    for n in 0..8 {
        let mut p = if n < 3 { blank.clone() } else { cut.clone() };
        if n == 3 {
            det.answer(hit(cut_truth, 0.9));
        }
        let report = anon.process(&mut p.frame());
        assert_eq!(report.detector_ran(), n == 0 || n == 3, "frame {n}");
        if n >= 3 {
            assert_masked(&p, &with_margin(&cut_truth), &format!("frame {n}"));
        }
    }
}

fn deferred(settings: FaceSettings) -> FaceAnonymiser {
    FaceAnonymiser::deferred(FaceMode::Masked, settings).unwrap()
}

#[test]
fn deferred_detection_covers_everything_until_the_first_answer_then_carries_masks_forward() {
    let mut anon = deferred(FaceSettings::default());
    // The detector answers two frames after the frame it was asked about; the face moves 4 px
    // per frame. Every frame from the first answer on has the face's region covered.
    let mut out: Vec<(u64, Vec<Detection>)> = Vec::new();
    let mut tickets = Vec::new();
    for n in 0..24usize {
        let (mut p, truth) = astronaut_in(640, 360, 100 + 4 * n, 40);
        // Answers due now.
        while let Some(pos) = out.iter().position(|(due, _)| *due <= n as u64) {
            let (_, faces) = out.remove(pos);
            let t = tickets.remove(0);
            anon.answer(t, Ok(&faces));
        }
        if let Some(t) = anon.prepare(&p.frame()) {
            assert_eq!(t.frame(), n as u64);
            tickets.push(t);
            out.push((
                n as u64 + 2,
                vec![Detection {
                    bbox: truth,
                    score: 0.9,
                }],
            ));
        }
        let report = anon.cover(&mut p.frame());
        if n < 2 {
            assert_eq!(
                report.cover,
                Cover::Silhouette(SilhouetteReason::NoDetectorAnswer),
                "frame {n}"
            );
        } else {
            assert_eq!(report.cover, Cover::Masks(1), "frame {n}");
            assert_masked(&p, &with_margin(&truth), &format!("frame {n}"));
        }
    }
    // One detection at a time: asked at 0, answered at 2, asked again at 2, ...
    assert!(tickets.len() <= 1);
}

#[test]
fn deferred_detection_covers_a_new_scene_until_the_detector_has_seen_it() {
    let mut anon = deferred(FaceSettings {
        detect_every: 6,
        ..Default::default()
    });
    let blank = Picture::backdrop(640, 360);
    let mut cut = Picture::backdrop(640, 360);
    cut.data[..640 * 360].iter_mut().for_each(|p| *p += 80);
    cut.paste(&astronaut(), 300, 40);
    let cut_truth = ASTRONAUT_FACE.shift(300.0, 40.0);

    // Frame 0: asked, not answered before the cut at frame 1.
    let mut p = blank.clone();
    let t0 = anon
        .prepare(&p.frame())
        .expect("the first frame is looked at");
    anon.cover(&mut p.frame());
    let mut p = cut.clone();
    assert_eq!(anon.prepare(&p.frame()), None, "one detection at a time");
    assert_eq!(
        anon.cover(&mut p.frame()).cover,
        Cover::Silhouette(SilhouetteReason::NoDetectorAnswer)
    );
    // The answer about the old scene arrives: it says nothing about the new one.
    anon.answer(t0, Ok(&[]));
    let mut p = cut.clone();
    let t2 = anon
        .prepare(&p.frame())
        .expect("the new scene is looked at at once");
    let report = anon.cover(&mut p.frame());
    assert_eq!(report.detector, DetectorOutcome::Faces(0));
    assert_eq!(
        report.cover,
        Cover::Silhouette(SilhouetteReason::NewScene),
        "the face in the new scene is never shown"
    );
    // An answer to a ticket nobody holds changes nothing.
    anon.answer(t0, hit(cut_truth, 0.9).as_deref().map_err(Clone::clone));
    let mut p = cut.clone();
    assert_eq!(anon.prepare(&p.frame()), None);
    assert_eq!(
        anon.cover(&mut p.frame()).cover,
        Cover::Silhouette(SilhouetteReason::NewScene)
    );
    anon.answer(
        t2,
        Ok(&[Detection {
            bbox: cut_truth,
            score: 0.9,
        }]),
    );
    let mut p = cut.clone();
    anon.prepare(&p.frame());
    assert_eq!(anon.cover(&mut p.frame()).cover, Cover::Masks(1));
    assert_masked(&p, &with_margin(&cut_truth), "after the answer");
}

#[test]
fn a_deferred_detector_past_its_deadline_covers_the_whole_frame_until_it_answers() {
    let mut anon = deferred(FaceSettings {
        detect_every: 1,
        detector_deadline_frames: 3,
        ..Default::default()
    });
    let (frame, truth) = astronaut_in(640, 360, 300, 40);
    let mut p = frame.clone();
    let t = anon.prepare(&p.frame()).unwrap();
    anon.answer(
        t,
        Ok(&[Detection {
            bbox: truth,
            score: 0.9,
        }]),
    );
    assert_eq!(anon.cover(&mut p.frame()).cover, Cover::Masks(1));
    // Asked at frame 1, then silence.
    let mut stuck = None;
    for n in 1..=5u64 {
        let mut p = frame.clone();
        if let Some(t) = anon.prepare(&p.frame()) {
            stuck = Some(t);
        }
        let cover = anon.cover(&mut p.frame()).cover;
        if n <= 4 {
            assert_eq!(cover, Cover::Masks(1), "frame {n}: within the deadline");
        } else {
            assert_eq!(
                cover,
                Cover::Silhouette(SilhouetteReason::DetectorLate),
                "frame {n}"
            );
        }
    }
    let stuck = stuck.unwrap();
    assert_eq!(stuck.frame(), 1);
    anon.answer(
        stuck,
        Ok(&[Detection {
            bbox: truth,
            score: 0.9,
        }]),
    );
    let mut p = frame.clone();
    anon.prepare(&p.frame());
    assert_eq!(anon.cover(&mut p.frame()).cover, Cover::Masks(1));
    assert_masked(&p, &with_margin(&truth), "after the late answer");

    // Without a detector, `process` covers every frame whole.
    let mut blind = deferred(FaceSettings::default());
    for _ in 0..3 {
        let mut p = frame.clone();
        assert_eq!(
            blind.process(&mut p.frame()).cover,
            Cover::Silhouette(SilhouetteReason::NoDetectorAnswer)
        );
    }
}

#[test]
fn deferred_answers_about_another_frame_size_are_rescaled_and_the_new_size_waits_for_one() {
    let mut anon = deferred(FaceSettings::default());
    let (mut big, truth) = astronaut_in(640, 360, 300, 40);
    let t0 = anon.prepare(&big.frame()).unwrap();
    anon.cover(&mut big.frame());
    // The publisher halves its resolution before the answer comes.
    let mut small = Picture::new(320, 180, vec![100; packed_len(320, 180)]);
    assert_eq!(anon.prepare(&small.frame()), None);
    anon.answer(
        t0,
        Ok(&[Detection {
            bbox: truth,
            score: 0.9,
        }]),
    );
    assert_eq!(
        anon.cover(&mut small.frame()).cover,
        Cover::Silhouette(SilhouetteReason::NewScene)
    );
    let mut small = Picture::new(320, 180, vec![100; packed_len(320, 180)]);
    let t2 = anon.prepare(&small.frame()).unwrap();
    anon.answer(t2, Ok(&[]));
    let report = anon.cover(&mut small.frame());
    assert_eq!(report.cover, Cover::Masks(1), "the face's track, rescaled");
    let half = truth.scale(0.5, 0.5);
    assert_masked(&small, &with_margin(&half), "rescaled mask");
}

#[test]
fn a_real_detector_every_second_frame_keeps_a_moving_face_covered() {
    let mut anon = FaceAnonymiser::new(FaceMode::Masked, FaceSettings::default()).unwrap();
    for n in 0..8usize {
        // 6 px per frame sideways (a tenth of the face), 2 px down.
        let (mut p, truth) = astronaut_in(640, 360, 40 + 6 * n, 40 + 2 * n);
        let report = anon.process(&mut p.frame());
        assert_eq!(report.detector_ran(), n % 2 == 0, "frame {n}");
        assert_masked(&p, &with_margin(&truth), &format!("frame {n}"));
    }
}

/// Asserts the silhouette property: each cell of the grid (`columns` across the longer side)
/// holds one grey, chroma is neutral, and at most `levels` greys are used.
fn assert_flat_cells(p: &Picture, columns: usize, levels: usize, what: &str) {
    let cell = p.w.max(p.h).div_ceil(columns);
    let mut greys = std::collections::BTreeSet::new();
    for y in 0..p.h {
        for x in 0..p.w {
            let v = p.y(x, y);
            assert_eq!(
                v,
                p.y(x / cell * cell, y / cell * cell),
                "{what}: ({x}, {y})"
            );
            greys.insert(v);
        }
    }
    assert!(greys.len() <= levels, "{what}: {greys:?}");
    for y in 0..p.h.div_ceil(2) {
        for x in 0..p.cw() {
            assert_eq!(p.uv(x, y), (128, 128), "{what}: chroma ({x}, {y})");
        }
    }
}

#[test]
fn full_frame_keeps_no_detail_finer_than_a_cell() {
    let mut anon = FaceAnonymiser::new(FaceMode::FullFrame, FaceSettings::default()).unwrap();
    for (w, h, x, y) in [(640, 360, 300, 40), (1280, 720, 500, 300), (255, 257, 0, 0)] {
        let (mut p, _) = astronaut_in(w, h, x, y);
        let report = anon.process(&mut p.frame());
        assert_eq!(
            report.cover,
            Cover::Silhouette(SilhouetteReason::FullFrameMode)
        );
        assert_eq!(report.detector, DetectorOutcome::NotRun);
        assert_flat_cells(&p, 12, 3, &format!("{w}x{h}"));
    }
}

#[test]
fn full_frame_spectrum_has_no_energy_above_the_cell_frequency_within_cells() {
    // A face and the same face with its features scrambled inside each cell give the same
    // silhouette when the cell means agree: only cell means survive.
    let (mut a, _) = astronaut_in(640, 360, 300, 40);
    let mut b = a.clone();
    let cell = 640usize.div_ceil(12);
    // Reverse the luma inside every cell (same mean, different detail).
    for cy in 0..360usize.div_ceil(cell) {
        for cx in 0..640usize.div_ceil(cell) {
            let mut px = Vec::new();
            for y in cy * cell..((cy + 1) * cell).min(360) {
                for x in cx * cell..((cx + 1) * cell).min(640) {
                    px.push((x, y));
                }
            }
            let vals: Vec<u8> = px.iter().map(|&(x, y)| a.y(x, y)).collect();
            for (&(x, y), v) in px.iter().zip(vals.iter().rev()) {
                b.data[y * 640 + x] = *v;
            }
        }
    }
    assert_ne!(a.data, b.data);
    let mut anon_a = FaceAnonymiser::new(FaceMode::FullFrame, FaceSettings::default()).unwrap();
    let mut anon_b = FaceAnonymiser::new(FaceMode::FullFrame, FaceSettings::default()).unwrap();
    anon_a.process(&mut a.frame());
    anon_b.process(&mut b.frame());
    assert_eq!(
        a.data, b.data,
        "detail inside a cell leaks into the silhouette"
    );
}

#[test]
fn frames_of_any_size_and_stride_are_processed_without_panic() {
    let sizes: [(usize, usize); 10] = [
        (1, 1),
        (1, 2),
        (2, 1),
        (3, 3),
        (7, 5),
        (33, 17),
        (4097, 3),
        (3, 4097),
        (1920, 1080),
        (7680, 4320),
    ];
    let mut masked = FaceAnonymiser::new(FaceMode::Masked, FaceSettings::default()).unwrap();
    let mut full = FaceAnonymiser::new(FaceMode::FullFrame, FaceSettings::default()).unwrap();
    let mut none = FaceAnonymiser::new(FaceMode::None, FaceSettings::default()).unwrap();
    for (w, h) in sizes {
        // Padded strides, as a decoder hands them over.
        let (ys, cs) = (w + 13, w.div_ceil(2) + 7);
        let (ch, rows) = (h.div_ceil(2), h);
        let mut y = vec![200u8; ys * rows];
        let mut u = vec![90u8; cs * ch];
        let mut v = vec![160u8; cs * ch];
        for anon in [&mut masked, &mut full, &mut none] {
            let mut f = I420Frame::new(
                w as u32,
                h as u32,
                Plane::new(&mut y, ys),
                Plane::new(&mut u, cs),
                Plane::new(&mut v, cs),
            )
            .unwrap();
            let report = anon.process(&mut f);
            if anon.mode() == FaceMode::Masked {
                assert!(report.detector_ran(), "{w}x{h}: size change runs detection");
            }
        }
        // Padding past each row is never written.
        assert!(y.chunks(ys).all(|row| row[w..].iter().all(|&p| p == 200)));
    }
}

#[test]
fn bad_frame_geometry_is_an_error() {
    let mut y = vec![0u8; 64 * 48];
    let mut u = vec![0u8; 32 * 24];
    let mut v = vec![0u8; 32 * 24];
    let mut build = |w: u32, h: u32, ys: usize, cs: usize, short: usize| {
        let ylen = y.len() - short;
        I420Frame::new(
            w,
            h,
            Plane::new(&mut y[..ylen], ys),
            Plane::new(&mut u, cs),
            Plane::new(&mut v, cs),
        )
        .map(|_| ())
    };
    assert_eq!(build(64, 48, 64, 32, 0), Ok(()));
    assert!(matches!(
        build(0, 48, 64, 32, 0),
        Err(FaceError::InvalidDimensions { .. })
    ));
    assert!(matches!(
        build(64, 0, 64, 32, 0),
        Err(FaceError::InvalidDimensions { .. })
    ));
    assert!(matches!(
        build(20_000, 1, 64, 32, 0),
        Err(FaceError::InvalidDimensions { .. })
    ));
    assert!(matches!(
        build(64, 48, 63, 32, 0),
        Err(FaceError::StrideTooSmall {
            plane: PlaneName::Y,
            ..
        })
    ));
    assert!(matches!(
        build(64, 48, 64, 31, 0),
        Err(FaceError::StrideTooSmall {
            plane: PlaneName::U,
            ..
        })
    ));
    assert!(matches!(
        build(64, 48, 64, 32, 1),
        Err(FaceError::PlaneTooShort {
            plane: PlaneName::Y,
            ..
        })
    ));
    assert!(matches!(
        build(65, 48, 65, 33, 0),
        Err(FaceError::PlaneTooShort { .. })
    ));
    let mut short = vec![0u8; packed_len(64, 48) - 1];
    assert!(matches!(
        I420Frame::packed(64, 48, &mut short),
        Err(FaceError::PlaneTooShort { .. })
    ));
}

#[test]
fn no_mode_passes_frames_untouched_and_nothing_prints_pixels() {
    let mut anon = FaceAnonymiser::new(FaceMode::None, FaceSettings::default()).unwrap();
    let (mut p, _) = astronaut_in(640, 360, 300, 40);
    let original = p.data.clone();
    let report = anon.process(&mut p.frame());
    assert_eq!(report.cover, Cover::Nothing);
    assert_eq!(p.data, original);
    assert!(format!("{anon:?}").contains("REDACTED"));
    assert!(format!("{:?}", p.frame()).contains("REDACTED"));
}
