//! What the anonymiser needs from a face detector, and the geometry it speaks.
//!
//! The anonymiser depends on this small trait, not on a model: the bundled
//! [`CenterFace`](super::CenterFace) implements it, and tests implement it to script hits,
//! misses and failures.

use super::I420Frame;

/// An axis-aligned box in frame pixels (floating point; `x0 <= x1`, `y0 <= y1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge (exclusive).
    pub x1: f32,
    /// Bottom edge (exclusive).
    pub y1: f32,
}

impl FaceBox {
    /// A box from its edges; swapped edges are put in order and non-finite values become 0.
    pub fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        let f = |v: f32| if v.is_finite() { v } else { 0.0 };
        let (x0, x1, y0, y1) = (f(x0), f(x1), f(y0), f(y1));
        Self {
            x0: x0.min(x1),
            y0: y0.min(y1),
            x1: x0.max(x1),
            y1: y0.max(y1),
        }
    }

    /// Width.
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }

    /// Height.
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }

    /// The larger side.
    pub fn size(&self) -> f32 {
        self.width().max(self.height())
    }

    /// Centre (x, y).
    pub fn centre(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }

    /// Area (0 for an empty box).
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    /// Intersection over union (0 when either box is empty).
    pub fn iou(&self, other: &Self) -> f32 {
        let w = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let h = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// Whether the two boxes overlap (share any area).
    pub fn overlaps(&self, other: &Self) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }

    /// The box grown by `dx` on the left and right and `dy` on the top and bottom.
    pub fn expand(&self, dx: f32, dy: f32) -> Self {
        Self::new(self.x0 - dx, self.y0 - dy, self.x1 + dx, self.y1 + dy)
    }

    /// The box moved by (`dx`, `dy`).
    pub fn shift(&self, dx: f32, dy: f32) -> Self {
        Self::new(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)
    }

    /// The smallest box holding both.
    pub fn union(&self, other: &Self) -> Self {
        Self::new(
            self.x0.min(other.x0),
            self.y0.min(other.y0),
            self.x1.max(other.x1),
            self.y1.max(other.y1),
        )
    }

    /// The box with every coordinate multiplied (for a change of frame size).
    pub fn scale(&self, sx: f32, sy: f32) -> Self {
        Self::new(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy)
    }
}

/// One face found in a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Where, in frame pixels.
    pub bbox: FaceBox,
    /// The detector's confidence, 0 to 1.
    pub score: f32,
}

/// Why a detector gave no answer for a frame. Either way the anonymiser fails closed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DetectorError {
    /// The detector has no result for this frame (for example, a detector that runs on its
    /// own thread and has not finished in time). The anonymiser asks again on the next frame.
    #[error("face detector gave no answer in time")]
    NoAnswer,
    /// Inference failed (the message is the inference library's).
    #[error("face detection failed: {0}")]
    Inference(String),
}

/// A face detector: one frame in, the faces in it out.
///
/// Implementations fill `faces` (cleared by the caller) with every face at or above their own
/// internal candidate threshold; the anonymiser applies its thresholds on `score`.
pub trait FaceDetector: Send {
    /// Finds faces in `frame`.
    ///
    /// # Errors
    /// [`DetectorError`] when there is no answer for this frame.
    fn detect(
        &mut self,
        frame: &I420Frame<'_>,
        faces: &mut Vec<Detection>,
    ) -> Result<(), DetectorError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_normalise_and_measure() {
        let b = FaceBox::new(10.0, 20.0, 0.0, f32::NAN);
        assert_eq!(b, FaceBox::new(0.0, 0.0, 10.0, 20.0));
        assert_eq!(b.size(), 20.0);
        assert_eq!(b.centre(), (5.0, 10.0));
        let c = b.shift(5.0, 0.0);
        assert!((b.iou(&c) - 100.0 / 300.0).abs() < 1e-6);
        assert!(b.overlaps(&c));
        assert!(!b.overlaps(&b.shift(10.0, 0.0)));
        assert_eq!(b.expand(1.0, 2.0), FaceBox::new(-1.0, -2.0, 11.0, 22.0));
        assert_eq!(b.union(&c), FaceBox::new(0.0, 0.0, 15.0, 20.0));
    }
}
