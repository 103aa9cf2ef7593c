//! Every service of the catalog filed and walked through the API to its result, on SQLite and on
//! PostgreSQL, by the demo users the regulation names for each step — with each step's due time
//! checked against the seed's term on the working-day calendar, a refusal, steps refused to the
//! wrong role or organization, actions out of order, and overdue steps in a provider's work list.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::{PASSWORD, TestApp};
use kezek_eds::testpki::UserCase;
use kezek_domain::access::{OrganizationKind, Role};
use kezek_domain::application::{Responsible, Route};
use kezek_domain::calendar::{Calendar, OfficeHours, almaty_to_utc};
use kezek_domain::identity::{Sex, iin_for};
use kezek_domain::regulation::Region;
use kezek_store::{AuditRecord, NewOrganization, NewUser};
use serde_json::{Value, json};
use time::macros::datetime;
use time::{Date, Month, PrimitiveDateTime};

on_both_engines!(every_service_is_filed_and_walked_to_its_result_with_due_times_on_the_calendar);

fn catalog_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../catalog")
}

/// A known start: Thursday 18 March 2027, 10:00 in Almaty, so day terms run across Nauryz
/// (21–23 March 2027, with the day carried over from the Sunday).
const START: PrimitiveDateTime = datetime!(2027-03-18 10:00);

/// The service, its channel and the region each is filed in. S15 and S21 exist only in the
/// Almaty region's regulations, which the demo lacks; the test adds that region.
const WALKS: [(&str, &str, &str); 15] = [
    ("S1", "gc", "almaty-city"),
    ("S2", "office", "almaty-city"),
    ("S3", "state-corporation", "almaty-city"),
    ("S4", "office", "almaty-city"),
    ("S5", "portal", "almaty-city"),
    ("S6", "state-corporation", "almaty-city"),
    ("S8", "office", "almaty-city"),
    ("S9", "portal", "almaty-city"),
    ("S10", "office", "almaty-city"),
    ("S11", "portal", "almaty-city"),
    ("S12", "office", "almaty-city"),
    ("S13", "portal", "almaty-city"),
    ("S14", "office", "almaty-city"),
    ("S15", "office", "almaty-region"),
    ("S21", "office", "almaty-region"),
];

/// A demo account: its IIN, user id and bearer token.
#[derive(Clone)]
struct User {
    id: i64,
    token: String,
}

struct World {
    calendar: Calendar,
    catalog: kezek_catalog::services::ServiceCatalog,
    regions: HashMap<String, i64>,
    /// Staff by (region code, role): the Almaty city kindergarten head is the first kindergarten's.
    staff: HashMap<(String, Role), User>,
    citizen: User,
    other_citizen: User,
    astana_admin: User,
    kindergarten: i64,
    provider: HashMap<String, i64>,
}

async fn user(app: &TestApp, iin: &str) -> User {
    let token = app.token(iin).await;
    let (status, me) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 200);
    User { id: me["id"].as_i64().unwrap(), token }
}

/// The Almaty region with an education department staffed by a clerk, a head and a specialist.
async fn add_almaty_region(app: &TestApp) -> Vec<(Role, String)> {
    let hash = kezek_web::auth::hash_password(PASSWORD).unwrap();
    let db = &app.state.db;
    let mut tx = db.begin_write(None, app.state.clock.now()).await.unwrap();
    let region = tx.insert_region("almaty-region", ["Алматы облысы", "Алматинская область", "Almaty region"]).await.unwrap();
    let provider = tx
        .insert_organization(&NewOrganization {
            region_id: region,
            district_id: None,
            kind: OrganizationKind::Provider,
            bin: None,
            names: ["Алматы облысының білім басқармасы", "Управление образования Алматинской области", "Education Department of Almaty region"],
            address: "Талдыкорган, ул. Тауелсыздык, 38",
            office_hours: "09:00-18:00",
            office_breaks: "13:00-14:00",
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    for (i, role) in [Role::Clerk, Role::Head, Role::Specialist].into_iter().enumerate() {
        let birth = Date::from_calendar_date(1986, Month::June, 3 + i as u8).unwrap();
        let iin = (900u16..).find_map(|s| iin_for(birth, Sex::Female, s)).unwrap();
        let id = tx
            .insert_user(&NewUser { iin: &iin, full_name: "Тестова Айжан", password_hash: Some(&hash), language: "ru" })
            .await
            .unwrap();
        tx.insert_membership(id, Some(provider), role).await.unwrap();
        out.push((role, iin.as_string()));
    }
    tx.audit(AuditRecord {
        action: "test.region_added",
        object_type: "region",
        object_id: region.to_string(),
        organization_id: None,
        details: json!({}),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    out
}

async fn world(app: &TestApp) -> World {
    let region_staff = add_almaty_region(app).await;
    let (_, regions) = app.get("/api/v1/regions", None).await;
    let regions: HashMap<String, i64> =
        regions.as_array().unwrap().iter().map(|r| (r["code"].as_str().unwrap().to_owned(), r["id"].as_i64().unwrap())).collect();
    let mut staff = HashMap::new();
    for role in [Role::Clerk, Role::Head, Role::Specialist, Role::Operator] {
        staff.insert(("almaty-city".to_owned(), role), user(app, &app.iin_of(role.as_str(), 0)).await);
    }
    for (role, iin) in &region_staff {
        staff.insert(("almaty-region".to_owned(), *role), user(app, iin).await);
    }
    // The first kindergarten and its head.
    let kindergartens = app.organizations("almaty-city", "kindergarten").await;
    let k = &kindergartens[0];
    let head_login = app
        .logins
        .iter()
        .find(|l| l.role == Role::KindergartenHead && l.organization == k["name"]["en"].as_str().unwrap())
        .expect("the first kindergarten has a head");
    staff.insert(("almaty-city".to_owned(), Role::KindergartenHead), user(app, &head_login.iin).await);
    let mut provider = HashMap::new();
    for code in ["almaty-city", "almaty-region", "astana"] {
        provider.insert(code.to_owned(), app.organizations(code, "provider").await[0]["id"].as_i64().unwrap());
    }
    World {
        calendar: kezek_catalog::calendars::load_calendar(&catalog_dir()).unwrap(),
        catalog: kezek_catalog::services::load_services(&catalog_dir()).unwrap(),
        regions,
        staff,
        citizen: user(app, &app.iin_of("citizen", 0)).await,
        other_citizen: user(app, &app.iin_of("citizen", 1)).await,
        astana_admin: user(app, &app.iin_of("regional_admin", 1)).await,
        kindergarten: k["id"].as_i64().unwrap(),
        provider,
    }
}

impl World {
    fn staff(&self, region: &str, role: Role) -> &User {
        self.staff.get(&(region.to_owned(), role)).unwrap_or_else(|| panic!("a {role} in {region}"))
    }

    /// The route the seed gives the service on the channel, read from the catalog itself.
    fn route(&self, service: &str, channel: &str, region: &str) -> Route {
        let def = self.catalog.service(service).unwrap();
        let region = Region::parse(&region.replace('-', "_")).unwrap();
        let edition = def.edition_for(region, None).unwrap();
        Route::for_channel(service, "expected", edition, channel).unwrap()
    }

    /// Files the application as the channel requires and returns it.
    async fn file(&self, app: &TestApp, service: &str, channel: &str, region: &str) -> Value {
        let applicant_iin = app.iin_of("citizen", 0);
        let def = self.catalog.service(service).unwrap();
        let edition = def.edition_for(Region::parse(&region.replace('-', "_")).unwrap(), None).unwrap();
        let documents: Vec<&str> = edition.documents.required.iter().map(|d| d.id.as_str()).collect();
        let mut body = json!({
            "service_id": service, "region_id": self.regions[region], "channel": channel, "documents": documents,
        });
        let filer = match (service, channel) {
            (_, "portal") => {
                // Every portal channel checks the applicant's EDS: the filing is signed.
                let content = common::filing_content(&body, &applicant_iin);
                body["signature"] = json!(app.pki.sign(UserCase::Valid, &applicant_iin, &content, false));
                &self.citizen
            }
            (_, "gc" | "state-corporation") => {
                body["applicant_iin"] = json!(applicant_iin);
                self.staff(region, Role::Operator)
            }
            ("S2", _) => {
                body["applicant_iin"] = json!(applicant_iin);
                body["provider_id"] = json!(self.kindergarten);
                self.staff(region, Role::KindergartenHead)
            }
            _ => {
                body["applicant_iin"] = json!(applicant_iin);
                self.staff(region, Role::Clerk)
            }
        };
        let (status, filed) = app.post("/api/v1/applications", &filer.token, body).await;
        assert_eq!(status, 201, "{service} {channel}: {filed}");
        assert_eq!(filed["applicant_user_id"], self.citizen.id, "{service}: filed for the citizen");
        filed
    }

    /// The demo user who performs `performer` on an application of `region`.
    fn performer(&self, region: &str, performer: &str) -> Option<&User> {
        if performer == "system" {
            return None;
        }
        Some(self.staff(region, Role::parse(performer).unwrap()))
    }
}

fn next_command(state: &str) -> &'static str {
    match state {
        "filed" => "register",
        "registered" => "assign",
        "assigned" => "start_processing",
        "processing" => "prepare",
        "prepared" => "sign",
        "signed" => "issue",
        other => panic!("no next command for {other}"),
    }
}

fn parse_local(s: &str) -> PrimitiveDateTime {
    PrimitiveDateTime::parse(s, time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]")).unwrap()
}

/// Checks every opened step's due point against the seed's term counted on the calendar from
/// the step's start, in the office hours of the organization performing it, and that each step
/// starts when the previous one was completed.
fn check_dues(w: &World, service: &str, route: &Route, view: &Value) {
    let steps = view["steps"].as_array().unwrap();
    assert_eq!(steps.len(), route.steps().len(), "{service}: the application follows the seed's steps");
    for (i, (expected, got)) in route.steps().iter().zip(steps).enumerate() {
        assert_eq!(got["clause"], expected.clause.as_str(), "{service} step {i}");
        assert_eq!(got["performer"], expected.performer.as_str(), "{service} step {i}");
        let Some(started) = got["started"].as_str() else {
            assert_eq!(got["status"], "pending");
            continue;
        };
        let started = parse_local(started);
        if i > 0 {
            assert_eq!(steps[i - 1]["completed"].as_str(), got["started"].as_str(), "{service} step {i} starts when step {} ends", i - 1);
        }
        let hours = match expected.organization {
            Responsible::Provider => OfficeHours::provider(),
            Responsible::FrontOffice => OfficeHours::state_corporation(),
        };
        match expected.term {
            Some(term) => {
                let due = w.calendar.due(started, term, &hours).unwrap();
                assert_eq!(got["due"].as_str(), Some(due.to_string().as_str()), "{service} step {i} ({}): {term:?} from {started}", expected.clause);
                assert_eq!(got["term"]["amount"], term.amount);
                assert_eq!(got["term"]["unit"], term.unit.as_str());
            }
            None => assert!(got["due"].is_null(), "{service} step {i} has no term"),
        }
    }
}

/// Walks an application to its end; `refuse` prepares a refusal on that ground instead of the
/// result. Returns the closed application.
async fn walk(app: &TestApp, w: &World, service: &str, channel: &str, region: &str, refuse: Option<&str>) -> Value {
    let route = w.route(service, channel, region);
    let mut view = w.file(app, service, channel, region).await;
    check_dues(w, service, &route, &view);
    let mut expected_history = vec!["file".to_owned()];
    let executor_role = route
        .steps()
        .iter()
        .find(|s| s.closes >= kezek_domain::application::Milestone::Preparation)
        .unwrap()
        .performer
        .as_str();
    // The information system's steps are recorded in the history too.
    let mut seen = 1;
    while !view["closed"].as_bool().unwrap() {
        let history = view["history"].as_array().unwrap();
        for e in &history[seen..] {
            expected_history.push(e["action"].as_str().unwrap().to_owned());
            assert_eq!(e["role"], "system", "{service}: only system steps run on their own");
        }
        seen = history.len();
        let open = view["open_step"].as_u64().unwrap() as usize;
        let performer = view["steps"][open]["performer"].as_str().unwrap();
        let by = w.performer(region, performer).unwrap_or_else(|| panic!("{service}: a system step waits: {view}"));
        let action = next_command(view["state"].as_str().unwrap());
        let body = match action {
            "assign" => json!({"action": "assign", "executor_id": w.performer(region, executor_role).unwrap().id}),
            "prepare" => match refuse {
                Some(g) => json!({"action": "prepare", "grounds": g}),
                None => json!({"action": "prepare", "result": route.results()[0]}),
            },
            a => json!({"action": a}),
        };
        let (status, next) = app.post(&format!("/api/v1/applications/{}/actions", view["id"]), &by.token, body).await;
        assert_eq!(status, 200, "{service} {action} by {performer}: {next}");
        expected_history.push(action.to_owned());
        seen += 1;
        view = next;
        check_dues(w, service, &route, &view);
    }
    for e in &view["history"].as_array().unwrap()[seen..] {
        expected_history.push(e["action"].as_str().unwrap().to_owned());
    }
    // The history is complete: every command in order, each with who, when and under which role.
    let history = view["history"].as_array().unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, expected_history, "{service}");
    assert_eq!(actions[1..], ["register", "assign", "start_processing", "prepare", "sign", "issue"], "{service}");
    for (i, e) in history.iter().enumerate() {
        assert_eq!(e["seq"], i, "{service}");
        assert!(e["role"] == "system" || e["actor_user_id"].is_i64(), "{service}: {e}");
    }
    // The receipt carries the journal number and promised issue day.
    assert!(view["receipt"]["number"].as_str().unwrap().len() == 6, "{service}: {}", view["receipt"]);
    view
}

async fn every_service_is_filed_and_walked_to_its_result_with_due_times_on_the_calendar(app: &TestApp) {
    app.clock.advance(almaty_to_utc(START) - time::OffsetDateTime::now_utc());
    let w = world(app).await;

    // The catalog through the API.
    let (status, services) = app.get("/api/v1/services", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = services["services"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, WALKS.map(|(s, _, _)| s));
    let (status, s3) = app.get("/api/v1/services/S3?region=almaty-city", None).await;
    assert_eq!(status, 200);
    let channels: Vec<&str> = s3["edition"]["channels"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(channels, ["state-corporation", "portal"]);
    assert_eq!(s3["edition"]["channels"][0]["steps"][1]["cites"], "002 R1 §5(1), §6(1), §8(1)");
    let (status, p) = app.get("/api/v1/services/S99", None).await;
    assert_eq!((status, p["type"].as_str()), (404, Some("urn:kezek:problem:unknown-service")));
    let (status, p) = app.get("/api/v1/services/S15?region=astana", None).await;
    assert_eq!(status, 404, "{p}");

    // Every service to its result.
    let mut issued = Vec::new();
    for (service, channel, region) in WALKS {
        if service == "S1" {
            // S1 is the queue registration itself: filed only through the queue (tests/queue.rs,
            // tests/queue_signatures.rs), never by hand here.
            let (status, p) = app.post("/api/v1/applications", &w.citizen.token, json!({ "service_id": "S1", "region_id": w.regions[region], "channel": "portal" })).await;
            assert_eq!((status, p["field"].as_str()), (422, Some("service_id")), "{p}");
            continue;
        }
        let done = walk(app, &w, service, channel, region, None).await;
        assert_eq!(done["state"], "issued", "{service}");
        let route = w.route(service, channel, region);
        assert_eq!(done["result"], route.results()[0].as_str(), "{service}");
        assert!(done["steps"].as_array().unwrap().iter().all(|s| s["status"] == "completed"), "{service}: {}", done["steps"]);
        issued.push(done["id"].as_i64().unwrap());
    }

    // A reasoned refusal where the regulation allows one (002 R5 §8(3)).
    let refused = walk(app, &w, "S8", "office", "almaty-city", Some("documents-nonconforming")).await;
    assert_eq!((refused["state"].as_str(), refused["grounds"].as_str()), (Some("refused"), Some("documents-nonconforming")));
    assert!(refused["result"].is_null());

    // S8's executor has 3 working days from Thursday 18 March 2027: Friday 19, then Nauryz and
    // the carried-over day, so the due day lands after the holidays on a working day.
    let s8_due = Date::parse(refused["steps"][2]["due"].as_str().unwrap(), time::macros::format_description!("[year]-[month]-[day]")).unwrap();
    assert!(s8_due > datetime!(2027-03-23 00:00).date(), "{s8_due}");
    assert!(w.calendar.is_working_day(s8_due));

    let city = "almaty-city";
    let clerk = w.staff(city, Role::Clerk);
    let head = w.staff(city, Role::Head);
    let specialist = w.staff(city, Role::Specialist);

    // A step the regulation does not give the caller: 403; an outsider organization: 403; out of
    // order: 409; a refusal the step does not allow: 422.
    let s4 = w.file(app, "S4", "office", city).await;
    let actions = format!("/api/v1/applications/{}/actions", s4["id"]);
    let (status, p) = app.post(&actions, &head.token, json!({"action": "register"})).await;
    assert_eq!((status, p["type"].as_str()), (403, Some("urn:kezek:problem:application-not-performer")), "{p}");
    let (status, p) = app.post(&actions, &w.astana_admin.token, json!({"action": "register"})).await;
    assert_eq!(status, 403, "Astana staff on an Almaty application: {p}");
    let (status, p) = app.post(&actions, &clerk.token, json!({"action": "sign"})).await;
    assert_eq!((status, p["type"].as_str()), (409, Some("urn:kezek:problem:application-out-of-order")), "{p}");
    let (status, p) = app.post(&actions, &w.citizen.token, json!({"action": "register"})).await;
    assert_eq!(status, 403, "the applicant does not register their own application: {p}");
    let (status, p) = app.post(&actions, &w.other_citizen.token, json!({"action": "register"})).await;
    assert_eq!(status, 404, "another family's application does not exist for them: {p}");
    let (status, _) = app.post(&actions, &clerk.token, json!({"action": "register"})).await;
    assert_eq!(status, 200);
    let (status, p) = app.post(&actions, &head.token, json!({"action": "assign", "executor_id": clerk.id})).await;
    assert_eq!((status, p["type"].as_str()), (422, Some("urn:kezek:problem:application-executor")), "{p}");
    let (status, _) = app.post(&actions, &head.token, json!({"action": "assign", "executor_id": specialist.id})).await;
    assert_eq!(status, 200);
    let other_specialist = user(app, &app.iin_of("specialist", 1)).await;
    let (status, p) = app.post(&actions, &other_specialist.token, json!({"action": "start_processing"})).await;
    assert_eq!((status, p["type"].as_str()), (403, Some("urn:kezek:problem:application-not-assignee")), "{p}");
    let (status, p) = app.post(&actions, &head.token, json!({"action": "register"})).await;
    assert_eq!(status, 409, "registered twice: {p}");

    let s14 = w.file(app, "S14", "office", city).await;
    let actions = format!("/api/v1/applications/{}/actions", s14["id"]);
    for (by, body) in [
        (clerk, json!({"action": "register"})),
        (head, json!({"action": "assign", "executor_id": specialist.id})),
        (specialist, json!({"action": "start_processing"})),
    ] {
        let (status, p) = app.post(&actions, &by.token, body).await;
        assert_eq!(status, 200, "{p}");
    }
    let (status, p) = app.post(&actions, &specialist.token, json!({"action": "prepare", "grounds": "documents-nonconforming"})).await;
    assert_eq!((status, p["type"].as_str()), (422, Some("urn:kezek:problem:application-refusal-not-allowed")), "S14 has no refusal: {p}");

    // An incomplete package is refused at the State Corporation's intake with a refusal receipt
    // (002 R1 §10); only an operator refuses, and only on the intake's grounds.
    let operator = w.staff(city, Role::Operator);
    let refusal = |grounds: &str| json!({
        "service_id": "S3", "region_id": w.regions[city], "channel": "state-corporation",
        "applicant_iin": app.iin_of("citizen", 0), "documents": ["application"], "grounds": grounds,
    });
    let (status, receipt) = app.post("/api/v1/applications/intake-refusals", &operator.token, refusal("incomplete-package")).await;
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["clause"], "002 R1 §9 entry, processes 1–6, condition 1, §10");
    assert_eq!((receipt["refused_by"].as_i64(), receipt["applicant_user_id"].as_i64()), (Some(operator.id), Some(w.citizen.id)));
    let (status, p) = app.post("/api/v1/applications/intake-refusals", &operator.token, refusal("documents-nonconforming")).await;
    assert_eq!((status, p["type"].as_str()), (422, Some("urn:kezek:problem:application-unknown-ground")), "{p}");
    let (status, _) = app.post("/api/v1/applications/intake-refusals", &clerk.token, refusal("incomplete-package")).await;
    assert_eq!(status, 403);

    // Unknown channel: 422 naming the channels there are.
    let (status, p) = app
        .post("/api/v1/applications", &clerk.token, json!({"service_id": "S3", "region_id": w.regions[city], "channel": "office", "applicant_iin": app.iin_of("citizen", 0)}))
        .await;
    assert_eq!((status, p["type"].as_str()), (422, Some("urn:kezek:problem:unknown-channel")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("state-corporation"), "{p}");

    // The applicant sees their applications; another citizen sees none of them.
    let (_, mine) = app.get("/api/v1/me/applications", Some(&w.citizen.token)).await;
    assert_eq!(mine.as_array().unwrap().len(), WALKS.len() - 1 + 3, "every walk but S1's, and three more");
    let (status, _) = app.get(&format!("/api/v1/applications/{}", issued[0]), Some(&w.other_citizen.token)).await;
    assert_eq!(status, 404);

    // Overdue: an S9 application left at the head's resolution (1 working day) shows in the
    // provider's work list once the day has passed; closed ones never do.
    let s9 = w.file(app, "S9", "portal", city).await;
    let (status, _) = app.post(&format!("/api/v1/applications/{}/actions", s9["id"]), &clerk.token, json!({"action": "register"})).await;
    assert_eq!(status, 200);
    let work_list = format!("/api/v1/organizations/{}/applications?overdue=true", w.provider[city]);
    let (status, list) = app.get(&work_list, Some(&clerk.token)).await;
    assert_eq!(status, 200);
    assert!(list.as_array().unwrap().is_empty(), "nothing is overdue yet: {list}");
    app.clock.advance(time::Duration::days(14));
    app.forget_tokens();
    let clerk = user(app, &app.iin_of("clerk", 0)).await;
    let (status, list) = app.get(&work_list, Some(&clerk.token)).await;
    assert_eq!(status, 200);
    let overdue: Vec<i64> = list.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert!(overdue.contains(&s9["id"].as_i64().unwrap()), "{overdue:?}");
    // S4's executor has 28 calendar days and S14's 14 working days: still running on 1 April.
    assert!(!overdue.contains(&s4["id"].as_i64().unwrap()) && !overdue.contains(&s14["id"].as_i64().unwrap()), "{overdue:?}");
    assert!(issued.iter().all(|id| !overdue.contains(id)));
    let s9_now = list.as_array().unwrap().iter().find(|a| a["id"] == s9["id"]).unwrap();
    assert_eq!(s9_now["overdue_steps"], json!([1]));
    assert_eq!(s9_now["steps"][1]["status"], "overdue");
    let astana_admin = user(app, &app.iin_of("regional_admin", 1)).await;
    let (status, _) = app.get(&work_list, Some(&astana_admin.token)).await;
    assert_eq!(status, 403, "another region's work list");

    // Every transition went into the audit chain, which still verifies.
    let chain = app.state.db.verify_audit_chain().await.unwrap();
    assert!(chain.is_ok(), "{chain:?}");
}
