//! Whatever bytes arrive as a signature, the verifier returns a verdict and never panics.

use std::sync::OnceLock;

use kezek_eds::testpki::{KeyKind, Pki, SignOptions, UserCase};
use kezek_eds::{
    KeyPurpose, Reason, Request, RevocationPolicy, StaticCrls, TrustStore, Verifier, decode,
};
use proptest::prelude::*;
use time::OffsetDateTime;

struct World {
    verifier: Verifier,
    valid: Vec<u8>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let pki = Pki::new(KeyKind::P256, OffsetDateTime::now_utc());
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
        let valid = pki
            .user(UserCase::Valid)
            .sign(b"content", SignOptions::default());
        World { verifier, valid }
    })
}

fn verify(bytes: &[u8]) -> kezek_eds::Verdict {
    world().verifier.verify(&Request {
        signature: bytes,
        content: None,
        expected_iin: None,
        purpose: KeyPurpose::Signing,
        at: OffsetDateTime::now_utc(),
    })
}

proptest! {
    #[test]
    fn random_bytes_are_malformed(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert_eq!(verify(&bytes).reason(), Some(Reason::Malformed));
    }

    #[test]
    fn every_truncation_of_a_valid_signature_is_malformed(cut in 0usize..10_000) {
        let valid = &world().valid;
        let cut = cut % valid.len();
        prop_assert_eq!(verify(&valid[..cut]).reason(), Some(Reason::Malformed));
    }

    #[test]
    fn mutated_signatures_give_a_verdict(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = world().valid.clone();
        for (at, value) in edits {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        // Any outcome is acceptable except a panic; an edit that lands outside the signed
        // parts (e.g. in the unsigned algorithm parameters) can leave the signature valid.
        let v = verify(&bytes);
        prop_assert!(v.is_valid() || v.reason().is_some());
    }
}

#[test]
fn the_valid_message_used_above_is_valid() {
    let v = verify(&world().valid);
    assert!(v.is_valid(), "{:?}", v.detail());
}
