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

/// A CRL distribution point on 127.0.0.1 answering every request with `body`; its URL.
fn distribution_point(body: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}/intermediate.crl")
}

/// A port nothing listens on: a distribution point that is down.
fn down_point() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("its address");
    drop(listener);
    format!("http://{addr}/intermediate.crl")
}

impl Setup {
    /// `kezek eds verify` with the root's CRL from a file, the intermediate configured, and the
    /// intermediate's CRL from `url`.
    fn run_with_crl_url(
        &self,
        signature: &Path,
        url: &str,
        extra: &[&str],
    ) -> (i32, serde_json::Value, String) {
        let d = self.dir.path();
        let intermediates = d.join("intermediates");
        if !intermediates.exists() {
            std::fs::create_dir(&intermediates).expect("intermediates dir");
            std::fs::write(
                intermediates.join("intermediate.cer"),
                self.pki.intermediate_der(),
            )
            .expect("intermediate");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_kezek"))
            .args(["eds", "verify", "--roots"])
            .arg(d.join("roots"))
            .arg("--intermediates")
            .arg(&intermediates)
            .arg("--crl")
            .arg(d.join("root.crl"))
            .args(["--crl-url", url, "--crl-timeout-secs", "5"])
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

#[test]
fn a_crl_fetched_from_a_url_revokes_in_der_and_in_pem() {
    let s = Setup::new(KeyKind::P256);
    let revoked = s.file("revoked.cms", &signed(&s, UserCase::Revoked));
    let valid = s.file("valid.cms", &signed(&s, UserCase::Valid));
    let der = s.pki.intermediate_crl();
    for body in [der.clone(), testpki::pem("X509 CRL", &der).into_bytes()] {
        let url = distribution_point(body);
        let (code, json, stderr) = s.run_with_crl_url(&revoked, &url, &[]);
        assert_eq!(
            (code, json["reason"].as_str()),
            (1, Some("revoked")),
            "{json} {stderr}"
        );
        let (code, json, stderr) = s.run_with_crl_url(&valid, &url, &[]);
        assert_eq!(code, 0, "{json} {stderr}");
        assert_eq!(json["revocation"], "good");
    }
}

#[test]
fn an_unreachable_or_forged_crl_leaves_it_to_the_policy_and_says_so() {
    let s = Setup::new(KeyKind::P256);
    let valid = s.file("valid.cms", &signed(&s, UserCase::Valid));
    for (url, said) in [
        (down_point(), "unreachable"),
        (
            distribution_point(s.pki.forged_intermediate_crl()),
            "signature does not verify",
        ),
    ] {
        let (code, json, stderr) = s.run_with_crl_url(&valid, &url, &[]);
        assert_eq!(
            (code, json["reason"].as_str()),
            (1, Some("untrusted_chain")),
            "require: {json} {stderr}"
        );
        assert!(
            stderr.contains(&format!("no CRL from {url}")) && stderr.contains(said),
            "{stderr}"
        );
        let (code, json, stderr) =
            s.run_with_crl_url(&valid, &url, &["--crl-policy", "allow-missing"]);
        assert_eq!(code, 0, "allow-missing: {json} {stderr}");
        assert_eq!(json["revocation"], "unknown");
    }
    let (code, _, stderr) = s.run_with_crl_url(&valid, "https://crl.example/x.crl", &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--crl-url"), "{stderr}");
}
