//! The face anonymiser for protected witnesses.
//!
//! The server decodes the witness's VP8 video to I420, hands every frame to a
//! [`FaceAnonymiser`] for each viewer group the protective order does not name, and re-encodes
//! what comes back. Pure frame-in, frame-out: no IO, no threads, no clock.
//!
//! # Modes
//!
//! - [`FaceMode::Masked`]: every detected face is covered by an opaque, flat grey rectangle
//!   (luma 128, neutral chroma), not a blur: the covered samples carry no information at all,
//!   so there is nothing for a model to invert. The rectangle is the detector's box grown by a
//!   generous margin (default 0.5 of the face's larger side on every side: hair, ears, chin)
//!   and aligned outwards to even pixels, so the chroma samples it touches are covered too.
//! - [`FaceMode::FullFrame`]: the whole picture becomes a silhouette: a coarse grid of flat
//!   grey cells (12 across the longer side by default, 3 greys, neutral chroma). Movement stays
//!   visible; nothing finer than a cell survives. No detector is involved, so this mode does
//!   not depend on the detector's recall.
//! - [`FaceMode::None`]: frames pass untouched (viewers the order names).
//!
//! # Detection schedule and the fail-closed policy (Masked)
//!
//! The detector runs on frame 0 and then every `detect_every` frames (default 2) at reduced
//! resolution (`detector_long_side`, default 320 pixels); between runs the masks are carried
//! over, moved along each face's velocity and grown. It also runs at once on a scene cut (15%
//! of a coarse luma grid changed since the previous frame) and on a change of frame size.
//!
//! Detection can run in line ([`FaceAnonymiser::process`], what `assize anonymise` does) or
//! *deferred*, on another thread, so that a frame never waits for inference (what the live
//! pipeline does): [`FaceAnonymiser::prepare`] looks at the frame and may hand out a
//! [`DetectionTicket`] (the caller copies the frame to its detector), [`FaceAnonymiser::answer`]
//! takes the result whenever it is ready, and [`FaceAnonymiser::cover`] covers the frame with
//! what is known, carrying the masks forward from the frame the last answer was about. In
//! line is deferred detection whose answer comes at once.
//!
//! A face that walks into the picture between two runs, without a cut, is shown until the
//! detector's next answer: at most `detect_every - 1` frames in line (one frame, 40 ms, by
//! default), plus the detector's own latency when deferred. What is covered, frame by frame:
//!
//! 1. Until the detector has answered once, and from any failed detection ([`DetectorError`])
//!    until the next answer, the **whole frame** is covered (silhouette); a failing detector
//!    is retried on every frame. Deferred: also while the detection asked for has taken
//!    longer than `detector_deadline_frames` (default 15), and from a scene cut or a change of
//!    size until the detector has answered about a frame of the new scene.
//! 2. Every detection at or above `threshold` (default 0.2, low on purpose: a false mask
//!    costs little) is masked and followed as a track.
//! 3. A face the detector misses stays masked for `hold_frames` (default 50, 2 s at 25 fps);
//!    its mask grows by `growth_per_frame` (default 0.04 face sizes per side per frame, at
//!    most one face size) and follows the face's last velocity, while also covering where it
//!    was last seen.
//! 4. A face seen only weakly (below `confident`, default 0.5) for more than
//!    `confident_within_frames` (default 50) is covered by a wide region: one more face size on
//!    every side.
//! 5. When a face that had been seen confidently is missed for longer than `hold_frames`, it
//!    is *lost*: the **whole frame** is covered (silhouette) until a confident detection
//!    overlaps the wide region where it was lost. An empty chair after the witness has left
//!    therefore stays a silhouette: deliberate, since a detector that went blind looks the
//!    same.
//!
//! What this cannot fix: a face the detector never finds with a score above `threshold` from
//! the moment it appears is not masked. Use [`FaceMode::FullFrame`] where that risk is not
//! acceptable. `docs/anonymity.md` has the measured detection rates.
//!
//! # Detector
//!
//! [`CenterFace`] (MIT), compiled in and run with `tract-onnx` on one thread; any
//! [`FaceDetector`] can be supplied instead ([`FaceAnonymiser::with_detector`]).
//!
//! # Example
//!
//! ```
//! use assize_media::face::{FaceAnonymiser, FaceMode, FaceSettings, I420Frame, packed_len};
//!
//! let mut anon = FaceAnonymiser::new(FaceMode::Masked, FaceSettings::default())?;
//! let mut buf = vec![16u8; packed_len(640, 360)];
//! let mut frame = I420Frame::packed(640, 360, &mut buf)?;
//! let report = anon.process(&mut frame);
//! assert!(report.detector_ran());
//! # Ok::<(), assize_media::face::FaceError>(())
//! ```

mod centerface;
mod change;
mod detector;
mod frame;
mod silhouette;
mod tracker;

pub use centerface::{CENTERFACE_ONNX, CenterFace};
pub use detector::{Detection, DetectorError, FaceBox, FaceDetector};
pub use frame::{I420Frame, MAX_DIMENSION, Plane, PlaneName, packed_len};

use change::SceneChange;
use frame::PixelRect;
use silhouette::Silhouette;
use tracker::{Answer, Policy, Tracker, Whole};

/// Luma of a face mask.
pub const MASK_LUMA: u8 = 128;
/// Chroma (U and V) of a face mask: neutral.
pub const MASK_CHROMA: u8 = 128;

/// Errors of the face anonymiser.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum FaceError {
    /// Width or height is 0 or above [`MAX_DIMENSION`] (untrusted input).
    #[error("frame size {width}x{height} is not allowed (1..={max} per side)", max = MAX_DIMENSION)]
    InvalidDimensions {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
    },
    /// A plane's stride is smaller than its width (untrusted input).
    #[error("plane {plane}: stride {stride} is smaller than its width {width}")]
    StrideTooSmall {
        /// Which plane.
        plane: PlaneName,
        /// Stride given.
        stride: usize,
        /// The plane's width.
        width: usize,
    },
    /// A plane's buffer cannot hold its rows (untrusted input).
    #[error("plane {plane}: {len} bytes, {needed} needed")]
    PlaneTooShort {
        /// Which plane.
        plane: PlaneName,
        /// Bytes given.
        len: usize,
        /// Bytes needed (`usize::MAX` when the size overflows).
        needed: usize,
    },
    /// A setting is outside its allowed range (misuse; the message names the setting).
    #[error("face setting `{name}` = {value} is out of range: allowed {allowed}")]
    InvalidSetting {
        /// Field of [`FaceSettings`].
        name: &'static str,
        /// The rejected value.
        value: f32,
        /// Human-readable allowed range.
        allowed: &'static str,
    },
    /// The detection model could not be loaded or does not run. The caller must not show
    /// the witness's video (send black instead).
    #[error("face detection model unusable: {0}")]
    Model(String),
}

/// What the anonymiser does to a witness's picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaceMode {
    /// Frames pass untouched.
    None,
    /// Detected faces are covered by opaque masks; fails closed to [`FaceMode::FullFrame`]'s
    /// silhouette when detection is absent or a face is lost.
    Masked,
    /// The whole picture is a coarse silhouette; no detection.
    FullFrame,
}

/// Tunable settings with safe defaults ([`FaceSettings::default`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FaceSettings {
    /// Run the detector every this many frames, 1 to 12. Default 2.
    pub detect_every: u32,
    /// Detector input resolution, longest side in pixels, 64 to 2048. Default 320.
    pub detector_long_side: u32,
    /// Detections at or above this score are masked, 0.05 to 0.9. Default 0.2.
    pub threshold: f32,
    /// Detections at or above this score confirm a face, `threshold` to 1. Default 0.5.
    pub confident: f32,
    /// Mask margin around the detector's box, in face sizes per side, 0.25 to 2. Default 0.5.
    pub margin: f32,
    /// Extra margin per frame since a face was last detected, 0 to 0.5. Default 0.04.
    pub growth_per_frame: f32,
    /// Frames a missed face stays masked, 1 to 1500. Default 50.
    pub hold_frames: u32,
    /// Frames a face may be seen only weakly before a wide region is covered, 1 to 1500.
    /// Default 50.
    pub confident_within_frames: u32,
    /// Widening of weak and lost faces' regions, in face sizes per side, 0.5 to 4. Default 1.
    pub wide: f32,
    /// Silhouette cells across the longer side, 4 to 32. Default 12.
    pub silhouette_columns: u32,
    /// Silhouette grey levels, 2 to 4. Default 3.
    pub silhouette_levels: u8,
    /// Deferred detection only ([`FaceAnonymiser::prepare`]): frames a detection may take
    /// before the whole frame is covered until it answers, 1 to 300. Default 15 (0.5 s at
    /// 30 fps).
    pub detector_deadline_frames: u32,
}

impl Default for FaceSettings {
    fn default() -> Self {
        Self {
            detect_every: 2,
            detector_long_side: 320,
            threshold: 0.2,
            confident: 0.5,
            margin: 0.5,
            growth_per_frame: 0.04,
            hold_frames: 50,
            confident_within_frames: 50,
            wide: 1.0,
            silhouette_columns: 12,
            silhouette_levels: 3,
            detector_deadline_frames: 15,
        }
    }
}

impl FaceSettings {
    /// Checks every setting against its allowed range.
    ///
    /// # Errors
    /// [`FaceError::InvalidSetting`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), FaceError> {
        fn check(
            name: &'static str,
            value: f32,
            lo: f32,
            hi: f32,
            allowed: &'static str,
        ) -> Result<(), FaceError> {
            if value.is_finite() && (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(FaceError::InvalidSetting {
                    name,
                    value,
                    allowed,
                })
            }
        }
        check(
            "detect_every",
            self.detect_every as f32,
            1.0,
            12.0,
            "1..=12",
        )?;
        check(
            "detector_long_side",
            self.detector_long_side as f32,
            64.0,
            2048.0,
            "64..=2048",
        )?;
        check("threshold", self.threshold, 0.05, 0.9, "0.05..=0.9")?;
        check(
            "confident",
            self.confident,
            self.threshold,
            1.0,
            "threshold..=1",
        )?;
        check("margin", self.margin, 0.25, 2.0, "0.25..=2")?;
        check(
            "growth_per_frame",
            self.growth_per_frame,
            0.0,
            0.5,
            "0..=0.5",
        )?;
        check(
            "hold_frames",
            self.hold_frames as f32,
            1.0,
            1500.0,
            "1..=1500",
        )?;
        check(
            "confident_within_frames",
            self.confident_within_frames as f32,
            1.0,
            1500.0,
            "1..=1500",
        )?;
        check("wide", self.wide, 0.5, 4.0, "0.5..=4")?;
        check(
            "silhouette_columns",
            self.silhouette_columns as f32,
            4.0,
            32.0,
            "4..=32",
        )?;
        check(
            "silhouette_levels",
            f32::from(self.silhouette_levels),
            2.0,
            4.0,
            "2..=4",
        )?;
        check(
            "detector_deadline_frames",
            self.detector_deadline_frames as f32,
            1.0,
            300.0,
            "1..=300",
        )?;
        Ok(())
    }

    fn policy(&self) -> Policy {
        Policy {
            threshold: self.threshold,
            confident: self.confident,
            margin: self.margin,
            growth_per_frame: self.growth_per_frame,
            hold_frames: self.hold_frames,
            confident_within_frames: self.confident_within_frames,
            wide: self.wide,
        }
    }
}

/// What happened to one frame (for logs and audit events; holds no picture data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameReport {
    /// The detector's part.
    pub detector: DetectorOutcome,
    /// What was covered.
    pub cover: Cover,
}

impl FrameReport {
    /// Whether the detector was asked about this frame (whatever it answered).
    pub fn detector_ran(&self) -> bool {
        !matches!(self.detector, DetectorOutcome::NotRun)
    }
}

/// The detector's part in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DetectorOutcome {
    /// Not scheduled for this frame (or not used in this mode).
    NotRun,
    /// It answered: this many faces at or above the masking threshold.
    Faces(u32),
    /// It gave no answer ([`DetectorError`]); the frame was covered whole.
    Failed,
}

/// What was covered in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cover {
    /// Nothing ([`FaceMode::None`], or Masked with no face known).
    Nothing,
    /// This many face masks.
    Masks(u32),
    /// The whole frame, as a silhouette, for this reason.
    Silhouette(SilhouetteReason),
}

/// Why a whole frame became a silhouette.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SilhouetteReason {
    /// [`FaceMode::FullFrame`].
    FullFrameMode,
    /// Masked, and the detector has not answered yet or its last run failed.
    NoDetectorAnswer,
    /// Masked, and a confirmed face has been missed for longer than `hold_frames`.
    FaceLost,
    /// Masked, and the picture changed at once (a cut, a new frame size): covered until the
    /// detector has answered about a frame of the new scene.
    NewScene,
    /// Masked with deferred detection, and the detection asked for has taken longer than
    /// `detector_deadline_frames`.
    DetectorLate,
}

/// A frame the detector is asked about: handed out by [`FaceAnonymiser::prepare`], given back
/// with the detector's answer to [`FaceAnonymiser::answer`]. Holds no picture data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectionTicket {
    frame: u64,
    width: usize,
    height: usize,
}

impl DetectionTicket {
    /// The number of the frame to run the detector on (0 for the stream's first frame).
    pub fn frame(&self) -> u64 {
        self.frame
    }
}

/// One witness stream's face anonymiser. One instance per stream (it holds that stream's
/// tracks); `Send`, so it can live on the stream's codec thread. Prints as `REDACTED`.
pub struct FaceAnonymiser {
    mode: FaceMode,
    settings: FaceSettings,
    detector: Option<Box<dyn FaceDetector>>,
    tracker: Tracker,
    silhouette: Silhouette,
    change: SceneChange,
    frame_no: u64,
    geometry: Option<(usize, usize)>,
    /// The frame [`Self::prepare`] looked at last (`cover` checks that it is this one).
    prepared: Option<u64>,
    /// The detection asked for and not yet answered (at most one at a time).
    pending: Option<DetectionTicket>,
    /// The first frame of a new scene: the whole frame is covered until an answer about this
    /// frame or a later one.
    new_scene: Option<u64>,
    /// What the detector said since the last covered frame.
    outcome: DetectorOutcome,
    faces: Vec<Detection>,
    masks: Vec<FaceBox>,
}

impl std::fmt::Debug for FaceAnonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaceAnonymiser({:?}, REDACTED)", self.mode)
    }
}

impl FaceAnonymiser {
    /// An anonymiser with the bundled [`CenterFace`] detector (loaded only for
    /// [`FaceMode::Masked`]; takes a few hundred milliseconds: build it before the hearing or
    /// off the media thread).
    ///
    /// # Errors
    /// [`FaceError::InvalidSetting`]; [`FaceError::Model`] when the model does not load or
    /// run, in which case the caller must not show the witness's video.
    pub fn new(mode: FaceMode, settings: FaceSettings) -> Result<Self, FaceError> {
        settings.validate()?;
        let detector: Option<Box<dyn FaceDetector>> = match mode {
            FaceMode::Masked => Some(Box::new(CenterFace::bundled(settings.detector_long_side)?)),
            FaceMode::None | FaceMode::FullFrame => None,
        };
        Ok(Self::build(mode, settings, detector))
    }

    /// An anonymiser with a caller's detector (another model, a shared [`CenterFace`] clone,
    /// or a scripted one in tests). The detector is used only in [`FaceMode::Masked`].
    ///
    /// # Errors
    /// [`FaceError::InvalidSetting`].
    pub fn with_detector(
        mode: FaceMode,
        settings: FaceSettings,
        detector: Box<dyn FaceDetector>,
    ) -> Result<Self, FaceError> {
        settings.validate()?;
        Ok(Self::build(mode, settings, Some(detector)))
    }

    /// An anonymiser whose detector runs elsewhere (on a thread of the caller's), driven by
    /// [`Self::prepare`], [`Self::answer`] and [`Self::cover`]: the frame path never waits
    /// for inference. [`Self::process`] on it fails closed (no detector: whole frames).
    ///
    /// # Errors
    /// [`FaceError::InvalidSetting`].
    pub fn deferred(mode: FaceMode, settings: FaceSettings) -> Result<Self, FaceError> {
        settings.validate()?;
        Ok(Self::build(mode, settings, None))
    }

    fn build(
        mode: FaceMode,
        settings: FaceSettings,
        detector: Option<Box<dyn FaceDetector>>,
    ) -> Self {
        Self {
            mode,
            tracker: Tracker::new(settings.policy()),
            silhouette: Silhouette::new(settings.silhouette_columns, settings.silhouette_levels),
            change: SceneChange::default(),
            settings,
            detector,
            frame_no: 0,
            geometry: None,
            prepared: None,
            pending: None,
            new_scene: None,
            outcome: DetectorOutcome::NotRun,
            faces: Vec::new(),
            masks: Vec::new(),
        }
    }

    /// The mode this instance was built with.
    pub fn mode(&self) -> FaceMode {
        self.mode
    }

    /// The settings this instance was built with.
    pub fn settings(&self) -> &FaceSettings {
        &self.settings
    }

    /// Anonymises one frame in place, following the policy in the module documentation, with
    /// the detector run in line when it is due. Never fails: a detector that gives no answer
    /// makes the whole frame a silhouette. Frames may change size between calls (tracks are
    /// rescaled and the frame is covered until the detector has seen the new size).
    ///
    /// The same steps as deferred detection with an answer that comes at once.
    pub fn process(&mut self, frame: &mut I420Frame<'_>) -> FrameReport {
        if let Some(ticket) = self.prepare(frame) {
            let mut faces = std::mem::take(&mut self.faces);
            faces.clear();
            let result = match self.detector.as_mut() {
                Some(d) => d.detect(frame, &mut faces),
                None => Err(DetectorError::NoAnswer),
            };
            self.answer(
                ticket,
                result
                    .as_ref()
                    .map(|()| faces.as_slice())
                    .map_err(Clone::clone),
            );
            self.faces = faces;
        }
        self.cover(frame)
    }

    /// Deferred detection, step 1: looks at the next frame as it came (before [`Self::cover`]
    /// changes it). Returns a ticket when the detector should look at this frame: run it on a
    /// copy of the frame as it is now, then hand the result to [`Self::answer`], on a later
    /// frame or before covering this one. At most one ticket is out at a time.
    pub fn prepare(&mut self, frame: &I420Frame<'_>) -> Option<DetectionTicket> {
        let n = self.frame_no;
        self.prepared = Some(n);
        if self.mode != FaceMode::Masked {
            return None;
        }
        let size = (frame.width(), frame.height());
        if let Some((w, h)) = self.geometry
            && (w, h) != size
        {
            self.tracker
                .rescale(size.0 as f32 / w as f32, size.1 as f32 / h as f32);
            self.new_scene = Some(n);
        }
        self.geometry = Some(size);
        if self.change.is_cut(frame) {
            self.new_scene = Some(n);
        }
        let due =
            self.new_scene.is_some() || self.tracker.wants_detection(n, self.settings.detect_every);
        if self.pending.is_some() || !due {
            return None;
        }
        let ticket = DetectionTicket {
            frame: n,
            width: size.0,
            height: size.1,
        };
        self.pending = Some(ticket);
        Some(ticket)
    }

    /// Deferred detection, step 2 (whenever the detector has finished): its answer about the
    /// frame the ticket names. Boxes are in that frame's pixels. An answer to a ticket this
    /// anonymiser is not waiting for is ignored.
    pub fn answer(&mut self, ticket: DetectionTicket, result: Result<&[Detection], DetectorError>) {
        if self.pending != Some(ticket) {
            return;
        }
        self.pending = None;
        let Ok(found) = result else {
            self.outcome = DetectorOutcome::Failed;
            self.tracker.observe(ticket.frame, Answer::NoAnswer);
            return;
        };
        let (w, h) = self.geometry.unwrap_or((ticket.width, ticket.height));
        let faces: Vec<Detection> = if (w, h) == (ticket.width, ticket.height) {
            found.to_vec()
        } else {
            let (sx, sy) = (
                w as f32 / ticket.width.max(1) as f32,
                h as f32 / ticket.height.max(1) as f32,
            );
            found
                .iter()
                .map(|d| Detection {
                    bbox: d.bbox.scale(sx, sy),
                    score: d.score,
                })
                .collect()
        };
        let count = faces
            .iter()
            .filter(|d| d.score >= self.settings.threshold)
            .count();
        self.outcome = DetectorOutcome::Faces(u32::try_from(count).unwrap_or(u32::MAX));
        self.tracker.observe(ticket.frame, Answer::Faces(&faces));
        if self.new_scene.is_some_and(|from| ticket.frame >= from) {
            self.new_scene = None;
        }
    }

    /// Deferred detection, step 3: covers the frame [`Self::prepare`] looked at, with what
    /// the detector has said so far (masks carried forward from the frame of its last
    /// answer), following the policy in the module documentation. A frame `prepare` did not
    /// see is checked here for cuts and size (no ticket is issued for it).
    pub fn cover(&mut self, frame: &mut I420Frame<'_>) -> FrameReport {
        let n = self.frame_no;
        if self.prepared != Some(n)
            || (self.mode == FaceMode::Masked
                && self.geometry != Some((frame.width(), frame.height())))
        {
            // Not prepared (or prepared with another picture): look at it now; a ticket for
            // it cannot be used (the caller has not copied the frame), so it is withdrawn.
            if let Some(t) = self.prepare(frame)
                && self.pending == Some(t)
            {
                self.pending = None;
            }
        }
        let report = match self.mode {
            FaceMode::None => FrameReport {
                detector: DetectorOutcome::NotRun,
                cover: Cover::Nothing,
            },
            FaceMode::FullFrame => {
                self.silhouette.render(frame);
                FrameReport {
                    detector: DetectorOutcome::NotRun,
                    cover: Cover::Silhouette(SilhouetteReason::FullFrameMode),
                }
            }
            FaceMode::Masked => self.masked(frame),
        };
        self.frame_no += 1;
        self.prepared = None;
        report
    }

    fn masked(&mut self, frame: &mut I420Frame<'_>) -> FrameReport {
        let n = self.frame_no;
        let size = (frame.width(), frame.height());
        self.tracker.expire(n);
        let detector = std::mem::replace(&mut self.outcome, DetectorOutcome::NotRun);
        let late = self.pending.is_some_and(|t| {
            n.saturating_sub(t.frame) > u64::from(self.settings.detector_deadline_frames)
        });
        let whole = match self.tracker.cover(n, &mut self.masks) {
            Err(Whole::NoAnswer) => Some(SilhouetteReason::NoDetectorAnswer),
            Err(Whole::Lost) => Some(SilhouetteReason::FaceLost),
            Ok(()) if late => Some(SilhouetteReason::DetectorLate),
            Ok(()) if self.new_scene.is_some() => Some(SilhouetteReason::NewScene),
            Ok(()) => None,
        };
        let cover = match whole {
            None => {
                for m in &self.masks {
                    if let Some(rect) = pixel_rect(m, size.0, size.1) {
                        frame.fill_rect(rect, MASK_LUMA, MASK_CHROMA);
                    }
                }
                if self.masks.is_empty() {
                    Cover::Nothing
                } else {
                    Cover::Masks(u32::try_from(self.masks.len()).unwrap_or(u32::MAX))
                }
            }
            Some(reason) => {
                self.silhouette.render(frame);
                Cover::Silhouette(reason)
            }
        };
        FrameReport { detector, cover }
    }
}

/// The pixels a mask covers: rounded outwards to even coordinates (so every chroma sample it
/// touches lies wholly inside it) and clamped to the frame; `None` when nothing is left.
fn pixel_rect(b: &FaceBox, width: usize, height: usize) -> Option<PixelRect> {
    if b.x1 <= 0.0 || b.y1 <= 0.0 || b.x0 >= width as f32 || b.y0 >= height as f32 {
        return None;
    }
    let lo = |v: f32, max: usize| -> usize {
        let v = v.floor().clamp(0.0, max as f32) as usize;
        v & !1
    };
    let hi = |v: f32, max: usize| -> usize {
        let v = v.ceil().clamp(0.0, max as f32) as usize;
        (v + (v & 1)).min(max)
    };
    let rect = PixelRect {
        x0: lo(b.x0, width),
        y0: lo(b.y0, height),
        x1: hi(b.x1, width),
        y1: hi(b.y1, height),
    };
    (rect.x0 < rect.x1 && rect.y0 < rect.y1).then_some(rect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bound_is_named() {
        FaceSettings::default().validate().unwrap();
        let bad = [
            FaceSettings {
                detect_every: 0,
                ..Default::default()
            },
            FaceSettings {
                margin: 0.1,
                ..Default::default()
            },
            FaceSettings {
                confident: 0.1,
                ..Default::default()
            },
            FaceSettings {
                threshold: f32::NAN,
                ..Default::default()
            },
            FaceSettings {
                silhouette_levels: 5,
                ..Default::default()
            },
        ];
        let names: Vec<&str> = bad
            .iter()
            .map(|s| match s.validate() {
                Err(FaceError::InvalidSetting { name, .. }) => name,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                "detect_every",
                "margin",
                "confident",
                "threshold",
                "silhouette_levels"
            ]
        );
    }

    #[test]
    fn pixel_rects_round_outwards_to_even_and_clamp() {
        let r = pixel_rect(&FaceBox::new(3.2, 5.0, 10.1, 11.0), 100, 100).unwrap();
        assert_eq!((r.x0, r.y0, r.x1, r.y1), (2, 4, 12, 12));
        let r = pixel_rect(&FaceBox::new(-50.0, -1.0, 1e9, 7.0), 33, 9).unwrap();
        assert_eq!((r.x0, r.y0, r.x1, r.y1), (0, 0, 33, 8));
        assert_eq!(pixel_rect(&FaceBox::new(40.0, 0.0, 50.0, 5.0), 33, 9), None);
        assert_eq!(pixel_rect(&FaceBox::new(4.0, 4.0, 4.0, 4.0), 33, 9), None);
    }

    #[test]
    fn the_anonymiser_is_send() {
        fn send<T: Send>() {}
        send::<FaceAnonymiser>();
        send::<CenterFace>();
    }
}
