//! Any bytes handed to the verifier as a signature, certificate or CRL: a verdict or an
//! error, never a panic, an overflow or an endless loop.
#![no_main]

use std::sync::OnceLock;

use kezek_eds::testpki::{KeyKind, Pki};
use kezek_eds::{KeyPurpose, Request, RevocationPolicy, StaticCrls, TrustStore, Verifier, decode};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let pki = Pki::new(KeyKind::P256, OffsetDateTime::now_utc());
        let roots = decode::certificates(&pki.root_der()).expect("root");
        let crls = decode::crls(&pki.intermediate_crl()).expect("crl");
        Verifier::new(
            TrustStore::new(roots, vec![]).expect("root"),
            StaticCrls::new(crls),
            RevocationPolicy::AllowUnknown,
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let verdict = verifier().verify(&Request {
        signature: data,
        content: Some(b"content"),
        expected_iin: None,
        purpose: KeyPurpose::Signing,
        at: OffsetDateTime::UNIX_EPOCH,
    });
    assert!(verdict.is_valid() || verdict.reason().is_some());
    let _ = decode::certificates(data);
    let _ = decode::crls(data);
});
