-- Hearing recordings: one row per start/stop period, sealed at stop (manifest + CAdES B-T).
-- `status`: 'recording' while on; 'sealed' once stopped and sealed; 'interrupted' when the
-- server stopped while it was on (found at the next start; its closed segments stay provable).
CREATE TABLE recordings (
    id          TEXT PRIMARY KEY,
    hearing_id  TEXT NOT NULL REFERENCES hearings(id),
    started_by  TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    stopped_at  BIGINT,
    status      TEXT NOT NULL CHECK (status IN ('recording', 'sealed', 'interrupted')),
    manifest    BYTEA,
    signature   BYTEA
);
CREATE INDEX recordings_hearing ON recordings(hearing_id);

-- Each closed segment file, as the recorder sealed it: its SHA-256 and the chain value
-- SHA-256(previous chain value || segment hash || index as 4 bytes big-endian). Append-only.
CREATE TABLE recording_segments (
    recording_id TEXT NOT NULL REFERENCES recordings(id),
    idx          BIGINT NOT NULL,
    file_name    TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    chain        TEXT NOT NULL,
    samples      BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    closed_at    BIGINT NOT NULL,
    audit_seq    BIGINT NOT NULL,
    PRIMARY KEY (recording_id, idx)
);
CREATE TRIGGER recording_segments_append_only BEFORE UPDATE OR DELETE ON recording_segments
    FOR EACH ROW EXECUTE FUNCTION assize_append_only();
CREATE TRIGGER recording_segments_no_truncate BEFORE TRUNCATE ON recording_segments
    FOR EACH STATEMENT EXECUTE FUNCTION assize_append_only();
