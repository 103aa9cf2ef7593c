//! Electronic signatures at the server, on SQLite and on PostgreSQL: a portal application is
//! filed only signed by the applicant's own valid, unrevoked certificate from a trusted CA, over
//! exactly what is filed, and its verdict is kept and shown; a refused signature writes nothing;
//! EDS login signs a one-time challenge; without trusted roots nothing signed is accepted.

mod common;

use common::{Engine, TestApp, filing_content};
use kezek_eds::testpki::{KeyKind, Pki, SignOptions, UserCase};
use serde_json::{Value, json};

on_both_engines!(
    portal_application_signed_with_another_iin_is_refused_with_iin_mismatch_and_nothing_is_written,
    portal_application_with_a_valid_signature_keeps_the_verdict_and_shows_it,
    a_signature_files_one_application_even_re_packed_or_sent_twice_at_once,
    revoked_expired_untrusted_and_mismatched_signatures_are_refused_with_their_reason,
    a_filing_signed_by_the_openssl_command_is_accepted,
    eds_login_opens_a_session_and_each_challenge_signs_in_once,
    eds_login_refuses_expired_challenges_unknown_iins_and_bad_certificates,
    the_login_page_signs_in_with_a_signed_challenge,
);

/// A citizen's S5 filing on the portal of Almaty city, unsigned.
async fn s5_filing(app: &TestApp) -> Value {
    let (_, regions) = app.get("/api/v1/regions", None).await;
    let region = regions.as_array().unwrap().iter().find(|r| r["code"] == "almaty-city").unwrap()["id"].as_i64().unwrap();
    json!({ "service_id": "S5", "region_id": region, "channel": "portal", "documents": ["application"] })
}

/// What a refused filing must leave behind: the same audit chain and no application.
async fn written(app: &TestApp, token: &str) -> (i64, usize) {
    let audit = app.state.db.verify_audit_chain().await.unwrap().expect("the audit chain verifies");
    let (status, mine) = app.get("/api/v1/me/applications", Some(token)).await;
    assert_eq!(status, 200);
    (audit, mine.as_array().unwrap().len())
}

async fn post_in(app: &TestApp, lang: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = app.client.post(app.url(path)).header("cookie", format!("lang={lang}")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn portal_application_signed_with_another_iin_is_refused_with_iin_mismatch_and_nothing_is_written(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let mut body = s5_filing(app).await;
    // Someone else's certificate, valid and unrevoked, over exactly the applicant's filing.
    let other = app.iin_of("citizen", 1);
    assert_ne!(other, iin);
    body["signature"] = json!(app.pki.sign(UserCase::Valid, &other, &filing_content(&body, &iin), false));
    let before = written(app, &token).await;
    let mut titles = Vec::new();
    for lang in ["kk", "ru", "en"] {
        let (status, problem) = post_in(app, lang, "/api/v1/applications", Some(&token), &body).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["reason"], "iin_mismatch");
        assert_eq!(problem["grounds"], "eds-not-confirmed", "the definition's refusal ground");
        assert_eq!(problem["field"], "signature");
        titles.push(problem["title"].as_str().unwrap().to_owned());
        if lang == "en" {
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains("IIN in the certificate is not the applicant's"), "{detail}");
            assert!(detail.contains("electronic signature is not confirmed"), "the catalog's ground: {detail}");
        }
    }
    titles.dedup();
    assert_eq!(titles.len(), 3, "a title per language: {titles:?}");
    assert_eq!(written(app, &token).await, before, "no application, no verdict, no audit entry");
}

async fn portal_application_with_a_valid_signature_keeps_the_verdict_and_shows_it(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    for attached in [false, true] {
        let mut body = s5_filing(app).await;
        body["signature"] = json!(app.pki.sign(UserCase::Valid, &iin, &filing_content(&body, &iin), attached));
        let (status, filed) = app.post("/api/v1/applications", &token, body).await;
        assert_eq!(status, 201, "{filed}");
        let (status, read) = app.get(&format!("/api/v1/applications/{}", filed["id"]), Some(&token)).await;
        assert_eq!(status, 200);
        for view in [&filed, &read] {
            let s = &view["signature"];
            assert_eq!(s["valid"], true);
            assert_eq!(s["signer_iin"], iin.as_str());
            assert_eq!(s["certificate_serial"], "1001");
            assert!(s["certificate_issuer"].as_str().unwrap().contains("TEST NCA INTERMEDIATE"), "{s}");
            assert_eq!(s["revocation"], "good");
            assert!(s["signing_time"].is_string());
            assert_eq!(s["verdict"]["valid"], true);
            assert_eq!(s["verdict"]["signer"]["iin"], iin.as_str());
        }
    }
    let (_, filed) = app.get("/api/v1/me/applications", Some(&token)).await;
    assert_eq!(filed.as_array().unwrap().len(), 2);
    let mut body = s5_filing(app).await;
    body["signature"] = json!("");
    let (status, problem) = app.post("/api/v1/applications", &token, body).await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("signature")), "an empty signature is none: {problem}");
}

async fn a_signature_files_one_application_even_re_packed_or_sent_twice_at_once(app: &TestApp) {
    use base64::Engine;
    use kezek_eds::testpki;
    let base64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let mut body = s5_filing(app).await;
    let content = filing_content(&body, &iin);
    let der = app.pki.sign_der(UserCase::Valid, &iin, &content, true);
    body["signature"] = json!(base64(&der));
    let (status, filed) = app.post("/api/v1/applications", &token, body.clone()).await;
    assert_eq!(status, 201, "{filed}");

    // The same signature again: as sent, detached instead of attached, as PEM, and with its
    // ECDSA value written as (r, n - s), which verifies as well.
    let replays = [
        ("kk", base64(&der)),
        ("ru", base64(&testpki::detach(&der))),
        ("en", testpki::pem("CMS", &der)),
        ("en", base64(&testpki::with_negated_ecdsa_s(&der))),
    ];
    let before = written(app, &token).await;
    let mut titles = Vec::new();
    for (lang, signature) in replays {
        body["signature"] = json!(signature);
        let (status, problem) = post_in(app, lang, "/api/v1/applications", Some(&token), &body).await;
        assert_eq!(status, 409, "{lang}: {problem}");
        assert_eq!(problem["type"], "urn:kezek:problem:eds-signature-used");
        assert_eq!(problem["field"], "signature");
        titles.push(problem["title"].as_str().unwrap().to_owned());
        if lang == "en" {
            assert!(problem["detail"].as_str().unwrap().contains("sign this application again"), "{problem}");
        }
    }
    titles.dedup();
    assert_eq!(titles.len(), 3, "a title per language: {titles:?}");
    assert_eq!(written(app, &token).await, before, "nothing filed, nothing audited");

    // One fresh signature in two filings sent at the same moment: one is filed.
    body["signature"] = json!(app.pki.sign(UserCase::Valid, &iin, &content, false));
    let (a, b) = tokio::join!(
        app.post("/api/v1/applications", &token, body.clone()),
        app.post("/api/v1/applications", &token, body.clone())
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");

    // Signing the same filing again is a new signature: it files.
    body["signature"] = json!(app.pki.sign(UserCase::Valid, &iin, &content, false));
    let (status, filed) = app.post("/api/v1/applications", &token, body).await;
    assert_eq!(status, 201, "{filed}");
}

async fn revoked_expired_untrusted_and_mismatched_signatures_are_refused_with_their_reason(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let body = s5_filing(app).await;
    let content = filing_content(&body, &iin);
    let stranger = Pki::new(KeyKind::P256, time::OffsetDateTime::now_utc()).user_for(UserCase::Valid, &iin);
    let untrusted = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(stranger.sign(&content, SignOptions { attached: false, ..SignOptions::default() }))
    };
    let mut s9 = body.clone();
    s9["service_id"] = json!("S9");
    let cases = [
        ("revoked", app.pki.sign(UserCase::Revoked, &iin, &content, false)),
        ("expired", app.pki.sign(UserCase::Expired, &iin, &content, false)),
        ("untrusted_chain", untrusted),
        // Signed for another service than the one filed, detached and attached.
        ("content_mismatch", app.pki.sign(UserCase::Valid, &iin, &filing_content(&s9, &iin), false)),
        ("content_mismatch", app.pki.sign(UserCase::Valid, &iin, &filing_content(&s9, &iin), true)),
        ("wrong_key_usage", app.pki.sign(UserCase::NoDigitalSignature, &iin, &content, false)),
        ("malformed", "bm90IGEgc2lnbmF0dXJl".to_owned()),
    ];
    let before = written(app, &token).await;
    for (reason, signature) in cases {
        let mut b = body.clone();
        b["signature"] = json!(signature);
        let (status, problem) = app.post("/api/v1/applications", &token, b).await;
        assert_eq!(status, 422, "{reason}: {problem}");
        assert_eq!(problem["reason"], reason, "{problem}");
        assert_eq!(problem["grounds"], "eds-not-confirmed");
    }
    let (status, problem) = app.post("/api/v1/applications", &token, body).await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("signature")), "unsigned: {problem}");
    assert!(problem.get("reason").is_none());
    assert_eq!(written(app, &token).await, before, "nothing written for any of them");
}

async fn a_filing_signed_by_the_openssl_command_is_accepted(app: &TestApp) {
    use base64::Engine;
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let mut body = s5_filing(app).await;
    let dir = tempfile::tempdir().unwrap();
    let user = app.pki.pki.user_for(UserCase::Valid, &iin);
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let content = file("filing.txt", &filing_content(&body, &iin));
    let cert = file("user.pem", user.certificate_pem().as_bytes());
    let key = file("user.key", user.key_pem().as_bytes());
    let chain = file("chain.pem", app.pki.pki.intermediate_pem().as_bytes());
    let out = std::process::Command::new("openssl")
        .args(["cms", "-sign", "-binary", "-md", "sha256", "-outform", "DER", "-in"])
        .arg(&content)
        .arg("-signer")
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .arg("-certfile")
        .arg(&chain)
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    body["signature"] = json!(base64::engine::general_purpose::STANDARD.encode(&out.stdout));
    let (status, filed) = app.post("/api/v1/applications", &token, body).await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["signature"]["signer_iin"], iin.as_str());
}

async fn challenge(app: &TestApp) -> String {
    let r = app.client.post(app.url("/api/v1/auth/eds/challenge")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert!(body["expires_at"].is_string());
    body["challenge"].as_str().unwrap().to_owned()
}

async fn eds_login(app: &TestApp, challenge: &str, signature: &str) -> (u16, Value) {
    post_in(app, "en", "/api/v1/auth/eds/login", None, &json!({ "challenge": challenge, "signature": signature })).await
}

async fn eds_login_opens_a_session_and_each_challenge_signs_in_once(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let c = challenge(app).await;
    let signature = app.pki.sign(UserCase::Authentication, &iin, c.as_bytes(), false);
    let (status, session) = eds_login(app, &c, &signature).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["iin"], iin.as_str());
    let (status, me) = app.get("/api/v1/me", session["token"].as_str()).await;
    assert_eq!((status, me["iin"].as_str()), (200, Some(iin.as_str())), "the token works");

    // The same signed challenge again: refused, however valid the signature.
    let (status, problem) = eds_login(app, &c, &signature).await;
    assert_eq!(status, 401);
    assert_eq!(problem["type"], "urn:kezek:problem:eds-challenge-used");
    // Attached signatures sign in too; a challenge nobody issued does not.
    let c2 = challenge(app).await;
    let (status, _) = eds_login(app, &c2, &app.pki.sign(UserCase::Authentication, &iin, c2.as_bytes(), true)).await;
    assert_eq!(status, 200);
    let (status, problem) = eds_login(app, "never-issued", &signature).await;
    assert_eq!((status, problem["type"].as_str()), (401, Some("urn:kezek:problem:eds-challenge-unknown")));
}

async fn eds_login_refuses_expired_challenges_unknown_iins_and_bad_certificates(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    // Signed with a valid key, but after the challenge's five minutes.
    let c = challenge(app).await;
    app.clock.advance(time::Duration::minutes(6));
    let (status, problem) = eds_login(app, &c, &app.pki.sign(UserCase::Authentication, &iin, c.as_bytes(), false)).await;
    assert_eq!((status, problem["type"].as_str()), (401, Some("urn:kezek:problem:eds-challenge-expired")), "{problem}");

    // A valid certificate of an IIN without an account.
    let nobody = kezek_eds::testpki::OTHER_IIN;
    assert!(app.logins.iter().all(|l| l.iin != nobody));
    let c = challenge(app).await;
    let (status, problem) = eds_login(app, &c, &app.pki.sign(UserCase::Authentication, nobody, c.as_bytes(), false)).await;
    assert_eq!((status, problem["type"].as_str()), (401, Some("urn:kezek:problem:eds-unknown-account")), "{problem}");

    for (case, reason) in [
        (UserCase::Revoked, "revoked"),
        (UserCase::Expired, "expired"),
        // The signing key (EKU emailProtection) does not log in.
        (UserCase::Valid, "wrong_key_usage"),
    ] {
        let c = challenge(app).await;
        let (status, problem) = eds_login(app, &c, &app.pki.sign(case, &iin, c.as_bytes(), false)).await;
        assert_eq!((status, problem["reason"].as_str()), (401, Some(reason)), "{problem}");
    }
    // A signature over another challenge.
    let (c, other) = (challenge(app).await, challenge(app).await);
    let (status, problem) = eds_login(app, &c, &app.pki.sign(UserCase::Authentication, &iin, other.as_bytes(), false)).await;
    assert_eq!((status, problem["reason"].as_str()), (401, Some("content_mismatch")), "{problem}");
}

/// The page's EDS form (what `/static/eds.js` posts after NCALayer signed).
async fn the_login_page_signs_in_with_a_signed_challenge(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let page = app.client.get(app.url("/login")).send().await.unwrap();
    let csrf = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.strip_prefix("kezek_csrf="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .next()
        .expect("the login page sets the CSRF cookie");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"action="/login/eds""#) && html.contains("/static/eds.js"), "the page offers EDS login");
    let script = app.client.get(app.url("/static/eds.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("kz.gov.pki.knca.commonUtils"));

    let c = challenge(app).await;
    let signature = app.pki.sign(UserCase::Authentication, &iin, c.as_bytes(), false);
    let post = |csrf_form: String, challenge: String, signature: String| {
        app.client
            .post(app.url("/login/eds"))
            .header("cookie", format!("kezek_csrf={csrf}"))
            .form(&[("csrf", csrf_form), ("challenge", challenge), ("signature", signature)])
            .send()
    };
    let forged = post("forged".into(), c.clone(), signature.clone()).await.unwrap();
    assert_eq!(forged.status(), 403, "the double-submit CSRF check holds");
    let r = post(csrf.clone(), c.clone(), signature.clone()).await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let session = r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).any(|v| v.starts_with("kezek_session="));
    assert!(session, "a browser session is opened");
    let again = post(csrf.clone(), c, signature).await.unwrap();
    assert_eq!(again.status(), 401, "the challenge signed in once");
    assert!(again.text().await.unwrap().contains("error-summary"), "refusals show on the page");
}

mod unconfigured {
    use super::*;

    /// Without trusted roots (and without the demo CA), nothing signed is accepted.
    async fn signed_filings_and_eds_login_answer_503(engine: Engine) {
        let app = TestApp::start_with(engine, Default::default(), false).await;
        let iin = app.iin_of("citizen", 0);
        let token = app.token(&iin).await;
        let mut body = s5_filing(&app).await;
        body["signature"] = json!(app.pki.sign(UserCase::Valid, &iin, &filing_content(&body, &iin), false));
        let before = written(&app, &token).await;
        let (status, problem) = post_in(&app, "en", "/api/v1/applications", Some(&token), &body).await;
        assert_eq!(status, 503, "{problem}");
        assert_eq!(problem["title"], "Signature verification is not configured");
        assert_eq!(written(&app, &token).await, before);
        let r = app.client.post(app.url("/api/v1/auth/eds/challenge")).send().await.unwrap();
        assert_eq!(r.status(), 503);
        let (status, _) = eds_login(&app, "anything", "c2ln").await;
        assert_eq!(status, 503);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        signed_filings_and_eds_login_answer_503(Engine::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        signed_filings_and_eds_login_answer_503(Engine::Postgres).await;
    }
}
