//! Retention of the hearing record: a closed hearing's recordings and minutes are kept for the
//! period its court's setting gives (`recording.retention_by_court`, else
//! `recording.retention_days`, counted from the close), then the sweep deletes them.
//!
//! Deleting is itself on the record: first an audit entry `record.deleted` naming every
//! recording, every segment's index and SHA-256 and the last chain value, and the hash of the
//! minutes' sealed manifest, so the audit log still proves what existed; then the segment files;
//! then, in one transaction, the deletion is entered (`record_deletions`, append-only) and the
//! minutes row goes (its trigger refuses that without the deletion entered). A failure part-way
//! leaves the record not marked deleted, and the next sweep finishes it (auditing again). The
//! segment rows stay: they hold hashes, not content. No route deletes a record; only this does.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::Recordings;
use crate::audit::{Actor, AuditEvent};
use crate::store::{RecordDeletion, RetainedRecord, now};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The retention periods, in days, by court. Pure.
#[derive(Clone, Debug)]
pub struct RetentionPolicy {
    pub default_days: u32,
    pub by_court: BTreeMap<String, u32>,
}

impl RetentionPolicy {
    /// The period of `court`'s records, in days.
    pub fn days_for(&self, court: &str) -> u32 {
        self.by_court
            .get(court)
            .copied()
            .unwrap_or(self.default_days)
    }

    /// Whether a record of `court` closed at `closed_at` has outlived its period at `now`
    /// (Unix seconds).
    pub fn expired(&self, court: &str, closed_at: i64, now: i64) -> bool {
        let days = i64::from(self.days_for(court));
        now >= closed_at.saturating_add(days.saturating_mul(DAY))
    }
}

impl Recordings {
    /// Deletes every record whose retention period has ended at `now`; returns how many.
    ///
    /// # Errors
    /// On database, audit or disk failure (records already done stay done).
    pub async fn sweep_expired(&self, policy: &RetentionPolicy, now: i64) -> anyhow::Result<usize> {
        let mut deleted = 0;
        for r in self.store.retained_records().await? {
            if policy.expired(&r.court, r.closed_at, now) {
                self.delete_record(&r, policy.days_for(&r.court))
                    .await
                    .with_context(|| format!("deleting the record of hearing {}", r.hearing_id))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn delete_record(&self, r: &RetainedRecord, days: u32) -> anyhow::Result<()> {
        let mut recordings = Vec::new();
        for rec in self.store.recordings_and_originals(&r.hearing_id).await? {
            let segments = self.store.segments(&rec.id).await?;
            recordings.push(json!({
                "recording": rec.id, "status": rec.status, "original_of": rec.original_of,
                "started_at": rec.started_at, "stopped_at": rec.stopped_at,
                "last_chain": segments.last().map(|s| s.chain.clone()),
                "segments": segments.iter()
                    .map(|s| json!({ "index": s.index, "sha256": s.sha256 }))
                    .collect::<Vec<_>>(),
            }));
        }
        let minutes = self
            .store
            .minutes(&r.hearing_id)
            .await?
            .map(|m| hex::encode(Sha256::digest(&m.manifest)));
        let seq = self
            .audit
            .append(
                AuditEvent::new(
                    Actor::System,
                    "record.deleted",
                    format!("hearing:{}", r.hearing_id),
                )
                .with(json!({ "retention_days": days, "closed_at": r.closed_at,
                              "recordings": recordings,
                              "minutes_manifest_sha256": minutes })),
            )
            .await?;
        let dir = self.dir.join(&r.hearing_id);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing {}", dir.display()));
            }
        }
        match self
            .store
            .delete_record(&RecordDeletion {
                hearing_id: r.hearing_id.clone(),
                deleted_at: now(),
                retention_days: i64::from(days),
                audit_seq: i64::try_from(seq).unwrap_or(i64::MAX),
            })
            .await
        {
            Ok(()) | Err(crate::store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(hearing = %r.hearing_id, retention_days = days, audit_seq = seq,
            "a hearing record reached the end of its retention period and was deleted");
        Ok(())
    }

    /// Sweeps every `every` until the task is aborted; a failed sweep is logged and retried at
    /// the next.
    pub async fn run_retention(
        self: std::sync::Arc<Self>,
        policy: RetentionPolicy,
        every: std::time::Duration,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.sweep_expired(&policy, now()).await {
                tracing::error!(
                    error = format!("{e:#}"),
                    "the retention sweep failed; it runs again later"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_court_s_own_period_wins_and_a_record_expires_at_the_end_of_its_last_day() {
        let policy = RetentionPolicy {
            default_days: 3650,
            by_court: [("Short".to_string(), 1)].into_iter().collect(),
        };
        assert_eq!(policy.days_for("Short"), 1);
        assert_eq!(policy.days_for("Other"), 3650);
        assert!(!policy.expired("Short", 1_000, 1_000 + DAY - 1));
        assert!(policy.expired("Short", 1_000, 1_000 + DAY));
        assert!(!policy.expired("Other", 1_000, 1_000 + 3649 * DAY));
        assert!(policy.expired("Other", 1_000, 1_000 + 3650 * DAY));
        // No overflow at the edges.
        assert!(!policy.expired("Other", i64::MAX - 5, i64::MAX - 1));
    }
}
