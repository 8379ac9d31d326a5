//! I420 frames as the server's VP8 decoder hands them over: three borrowed planes with their
//! strides, geometry checked once when the frame is built.
//!
//! An [`I420Frame`] can only be built from planes that hold the whole picture, so the
//! anonymiser's drawing code never indexes outside a plane: a frame that exists is a frame
//! that can be processed.

use super::FaceError;

/// Largest width or height accepted (VP8 codes sizes in 14 bits: 16,383).
pub const MAX_DIMENSION: u32 = 16_383;

/// One plane of a frame: its samples, row after row, `stride` bytes apart.
#[derive(Debug)]
pub struct Plane<'a> {
    /// Samples; row `r` starts at `r * stride`.
    pub data: &'a mut [u8],
    /// Bytes from the start of one row to the start of the next (at least the plane's width).
    pub stride: usize,
}

impl<'a> Plane<'a> {
    /// A plane over `data` with rows `stride` bytes apart.
    pub fn new(data: &'a mut [u8], stride: usize) -> Self {
        Self { data, stride }
    }
}

/// Which plane a geometry error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlaneName {
    /// Luma, full resolution.
    Y,
    /// Blue-difference chroma, half resolution (rounded up) in both directions.
    U,
    /// Red-difference chroma, half resolution (rounded up) in both directions.
    V,
}

impl std::fmt::Display for PlaneName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Y => "Y",
            Self::U => "U",
            Self::V => "V",
        })
    }
}

/// A mutable 8-bit I420 (YUV 4:2:0, three planes) picture.
///
/// Chroma planes are `(width + 1) / 2` by `(height + 1) / 2`, as libvpx lays them out for odd
/// sizes. The pixels print as `REDACTED`: a frame of a protected witness is identifying data.
pub struct I420Frame<'a> {
    width: usize,
    height: usize,
    y: Plane<'a>,
    u: Plane<'a>,
    v: Plane<'a>,
}

impl std::fmt::Debug for I420Frame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "I420Frame({}x{}, REDACTED)", self.width, self.height)
    }
}

/// Bytes needed for `rows` rows of `width` samples `stride` apart, or `None` on overflow.
fn plane_len(width: usize, rows: usize, stride: usize) -> Option<usize> {
    stride.checked_mul(rows - 1)?.checked_add(width)
}

fn check_plane(
    name: PlaneName,
    plane: &Plane<'_>,
    width: usize,
    rows: usize,
) -> Result<(), FaceError> {
    if plane.stride < width {
        return Err(FaceError::StrideTooSmall {
            plane: name,
            stride: plane.stride,
            width,
        });
    }
    let needed = plane_len(width, rows, plane.stride).ok_or(FaceError::PlaneTooShort {
        plane: name,
        len: plane.data.len(),
        needed: usize::MAX,
    })?;
    if plane.data.len() < needed {
        return Err(FaceError::PlaneTooShort {
            plane: name,
            len: plane.data.len(),
            needed,
        });
    }
    Ok(())
}

impl<'a> I420Frame<'a> {
    /// A frame over three planes.
    ///
    /// # Errors
    /// [`FaceError::InvalidDimensions`] when a side is 0 or above [`MAX_DIMENSION`];
    /// [`FaceError::StrideTooSmall`] or [`FaceError::PlaneTooShort`] when a plane cannot hold
    /// its rows.
    pub fn new(
        width: u32,
        height: u32,
        y: Plane<'a>,
        u: Plane<'a>,
        v: Plane<'a>,
    ) -> Result<Self, FaceError> {
        if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(FaceError::InvalidDimensions { width, height });
        }
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        check_plane(PlaneName::Y, &y, w, h)?;
        check_plane(PlaneName::U, &u, cw, ch)?;
        check_plane(PlaneName::V, &v, cw, ch)?;
        Ok(Self {
            width: w,
            height: h,
            y,
            u,
            v,
        })
    }

    /// A frame over one tightly packed buffer: the Y plane, then U, then V, no row padding
    /// (the layout of a raw `.yuv` file or a Y4M frame). Bytes after the V plane are ignored.
    ///
    /// # Errors
    /// As [`I420Frame::new`]; [`FaceError::PlaneTooShort`] when `data` is shorter than
    /// [`packed_len`].
    pub fn packed(width: u32, height: u32, data: &'a mut [u8]) -> Result<Self, FaceError> {
        if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(FaceError::InvalidDimensions { width, height });
        }
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let needed = packed_len(width, height);
        if data.len() < needed {
            return Err(FaceError::PlaneTooShort {
                plane: PlaneName::Y,
                len: data.len(),
                needed,
            });
        }
        let (y, rest) = data.split_at_mut(w * h);
        let (u, rest) = rest.split_at_mut(cw * ch);
        let (v, _) = rest.split_at_mut(cw * ch);
        Self::new(
            width,
            height,
            Plane::new(y, w),
            Plane::new(u, cw),
            Plane::new(v, cw),
        )
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Width of the chroma planes.
    pub fn chroma_width(&self) -> usize {
        self.width.div_ceil(2)
    }

    /// Height of the chroma planes.
    pub fn chroma_height(&self) -> usize {
        self.height.div_ceil(2)
    }

    /// Luma row `r` (`width` samples). `r` must be below `height`.
    pub(crate) fn y_row(&self, r: usize) -> &[u8] {
        let s = r * self.y.stride;
        &self.y.data[s..s + self.width]
    }

    /// Chroma rows `r` of U and V (`chroma_width` samples each).
    pub(crate) fn uv_rows(&self, r: usize) -> (&[u8], &[u8]) {
        let cw = self.chroma_width();
        let su = r * self.u.stride;
        let sv = r * self.v.stride;
        (&self.u.data[su..su + cw], &self.v.data[sv..sv + cw])
    }

    /// Luma sample at (`x`, `y`), for tests and tools.
    pub fn luma(&self, x: usize, y: usize) -> Option<u8> {
        (x < self.width && y < self.height).then(|| self.y.data[y * self.y.stride + x])
    }

    /// Chroma samples (U, V) at chroma coordinates (`x`, `y`), for tests and tools.
    pub fn chroma(&self, x: usize, y: usize) -> Option<(u8, u8)> {
        (x < self.chroma_width() && y < self.chroma_height()).then(|| {
            (
                self.u.data[y * self.u.stride + x],
                self.v.data[y * self.v.stride + x],
            )
        })
    }

    /// Paints the luma rectangle `[x0, x1) x [y0, y1)` (clamped to the frame) with `luma`, and
    /// every chroma sample that any pixel of it touches with `chroma`.
    pub(crate) fn fill_rect(&mut self, rect: PixelRect, luma: u8, chroma: u8) {
        let x1 = rect.x1.min(self.width);
        let y1 = rect.y1.min(self.height);
        if rect.x0 >= x1 || rect.y0 >= y1 {
            return;
        }
        for r in rect.y0..y1 {
            let s = r * self.y.stride;
            self.y.data[s + rect.x0..s + x1].fill(luma);
        }
        let (cx0, cx1) = (rect.x0 / 2, x1.div_ceil(2));
        let (cy0, cy1) = (rect.y0 / 2, y1.div_ceil(2));
        for r in cy0..cy1 {
            let su = r * self.u.stride;
            self.u.data[su + cx0..su + cx1].fill(chroma);
            let sv = r * self.v.stride;
            self.v.data[sv + cx0..sv + cx1].fill(chroma);
        }
    }
}

/// Bytes of a tightly packed I420 frame of this size (Y, then U, then V).
pub fn packed_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * (w.div_ceil(2) * h.div_ceil(2))
}

/// A rectangle of whole pixels, `[x0, x1) x [y0, y1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PixelRect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_checked_per_plane() {
        let mut y = vec![0u8; 16 * 4];
        let mut u = vec![0u8; 8 * 2];
        let mut v = vec![0u8; 8 * 2];
        let ok = I420Frame::new(
            16,
            4,
            Plane::new(&mut y, 16),
            Plane::new(&mut u, 8),
            Plane::new(&mut v, 8),
        );
        assert!(ok.is_ok());
        let err = I420Frame::new(
            16,
            4,
            Plane::new(&mut y, 15),
            Plane::new(&mut u, 8),
            Plane::new(&mut v, 8),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            FaceError::StrideTooSmall {
                plane: PlaneName::Y,
                ..
            }
        ));
        let err = I420Frame::new(
            16,
            5,
            Plane::new(&mut y, 16),
            Plane::new(&mut u, 8),
            Plane::new(&mut v, 8),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            FaceError::PlaneTooShort {
                plane: PlaneName::Y,
                ..
            }
        ));
        let err = I420Frame::new(
            16,
            4,
            Plane::new(&mut y, usize::MAX),
            Plane::new(&mut u, 8),
            Plane::new(&mut v, 8),
        )
        .unwrap_err();
        assert!(matches!(err, FaceError::PlaneTooShort { .. }));
    }

    #[test]
    fn odd_sizes_round_chroma_up_and_fill_reaches_the_edge() {
        let mut buf = vec![7u8; packed_len(5, 3)];
        assert_eq!(buf.len(), 15 + 2 * 6);
        let mut f = I420Frame::packed(5, 3, &mut buf).unwrap();
        assert_eq!((f.chroma_width(), f.chroma_height()), (3, 2));
        f.fill_rect(
            PixelRect {
                x0: 3,
                y0: 1,
                x1: 99,
                y1: 99,
            },
            1,
            2,
        );
        assert_eq!(f.luma(4, 2), Some(1));
        assert_eq!(f.luma(2, 2), Some(7));
        assert_eq!(f.luma(3, 0), Some(7));
        assert_eq!(f.chroma(2, 1), Some((2, 2)));
        assert_eq!(f.chroma(1, 0), Some((2, 2)));
        assert_eq!(f.chroma(0, 0), Some((7, 7)));
        assert_eq!(f.luma(5, 0), None);
    }
}
