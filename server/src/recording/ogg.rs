//! A small Ogg Opus writer (RFC 3533 pages, RFC 7845 Opus mapping): one logical stream of mono
//! 48 kHz Opus packets, written as the recorder produces them.
//!
//! The file opens with the `OpusHead` page (beginning of stream) and the `OpusTags` page, then
//! audio pages of up to [`PACKETS_PER_PAGE`] packets (about a second of 20 ms packets), each
//! page's granule position being the sample count at the end of its last packet plus the
//! pre-skip (RFC 7845 §4). [`OggOpusWriter::finish`] writes the last page with the end-of-stream
//! flag. Every page carries its CRC, so a decoder notices a damaged page.

use std::io::{self, Write};

/// Audio packets per page: about one second of 20 ms packets.
pub const PACKETS_PER_PAGE: usize = 50;

/// Lacing values on one page (the format's limit).
const MAX_LACING: usize = 255;

/// The Ogg CRC-32: polynomial 0x04c11db7, initial value 0, no reflection, no final xor.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut r = (i as u32) << 24;
            let mut j = 0;
            while j < 8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04c1_1db7
                } else {
                    r << 1
                };
                j += 1;
            }
            t[i] = r;
            i += 1;
        }
        t
    };
    data.iter().fold(0u32, |crc, &b| {
        (crc << 8) ^ TABLE[(((crc >> 24) as u8) ^ b) as usize]
    })
}

/// Writes one Ogg Opus logical stream to `W`.
#[derive(Debug)]
pub struct OggOpusWriter<W: Write> {
    out: W,
    serial: u32,
    page_seq: u32,
    pre_skip: u16,
    /// Samples (48 kHz) of every packet taken so far.
    samples: u64,
    pending: Vec<Vec<u8>>,
    bytes_written: u64,
}

/// Page flags.
const CONTINUED: u8 = 0x01;
const BEGIN: u8 = 0x02;
const END: u8 = 0x04;

impl<W: Write> OggOpusWriter<W> {
    /// Starts a stream: writes the `OpusHead` and `OpusTags` pages. `pre_skip` is the encoder's
    /// look-ahead in 48 kHz samples; `vendor` goes into the tags (no personal data).
    ///
    /// # Errors
    /// When writing fails.
    pub fn new(out: W, serial: u32, pre_skip: u16, vendor: &str) -> io::Result<Self> {
        let mut w = Self {
            out,
            serial,
            page_seq: 0,
            pre_skip,
            samples: 0,
            pending: Vec::new(),
            bytes_written: 0,
        };
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(1); // channels: mono
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes()); // input sample rate
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family 0
        w.write_page(&[head], 0, BEGIN)?;
        let mut tags = Vec::new();
        tags.extend_from_slice(b"OpusTags");
        let vendor = vendor.as_bytes();
        tags.extend_from_slice(&u32::try_from(vendor.len()).unwrap_or(0).to_le_bytes());
        tags.extend_from_slice(if vendor.len() <= u32::MAX as usize {
            vendor
        } else {
            b""
        });
        tags.extend_from_slice(&0u32.to_le_bytes()); // no user comments
        w.write_page(&[tags], 0, 0)?;
        Ok(w)
    }

    /// Adds one Opus packet that decodes to `samples` samples at 48 kHz. Written out once a page
    /// is full.
    ///
    /// # Errors
    /// When writing fails; packets larger than an Opus packet can be (1275 bytes × 6 frames) are
    /// refused as `InvalidInput`.
    pub fn push(&mut self, packet: &[u8], samples: u32) -> io::Result<()> {
        if packet.is_empty() || packet.len() > 255 * 60 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an Opus packet length",
            ));
        }
        let lacing_now: usize = self.pending.iter().map(|p| p.len() / 255 + 1).sum();
        if lacing_now + packet.len() / 255 + 1 > MAX_LACING {
            self.flush_page(0)?;
        }
        self.pending.push(packet.to_vec());
        self.samples += u64::from(samples);
        if self.pending.len() >= PACKETS_PER_PAGE {
            self.flush_page(0)?;
        }
        Ok(())
    }

    /// Samples (48 kHz) taken so far, without the pre-skip.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Writes what is pending as the last page (end of stream) and returns the output.
    ///
    /// # Errors
    /// When writing fails.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_page(END)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn flush_page(&mut self, flags: u8) -> io::Result<()> {
        if self.pending.is_empty() && flags & END == 0 {
            return Ok(());
        }
        let packets = std::mem::take(&mut self.pending);
        let granule = self.samples + u64::from(self.pre_skip);
        self.write_page(&packets, granule, flags)
    }

    fn write_page(&mut self, packets: &[Vec<u8>], granule: u64, flags: u8) -> io::Result<()> {
        let mut lacing = Vec::new();
        for p in packets {
            lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
            lacing.push(u8::try_from(p.len() % 255).unwrap_or(0));
        }
        let n_segments = u8::try_from(lacing.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "page too large"))?;
        let mut page =
            Vec::with_capacity(27 + lacing.len() + packets.iter().map(Vec::len).sum::<usize>());
        page.extend_from_slice(b"OggS");
        page.push(0); // version
        page.push(flags & (CONTINUED | BEGIN | END));
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.page_seq.to_le_bytes());
        page.extend_from_slice(&[0; 4]); // CRC, filled in below
        page.push(n_segments);
        page.extend_from_slice(&lacing);
        for p in packets {
            page.extend_from_slice(p);
        }
        let crc = crc32(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(&page)?;
        self.page_seq = self.page_seq.wrapping_add(1);
        self.bytes_written += page.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_matches_the_ogg_reference_value() {
        // The CRC of "OggS" with this polynomial (no reflection), as libogg computes it.
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn pages_carry_head_tags_granules_and_end_of_stream() {
        let mut w = OggOpusWriter::new(Vec::new(), 7, 312, "assize").expect("in memory");
        for _ in 0..(PACKETS_PER_PAGE + 3) {
            w.push(&[0xF8, 0xFF, 0xFE], 960).expect("in memory");
        }
        let bytes = w.finish().expect("in memory");
        // Walk the pages.
        let mut at = 0;
        let mut pages = Vec::new();
        while at < bytes.len() {
            assert_eq!(&bytes[at..at + 4], b"OggS");
            let flags = bytes[at + 5];
            let granule = u64::from_le_bytes(bytes[at + 6..at + 14].try_into().expect("8"));
            let n = bytes[at + 26] as usize;
            let body: usize = bytes[at + 27..at + 27 + n]
                .iter()
                .map(|&b| b as usize)
                .sum();
            let len = 27 + n + body;
            let mut copy = bytes[at..at + len].to_vec();
            copy[22..26].fill(0);
            let crc = u32::from_le_bytes(bytes[at + 22..at + 26].try_into().expect("4"));
            assert_eq!(crc32(&copy), crc, "page {} CRC", pages.len());
            pages.push((flags, granule, n));
            at += len;
        }
        assert_eq!(
            pages,
            vec![
                (BEGIN, 0, 1),
                (0, 0, 1),
                (0, 312 + 960 * PACKETS_PER_PAGE as u64, PACKETS_PER_PAGE),
                (END, 312 + 960 * (PACKETS_PER_PAGE as u64 + 3), 3),
            ]
        );
        assert_eq!(&bytes[28..36], b"OpusHead");
    }
}
