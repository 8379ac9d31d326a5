//! Hearing recordings and their sealed segments (see `crate::recording`).

use serde::Serialize;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// One recording period of a hearing.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingRecord {
    pub id: String,
    pub hearing_id: String,
    pub started_by: String,
    pub started_at: i64,
    pub stopped_at: Option<i64>,
    /// `recording`, `sealed` or `interrupted`.
    pub status: String,
    #[serde(skip)]
    pub manifest: Option<Vec<u8>>,
    #[serde(skip)]
    pub signature: Option<Vec<u8>>,
    /// For the court's encrypted original voice: the distorted recording it was made with.
    pub original_of: Option<String>,
    /// For the original voice: the hearing roles (wire names) that may download it, once
    /// sealed (the roles every order whose voice is in it names).
    pub raw_to: Option<Vec<String>>,
}

/// One closed segment of a recording.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentRecord {
    pub recording_id: String,
    pub index: i64,
    pub file_name: String,
    pub sha256: String,
    pub chain: String,
    pub samples: i64,
    pub bytes: i64,
    pub closed_at: i64,
    pub audit_seq: i64,
}

fn recording_from_row(r: &AnyRow) -> Result<RecordingRecord, sqlx::Error> {
    Ok(RecordingRecord {
        id: r.try_get("id")?,
        hearing_id: r.try_get("hearing_id")?,
        started_by: r.try_get("started_by")?,
        started_at: r.try_get("started_at")?,
        stopped_at: r.try_get("stopped_at")?,
        status: r.try_get("status")?,
        manifest: r.try_get("manifest")?,
        signature: r.try_get("signature")?,
        original_of: r.try_get("original_of")?,
        raw_to: r.try_get::<Option<String>, _>("raw_to")?.map(|s| {
            s.split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect()
        }),
    })
}

/// The columns [`recording_from_row`] reads (a macro, so queries stay `&'static str`).
macro_rules! recording_columns {
    () => {
        "id, hearing_id, started_by, started_at, stopped_at, status, manifest, signature, \
         original_of, raw_to"
    };
}

fn segment_from_row(r: &AnyRow) -> Result<SegmentRecord, sqlx::Error> {
    Ok(SegmentRecord {
        recording_id: r.try_get("recording_id")?,
        index: r.try_get("idx")?,
        file_name: r.try_get("file_name")?,
        sha256: r.try_get("sha256")?,
        chain: r.try_get("chain")?,
        samples: r.try_get("samples")?,
        bytes: r.try_get("bytes")?,
        closed_at: r.try_get("closed_at")?,
        audit_seq: r.try_get("audit_seq")?,
    })
}

impl Store {
    /// Notes that a recording started.
    ///
    /// # Errors
    /// On database failure.
    pub async fn insert_recording(
        &self,
        id: &str,
        hearing_id: &str,
        started_by: &str,
        started_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recordings (id, hearing_id, started_by, started_at, status) \
             VALUES ($1, $2, $3, $4, 'recording')",
        )
        .bind(id)
        .bind(hearing_id)
        .bind(started_by)
        .bind(started_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Records a closed segment.
    ///
    /// # Errors
    /// On database failure; [`StoreError::Conflict`] if the index was recorded already.
    pub async fn insert_segment(&self, s: &SegmentRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recording_segments (recording_id, idx, file_name, sha256, chain, \
             samples, bytes, closed_at, audit_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.recording_id)
        .bind(s.index)
        .bind(&s.file_name)
        .bind(&s.sha256)
        .bind(&s.chain)
        .bind(s.samples)
        .bind(s.bytes)
        .bind(s.closed_at)
        .bind(s.audit_seq)
        .execute(self.writer())
        .await
        .map_err(StoreError::conflict_on_unique("segment"))?;
        Ok(())
    }

    /// Seals a recording: its manifest and the CAdES signature over it.
    ///
    /// # Errors
    /// On database failure; [`StoreError::NotFound`] when it is not being recorded.
    pub async fn seal_recording(
        &self,
        id: &str,
        stopped_at: i64,
        manifest: &[u8],
        signature: &[u8],
    ) -> Result<(), StoreError> {
        let r = sqlx::query(
            "UPDATE recordings SET stopped_at = $2, status = 'sealed', manifest = $3, \
             signature = $4 WHERE id = $1 AND status = 'recording'",
        )
        .bind(id)
        .bind(stopped_at)
        .bind(manifest)
        .bind(signature)
        .execute(self.writer())
        .await?;
        if r.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound("recording in progress"))
        }
    }

    /// Marks every recording still `recording` as `interrupted` (at start-up: the server
    /// stopped while they were on) and returns them.
    ///
    /// # Errors
    /// On database failure.
    pub async fn interrupt_open_recordings(&self) -> Result<Vec<RecordingRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            recording_columns!(),
            " FROM recordings WHERE status = 'recording'"
        ))
        .fetch_all(&self.pool)
        .await?;
        let found = rows
            .iter()
            .map(recording_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query("UPDATE recordings SET status = 'interrupted' WHERE status = 'recording'")
            .execute(self.writer())
            .await?;
        Ok(found)
    }

    /// A hearing's recordings (the distorted record, never the court's original voice), oldest
    /// first.
    ///
    /// # Errors
    /// On database failure.
    pub async fn recordings(&self, hearing_id: &str) -> Result<Vec<RecordingRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            recording_columns!(),
            " FROM recordings WHERE hearing_id = $1 \
             AND original_of IS NULL ORDER BY started_at, id"
        ))
        .bind(hearing_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(recording_from_row)
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// A hearing's recordings and the court's original-voice streams made with them, oldest
    /// first (for the retention sweep, which names everything it deletes).
    ///
    /// # Errors
    /// On database failure.
    pub async fn recordings_and_originals(
        &self,
        hearing_id: &str,
    ) -> Result<Vec<RecordingRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            recording_columns!(),
            " FROM recordings WHERE hearing_id = $1 \
             ORDER BY started_at, id"
        ))
        .bind(hearing_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(recording_from_row)
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// Notes that the court's original voice started being recorded beside `original_of`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn insert_original_recording(
        &self,
        id: &str,
        original_of: &str,
        hearing_id: &str,
        started_by: &str,
        started_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recordings (id, hearing_id, started_by, started_at, status, original_of) \
             VALUES ($1, $2, $3, $4, 'recording', $5)",
        )
        .bind(id)
        .bind(hearing_id)
        .bind(started_by)
        .bind(started_at)
        .bind(original_of)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Sets who may download an original-voice stream (hearing roles, wire names), at its seal.
    ///
    /// # Errors
    /// On database failure; [`StoreError::NotFound`] when `id` is no original-voice stream.
    pub async fn set_original_audience(
        &self,
        id: &str,
        raw_to: &[String],
    ) -> Result<(), StoreError> {
        let r = sqlx::query(
            "UPDATE recordings SET raw_to = $2 WHERE id = $1 AND original_of IS NOT NULL",
        )
        .bind(id)
        .bind(raw_to.join(","))
        .execute(self.writer())
        .await?;
        if r.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound("original voice recording"))
        }
    }

    /// The court's original-voice stream made with recording `recording_id` of `hearing_id`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn original_of(
        &self,
        hearing_id: &str,
        recording_id: &str,
    ) -> Result<Option<RecordingRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            recording_columns!(),
            " FROM recordings WHERE hearing_id = $1 \
             AND original_of = $2"
        ))
        .bind(hearing_id)
        .bind(recording_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(recording_from_row).transpose()?)
    }

    /// A recording's closed segments, in order.
    ///
    /// # Errors
    /// On database failure.
    pub async fn segments(&self, recording_id: &str) -> Result<Vec<SegmentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT recording_id, idx, file_name, sha256, chain, samples, bytes, closed_at, \
             audit_seq FROM recording_segments WHERE recording_id = $1 ORDER BY idx",
        )
        .bind(recording_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(segment_from_row)
            .collect::<Result<Vec<_>, _>>()?)
    }
}
