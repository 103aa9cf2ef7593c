//! Verifications per second of a full CMS check (parse, signed attributes, signature, chain
//! of two certificate signatures, validity, two CRLs with their signatures, key usage, IIN),
//! for RSA-2048 and P-256, on one thread. Run: `cargo bench -p kezek-eds --bench verify`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kezek_domain::identity::Iin;
use kezek_eds::testpki::{self, KeyKind, Pki, SignOptions, UserCase};
use kezek_eds::{KeyPurpose, Request, RevocationPolicy, StaticCrls, TrustStore, Verifier, decode};
use time::OffsetDateTime;

const RUN_FOR: Duration = Duration::from_secs(5);

fn main() {
    let now = OffsetDateTime::now_utc();
    let content = vec![b'x'; 2048];
    println!(
        "full CMS verification, one thread, {}-byte attached content",
        content.len()
    );
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        let pki = Pki::new(kind, now);
        let crls = [pki.root_crl(), pki.intermediate_crl()]
            .iter()
            .flat_map(|c| decode::crls(c).expect("crl"))
            .collect();
        let verifier = Verifier::new(
            TrustStore::new(decode::certificates(&pki.root_der()).expect("root"), vec![])
                .expect("root"),
            StaticCrls::new(crls),
            RevocationPolicy::RequireCurrentCrl,
        );
        let cms = pki.user(UserCase::Valid).sign(
            &content,
            SignOptions {
                signing_time: Some(now),
                ..SignOptions::default()
            },
        );
        let request = Request {
            signature: &cms,
            content: None,
            expected_iin: Some(Iin::parse(testpki::APPLICANT_IIN).expect("iin")),
            purpose: KeyPurpose::Signing,
            at: now,
        };
        assert!(
            verifier.verify(&request).is_valid(),
            "the benchmark message must be valid"
        );
        // Warm-up, then count whole verifications for RUN_FOR.
        for _ in 0..20 {
            black_box(verifier.verify(black_box(&request)));
        }
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < RUN_FOR {
            black_box(verifier.verify(black_box(&request)));
            n += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{kind:?}: {n} verifications in {secs:.2} s = {:.0} /s ({:.1} µs each)",
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
    }
}
