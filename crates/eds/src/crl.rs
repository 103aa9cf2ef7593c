//! Where certificate revocation lists come from, and what to do when none is current.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use der::Encode;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::CrlNumber;

use crate::certificate::to_datetime;
use crate::signed_data::check_signature;
use crate::{Verifier, certificate};

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

    /// The issuer's name in RFC 4514 form (a CA, never a person).
    pub fn issuer(&self) -> String {
        self.list.tbs_cert_list.issuer.to_string()
    }

    pub fn this_update(&self) -> OffsetDateTime {
        to_datetime(self.list.tbs_cert_list.this_update)
    }

    /// When the issuer promises the next CRL; after it this one is stale.
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.list.tbs_cert_list.next_update.map(to_datetime)
    }

    /// The cRLNumber extension (RFC 5280 §5.2.3), big-endian without leading zeros; `None`
    /// when absent or unreadable.
    pub fn number(&self) -> Option<Vec<u8>> {
        let extensions = self.list.tbs_cert_list.crl_extensions.as_ref()?;
        let ext = extensions
            .iter()
            .find(|e| e.extn_id == <CrlNumber as der::oid::AssociatedOid>::OID)?;
        let number = <CrlNumber as der::Decode>::from_der(ext.extn_value.as_bytes()).ok()?;
        Some(number.0.as_bytes().to_vec())
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

impl<T: CrlSource + ?Sized> CrlSource for Arc<T> {
    fn crls_for(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
    ) -> Result<Vec<Arc<Crl>>, CrlSourceError> {
        (**self).crls_for(certificate, issuer)
    }
}

/// CRLs that are replaced while the verifier runs: the fixed ones (files read at start) and
/// one slot per distribution point, each holding the last CRL accepted from it. Share it
/// (`Arc`) between the verifier and whatever refreshes the slots; a lookup sees each slot
/// either before or after a replacement, never half of one.
#[derive(Debug, Default)]
pub struct UpdatableCrls {
    fixed: StaticCrls,
    slots: RwLock<BTreeMap<String, Arc<Crl>>>,
}

impl UpdatableCrls {
    pub fn new(fixed: Vec<CertificateList>) -> Self {
        UpdatableCrls {
            fixed: StaticCrls::new(fixed),
            slots: RwLock::default(),
        }
    }

    /// The CRL the slot holds (its distribution point's last accepted one), if any.
    pub fn held(&self, slot: &str) -> Option<Arc<Crl>> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots.get(slot).cloned()
    }

    /// Puts `crl` in the slot, in place of what it held. Callers check it first with
    /// [`Verifier::check_crl_update`].
    pub fn replace(&self, slot: &str, crl: Arc<Crl>) {
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        slots.insert(slot.to_owned(), crl);
    }
}

impl CrlSource for UpdatableCrls {
    fn crls_for(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
    ) -> Result<Vec<Arc<Crl>>, CrlSourceError> {
        let mut crls = self.fixed.crls_for(certificate, issuer)?;
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        crls.extend(
            slots
                .values()
                .filter(|crl| crl.list.tbs_cert_list.issuer == issuer.tbs_certificate.subject)
                .cloned(),
        );
        Ok(crls)
    }
}

/// Why a CRL offered to replace the one held (fetched from a distribution point, or read back
/// from a cache) is not taken. The one held stays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlRefusal {
    #[error("not one CRL in DER or PEM: {0}")]
    Malformed(String),
    #[error("issued by {0}, which is neither a configured root nor a configured intermediate")]
    UntrustedIssuer(String),
    #[error("its signature does not verify with the key of {0}")]
    BadSignature(String),
    #[error("older than the CRL held: {0}")]
    Older(String),
}

/// A CRL offered to replace the one held, once checked.
#[derive(Debug)]
pub enum CrlUpdate {
    /// The first CRL, or newer than the one held: take it.
    Newer(Arc<Crl>),
    /// The very CRL held (same issuer, same signed content).
    Unchanged,
}

/// Big-endian unsigned integers without leading zeros, compared by value.
fn number_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Whether `offered` may replace `held`: not older by thisUpdate nor by cRLNumber. CRLs of
/// different issuers are not compared (the distribution point now serves another CA's list).
fn freshness(offered: &Crl, held: &Crl) -> Result<bool, CrlRefusal> {
    if offered.list.tbs_cert_list.issuer != held.list.tbs_cert_list.issuer {
        return Ok(true);
    }
    if offered.tbs_der == held.tbs_der {
        return Ok(false);
    }
    if offered.this_update() < held.this_update() {
        return Err(CrlRefusal::Older(format!(
            "thisUpdate {} is before {}",
            offered.this_update(),
            held.this_update()
        )));
    }
    if let (Some(o), Some(h)) = (offered.number(), held.number())
        && number_order(&o, &h) == std::cmp::Ordering::Less
    {
        return Err(CrlRefusal::Older(format!(
            "cRLNumber {} is below {}",
            hex::encode_upper(o),
            hex::encode_upper(h)
        )));
    }
    Ok(true)
}

impl Verifier {
    /// Checks a CRL offered to replace `held` (DER or PEM bytes of exactly one CRL): it must
    /// be signed by a configured root or intermediate certificate that may sign CRLs, and not
    /// be older than `held`. A stale CRL is still taken if it is the newest there is: the
    /// revocation policy then decides, as for any CRL past its nextUpdate.
    pub fn check_crl_update(
        &self,
        bytes: &[u8],
        held: Option<&Crl>,
    ) -> Result<CrlUpdate, CrlRefusal> {
        let mut lists =
            crate::decode::crls(bytes).map_err(|e| CrlRefusal::Malformed(e.to_string()))?;
        if lists.len() != 1 {
            return Err(CrlRefusal::Malformed(format!(
                "{} CRLs where one was expected",
                lists.len()
            )));
        }
        let offered =
            Crl::new(lists.remove(0)).map_err(|e| CrlRefusal::Malformed(e.to_string()))?;
        self.check_crl_issuer(&offered)?;
        match held {
            Some(held) if !freshness(&offered, held)? => Ok(CrlUpdate::Unchanged),
            _ => Ok(CrlUpdate::Newer(Arc::new(offered))),
        }
    }

    /// The CRL is signed by a configured CA certificate named as its issuer, and remembers
    /// that key so the revocation check does not verify it again.
    fn check_crl_issuer(&self, crl: &Crl) -> Result<(), CrlRefusal> {
        let tbs = &crl.list.tbs_cert_list;
        let mut issuers = self
            .trust
            .roots()
            .iter()
            .chain(self.trust.intermediates())
            .filter(|c| c.tbs_certificate.subject == tbs.issuer)
            .peekable();
        if issuers.peek().is_none() {
            return Err(CrlRefusal::UntrustedIssuer(crl.issuer()));
        }
        let Some(signature) = crl.list.signature.as_bytes() else {
            return Err(CrlRefusal::BadSignature(crl.issuer()));
        };
        for issuer in issuers {
            let may_sign_crls =
                !matches!(certificate::key_usage(issuer), Ok(Some(ku)) if !ku.crl_sign());
            let key = &issuer.tbs_certificate.subject_public_key_info;
            let genuine = may_sign_crls
                && crl.list.signature_algorithm == tbs.signature
                && check_signature(
                    self,
                    key,
                    &crl.list.signature_algorithm,
                    None,
                    &crl.tbs_der,
                    signature,
                )
                .is_ok();
            if genuine {
                if let Some(digest) = Crl::issuer_key_digest(key) {
                    crl.remember_signed_by(digest);
                }
                return Ok(());
            }
        }
        Err(CrlRefusal::BadSignature(crl.issuer()))
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
