//! A demonstration CA for `kezek serve` with demo data: a P-256 root, its CRL, and for each
//! demo citizen a signing and a login certificate with their keys, written as PEM files so that
//! `openssl cms -sign` can sign filings and login challenges the server then verifies. Nothing
//! here is trusted unless the server is started in demo mode without configured roots.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use kezek_domain::identity::Iin;
use time::{Duration, OffsetDateTime};

/// The folders and files of a demo CA under one directory.
#[derive(Debug, Clone)]
pub struct DemoPki {
    dir: PathBuf,
}

/// The demo CA could not be created.
#[derive(Debug, thiserror::Error)]
pub enum DemoPkiError {
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("issuing a demo certificate: {0}")]
    Issue(#[from] rcgen::Error),
    #[error("the demo CA has no usable signing key for this citizen")]
    NoKey,
}

impl DemoPki {
    pub fn at(dir: impl AsRef<Path>) -> DemoPki {
        DemoPki {
            dir: dir.as_ref().to_path_buf(),
        }
    }

    /// The folder holding the root certificate (the server's trusted roots).
    pub fn roots_dir(&self) -> PathBuf {
        self.dir.join("roots")
    }

    pub fn crl_file(&self) -> PathBuf {
        self.dir.join("demo-root.crl")
    }

    /// The folder of the citizens' certificates and keys: `<IIN>-sign.cer`/`.key` for signing
    /// applications, `<IIN>-auth.cer`/`.key` for logging in.
    pub fn users_dir(&self) -> PathBuf {
        self.dir.join("users")
    }

    pub fn exists(&self) -> bool {
        self.roots_dir().is_dir() && self.crl_file().is_file()
    }

    /// Creates the CA, its CRL (current for ten years) and the certificates of `citizens`
    /// (IINs), all valid from `now`. The CA key is not kept: the demo issues once.
    pub fn create(&self, now: OffsetDateTime, citizens: &[String]) -> Result<(), DemoPkiError> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "KZ");
        dn.push(DnType::CommonName, "KEZEK DEMO CA (not the national CA)");
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.serial_number = Some(SerialNumber::from(1u64));
        p.not_before = now - Duration::days(1);
        p.not_after = now + Duration::days(3650);
        p.use_authority_key_identifier_extension = true;
        p.key_identifier_method = KeyIdMethod::Sha256;
        let root = CertifiedIssuer::self_signed(p, KeyPair::generate()?)?;

        let crl = CertificateRevocationListParams {
            this_update: now - Duration::days(1),
            next_update: now + Duration::days(3650),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&root)?;

        write(&self.roots_dir().join("demo-root.cer"), root.pem().as_bytes())?;
        write(&self.crl_file(), crl.pem()?.as_bytes())?;
        let mut serial = 0x100u64;
        for iin in citizens {
            for (suffix, eku) in [
                ("sign", ExtendedKeyUsagePurpose::EmailProtection),
                ("auth", ExtendedKeyUsagePurpose::ClientAuth),
            ] {
                serial += 1;
                let mut p = CertificateParams::default();
                let mut dn = DistinguishedName::new();
                dn.push(DnType::CommonName, "DEMO CITIZEN");
                dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), format!("IIN{iin}"));
                dn.push(DnType::CountryName, "KZ");
                p.distinguished_name = dn;
                p.serial_number = Some(SerialNumber::from(serial));
                p.not_before = now - Duration::days(1);
                p.not_after = now + Duration::days(3650);
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::ContentCommitment,
                ];
                p.extended_key_usages = vec![eku];
                p.use_authority_key_identifier_extension = true;
                let key = KeyPair::generate()?;
                let cert = p.signed_by(&key, &root)?;
                let base = self.users_dir().join(format!("{iin}-{suffix}"));
                write(&base.with_extension("cer"), cert.pem().as_bytes())?;
                write(&base.with_extension("key"), key.serialize_pem().as_bytes())?;
            }
        }
        Ok(())
    }
}

impl DemoPki {
    /// A detached CMS signature (DER) over `content` by the demo signing key of citizen `iin`
    /// (SHA-256 with ECDSA P-256, a signing-time attribute, the certificate included), as NCALayer
    /// makes with a real key. The demo's stand-in for NCALayer: a server that trusts configured
    /// roots never uses it, and what it signs is trusted only by the demo CA.
    pub fn sign(&self, iin: &Iin, content: &[u8], at: OffsetDateTime) -> Result<Vec<u8>, DemoPkiError> {
        use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
        use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
        use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
        use der::asn1::{ObjectIdentifier, SetOfVec, UtcTime};
        use der::{Any, DecodePem, Encode};
        use p256::pkcs8::DecodePrivateKey;
        use spki::AlgorithmIdentifierOwned;
        use x509_cert::Certificate;
        use x509_cert::attr::Attribute;

        const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
        const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
        const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");

        let base = self.users_dir().join(format!("{}-sign", iin.as_string()));
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).map_err(|source| DemoPkiError::Io { path, source })
        };
        let cert_pem = read(base.with_extension("cer"))?;
        let key_pem = read(base.with_extension("key"))?;
        let cert = Certificate::from_pem(cert_pem.as_bytes()).map_err(|_| DemoPkiError::NoKey)?;
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&key_pem).map_err(|_| DemoPkiError::NoKey)?;

        let econtent = EncapsulatedContentInfo { econtent_type: ID_DATA, econtent: None };
        let digest = <sha2::Sha256 as sha2::Digest>::digest(content).to_vec();
        let sha256 = AlgorithmIdentifierOwned { oid: ID_SHA256, parameters: None };
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        });
        let secs = u64::try_from(at.unix_timestamp()).map_err(|_| DemoPkiError::NoKey)?;
        let utc = UtcTime::from_unix_duration(std::time::Duration::from_secs(secs)).map_err(|_| DemoPkiError::NoKey)?;
        let time = Attribute {
            oid: ID_SIGNING_TIME,
            values: SetOfVec::try_from(vec![Any::encode_from(&utc).map_err(|_| DemoPkiError::NoKey)?])
                .map_err(|_| DemoPkiError::NoKey)?,
        };
        let fail = |_| DemoPkiError::NoKey;
        let mut builder = SignedDataBuilder::new(&econtent);
        builder.add_digest_algorithm(sha256.clone()).map_err(fail)?;
        builder.add_certificate(CertificateChoices::Certificate(cert.clone())).map_err(fail)?;
        let mut si = SignerInfoBuilder::new(&key, sid, sha256.clone(), &econtent, Some(digest.as_slice())).map_err(fail)?;
        si.add_signed_attribute(time).map_err(fail)?;
        builder.add_signer_info::<_, p256::ecdsa::DerSignature>(si).map_err(fail)?;
        builder.build().map_err(fail)?.to_der().map_err(|_| DemoPkiError::NoKey)
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), DemoPkiError> {
    let io = |source| DemoPkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyPurpose, Request, RevocationPolicy, StaticCrls, TrustStore, Verifier, decode};

    #[test]
    fn the_demo_ca_loads_as_a_trust_configuration_with_a_current_crl() {
        let dir = tempfile::tempdir().unwrap();
        let demo = DemoPki::at(dir.path());
        assert!(!demo.exists());
        let now = OffsetDateTime::now_utc();
        demo.create(now, &["190512600109".to_owned()]).unwrap();
        assert!(demo.exists());
        let roots = decode::certificates_in(&demo.roots_dir()).unwrap();
        let crls = decode::crls_in(&demo.crl_file()).unwrap();
        assert_eq!((roots.len(), crls.len()), (1, 1));
        let user = std::fs::read(demo.users_dir().join("190512600109-sign.cer")).unwrap();
        assert_eq!(decode::certificates(&user).unwrap().len(), 1);
        // A garbage signature is judged against this configuration, not refused as unconfigured.
        let v = Verifier::new(
            TrustStore::new(roots, vec![]).unwrap(),
            StaticCrls::new(crls),
            RevocationPolicy::RequireCurrentCrl,
        );
        let verdict = v.verify(&Request {
            signature: b"garbage",
            content: None,
            expected_iin: None,
            purpose: KeyPurpose::Signing,
            at: now,
        });
        assert_eq!(verdict.reason(), Some(crate::Reason::Malformed));
    }

    #[test]
    fn the_demo_signer_makes_a_signature_the_demo_ca_confirms_for_its_citizen_only() {
        let dir = tempfile::tempdir().unwrap();
        let demo = DemoPki::at(dir.path());
        let now = OffsetDateTime::now_utc();
        demo.create(now, &["190512600109".to_owned()]).unwrap();
        let v = Verifier::new(
            TrustStore::new(decode::certificates_in(&demo.roots_dir()).unwrap(), vec![]).unwrap(),
            StaticCrls::new(decode::crls_in(&demo.crl_file()).unwrap()),
            RevocationPolicy::RequireCurrentCrl,
        );
        let citizen = Iin::parse("190512600109").unwrap();
        let signature = demo.sign(&citizen, b"kezek-queue-registration:v1\n", now).unwrap();
        let verdict = |content: &[u8], iin: Iin| {
            v.verify(&Request { signature: &signature, content: Some(content), expected_iin: Some(iin), purpose: KeyPurpose::Signing, at: now })
        };
        assert_eq!(verdict(b"kezek-queue-registration:v1\n", citizen).reason(), None);
        assert_eq!(verdict(b"other", citizen).reason(), Some(crate::Reason::ContentMismatch));
        assert_eq!(verdict(b"kezek-queue-registration:v1\n", Iin::parse("190512600015").unwrap()).reason(), Some(crate::Reason::IinMismatch));
        assert!(matches!(demo.sign(&Iin::parse("190512600015").unwrap(), b"x", now), Err(DemoPkiError::Io { .. })), "no key, no signature");
    }
}
