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
}
