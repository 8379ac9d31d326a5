//! The audit log's tables (append-only: no UPDATE or DELETE is ever issued on them, and triggers
//! refuse both) and the TSA's serial high-water mark.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// One stored audit entry.
#[derive(Clone, Debug)]
pub struct AuditRow {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub object: String,
    /// The leaf: canonical JSON of the whole entry.
    pub body: String,
    /// SHA-256(0x00 || body) as computed when appended.
    pub leaf_hash: Vec<u8>,
}

/// One stored checkpoint (signed tree head).
#[derive(Clone, Debug)]
pub struct CheckpointRow {
    pub tree_size: i64,
    pub root_hash: Vec<u8>,
    pub at_ms: i64,
    pub note: String,
    pub signature: Vec<u8>,
}

/// Rows per multi-row INSERT (7 parameters each stays under both engines' parameter limits).
const INSERT_CHUNK: usize = 500;

fn audit_row(r: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        seq: r.try_get("seq")?,
        at_ms: r.try_get("at_ms")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        object: r.try_get("object")?,
        body: r.try_get("body")?,
        leaf_hash: r.try_get("leaf_hash")?,
    })
}

fn checkpoint_row(r: &AnyRow) -> Result<CheckpointRow, sqlx::Error> {
    Ok(CheckpointRow {
        tree_size: r.try_get("tree_size")?,
        root_hash: r.try_get("root_hash")?,
        at_ms: r.try_get("at_ms")?,
        note: r.try_get("note")?,
        signature: r.try_get("signature")?,
    })
}

impl Store {
    /// Moves the TSA serial high-water mark up by `block` and returns the new mark. Durable
    /// before it returns, so serials below it may be used.
    ///
    /// # Errors
    /// On database failure.
    pub async fn reserve_tsa_serials(&self, block: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "UPDATE tsa_state SET reserved_until = reserved_until + $1 WHERE id = 1 RETURNING reserved_until",
        )
        .bind(block)
        .fetch_one(self.writer())
        .await?;
        Ok(row.try_get("reserved_until")?)
    }

    /// The number of audit entries (the next sequence number).
    ///
    /// # Errors
    /// On database failure.
    pub async fn audit_len(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq) + 1, 0) AS n FROM audit_entries")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Leaf hashes of entries `from..`, in order (to rebuild or catch up the in-memory tree).
    ///
    /// # Errors
    /// On database failure.
    pub async fn audit_leaf_hashes_from(
        &self,
        from: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, leaf_hash FROM audit_entries WHERE seq >= $1 ORDER BY seq")
                .bind(from)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("leaf_hash")?)))
            .collect()
    }

    /// Appends entries whose sequence numbers continue the log, in one transaction. Returns
    /// [`StoreError::Conflict`] when another writer got there first (the caller catches up and
    /// retries); nothing is written then.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], or on database failure.
    pub async fn append_audit(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let mut tx = self.begin_write().await?;
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(seq) + 1, 0) AS n FROM audit_entries")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if next != first.seq {
            return Err(StoreError::Conflict("audit sequence number"));
        }
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO audit_entries (seq, at_ms, actor, action, object, body, leaf_hash) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 7;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                ));
            }
            // Only placeholders are formatted into the SQL; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.seq)
                    .bind(r.at_ms)
                    .bind(r.actor.as_str())
                    .bind(r.action.as_str())
                    .bind(r.object.as_str())
                    .bind(r.body.as_str())
                    .bind(r.leaf_hash.clone());
            }
            q.execute(&mut *tx)
                .await
                .map_err(StoreError::conflict_on_unique("audit sequence number"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One entry.
    ///
    /// # Errors
    /// On database failure.
    pub async fn audit_entry(&self, seq: i64) -> Result<Option<AuditRow>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, at_ms, actor, action, object, body, leaf_hash FROM audit_entries WHERE seq = $1",
        )
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(audit_row).transpose()?)
    }

    /// The first `limit` entries about `object` (e.g. `mla_request:<id>`), oldest first, all
    /// actions included.
    ///
    /// # Errors
    /// On database failure.
    pub async fn audit_entries_about_first(
        &self,
        object: &str,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, object, body, leaf_hash FROM audit_entries \
             WHERE object = $1 ORDER BY seq LIMIT $2",
        )
        .bind(object)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(audit_row).collect::<Result<_, _>>()?)
    }

    /// Entries with `from <= seq < to`, in order.
    ///
    /// # Errors
    /// On database failure.
    pub async fn audit_entries(&self, from: i64, to: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, object, body, leaf_hash FROM audit_entries \
             WHERE seq >= $1 AND seq < $2 ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(audit_row).collect::<Result<_, _>>()?)
    }

    /// Stores a checkpoint.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when one exists for this size.
    pub async fn insert_checkpoint(&self, c: &CheckpointRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (tree_size, root_hash, at_ms, note, signature) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.tree_size)
        .bind(c.root_hash.clone())
        .bind(c.at_ms)
        .bind(c.note.as_str())
        .bind(c.signature.clone())
        .execute(self.writer())
        .await
        .map_err(StoreError::conflict_on_unique("a checkpoint for this tree size"))?;
        Ok(())
    }

    /// The checkpoint with the largest tree size.
    ///
    /// # Errors
    /// On database failure.
    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>, StoreError> {
        let row = sqlx::query(
            "SELECT tree_size, root_hash, at_ms, note, signature FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(checkpoint_row).transpose()?)
    }

    /// Every checkpoint, by tree size.
    ///
    /// # Errors
    /// On database failure.
    pub async fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT tree_size, root_hash, at_ms, note, signature FROM audit_checkpoints ORDER BY tree_size",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(checkpoint_row).collect::<Result<_, _>>()?)
    }

    /// Records a checkpoint received from another state's server.
    ///
    /// # Errors
    /// On database failure.
    pub async fn insert_peer_checkpoint(
        &self,
        authority_id: &str,
        c: &CheckpointRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_peer_checkpoints (id, authority_id, tree_size, root_hash, note, signature, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(authority_id)
        .bind(c.tree_size)
        .bind(c.root_hash.clone())
        .bind(c.note.as_str())
        .bind(c.signature.clone())
        .bind(super::now())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The largest checkpoint we hold from a peer.
    ///
    /// # Errors
    /// On database failure.
    pub async fn latest_peer_checkpoint(
        &self,
        authority_id: &str,
    ) -> Result<Option<CheckpointRow>, StoreError> {
        let row = sqlx::query(
            "SELECT tree_size, root_hash, received_at AS at_ms, note, signature FROM audit_peer_checkpoints \
             WHERE authority_id = $1 ORDER BY tree_size DESC, received_at DESC LIMIT 1",
        )
        .bind(authority_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(checkpoint_row).transpose()?)
    }
}
