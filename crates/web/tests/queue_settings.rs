//! A region's queue settings through the API, and the daily round its schedule starts, on
//! SQLite and on PostgreSQL.

mod common;

use common::TestApp;
use kezek_domain::calendar::almaty_to_utc;
use kezek_domain::duration::{DurationUnit, Term};
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime, Time};

on_both_engines!(
    anyone_reads_the_settings_and_only_the_regions_administrator_changes_them,
    wrong_settings_are_refused_naming_the_field_in_the_requesters_language,
    the_chosen_referral_term_and_norms_are_what_rounds_and_auditors_use,
    a_scheduled_round_runs_once_on_a_working_day_whatever_the_number_of_servers,
);

async fn almaty_region(app: &TestApp) -> i64 {
    app.organizations("almaty-city", "kindergarten").await[0]["region_id"].as_i64().unwrap()
}

fn choice(term: Value, norms: Value, round_time: Value) -> Value {
    json!({
        "max_preferences": 4,
        "referral_term": term,
        "on_decline": "remove",
        "on_expiry": "keep_waiting",
        "group_norms": norms,
        "round_time": round_time,
    })
}

async fn anyone_reads_the_settings_and_only_the_regions_administrator_changes_them(app: &TestApp) {
    let region = almaty_region(app).await;
    let path = format!("/api/v1/regions/{region}/queue-settings");
    let (s, before) = app.get(&path, None).await;
    assert_eq!(s, 200, "{before}");
    assert!(before["bands"].as_array().unwrap().len() >= 3);
    assert!(before["round_time"].is_null(), "rounds start by hand unless a region chooses a time");

    let wanted = choice(json!({"amount": 1, "unit": "months"}), json!({"3-4": 18}), json!("09:30"));
    for who in [app.iin_of("kindergarten_head", 0), app.iin_of("citizen", 0), app.iin_of("regional_admin", 1), app.iin_of("auditor", 0)] {
        let (s, body) = app.put(&path, &app.token(&who).await, wanted.clone()).await;
        assert_eq!(s, 403, "{body}");
    }
    let (_, unchanged) = app.get(&path, None).await;
    assert_eq!(unchanged, before);

    let admin = app.token(&app.iin_of("regional_admin", 0)).await;
    let (s, after) = app.put(&path, &admin, wanted).await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(after["referral_term"], json!({"amount": 1, "unit": "months"}));
    assert_eq!(after["max_preferences"], 4);
    assert_eq!(after["on_decline"], "remove");
    assert_eq!(after["group_norms"], json!({"3-4": 18}));
    assert_eq!(after["round_time"], "09:30");
    assert_eq!(after["bands"], before["bands"], "bands come from the regulation");
    let (_, read) = app.get(&path, None).await;
    assert_eq!(read, after);

    // Back to starting rounds by hand.
    let (s, manual) = app.put(&path, &admin, choice(json!({"amount": 5, "unit": "working_days"}), json!({}), Value::Null)).await;
    assert_eq!(s, 200, "{manual}");
    assert!(manual["round_time"].is_null());
    // The other region is untouched.
    let astana = app.organizations("astana", "kindergarten").await;
    if let Some(k) = astana.first() {
        let (_, other) = app.get(&format!("/api/v1/regions/{}/queue-settings", k["region_id"]), None).await;
        assert_ne!(other["group_norms"], json!({}));
    }
}

async fn put_in(app: &TestApp, lang: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let r = app.client.put(app.url(path)).bearer_auth(token).header("accept-language", lang).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn wrong_settings_are_refused_naming_the_field_in_the_requesters_language(app: &TestApp) {
    let region = almaty_region(app).await;
    let path = format!("/api/v1/regions/{region}/queue-settings");
    let admin = app.token(&app.iin_of("regional_admin", 0)).await;
    let (_, before) = app.get(&path, None).await;
    let ok_term = json!({"amount": 5, "unit": "working_days"});
    let cases = [
        (choice(json!({"amount": 4, "unit": "months"}), json!({}), Value::Null), "referral_term", "1 до 3"),
        (choice(json!({"amount": 30, "unit": "working_minutes"}), json!({}), Value::Null), "referral_term", "рабочих днях"),
        (choice(json!({"amount": 5, "unit": "weeks"}), json!({}), Value::Null), "referral_term", "рабочих днях"),
        (choice(ok_term.clone(), json!({"7-8": 20}), Value::Null), "group_norms", "7-8"),
        (choice(ok_term.clone(), json!({"3-4": 0}), Value::Null), "group_norms", "3-4"),
        (choice(ok_term.clone(), json!({}), json!("25:00")), "round_time", "ЧЧ:ММ"),
        (choice(ok_term.clone(), json!({}), json!("9.30")), "round_time", "ЧЧ:ММ"),
    ];
    for (body, field, words) in cases {
        let (s, p) = put_in(app, "ru", &path, &admin, body).await;
        assert_eq!(s, 422, "{p}");
        assert_eq!(p["field"], field, "{p}");
        assert!(p["detail"].as_str().unwrap().contains(words), "{p}");
    }
    // A signed-in user reads problems in the language they chose.
    let (s, _) = app.put("/api/v1/me/language", &admin, json!({"language": "kk"})).await;
    assert!(s == 200 || s == 204, "{s}");
    let mut bad = choice(ok_term.clone(), json!({}), Value::Null);
    bad["max_preferences"] = json!(0);
    let (s, p) = put_in(app, "kk", &path, &admin, bad).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("max_preferences")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("балабақша"), "{p}");
    let mut bad = choice(ok_term, json!({}), Value::Null);
    bad["on_expiry"] = json!("maybe");
    let (s, _) = app.put("/api/v1/me/language", &admin, json!({"language": "en"})).await;
    assert!(s == 200 || s == 204, "{s}");
    let (s, p) = put_in(app, "en", &path, &admin, bad.clone()).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("on_expiry")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("keeps waiting"), "{p}");
    bad["surprise"] = json!(1);
    let (s, _) = put_in(app, "en", &path, &admin, bad).await;
    assert_eq!(s, 422, "unknown fields are refused");
    let (_, after) = app.get(&path, None).await;
    assert_eq!(after, before, "a refused change changes nothing");
}

async fn the_chosen_referral_term_and_norms_are_what_rounds_and_auditors_use(app: &TestApp) {
    let region = almaty_region(app).await;
    let path = format!("/api/v1/regions/{region}/queue-settings");
    let admin = app.token(&app.iin_of("regional_admin", 0)).await;
    // A norm above every group the demo declares shows each of that band's groups to the auditor.
    let (s, body) = app.put(&path, &admin, choice(json!({"amount": 12, "unit": "calendar_days"}), json!({"3-4": 60}), Value::Null)).await;
    assert_eq!(s, 200, "{body}");
    let (s, report) = app.get(&format!("/api/v1/regions/{region}/honesty"), Some(&app.token(&app.iin_of("auditor", 0)).await)).await;
    assert_eq!(s, 200, "{report}");
    let below: Vec<&Value> =
        report["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "group_below_norm").collect();
    assert!(!below.is_empty(), "{report}");
    assert!(below.iter().all(|f| f["params"]["norm"] == 60), "{report}");

    // A round issues referrals open for the chosen term.
    let (s, round) = app.post(&format!("/api/v1/regions/{region}/rounds"), &admin, json!({})).await;
    assert_eq!(s, 201, "{round}");
    let referrals = app.state.db.referrals_of_round(round["round_id"].as_i64().unwrap()).await.unwrap();
    let today = kezek_web::queue::local_today(app.state.clock.now());
    let expected =
        kezek_domain::queue::referral_expiry(&app.state.calendar, today, Term { amount: 12, unit: DurationUnit::CalendarDays }).unwrap();
    if round["assigned"].as_u64().unwrap() > 0 {
        assert!(referrals.iter().all(|r| r.expires_on == expected), "{expected}");
    }
}

/// 12:00 Almaty on the first day on or after `from` that is (or is not) a working day.
fn noon_on(app: &TestApp, from: Date, working: bool) -> OffsetDateTime {
    let mut day = from;
    while app.state.calendar.is_working_day(day) != working {
        day += Duration::days(1);
    }
    almaty_to_utc(day.with_time(Time::from_hms(12, 0, 0).unwrap()))
}

async fn rounds_of(app: &TestApp, region: i64) -> usize {
    app.state.db.recent_rounds(region, 100).await.unwrap().len()
}

async fn a_scheduled_round_runs_once_on_a_working_day_whatever_the_number_of_servers(app: &TestApp) {
    use kezek_web::queue::run_due_rounds;
    let region = almaty_region(app).await;
    let db = &app.state.db;
    let calendar = &app.state.calendar;
    let admin = app.token(&app.iin_of("regional_admin", 0)).await;
    let path = format!("/api/v1/regions/{region}/queue-settings");
    let today = kezek_web::queue::local_today(app.state.clock.now());
    let workday = noon_on(app, today + Duration::days(1), true);

    // Without a schedule nothing starts by itself.
    assert!(run_due_rounds(db, calendar, workday).await.unwrap().is_empty());
    let (s, body) = app.put(&path, &admin, choice(json!({"amount": 5, "unit": "working_days"}), json!({}), json!("11:30"))).await;
    assert_eq!(s, 200, "{body}");

    // Not before the time, not on a day off.
    assert!(run_due_rounds(db, calendar, workday - Duration::hours(1)).await.unwrap().is_empty());
    let day_off = noon_on(app, today + Duration::days(1), false);
    assert!(run_due_rounds(db, calendar, day_off).await.unwrap().is_empty());
    assert_eq!(rounds_of(app, region).await, 0);

    // Two servers on one database at the same moment: one round.
    let other = kezek_store::Db::connect(app.database()).await.unwrap();
    let (a, b) = tokio::join!(run_due_rounds(db, calendar, workday), run_due_rounds(&other, calendar, workday));
    let started: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(started[0].1.is_ok(), "{started:?}");
    assert_eq!(rounds_of(app, region).await, 1);
    // Later the same day: done already.
    assert!(run_due_rounds(db, calendar, workday + Duration::hours(3)).await.unwrap().is_empty());

    // The next working day another round holds the lock: the scheduled one cannot run, and is
    // tried again on the next call rather than lost.
    let next = noon_on(app, (workday + Duration::days(1)).date(), true);
    let mut tx = db.begin_write(None, next).await.unwrap();
    assert!(tx.take_round_lock(region, "held-by-a-test", next + Duration::minutes(30)).await.unwrap());
    tx.audit(kezek_store::AuditRecord { action: "test.lock", object_type: "region", object_id: region.to_string(), organization_id: None, details: json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let blocked = run_due_rounds(db, calendar, next).await.unwrap();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].1.as_ref().unwrap_err().status.as_u16(), 409);
    let mut tx = db.begin_write(None, next).await.unwrap();
    assert!(tx.release_round_lock(region, "held-by-a-test").await.unwrap());
    tx.audit(kezek_store::AuditRecord { action: "test.unlock", object_type: "region", object_id: region.to_string(), organization_id: None, details: json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let retried = run_due_rounds(db, calendar, next + Duration::minutes(1)).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert!(retried[0].1.is_ok(), "{retried:?}");
    assert_eq!(rounds_of(app, region).await, 2);
}
