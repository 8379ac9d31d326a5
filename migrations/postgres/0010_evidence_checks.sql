-- Evidence packages (ASiC-E) that arrived with a move to EVIDENCE_TRANSMITTED — a hearing's
-- record returned by the executing authority — as this server checked them on arrival, with the
-- checks of `assize verify` (the container seal and time-stamp, every file re-hashed against the
-- sealed manifest, every recording's and the minutes' own seal). A package that fails is never
-- stored: the whole message is refused with a negative receipt naming the file. `report` is the
-- per-file result (JSON). Append-only.
CREATE TABLE mla_evidence_checks (
    attachment_id TEXT PRIMARY KEY REFERENCES mla_attachments(id),
    request_id    TEXT NOT NULL REFERENCES mla_requests(id),
    message_id    TEXT NOT NULL REFERENCES mla_messages(id),
    outcome       TEXT NOT NULL CHECK (outcome IN ('verified')),
    files         BIGINT NOT NULL,
    report        TEXT NOT NULL,
    checked_at    BIGINT NOT NULL
);
CREATE INDEX mla_evidence_checks_request ON mla_evidence_checks(request_id);
CREATE TRIGGER mla_evidence_checks_append_only BEFORE UPDATE OR DELETE ON mla_evidence_checks
    FOR EACH ROW EXECUTE FUNCTION assize_append_only();
CREATE TRIGGER mla_evidence_checks_no_truncate BEFORE TRUNCATE ON mla_evidence_checks
    FOR EACH STATEMENT EXECUTE FUNCTION assize_append_only();
