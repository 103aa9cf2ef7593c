//! Audited writes: the chain head is taken at the start of every write transaction and each
//! entry is appended in the same transaction as the change it records.

use std::sync::atomic::{AtomicU64, Ordering};

use kezek_domain::access::UserId;
use kezek_domain::audit::{AuditContent, ChainBreak, ChainVerifier, StoredEntry};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Db, Result, StoreError, Tx, db_time, on_pool, on_tx};

/// What one audit entry records.
#[derive(Clone, Debug)]
pub struct AuditRecord<'a> {
    /// Dotted event name, e.g. `group.places_updated`.
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: String,
    pub organization_id: Option<i64>,
    /// Facts about the change; never personal data (no IIN, no names).
    pub details: serde_json::Value,
}

/// An open write transaction. Repository writes are methods on it; [`WriteTx::commit`] makes
/// them durable together with their audit entries, and dropping it rolls everything back.
pub struct WriteTx {
    pub(crate) tx: Tx,
    actor: Option<UserId>,
    now: OffsetDateTime,
    seq: i64,
    last_hash: String,
    appended: bool,
}

/// Write transactions committed by this process, whatever the database.
static LOCAL_COMMITS: AtomicU64 = AtomicU64::new(0);

/// How many write transactions this process has committed so far. A cache of database data
/// that remembers this number when it last checked the database knows that no write of this
/// process can have happened since while the number is unchanged (it moves after the commit,
/// before the write's caller can answer anyone). Writes of other processes are not counted:
/// such caches must also re-check the database after a bounded time.
pub fn local_commits() -> u64 {
    LOCAL_COMMITS.load(Ordering::SeqCst)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub actor_user_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    fn into_entry(self) -> Result<StoredEntry> {
        Ok(StoredEntry {
            content: AuditContent {
                seq: self.seq,
                at: canonical_time(self.at)?,
                actor_user_id: self.actor_user_id,
                organization_id: self.organization_id,
                action: self.action,
                object_type: self.object_type,
                object_id: self.object_id,
                details: self.details,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

fn canonical_time(t: OffsetDateTime) -> Result<String> {
    db_time(t).format(&Rfc3339).map_err(|e| StoreError::Corrupt(format!("audit time: {e}")))
}

#[derive(sqlx::FromRow)]
struct Head {
    seq: i64,
    last_hash: String,
}

const TAKE_HEAD: &str = "UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, last_hash";

impl Db {
    /// Starts a write on behalf of `actor` at `now`. Taking the chain head first serialises
    /// audited writes on both engines (a row lock in PostgreSQL, the write lock in SQLite).
    pub async fn begin_write(&self, actor: Option<UserId>, now: OffsetDateTime) -> Result<WriteTx> {
        let mut tx = match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        };
        let head: Head = on_tx!(&mut tx, c => sqlx::query_as(TAKE_HEAD).fetch_one(c).await)?;
        Ok(WriteTx { tx, actor, now: db_time(now), seq: head.seq, last_hash: head.last_hash, appended: false })
    }

    /// Walks the whole audit chain; returns the number of entries, or the first break.
    pub async fn verify_audit_chain(&self) -> Result<Result<i64, ChainBreak>> {
        const PAGE: i64 = 1000;
        let mut verifier = ChainVerifier::default();
        let mut after = 0i64;
        loop {
            let rows: Vec<AuditRow> = on_pool!(self, p => sqlx::query_as(
                "SELECT seq, at, actor_user_id, organization_id, action, object_type, object_id, \
                 details, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after).bind(PAGE).fetch_all(p).await)?;
            let n = rows.len() as i64;
            for row in rows {
                after = row.seq;
                if let Err(b) = verifier.push(&row.into_entry()?) {
                    return Ok(Err(b));
                }
            }
            if n < PAGE {
                break;
            }
        }
        let head: Head = on_pool!(self, p => sqlx::query_as(
            "SELECT seq, last_hash FROM audit_head WHERE id = 1").fetch_one(p).await)?;
        Ok(verifier.finish(head.seq, &head.last_hash))
    }

    /// Audit entries of the organizations of one region, newest first.
    pub async fn audit_entries_of_region(&self, region: i64, before: Option<i64>, limit: i64) -> Result<Vec<AuditRow>> {
        let before = before.unwrap_or(i64::MAX);
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT a.seq, a.at, a.actor_user_id, a.organization_id, a.action, a.object_type, \
             a.object_id, a.details, a.prev_hash, a.hash FROM audit_log a \
             JOIN organizations o ON o.id = a.organization_id \
             WHERE o.region_id = $1 AND a.seq < $2 ORDER BY a.seq DESC LIMIT $3")
            .bind(region).bind(before).bind(limit).fetch_all(p).await)?)
    }
}

impl WriteTx {
    /// The time this write happens at (truncated to what the database keeps).
    pub fn now(&self) -> OffsetDateTime {
        self.now
    }

    pub fn actor(&self) -> Option<UserId> {
        self.actor
    }

    /// Appends an entry to the audit chain within this transaction.
    pub async fn audit(&mut self, record: AuditRecord<'_>) -> Result<()> {
        let content = AuditContent {
            seq: self.seq + 1,
            at: canonical_time(self.now)?,
            actor_user_id: self.actor.map(|u| u.0),
            organization_id: record.organization_id,
            action: record.action.to_owned(),
            object_type: record.object_type.to_owned(),
            object_id: record.object_id,
            details: record.details.to_string(),
        };
        let hash = content.hash(&self.last_hash);
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_user_id, organization_id, action, object_type, \
             object_id, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(content.seq).bind(self.now).bind(content.actor_user_id).bind(content.organization_id)
            .bind(&content.action).bind(&content.object_type).bind(&content.object_id)
            .bind(&content.details).bind(&self.last_hash).bind(&hash)
            .execute(c).await.map(|r| r.rows_affected()))?;
        self.seq = content.seq;
        self.last_hash = hash;
        self.appended = true;
        Ok(())
    }

    /// Commits the change and its audit entries together. A write that recorded nothing in the
    /// audit log is a bug and is rolled back.
    pub async fn commit(mut self) -> Result<()> {
        if !self.appended {
            return Err(StoreError::Unaudited);
        }
        on_tx!(&mut self.tx, c => sqlx::query("UPDATE audit_head SET seq = $1, last_hash = $2 WHERE id = 1")
            .bind(self.seq).bind(&self.last_hash).execute(c).await.map(|r| r.rows_affected()))?;
        let committed = match self.tx {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        };
        // Counted even when the commit reports an error: it may have reached the database.
        LOCAL_COMMITS.fetch_add(1, Ordering::SeqCst);
        Ok(committed?)
    }
}
