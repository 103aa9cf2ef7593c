//! The same store behaviour, checked on SQLite and on PostgreSQL.

use kezek_domain::access::{OrganizationKind, Role, UserId};
use kezek_domain::audit::ChainBreak;
use kezek_domain::identity::{Sex, iin_for};
use kezek_store::testing::TestDatabase;
use kezek_store::{AuditRecord, Db, NewOrganization, NewUser, SessionKind, StoreError, demo};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

/// Generates one `#[tokio::test]` per engine for each scenario function.
macro_rules! on_both_engines {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let t = kezek_store::testing::TestDatabase::sqlite();
                super::$scenario(&t).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let t = kezek_store::testing::TestDatabase::postgres().await;
                super::$scenario(&t).await;
            })*
        }
    };
}

on_both_engines!(
    demo_data_loads_once_and_its_audit_chain_verifies,
    a_second_account_with_the_same_iin_is_a_conflict,
    a_write_without_an_audit_entry_is_refused_and_rolled_back,
    a_dropped_write_leaves_nothing_behind,
    concurrent_audited_writes_keep_one_unbroken_chain,
    an_audit_row_edited_by_hand_is_named_by_verification,
    an_expired_session_is_not_found,
    places_update_is_stored_with_its_audit_entry,
);

const NOW: OffsetDateTime = datetime!(2026-01-15 10:30:00.123456789 UTC);

fn person(serial: u16) -> kezek_domain::identity::Iin {
    (serial..).find_map(|s| iin_for(date!(1990 - 05 - 17), Sex::Female, s)).expect("some serial has a check digit")
}

fn record(action: &'static str, id: i64) -> AuditRecord<'static> {
    AuditRecord { action, object_type: "test", object_id: id.to_string(), organization_id: None, details: serde_json::json!({"n": id}) }
}

async fn demo_data_loads_once_and_its_audit_chain_verifies(t: &TestDatabase) {
    let db = t.open().await;
    assert!(demo::is_empty(&db).await.unwrap());
    let logins = demo::load(&db, NOW, "$argon2id$placeholder").await.unwrap();
    assert!(!demo::is_empty(&db).await.unwrap());
    let roles: Vec<Role> = logins.iter().map(|l| l.role).collect();
    for role in Role::ALL {
        assert!(roles.contains(&role), "demo data has a {role}");
    }
    let regions = db.regions().await.unwrap();
    assert_eq!(regions.len(), 2);
    let orgs = db.organizations_of_region(regions[0].id).await.unwrap();
    let kindergartens = orgs.iter().filter(|o| o.kind == "kindergarten").count();
    assert_eq!(kindergartens, 20);
    let groups = db.groups_of(orgs.iter().find(|o| o.kind == "kindergarten").unwrap().id).await.unwrap();
    assert!(groups.iter().all(|g| g.enrolled <= g.capacity && g.capacity > 0));
    assert_eq!(db.verify_audit_chain().await.unwrap(), Ok(1));
    // A second start finds data and loads nothing (the caller checks is_empty).
    assert!(!demo::is_empty(&db).await.unwrap());
}

async fn a_second_account_with_the_same_iin_is_a_conflict(t: &TestDatabase) {
    let db = t.open().await;
    let iin = person(1);
    let new = NewUser { iin: &iin, full_name: "A", password_hash: None, language: "kk" };
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    tx.insert_user(&new).await.unwrap();
    tx.audit(record("user.registered", 1)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = db.begin_write(None, NOW).await.unwrap();
    let err = tx.insert_user(&new).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    drop(tx);
    assert!(db.user_by_iin(&iin).await.unwrap().is_some());
}

async fn a_write_without_an_audit_entry_is_refused_and_rolled_back(t: &TestDatabase) {
    let db = t.open().await;
    let iin = person(2);
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    tx.insert_user(&NewUser { iin: &iin, full_name: "B", password_hash: None, language: "ru" }).await.unwrap();
    assert!(matches!(tx.commit().await, Err(StoreError::Unaudited)));
    assert!(db.user_by_iin(&iin).await.unwrap().is_none());
}

async fn a_dropped_write_leaves_nothing_behind(t: &TestDatabase) {
    let db = t.open().await;
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    tx.insert_region("x", ["x", "x", "x"]).await.unwrap();
    tx.audit(record("region.created", 1)).await.unwrap();
    drop(tx);
    assert!(db.regions().await.unwrap().is_empty());
    assert_eq!(db.verify_audit_chain().await.unwrap(), Ok(0));
}

async fn concurrent_audited_writes_keep_one_unbroken_chain(t: &TestDatabase) {
    let db = t.open().await;
    let mut tasks = Vec::new();
    for i in 0..16i64 {
        let db: Db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin_write(Some(UserId(i)), NOW + Duration::seconds(i)).await.unwrap();
            tx.insert_region(&format!("r{i}"), ["k", "r", "e"]).await.unwrap();
            tx.audit(record("region.created", i)).await.unwrap();
            tx.audit(record("region.checked", i)).await.unwrap();
            tx.commit().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(db.regions().await.unwrap().len(), 16);
    assert_eq!(db.verify_audit_chain().await.unwrap(), Ok(32));
}

async fn an_audit_row_edited_by_hand_is_named_by_verification(t: &TestDatabase) {
    let db = t.open().await;
    for i in 1..=5 {
        let mut tx = db.begin_write(None, NOW).await.unwrap();
        tx.audit(record("test.event", i)).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(db.verify_audit_chain().await.unwrap(), Ok(5));
    // The log refuses changes; someone with direct database access removes that guard first.
    let edit = match &db {
        Db::Sqlite(p) => {
            let e = sqlx::query("UPDATE audit_log SET details = '{\"n\":99}' WHERE seq = 3").execute(p).await;
            assert!(e.is_err(), "the append-only trigger refuses edits");
            sqlx::query("DROP TRIGGER audit_log_no_update").execute(p).await.unwrap();
            sqlx::query("UPDATE audit_log SET details = '{\"n\":99}' WHERE seq = 3").execute(p).await.map(|_| ())
        }
        Db::Postgres(p) => {
            let e = sqlx::query("UPDATE audit_log SET details = '{\"n\":99}' WHERE seq = 3").execute(p).await;
            assert!(e.is_err(), "the append-only trigger refuses edits");
            sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change").execute(p).await.unwrap();
            sqlx::query("UPDATE audit_log SET details = '{\"n\":99}' WHERE seq = 3").execute(p).await.map(|_| ())
        }
    };
    edit.unwrap();
    assert_eq!(db.verify_audit_chain().await.unwrap(), Err(ChainBreak::ContentMismatch { seq: 3 }));
}

async fn an_expired_session_is_not_found(t: &TestDatabase) {
    let db = t.open().await;
    let iin = person(3);
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    let uid = tx.insert_user(&NewUser { iin: &iin, full_name: "C", password_hash: None, language: "en" }).await.unwrap();
    tx.insert_session("digest", uid, SessionKind::Api, "csrf", NOW + Duration::hours(1)).await.unwrap();
    tx.audit(record("session.created", uid)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.session("digest", NOW).await.unwrap().map(|s| s.user_id), Some(uid));
    assert!(db.session("digest", NOW + Duration::hours(2)).await.unwrap().is_none());
    assert!(db.session("other", NOW).await.unwrap().is_none());
}

async fn places_update_is_stored_with_its_audit_entry(t: &TestDatabase) {
    let db = t.open().await;
    let mut tx = db.begin_write(Some(UserId(1)), NOW).await.unwrap();
    let region = tx.insert_region("r", ["k", "r", "e"]).await.unwrap();
    let k = tx.insert_organization(&NewOrganization {
        region_id: region, district_id: None, kind: OrganizationKind::Kindergarten, bin: None,
        names: ["k", "r", "e"], address: "", office_hours: "08:00-19:00", office_breaks: "",
    }).await.unwrap();
    let g = tx.insert_group(k, "3-4", "kk", 25, 20).await.unwrap();
    tx.audit(record("setup", 0)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = db.begin_write(Some(UserId(1)), NOW).await.unwrap();
    tx.update_group_places(g, 30, 22).await.unwrap();
    tx.audit(AuditRecord { action: "group.places_updated", object_type: "group", object_id: g.to_string(),
        organization_id: Some(k), details: serde_json::json!({"capacity": 30, "enrolled": 22}) }).await.unwrap();
    tx.commit().await.unwrap();
    let group = db.group(g).await.unwrap().unwrap();
    assert_eq!((group.capacity, group.enrolled), (30, 22));
    let entries = db.audit_entries_of_region(region, None, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "group.places_updated");
    assert_eq!(entries[0].actor_user_id, Some(1));

    // The database itself refuses more enrolled children than places.
    let mut tx = db.begin_write(Some(UserId(1)), NOW).await.unwrap();
    assert!(tx.update_group_places(g, 10, 22).await.is_err());
}
