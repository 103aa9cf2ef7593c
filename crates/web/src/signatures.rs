//! Electronic signatures at the server: the verifier built once at start from the configuration
//! (or the demo CA), the check of an applicant's signature over what they file, and the
//! problems a refused or unverifiable signature answers with. Verification itself is
//! `kezek-eds`'s; this module only decides what is expected of the signature and what is kept.

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kezek_domain::identity::Iin;
use kezek_eds::demo::DemoPki;
use kezek_eds::{KeyPurpose, Reason, Request, TrustStore, UpdatableCrls, Verdict, Verifier, decode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::{CrlPolicy, EdsConfig};
use crate::i18n::current_lang;
use crate::messages;
use crate::problem::Problem;
use crate::state::AppState;

/// The folder of the demo CA inside the data folder.
pub const DEMO_PKI_DIR: &str = "eds-demo";

/// How the verifier was configured, for the start-up banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    Configured,
    /// The demo CA in this folder.
    Demo(std::path::PathBuf),
    /// No roots: signed filings and EDS login answer 503.
    None,
}

/// The verifier and the CRLs it reads, which the distribution points' refresh replaces.
#[derive(Debug)]
pub struct LoadedVerifier {
    pub verifier: Arc<Verifier>,
    pub crls: Arc<UpdatableCrls>,
}

/// Builds the verifier from the configured roots, intermediates and CRL files. Without roots,
/// in demo mode, it trusts the demo CA of `data_dir` (created on the first start for the demo
/// citizens `citizens`); otherwise there is no verifier, and every signature is refused as
/// unverifiable rather than accepted. CRLs of `--eds-crl-url` are fetched afterwards
/// (`crl_distribution`), into the returned `crls`.
pub fn load_verifier(
    config: &EdsConfig,
    data_dir: &Path,
    demo: bool,
    citizens: &[String],
    now: OffsetDateTime,
) -> anyhow::Result<(Option<LoadedVerifier>, Trust)> {
    if config.eds_roots.is_none() && !config.eds_crl_urls.is_empty() {
        anyhow::bail!("--eds-crl-url needs --eds-roots: a fetched CRL is taken only when signed by a configured CA");
    }
    let (roots_dir, crl_files, policy, trust) = match &config.eds_roots {
        Some(roots) => (roots.clone(), config.eds_crls.clone(), config.eds_crl_policy, Trust::Configured),
        None if demo => {
            let dir = data_dir.join(DEMO_PKI_DIR);
            let pki = DemoPki::at(&dir);
            if !pki.exists() {
                pki.create(now, citizens)?;
            }
            (pki.roots_dir(), vec![pki.crl_file()], CrlPolicy::Require, Trust::Demo(dir))
        }
        None => return Ok((None, Trust::None)),
    };
    let roots = decode::certificates_in(&roots_dir)?;
    let intermediates = match &config.eds_intermediates {
        Some(dir) => decode::certificates_in(dir)?,
        None => Vec::new(),
    };
    let mut crls = Vec::new();
    for file in &crl_files {
        crls.extend(decode::crls_in(file)?);
    }
    let store = TrustStore::new(roots, intermediates)
        .map_err(|e| anyhow::anyhow!("{e} in {} (--eds-roots)", roots_dir.display()))?;
    let crls = Arc::new(UpdatableCrls::new(crls));
    let verifier = Arc::new(Verifier::new(store, crls.clone(), policy.policy()));
    Ok((Some(LoadedVerifier { verifier, crls }), trust))
}

/// A valid verdict on an applicant's signature, as kept with what they signed.
#[derive(Debug, Clone)]
pub struct StoredVerdict {
    pub signer_iin: Iin,
    pub signer_bin: Option<String>,
    pub certificate_serial: String,
    pub certificate_issuer: String,
    /// The signer's own claim (the signing-time attribute), if made.
    pub signing_time: Option<OffsetDateTime>,
    /// The server's clock when the signature was verified.
    pub verified_at: OffsetDateTime,
    /// `good`, or `unknown` when the policy accepted a certificate without a current CRL.
    pub revocation: &'static str,
    /// The verdict as `kezek eds verify` prints it.
    pub verdict_json: String,
    /// The CMS message as received (DER, base64), kept as evidence.
    pub signature_base64: String,
    /// SHA-256 of the signed bytes, hex.
    pub content_sha256: String,
    /// The act of signing (`Verdict::fingerprint`), hex: a signature files one application.
    pub fingerprint: String,
}

/// What a signature is checked for.
struct Expectation {
    content: Vec<u8>,
    iin: Option<Iin>,
    purpose: KeyPurpose,
}

/// The problem when no roots are configured: a signature cannot be checked, so it is not
/// accepted either.
pub fn not_configured() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "problem-eds-not-configured")
}

/// Verifies `signature` (base64, PEM or DER text of a CMS SignedData) over `content` at the
/// server clock's time, off the async threads. `Err` is a problem only for a missing verifier;
/// an invalid signature comes back as its verdict.
async fn verify(state: &AppState, signature: &str, expect: Expectation) -> Result<(Verdict, Vec<u8>), Problem> {
    let verifier = state.verifier.clone().ok_or_else(not_configured)?;
    let at = state.clock.now();
    let bytes = signature.as_bytes().to_vec();
    tokio::task::spawn_blocking(move || {
        let verdict = verifier.verify(&Request {
            signature: &bytes,
            content: Some(&expect.content),
            expected_iin: expect.iin,
            purpose: expect.purpose,
            at,
        });
        (verdict, bytes)
    })
    .await
    .map_err(|_| Problem::internal())
}

/// The problem of a signature that already filed an application: signing proves intent once.
pub fn already_used() -> Problem {
    Problem::new(StatusCode::CONFLICT, "problem-eds-signature-used").field("signature")
}

/// The problem an invalid verdict answers with: `status`, the reason code as the `reason`
/// member, and a sentence in the requester's language saying what to do.
pub fn refused(status: StatusCode, reason: Reason) -> Problem {
    let explanation = messages().get(current_lang(), &format!("eds-reason-{}", reason.code()), &[]);
    let mut p = Problem::new(status, "problem-eds-refused").arg("reason", explanation);
    p.reason = Some(reason.code());
    p
}

fn stored(verdict: &Verdict, received: &[u8], content: &[u8]) -> Result<StoredVerdict, Problem> {
    let signer = verdict.signer().ok_or_else(Problem::internal)?;
    let signer_iin = signer.iin().ok_or_else(|| refused(StatusCode::UNPROCESSABLE_ENTITY, Reason::IinMismatch))?;
    let der = decode::signature_der(received).map_err(|_| refused(StatusCode::UNPROCESSABLE_ENTITY, Reason::Malformed))?;
    Ok(StoredVerdict {
        signer_iin,
        signer_bin: signer.bin().map(|b| b.as_string()),
        certificate_serial: signer.serial().to_owned(),
        certificate_issuer: signer.issuer().to_owned(),
        signing_time: verdict.signing_time(),
        verified_at: verdict.checked_at(),
        revocation: match verdict.revocation() {
            Some(kezek_eds::RevocationStatus::Good) => "good",
            _ => "unknown",
        },
        verdict_json: serde_json::to_string(verdict).map_err(|_| Problem::internal())?,
        signature_base64: STANDARD.encode(der),
        content_sha256: hex::encode(Sha256::digest(content)),
        fingerprint: hex::encode(verdict.fingerprint().ok_or_else(Problem::internal)?),
    })
}

/// Checks that the applicant signed `content` (detached, or attached with exactly these bytes)
/// with a signing certificate of their own IIN that chains to a trusted root, is valid now and
/// at signing, and is not revoked. Queue registration and service filing on the portal both
/// call it before their write transaction, and store the verdict in it.
pub async fn verify_applicant_signature(
    state: &AppState,
    applicant: &Iin,
    content: Vec<u8>,
    signature: &str,
) -> Result<StoredVerdict, Problem> {
    let expect = Expectation { content: content.clone(), iin: Some(*applicant), purpose: KeyPurpose::Signing };
    let (verdict, received) = verify(state, signature, expect).await?;
    if let Some(reason) = verdict.reason() {
        // The reason code only: the verdict's detail names certificates, never persons.
        tracing::info!(reason = reason.code(), "applicant signature refused");
        return Err(refused(StatusCode::UNPROCESSABLE_ENTITY, reason));
    }
    stored(&verdict, &received, &content)
}

/// Checks a login signature over `challenge` and returns the signer's IIN: an authentication
/// certificate (EKU clientAuth) chaining to a trusted root, valid and not revoked. Refusals
/// answer 401 with the reason code.
pub async fn verify_login_signature(state: &AppState, challenge: &[u8], signature: &str) -> Result<Iin, Problem> {
    let expect = Expectation { content: challenge.to_vec(), iin: None, purpose: KeyPurpose::Login };
    let (verdict, _) = verify(state, signature, expect).await?;
    if let Some(reason) = verdict.reason() {
        tracing::info!(reason = reason.code(), "login signature refused");
        return Err(refused(StatusCode::UNAUTHORIZED, reason));
    }
    verdict
        .signer()
        .and_then(|s| s.iin())
        .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "problem-eds-no-iin"))
}

/// The shared verifier, if configured.
pub type SharedVerifier = Option<Arc<Verifier>>;
