//! Authorization: the one place that decides who may do what.
//!
//! Every handler names the [`Action`] it is about to perform and asks [`authorize`]; the answer is a
//! [`Permit`] (a zero-sized proof that the question was asked and answered yes) or a [`Denial`] that
//! the HTTP layer turns into 401 or 403. Deny by default: an action not listed in [`decide`] for a
//! subject is refused. The whole table is tested exhaustively below and, over HTTPS, by
//! `tests/tests/authorization.rs` as every role and as nobody.

use std::fmt;

use serde::{Deserialize, Serialize};

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
}

impl Action {
    pub const ALL: [Action; 16] = [
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
    ];
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
        ProbeHealth | RedeemOneTimeLink | SignIn | RequestTimestamp
    ) {
        return Ok(());
    }
    match subject {
        Subject::Anonymous => Err(Denial::Unauthenticated),
        Subject::Authority { .. } => match action {
            FederationWhoAmI | ReadAuditCheckpoint | SubmitPeerCheckpoint => Ok(()),
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
            match action {
                ViewOwnAccount => Ok(()),
                SignOut | EnrolTotp | ManageOwnApiTokens if interactive => Ok(()),
                ReadMetrics | ListUsers | ReadAuditLog | ReadAuditCheckpoint if admin => Ok(()),
                // Changing accounts or whom we trust needs a person at a browser, not a token.
                ManageUsers | ManageAuthorities if admin && interactive => Ok(()),
                _ => Err(Denial::Forbidden),
            }
        }
    }
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
        let open = [ProbeHealth, RedeemOneTimeLink, SignIn, RequestTimestamp];
        if open.contains(&action) {
            return Ok(());
        }
        match subject {
            Subject::Anonymous => Err(Denial::Unauthenticated),
            Subject::Authority { .. } => {
                if [FederationWhoAmI, ReadAuditCheckpoint, SubmitPeerCheckpoint].contains(&action) {
                    Ok(())
                } else {
                    Err(Denial::Forbidden)
                }
            }
            Subject::User {
                roles, credential, ..
            } => {
                let admin = roles.contains(&Role::Administrator);
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
                        _ => false,
                    },
                    Credential::ApiToken => match action {
                        ViewOwnAccount => true,
                        ReadMetrics | ListUsers | ReadAuditLog | ReadAuditCheckpoint => admin,
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
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("Judge"), None);
    }
}
