-- A signature files one application. The fingerprint identifies the act of signing (SHA-256
-- over the signer certificate and the bytes its signature covers: the signed attributes with
-- the content's digest and signing time); the same signature re-packed has the same one. The
-- unique index makes the second of two filings with one signature fail, however they race.
-- Verdicts kept before this migration have none (the table is append-only) and block nothing.
ALTER TABLE application_signatures ADD COLUMN signature_fingerprint TEXT;
CREATE UNIQUE INDEX application_signatures_fingerprint ON application_signatures(signature_fingerprint);
