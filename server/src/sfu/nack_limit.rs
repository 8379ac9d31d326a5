//! [`NackLimiter`]: a retransmission budget per leg, so a subscriber that NACKs excessively
//! (a broken or hostile client asking for everything, again and again) cannot make the server
//! resend without bound.
//!
//! The crate's NACK responder (slot 4 000) resends every packet a NACK names that is still in
//! its 1,024-packet buffer, as often as it is asked. This interceptor sits on the wire side of
//! it (slot [`NACK_LIMITER_SLOT`]) and sees both directions of each leg:
//!
//! - *outbound*, every packet the leg sends first (not a retransmission: a repeat of an older
//!   sequence number, or a packet on the RTX SSRC) earns the leg [`BUDGET_PERCENT`] % of a
//!   retransmission, up to a reserve of [`BURST`] retransmissions;
//! - *inbound*, each packet a NACK asks for spends one; what the budget does not cover is
//!   struck from the NACK before the responder sees it, and counted.
//!
//! So a leg's retransmissions stay under [`BUDGET_PERCENT`] % of its packets (plus the
//! reserve), whatever its subscriber sends. Ordinary loss (a few percent) never reaches the
//! limit. The budget is kept per leg SSRC, i.e. per subscriber and publisher: one subscriber's
//! NACKs never spend another's.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
use rtc::sansio::Protocol;

/// Slot of [`NackLimiter`]: on the wire side of the NACK responder (4 000).
pub const NACK_LIMITER_SLOT: usize = 3_500;
/// Retransmissions a leg may send, as a percentage of the packets it sent first.
pub const BUDGET_PERCENT: u32 = 30;
/// The reserve of retransmissions a leg may spend at once (and starts with).
pub const BURST: u32 = 64;

/// One leg's retransmission budget. Pure: counts, no time.
#[derive(Debug, Clone)]
pub struct RetransmitBudget {
    /// In hundredths of a retransmission.
    credit: u32,
    /// The newest sequence number sent first (to tell a retransmission from a new packet).
    newest: Option<u16>,
}

impl Default for RetransmitBudget {
    fn default() -> Self {
        Self {
            credit: BURST * 100,
            newest: None,
        }
    }
}

impl RetransmitBudget {
    /// The leg sent a packet with sequence number `seq` on its own SSRC. A new one earns
    /// credit; a repeat of an older one (a retransmission without RTX) earns nothing.
    pub fn on_sent(&mut self, seq: u16) {
        let newer = self
            .newest
            .is_none_or(|n| seq != n && seq.wrapping_sub(n) < 0x8000);
        if newer {
            self.newest = Some(seq);
            self.credit = (self.credit + BUDGET_PERCENT).min(BURST * 100);
        }
    }

    /// Spends one retransmission if the budget has it.
    pub fn try_spend(&mut self) -> bool {
        if self.credit >= 100 {
            self.credit -= 100;
            true
        } else {
            false
        }
    }

    /// Strikes from `nacks` what the budget does not cover (keeping what it does, in order);
    /// returns how many packets were struck.
    pub fn trim(&mut self, nacks: &mut Vec<NackPair>) -> u64 {
        let mut kept: Vec<u16> = Vec::new();
        let mut struck = 0;
        for pair in nacks.iter() {
            for seq in pair.packet_list() {
                if self.try_spend() {
                    kept.push(seq);
                } else {
                    struck += 1;
                }
            }
        }
        if struck > 0 {
            *nacks = pairs_of(&kept);
        }
        struck
    }
}

/// Packs sequence numbers (in order) into NACK pairs: a packet id and the 16 after it.
fn pairs_of(seqs: &[u16]) -> Vec<NackPair> {
    let mut pairs: Vec<NackPair> = Vec::new();
    for &seq in seqs {
        if let Some(last) = pairs.last_mut() {
            let offset = seq.wrapping_sub(last.packet_id);
            if (1..=16).contains(&offset) {
                last.lost_packets |= 1 << (offset - 1);
                continue;
            }
        }
        pairs.push(NackPair::new(seq));
    }
    pairs
}

/// The interceptor: a [`RetransmitBudget`] per local (leg) stream.
pub struct NackLimiter {
    budgets: HashMap<u32, RetransmitBudget>,
    refused: Arc<AtomicU64>,
    inbound: VecDeque<TaggedPacket>,
    outbound: VecDeque<TaggedPacket>,
}

impl std::fmt::Debug for NackLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NackLimiter")
            .field("legs", &self.budgets.len())
            .field("refused", &self.refused.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl NackLimiter {
    /// A limiter that adds every retransmission it refuses to `refused`.
    pub fn new(refused: Arc<AtomicU64>) -> Self {
        Self {
            budgets: HashMap::new(),
            refused,
            inbound: VecDeque::new(),
            outbound: VecDeque::new(),
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for NackLimiter {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &mut msg.message.packet {
            let mut struck = 0;
            for p in packets.iter_mut() {
                let Some(nack) = p.as_any().downcast_ref::<TransportLayerNack>() else {
                    continue;
                };
                let Some(budget) = self.budgets.get_mut(&nack.media_ssrc) else {
                    continue;
                };
                let mut trimmed = nack.clone();
                let n = budget.trim(&mut trimmed.nacks);
                if n > 0 {
                    struck += n;
                    *p = Box::new(trimmed);
                }
            }
            if struck > 0 {
                self.refused.fetch_add(struck, Ordering::Relaxed);
                // A NACK with nothing left in it asks for nothing.
                packets.retain(|p| {
                    p.as_any()
                        .downcast_ref::<TransportLayerNack>()
                        .is_none_or(|n| !n.nacks.is_empty())
                });
                if packets.is_empty() {
                    return Ok(());
                }
            }
        }
        self.inbound.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inbound.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &msg.message.packet
            && let Some(budget) = self.budgets.get_mut(&packet.header.ssrc)
        {
            budget.on_sent(packet.header.sequence_number);
        }
        self.outbound.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.outbound.pop_front()
    }
}

impl Interceptor for NackLimiter {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        self.budgets.entry(info.ssrc).or_default();
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.budgets.remove(&info.ssrc);
    }

    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::rtp;
    use rtc::shared::TransportContext;

    fn tagged(packet: Packet) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: AttributedPacket::new(packet),
        }
    }

    fn sent(ssrc: u32, seq: u16) -> TaggedPacket {
        tagged(Packet::Rtp(rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                ssrc,
                sequence_number: seq,
                ..Default::default()
            },
            payload: bytes::Bytes::from_static(&[0; 10]),
        }))
    }

    fn nack(media_ssrc: u32, seqs: &[u16]) -> TaggedPacket {
        tagged(Packet::Rtcp(vec![Box::new(TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc,
            nacks: pairs_of(seqs),
        })]))
    }

    /// The sequence numbers asked for in what reaches the NACK responder.
    fn asked(limiter: &mut NackLimiter) -> Vec<u16> {
        let mut out = Vec::new();
        while let Some(msg) = limiter.poll_read() {
            if let Packet::Rtcp(packets) = &msg.message.packet {
                for p in packets {
                    if let Some(n) = p.as_any().downcast_ref::<TransportLayerNack>() {
                        out.extend(n.nacks.iter().flat_map(NackPair::packet_list));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn nack_pairs_round_trip_through_packing() {
        let seqs = [65_534, 65_535, 0, 5, 14, 15, 40, 41];
        let pairs = pairs_of(&seqs);
        assert_eq!(pairs.len(), 3);
        let back: Vec<u16> = pairs.iter().flat_map(NackPair::packet_list).collect();
        assert_eq!(back, seqs);
    }

    #[test]
    fn ordinary_loss_is_always_resent() {
        let refused = Arc::new(AtomicU64::new(0));
        let mut l = NackLimiter::new(refused.clone());
        l.bind_local_stream(&StreamInfo {
            ssrc: 7,
            ..Default::default()
        });
        // 10 000 packets sent, one in twenty lost and NACKed (5 %).
        let mut total = 0;
        for seq in 0..10_000u16 {
            l.handle_write(sent(7, seq)).expect("ok");
            while l.poll_write().is_some() {}
            if seq % 20 == 0 {
                l.handle_read(nack(7, &[seq])).expect("ok");
                total += asked(&mut l).len();
            }
        }
        assert_eq!(total, 500);
        assert_eq!(refused.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_subscriber_nacking_everything_gets_at_most_the_budget_resent() {
        let refused = Arc::new(AtomicU64::new(0));
        let mut l = NackLimiter::new(refused.clone());
        for ssrc in [7, 8] {
            l.bind_local_stream(&StreamInfo {
                ssrc,
                ..Default::default()
            });
        }
        let mut resent = 0u64;
        let mut requested = 0u64;
        for seq in 0..1_000u16 {
            l.handle_write(sent(7, seq)).expect("ok");
            // A retransmission without RTX (an older sequence number) earns nothing.
            l.handle_write(sent(7, seq.saturating_sub(5))).expect("ok");
            while l.poll_write().is_some() {}
            // Every packet NACKed, with the 16 before it, every time.
            let window: Vec<u16> = (seq.saturating_sub(16)..=seq).collect();
            requested += window.len() as u64;
            l.handle_read(nack(7, &window)).expect("ok");
            resent += asked(&mut l).len() as u64;
        }
        let budget = 1_000 * u64::from(BUDGET_PERCENT) / 100 + u64::from(BURST);
        assert!(resent <= budget, "{resent} resent, budget {budget}");
        assert!(resent >= budget - 1, "the budget is used: {resent}");
        assert_eq!(refused.load(Ordering::Relaxed), requested - resent);
        // The other leg's budget is untouched.
        l.handle_read(nack(8, &[1, 2, 3])).expect("ok");
        assert_eq!(asked(&mut l), vec![1, 2, 3]);
        // A NACK for a stream that is not a leg passes as it is (the responder ignores it).
        l.handle_read(nack(99, &[1])).expect("ok");
        assert_eq!(asked(&mut l), vec![1]);
    }
}
