//! A test PKI shaped like the national CA's: a root, an intermediate, and user certificates
//! with NCA-style subjects (`IIN…` serialNumber, `BIN…` OU), in RSA-2048 or P-256, plus CRLs
//! and CMS messages. For tests only (feature `test-pki`); the RSA keys are fixed test keys.

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode, Tag};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SerialNumber,
};
use rsa::pkcs8::DecodePrivateKey;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

/// The applicant of the tests (a synthetic IIN from the spec's test vectors).
pub const APPLICANT_IIN: &str = "190512600109";
/// Someone else: a certificate with this IIN signing for the applicant is an `iin_mismatch`.
pub const OTHER_IIN: &str = "190512600015";
/// A synthetic valid BIN for the legal-entity certificate.
pub const ORGANISATION_BIN: &str = "210740000018";

const RSA_ROOT: &str = include_str!("rsa-root.pem");
const RSA_INTERMEDIATE: &str = include_str!("rsa-intermediate.pem");
const RSA_USER: &str = include_str!("rsa-user.pem");

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The key algorithm of a whole test PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa2048,
    P256,
}

/// The user certificates the tests need, one per verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserCase {
    /// A signing certificate of the applicant, valid now.
    Valid,
    /// A legal entity's employee: the applicant's IIN and the organisation's BIN.
    LegalEntity,
    Expired,
    NotYetValid,
    /// Listed on the intermediate's CRL.
    Revoked,
    /// Another person's IIN.
    OtherIin,
    /// Key usage keyEncipherment only.
    NoDigitalSignature,
    /// An authentication certificate (EKU clientAuth), as used for EDS login.
    Authentication,
}

impl UserCase {
    /// The certificate serial number of the case (the same in every test PKI).
    pub fn serial(self) -> u64 {
        match self {
            UserCase::Valid => 0x1001,
            UserCase::LegalEntity => 0x1002,
            UserCase::Expired => 0x1003,
            UserCase::NotYetValid => 0x1004,
            UserCase::Revoked => 0x1005,
            UserCase::OtherIin => 0x1006,
            UserCase::NoDigitalSignature => 0x1007,
            UserCase::Authentication => 0x1008,
        }
    }
}

fn key(kind: KeyKind, rsa_pem: &str) -> KeyPair {
    match kind {
        KeyKind::Rsa2048 => KeyPair::from_pkcs8_pem_and_sign_algo(rsa_pem, &rcgen::PKCS_RSA_SHA256)
            .expect("fixture RSA key is PKCS#8"),
        KeyKind::P256 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key generation")
        }
    }
}

fn ca_params(cn: &str, serial: u64, now: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "KZ");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.serial_number = Some(SerialNumber::from(serial));
    p.not_before = now - Duration::days(3650);
    p.not_after = now + Duration::days(3650);
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

/// Which CA of the test PKI issues a CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlIssuer {
    Root,
    Intermediate,
}

/// A root and an intermediate CA; users are issued by the intermediate.
pub struct Pki {
    kind: KeyKind,
    now: OffsetDateTime,
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// A user certificate with its private key.
pub struct User {
    kind: KeyKind,
    certificate: Vec<u8>,
    key_pkcs8: Vec<u8>,
    chain: Vec<Vec<u8>>,
}

impl Pki {
    /// A PKI whose CAs are valid ten years either side of `now`.
    pub fn new(kind: KeyKind, now: OffsetDateTime) -> Pki {
        let root =
            CertifiedIssuer::self_signed(ca_params("TEST NCA ROOT", 1, now), key(kind, RSA_ROOT))
                .expect("root certificate");
        let intermediate = CertifiedIssuer::signed_by(
            ca_params("TEST NCA INTERMEDIATE", 2, now),
            key(kind, RSA_INTERMEDIATE),
            &root,
        )
        .expect("intermediate certificate");
        Pki {
            kind,
            now,
            root,
            intermediate,
        }
    }

    pub fn root_der(&self) -> Vec<u8> {
        self.root.der().to_vec()
    }
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }
    pub fn intermediate_der(&self) -> Vec<u8> {
        self.intermediate.der().to_vec()
    }
    pub fn intermediate_pem(&self) -> String {
        self.intermediate.pem()
    }

    /// A valid signing certificate with serial `0x10000 + n`: many distinct signers.
    pub fn numbered_user(&self, n: u64) -> User {
        self.issue(UserCase::Valid, 0x10000 + n, APPLICANT_IIN)
    }

    /// A user certificate for `case`, issued by the intermediate.
    pub fn user(&self, case: UserCase) -> User {
        let iin = if case == UserCase::OtherIin {
            OTHER_IIN
        } else {
            APPLICANT_IIN
        };
        self.issue(case, case.serial(), iin)
    }

    /// A user certificate for `case` naming `iin` (an account of the test's server), issued by
    /// the intermediate; `OtherIin` is then just another certificate with the IIN given.
    pub fn user_for(&self, case: UserCase, iin: &str) -> User {
        self.issue(case, case.serial(), iin)
    }

    fn issue(&self, case: UserCase, serial: u64, iin: &str) -> User {
        let now = self.now;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "ТЕСТОВ ТЕСТ");
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 4]), "ТЕСТОВ");
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), format!("IIN{iin}"));
        dn.push(DnType::CountryName, "KZ");
        if case == UserCase::LegalEntity {
            dn.push(DnType::OrganizationName, "ТОО ТЕСТ");
            dn.push(
                DnType::OrganizationalUnitName,
                format!("BIN{ORGANISATION_BIN}"),
            );
        }
        p.distinguished_name = dn;
        p.serial_number = Some(SerialNumber::from(serial));
        (p.not_before, p.not_after) = match case {
            UserCase::Expired => (now - Duration::days(400), now - Duration::days(30)),
            UserCase::NotYetValid => (now + Duration::days(30), now + Duration::days(400)),
            _ => (now - Duration::days(30), now + Duration::days(365)),
        };
        p.key_usages = match case {
            UserCase::NoDigitalSignature => vec![KeyUsagePurpose::KeyEncipherment],
            _ => vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ],
        };
        p.extended_key_usages = match case {
            UserCase::Authentication => vec![ExtendedKeyUsagePurpose::ClientAuth],
            _ => vec![ExtendedKeyUsagePurpose::EmailProtection],
        };
        p.use_authority_key_identifier_extension = true;
        let key = key(self.kind, RSA_USER);
        let cert = p
            .signed_by(&key, &self.intermediate)
            .expect("user certificate");
        User {
            kind: self.kind,
            certificate: cert.der().to_vec(),
            key_pkcs8: key.serialize_der(),
            chain: vec![self.intermediate_der()],
        }
    }

    /// The time the PKI was made for.
    pub fn now(&self) -> OffsetDateTime {
        self.now
    }

    /// The root's CRL (revoking nothing), current at `now`.
    pub fn root_crl(&self) -> Vec<u8> {
        crl(
            &self.root,
            self.now - Duration::days(1),
            self.now + Duration::days(7),
            &[],
        )
    }

    /// A CRL of `issuer` with cRLNumber `number`, issued at `this_update`, current until
    /// `next_update`, revoking the certificates of `revoked`: for tests of a distribution
    /// point that publishes one CRL after another.
    pub fn numbered_crl(
        &self,
        issuer: CrlIssuer,
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        revoked: &[UserCase],
    ) -> Vec<u8> {
        let issuer = match issuer {
            CrlIssuer::Root => &self.root,
            CrlIssuer::Intermediate => &self.intermediate,
        };
        let serials: Vec<u64> = revoked.iter().map(|c| c.serial()).collect();
        numbered(issuer, number, this_update, next_update, &serials)
    }

    /// The intermediate's CRL revoking the `Revoked` user, current at `now`.
    pub fn intermediate_crl(&self) -> Vec<u8> {
        crl(
            &self.intermediate,
            self.now - Duration::days(1),
            self.now + Duration::days(7),
            &[UserCase::Revoked.serial()],
        )
    }

    /// The root's and the intermediate's CRLs (as above) current until `next_update`: for a
    /// server whose tests move the clock months ahead.
    pub fn crls_until(&self, next_update: OffsetDateTime) -> [Vec<u8>; 2] {
        let this_update = self.now - Duration::days(1);
        [
            crl(&self.root, this_update, next_update, &[]),
            crl(
                &self.intermediate,
                this_update,
                next_update,
                &[UserCase::Revoked.serial()],
            ),
        ]
    }

    /// The intermediate's CRL revoking the `Revoked` user and `others` more serials, the size
    /// of a real national CA CRL for benchmarks.
    pub fn large_intermediate_crl(&self, others: u64) -> Vec<u8> {
        let mut serials: Vec<u64> = (0..others).map(|i| 0x1_0000_0000 + i).collect();
        serials.push(UserCase::Revoked.serial());
        crl(
            &self.intermediate,
            self.now - Duration::days(1),
            self.now + Duration::days(7),
            &serials,
        )
    }

    /// The intermediate's CRL as it was 30 days ago: past its nextUpdate now.
    pub fn stale_intermediate_crl(&self) -> Vec<u8> {
        crl(
            &self.intermediate,
            self.now - Duration::days(30),
            self.now - Duration::days(23),
            &[UserCase::Revoked.serial()],
        )
    }

    /// A CRL naming the intermediate as issuer but signed by another key (the root's).
    pub fn forged_intermediate_crl(&self) -> Vec<u8> {
        let forger = rcgen::Issuer::new(
            ca_params("TEST NCA INTERMEDIATE", 2, self.now),
            key(self.kind, RSA_ROOT),
        );
        crl(
            &forger,
            self.now - Duration::days(1),
            self.now + Duration::days(7),
            &[],
        )
    }
}

fn crl(
    issuer: &rcgen::Issuer<'_, KeyPair>,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    revoked: &[u64],
) -> Vec<u8> {
    numbered(issuer, 1, this_update, next_update, revoked)
}

fn numbered(
    issuer: &rcgen::Issuer<'_, KeyPair>,
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    revoked: &[u64],
) -> Vec<u8> {
    CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|&s| RevokedCertParams {
                serial_number: SerialNumber::from(s),
                revocation_time: this_update,
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(issuer)
    .expect("CRL")
    .der()
    .to_vec()
}

/// How to build a CMS message.
#[derive(Debug, Clone, Copy)]
pub struct SignOptions {
    /// Put the content inside the message (NCALayer's `encapsulate: true`).
    pub attached: bool,
    /// The signing-time attribute.
    pub signing_time: Option<OffsetDateTime>,
    /// Include the intermediate certificate in the message.
    pub include_intermediate: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            attached: true,
            signing_time: None,
            include_intermediate: true,
        }
    }
}

impl User {
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }
    pub fn certificate_pem(&self) -> String {
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.certificate)
            .expect("PEM encoding")
    }
    /// The private key as PKCS#8 PEM (for `openssl cms -sign -inkey`).
    pub fn key_pem(&self) -> String {
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &self.key_pkcs8)
            .expect("PEM encoding")
    }

    /// A CMS SignedData over `content`, signed with this user's key (SHA-256, signed
    /// attributes, signer identified by issuer and serial).
    pub fn sign(&self, content: &[u8], options: SignOptions) -> Vec<u8> {
        let cert = Certificate::from_der(&self.certificate).expect("own certificate");
        let econtent = EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: options
                .attached
                .then(|| Any::new(Tag::OctetString, content).expect("octet string")),
        };
        let digest = Sha256::digest(content).to_vec();
        let sha256 = AlgorithmIdentifierOwned {
            oid: ID_SHA256,
            parameters: None,
        };
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        });
        let external = (!options.attached).then_some(digest.as_slice());
        let mut builder = SignedDataBuilder::new(&econtent);
        builder
            .add_digest_algorithm(sha256.clone())
            .expect("digest algorithm");
        builder
            .add_certificate(CertificateChoices::Certificate(cert.clone()))
            .expect("certificate");
        if options.include_intermediate {
            for c in &self.chain {
                let c = Certificate::from_der(c).expect("chain certificate");
                builder
                    .add_certificate(CertificateChoices::Certificate(c))
                    .expect("certificate");
            }
        }
        let time_attr = options.signing_time.map(signing_time_attribute);
        match self.kind {
            KeyKind::Rsa2048 => {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&self.key_pkcs8).expect("RSA key");
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key);
                let mut si = SignerInfoBuilder::new(&signer, sid, sha256, &econtent, external)
                    .expect("signer");
                if let Some(a) = time_attr {
                    si.add_signed_attribute(a).expect("attribute");
                }
                builder
                    .add_signer_info::<_, rsa::pkcs1v15::Signature>(si)
                    .expect("RSA signature");
            }
            KeyKind::P256 => {
                let signer =
                    p256::ecdsa::SigningKey::from_pkcs8_der(&self.key_pkcs8).expect("P-256 key");
                let mut si = SignerInfoBuilder::new(&signer, sid, sha256, &econtent, external)
                    .expect("signer");
                if let Some(a) = time_attr {
                    si.add_signed_attribute(a).expect("attribute");
                }
                builder
                    .add_signer_info::<_, p256::ecdsa::DerSignature>(si)
                    .expect("ECDSA signature");
            }
        }
        builder.build().expect("SignedData").to_der().expect("DER")
    }
}

fn signing_time_attribute(t: OffsetDateTime) -> Attribute {
    let secs = u64::try_from(t.unix_timestamp()).expect("signing time after 1970");
    let utc =
        UtcTime::from_unix_duration(std::time::Duration::from_secs(secs)).expect("UTCTime range");
    let value = Any::encode_from(&utc).expect("UTCTime");
    Attribute {
        oid: ID_SIGNING_TIME,
        values: SetOfVec::try_from(vec![value]).expect("one value"),
    }
}

fn edit_signed_data(cms: &[u8], edit: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let ci = ContentInfo::from_der(cms).expect("test CMS");
    let mut sd: SignedData = ci.content.decode_as().expect("test SignedData");
    edit(&mut sd);
    ContentInfo {
        content_type: ci.content_type,
        content: Any::encode_from(&sd).expect("SignedData"),
    }
    .to_der()
    .expect("DER")
}

/// The same message with one bit of the signature value flipped.
pub fn tamper_signature(cms: &[u8]) -> Vec<u8> {
    edit_signed_data(cms, |sd| {
        let mut infos: Vec<_> = sd.signer_infos.0.iter().cloned().collect();
        if let Some(si) = infos.first_mut() {
            let mut bytes = si.signature.as_bytes().to_vec();
            let last = bytes.len() - 1;
            bytes[last / 2] ^= 0x01;
            si.signature = OctetString::new(bytes).expect("octets");
        }
        sd.signer_infos = cms::signed_data::SignerInfos::try_from(infos).expect("signer infos");
    })
}

/// The same message with the signer info's signature algorithm written as bare
/// `rsaEncryption`, as NCA's software writes it (the algorithm field is not signed).
pub fn with_rsa_encryption_oid(cms: &[u8]) -> Vec<u8> {
    edit_signed_data(cms, |sd| {
        let mut infos: Vec<_> = sd.signer_infos.0.iter().cloned().collect();
        if let Some(si) = infos.first_mut() {
            si.signature_algorithm = AlgorithmIdentifierOwned {
                oid: RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            };
        }
        sd.signer_infos = cms::signed_data::SignerInfos::try_from(infos).expect("signer infos");
    })
}

/// The same message with the signer info's signature algorithm replaced by `oid`.
pub fn with_signature_algorithm(cms: &[u8], oid: ObjectIdentifier) -> Vec<u8> {
    edit_signed_data(cms, |sd| {
        let mut infos: Vec<_> = sd.signer_infos.0.iter().cloned().collect();
        if let Some(si) = infos.first_mut() {
            si.signature_algorithm = AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            };
        }
        sd.signer_infos = cms::signed_data::SignerInfos::try_from(infos).expect("signer infos");
    })
}

/// The same signature re-packed without the content inside (detached): the signer info, and
/// so the signature, unchanged.
pub fn detach(cms: &[u8]) -> Vec<u8> {
    edit_signed_data(cms, |sd| sd.encap_content_info.econtent = None)
}

/// The same P-256 signature with its ECDSA value (r, s) written as (r, n − s), which verifies
/// just as well: a signature value is not unique to the act of signing.
pub fn with_negated_ecdsa_s(cms: &[u8]) -> Vec<u8> {
    edit_signed_data(cms, |sd| {
        let mut infos: Vec<_> = sd.signer_infos.0.iter().cloned().collect();
        if let Some(si) = infos.first_mut() {
            let signature = p256::ecdsa::Signature::from_der(si.signature.as_bytes())
                .expect("a P-256 signature");
            let (r, s) = signature.split_scalars();
            let negated = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes())
                .expect("n - s is a valid scalar");
            si.signature = OctetString::new(negated.to_der().as_bytes().to_vec()).expect("octets");
        }
        sd.signer_infos = cms::signed_data::SignerInfos::try_from(infos).expect("signer infos");
    })
}

/// The same message with its certificates removed (the verifier must find them elsewhere).
pub fn without_certificates(cms: &[u8]) -> Vec<u8> {
    edit_signed_data(cms, |sd| sd.certificates = None)
}

/// `der` as a PEM block with `label` (`CERTIFICATE`, `X509 CRL`, `CMS`).
pub fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).expect("PEM encoding")
}
