//! The MLA / EIO workflow: the statuses a request moves through, **the** table of legal moves
//! with the side (issuing or executing authority) that may make each, and the statutory
//! deadlines. Pure: no IO, no clock (times are passed in).
//!
//! ```text
//! DRAFT ─▶ VALIDATED ─▶ TRANSMITTED ─▶ ACKNOWLEDGED ─▶ RECOGNISED ─▶ IN_EXECUTION ─▶ EXECUTED
//!   (issuing side only)      │              │  ▲             │             │   │     PARTIALLY_EXECUTED
//!                            │     INFO_REQUESTED ⇄ INFO_PROVIDED         │   └▶ EVIDENCE_TRANSMITTED
//!                            │     DIFFERENT_MEASURE_PROPOSED, POSTPONED, REFUSED
//!                            └── WITHDRAWN (issuing side, any time before the end) ──▶ CLOSED
//! ```
//!
//! Both servers hold a copy of each request and apply the same table: the sender checks a move
//! before sealing it, the receiver checks it again on arrival (against its own copy), so a
//! message out of order or from the wrong side is refused with a signed negative receipt.

use serde::{Deserialize, Serialize};

/// A request's business status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Draft,
    Validated,
    Transmitted,
    Acknowledged,
    Recognised,
    InExecution,
    Executed,
    PartiallyExecuted,
    InfoRequested,
    InfoProvided,
    DifferentMeasureProposed,
    Postponed,
    Refused,
    Withdrawn,
    EvidenceTransmitted,
    Closed,
}

impl Status {
    pub const ALL: [Status; 16] = [
        Status::Draft,
        Status::Validated,
        Status::Transmitted,
        Status::Acknowledged,
        Status::Recognised,
        Status::InExecution,
        Status::Executed,
        Status::PartiallyExecuted,
        Status::InfoRequested,
        Status::InfoProvided,
        Status::DifferentMeasureProposed,
        Status::Postponed,
        Status::Refused,
        Status::Withdrawn,
        Status::EvidenceTransmitted,
        Status::Closed,
    ];

    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        use Status::*;
        match self {
            Draft => "DRAFT",
            Validated => "VALIDATED",
            Transmitted => "TRANSMITTED",
            Acknowledged => "ACKNOWLEDGED",
            Recognised => "RECOGNISED",
            InExecution => "IN_EXECUTION",
            Executed => "EXECUTED",
            PartiallyExecuted => "PARTIALLY_EXECUTED",
            InfoRequested => "INFO_REQUESTED",
            InfoProvided => "INFO_PROVIDED",
            DifferentMeasureProposed => "DIFFERENT_MEASURE_PROPOSED",
            Postponed => "POSTPONED",
            Refused => "REFUSED",
            Withdrawn => "WITHDRAWN",
            EvidenceTransmitted => "EVIDENCE_TRANSMITTED",
            Closed => "CLOSED",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Which end of the exchange a server (or an officer) is on for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The authority that wrote the request (issuing state).
    Issuing,
    /// The authority asked to carry it out (executing state).
    Executing,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Issuing => "issuing",
            Side::Executing => "executing",
        }
    }

    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "issuing" => Some(Side::Issuing),
            "executing" => Some(Side::Executing),
            _ => None,
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Issuing => Side::Executing,
            Side::Executing => Side::Issuing,
        }
    }
}

/// One legal move: from, to, who may make it, and whether it stays on the issuing server.
struct Move(Status, Status, Side);

/// **The** transition table. A move is legal only if it is listed here.
const TABLE: &[Move] = {
    use Side::*;
    use Status::*;
    &[
        // The issuing side prepares the request; a judicial authority validates it.
        Move(Draft, Validated, Issuing),
        Move(Validated, Draft, Issuing), // to correct it: the validation is undone
        Move(Validated, Transmitted, Issuing),
        // The executing server acknowledges on arrival (Annex B), automatically.
        Move(Transmitted, Acknowledged, Executing),
        // The decision on recognition.
        Move(Acknowledged, Recognised, Executing),
        Move(Acknowledged, InfoRequested, Executing),
        Move(Acknowledged, DifferentMeasureProposed, Executing),
        Move(Acknowledged, Postponed, Executing),
        Move(Acknowledged, Refused, Executing),
        Move(InfoRequested, InfoProvided, Issuing),
        Move(InfoProvided, Recognised, Executing),
        Move(InfoProvided, InfoRequested, Executing),
        Move(InfoProvided, DifferentMeasureProposed, Executing),
        Move(InfoProvided, Refused, Executing),
        Move(DifferentMeasureProposed, InfoProvided, Issuing), // the issuing side answers
        Move(DifferentMeasureProposed, Recognised, Executing),
        Move(DifferentMeasureProposed, Refused, Executing),
        // Execution.
        Move(Recognised, InExecution, Executing),
        Move(Recognised, Postponed, Executing),
        Move(Recognised, InfoRequested, Executing),
        Move(Postponed, Recognised, Executing),
        Move(Postponed, InExecution, Executing),
        Move(Postponed, Refused, Executing),
        Move(InExecution, EvidenceTransmitted, Executing),
        Move(InExecution, Executed, Executing),
        Move(InExecution, PartiallyExecuted, Executing),
        Move(InExecution, Postponed, Executing),
        Move(InExecution, InfoRequested, Executing),
        Move(EvidenceTransmitted, EvidenceTransmitted, Executing), // more evidence
        Move(EvidenceTransmitted, Executed, Executing),
        Move(EvidenceTransmitted, PartiallyExecuted, Executing),
        Move(Executed, EvidenceTransmitted, Executing), // evidence sent after the last measure
        Move(PartiallyExecuted, EvidenceTransmitted, Executing),
        // The issuing side may withdraw at any point before the end.
        Move(Transmitted, Withdrawn, Issuing),
        Move(Acknowledged, Withdrawn, Issuing),
        Move(Recognised, Withdrawn, Issuing),
        Move(InExecution, Withdrawn, Issuing),
        Move(InfoRequested, Withdrawn, Issuing),
        Move(InfoProvided, Withdrawn, Issuing),
        Move(DifferentMeasureProposed, Withdrawn, Issuing),
        Move(Postponed, Withdrawn, Issuing),
        Move(EvidenceTransmitted, Withdrawn, Issuing),
        // The issuing side closes the file once the matter is over.
        Move(Executed, Closed, Issuing),
        Move(PartiallyExecuted, Closed, Issuing),
        Move(Refused, Closed, Issuing),
        Move(Withdrawn, Closed, Issuing),
        Move(EvidenceTransmitted, Closed, Issuing),
    ]
};

/// The statuses `side` may move a request to from `from`.
pub fn legal_next(from: Status, side: Side) -> Vec<Status> {
    TABLE
        .iter()
        .filter(|m| m.0 == from && m.2 == side)
        .map(|m| m.1)
        .collect()
}

/// Whether a move stays on the issuing server (is never sent to the other side).
pub fn is_local(from: Status, to: Status) -> bool {
    matches!(
        (from, to),
        (Status::Draft, Status::Validated) | (Status::Validated, Status::Draft)
    )
}

/// A move the table does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {} side cannot move a request from {} to {}", side.as_str(), from.as_str(), to.as_str())]
pub struct IllegalTransition {
    pub from: Status,
    pub to: Status,
    pub side: Side,
    /// What this side could do instead.
    pub legal: Vec<Status>,
}

/// Checks one move against the table.
///
/// # Errors
/// [`IllegalTransition`] with the legal next states for that side.
pub fn transition(from: Status, to: Status, side: Side) -> Result<Status, IllegalTransition> {
    if TABLE
        .iter()
        .any(|m| m.0 == from && m.1 == to && m.2 == side)
    {
        Ok(to)
    } else {
        Err(IllegalTransition {
            from,
            to,
            side,
            legal: legal_next(from, side),
        })
    }
}

/// Whether a status ends the request's active life (its deadlines stop running).
pub fn is_finished(s: Status) -> bool {
    matches!(
        s,
        Status::Executed
            | Status::PartiallyExecuted
            | Status::Refused
            | Status::Withdrawn
            | Status::Closed
    )
}

// --- deadlines ---------------------------------------------------------------------------

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// Directive 2014/41/EU: acknowledgement (Art. 16(1), Annex B) within 7 days of receipt.
pub const EIO_ACKNOWLEDGE: i64 = 7 * DAY;
/// Art. 12(3): decision on recognition within 30 days of receipt…
pub const EIO_RECOGNISE: i64 = 30 * DAY;
/// …extendable once by at most 30 days, with reasons (Art. 12(5)).
pub const EIO_RECOGNISE_EXTENSION: i64 = 30 * DAY;
/// Art. 12(4): execution within 90 days of the decision on recognition.
pub const EIO_EXECUTE: i64 = 90 * DAY;
/// Urgent requests (Annex A section B): hour-level deadlines.
pub const URGENT_ACKNOWLEDGE: i64 = 24 * HOUR;
pub const URGENT_RECOGNISE: i64 = 72 * HOUR;
pub const URGENT_EXECUTE: i64 = 10 * DAY;

/// The kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A European Investigation Order (Directive 2014/41/EU, Annex A).
    Eio,
    /// A request for mutual legal assistance under another instrument (a convention, a treaty).
    Mla,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Eio => "eio",
            Kind::Mla => "mla",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "eio" => Some(Kind::Eio),
            "mla" => Some(Kind::Mla),
            _ => None,
        }
    }
}

/// The dates a request's deadlines are computed from (Unix seconds).
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    pub received_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub recognised_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub extended_at: Option<i64>,
    pub requested_date: Option<i64>,
}

/// Where a deadline stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    /// Still open, not yet past.
    Running,
    /// Met in time.
    Met,
    /// Met, but late.
    MetLate,
    /// Past and not met.
    Lapsed,
    /// No longer relevant (the request was refused, withdrawn…).
    Stopped,
}

/// One statutory deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deadline {
    /// `acknowledgement`, `recognition`, `execution`, or `requested_date`.
    pub name: &'static str,
    pub due_at: i64,
    pub state: DeadlineState,
    pub met_at: Option<i64>,
    /// When an "approaching" notice should go out.
    pub warn_at: i64,
}

/// The running and past deadlines of a request, as of `now`.
pub fn deadlines(
    kind: Kind,
    urgent: bool,
    status: Status,
    t: &Timeline,
    now: i64,
) -> Vec<Deadline> {
    let stopped = matches!(status, Status::Refused | Status::Withdrawn | Status::Closed);
    let make = |name: &'static str, start: i64, span: i64, met: Option<i64>| {
        let due_at = start.saturating_add(span);
        // Warn a fifth of the span ahead, at most two days and at least one hour.
        let warn_at = due_at - (span / 5).clamp(HOUR, 2 * DAY);
        let state = match met {
            Some(m) if m <= due_at => DeadlineState::Met,
            Some(_) => DeadlineState::MetLate,
            None if stopped => DeadlineState::Stopped,
            None if now > due_at => DeadlineState::Lapsed,
            None => DeadlineState::Running,
        };
        Deadline {
            name,
            due_at,
            state,
            met_at: met,
            warn_at,
        }
    };
    let mut out = Vec::new();
    match kind {
        Kind::Eio => {
            let Some(received) = t.received_at else {
                return out;
            };
            let (ack, rec, exe) = if urgent {
                (URGENT_ACKNOWLEDGE, URGENT_RECOGNISE, URGENT_EXECUTE)
            } else {
                (EIO_ACKNOWLEDGE, EIO_RECOGNISE, EIO_EXECUTE)
            };
            out.push(make("acknowledgement", received, ack, t.acknowledged_at));
            let extension = if t.extended_at.is_some() {
                if urgent { rec } else { EIO_RECOGNISE_EXTENSION }
            } else {
                0
            };
            // A refusal is a decision on recognition too.
            let decided = t.recognised_at.or(if status == Status::Refused {
                t.finished_at
            } else {
                None
            });
            out.push(make("recognition", received, rec + extension, decided));
            if let Some(recognised) = t.recognised_at {
                let done = t.finished_at.filter(|_| {
                    matches!(
                        status,
                        Status::Executed | Status::PartiallyExecuted | Status::Closed
                    )
                });
                out.push(make("execution", recognised, exe, done));
            }
        }
        Kind::Mla => {
            if let (Some(received), Some(date)) = (t.received_at, t.requested_date) {
                let done = t.finished_at.filter(|_| {
                    matches!(
                        status,
                        Status::Executed | Status::PartiallyExecuted | Status::Closed
                    )
                });
                out.push(make(
                    "requested_date",
                    received,
                    date.saturating_sub(received).max(0),
                    done,
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(Status::parse("draft"), None);
    }

    #[test]
    fn the_story_of_an_eio_is_legal_and_each_step_belongs_to_one_side() {
        use Side::*;
        use Status::*;
        let story = [
            (Draft, Validated, Issuing),
            (Validated, Transmitted, Issuing),
            (Transmitted, Acknowledged, Executing),
            (Acknowledged, InfoRequested, Executing),
            (InfoRequested, InfoProvided, Issuing),
            (InfoProvided, Recognised, Executing),
            (Recognised, InExecution, Executing),
            (InExecution, EvidenceTransmitted, Executing),
            (EvidenceTransmitted, Executed, Executing),
            (Executed, Closed, Issuing),
        ];
        for (from, to, side) in story {
            assert_eq!(transition(from, to, side), Ok(to));
            let e = transition(from, to, side.other()).unwrap_err();
            assert!(!e.legal.contains(&to), "{from:?}->{to:?} by the other side");
        }
    }

    #[test]
    fn refused_moves_name_the_legal_ones() {
        let e = transition(Status::Draft, Status::Transmitted, Side::Issuing).unwrap_err();
        assert_eq!(e.legal, vec![Status::Validated]);
        assert!(e.to_string().contains("DRAFT"));
        // Closed is final for everyone.
        for s in [Side::Issuing, Side::Executing] {
            assert!(legal_next(Status::Closed, s).is_empty());
        }
        // Nobody but the issuing side withdraws; nothing returns to DRAFT after transmission.
        for from in Status::ALL {
            assert!(transition(from, Status::Withdrawn, Side::Executing).is_err());
            if from != Status::Validated {
                for side in [Side::Issuing, Side::Executing] {
                    assert!(transition(from, Status::Draft, side).is_err());
                }
            }
        }
    }

    #[test]
    fn eio_deadlines_follow_the_directive() {
        let t = Timeline {
            received_at: Some(1_000),
            ..Timeline::default()
        };
        let d = deadlines(Kind::Eio, false, Status::Transmitted, &t, 1_000);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].name, "acknowledgement");
        assert_eq!(d[0].due_at, 1_000 + 7 * DAY);
        assert_eq!(d[1].due_at, 1_000 + 30 * DAY);
        assert!(d.iter().all(|x| x.state == DeadlineState::Running));
        // Lapsed after the due date.
        let late = deadlines(Kind::Eio, false, Status::Transmitted, &t, 1_000 + 8 * DAY);
        assert_eq!(late[0].state, DeadlineState::Lapsed);
        assert!(late[0].warn_at < late[0].due_at);
        // Extension once: +30 days.
        let ext = Timeline {
            extended_at: Some(2_000),
            ..t.clone()
        };
        let d = deadlines(Kind::Eio, false, Status::Acknowledged, &ext, 1_000);
        assert_eq!(d[1].due_at, 1_000 + 60 * DAY);
        // Recognised: execution runs 90 days from recognition.
        let rec = Timeline {
            acknowledged_at: Some(1_500),
            recognised_at: Some(5_000),
            ..t.clone()
        };
        let d = deadlines(Kind::Eio, false, Status::Recognised, &rec, 6_000);
        assert_eq!(d[0].state, DeadlineState::Met);
        assert_eq!(d[1].state, DeadlineState::Met);
        assert_eq!(d[2].due_at, 5_000 + 90 * DAY);
        // Urgent: hours.
        let d = deadlines(Kind::Eio, true, Status::Transmitted, &t, 1_000);
        assert_eq!(d[0].due_at, 1_000 + 24 * HOUR);
        // A withdrawn request's deadlines stop.
        let d = deadlines(Kind::Eio, false, Status::Withdrawn, &t, 1_000 + 100 * DAY);
        assert!(d.iter().all(|x| x.state == DeadlineState::Stopped));
    }

    #[test]
    fn a_generic_request_runs_to_its_requested_date() {
        let t = Timeline {
            received_at: Some(100),
            requested_date: Some(100 + 10 * DAY),
            ..Timeline::default()
        };
        let d = deadlines(Kind::Mla, false, Status::Acknowledged, &t, 200);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].due_at, 100 + 10 * DAY);
    }
}
