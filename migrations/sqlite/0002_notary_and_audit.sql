-- TSA serial numbers are reserved in blocks; this is the durable high-water mark.
CREATE TABLE tsa_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    reserved_until INTEGER NOT NULL
);
INSERT INTO tsa_state (id, reserved_until) VALUES (1, 0);

-- The audit log: an RFC 9162 Merkle tree whose leaves are the entries' canonical JSON bodies.
CREATE TABLE audit_entries (
    seq       INTEGER PRIMARY KEY,          -- leaf index, from 0, no gaps
    at_ms     INTEGER NOT NULL,             -- Unix milliseconds (UTC)
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    body      TEXT NOT NULL,                -- the leaf: RFC 8785 canonical JSON of the whole entry
    leaf_hash BLOB NOT NULL                 -- SHA-256(0x00 || body), recorded when appended
);

-- Signed, time-stamped tree heads.
CREATE TABLE audit_checkpoints (
    tree_size INTEGER PRIMARY KEY,
    root_hash BLOB NOT NULL,
    at_ms     INTEGER NOT NULL,
    note      TEXT NOT NULL,                -- the signed text (origin, size, root, time)
    signature BLOB NOT NULL                 -- CAdES B-T detached signature over `note`
);

-- Checkpoints other states' servers sent us: evidence against a peer rewriting its history.
CREATE TABLE audit_peer_checkpoints (
    id           TEXT PRIMARY KEY,
    authority_id TEXT NOT NULL REFERENCES authorities(id),
    tree_size    INTEGER NOT NULL,
    root_hash    BLOB NOT NULL,
    note         TEXT NOT NULL,
    signature    BLOB NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX audit_peer_checkpoints_latest ON audit_peer_checkpoints(authority_id, tree_size);

-- Append-only, in the database too (the code never issues UPDATE or DELETE on these tables).
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_peer_checkpoints_no_update BEFORE UPDATE ON audit_peer_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_peer_checkpoints is append-only'); END;
CREATE TRIGGER audit_peer_checkpoints_no_delete BEFORE DELETE ON audit_peer_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_peer_checkpoints is append-only'); END;
