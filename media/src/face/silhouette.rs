//! The full-frame silhouette: the picture reduced to a coarse grid of flat grey cells.
//!
//! The frame is cut into square cells, `columns` across the longer side (a 640x360 frame at
//! the default 12 gives 54-pixel cells, 12 x 7). Each cell's mean luma is posterised to one of
//! `levels` greys, with thresholds at the quantiles of the frame's cell means (so the levels
//! stay in use whatever the exposure) and a little hysteresis against flicker; chroma is set to
//! neutral. Every output cell is one flat value, so nothing finer than a cell survives, at any
//! resolution the picture is later scaled to: a face the height of the frame is at most 7 x 7
//! cells of 3 greys. A person moving still moves the pattern.

use super::frame::{I420Frame, PixelRect};

/// Output greys for 2, 3 and 4 levels.
const GREYS: [&[u8]; 3] = [&[64, 192], &[40, 128, 216], &[32, 96, 160, 224]];
/// A cell keeps its previous level unless its mean is this far past a threshold.
const HYSTERESIS: f32 = 4.0;
/// Neutral chroma.
const NEUTRAL: u8 = 128;

/// Cell side in pixels for a frame, given the number of cells across its longer side.
pub(crate) fn cell_size(width: usize, height: usize, columns: u32) -> usize {
    width.max(height).div_ceil(columns.max(1) as usize).max(1)
}

/// Posteriser state for one stream.
#[derive(Clone, Debug)]
pub(crate) struct Silhouette {
    columns: u32,
    levels: usize,
    geometry: (usize, usize),
    means: Vec<f32>,
    sorted: Vec<f32>,
    previous: Vec<u8>,
}

impl Silhouette {
    pub fn new(columns: u32, levels: u8) -> Self {
        Self {
            columns,
            levels: usize::from(levels.clamp(2, 4)),
            geometry: (0, 0),
            means: Vec::new(),
            sorted: Vec::new(),
            previous: Vec::new(),
        }
    }

    /// Replaces `frame` by its silhouette.
    pub fn render(&mut self, frame: &mut I420Frame<'_>) {
        let (w, h) = (frame.width(), frame.height());
        let cell = cell_size(w, h, self.columns);
        let (cols, rows) = (w.div_ceil(cell), h.div_ceil(cell));
        if self.geometry != (w, h) {
            self.geometry = (w, h);
            self.previous = vec![u8::MAX; cols * rows];
        }
        // Cell means of luma.
        self.means.clear();
        self.means.resize(cols * rows, 0.0);
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
                self.means[cr * cols + cc] = s as f32 / (cw * (y1 - y0)) as f32;
            }
        }
        // Thresholds at the quantiles of the cell means.
        self.sorted.clear();
        self.sorted.extend_from_slice(&self.means);
        self.sorted.sort_by(f32::total_cmp);
        let n = self.sorted.len();
        let mut thresholds = [f32::INFINITY; 3];
        for (k, t) in thresholds.iter_mut().enumerate().take(self.levels - 1) {
            *t = self.sorted[((k + 1) * n / self.levels).min(n - 1)];
        }
        let greys = GREYS[self.levels - 2];
        for (i, (&m, prev)) in self.means.iter().zip(self.previous.iter_mut()).enumerate() {
            let fresh = thresholds.iter().filter(|&&t| m >= t).count();
            let p = usize::from(*prev);
            // Hysteresis: a cell that moves to another level by less than HYSTERESIS past the
            // boundary stops one level short, on its previous side.
            let level = if p >= self.levels || p == fresh {
                fresh
            } else if fresh > p {
                if m - thresholds[fresh - 1] < HYSTERESIS {
                    fresh - 1
                } else {
                    fresh
                }
            } else if thresholds[fresh] - m < HYSTERESIS {
                fresh + 1
            } else {
                fresh
            };
            *prev = level as u8;
            let (cr, cc) = (i / cols, i % cols);
            frame.fill_rect(
                PixelRect {
                    x0: cc * cell,
                    y0: cr * cell,
                    x1: (cc + 1) * cell,
                    y1: (cr + 1) * cell,
                },
                greys[level],
                NEUTRAL,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::frame::packed_len;

    #[test]
    fn output_is_flat_per_cell_with_neutral_chroma_and_few_greys() {
        let (w, h) = (101u32, 37u32);
        let mut buf: Vec<u8> = (0..packed_len(w, h))
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        let mut f = I420Frame::packed(w, h, &mut buf).unwrap();
        let mut s = Silhouette::new(12, 3);
        s.render(&mut f);
        let cell = cell_size(101, 37, 12);
        assert_eq!(cell, 9);
        let mut greys = std::collections::BTreeSet::new();
        for y in 0..37 {
            for x in 0..101 {
                let v = f.luma(x, y).unwrap();
                assert_eq!(v, f.luma(x / cell * cell, y / cell * cell).unwrap());
                greys.insert(v);
            }
        }
        assert!(greys.len() <= 3);
        for y in 0..f.chroma_height() {
            for x in 0..f.chroma_width() {
                assert_eq!(f.chroma(x, y), Some((128, 128)));
            }
        }
    }
}
