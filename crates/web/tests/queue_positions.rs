//! Position reads from the in-memory index answer exactly what the scan of the region answers,
//! on a random queue: ties of registration time, siblings, confirmed and lapsed claims, two
//! school years, children with no band, and after a round and later changes (which must make
//! the index rebuild).

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
    let summary = kezek_web::queue::run_round(db, calendar, now, region, UserId(admin.id)).await.unwrap();
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
