//! The hearing SFU (selective forwarding unit): who hears and sees whom in a remote hearing.
//!
//! ## Module map
//! - [`room`]: the room model and **the** forwarding decision, [`room::may_forward`]. Pure:
//!   no IO, no WebRTC types; tested exhaustively as a table.
//! - [`forward`]: per-leg RTP header rewriting (SSRC, payload type, contiguous sequence numbers)
//!   and keyframe-request throttling. Pure.
//! - [`hearing`]: one live hearing: the room plus its participants' connections, seen only
//!   through the small [`hearing::MediaConnection`] trait; asks `may_forward` per packet.
//! - [`peer`]: `MediaConnection` over `webrtc` 0.21 (one peer connection per participant).
//! - [`simulcast`]: which simulcast layer each receiver gets (ranking, hysteresis, switching
//!   at keyframes). Pure.
//! - [`nack_limit`]: a retransmission budget per leg (a subscriber NACKing everything gets
//!   at most a share of the leg resent).
//! - [`rtx`]: unwraps a publisher's RTX retransmissions before the NACK generator sees them.
//! - [`pipeline`]: the transcoding pipeline for a protected witness's media (decode → anonymise
//!   → encode on a thread of its own per stream), producing the distorted track that everyone
//!   the protective order does not name receives. Not wired into the forwarding yet.
//! - [`signal`]: the WebSocket signaling endpoint (`/api/v1/hearings/{id}/signal`), the
//!   versioned JSON protocol, and the [`signal::Admission`] hook through which the HTTP layer
//!   decides who joins which hearing in which role ([`signal::JoinTicket`]).
//!
//! ## Mounting
//! The application builds one [`Sfu`] at start-up from the `[media]` settings
//! (`Settings::sfu_config`, validated) and merges the signaling route into its router with the
//! policy's admission hook (`http::routes::hearings::PolicyAdmission`): the hearing's judges and
//! clerks by account session, everyone else by a redeemed invitation for that hearing. The
//! ticket's party is the hearing participant's id. The court's controls (admit, call, send back,
//! remove, mute, camera, screen, the hearing's state) call
//! `sfu.hearings().get(id)?.update(|room| …)`; they take effect on the next packet.
//!
//! See `docs/protocol.md`, "Hearing signaling", for the wire protocol.

pub mod anonymisers;
pub mod forward;
pub mod hearing;
pub mod nack_limit;
pub mod peer;
pub mod pipeline;
pub mod quality;
pub mod room;
pub mod rtx;
pub mod signal;
pub mod simulcast;
pub mod turn;

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

pub use hearing::{Hearing, Hearings};

/// How the SFU binds its media sockets.
#[derive(Clone, Debug)]
pub struct SfuConfig {
    /// The addresses ICE binds and advertises as host candidates, one UDP socket each. Explicit
    /// addresses only: a wildcard would skip loopback and be expanded to every interface.
    pub ice_ips: Vec<IpAddr>,
    /// The UDP ports peer connections may use (one port per connection and address), for
    /// firewalls. `None`: ephemeral ports.
    pub udp_ports: Option<RangeInclusive<u16>>,
    /// A TURN service whose time-limited credentials participants receive in `joined`.
    pub turn: Option<turn::TurnConfig>,
}

impl SfuConfig {
    /// Checks the settings; call at start-up so that a mistake stops the server with a message
    /// naming the setting rather than failing the first hearing.
    ///
    /// # Errors
    /// No address, a wildcard address (`0.0.0.0`, `::`), or an empty or zero-based port range.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.ice_ips.is_empty() {
            anyhow::bail!("sfu ice_ips is empty: name the address(es) clients reach the SFU at");
        }
        if let Some(ip) = self.ice_ips.iter().find(|ip| ip.is_unspecified()) {
            anyhow::bail!(
                "sfu ice_ips contains the wildcard {ip}: name explicit addresses (a wildcard skips loopback and follows every interface)"
            );
        }
        if let Some(r) = &self.udp_ports
            && (r.is_empty() || *r.start() == 0)
        {
            anyhow::bail!(
                "sfu udp_ports {r:?} is empty or starts at 0: give a range such as 40000..=40999"
            );
        }
        Ok(())
    }

    /// Loopback only, ephemeral ports: tests and development.
    pub fn loopback() -> Self {
        Self {
            ice_ips: vec![IpAddr::from([127, 0, 0, 1])],
            udp_ports: None,
            turn: None,
        }
    }
}

/// The SFU: configuration plus every live hearing. One per server; cheap to share in an `Arc`.
#[derive(Debug)]
pub struct Sfu {
    config: SfuConfig,
    hearings: Hearings,
    /// Anonymises protected witnesses' media (they need each hearing's secret).
    anonymisers: Arc<anonymisers::PipelineAnonymisers>,
    port_cursor: AtomicU32,
    live: Arc<AtomicUsize>,
    /// Retransmissions refused to subscribers over their budget ([`nack_limit`]).
    retransmissions_refused: Arc<AtomicU64>,
}

impl Sfu {
    /// An SFU with no live hearing.
    pub fn new(config: SfuConfig) -> Arc<Self> {
        let anonymisers = Arc::new(anonymisers::PipelineAnonymisers::default());
        Arc::new(Self {
            config,
            hearings: Hearings::new(Some(anonymisers.clone())),
            anonymisers,
            port_cursor: AtomicU32::new(0),
            live: Arc::new(AtomicUsize::new(0)),
            retransmissions_refused: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SfuConfig {
        &self.config
    }

    /// The anonymisers, to hand them a hearing's secret.
    pub fn anonymisers(&self) -> &anonymisers::PipelineAnonymisers {
        &self.anonymisers
    }

    /// The live hearings: the court's controls (admit, move, mute, screen, pause) go through
    /// [`Hearing::update`].
    pub fn hearings(&self) -> &Hearings {
        &self.hearings
    }

    /// Participant connections whose state is still in memory (for metrics and leak tests: it
    /// returns to zero once everyone has left and their connections wound down).
    pub fn live_connections(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Packets subscribers NACKed that were not resent because their leg's retransmission
    /// budget was spent ([`nack_limit`]), since start, all connections together.
    pub fn retransmissions_refused(&self) -> u64 {
        self.retransmissions_refused.load(Ordering::Relaxed)
    }

    pub(crate) fn retransmissions_refused_counter(&self) -> Arc<AtomicU64> {
        self.retransmissions_refused.clone()
    }

    pub(crate) fn live_counter(&self) -> Arc<AtomicUsize> {
        self.live.clone()
    }

    /// The ports to try, in order, for the next connection: the whole range, starting after
    /// the port handed out last (so concurrent connections rarely collide).
    pub(crate) fn ports_to_try(&self, range: RangeInclusive<u16>) -> Vec<u16> {
        let (lo, hi) = (u32::from(*range.start()), u32::from(*range.end()));
        if hi < lo {
            return Vec::new();
        }
        let len = hi - lo + 1;
        let start = self.port_cursor.fetch_add(1, Ordering::Relaxed) % len;
        (0..len)
            .filter_map(|i| u16::try_from(lo + (start + i) % len).ok())
            .collect()
    }
}
