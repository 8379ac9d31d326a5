//! The bundled face detector: CenterFace (MIT, see `media/models/README.md`) run with
//! `tract-onnx`.
//!
//! Per detection: the frame is resampled to the detector's input size (longest side
//! `detector_long_side`, both sides rounded up to multiples of 32, box-filtered when shrinking)
//! and converted to RGB; the network returns, at 1/4 of that resolution, a face-centre heatmap,
//! log box sizes and centre offsets (its landmark output is not used). Candidates above a low
//! threshold become boxes, overlapping boxes are suppressed (IoU 0.3), and the survivors are
//! mapped back to frame pixels. This follows the upstream Python reference.
//!
//! The ONNX graph is parsed once; an optimised plan is built for the first input size and
//! rebuilt only when the frame size changes the input size. Clones share the parsed model.

use std::sync::Arc;

use tract_onnx::prelude::*;

use super::FaceError;
use super::detector::{Detection, DetectorError, FaceBox, FaceDetector};
use super::frame::I420Frame;

/// The CenterFace ONNX model compiled into the crate (7.3 MB; MIT licence,
/// `media/models/LICENSE-centerface`).
pub const CENTERFACE_ONNX: &[u8] = include_bytes!("../../models/centerface.onnx");

/// Candidates below this heatmap score are not reported at all.
const CANDIDATE_SCORE: f32 = 0.05;
/// At most this many candidates enter non-maximum suppression (bounds its quadratic cost).
const MAX_CANDIDATES: usize = 256;
/// Boxes overlapping a stronger one by more than this IoU are dropped.
const NMS_IOU: f32 = 0.3;
/// The heatmap's stride relative to the network input.
const STRIDE: usize = 4;
/// Input sides are multiples of this.
const ALIGN: usize = 32;

type Plan = Arc<TypedSimplePlan>;

/// The CenterFace detector. Cheap to clone (clones share the parsed model); one per stream.
#[derive(Clone)]
pub struct CenterFace {
    model: Arc<InferenceModel>,
    long_side: usize,
    plan: Option<(usize, usize, Plan)>,
    input: Vec<f32>,
    candidates: Vec<Detection>,
}

impl std::fmt::Debug for CenterFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CenterFace")
            .field("long_side", &self.long_side)
            .finish_non_exhaustive()
    }
}

impl CenterFace {
    /// Parses the bundled model ([`CENTERFACE_ONNX`]) and checks that it runs.
    ///
    /// `long_side` is the detector's input resolution (longest side, pixels, 64 to 2048):
    /// frames larger than that are shrunk before detection. Lower is faster and misses small
    /// faces: at 320, faces below about 1/16 of the frame's longest side are unreliable.
    ///
    /// # Errors
    /// [`FaceError::Model`] when the model cannot be parsed or planned;
    /// [`FaceError::InvalidSetting`] when `long_side` is out of range.
    pub fn bundled(long_side: u32) -> Result<Self, FaceError> {
        Self::from_onnx(CENTERFACE_ONNX, long_side)
    }

    /// Parses a CenterFace ONNX model given as bytes (same input and outputs as the bundled
    /// one) and checks that it runs on a blank 16:9 frame.
    ///
    /// # Errors
    /// As [`CenterFace::bundled`].
    pub fn from_onnx(onnx: &[u8], long_side: u32) -> Result<Self, FaceError> {
        if !(64..=2048).contains(&long_side) {
            return Err(FaceError::InvalidSetting {
                name: "detector_long_side",
                value: long_side as f32,
                allowed: "64..=2048",
            });
        }
        let model = tract_onnx::onnx()
            .with_ignore_output_shapes(true)
            .model_for_read(&mut &*onnx)
            .map_err(|e| FaceError::Model(format!("{e:#}")))?;
        let mut detector = Self {
            model: Arc::new(model),
            long_side: long_side as usize,
            plan: None,
            input: Vec::new(),
            candidates: Vec::new(),
        };
        // Plan and run once now, so a model that cannot run fails construction, not a hearing.
        let (w, h) = (long_side, (long_side * 9 / 16).max(1));
        let mut blank = vec![16u8; super::frame::packed_len(w, h)];
        let frame = I420Frame::packed(w, h, &mut blank)?;
        let mut faces = Vec::new();
        detector
            .detect(&frame, &mut faces)
            .map_err(|e| FaceError::Model(e.to_string()))?;
        Ok(detector)
    }

    /// The network input size (width, height) used for a frame of this size.
    pub fn input_size(&self, width: usize, height: usize) -> (usize, usize) {
        let long = width.max(height).max(1) as f64;
        let scale = (self.long_side as f64 / long).min(1.0);
        let side = |v: usize| {
            let scaled = ((v as f64 * scale).round() as usize).max(1);
            scaled.div_ceil(ALIGN) * ALIGN
        };
        (side(width), side(height))
    }

    fn plan_for(&mut self, w: usize, h: usize) -> TractResult<Plan> {
        if let Some((pw, ph, plan)) = &self.plan
            && (*pw, *ph) == (w, h)
        {
            return Ok(plan.clone());
        }
        self.plan = None;
        let plan = (*self.model)
            .clone()
            .with_input_fact(0, f32::fact([1, 3, h, w]).into())?
            .into_optimized()?
            .into_runnable()?;
        self.plan = Some((w, h, plan.clone()));
        Ok(plan)
    }

    fn run(&mut self, frame: &I420Frame<'_>, faces: &mut Vec<Detection>) -> TractResult<()> {
        let (iw, ih) = self.input_size(frame.width(), frame.height());
        let plan = self.plan_for(iw, ih)?;
        to_rgb_planes(frame, iw, ih, &mut self.input);
        let tensor = Tensor::from_shape(&[1, 3, ih, iw], &self.input)?;
        let outputs = plan.run(tvec!(tensor.into()))?;
        let (hw, hh) = (iw / STRIDE, ih / STRIDE);
        let cells = hw * hh;
        let get = |i: usize, channels: usize| -> TractResult<&[f32]> {
            let t = outputs
                .get(i)
                .ok_or_else(|| TractError::msg(format!("CenterFace output {i} missing")))?;
            let s = t.try_as_plain_ram()?.as_slice::<f32>()?;
            if s.len() != channels * cells {
                return Err(TractError::msg(format!(
                    "CenterFace output {i} has {} values, expected {}",
                    s.len(),
                    channels * cells
                )));
            }
            Ok(s)
        };
        let heat = get(0, 1)?;
        let scale = get(1, 2)?;
        let offset = get(2, 2)?;

        self.candidates.clear();
        for (i, &score) in heat.iter().enumerate() {
            // `>` is false for NaN, so a broken output yields no candidate, never a panic.
            if score > CANDIDATE_SCORE {
                let (r, c) = ((i / hw) as f32, (i % hw) as f32);
                let bh = scale[i].clamp(-8.0, 8.0).exp() * STRIDE as f32;
                let bw = scale[cells + i].clamp(-8.0, 8.0).exp() * STRIDE as f32;
                let oy = offset[i];
                let ox = offset[cells + i];
                if !(bh.is_finite() && bw.is_finite() && oy.is_finite() && ox.is_finite()) {
                    continue;
                }
                let x0 = ((c + ox + 0.5) * STRIDE as f32 - bw / 2.0).max(0.0);
                let y0 = ((r + oy + 0.5) * STRIDE as f32 - bh / 2.0).max(0.0);
                self.candidates.push(Detection {
                    bbox: FaceBox::new(x0, y0, x0 + bw, y0 + bh),
                    score: score.min(1.0),
                });
            }
        }
        self.candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        self.candidates.truncate(MAX_CANDIDATES);

        // Greedy non-maximum suppression (a box is dropped only by a kept, stronger one),
        // then back to frame pixels.
        let sx = frame.width() as f32 / iw as f32;
        let sy = frame.height() as f32 / ih as f32;
        let (fw, fh) = (frame.width() as f32, frame.height() as f32);
        let first = faces.len();
        for d in &self.candidates {
            let b = d.bbox.scale(sx, sy);
            let b = FaceBox::new(b.x0.min(fw), b.y0.min(fh), b.x1.min(fw), b.y1.min(fh));
            if faces[first..].iter().all(|k| k.bbox.iou(&b) <= NMS_IOU) {
                faces.push(Detection {
                    bbox: b,
                    score: d.score,
                });
            }
        }
        Ok(())
    }
}

impl FaceDetector for CenterFace {
    fn detect(
        &mut self,
        frame: &I420Frame<'_>,
        faces: &mut Vec<Detection>,
    ) -> Result<(), DetectorError> {
        faces.clear();
        self.run(frame, faces).map_err(|e| {
            faces.clear();
            DetectorError::Inference(format!("{e:#}"))
        })
    }
}

/// For each output index, the source range `[start, end)` it averages (at least one sample).
fn ranges(src: usize, dst: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..dst).map(move |i| {
        let start = (i * src / dst).min(src - 1);
        let end = ((i + 1) * src / dst).clamp(start + 1, src);
        (start, end)
    })
}

/// Resamples `frame` to `w` x `h` (box filter when shrinking, nearest when enlarging) and
/// writes RGB (BT.601 studio range in, 0..255 out) as three planes into `out`.
fn to_rgb_planes(frame: &I420Frame<'_>, w: usize, h: usize, out: &mut Vec<f32>) {
    let (fw, fh) = (frame.width(), frame.height());
    let (cw, ch) = (frame.chroma_width(), frame.chroma_height());
    out.clear();
    out.resize(3 * w * h, 0.0);
    let xr: Vec<(usize, usize)> = ranges(fw, w).collect();
    let cxr: Vec<(usize, usize)> = xr
        .iter()
        .map(|&(a, b)| (a / 2, b.div_ceil(2).clamp(a / 2 + 1, cw)))
        .collect();
    let mut ysum = vec![0u32; w];
    let mut usum = vec![0u32; w];
    let mut vsum = vec![0u32; w];
    let plane = w * h;
    for (oy, (ry0, ry1)) in ranges(fh, h).enumerate() {
        let (cy0, cy1) = (ry0 / 2, ry1.div_ceil(2).clamp(ry0 / 2 + 1, ch));
        ysum.fill(0);
        usum.fill(0);
        vsum.fill(0);
        for r in ry0..ry1 {
            let row = frame.y_row(r);
            for (s, &(a, b)) in ysum.iter_mut().zip(xr.iter()) {
                *s += row[a..b].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        for r in cy0..cy1 {
            let (urow, vrow) = frame.uv_rows(r);
            for ((su, sv), &(a, b)) in usum.iter_mut().zip(vsum.iter_mut()).zip(cxr.iter()) {
                *su += urow[a..b].iter().map(|&p| u32::from(p)).sum::<u32>();
                *sv += vrow[a..b].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        let ny = (ry1 - ry0) as f32;
        let nc = (cy1 - cy0) as f32;
        for ox in 0..w {
            let (a, b) = xr[ox];
            let (ca, cb) = cxr[ox];
            let y = ysum[ox] as f32 / (ny * (b - a) as f32);
            let c = (cb - ca) as f32 * nc;
            let u = usum[ox] as f32 / c - 128.0;
            let v = vsum[ox] as f32 / c - 128.0;
            let l = 1.164 * (y - 16.0);
            let i = oy * w + ox;
            out[i] = (l + 1.596 * v).clamp(0.0, 255.0);
            out[plane + i] = (l - 0.392 * u - 0.813 * v).clamp(0.0, 255.0);
            out[2 * plane + i] = (l + 2.017 * u).clamp(0.0, 255.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_source_once_when_shrinking_and_repeat_when_enlarging() {
        let r: Vec<_> = ranges(10, 4).collect();
        assert_eq!(r, vec![(0, 2), (2, 5), (5, 7), (7, 10)]);
        let r: Vec<_> = ranges(2, 5).collect();
        assert_eq!(r, vec![(0, 1), (0, 1), (0, 1), (1, 2), (1, 2)]);
        let r: Vec<_> = ranges(1, 3).collect();
        assert_eq!(r, vec![(0, 1), (0, 1), (0, 1)]);
    }

    #[test]
    fn grey_frames_convert_to_grey_rgb() {
        let mut buf = vec![128u8; super::super::frame::packed_len(7, 5)];
        buf[..35].fill(126); // Y = 126 -> 1.164 * 110 = 128.0
        let f = I420Frame::packed(7, 5, &mut buf).unwrap();
        let mut out = Vec::new();
        to_rgb_planes(&f, 32, 32, &mut out);
        assert_eq!(out.len(), 3 * 32 * 32);
        assert!(
            out.iter().all(|&v| (v - 128.04).abs() < 0.01),
            "{:?}",
            &out[..4]
        );
    }
}
