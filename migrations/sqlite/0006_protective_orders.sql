-- Protective orders: per witness per hearing, set and changed by the judge. The pseudonym is
-- what everyone is shown instead of the witness's label; the witness's identity is never
-- stored here. `raw_to` lists the hearing roles (comma-separated wire names) that receive the
-- undistorted media; everyone else receives only the anonymised media.
CREATE TABLE protective_orders (
    participant_id TEXT PRIMARY KEY REFERENCES hearing_participants(id) ON DELETE CASCADE,
    hearing_id     TEXT NOT NULL REFERENCES hearings(id) ON DELETE CASCADE,
    pseudonym      TEXT NOT NULL,
    voice          TEXT NOT NULL CHECK (voice IN ('none', 'distorted')),
    face           TEXT NOT NULL CHECK (face IN ('none', 'masked', 'full_frame')),
    raw_to         TEXT NOT NULL,
    set_by         TEXT NOT NULL REFERENCES users(id),
    set_at         INTEGER NOT NULL
);
CREATE INDEX protective_orders_hearing ON protective_orders(hearing_id);

-- The per-hearing secret the anonymisers derive their parameters from (the same made-up voice
-- through one hearing, another in the next), encrypted at rest like attachments: AES-256-GCM
-- under a key of its own wrapped by the master key.
CREATE TABLE hearing_secrets (
    hearing_id  TEXT PRIMARY KEY REFERENCES hearings(id) ON DELETE CASCADE,
    wrapped_key BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
