-- The court's encrypted original voice (issue #8): a protective order may say the court keeps
-- the witness's undistorted voice. `keep_original` (0 or 1) is part of the order.
ALTER TABLE protective_orders ADD COLUMN keep_original INTEGER NOT NULL DEFAULT 0
    CHECK (keep_original IN (0, 1));

-- The original voice is a recording stream of its own beside the distorted record: a row of
-- `recordings` whose `original_of` names the (distorted) recording it was made with. Its
-- segments (`recording_segments`, hash-chained and audited like the others) are CMS
-- EnvelopedData to the court's certificate, never clear audio. `raw_to` lists the hearing roles
-- (comma-separated wire names) that may download it: those every order whose voice is in it
-- names. The ordinary export never contains these rows.
ALTER TABLE recordings ADD COLUMN original_of TEXT REFERENCES recordings(id);
ALTER TABLE recordings ADD COLUMN raw_to TEXT;
CREATE INDEX recordings_original_of ON recordings(original_of);
