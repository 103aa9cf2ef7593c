//! The verifiable queue log on SQLite and on PostgreSQL: an intact log verifies and proves each
//! child's events; an event edited in the database is named by verification and its proof fails;
//! a history rewritten end to end no longer matches a published head.

use kezek_domain::queue::child_ref;
use kezek_domain::queue_log::{ProofError, QueueLogBreak, TreeHead, verify_consistency};
use kezek_store::queue_log::NewPublishedHead;
use kezek_store::testing::TestDatabase;
use kezek_store::{AuditRecord, Db};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

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
    an_intact_log_verifies_and_proves_each_childs_events,
    an_event_edited_by_hand_is_named_and_its_proof_fails,
    a_history_rewritten_and_rehashed_no_longer_matches_its_published_head,
    one_published_head_per_region_and_day,
);

const NOW: OffsetDateTime = datetime!(2026-11-25 06:00:00.123456 UTC);

fn note(action: &'static str) -> AuditRecord<'static> {
    AuditRecord { action, object_type: "test", object_id: "1".into(), organization_id: None, details: serde_json::json!({}) }
}

/// A region with a queue and `events` events: child `i % 3` for registrations and changes.
async fn region_with_events(db: &Db, code: &str, events: i64) -> i64 {
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    let region = tx.insert_region(code, ["k", "r", "e"]).await.unwrap();
    tx.insert_queue_settings(region, 5, "working_days").await.unwrap();
    tx.audit(note("queue.settings_created")).await.unwrap();
    tx.commit().await.unwrap();
    for i in 0..events {
        let mut tx = db.begin_write(None, NOW + Duration::minutes(i)).await.unwrap();
        let child = child_ref("salt", &format!("23051060012{}", i % 3));
        let kind = if i < 3 { "registered" } else { "changed" };
        tx.append_queue_event(region, kind, Some(&child), &serde_json::json!({"n": i})).await.unwrap();
        tx.audit(note("queue.event")).await.unwrap();
        tx.commit().await.unwrap();
    }
    region
}

/// Rewrites one queue-log row in place, past the append-only trigger, as an intruder with
/// database access would.
async fn edit_by_hand(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => {
            let refused = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(p).await;
            assert!(refused.is_err(), "the trigger refuses an update");
            sqlx::query("DROP TRIGGER queue_log_no_update").execute(p).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(p).await.unwrap();
        }
        Db::Postgres(p) => {
            let refused = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(p).await;
            assert!(refused.is_err(), "the trigger refuses an update");
            sqlx::query("ALTER TABLE queue_log DISABLE TRIGGER queue_log_no_change").execute(p).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(p).await.unwrap();
        }
    }
}

async fn an_intact_log_verifies_and_proves_each_childs_events(t: &TestDatabase) {
    let db = t.open().await;
    let region = region_with_events(&db, "almaty", 10).await;
    let other = region_with_events(&db, "astana", 4).await;
    let verified = db.verify_queue_log(region).await.unwrap().unwrap();
    assert_eq!(verified.head.size, 10);
    assert_eq!(db.queue_tree_head(region).await.unwrap(), verified.head);
    assert_eq!(db.verify_queue_log(other).await.unwrap().unwrap().head.size, 4);
    assert_ne!(db.queue_tree_head(other).await.unwrap().root, verified.head.root);

    // Child 1 has events 2, 5 and 8; each proves against the current head.
    let child = child_ref("salt", "230510600121");
    let proofs = db.queue_proofs_for_child(region, &child, 10).await.unwrap();
    assert_eq!(proofs.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![2, 5, 8]);
    for p in &proofs {
        assert_eq!(p.verify(), Ok(()));
        assert_eq!(p.head().unwrap(), verified.head);
    }
    // Against an older head only the events it holds are proved.
    let old = db.queue_proofs_for_child(region, &child, 6).await.unwrap();
    assert_eq!(old.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![2, 5]);
    let old_head = old[0].head().unwrap();
    let consistency = db.queue_consistency_proof(region, 6, 10).await.unwrap().unwrap();
    assert_eq!(verify_consistency(&old_head, &verified.head, &consistency), Ok(()));
    assert!(db.queue_inclusion_proof(region, 11, 10).await.unwrap().is_none());
    assert!(db.queue_proofs_for_child(region, "nobody", 10).await.unwrap().is_empty());
}

async fn an_event_edited_by_hand_is_named_and_its_proof_fails(t: &TestDatabase) {
    let db = t.open().await;
    let region = region_with_events(&db, "almaty", 8).await;
    let before = db.queue_inclusion_proof(region, 5, 8).await.unwrap().unwrap();
    assert_eq!(before.verify(), Ok(()));

    edit_by_hand(&db, &format!("UPDATE queue_log SET payload = '{{\"n\":40}}' WHERE region_id = {region} AND seq = 5")).await;

    assert_eq!(db.verify_queue_log(region).await.unwrap(), Err(QueueLogBreak::ContentMismatch { seq: 5 }));
    // The event the server now shows does not give the hash its proof is built on.
    let after = db.queue_inclusion_proof(region, 5, 8).await.unwrap().unwrap();
    assert_eq!(after.payload, r#"{"n":40}"#);
    assert_eq!(after.verify(), Err(ProofError::EntryMismatch));
    // Recomputing the hash does not help: the changed leaf no longer leads to the head.
    let mut rehashed = after.clone();
    rehashed.hash = rehashed.content().hash(&rehashed.prev_hash);
    assert_eq!(rehashed.verify(), Err(ProofError::RootMismatch));
}

async fn a_history_rewritten_and_rehashed_no_longer_matches_its_published_head(t: &TestDatabase) {
    let db = t.open().await;
    let region = region_with_events(&db, "almaty", 6).await;
    let head = db.queue_tree_head(region).await.unwrap();
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    let root = hex::encode(head.root);
    let inserted = tx
        .insert_published_queue_head(&NewPublishedHead {
            region_id: region,
            day: date!(2026 - 11 - 25),
            size: 6,
            root: &root,
            signed_at: NOW,
            signature: "00",
            public_key: "unused here",
        })
        .await
        .unwrap();
    assert!(inserted);
    tx.audit(note("queue_log.head_published")).await.unwrap();
    tx.commit().await.unwrap();
    // Later events extend the published head.
    let mut tx = db.begin_write(None, NOW + Duration::hours(1)).await.unwrap();
    tx.append_queue_event(region, "round", None, &serde_json::json!({"round": 1})).await.unwrap();
    tx.audit(note("queue.event")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.verify_queue_log(region).await.unwrap().unwrap().head.size, 7);

    // Edit entry 3 and rehash it and everything after it, head included: the chain holds again,
    // but the published root does not.
    edit_by_hand(&db, &format!("UPDATE queue_log SET payload = '{{\"n\":99}}' WHERE region_id = {region} AND seq = 3")).await;
    let rows = db.queue_log(region, 0, 100).await.unwrap();
    let mut prev = rows[1].hash.clone();
    for row in &rows[2..] {
        let hash = row.content().unwrap().hash(&prev);
        let sql = format!("UPDATE queue_log SET prev_hash = '{prev}', hash = '{hash}' WHERE region_id = {region} AND seq = {}", row.seq);
        on_engine(&db, &sql).await;
        prev = hash;
    }
    on_engine(&db, &format!("UPDATE queue_log_head SET last_hash = '{prev}' WHERE region_id = {region}")).await;
    let broken = db.verify_queue_log(region).await.unwrap().unwrap_err();
    assert_eq!(broken, QueueLogBreak::PublishedHeadMismatch { size: 6, day: "2026-11-25".into() });
    assert_eq!(broken.seq(), 6);
    // Nor is the rewritten tree consistent with the published one.
    let now = db.queue_tree_head(region).await.unwrap();
    let proof = db.queue_consistency_proof(region, 6, 7).await.unwrap().unwrap();
    assert!(verify_consistency(&TreeHead { size: 6, root: head.root }, &now, &proof).is_err());
}

async fn on_engine(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(p).await.map(|_| ()),
    }
    .unwrap();
}

async fn one_published_head_per_region_and_day(t: &TestDatabase) {
    let db = t.open().await;
    let region = region_with_events(&db, "almaty", 2).await;
    let head = |size: i64| NewPublishedHead {
        region_id: region,
        day: date!(2026 - 11 - 25),
        size,
        root: "ab",
        signed_at: NOW,
        signature: "00",
        public_key: "pk",
    };
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    assert!(tx.insert_published_queue_head(&head(2)).await.unwrap());
    assert!(!tx.insert_published_queue_head(&head(3)).await.unwrap());
    tx.audit(note("queue_log.head_published")).await.unwrap();
    tx.commit().await.unwrap();
    let stored = db.published_queue_head(region, date!(2026 - 11 - 25)).await.unwrap().unwrap();
    assert_eq!((stored.size, stored.signed_at), (2, NOW));
    assert!(db.published_queue_head(region, date!(2026 - 11 - 26)).await.unwrap().is_none());
    assert_eq!(db.published_queue_heads(region, 10).await.unwrap(), vec![stored]);
}
