-- The seal certificate the directory pins for another state's authority: the SHA-256 (hex) of the
-- certificate that authority seals its MLA messages and receipts with. NULL: no pin; a seal is
-- then accepted when its certificate chains to a trusted CA and names the authority's code
-- (organizationIdentifier). Local authorities leave it NULL (their seal is configured or issued
-- on this server).
ALTER TABLE authorities ADD COLUMN seal_cert_sha256 TEXT;
