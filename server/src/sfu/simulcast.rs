//! Simulcast layer choice: which of a publisher's simulcast layers each receiver gets. Pure:
//! no IO, time is a parameter.
//!
//! A client that offers `a=simulcast:send` sends its camera as two or three *layers* (RFC 8853):
//! the same picture encoded at several sizes and bitrates, each on its own SSRC and named by
//! a RID. The SFU forwards exactly **one** layer to each subscriber's video leg, and changes
//! which one by that subscriber's bandwidth estimate (REMB):
//!
//! - **Ranking.** Layers are ranked by their *measured* bitrate over the last
//!   [`MEASURE_WINDOW`] (ties: the order the client's layers first arrived), not by the order
//!   the client declared them: browsers do not agree on that order, and a layer the browser
//!   paused (it does so when its own uplink is short) has no bitrate and is not ranked at all.
//! - **Start.** A receiver starts on the highest layer that fits its estimate (the highest of
//!   all while it has sent none).
//! - **Down.** When the estimate falls below the current layer's bitrate by more than
//!   [`DOWN_MARGIN_PERCENT`], step down to the highest layer that fits (or the lowest).
//! - **Up.** When the estimate has [`UP_HEADROOM_PERCENT`] over the next layer's bitrate (or
//!   there is no estimate) without a break for [`UP_HOLD`], step up one layer. The asymmetry
//!   (down at once, up only after a steady while) is the hysteresis: no flapping.
//! - **Keyframes.** A switch happens only at a keyframe of the target layer: until one
//!   arrives, the receiver keeps getting the old layer and [`LayerChoice::on_packet`] asks for
//!   a keyframe of the target (the hearing throttles those requests per layer).
//!
//! The [`super::forward::LegRewriter`] then sees a new source SSRC and continues the leg's own
//! sequence numbers and timestamps, so the subscriber's decoder sees one stream.
//!
//! A protected witness's anonymised stream is one receiver too (it never sends an estimate),
//! so the server's pipeline decodes the highest layer and changes layer only at a keyframe.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window over which a layer's bitrate is measured. A layer with no packet in it is
/// inactive (paused by the client) and receives nobody.
pub const MEASURE_WINDOW: Duration = Duration::from_secs(1);
/// Step down when the estimate is below the current layer's bitrate by more than this.
pub const DOWN_MARGIN_PERCENT: u64 = 10;
/// Step up when the estimate exceeds the next layer's bitrate by at least this ...
pub const UP_HEADROOM_PERCENT: u64 = 25;
/// ... without a break for this long.
pub const UP_HOLD: Duration = Duration::from_secs(4);
/// Layers kept per track: a client declaring more gets the first ones only (browsers send 3).
pub const MAX_LAYERS: usize = 4;
/// Packets remembered per layer for the measurement (≈ 8 Mbit/s of full-size packets in
/// [`MEASURE_WINDOW`]; beyond that the bitrate reads low, which only ranks the layer lower).
const MAX_SAMPLES: usize = 1024;

/// One layer's bitrate over the last [`MEASURE_WINDOW`].
#[derive(Debug, Default, Clone)]
pub struct BitrateMeter {
    samples: VecDeque<(Instant, u64)>,
    bytes: u64,
}

impl BitrateMeter {
    /// A packet of `bytes` arrived at `now`.
    pub fn observe(&mut self, bytes: usize, now: Instant) {
        self.prune(now);
        if self.samples.len() >= MAX_SAMPLES
            && let Some((_, b)) = self.samples.pop_front()
        {
            self.bytes -= b;
        }
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX / 2);
        self.samples.push_back((now, bytes));
        self.bytes += bytes;
    }

    /// Bits per second over the window ending at `now` (0: nothing arrived in it).
    pub fn bits_per_second(&mut self, now: Instant) -> u64 {
        self.prune(now);
        let window_ms = u64::try_from(MEASURE_WINDOW.as_millis())
            .unwrap_or(1000)
            .max(1);
        self.bytes.saturating_mul(8).saturating_mul(1000) / window_ms
    }

    fn prune(&mut self, now: Instant) {
        while let Some(&(at, b)) = self.samples.front() {
            if now.saturating_duration_since(at) < MEASURE_WINDOW {
                break;
            }
            self.samples.pop_front();
            self.bytes -= b;
        }
    }
}

/// A layer as ranked now: its SSRC and measured bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerRate {
    /// The layer's SSRC (what its packets carry).
    pub ssrc: u32,
    /// Bits per second over the last [`MEASURE_WINDOW`] (never 0 in a ranking).
    pub bps: u64,
}

/// One layer of a simulcast track.
#[derive(Debug, Clone)]
struct Layer {
    ssrc: u32,
    rid: String,
    meter: BitrateMeter,
}

/// The layers of one publisher's simulcast track, in the order they first arrived.
#[derive(Debug, Default, Clone)]
pub struct Layers {
    layers: Vec<Layer>,
}

/// The longest RID kept (RFC 8851 allows 16 alphanumeric characters, hyphens, underscores).
const MAX_RID: usize = 16;

impl Layers {
    /// The client opened a layer `rid` on `ssrc`. Returns false when it is not kept (already
    /// known, or more than [`MAX_LAYERS`]).
    pub fn add(&mut self, ssrc: u32, rid: &str) -> bool {
        if self.layers.len() >= MAX_LAYERS || self.layers.iter().any(|l| l.ssrc == ssrc) {
            return false;
        }
        let rid: String = rid
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(MAX_RID)
            .collect();
        self.layers.push(Layer {
            ssrc,
            rid,
            meter: BitrateMeter::default(),
        });
        true
    }

    /// Whether `ssrc` is one of the layers.
    pub fn contains(&self, ssrc: u32) -> bool {
        self.layers.iter().any(|l| l.ssrc == ssrc)
    }

    /// A packet of `bytes` on layer `ssrc` arrived at `now`. Returns false (and measures
    /// nothing) when `ssrc` is not a known layer.
    pub fn observe(&mut self, ssrc: u32, bytes: usize, now: Instant) -> bool {
        match self.layers.iter_mut().find(|l| l.ssrc == ssrc) {
            Some(layer) => {
                layer.meter.observe(bytes, now);
                true
            }
            None => false,
        }
    }

    /// The active layers (a packet in the last [`MEASURE_WINDOW`]), lowest bitrate first; ties
    /// keep the order of arrival.
    pub fn ranked(&mut self, now: Instant) -> Vec<LayerRate> {
        let mut ranked: Vec<LayerRate> = self
            .layers
            .iter_mut()
            .map(|l| LayerRate {
                ssrc: l.ssrc,
                bps: l.meter.bits_per_second(now),
            })
            .filter(|l| l.bps > 0)
            .collect();
        // A stable sort: equal bitrates keep the order of arrival.
        ranked.sort_by_key(|l| l.bps);
        ranked
    }

    /// Every layer as `(rid, ssrc, bits per second)`, ranked as [`Self::ranked`] (inactive
    /// ones last, with 0): for metrics and tests.
    pub fn describe(&mut self, now: Instant) -> Vec<(String, u32, u64)> {
        let ranked = self.ranked(now);
        let mut out: Vec<(String, u32, u64)> = ranked
            .iter()
            .filter_map(|r| {
                self.layers
                    .iter()
                    .find(|l| l.ssrc == r.ssrc)
                    .map(|l| (l.rid.clone(), l.ssrc, r.bps))
            })
            .collect();
        for l in &self.layers {
            if !ranked.iter().any(|r| r.ssrc == l.ssrc) {
                out.push((l.rid.clone(), l.ssrc, 0));
            }
        }
        out
    }
}

/// What to do with one packet of a simulcast track for one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A packet of the receiver's layer: forward it.
    Forward,
    /// The keyframe the receiver waited for: it switches to this layer from this packet on
    /// (forward it).
    Switch,
    /// Another layer's packet: not for this receiver.
    Skip,
}

/// The layer choice of one receiver of one simulcast track.
#[derive(Debug, Default, Clone)]
pub struct LayerChoice {
    /// The layer forwarded now (`None`: nothing yet; waiting for a first keyframe).
    current: Option<u32>,
    /// The layer to switch to at its next keyframe.
    pending: Option<u32>,
    /// The receiver's latest bandwidth estimate (bit/s), if it sent one.
    estimate: Option<u64>,
    /// Since when the estimate has had headroom for the layer above.
    headroom_since: Option<Instant>,
}

impl LayerChoice {
    /// The layer forwarded now.
    pub fn current(&self) -> Option<u32> {
        self.current
    }

    /// The layer waited for (its keyframe), if a switch is under way.
    pub fn pending(&self) -> Option<u32> {
        self.pending
    }

    /// The receiver reported it can take `bits_per_second` (REMB). Acted on at the next packet.
    pub fn on_estimate(&mut self, bits_per_second: u64) {
        self.estimate = Some(bits_per_second);
    }

    /// One packet of layer `ssrc` (a keyframe start or not), with the layers as ranked now.
    /// Returns what to do with it for this receiver, and the layer whose keyframe the receiver
    /// is waiting for (to request; the caller throttles).
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        keyframe: bool,
        ranked: &[LayerRate],
        now: Instant,
    ) -> (Decision, Option<u32>) {
        let target = self.target(ranked, now);
        self.pending = target.filter(|t| Some(*t) != self.current);
        if keyframe && self.pending == Some(ssrc) {
            self.current = Some(ssrc);
            self.pending = None;
            return (Decision::Switch, None);
        }
        let decision = if self.current == Some(ssrc) {
            Decision::Forward
        } else {
            Decision::Skip
        };
        (decision, self.pending)
    }

    /// The layer this receiver should be on now.
    fn target(&mut self, ranked: &[LayerRate], now: Instant) -> Option<u32> {
        let fits = |l: &LayerRate| self.estimate.is_none_or(|e| l.bps <= e);
        let best_fit = || {
            ranked
                .iter()
                .rev()
                .find(|l| fits(l))
                .or_else(|| ranked.first())
                .map(|l| l.ssrc)
        };
        let Some(i) = self
            .current
            .and_then(|c| ranked.iter().position(|l| l.ssrc == c))
        else {
            // No layer yet, or the current one stopped: the best that fits.
            self.headroom_since = None;
            return best_fit();
        };
        let current = ranked[i];
        if let Some(e) = self.estimate
            && i > 0
            && e.saturating_mul(100) < current.bps.saturating_mul(100 - DOWN_MARGIN_PERCENT)
        {
            self.headroom_since = None;
            return ranked[..i]
                .iter()
                .rev()
                .find(|l| l.bps <= e)
                .or_else(|| ranked.first())
                .map(|l| l.ssrc);
        }
        let Some(next) = ranked.get(i + 1) else {
            self.headroom_since = None;
            return Some(current.ssrc);
        };
        let headroom = self.estimate.is_none_or(|e| {
            e.saturating_mul(100) >= next.bps.saturating_mul(100 + UP_HEADROOM_PERCENT)
        });
        if !headroom {
            self.headroom_since = None;
            return Some(current.ssrc);
        }
        let since = *self.headroom_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= UP_HOLD {
            // Held long enough: go up one layer (and start holding again for the next).
            self.headroom_since = None;
            Some(next.ssrc)
        } else if self.pending == Some(next.ssrc) {
            // Already on the way up (waiting for the keyframe).
            Some(next.ssrc)
        } else {
            Some(current.ssrc)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOW: u32 = 1;
    const MID: u32 = 2;
    const HIGH: u32 = 3;

    fn ranked() -> Vec<LayerRate> {
        vec![
            LayerRate {
                ssrc: LOW,
                bps: 100_000,
            },
            LayerRate {
                ssrc: MID,
                bps: 300_000,
            },
            LayerRate {
                ssrc: HIGH,
                bps: 1_000_000,
            },
        ]
    }

    /// Feeds one packet of every layer (keyframes or not); returns the layers forwarded.
    fn round(c: &mut LayerChoice, keyframes: bool, now: Instant) -> Vec<(u32, Decision)> {
        let r = ranked();
        [LOW, MID, HIGH]
            .into_iter()
            .map(|s| (s, c.on_packet(s, keyframes, &r, now).0))
            .filter(|(_, d)| *d != Decision::Skip)
            .collect()
    }

    #[test]
    fn a_receiver_starts_on_the_highest_layer_at_its_keyframe_and_gets_only_that_one() {
        let t0 = Instant::now();
        let mut c = LayerChoice::default();
        let r = ranked();
        // Not a keyframe: nothing yet, and a keyframe of the highest layer is wanted.
        assert_eq!(
            c.on_packet(HIGH, false, &r, t0),
            (Decision::Skip, Some(HIGH))
        );
        assert_eq!(c.on_packet(LOW, true, &r, t0), (Decision::Skip, Some(HIGH)));
        assert_eq!(c.on_packet(HIGH, true, &r, t0), (Decision::Switch, None));
        for i in 1..100u32 {
            let now = t0 + Duration::from_millis(u64::from(i) * 33);
            assert_eq!(
                round(&mut c, i % 10 == 0, now),
                vec![(HIGH, Decision::Forward)]
            );
        }
    }

    #[test]
    fn a_low_estimate_steps_down_at_the_target_layers_keyframe_keeping_the_old_until_then() {
        let t0 = Instant::now();
        let mut c = LayerChoice::default();
        let r = ranked();
        c.on_packet(HIGH, true, &r, t0);
        c.on_estimate(250_000);
        // The old layer goes on until the target's keyframe; the target's keyframe is wanted.
        assert_eq!(
            c.on_packet(HIGH, false, &r, t0),
            (Decision::Forward, Some(LOW))
        );
        assert_eq!(c.on_packet(LOW, false, &r, t0), (Decision::Skip, Some(LOW)));
        assert_eq!(
            c.on_packet(HIGH, true, &r, t0),
            (Decision::Forward, Some(LOW))
        );
        assert_eq!(c.on_packet(LOW, true, &r, t0), (Decision::Switch, None));
        assert_eq!(c.on_packet(HIGH, true, &r, t0).0, Decision::Skip);
        assert_eq!(c.current(), Some(LOW));
    }

    #[test]
    fn an_estimate_just_under_the_current_bitrate_is_within_the_margin() {
        let t0 = Instant::now();
        let mut c = LayerChoice::default();
        let r = ranked();
        c.on_packet(HIGH, true, &r, t0);
        c.on_estimate(950_000);
        assert_eq!(round(&mut c, true, t0), vec![(HIGH, Decision::Forward)]);
        c.on_estimate(899_999);
        assert_eq!(round(&mut c, true, t0), vec![(MID, Decision::Switch)]);
    }

    #[test]
    fn stepping_up_needs_headroom_without_a_break_for_the_hold_time() {
        let t0 = Instant::now();
        let mut c = LayerChoice::default();
        c.on_estimate(120_000);
        assert_eq!(round(&mut c, true, t0), vec![(LOW, Decision::Switch)]);
        // Headroom for the middle layer (300 kbit/s + 25 %) ...
        c.on_estimate(400_000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(
            round(&mut c, true, at(1000)),
            vec![(LOW, Decision::Forward)]
        );
        // ... broken once: the hold starts again.
        c.on_estimate(360_000);
        assert_eq!(
            round(&mut c, true, at(3000)),
            vec![(LOW, Decision::Forward)]
        );
        c.on_estimate(400_000);
        assert_eq!(
            round(&mut c, true, at(3100)),
            vec![(LOW, Decision::Forward)]
        );
        assert_eq!(
            round(&mut c, true, at(7000)),
            vec![(LOW, Decision::Forward)]
        );
        // Held for UP_HOLD: one layer up (not two: no headroom for the highest). The low
        // layer's packet in the same round still goes out: the switch is at the middle
        // layer's keyframe.
        assert_eq!(
            round(&mut c, true, at(7100)),
            vec![(LOW, Decision::Forward), (MID, Decision::Switch)]
        );
        assert_eq!(
            round(&mut c, true, at(20_000)),
            vec![(MID, Decision::Forward)]
        );
    }

    #[test]
    fn the_way_up_waits_for_the_next_layers_keyframe() {
        let t0 = Instant::now();
        let mut c = LayerChoice::default();
        c.on_estimate(120_000);
        round(&mut c, true, t0);
        c.on_estimate(5_000_000);
        round(&mut c, false, t0);
        let later = t0 + UP_HOLD;
        assert_eq!(round(&mut c, false, later), vec![(LOW, Decision::Forward)]);
        assert_eq!(c.pending(), Some(MID));
        // Still pending a moment later (the hold restarted, but the switch is under way).
        let r = ranked();
        let next = later + Duration::from_millis(33);
        assert_eq!(
            c.on_packet(LOW, false, &r, next),
            (Decision::Forward, Some(MID))
        );
        assert_eq!(c.on_packet(MID, true, &r, next), (Decision::Switch, None));
    }

    #[test]
    fn no_flapping_around_a_layers_bitrate() {
        let t0 = Instant::now();
        let mut c = LayerChoice::default();
        c.on_estimate(320_000);
        let mut switches = 0;
        for i in 0..600u64 {
            // The estimate wobbles ±10 % around the middle layer's bitrate.
            c.on_estimate(if i % 2 == 0 { 330_000 } else { 290_000 });
            let now = t0 + Duration::from_millis(i * 33);
            switches += round(&mut c, true, now)
                .iter()
                .filter(|(_, d)| *d == Decision::Switch)
                .count();
        }
        assert_eq!(switches, 1, "one start on the middle layer, then it stays");
        assert_eq!(c.current(), Some(MID));
    }

    #[test]
    fn a_paused_layer_loses_its_receivers_to_the_best_active_one() {
        let t0 = Instant::now();
        let mut c = LayerChoice::default();
        let r = ranked();
        c.on_packet(HIGH, true, &r, t0);
        // The client paused the highest layer: it drops out of the ranking.
        let without_high = &r[..2];
        assert_eq!(
            c.on_packet(MID, true, without_high, t0),
            (Decision::Switch, None)
        );
        assert_eq!(c.current(), Some(MID));
    }

    #[test]
    fn nothing_is_chosen_while_no_layer_is_active() {
        let mut c = LayerChoice::default();
        assert_eq!(
            c.on_packet(LOW, true, &[], Instant::now()),
            (Decision::Skip, None)
        );
    }

    #[test]
    fn layers_are_ranked_by_measured_bitrate_and_inactive_ones_are_left_out() {
        let t0 = Instant::now();
        let mut layers = Layers::default();
        assert!(layers.add(10, "f"));
        assert!(layers.add(11, "q"));
        assert!(layers.add(12, "h"));
        assert!(!layers.add(12, "h"), "known already");
        assert!(layers.add(13, "x"));
        assert!(!layers.add(14, "y"), "at most MAX_LAYERS");
        for i in 0..30u64 {
            let now = t0 + Duration::from_millis(i * 33);
            layers.observe(10, 1200, now);
            layers.observe(11, 200, now);
            layers.observe(12, 600, now);
        }
        assert!(!layers.observe(99, 100, t0), "not a layer");
        let now = t0 + Duration::from_millis(30 * 33);
        let order: Vec<u32> = layers.ranked(now).iter().map(|l| l.ssrc).collect();
        assert_eq!(order, vec![11, 12, 10], "x never sent: not ranked");
        let bps = layers.ranked(now)[0].bps;
        assert!((40_000..60_000).contains(&bps), "≈ 200 B × 30/s: {bps}");
        assert_eq!(layers.describe(now).last(), Some(&("x".to_string(), 13, 0)));
        // A second later nothing is active.
        assert!(layers.ranked(now + MEASURE_WINDOW).is_empty());
    }

    #[test]
    fn rids_are_kept_short_and_plain() {
        let mut layers = Layers::default();
        layers.add(1, "a\u{1b}[31m-very-long-rid-indeed-xyz");
        let d = layers.describe(Instant::now());
        assert_eq!(d[0].0, "a31m-very-long-r");
    }
}
