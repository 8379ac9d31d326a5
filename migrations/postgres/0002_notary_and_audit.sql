-- TSA serial numbers are reserved in blocks; this is the durable high-water mark.
CREATE TABLE tsa_state (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    reserved_until BIGINT NOT NULL
);
INSERT INTO tsa_state (id, reserved_until) VALUES (1, 0);

-- The audit log: an RFC 9162 Merkle tree whose leaves are the entries' canonical JSON bodies.
CREATE TABLE audit_entries (
    seq       BIGINT PRIMARY KEY,           -- leaf index, from 0, no gaps
    at_ms     BIGINT NOT NULL,              -- Unix milliseconds (UTC)
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    body      TEXT NOT NULL,                -- the leaf: RFC 8785 canonical JSON of the whole entry
    leaf_hash BYTEA NOT NULL                -- SHA-256(0x00 || body), recorded when appended
);

-- Signed, time-stamped tree heads.
CREATE TABLE audit_checkpoints (
    tree_size BIGINT PRIMARY KEY,
    root_hash BYTEA NOT NULL,
    at_ms     BIGINT NOT NULL,
    note      TEXT NOT NULL,                -- the signed text (origin, size, root, time)
    signature BYTEA NOT NULL                -- CAdES B-T detached signature over `note`
);

-- Checkpoints other states' servers sent us: evidence against a peer rewriting its history.
CREATE TABLE audit_peer_checkpoints (
    id           TEXT PRIMARY KEY,
    authority_id TEXT NOT NULL REFERENCES authorities(id),
    tree_size    BIGINT NOT NULL,
    root_hash    BYTEA NOT NULL,
    note         TEXT NOT NULL,
    signature    BYTEA NOT NULL,
    received_at  BIGINT NOT NULL
);
CREATE INDEX audit_peer_checkpoints_latest ON audit_peer_checkpoints(authority_id, tree_size);

-- Append-only, in the database too (the code never issues UPDATE, DELETE or TRUNCATE on these).
CREATE FUNCTION assize_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION assize_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION assize_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION assize_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION assize_append_only();
CREATE TRIGGER audit_peer_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_peer_checkpoints
    FOR EACH ROW EXECUTE FUNCTION assize_append_only();
CREATE TRIGGER audit_peer_checkpoints_no_truncate BEFORE TRUNCATE ON audit_peer_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION assize_append_only();
