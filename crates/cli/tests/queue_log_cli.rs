//! The real `kezek` binary on a region's queue log, on SQLite and on PostgreSQL:
//! `verify-log --queue` passes on an intact log and names an event edited in the database;
//! `queue-log head` signs one head per day with the region's key; `queue-log prove` gives proofs
//! that verify, and fail for the edited event.

use std::process::{Command, Output};

use kezek_domain::queue::child_ref;
use kezek_domain::queue_log::ProofError;
use kezek_store::testing::TestDatabase;
use kezek_store::{AuditRecord, DatabaseTarget, Db};
use kezek_web::api::queue_log::{Proof, SignedHead};
use kezek_web::queue_log_keys::{
    PublishError, RegionKeys, SignatureError, publish_head, statement_of, verify_head_signature, verify_published_head,
};
use time::OffsetDateTime;

fn kezek(db: &DatabaseTarget, data_dir: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kezek"));
    cmd.env_remove("DATABASE_URL").env("KEZEK_DATA_DIR", data_dir);
    if let DatabaseTarget::Postgres(url) = db {
        cmd.env("DATABASE_URL", url);
    }
    cmd.args(args).output().expect("kezek runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn note(action: &'static str) -> AuditRecord<'static> {
    AuditRecord { action, object_type: "test", object_id: "1".into(), organization_id: None, details: serde_json::json!({}) }
}

/// Region "almaty-q" with six events, two of them for the child with reference `child`.
async fn region_with_events(db: &Db, child: &str) -> i64 {
    let now = OffsetDateTime::now_utc();
    let mut tx = db.begin_write(None, now).await.unwrap();
    let region = tx.insert_region("almaty-q", ["Алматы", "Алматы", "Almaty"]).await.unwrap();
    tx.insert_queue_settings(region, 5, "working_days").await.unwrap();
    tx.audit(note("queue.settings_created")).await.unwrap();
    tx.commit().await.unwrap();
    for i in 0..6i64 {
        let mut tx = db.begin_write(None, now).await.unwrap();
        let who = if i % 3 == 1 { child.to_owned() } else { child_ref("s", &format!("other-{i}")) };
        let kind = ["registered", "registered", "claim_submitted", "changed", "claim_confirmed", "round"][i as usize];
        tx.append_queue_event(region, kind, Some(&who), &serde_json::json!({"step": i})).await.unwrap();
        tx.audit(note("queue.event")).await.unwrap();
        tx.commit().await.unwrap();
    }
    region
}

async fn edit_event_by_hand(db: &Db, region: i64, seq: i64) {
    let sql = format!("UPDATE queue_log SET kind = 'removed' WHERE region_id = {region} AND seq = {seq}");
    match db {
        Db::Sqlite(p) => {
            sqlx::query("DROP TRIGGER queue_log_no_update").execute(p).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.unwrap();
        }
        Db::Postgres(p) => {
            sqlx::query("ALTER TABLE queue_log DISABLE TRIGGER queue_log_no_change").execute(p).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.unwrap();
        }
    }
}

async fn scenario(t: &TestDatabase) {
    let data = tempfile::tempdir().unwrap();
    // The SQLite database must live in the data folder the binary is pointed at.
    let data_dir = match &t.target {
        DatabaseTarget::SqliteFile(path) => path.parent().unwrap().to_owned(),
        DatabaseTarget::Postgres(_) => data.path().to_owned(),
    };
    let db = t.open().await;
    let child = child_ref("salt-of-parent", "230510600123");
    let region = region_with_events(&db, &child).await;
    let head = db.queue_tree_head(region).await.unwrap();
    let root: String = head.root.iter().map(|b| format!("{b:02x}")).collect();

    let ok = kezek(&t.target, &data_dir, &["verify-log", "--queue", "almaty-q"]);
    assert!(ok.status.success(), "{}{}", stdout(&ok), String::from_utf8_lossy(&ok.stderr));
    assert!(
        stdout(&ok).contains(&format!("queue log of region {region} intact: 6 entries, root {root}")),
        "{}",
        stdout(&ok)
    );

    // Today's head: signed with a key made on first use, the same head on a second call.
    let signed = kezek(&t.target, &data_dir, &["queue-log", "head", &region.to_string()]);
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
    let first: SignedHead = serde_json::from_slice(&signed.stdout).unwrap();
    assert_eq!((first.size, first.root.clone()), (6, root.clone()));
    let key_file = data_dir.join("keys").join(format!("queue-{region}.pem"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key_file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let again: SignedHead = serde_json::from_slice(&kezek(&t.target, &data_dir, &["queue-log", "head", "almaty-q"]).stdout).unwrap();
    assert_eq!(again, first);
    let rows = db.published_queue_heads(region, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(verify_published_head(&rows[0]), Ok(()));
    let statement = statement_of(&rows[0]).unwrap();
    assert_eq!(statement.canonical(), first.statement);
    let mut altered = statement.clone();
    altered.size = 5;
    assert_eq!(verify_head_signature(&first.public_key, &altered, &first.signature), Err(SignatureError::Invalid));

    // The parent's proofs: events 2 and 5 of the child, each leading to the signed root.
    let proved = kezek(&t.target, &data_dir, &["queue-log", "prove", "almaty-q", "--child-ref", &child]);
    assert!(proved.status.success(), "{}", String::from_utf8_lossy(&proved.stderr));
    let proofs: Vec<Proof> = serde_json::from_slice(&proved.stdout).unwrap();
    assert_eq!(proofs.iter().map(|p| p.entry.seq).collect::<Vec<_>>(), vec![2, 5]);
    for p in &proofs {
        assert_eq!(p.root, first.root);
        assert_eq!(p.to_inclusion_proof().verify(), Ok(()));
    }

    edit_event_by_hand(&db, region, 5).await;
    let broken = kezek(&t.target, &data_dir, &["verify-log", "--queue", &region.to_string()]);
    assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
    assert!(stdout(&broken).contains(&format!("queue log of region {region} BROKEN at entry 5:")), "{}", stdout(&broken));
    // The event as the database now shows it no longer matches the parent's proof.
    let shown = db.queue_log_entry(region, 5).await.unwrap().unwrap();
    let mut stale = proofs[1].clone();
    stale.entry.kind = shown.kind;
    assert_eq!(stale.to_inclusion_proof().verify(), Err(ProofError::EntryMismatch));
    // Tomorrow's head is refused: a broken log is never signed.
    let key = RegionKeys::in_data_dir(&data_dir).key_of(region).unwrap();
    let tomorrow = OffsetDateTime::now_utc() + time::Duration::days(1);
    let refused = publish_head(&db, region, &key, tomorrow).await.unwrap_err();
    assert!(matches!(&refused, PublishError::Broken { reason, .. } if reason.seq() == 5), "{refused}");
    assert_eq!(db.published_queue_heads(region, 10).await.unwrap(), rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_log_verifies_signs_proves_and_names_an_edited_event() {
    scenario(&TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_log_verifies_signs_proves_and_names_an_edited_event() {
    scenario(&TestDatabase::postgres().await).await;
}
