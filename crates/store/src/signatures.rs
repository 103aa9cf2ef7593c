//! Electronic signatures: the verdict kept with a signed application, and the one-time
//! challenges of EDS login.

use time::OffsetDateTime;

use crate::{Db, Result, WriteTx, conflict_as, db_time, on_pool, on_tx};

/// What [`WriteTx::insert_application_signature`] conflicts on: the signature is kept with
/// another application already. (The application's own row is new in the same transaction.)
pub const SIGNATURE_USED: &str = "signature already used";

/// The verdict on an application's signature, as stored.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct ApplicationSignatureRow {
    pub application_id: i64,
    pub signer_iin: String,
    pub signer_bin: Option<String>,
    pub certificate_serial: String,
    pub certificate_issuer: String,
    pub signing_time: Option<OffsetDateTime>,
    pub verified_at: OffsetDateTime,
    pub revocation: String,
    pub verdict: String,
    pub signature: String,
    pub content_sha256: String,
    /// Hex SHA-256 identifying the act of signing (`kezek_eds::Verdict::fingerprint`); `None`
    /// for verdicts kept before fingerprints were.
    pub signature_fingerprint: Option<String>,
}

pub struct NewApplicationSignature<'a> {
    pub signer_iin: &'a str,
    pub signer_bin: Option<&'a str>,
    pub certificate_serial: &'a str,
    pub certificate_issuer: &'a str,
    pub signing_time: Option<OffsetDateTime>,
    pub verified_at: OffsetDateTime,
    pub revocation: &'a str,
    pub verdict: &'a str,
    pub signature: &'a str,
    pub content_sha256: &'a str,
    pub signature_fingerprint: &'a str,
}

/// A login challenge as stored (by its digest).
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct EdsChallengeRow {
    pub id: i64,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

impl Db {
    pub async fn application_signature(&self, application: i64) -> Result<Option<ApplicationSignatureRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT application_id, signer_iin, signer_bin, certificate_serial, certificate_issuer, signing_time, \
             verified_at, revocation, verdict, signature, content_sha256, signature_fingerprint FROM application_signatures WHERE application_id = $1")
            .bind(application).fetch_optional(p).await)?)
    }

    pub async fn eds_challenge(&self, challenge_hash: &str) -> Result<Option<EdsChallengeRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, issued_at, expires_at, used_at FROM eds_challenges WHERE challenge_hash = $1")
            .bind(challenge_hash).fetch_optional(p).await)?)
    }
}

impl WriteTx {
    /// Keeps the verdict on the signature of `application`, once. A signature whose
    /// fingerprint is kept with any application already is a [`crate::StoreError::Conflict`] named
    /// [`SIGNATURE_USED`] (a unique index: of two transactions racing, one fails).
    pub async fn insert_application_signature(&mut self, application: i64, s: &NewApplicationSignature<'_>) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO application_signatures (application_id, signer_iin, signer_bin, certificate_serial, certificate_issuer, \
             signing_time, verified_at, revocation, verdict, signature, content_sha256, signature_fingerprint) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
            .bind(application).bind(s.signer_iin).bind(s.signer_bin).bind(s.certificate_serial).bind(s.certificate_issuer)
            .bind(s.signing_time.map(db_time)).bind(db_time(s.verified_at)).bind(s.revocation).bind(s.verdict).bind(s.signature)
            .bind(s.content_sha256).bind(s.signature_fingerprint).execute(c).await.map(|r| r.rows_affected()))
            .map_err(conflict_as(SIGNATURE_USED))?;
        Ok(())
    }

    /// Records a new challenge valid until `expires_at`, and forgets those expired for a day.
    pub async fn insert_eds_challenge(&mut self, challenge_hash: &str, expires_at: OffsetDateTime) -> Result<i64> {
        let now = self.now();
        let forget_before = now - time::Duration::days(1);
        on_tx!(&mut self.tx, c => sqlx::query("DELETE FROM eds_challenges WHERE expires_at < $1")
            .bind(forget_before).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO eds_challenges (challenge_hash, issued_at, expires_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(challenge_hash).bind(now).bind(db_time(expires_at)).fetch_one(c).await)?)
    }

    /// Marks an unused, unexpired challenge used by `user`; false if it was used meanwhile or
    /// has expired (the caller refuses the login then).
    pub async fn consume_eds_challenge(&mut self, challenge_hash: &str, user: i64) -> Result<bool> {
        let now = self.now();
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE eds_challenges SET used_at = $2, used_by = $3 WHERE challenge_hash = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(challenge_hash).bind(now).bind(user).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
