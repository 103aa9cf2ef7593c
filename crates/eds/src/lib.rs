//! Verification of electronic digital signatures (ЭЦП) as the national CA (НУЦ РК) issues
//! them: CMS SignedData, attached or detached, signed with a certificate that chains to a
//! configured root, is valid, not revoked, meant for the purpose, and names the right IIN.
//!
//! Pure verification: no HTTP, no SQL. Callers hand in bytes and a [`CrlSource`]; the result
//! is a [`Verdict`] with one [`Reason`] code when invalid. Nothing here panics on any input.

pub mod algorithms;
mod certificate;
mod chain;
pub mod crl;
pub mod decode;
#[cfg(feature = "demo-pki")]
pub mod demo;
mod signed_data;
mod verdict;

#[cfg(feature = "test-pki")]
pub mod testpki;

pub use algorithms::{AlgorithmError, AlgorithmSuite, RustCryptoSuite};
pub use crl::{
    Crl, CrlDirectory, CrlRefusal, CrlSource, CrlSourceError, CrlUpdate, RevocationPolicy,
    StaticCrls, UpdatableCrls,
};
pub use verdict::{Reason, RevocationStatus, Signer, Verdict};

pub use x509_cert::Certificate;

use kezek_domain::identity::Iin;
use time::OffsetDateTime;

/// What the signer's key must be meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyPurpose {
    /// Signing applications and documents: digitalSignature + EKU emailProtection
    /// (1.3.6.1.5.5.7.3.4), as NCA's signing (RSA256_…) keys carry.
    #[default]
    Signing,
    /// Logging in with a signed challenge: digitalSignature + EKU clientAuth
    /// (1.3.6.1.5.5.7.3.2), as NCA's authentication (AUTH_RSA256_…) keys carry.
    Login,
}

/// The trust configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("no trusted root certificate configured")]
    NoRoots,
}

/// The configured trust anchors (the national CA's roots) and intermediate certificates that
/// may complete a chain when a message does not carry them.
#[derive(Debug, Clone)]
pub struct TrustStore {
    roots: Vec<Certificate>,
    intermediates: Vec<Certificate>,
}

impl TrustStore {
    pub fn new(
        roots: Vec<Certificate>,
        intermediates: Vec<Certificate>,
    ) -> Result<Self, TrustError> {
        if roots.is_empty() {
            return Err(TrustError::NoRoots);
        }
        Ok(TrustStore {
            roots,
            intermediates,
        })
    }

    pub fn roots(&self) -> &[Certificate] {
        &self.roots
    }

    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }
}

/// One signature to check and what it must match.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The CMS message: DER, PEM or base64.
    pub signature: &'a [u8],
    /// The signed bytes: required for a detached signature; for an attached one, if given,
    /// it must equal the encapsulated content.
    pub content: Option<&'a [u8]>,
    /// The IIN the signer must have (the applicant's), if any.
    pub expected_iin: Option<Iin>,
    pub purpose: KeyPurpose,
    /// The verification time ("now" in production).
    pub at: OffsetDateTime,
}

/// The verifier: trust anchors, a CRL source, a revocation policy and algorithm suites.
/// Cheap to share between threads.
pub struct Verifier {
    trust: TrustStore,
    crls: Box<dyn CrlSource>,
    policy: RevocationPolicy,
    suites: Vec<Box<dyn AlgorithmSuite>>,
    /// Certificate signatures already verified (see `chain::signed_by`): the same national
    /// CA intermediates and user certificates come back with every signature.
    verified_certificates: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
}

/// Shows the trust configuration's size, not the certificates.
impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("roots", &self.trust.roots.len())
            .field("intermediates", &self.trust.intermediates.len())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier with the RustCrypto suite (RSA PKCS#1 v1.5 and PSS, ECDSA P-256).
    pub fn new(
        trust: TrustStore,
        crls: impl CrlSource + 'static,
        policy: RevocationPolicy,
    ) -> Self {
        Verifier {
            trust,
            crls: Box::new(crls),
            policy,
            suites: vec![Box::new(RustCryptoSuite)],
            verified_certificates: Default::default(),
        }
    }

    /// Adds an algorithm suite (a GOST R 34.10-2015 one, for instance), asked after the
    /// ones already present.
    pub fn with_suite(mut self, suite: impl AlgorithmSuite + 'static) -> Self {
        self.suites.push(Box::new(suite));
        self
    }

    /// Verifies one signature. Never panics; every failure is a verdict.
    pub fn verify(&self, request: &Request<'_>) -> Verdict {
        signed_data::verify(self, request)
    }
}
