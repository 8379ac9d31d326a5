//! [`RtxUnwrapper`]: turns a publisher's RTX retransmissions (RFC 4588) back into the packets
//! they repair *before* the NACK generator sees them.
//!
//! `rtc` 0.21 unwraps RTX only in its endpoint, after the whole interceptor chain. Its NACK
//! generator therefore never sees a repair arrive on the primary stream: it asks again for the
//! same packet every 100 ms until the packet leaves its 512-packet window (measured: one lost
//! packet NACKed over 60 times, each answered by the publisher, each repair forwarded again).
//! Placed on the wire side of the generator, this interceptor gives every interceptor after it
//! the repaired packet with its original SSRC, payload type and sequence number; the endpoint
//! then has nothing left to unwrap. Header extensions (the transport-wide sequence number
//! above all) are kept, so TWCC feedback still accounts for the packet.
//!
//! An RTX packet too short to carry the original sequence number (a padding-only bandwidth
//! probe) is passed on unchanged: the TWCC receiver must still record its arrival.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;

/// Slot of [`RtxUnwrapper`]: after the FEC decoder (6 000), before the NACK generator (7 000).
pub const RTX_UNWRAPPER_SLOT: usize = 6_500;

/// The primary stream an RTX stream repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Primary {
    ssrc: u32,
    payload_type: u8,
    rtx_payload_type: u8,
}

/// Unwraps inbound RTX packets of the remote streams bound with an RTX association.
#[derive(Default)]
pub struct RtxUnwrapper {
    /// RTX SSRC → the stream it repairs.
    repairs: HashMap<u32, Primary>,
    inbound: VecDeque<TaggedPacket>,
    outbound: VecDeque<TaggedPacket>,
}

impl std::fmt::Debug for RtxUnwrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtxUnwrapper")
            .field("repairs", &self.repairs)
            .finish_non_exhaustive()
    }
}

impl RtxUnwrapper {
    fn unwrap_rtx(&self, packet: &mut rtc::rtp::Packet) {
        let Some(primary) = self.repairs.get(&packet.header.ssrc) else {
            return;
        };
        if packet.header.payload_type != primary.rtx_payload_type || packet.payload.len() < 2 {
            return;
        }
        let original = u16::from_be_bytes([packet.payload[0], packet.payload[1]]);
        packet.payload = packet.payload.slice(2..);
        packet.header.ssrc = primary.ssrc;
        packet.header.payload_type = primary.payload_type;
        packet.header.sequence_number = original;
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtxUnwrapper {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &mut msg.message.packet {
            self.unwrap_rtx(packet);
        }
        self.inbound.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inbound.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.outbound.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.outbound.pop_front()
    }
}

impl Interceptor for RtxUnwrapper {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        if let (Some(rtx_ssrc), Some(rtx_payload_type)) = (info.ssrc_rtx, info.payload_type_rtx) {
            self.repairs.insert(
                rtx_ssrc,
                Primary {
                    ssrc: info.ssrc,
                    payload_type: info.payload_type,
                    rtx_payload_type,
                },
            );
        }
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        if let Some(rtx_ssrc) = info.ssrc_rtx {
            self.repairs.remove(&rtx_ssrc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::rtp;
    use rtc::shared::TransportContext;

    fn tagged(packet: rtp::Packet) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtp(packet)),
        }
    }

    fn rtp_packet(ssrc: u32, pt: u8, seq: u16, payload: &'static [u8]) -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                ssrc,
                payload_type: pt,
                sequence_number: seq,
                extension: true,
                extension_profile: 0xBEDE,
                extensions: vec![rtp::header::Extension {
                    id: 4,
                    payload: bytes::Bytes::from_static(&[0, 9]),
                }],
                ..Default::default()
            },
            payload: bytes::Bytes::from_static(payload),
        }
    }

    fn bound() -> RtxUnwrapper {
        let mut u = RtxUnwrapper::default();
        u.bind_remote_stream(&StreamInfo {
            ssrc: 1000,
            payload_type: 96,
            ssrc_rtx: Some(2000),
            payload_type_rtx: Some(97),
            ..Default::default()
        });
        u
    }

    fn read(u: &mut RtxUnwrapper, packet: rtp::Packet) -> rtp::Packet {
        u.handle_read(tagged(packet)).expect("never fails");
        match u.poll_read().expect("passed on").message.packet {
            Packet::Rtp(p) => p,
            _ => panic!("an RTP packet in, an RTP packet out"),
        }
    }

    #[test]
    fn an_rtx_packet_becomes_the_packet_it_repairs() {
        let mut u = bound();
        let p = read(&mut u, rtp_packet(2000, 97, 7, &[0x30, 0x39, 0xAA, 0xBB]));
        assert_eq!(
            (
                p.header.ssrc,
                p.header.payload_type,
                p.header.sequence_number
            ),
            (1000, 96, 12345)
        );
        assert_eq!(p.payload.as_ref(), &[0xAA, 0xBB]);
        assert_eq!(
            p.header.extensions.len(),
            1,
            "the transport-wide sequence stays"
        );
    }

    #[test]
    fn anything_else_passes_unchanged() {
        let mut u = bound();
        for (ssrc, pt, payload) in [
            (1000, 96, &[0x30, 0x39, 0xAA][..]), // the primary stream itself
            (2000, 97, &[0x30][..]),             // padding-only probe: no original seq
            (2000, 98, &[0x30, 0x39][..]),       // not the RTX payload type
            (3000, 97, &[0x30, 0x39][..]),       // an SSRC not bound as RTX
        ] {
            let payload: &'static [u8] = Box::leak(payload.to_vec().into_boxed_slice());
            let p = read(&mut u, rtp_packet(ssrc, pt, 7, payload));
            assert_eq!(
                (
                    p.header.ssrc,
                    p.header.payload_type,
                    p.header.sequence_number
                ),
                (ssrc, pt, 7)
            );
            assert_eq!(p.payload.as_ref(), payload);
        }
    }

    #[test]
    fn an_unbound_stream_is_no_longer_unwrapped() {
        let mut u = bound();
        u.unbind_remote_stream(&StreamInfo {
            ssrc: 1000,
            ssrc_rtx: Some(2000),
            ..Default::default()
        });
        let p = read(&mut u, rtp_packet(2000, 97, 7, &[0x30, 0x39]));
        assert_eq!(p.header.ssrc, 2000);
    }
}
