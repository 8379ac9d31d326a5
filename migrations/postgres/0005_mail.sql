-- The mail outbox: every message the server will send, written in the same transaction as the
-- change it announces and sent later by the dispatcher (at least once). Rows are never deleted by
-- the server: a sent message keeps its `sent_at`, an unsent one waits for its next attempt.
-- Times are Unix seconds (UTC).
--
-- `message` is the complete RFC 5322 message (CRLF line endings), built when it was queued, so
-- what is sent is exactly what was decided (and, for S/MIME, exactly what was signed).
-- `recipients` is a JSON array of addresses (the SMTP envelope's RCPT TO).
-- A dispatcher claims a due row by setting `lease_owner`/`leased_until` with a conditional UPDATE;
-- a lease that runs out (a dispatcher that died mid-send) makes the row due again.

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    created_at      BIGINT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('notice', 'signed', 'test')),
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    message         BYTEA NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    lease_owner     TEXT,
    leased_until    BIGINT,
    sent_at         BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at) WHERE sent_at IS NULL;
