-- The hearing's minutes, generated from its audit entries and sealed when it closes: the
-- structured document (canonical JSON, schema `assize.minutes/1`), its HTML and PDF renderings,
-- and a manifest listing the SHA-256 of all three, sealed CAdES B-T (`signature`). One final
-- set per hearing (a closed hearing is final); drafts are sealed and audited but not stored.
-- Never updated, and deleted only at the end of the retention period (see record_deletions):
-- triggers refuse anything else.
CREATE TABLE hearing_minutes (
    hearing_id   TEXT PRIMARY KEY REFERENCES hearings(id),
    generated_at BIGINT NOT NULL,
    document     BYTEA NOT NULL,
    html         BYTEA NOT NULL,
    pdf          BYTEA NOT NULL,
    manifest     BYTEA NOT NULL,
    signature    BYTEA NOT NULL
);
CREATE TRIGGER hearing_minutes_no_update BEFORE UPDATE ON hearing_minutes
    FOR EACH ROW EXECUTE FUNCTION assize_append_only();

-- The minutes read a hearing's audit entries by object (`hearing:<id>`).
CREATE INDEX audit_entries_object ON audit_entries(object, seq);

-- Hearing records deleted at the end of their retention period (the retention sweep): when, under
-- which period, and the audit entry (`record.deleted`) that names what was deleted with every
-- segment's hash, so the log still proves what existed. Append-only. The segment rows
-- (recording_segments, append-only) stay: they hold hashes, not content.
CREATE TABLE record_deletions (
    hearing_id     TEXT PRIMARY KEY REFERENCES hearings(id),
    deleted_at     BIGINT NOT NULL,
    retention_days BIGINT NOT NULL,
    audit_seq      BIGINT NOT NULL
);
CREATE TRIGGER record_deletions_append_only BEFORE UPDATE OR DELETE ON record_deletions
    FOR EACH ROW EXECUTE FUNCTION assize_append_only();
CREATE TRIGGER record_deletions_no_truncate BEFORE TRUNCATE ON record_deletions
    FOR EACH STATEMENT EXECUTE FUNCTION assize_append_only();

-- Minutes go only with their record, once the deletion is entered above.
CREATE FUNCTION assize_minutes_retained() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM record_deletions WHERE hearing_id = OLD.hearing_id) THEN
        RAISE EXCEPTION 'hearing_minutes are deleted only at the end of their retention period';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER hearing_minutes_no_delete BEFORE DELETE ON hearing_minutes
    FOR EACH ROW EXECUTE FUNCTION assize_minutes_retained();
CREATE TRIGGER hearing_minutes_no_truncate BEFORE TRUNCATE ON hearing_minutes
    FOR EACH STATEMENT EXECUTE FUNCTION assize_append_only();
