//! Hearings, their participants, invitations and the hearing-scoped sessions invitations become.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now};
use crate::hearings::{parse_state, role_name, state_name};
use crate::sfu::room::{HearingRole, HearingState};
use crate::sfu::signal::parse_role;

/// A booked hearing.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HearingRecord {
    pub id: String,
    pub case_reference: String,
    pub court: String,
    pub title: String,
    pub scheduled_at: i64,
    #[serde(serialize_with = "ser_state")]
    pub state: HearingState,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

fn ser_state<S: serde::Serializer>(s: &HearingState, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(state_name(*s))
}

fn ser_role<S: serde::Serializer>(r: &HearingRole, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(role_name(*r))
}

/// What is needed to book a hearing.
#[derive(Debug)]
pub struct NewHearing<'a> {
    pub case_reference: &'a str,
    pub court: &'a str,
    pub title: &'a str,
    pub scheduled_at: i64,
}

/// A party to one hearing.
#[derive(Clone, serde::Serialize)]
pub struct ParticipantRecord {
    pub id: String,
    pub hearing_id: String,
    pub user_id: Option<String>,
    #[serde(serialize_with = "ser_role")]
    pub role: HearingRole,
    /// What the court calls them in the hearing; never a protected witness's name.
    pub label: String,
    pub created_at: i64,
    pub removed_at: Option<i64>,
}

impl std::fmt::Debug for ParticipantRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParticipantRecord")
            .field("id", &self.id)
            .field("hearing_id", &self.hearing_id)
            .field("role", &self.role)
            .field("label", &"REDACTED")
            .finish_non_exhaustive()
    }
}

/// An invitation's public facts (never its token).
#[derive(Clone, Debug, serde::Serialize)]
pub struct InvitationRecord {
    pub id: String,
    pub hearing_id: String,
    pub participant_id: String,
    #[serde(serialize_with = "ser_role")]
    pub role: HearingRole,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A live hearing session (redeemed invitation) joined with its participant.
#[derive(Clone, Debug)]
pub struct HearingSessionRecord {
    pub hearing_id: String,
    pub participant: ParticipantRecord,
    pub expires_at: i64,
}

fn bad_value(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {column} {value:?} in the database").into())
}

fn hearing_from_row(r: &AnyRow) -> Result<HearingRecord, sqlx::Error> {
    let state: String = r.try_get("state")?;
    Ok(HearingRecord {
        id: r.try_get("id")?,
        case_reference: r.try_get("case_reference")?,
        court: r.try_get("court")?,
        title: r.try_get("title")?,
        scheduled_at: r.try_get("scheduled_at")?,
        state: parse_state(&state).ok_or_else(|| bad_value("state", &state))?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn participant_from_row(r: &AnyRow) -> Result<ParticipantRecord, sqlx::Error> {
    let role: String = r.try_get("p_role")?;
    Ok(ParticipantRecord {
        id: r.try_get("p_id")?,
        hearing_id: r.try_get("p_hearing_id")?,
        user_id: r.try_get("p_user_id")?,
        role: parse_role(&role).ok_or_else(|| bad_value("role", &role))?,
        label: r.try_get("p_label")?,
        created_at: r.try_get("p_created_at")?,
        removed_at: r.try_get("p_removed_at")?,
    })
}

fn invitation_from_row(r: &AnyRow) -> Result<InvitationRecord, sqlx::Error> {
    let role: String = r.try_get("p_role")?;
    Ok(InvitationRecord {
        id: r.try_get("id")?,
        hearing_id: r.try_get("hearing_id")?,
        participant_id: r.try_get("participant_id")?,
        role: parse_role(&role).ok_or_else(|| bad_value("role", &role))?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        redeemed_at: r.try_get("redeemed_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

macro_rules! hearing_columns {
    () => {
        "id, case_reference, court, title, scheduled_at, state, created_by, created_at, updated_at"
    };
}

macro_rules! participant_columns {
    () => {
        "p.id AS p_id, p.hearing_id AS p_hearing_id, p.user_id AS p_user_id, p.role AS p_role, \
         p.label AS p_label, p.created_at AS p_created_at, p.removed_at AS p_removed_at"
    };
}

macro_rules! invitation_columns {
    () => {
        "i.id, i.hearing_id, i.participant_id, i.created_by, i.created_at, i.expires_at, \
         i.redeemed_at, i.revoked_at, p.role AS p_role"
    };
}

impl Store {
    /// Books a hearing and makes its booker a participant (judge or clerk), in one transaction.
    ///
    /// # Errors
    /// On database failure.
    pub async fn create_hearing(
        &self,
        new: &NewHearing<'_>,
        booker_id: &str,
        booker_role: HearingRole,
        booker_label: &str,
    ) -> Result<HearingRecord, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let t = now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO hearings (id, case_reference, court, title, scheduled_at, state, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'scheduled', $6, $7, $7)",
        )
        .bind(&id)
        .bind(new.case_reference)
        .bind(new.court)
        .bind(new.title)
        .bind(new.scheduled_at)
        .bind(booker_id)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO hearing_participants (id, hearing_id, user_id, role, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(&id)
        .bind(booker_id)
        .bind(role_name(booker_role))
        .bind(booker_label)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.hearing(&id)
            .await?
            .ok_or(StoreError::NotFound("hearing"))
    }

    /// One hearing.
    ///
    /// # Errors
    /// On database failure.
    pub async fn hearing(&self, id: &str) -> Result<Option<HearingRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            hearing_columns!(),
            " FROM hearings WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(hearing_from_row).transpose()?)
    }

    /// The hearings booked under either case reference (leading and trailing spaces aside),
    /// by scheduled time: those an MLA request can return the record of.
    ///
    /// # Errors
    /// On database failure.
    pub async fn hearings_with_case_reference(
        &self,
        reference: &str,
        other: &str,
    ) -> Result<Vec<HearingRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            hearing_columns!(),
            " FROM hearings WHERE TRIM(case_reference) <> '' \
              AND (TRIM(case_reference) = $1 OR TRIM(case_reference) = $2) \
              ORDER BY scheduled_at, id"
        ))
        .bind(reference.trim())
        .bind(other.trim())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(hearing_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Every hearing, by scheduled time.
    ///
    /// # Errors
    /// On database failure.
    pub async fn list_hearings(&self) -> Result<Vec<HearingRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            hearing_columns!(),
            " FROM hearings ORDER BY scheduled_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(hearing_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Moves a hearing from `from` to `to`, only if it is still in `from` (so two concurrent
    /// moves cannot both succeed). Returns whether it moved.
    ///
    /// # Errors
    /// On database failure.
    pub async fn set_hearing_state(
        &self,
        id: &str,
        from: HearingState,
        to: HearingState,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE hearings SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4",
        )
        .bind(state_name(to))
        .bind(now())
        .bind(id)
        .bind(state_name(from))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds a participant (an account when `user_id` is set).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the account already takes part in this hearing.
    pub async fn add_participant(
        &self,
        hearing_id: &str,
        user_id: Option<&str>,
        role: HearingRole,
        label: &str,
    ) -> Result<ParticipantRecord, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query(
            "INSERT INTO hearing_participants (id, hearing_id, user_id, role, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(hearing_id)
        .bind(user_id)
        .bind(role_name(role))
        .bind(label)
        .bind(now())
        .execute(self.writer())
        .await
        .map_err(StoreError::conflict_on_unique("participant"))?;
        self.participant(hearing_id, &id)
            .await?
            .ok_or(StoreError::NotFound("participant"))
    }

    /// One participant of one hearing.
    ///
    /// # Errors
    /// On database failure.
    pub async fn participant(
        &self,
        hearing_id: &str,
        participant_id: &str,
    ) -> Result<Option<ParticipantRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            participant_columns!(),
            " FROM hearing_participants p WHERE p.hearing_id = $1 AND p.id = $2"
        ))
        .bind(hearing_id)
        .bind(participant_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(participant_from_row).transpose()?)
    }

    /// The account's participation in a hearing, if any (removed ones included).
    ///
    /// # Errors
    /// On database failure.
    pub async fn participant_by_account(
        &self,
        hearing_id: &str,
        user_id: &str,
    ) -> Result<Option<ParticipantRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            participant_columns!(),
            " FROM hearing_participants p WHERE p.hearing_id = $1 AND p.user_id = $2"
        ))
        .bind(hearing_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(participant_from_row).transpose()?)
    }

    /// A hearing's participants.
    ///
    /// # Errors
    /// On database failure.
    pub async fn participants(
        &self,
        hearing_id: &str,
    ) -> Result<Vec<ParticipantRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            participant_columns!(),
            " FROM hearing_participants p WHERE p.hearing_id = $1 ORDER BY p.created_at, p.id"
        ))
        .bind(hearing_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(participant_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The court dismissed a participant: marks them removed and ends their hearing sessions.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such participant in this hearing.
    pub async fn remove_participant(
        &self,
        hearing_id: &str,
        participant_id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE hearing_participants SET removed_at = $1 \
             WHERE hearing_id = $2 AND id = $3 AND removed_at IS NULL",
        )
        .bind(now())
        .bind(hearing_id)
        .bind(participant_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound("participant"));
        }
        sqlx::query("DELETE FROM hearing_sessions WHERE participant_id = $1")
            .bind(participant_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Invites someone without an account: a new participant and a single-use link for them,
    /// in one transaction. The caller keeps the token; only its hash is stored.
    ///
    /// # Errors
    /// On database failure.
    pub async fn create_invitation(
        &self,
        hearing_id: &str,
        role: HearingRole,
        label: &str,
        token_hash: &str,
        created_by: &str,
        expires_at: i64,
    ) -> Result<InvitationRecord, StoreError> {
        let t = now();
        let participant_id = uuid::Uuid::new_v4().simple().to_string();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO hearing_participants (id, hearing_id, user_id, role, label, created_at) \
             VALUES ($1, $2, NULL, $3, $4, $5)",
        )
        .bind(&participant_id)
        .bind(hearing_id)
        .bind(role_name(role))
        .bind(label)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO hearing_invitations (id, hearing_id, participant_id, token_hash, \
             created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(hearing_id)
        .bind(&participant_id)
        .bind(token_hash)
        .bind(created_by)
        .bind(t)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(InvitationRecord {
            id,
            hearing_id: hearing_id.into(),
            participant_id,
            role,
            created_by: created_by.into(),
            created_at: t,
            expires_at,
            redeemed_at: None,
            revoked_at: None,
        })
    }

    /// A new link for the person of invitation `invitation_id` (a lost or expired link): the
    /// old invitation is revoked (and the session it became ends) and a new one, under
    /// `token_hash`, is issued for the same participant, so everything the court set for them
    /// (a protective order, screens) still applies. One transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown invitation or a participant the court removed.
    pub async fn reissue_invitation(
        &self,
        hearing_id: &str,
        invitation_id: &str,
        token_hash: &str,
        created_by: &str,
        expires_at: i64,
    ) -> Result<InvitationRecord, StoreError> {
        let t = now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM hearing_invitations i JOIN hearing_participants p ON p.id = i.participant_id \
              WHERE i.hearing_id = $1 AND i.id = $2 AND p.removed_at IS NULL"
        ))
        .bind(hearing_id)
        .bind(invitation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let old = row
            .as_ref()
            .map(invitation_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("invitation"))?;
        sqlx::query(
            "UPDATE hearing_invitations SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(t)
        .bind(invitation_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM hearing_sessions WHERE invitation_id = $1")
            .bind(invitation_id)
            .execute(&mut *tx)
            .await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query(
            "INSERT INTO hearing_invitations (id, hearing_id, participant_id, token_hash, \
             created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(hearing_id)
        .bind(&old.participant_id)
        .bind(token_hash)
        .bind(created_by)
        .bind(t)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(InvitationRecord {
            id,
            hearing_id: hearing_id.into(),
            participant_id: old.participant_id,
            role: old.role,
            created_by: created_by.into(),
            created_at: t,
            expires_at,
            redeemed_at: None,
            revoked_at: None,
        })
    }

    /// A hearing's invitations (never their tokens).
    ///
    /// # Errors
    /// On database failure.
    pub async fn invitations(&self, hearing_id: &str) -> Result<Vec<InvitationRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM hearing_invitations i JOIN hearing_participants p ON p.id = i.participant_id \
             WHERE i.hearing_id = $1 ORDER BY i.created_at, i.id"
        ))
        .bind(hearing_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(invitation_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Revokes an invitation and ends any session it became. Returns the invitation.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the hearing has no such unrevoked invitation.
    pub async fn revoke_invitation(
        &self,
        hearing_id: &str,
        invitation_id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE hearing_invitations SET revoked_at = $1 \
             WHERE hearing_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(hearing_id)
        .bind(invitation_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound("invitation"));
        }
        sqlx::query("DELETE FROM hearing_sessions WHERE invitation_id = $1")
            .bind(invitation_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Redeems an invitation: spends it (unused, unrevoked, unexpired, participant not removed)
    /// and stores a hearing session under `session_hash`, atomically.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown, used, revoked or expired invitation.
    pub async fn redeem_invitation(
        &self,
        token_hash: &str,
        session_hash: &str,
        session_max_secs: i64,
    ) -> Result<(InvitationRecord, HearingSessionRecord), StoreError> {
        let t = now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM hearing_invitations i JOIN hearing_participants p ON p.id = i.participant_id \
             WHERE i.token_hash = $1 AND i.redeemed_at IS NULL AND i.revoked_at IS NULL \
             AND i.expires_at > $2 AND p.removed_at IS NULL"
        ))
        .bind(token_hash)
        .bind(t)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound("invitation"));
        };
        let mut invitation = invitation_from_row(&row)?;
        let spent = sqlx::query(
            "UPDATE hearing_invitations SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL",
        )
        .bind(t)
        .bind(&invitation.id)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Err(StoreError::NotFound("invitation"));
        }
        invitation.redeemed_at = Some(t);
        let expires_at = t + session_max_secs;
        sqlx::query(
            "INSERT INTO hearing_sessions (token_hash, hearing_id, participant_id, invitation_id, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session_hash)
        .bind(&invitation.hearing_id)
        .bind(&invitation.participant_id)
        .bind(&invitation.id)
        .bind(t)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let participant = self
            .participant(&invitation.hearing_id, &invitation.participant_id)
            .await?
            .ok_or(StoreError::NotFound("participant"))?;
        let session = HearingSessionRecord {
            hearing_id: invitation.hearing_id.clone(),
            participant,
            expires_at,
        };
        Ok((invitation, session))
    }

    /// A live hearing session by the hash of its cookie (unexpired, participant not removed).
    ///
    /// # Errors
    /// On database failure.
    pub async fn hearing_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<HearingSessionRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT s.hearing_id AS s_hearing_id, s.expires_at AS s_expires_at, ",
            participant_columns!(),
            " FROM hearing_sessions s JOIN hearing_participants p ON p.id = s.participant_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND p.removed_at IS NULL"
        ))
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(HearingSessionRecord {
            hearing_id: r.try_get("s_hearing_id")?,
            expires_at: r.try_get("s_expires_at")?,
            participant: participant_from_row(&r)?,
        }))
    }
}

/// A protective order as stored.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProtectiveOrderRecord {
    pub participant_id: String,
    pub hearing_id: String,
    pub pseudonym: String,
    /// `none` or `distorted`.
    pub voice: String,
    /// `none`, `masked` or `full_frame`.
    pub face: String,
    /// Hearing roles (wire names) that receive the undistorted media.
    pub raw_to: Vec<String>,
    /// Whether the court keeps the witness's original (undistorted) voice, encrypted to the
    /// court's certificate and readable only by the roles in `raw_to`.
    pub keep_original: bool,
    pub set_by: String,
    pub set_at: i64,
}

pub(super) fn order_from_row(r: &AnyRow) -> Result<ProtectiveOrderRecord, sqlx::Error> {
    let raw: String = r.try_get("raw_to")?;
    Ok(ProtectiveOrderRecord {
        participant_id: r.try_get("participant_id")?,
        hearing_id: r.try_get("hearing_id")?,
        pseudonym: r.try_get("pseudonym")?,
        voice: r.try_get("voice")?,
        face: r.try_get("face")?,
        raw_to: raw
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        keep_original: r.try_get::<i64, _>("keep_original")? != 0,
        set_by: r.try_get("set_by")?,
        set_at: r.try_get("set_at")?,
    })
}

impl Store {
    /// Sets (or replaces) a participant's protective order.
    ///
    /// # Errors
    /// On database failure.
    pub async fn set_protective_order(&self, o: &ProtectiveOrderRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO protective_orders (participant_id, hearing_id, pseudonym, voice, face, \
             raw_to, set_by, set_at, keep_original) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (participant_id) DO UPDATE SET pseudonym = $3, voice = $4, face = $5, \
             raw_to = $6, set_by = $7, set_at = $8, keep_original = $9",
        )
        .bind(&o.participant_id)
        .bind(&o.hearing_id)
        .bind(&o.pseudonym)
        .bind(&o.voice)
        .bind(&o.face)
        .bind(o.raw_to.join(","))
        .bind(&o.set_by)
        .bind(o.set_at)
        .bind(i64::from(o.keep_original))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// A participant's protective order, if any.
    ///
    /// # Errors
    /// On database failure.
    pub async fn protective_order(
        &self,
        participant_id: &str,
    ) -> Result<Option<ProtectiveOrderRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT participant_id, hearing_id, pseudonym, voice, face, raw_to, set_by, set_at, \
             keep_original \
             FROM protective_orders WHERE participant_id = $1",
        )
        .bind(participant_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(order_from_row).transpose()?)
    }

    /// Lifts a participant's protective order; `false` when there was none.
    ///
    /// # Errors
    /// On database failure.
    pub async fn lift_protective_order(&self, participant_id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM protective_orders WHERE participant_id = $1")
            .bind(participant_id)
            .execute(self.writer())
            .await?;
        Ok(r.rows_affected() == 1)
    }
}

impl Store {
    /// A hearing's sealed secret (wrapped key, ciphertext), if one was made.
    ///
    /// # Errors
    /// On database failure.
    pub async fn hearing_secret(
        &self,
        hearing_id: &str,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT wrapped_key, ciphertext FROM hearing_secrets WHERE hearing_id = $1",
        )
        .bind(hearing_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("wrapped_key")?, r.try_get("ciphertext")?)),
            None => None,
        })
    }

    /// Stores a hearing's sealed secret unless one exists (the first one made wins).
    ///
    /// # Errors
    /// On database failure.
    pub async fn insert_hearing_secret(
        &self,
        hearing_id: &str,
        wrapped_key: &[u8],
        ciphertext: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO hearing_secrets (hearing_id, wrapped_key, ciphertext, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (hearing_id) DO NOTHING",
        )
        .bind(hearing_id)
        .bind(wrapped_key)
        .bind(ciphertext)
        .bind(now())
        .execute(self.writer())
        .await?;
        Ok(())
    }
}
