//! `kezek eds verify` run as a process: the JSON verdict, the exit status, and no panic on
//! garbage or truncated files.

use std::path::{Path, PathBuf};
use std::process::Command;

use kezek_eds::testpki::{self, KeyKind, Pki, SignOptions, UserCase};
use time::OffsetDateTime;

const CONTENT: &[u8] = b"application 42: place in kindergarten No. 7";

struct Setup {
    dir: tempfile::TempDir,
    pki: Pki,
}

impl Setup {
    fn new(kind: KeyKind) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new(kind, OffsetDateTime::now_utc());
        std::fs::create_dir(dir.path().join("roots")).expect("roots dir");
        // The national CA publishes DER .cer and .crl files; write the root and one CRL as
        // DER and the other CRL as PEM to cover both.
        std::fs::write(dir.path().join("roots/root.cer"), pki.root_der()).expect("root");
        std::fs::write(dir.path().join("root.crl"), pki.root_crl()).expect("crl");
        let pem = testpki::pem("X509 CRL", &pki.intermediate_crl());
        std::fs::write(dir.path().join("intermediate.crl"), pem).expect("crl");
        Setup { dir, pki }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    fn run(&self, signature: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
        let d = self.dir.path();
        let out = Command::new(env!("CARGO_BIN_EXE_kezek"))
            .args(["eds", "verify", "--roots"])
            .arg(d.join("roots"))
            .arg("--crl")
            .arg(d.join("root.crl"))
            .arg("--crl")
            .arg(d.join("intermediate.crl"))
            .args(extra)
            .arg(signature)
            .output()
            .expect("run kezek");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "panic: {stderr}");
        let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), json, stderr)
    }
}

fn signed(s: &Setup, case: UserCase) -> Vec<u8> {
    s.pki.user(case).sign(
        CONTENT,
        SignOptions {
            signing_time: Some(OffsetDateTime::now_utc()),
            ..SignOptions::default()
        },
    )
}

#[test]
fn a_valid_signature_prints_the_signer_and_exits_zero() {
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        let s = Setup::new(kind);
        let sig = s.file("ok.cms", &signed(&s, UserCase::Valid));
        let (code, json, stderr) = s.run(&sig, &["--iin", testpki::APPLICANT_IIN]);
        assert_eq!(code, 0, "{kind:?}: {json} {stderr}");
        assert_eq!(json["valid"], true);
        assert_eq!(json["signer"]["iin"], testpki::APPLICANT_IIN);
        assert_eq!(json["revocation"], "good");
    }
}

#[test]
fn each_invalid_case_exits_non_zero_with_its_reason_code() {
    let s = Setup::new(KeyKind::P256);
    let content = s.file("content.txt", CONTENT);
    let other = s.file("other.txt", b"something else");
    let detached = s.pki.user(UserCase::Valid).sign(
        CONTENT,
        SignOptions {
            attached: false,
            ..SignOptions::default()
        },
    );
    let cases: Vec<(&str, Vec<u8>, Vec<String>)> = vec![
        ("revoked", signed(&s, UserCase::Revoked), vec![]),
        ("expired", signed(&s, UserCase::Expired), vec![]),
        ("not_yet_valid", signed(&s, UserCase::NotYetValid), vec![]),
        (
            "wrong_key_usage",
            signed(&s, UserCase::NoDigitalSignature),
            vec![],
        ),
        (
            "iin_mismatch",
            signed(&s, UserCase::OtherIin),
            vec!["--iin".into(), testpki::APPLICANT_IIN.into()],
        ),
        (
            "bad_signature",
            testpki::tamper_signature(&signed(&s, UserCase::Valid)),
            vec![],
        ),
        (
            "content_mismatch",
            detached.clone(),
            vec!["--content".into(), other.display().to_string()],
        ),
        (
            "expired",
            signed(&s, UserCase::Valid),
            vec!["--at".into(), "2099-01-01T00:00:00Z".into()],
        ),
    ];
    for (reason, bytes, extra) in cases {
        let sig = s.file("case.cms", &bytes);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (code, json, stderr) = s.run(&sig, &extra);
        assert_eq!(code, 1, "{reason}: {json} {stderr}");
        assert_eq!(json["valid"], false, "{reason}");
        assert_eq!(json["reason"], reason, "{json}");
    }
    let sig = s.file("detached.cms", &detached);
    let (code, json, _) = s.run(&sig, &["--content", content.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "{json}");
}

#[test]
fn garbage_and_truncated_files_are_malformed_without_a_panic() {
    let s = Setup::new(KeyKind::Rsa2048);
    let good = signed(&s, UserCase::Valid);
    let garbage = s.file("garbage.cms", b"\x00\xffnot a signature at all\x30\x82");
    let truncated = s.file("truncated.cms", &good[..good.len() / 3]);
    let empty = s.file("empty.cms", b"");
    for sig in [garbage, truncated, empty] {
        let (code, json, stderr) = s.run(&sig, &[]);
        assert_ne!(code, 0, "{stderr}");
        assert_eq!(json["reason"], "malformed", "{json} {stderr}");
    }
}

#[test]
fn an_unreadable_configuration_is_an_error_not_a_verdict() {
    let s = Setup::new(KeyKind::P256);
    let sig = s.file("ok.cms", &signed(&s, UserCase::Valid));
    let (code, json, stderr) = s.run(&sig, &["--at", "yesterday"]);
    assert_ne!(code, 0);
    assert_eq!(json, serde_json::Value::Null);
    assert!(stderr.contains("--at"), "{stderr}");
}
