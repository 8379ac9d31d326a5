//! The fail-closed policy: from what the detector said, and when, which parts of a frame must
//! be covered. Pure and deterministic: time is the frame number, passed in.
//!
//! - Every face at or above `threshold` starts or refreshes a *track*. A track is matched to
//!   the nearest detection of a later answer (centre distance, from where the track is
//!   predicted to be, below [`GATE`] times the larger face size) and keeps a velocity in pixels
//!   per frame. A detection that matches no track starts a new one; the old one is held.
//! - Each frame a track is covered by its box grown by `margin` (fraction of the face's larger
//!   side, on every side), plus `growth_per_frame` for every frame since it was last detected
//!   (capped at [`MAX_GROWTH`]), and also by that box moved along the track's velocity:
//!   between detections and while the detector misses, the mask follows and widens.
//! - A track not detected for more than `hold_frames` ends. If it had ever been detected with
//!   a score at or above `confident`, the face is *lost*: the whole frame is covered until a
//!   confident detection overlaps the place where it was lost (widely drawn).
//! - A track with no confident detection for more than `confident_within_frames` (a face seen
//!   only weakly: turned, lit badly, half hidden) is covered by a wide region, `wide` face
//!   sizes beyond its mask.
//! - Until the detector has answered once, and from any failed detection until the next
//!   answer, the whole frame is covered.

use super::detector::{Detection, FaceBox};

/// Largest extra growth of a missed face's mask, in face sizes per side.
pub(crate) const MAX_GROWTH: f32 = 1.0;
/// A detection continues a track when its centre is within this many face sizes of the
/// track's predicted centre.
pub(crate) const GATE: f32 = 1.0;
/// Largest speed a track is predicted to move at, in face sizes per frame.
const MAX_SPEED: f32 = 0.25;
/// More simultaneous faces than this are folded into the nearest track.
const MAX_TRACKS: usize = 32;
/// More lost places than this are folded into one.
const MAX_LOST: usize = 16;

/// The policy's tunables (validated by `FaceSettings`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Policy {
    pub threshold: f32,
    pub confident: f32,
    pub margin: f32,
    pub growth_per_frame: f32,
    pub hold_frames: u32,
    pub confident_within_frames: u32,
    pub wide: f32,
}

/// What the detector said about one frame.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Answer<'a> {
    /// It ran; these are its detections (any score).
    Faces(&'a [Detection]),
    /// It did not answer (failed, or not in time).
    NoAnswer,
}

/// Why the whole frame is covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Whole {
    NoAnswer,
    Lost,
}

#[derive(Clone, Debug)]
struct Track {
    bbox: FaceBox,
    vx: f32,
    vy: f32,
    first_seen: u64,
    last_seen: u64,
    last_confident: Option<u64>,
}

impl Track {
    fn new(d: &Detection, frame: u64, confident: bool) -> Self {
        Self {
            bbox: d.bbox,
            vx: 0.0,
            vy: 0.0,
            first_seen: frame,
            last_seen: frame,
            last_confident: confident.then_some(frame),
        }
    }

    /// The track's mask at `frame`.
    fn mask(&self, frame: u64, p: &Policy) -> FaceBox {
        let dt = frame.saturating_sub(self.last_seen) as f32;
        let s = self.bbox.size().max(1.0);
        let grow = (p.growth_per_frame * dt).min(MAX_GROWTH);
        let base = self
            .bbox
            .expand((p.margin + grow) * s, (p.margin + grow) * s);
        let mut mask = base.union(&base.shift(self.vx * dt, self.vy * dt));
        let since_confident = frame.saturating_sub(self.last_confident.unwrap_or(self.first_seen));
        if since_confident > u64::from(p.confident_within_frames) {
            mask = mask.expand(p.wide * s, p.wide * s);
        }
        mask
    }
}

/// The tracks, the lost places and the detector's record for one stream.
#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    policy: Policy,
    tracks: Vec<Track>,
    lost: Vec<FaceBox>,
    last_attempt: Option<u64>,
    failing: bool,
}

impl Tracker {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            tracks: Vec::new(),
            lost: Vec::new(),
            last_attempt: None,
            failing: false,
        }
    }

    /// Whether the detector is due at `frame`: `every` frames after the frame of its last
    /// answer, and on every frame while it is failing.
    pub fn wants_detection(&self, frame: u64, every: u32) -> bool {
        match self.last_attempt {
            None => true,
            Some(last) => self.failing || frame.saturating_sub(last) >= u64::from(every),
        }
    }

    /// Scales every box after a change of frame size.
    pub fn rescale(&mut self, sx: f32, sy: f32) {
        for t in &mut self.tracks {
            t.bbox = t.bbox.scale(sx, sy);
            t.vx *= sx;
            t.vy *= sy;
        }
        for l in &mut self.lost {
            *l = l.scale(sx, sy);
        }
    }

    /// Takes the detector's answer for `frame`.
    /// Answers come in the order of their frames (one detection runs at a time); `frame` may
    /// lie behind the frame being covered, whose masks are then carried forward from it.
    pub fn observe(&mut self, frame: u64, answer: Answer<'_>) {
        self.last_attempt = Some(frame);
        let Answer::Faces(detections) = answer else {
            self.failing = true;
            return;
        };
        self.failing = false;
        let p = self.policy.clone();
        let mut matched = vec![false; self.tracks.len()];
        let mut order: Vec<&Detection> = detections
            .iter()
            .filter(|d| d.score >= p.threshold && d.bbox.area() > 0.0)
            .collect();
        order.sort_by(|a, b| b.score.total_cmp(&a.score));
        for d in order {
            let confident = d.score >= p.confident;
            if confident {
                let seen = d.bbox;
                self.lost.retain(|l| !l.overlaps(&seen));
            }
            let (cx, cy) = d.bbox.centre();
            let best = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(i, _)| !matched.get(*i).copied().unwrap_or(true))
                .map(|(i, t)| {
                    let dt = frame.saturating_sub(t.last_seen) as f32;
                    let (tx, ty) = t.bbox.centre();
                    let (px, py) = (tx + t.vx * dt, ty + t.vy * dt);
                    (
                        i,
                        (px - cx).hypot(py - cy),
                        t.bbox.size().max(d.bbox.size()),
                    )
                })
                .filter(|&(_, dist, size)| dist < GATE * size)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, _, _)) => {
                    matched[i] = true;
                    let t = &mut self.tracks[i];
                    let dt = frame.saturating_sub(t.last_seen).max(1) as f32;
                    let (tx, ty) = t.bbox.centre();
                    let limit = MAX_SPEED * d.bbox.size();
                    t.vx = (0.5 * t.vx + 0.5 * (cx - tx) / dt).clamp(-limit, limit);
                    t.vy = (0.5 * t.vy + 0.5 * (cy - ty) / dt).clamp(-limit, limit);
                    t.bbox = d.bbox;
                    t.last_seen = frame;
                    if confident {
                        t.last_confident = Some(frame);
                    }
                }
                None if self.tracks.len() < MAX_TRACKS => {
                    self.tracks.push(Track::new(d, frame, confident));
                    matched.push(true);
                }
                None => {
                    // Too many faces to follow one by one: widen the nearest track instead.
                    if let Some(t) = self.tracks.iter_mut().min_by(|a, b| {
                        let da = dist(a.bbox.centre(), (cx, cy));
                        let db = dist(b.bbox.centre(), (cx, cy));
                        da.total_cmp(&db)
                    }) {
                        t.bbox = t.bbox.union(&d.bbox);
                        t.last_seen = frame;
                    }
                }
            }
        }
    }

    /// Ends the tracks held past `hold_frames` at `frame`; a confirmed face becomes a lost
    /// place.
    pub fn expire(&mut self, frame: u64) {
        let p = &self.policy;
        let mut i = 0;
        while i < self.tracks.len() {
            let t = &self.tracks[i];
            if frame.saturating_sub(t.last_seen) > u64::from(p.hold_frames) {
                if t.last_confident.is_some() {
                    let s = t.bbox.size().max(1.0);
                    let region = t.mask(frame, p).expand(p.wide * s, p.wide * s);
                    self.lost.push(region);
                }
                self.tracks.swap_remove(i);
            } else {
                i += 1;
            }
        }
        if self.lost.len() > MAX_LOST {
            let merged = self
                .lost
                .iter()
                .copied()
                .reduce(|a, b| a.union(&b))
                .into_iter()
                .collect();
            self.lost = merged;
        }
    }

    /// What to cover at `frame`: the whole frame, or the masks pushed into `masks`.
    pub fn cover(&self, frame: u64, masks: &mut Vec<FaceBox>) -> Result<(), Whole> {
        masks.clear();
        if self.last_attempt.is_none() || self.failing {
            return Err(Whole::NoAnswer);
        }
        if !self.lost.is_empty() {
            return Err(Whole::Lost);
        }
        masks.extend(self.tracks.iter().map(|t| t.mask(frame, &self.policy)));
        Ok(())
    }

    /// Number of faces being followed.
    #[cfg(test)]
    pub fn tracks(&self) -> usize {
        self.tracks.len()
    }
}

fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            threshold: 0.2,
            confident: 0.5,
            margin: 0.4,
            growth_per_frame: 0.04,
            hold_frames: 10,
            confident_within_frames: 20,
            wide: 1.0,
        }
    }

    fn face(x: f32, y: f32, score: f32) -> Detection {
        Detection {
            bbox: FaceBox::new(x, y, x + 50.0, y + 60.0),
            score,
        }
    }

    fn step(
        t: &mut Tracker,
        frame: u64,
        answer: Option<Answer<'_>>,
    ) -> Result<Vec<FaceBox>, Whole> {
        if let Some(a) = answer {
            t.observe(frame, a);
        }
        t.expire(frame);
        let mut masks = Vec::new();
        t.cover(frame, &mut masks).map(|()| masks)
    }

    #[test]
    fn nothing_is_revealed_before_the_first_answer_or_while_the_detector_fails() {
        let mut t = Tracker::new(policy());
        assert_eq!(step(&mut t, 0, None), Err(Whole::NoAnswer));
        assert!(t.wants_detection(0, 3));
        assert_eq!(step(&mut t, 0, Some(Answer::Faces(&[]))), Ok(vec![]));
        assert!(!t.wants_detection(1, 3));
        assert!(t.wants_detection(3, 3));
        assert_eq!(
            step(&mut t, 3, Some(Answer::NoAnswer)),
            Err(Whole::NoAnswer)
        );
        assert!(
            t.wants_detection(4, 3),
            "a failing detector is retried on the next frame"
        );
        assert_eq!(step(&mut t, 4, None), Err(Whole::NoAnswer));
        assert_eq!(step(&mut t, 4, Some(Answer::Faces(&[]))), Ok(vec![]));
    }

    #[test]
    fn a_missed_face_stays_covered_growing_then_the_frame_is_covered_until_it_is_seen_again() {
        let mut t = Tracker::new(policy());
        let f = face(100.0, 100.0, 0.9);
        let m0 = step(&mut t, 0, Some(Answer::Faces(&[f]))).unwrap();
        assert_eq!(m0.len(), 1);
        // Margin 0.4 of the larger side (60) on every side.
        assert_eq!(m0[0], FaceBox::new(76.0, 76.0, 174.0, 184.0));
        let mut last = m0[0];
        for frame in 1..=10 {
            let m = step(&mut t, frame, Some(Answer::Faces(&[]))).unwrap();
            assert_eq!(m.len(), 1, "frame {frame}");
            assert!(
                m[0].x0 < last.x0 && m[0].x1 > last.x1,
                "mask grows while missed"
            );
            last = m[0];
        }
        assert_eq!(step(&mut t, 11, Some(Answer::Faces(&[]))), Err(Whole::Lost));
        assert_eq!(step(&mut t, 40, Some(Answer::Faces(&[]))), Err(Whole::Lost));
        // A weak detection there does not end it; a confident one far away does not either.
        assert_eq!(
            step(&mut t, 41, Some(Answer::Faces(&[face(110.0, 100.0, 0.3)]))),
            Err(Whole::Lost)
        );
        assert_eq!(
            step(&mut t, 42, Some(Answer::Faces(&[face(600.0, 100.0, 0.9)]))),
            Err(Whole::Lost)
        );
        let m = step(&mut t, 43, Some(Answer::Faces(&[face(120.0, 110.0, 0.8)]))).unwrap();
        assert_eq!(
            m.len(),
            2,
            "the far face, and the refound face (matched to the weak one)"
        );
    }

    #[test]
    fn a_weak_only_face_is_covered_widely_after_a_while_and_forgotten_when_it_ends() {
        let mut t = Tracker::new(policy());
        let weak = face(100.0, 100.0, 0.3);
        let narrow = step(&mut t, 0, Some(Answer::Faces(&[weak]))).unwrap()[0];
        for frame in 1..=21 {
            step(&mut t, frame, Some(Answer::Faces(&[weak]))).unwrap();
        }
        let wide = step(&mut t, 22, Some(Answer::Faces(&[weak]))).unwrap()[0];
        assert!(wide.width() >= narrow.width() + 2.0 * 60.0 - 1e-3);
        // Never confident: when it ends nothing is lost.
        for frame in 23..=40 {
            let _ = step(&mut t, frame, Some(Answer::Faces(&[])));
        }
        assert_eq!(step(&mut t, 41, Some(Answer::Faces(&[]))), Ok(vec![]));
    }

    #[test]
    fn masks_follow_a_moving_face_between_detections() {
        let mut t = Tracker::new(policy());
        step(&mut t, 0, Some(Answer::Faces(&[face(100.0, 100.0, 0.9)]))).unwrap();
        step(&mut t, 3, Some(Answer::Faces(&[face(130.0, 100.0, 0.9)]))).unwrap();
        assert_eq!(t.tracks(), 1);
        let m = step(&mut t, 5, None).unwrap()[0];
        // Velocity 5 px/frame (half of 10, smoothed): the mask reaches past the last box's
        // right edge by margin + growth + predicted motion.
        assert!(
            m.x1 >= 180.0 + 24.0 + 2.0 * 0.04 * 60.0 + 2.0 * 5.0 - 1e-3,
            "{m:?}"
        );
        assert!(m.x0 <= 130.0 - 24.0, "{m:?}");
    }

    #[test]
    fn low_scores_and_empty_boxes_are_ignored_and_crowds_are_bounded() {
        let mut t = Tracker::new(policy());
        let junk = [
            face(0.0, 0.0, 0.1),
            Detection {
                bbox: FaceBox::new(5.0, 5.0, 5.0, 9.0),
                score: 0.9,
            },
        ];
        assert_eq!(step(&mut t, 0, Some(Answer::Faces(&junk))), Ok(vec![]));
        let crowd: Vec<Detection> = (0..100).map(|i| face(200.0 * i as f32, 0.0, 0.9)).collect();
        let masks = step(&mut t, 1, Some(Answer::Faces(&crowd))).unwrap();
        assert_eq!(masks.len(), MAX_TRACKS);
        let right = masks.iter().map(|m| m.x1).fold(0.0f32, f32::max);
        assert!(
            right >= 99.0 * 200.0 + 50.0,
            "every face is inside some mask"
        );
    }
}
