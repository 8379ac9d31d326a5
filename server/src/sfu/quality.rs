//! The heartbeat for the judge's console: each participant's connection quality, from what the
//! server receives from them (packet loss and bitrate of their media) and the round-trip time
//! of their connection. Pure: the connection samples its statistics every
//! [`SAMPLE_INTERVAL`] and this module turns two samples into a [`Quality`].
//!
//! Grades as courts use them for remote hearings: good below 10% loss, poor from 10% to 15%,
//! bad above 15%.

use std::time::{Duration, Instant};

use serde::Serialize;

/// How often each connection's statistics are sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(2);

/// Cumulative counters of one connection at one moment (summed over its inbound tracks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: Instant,
    /// RTP packets received from the participant.
    pub packets_received: u64,
    /// RTP packets the participant sent that never arrived (sequence-number gaps).
    pub packets_lost: u64,
    /// RTP payload and header bytes received.
    pub bytes_received: u64,
    /// The latest round-trip time of the connection (seconds), if measured.
    pub rtt_seconds: Option<f64>,
}

/// Connection quality as the judge's console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Under 10% loss.
    Good,
    /// 10% to 15% loss.
    Poor,
    /// Over 15% loss, or nothing received at all while media was expected.
    Bad,
}

/// One participant's connection over the last interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    /// Share of the participant's packets lost on the way to the server (0–100).
    pub loss_percent: f64,
    /// Round-trip time (milliseconds), if measured.
    pub rtt_ms: Option<u32>,
    /// What the server received from them (kbit/s).
    pub kbps: u32,
    pub grade: Grade,
}

/// The grade of a loss percentage.
pub fn grade(loss_percent: f64) -> Grade {
    if loss_percent.is_nan() || loss_percent > 15.0 {
        Grade::Bad
    } else if loss_percent >= 10.0 {
        Grade::Poor
    } else {
        Grade::Good
    }
}

/// The quality over the interval from `before` to `now`. `None` when the interval is empty or
/// the counters went backwards (a new connection): wait for the next sample.
pub fn between(before: &Sample, now: &Sample) -> Option<Quality> {
    let secs = now.at.checked_duration_since(before.at)?.as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    let received = now.packets_received.checked_sub(before.packets_received)?;
    let lost = now.packets_lost.saturating_sub(before.packets_lost);
    let bytes = now.bytes_received.checked_sub(before.bytes_received)?;
    let expected = received + lost;
    #[allow(clippy::cast_precision_loss)] // packet counts per interval: far below 2^52
    let loss_percent = if expected == 0 {
        0.0
    } else {
        100.0 * lost as f64 / expected as f64
    };
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )] // a bitrate in kbit/s, rounded; saturates
    let kbps = (bytes as f64 * 8.0 / 1000.0 / secs).round() as u32;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // milliseconds, saturates
    let rtt_ms = now
        .rtt_seconds
        .filter(|r| r.is_finite() && *r >= 0.0)
        .map(|r| (r * 1000.0).round() as u32);
    Some(Quality {
        loss_percent: (loss_percent * 10.0).round() / 10.0,
        rtt_ms,
        kbps,
        grade: grade(loss_percent),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: Instant, received: u64, lost: u64, bytes: u64) -> Sample {
        Sample {
            at,
            packets_received: received,
            packets_lost: lost,
            bytes_received: bytes,
            rtt_seconds: Some(0.0425),
        }
    }

    #[test]
    fn the_grades_follow_the_court_thresholds() {
        assert_eq!(grade(0.0), Grade::Good);
        assert_eq!(grade(9.99), Grade::Good);
        assert_eq!(grade(10.0), Grade::Poor);
        assert_eq!(grade(15.0), Grade::Poor);
        assert_eq!(grade(15.01), Grade::Bad);
        assert_eq!(grade(f64::NAN), Grade::Bad);
    }

    #[test]
    fn loss_bitrate_and_rtt_over_an_interval() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(2);
        let q = between(
            &sample(t0, 1_000, 10, 100_000),
            &sample(t1, 1_170, 40, 225_000),
        )
        .expect("an interval");
        // 30 lost of 200 sent = 15%: still poor, not bad.
        assert_eq!(q.loss_percent, 15.0);
        assert_eq!(q.grade, Grade::Poor);
        assert_eq!(q.kbps, 500);
        assert_eq!(q.rtt_ms, Some(43));
    }

    #[test]
    fn an_empty_or_backward_interval_gives_nothing() {
        let t0 = Instant::now();
        let s = sample(t0, 10, 0, 1_000);
        assert_eq!(between(&s, &s), None);
        let later = sample(t0 + Duration::from_secs(2), 5, 0, 500);
        assert_eq!(between(&s, &later), None);
        // Nothing sent and nothing lost (a muted microphone, no camera): no loss.
        let idle = sample(t0 + Duration::from_secs(2), 10, 0, 1_000);
        let q = between(&s, &idle).expect("an interval");
        assert_eq!((q.loss_percent, q.kbps, q.grade), (0.0, 0, Grade::Good));
    }
}
