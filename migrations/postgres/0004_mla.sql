-- Mutual legal assistance: the directory of authorities (ours and other states'), officers'
-- membership of an authority, requests (EIO and generic MLA), the sealed messages exchanged about
-- them, encrypted attachments, and the deadline notices already sent.
-- Times are Unix seconds (UTC).

-- The directory. Rows with `local` = 1 are authorities hosted on this server; the others are other
-- states' authorities, known by the client certificate their server presents (`cert_sha256`).
-- A local authority presents no certificate of its own: its `cert_sha256` holds 'local:' || code,
-- which can never equal a hex fingerprint.
ALTER TABLE authorities ADD COLUMN code TEXT;
ALTER TABLE authorities ADD COLUMN local BIGINT NOT NULL DEFAULT 0;
ALTER TABLE authorities ADD COLUMN kind TEXT NOT NULL DEFAULT 'central';
ALTER TABLE authorities ADD COLUMN endpoint TEXT;
ALTER TABLE authorities ADD COLUMN email TEXT;
UPDATE authorities SET code = country || '-' || id WHERE code IS NULL;
CREATE UNIQUE INDEX authorities_code ON authorities(code);

-- The authority an officer (or a validating judge) acts for. NULL: none.
ALTER TABLE users ADD COLUMN authority_id TEXT REFERENCES authorities(id);

CREATE TABLE mla_requests (
    id                      TEXT PRIMARY KEY,   -- chosen by the issuing server; same on both sides
    kind                    TEXT NOT NULL CHECK (kind IN ('eio', 'mla')),
    reference               TEXT NOT NULL,      -- the issuing authority's file reference
    issuing_authority_id    TEXT NOT NULL REFERENCES authorities(id),
    executing_authority_id  TEXT NOT NULL REFERENCES authorities(id),
    side                    TEXT NOT NULL CHECK (side IN ('issuing', 'executing')),
    status                  TEXT NOT NULL,
    urgent                  BIGINT NOT NULL DEFAULT 0,
    form                    TEXT NOT NULL,      -- the request's structured content (JSON)
    requested_date          BIGINT,            -- generic MLA: the date the assistance is asked for
    transmitted_at          BIGINT,
    received_at             BIGINT,            -- when the executing server accepted it
    acknowledged_at         BIGINT,
    recognised_at           BIGINT,
    finished_at             BIGINT,            -- executed, partially executed, refused, withdrawn
    extended_at             BIGINT,            -- recognition deadline extended (once)
    extension_reason        TEXT,
    retrieved_at            BIGINT,            -- first opened by an officer of the executing side
    created_by              TEXT REFERENCES users(id),
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX mla_requests_issuing ON mla_requests(issuing_authority_id, updated_at);
CREATE INDEX mla_requests_executing ON mla_requests(executing_authority_id, updated_at);

-- Every sealed document about a request, in the order this server recorded them: the request
-- itself, each change of status, receipts. `document` is exactly the bytes that `seal` (CAdES
-- B-T, detached) signs. Outgoing messages wait here until the other server accepts them.
CREATE TABLE mla_messages (
    id               TEXT PRIMARY KEY,          -- chosen by the sender: the idempotency key
    request_id       TEXT NOT NULL REFERENCES mla_requests(id),
    seq              BIGINT NOT NULL,
    direction        TEXT NOT NULL CHECK (direction IN ('out', 'in', 'local')),
    type             TEXT NOT NULL,
    from_status      TEXT,
    to_status        TEXT NOT NULL,
    document         BYTEA NOT NULL,
    seal             BYTEA NOT NULL,
    document_sha256  TEXT NOT NULL,
    transport_status TEXT NOT NULL CHECK (transport_status IN
                     ('SUBMITTED', 'DELIVERED', 'RETRIEVED', 'FAILED', 'LOCAL')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT,
    last_error       TEXT,
    receipt          BYTEA,                      -- the signed receipt (theirs for 'out', ours for 'in')
    receipt_seal     BYTEA,
    actor            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    UNIQUE (request_id, seq)
);
CREATE INDEX mla_messages_queue ON mla_messages(transport_status, next_attempt_at);

-- Attachments, encrypted at rest: AES-256-GCM under a key of their own, itself wrapped
-- (AES-256-GCM) by the server's master key. `sha256` is of the plaintext.
CREATE TABLE mla_attachments (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES mla_requests(id),
    message_id  TEXT REFERENCES mla_messages(id),   -- the message that carried it; NULL: not sent yet
    filename    TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX mla_attachments_request ON mla_attachments(request_id);

-- Deadline notices already queued, so that each is sent once.
CREATE TABLE mla_deadline_notices (
    request_id TEXT NOT NULL REFERENCES mla_requests(id),
    deadline   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('approaching', 'lapsed')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, deadline, kind)
);
