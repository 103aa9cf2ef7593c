//! The kindergarten queue end to end through the API, on SQLite and on PostgreSQL: 200
//! registrations on two channels, priority claims, published places, a round, answers to the
//! referrals, enrolment and expiry — with the invariants checked after each step.

mod common;

use std::collections::{HashMap, HashSet};

use common::TestApp;
use kezek_domain::identity::{Sex, iin_for};
use serde_json::{Value, json};
use time::{Date, Duration};

on_both_engines!(
    two_hundred_children_through_registration_round_referrals_and_enrolment,
    a_round_while_another_holds_the_region_lock_is_a_409,
    registration_rules_give_motivated_refusals,
    another_family_cannot_see_or_touch_a_registration,
    the_auditor_sees_what_should_never_happen,
    a_parent_sees_the_events_that_moved_their_child,
    registration_on_every_channel_is_one_s1_application_issuing_the_queue_notification,
    a_refused_registration_is_the_s1_applications_motivated_refusal_and_no_entry,
    a_registration_that_cannot_be_written_leaves_no_application_behind,
    positions_are_fresh_after_every_kind_of_write,
    each_region_gets_one_signed_head_a_day_even_with_two_servers_publishing,
    a_parent_proves_their_childs_events_against_the_signed_head,
);

fn today() -> Date {
    kezek_web::queue::local_today(time::OffsetDateTime::now_utc())
}

/// A valid child IIN for a birth date; `n` makes it unique.
fn child_iin(birth: Date, n: u16) -> String {
    (n * 10..).find_map(|s| iin_for(birth, if n.is_multiple_of(2) { Sex::Female } else { Sex::Male }, s)).unwrap().as_string()
}

struct Region {
    id: i64,
    kk: Vec<i64>,
    ru: Vec<i64>,
}

async fn almaty(app: &TestApp) -> Region {
    let ks = app.organizations("almaty-city", "kindergarten").await;
    let mut region = Region { id: ks[0]["region_id"].as_i64().unwrap(), kk: vec![], ru: vec![] };
    for k in &ks {
        let (_, groups) = app.get(&format!("/api/v1/organizations/{}/groups", k["id"]), None).await;
        let langs: HashSet<&str> = groups.as_array().unwrap().iter().map(|g| g["language"].as_str().unwrap()).collect();
        let id = k["id"].as_i64().unwrap();
        if langs.contains("kk") {
            region.kk.push(id);
        }
        if langs.contains("ru") {
            region.ru.push(id);
        }
    }
    region
}

fn registration(region: &Region, i: usize, applicant: Option<(&str, &str)>) -> Value {
    // Ages spread over every band: born between 1.1 and 5.8 years before this school year's 1 September.
    let birth = kezek_domain::queue::school_year_start(today()) - Duration::days(400 + (i as i64 * 37) % 1650);
    let (language, pool) = if i.is_multiple_of(3) { ("ru", &region.ru) } else { ("kk", &region.kk) };
    let n = 1 + i % 3;
    let prefs: Vec<i64> = (0..n).map(|j| pool[(i * 7 + j * 3) % pool.len()]).collect::<Vec<_>>();
    let mut prefs_unique = Vec::new();
    for p in prefs {
        if !prefs_unique.contains(&p) {
            prefs_unique.push(p);
        }
    }
    let mut body = json!({
        "region_id": region.id,
        "child_iin": child_iin(birth, i as u16 + 1),
        "child_birth_date": birth.to_string(),
        "child_name": format!("Бала {i}"),
        "relation": if i.is_multiple_of(2) { "mother" } else { "father" },
        "language": language,
        "preferences": prefs_unique,
        "desired_start": today().to_string(),
        "consent": true,
    });
    if i.is_multiple_of(10) {
        body["priority"] = json!({"category": "large-family", "evidence_kind": "document", "evidence_ref": format!("certificate {i}")});
    }
    if let Some((iin, name)) = applicant {
        body["applicant_iin"] = json!(iin);
        body["applicant_name"] = json!(name);
    }
    body
}

/// Puts the child of a registration body (and an applicant who is not a demo citizen) into the
/// embedded person registry with `parent` as its parent, as ГБД ФЛ would know them.
async fn known_to_registry(app: &TestApp, body: &Value, parent: &str) {
    let parent_iin = kezek_domain::identity::Iin::parse(parent).unwrap();
    let mut csv = String::from("iin,full_name,birth_date,death_date,parent_iins,representative_iins\n");
    if app.state.db.registry_person(&parent_iin).await.unwrap().is_none() {
        csv.push_str(&format!("{parent},Ата-ана,{},,,\n", parent_iin.birth_date()));
    }
    csv.push_str(&format!("{},{},{},,{parent},\n", body["child_iin"].as_str().unwrap(), body["child_name"].as_str().unwrap(), body["child_birth_date"].as_str().unwrap()));
    kezek_registries::import::import(&app.state.db, kezek_registries::import::RegistryKind::Person, &csv, None, time::OffsetDateTime::now_utc()).await.unwrap();
}

/// Files a registration for a child the person registry knows as `parent`'s.
/// On the portal the parent signs it, as the region's S1 edition requires.
async fn file(app: &TestApp, token: &str, parent: &str, body: Value) -> (u16, Value) {
    known_to_registry(app, &body, parent).await;
    let body = app.signed_registration(token, body).await;
    app.post("/api/v1/queue/registrations", token, body).await
}

/// Every group: enrolled + live referrals never exceed capacity; each child holds at most one
/// live referral; the queue log's hash chain is whole.
async fn assert_invariants(app: &TestApp, region: i64) {
    let (_, places) = app.get(&format!("/api/v1/regions/{region}/places"), None).await;
    for g in places.as_array().unwrap() {
        let (cap, enrolled, held) = (g["capacity"].as_i64().unwrap(), g["enrolled"].as_i64().unwrap(), g["held"].as_i64().unwrap());
        assert!(enrolled + held <= cap, "group over capacity: {g}");
    }
    let entries = app.state.db.entries_of_region(region).await.unwrap();
    for e in &entries {
        let live = app.state.db.referrals_of_entry(e.id).await.unwrap().iter().filter(|r| r.status == "open" || r.status == "accepted").count();
        assert!(live <= 1, "entry {} holds {live} live referrals", e.id);
        assert_eq!(live == 1, e.status == "referred", "entry {} is {} with {live} live referrals", e.id, e.status);
    }
    let (head_seq, head_hash) = app.state.db.queue_log_head(region).await.unwrap();
    let log = app.state.db.queue_log(region, 0, 1_000_000).await.unwrap();
    let mut prev = kezek_store::queue::GENESIS.to_owned();
    for (i, row) in log.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1);
        assert_eq!(row.prev_hash, prev);
        assert_eq!(row.content().unwrap().hash(&prev), row.hash, "queue log entry {} verifies", row.seq);
        prev = row.hash.clone();
    }
    assert_eq!((head_seq, head_hash), (log.len() as i64, prev));
    assert_eq!(app.state.db.verify_audit_chain().await.unwrap().map(|n| n > 0), Ok(true));
}

async fn two_hundred_children_through_registration_round_referrals_and_enrolment(app: &TestApp) {
    let region = almaty(app).await;
    let admin = app.token(&app.iin_of("regional_admin", 0)).await;
    let operator = app.token(&app.iin_of("operator", 0)).await;
    let specialist = app.token(&app.iin_of("specialist", 0)).await;
    let citizens: Vec<String> = {
        let mut v = Vec::new();
        for n in 0..3 {
            v.push(app.token(&app.iin_of("citizen", n)).await);
        }
        v
    };

    // Places are published: every group of the first twelve kindergartens gets three free places.
    let ks = app.organizations("almaty-city", "kindergarten").await;
    for k in ks.iter().take(12) {
        let (_, groups) = app.get(&format!("/api/v1/organizations/{}/groups", k["id"]), None).await;
        for g in groups.as_array().unwrap() {
            let enrolled = g["enrolled"].as_i64().unwrap();
            let (s, _) = app.put(&format!("/api/v1/groups/{}", g["id"]), &admin, json!({"capacity": enrolled + 3, "enrolled": enrolled})).await;
            assert_eq!(s, 200);
        }
    }

    // 200 registrations: 30 by three parents on the portal, 170 at the State Corporation front office.
    let mut entries: Vec<(i64, Option<usize>)> = Vec::new();
    let mut numbers = Vec::new();
    for i in 0..200 {
        let (token, body, parent, parent_iin) = if i < 30 {
            (&citizens[i % 3], registration(&region, i, None), Some(i % 3), app.iin_of("citizen", i % 3))
        } else {
            let applicant = child_iin(time::macros::date!(1990 - 01 - 01) + Duration::days(i as i64), 5000 + i as u16);
            (&operator, registration(&region, i, Some((&applicant, "Ата-ана"))), None, applicant)
        };
        let (s, notification) = file(app, token, &parent_iin, body).await;
        assert_eq!(s, 201, "registration {i}: {notification}");
        numbers.push(notification["registration_no"].as_i64().unwrap());
        entries.push((notification["entry_id"].as_i64().unwrap(), parent));
    }
    assert_eq!(numbers, (1..=200).collect::<Vec<_>>(), "queue numbers are given in order, without gaps");
    let (s, p) = file(app, &citizens[0], &app.iin_of("citizen", 0), registration(&region, 0, None)).await;
    assert_eq!((s, p["type"].as_str()), (409, Some("urn:kezek:problem:already-registered")));

    // Claims: the specialist confirms most, rejects one.
    let mut confirmed = 0;
    for (n, (entry, _)) in entries.iter().enumerate().filter(|(n, _)| n % 10 == 0) {
        let (_, view) = app.get(&format!("/api/v1/queue/registrations/{entry}"), Some(&specialist)).await;
        let claim = view["claims"][0]["id"].as_i64().unwrap();
        let (decision, body) = if n == 0 {
            ("reject", json!({"decision": "reject", "reason": "the certificate has expired"}))
        } else {
            ("confirm", json!({"decision": "confirm", "expires_on": (today() + Duration::days(365)).to_string()}))
        };
        let (s, p) = app.post(&format!("/api/v1/queue/claims/{claim}/decision"), &specialist, body).await;
        assert_eq!(s, 204, "{p}");
        confirmed += usize::from(decision == "confirm");
        let (s, _) = app.post(&format!("/api/v1/queue/claims/{claim}/decision"), &specialist, json!({"decision": "confirm"})).await;
        assert_eq!(s, 409, "a claim is decided once");
    }
    let (_, stats) = app.get(&format!("/api/v1/regions/{}/queue-stats", region.id), None).await;
    assert_eq!(stats["total_waiting"], 200);
    let first_class: u64 = stats["waiting"].as_array().unwrap().iter().filter(|r| r["class"] == 1).map(|r| r["children"].as_u64().unwrap()).sum();
    assert_eq!(first_class as usize, confirmed);
    assert_invariants(app, region.id).await;

    // The round.
    let (s, summary) = app.post(&format!("/api/v1/regions/{}/rounds", region.id), &admin, json!({})).await;
    assert_eq!(s, 201, "{summary}");
    let assigned = summary["assigned"].as_u64().unwrap();
    assert!(assigned > 20, "{summary}");
    let round_id = summary["round_id"].as_i64().unwrap();
    let (_, round) = app.get(&format!("/api/v1/rounds/{round_id}"), None).await;
    assert_eq!(round["check"]["violations"], 0, "{round}");
    assert_eq!(round["check"]["child_optimal"], true);
    assert_eq!(round["input_digest"], summary["input_digest"]);
    assert_invariants(app, region.id).await;

    // Every child placed got one referral; a child's explanation names the cut-off of each group.
    let referred: Vec<(i64, Option<usize>, Value)> = {
        let mut v = Vec::new();
        for (entry, parent) in &entries {
            let (_, view) = app.get(&format!("/api/v1/queue/registrations/{entry}"), Some(&admin)).await;
            if view["status"] == "referred" {
                v.push((*entry, *parent, view["referrals"][0].clone()));
            }
        }
        v
    };
    assert_eq!(referred.len() as u64, assigned);
    let (entry, _, _) = &referred[0];
    let (s, why) = app.get(&format!("/api/v1/queue/registrations/{entry}/rounds/{round_id}"), Some(&admin)).await;
    assert_eq!(s, 200, "{why}");
    assert!(why["groups"].as_array().unwrap().iter().any(|g| g["outcome"] == "admitted"));

    // Parents answer: the portal families accept or decline; heads enrol the accepted ones.
    let mut heads: HashMap<i64, String> = HashMap::new();
    let mut enrolled = 0;
    let mut declined = 0;
    for (entry, parent, referral) in referred.iter().filter(|(_, p, _)| p.is_some()) {
        let token = &citizens[parent.unwrap()];
        let rid = referral["id"].as_i64().unwrap();
        if entry % 3 == 0 {
            let (s, p) = app.post(&format!("/api/v1/referrals/{rid}/decline"), token, json!({"reason": "moved away"})).await;
            assert_eq!(s, 204, "{p}");
            declined += 1;
            continue;
        }
        let (s, p) = app.post(&format!("/api/v1/referrals/{rid}/accept"), token, json!({})).await;
        assert_eq!(s, 204, "{p}");
        let group = referral["group_id"].as_i64().unwrap();
        let (_, g) = app.get(&format!("/api/v1/regions/{}/places", region.id), None).await;
        let k = g.as_array().unwrap().iter().find(|x| x["group_id"] == group).unwrap()["kindergarten_id"].as_i64().unwrap();
        let position = ks.iter().position(|x| x["id"] == k).unwrap();
        if let std::collections::hash_map::Entry::Vacant(e) = heads.entry(k) {
            e.insert(app.token(&app.iin_of("kindergarten_head", position)).await);
        }
        // Another kindergarten's head may not enrol the child.
        let other = app.token(&app.iin_of("kindergarten_head", (position + 1) % 20)).await;
        let (s, _) = app.post(&format!("/api/v1/referrals/{rid}/enrol"), &other, json!({"contract_no": "X", "contract_date": today().to_string()})).await;
        assert_eq!(s, 403);
        let (s, p) = app.post(&format!("/api/v1/referrals/{rid}/enrol"), &heads[&k], json!({"contract_no": format!("Д-{rid}"), "contract_date": today().to_string()})).await;
        assert_eq!(s, 204, "{p}");
        enrolled += 1;
    }
    assert!(enrolled > 0 && declined > 0, "enrolled {enrolled}, declined {declined}");
    assert_invariants(app, region.id).await;

    // A month later the unanswered referrals have lapsed; the children wait again (Almaty's policy).
    app.clock.advance(Duration::days(40));
    app.forget_tokens();
    let admin = app.token(&app.iin_of("regional_admin", 0)).await;
    let citizens: Vec<String> = {
        let mut v = Vec::new();
        for n in 0..3 {
            v.push(app.token(&app.iin_of("citizen", n)).await);
        }
        v
    };
    let (s, run) = app.post(&format!("/api/v1/regions/{}/expiry", region.id), &admin, json!({})).await;
    assert_eq!(s, 200);
    let open_before = assigned as i64 - enrolled - declined;
    assert_eq!(run["referrals_expired"].as_i64().unwrap(), open_before, "{run}");
    let (_, run) = app.post(&format!("/api/v1/regions/{}/expiry", region.id), &admin, json!({})).await;
    assert_eq!(run["referrals_expired"], 0, "nothing lapses twice");
    assert_invariants(app, region.id).await;
    let (_, stats) = app.get(&format!("/api/v1/regions/{}/queue-stats", region.id), None).await;
    assert_eq!(stats["total_waiting"].as_i64().unwrap(), 200 - enrolled);

    // A waiting child's positions: one per preferred kindergarten, counted by class.
    let waiting_entry = entries.iter().find(|(e, p)| p.is_some() && !referred.iter().any(|r| r.0 == *e)).map(|(e, p)| (*e, p.unwrap()));
    if let Some((entry, parent)) = waiting_entry {
        let (s, pos) = app.get(&format!("/api/v1/queue/registrations/{entry}/positions"), Some(&citizens[parent])).await;
        assert_eq!(s, 200, "{pos}");
        for p in pos["positions"].as_array().unwrap() {
            let by_class: u64 = p["ahead_by_class"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum();
            assert_eq!(by_class, p["ahead"].as_u64().unwrap());
            assert!(by_class < 200);
        }
    }
}

async fn a_round_while_another_holds_the_region_lock_is_a_409(app: &TestApp) {
    let region = almaty(app).await;
    let admin = app.token(&app.iin_of("regional_admin", 0)).await;
    // Another server is running a round: it holds the lock in the database.
    let now = time::OffsetDateTime::now_utc();
    let mut tx = app.state.db.begin_write(None, now).await.unwrap();
    assert!(tx.take_round_lock(region.id, "other-server", now + Duration::minutes(5)).await.unwrap());
    tx.audit(kezek_store::AuditRecord { action: "test.lock", object_type: "region", object_id: region.id.to_string(), organization_id: None, details: json!({}) }).await.unwrap();
    tx.commit().await.unwrap();
    let (s, p) = app.post(&format!("/api/v1/regions/{}/rounds", region.id), &admin, json!({})).await;
    assert_eq!((s, p["type"].as_str()), (409, Some("urn:kezek:problem:round-running")), "{p}");
    // The Astana region is not blocked by Almaty's round.
    let astana_admin = app.token(&app.iin_of("regional_admin", 1)).await;
    let (_, regions) = app.get("/api/v1/regions", None).await;
    let astana = regions.as_array().unwrap().iter().find(|r| r["code"] == "astana").unwrap()["id"].as_i64().unwrap();
    let (s, p) = app.post(&format!("/api/v1/regions/{astana}/rounds"), &astana_admin, json!({})).await;
    assert_eq!(s, 201, "{p}");
    // A lease that ran out (the other server died) no longer blocks.
    app.clock.advance(Duration::minutes(15));
    let (s, p) = app.post(&format!("/api/v1/regions/{}/rounds", region.id), &admin, json!({})).await;
    assert_eq!(s, 201, "{p}");
    // Started at once, rounds never overlap: each either runs or is told another runs.
    let path = format!("/api/v1/regions/{}/rounds", region.id);
    let (a, b) = tokio::join!(app.post(&path, &admin, json!({})), app.post(&path, &admin, json!({})));
    assert!([a.0, b.0].contains(&201), "{a:?} {b:?}");
    assert!([a.0, b.0].iter().all(|s| *s == 201 || *s == 409), "{a:?} {b:?}");
    // Only the administrator of the region starts rounds.
    let specialist = app.token(&app.iin_of("specialist", 0)).await;
    let (s, _) = app.post(&format!("/api/v1/regions/{}/rounds", region.id), &specialist, json!({})).await;
    assert_eq!(s, 403);
}

async fn registration_rules_give_motivated_refusals(app: &TestApp) {
    let region = almaty(app).await;
    let citizen = app.token(&app.iin_of("citizen", 0)).await;
    let citizen = &citizen;
    let post = |body: Value| async move {
        let body = app.signed_registration(citizen, body).await;
        app.client.post(app.url("/api/v1/queue/registrations")).bearer_auth(citizen).header("cookie", "lang=en").json(&body).send().await.unwrap()
    };
    let base = registration(&region, 1, None);

    let mut too_old = base.clone();
    let birth = today() - Duration::days(7 * 366);
    too_old["child_birth_date"] = json!(birth.to_string());
    too_old["child_iin"] = json!(child_iin(birth, 900));
    let r = post(too_old).await;
    assert_eq!(r.status(), 422);
    assert!(r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("under 7"));

    let mut mismatch = base.clone();
    mismatch["child_birth_date"] = json!((today() - Duration::days(800)).to_string());
    let r = post(mismatch).await;
    assert!(r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("does not match the child's IIN"));

    let mut wrong_language = base.clone();
    let kk_only = *region.kk.iter().find(|k| !region.ru.contains(k)).unwrap();
    wrong_language["language"] = json!("ru");
    wrong_language["preferences"] = json!([kk_only]);
    let r = post(wrong_language).await;
    assert_eq!(r.status(), 422);
    assert!(r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("no groups in the chosen language"));

    let mut foreign = base.clone();
    let astana_k = app.organizations("astana", "kindergarten").await[0]["id"].as_i64().unwrap();
    foreign["preferences"] = json!([astana_k]);
    let r = post(foreign).await;
    assert!(r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("not a kindergarten of this region"));

    let mut too_many = base.clone();
    too_many["preferences"] = json!(region.kk.iter().take(6).collect::<Vec<_>>());
    let r = post(too_many).await;
    assert!(r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("between 1 and 5"));

    let mut bad_iin = base.clone();
    bad_iin["child_iin"] = json!("123456789012");
    let r = post(bad_iin).await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "child_iin");

    // The person registry decides on the child and the applicant's parenthood, after consent.
    let r = post(base.clone()).await;
    assert_eq!(r.status(), 422);
    assert!(r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("no data on the child"));
    let mut other_child = registration(&region, 2, None);
    known_to_registry(app, &other_child, &app.iin_of("citizen", 1)).await;
    let r = post(other_child.clone()).await;
    assert!(r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("parent or legal representative"));
    other_child["consent"] = json!(false);
    let r = post(other_child).await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "consent");

    // Nothing of that was written.
    assert!(app.state.db.entries_of_region(region.id).await.unwrap().is_empty());
    // In Russian too.
    let no_preferences = app.signed_registration(citizen, { let mut b = base.clone(); b["preferences"] = json!([]); b }).await;
    let r = app.client.post(app.url("/api/v1/queue/registrations")).bearer_auth(citizen).header("accept-language", "ru")
        .json(&no_preferences).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["title"], "В постановке на очередь отказано");
}

async fn another_family_cannot_see_or_touch_a_registration(app: &TestApp) {
    let region = almaty(app).await;
    let mine = app.token(&app.iin_of("citizen", 0)).await;
    let theirs = app.token(&app.iin_of("citizen", 1)).await;
    let (s, n) = file(app, &mine, &app.iin_of("citizen", 0), registration(&region, 5, None)).await;
    assert_eq!(s, 201);
    let entry = n["entry_id"].as_i64().unwrap();
    let (s, _) = app.get(&format!("/api/v1/queue/registrations/{entry}"), Some(&theirs)).await;
    assert_eq!(s, 404);
    let (s, _) = app.put(&format!("/api/v1/queue/registrations/{entry}/preferences"), &theirs, json!({"preferences": [region.kk[0]], "language": "kk"})).await;
    assert_eq!(s, 404);
    let (_, list) = app.get("/api/v1/me/registrations", Some(&theirs)).await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    let (s, own) = app.get(&format!("/api/v1/queue/registrations/{entry}"), Some(&mine)).await;
    assert_eq!(s, 200);
    assert_eq!(own["log_ref"].as_str().unwrap().len(), 64);
    // A citizen may not file for someone else, nor start a round.
    let mut body = registration(&region, 6, Some(("900101300013", "X")));
    body["applicant_iin"] = json!(app.iin_of("citizen", 2));
    let (s, _) = app.post("/api/v1/queue/registrations", &mine, body).await;
    assert_eq!(s, 403);
    let (s, _) = app.post(&format!("/api/v1/regions/{}/rounds", region.id), &mine, json!({})).await;
    assert_eq!(s, 403);
    // The parent changes preferences; the number stays.
    let (s, p) = app.put(&format!("/api/v1/queue/registrations/{entry}/preferences"), &mine, json!({"preferences": [region.kk[1], region.kk[0]], "language": "kk"})).await;
    assert_eq!(s, 204, "{p}");
    let (_, after) = app.get(&format!("/api/v1/queue/registrations/{entry}"), Some(&mine)).await;
    assert_eq!(after["registration_no"], n["registration_no"]);
    assert_eq!(after["preferences"], json!([region.kk[1], region.kk[0]]));
}

async fn the_auditor_sees_what_should_never_happen(app: &TestApp) {
    let region = almaty(app).await;
    let auditor = app.token(&app.iin_of("auditor", 0)).await;
    let head = app.token(&app.iin_of("kindergarten_head", 0)).await;
    let path = format!("/api/v1/regions/{}/honesty", region.id);
    let (s, clean) = app.get(&path, Some(&auditor)).await;
    assert_eq!(s, 200, "{clean}");
    let baseline = clean["findings"].as_array().unwrap().len();

    // A head declares a group far below the norm and raises its enrolled count by hand.
    let k = &app.organizations("almaty-city", "kindergarten").await[0];
    let (_, groups) = app.get(&format!("/api/v1/organizations/{}/groups", k["id"]), None).await;
    let g = groups.as_array().unwrap().iter().find(|g| g["age_band"] == "3-4").unwrap().clone();
    let (s, _) = app.put(&format!("/api/v1/groups/{}", g["id"]), &head, json!({"capacity": 30, "enrolled": 2})).await;
    assert_eq!(s, 200);
    let (s, _) = app.put(&format!("/api/v1/groups/{}", g["id"]), &head, json!({"capacity": 8, "enrolled": 8})).await;
    assert_eq!(s, 200);
    // Someone with database access issues a referral outside any round.
    let (_, n) = file(app, &app.token(&app.iin_of("citizen", 0)).await, &app.iin_of("citizen", 0), registration(&region, 3, None)).await;
    let entry = n["entry_id"].as_i64().unwrap();
    let mut tx = app.state.db.begin_write(None, time::OffsetDateTime::now_utc()).await.unwrap();
    tx.insert_referral(None, entry, g["id"].as_i64().unwrap(), today()).await.unwrap();
    tx.audit(kezek_store::AuditRecord { action: "test.manual", object_type: "referral", object_id: "0".into(), organization_id: None, details: json!({}) }).await.unwrap();
    tx.commit().await.unwrap();

    let (_, report) = app.get(&path, Some(&auditor)).await;
    let kinds: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"group_below_norm"), "{report}");
    assert!(kinds.contains(&"referral_outside_round"), "{report}");
    assert!(report["findings"].as_array().unwrap().iter().any(|f| f["kind"] == "enrolled_raised_by_hand"
        && f["object_id"] == g["id"] && f["detail"].as_str().unwrap().contains("2 → 8")), "{report}");
    assert!(report["findings"].as_array().unwrap().len() > baseline);
    // Only the region's auditors and administrators read it.
    let (s, _) = app.get(&path, Some(&head)).await;
    assert_eq!(s, 403);
}

async fn a_parent_sees_the_events_that_moved_their_child(app: &TestApp) {
    let region = almaty(app).await;
    let parent = app.token(&app.iin_of("citizen", 0)).await;
    let operator = app.token(&app.iin_of("operator", 0)).await;
    let specialist = app.token(&app.iin_of("specialist", 0)).await;
    let (_, mine) = file(app, &parent, &app.iin_of("citizen", 0), registration(&region, 4, None)).await;
    let entry = mine["entry_id"].as_i64().unwrap();
    let path = format!("/api/v1/queue/registrations/{entry}/events");
    let (s, first) = app.get(&path, Some(&parent)).await;
    assert_eq!(s, 200, "{first}");
    assert!(first["events"].as_array().unwrap().iter().any(|e| e["own"] == true && e["kind"] == "registered"));
    let seen = first["log_seq"].as_i64().unwrap();

    // Another family registers with a priority claim that the specialist confirms.
    let applicant = child_iin(time::macros::date!(1988 - 03 - 03), 777);
    let (_, other) = file(app, &operator, &applicant, registration(&region, 10, Some((&applicant, "Ата-ана")))).await;
    let (_, view) = app.get(&format!("/api/v1/queue/registrations/{}", other["entry_id"]), Some(&specialist)).await;
    let claim = view["claims"][0]["id"].as_i64().unwrap();
    let (s, _) = app.post(&format!("/api/v1/queue/claims/{claim}/decision"), &specialist, json!({"decision": "confirm", "expires_on": (today() + Duration::days(365)).to_string()})).await;
    assert_eq!(s, 204);

    let (_, since) = app.get(&format!("{path}?since={seen}"), Some(&parent)).await;
    let kinds: Vec<&str> = since["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"claim_confirmed") && kinds.contains(&"registered"), "{since}");
    assert!(since["events"].as_array().unwrap().iter().all(|e| e["own"] == false && e["seq"].as_i64().unwrap() > seen));
    let (_, nothing) = app.get(&format!("{path}?since={}", since["log_seq"]), Some(&parent)).await;
    assert!(nothing["events"].as_array().unwrap().is_empty());
    let (s, _) = app.get(&format!("{path}?since=abc"), Some(&parent)).await;
    assert_eq!(s, 400);
}

/// A GET in English.
async fn get_en(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let r = app.client.get(app.url(path)).bearer_auth(token).header("cookie", "lang=en").send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The S1 application a registration answered with, read by `token`, and the caller's checks
/// that it is one application of the edition and channel, walked by the information system from
/// filing to its result at one instant, with each step's due time on the calendar.
async fn s1_application(app: &TestApp, token: &str, id: &Value, edition: &str, channel: &str) -> Value {
    let (s, a) = app.get(&format!("/api/v1/applications/{id}"), Some(token)).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!((a["service_id"].as_str(), a["edition"].as_str(), a["channel"].as_str()), (Some("S1"), Some(edition), Some(channel)), "{a}");
    assert_eq!(a["closed"], true, "{a}");
    let actions: Vec<&str> = a["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["file", "register", "decide", "sign", "issue"], "receipt, check, result: {a}");
    let at = a["history"][0]["at"].clone();
    for e in &a["history"].as_array().unwrap()[1..] {
        assert_eq!((e["role"].as_str(), &e["at"]), (Some("system"), &at), "the system decides at the moment of filing: {e}");
    }
    for step in a["steps"].as_array().unwrap() {
        assert_eq!(step["status"], "completed", "{step}");
        assert_eq!(step["due"].is_null(), step["term"].is_null(), "a step with a term has its due time: {step}");
    }
    assert_eq!(a["receipt"]["number"].as_str().unwrap().len(), 6, "registered in the provider's journal: {a}");
    a
}

async fn registration_on_every_channel_is_one_s1_application_issuing_the_queue_notification(app: &TestApp) {
    let region = almaty(app).await;
    let citizen_iin = app.iin_of("citizen", 0);
    let citizen = app.token(&citizen_iin).await;
    let operator = app.token(&app.iin_of("operator", 0)).await;
    let clerk = app.token(&app.iin_of("clerk", 0)).await;
    let (_, before) = app.get("/api/v1/me/applications", Some(&citizen)).await;
    assert!(before.as_array().unwrap().is_empty());

    // The portal (000 R1 §14), the State Corporation (§10) and the provider's office (§5) of
    // Almaty city's current edition.
    let office_parent = child_iin(time::macros::date!(1991 - 02 - 02), 611);
    let front_parent = child_iin(time::macros::date!(1992 - 03 - 03), 612);
    let filings = [
        (&citizen, registration(&region, 20, None), citizen_iin.clone(), "portal"),
        (&operator, registration(&region, 21, Some((&front_parent, "Ата-ана"))), front_parent.clone(), "gc"),
        (&clerk, registration(&region, 22, Some((&office_parent, "Ата-ана"))), office_parent.clone(), "office"),
    ];
    let mut seen = Vec::new();
    for (token, body, parent, channel) in filings {
        let (s, n) = file(app, token, &parent, body).await;
        assert_eq!(s, 201, "{channel}: {n}");
        let a = s1_application(app, token, &n["application_id"], "base", channel).await;
        assert_eq!(a["result"], "queue_notification");
        let link = &a["queue_registration"];
        assert_eq!(link["registration_id"], n["entry_id"], "{a}");
        let doc = &link["document"];
        assert_eq!((doc["kind"].as_str(), &doc["queue_number"]), (Some("queue_notification"), &n["registration_no"]), "{doc}");
        assert!(doc["child_name"].as_str().unwrap().starts_with("Бала") && doc["title"]["ru"].as_str().unwrap().contains("очередь"), "{doc}");
        assert_eq!(doc["issued_by"]["en"], "Education Department of Almaty city", "{doc}");
        let (_, entry) = app.get(&format!("/api/v1/queue/registrations/{}", n["entry_id"]), Some(token)).await;
        assert_eq!(entry["application_id"], n["application_id"], "{entry}");
        assert!(!seen.contains(&n["application_id"]));
        seen.push(n["application_id"].clone());
    }
    // The citizen sees exactly their one application, the operator's and clerk's are the other
    // applicants' (each an account opened at the office).
    let (_, mine) = app.get("/api/v1/me/applications", Some(&citizen)).await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["id"], seen[0]);

    // Astana files under 004 through the e-gov portal (ПЭП, App. 3 Table 3): its registration ticket.
    let astana_k = app.organizations("astana", "kindergarten").await[0].clone();
    let astana = Region { id: astana_k["region_id"].as_i64().unwrap(), kk: vec![astana_k["id"].as_i64().unwrap()], ru: vec![] };
    let mut body = registration(&astana, 1, None);
    body["language"] = json!("kk");
    body["preferences"] = json!([astana_k["id"]]);
    let (s, n) = file(app, &citizen, &citizen_iin, body).await;
    assert_eq!(s, 201, "{n}");
    let a = s1_application(app, &citizen, &n["application_id"], "astana-2012", "pep").await;
    assert_eq!(a["queue_registration"]["document"]["title"]["ru"], "Уведомление (регистрационный талон)", "{a}");
    assert_eq!(a["queue_registration"]["document"]["queue_number"], 1, "Astana's queue numbers its own children");

    // A change of preferences is an event of the registration, not a new application: the
    // notification as issued stays, with the queue number the change keeps.
    let entry = a["queue_registration"]["registration_id"].as_i64().unwrap();
    let (s, _) = app.put(&format!("/api/v1/queue/registrations/{entry}/preferences"), &citizen, json!({"preferences": [astana_k["id"]], "language": "kk"})).await;
    assert_eq!(s, 204);
    let (_, mine) = app.get("/api/v1/me/applications", Some(&citizen)).await;
    assert_eq!(mine.as_array().unwrap().len(), 2);
    let (_, after) = app.get(&format!("/api/v1/applications/{}", n["application_id"]), Some(&citizen)).await;
    assert_eq!(after["queue_registration"], a["queue_registration"]);
    let (_, events) = app.get(&format!("/api/v1/queue/registrations/{entry}/events"), Some(&citizen)).await;
    let own: Vec<&str> = events["events"].as_array().unwrap().iter().filter(|e| e["own"] == true).map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(own, ["registered", "changed"], "{events}");
}

async fn a_refused_registration_is_the_s1_applications_motivated_refusal_and_no_entry(app: &TestApp) {
    let region = almaty(app).await;
    let citizen_iin = app.iin_of("citizen", 0);
    let citizen = app.token(&citizen_iin).await;
    let clerk = app.token(&app.iin_of("clerk", 0)).await;
    let post = |token: String, body: Value| async move {
        let body = app.signed_registration(&token, body).await;
        let r = app.client.post(app.url("/api/v1/queue/registrations")).bearer_auth(token).header("cookie", "lang=en").json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };

    // Seven years old, on the portal: the executor's step of 000 R1 §14 refuses on the documents.
    let mut too_old = registration(&region, 30, None);
    let birth = today() - Duration::days(7 * 366);
    too_old["child_birth_date"] = json!(birth.to_string());
    too_old["child_iin"] = json!(child_iin(birth, 930));
    let (s, p) = post(citizen.clone(), too_old).await;
    assert_eq!(s, 422, "{p}");
    let (s, a) = get_en(app, &format!("/api/v1/applications/{}", p["application_id"]), &citizen).await;
    assert_eq!(s, 200, "the refusal names its application: {p} {a}");
    assert_eq!((a["state"].as_str(), a["grounds"].as_str(), a["result"].as_str()), (Some("refused"), Some("documents-nonconforming"), None), "{a}");
    let doc = &a["queue_registration"]["document"];
    assert_eq!(doc["kind"], "motivated_refusal");
    assert!(doc["reason"].as_str().unwrap().contains("under 7"), "the motive, in the reader's language: {doc}");
    assert!(a["queue_registration"]["registration_id"].is_null());
    let actions: Vec<&str> = a["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["file", "register", "decide", "sign", "issue"]);

    // At the provider's office the Standard's grounds (000 R1 §5(3)): a kindergarten without
    // the language.
    let parent = child_iin(time::macros::date!(1990 - 05 - 05), 631);
    let mut wrong_language = registration(&region, 31, Some((&parent, "Ата-ана")));
    let kk_only = *region.kk.iter().find(|k| !region.ru.contains(k)).unwrap();
    wrong_language["language"] = json!("ru");
    wrong_language["preferences"] = json!([kk_only]);
    let (s, p) = post(clerk.clone(), wrong_language).await;
    assert_eq!(s, 422, "{p}");
    let (_, a) = get_en(app, &format!("/api/v1/applications/{}", p["application_id"]), &clerk).await;
    assert_eq!((a["channel"].as_str(), a["grounds"].as_str()), (Some("office"), Some("standard-p10")), "{a}");
    assert!(a["queue_registration"]["document"]["reason"].as_str().unwrap().contains("no groups in the chosen language"));

    // The person registry's refusal too.
    let (s, p) = post(citizen.clone(), registration(&region, 32, None)).await;
    assert_eq!(s, 422, "{p}");
    let (_, mine) = get_en(app, "/api/v1/me/applications", &citizen).await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 2, "the citizen's two refusals: {mine:?}");
    assert_eq!(mine[0]["id"], p["application_id"]);
    assert!(mine[0]["queue_registration"]["document"]["reason"].as_str().unwrap().contains("no data on the child"), "{}", mine[0]);

    // Input that is not an application at all files nothing.
    let mut no_consent = registration(&region, 33, None);
    no_consent["consent"] = json!(false);
    let (s, p) = post(citizen.clone(), no_consent).await;
    assert_eq!((s, p["application_id"].is_null()), (422, true), "{p}");
    let (_, mine) = get_en(app, "/api/v1/me/applications", &citizen).await;
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert!(app.state.db.entries_of_region(region.id).await.unwrap().is_empty(), "no refusal put a child in the queue");
}

async fn a_registration_that_cannot_be_written_leaves_no_application_behind(app: &TestApp) {
    let region = almaty(app).await;
    let citizen_iin = app.iin_of("citizen", 0);
    let citizen = app.token(&citizen_iin).await;
    let body = registration(&region, 40, None);
    let (s, first) = file(app, &citizen, &citizen_iin, body.clone()).await;
    assert_eq!(s, 201, "{first}");
    let log_before = app.state.db.queue_log(region.id, 0, 1000).await.unwrap().len();

    // The second registration of the same child passes every check made before the transaction;
    // inside it the application is written first and the entry second, which the one active
    // registration per child refuses: the transaction rolls back with the application in it.
    let (s, p) = file(app, &citizen, &citizen_iin, body).await;
    assert_eq!((s, p["type"].as_str()), (409, Some("urn:kezek:problem:already-registered")), "{p}");
    let (_, mine) = get_en(app, "/api/v1/me/applications", &citizen).await;
    let states: Vec<(&str, &str)> = mine.as_array().unwrap().iter().map(|a| (a["state"].as_str().unwrap(), a["receipt"]["number"].as_str().unwrap())).collect();
    // Only the first registration's application and the refusal, recorded afterwards in a
    // transaction of its own; the rolled-back registration did not even keep its journal number.
    assert_eq!(states, [("refused", "000002"), ("issued", "000001")], "{mine}");
    assert_eq!(mine[0]["id"], p["application_id"]);
    assert!(mine[0]["queue_registration"]["document"]["reason"].as_str().unwrap().contains("already"), "{}", mine[0]);
    assert_eq!(app.state.db.entries_of_region(region.id).await.unwrap().len(), 1);
    assert_eq!(app.state.db.queue_log(region.id, 0, 1000).await.unwrap().len(), log_before, "no queue event of the failed registration");
    assert_eq!(app.state.db.verify_audit_chain().await.unwrap().map(|n| n > 0), Ok(true));
}

/// Reads a registration's positions through the API and checks them against the scan of the
/// database at that moment (`queue::positions`, no cache): a stale index answers differently.
async fn fresh_positions(app: &TestApp, entry: i64, token: &str) -> Value {
    let (s, read) = app.get(&format!("/api/v1/queue/registrations/{entry}/positions"), Some(token)).await;
    assert_eq!(s, 200, "{read}");
    let row = app.state.db.queue_entry(entry).await.unwrap().unwrap();
    let scanned = kezek_web::queue::positions(&app.state.db, app.state.clock.now(), &row).await.unwrap();
    assert_eq!(read["positions"], serde_json::to_value(&scanned).unwrap(), "entry {entry} ({})", row.status);
    assert_eq!(read["status"], row.status);
    read
}

async fn positions_are_fresh_after_every_kind_of_write(app: &TestApp) {
    let region = almaty(app).await;
    let admin = app.token(&app.iin_of("regional_admin", 0)).await;
    let specialist = app.token(&app.iin_of("specialist", 0)).await;
    let (mother, father) = (app.token(&app.iin_of("citizen", 0)).await, app.token(&app.iin_of("citizen", 1)).await);

    // A registers; the very first read of a new registration finds it.
    let a_body = registration(&region, 1, None);
    let (s, n) = file(app, &mother, &app.iin_of("citizen", 0), a_body.clone()).await;
    assert_eq!(s, 201, "{n}");
    let a = n["entry_id"].as_i64().unwrap();
    let first = fresh_positions(app, a, &mother).await;
    let k = first["positions"][0]["kindergarten_id"].as_i64().unwrap();
    let ahead_out_of_turn = |v: &Value| v["positions"][0]["ahead_by_class"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).skip(1).sum::<u64>();
    let ahead_before = ahead_out_of_turn(&first);

    // B, same age, language and kindergartens, registers later with a priority claim: behind A
    // until the claim is confirmed, then ahead.
    let mut b_body = a_body.clone();
    let birth = Date::parse(a_body["child_birth_date"].as_str().unwrap(), time::macros::format_description!("[year]-[month]-[day]")).unwrap();
    b_body["child_iin"] = json!(child_iin(birth, 900));
    b_body["child_name"] = json!("Бала B");
    b_body["priority"] = json!({"category": "large-family", "evidence_kind": "document", "evidence_ref": "certificate B"});
    let (s, n) = file(app, &father, &app.iin_of("citizen", 1), b_body).await;
    assert_eq!(s, 201, "{n}");
    let b = n["entry_id"].as_i64().unwrap();
    assert_eq!(ahead_out_of_turn(&fresh_positions(app, a, &mother).await), ahead_before);
    fresh_positions(app, b, &father).await;
    let (s, _) = app.get(&format!("/api/v1/queue/registrations/{b}/positions"), Some(&mother)).await;
    assert_eq!(s, 404, "another family's child does not exist for the mother");
    let (_, view) = app.get(&format!("/api/v1/queue/registrations/{b}"), Some(&specialist)).await;
    let claim = view["claims"][0]["id"].as_i64().unwrap();
    let (s, p) = app.post(&format!("/api/v1/queue/claims/{claim}/decision"), &specialist, json!({"decision": "confirm"})).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("expires_on")), "a large family's right ends on a day its certificate fixes: {p}");
    let until = (today() + Duration::days(365)).to_string();
    let (s, p) = app.post(&format!("/api/v1/queue/claims/{claim}/decision"), &specialist, json!({"decision": "confirm", "expires_on": until})).await;
    assert_eq!(s, 204, "{p}");
    assert_eq!(ahead_out_of_turn(&fresh_positions(app, a, &mother).await), ahead_before + 1, "B's confirmed claim puts B ahead");

    // A changes preferences: the next read lists the new ones.
    let prefs: Vec<i64> = a_body["preferences"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).rev().collect();
    let (s, p) = app.put(&format!("/api/v1/queue/registrations/{a}/preferences"), &mother, json!({"preferences": prefs, "language": a_body["language"]})).await;
    assert_eq!(s, 204, "{p}");
    let read = fresh_positions(app, a, &mother).await;
    let listed: Vec<i64> = read["positions"].as_array().unwrap().iter().map(|p| p["kindergarten_id"].as_i64().unwrap()).collect();
    assert_eq!(listed, prefs);

    // The head publishes places in A's group at k: the next read shows them.
    let at_k = |v: &Value| v["positions"].as_array().unwrap().iter().find(|p| p["kindergarten_id"] == k).unwrap().clone();
    let group = at_k(&read)["group_id"].as_i64().unwrap();
    let (_, groups) = app.get(&format!("/api/v1/organizations/{k}/groups"), None).await;
    let g = groups.as_array().unwrap().iter().find(|g| g["id"] == group).unwrap().clone();
    let (capacity, enrolled) = (g["capacity"].as_i64().unwrap(), g["enrolled"].as_i64().unwrap());
    let free_before = at_k(&read)["free_places"].as_i64().unwrap();
    let (s, p) = app.put(&format!("/api/v1/groups/{group}"), &admin, json!({"capacity": capacity + 3, "enrolled": enrolled})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(at_k(&fresh_positions(app, a, &mother).await)["free_places"].as_i64().unwrap(), free_before + 3);

    // A round refers the children: statuses and held places show at once.
    let (s, summary) = app.post(&format!("/api/v1/regions/{}/rounds", region.id), &admin, json!({})).await;
    assert_eq!(s, 201, "{summary}");
    assert_eq!(fresh_positions(app, b, &father).await["status"], "referred", "B ranks first at k, where places are free");
    let a_after_round = fresh_positions(app, a, &mother).await;

    // B declines: B waits again (Almaty keeps the child in the queue) and the place is free again.
    let (_, view) = app.get(&format!("/api/v1/queue/registrations/{b}"), Some(&father)).await;
    let b_referral = view["referrals"][0]["id"].as_i64().unwrap();
    let (s, p) = app.post(&format!("/api/v1/referrals/{b_referral}/decline"), &father, json!({"reason": "moved away"})).await;
    assert_eq!(s, 204, "{p}");
    assert_eq!(fresh_positions(app, b, &father).await["status"], "waiting");

    // A, referred too, accepts and is enrolled by the kindergarten's head.
    if a_after_round["status"] == "referred" {
        let (_, view) = app.get(&format!("/api/v1/queue/registrations/{a}"), Some(&mother)).await;
        let referral = &view["referrals"][0];
        let rid = referral["id"].as_i64().unwrap();
        let (s, p) = app.post(&format!("/api/v1/referrals/{rid}/accept"), &mother, json!({})).await;
        assert_eq!(s, 204, "{p}");
        fresh_positions(app, a, &mother).await;
        let (_, places) = app.get(&format!("/api/v1/regions/{}/places", region.id), None).await;
        let kg = places.as_array().unwrap().iter().find(|x| x["group_id"] == referral["group_id"]).unwrap()["kindergarten_id"].clone();
        let ks = app.organizations("almaty-city", "kindergarten").await;
        let head = app.token(&app.iin_of("kindergarten_head", ks.iter().position(|x| x["id"] == kg).unwrap())).await;
        let (s, p) = app.post(&format!("/api/v1/referrals/{rid}/enrol"), &head, json!({"contract_no": "Д-1", "contract_date": today().to_string()})).await;
        assert_eq!(s, 204, "{p}");
        assert_eq!(fresh_positions(app, a, &mother).await["status"], "enrolled");
    }

    // A second round refers B again; a month later the referral lapses and B waits again.
    let (s, summary) = app.post(&format!("/api/v1/regions/{}/rounds", region.id), &admin, json!({})).await;
    assert_eq!(s, 201, "{summary}");
    assert_eq!(fresh_positions(app, b, &father).await["status"], "referred");
    app.clock.advance(Duration::days(40));
    app.forget_tokens();
    let admin = app.token(&app.iin_of("regional_admin", 0)).await;
    let father = app.token(&app.iin_of("citizen", 1)).await;
    let (s, run) = app.post(&format!("/api/v1/regions/{}/expiry", region.id), &admin, json!({})).await;
    assert_eq!(s, 200);
    assert!(run["referrals_expired"].as_u64().unwrap() >= 1, "{run}");
    assert_eq!(fresh_positions(app, b, &father).await["status"], "waiting");

    // Logging out ends the token at once, however recently it was checked.
    let token = app.login(&app.iin_of("citizen", 1)).await;
    fresh_positions(app, b, &token).await;
    let r = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = app.get(&format!("/api/v1/queue/registrations/{b}/positions"), Some(&token)).await;
    assert_eq!(s, 401);

    // A change this server did not make (another server, or SQL by hand) is seen within the
    // re-check interval: the places version moves with any change of a group.
    let before = fresh_positions(app, b, &father).await;
    let k_b = before["positions"][0]["kindergarten_id"].as_i64().unwrap();
    let group_b = before["positions"][0]["group_id"].as_i64().unwrap();
    let sql = format!("UPDATE kindergarten_groups SET capacity = capacity + 7 WHERE id = {group_b}");
    assert_eq!(kezek_store::testing::execute_by_hand(&app.state.db, &sql).await.unwrap(), 1);
    tokio::time::sleep(kezek_web::position_index::RECHECK_AFTER + std::time::Duration::from_millis(50)).await;
    let after = fresh_positions(app, b, &father).await;
    let free = |v: &Value| v["positions"].as_array().unwrap().iter().find(|p| p["kindergarten_id"] == k_b).unwrap()["free_places"].as_i64().unwrap();
    assert_eq!(free(&after), free(&before) + 7);
}

async fn each_region_gets_one_signed_head_a_day_even_with_two_servers_publishing(app: &TestApp) {
    use kezek_web::queue_log_keys::{Publication, RegionKeys, publish_due_heads, verify_published_head};
    let region = almaty(app).await;
    let token = app.token(&app.iin_of("citizen", 0)).await;
    let (s, n) = file(app, &token, &app.iin_of("citizen", 0), registration(&region, 2, None)).await;
    assert_eq!(s, 201, "{n}");
    let folder = tempfile::tempdir().unwrap();
    let keys = RegionKeys::in_data_dir(folder.path());
    // Two servers on one database with one key folder, publishing at the same moment.
    let other = kezek_store::Db::connect(app.database()).await.unwrap();
    let now = app.state.clock.now();
    let day = kezek_web::queue::local_today(now);
    let (first, second) = tokio::join!(publish_due_heads(&app.state.db, &keys, now), publish_due_heads(&other, &keys, now));
    let (first, second) = (first.unwrap(), second.unwrap());
    let regions: Vec<i64> = first.iter().map(|(r, _)| *r).collect();
    assert!(regions.contains(&region.id) && regions.len() >= 2, "{first:?}");
    for r in &regions {
        let outcomes: Vec<&Publication> = first.iter().chain(&second).filter(|(x, _)| x == r).map(|(_, p)| p).collect();
        let published = outcomes.iter().filter(|p| matches!(p, Publication::Published(_))).count();
        assert_eq!(published, 1, "region {r}: {outcomes:?}");
        assert!(outcomes.iter().all(|p| matches!(p, Publication::Published(_) | Publication::AlreadyPublished)), "{outcomes:?}");
        let heads = app.state.db.published_queue_heads(*r, 10).await.unwrap();
        assert_eq!(heads.len(), 1);
        assert_eq!(heads[0].day, day);
        assert_eq!(verify_published_head(&heads[0]), Ok(()));
        assert_eq!(heads[0].public_key, keys.existing_key_of(*r).unwrap().unwrap().public_key_pem());
    }
    // Later the same day nothing more is signed; the next day gets its own head.
    let again = publish_due_heads(&other, &keys, now + Duration::hours(1)).await.unwrap();
    assert!(again.iter().all(|(_, p)| *p == Publication::AlreadyPublished), "{again:?}");
    let tomorrow = publish_due_heads(&app.state.db, &keys, now + Duration::days(1)).await.unwrap();
    assert!(tomorrow.iter().all(|(_, p)| matches!(p, Publication::Published(_))), "{tomorrow:?}");
    assert_eq!(app.state.db.published_queue_heads(region.id, 10).await.unwrap().len(), 2);

    // A server whose key folder lacks the region's key, or holds another key, signs nothing.
    let stray_folder = tempfile::tempdir().unwrap();
    let stray = RegionKeys::in_data_dir(stray_folder.path());
    let day_after = now + Duration::days(2);
    let lacking = publish_due_heads(&other, &stray, day_after).await.unwrap();
    assert!(lacking.iter().all(|(_, p)| *p == Publication::NoKey), "{lacking:?}");
    stray.key_of(region.id).unwrap();
    let foreign = publish_due_heads(&other, &stray, day_after).await.unwrap();
    assert!(foreign.iter().any(|(r, p)| *r == region.id && *p == Publication::OtherKey), "{foreign:?}");
    assert_eq!(app.state.db.published_queue_heads(region.id, 10).await.unwrap().len(), 2);
    other.close().await;

    // The public page lists the head of each day.
    let html = app.client.get(app.url(&format!("/regions/{}/queue-log", region.id))).send().await.unwrap().text().await.unwrap();
    for h in app.state.db.published_queue_heads(region.id, 10).await.unwrap() {
        assert!(html.contains(&format!("data-day=\"{}\"", h.day)) && html.contains(&h.root), "{html}");
    }
}

async fn a_parent_proves_their_childs_events_against_the_signed_head(app: &TestApp) {
    use kezek_domain::queue_log::{HeadStatement, parse_hash};
    use kezek_web::api::queue_log::ChildLogProofs;
    use kezek_web::queue_log_keys::{RegionKeys, publish_due_heads, verify_head_signature};
    let region = almaty(app).await;
    let mother = app.token(&app.iin_of("citizen", 0)).await;
    let body = registration(&region, 4, None);
    let (s, n) = file(app, &mother, &app.iin_of("citizen", 0), body.clone()).await;
    assert_eq!(s, 201, "{n}");
    let entry = n["entry_id"].as_i64().unwrap();
    let path = format!("/api/v1/queue/registrations/{entry}/log-proofs");
    let read = |token: String| {
        let path = path.clone();
        async move { app.get(&path, Some(&token)).await }
    };

    // Before any head is signed, the child's events are all pending.
    let (s, before) = read(mother.clone()).await;
    assert_eq!(s, 200, "{before}");
    let before: ChildLogProofs = serde_json::from_value(before).unwrap();
    assert!(before.signed.is_none() && before.proofs.is_empty() && !before.pending.is_empty(), "{before:?}");

    let folder = tempfile::tempdir().unwrap();
    let keys = RegionKeys::in_data_dir(folder.path());
    publish_due_heads(&app.state.db, &keys, app.state.clock.now()).await.unwrap();
    // A change after the head is pending until the next day's head.
    let prefs = body["preferences"].clone();
    let (s, p) = app.put(&format!("/api/v1/queue/registrations/{entry}/preferences"), &mother, json!({"preferences": prefs, "language": body["language"]})).await;
    assert_eq!(s, 204, "{p}");

    let (s, proofs) = read(mother.clone()).await;
    assert_eq!(s, 200, "{proofs}");
    let proofs: ChildLogProofs = serde_json::from_value(proofs).unwrap();
    let (_, view) = app.get(&format!("/api/v1/queue/registrations/{entry}"), Some(&mother)).await;
    assert_eq!(proofs.child_ref, view["log_ref"].as_str().unwrap());
    let signed = proofs.signed.clone().expect("the day's head");
    // The head is signed by the region's key...
    let statement = HeadStatement {
        region_id: region.id,
        day: signed.day.clone(),
        size: signed.size,
        root: parse_hash(&signed.root).unwrap(),
        signed_at: signed.signed_at.clone(),
    };
    assert_eq!(statement.canonical(), signed.statement);
    assert_eq!(signed.public_key, keys.existing_key_of(region.id).unwrap().unwrap().public_key_pem());
    assert_eq!(verify_head_signature(&signed.public_key, &statement, &signed.signature), Ok(()));
    // ...and every event of the child it covers is proved against its root.
    assert_eq!(proofs.proofs.len(), before.pending.len());
    for p in &proofs.proofs {
        assert_eq!((p.tree_size, p.root.as_str()), (signed.size, signed.root.as_str()));
        assert_eq!(p.entry.child_ref.as_deref(), Some(proofs.child_ref.as_str()));
        assert_eq!(p.to_inclusion_proof().verify(), Ok(()));
    }
    assert_eq!(proofs.pending.len(), 1, "the change of preferences came after the head");
    assert!(proofs.pending[0] > signed.size as i64);

    // A changed event does not verify.
    let mut changed = proofs.proofs[0].clone();
    changed.entry.payload = changed.entry.payload.replacen('1', "2", 1).replacen("{", "{\"x\":0,", 1);
    assert!(changed.to_inclusion_proof().verify().is_err());
    let mut moved = proofs.proofs[0].clone();
    moved.entry.kind = "removed".into();
    assert!(moved.to_inclusion_proof().verify().is_err());

    // The region's staff and auditor may read it; another family or another region's staff may not.
    for (role, n, status) in [("auditor", 0, 200), ("specialist", 0, 200), ("citizen", 1, 404), ("regional_admin", 1, 404)] {
        let token = app.token(&app.iin_of(role, n)).await;
        assert_eq!(read(token).await.0, status, "{role} #{n}");
    }
    assert_eq!(app.get(&path, None).await.0, 401);
}
