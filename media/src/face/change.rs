//! Scene-cut detection: a cheap reason to run the face detector off schedule.
//!
//! Between scheduled detections masks are carried over, which is safe for faces that move but
//! not for a picture that changes at once (a camera switch, a cut): a face appearing there
//! would be shown until the next scheduled detection. Each frame's luma is reduced to a grid of
//! cell means (16 across the longer side); when at least [`CUT_SHARE`] of the cells changed by
//! more than [`CUT_DELTA`] since the previous frame, the frame counts as a cut. 15% is above
//! what a face moving at a fifth of its size per frame changes in the test video (at most
//! 15.3% of cells, but then an extra detection is welcome anyway) and below what a face
//! appearing elsewhere does (20-44%).

use super::frame::I420Frame;
use super::silhouette::cell_size;

/// Cells across the longer side.
const COLUMNS: u32 = 16;
/// A cell changed when its mean luma moved by more than this.
const CUT_DELTA: f32 = 24.0;
/// A frame is a cut when at least this share of its cells changed.
pub(crate) const CUT_SHARE: f32 = 0.15;

/// The previous frame's cell means.
#[derive(Clone, Debug, Default)]
pub(crate) struct SceneChange {
    geometry: (usize, usize),
    previous: Vec<f32>,
    current: Vec<f32>,
}

impl SceneChange {
    /// Takes the next frame; true when it differs from the previous one like a cut.
    pub fn is_cut(&mut self, frame: &I420Frame<'_>) -> bool {
        let (w, h) = (frame.width(), frame.height());
        let cell = cell_size(w, h, COLUMNS);
        let (cols, rows) = (w.div_ceil(cell), h.div_ceil(cell));
        self.current.clear();
        self.current.resize(cols * rows, 0.0);
        let mut sums = vec![0u64; cols];
        for cr in 0..rows {
            sums.fill(0);
            let (y0, y1) = (cr * cell, ((cr + 1) * cell).min(h));
            for r in y0..y1 {
                for (s, chunk) in sums.iter_mut().zip(frame.y_row(r).chunks(cell)) {
                    *s += chunk.iter().map(|&p| u64::from(p)).sum::<u64>();
                }
            }
            for (cc, &s) in sums.iter().enumerate() {
                let cw = ((cc + 1) * cell).min(w) - cc * cell;
                self.current[cr * cols + cc] = s as f32 / (cw * (y1 - y0)) as f32;
            }
        }
        let comparable = self.geometry == (w, h) && self.previous.len() == self.current.len();
        let cut = comparable && {
            let changed = self
                .current
                .iter()
                .zip(&self.previous)
                .filter(|(a, b)| (*a - *b).abs() > CUT_DELTA)
                .count();
            changed as f32 >= CUT_SHARE * self.current.len() as f32
        };
        self.geometry = (w, h);
        std::mem::swap(&mut self.previous, &mut self.current);
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::frame::packed_len;

    #[test]
    fn a_new_picture_is_a_cut_and_small_changes_are_not() {
        let mut sc = SceneChange::default();
        let mut a = vec![60u8; packed_len(64, 36)];
        assert!(!sc.is_cut(&I420Frame::packed(64, 36, &mut a).unwrap()));
        // A bright object over a tenth of the picture: not a cut.
        for r in 0..36 {
            for c in 0..8 {
                a[r * 64 + c] = 250;
            }
        }
        assert!(!sc.is_cut(&I420Frame::packed(64, 36, &mut a).unwrap()));
        // Half the picture changes at once: a cut.
        for r in 0..36 {
            for c in 0..32 {
                a[r * 64 + c] = 200;
            }
        }
        assert!(sc.is_cut(&I420Frame::packed(64, 36, &mut a).unwrap()));
        // A change of size is not compared.
        let mut b = vec![0u8; packed_len(32, 36)];
        assert!(!sc.is_cut(&I420Frame::packed(32, 36, &mut b).unwrap()));
    }
}
