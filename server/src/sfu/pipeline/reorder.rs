//! Puts a publisher's RTP packets back in sequence-number order, minimally.
//!
//! Packets in order pass straight through (no added delay on a clean network). A packet that
//! arrives ahead of a gap is held; when the missing one arrives the run is released; when more
//! than `window` packets are held, the missing ones are declared lost ([`Ordered::Gap`]) and
//! the run after them released. A packet older than the ones already released is late and
//! dropped (counted). A jump of more than [`RESYNC_DISTANCE`] either way is a restarted stream:
//! the buffer starts again from it.

use std::collections::HashMap;

/// A sequence-number jump this large (either way) restarts the ordering.
pub const RESYNC_DISTANCE: u16 = 1000;

/// What comes out of the buffer, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Ordered<T> {
    /// The next packet.
    Packet(T),
    /// This many packets are missing before the next one (lost, or too late to wait for).
    Gap(u16),
}

/// The reordering buffer of one stream; `T` carries the packet and its sequence number.
#[derive(Debug)]
pub struct Reorder<T> {
    window: usize,
    next: Option<u16>,
    held: HashMap<u16, T>,
    late: u64,
}

impl<T> Reorder<T> {
    /// A buffer that holds at most `window` packets while waiting for a missing one (at least 1).
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            next: None,
            held: HashMap::new(),
            late: 0,
        }
    }

    /// Late or duplicate packets dropped so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Takes one packet with sequence number `seq`; appends what can now be released to `out`.
    pub fn push(&mut self, seq: u16, packet: T, out: &mut Vec<Ordered<T>>) {
        let Some(next) = self.next else {
            self.next = Some(seq.wrapping_add(1));
            out.push(Ordered::Packet(packet));
            return;
        };
        let ahead = seq.wrapping_sub(next);
        let behind = next.wrapping_sub(seq);
        if ahead == 0 {
            out.push(Ordered::Packet(packet));
            self.next = Some(seq.wrapping_add(1));
            self.release(out);
        } else if ahead <= RESYNC_DISTANCE {
            if self.held.contains_key(&seq) {
                self.late += 1;
                return;
            }
            self.held.insert(seq, packet);
            while self.held.len() > self.window {
                self.skip_to_first_held(out);
            }
        } else if behind <= RESYNC_DISTANCE {
            // Already released or given up on: too late.
            self.late += 1;
        } else {
            // A restarted stream (or a wild jump): release what is held, then start afresh.
            self.flush(out);
            out.push(Ordered::Gap(ahead.min(behind)));
            out.push(Ordered::Packet(packet));
            self.next = Some(seq.wrapping_add(1));
        }
    }

    /// Releases everything held, declaring the gaps before it lost (the stream ended).
    pub fn flush(&mut self, out: &mut Vec<Ordered<T>>) {
        while !self.held.is_empty() {
            self.skip_to_first_held(out);
        }
    }

    /// Gives up on the missing packets before the first held one.
    fn skip_to_first_held(&mut self, out: &mut Vec<Ordered<T>>) {
        let Some(next) = self.next else { return };
        let Some(first) = self
            .held
            .keys()
            .copied()
            .min_by_key(|s| s.wrapping_sub(next))
        else {
            return;
        };
        out.push(Ordered::Gap(first.wrapping_sub(next)));
        self.next = Some(first);
        self.release(out);
    }

    /// Releases the run of held packets starting at `next`.
    fn release(&mut self, out: &mut Vec<Ordered<T>>) {
        while let Some(next) = self.next {
            let Some(p) = self.held.remove(&next) else {
                break;
            };
            out.push(Ordered::Packet(p));
            self.next = Some(next.wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(window: usize, seqs: &[u16]) -> (Vec<Ordered<u16>>, u64) {
        let mut r = Reorder::new(window);
        let mut out = Vec::new();
        for &s in seqs {
            r.push(s, s, &mut out);
        }
        (out, r.late())
    }

    use Ordered::{Gap, Packet};

    #[test]
    fn in_order_packets_pass_straight_through_across_the_wrap() {
        let (out, late) = run(4, &[65_534, 65_535, 0, 1]);
        assert_eq!(
            out,
            vec![Packet(65_534), Packet(65_535), Packet(0), Packet(1)]
        );
        assert_eq!(late, 0);
    }

    #[test]
    fn a_swapped_pair_is_put_back_in_order() {
        let (out, _) = run(4, &[10, 12, 11, 13]);
        assert_eq!(out, vec![Packet(10), Packet(11), Packet(12), Packet(13)]);
    }

    #[test]
    fn a_missing_packet_becomes_a_gap_once_the_window_is_full() {
        let (out, _) = run(2, &[1, 3, 4, 5]);
        assert_eq!(
            out,
            vec![Packet(1), Gap(1), Packet(3), Packet(4), Packet(5)],
            "held 3 and 4; 5 overflowed the window of 2"
        );
        let (out, late) = run(2, &[1, 3, 4, 5, 2]);
        assert_eq!(out.len(), 5);
        assert_eq!(late, 1, "2 came after it was given up on");
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped_and_counted() {
        let (out, late) = run(4, &[5, 5, 6, 8, 8, 4]);
        assert_eq!(out, vec![Packet(5), Packet(6)]);
        assert_eq!(late, 3);
    }

    #[test]
    fn a_restarted_stream_is_followed_at_once() {
        let (out, late) = run(4, &[100, 101, 40_000, 40_001]);
        assert_eq!(
            out,
            vec![
                Packet(100),
                Packet(101),
                Gap(25_638),
                Packet(40_000),
                Packet(40_001)
            ]
        );
        assert_eq!(late, 0);
    }

    #[test]
    fn flush_releases_what_is_held() {
        let mut r = Reorder::new(8);
        let mut out = Vec::new();
        for s in [1u16, 4, 3] {
            r.push(s, s, &mut out);
        }
        r.flush(&mut out);
        assert_eq!(out, vec![Packet(1), Gap(1), Packet(3), Packet(4)]);
    }
}
