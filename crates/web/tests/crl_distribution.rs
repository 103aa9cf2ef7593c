//! Revocation lists from distribution points (`--eds-crl-url`), on SQLite and PostgreSQL: a
//! CRL fetched at start revokes; a newer one the distribution point publishes takes effect
//! without a restart; a forged or older one is refused and the one held stays; a restart while
//! the distribution point is down uses the cached CRL; with no CRL at all the configured
//! policy decides, never a silent pass. Signatures are checked through portal filings.

mod common;

use std::sync::Arc;

use common::stub_crl::StubCrlServer;
use common::{Engine, TestApp, TestPki, filing_content};
use kezek_eds::testpki::{CrlIssuer, UserCase};
use kezek_web::config::CrlPolicy;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

on_both_engines!(engine =>
    a_crl_fetched_at_start_revokes_and_a_newer_one_counts_without_a_restart,
    a_forged_or_older_crl_is_refused_and_the_one_held_stays,
    a_restart_while_the_distribution_point_is_down_uses_the_cached_crl,
    with_the_distribution_point_down_and_nothing_cached_the_policy_decides,
);

const ROOT: &str = "root.crl";
const INTERMEDIATE: &str = "intermediate.crl";

/// CRLs current for a year (PEM for the root, DER for the intermediate: the national CA
/// publishes DER, other CAs PEM) numbered `number`, issued `age` ago, the intermediate's
/// revoking `revoked`.
fn publish(stub: &StubCrlServer, pki: &TestPki, number: u64, age: Duration, revoked: &[UserCase]) {
    let now = OffsetDateTime::now_utc();
    let (this_update, next_update) = (now - age, now + Duration::days(365));
    let root = pki.pki.numbered_crl(CrlIssuer::Root, number, this_update, next_update, &[]);
    stub.publish(ROOT, kezek_eds::testpki::pem("X509 CRL", &root));
    stub.publish(INTERMEDIATE, pki.pki.numbered_crl(CrlIssuer::Intermediate, number, this_update, next_update, revoked));
}

fn urls(stub: &StubCrlServer) -> Vec<String> {
    vec![stub.url(ROOT), stub.url(INTERMEDIATE)]
}

/// Files an S5 application on the portal as citizen 0, signed with the `case` certificate;
/// the status and the body.
async fn file_signed(app: &TestApp, case: UserCase) -> (u16, Value) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let (_, regions) = app.get("/api/v1/regions", None).await;
    let region = regions.as_array().unwrap().iter().find(|r| r["code"] == "almaty-city").unwrap()["id"].as_i64().unwrap();
    let mut body = json!({ "service_id": "S5", "region_id": region, "channel": "portal", "documents": ["application"] });
    body["signature"] = json!(app.pki.sign(case, &iin, &filing_content(&body, &iin), false));
    app.post("/api/v1/applications", &token, body).await
}

/// The reason a filing signed with `case` is refused for, or `accepted`.
async fn outcome(app: &TestApp, case: UserCase) -> String {
    match file_signed(app, case).await {
        (201, _) => "accepted".to_owned(),
        (422, problem) => problem["reason"].as_str().unwrap_or("no reason").to_owned(),
        (status, body) => panic!("{case:?}: {status} {body}"),
    }
}

async fn a_crl_fetched_at_start_revokes_and_a_newer_one_counts_without_a_restart(engine: Engine) {
    let pki = Arc::new(TestPki::new());
    let stub = StubCrlServer::start().await;
    publish(&stub, &pki, 1, Duration::hours(2), &[UserCase::Revoked]);
    let app = TestApp::start_with_eds(engine, pki.clone(), pki.config_with_crl_urls(urls(&stub), CrlPolicy::Require)).await;
    assert!(stub.fetches(ROOT) >= 1 && stub.fetches(INTERMEDIATE) >= 1, "fetched at start");
    assert_eq!(outcome(&app, UserCase::Revoked).await, "revoked");
    assert_eq!(outcome(&app, UserCase::LegalEntity).await, "accepted");

    // The CA revokes another certificate and publishes CRL number 2.
    publish(&stub, &pki, 2, Duration::hours(1), &[UserCase::Revoked, UserCase::LegalEntity]);
    stub.two_more_fetches(INTERMEDIATE).await;
    assert_eq!(outcome(&app, UserCase::LegalEntity).await, "revoked", "the newer CRL counts, the server still running");
    assert_eq!(outcome(&app, UserCase::Valid).await, "accepted");
    let (_, filed) = file_signed(&app, UserCase::Valid).await;
    assert_eq!(filed["signature"]["revocation"], "good", "checked against a current CRL");
}

async fn a_forged_or_older_crl_is_refused_and_the_one_held_stays(engine: Engine) {
    let pki = Arc::new(TestPki::new());
    let stub = StubCrlServer::start().await;
    publish(&stub, &pki, 2, Duration::hours(1), &[UserCase::Revoked, UserCase::LegalEntity]);
    let app = TestApp::start_with_eds(engine, pki.clone(), pki.config_with_crl_urls(urls(&stub), CrlPolicy::Require)).await;
    assert_eq!(outcome(&app, UserCase::LegalEntity).await, "revoked");

    // A CRL in the intermediate's name that revokes nothing, signed with another key: taken,
    // it would let the revoked certificates through (or, as not genuine, leave no current CRL).
    stub.publish(INTERMEDIATE, pki.pki.forged_intermediate_crl());
    stub.two_more_fetches(INTERMEDIATE).await;
    assert_eq!(outcome(&app, UserCase::LegalEntity).await, "revoked", "the forged CRL is not taken");
    assert_eq!(outcome(&app, UserCase::Valid).await, "accepted", "the CRL held is still current");

    // The intermediate's genuine but older CRL number 1, which did not revoke LegalEntity yet.
    let now = OffsetDateTime::now_utc();
    let older = pki.pki.numbered_crl(CrlIssuer::Intermediate, 1, now - Duration::hours(2), now + Duration::days(365), &[UserCase::Revoked]);
    stub.publish(INTERMEDIATE, older);
    stub.two_more_fetches(INTERMEDIATE).await;
    assert_eq!(outcome(&app, UserCase::LegalEntity).await, "revoked", "the older CRL is not taken");

    // Garbage in place of a CRL changes nothing either.
    stub.publish(INTERMEDIATE, b"<html>maintenance</html>".to_vec());
    stub.two_more_fetches(INTERMEDIATE).await;
    assert_eq!(outcome(&app, UserCase::LegalEntity).await, "revoked");
    assert_eq!(outcome(&app, UserCase::Valid).await, "accepted");
}

async fn a_restart_while_the_distribution_point_is_down_uses_the_cached_crl(engine: Engine) {
    let pki = Arc::new(TestPki::new());
    let stub = StubCrlServer::start().await;
    publish(&stub, &pki, 1, Duration::hours(1), &[UserCase::Revoked]);
    let eds = pki.config_with_crl_urls(urls(&stub), CrlPolicy::Require);
    let app = TestApp::start_with_eds(engine, pki.clone(), eds.clone()).await;
    assert_eq!(outcome(&app, UserCase::Revoked).await, "revoked");
    let cached = std::fs::read_dir(app.data_dir.join("eds-crl-cache")).unwrap().count();
    assert_eq!(cached, 2, "one cache file per distribution point");

    stub.down();
    let app = app.restart(eds).await;
    assert_eq!(outcome(&app, UserCase::Revoked).await, "revoked", "the cached CRL still revokes");
    let (status, filed) = file_signed(&app, UserCase::Valid).await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["signature"]["revocation"], "good", "the cached CRLs are current");
}

async fn with_the_distribution_point_down_and_nothing_cached_the_policy_decides(engine: Engine) {
    let pki = Arc::new(TestPki::new());
    let down = StubCrlServer::reserve().await;
    let app = TestApp::start_with_eds(engine, pki.clone(), pki.config_with_crl_urls(urls(&down), CrlPolicy::Require)).await;
    let (status, problem) = file_signed(&app, UserCase::Valid).await;
    assert_eq!((status, problem["reason"].as_str()), (422, Some("untrusted_chain")), "require: refused, {problem}");
    drop(app);

    let stub = StubCrlServer::reserve().await;
    let app = TestApp::start_with_eds(engine, pki.clone(), pki.config_with_crl_urls(urls(&stub), CrlPolicy::AllowMissing)).await;
    let (status, filed) = file_signed(&app, UserCase::Valid).await;
    assert_eq!(status, 201, "allow-missing: accepted, {filed}");
    assert_eq!(filed["signature"]["revocation"], "unknown", "and the verdict says the revocation status is unknown");
    assert_eq!(filed["signature"]["verdict"]["revocation"], "unknown");

    // The distribution point comes up: from then on revocation is checked again.
    publish(&stub, &pki, 1, Duration::hours(1), &[UserCase::Revoked]);
    stub.up().await;
    stub.two_more_fetches(INTERMEDIATE).await;
    stub.two_more_fetches(ROOT).await;
    assert_eq!(outcome(&app, UserCase::Revoked).await, "revoked");
    let (_, filed) = file_signed(&app, UserCase::Valid).await;
    assert_eq!(filed["signature"]["revocation"], "good");
}
