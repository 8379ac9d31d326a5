-- The hearing's minutes, generated from its audit entries and sealed when it closes: the
-- structured document (canonical JSON, schema `assize.minutes/1`), its HTML and PDF renderings,
-- and a manifest listing the SHA-256 of all three, sealed CAdES B-T (`signature`). One final
-- set per hearing (a closed hearing is final); drafts are sealed and audited but not stored.
-- Never updated, and deleted only at the end of the retention period (see record_deletions):
-- triggers refuse anything else.
CREATE TABLE hearing_minutes (
    hearing_id   TEXT PRIMARY KEY REFERENCES hearings(id),
    generated_at INTEGER NOT NULL,
    document     BLOB NOT NULL,
    html         BLOB NOT NULL,
    pdf          BLOB NOT NULL,
    manifest     BLOB NOT NULL,
    signature    BLOB NOT NULL
);
CREATE TRIGGER hearing_minutes_no_update BEFORE UPDATE ON hearing_minutes
BEGIN SELECT RAISE(ABORT, 'hearing_minutes is never updated'); END;

-- The minutes read a hearing's audit entries by object (`hearing:<id>`).
CREATE INDEX audit_entries_object ON audit_entries(object, seq);

-- Hearing records deleted at the end of their retention period (the retention sweep): when, under
-- which period, and the audit entry (`record.deleted`) that names what was deleted with every
-- segment's hash, so the log still proves what existed. Append-only. The segment rows
-- (recording_segments, append-only) stay: they hold hashes, not content.
CREATE TABLE record_deletions (
    hearing_id     TEXT PRIMARY KEY REFERENCES hearings(id),
    deleted_at     INTEGER NOT NULL,
    retention_days INTEGER NOT NULL,
    audit_seq      INTEGER NOT NULL
);
CREATE TRIGGER record_deletions_no_update BEFORE UPDATE ON record_deletions
BEGIN SELECT RAISE(ABORT, 'record_deletions is append-only'); END;
CREATE TRIGGER record_deletions_no_delete BEFORE DELETE ON record_deletions
BEGIN SELECT RAISE(ABORT, 'record_deletions is append-only'); END;

-- Minutes go only with their record, once the deletion is entered above.
CREATE TRIGGER hearing_minutes_no_delete BEFORE DELETE ON hearing_minutes
WHEN NOT EXISTS (SELECT 1 FROM record_deletions WHERE hearing_id = OLD.hearing_id)
BEGIN SELECT RAISE(ABORT, 'hearing_minutes are deleted only at the end of their retention period'); END;
