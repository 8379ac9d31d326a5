//! The recorder's thread: packets in, sealed Ogg Opus segment files out.
//!
//! One OS thread per recording (codec work never runs on the async runtime). It takes the
//! hearing room's Opus packets from a bounded channel ([`RecorderThread::push`] never blocks; a
//! full channel drops the packet and counts it), mixes them every 20 ms ([`Mixer`]), encodes
//! the mix with Opus and writes it to the current segment file. A segment is written as
//! `seg-NNNNN.opus.part`; once it holds `segment_frames` frames (or at stop) it is finished,
//! flushed to disk, renamed to `seg-NNNNN.opus`, hashed, chained ([`chain_link`]) and reported
//! as a [`RecorderEvent::Segment`], which the async side records and enters in the audit log.
//! A crash therefore loses at most the `.part` file in progress, and it stays on disk to be
//! noted.
//!
//! Each segment is a complete Ogg Opus stream with a fresh encoder, so it decodes on its own.
//!
//! **Encrypted segments** (the court's original voice, [`RecorderConfig::encrypt_to`]): the
//! segment is built in memory, never in a file; at close it is encrypted as CMS EnvelopedData to
//! the court's certificate ([`super::original::OriginalRecipient`]), the clear bytes are wiped,
//! and only the ciphertext is written (`seg-NNNNN.opus.p7m.part`, then renamed), flushed,
//! hashed and chained like any segment. A crash loses the segment in memory; no clear audio is
//! ever on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assize_media::codec::{FRAME_SAMPLES, OpusEncoder};
use crossbeam_channel as cb;
use sha2::{Digest as _, Sha256};

use super::mixer::Mixer;
use super::ogg::OggOpusWriter;
use super::original::OriginalRecipient;
use crate::sfu::room::{ParticipantId, Variant};

/// One 20 ms frame.
pub const FRAME: Duration = Duration::from_millis(20);
/// libopus's look-ahead at 48 kHz (2.5 ms + 4 ms delay compensation), the pre-skip of every
/// segment (RFC 7845 §4.2).
pub const PRE_SKIP: u16 = 312;
/// Packets queued for the recorder at most.
const QUEUE: usize = 4096;

/// A recorded source: a publisher's voice, raw or anonymised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordedSource {
    pub publisher: ParticipantId,
    pub variant: Variant,
}

/// How one recording is written.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    /// The recording's directory (created, mode 0700).
    pub dir: PathBuf,
    /// The recording's id (starts the hash chain).
    pub recording_id: String,
    /// Frames (20 ms) per segment.
    pub segment_frames: u32,
    /// Jitter tolerance in frames.
    pub jitter_frames: usize,
    /// Opus bitrate of the recording.
    pub bitrate_kbps: u32,
    /// Encrypt each segment to this recipient before it touches the disk (the court's original
    /// voice); `None`: clear Ogg Opus files (the ordinary, distorted record).
    pub encrypt_to: Option<Arc<OriginalRecipient>>,
    /// Open the first segment only once a first packet arrived (the original-voice stream,
    /// which exists only while a protected voice is heard); otherwise the record starts at
    /// once, silence included.
    pub start_with_first_packet: bool,
}

/// A closed, sealed segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedSegment {
    /// 1, 2, …
    pub index: u32,
    /// `seg-NNNNN.opus` in the recording's directory.
    pub file_name: String,
    pub sha256: [u8; 32],
    /// [`chain_link`] of the previous link, this hash and this index.
    pub chain: [u8; 32],
    /// 48 kHz samples of audio in it (without pre-skip).
    pub samples: u64,
    pub bytes: u64,
}

/// What the recorder reports to the async side.
#[derive(Debug)]
pub enum RecorderEvent {
    /// A segment was closed and sealed.
    Segment(ClosedSegment),
    /// Writing failed (a full disk, a vanished directory): the recorder stopped writing; what
    /// was closed before stays valid.
    Failed(String),
}

/// The start of a recording's chain: SHA-256("assize recording " ‖ recording id).
pub fn chain_start(recording_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"assize recording ");
    h.update(recording_id.as_bytes());
    h.finalize().into()
}

/// One link of the chain: SHA-256(previous ‖ segment hash ‖ index as u32 big-endian).
pub fn chain_link(previous: &[u8; 32], segment: &[u8; 32], index: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(segment);
    h.update(index.to_be_bytes());
    h.finalize().into()
}

enum Input {
    Packet(RecordedSource, u16, Vec<u8>),
    Stop,
}

/// The running recorder. Dropping it also stops it (the segment in progress is closed).
#[derive(Debug)]
pub struct RecorderThread {
    tx: cb::Sender<Input>,
    join: std::sync::Mutex<Option<JoinHandle<()>>>,
    dropped: Arc<AtomicU64>,
}

impl RecorderThread {
    /// Creates the directory and starts the thread. Events go to `events`.
    ///
    /// # Errors
    /// When the directory cannot be created or the thread cannot start.
    pub fn spawn(
        config: RecorderConfig,
        events: tokio::sync::mpsc::UnboundedSender<RecorderEvent>,
    ) -> io::Result<Self> {
        fs::create_dir_all(&config.dir)?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&config.dir, fs::Permissions::from_mode(0o700))?;
        }
        let (tx, rx) = cb::bounded(QUEUE);
        let join = std::thread::Builder::new()
            .name("assize-recorder".into())
            .spawn(move || run(config, rx, events))?;
        Ok(Self {
            tx,
            join: std::sync::Mutex::new(Some(join)),
            dropped: Arc::default(),
        })
    }

    /// Queues one Opus packet. Never blocks: when the recorder is behind the packet is dropped
    /// (counted) and the mix conceals it.
    pub fn push(&self, source: RecordedSource, seq: u16, payload: &[u8]) {
        if self
            .tx
            .try_send(Input::Packet(source, seq, payload.to_vec()))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Packets dropped because the recorder was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops: the segment in progress is closed and reported; blocks until the thread ended
    /// (call from a blocking context).
    /// Idempotent.
    pub fn stop(&self) {
        let join = self
            .join
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(j) = join {
            // A full queue: the thread drains it and then sees the stop.
            let _ = self.tx.send_timeout(Input::Stop, Duration::from_secs(5));
            let _ = j.join();
        }
    }
}

impl Drop for RecorderThread {
    fn drop(&mut self) {
        self.stop();
    }
}

impl crate::sfu::hearing::RecordingSink for RecorderThread {
    fn record(&self, publisher: ParticipantId, variant: Variant, packet: &rtc::rtp::Packet) {
        self.push(
            RecordedSource { publisher, variant },
            packet.header.sequence_number,
            &packet.payload,
        );
    }
}

/// Where a segment's Ogg stream goes while it is written.
enum SegmentOut {
    /// Straight to its `.part` file.
    File(BufWriter<File>),
    /// To memory, to be encrypted at close (never to disk in the clear).
    Memory(zeroize::Zeroizing<Vec<u8>>),
}

impl io::Write for SegmentOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            SegmentOut::File(f) => f.write(buf),
            SegmentOut::Memory(m) => {
                m.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            SegmentOut::File(f) => f.flush(),
            SegmentOut::Memory(_) => Ok(()),
        }
    }
}

struct Segment {
    index: u32,
    part: PathBuf,
    file_name: String,
    writer: OggOpusWriter<SegmentOut>,
    encoder: OpusEncoder,
    frames: u32,
}

/// The segment writer: opens, fills and seals segments.
struct Segments {
    config: RecorderConfig,
    current: Option<Segment>,
    next_index: u32,
    chain: [u8; 32],
}

impl Segments {
    fn new(config: RecorderConfig) -> Self {
        let chain = chain_start(&config.recording_id);
        Self {
            config,
            current: None,
            next_index: 1,
            chain,
        }
    }

    fn open(&mut self) -> io::Result<Segment> {
        let index = self.next_index;
        let (file_name, out) = if self.config.encrypt_to.is_some() {
            // A segment of a few minutes is a few hundred kilobytes: kept in memory, with room
            // for twice its nominal size so that it is not reallocated (a reallocation would
            // leave a clear copy behind that `Zeroizing` cannot wipe).
            let nominal = self.config.segment_frames as usize
                * (self.config.bitrate_kbps as usize * 1000 / 8 / 50 + 32);
            let out = SegmentOut::Memory(zeroize::Zeroizing::new(Vec::with_capacity(
                2 * nominal + 4096,
            )));
            (format!("seg-{index:05}.opus.p7m"), out)
        } else {
            let file_name = format!("seg-{index:05}.opus");
            let file = create_part(&self.config.dir.join(format!("{file_name}.part")))?;
            (file_name, SegmentOut::File(BufWriter::new(file)))
        };
        let part = self.config.dir.join(format!("{file_name}.part"));
        let writer = OggOpusWriter::new(out, index, PRE_SKIP, "assize")?;
        let encoder = OpusEncoder::new(self.config.bitrate_kbps).map_err(io::Error::other)?;
        self.next_index += 1;
        Ok(Segment {
            index,
            part,
            file_name,
            writer,
            encoder,
            frames: 0,
        })
    }

    /// Writes one frame; returns a segment it closed.
    fn frame(&mut self, pcm: &[f32; FRAME_SAMPLES]) -> io::Result<Option<ClosedSegment>> {
        if self.current.is_none() {
            self.current = Some(self.open()?);
        }
        let Some(seg) = self.current.as_mut() else {
            return Ok(None);
        };
        let packet = seg.encoder.encode(pcm).map_err(io::Error::other)?;
        seg.writer.push(&packet, FRAME_SAMPLES as u32)?;
        seg.frames += 1;
        if seg.frames >= self.config.segment_frames {
            return self.close().map(Some);
        }
        Ok(None)
    }

    /// Closes the segment in progress (if it holds audio).
    fn close(&mut self) -> io::Result<ClosedSegment> {
        let Some(seg) = self.current.take() else {
            return Err(io::Error::other("no segment open"));
        };
        let samples = seg.writer.samples();
        let file = match seg.writer.finish()? {
            SegmentOut::File(writer) => writer.into_inner().map_err(|e| e.into_error())?,
            SegmentOut::Memory(clear) => {
                let recipient =
                    self.config.encrypt_to.as_ref().ok_or_else(|| {
                        io::Error::other("an in-memory segment without a recipient")
                    })?;
                // `clear` is wiped when dropped, at the end of this arm.
                let sealed = recipient.encrypt(&clear).map_err(io::Error::other)?;
                let mut file = create_part(&seg.part)?;
                io::Write::write_all(&mut file, &sealed)?;
                file
            }
        };
        file.sync_all()?;
        drop(file);
        let final_path = self.config.dir.join(&seg.file_name);
        fs::rename(&seg.part, &final_path)?;
        sync_dir(&self.config.dir)?;
        let bytes = fs::read(&final_path)?;
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        self.chain = chain_link(&self.chain, &sha256, seg.index);
        Ok(ClosedSegment {
            index: seg.index,
            file_name: seg.file_name,
            sha256,
            chain: self.chain,
            samples,
            bytes: bytes.len() as u64,
        })
    }
}

/// A new segment file, readable by the server only.
fn create_part(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn run(
    config: RecorderConfig,
    rx: cb::Receiver<Input>,
    events: tokio::sync::mpsc::UnboundedSender<RecorderEvent>,
) {
    let mut mixer: Mixer<RecordedSource> = Mixer::new(config.jitter_frames);
    // The original-voice stream waits for a first voice; the ordinary record starts at once.
    let mut started = !config.start_with_first_packet;
    let mut segments = Segments::new(config);
    let mut failed = false;
    let mut pcm = [0.0f32; FRAME_SAMPLES];
    let mut next_tick = Instant::now() + FRAME;
    let fail = |e: io::Error, failed: &mut bool| {
        *failed = true;
        let _ = events.send(RecorderEvent::Failed(e.to_string()));
    };
    loop {
        match rx.recv_deadline(next_tick) {
            Ok(Input::Packet(source, seq, payload)) => {
                started = true;
                mixer.push(source, seq, payload);
            }
            Ok(Input::Stop) | Err(cb::RecvTimeoutError::Disconnected) => break,
            Err(cb::RecvTimeoutError::Timeout) => {
                // Catch up after a stall (bounded), then keep to the wall clock.
                let mut ticks = 0;
                while Instant::now() >= next_tick && ticks < 50 {
                    mixer.mix(&mut pcm);
                    if !failed && started {
                        match segments.frame(&pcm) {
                            Ok(Some(closed)) => {
                                let _ = events.send(RecorderEvent::Segment(closed));
                            }
                            Ok(None) => {}
                            Err(e) => fail(e, &mut failed),
                        }
                    }
                    next_tick += FRAME;
                    ticks += 1;
                }
                if ticks == 50 {
                    next_tick = Instant::now() + FRAME;
                }
            }
        }
    }
    if !failed && segments.current.as_ref().is_some_and(|s| s.frames > 0) {
        match segments.close() {
            Ok(closed) => {
                let _ = events.send(RecorderEvent::Segment(closed));
            }
            Err(e) => fail(e, &mut failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_links_each_segment_to_all_before_it() {
        let start = chain_start("r1");
        let a = chain_link(&start, &[1; 32], 1);
        let b = chain_link(&a, &[2; 32], 2);
        assert_ne!(chain_link(&start, &[2; 32], 1), a);
        assert_ne!(chain_link(&a, &[2; 32], 3), b, "the index is bound");
        assert_ne!(chain_start("r2"), start, "the recording is bound");
    }

    #[test]
    fn segments_are_closed_renamed_hashed_and_chained() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = Segments::new(RecorderConfig {
            dir: dir.path().to_path_buf(),
            recording_id: "r".into(),
            segment_frames: 10,
            jitter_frames: 2,
            bitrate_kbps: 24,
            encrypt_to: None,
            start_with_first_packet: false,
        });
        let pcm = [0.1f32; FRAME_SAMPLES];
        let mut closed = Vec::new();
        for _ in 0..25 {
            closed.extend(s.frame(&pcm).expect("write"));
        }
        closed.push(s.close().expect("close"));
        assert_eq!(
            closed.iter().map(|c| c.index).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(closed[2].samples, 5 * FRAME_SAMPLES as u64);
        let mut link = chain_start("r");
        for c in &closed {
            let bytes = fs::read(dir.path().join(&c.file_name)).expect("renamed");
            let h: [u8; 32] = Sha256::digest(&bytes).into();
            assert_eq!(h, c.sha256);
            link = chain_link(&link, &h, c.index);
            assert_eq!(link, c.chain);
        }
        assert!(fs::read_dir(dir.path()).expect("dir").all(|e| {
            !e.expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".part")
        }));
    }
}
