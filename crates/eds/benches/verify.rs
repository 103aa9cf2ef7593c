//! Verifications per second of a full CMS check (parse, signed attributes, message
//! signature, chain of two certificate signatures, validity, two CRLs with their signatures,
//! key usage, IIN), for RSA-2048 and P-256, on one thread.
//! Run: `cargo bench -p kezek-eds --bench verify`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use der::Encode;
use kezek_domain::identity::Iin;
use kezek_eds::testpki::{self, KeyKind, Pki, SignOptions, UserCase};
use kezek_eds::{
    AlgorithmSuite, KeyPurpose, Request, RevocationPolicy, RustCryptoSuite, StaticCrls, TrustStore,
    Verifier, decode,
};
use time::OffsetDateTime;

const RUN_FOR: Duration = Duration::from_secs(4);
const SIGNERS: u64 = 200;
const LARGE_CRL: u64 = 100_000;

/// Runs `f` for RUN_FOR and prints the rate.
fn measure(label: &str, mut f: impl FnMut(u64)) {
    for i in 0..10 {
        f(i);
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN_FOR {
        f(n);
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "  {label:<58} {:>7.0} /s  ({:>7.1} µs each)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}

fn request(signature: &[u8], iin: Iin, at: OffsetDateTime) -> Request<'_> {
    Request {
        signature,
        content: None,
        expected_iin: Some(iin),
        purpose: KeyPurpose::Signing,
        at,
    }
}

fn main() {
    let now = OffsetDateTime::now_utc();
    let content = vec![b'x'; 2048];
    let iin = Iin::parse(testpki::APPLICANT_IIN).expect("iin");
    let options = SignOptions {
        signing_time: Some(now),
        ..SignOptions::default()
    };
    println!(
        "full CMS verification, one thread, {}-byte attached content",
        content.len()
    );
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        println!("{kind:?}:");
        let pki = Pki::new(kind, now);
        let root = decode::certificates(&pki.root_der()).expect("root");
        let small_crls = || {
            StaticCrls::new(
                [pki.root_crl(), pki.intermediate_crl()]
                    .iter()
                    .flat_map(|c| decode::crls(c).expect("crl"))
                    .collect(),
            )
        };
        let verifier_with = |crls: StaticCrls| {
            Verifier::new(
                TrustStore::new(root.clone(), vec![]).expect("root"),
                crls,
                RevocationPolicy::RequireCurrentCrl,
            )
        };
        let one = pki.user(UserCase::Valid).sign(&content, options);
        let many: Vec<Vec<u8>> = (0..SIGNERS)
            .map(|n| pki.numbered_user(n).sign(&content, options))
            .collect();

        // Nothing remembered: a new verifier per message (5 signature checks + CRL indexing).
        measure("cold: new verifier each time (5 signature checks)", |_| {
            let v = verifier_with(small_crls());
            assert!(black_box(v.verify(black_box(&request(&one, iin, now)))).is_valid());
        });
        // Production shape: one verifier, signers in turn; certificate and CRL signatures are
        // checked on first sight and remembered, so only the message signature is checked.
        let shared = verifier_with(small_crls());
        measure(
            &format!("warm: {SIGNERS} signers in turn, one verifier (1 check)"),
            |i| {
                let cms = &many[(i % SIGNERS) as usize];
                assert!(black_box(shared.verify(black_box(&request(cms, iin, now)))).is_valid());
            },
        );

        // A national-CA-sized CRL.
        let large = pki.large_intermediate_crl(LARGE_CRL);
        let start = Instant::now();
        let crls = StaticCrls::new(
            [pki.root_crl(), large.clone()]
                .iter()
                .flat_map(|c| decode::crls(c).expect("crl"))
                .collect(),
        );
        println!(
            "  loading a {LARGE_CRL}-entry CRL ({:.1} MB DER): parse + index {:.0} ms",
            large.len() as f64 / 1e6,
            start.elapsed().as_secs_f64() * 1e3
        );
        let big = verifier_with(crls);
        let start = Instant::now();
        assert!(big.verify(&request(&one, iin, now)).is_valid());
        println!(
            "  first verification with it (CRL signature checked): {:.1} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
        measure(&format!("warm, with the {LARGE_CRL}-entry CRL"), |i| {
            let cms = &many[(i % SIGNERS) as usize];
            assert!(black_box(big.verify(black_box(&request(cms, iin, now)))).is_valid());
        });

        // One raw signature check (the user certificate by the intermediate's key).
        let user = decode::certificates(pki.user(UserCase::Valid).certificate_der())
            .expect("user")
            .remove(0);
        let issuer = decode::certificates(&pki.intermediate_der())
            .expect("intermediate")
            .remove(0);
        let tbs = user.tbs_certificate.to_der().expect("tbs");
        let sig = user.signature.raw_bytes().to_vec();
        let key = &issuer.tbs_certificate.subject_public_key_info;
        measure("one signature check alone", |_| {
            RustCryptoSuite
                .verify(key, &user.signature_algorithm, None, black_box(&tbs), &sig)
                .expect("valid certificate signature");
        });
    }
}
