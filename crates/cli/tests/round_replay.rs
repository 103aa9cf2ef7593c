//! `kezek round export` and `kezek round replay` on a round recorded in the database, on SQLite
//! and on PostgreSQL: the export passes `kezek check-round` with no violation, the replay gives
//! the same referrals, and a referral changed by hand is named by the replay.
//!
//! The round is recorded here the way a round runner does it (instance files from the waiting
//! children and free places of an imported city, the engine's allocation as referrals), so the
//! commands are tested on exactly what they read.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use kezek_domain::allocation::{SourceFile, allocate, parse_instance, parse_meta};
use kezek_store::queue::NewRound;
use kezek_store::testing::TestDatabase;
use kezek_store::{AuditRecord, DatabaseTarget, Db, demo};
use time::OffsetDateTime;
use time::macros::{date, format_description};

fn kezek(db: &DatabaseTarget, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kezek"));
    cmd.env_remove("DATABASE_URL").env_remove("KEZEK_DATA_DIR").env("RUST_BACKTRACE", "0");
    match db {
        DatabaseTarget::SqliteFile(path) => cmd.env("KEZEK_DATA_DIR", path.parent().unwrap()),
        DatabaseTarget::Postgres(url) => cmd.env("DATABASE_URL", url),
    };
    cmd.args(args).output().expect("the kezek binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_round_of_the_queue_service_exports_clean_and_replays() {
    service_round(&TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_round_of_the_queue_service_exports_clean_and_replays() {
    service_round(&TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_exported_round_checks_clean_and_replays_to_the_same_referrals() {
    scenario(&TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_exported_round_checks_clean_and_replays_to_the_same_referrals() {
    scenario(&TestDatabase::postgres().await).await;
}

/// Imports a generated city through the binary into a fresh region.
async fn imported_city(t: &TestDatabase, db: &Db, dir: &Path) -> i64 {
    let mut tx = db.begin_write(None, OffsetDateTime::now_utc()).await.unwrap();
    let region = tx.insert_region("test-city", ["Сынақ", "Тест", "Test city"]).await.unwrap();
    tx.insert_queue_settings(region, 5, "working_days").await.unwrap();
    demo::seed_priority_categories(&mut tx, region).await.unwrap();
    tx.audit(AuditRecord { action: "region.created", object_type: "region", object_id: region.to_string(), organization_id: None, details: serde_json::json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/gen_instance.py");
    let status = Command::new("python3")
        .arg(script)
        .args(["--children", "800", "--seed", "4", "--out"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(status.success(), "gen_instance.py failed: it needs python3 with numpy installed");
    let run = kezek(&t.target, &["import", "queue", "--region", "test-city", "--instance", path(dir)]);
    assert!(run.status.success(), "{}{}", text(&run.stdout), text(&run.stderr));
    region
}

/// Records a round of `region`: its input in the instance format with database ids, and a
/// referral for each child the engine places.
async fn record_round(db: &Db, region: i64, meta: &str) -> (i64, usize) {
    let today = date!(2025 - 05 - 31);
    let ts = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let groups = db.groups_with_holds(region).await.unwrap();
    let mut kindergartens: Vec<i64> = groups.iter().map(|g| g.organization_id).collect();
    kindergartens.sort_unstable();
    kindergartens.dedup();
    let mut k_csv = "kindergarten_id,district,x_m,y_m\n".to_owned();
    for k in &kindergartens {
        writeln!(k_csv, "{k},0,0,0").unwrap();
    }
    let mut g_csv = "group_id,kindergarten_id,band,language,free_places\n".to_owned();
    for g in &groups {
        writeln!(g_csv, "{},{},{},{},{}", g.id, g.organization_id, g.age_band, g.language, g.free()).unwrap();
    }
    let mut c_csv = "child_id,birth_date,language,registered_at,registration_no,priority,sibling_kindergarten_id,preferences,district\n".to_owned();
    let waiting = db.waiting_children(region, today).await.unwrap();
    for w in &waiting {
        writeln!(
            c_csv,
            "{},{},{},{},{},{},{},{},0",
            w.id,
            w.child_birth_date,
            w.language,
            w.registered_at.format(ts).unwrap(),
            w.registration_no,
            w.priority,
            w.sibling_kindergarten_id.map(|k| k.to_string()).unwrap_or_default(),
            w.preferences.0.iter().map(i64::to_string).collect::<Vec<_>>().join(";")
        )
        .unwrap();
    }
    let parsed = parse_meta(file("meta.json", meta)).unwrap();
    let inst = parse_instance(&parsed, parsed.rules.clone(), file("k", &k_csv), file("g", &g_csv), file("c", &c_csv)).unwrap();
    let alloc = allocate(&inst);
    let digest = kezek_domain::queue::input_digest(&[
        ("meta.json", meta),
        ("kindergartens.csv", &k_csv),
        ("groups.csv", &g_csv),
        ("children.csv", &c_csv),
    ]);

    let mut tx = db.begin_write(None, OffsetDateTime::now_utc()).await.unwrap();
    let assigned: Vec<(u32, u32)> = (0..inst.child_count() as u32).filter_map(|c| alloc.group_of(c).map(|g| (c, g))).collect();
    let round = tx
        .insert_round(&NewRound {
            region_id: region,
            started_at: OffsetDateTime::now_utc(),
            reference_date: parsed.rules.reference_date,
            engine_version: "test",
            ranking: "priority,sibling,registered_at,registration_no",
            input_digest: &digest,
            children: inst.child_count() as i64,
            groups: inst.group_count() as i64,
            free_places: groups.iter().map(|g| g.free()).sum(),
            assigned: assigned.len() as i64,
            proposals: alloc.proposals() as i64,
            meta,
            kindergartens: &k_csv,
            group_rows: &g_csv,
            child_rows: &c_csv,
        })
        .await
        .unwrap();
    for (c, g) in &assigned {
        let entry = inst.child_id(*c).0 as i64;
        let group = inst.group_id(*g).0 as i64;
        tx.insert_referral(Some(round), entry, group, date!(2025 - 06 - 30)).await.unwrap();
    }
    tx.audit(AuditRecord { action: "round.finished", object_type: "round", object_id: round.to_string(), organization_id: None, details: serde_json::json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (round, assigned.len())
}

fn file<'a>(name: &'a str, text: &'a str) -> SourceFile<'a> {
    SourceFile { name, bytes: text.as_bytes() }
}

async fn execute(db: &Db, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap();
}

async fn scenario(t: &TestDatabase) {
    let db = t.open().await;
    let tmp = tempfile::tempdir().unwrap();
    let city = tmp.path().join("city");
    let region = imported_city(t, &db, &city).await;
    let meta = std::fs::read_to_string(city.join("meta.json")).unwrap();
    let (round, referrals) = record_round(&db, region, &meta).await;
    assert!(referrals > 100, "a round of 800 children places many");

    let export = tmp.path().join("export");
    let run = kezek(&t.target, &["round", "export", &round.to_string(), path(&export)]);
    assert!(run.status.success(), "{}{}", text(&run.stdout), text(&run.stderr));
    let assignment = std::fs::read_to_string(export.join("assignment.csv")).unwrap();
    assert_eq!(assignment.lines().count(), 1 + 800, "every child of the round is listed");
    assert_eq!(assignment.lines().filter(|l| !l.ends_with(',')).count(), 1 + referrals);
    let stored = db.round(round).await.unwrap().unwrap();
    assert_eq!(std::fs::read_to_string(export.join("children.csv")).unwrap(), stored.instance_children);

    let check = kezek(&t.target, &["check-round", "--instance", path(&export), "--assignment", path(&export.join("assignment.csv"))]);
    assert!(check.status.success(), "{}{}", text(&check.stdout), text(&check.stderr));
    assert!(text(&check.stdout).contains("OK: the assignment is the child-optimal stable outcome"), "{}", text(&check.stdout));

    let replay = kezek(&t.target, &["round", "replay", &round.to_string()]);
    let stdout = text(&replay.stdout);
    assert!(replay.status.success(), "{stdout}{}", text(&replay.stderr));
    assert!(stdout.contains(&format!("replay matches: {referrals} referrals")), "{stdout}");
    assert!(stdout.contains("matches the stored input"), "{stdout}");

    // One referral moved to another group by hand: the replay names it and fails, and the
    // checker flags the export.
    let moved = db.referrals_of_round(round).await.unwrap()[0].clone();
    let other = db.groups_with_holds(region).await.unwrap().into_iter().find(|g| g.id != moved.group_id).unwrap();
    execute(&db, &format!("UPDATE referrals SET group_id = {} WHERE id = {}", other.id, moved.id)).await;
    let replay = kezek(&t.target, &["round", "replay", &round.to_string()]);
    assert_eq!(replay.status.code(), Some(1));
    let stdout = text(&replay.stdout);
    let expected = format!("entry {}: the round issued group {}, the replay gives group {}", moved.entry_id, other.id, moved.group_id);
    assert!(stdout.contains(&expected), "{stdout}");
    let export2 = tmp.path().join("export2");
    assert!(kezek(&t.target, &["round", "export", &round.to_string(), path(&export2)]).status.success());
    let check = kezek(&t.target, &["check-round", "--instance", path(&export2), "--assignment", path(&export2.join("assignment.csv"))]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stdout));

    let missing = kezek(&t.target, &["round", "replay", "999"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("no allocation round 999"), "{}", text(&missing.stderr));
}

/// A round run by the queue service itself (`kezek_web::queue::run_round`, what
/// `POST /api/v1/regions/{id}/rounds` calls) on an imported city.
async fn service_round(t: &TestDatabase) {
    let db = t.open().await;
    let tmp = tempfile::tempdir().unwrap();
    let city = tmp.path().join("city");
    let region = imported_city(t, &db, &city).await;
    let now = OffsetDateTime::now_utc();
    let admin_iin = (1..).find_map(|s| kezek_domain::identity::iin_for(date!(1984 - 04 - 04), kezek_domain::identity::Sex::Female, s)).unwrap();
    let mut tx = db.begin_write(None, now).await.unwrap();
    let admin = tx.insert_user(&kezek_store::NewUser { iin: &admin_iin, full_name: "Admin", password_hash: None, language: "kk" }).await.unwrap();
    tx.audit(AuditRecord { action: "user.registered", object_type: "user", object_id: admin.to_string(), organization_id: None, details: serde_json::json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let calendar = kezek_catalog::calendars::load_calendar(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog")).unwrap();
    let summary = kezek_web::queue::run_round(&db, &calendar, now, region, Some(kezek_domain::access::UserId(admin))).await.unwrap();
    assert!(summary.assigned > 100, "a round of 800 children places many");

    let export = tmp.path().join("export");
    let run = kezek(&t.target, &["round", "export", &summary.round_id.to_string(), path(&export)]);
    assert!(run.status.success(), "{}{}", text(&run.stdout), text(&run.stderr));
    let check = kezek(&t.target, &["check-round", "--instance", path(&export), "--assignment", path(&export.join("assignment.csv"))]);
    assert!(check.status.success(), "{}{}", text(&check.stdout), text(&check.stderr));
    assert!(text(&check.stdout).contains("OK: the assignment is the child-optimal stable outcome"), "{}", text(&check.stdout));

    let replay = kezek(&t.target, &["round", "replay", &summary.round_id.to_string()]);
    let stdout = text(&replay.stdout);
    assert!(replay.status.success(), "{stdout}{}", text(&replay.stderr));
    assert!(stdout.contains(&format!("replay matches: {} referrals", summary.assigned)), "{stdout}");
    assert!(stdout.contains(&format!("input digest {} matches the stored input", summary.input_digest)), "{stdout}");
}
