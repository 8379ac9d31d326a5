//! YUV4MPEG2 (`.y4m`) 4:2:0 streams, read and written frame by frame: the format ffmpeg writes
//! and Chromium's fake camera reads (`--use-file-for-fake-video-capture`). Outside input: the
//! header and frame lines are bounded, the picture size is capped, anything but 4:2:0 is refused
//! with a message that says how to convert, and nothing panics.
//!
//! Generic over `BufRead`/`Write`: the caller owns the files (this crate does no IO of its own).

use std::io::{BufRead, Read as _, Write};

use crate::codec::{DEFAULT_MAX_SIDE, i420_len};

/// Longest stream header line accepted (bytes, newline included).
pub const MAX_HEADER_LINE: usize = 1024;
/// Longest `FRAME` line accepted (bytes, newline included).
pub const MAX_FRAME_LINE: usize = 256;

/// Why a Y4M stream was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Y4mError {
    /// The stream does not start with `YUV4MPEG2 `.
    #[error("not a Y4M file (it must start with YUV4MPEG2)")]
    NotY4m,
    /// A header or frame line is longer than allowed, or not text.
    #[error("{0}")]
    BadLine(&'static str),
    /// The header lacks a size, or a parameter does not parse.
    #[error("bad Y4M header: {0}")]
    Header(String),
    /// A colour space other than 4:2:0.
    #[error(
        "colour space C{0} is not supported; convert to 4:2:0 first (ffmpeg -i IN -pix_fmt yuv420p OUT.y4m)"
    )]
    ColourSpace(String),
    /// Larger than the cap.
    #[error("pictures of {width}x{height} are larger than {max} pixels on a side")]
    TooLarge { width: u32, height: u32, max: u32 },
    /// A frame without its `FRAME` line, or cut short.
    #[error("frame {index} is truncated or has no FRAME marker")]
    Truncated { index: u64 },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A Y4M stream header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Y4mHeader {
    /// Picture width (pixels).
    pub width: u32,
    /// Picture height (pixels).
    pub height: u32,
    /// Frame rate as numerator and denominator (`F30:1`; 25:1 when absent).
    pub frame_rate: (u32, u32),
    /// The other parameters as given (interlacing, aspect ratio, comments), written back.
    params: Vec<String>,
}

impl Y4mHeader {
    /// A header for `width` x `height` at `fps` frames per second, progressive, 4:2:0.
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        Self {
            width,
            height,
            frame_rate: (fps.max(1), 1),
            params: vec!["Ip".into(), "A1:1".into()],
        }
    }

    /// Bytes of one packed I420 picture.
    pub fn frame_len(&self) -> usize {
        i420_len(self.width, self.height)
    }

    /// Frames per second (never zero).
    pub fn fps(&self) -> f64 {
        f64::from(self.frame_rate.0) / f64::from(self.frame_rate.1.max(1))
    }
}

/// Reads one line of at most `max` bytes (newline included), without the newline. `None` at
/// the end of the stream.
fn read_line<R: BufRead>(
    r: &mut R,
    max: usize,
    what: &'static str,
) -> Result<Option<String>, Y4mError> {
    let mut line = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX);
    r.by_ref().take(limit).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        return Err(Y4mError::BadLine(what));
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| Y4mError::BadLine(what))
}

/// Reads and checks the stream header; pictures larger than `max_side` on a side are refused.
///
/// # Errors
/// [`Y4mError`] saying what is wrong.
pub fn read_header<R: BufRead>(r: &mut R, max_side: u32) -> Result<Y4mHeader, Y4mError> {
    let line = read_line(
        r,
        MAX_HEADER_LINE,
        "the Y4M header line is too long or not text",
    )?
    .ok_or(Y4mError::NotY4m)?;
    let mut tokens = line.split(' ');
    if tokens.next() != Some("YUV4MPEG2") {
        return Err(Y4mError::NotY4m);
    }
    let (mut width, mut height, mut frame_rate) = (None, None, (25, 1));
    let mut params = Vec::new();
    for token in tokens.filter(|t| !t.is_empty()) {
        // The tag is the first character, whatever it is (`split_at(1)` would panic on a
        // multi-byte one: the fuzz target found nothing here only because this is careful).
        let mut chars = token.chars();
        let tag = chars.next().map(String::from).unwrap_or_default();
        let value = chars.as_str();
        let number = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| Y4mError::Header(format!("{token} is not a number")))
        };
        match tag.as_str() {
            "W" => width = Some(number(value)?),
            "H" => height = Some(number(value)?),
            "F" => {
                let (n, d) = value
                    .split_once(':')
                    .ok_or_else(|| Y4mError::Header(format!("{token}: expected F<n>:<d>")))?;
                let (n, d) = (number(n)?, number(d)?);
                if n == 0 || d == 0 {
                    return Err(Y4mError::Header(format!("{token}: a zero frame rate")));
                }
                frame_rate = (n, d);
            }
            "C" => {
                if !matches!(value, "420" | "420jpeg" | "420paldv" | "420mpeg2") {
                    return Err(Y4mError::ColourSpace(value.into()));
                }
            }
            _ => params.push(token.to_string()),
        }
    }
    let (Some(width), Some(height)) = (width, height) else {
        return Err(Y4mError::Header("no W (width) or H (height)".into()));
    };
    let max = max_side.min(DEFAULT_MAX_SIDE);
    if width == 0 || height == 0 || width > max || height > max {
        return Err(Y4mError::TooLarge { width, height, max });
    }
    Ok(Y4mHeader {
        width,
        height,
        frame_rate,
        params,
    })
}

/// Reads the next picture into `picture` ([`Y4mHeader::frame_len`] bytes). `Ok(false)` at the
/// end of the stream.
///
/// # Errors
/// [`Y4mError::Truncated`] for a frame cut short or without its `FRAME` line.
pub fn read_frame<R: BufRead>(
    r: &mut R,
    header: &Y4mHeader,
    index: u64,
    picture: &mut Vec<u8>,
) -> Result<bool, Y4mError> {
    let Some(line) = read_line(r, MAX_FRAME_LINE, "a FRAME line is too long or not text")? else {
        return Ok(false);
    };
    if line != "FRAME" && !line.starts_with("FRAME ") {
        return Err(Y4mError::Truncated { index });
    }
    picture.resize(header.frame_len(), 0);
    r.read_exact(picture).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Y4mError::Truncated { index },
        _ => Y4mError::Io(e),
    })?;
    Ok(true)
}

/// Writes the stream header (4:2:0 with JPEG-range chroma siting, as ffmpeg's yuv420p).
///
/// # Errors
/// When writing fails.
pub fn write_header<W: Write>(w: &mut W, header: &Y4mHeader) -> Result<(), Y4mError> {
    let (n, d) = header.frame_rate;
    write!(w, "YUV4MPEG2 W{} H{} F{n}:{d}", header.width, header.height)?;
    for p in &header.params {
        write!(w, " {p}")?;
    }
    writeln!(w, " C420jpeg")?;
    Ok(())
}

/// Writes one picture ([`Y4mHeader::frame_len`] bytes).
///
/// # Errors
/// When writing fails or the picture has the wrong size.
pub fn write_frame<W: Write>(
    w: &mut W,
    header: &Y4mHeader,
    picture: &[u8],
) -> Result<(), Y4mError> {
    if picture.len() != header.frame_len() {
        return Err(Y4mError::Header(format!(
            "a picture of {} bytes for a {}x{} stream",
            picture.len(),
            header.width,
            header.height
        )));
    }
    w.write_all(b"FRAME\n")?;
    w.write_all(picture)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(header: &str, frames: usize, frame_len: usize) -> Vec<u8> {
        let mut s = header.as_bytes().to_vec();
        for i in 0..frames {
            s.extend_from_slice(b"FRAME\n");
            s.extend(std::iter::repeat_n(u8::try_from(i).unwrap_or(0), frame_len));
        }
        s
    }

    #[test]
    fn reads_what_it_writes() {
        let header = Y4mHeader::new(4, 2, 30);
        let mut out = Vec::new();
        write_header(&mut out, &header).expect("writes");
        for v in [1u8, 2] {
            write_frame(&mut out, &header, &[v; 12]).expect("writes");
        }
        let mut r = std::io::Cursor::new(out);
        let back = read_header(&mut r, 4096).expect("reads");
        assert_eq!((back.width, back.height, back.fps()), (4, 2, 30.0));
        let mut pic = Vec::new();
        assert!(read_frame(&mut r, &back, 0, &mut pic).expect("frame"));
        assert_eq!(pic, vec![1; 12]);
        assert!(read_frame(&mut r, &back, 1, &mut pic).expect("frame"));
        assert_eq!(pic, vec![2; 12]);
        assert!(!read_frame(&mut r, &back, 2, &mut pic).expect("end"));
    }

    #[test]
    fn ffmpeg_style_headers_and_frame_parameters_are_accepted() {
        let data = stream(
            "YUV4MPEG2 W2 H2 F30000:1001 Ip A0:0 C420mpeg2 XYSCSS=420MPEG2\n",
            1,
            6,
        );
        let mut r = std::io::Cursor::new(data);
        let h = read_header(&mut r, 4096).expect("ffmpeg's header");
        assert!((h.fps() - 29.97).abs() < 0.01);
        let mut pic = Vec::new();
        assert!(read_frame(&mut r, &h, 0, &mut pic).expect("a frame"));
    }

    #[test]
    fn hostile_streams_get_errors_that_say_what_is_wrong() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "not a Y4M"),
            (b"RIFF....WAVE\n".to_vec(), "not a Y4M"),
            (b"YUV4MPEG2 W2 H2".to_vec(), "header line"),
            (
                [b"YUV4MPEG2 ".as_slice(), &[b'X'; 2000], b"\n"].concat(),
                "header line",
            ),
            (b"YUV4MPEG2 W2 H2 C444\n".to_vec(), "4:2:0"),
            (b"YUV4MPEG2 W2 H2 Cmono\n".to_vec(), "4:2:0"),
            (b"YUV4MPEG2 W2\n".to_vec(), "no W"),
            (b"YUV4MPEG2 Wx H2\n".to_vec(), "not a number"),
            (b"YUV4MPEG2 W99999999999 H2\n".to_vec(), "not a number"),
            (b"YUV4MPEG2 W0 H2\n".to_vec(), "larger than"),
            (b"YUV4MPEG2 W100000 H100000\n".to_vec(), "larger than"),
            (b"YUV4MPEG2 W2 H2 F0:1\n".to_vec(), "zero frame rate"),
            (b"YUV4MPEG2 W2 H2 F30\n".to_vec(), "expected F"),
            (b"YUV4MPEG2 W2 H2 \xff\n".to_vec(), "not text"),
            // A multi-byte first character of a parameter is an unknown parameter, not a
            // panic; the stream then fails on its missing frame data.
            (
                "YUV4MPEG2 W2 H2 éx €\nFRAME\n".as_bytes().to_vec(),
                "truncated",
            ),
            (b"YUV4MPEG2 W2 H2\nFRAME\n\x01\x02".to_vec(), "truncated"),
            (
                b"YUV4MPEG2 W2 H2\nFRAMX\n\x01\x02\x03\x04\x05\x06".to_vec(),
                "truncated",
            ),
            (
                [b"YUV4MPEG2 W2 H2\nFRAME".as_slice(), &[b' '; 300], b"\n"].concat(),
                "FRAME line",
            ),
        ];
        for (data, expected) in cases {
            let mut r = std::io::Cursor::new(&data);
            let result = read_header(&mut r, 4096).and_then(|h| {
                let mut pic = Vec::new();
                read_frame(&mut r, &h, 0, &mut pic)
            });
            let err = result.expect_err(&String::from_utf8_lossy(&data));
            assert!(
                err.to_string().contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(&data)
            );
        }
    }
}
