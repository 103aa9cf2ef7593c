//! Queue registration against the state registries, on SQLite and on PostgreSQL: through the
//! HTTP gateway adapter pointed at a stub that is slow, failing, down or flapping (a clear 503
//! in the caller's language, nothing registered, the consents and registry requests kept, and
//! exactly one registration once it recovers), and a representative's power of attorney checked
//! in the notary registry.

mod common;

use std::time::Duration;

use common::stub_gateway::{Mode, StubGateway};
use common::{Engine, TestApp};
use kezek_domain::identity::{Iin, Sex, iin_for};
use serde_json::{Value, json};
use time::Date;

on_both_engines!(engine =>
    a_gateway_slower_than_its_timeout_gives_a_503_in_kazakh_and_registers_nothing_until_it_recovers,
    a_gateway_answering_500_gives_a_503_in_russian_and_a_retry_registers_once,
    a_gateway_that_is_down_gives_a_503_in_english_and_a_retry_after_it_comes_up_registers_once,
    a_flapping_gateway_opens_the_circuit_across_requests_and_registration_resumes_after_the_cooldown,
    a_slow_gateway_within_its_timeout_registers_a_parent_and_a_representative,
    a_representative_registers_only_with_the_parents_valid_power_of_attorney_for_the_service,
);

fn today() -> Date {
    kezek_web::queue::local_today(time::OffsetDateTime::now_utc())
}

/// A child born `years_ago` with a unique IIN for `n`, put into the embedded person registry as
/// the child of `parent`. Returns the child's IIN and birth date.
async fn known_child(app: &TestApp, parent: &str, n: u16) -> (String, Date) {
    let birth = kezek_domain::queue::school_year_start(today()) - time::Duration::days(800 + n as i64);
    let iin = (n * 10..).find_map(|s| iin_for(birth, Sex::Female, s)).unwrap().as_string();
    let csv = format!("iin,full_name,birth_date,death_date,parent_iins,representative_iins\n{iin},Бала {n},{birth},,{parent},\n");
    kezek_registries::import::import(&app.state.db, kezek_registries::import::RegistryKind::Person, &csv, None, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    (iin, birth)
}

/// Puts a power of attorney into the embedded notary registry.
async fn power(app: &TestApp, number: &str, principal: &str, representative: &str, scope: &str, from: Date, until: Date, revoked: Option<Date>) {
    let revoked = revoked.map(|d| d.to_string()).unwrap_or_default();
    let csv = format!(
        "number,principal_iin,representative_iin,scope,valid_from,valid_until,revoked_on\n{number},{principal},{representative},{scope},{from},{until},{revoked}\n"
    );
    kezek_registries::import::import(&app.state.db, kezek_registries::import::RegistryKind::Notary, &csv, None, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
}

struct Region {
    id: i64,
    kindergarten: i64,
}

async fn almaty(app: &TestApp) -> Region {
    for k in app.organizations("almaty-city", "kindergarten").await {
        let (_, groups) = app.get(&format!("/api/v1/organizations/{}/groups", k["id"]), None).await;
        if groups.as_array().unwrap().iter().any(|g| g["language"] == "kk") {
            return Region { id: k["region_id"].as_i64().unwrap(), kindergarten: k["id"].as_i64().unwrap() };
        }
    }
    panic!("the demo has a Kazakh-language group in Almaty");
}

fn registration(region: &Region, child: &(String, Date), relation: &str) -> Value {
    json!({
        "region_id": region.id,
        "child_iin": child.0,
        "child_birth_date": child.1.to_string(),
        "child_name": "Бала",
        "relation": relation,
        "language": "kk",
        "preferences": [region.kindergarten],
        "desired_start": today().to_string(),
        "consent": true,
    })
}

/// Registers on the portal, signed by the applicant as the region's S1 edition requires.
async fn register(app: &TestApp, token: &str, lang: &str, body: &Value) -> (u16, Value) {
    let body = app.signed_registration(token, body.clone()).await;
    let r = app
        .client
        .post(app.url("/api/v1/queue/registrations"))
        .bearer_auth(token)
        // The language switch: it beats the demo accounts' own setting (Russian).
        .header("cookie", format!("lang={lang}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The region's queue entries for `child`.
async fn entries_of(app: &TestApp, region: &Region, child: &str) -> usize {
    app.state.db.entries_of_region(region.id).await.unwrap().iter().filter(|e| e.child_iin == child).count()
}

/// Nothing but the record of what was asked: no queue entry, no queue-log event, and of the
/// applicant's S1 applications only `refused` motivated refusals (a registry that could not be
/// asked refuses nothing: the applicant tries again).
async fn assert_nothing_registered(app: &TestApp, region: &Region, applicant: &str, refused: usize) {
    assert!(app.state.db.entries_of_region(region.id).await.unwrap().is_empty(), "no queue entry");
    assert!(app.state.db.queue_log(region.id, 0, 1000).await.unwrap().is_empty(), "no queue-log event");
    let user = app.state.db.user_by_iin(&Iin::parse(applicant).unwrap()).await.unwrap().unwrap();
    let states: Vec<String> = app.state.db.applications_of_applicant(user.id).await.unwrap().into_iter().map(|a| a.state).collect();
    assert_eq!(states, vec!["refused".to_owned(); refused], "only motivated refusals");
}

/// The outcomes of the registry requests recorded for `applicant`, oldest first.
async fn outcomes(app: &TestApp, applicant: &str) -> Vec<String> {
    let mut rows = app.state.db.registry_requests_about(&Iin::parse(applicant).unwrap()).await.unwrap();
    rows.sort_by_key(|r| r.id);
    rows.into_iter().map(|r| r.outcome).collect()
}

async fn consents_of(app: &TestApp, subject: &str) -> usize {
    app.state.db.consents_of(&Iin::parse(subject).unwrap()).await.unwrap().len()
}

fn assert_registry_unavailable(status: u16, body: &Value, title: &str) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "urn:kezek:problem:registry-unavailable", "{body}");
    assert_eq!(body["title"], title, "{body}");
}

/// After the gateway recovered: the retry registers, once, with one queue-log event.
async fn retry_registers_once(app: &TestApp, region: &Region, token: &str, body: &Value) {
    let (s, n) = register(app, token, "en", body).await;
    assert_eq!(s, 201, "{n}");
    let (s, again) = register(app, token, "en", body).await;
    assert_eq!(s, 409, "the same child once more: {again}");
    assert_eq!(entries_of(app, region, body["child_iin"].as_str().unwrap()).await, 1);
    let log = app.state.db.queue_log(region.id, 0, 1000).await.unwrap();
    assert_eq!(log.len(), 1, "one queue-log event for the one registration");
}

/// A server pointed at a stub gateway, down until started, with a demo parent signed in.
struct WithStub {
    stub: StubGateway,
    app: TestApp,
    region: Region,
    parent: String,
    token: String,
}

async fn with_stub(engine: Engine, timeout: Duration) -> WithStub {
    let stub = StubGateway::reserve().await;
    let app = TestApp::start_with_registries(engine, stub.config(timeout)).await;
    let region = almaty(&app).await;
    let parent = app.iin_of("citizen", 0);
    let token = app.token(&parent).await;
    WithStub { stub, app, region, parent, token }
}

async fn a_gateway_slower_than_its_timeout_gives_a_503_in_kazakh_and_registers_nothing_until_it_recovers(engine: Engine) {
    let WithStub { stub, app, region, parent, token } = with_stub(engine, Duration::from_millis(500)).await;
    stub.start(&app.state.db).await;
    let child = known_child(&app, &parent, 1).await;
    let body = registration(&region, &child, "mother");

    stub.set(Mode::Slow(Duration::from_secs(10)));
    let (s, p) = register(&app, &token, "kk", &body).await;
    assert_registry_unavailable(s, &p, "Мемлекеттік дерекқор қолжетімсіз");
    assert_eq!(p["detail"], "Ештеңе тіркелмеді. Бірнеше минуттан кейін қайталаңыз.");
    assert_nothing_registered(&app, &region, &parent, 0).await;
    // What was asked stays on record: the consents taken, and the request that timed out.
    assert_eq!(outcomes(&app, &parent).await, ["timeout"]);
    assert_eq!(consents_of(&app, &child.0).await, 1);

    stub.set(Mode::Healthy);
    retry_registers_once(&app, &region, &token, &body).await;
    assert_eq!(outcomes(&app, &parent).await[..3], ["timeout", "answered", "answered"]);
    // Each attempt's consents and requests are recorded under a reference of their own.
    let mut asked = app.state.db.registry_requests_about(&Iin::parse(&parent).unwrap()).await.unwrap();
    asked.sort_by_key(|r| r.id);
    let (failed, retried) = (asked[0].application_ref.clone().unwrap(), asked[1].application_ref.clone().unwrap());
    assert_ne!(failed, retried);
    assert_eq!(app.state.db.registry_requests_of(&retried).await.unwrap().len(), 2, "the child and the parenthood");
    let consent_refs: Vec<Option<String>> = app.state.db.consents_of(&Iin::parse(&child.0).unwrap()).await.unwrap().into_iter().map(|c| c.application_ref).collect();
    assert!(consent_refs.contains(&Some(failed)) && consent_refs.contains(&Some(retried)), "{consent_refs:?}");
    assert_eq!(app.state.db.verify_audit_chain().await.unwrap().map(|n| n > 0), Ok(true));
}

async fn a_gateway_answering_500_gives_a_503_in_russian_and_a_retry_registers_once(engine: Engine) {
    let WithStub { stub, app, region, parent, token } = with_stub(engine, Duration::from_secs(2)).await;
    stub.start(&app.state.db).await;
    let body = registration(&region, &known_child(&app, &parent, 2).await, "mother");

    stub.set(Mode::Failing);
    let (s, p) = register(&app, &token, "ru", &body).await;
    assert_registry_unavailable(s, &p, "Государственная база данных недоступна");
    assert_eq!(p["detail"], "Ничего не зарегистрировано. Повторите через несколько минут.");
    assert_nothing_registered(&app, &region, &parent, 0).await;
    assert_eq!(outcomes(&app, &parent).await, ["unavailable"]);

    stub.set(Mode::Healthy);
    retry_registers_once(&app, &region, &token, &body).await;
}

async fn a_gateway_that_is_down_gives_a_503_in_english_and_a_retry_after_it_comes_up_registers_once(engine: Engine) {
    let WithStub { stub, app, region, parent, token } = with_stub(engine, Duration::from_secs(2)).await;
    let body = registration(&region, &known_child(&app, &parent, 3).await, "mother");

    let (s, p) = register(&app, &token, "en", &body).await;
    assert_registry_unavailable(s, &p, "The state registry cannot be reached");
    assert_eq!(p["detail"], "Nothing was registered. Try again in a few minutes.");
    assert_nothing_registered(&app, &region, &parent, 0).await;
    assert_eq!(outcomes(&app, &parent).await, ["unavailable"]);

    stub.start(&app.state.db).await;
    retry_registers_once(&app, &region, &token, &body).await;
}

async fn a_flapping_gateway_opens_the_circuit_across_requests_and_registration_resumes_after_the_cooldown(engine: Engine) {
    let WithStub { stub, app, region, parent, token } = with_stub(engine, Duration::from_secs(2)).await;
    stub.start(&app.state.db).await;

    // One failure is absorbed by the retry: the applicant only waits.
    stub.set(Mode::FailNext(1));
    let first = registration(&region, &known_child(&app, &parent, 4).await, "mother");
    let (s, n) = register(&app, &token, "en", &first).await;
    assert_eq!(s, 201, "{n}");
    assert_eq!(stub.hits(), 3, "a failed and a retried person request, then the relation");

    // Failing for good: two requests use up the breaker's three failed attempts (2 + 1)...
    stub.set(Mode::Failing);
    let second = registration(&region, &known_child(&app, &parent, 5).await, "mother");
    for _ in 0..2 {
        let (s, p) = register(&app, &token, "en", &second).await;
        assert_registry_unavailable(s, &p, "The state registry cannot be reached");
    }
    assert_eq!(stub.hits(), 6);
    // ...and the circuit, held by the server across requests, now answers without asking,
    // even after the gateway recovered, until its cool-down has passed.
    let (s, p) = register(&app, &token, "en", &second).await;
    assert_registry_unavailable(s, &p, "The state registry cannot be reached");
    stub.set(Mode::Healthy);
    let (s, _) = register(&app, &token, "en", &second).await;
    assert_eq!(s, 503);
    assert_eq!(stub.hits(), 6, "no request while the circuit is open");
    assert_eq!(entries_of(&app, &region, second["child_iin"].as_str().unwrap()).await, 0);
    let seen = outcomes(&app, &parent).await;
    assert_eq!(&seen[seen.len() - 4..], ["unavailable", "unavailable", "circuit_open", "circuit_open"]);

    app.clock.advance(time::Duration::seconds(61));
    let (s, n) = register(&app, &token, "en", &second).await;
    assert_eq!(s, 201, "{n}");
    assert_eq!(entries_of(&app, &region, second["child_iin"].as_str().unwrap()).await, 1);
    assert_eq!(app.state.db.entries_of_region(region.id).await.unwrap().len(), 2);
}

async fn a_slow_gateway_within_its_timeout_registers_a_parent_and_a_representative(engine: Engine) {
    let WithStub { stub, app, region, parent, token } = with_stub(engine, Duration::from_secs(4)).await;
    stub.start(&app.state.db).await;
    stub.set(Mode::Slow(Duration::from_millis(200)));
    let representative = app.iin_of("citizen", 1);

    let (s, n) = register(&app, &token, "en", &registration(&region, &known_child(&app, &parent, 6).await, "mother")).await;
    assert_eq!(s, 201, "{n}");

    let number = "T-2026-01";
    power(&app, number, &parent, &representative, "S1", today() - time::Duration::days(30), today() + time::Duration::days(30), None).await;
    let mut body = registration(&region, &known_child(&app, &parent, 7).await, "representative");
    body["power_of_attorney"] = json!({"number": number, "principal_iin": parent});
    let (s, n) = register(&app, &app.token(&representative).await, "en", &body).await;
    assert_eq!(s, 201, "{n}");
    let asked: Vec<(String, String)> = {
        let mut rows = app.state.db.registry_requests_about(&Iin::parse(&representative).unwrap()).await.unwrap();
        rows.sort_by_key(|r| r.id);
        rows.into_iter().map(|r| (r.operation, r.outcome)).collect()
    };
    let asked: Vec<(&str, &str)> = asked.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(asked, [("power_of_attorney", "answered"), ("person", "answered"), ("relation", "answered")]);
    assert_eq!(app.state.db.entries_of_region(region.id).await.unwrap().len(), 2);
}

/// On the embedded notary registry, the default.
async fn a_representative_registers_only_with_the_parents_valid_power_of_attorney_for_the_service(engine: Engine) {
    let app = &TestApp::start(engine).await;
    let region = almaty(app).await;
    let parent = app.iin_of("citizen", 0);
    let other_parent = app.iin_of("citizen", 2);
    let representative = app.iin_of("citizen", 1);
    let token = app.token(&representative).await;
    let child = known_child(app, &parent, 8).await;
    let others_child = known_child(app, &other_parent, 9).await;
    let (month_ago, in_a_month) = (today() - time::Duration::days(30), today() + time::Duration::days(30));
    power(app, "P-VALID", &parent, &representative, "S1;S2", month_ago, in_a_month, None).await;
    power(app, "P-EXPIRED", &parent, &representative, "S1", month_ago - time::Duration::days(365), today() - time::Duration::days(1), None).await;
    power(app, "P-FUTURE", &parent, &representative, "S1", today() + time::Duration::days(1), in_a_month, None).await;
    power(app, "P-REVOKED", &parent, &representative, "S1", month_ago, in_a_month, Some(today())).await;
    power(app, "P-SCOPE", &parent, &representative, "S3;S5", month_ago, in_a_month, None).await;
    power(app, "P-OTHER-REP", &parent, &other_parent, "S1", month_ago, in_a_month, None).await;
    power(app, "P-OTHER-CHILD", &other_parent, &representative, "S1", month_ago, in_a_month, None).await;

    let with = |child: &(String, Date), number: &str, principal: &str| {
        let mut b = registration(&region, child, "representative");
        b["power_of_attorney"] = json!({"number": number, "principal_iin": principal});
        b
    };
    let refusals = [
        (with(&child, "P-NONE", &parent), "the data cannot be obtained: the notary registry (ЕНИС) has no power of attorney with this number"),
        (with(&child, "P-EXPIRED", &parent), "the power of attorney has expired"),
        (with(&child, "P-FUTURE", &parent), "the power of attorney is not valid yet"),
        (with(&child, "P-REVOKED", &parent), "the power of attorney has been revoked"),
        (with(&child, "P-SCOPE", &parent), "the power of attorney does not cover this service"),
        (with(&child, "P-OTHER-REP", &parent), "the power of attorney was issued to another representative"),
        (with(&child, "P-VALID", &other_parent), "the power of attorney was not given by the parent named in the application"),
        // A valid power from a parent, but of another child: the principal must be this child's parent.
        (with(&child, "P-OTHER-CHILD", &other_parent), "the person registry does not record the principal of the power of attorney as the child's parent or legal representative"),
        (with(&others_child, "P-VALID", &parent), "the person registry does not record the principal of the power of attorney as the child's parent or legal representative"),
    ];
    for (body, reason) in &refusals {
        let (s, p) = register(app, &token, "en", body).await;
        assert_eq!(s, 422, "{body}: {p}");
        assert_eq!(p["title"], "The registration is refused", "{p}");
        assert_eq!(p["detail"], *reason, "{}", body["power_of_attorney"]);
        assert!(p["application_id"].is_i64(), "recorded as the S1 application's motivated refusal: {p}");
    }
    let (_, p) = register(app, &token, "ru", &refusals[1].0).await;
    assert_eq!(p["detail"], "Причина: срок действия доверенности истёк");
    let (_, p) = register(app, &token, "kk", &refusals[0].0).await;
    assert_eq!(p["detail"], "Себебі: деректерді алу мүмкін емес: БНАЖ-да мұндай нөмірлі сенімхат жоқ");
    assert_eq!(p["field"], "power_of_attorney");

    // A representative without a power of attorney, and a parent with one, are told at once.
    let (s, p) = register(app, &token, "en", &registration(&region, &child, "representative")).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("power_of_attorney")), "{p}");
    let mut parent_with_power = with(&child, "P-VALID", &parent);
    parent_with_power["relation"] = json!("mother");
    let (s, p) = register(app, &app.token(&parent).await, "en", &parent_with_power).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("power_of_attorney")), "{p}");

    // Nothing of that was registered: the eleven refusals by the registries are the
    // representative's refused S1 applications, the two told at once are not applications. The
    // principal was asked about only once a power let the representative speak for them (the two
    // parenthood refusals above).
    assert_nothing_registered(app, &region, &representative, refusals.len() + 2).await;
    assert_eq!(consents_of(app, &parent).await, 1);
    assert_eq!(consents_of(app, &other_parent).await, 1);

    let (s, n) = register(app, &token, "en", &with(&child, "P-VALID", &parent)).await;
    assert_eq!(s, 201, "{n}");
    // The power, the child and the principal's parenthood were asked under one reference, with
    // the consents of the representative, the child and the principal.
    let mut asked = app.state.db.registry_requests_about(&Iin::parse(&representative).unwrap()).await.unwrap();
    asked.sort_by_key(|r| r.id);
    let reference = asked.last().unwrap().application_ref.clone().unwrap();
    let operations: Vec<String> = app.state.db.registry_requests_of(&reference).await.unwrap().into_iter().map(|r| r.operation).collect();
    assert_eq!(operations, ["power_of_attorney", "person", "relation"]);
    for (subject, n) in [(&representative, 1), (&child.0, 1), (&parent, 1)] {
        let with_ref = app.state.db.consents_of(&Iin::parse(subject).unwrap()).await.unwrap().into_iter().filter(|c| c.application_ref.as_deref() == Some(&reference)).count();
        assert_eq!(with_ref, n);
    }
    let entries = app.state.db.entries_of_region(region.id).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].applicant_relation, "representative");
    assert_eq!(app.state.db.queue_log(region.id, 0, 1000).await.unwrap().len(), 1);
    let rep_user = app.state.db.user_by_iin(&Iin::parse(&representative).unwrap()).await.unwrap().unwrap();
    assert_eq!(entries[0].applicant_user_id, rep_user.id);
}
