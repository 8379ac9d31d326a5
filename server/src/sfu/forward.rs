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
//! anonymised stream of it, when an order is set or lifted — and each source has its own SSRC,
//! sequence numbers and timestamp base: on a switch both are rebased to continue the leg's own
//! (a backward jump would be dropped by the receiver's SRTP replay check).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use rtc::rtp;

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
