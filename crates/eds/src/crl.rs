//! Where certificate revocation lists come from, and what to do when none is current.

use std::path::{Path, PathBuf};

use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

/// What to do when a certificate's issuer has no current CRL (none found, only stale ones,
/// or the source failed). Chosen by configuration; never a silent pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationPolicy {
    /// Refuse the signature (`untrusted_chain`, with a detail naming the certificate).
    #[default]
    RequireCurrentCrl,
    /// Accept it, and mark the verdict's revocation status `unknown`.
    AllowUnknown,
}

/// The source could not be asked (for an HTTP source: unreachable, timed out).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CRL source unavailable: {0}")]
pub struct CrlSourceError(pub String);

/// Supplies the CRLs that may cover a certificate. The verifier checks each CRL's issuer,
/// signature and dates itself, so a source may return more than it needs to.
pub trait CrlSource: Send + Sync {
    /// CRLs (base and delta) that may list `certificate`, issued by `issuer`. An HTTP source
    /// can read the distribution points from `certificate`.
    fn crls_for(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
    ) -> Result<Vec<CertificateList>, CrlSourceError>;
}

/// CRLs held in memory, e.g. read from files at start-up.
#[derive(Debug, Clone, Default)]
pub struct StaticCrls {
    crls: Vec<CertificateList>,
}

impl StaticCrls {
    pub fn new(crls: Vec<CertificateList>) -> Self {
        StaticCrls { crls }
    }
}

impl CrlSource for StaticCrls {
    fn crls_for(
        &self,
        _certificate: &Certificate,
        issuer: &Certificate,
    ) -> Result<Vec<CertificateList>, CrlSourceError> {
        Ok(self
            .crls
            .iter()
            .filter(|crl| crl.tbs_cert_list.issuer == issuer.tbs_certificate.subject)
            .cloned()
            .collect())
    }
}

/// A folder of `.crl` files (DER or PEM), read at every lookup so that a job refreshing the
/// folder from the CA's distribution points takes effect without a restart.
#[derive(Debug, Clone)]
pub struct CrlDirectory {
    dir: PathBuf,
}

impl CrlDirectory {
    pub fn new(dir: impl AsRef<Path>) -> Self {
        CrlDirectory {
            dir: dir.as_ref().to_path_buf(),
        }
    }
}

impl CrlSource for CrlDirectory {
    fn crls_for(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
    ) -> Result<Vec<CertificateList>, CrlSourceError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| CrlSourceError(format!("{}: {e}", self.dir.display())))?;
        let mut crls = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("crl") {
                continue;
            }
            // An unreadable or corrupt file is skipped: if that leaves no current CRL, the
            // revocation policy decides, as for any missing CRL.
            if let Ok(bytes) = std::fs::read(&path)
                && let Ok(parsed) = crate::decode::crls(&bytes)
            {
                crls.extend(parsed);
            }
        }
        StaticCrls::new(crls).crls_for(certificate, issuer)
    }
}
