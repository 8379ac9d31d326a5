//! A hearing's sealed minutes (see `crate::minutes`) and what they are made from: the hearing's
//! audit entries and its protective orders.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{AuditRow, ProtectiveOrderRecord, Store, StoreError};

/// Most audit entries the minutes read for one hearing (a day's hearing has hundreds; the
/// recorder's per-segment entries are summarised from their own table and not read here).
pub const MAX_MINUTES_ENTRIES: i64 = 50_000;

/// A hearing's final minutes as sealed at its close.
#[derive(Clone, Debug)]
pub struct MinutesRecord {
    pub hearing_id: String,
    pub generated_at: i64,
    /// The structured minutes: canonical JSON, schema `assize.minutes/1`.
    pub document: Vec<u8>,
    pub html: Vec<u8>,
    pub pdf: Vec<u8>,
    /// The sealed manifest (canonical JSON listing the three files' SHA-256).
    pub manifest: Vec<u8>,
    /// CAdES B-T over `manifest`.
    pub signature: Vec<u8>,
}

fn minutes_from_row(r: &AnyRow) -> Result<MinutesRecord, sqlx::Error> {
    Ok(MinutesRecord {
        hearing_id: r.try_get("hearing_id")?,
        generated_at: r.try_get("generated_at")?,
        document: r.try_get("document")?,
        html: r.try_get("html")?,
        pdf: r.try_get("pdf")?,
        manifest: r.try_get("manifest")?,
        signature: r.try_get("signature")?,
    })
}

impl Store {
    /// The audit entries about `object` (e.g. `hearing:<id>`), in order, without the recorder's
    /// per-segment entries; at most [`MAX_MINUTES_ENTRIES`] (the caller notes a cut).
    ///
    /// # Errors
    /// On database failure.
    pub async fn audit_entries_about(&self, object: &str) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, object, body, leaf_hash FROM audit_entries \
             WHERE object = $1 AND action <> 'recording.segment' ORDER BY seq LIMIT $2",
        )
        .bind(object)
        .bind(MAX_MINUTES_ENTRIES)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    seq: r.try_get("seq")?,
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    object: r.try_get("object")?,
                    body: r.try_get("body")?,
                    leaf_hash: r.try_get("leaf_hash")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The protective orders in force in a hearing now.
    ///
    /// # Errors
    /// On database failure.
    pub async fn protective_orders_of(
        &self,
        hearing_id: &str,
    ) -> Result<Vec<ProtectiveOrderRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT participant_id, hearing_id, pseudonym, voice, face, raw_to, set_by, set_at, \
             keep_original \
             FROM protective_orders WHERE hearing_id = $1 ORDER BY set_at, participant_id",
        )
        .bind(hearing_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(super::hearings::order_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Stores a hearing's final minutes; [`StoreError::Conflict`] when it has some already
    /// (the first sealed set stands).
    ///
    /// # Errors
    /// [`StoreError::Conflict`]; on database failure.
    pub async fn insert_minutes(&self, m: &MinutesRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO hearing_minutes (hearing_id, generated_at, document, html, pdf, \
             manifest, signature) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&m.hearing_id)
        .bind(m.generated_at)
        .bind(&m.document)
        .bind(&m.html)
        .bind(&m.pdf)
        .bind(&m.manifest)
        .bind(&m.signature)
        .execute(self.writer())
        .await
        .map_err(StoreError::conflict_on_unique("minutes"))?;
        Ok(())
    }

    /// A hearing's final minutes, if sealed.
    ///
    /// # Errors
    /// On database failure.
    pub async fn minutes(&self, hearing_id: &str) -> Result<Option<MinutesRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT hearing_id, generated_at, document, html, pdf, manifest, signature \
             FROM hearing_minutes WHERE hearing_id = $1",
        )
        .bind(hearing_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(minutes_from_row).transpose()?)
    }
}

/// A closed hearing whose record has not been deleted yet: what the retention sweep weighs.
#[derive(Clone, Debug)]
pub struct RetainedRecord {
    pub hearing_id: String,
    pub court: String,
    /// When the hearing closed (its last change), Unix seconds.
    pub closed_at: i64,
}

/// A record deleted at the end of its retention period.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordDeletion {
    pub hearing_id: String,
    pub deleted_at: i64,
    pub retention_days: i64,
    /// The `record.deleted` audit entry naming what was deleted.
    pub audit_seq: i64,
}

impl Store {
    /// Closed hearings whose record is still kept, oldest close first.
    ///
    /// # Errors
    /// On database failure.
    pub async fn retained_records(&self) -> Result<Vec<RetainedRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT h.id, h.court, h.updated_at FROM hearings h WHERE h.state = 'closed' \
             AND NOT EXISTS (SELECT 1 FROM record_deletions d WHERE d.hearing_id = h.id) \
             ORDER BY h.updated_at, h.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RetainedRecord {
                    hearing_id: r.try_get("id")?,
                    court: r.try_get("court")?,
                    closed_at: r.try_get("updated_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Enters a record's deletion and deletes its minutes, in one transaction (the minutes'
    /// trigger lets them go only once the deletion is entered).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when it was deleted already; on database failure.
    pub async fn delete_record(&self, d: &RecordDeletion) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO record_deletions (hearing_id, deleted_at, retention_days, audit_seq) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&d.hearing_id)
        .bind(d.deleted_at)
        .bind(d.retention_days)
        .bind(d.audit_seq)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::conflict_on_unique("record deletion"))?;
        sqlx::query("DELETE FROM hearing_minutes WHERE hearing_id = $1")
            .bind(&d.hearing_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether (and when) a hearing's record was deleted at the end of its retention period.
    ///
    /// # Errors
    /// On database failure.
    pub async fn record_deletion(
        &self,
        hearing_id: &str,
    ) -> Result<Option<RecordDeletion>, StoreError> {
        let row = sqlx::query(
            "SELECT hearing_id, deleted_at, retention_days, audit_seq FROM record_deletions \
             WHERE hearing_id = $1",
        )
        .bind(hearing_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RecordDeletion {
                hearing_id: r.try_get("hearing_id")?,
                deleted_at: r.try_get("deleted_at")?,
                retention_days: r.try_get("retention_days")?,
                audit_seq: r.try_get("audit_seq")?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| StoreError::from(e))
    }
}
