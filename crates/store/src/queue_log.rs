//! The verifiable side of the queue log: streaming a region's log through the verifier, the
//! Merkle tree over its entry hashes, inclusion proofs for a child's events, and the heads
//! signed once a day.

use kezek_domain::queue_log::{
    Checkpoint, Hash, InclusionProof, QueueLogBreak, QueueLogEntry, QueueLogVerifier, TreeHead, VerifiedLog,
    consistency_path, leaf_hash, parse_hash, root_of,
};
use time::{Date, OffsetDateTime};

use crate::queue::QueueLogRow;
use crate::{Db, Result, StoreError, WriteTx, db_time, on_pool, on_tx};

/// Rows read per round trip while streaming a log.
const PAGE: i64 = 1000;

/// A head the region's key signed for one Almaty day.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct PublishedHeadRow {
    pub region_id: i64,
    pub day: Date,
    pub size: i64,
    pub root: String,
    pub signed_at: OffsetDateTime,
    /// DER-encoded ECDSA P-256 signature over the head statement, hex.
    pub signature: String,
    /// SPKI PEM of the key that signed it.
    pub public_key: String,
}

impl PublishedHeadRow {
    /// The head as the verifier checks it.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        Ok(Checkpoint {
            day: self.day.to_string(),
            size: self.size,
            root: parse_hash(&self.root).ok_or_else(|| StoreError::Corrupt(format!("published head {} has a malformed root", self.day)))?,
        })
    }
}

pub struct NewPublishedHead<'a> {
    pub region_id: i64,
    pub day: Date,
    pub size: i64,
    pub root: &'a str,
    pub signed_at: OffsetDateTime,
    pub signature: &'a str,
    pub public_key: &'a str,
}

macro_rules! head_select {
    ($tail:literal) => {
        concat!("SELECT region_id, day, size, root, signed_at, signature, public_key FROM queue_log_heads_published ", $tail)
    };
}

fn entry(row: &QueueLogRow) -> Result<QueueLogEntry> {
    Ok(QueueLogEntry { content: row.content()?, prev_hash: row.prev_hash.clone(), hash: row.hash.clone() })
}

impl Db {
    /// Walks the region's whole queue log: every link, every content hash, the log head, and
    /// every head published for the region. Returns the tree head of the intact log, or the
    /// first break.
    pub async fn verify_queue_log(&self, region: i64) -> Result<Result<VerifiedLog, QueueLogBreak>> {
        let checkpoints = self
            .published_queue_heads(region, i64::MAX)
            .await?
            .iter()
            .map(PublishedHeadRow::checkpoint)
            .collect::<Result<Vec<_>>>()?;
        let mut verifier = QueueLogVerifier::with_checkpoints(region, checkpoints);
        let mut after = 0i64;
        loop {
            let rows = self.queue_log(region, after, PAGE).await?;
            let n = rows.len() as i64;
            for row in &rows {
                after = row.seq;
                if let Err(b) = verifier.push(&entry(row)?) {
                    return Ok(Err(b));
                }
            }
            if n < PAGE {
                break;
            }
        }
        let (seq, last_hash) = self.queue_log_head(region).await?;
        Ok(verifier.finish(seq, &last_hash))
    }

    /// The Merkle leaves of the region's first `size` entries, from their stored hashes.
    pub async fn queue_log_leaves(&self, region: i64, size: i64) -> Result<Vec<Hash>> {
        let hashes: Vec<String> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT hash FROM queue_log WHERE region_id = $1 AND seq <= $2 ORDER BY seq")
            .bind(region).bind(size).fetch_all(p).await)?;
        if hashes.len() as i64 != size {
            return Err(StoreError::Corrupt(format!("queue log of region {region} has {} of its first {size} entries", hashes.len())));
        }
        hashes
            .iter()
            .map(|h| parse_hash(h).map(|b| leaf_hash(&b)).ok_or_else(|| StoreError::Corrupt("a queue log hash is not SHA-256".into())))
            .collect()
    }

    /// The region's current tree head: all entries up to the log head.
    pub async fn queue_tree_head(&self, region: i64) -> Result<TreeHead> {
        let (size, _) = self.queue_log_head(region).await?;
        let leaves = self.queue_log_leaves(region, size).await?;
        Ok(TreeHead { size: size as u64, root: root_of(&leaves) })
    }

    pub async fn queue_log_entry(&self, region: i64, seq: i64) -> Result<Option<QueueLogRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT region_id, seq, at, kind, child_ref, payload, prev_hash, hash FROM queue_log \
             WHERE region_id = $1 AND seq = $2").bind(region).bind(seq).fetch_optional(p).await)?)
    }

    /// The events of one child (by their salted reference) in sequence order.
    pub async fn queue_log_of_child(&self, region: i64, child_ref: &str) -> Result<Vec<QueueLogRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT region_id, seq, at, kind, child_ref, payload, prev_hash, hash FROM queue_log \
             WHERE region_id = $1 AND child_ref = $2 ORDER BY seq").bind(region).bind(child_ref).fetch_all(p).await)?)
    }

    /// The proof of entry `seq` against the tree of the region's first `tree_size` entries;
    /// `None` when the entry is not in that tree.
    pub async fn queue_inclusion_proof(&self, region: i64, seq: i64, tree_size: i64) -> Result<Option<InclusionProof>> {
        if seq < 1 || seq > tree_size {
            return Ok(None);
        }
        let Some(row) = self.queue_log_entry(region, seq).await? else { return Ok(None) };
        let leaves = self.queue_log_leaves(region, tree_size).await?;
        Ok(InclusionProof::build(&entry(&row)?, &leaves))
    }

    /// Proofs of every event of one child that the tree of the first `tree_size` entries holds.
    pub async fn queue_proofs_for_child(&self, region: i64, child_ref: &str, tree_size: i64) -> Result<Vec<InclusionProof>> {
        let rows = self.queue_log_of_child(region, child_ref).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let leaves = self.queue_log_leaves(region, tree_size).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows.iter().filter(|r| r.seq <= tree_size) {
            out.extend(InclusionProof::build(&entry(row)?, &leaves));
        }
        Ok(out)
    }

    /// The proof that the tree of the first `old_size` entries is a prefix of the tree of the
    /// first `new_size` (RFC 6962 consistency); `None` when the sizes are out of order.
    pub async fn queue_consistency_proof(&self, region: i64, old_size: i64, new_size: i64) -> Result<Option<Vec<Hash>>> {
        if old_size < 0 || old_size > new_size {
            return Ok(None);
        }
        let leaves = self.queue_log_leaves(region, new_size).await?;
        Ok(consistency_path(old_size as usize, &leaves))
    }

    /// The heads signed for the region, newest day first.
    pub async fn published_queue_heads(&self, region: i64, limit: i64) -> Result<Vec<PublishedHeadRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            head_select!("WHERE region_id = $1 ORDER BY day DESC LIMIT $2"))
            .bind(region).bind(limit).fetch_all(p).await)?)
    }

    pub async fn published_queue_head(&self, region: i64, day: Date) -> Result<Option<PublishedHeadRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            head_select!("WHERE region_id = $1 AND day = $2"))
            .bind(region).bind(day).fetch_optional(p).await)?)
    }
}

impl WriteTx {
    /// Records a signed head; `false` (and nothing written) when the day already has one, so
    /// two servers publishing at once keep the first.
    pub async fn insert_published_queue_head(&mut self, h: &NewPublishedHead<'_>) -> Result<bool> {
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO queue_log_heads_published (region_id, day, size, root, signed_at, signature, public_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (region_id, day) DO NOTHING")
            .bind(h.region_id).bind(h.day).bind(h.size).bind(h.root).bind(db_time(h.signed_at)).bind(h.signature)
            .bind(h.public_key).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
