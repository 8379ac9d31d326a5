//! Accounts, roles, sessions, API tokens, one-time links and authorities.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now};
use crate::policy::Role;

/// A user account as stored. Secrets stay inside; `Debug` does not print them.
#[derive(Clone)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_pending: Option<Vec<u8>>,
    pub totp_last_step: i64,
    pub disabled: bool,
    pub roles: Vec<Role>,
    pub created_at: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .field("totp_enrolled", &self.totp_secret.is_some())
            .finish_non_exhaustive()
    }
}

/// What is needed to create an account.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub roles: &'a [Role],
    /// argon2id PHC string, or `None` to have the user set one through a one-time link.
    pub password_hash: Option<&'a str>,
}

/// Which step of sign-in a session has reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStage {
    /// Every required factor passed.
    Full,
    /// Password passed; a TOTP second factor must be enrolled before anything else.
    TotpEnrolment,
}

impl SessionStage {
    fn as_str(self) -> &'static str {
        match self {
            SessionStage::Full => "full",
            SessionStage::TotpEnrolment => "totp_enrolment",
        }
    }
}

/// A session joined with its user.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub token_hash: String,
    pub csrf_hash: String,
    pub stage: SessionStage,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub user: UserRecord,
}

/// An API token's public facts (never its secret).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ApiTokenInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

/// Why a one-time link exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Create the first administrator on a new server.
    FirstAdministrator,
    /// Set the password of an existing account.
    SetPassword,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::FirstAdministrator => "first_administrator",
            LinkPurpose::SetPassword => "set_password",
        }
    }
}

/// An entry of the directory of authorities: one hosted here (`local`) or another state's,
/// known by the client certificate its server presents.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuthorityRecord {
    pub id: String,
    /// The identifier both servers use for it (e.g. `DE-BfJ`): messages name authorities by code.
    pub code: String,
    pub name: String,
    pub country: String,
    /// `central` (central authority) or `competent` (a court, prosecutor…).
    pub kind: String,
    /// Hosted on this server.
    pub local: bool,
    /// Base URL of its Assize server (`https://…`); `None` for local ones and for authorities
    /// reached by S/MIME e-mail only.
    pub endpoint: Option<String>,
    /// Functional mailbox for notices (and S/MIME transport where there is no endpoint).
    pub email: Option<String>,
    /// SHA-256 of its server's client certificate (`local:<code>` for local authorities).
    pub cert_sha256: String,
    /// SHA-256 (hex) of the certificate it seals MLA messages with, when the directory pins
    /// one (other states' authorities); see [`crate::notary::seal_is_of`].
    pub seal_cert_sha256: Option<String>,
    pub created_at: i64,
}

/// A new directory entry.
#[derive(Debug)]
pub struct NewAuthority<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub country: &'a str,
    pub kind: &'a str,
    pub local: bool,
    pub endpoint: Option<&'a str>,
    pub email: Option<&'a str>,
    /// Required for other states' authorities; ignored for local ones.
    pub cert_sha256: Option<&'a str>,
    /// The pinned seal certificate's SHA-256 (other states' authorities, optional).
    pub seal_cert_sha256: Option<&'a str>,
}

/// The `authorities` columns every directory query selects.
macro_rules! authority_columns {
    () => {
        "id, code, name, country, kind, local, endpoint, email, cert_sha256, seal_cert_sha256, \
         created_at"
    };
}

/// The `users` columns every account query selects (a macro so queries stay `&'static str`).
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.display_name, u.password_hash, u.totp_secret, u.totp_pending, \
         u.totp_last_step, u.disabled, u.created_at"
    };
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        totp_secret: row.try_get("totp_secret")?,
        totp_pending: row.try_get("totp_pending")?,
        totp_last_step: row.try_get("totp_last_step")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        roles: Vec::new(),
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    async fn roles_of(&self, user_id: &str) -> Result<Vec<Role>, StoreError> {
        let rows = sqlx::query("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("role").ok())
            .filter_map(|s| Role::parse(&s))
            .collect())
    }

    async fn with_roles(&self, mut user: UserRecord) -> Result<UserRecord, StoreError> {
        user.roles = self.roles_of(&user.id).await?;
        Ok(user)
    }

    /// Creates an account with its roles in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the username is taken.
    pub async fn create_user(&self, new: &NewUser<'_>) -> Result<UserRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = uuid::Uuid::new_v4().to_string();
        let t = now();
        insert_user(&mut tx, &id, new, t).await?;
        tx.commit().await?;
        self.existing_user(&id).await
    }

    /// Looks an account up by its username (exact match; usernames are stored lower-case).
    ///
    /// # Errors
    /// On database failure.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.user_where(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users u WHERE u.username = $1"
            ),
            username,
        )
        .await
    }

    /// Looks an account up by id.
    ///
    /// # Errors
    /// On database failure.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.user_where(
            concat!("SELECT ", user_columns!(), " FROM users u WHERE u.id = $1"),
            id,
        )
        .await
    }

    /// An account that must exist (just created or just changed).
    async fn existing_user(&self, id: &str) -> Result<UserRecord, StoreError> {
        self.user_by_id(id)
            .await?
            .ok_or(StoreError::NotFound("user"))
    }

    async fn user_where(
        &self,
        sql: &'static str,
        value: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(self.with_roles(user_from_row(&r)?).await?)),
            None => Ok(None),
        }
    }

    /// Every account, by username.
    ///
    /// # Errors
    /// On database failure.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u ORDER BY u.username"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut users = Vec::with_capacity(rows.len());
        for r in &rows {
            users.push(self.with_roles(user_from_row(r)?).await?);
        }
        Ok(users)
    }

    /// How many enabled administrators exist.
    ///
    /// # Errors
    /// On database failure.
    pub async fn count_active_administrators(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM users u JOIN user_roles r ON r.user_id = u.id \
             WHERE r.role = 'administrator' AND u.disabled = 0",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Disables (or re-enables) an account. Disabling also ends its sessions and revokes its API
    /// tokens, in the same transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        let done = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(disabled))
            .bind(t)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(t)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes an account's second factor; it must enrol again at its next sign-in. Ends its
    /// sessions.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn reset_totp(&self, user_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_secret = NULL, totp_pending = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Offers a TOTP secret during enrolment (not yet in force).
    ///
    /// # Errors
    /// On database failure.
    pub async fn set_totp_pending(&self, user_id: &str, secret: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET totp_pending = $1, updated_at = $2 WHERE id = $3")
            .bind(secret.to_vec())
            .bind(now())
            .bind(user_id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Puts the pending TOTP secret in force, records the step its first code used, and upgrades
    /// the enrolling session, atomically.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no pending secret any more.
    pub async fn confirm_totp(
        &self,
        user_id: &str,
        secret: &[u8],
        step: i64,
        session_hash: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_secret = $1, totp_pending = NULL, totp_last_step = $2, \
             updated_at = $3 WHERE id = $4 AND totp_pending = $1",
        )
        .bind(secret.to_vec())
        .bind(step)
        .bind(now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("pending TOTP enrolment"));
        }
        sqlx::query("UPDATE sessions SET stage = 'full' WHERE token_hash = $1 AND user_id = $2")
            .bind(session_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a TOTP time step as used, only if it is later than the last one used: a code is
    /// accepted once, even by two sign-ins racing each other. Returns whether it was accepted.
    ///
    /// # Errors
    /// On database failure.
    pub async fn consume_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(user_id)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // --- sessions -------------------------------------------------------------------------

    /// Stores a new session.
    ///
    /// # Errors
    /// On database failure.
    pub async fn insert_session(
        &self,
        token_hash: &str,
        csrf_hash: &str,
        user_id: &str,
        stage: SessionStage,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let t = now();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_hash, stage, created_at, last_seen_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_hash)
        .bind(stage.as_str())
        .bind(t)
        .bind(expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Finds a session by the hash of its cookie, with its user.
    ///
    /// # Errors
    /// On database failure.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT s.token_hash, s.csrf_hash, s.stage, s.created_at AS s_created, s.last_seen_at, \
             s.expires_at, ",
            user_columns!(),
            " FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let stage: String = r.try_get("stage")?;
        Ok(Some(SessionRecord {
            token_hash: r.try_get("token_hash")?,
            csrf_hash: r.try_get("csrf_hash")?,
            stage: if stage == "full" {
                SessionStage::Full
            } else {
                SessionStage::TotpEnrolment
            },
            created_at: r.try_get("s_created")?,
            last_seen_at: r.try_get("last_seen_at")?,
            expires_at: r.try_get("expires_at")?,
            user: self.with_roles(user_from_row(&r)?).await?,
        }))
    }

    /// Records activity on a session (for the idle timeout).
    ///
    /// # Errors
    /// On database failure.
    pub async fn touch_session(&self, token_hash: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(at)
            .bind(token_hash)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Ends a session.
    ///
    /// # Errors
    /// On database failure.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Removes sessions past their absolute or idle end.
    ///
    /// # Errors
    /// On database failure.
    pub async fn purge_expired_sessions(&self, idle_secs: i64) -> Result<u64, StoreError> {
        let t = now();
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(t)
            .bind(t - idle_secs)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }

    // --- API tokens -----------------------------------------------------------------------

    /// Stores a new API token (its hash) for a user.
    ///
    /// # Errors
    /// On database failure.
    pub async fn insert_api_token(
        &self,
        user_id: &str,
        name: &str,
        token_hash: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiTokenInfo, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let t = now();
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(t)
        .bind(expires_at)
        .execute(self.writer())
        .await?;
        Ok(ApiTokenInfo {
            id,
            name: name.into(),
            created_at: t,
            expires_at,
            last_used_at: None,
            revoked: false,
        })
    }

    /// The user behind a live API token (not revoked, not expired, account enabled), and the
    /// token's id. Records the use.
    ///
    /// # Errors
    /// On database failure.
    pub async fn user_by_api_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(String, UserRecord)>, StoreError> {
        let t = now();
        let row = sqlx::query(concat!(
            "SELECT t.id AS token_id, ",
            user_columns!(),
            " FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled = 0"
        ))
        .bind(token_hash)
        .bind(t)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let token_id: String = r.try_get("token_id")?;
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(t)
            .bind(&token_id)
            .execute(self.writer())
            .await?;
        Ok(Some((token_id, self.with_roles(user_from_row(&r)?).await?)))
    }

    /// A user's API tokens.
    ///
    /// # Errors
    /// On database failure.
    pub async fn api_tokens_of(&self, user_id: &str) -> Result<Vec<ApiTokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, expires_at, last_used_at, revoked_at FROM api_tokens \
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiTokenInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                    revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                })
            })
            .collect()
    }

    /// Revokes one of a user's API tokens.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the user has no such live token.
    pub async fn revoke_api_token(&self, user_id: &str, token_id: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(token_id)
        .bind(user_id)
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("API token"));
        }
        Ok(())
    }

    // --- one-time links -------------------------------------------------------------------

    /// Stores a one-time link (its hash). A new first-administrator link replaces any older one.
    ///
    /// # Errors
    /// On database failure.
    pub async fn insert_one_time_link(
        &self,
        token_hash: &str,
        purpose: LinkPurpose,
        user_id: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if purpose == LinkPurpose::FirstAdministrator {
            sqlx::query("DELETE FROM one_time_links WHERE purpose = 'first_administrator' AND used_at IS NULL")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO one_time_links (token_hash, purpose, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(user_id)
        .bind(now())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Redeems a first-administrator link by creating that administrator, atomically: the link is
    /// spent only if the account is created, and vice versa.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown, used or expired link; [`StoreError::Conflict`]
    /// when the username is taken.
    pub async fn redeem_first_administrator(
        &self,
        token_hash: &str,
        new: &NewUser<'_>,
    ) -> Result<UserRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        let spent = sqlx::query(
            "UPDATE one_time_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
             AND expires_at > $1 AND purpose = 'first_administrator'",
        )
        .bind(t)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Err(StoreError::NotFound("one-time link"));
        }
        let id = uuid::Uuid::new_v4().to_string();
        insert_user(&mut tx, &id, new, t).await?;
        tx.commit().await?;
        self.existing_user(&id).await
    }

    /// Redeems a set-password link: sets the password and spends the link atomically. Ends the
    /// account's sessions.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown, used or expired link.
    pub async fn redeem_set_password(
        &self,
        token_hash: &str,
        password_hash: &str,
    ) -> Result<UserRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        let row = sqlx::query(
            "SELECT user_id FROM one_time_links WHERE token_hash = $1 AND used_at IS NULL \
             AND expires_at > $2 AND purpose = 'set_password'",
        )
        .bind(token_hash)
        .bind(t)
        .fetch_optional(&mut *tx)
        .await?;
        let user_id: String = match row {
            Some(r) => r
                .try_get::<Option<String>, _>("user_id")?
                .ok_or(StoreError::NotFound("user"))?,
            None => return Err(StoreError::NotFound("one-time link")),
        };
        let spent = sqlx::query(
            "UPDATE one_time_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(t)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Err(StoreError::NotFound("one-time link"));
        }
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(t)
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.existing_user(&user_id).await
    }

    // --- authorities ----------------------------------------------------------------------

    /// Adds an authority to the directory.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the code or the certificate is already registered.
    pub async fn insert_authority(
        &self,
        new: &NewAuthority<'_>,
    ) -> Result<AuthorityRecord, StoreError> {
        // Authorities that present no certificate get a placeholder that never equals a hex
        // fingerprint: `local:<code>` (hosted here) or `email:<code>` (reached by e-mail).
        let cert = match (new.local, new.cert_sha256) {
            (true, _) => format!("local:{}", new.code),
            (false, Some(fp)) => fp.to_owned(),
            (false, None) => format!("email:{}", new.code),
        };
        let rec = AuthorityRecord {
            id: uuid::Uuid::new_v4().to_string(),
            code: new.code.into(),
            name: new.name.into(),
            country: new.country.into(),
            kind: new.kind.into(),
            local: new.local,
            endpoint: new.endpoint.map(str::to_owned),
            email: new.email.map(str::to_owned),
            cert_sha256: cert,
            seal_cert_sha256: if new.local {
                None
            } else {
                new.seal_cert_sha256.map(str::to_owned)
            },
            created_at: now(),
        };
        sqlx::query(
            "INSERT INTO authorities (id, code, name, country, kind, local, endpoint, email, cert_sha256, seal_cert_sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&rec.id)
        .bind(&rec.code)
        .bind(&rec.name)
        .bind(&rec.country)
        .bind(&rec.kind)
        .bind(i64::from(rec.local))
        .bind(&rec.endpoint)
        .bind(&rec.email)
        .bind(&rec.cert_sha256)
        .bind(&rec.seal_cert_sha256)
        .bind(rec.created_at)
        .execute(self.writer())
        .await
        .map_err(StoreError::conflict_on_unique(
            "an authority with this code or certificate",
        ))?;
        Ok(rec)
    }

    /// Changes an authority's endpoint and mailbox.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such authority.
    pub async fn update_authority_contact(
        &self,
        id: &str,
        endpoint: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        let r = sqlx::query("UPDATE authorities SET endpoint = $2, email = $3 WHERE id = $1")
            .bind(id)
            .bind(endpoint)
            .bind(email)
            .execute(self.writer())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound("authority"));
        }
        Ok(())
    }

    /// The whole directory.
    ///
    /// # Errors
    /// On database failure.
    pub async fn list_authorities(&self) -> Result<Vec<AuthorityRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            authority_columns!(),
            " FROM authorities ORDER BY local DESC, country, name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(authority_from_row).collect()
    }

    /// The authority with this id.
    ///
    /// # Errors
    /// On database failure.
    pub async fn authority_by_id(&self, id: &str) -> Result<Option<AuthorityRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            authority_columns!(),
            " FROM authorities WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(authority_from_row).transpose()
    }

    /// The authority with this code.
    ///
    /// # Errors
    /// On database failure.
    pub async fn authority_by_code(
        &self,
        code: &str,
    ) -> Result<Option<AuthorityRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            authority_columns!(),
            " FROM authorities WHERE code = $1"
        ))
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(authority_from_row).transpose()
    }

    /// The authority whose client certificate has this SHA-256 fingerprint.
    ///
    /// # Errors
    /// On database failure.
    pub async fn authority_by_fingerprint(
        &self,
        cert_sha256: &str,
    ) -> Result<Option<AuthorityRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            authority_columns!(),
            " FROM authorities WHERE cert_sha256 = $1 AND local = 0"
        ))
        .bind(cert_sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(authority_from_row).transpose()
    }

    /// The authority an account acts for, if any.
    ///
    /// # Errors
    /// On database failure.
    pub async fn user_authority(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT authority_id FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<String>, _>("authority_id")?,
            None => None,
        })
    }

    /// Makes an account act for a local authority (or for none).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the account or the local authority does not exist.
    pub async fn set_user_authority(
        &self,
        user_id: &str,
        authority_id: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(a) = authority_id
            && !self.authority_by_id(a).await?.is_some_and(|a| a.local)
        {
            return Err(StoreError::NotFound("local authority"));
        }
        let r = sqlx::query("UPDATE users SET authority_id = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(authority_id)
            .bind(now())
            .execute(self.writer())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }
}

fn authority_from_row(r: &AnyRow) -> Result<AuthorityRecord, StoreError> {
    Ok(AuthorityRecord {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        country: r.try_get("country")?,
        kind: r.try_get("kind")?,
        local: r.try_get::<i64, _>("local")? != 0,
        endpoint: r.try_get("endpoint")?,
        email: r.try_get("email")?,
        cert_sha256: r.try_get("cert_sha256")?,
        seal_cert_sha256: r.try_get("seal_cert_sha256")?,
        created_at: r.try_get("created_at")?,
    })
}

async fn insert_user(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    new: &NewUser<'_>,
    t: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, username, display_name, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(id)
    .bind(new.username)
    .bind(new.display_name)
    .bind(new.password_hash)
    .bind(t)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::conflict_on_unique(
        "an account with this username",
    ))?;
    for role in new.roles {
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
            .bind(id)
            .bind(role.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
