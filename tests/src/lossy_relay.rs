//! A lossy UDP relay between one test client and the server's media socket: it loses chosen
//! video packets on their way *to* the client, before the client's SRTP sees them — as a real
//! network would.
//!
//! The wire tap ([`crate::wire_tap`]) loses packets inside the client's interceptor chain,
//! after SRTP decryption has entered them in its replay window; a retransmission of the same
//! packet (no RTX) would then be refused as a replay. This relay is what a test needs to show
//! such as-is retransmissions arriving.
//!
//! The client is pointed at the relay by rewriting the host candidates of the server's SDP
//! ([`LossyRelay::rewrite`]); the server sees the relay's other socket as a peer-reflexive
//! candidate. RTP headers travel in the clear under SRTP, so the relay can pick video packets
//! by payload type and remember their SSRC and sequence number.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::net::UdpSocket;

/// What the relay lost and saw again.
#[derive(Debug, Clone, Default)]
pub struct RelayCounters {
    /// Video packets from the server lost on the way: (SSRC, sequence number).
    pub lost: HashSet<(u32, u16)>,
    /// Of those, the ones the server sent again (and the relay passed).
    pub resent: HashSet<(u32, u16)>,
    /// Datagrams relayed towards the client.
    pub relayed_down: u64,
}

#[derive(Default)]
struct Shared {
    counters: Mutex<RelayCounters>,
    /// The server's media address (from the first host candidate rewritten).
    upstream: OnceLock<SocketAddr>,
}

/// A running relay; stops when dropped.
pub struct LossyRelay {
    /// The address the client sends to.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for LossyRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LossyRelay")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The RTP payload type, SSRC and sequence number of a datagram, if it is RTP (RFC 7983:
/// first byte 128–191; RFC 5761: not an RTCP packet type).
fn rtp_header(d: &[u8]) -> Option<(u8, u32, u16)> {
    if d.len() < 12 || !(128..=191).contains(&d[0]) {
        return None;
    }
    let pt = d[1] & 0x7f;
    if (64..=95).contains(&pt) {
        return None;
    }
    Some((
        pt,
        u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
        u16::from_be_bytes([d[2], d[3]]),
    ))
}

impl LossyRelay {
    /// Starts a relay on 127.0.0.1 that loses one in `one_in` video packets (payload type
    /// `video_pt`) sent to the client, each (SSRC, sequence number) at most once.
    ///
    /// # Errors
    /// When the sockets cannot be bound.
    pub async fn start(video_pt: u8, one_in: u16) -> anyhow::Result<Self> {
        let down = UdpSocket::bind("127.0.0.1:0").await?;
        let up = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = down.local_addr()?;
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let task = tokio::spawn(async move {
            let mut client: Option<SocketAddr> = None;
            let mut video = 0u64;
            let (mut a, mut b) = (vec![0u8; 2048], vec![0u8; 2048]);
            loop {
                tokio::select! {
                    Ok((n, from)) = down.recv_from(&mut a) => {
                        client = Some(from);
                        if let Some(server) = s.upstream.get() {
                            let _ = up.send_to(&a[..n], server).await;
                        }
                    }
                    Ok((n, _)) = up.recv_from(&mut b) => {
                        let Some(client) = client else { continue };
                        if let Some((pt, ssrc, seq)) = rtp_header(&b[..n])
                            && pt == video_pt
                        {
                            let mut c = s.counters.lock().unwrap_or_else(PoisonError::into_inner);
                            if c.lost.contains(&(ssrc, seq)) {
                                c.resent.insert((ssrc, seq));
                            } else {
                                video += 1;
                                if one_in > 0 && video.is_multiple_of(u64::from(one_in)) {
                                    c.lost.insert((ssrc, seq));
                                    continue;
                                }
                            }
                        }
                        s.counters
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .relayed_down += 1;
                        let _ = down.send_to(&b[..n], client).await;
                    }
                }
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// `sdp` with every host candidate pointing at the relay instead (the first one's address
    /// becomes the relay's upstream).
    pub fn rewrite(&self, sdp: &str) -> String {
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.split_inclusive('\n') {
            let body = line.trim_end_matches(['\r', '\n']);
            let mut parts: Vec<&str> = body.split(' ').collect();
            let is_host = body.starts_with("a=candidate:")
                && parts.len() >= 8
                && parts[6] == "typ"
                && parts[7] == "host";
            if let (true, Ok(ip), Ok(port)) = (
                is_host,
                parts
                    .get(4)
                    .map_or(Err(()), |p| p.parse::<std::net::IpAddr>().map_err(|_| ())),
                parts
                    .get(5)
                    .map_or(Err(()), |p| p.parse::<u16>().map_err(|_| ())),
            ) {
                let _ = self.shared.upstream.set(SocketAddr::new(ip, port));
                let (ip, port) = (self.addr.ip().to_string(), self.addr.port().to_string());
                parts[4] = &ip;
                parts[5] = &port;
                out.push_str(&parts.join(" "));
                out.push_str(&line[body.len()..]);
            } else {
                out.push_str(line);
            }
        }
        out
    }

    /// What was lost and seen again so far.
    pub fn counters(&self) -> RelayCounters {
        self.shared
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
