//! The rules a CRL from a distribution point must pass before it replaces the one held, the
//! replacement seen by a running verifier, and the fingerprint that identifies one signature.

use std::sync::Arc;

use kezek_domain::identity::Iin;
use kezek_eds::testpki::{self, CrlIssuer, KeyKind, Pki, SignOptions, UserCase};
use kezek_eds::{
    CrlRefusal, CrlUpdate, KeyPurpose, Reason, Request, RevocationPolicy, TrustStore,
    UpdatableCrls, Verifier, decode,
};
use time::{Duration, OffsetDateTime};

const CONTENT: &[u8] = b"kezek-application:v1\nservice_id:S5\n";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn cert(der: &[u8]) -> x509_cert::Certificate {
    decode::certificates(der)
        .expect("test certificate")
        .remove(0)
}

/// A verifier trusting the root and the intermediate, reading `crls`.
fn verifier(pki: &Pki, crls: Arc<UpdatableCrls>) -> Verifier {
    let trust = TrustStore::new(
        vec![cert(&pki.root_der())],
        vec![cert(&pki.intermediate_der())],
    )
    .expect("a root");
    Verifier::new(trust, crls, RevocationPolicy::RequireCurrentCrl)
}

fn intermediate_crl(pki: &Pki, number: u64, age: Duration, revoked: &[UserCase]) -> Vec<u8> {
    let issued = now() - age;
    pki.numbered_crl(
        CrlIssuer::Intermediate,
        number,
        issued,
        issued + Duration::days(30),
        revoked,
    )
}

fn taken(update: Result<CrlUpdate, CrlRefusal>) -> Arc<kezek_eds::Crl> {
    match update {
        Ok(CrlUpdate::Newer(crl)) => crl,
        other => panic!("expected the CRL to be taken, got {other:?}"),
    }
}

fn request(signature: &[u8]) -> Request<'_> {
    Request {
        signature,
        content: Some(CONTENT),
        expected_iin: Some(Iin::parse(testpki::APPLICANT_IIN).expect("test IIN")),
        purpose: KeyPurpose::Signing,
        at: now(),
    }
}

fn signed(pki: &Pki, case: UserCase, signing_time: OffsetDateTime) -> Vec<u8> {
    pki.user(case).sign(
        CONTENT,
        SignOptions {
            signing_time: Some(signing_time),
            ..SignOptions::default()
        },
    )
}

#[test]
fn a_crl_signed_by_a_configured_root_or_intermediate_is_taken_in_der_or_pem() {
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        let pki = Pki::new(kind, now());
        let v = verifier(&pki, Arc::default());
        let der = intermediate_crl(&pki, 1, Duration::hours(1), &[UserCase::Revoked]);
        let crl = taken(v.check_crl_update(&der, None));
        assert!(
            crl.issuer().contains("TEST NCA INTERMEDIATE"),
            "{}",
            crl.issuer()
        );
        assert_eq!(crl.number(), Some(vec![1]));
        taken(v.check_crl_update(testpki::pem("X509 CRL", &der).as_bytes(), None));
        taken(v.check_crl_update(&pki.root_crl(), None));
    }
}

#[test]
fn a_forged_or_foreign_crl_is_refused() {
    let pki = Pki::new(KeyKind::P256, now());
    let v = verifier(&pki, Arc::default());
    assert!(matches!(
        v.check_crl_update(&pki.forged_intermediate_crl(), None),
        Err(CrlRefusal::BadSignature(_))
    ));
    // Another CA with the same names: the names match, the keys do not.
    let other = Pki::new(KeyKind::P256, now());
    assert!(matches!(
        v.check_crl_update(&other.intermediate_crl(), None),
        Err(CrlRefusal::BadSignature(_))
    ));
    // The intermediate's CRL when only the root is configured: its issuer is not trusted.
    let root_only = Verifier::new(
        TrustStore::new(vec![cert(&pki.root_der())], vec![]).expect("a root"),
        UpdatableCrls::default(),
        RevocationPolicy::RequireCurrentCrl,
    );
    assert!(matches!(
        root_only.check_crl_update(&pki.intermediate_crl(), None),
        Err(CrlRefusal::UntrustedIssuer(_))
    ));
}

#[test]
fn garbage_or_several_crls_in_one_answer_are_refused_as_malformed() {
    let pki = Pki::new(KeyKind::P256, now());
    let v = verifier(&pki, Arc::default());
    for bytes in [
        b"".to_vec(),
        b"<html>maintenance</html>".to_vec(),
        pki.intermediate_crl()[..40].to_vec(),
        pki.root_der(),
    ] {
        assert!(
            matches!(
                v.check_crl_update(&bytes, None),
                Err(CrlRefusal::Malformed(_))
            ),
            "{bytes:?}"
        );
    }
    let two = testpki::pem("X509 CRL", &pki.root_crl())
        + &testpki::pem("X509 CRL", &pki.intermediate_crl());
    assert!(matches!(
        v.check_crl_update(two.as_bytes(), None),
        Err(CrlRefusal::Malformed(_))
    ));
}

#[test]
fn a_crl_older_than_the_one_held_by_number_or_by_this_update_is_refused() {
    let pki = Pki::new(KeyKind::P256, now());
    let v = verifier(&pki, Arc::default());
    let held = taken(v.check_crl_update(&intermediate_crl(&pki, 5, Duration::hours(1), &[]), None));

    let lower_number = intermediate_crl(&pki, 4, Duration::minutes(30), &[]);
    assert!(matches!(
        v.check_crl_update(&lower_number, Some(&held)),
        Err(CrlRefusal::Older(_))
    ));
    let issued_earlier = intermediate_crl(&pki, 6, Duration::hours(2), &[]);
    assert!(matches!(
        v.check_crl_update(&issued_earlier, Some(&held)),
        Err(CrlRefusal::Older(_))
    ));
    // The same CRL again changes nothing; a newer one (number and time) is taken.
    let same = held.list().clone();
    let same = der::Encode::to_der(&same).expect("DER");
    assert!(matches!(
        v.check_crl_update(&same, Some(&held)),
        Ok(CrlUpdate::Unchanged)
    ));
    let newer = intermediate_crl(&pki, 6, Duration::minutes(1), &[UserCase::Revoked]);
    assert_eq!(
        taken(v.check_crl_update(&newer, Some(&held))).number(),
        Some(vec![6])
    );
    // Numbers compare by value, not by their bytes: 256 (0x0100) is above 255 (0xFF).
    let n255 =
        taken(v.check_crl_update(&intermediate_crl(&pki, 255, Duration::hours(1), &[]), None));
    taken(v.check_crl_update(
        &intermediate_crl(&pki, 256, Duration::hours(1), &[]),
        Some(&n255),
    ));
}

#[test]
fn a_running_verifier_sees_a_replaced_crl_from_the_next_signature_on() {
    let pki = Pki::new(KeyKind::P256, now());
    let crls = Arc::new(UpdatableCrls::new(
        decode::crls(&pki.root_crl()).expect("root CRL"),
    ));
    let v = verifier(&pki, crls.clone());
    let cms = signed(&pki, UserCase::LegalEntity, now());
    let point = "http://crl.test/intermediate.crl";

    let verdict = v.verify(&request(&cms));
    assert_eq!(
        verdict.reason(),
        Some(Reason::UntrustedChain),
        "no CRL of the intermediate yet"
    );

    let first = intermediate_crl(&pki, 1, Duration::hours(2), &[UserCase::Revoked]);
    crls.replace(
        point,
        taken(v.check_crl_update(&first, crls.held(point).as_deref())),
    );
    assert!(v.verify(&request(&cms)).is_valid());

    let second = intermediate_crl(
        &pki,
        2,
        Duration::hours(1),
        &[UserCase::Revoked, UserCase::LegalEntity],
    );
    crls.replace(
        point,
        taken(v.check_crl_update(&second, crls.held(point).as_deref())),
    );
    assert_eq!(v.verify(&request(&cms)).reason(), Some(Reason::Revoked));
}

#[test]
fn one_act_of_signing_has_one_fingerprint_however_the_message_is_packed() {
    let pki = Pki::new(KeyKind::P256, now());
    let crls = Arc::new(UpdatableCrls::new(
        [pki.root_crl(), pki.intermediate_crl()]
            .iter()
            .flat_map(|c| decode::crls(c).expect("CRL"))
            .collect(),
    ));
    let v = verifier(&pki, crls);
    let at = now() - Duration::minutes(1);
    let cms = signed(&pki, UserCase::Valid, at);
    let fingerprint = |bytes: &[u8]| {
        let verdict = v.verify(&request(bytes));
        assert!(verdict.is_valid(), "{:?}", verdict.detail());
        verdict
            .fingerprint()
            .expect("a valid verdict has a fingerprint")
    };
    let original = fingerprint(&cms);
    assert_eq!(fingerprint(&testpki::detach(&cms)), original);
    assert_eq!(fingerprint(&testpki::with_negated_ecdsa_s(&cms)), original);
    assert_eq!(fingerprint(testpki::pem("CMS", &cms).as_bytes()), original);
    // Signing again (another moment, so other signed attributes) is another act.
    assert_ne!(
        fingerprint(&signed(&pki, UserCase::Valid, at - Duration::seconds(1))),
        original
    );
    // An invalid verdict has none.
    let revoked = v.verify(&request(&signed(&pki, UserCase::Revoked, at)));
    assert_eq!(revoked.fingerprint(), None);
}
