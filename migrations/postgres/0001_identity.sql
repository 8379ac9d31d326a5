-- Accounts, roles, sessions, API tokens, one-time links and other states' authorities.
-- Times are Unix seconds (UTC). Secrets are stored only as SHA-256 hashes (tokens) or argon2id
-- hashes (passwords).

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    username          TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    password_hash     TEXT,                     -- argon2id PHC string; NULL until a password is set
    totp_secret       BYTEA,                     -- set once enrolment is confirmed
    totp_pending      BYTEA,                     -- offered during enrolment, not yet confirmed
    totp_last_step    BIGINT NOT NULL DEFAULT 0, -- last accepted time step: codes are single-use
    disabled          BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('administrator', 'judge', 'clerk', 'officer')),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,              -- SHA-256 of the cookie value, hex
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_hash    TEXT NOT NULL,                 -- SHA-256 of the CSRF token, hex
    stage        TEXT NOT NULL CHECK (stage IN ('full', 'totp_enrolment')),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL               -- absolute end; idle end is last_seen_at + idle
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE one_time_links (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('first_administrator', 'set_password')),
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE authorities (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    country     TEXT NOT NULL,                  -- ISO 3166-1 alpha-2
    cert_sha256 TEXT NOT NULL UNIQUE,           -- fingerprint of its mutual-TLS client certificate
    created_at  BIGINT NOT NULL
);
