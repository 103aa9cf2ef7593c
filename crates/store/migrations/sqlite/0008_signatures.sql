-- Electronic signatures: the verdict on the applicant's signature kept with each application
-- filed signed (004 App. 3: certificate validity, absence from the revocation list, the IIN of
-- the certificate = the IIN of the request), and the one-time challenges of EDS login.

CREATE TABLE application_signatures (
    application_id INTEGER PRIMARY KEY REFERENCES applications(id),
    signer_iin TEXT NOT NULL,
    signer_bin TEXT,
    -- Upper-case hex, and the issuer's name in RFC 4514 form.
    certificate_serial TEXT NOT NULL,
    certificate_issuer TEXT NOT NULL,
    -- The signer's claim (the signing-time attribute), if made; the server's clock at the check.
    signing_time TEXT,
    verified_at TEXT NOT NULL,
    revocation TEXT NOT NULL CHECK (revocation IN ('good', 'unknown')),
    -- The verdict as `kezek eds verify` prints it, the CMS message as received (DER, base64)
    -- and the SHA-256 of the signed bytes: enough to verify the signature again later.
    verdict TEXT NOT NULL,
    signature TEXT NOT NULL,
    content_sha256 TEXT NOT NULL
);

CREATE TRIGGER application_signatures_no_update BEFORE UPDATE ON application_signatures
BEGIN SELECT RAISE(ABORT, 'signature verdicts are append-only'); END;
CREATE TRIGGER application_signatures_no_delete BEFORE DELETE ON application_signatures
BEGIN SELECT RAISE(ABORT, 'signature verdicts are append-only'); END;

-- A challenge is signed once: `used_at` is set by the login that consumes it, conditionally, so
-- two logins racing with one challenge open one session. Only its SHA-256 is kept.
CREATE TABLE eds_challenges (
    id INTEGER PRIMARY KEY,
    challenge_hash TEXT NOT NULL UNIQUE,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by INTEGER REFERENCES users(id)
);
CREATE INDEX eds_challenges_expiry ON eds_challenges(expires_at);
