-- Remote hearings: the booking, who takes part in which role, invitations for people without an
-- account, and the hearing-scoped sessions those invitations turn into.
-- Times are Unix seconds (UTC). Invitation and session tokens are stored only as SHA-256 (hex).

CREATE TABLE hearings (
    id             TEXT PRIMARY KEY,
    case_reference TEXT NOT NULL,
    court          TEXT NOT NULL,
    title          TEXT NOT NULL,
    scheduled_at   INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN
                   ('scheduled', 'open', 'in_session', 'paused', 'adjourned', 'closed')),
    created_by     TEXT NOT NULL REFERENCES users(id),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX hearings_scheduled ON hearings(scheduled_at);

-- A party to one hearing: an account (judge, clerk) or an invited person (user_id NULL).
-- `label` is what the court calls them in the hearing (e.g. "Witness A"); never a protected
-- witness's name.
CREATE TABLE hearing_participants (
    id         TEXT PRIMARY KEY,
    hearing_id TEXT NOT NULL REFERENCES hearings(id) ON DELETE CASCADE,
    user_id    TEXT REFERENCES users(id),
    role       TEXT NOT NULL CHECK (role IN ('judge', 'clerk', 'prosecutor', 'defence_counsel',
               'defendant', 'witness', 'expert', 'interpreter', 'observer', 'remote_official')),
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    removed_at INTEGER
);
CREATE UNIQUE INDEX hearing_participants_account ON hearing_participants(hearing_id, user_id);

-- A single-use, expiring link for one participant of one hearing.
CREATE TABLE hearing_invitations (
    id             TEXT PRIMARY KEY,
    hearing_id     TEXT NOT NULL REFERENCES hearings(id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL REFERENCES hearing_participants(id) ON DELETE CASCADE,
    token_hash     TEXT NOT NULL UNIQUE,
    created_by     TEXT NOT NULL REFERENCES users(id),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    redeemed_at    INTEGER,
    revoked_at     INTEGER
);
CREATE INDEX hearing_invitations_hearing ON hearing_invitations(hearing_id);

-- What a redeemed invitation becomes: a session valid for that one hearing and participant.
CREATE TABLE hearing_sessions (
    token_hash     TEXT PRIMARY KEY,
    hearing_id     TEXT NOT NULL REFERENCES hearings(id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL REFERENCES hearing_participants(id) ON DELETE CASCADE,
    invitation_id  TEXT NOT NULL REFERENCES hearing_invitations(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX hearing_sessions_participant ON hearing_sessions(participant_id);
