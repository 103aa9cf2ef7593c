//! Fresh databases for tests: a temporary SQLite file, or a new PostgreSQL database created on
//! the server named by `KEZEK_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and dropped afterwards. PostgreSQL being unreachable fails the test: it is never skipped.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

use crate::{DatabaseTarget, Db};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for as long as this value does.
pub struct TestDatabase {
    pub target: DatabaseTarget,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let target = DatabaseTarget::SqliteFile(dir.path().join("kezek.db"));
        TestDatabase { target, cleanup: Cleanup::Sqlite(dir) }
    }

    pub async fn postgres() -> TestDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var("KEZEK_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let name = format!(
            "kezek_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required by the test suite and could not be reached at {admin_url}: {e}. \
                 Start it (see README) or set KEZEK_TEST_POSTGRES to an admin connection URL."
            )
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("the test user may create databases");
        let _ = admin.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("KEZEK_TEST_POSTGRES must end with /<database>"),
        };
        TestDatabase { target: DatabaseTarget::Postgres(url), cleanup: Cleanup::Postgres { admin_url, name } }
    }

    /// Connects and migrates.
    pub async fn open(&self) -> Db {
        let db = Db::connect(&self.target).await.expect("test database opens");
        db.migrate().await.expect("migrations apply");
        db
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime; a separate thread with its own runtime avoids
            // blocking it.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut admin)
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// Runs a statement outside any [`crate::WriteTx`], as another process or a person at the SQL
/// prompt would: no audit entry, and this process's commit count does not move.
pub async fn execute_by_hand(db: &Db, sql: &str) -> crate::Result<u64> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    Ok(crate::on_pool!(db, p => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()))?)
}
