//! Where certificate revocation lists come from, and what to do when none is current.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use der::Encode;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use crate::certificate::to_datetime;

/// A CRL prepared for repeated lookups. The national CA's CRLs list hundreds of thousands of
/// serials in megabytes of DER; re-encoding, re-hashing and scanning that for every signature
/// would dominate verification, so it is done once here and the issuer's signature is
/// remembered once checked.
#[derive(Debug)]
pub struct Crl {
    list: CertificateList,
    tbs_der: Vec<u8>,
    revoked: HashMap<Vec<u8>, OffsetDateTime>,
    /// SHA-256 of the issuer public keys whose signature on this CRL verified.
    verified_by: Mutex<Vec<[u8; 32]>>,
}

impl Crl {
    pub fn new(list: CertificateList) -> Result<Self, der::Error> {
        let tbs_der = list.tbs_cert_list.to_der()?;
        let revoked = list
            .tbs_cert_list
            .revoked_certificates
            .iter()
            .flatten()
            .map(|r| {
                (
                    r.serial_number.as_bytes().to_vec(),
                    to_datetime(r.revocation_date),
                )
            })
            .collect();
        Ok(Crl {
            list,
            tbs_der,
            revoked,
            verified_by: Mutex::new(Vec::new()),
        })
    }

    pub fn list(&self) -> &CertificateList {
        &self.list
    }

    pub(crate) fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// When the certificate with this serial was revoked, if it is listed.
    pub(crate) fn revoked_on(&self, serial: &[u8]) -> Option<OffsetDateTime> {
        self.revoked.get(serial).copied()
    }

    pub(crate) fn issuer_key_digest(key: &spki::SubjectPublicKeyInfoOwned) -> Option<[u8; 32]> {
        key.to_der().ok().map(|der| Sha256::digest(der).into())
    }

    pub(crate) fn known_signed_by(&self, key_digest: &[u8; 32]) -> bool {
        self.verified_by
            .lock()
            .map(|v| v.contains(key_digest))
            .unwrap_or(false)
    }

    pub(crate) fn remember_signed_by(&self, key_digest: [u8; 32]) {
        if let Ok(mut v) = self.verified_by.lock()
            && !v.contains(&key_digest)
        {
            v.push(key_digest);
        }
    }
}

fn prepare(crls: Vec<CertificateList>) -> Vec<Arc<Crl>> {
    // A CRL that cannot be re-encoded cannot have its signature checked; dropping it leaves the
    // decision to the revocation policy, as for any missing CRL.
    crls.into_iter()
        .filter_map(|c| Crl::new(c).ok())
        .map(Arc::new)
        .collect()
}

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
    ) -> Result<Vec<Arc<Crl>>, CrlSourceError>;
}

/// CRLs held in memory, e.g. read from files at start-up.
#[derive(Debug, Clone, Default)]
pub struct StaticCrls {
    crls: Vec<Arc<Crl>>,
}

impl StaticCrls {
    pub fn new(crls: Vec<CertificateList>) -> Self {
        StaticCrls {
            crls: prepare(crls),
        }
    }
}

impl CrlSource for StaticCrls {
    fn crls_for(
        &self,
        _certificate: &Certificate,
        issuer: &Certificate,
    ) -> Result<Vec<Arc<Crl>>, CrlSourceError> {
        Ok(self
            .crls
            .iter()
            .filter(|crl| crl.list.tbs_cert_list.issuer == issuer.tbs_certificate.subject)
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
    ) -> Result<Vec<Arc<Crl>>, CrlSourceError> {
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
