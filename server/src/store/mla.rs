//! MLA requests, their sealed messages (the outgoing ones are also the delivery queue),
//! encrypted attachments and deadline notices.
//!
//! Functions that take a `conn` run inside the caller's transaction, so a request's status, the
//! message that records the change and the attachments it carries are written together or not
//! at all.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::{Store, StoreError};

/// One request, as this server holds it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RequestRow {
    pub id: String,
    pub kind: String,
    pub reference: String,
    pub issuing_authority_id: String,
    pub executing_authority_id: String,
    /// This server's side: `issuing` or `executing`.
    pub side: String,
    pub status: String,
    pub urgent: bool,
    #[serde(skip)]
    pub form: String,
    pub requested_date: Option<i64>,
    pub transmitted_at: Option<i64>,
    pub received_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub recognised_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub extended_at: Option<i64>,
    pub extension_reason: Option<String>,
    pub retrieved_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

macro_rules! request_columns {
    () => {
        "id, kind, reference, issuing_authority_id, executing_authority_id, side, status, urgent, \
         form, requested_date, transmitted_at, received_at, acknowledged_at, recognised_at, \
         finished_at, extended_at, extension_reason, retrieved_at, created_by, created_at, updated_at"
    };
}

fn request_from_row(r: &AnyRow) -> Result<RequestRow, StoreError> {
    Ok(RequestRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        reference: r.try_get("reference")?,
        issuing_authority_id: r.try_get("issuing_authority_id")?,
        executing_authority_id: r.try_get("executing_authority_id")?,
        side: r.try_get("side")?,
        status: r.try_get("status")?,
        urgent: r.try_get::<i64, _>("urgent")? != 0,
        form: r.try_get("form")?,
        requested_date: r.try_get("requested_date")?,
        transmitted_at: r.try_get("transmitted_at")?,
        received_at: r.try_get("received_at")?,
        acknowledged_at: r.try_get("acknowledged_at")?,
        recognised_at: r.try_get("recognised_at")?,
        finished_at: r.try_get("finished_at")?,
        extended_at: r.try_get("extended_at")?,
        extension_reason: r.try_get("extension_reason")?,
        retrieved_at: r.try_get("retrieved_at")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// One sealed message.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MessageRow {
    pub id: String,
    pub request_id: String,
    pub seq: i64,
    /// `out` (we sent it), `in` (we received it), `local` (a step that stays here).
    pub direction: String,
    #[serde(rename = "type")]
    pub message_type: String,
    pub from_status: Option<String>,
    pub to_status: String,
    #[serde(skip)]
    pub document: Vec<u8>,
    #[serde(skip)]
    pub seal: Vec<u8>,
    pub document_sha256: String,
    pub transport_status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    #[serde(skip)]
    pub receipt: Option<Vec<u8>>,
    #[serde(skip)]
    pub receipt_seal: Option<Vec<u8>>,
    pub actor: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

macro_rules! message_columns {
    () => {
        "id, request_id, seq, direction, type, from_status, to_status, document, seal, \
         document_sha256, transport_status, attempts, next_attempt_at, last_error, receipt, \
         receipt_seal, actor, created_at, delivered_at"
    };
}

fn message_from_row(r: &AnyRow) -> Result<MessageRow, StoreError> {
    Ok(MessageRow {
        id: r.try_get("id")?,
        request_id: r.try_get("request_id")?,
        seq: r.try_get("seq")?,
        direction: r.try_get("direction")?,
        message_type: r.try_get("type")?,
        from_status: r.try_get("from_status")?,
        to_status: r.try_get("to_status")?,
        document: r.try_get("document")?,
        seal: r.try_get("seal")?,
        document_sha256: r.try_get("document_sha256")?,
        transport_status: r.try_get("transport_status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        receipt: r.try_get("receipt")?,
        receipt_seal: r.try_get("receipt_seal")?,
        actor: r.try_get("actor")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

/// An attachment: its public facts, and (when asked for) its encrypted content.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AttachmentRow {
    pub id: String,
    pub request_id: String,
    pub message_id: Option<String>,
    pub filename: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
    #[serde(skip)]
    pub wrapped_key: Vec<u8>,
    #[serde(skip)]
    pub ciphertext: Vec<u8>,
    pub created_at: i64,
}

macro_rules! attachment_columns {
    () => {
        "id, request_id, message_id, filename, media_type, size, sha256, wrapped_key, ciphertext, created_at"
    };
}

fn attachment_from_row(r: &AnyRow) -> Result<AttachmentRow, StoreError> {
    Ok(AttachmentRow {
        id: r.try_get("id")?,
        request_id: r.try_get("request_id")?,
        message_id: r.try_get("message_id")?,
        filename: r.try_get("filename")?,
        media_type: r.try_get("media_type")?,
        size: r.try_get("size")?,
        sha256: r.try_get("sha256")?,
        wrapped_key: r.try_get("wrapped_key")?,
        ciphertext: r.try_get("ciphertext")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Inserts a request.
///
/// # Errors
/// [`StoreError::Conflict`] when a request with this id exists.
pub async fn insert_request(conn: &mut AnyConnection, r: &RequestRow) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO mla_requests (",
        request_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21)"
    ))
    .bind(&r.id)
    .bind(&r.kind)
    .bind(&r.reference)
    .bind(&r.issuing_authority_id)
    .bind(&r.executing_authority_id)
    .bind(&r.side)
    .bind(&r.status)
    .bind(i64::from(r.urgent))
    .bind(&r.form)
    .bind(r.requested_date)
    .bind(r.transmitted_at)
    .bind(r.received_at)
    .bind(r.acknowledged_at)
    .bind(r.recognised_at)
    .bind(r.finished_at)
    .bind(r.extended_at)
    .bind(&r.extension_reason)
    .bind(r.retrieved_at)
    .bind(&r.created_by)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_on_unique("a request with this id"))?;
    Ok(())
}

/// Writes back every mutable column of a request, provided its status is still `expected_status`
/// (another officer may have moved it meanwhile).
///
/// # Errors
/// [`StoreError::Conflict`] when the status changed under us.
pub async fn update_request(
    conn: &mut AnyConnection,
    r: &RequestRow,
    expected_status: &str,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE mla_requests SET reference = $2, status = $3, urgent = $4, form = $5, \
         requested_date = $6, transmitted_at = $7, received_at = $8, acknowledged_at = $9, \
         recognised_at = $10, finished_at = $11, extended_at = $12, extension_reason = $13, \
         retrieved_at = $14, updated_at = $15 WHERE id = $1 AND status = $16",
    )
    .bind(&r.id)
    .bind(&r.reference)
    .bind(&r.status)
    .bind(i64::from(r.urgent))
    .bind(&r.form)
    .bind(r.requested_date)
    .bind(r.transmitted_at)
    .bind(r.received_at)
    .bind(r.acknowledged_at)
    .bind(r.recognised_at)
    .bind(r.finished_at)
    .bind(r.extended_at)
    .bind(&r.extension_reason)
    .bind(r.retrieved_at)
    .bind(r.updated_at)
    .bind(expected_status)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict("a newer change to this request"));
    }
    Ok(())
}

/// One request, inside a transaction.
///
/// # Errors
/// On database failure.
pub async fn request_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<RequestRow>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        request_columns!(),
        " FROM mla_requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(request_from_row).transpose()
}

/// The next sequence number of a request's messages.
///
/// # Errors
/// On database failure.
pub async fn next_seq(conn: &mut AnyConnection, request_id: &str) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM mla_messages WHERE request_id = $1",
    )
    .bind(request_id)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("next")?)
}

/// Inserts a message.
///
/// # Errors
/// [`StoreError::Conflict`] when a message with this id (or sequence number) exists.
pub async fn insert_message(conn: &mut AnyConnection, m: &MessageRow) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO mla_messages (",
        message_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19)"
    ))
    .bind(&m.id)
    .bind(&m.request_id)
    .bind(m.seq)
    .bind(&m.direction)
    .bind(&m.message_type)
    .bind(&m.from_status)
    .bind(&m.to_status)
    .bind(&m.document)
    .bind(&m.seal)
    .bind(&m.document_sha256)
    .bind(&m.transport_status)
    .bind(m.attempts)
    .bind(m.next_attempt_at)
    .bind(&m.last_error)
    .bind(&m.receipt)
    .bind(&m.receipt_seal)
    .bind(&m.actor)
    .bind(m.created_at)
    .bind(m.delivered_at)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_on_unique("a message with this id"))?;
    Ok(())
}

/// A message by id, inside a transaction.
///
/// # Errors
/// On database failure.
pub async fn message_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<MessageRow>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        message_columns!(),
        " FROM mla_messages WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(message_from_row).transpose()
}

/// Inserts an encrypted attachment.
///
/// # Errors
/// On database failure.
pub async fn insert_attachment(
    conn: &mut AnyConnection,
    a: &AttachmentRow,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO mla_attachments (",
        attachment_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&a.id)
    .bind(&a.request_id)
    .bind(&a.message_id)
    .bind(&a.filename)
    .bind(&a.media_type)
    .bind(a.size)
    .bind(&a.sha256)
    .bind(&a.wrapped_key)
    .bind(&a.ciphertext)
    .bind(a.created_at)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_on_unique("an attachment with this id"))?;
    Ok(())
}

/// An evidence package that arrived with a move to EVIDENCE_TRANSMITTED, as checked on
/// arrival (see `migrations/*/0010_evidence_checks.sql`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvidenceCheckRow {
    pub attachment_id: String,
    pub request_id: String,
    pub message_id: String,
    /// `verified` (a package that fails refuses its message and is not stored).
    pub outcome: String,
    /// How many files of the package were checked.
    pub files: i64,
    /// The per-file result, JSON: `[{"file": …, "ok": true}, …]`.
    pub report: String,
    pub checked_at: i64,
}

/// Records the check of an arrived evidence package, in the transaction that stores it.
///
/// # Errors
/// On database failure.
pub async fn insert_evidence_check(
    conn: &mut AnyConnection,
    c: &EvidenceCheckRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mla_evidence_checks (attachment_id, request_id, message_id, outcome, files, \
         report, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&c.attachment_id)
    .bind(&c.request_id)
    .bind(&c.message_id)
    .bind(&c.outcome)
    .bind(c.files)
    .bind(&c.report)
    .bind(c.checked_at)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_on_unique("a check of this attachment"))?;
    Ok(())
}

/// The attachment of a request with this name or id, if any (inside the caller's transaction).
///
/// # Errors
/// On database failure.
pub async fn attachment_named(
    conn: &mut AnyConnection,
    request_id: &str,
    filename: &str,
    id: &str,
) -> Result<Option<AttachmentRow>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM mla_attachments WHERE request_id = $1 AND (filename = $2 OR id = $3) \
         ORDER BY created_at, id LIMIT 1"
    ))
    .bind(request_id)
    .bind(filename)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(attachment_from_row).transpose()
}

/// The attachments of a request not yet sent with a message (they go with the next one).
///
/// # Errors
/// On database failure.
pub async fn unsent_attachments(
    conn: &mut AnyConnection,
    request_id: &str,
) -> Result<Vec<AttachmentRow>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM mla_attachments WHERE request_id = $1 AND message_id IS NULL ORDER BY created_at, id"
    ))
    .bind(request_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(attachment_from_row).collect()
}

/// Records which message carried an attachment.
///
/// # Errors
/// On database failure.
pub async fn bind_attachment(
    conn: &mut AnyConnection,
    attachment_id: &str,
    message_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE mla_attachments SET message_id = $2 WHERE id = $1 AND message_id IS NULL")
        .bind(attachment_id)
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks an outgoing message handed over by e-mail (the outbox now holds it).
///
/// # Errors
/// On database failure.
pub async fn hand_over_by_email(
    conn: &mut AnyConnection,
    message_id: &str,
    note: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE mla_messages SET transport_status = 'DELIVERED', delivered_at = $2, \
         last_error = $3, attempts = attempts + 1 WHERE id = $1 AND transport_status = 'SUBMITTED'",
    )
    .bind(message_id)
    .bind(at)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that a deadline notice was queued; `false` when it already was.
///
/// # Errors
/// On database failure.
pub async fn claim_deadline_notice(
    conn: &mut AnyConnection,
    request_id: &str,
    deadline: &str,
    kind: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO mla_deadline_notices (request_id, deadline, kind, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(request_id)
    .bind(deadline)
    .bind(kind)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// One request.
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_request(&self, id: &str) -> Result<Option<RequestRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        request_in(&mut conn, id).await
    }

    /// The requests an authority sent or received, newest change first.
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_requests_of(
        &self,
        authority_id: &str,
        limit: i64,
    ) -> Result<Vec<RequestRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM mla_requests WHERE issuing_authority_id = $1 OR executing_authority_id = $1 \
             ORDER BY updated_at DESC, id LIMIT $2"
        ))
        .bind(authority_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Requests whose deadlines may need a notice (not finished).
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_open_requests(&self) -> Result<Vec<RequestRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM mla_requests WHERE received_at IS NOT NULL AND status NOT IN \
             ('EXECUTED', 'PARTIALLY_EXECUTED', 'REFUSED', 'WITHDRAWN', 'CLOSED')"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// A request's messages in order.
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_messages(&self, request_id: &str) -> Result<Vec<MessageRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM mla_messages WHERE request_id = $1 ORDER BY seq"
        ))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Outgoing messages due for a delivery attempt: per request only the oldest undelivered
    /// one, so the other side receives a request's messages in order.
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_due_messages(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM mla_messages m WHERE direction = 'out' AND transport_status = 'SUBMITTED' \
             AND next_attempt_at <= $1 AND NOT EXISTS (SELECT 1 FROM mla_messages p \
             WHERE p.request_id = m.request_id AND p.direction = 'out' \
             AND p.transport_status = 'SUBMITTED' AND p.seq < m.seq) \
             ORDER BY created_at, seq LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// The earliest time an outgoing message is due (to sleep until then).
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_next_due(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at) AS due FROM mla_messages \
             WHERE direction = 'out' AND transport_status = 'SUBMITTED'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("due")?)
    }

    /// Records the other side's answer to an outgoing message: `DELIVERED` with its receipt, or
    /// `FAILED` with its negative receipt.
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_record_answer(
        &self,
        message_id: &str,
        transport_status: &str,
        receipt: &[u8],
        receipt_seal: &[u8],
        error: Option<&str>,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mla_messages SET transport_status = $2, receipt = $3, receipt_seal = $4, \
             last_error = $5, delivered_at = $6, attempts = attempts + 1 \
             WHERE id = $1 AND transport_status = 'SUBMITTED'",
        )
        .bind(message_id)
        .bind(transport_status)
        .bind(receipt)
        .bind(receipt_seal)
        .bind(error)
        .bind(at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Records when the executing server received a request we sent (its deadlines start then).
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_set_received(&self, request_id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mla_requests SET received_at = $2 WHERE id = $1 AND received_at IS NULL",
        )
        .bind(request_id)
        .bind(at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_retry_later(
        &self,
        message_id: &str,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mla_messages SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 \
             WHERE id = $1 AND transport_status = 'SUBMITTED'",
        )
        .bind(message_id)
        .bind(error)
        .bind(next_attempt_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Marks an incoming message as opened by an officer (transport status `RETRIEVED`).
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_mark_retrieved(&self, request_id: &str, at: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE mla_requests SET retrieved_at = $2 WHERE id = $1 AND retrieved_at IS NULL \
             AND side = 'executing'",
        )
        .bind(request_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 {
            sqlx::query(
                "UPDATE mla_messages SET transport_status = 'RETRIEVED' \
                 WHERE request_id = $1 AND direction = 'in' AND transport_status = 'DELIVERED'",
            )
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// A request's attachments (metadata and ciphertext).
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_attachments(
        &self,
        request_id: &str,
    ) -> Result<Vec<AttachmentRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            attachment_columns!(),
            " FROM mla_attachments WHERE request_id = $1 ORDER BY created_at, id"
        ))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attachment_from_row).collect()
    }

    /// The attachments a message carried.
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_message_attachments(
        &self,
        message_id: &str,
    ) -> Result<Vec<AttachmentRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            attachment_columns!(),
            " FROM mla_attachments WHERE message_id = $1 ORDER BY created_at, id"
        ))
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attachment_from_row).collect()
    }

    /// The checks of the evidence packages that arrived for a request.
    ///
    /// # Errors
    /// On database failure.
    pub async fn mla_evidence_checks(
        &self,
        request_id: &str,
    ) -> Result<Vec<EvidenceCheckRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT attachment_id, request_id, message_id, outcome, files, report, checked_at \
             FROM mla_evidence_checks WHERE request_id = $1 ORDER BY checked_at, attachment_id",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EvidenceCheckRow {
                    attachment_id: r.try_get("attachment_id")?,
                    request_id: r.try_get("request_id")?,
                    message_id: r.try_get("message_id")?,
                    outcome: r.try_get("outcome")?,
                    files: r.try_get("files")?,
                    report: r.try_get("report")?,
                    checked_at: r.try_get("checked_at")?,
                })
            })
            .collect()
    }
}
