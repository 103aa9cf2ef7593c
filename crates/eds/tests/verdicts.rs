//! Every verdict, for RSA-2048 and P-256, on CMS messages built by the test PKI in Rust.

use kezek_domain::identity::Iin;
use kezek_eds::testpki::{self, KeyKind, Pki, SignOptions, UserCase};
use kezek_eds::{
    KeyPurpose, Reason, Request, RevocationPolicy, RevocationStatus, StaticCrls, TrustStore,
    Verdict, Verifier, decode,
};
use time::{Duration, OffsetDateTime};

const CONTENT: &[u8] = b"{\"service\":\"kindergarten-queue\",\"child\":\"190512600109\"}";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn cert(der: &[u8]) -> x509_cert::Certificate {
    decode::certificates(der)
        .expect("test certificate")
        .remove(0)
}

fn crls(ders: &[Vec<u8>]) -> StaticCrls {
    StaticCrls::new(
        ders.iter()
            .flat_map(|d| decode::crls(d).expect("test CRL"))
            .collect(),
    )
}

/// The usual setup: the root trusted, both CRLs current, CRLs required.
fn verifier(pki: &Pki) -> Verifier {
    verifier_with(
        pki,
        crls(&[pki.root_crl(), pki.intermediate_crl()]),
        RevocationPolicy::RequireCurrentCrl,
        false,
    )
}

fn verifier_with(
    pki: &Pki,
    crls: StaticCrls,
    policy: RevocationPolicy,
    intermediates: bool,
) -> Verifier {
    let inter = if intermediates {
        vec![cert(&pki.intermediate_der())]
    } else {
        vec![]
    };
    let trust = TrustStore::new(vec![cert(&pki.root_der())], inter).expect("a root");
    Verifier::new(trust, crls, policy)
}

fn request(signature: &[u8]) -> Request<'_> {
    Request {
        signature,
        content: None,
        expected_iin: Some(Iin::parse(testpki::APPLICANT_IIN).expect("test IIN")),
        purpose: KeyPurpose::Signing,
        at: now(),
    }
}

fn signed_now(pki: &Pki, case: UserCase) -> Vec<u8> {
    pki.user(case).sign(
        CONTENT,
        SignOptions {
            signing_time: Some(now()),
            ..SignOptions::default()
        },
    )
}

fn assert_reason(v: &Verdict, reason: Reason) {
    assert!(!v.is_valid(), "expected {reason:?}, got a valid verdict");
    assert_eq!(v.reason(), Some(reason), "detail: {:?}", v.detail());
}

fn each_kind(test: impl Fn(KeyKind, &Pki)) {
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        let pki = Pki::new(kind, now());
        test(kind, &pki);
    }
}

#[test]
fn a_valid_attached_signature_names_the_signer_and_returns_the_content() {
    each_kind(|kind, pki| {
        let cms = signed_now(pki, UserCase::Valid);
        let v = verifier(pki).verify(&request(&cms));
        assert!(v.is_valid(), "{kind:?}: {:?}", v.detail());
        let signer = v.signer().expect("signer");
        assert_eq!(
            signer.iin().map(|i| i.as_string()).as_deref(),
            Some(testpki::APPLICANT_IIN)
        );
        assert_eq!(signer.bin(), None);
        assert_eq!(signer.serial(), "1001");
        assert!(signer.issuer().contains("TEST NCA INTERMEDIATE"));
        assert_eq!(v.revocation(), Some(RevocationStatus::Good));
        assert_eq!(v.content(), Some(CONTENT));
        assert!(v.signing_time().is_some());
    });
}

#[test]
fn pem_and_base64_signatures_are_read_like_der() {
    let pki = Pki::new(KeyKind::P256, now());
    let cms = signed_now(&pki, UserCase::Valid);
    let pem = der::pem::encode_string("CMS", der::pem::LineEnding::LF, &cms).expect("pem");
    assert!(verifier(&pki).verify(&request(pem.as_bytes())).is_valid());
    let b64 = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(verifier(&pki).verify(&request(b64.as_bytes())).is_valid());
}

#[test]
fn a_legal_entity_certificate_gives_the_organisation_bin() {
    each_kind(|_, pki| {
        let v = verifier(pki).verify(&request(&signed_now(pki, UserCase::LegalEntity)));
        assert!(v.is_valid(), "{:?}", v.detail());
        let bin = v.signer().and_then(|s| s.bin()).map(|b| b.as_string());
        assert_eq!(bin.as_deref(), Some(testpki::ORGANISATION_BIN));
    });
}

#[test]
fn rsa_signer_info_written_as_bare_rsa_encryption_is_accepted() {
    let pki = Pki::new(KeyKind::Rsa2048, now());
    let cms = testpki::with_rsa_encryption_oid(&signed_now(&pki, UserCase::Valid));
    let v = verifier(&pki).verify(&request(&cms));
    assert!(v.is_valid(), "{:?}", v.detail());
}

#[test]
fn detached_signature_needs_the_exact_content() {
    each_kind(|_, pki| {
        let cms = pki.user(UserCase::Valid).sign(
            CONTENT,
            SignOptions {
                attached: false,
                ..SignOptions::default()
            },
        );
        let v = verifier(pki);
        let ok = v.verify(&Request {
            content: Some(CONTENT),
            ..request(&cms)
        });
        assert!(ok.is_valid(), "{:?}", ok.detail());
        assert_eq!(ok.signing_time(), None);
        assert_reason(&v.verify(&request(&cms)), Reason::ContentMismatch);
        assert_reason(
            &v.verify(&Request {
                content: Some(b"other bytes"),
                ..request(&cms)
            }),
            Reason::ContentMismatch,
        );
    });
}

#[test]
fn attached_content_differing_from_the_expected_bytes_is_a_content_mismatch() {
    each_kind(|_, pki| {
        let cms = signed_now(pki, UserCase::Valid);
        let v = verifier(pki).verify(&Request {
            content: Some(b"the form the server expects"),
            ..request(&cms)
        });
        assert_reason(&v, Reason::ContentMismatch);
    });
}

#[test]
fn a_flipped_signature_bit_is_a_bad_signature() {
    each_kind(|_, pki| {
        let cms = testpki::tamper_signature(&signed_now(pki, UserCase::Valid));
        let v = verifier(pki).verify(&request(&cms));
        assert_reason(&v, Reason::BadSignature);
        assert!(v.signer().is_some(), "the signer is still named");
    });
}

#[test]
fn certificate_validity_is_checked_at_signing_time_and_now() {
    each_kind(|_, pki| {
        let v = verifier(pki);
        assert_reason(
            &v.verify(&request(&signed_now(pki, UserCase::Expired))),
            Reason::Expired,
        );
        assert_reason(
            &v.verify(&request(&signed_now(pki, UserCase::NotYetValid))),
            Reason::NotYetValid,
        );
        // A valid certificate, but the signer claims a signing time before it was issued.
        let early = pki.user(UserCase::Valid).sign(
            CONTENT,
            SignOptions {
                signing_time: Some(now() - Duration::days(60)),
                ..SignOptions::default()
            },
        );
        assert_reason(&v.verify(&request(&early)), Reason::NotYetValid);
        // Verified two years on, the certificate has expired (the CRLs are fine then too).
        let cms = signed_now(pki, UserCase::Valid);
        let later = Request {
            at: now() + Duration::days(730),
            ..request(&cms)
        };
        let lenient = verifier_with(pki, crls(&[]), RevocationPolicy::AllowUnknown, false);
        assert_reason(&lenient.verify(&later), Reason::Expired);
    });
}

#[test]
fn a_certificate_on_the_intermediates_crl_is_revoked() {
    each_kind(|_, pki| {
        let v = verifier(pki).verify(&request(&signed_now(pki, UserCase::Revoked)));
        assert_reason(&v, Reason::Revoked);
        // Even a stale CRL proves a revocation.
        let stale = verifier_with(
            pki,
            crls(&[pki.root_crl(), pki.stale_intermediate_crl()]),
            RevocationPolicy::RequireCurrentCrl,
            false,
        );
        assert_reason(
            &stale.verify(&request(&signed_now(pki, UserCase::Revoked))),
            Reason::Revoked,
        );
    });
}

#[test]
fn a_missing_or_stale_crl_follows_the_policy_and_is_never_a_silent_pass() {
    each_kind(|_, pki| {
        let cms = signed_now(pki, UserCase::Valid);
        let strict_missing = verifier_with(
            pki,
            crls(&[pki.root_crl()]),
            RevocationPolicy::RequireCurrentCrl,
            false,
        );
        let v = strict_missing.verify(&request(&cms));
        assert_reason(&v, Reason::UntrustedChain);
        assert!(
            v.detail().unwrap_or_default().contains("revocation status"),
            "{:?}",
            v.detail()
        );

        let strict_stale = verifier_with(
            pki,
            crls(&[pki.root_crl(), pki.stale_intermediate_crl()]),
            RevocationPolicy::RequireCurrentCrl,
            false,
        );
        assert_reason(&strict_stale.verify(&request(&cms)), Reason::UntrustedChain);

        let lenient = verifier_with(
            pki,
            crls(&[pki.root_crl()]),
            RevocationPolicy::AllowUnknown,
            false,
        );
        let v = lenient.verify(&request(&cms));
        assert!(v.is_valid(), "{:?}", v.detail());
        assert_eq!(v.revocation(), Some(RevocationStatus::Unknown));
    });
}

#[test]
fn a_crl_with_a_forged_signature_is_ignored() {
    each_kind(|_, pki| {
        let forged = verifier_with(
            pki,
            crls(&[pki.root_crl(), pki.forged_intermediate_crl()]),
            RevocationPolicy::RequireCurrentCrl,
            false,
        );
        let v = forged.verify(&request(&signed_now(pki, UserCase::Valid)));
        assert_reason(&v, Reason::UntrustedChain);
        assert!(
            v.detail().unwrap_or_default().contains("bad signature"),
            "{:?}",
            v.detail()
        );
    });
}

#[test]
fn another_pkis_root_is_an_untrusted_chain() {
    each_kind(|_, pki| {
        // Same names as ours, fresh keys (the RSA test keys are fixed, so a P-256 stranger).
        let stranger = Pki::new(KeyKind::P256, now());
        let cms = signed_now(&stranger, UserCase::Valid);
        assert_reason(
            &verifier(pki).verify(&request(&cms)),
            Reason::UntrustedChain,
        );
    });
}

#[test]
fn intermediates_come_from_the_message_or_the_configuration() {
    each_kind(|_, pki| {
        let cms = pki.user(UserCase::Valid).sign(
            CONTENT,
            SignOptions {
                include_intermediate: false,
                ..SignOptions::default()
            },
        );
        assert_reason(
            &verifier(pki).verify(&request(&cms)),
            Reason::UntrustedChain,
        );
        let configured = verifier_with(
            pki,
            crls(&[pki.root_crl(), pki.intermediate_crl()]),
            RevocationPolicy::RequireCurrentCrl,
            true,
        );
        let v = configured.verify(&request(&cms));
        assert!(v.is_valid(), "{:?}", v.detail());
        // No certificates at all: the signer cannot be found.
        let bare = testpki::without_certificates(&cms);
        assert_reason(&configured.verify(&request(&bare)), Reason::UntrustedChain);
    });
}

#[test]
fn key_usage_must_fit_the_purpose() {
    each_kind(|_, pki| {
        let v = verifier(pki);
        assert_reason(
            &v.verify(&request(&signed_now(pki, UserCase::NoDigitalSignature))),
            Reason::WrongKeyUsage,
        );
        // An authentication key may log in but not sign an application...
        let auth = signed_now(pki, UserCase::Authentication);
        assert_reason(&v.verify(&request(&auth)), Reason::WrongKeyUsage);
        let login = v.verify(&Request {
            purpose: KeyPurpose::Login,
            ..request(&auth)
        });
        assert!(login.is_valid(), "{:?}", login.detail());
        // ...and a signing key may not log in.
        let signing = signed_now(pki, UserCase::Valid);
        assert_reason(
            &v.verify(&Request {
                purpose: KeyPurpose::Login,
                ..request(&signing)
            }),
            Reason::WrongKeyUsage,
        );
    });
}

#[test]
fn a_certificate_of_someone_else_is_an_iin_mismatch() {
    each_kind(|_, pki| {
        let cms = signed_now(pki, UserCase::OtherIin);
        let v = verifier(pki);
        let verdict = v.verify(&request(&cms));
        assert_reason(&verdict, Reason::IinMismatch);
        let other = verdict
            .signer()
            .and_then(|s| s.iin())
            .map(|i| i.as_string());
        assert_eq!(other.as_deref(), Some(testpki::OTHER_IIN));
        // Without an expected IIN the same signature is valid.
        assert!(
            v.verify(&Request {
                expected_iin: None,
                ..request(&cms)
            })
            .is_valid()
        );
    });
}

#[test]
fn garbage_is_malformed() {
    let pki = Pki::new(KeyKind::P256, now());
    let v = verifier(&pki);
    for bytes in [
        &b""[..],
        b"hello",
        b"\x30\x80\x00\x00",
        b"\x30\x03\x02\x01\x01",
    ] {
        assert_reason(&v.verify(&request(bytes)), Reason::Malformed);
    }
    let cms = signed_now(&pki, UserCase::Valid);
    for cut in [1, 10, cms.len() / 2, cms.len() - 1] {
        assert_reason(&v.verify(&request(&cms[..cut])), Reason::Malformed);
    }
}

#[test]
fn the_json_verdict_carries_the_reason_code_and_signer() {
    let pki = Pki::new(KeyKind::P256, now());
    let v = verifier(&pki).verify(&request(&signed_now(&pki, UserCase::Revoked)));
    let json = serde_json::to_value(&v).expect("json");
    assert_eq!(json["valid"], false);
    assert_eq!(json["reason"], "revoked");
    assert_eq!(json["signer"]["iin"], testpki::APPLICANT_IIN);
    assert_eq!(json["signer"]["serial"], "1005");
    let ok = verifier(&pki).verify(&request(&signed_now(&pki, UserCase::Valid)));
    let json = serde_json::to_value(&ok).expect("json");
    assert_eq!(json["valid"], true);
    assert_eq!(json["reason"], serde_json::Value::Null);
    assert_eq!(json["revocation"], "good");
}

#[test]
fn crls_can_come_from_a_folder_refreshed_on_disk() {
    let pki = Pki::new(KeyKind::P256, now());
    let dir = tempfile::tempdir().expect("temp dir");
    let trust = || TrustStore::new(vec![cert(&pki.root_der())], vec![]).expect("root");
    let folder = || kezek_eds::CrlDirectory::new(dir.path());
    let cms = signed_now(&pki, UserCase::Valid);
    let v = Verifier::new(trust(), folder(), RevocationPolicy::RequireCurrentCrl).verify(&request(&cms));
    assert_reason(&v, Reason::UntrustedChain);
    std::fs::write(dir.path().join("root.crl"), pki.root_crl()).expect("write");
    std::fs::write(dir.path().join("intermediate.crl"), testpki::pem("X509 CRL", &pki.intermediate_crl())).expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not a CRL").expect("write");
    let v = Verifier::new(trust(), folder(), RevocationPolicy::RequireCurrentCrl).verify(&request(&cms));
    assert!(v.is_valid(), "{:?}", v.detail());
}

/// A stand-in for the future GOST suite: it counts the questions it gets and knows no
/// algorithm, so the verifier must ask it and then give up explicitly.
struct CountingSuite(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl kezek_eds::AlgorithmSuite for CountingSuite {
    fn digest(&self, a: &spki::AlgorithmIdentifierOwned, _: &[u8]) -> Result<Vec<u8>, kezek_eds::AlgorithmError> {
        Err(kezek_eds::AlgorithmError::Unsupported(a.oid.to_string()))
    }
    fn verify(
        &self,
        _: &spki::SubjectPublicKeyInfoOwned,
        a: &spki::AlgorithmIdentifierOwned,
        _: Option<&spki::AlgorithmIdentifierOwned>,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), kezek_eds::AlgorithmError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(kezek_eds::AlgorithmError::Unsupported(a.oid.to_string()))
    }
}

#[test]
fn an_unsupported_algorithm_is_a_bad_signature_after_every_suite_was_asked() {
    let pki = Pki::new(KeyKind::P256, now());
    // The GOST 34.10-2015 256-bit signature OID as the national CA writes it.
    let gost = der::asn1::ObjectIdentifier::new_unwrap("1.2.398.3.10.1.1.2.3.1");
    let cms = testpki::with_signature_algorithm(&signed_now(&pki, UserCase::Valid), gost);
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let v = verifier(&pki).with_suite(CountingSuite(asked.clone())).verify(&request(&cms));
    assert_reason(&v, Reason::BadSignature);
    assert!(v.detail().unwrap_or_default().contains("1.2.398.3.10.1.1.2.3.1"), "{:?}", v.detail());
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
}
