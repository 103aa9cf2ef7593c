//! The real `kezek` binary: an acknowledged write survives `kill -9`, and `kezek verify-log`
//! names an audit entry edited by hand. On SQLite and on PostgreSQL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use kezek_store::DatabaseTarget;
use kezek_store::testing::TestDatabase;
use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
    head_iin: Option<String>,
}

fn kezek(db: &DatabaseTarget) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kezek"));
    cmd.env_remove("DATABASE_URL").env_remove("KEZEK_DATA_DIR").env_remove("KEZEK_BIND");
    cmd.env("KEZEK_CATALOG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalog"));
    // On PostgreSQL there is no data folder of the test's own: the demo CA would land in the
    // source tree's ./kezek-data, and this test signs nothing.
    cmd.env("KEZEK_NO_EDS_DEMO", "true");
    match db {
        DatabaseTarget::SqliteFile(path) => {
            cmd.env("KEZEK_DATA_DIR", path.parent().unwrap());
        }
        DatabaseTarget::Postgres(url) => {
            // The data folder still holds the regions' queue-log keys (the server signs each
            // day's head): one outside the source tree, the same across the test's restarts.
            cmd.env("DATABASE_URL", url).env("KEZEK_DATA_DIR", std::env::temp_dir().join(format!("kezek-durability-{}", std::process::id())));
        }
    }
    cmd
}

/// Starts `kezek serve` on a free port and reads its banner for the URL and a demo login.
fn start(db: &DatabaseTarget) -> Server {
    let mut child = kezek(db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("KEZEK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kezek starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut head_iin = None;
    let base = loop {
        let line = lines.next().expect("the server prints its URL before exiting").unwrap();
        if head_iin.is_none() && line.starts_with("kindergarten_head") {
            head_iin = line.split_whitespace().nth(1).map(str::to_owned);
        }
        if let Some(rest) = line.strip_prefix("kezek is running at ") {
            break rest.split_whitespace().next().unwrap().trim_end_matches('/').to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base, head_iin }
}

async fn scenario(db: &DatabaseTarget) {
    let client = reqwest::Client::new();
    let mut server = start(db);
    let iin = server.head_iin.clone().expect("the first start prints demo logins");
    let login: Value = client.post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"iin": iin, "password": "kezek-demo"})).send().await.unwrap().json().await.unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let kindergarten = login["user"]["roles"][0]["organization_id"].as_i64().unwrap();
    let groups: Value = client.get(format!("{}/api/v1/organizations/{kindergarten}/groups", server.base))
        .send().await.unwrap().json().await.unwrap();
    let groups: Vec<i64> = groups.as_array().unwrap().iter().map(|g| g["id"].as_i64().unwrap()).collect();
    assert!(groups.len() >= 5);

    // Acknowledged writes, then an immediate SIGKILL: no shutdown, no flush.
    for (i, g) in groups.iter().enumerate() {
        let r = client.put(format!("{}/api/v1/groups/{g}", server.base)).bearer_auth(&token)
            .json(&json!({"capacity": 40 + i, "enrolled": i})).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let mut again = start(db);
    assert!(again.head_iin.is_none(), "the second start finds the data and loads no demo");
    let after: Value = client.get(format!("{}/api/v1/organizations/{kindergarten}/groups", again.base))
        .send().await.unwrap().json().await.unwrap();
    for (i, g) in groups.iter().enumerate() {
        let group = after.as_array().unwrap().iter().find(|x| x["id"] == *g).unwrap();
        assert_eq!((group["capacity"].as_i64(), group["enrolled"].as_i64()), (Some(40 + i as i64), Some(i as i64)), "write {i} survived");
    }
    again.child.kill().unwrap();
    again.child.wait().unwrap();

    let out = kezek(db).arg("verify-log").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("audit log intact"), "{text}");

    edit_audit_entry_by_hand(db, 4).await;
    let out = kezek(db).arg("verify-log").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("BROKEN at entry 4"), "{text}");
}

async fn edit_audit_entry_by_hand(db: &DatabaseTarget, seq: i64) {
    match db {
        DatabaseTarget::SqliteFile(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display())).await.unwrap();
            sqlx::query("DROP TRIGGER audit_log_no_update").execute(&pool).await.unwrap();
            sqlx::query("UPDATE audit_log SET actor_user_id = 1 WHERE seq = $1").bind(seq).execute(&pool).await.unwrap();
            pool.close().await;
        }
        DatabaseTarget::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change").execute(&pool).await.unwrap();
            sqlx::query("UPDATE audit_log SET actor_user_id = 1 WHERE seq = $1").bind(seq).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_acknowledged_writes_survive_kill_9_and_edits_are_detected() {
    let db = TestDatabase::sqlite();
    scenario(&db.target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_acknowledged_writes_survive_kill_9_and_edits_are_detected() {
    let db = TestDatabase::postgres().await;
    scenario(&db.target).await;
}
