//! `kezek import queue` as a region's administrator runs it, on SQLite and on PostgreSQL: a
//! generated city comes in whole, a CSV file with bad rows is refused naming each row and writes
//! nothing, and the same files imported twice are refused row by row.

use std::path::Path;
use std::process::{Command, Output};

use kezek_store::testing::TestDatabase;
use kezek_store::{AuditRecord, DatabaseTarget, Db, demo};
use time::OffsetDateTime;

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

fn generate(dir: &Path, children: u32) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/gen_instance.py");
    let status = Command::new("python3")
        .arg(script)
        .args(["--children", &children.to_string(), "--seed", "2", "--out"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(status.success(), "gen_instance.py failed: it needs python3 with numpy installed");
}

/// A region `test-city` with queue settings and the shipped categories.
async fn region(db: &Db) -> i64 {
    let mut tx = db.begin_write(None, OffsetDateTime::now_utc()).await.unwrap();
    let id = tx.insert_region("test-city", ["Сынақ", "Тест", "Test city"]).await.unwrap();
    tx.insert_queue_settings(id, 5, "working_days").await.unwrap();
    demo::seed_priority_categories(&mut tx, id).await.unwrap();
    tx.audit(AuditRecord { action: "region.created", object_type: "region", object_id: id.to_string(), organization_id: None, details: serde_json::json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_generated_city_imports_once() {
    a_generated_city_imports_once(&TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_generated_city_imports_once() {
    a_generated_city_imports_once(&TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bad_rows_are_named_and_nothing_is_written() {
    bad_rows_are_named_and_nothing_is_written(&TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bad_rows_are_named_and_nothing_is_written() {
    bad_rows_are_named_and_nothing_is_written(&TestDatabase::postgres().await).await;
}

async fn a_generated_city_imports_once(t: &TestDatabase) {
    let db = t.open().await;
    let region = region(&db).await;
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), 300);

    let dry = kezek(&t.target, &["import", "queue", "--region", "test-city", "--instance", path(tmp.path()), "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(text(&dry.stdout).contains("dry run: would import"), "{}", text(&dry.stdout));
    assert!(db.entries_of_region(region).await.unwrap().is_empty());

    let run = kezek(&t.target, &["import", "queue", "--region", &region.to_string(), "--instance", path(tmp.path())]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", text(&run.stderr));
    assert!(stdout.contains("300 waiting child(ren)"), "{stdout}");
    assert!(stdout.contains("placeholder identities"), "{stdout}");
    assert_eq!(db.entries_of_region(region).await.unwrap().len(), 300);
    let log = db.queue_log(region, 0, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert!(stdout.contains(&serde_json::from_str::<serde_json::Value>(&log[0].payload).unwrap()["sha256"].as_str().unwrap().to_owned()));

    let again = kezek(&t.target, &["import", "queue", "--region", "test-city", "--instance", path(tmp.path())]);
    assert_eq!(again.status.code(), Some(1));
    let stderr = text(&again.stderr);
    let children = tmp.path().join("children.csv");
    assert!(stderr.contains(&format!("{}:2: child 1 was imported before", children.display())), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(db.entries_of_region(region).await.unwrap().len(), 300);

    let unknown = kezek(&t.target, &["import", "queue", "--region", "atlantis", "--instance", path(tmp.path())]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no region \"atlantis\"; the regions are: test-city"), "{}", text(&unknown.stderr));
}

async fn bad_rows_are_named_and_nothing_is_written(t: &TestDatabase) {
    let db = t.open().await;
    let region = region(&db).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("kindergartens.csv"), "kindergarten_id,bin,name_kk,name_ru,name_en,address\nK1,,Бөбекжай,Ясли-сад,,\nK1,,Екі,Два,,\n").unwrap();
    std::fs::write(dir.join("groups.csv"), "kindergarten_id,band,language,capacity,enrolled\nK1,3-4,en,10,0\n").unwrap();
    std::fs::write(
        dir.join("children.csv"),
        "child_id,registration_no,registered_at,child_iin,birth_date,child_name,applicant_iin,applicant_name,relation,language,desired_start,category,evidence,category_expires_on,sibling_kindergarten_id,preferences\n\
         C1,0,2023-01-15T09:00:00Z,,2022-04-10,A,,B,mother,kk,2026-09-01,,,,,K1\n",
    )
    .unwrap();
    let run = kezek(&t.target, &["import", "queue", "--region", "test-city", "--csv", path(dir)]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    for expected in [
        format!("{}:3: kindergarten K1 is listed twice", dir.join("kindergartens.csv").display()),
        format!("{}:2: language \"en\" is not kk or ru", dir.join("groups.csv").display()),
        format!("{}:2: registration_no \"0\" is not a positive integer", dir.join("children.csv").display()),
        "3 row(s) rejected; nothing was imported".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in {stderr}");
    }
    assert!(db.organizations_of_region(region).await.unwrap().is_empty());
    assert_eq!(db.queue_log_head(region).await.unwrap().0, 0);
}
