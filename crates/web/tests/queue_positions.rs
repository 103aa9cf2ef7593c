//! Position reads from the in-memory index answer exactly what the scan of the region answers,
//! on a random queue: ties of registration time, siblings, confirmed and lapsed claims, two
//! school years, children with no band, and after a round and later changes (which the index
//! follows event by event, or rebuilds from when an event names no child it knows).

mod common;

use common::{Engine, TestApp};
use kezek_domain::access::UserId;
use kezek_domain::identity::{Iin, Sex, iin_for};
use kezek_store::AuditRecord;
use kezek_store::queue::{EntryRow, NewEntry};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// A small deterministic generator (the test needs variety, not quality).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

async fn compare_all(app: &TestApp, now: OffsetDateTime, entries: &[EntryRow]) -> usize {
    let db = &app.state.db;
    let mut compared = 0;
    for e in entries {
        let entry = db.queue_entry(e.id).await.unwrap().unwrap();
        let scanned = kezek_web::queue::positions(db, now, &entry).await.unwrap();
        let indexed = kezek_web::position_index::positions(&app.state.positions, db, now, &entry).await.unwrap();
        assert_eq!(
            serde_json::to_value(&indexed).unwrap(),
            serde_json::to_value(&scanned).unwrap(),
            "entry {} ({})",
            entry.id,
            entry.status
        );
        compared += scanned.len();
    }
    compared
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_positions_equal_the_scan_on_a_random_queue() {
    let app = TestApp::start(Engine::Sqlite).await;
    let db = &app.state.db;
    let now = app.state.clock.now();
    let today = kezek_web::queue::local_today(now);
    let kindergartens: Vec<i64> =
        app.organizations("almaty-city", "kindergarten").await.iter().map(|k| k["id"].as_i64().unwrap()).collect();
    let region = app.organizations("almaty-city", "kindergarten").await[0]["region_id"].as_i64().unwrap();
    let admin_iin = app.iin_of("regional_admin", 0);
    let admin = db.user_by_iin(&Iin::parse(&admin_iin).unwrap()).await.unwrap().unwrap();
    let parent = db.user_by_iin(&Iin::parse(&app.iin_of("citizen", 0)).unwrap()).await.unwrap().unwrap();
    let categories = db.priority_categories(region).await.unwrap();
    let first = categories.iter().find(|c| c.class == 1).unwrap().id;

    let mut rng = Lcg(7);
    let mut tx = db.begin_write(Some(UserId(admin.id)), now).await.unwrap();
    // The region has first-priority categories only; an out-of-turn one makes class 2 appear.
    let out_of_turn = tx
        .insert_priority_category(region, "test-out-of-turn", 2, ["Кезектен тыс", "Внеочередное", "Out of turn"], "document", "test")
        .await
        .unwrap();
    let school_year = kezek_domain::queue::school_year_start(today);
    for n in 0..300u16 {
        // Ages from about 0.5 to 7 years: some children fit no band.
        let birth = school_year - Duration::days(180 + rng.next(2400) as i64);
        let iin = (n * 10 + 1..).find_map(|s| iin_for(birth, if n % 2 == 0 { Sex::Female } else { Sex::Male }, s)).unwrap();
        // Few distinct times, so that the registration number often decides.
        let at = now - Duration::days(400) + Duration::hours(rng.next(40) as i64);
        let desired_start = if rng.next(4) == 0 { today + Duration::days(300) } else { today };
        let sibling = (rng.next(6) == 0).then(|| kindergartens[rng.next(kindergartens.len() as u64) as usize]);
        let (entry, _) = tx
            .insert_queue_entry(&NewEntry {
                region_id: region,
                child_iin: &iin.as_string(),
                child_birth_date: birth,
                child_name: "Бала",
                applicant_user_id: parent.id,
                applicant_relation: "mother",
                language: if rng.next(3) == 0 { "ru" } else { "kk" },
                desired_start,
                channel: "portal",
                accepted_by: None,
                sibling_kindergarten_id: sibling,
                log_salt: "salt",
                original: Some((10_000 + i64::from(n) * 3, at)),
            })
            .await
            .unwrap();
        let mut prefs = Vec::new();
        for _ in 0..1 + rng.next(5) {
            let k = kindergartens[rng.next(kindergartens.len() as u64) as usize];
            if !prefs.contains(&k) {
                prefs.push(k);
            }
        }
        tx.set_preferences(entry, &prefs).await.unwrap();
        match rng.next(8) {
            0 | 1 => {
                let claim = tx.insert_claim(entry, if rng.next(2) == 0 { first } else { out_of_turn }, "document", "doc").await.unwrap();
                // Some confirmed claims have already lapsed: they must not count.
                let expires = if rng.next(3) == 0 { today - Duration::days(1) } else { today + Duration::days(30) };
                tx.decide_claim(claim, "pending", "confirmed", Some(expires), "").await.unwrap();
            }
            2 => {
                tx.insert_claim(entry, first, "document", "pending doc").await.unwrap();
            }
            _ => {}
        }
        tx.append_queue_event(region, "registered", Some("ref"), &json!({ "registration_no": n })).await.unwrap();
    }
    tx.audit(AuditRecord { action: "test.queue", object_type: "region", object_id: region.to_string(), organization_id: None, details: json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let entries = db.entries_of_region(region).await.unwrap();
    assert!(entries.len() >= 300);
    assert!(compare_all(&app, now, &entries).await > 600, "most children list several kindergartens");

    // A round refers some children and holds places; the index must follow the moved log head.
    let calendar = &app.state.calendar;
    let summary = kezek_web::queue::run_round(db, calendar, now, region, Some(UserId(admin.id))).await.unwrap();
    assert!(summary.assigned > 0);
    compare_all(&app, now, &entries).await;

    // A claim confirmed after the round moves a child up; the next read must see it.
    let waiting = db.waiting_children(region, today).await.unwrap();
    let plain = waiting.iter().find(|w| w.priority == 0).unwrap().id;
    let mut tx = db.begin_write(Some(UserId(admin.id)), now).await.unwrap();
    let claim = tx.insert_claim(plain, out_of_turn, "document", "late doc").await.unwrap();
    tx.decide_claim(claim, "pending", "confirmed", None, "").await.unwrap();
    tx.append_queue_event(region, "claim_confirmed", Some("ref"), &json!({ "claim": claim })).await.unwrap();
    tx.audit(AuditRecord { action: "test.claim", object_type: "claim", object_id: claim.to_string(), organization_id: None, details: json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    compare_all(&app, now, &entries).await;

    // A day later lapsed claims stop counting without any event: the day is part of the version.
    compare_all(&app, now + Duration::days(31), &entries).await;
}


/// Registers one child directly in the store with preferences and, sometimes, a confirmed
/// claim, appending its `registered` event under the child's real queue-log reference.
async fn register_one(tx: &mut kezek_store::WriteTx, region: i64, parent: i64, kindergartens: &[i64], category: i64, n: u16, rng: &mut Lcg) -> i64 {
    let today = kezek_web::queue::local_today(OffsetDateTime::now_utc());
    let birth = kezek_domain::queue::school_year_start(today) - Duration::days(400 + rng.next(1600) as i64);
    let iin = (n * 10 + 1..).find_map(|s| iin_for(birth, Sex::Female, s)).unwrap().as_string();
    let salt = format!("salt-{n}");
    let (entry, _) = tx
        .insert_queue_entry(&NewEntry {
            region_id: region,
            child_iin: &iin,
            child_birth_date: birth,
            child_name: "Бала",
            applicant_user_id: parent,
            applicant_relation: "mother",
            language: if rng.next(3) == 0 { "ru" } else { "kk" },
            desired_start: today,
            channel: "portal",
            accepted_by: None,
            sibling_kindergarten_id: None,
            log_salt: &salt,
            original: None,
        })
        .await
        .unwrap();
    let first = kindergartens[rng.next(kindergartens.len() as u64) as usize];
    let second = kindergartens.iter().copied().find(|k| *k != first).unwrap();
    tx.set_preferences(entry, &[first, second]).await.unwrap();
    if rng.next(4) == 0 {
        let claim = tx.insert_claim(entry, category, "document", "doc").await.unwrap();
        tx.decide_claim(claim, "pending", "confirmed", None, "").await.unwrap();
    }
    let cref = kezek_domain::queue::child_ref(&salt, &iin);
    tx.append_queue_event(region, "registered", Some(&cref), &json!({ "entry": entry })).await.unwrap();
    entry
}

async fn commit(mut tx: kezek_store::WriteTx) {
    tx.audit(AuditRecord { action: "test.queue", object_type: "queue", object_id: "0".into(), organization_id: None, details: json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Compares the positions of `changed` and of a sample of the others.
async fn compare_sample(app: &TestApp, region: i64, changed: i64, rng: &mut Lcg) {
    let now = app.state.clock.now();
    let all = app.state.db.entries_of_region(region).await.unwrap();
    let mut sample: Vec<EntryRow> = all.iter().filter(|e| e.id == changed).cloned().collect();
    for _ in 0..15 {
        sample.push(all[rng.next(all.len() as u64) as usize].clone());
    }
    compare_all(app, now, &sample).await;
}

/// After registrations, confirmed claims, changed preferences and removals made one at a time,
/// each with its event, the index follows the events (no rebuild) and still answers what the
/// scan answers; an event naming a child it cannot find makes it rebuild.
async fn the_index_follows_single_events(engine: Engine) {
    let app = TestApp::start(engine).await;
    let db = &app.state.db;
    let kindergartens: Vec<i64> =
        app.organizations("almaty-city", "kindergarten").await.iter().map(|k| k["id"].as_i64().unwrap()).collect();
    let region = app.organizations("almaty-city", "kindergarten").await[0]["region_id"].as_i64().unwrap();
    let parent = db.user_by_iin(&Iin::parse(&app.iin_of("citizen", 0)).unwrap()).await.unwrap().unwrap().id;
    let category = db.priority_categories(region).await.unwrap().iter().find(|c| c.class == 1).unwrap().id;
    let mut rng = Lcg(11);
    let mut tx = db.begin_write(None, app.state.clock.now()).await.unwrap();
    let mut entries = Vec::new();
    for n in 0..80 {
        entries.push(register_one(&mut tx, region, parent, &kindergartens, category, n, &mut rng).await);
    }
    commit(tx).await;
    compare_sample(&app, region, entries[0], &mut rng).await;
    let rebuilds = app.state.positions.rebuilds();
    let catch_ups = app.state.positions.catch_ups();

    for step in 0..24u16 {
        let mut tx = db.begin_write(None, app.state.clock.now()).await.unwrap();
        let pick = entries[rng.next(entries.len() as u64) as usize];
        let e = db.queue_entry(pick).await.unwrap().unwrap();
        let cref = kezek_domain::queue::child_ref(&e.log_salt, &e.child_iin);
        let changed = match step % 4 {
            0 => {
                let entry = register_one(&mut tx, region, parent, &kindergartens, category, 100 + step, &mut rng).await;
                entries.push(entry);
                entry
            }
            1 if e.status == "waiting" => {
                let claim = tx.insert_claim(pick, category, "document", "late doc").await.unwrap();
                tx.decide_claim(claim, "pending", "confirmed", None, "").await.unwrap();
                tx.append_queue_event(region, "claim_confirmed", Some(&cref), &json!({ "claim": claim })).await.unwrap();
                pick
            }
            2 if e.status == "waiting" => {
                let k = kindergartens[rng.next(kindergartens.len() as u64) as usize];
                tx.set_preferences(pick, &[k]).await.unwrap();
                tx.append_queue_event(region, "changed", Some(&cref), &json!({ "preferences": 1 })).await.unwrap();
                pick
            }
            3 if e.status == "waiting" => {
                assert!(tx.move_entry(pick, "waiting", "removed", "test").await.unwrap());
                tx.append_queue_event(region, "removed", Some(&cref), &json!({ "reason": "test" })).await.unwrap();
                pick
            }
            _ => pick,
        };
        commit(tx).await;
        compare_sample(&app, region, changed, &mut rng).await;
    }
    assert_eq!(app.state.positions.rebuilds(), rebuilds, "single events are followed, not rebuilt from");
    assert!(app.state.positions.catch_ups() > catch_ups);

    // An event naming a child nobody registered: the index cannot follow it and reads it all.
    let mut tx = db.begin_write(None, app.state.clock.now()).await.unwrap();
    tx.append_queue_event(region, "changed", Some("no-such-child"), &json!({})).await.unwrap();
    commit(tx).await;
    compare_sample(&app, region, entries[1], &mut rng).await;
    assert_eq!(app.state.positions.rebuilds(), rebuilds + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_single_events_on_sqlite() {
    the_index_follows_single_events(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_single_events_on_postgres() {
    the_index_follows_single_events(Engine::Postgres).await;
}
