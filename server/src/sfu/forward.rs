//! Per-leg RTP rewriting and keyframe-request throttling: small state machines, no IO.
//!
//! A *leg* is one publisher's track as sent to one subscriber. The subscriber negotiated its own
//! SSRC and payload type for that leg (payload types differ by client: Chrome VP8 96, Firefox
//! 120, …), and `webrtc`'s `TrackLocalStaticRTP::write_rtp` silently drops any packet whose SSRC,
//! payload type or header-extension id is not the negotiated one. So every forwarded packet is
//! rewritten here: SSRC and payload type set to the leg's, header extensions removed (their ids
//! are per leg too; and the publisher's transport-wide sequence number counts the packets of
//! another transport, so a subscriber's TWCC feedback on it would be nonsense — the server adds
//! none of its own, so a browser subscriber estimates its bandwidth itself and sends REMB), and
//! sequence numbers kept contiguous across the stretches the room withheld
//! (a subscriber who was in the waiting room for a minute must not see a minute of "loss" and
//! NACK it). A leg can switch source — a protected witness's raw track and the server's
//! anonymised stream of it, when an order is set or lifted; or another simulcast layer of the
//! same camera ([`super::simulcast`]), at that layer's keyframe — and each source has its own SSRC,
//! sequence numbers and timestamp base: on a switch both are rebased to continue the leg's own
//! (a backward jump would be dropped by the receiver's SRTP replay check).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::room::MediaKind;
use rtc::rtp;

/// A codec the SFU negotiates. A leg carries its publisher's codec unchanged (the SFU never
/// transcodes a raw track), so a subscriber that did not negotiate that codec gets nothing on
/// that leg: never a payload it cannot decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus audio.
    Opus,
    /// VP8 video: preferred when a client offers both video codecs.
    Vp8,
    /// H.264 video (constrained baseline, packetization mode 1), for clients that offer only it.
    H264,
}

impl Codec {
    /// The codec with this MIME type (`video/H264`, case-insensitive), if the SFU negotiates it.
    pub fn from_mime(mime: &str) -> Option<Self> {
        [Self::Opus, Self::Vp8, Self::H264]
            .into_iter()
            .find(|c| c.mime().eq_ignore_ascii_case(mime))
    }

    /// The MIME type, as in SDP and the crate's codec parameters.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Opus => "audio/opus",
            Self::Vp8 => "video/VP8",
            Self::H264 => "video/H264",
        }
    }

    /// The kind of media this codec carries.
    pub fn kind(self) -> MediaKind {
        match self {
            Self::Opus => MediaKind::Audio,
            Self::Vp8 | Self::H264 => MediaKind::Video,
        }
    }

    /// The name clients see (signaling notices, logs).
    pub fn name(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::Vp8 => "VP8",
            Self::H264 => "H264",
        }
    }

    /// Whether an RTP payload of this codec starts a picture a decoder can start from. Never
    /// panics on short or hostile input (it then says no).
    ///
    /// - VP8 (RFC 7741): the payload descriptor, then on the first partition's start (S=1,
    ///   PID=0) the payload header, whose P bit is 0 on a key frame.
    /// - H.264 (RFC 6184): an IDR slice (NAL type 5) or an SPS (7) — alone, first in a STAP-A
    ///   (24) aggregate, or in the first fragment of an FU-A (28).
    pub fn is_keyframe(self, payload: &[u8]) -> bool {
        match self {
            Self::Opus => false,
            Self::Vp8 => vp8_is_keyframe(payload),
            Self::H264 => h264_is_keyframe(payload),
        }
    }
}

fn vp8_is_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let (x, s, pid) = (first & 0x80 != 0, first & 0x10 != 0, first & 0x07);
    if !s || pid != 0 {
        return false;
    }
    let mut at = 1;
    if x {
        let Some(&ext) = payload.get(at) else {
            return false;
        };
        at += 1;
        if ext & 0x80 != 0 {
            // PictureID: one byte, or two with the M bit.
            let Some(&pic) = payload.get(at) else {
                return false;
            };
            at += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            at += 1; // TID / KEYIDX
        }
    }
    payload.get(at).is_some_and(|&h| h & 0x01 == 0)
}

fn h264_is_keyframe(payload: &[u8]) -> bool {
    const IDR: u8 = 5;
    const SPS: u8 = 7;
    const STAP_A: u8 = 24;
    const FU_A: u8 = 28;
    let key = |nal_type: u8| nal_type == IDR || nal_type == SPS;
    let Some(&first) = payload.first() else {
        return false;
    };
    match first & 0x1F {
        STAP_A => {
            // Aggregated NAL units, each after a 16-bit size.
            let mut rest = &payload[1..];
            while let [hi, lo, tail @ ..] = rest {
                let size = usize::from(u16::from_be_bytes([*hi, *lo]));
                let Some(unit) = tail.get(..size) else {
                    return false;
                };
                if unit.first().is_some_and(|&h| key(h & 0x1F)) {
                    return true;
                }
                rest = &tail[size..];
            }
            false
        }
        // The FU header: S bit, then the fragmented NAL unit's type.
        FU_A => payload
            .get(1)
            .is_some_and(|&fu| fu & 0x80 != 0 && key(fu & 0x1F)),
        nal_type => key(nal_type),
    }
}

/// The header rewriting state of one leg.
#[derive(Debug, Clone)]
pub struct LegRewriter {
    ssrc: u32,
    payload_type: Option<u8>,
    /// Added (wrapping) to the publisher's sequence number.
    seq_offset: u16,
    last_out_seq: Option<u16>,
    /// Packets were withheld since the last forwarded one (or none was forwarded yet).
    resuming: bool,
    /// RTP clock rate of the track (Hz), to carry timestamps across a source switch.
    clock_rate: u32,
    /// The source (input SSRC) of the last packet sent.
    source: Option<u32>,
    /// Added (wrapping) to the source's timestamps.
    ts_offset: u32,
    /// The last timestamp sent and when.
    last_out_ts: Option<(u32, Instant)>,
}

/// What [`LegRewriter::rewrite`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// Rewritten; send it. `resumed` is true for the first packet after a withheld stretch (or
    /// the very first): a video subscriber then needs a keyframe to start decoding.
    Send { resumed: bool },
    /// The leg's payload type is not negotiated yet; drop the packet.
    NotReady,
}

impl LegRewriter {
    /// A leg that sends with `ssrc`; the payload type comes once negotiated. Video clock.
    pub fn new(ssrc: u32) -> Self {
        Self::with_clock_rate(ssrc, 90_000)
    }

    /// A leg of a track whose RTP clock runs at `clock_rate` Hz (48 000 for Opus).
    pub fn with_clock_rate(ssrc: u32, clock_rate: u32) -> Self {
        Self {
            ssrc,
            payload_type: None,
            seq_offset: 0,
            last_out_seq: None,
            resuming: true,
            clock_rate: clock_rate.max(1),
            source: None,
            ts_offset: 0,
            last_out_ts: None,
        }
    }

    /// The SSRC this leg sends with.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The payload type the subscriber negotiated for this leg.
    pub fn payload_type(&self) -> Option<u8> {
        self.payload_type
    }

    /// Records the negotiated payload type.
    pub fn set_payload_type(&mut self, pt: u8) {
        self.payload_type = Some(pt);
    }

    /// The room withheld a packet of this publisher's track from this subscriber.
    pub fn withhold(&mut self) {
        self.resuming = true;
    }

    /// Rewrites `header` for this leg.
    pub fn rewrite(&mut self, header: &mut rtp::header::Header) -> Rewrite {
        let Some(pt) = self.payload_type else {
            // Nothing reached the subscriber: it is still a gap when sending starts.
            self.resuming = true;
            return Rewrite::NotReady;
        };
        let now = Instant::now();
        if self.source != Some(header.ssrc) {
            // Another source: its sequence numbers and timestamps start anywhere. Continue
            // the leg's own, the timestamps advanced by the time since the last packet.
            if let Some((last_ts, at)) = self.last_out_ts {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                // Truncation is fine: a timestamp step, at most seconds' worth of ticks.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let step = (elapsed * f64::from(self.clock_rate))
                    .clamp(1.0, f64::from(u32::MAX / 4)) as u32;
                self.ts_offset = last_ts.wrapping_add(step).wrapping_sub(header.timestamp);
            }
            self.source = Some(header.ssrc);
            self.resuming = true;
        }
        let resumed = self.resuming;
        if resumed {
            // Continue right after the last sequence number this subscriber saw.
            let next = self
                .last_out_seq
                .map_or(header.sequence_number, |s| s.wrapping_add(1));
            self.seq_offset = next.wrapping_sub(header.sequence_number);
            self.resuming = false;
        }
        let out = header.sequence_number.wrapping_add(self.seq_offset);
        // Keep the newest (allowing for wrap-around); a reordered older packet keeps its place.
        let newer = self
            .last_out_seq
            .is_none_or(|last| out.wrapping_sub(last) < 0x8000 && out != last);
        if newer {
            self.last_out_seq = Some(out);
        }
        header.sequence_number = out;
        header.timestamp = header.timestamp.wrapping_add(self.ts_offset);
        if newer {
            self.last_out_ts = Some((header.timestamp, now));
        }
        header.ssrc = self.ssrc;
        header.payload_type = pt;
        header.extension = false;
        header.extension_profile = 0;
        header.extensions.clear();
        header.extensions_padding = 0;
        Rewrite::Send { resumed }
    }
}

/// Lets at most one keyframe request per key through every `min_interval`.
///
/// Many subscribers losing a packet at once each send a PLI; the publisher only needs one, and an
/// encoder asked for keyframes too often sends nothing else.
#[derive(Debug)]
pub struct KeyframeThrottle<K> {
    min_interval: Duration,
    last: HashMap<K, Instant>,
}

impl<K: Eq + Hash> KeyframeThrottle<K> {
    /// A throttle letting one request per key through each `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            last: HashMap::new(),
        }
    }

    /// Whether a request for `key` at `now` goes to the publisher.
    pub fn allow(&mut self, key: K, now: Instant) -> bool {
        match self.last.get(&key) {
            Some(&t) if now.saturating_duration_since(t) < self.min_interval => false,
            _ => {
                self.last.insert(key, now);
                true
            }
        }
    }

    /// Forgets a key (its publisher left).
    pub fn forget(&mut self, key: &K) {
        self.last.remove(key);
    }

    /// Forgets every key `gone` says is gone (a publisher's tracks and layers).
    pub fn forget_where(&mut self, gone: impl Fn(&K) -> bool) {
        self.last.retain(|k, _| !gone(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u16, ssrc: u32, pt: u8) -> rtp::header::Header {
        rtp::header::Header {
            version: 2,
            sequence_number: seq,
            ssrc,
            payload_type: pt,
            timestamp: u32::from(seq) * 960,
            extension: true,
            extension_profile: 0xBEDE,
            extensions: vec![rtp::header::Extension {
                id: 3,
                payload: bytes::Bytes::from_static(&[1, 2]),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn nothing_is_sent_before_the_payload_type_is_negotiated() {
        let mut leg = LegRewriter::new(7);
        let mut h = header(10, 1, 96);
        assert_eq!(leg.rewrite(&mut h), Rewrite::NotReady);
    }

    #[test]
    fn ssrc_and_payload_type_are_the_legs_and_extensions_are_removed() {
        let mut leg = LegRewriter::new(7);
        leg.set_payload_type(120);
        let mut h = header(10, 1, 96);
        assert_eq!(leg.rewrite(&mut h), Rewrite::Send { resumed: true });
        assert_eq!((h.ssrc, h.payload_type, h.sequence_number), (7, 120, 10));
        assert!(!h.extension && h.extensions.is_empty());
        let mut h = header(11, 1, 96);
        assert_eq!(leg.rewrite(&mut h), Rewrite::Send { resumed: false });
        assert_eq!(h.sequence_number, 11);
    }

    #[test]
    fn sequence_numbers_stay_contiguous_across_a_withheld_stretch() {
        let mut leg = LegRewriter::new(7);
        leg.set_payload_type(96);
        for seq in [65_534u16, 65_535] {
            let mut h = header(seq, 1, 96);
            leg.rewrite(&mut h);
        }
        for _ in 0..500 {
            leg.withhold();
        }
        let mut h = header(499, 1, 96);
        assert_eq!(leg.rewrite(&mut h), Rewrite::Send { resumed: true });
        assert_eq!(h.sequence_number, 0, "wraps to 0 right after 65535");
        let mut h = header(500, 1, 96);
        leg.rewrite(&mut h);
        assert_eq!(h.sequence_number, 1);
        // A late, reordered packet keeps its relative place.
        let mut h = header(498, 1, 96);
        leg.rewrite(&mut h);
        assert_eq!(h.sequence_number, 65_535);
        let mut h = header(501, 1, 96);
        leg.rewrite(&mut h);
        assert_eq!(h.sequence_number, 2);
    }

    #[test]
    fn a_switch_of_source_continues_the_legs_sequence_and_timestamps() {
        let mut leg = LegRewriter::with_clock_rate(7, 90_000);
        leg.set_payload_type(96);
        // The raw track (SSRC 1) ...
        let mut last = header(0, 0, 0);
        for seq in 100..110u16 {
            let mut h = header(seq, 1, 96);
            h.timestamp = 1_000 + u32::from(seq - 100) * 3_000;
            leg.rewrite(&mut h);
            last = h;
        }
        // ... then the anonymised stream (SSRC 2), with its own numbering far behind.
        let mut h = header(40_000, 2, 96);
        h.timestamp = 4_000_000_000;
        assert_eq!(leg.rewrite(&mut h), Rewrite::Send { resumed: true });
        assert_eq!(h.sequence_number, last.sequence_number.wrapping_add(1));
        let step = h.timestamp.wrapping_sub(last.timestamp);
        assert!((1..90_000).contains(&step), "a small forward step: {step}");
        let first_anonymised = h.timestamp;
        let mut h = header(40_001, 2, 96);
        h.timestamp = 4_000_003_000;
        assert_eq!(leg.rewrite(&mut h), Rewrite::Send { resumed: false });
        assert_eq!(h.sequence_number, last.sequence_number.wrapping_add(2));
        assert_eq!(h.timestamp, first_anonymised.wrapping_add(3_000));
        // And back to the raw track.
        let mut h = header(110, 1, 96);
        assert_eq!(leg.rewrite(&mut h), Rewrite::Send { resumed: true });
        assert_eq!(h.sequence_number, last.sequence_number.wrapping_add(3));
    }

    #[test]
    fn a_simulcast_layer_switch_keeps_sequence_numbers_contiguous_and_timestamps_rising() {
        // Three layers of one camera: their own SSRCs, sequence numbers (one about to wrap)
        // and timestamp bases. The leg forwards one at a time, switching at keyframes.
        let mut leg = LegRewriter::with_clock_rate(7, 90_000);
        leg.set_payload_type(96);
        let layers: [(u32, u16, u32); 3] = [
            (0x10, 65_530, 4_294_000_000),
            (0x20, 12, 5),
            (0x30, 30_000, 2_000_000_000),
        ];
        let mut sent: Vec<(u16, u32)> = Vec::new();
        for (round, &(ssrc, seq0, ts0)) in [layers[2], layers[0], layers[1], layers[2]]
            .iter()
            .enumerate()
        {
            for i in 0..20u16 {
                let mut h = header(seq0.wrapping_add(i), ssrc, 96);
                h.timestamp = ts0.wrapping_add(u32::from(i) * 3_000);
                let r = leg.rewrite(&mut h);
                assert_eq!(
                    r,
                    Rewrite::Send { resumed: i == 0 },
                    "a switch (round {round}) resumes once"
                );
                assert_eq!(h.ssrc, 7);
                sent.push((h.sequence_number, h.timestamp));
            }
        }
        for pair in sent.windows(2) {
            let ((s0, t0), (s1, t1)) = (pair[0], pair[1]);
            assert_eq!(s1, s0.wrapping_add(1), "contiguous: {s0} then {s1}");
            let step = t1.wrapping_sub(t0);
            assert!(
                (1..0x8000_0000).contains(&step),
                "timestamps rise: {t0} then {t1}"
            );
        }
    }

    #[test]
    fn codecs_are_known_by_their_mime_type_whatever_its_case() {
        assert_eq!(Codec::from_mime("video/h264"), Some(Codec::H264));
        assert_eq!(Codec::from_mime("video/VP8"), Some(Codec::Vp8));
        assert_eq!(Codec::from_mime("AUDIO/OPUS"), Some(Codec::Opus));
        assert_eq!(Codec::from_mime("video/VP9"), None);
        assert_eq!(Codec::from_mime("video/rtx"), None);
    }

    #[test]
    fn h264_keyframes_are_idr_or_sps_alone_aggregated_or_in_a_first_fragment() {
        let cases: &[(&[u8], bool, &str)] = &[
            (&[0x65, 0x88, 0x84], true, "IDR slice alone"),
            (&[0x67, 0x42, 0xE0, 0x1F], true, "SPS alone"),
            (&[0x41, 0x9A], false, "non-IDR slice"),
            (&[0x68, 0xCE], false, "PPS alone"),
            (
                &[0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68],
                true,
                "STAP-A: SPS, PPS",
            ),
            (
                &[0x18, 0x00, 0x01, 0x68, 0x00, 0x01, 0x41],
                false,
                "STAP-A: PPS, slice",
            ),
            (
                &[0x18, 0x00, 0x09, 0x67],
                false,
                "STAP-A: size past the end",
            ),
            (&[0x18, 0x00], false, "STAP-A: truncated size"),
            (&[0x7C, 0x85, 0x88], true, "FU-A start of an IDR"),
            (&[0x7C, 0x05, 0x88], false, "FU-A middle of an IDR"),
            (&[0x7C, 0x81], false, "FU-A start of a non-IDR slice"),
            (&[0x7C], false, "FU-A without its header"),
            (&[], false, "empty"),
        ];
        for (payload, key, what) in cases {
            assert_eq!(Codec::H264.is_keyframe(payload), *key, "{what}");
        }
    }

    #[test]
    fn vp8_keyframes_are_told_by_the_payload_header_after_the_descriptor() {
        let cases: &[(&[u8], bool, &str)] = &[
            (&[0x10, 0x00], true, "S=1, key frame"),
            (&[0x10, 0x01], false, "S=1, inter frame"),
            (&[0x00, 0x00], false, "not the start of a partition"),
            (
                &[0x90, 0x80, 0x81, 0x23, 0x00],
                true,
                "15-bit picture id, key frame",
            ),
            (
                &[0x90, 0x80, 0x81, 0x23, 0x01],
                false,
                "15-bit picture id, inter frame",
            ),
            (
                &[0x90, 0xE0, 0x05, 0x01, 0x20, 0x00],
                true,
                "picture id, TL0PICIDX, TID",
            ),
            (&[0x90, 0x80], false, "descriptor cut short"),
            (&[0x10], false, "no payload header"),
            (&[], false, "empty"),
        ];
        for (payload, key, what) in cases {
            assert_eq!(Codec::Vp8.is_keyframe(payload), *key, "{what}");
        }
        assert!(!Codec::Opus.is_keyframe(&[0x10, 0x00]));
    }

    #[test]
    fn the_throttle_lets_one_request_per_interval_per_key_through() {
        let t0 = Instant::now();
        let mut t = KeyframeThrottle::new(Duration::from_millis(500));
        assert!(t.allow(1, t0));
        assert!(!t.allow(1, t0 + Duration::from_millis(100)));
        assert!(t.allow(2, t0 + Duration::from_millis(100)));
        assert!(!t.allow(1, t0 + Duration::from_millis(499)));
        assert!(t.allow(1, t0 + Duration::from_millis(500)));
        t.forget(&1);
        assert!(t.allow(1, t0 + Duration::from_millis(501)));
    }
}
