//! Signatures made by the `openssl` command (third-party CMS output, including RSA-PSS and
//! messages without signed attributes), over the test PKI and over a PKI made by openssl
//! itself. Needs the `openssl` binary (Debian package `openssl`).

use std::path::{Path, PathBuf};
use std::process::Command;

use kezek_domain::identity::Iin;
use kezek_eds::testpki::{self, KeyKind, Pki, UserCase};
use kezek_eds::{
    KeyPurpose, Reason, Request, RevocationPolicy, RevocationStatus, StaticCrls, TrustStore,
    Verdict, Verifier, decode,
};
use time::{Duration, OffsetDateTime};

const CONTENT: &[u8] =
    b"<application><iin>190512600109</iin><service>kindergarten</service></application>";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command (Debian package `openssl`) must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Fixture {
    dir: tempfile::TempDir,
    pki: Pki,
}

impl Fixture {
    fn new(kind: KeyKind) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new(kind, OffsetDateTime::now_utc());
        std::fs::write(dir.path().join("content.bin"), CONTENT).expect("content");
        std::fs::write(dir.path().join("intermediate.pem"), pki.intermediate_pem())
            .expect("intermediate");
        Fixture { dir, pki }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `openssl cms -sign` with the test user's certificate and key, plus `extra` options.
    fn sign(&self, case: UserCase, extra: &[&str]) -> Vec<u8> {
        let user = self.pki.user(case);
        std::fs::write(self.path("user.pem"), user.certificate_pem()).expect("cert");
        std::fs::write(self.path("user.key"), user.key_pem()).expect("key");
        let mut args = vec![
            "cms",
            "-sign",
            "-binary",
            "-md",
            "sha256",
            "-in",
            "content.bin",
            "-signer",
            "user.pem",
            "-inkey",
            "user.key",
            "-certfile",
            "intermediate.pem",
            "-outform",
            "DER",
            "-out",
            "sig.p7s",
        ];
        args.extend_from_slice(extra);
        openssl(self.dir.path(), &args);
        std::fs::read(self.path("sig.p7s")).expect("signature")
    }

    fn verifier(&self) -> Verifier {
        let root = decode::certificates(&self.pki.root_der()).expect("root");
        let crls = [self.pki.root_crl(), self.pki.intermediate_crl()]
            .iter()
            .flat_map(|c| decode::crls(c).expect("crl"))
            .collect();
        Verifier::new(
            TrustStore::new(root, vec![]).expect("root"),
            StaticCrls::new(crls),
            RevocationPolicy::RequireCurrentCrl,
        )
    }
}

fn request<'a>(signature: &'a [u8], content: Option<&'a [u8]>) -> Request<'a> {
    Request {
        signature,
        content,
        expected_iin: Some(Iin::parse(testpki::APPLICANT_IIN).expect("iin")),
        purpose: KeyPurpose::Signing,
        at: OffsetDateTime::now_utc(),
    }
}

fn assert_valid(v: &Verdict, what: &str) {
    assert!(v.is_valid(), "{what}: {:?} {:?}", v.reason(), v.detail());
}

fn assert_reason(v: &Verdict, reason: Reason, what: &str) {
    assert_eq!(v.reason(), Some(reason), "{what}: {:?}", v.detail());
}

#[test]
fn openssl_attached_and_detached_signatures_verify() {
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        let f = Fixture::new(kind);
        let v = f.verifier();
        let attached = f.sign(UserCase::Valid, &["-nodetach"]);
        let verdict = v.verify(&request(&attached, None));
        assert_valid(&verdict, "attached");
        assert_eq!(verdict.content(), Some(CONTENT));
        assert!(
            verdict.signing_time().is_some(),
            "openssl adds signing-time"
        );

        let detached = f.sign(UserCase::Valid, &[]);
        assert_valid(&v.verify(&request(&detached, Some(CONTENT))), "detached");
        assert_reason(
            &v.verify(&request(&detached, Some(b"forged"))),
            Reason::ContentMismatch,
            "detached, other content",
        );
        assert_reason(
            &v.verify(&request(&detached, None)),
            Reason::ContentMismatch,
            "detached, no content",
        );

        // PEM output, as `openssl cms -outform PEM` writes it.
        let pem = testpki::pem("CMS", &attached);
        assert_valid(&v.verify(&request(pem.as_bytes(), None)), "PEM");
    }
}

#[test]
fn openssl_signatures_without_signed_attributes_verify_over_the_content() {
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        let f = Fixture::new(kind);
        let v = f.verifier();
        let sig = f.sign(UserCase::Valid, &["-nodetach", "-noattr"]);
        let verdict = v.verify(&request(&sig, None));
        assert_valid(&verdict, "no attributes");
        assert_eq!(verdict.signing_time(), None);
        let detached = f.sign(UserCase::Valid, &["-noattr"]);
        assert_reason(
            &v.verify(&request(&detached, Some(b"forged"))),
            Reason::BadSignature,
            "no attributes, other content",
        );
    }
}

#[test]
fn openssl_rsa_pss_signatures_verify() {
    let f = Fixture::new(KeyKind::Rsa2048);
    let sig = f.sign(
        UserCase::Valid,
        &["-nodetach", "-keyopt", "rsa_padding_mode:pss"],
    );
    assert_valid(&f.verifier().verify(&request(&sig, None)), "PSS");
    let sig = f.sign(
        UserCase::Valid,
        &[
            "-nodetach",
            "-keyopt",
            "rsa_padding_mode:pss",
            "-keyopt",
            "rsa_pss_saltlen:20",
        ],
    );
    assert_valid(&f.verifier().verify(&request(&sig, None)), "PSS, salt 20");
    let tampered = testpki::tamper_signature(&sig);
    assert_reason(
        &f.verifier().verify(&request(&tampered, None)),
        Reason::BadSignature,
        "PSS tampered",
    );
}

#[test]
fn openssl_signatures_get_each_certificate_verdict() {
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        let f = Fixture::new(kind);
        let v = f.verifier();
        let cases = [
            (UserCase::Expired, Reason::Expired),
            (UserCase::NotYetValid, Reason::NotYetValid),
            (UserCase::Revoked, Reason::Revoked),
            (UserCase::OtherIin, Reason::IinMismatch),
            (UserCase::NoDigitalSignature, Reason::WrongKeyUsage),
            (UserCase::Authentication, Reason::WrongKeyUsage),
        ];
        for (case, reason) in cases {
            let sig = f.sign(case, &["-nodetach"]);
            assert_reason(
                &v.verify(&request(&sig, None)),
                reason,
                &format!("{kind:?} {case:?}"),
            );
        }
        let tampered = testpki::tamper_signature(&f.sign(UserCase::Valid, &["-nodetach"]));
        assert_reason(
            &v.verify(&request(&tampered, None)),
            Reason::BadSignature,
            "tampered",
        );
        let sig = f.sign(UserCase::Valid, &["-nodetach"]);
        let stranger = Pki::new(KeyKind::P256, OffsetDateTime::now_utc());
        let untrusted = Verifier::new(
            TrustStore::new(
                decode::certificates(&stranger.root_der()).expect("root"),
                vec![],
            )
            .expect("root"),
            StaticCrls::default(),
            RevocationPolicy::RequireCurrentCrl,
        );
        assert_reason(
            &untrusted.verify(&request(&sig, None)),
            Reason::UntrustedChain,
            "other root",
        );
    }
}

const OPENSSL_CA_CONFIG: &str = "\
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 7
[root_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[user_ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A root, a user certificate with an NCA-style subject and a CRL, all made by openssl.
fn openssl_pki(dir: &Path, key_args: &[&str], revoke_user: bool) {
    std::fs::write(dir.join("ca.cnf"), OPENSSL_CA_CONFIG).expect("config");
    std::fs::write(dir.join("index.txt"), "").expect("index");
    std::fs::write(dir.join("crlnumber"), "01\n").expect("crlnumber");
    std::fs::write(dir.join("content.bin"), CONTENT).expect("content");
    let mut root = vec![
        "req",
        "-x509",
        "-nodes",
        "-config",
        "ca.cnf",
        "-extensions",
        "root_ext",
        "-days",
        "30",
    ];
    root.extend_from_slice(key_args);
    root.extend_from_slice(&[
        "-keyout",
        "root.key",
        "-out",
        "root.pem",
        "-subj",
        "/C=KZ/CN=OPENSSL TEST ROOT",
    ]);
    openssl(dir, &root);
    let mut req = vec!["req", "-new", "-nodes", "-config", "ca.cnf"];
    req.extend_from_slice(key_args);
    req.extend_from_slice(&[
        "-keyout",
        "user.key",
        "-out",
        "user.csr",
        "-subj",
        "/CN=ТЕСТОВ ТЕСТ/SN=ТЕСТОВ/serialNumber=IIN190512600109/C=KZ/O=ТОО ТЕСТ/OU=BIN210740000018",
        "-utf8",
    ]);
    openssl(dir, &req);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "user.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "4660",
            "-days",
            "10",
            "-extfile",
            "ca.cnf",
            "-extensions",
            "user_ext",
            "-out",
            "user.pem",
        ],
    );
    if revoke_user {
        openssl(
            dir,
            &[
                "ca", "-config", "ca.cnf", "-cert", "root.pem", "-keyfile", "root.key", "-revoke",
                "user.pem",
            ],
        );
    }
    openssl(
        dir,
        &[
            "ca", "-config", "ca.cnf", "-cert", "root.pem", "-keyfile", "root.key", "-gencrl",
            "-out", "root.crl",
        ],
    );
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-md",
            "sha256",
            "-in",
            "content.bin",
            "-signer",
            "user.pem",
            "-inkey",
            "user.key",
            "-outform",
            "DER",
            "-out",
            "sig.p7s",
        ],
    );
}

#[test]
fn a_pki_made_entirely_by_openssl_verifies_and_its_crl_revokes() {
    let rsa: &[&str] = &["-newkey", "rsa:2048"];
    let ec: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    for key_args in [rsa, ec] {
        for revoke in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let d = dir.path();
            openssl_pki(d, key_args, revoke);
            let read = |n: &str| std::fs::read(d.join(n)).expect("openssl output");
            let verifier = Verifier::new(
                TrustStore::new(
                    decode::certificates(&read("root.pem")).expect("root"),
                    vec![],
                )
                .expect("root"),
                StaticCrls::new(decode::crls(&read("root.crl")).expect("crl")),
                RevocationPolicy::RequireCurrentCrl,
            );
            let sig = read("sig.p7s");
            let v = verifier.verify(&request(&sig, None));
            if revoke {
                assert_reason(&v, Reason::Revoked, &format!("{key_args:?}"));
            } else {
                assert_valid(&v, &format!("{key_args:?}"));
                assert_eq!(v.revocation(), Some(RevocationStatus::Good));
                let signer = v.signer().expect("signer");
                assert_eq!(
                    signer.iin().map(|i| i.as_string()).as_deref(),
                    Some(testpki::APPLICANT_IIN)
                );
                assert_eq!(
                    signer.bin().map(|b| b.as_string()).as_deref(),
                    Some(testpki::ORGANISATION_BIN)
                );
                // Eight days on, openssl's 7-day CRL is stale: the default policy refuses.
                let later = Request {
                    at: OffsetDateTime::now_utc() + Duration::days(8),
                    ..request(&sig, None)
                };
                assert_reason(
                    &verifier.verify(&later),
                    Reason::UntrustedChain,
                    "stale CRL",
                );
            }
        }
    }
}
