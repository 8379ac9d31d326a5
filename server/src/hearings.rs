//! The hearings workflow: the procedural states a hearing moves through and **the** table of
//! legal moves, plus the wire names of states and hearing roles.
//!
//! Pure: no IO, no clock. The HTTP layer asks [`transition`] before it records a new state in
//! the database and in the SFU's room ([`crate::sfu::room::RoomState::set_state`]), so the one
//! table below is the only place that says which moves are legal.
//!
//! ```text
//! SCHEDULED ─open─▶ OPEN ─start─▶ IN_SESSION ◀─resume/pause─▶ PAUSED
//!                     │                │                          │
//!                     └──adjourn/close─┴────────adjourn/close─────┘
//!                                  ▼
//!              ADJOURNED (continues another day: ─open─▶ OPEN)   CLOSED (final)
//! ```

use crate::sfu::room::{HearingRole, HearingState};

/// The states a hearing may move to from `from`. **The** transition table.
pub fn legal_next(from: HearingState) -> &'static [HearingState] {
    use HearingState::*;
    match from {
        // The clerk or judge opens the waiting room.
        Scheduled => &[Open],
        // The judge starts the session, or ends the day before it started.
        Open => &[InSession, Adjourned, Closed],
        InSession => &[Paused, Adjourned, Closed],
        Paused => &[InSession, Adjourned, Closed],
        // An adjourned hearing continues another day: the waiting room opens again.
        Adjourned => &[Open],
        // Closed is final.
        Closed => &[],
    }
}

/// A move the table does not allow: what was asked, and what would have been legal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a hearing cannot go from {} to {}", state_name(*from), state_name(*to))]
pub struct IllegalTransition {
    pub from: HearingState,
    pub to: HearingState,
    pub legal: &'static [HearingState],
}

/// Checks one move against the table.
///
/// # Errors
/// [`IllegalTransition`] with the legal next states when `from → to` is not in the table.
pub fn transition(from: HearingState, to: HearingState) -> Result<HearingState, IllegalTransition> {
    let legal = legal_next(from);
    if legal.contains(&to) {
        Ok(to)
    } else {
        Err(IllegalTransition { from, to, legal })
    }
}

/// Whether participants may connect to the hearing's media (the waiting room is open).
pub fn accepts_connections(state: HearingState) -> bool {
    matches!(
        state,
        HearingState::Open | HearingState::InSession | HearingState::Paused
    )
}

/// A state's stable wire and database name.
pub fn state_name(state: HearingState) -> &'static str {
    match state {
        HearingState::Scheduled => "scheduled",
        HearingState::Open => "open",
        HearingState::InSession => "in_session",
        HearingState::Paused => "paused",
        HearingState::Adjourned => "adjourned",
        HearingState::Closed => "closed",
    }
}

/// Parses a state's wire name.
pub fn parse_state(name: &str) -> Option<HearingState> {
    HearingState::ALL
        .into_iter()
        .find(|s| state_name(*s) == name)
}

/// A hearing role's stable wire and database name (the inverse of
/// [`crate::sfu::signal::parse_role`]).
pub fn role_name(role: HearingRole) -> &'static str {
    match role {
        HearingRole::Judge => "judge",
        HearingRole::Clerk => "clerk",
        HearingRole::Prosecutor => "prosecutor",
        HearingRole::DefenceCounsel => "defence_counsel",
        HearingRole::Defendant => "defendant",
        HearingRole::Witness => "witness",
        HearingRole::Expert => "expert",
        HearingRole::Interpreter => "interpreter",
        HearingRole::Observer => "observer",
        HearingRole::RemoteOfficial => "remote_official",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HearingState::*;

    /// The table written out as (from, to) pairs, independently of `legal_next`.
    const LEGAL: &[(HearingState, HearingState)] = &[
        (Scheduled, Open),
        (Open, InSession),
        (Open, Adjourned),
        (Open, Closed),
        (InSession, Paused),
        (InSession, Adjourned),
        (InSession, Closed),
        (Paused, InSession),
        (Paused, Adjourned),
        (Paused, Closed),
        (Adjourned, Open),
    ];

    #[test]
    fn every_pair_of_states_matches_the_written_table() {
        let mut checked = 0;
        for from in HearingState::ALL {
            for to in HearingState::ALL {
                let expected = LEGAL.contains(&(from, to));
                match transition(from, to) {
                    Ok(s) => {
                        assert!(expected, "{from:?} → {to:?} must be refused");
                        assert_eq!(s, to);
                    }
                    Err(e) => {
                        assert!(!expected, "{from:?} → {to:?} must be allowed");
                        assert_eq!(e.legal, legal_next(from));
                        assert!(!e.legal.contains(&to));
                    }
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 36);
    }

    #[test]
    fn a_closed_hearing_goes_nowhere_and_nothing_skips_the_waiting_room() {
        assert!(legal_next(Closed).is_empty());
        assert!(transition(Scheduled, InSession).is_err());
        assert!(transition(Adjourned, InSession).is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in HearingState::ALL {
            assert_eq!(parse_state(state_name(s)), Some(s));
        }
        for r in HearingRole::ALL {
            assert_eq!(crate::sfu::signal::parse_role(role_name(r)), Some(r));
        }
        assert_eq!(parse_state("InSession"), None);
    }

    #[test]
    fn media_connections_only_while_the_waiting_room_is_open() {
        let open: Vec<_> = HearingState::ALL
            .into_iter()
            .filter(|s| accepts_connections(*s))
            .collect();
        assert_eq!(open, vec![Open, InSession, Paused]);
    }
}
