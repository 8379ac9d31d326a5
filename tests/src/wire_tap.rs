//! A test client's view of its own wire: an interceptor at the network end of the client's
//! chain that can lose chosen video packets in either direction (as a lossy network would,
//! after the client's NACK responder buffered them and before its NACK generator sees them)
//! and counts the feedback and repairs that cross the wire.
//!
//! With it a test can show, over real WebRTC, that the server sends transport-wide congestion
//! control feedback, NACKs what a publisher lost on the way in, and resends (on RTX where
//! negotiated) what a subscriber lost on the way out.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio::Protocol;

/// Where [`WireTap`] goes: nearer the wire than every built-in interceptor (the lowest is
/// congestion control at 1 000).
pub const WIRE_TAP_SLOT: usize = 500;

/// The losses a [`WireTap`] simulates: one video packet in `n` (each sequence number at most
/// once, so a retransmission of it gets through).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Losses {
    /// Video this client sends, lost on the way to the server.
    pub sent_video_one_in: Option<u16>,
    /// Video this client receives, lost on the way from the server (after SRTP: only RTX
    /// repairs get through the replay window).
    pub received_video_one_in: Option<u16>,
    /// Video this client receives, lost in the network before SRTP, by a
    /// [`crate::lossy_relay::LossyRelay`] the client is pointed at: as-is repairs get through.
    pub received_video_in_network_one_in: Option<u16>,
}

/// What crossed this client's wire (a snapshot: [`WireTap::counters`]).
#[derive(Debug, Clone, Default)]
pub struct WireCounters {
    /// TransportLayerCC (TWCC) feedback packets received.
    pub transport_cc_received: u64,
    /// Generic NACK packets received.
    pub nacks_received: u64,
    /// The sequence numbers those NACKs asked for.
    pub nacked: BTreeSet<u16>,
    /// How many times each was asked for.
    pub nack_requests: BTreeMap<u16, u64>,
    /// Sequence numbers of sent video lost on the way out.
    pub lost_sent: BTreeSet<u16>,
    /// Of those, the ones sent again (as the same packet or on RTX).
    pub resent: BTreeSet<u16>,
    /// Sent RTP packets on the RTX payload type.
    pub rtx_sent: u64,
    /// Received video lost on the way in: (SSRC, sequence number).
    pub lost_received: HashSet<(u32, u16)>,
    /// Of those, the ones that arrived again (as the same packet or on RTX).
    pub repaired: HashSet<(u32, u16)>,
    /// Received RTP packets on the RTX payload type.
    pub rtx_received: u64,
    /// Of those, the ones that arrived on RTX.
    pub repaired_on_rtx: u64,
    /// Received RTP packets per header-extension id they carried.
    pub received_extension_ids: BTreeMap<u8, u64>,
    /// Received RTP packets (before any loss).
    pub received: u64,
}

/// The lossy, counting wire end of a client's interceptor chain.
pub struct WireTap {
    losses: Losses,
    video_pt: u8,
    rtx_pt: Option<u8>,
    state: Arc<Mutex<TapState>>,
    inbound: VecDeque<TaggedPacket>,
    outbound: VecDeque<TaggedPacket>,
}

#[derive(Default)]
struct TapState {
    counters: WireCounters,
    sent_video: u64,
    received_video: u64,
    /// RTX SSRC -> the SSRC it repairs, from the remote streams bound.
    rtx_of: HashMap<u32, u32>,
}

/// Reads the counters of a [`WireTap`] after it was moved into a chain.
#[derive(Clone, Default)]
pub struct WireTapHandle(Arc<Mutex<TapState>>);

impl std::fmt::Debug for WireTapHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireTapHandle").finish_non_exhaustive()
    }
}

impl WireTapHandle {
    /// What crossed the wire so far.
    pub fn counters(&self) -> WireCounters {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .counters
            .clone()
    }
}

impl WireTap {
    /// A tap for a client that sends and receives VP8 on `video_pt` and RTX on `rtx_pt`.
    pub fn new(losses: Losses, video_pt: u8, rtx_pt: Option<u8>) -> (Self, WireTapHandle) {
        let state = Arc::new(Mutex::new(TapState::default()));
        (
            Self {
                losses,
                video_pt,
                rtx_pt,
                state: state.clone(),
                inbound: VecDeque::new(),
                outbound: VecDeque::new(),
            },
            WireTapHandle(state),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TapState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for WireTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireTap")
            .field("losses", &self.losses)
            .finish_non_exhaustive()
    }
}

/// The original sequence number an RTX packet carries (RFC 4588 §4: the first two bytes).
fn original_sequence(payload: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*payload.first()?, *payload.get(1)?]))
}

fn every(n: Option<u16>, count: u64) -> bool {
    n.is_some_and(|n| n > 0 && count.is_multiple_of(u64::from(n)))
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for WireTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let (video_pt, rtx_pt, losses) = (self.video_pt, self.rtx_pt, self.losses);
        let mut st = self.lock();
        match &msg.message.packet {
            Packet::Rtcp(packets) => {
                for p in packets {
                    let any = p.as_any();
                    if any.is::<TransportLayerCc>() {
                        st.counters.transport_cc_received += 1;
                    } else if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
                        st.counters.nacks_received += 1;
                        for seq in nack.nacks.iter().flat_map(|n| n.packet_list()) {
                            st.counters.nacked.insert(seq);
                            *st.counters.nack_requests.entry(seq).or_default() += 1;
                        }
                    }
                }
            }
            Packet::Rtp(rtp) => {
                let h = &rtp.header;
                st.counters.received += 1;
                for e in &h.extensions {
                    *st.counters.received_extension_ids.entry(e.id).or_default() += 1;
                }
                if Some(h.payload_type) == rtx_pt {
                    st.counters.rtx_received += 1;
                    if let Some(osn) = original_sequence(&rtp.payload) {
                        let primary = st.rtx_of.get(&h.ssrc).copied();
                        let hit = st
                            .counters
                            .lost_received
                            .iter()
                            .find(|(ssrc, seq)| *seq == osn && primary.is_none_or(|p| p == *ssrc))
                            .copied();
                        if let Some(key) = hit
                            && st.counters.repaired.insert(key)
                        {
                            st.counters.repaired_on_rtx += 1;
                        }
                    }
                } else if h.payload_type == video_pt {
                    let key = (h.ssrc, h.sequence_number);
                    if st.counters.lost_received.contains(&key) {
                        st.counters.repaired.insert(key);
                    } else {
                        st.received_video += 1;
                        if every(losses.received_video_one_in, st.received_video) {
                            st.counters.lost_received.insert(key);
                            return Ok(());
                        }
                    }
                }
            }
            _ => {}
        }
        drop(st);
        self.inbound.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inbound.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(rtp) = &msg.message.packet {
            let (video_pt, rtx_pt, losses) = (self.video_pt, self.rtx_pt, self.losses);
            let h = &rtp.header;
            let mut st = self.lock();
            if Some(h.payload_type) == rtx_pt {
                st.counters.rtx_sent += 1;
                if let Some(osn) = original_sequence(&rtp.payload)
                    && st.counters.lost_sent.contains(&osn)
                {
                    st.counters.resent.insert(osn);
                }
            } else if h.payload_type == video_pt {
                let seq = h.sequence_number;
                if st.counters.lost_sent.contains(&seq) {
                    st.counters.resent.insert(seq);
                } else {
                    st.sent_video += 1;
                    if every(losses.sent_video_one_in, st.sent_video) {
                        st.counters.lost_sent.insert(seq);
                        return Ok(());
                    }
                }
            }
        }
        self.outbound.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.outbound.pop_front()
    }
}

impl Interceptor for WireTap {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        if let Some(rtx) = info.ssrc_rtx {
            self.lock().rtx_of.insert(rtx, info.ssrc);
        }
    }
    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        if let Some(rtx) = info.ssrc_rtx {
            self.lock().rtx_of.remove(&rtx);
        }
    }
}
