//! The database: embedded SQLite or PostgreSQL behind one set of queries.
//!
//! Every repository function is written once; the `on_pool!` / `on_tx!` macros compile it for
//! each engine. Writes happen only through a [`WriteTx`], which takes the audit chain's head
//! first and refuses to commit without an audit entry, so no change goes unrecorded.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

mod accounts;
pub mod applications;
mod audit;
pub mod demo;
mod directory;
mod honesty;
pub mod queue;
pub mod queue_import;
pub mod queue_log;
mod registries;
pub mod signatures;
#[cfg(feature = "testing")]
pub mod testing;

pub use accounts::{NewUser, SessionKind, SessionRow, StaffRow, UserRow};
pub use audit::{AuditRecord, AuditRow, WriteTx, local_commits};
pub use honesty::GroupCapacityRow;
pub use directory::{GroupRow, NewOrganization, OrganizationRow, RegionRow};
pub use registries::{
    ConsentChannel, ConsentRow, NewConsent, NewPowerOfAttorney, NewRegistryPerson, NewRegistryRequest,
    PowerOfAttorneyRow, RegistryCounts, RegistryEntityRow, RegistryPersonRow, RegistryRequestRow,
};

/// Runs `$body` with `$p` bound to the pool of whichever engine `$db` uses.
macro_rules! on_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($p) => $body,
            $crate::Db::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the open transaction's connection, for either engine.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use {on_pool, on_tx};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("a write transaction must record what it did in the audit log before it commits")]
    Unaudited,
}

impl StoreError {
    /// A short name of the failure, safe to log (no stored values).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Database(sqlx::Error::PoolTimedOut) => "pool_timed_out",
            StoreError::Database(sqlx::Error::Database(_)) => "database",
            StoreError::Database(sqlx::Error::Io(_)) => "io",
            StoreError::Database(_) => "driver",
            StoreError::Migrate(_) => "migrate",
            StoreError::Conflict(_) => "conflict",
            StoreError::NotFound(_) => "not_found",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Unaudited => "unaudited",
        }
    }

    /// The engine's error code (SQLSTATE for PostgreSQL), if the database reported one.
    pub fn database_code(&self) -> Option<String> {
        match self {
            StoreError::Database(sqlx::Error::Database(d)) => d.code().map(|c| c.into_owned()),
            _ => None,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

/// Where the data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// An SQLite file (created if missing).
    SqliteFile(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl DatabaseTarget {
    /// The target with any password removed, for printing.
    pub fn redacted(&self) -> String {
        match self {
            Self::SqliteFile(p) => format!("sqlite:{}", p.display()),
            Self::Postgres(url) => match PgConnectOptions::from_str(url) {
                Ok(o) => format!(
                    "postgres://{}@{}:{}/{}",
                    o.get_username(),
                    o.get_host(),
                    o.get_port(),
                    o.get_database().unwrap_or("")
                ),
                Err(_) => "postgres://(unparseable url)".into(),
            },
        }
    }
}

/// A connection pool to either engine.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on either engine.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Db {
    /// Opens the pool. SQLite runs in WAL mode with `synchronous=FULL`, so a committed
    /// transaction is on disk before the commit returns (an acknowledged write survives a crash).
    pub async fn connect(target: &DatabaseTarget) -> Result<Db> {
        match target {
            DatabaseTarget::SqliteFile(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
                Ok(Db::Sqlite(pool))
            }
            DatabaseTarget::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// Applies the forward-only migrations of this engine.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(p).await?,
            Db::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// A round trip to the database, for the health check.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// Truncates to microseconds: the precision both engines keep, so what is hashed is what is read back.
pub fn db_time(t: time::OffsetDateTime) -> time::OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).expect("truncated nanoseconds stay in range")
}
