//! The mail outbox (`mail_outbox`, migration 0005): what [`crate::mail`] queues and its
//! dispatcher sends.
//!
//! A row is due while `sent_at IS NULL AND next_attempt_at <= now` and nobody holds an unexpired
//! lease on it. A dispatcher claims one due row at a time with a conditional UPDATE that only one
//! writer can win, so two dispatchers (two servers on one database, or a restart overlapping the
//! old process) never send the same row at the same time. A lease that runs out (a dispatcher that
//! died mid-send) makes the row due again: delivery is at least once, never at most once.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now};
use crate::mail::OutgoingMail;

/// A queued message as operators see it (`assize mail queue`): never its text.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutboxRecord {
    pub id: String,
    pub kind: String,
    pub created_at: i64,
    pub recipients: Vec<String>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

/// A message this dispatcher has claimed and may now send.
#[derive(Clone)]
pub struct ClaimedMail {
    pub id: String,
    pub recipients: Vec<String>,
    /// The complete RFC 5322 message, exactly as queued.
    pub message: Vec<u8>,
    /// Failed attempts before this one.
    pub attempts: i64,
}

impl std::fmt::Debug for ClaimedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedMail")
            .field("id", &self.id)
            .field("recipients", &self.recipients.len())
            .field("message", &"REDACTED")
            .field("attempts", &self.attempts)
            .finish()
    }
}

fn recipients_from_column(r: &AnyRow) -> Result<Vec<String>, sqlx::Error> {
    let text: String = r.try_get("recipients")?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn outbox_record(r: &AnyRow) -> Result<OutboxRecord, sqlx::Error> {
    Ok(OutboxRecord {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        created_at: r.try_get("created_at")?,
        recipients: recipients_from_column(r)?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        sent_at: r.try_get("sent_at")?,
    })
}

/// Writes one message to the outbox on `conn` (inside the caller's transaction). Due at once.
pub(crate) async fn insert_outbox(
    conn: &mut sqlx::AnyConnection,
    mail: &OutgoingMail,
) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let recipients =
        serde_json::to_string(&mail.recipients()).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let t = now();
    sqlx::query(
        "INSERT INTO mail_outbox (id, created_at, kind, recipients, subject, message, attempts, \
         next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
    )
    .bind(&id)
    .bind(t)
    .bind(mail.kind().as_str())
    .bind(recipients)
    .bind(mail.subject())
    .bind(mail.message().to_vec())
    .bind(t)
    .execute(conn)
    .await?;
    Ok(id)
}

impl Store {
    /// Queues one message in a transaction of its own (for callers with no transaction to join;
    /// a change and the mail announcing it belong in one: use [`crate::mail::enqueue`]).
    ///
    /// # Errors
    /// On database failure; nothing is queued then.
    pub async fn enqueue_mail(&self, mail: &OutgoingMail) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = crate::mail::enqueue(&mut tx, mail).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Messages not sent yet, oldest first (at most `limit`).
    ///
    /// # Errors
    /// On database failure.
    pub async fn unsent_mail(&self, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT id, kind, created_at, recipients, attempts, next_attempt_at, last_error, ",
            "sent_at FROM mail_outbox WHERE sent_at IS NULL ORDER BY created_at, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(outbox_record).collect::<Result<_, _>>()?)
    }

    /// One queued message's state, sent or not.
    ///
    /// # Errors
    /// On database failure.
    pub async fn outbox_record(&self, id: &str) -> Result<Option<OutboxRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT id, kind, created_at, recipients, attempts, next_attempt_at, last_error, ",
            "sent_at FROM mail_outbox WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(outbox_record).transpose()?)
    }

    /// How many messages wait to be sent.
    ///
    /// # Errors
    /// On database failure.
    pub async fn mail_outbox_depth(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM mail_outbox WHERE sent_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Ids of up to `limit` messages due at `now` and not leased, earliest first. Reading them
    /// claims nothing: see [`Store::claim_mail`].
    ///
    /// # Errors
    /// On database failure.
    pub async fn due_mail(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
             AND (leased_until IS NULL OR leased_until <= $2) \
             ORDER BY next_attempt_at, created_at LIMIT $3",
        )
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?)
    }

    /// Claims message `id` for `owner` until `lease_until` if it is still due and unleased at
    /// `now`. Exactly one of several concurrent claimers gets `Some`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn claim_mail(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<ClaimedMail>, StoreError> {
        let row = sqlx::query(
            "UPDATE mail_outbox SET lease_owner = $1, leased_until = $2 \
             WHERE id = $3 AND sent_at IS NULL AND next_attempt_at <= $4 \
             AND (leased_until IS NULL OR leased_until <= $5) \
             RETURNING id, recipients, message, attempts",
        )
        .bind(owner)
        .bind(lease_until)
        .bind(id)
        .bind(now)
        .bind(now)
        .fetch_optional(self.writer())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(ClaimedMail {
            id: r.try_get("id")?,
            recipients: recipients_from_column(&r)?,
            message: r.try_get("message")?,
            attempts: r.try_get("attempts")?,
        }))
    }

    /// Records that the SMTP server accepted message `id` (whoever holds the lease: it was
    /// delivered either way).
    ///
    /// # Errors
    /// On database failure; the message will then be sent again (at least once).
    pub async fn mark_mail_sent(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL, \
             lease_owner = NULL, leased_until = NULL WHERE id = $2 AND sent_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Records a failed attempt by `owner` and when to try again; releases the lease.
    ///
    /// # Errors
    /// On database failure; the lease then runs out and the message is retried anyway.
    pub async fn mark_mail_failed(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = $2, lease_owner = NULL, leased_until = NULL \
             WHERE id = $3 AND lease_owner = $4 AND sent_at IS NULL",
        )
        .bind(error)
        .bind(next_attempt_at)
        .bind(id)
        .bind(owner)
        .execute(self.writer())
        .await?;
        Ok(())
    }
}
