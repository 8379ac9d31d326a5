//! Authorization: the one place that decides who may do what.
//!
//! Every handler names the [`Action`] it is about to perform and asks [`authorize`]; the answer is a
//! [`Permit`] (a zero-sized proof that the question was asked and answered yes) or a [`Denial`] that
//! the HTTP layer turns into 401 or 403. Deny by default: an action not listed in [`decide`] for a
//! subject is refused. The whole table is tested exhaustively below and, over HTTPS, by
//! `tests/tests/authorization.rs` as every role and as nobody.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mla::workflow::Side;
use crate::sfu::room::{HearingRole, RoleSet};

/// A server-wide role held by a user account. Hearing-scoped roles (witness, counsel…) are not
/// account roles: they belong to a participant in one hearing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages accounts, authorities and the server itself; sees no case content by virtue of this.
    Administrator,
    /// Presides over hearings.
    Judge,
    /// Books hearings and assists the judge.
    Clerk,
    /// An officer of a central or competent authority handling MLA requests.
    Officer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Administrator, Role::Judge, Role::Clerk, Role::Officer];

    /// The stable name stored in the database and used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Judge => "judge",
            Role::Clerk => "clerk",
            Role::Officer => "officer",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a user proved who they are on this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser session that passed every factor it needs.
    Session,
    /// A browser session that passed the password but must still enrol a TOTP second factor.
    SessionAwaitingTotpEnrolment,
    /// A machine's API token (Bearer).
    ApiToken,
}

/// Who is asking.
#[derive(Clone, Debug)]
pub enum Subject {
    /// No credential at all (or one that did not check out).
    Anonymous,
    /// A signed-in user.
    User {
        user_id: String,
        roles: Vec<Role>,
        credential: Credential,
    },
    /// Another state's server, identified by its mutual-TLS client certificate.
    Authority { authority_id: String },
    /// Someone without an account who redeemed an invitation: a participant of exactly one
    /// hearing, in one role, and nothing else.
    HearingParticipant {
        hearing_id: String,
        participant_id: String,
        role: HearingRole,
    },
}

impl Subject {
    fn has_role(&self, role: Role) -> bool {
        matches!(self, Subject::User { roles, .. } if roles.contains(&role))
    }
}

/// Everything a request can ask to do. Each endpoint maps to exactly one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Liveness and readiness probes.
    ProbeHealth,
    /// Prometheus metrics (operational data: administrators and their machines).
    ReadMetrics,
    /// Create the first administrator with the one-time setup link, or set a password with a
    /// one-time link: the link itself is the credential.
    RedeemOneTimeLink,
    /// Sign in with a password (and TOTP).
    SignIn,
    /// See one's own account and session.
    ViewOwnAccount,
    /// Sign out.
    SignOut,
    /// Enrol a TOTP second factor for one's own account.
    EnrolTotp,
    /// List, create and revoke one's own API tokens (interactive sessions only).
    ManageOwnApiTokens,
    /// List user accounts.
    ListUsers,
    /// Create accounts, disable them, reset their second factor.
    ManageUsers,
    /// List and register other states' authorities and their certificates.
    ManageAuthorities,
    /// Server-to-server: ask who the calling authority is taken to be.
    FederationWhoAmI,
    /// RFC 3161: get a time-stamp token (any client, as a public TSA serves).
    RequestTimestamp,
    /// Read audit entries and their inclusion proofs (itself an audited action).
    ReadAuditLog,
    /// Read the latest signed checkpoint and consistency proofs (administrators and peers).
    ReadAuditCheckpoint,
    /// Server-to-server: hand us a peer's latest checkpoint to keep as evidence.
    SubmitPeerCheckpoint,
    /// Book a hearing (court staff: judges and clerks; also by API token, for case management).
    BookHearing,
    /// List hearings and read one (court staff).
    ViewHearings,
    /// Assign accounts to a hearing, invite external participants, list and revoke invitations
    /// (judge or clerk **of that hearing**).
    ManageHearingParticipants,
    /// Open a hearing's waiting room (judge or clerk of that hearing, at a browser).
    OpenHearing,
    /// Conduct a hearing: start, resume, adjourn, close; admit, call, send back, remove; mute and
    /// lock microphones, cameras, screens (the judge of that hearing, at a browser).
    ConductHearing,
    /// Interrupt (pause) a hearing: its judge, or the remote official attending under an MLA
    /// request.
    InterruptHearing,
    /// Start and stop recording a hearing (the judge of that hearing, at a browser).
    RecordHearing,
    /// Download a hearing's sealed recording as an ASiC-E package (judge or clerk of that
    /// hearing; also by API token, for case-management systems).
    ExportHearingRecord,
    /// Download the court's encrypted original voice of a protected witness (a signed-in
    /// account at a browser whose role in that hearing **every** order in the stream names in
    /// `raw_to`: [`decide_original_voice`]). Never by token, never by invitation.
    DownloadOriginalVoice,
    /// Connect to a hearing's media (signaling): a participant of that hearing.
    JoinHearing,
    /// Read one's own situation in a hearing: one's role and pseudonym, one's protective order,
    /// whether it is recorded, and the others as the room may show them (a participant of that
    /// hearing, like joining it).
    ViewOwnParticipation,
    /// Redeem a hearing invitation: the link itself is the credential.
    RedeemHearingInvitation,
    /// Read the directory of authorities (everyone with an account: officers pick recipients).
    ViewDirectory,
    /// List and read MLA requests **of the caller's own authority** (officers and judges acting
    /// for it; also by API token, for case-management systems).
    ViewMlaRequests,
    /// Draft an MLA request or EIO, edit the draft, add attachments (officers of the authority;
    /// also by API token).
    DraftMlaRequest,
    /// Validate a draft: the judicial authority's signature (a judge of the authority, at a
    /// browser).
    ValidateMlaRequest,
    /// Move a request on: transmit, acknowledge, recognise, ask for information, execute,
    /// withdraw, extend a deadline… (an officer of the authority, at a browser).
    ActOnMlaRequest,
    /// Download a request's evidence package (officers and judges of the authority).
    ExportMlaEvidence,
    /// Return a closed hearing's sealed record as evidence in a request being executed: export
    /// it, attach it and move the request to EVIDENCE_TRANSMITTED (an officer of the
    /// **executing** authority, at a browser; the court's judge or clerk may export the record
    /// but not transmit it).
    TransmitHearingRecord,
    /// Server-to-server: deliver a sealed MLA message (the other state's server, by mutual TLS).
    DeliverMlaMessage,
}

impl Action {
    pub const ALL: [Action; 36] = [
        Action::ProbeHealth,
        Action::ReadMetrics,
        Action::RedeemOneTimeLink,
        Action::SignIn,
        Action::ViewOwnAccount,
        Action::SignOut,
        Action::EnrolTotp,
        Action::ManageOwnApiTokens,
        Action::ListUsers,
        Action::ManageUsers,
        Action::ManageAuthorities,
        Action::FederationWhoAmI,
        Action::RequestTimestamp,
        Action::ReadAuditLog,
        Action::ReadAuditCheckpoint,
        Action::SubmitPeerCheckpoint,
        Action::BookHearing,
        Action::ViewHearings,
        Action::ManageHearingParticipants,
        Action::OpenHearing,
        Action::ConductHearing,
        Action::InterruptHearing,
        Action::RecordHearing,
        Action::ExportHearingRecord,
        Action::DownloadOriginalVoice,
        Action::JoinHearing,
        Action::ViewOwnParticipation,
        Action::RedeemHearingInvitation,
        Action::ViewDirectory,
        Action::ViewMlaRequests,
        Action::DraftMlaRequest,
        Action::ValidateMlaRequest,
        Action::ActOnMlaRequest,
        Action::ExportMlaEvidence,
        Action::TransmitHearingRecord,
        Action::DeliverMlaMessage,
    ];

    /// Whether the action concerns one hearing, so that the caller's standing in that hearing
    /// ([`decide_in_hearing`]) must also allow it.
    pub fn is_hearing_scoped(self) -> bool {
        matches!(
            self,
            Action::ManageHearingParticipants
                | Action::OpenHearing
                | Action::ConductHearing
                | Action::InterruptHearing
                | Action::RecordHearing
                | Action::ExportHearingRecord
                | Action::DownloadOriginalVoice
                | Action::JoinHearing
                | Action::ViewOwnParticipation
        )
    }

    /// Whether the action concerns one MLA request, so that the caller must also act for one of
    /// its two authorities ([`decide_for_request`]).
    pub fn is_request_scoped(self) -> bool {
        matches!(
            self,
            Action::ViewMlaRequests
                | Action::DraftMlaRequest
                | Action::ValidateMlaRequest
                | Action::ActOnMlaRequest
                | Action::ExportMlaEvidence
                | Action::TransmitHearingRecord
        )
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No usable credential: sign in (401).
    Unauthenticated,
    /// Signed in, but the TOTP second factor must be enrolled first (403).
    TotpEnrolmentRequired,
    /// Signed in, but this subject may not do this (403).
    Forbidden,
}

/// Proof that [`authorize`] allowed an action. Cannot be built outside this module.
// A private field rather than `#[non_exhaustive]`: the latter only stops other crates, this stops
// every module but this one.
#[allow(clippy::manual_non_exhaustive)]
#[derive(Debug)]
#[must_use]
pub struct Permit {
    pub action: Action,
    _private: (),
}

/// The yes/no table. Pure: no IO, no clock.
pub fn decide(subject: &Subject, action: Action) -> Result<(), Denial> {
    use Action::*;
    // Open to everyone, including machines without credentials.
    if matches!(
        action,
        ProbeHealth | RedeemOneTimeLink | SignIn | RequestTimestamp | RedeemHearingInvitation
    ) {
        return Ok(());
    }
    match subject {
        Subject::Anonymous => Err(Denial::Unauthenticated),
        Subject::Authority { .. } => match action {
            FederationWhoAmI | ReadAuditCheckpoint | SubmitPeerCheckpoint | DeliverMlaMessage => {
                Ok(())
            }
            _ => Err(Denial::Forbidden),
        },
        // An invitation holder: join its hearing and read its own place in it; a remote official
        // may also interrupt it.
        Subject::HearingParticipant { role, .. } => match action {
            JoinHearing | ViewOwnParticipation => Ok(()),
            InterruptHearing if *role == HearingRole::RemoteOfficial => Ok(()),
            _ => Err(Denial::Forbidden),
        },
        Subject::User { credential, .. } => {
            // A half-signed-in session may only finish enrolling or leave.
            if *credential == Credential::SessionAwaitingTotpEnrolment {
                return match action {
                    ViewOwnAccount | SignOut | EnrolTotp => Ok(()),
                    _ => Err(Denial::TotpEnrolmentRequired),
                };
            }
            let interactive = *credential == Credential::Session;
            let admin = subject.has_role(Role::Administrator);
            let judge = subject.has_role(Role::Judge);
            let staff = judge || subject.has_role(Role::Clerk);
            let officer = subject.has_role(Role::Officer);
            match action {
                ViewOwnAccount | ViewDirectory => Ok(()),
                SignOut | EnrolTotp | ManageOwnApiTokens if interactive => Ok(()),
                ReadMetrics | ListUsers | ReadAuditLog | ReadAuditCheckpoint if admin => Ok(()),
                // Changing accounts or whom we trust needs a person at a browser, not a token.
                ManageUsers | ManageAuthorities if admin && interactive => Ok(()),
                // Bookings and invitations may come from a case-management system's token…
                BookHearing | ViewHearings | ManageHearingParticipants | ExportHearingRecord
                    if staff =>
                {
                    Ok(())
                }
                // …but running a hearing needs a person at a browser.
                OpenHearing | JoinHearing | ViewOwnParticipation if staff && interactive => Ok(()),
                ConductHearing | InterruptHearing | RecordHearing if judge && interactive => Ok(()),
                // Whoever the order names, but a person at a browser (the hearing and the
                // stream decide the rest).
                DownloadOriginalVoice if interactive => Ok(()),
                // MLA: officers handle requests; a judge validates them and may read them.
                ViewMlaRequests | ExportMlaEvidence if officer || judge => Ok(()),
                DraftMlaRequest if officer => Ok(()),
                ActOnMlaRequest | TransmitHearingRecord if officer && interactive => Ok(()),
                ValidateMlaRequest if judge && interactive => Ok(()),
                _ => Err(Denial::Forbidden),
            }
        }
    }
}

/// The second half of the table, for hearing-scoped actions ([`Action::is_hearing_scoped`]):
/// what the caller's role **in this hearing** (`standing`, `None` when they take no part in it)
/// allows. Pure. Actions that are not hearing-scoped pass.
pub fn decide_in_hearing(standing: Option<HearingRole>, action: Action) -> Result<(), Denial> {
    use Action::*;
    use HearingRole::*;
    if !action.is_hearing_scoped() {
        return Ok(());
    }
    let allowed = match (action, standing) {
        (_, None) => false,
        (ManageHearingParticipants | OpenHearing, Some(r)) => matches!(r, Judge | Clerk),
        (ConductHearing | RecordHearing, Some(r)) => r == Judge,
        (ExportHearingRecord, Some(r)) => matches!(r, Judge | Clerk),
        // Anyone taking part, so far: the stream's own audience decides
        // ([`decide_original_voice`]).
        (DownloadOriginalVoice, Some(_)) => true,
        (InterruptHearing, Some(r)) => matches!(r, Judge | RemoteOfficial),
        (JoinHearing | ViewOwnParticipation, Some(_)) => true,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// The second half of the table for request-scoped actions ([`Action::is_request_scoped`]):
/// which of the request's two authorities the caller acts for (`party`: `None` when neither).
/// Pure. Nobody else learns anything about a request, not even that it exists; returning a
/// hearing's record as evidence is for the executing authority only.
pub fn decide_for_request(party: Option<Side>, action: Action) -> Result<(), Denial> {
    if !action.is_request_scoped() {
        return Ok(());
    }
    let allowed = match (action, party) {
        (_, None) => false,
        (Action::TransmitHearingRecord, Some(side)) => side == Side::Executing,
        (_, Some(_)) => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// Asks both halves of the table for a request-scoped action.
///
/// # Errors
/// The [`Denial`] saying why not.
pub fn authorize_for_request(
    subject: &Subject,
    party: Option<Side>,
    action: Action,
) -> Result<Permit, Denial> {
    decide(subject, action)?;
    decide_for_request(party, action)?;
    Ok(Permit {
        action,
        _private: (),
    })
}

/// Asks both halves of the table for a hearing-scoped action: the account-level [`decide`] and
/// then [`decide_in_hearing`] with the caller's standing in that hearing.
///
/// # Errors
/// The [`Denial`] saying why not.
pub fn authorize_in_hearing(
    subject: &Subject,
    standing: Option<HearingRole>,
    action: Action,
) -> Result<Permit, Denial> {
    decide(subject, action)?;
    decide_in_hearing(standing, action)?;
    Ok(Permit {
        action,
        _private: (),
    })
}

/// The third half, for [`Action::DownloadOriginalVoice`]: may a participant standing in the
/// hearing as `standing` read an original-voice stream whose `audience` (the roles every order
/// in it names) is given? Pure.
pub fn decide_original_voice(
    standing: Option<HearingRole>,
    audience: RoleSet,
) -> Result<(), Denial> {
    match standing {
        Some(role) if audience.contains(role) => Ok(()),
        _ => Err(Denial::Forbidden),
    }
}

/// All three halves for the court's original voice: the account table, the caller's standing
/// in the hearing, and the stream's audience.
///
/// # Errors
/// The [`Denial`] saying why not.
pub fn authorize_original_voice(
    subject: &Subject,
    standing: Option<HearingRole>,
    audience: RoleSet,
) -> Result<Permit, Denial> {
    let action = Action::DownloadOriginalVoice;
    decide(subject, action)?;
    decide_in_hearing(standing, action)?;
    decide_original_voice(standing, audience)?;
    Ok(Permit {
        action,
        _private: (),
    })
}

/// Asks the table; on yes returns the proof handlers need.
///
/// # Errors
/// The [`Denial`] saying why not.
pub fn authorize(subject: &Subject, action: Action) -> Result<Permit, Denial> {
    decide(subject, action).map(|()| Permit {
        action,
        _private: (),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn user(roles: &[Role], credential: Credential) -> Subject {
        Subject::User {
            user_id: "u".into(),
            roles: roles.to_vec(),
            credential,
        }
    }

    /// The expected answer for every action, written out independently of `decide`.
    fn expected(subject: &Subject, action: Action) -> Result<(), Denial> {
        let open = [
            ProbeHealth,
            RedeemOneTimeLink,
            SignIn,
            RequestTimestamp,
            RedeemHearingInvitation,
        ];
        if open.contains(&action) {
            return Ok(());
        }
        match subject {
            Subject::Anonymous => Err(Denial::Unauthenticated),
            Subject::Authority { .. } => {
                if [
                    FederationWhoAmI,
                    ReadAuditCheckpoint,
                    SubmitPeerCheckpoint,
                    DeliverMlaMessage,
                ]
                .contains(&action)
                {
                    Ok(())
                } else {
                    Err(Denial::Forbidden)
                }
            }
            Subject::HearingParticipant { role, .. } => {
                if action == JoinHearing
                    || action == ViewOwnParticipation
                    || (action == InterruptHearing && *role == HearingRole::RemoteOfficial)
                {
                    Ok(())
                } else {
                    Err(Denial::Forbidden)
                }
            }
            Subject::User {
                roles, credential, ..
            } => {
                let admin = roles.contains(&Role::Administrator);
                let judge = roles.contains(&Role::Judge);
                let staff = judge || roles.contains(&Role::Clerk);
                let officer = roles.contains(&Role::Officer);
                let allowed = match credential {
                    Credential::SessionAwaitingTotpEnrolment => {
                        return if [ViewOwnAccount, SignOut, EnrolTotp].contains(&action) {
                            Ok(())
                        } else {
                            Err(Denial::TotpEnrolmentRequired)
                        };
                    }
                    Credential::Session => match action {
                        ViewOwnAccount | SignOut | EnrolTotp | ManageOwnApiTokens => true,
                        ReadMetrics | ListUsers | ManageAuthorities | ManageUsers => admin,
                        ReadAuditLog | ReadAuditCheckpoint => admin,
                        BookHearing | ViewHearings | ManageHearingParticipants => staff,
                        ExportHearingRecord => staff,
                        OpenHearing | JoinHearing | ViewOwnParticipation => staff,
                        ConductHearing | InterruptHearing | RecordHearing => judge,
                        DownloadOriginalVoice => true,
                        ViewDirectory => true,
                        ViewMlaRequests | ExportMlaEvidence => officer || judge,
                        DraftMlaRequest | ActOnMlaRequest | TransmitHearingRecord => officer,
                        ValidateMlaRequest => judge,
                        _ => false,
                    },
                    Credential::ApiToken => match action {
                        ViewOwnAccount => true,
                        ReadMetrics | ListUsers | ReadAuditLog | ReadAuditCheckpoint => admin,
                        BookHearing | ViewHearings | ManageHearingParticipants => staff,
                        ExportHearingRecord => staff,
                        ViewDirectory => true,
                        ViewMlaRequests | ExportMlaEvidence => officer || judge,
                        DraftMlaRequest => officer,
                        _ => false,
                    },
                };
                if allowed {
                    Ok(())
                } else {
                    Err(Denial::Forbidden)
                }
            }
        }
    }

    #[test]
    fn every_subject_and_action_matches_the_written_table() {
        let mut subjects = vec![
            Subject::Anonymous,
            Subject::Authority {
                authority_id: "a".into(),
            },
            user(&[], Credential::Session),
        ];
        for role in HearingRole::ALL {
            subjects.push(Subject::HearingParticipant {
                hearing_id: "h".into(),
                participant_id: "p".into(),
                role,
            });
        }
        for credential in [
            Credential::Session,
            Credential::SessionAwaitingTotpEnrolment,
            Credential::ApiToken,
        ] {
            for role in Role::ALL {
                subjects.push(user(&[role], credential));
            }
            subjects.push(user(&Role::ALL, credential));
        }
        let mut checked = 0;
        for s in &subjects {
            for a in Action::ALL {
                assert_eq!(decide(s, a), expected(s, a), "{s:?} {a:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, subjects.len() * Action::ALL.len());
    }

    #[test]
    fn only_administrators_manage_users_and_never_by_token() {
        for role in [Role::Judge, Role::Clerk, Role::Officer] {
            assert_eq!(
                decide(&user(&[role], Credential::Session), ManageUsers),
                Err(Denial::Forbidden)
            );
        }
        assert!(
            decide(
                &user(&[Role::Administrator], Credential::Session),
                ManageUsers
            )
            .is_ok()
        );
        assert_eq!(
            decide(
                &user(&[Role::Administrator], Credential::ApiToken),
                ManageUsers
            ),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn standing_in_the_hearing_matches_the_written_table() {
        use HearingRole::*;
        for action in Action::ALL {
            for standing in HearingRole::ALL.map(Some).into_iter().chain([None]) {
                let expected = match action {
                    ManageHearingParticipants | OpenHearing => {
                        matches!(standing, Some(Judge | Clerk))
                    }
                    ConductHearing | RecordHearing => standing == Some(Judge),
                    ExportHearingRecord => matches!(standing, Some(Judge | Clerk)),
                    DownloadOriginalVoice => standing.is_some(),
                    InterruptHearing => matches!(standing, Some(Judge | RemoteOfficial)),
                    JoinHearing | ViewOwnParticipation => standing.is_some(),
                    _ => true,
                };
                assert_eq!(
                    decide_in_hearing(standing, action).is_ok(),
                    expected,
                    "{standing:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn the_original_voice_goes_only_to_a_person_at_a_browser_in_a_role_every_order_names() {
        use HearingRole::*;
        let audiences = [
            RoleSet(0),
            RoleSet::of(&[Judge]),
            RoleSet::of(&[Judge, Prosecutor]),
            RoleSet::ALL,
        ];
        let judge_session = user(&[Role::Judge], Credential::Session);
        let clerk_session = user(&[Role::Clerk], Credential::Session);
        let judge_token = user(&[Role::Judge], Credential::ApiToken);
        let invited = |role| Subject::HearingParticipant {
            hearing_id: "h".into(),
            participant_id: "p".into(),
            role,
        };
        for audience in audiences {
            for standing in HearingRole::ALL.map(Some).into_iter().chain([None]) {
                let named = standing.is_some_and(|r| audience.contains(r));
                for (subject, person_at_browser) in [
                    (&judge_session, true),
                    (&clerk_session, true),
                    (&judge_token, false),
                    (&Subject::Anonymous, false),
                ] {
                    assert_eq!(
                        authorize_original_voice(subject, standing, audience).is_ok(),
                        named && person_at_browser,
                        "{subject:?} {standing:?} {audience:?}"
                    );
                }
                // An invitation holder never: the court's original is for accounts.
                if let Some(role) = standing {
                    assert!(authorize_original_voice(&invited(role), standing, audience).is_err());
                }
            }
        }
    }

    #[test]
    fn a_clerk_account_cannot_conduct_even_if_named_judge_of_the_hearing() {
        let clerk = user(&[Role::Clerk], Credential::Session);
        assert_eq!(
            authorize_in_hearing(&clerk, Some(HearingRole::Judge), ConductHearing).unwrap_err(),
            Denial::Forbidden
        );
        let judge = user(&[Role::Judge], Credential::Session);
        assert!(authorize_in_hearing(&judge, Some(HearingRole::Judge), ConductHearing).is_ok());
        assert_eq!(
            authorize_in_hearing(&judge, None, ConductHearing).unwrap_err(),
            Denial::Forbidden
        );
    }

    #[test]
    fn only_parties_to_a_request_may_touch_it() {
        let officer = user(&[Role::Officer], Credential::Session);
        for action in Action::ALL {
            let scoped = [
                ViewMlaRequests,
                DraftMlaRequest,
                ValidateMlaRequest,
                ActOnMlaRequest,
                ExportMlaEvidence,
                TransmitHearingRecord,
            ]
            .contains(&action);
            assert_eq!(action.is_request_scoped(), scoped, "{action:?}");
            assert_eq!(decide_for_request(None, action).is_ok(), !scoped);
            assert!(decide_for_request(Some(Side::Executing), action).is_ok());
            // The issuing side may do everything but return a hearing record.
            assert_eq!(
                decide_for_request(Some(Side::Issuing), action).is_ok(),
                action != TransmitHearingRecord,
                "{action:?}"
            );
        }
        let party = Some(Side::Issuing);
        assert!(authorize_for_request(&officer, party, ActOnMlaRequest).is_ok());
        assert_eq!(
            authorize_for_request(&officer, None, ActOnMlaRequest).unwrap_err(),
            Denial::Forbidden
        );
        // An officer cannot validate; a judge cannot transmit.
        assert!(authorize_for_request(&officer, party, ValidateMlaRequest).is_err());
        let judge = user(&[Role::Judge], Credential::Session);
        assert!(authorize_for_request(&judge, party, ActOnMlaRequest).is_err());
        assert!(authorize_for_request(&judge, party, ValidateMlaRequest).is_ok());
    }

    #[test]
    fn only_an_officer_of_the_executing_authority_returns_a_hearing_record() {
        let executing = Some(Side::Executing);
        let officer = user(&[Role::Officer], Credential::Session);
        assert!(authorize_for_request(&officer, executing, TransmitHearingRecord).is_ok());
        // Not the issuing authority's officer, not by token, not the court's judge or clerk
        // (who may export the record), not an administrator.
        assert!(
            authorize_for_request(&officer, Some(Side::Issuing), TransmitHearingRecord).is_err()
        );
        let by_token = user(&[Role::Officer], Credential::ApiToken);
        assert!(authorize_for_request(&by_token, executing, TransmitHearingRecord).is_err());
        for role in [Role::Judge, Role::Clerk, Role::Administrator] {
            let staff = user(&[role], Credential::Session);
            assert!(authorize_for_request(&staff, executing, TransmitHearingRecord).is_err());
        }
        let clerk = user(&[Role::Clerk], Credential::Session);
        assert!(decide(&clerk, ExportHearingRecord).is_ok());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("Judge"), None);
    }
}
