//! The public, verifiable queue log of each region: its entries, the current Merkle tree head,
//! the heads signed each day with the region's public key, and inclusion proofs. Everything
//! here is public: the log holds personal data only as salted hashes.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::extract::rejection::QueryRejection;
use kezek_domain::queue_log::{InclusionProof, TreeHead};
use kezek_store::queue::QueueLogRow;
use kezek_store::queue_log::PublishedHeadRow;
use kezek_store::{Db, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::problem::{Problem, ProblemBody};
use crate::queue_log_keys::statement_of;
use crate::state::AppState;

/// One queue event exactly as it was hashed.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct QueueLogEntry {
    pub region_id: i64,
    pub seq: i64,
    /// UTC, RFC 3339, as hashed.
    pub at: String,
    /// registered, changed, claim_confirmed, round, referral_issued, enrolled, removed, …
    pub kind: String,
    /// The child's salted reference; only the parent holds the salt.
    pub child_ref: Option<String>,
    /// Compact JSON, the exact bytes that were hashed.
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A Merkle tree head (RFC 6962) over the first `size` entries.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct TreeHeadView {
    pub size: u64,
    /// Hex SHA-256.
    pub root: String,
}

/// A head the region's key signed for one Almaty day.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct SignedHead {
    pub region_id: i64,
    /// Almaty date, YYYY-MM-DD.
    pub day: String,
    pub size: u64,
    pub root: String,
    /// UTC, RFC 3339.
    pub signed_at: String,
    /// The exact text that was signed.
    pub statement: String,
    /// ECDSA P-256 / SHA-256 signature over `statement`, DER, hex.
    pub signature: String,
    /// The region's public key, SPKI PEM.
    pub public_key: String,
}

/// The region's log head now, the latest signed daily head, and the proof that the current tree
/// extends the signed one.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    pub region_id: i64,
    pub current: TreeHeadView,
    /// Hash of the last entry of the chain.
    pub last_hash: String,
    pub signed: Option<SignedHead>,
    /// RFC 6962 consistency proof from `signed` to `current` (hex hashes); empty when equal.
    pub consistency: Vec<String>,
    /// The region's public key (SPKI PEM), once a head has been signed.
    pub public_key: Option<String>,
}

/// The proof that one entry is in a tree head: the entry's content (to recompute its hash) and
/// the audit path (RFC 6962) from its leaf, `SHA-256(0x00 || hash bytes)`, to the root.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub entry: QueueLogEntry,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub root: String,
    /// Sibling hashes from the leaf up, hex.
    pub audit_path: Vec<String>,
}

impl Proof {
    /// Back to the domain form, to verify it.
    pub fn to_inclusion_proof(&self) -> InclusionProof {
        let e = &self.entry;
        InclusionProof {
            region_id: e.region_id,
            seq: e.seq,
            at: e.at.clone(),
            kind: e.kind.clone(),
            child_ref: e.child_ref.clone(),
            payload: e.payload.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
            leaf_index: self.leaf_index,
            tree_size: self.tree_size,
            root: self.root.clone(),
            audit_path: self.audit_path.clone(),
        }
    }
}

impl From<InclusionProof> for Proof {
    fn from(p: InclusionProof) -> Proof {
        Proof {
            entry: QueueLogEntry {
                region_id: p.region_id,
                seq: p.seq,
                at: p.at,
                kind: p.kind,
                child_ref: p.child_ref,
                payload: p.payload,
                prev_hash: p.prev_hash,
                hash: p.hash,
            },
            leaf_index: p.leaf_index,
            tree_size: p.tree_size,
            root: p.root,
            audit_path: p.audit_path,
        }
    }
}

impl From<TreeHead> for TreeHeadView {
    fn from(h: TreeHead) -> TreeHeadView {
        TreeHeadView { size: h.size, root: hex::encode(h.root) }
    }
}

fn entry_view(row: &QueueLogRow) -> Result<QueueLogEntry, StoreError> {
    let c = row.content()?;
    Ok(QueueLogEntry {
        region_id: c.region_id,
        seq: c.seq,
        at: c.at,
        kind: c.kind,
        child_ref: c.child_ref,
        payload: c.payload,
        prev_hash: row.prev_hash.clone(),
        hash: row.hash.clone(),
    })
}

/// A stored signed head as published.
pub fn signed_head(row: &PublishedHeadRow) -> Result<SignedHead, StoreError> {
    let statement = statement_of(row)?;
    Ok(SignedHead {
        region_id: row.region_id,
        day: statement.day.clone(),
        size: statement.size,
        root: row.root.clone(),
        signed_at: statement.signed_at.clone(),
        statement: statement.canonical(),
        signature: row.signature.clone(),
        public_key: row.public_key.clone(),
    })
}

/// Inclusion proofs of every event of one child against the region's current log head. Call it
/// only for the parent who owns the registration: the reference links the child's events.
pub async fn proofs_for_child(db: &Db, region: i64, child_ref: &str) -> Result<Vec<Proof>, StoreError> {
    let (size, _) = db.queue_log_head(region).await?;
    Ok(db.queue_proofs_for_child(region, child_ref, size).await?.into_iter().map(Proof::from).collect())
}

/// A child's queue events proved against the region's latest signed daily head.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct ChildLogProofs {
    pub region_id: i64,
    /// The child's salted reference in the log (SHA-256 of the salt and the child's IIN).
    pub child_ref: String,
    /// The latest head the region's key signed; none before the first is published.
    pub signed: Option<SignedHead>,
    /// One proof per event of the child that the signed head covers, against its root: check
    /// the entry's hash, the audit path to `signed.root`, and the signature over `signed.statement`.
    pub proofs: Vec<Proof>,
    /// Sequence numbers of the child's events newer than the signed head: the next day's head
    /// will cover them.
    pub pending: Vec<i64>,
}

/// The proofs of one child's events against the region's latest signed head. Call it only for
/// someone who may read the registration: the reference links the child's events.
pub async fn child_proofs(db: &Db, region: i64, child_ref: &str) -> Result<ChildLogProofs, StoreError> {
    let latest = db.published_queue_heads(region, 1).await?.into_iter().next();
    let size = latest.as_ref().map_or(0, |h| h.size);
    let proofs = match size {
        0 => Vec::new(),
        _ => db.queue_proofs_for_child(region, child_ref, size).await?.into_iter().map(Proof::from).collect(),
    };
    let pending = db.queue_log_of_child(region, child_ref).await?.into_iter().map(|r| r.seq).filter(|seq| *seq > size).collect();
    Ok(ChildLogProofs { region_id: region, child_ref: child_ref.to_owned(), signed: latest.as_ref().map(signed_head).transpose()?, proofs, pending })
}

async fn known_region(state: &AppState, id: i64) -> Result<(), Problem> {
    state.db.queue_settings(id).await?.map(|_| ()).ok_or_else(Problem::not_found)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// Entries after this sequence number (default 0: from the start).
    pub after: Option<i64>,
    /// At most this many entries (1-1000, default 100).
    pub limit: Option<i64>,
}

/// The region's queue log in sequence order. Public.
#[utoipa::path(get, path = "/api/v1/regions/{id}/queue-log", tag = "queue log", params(("id" = i64, Path), EntriesQuery),
    responses((status = 200, body = Vec<QueueLogEntry>), (status = 400, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn entries(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    query: Result<Query<EntriesQuery>, QueryRejection>,
) -> Result<Json<Vec<QueueLogEntry>>, Problem> {
    let Query(q) = query?;
    known_region(&state, id).await?;
    let rows = state.db.queue_log(id, q.after.unwrap_or(0).max(0), q.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(rows.iter().map(entry_view).collect::<Result<_, _>>()?))
}

/// The current tree head, the latest head signed by the region's key, the consistency proof
/// between them, and the public key. Public.
#[utoipa::path(get, path = "/api/v1/regions/{id}/queue-log/head", tag = "queue log", params(("id" = i64, Path)),
    responses((status = 200, body = LogHead), (status = 404, body = ProblemBody)))]
pub async fn head(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<LogHead>, Problem> {
    known_region(&state, id).await?;
    let (size, last_hash) = state.db.queue_log_head(id).await?;
    let current = state.db.queue_tree_head(id).await?;
    let latest = state.db.published_queue_heads(id, 1).await?.into_iter().next();
    let (signed, consistency) = match &latest {
        Some(row) => {
            let proof = state.db.queue_consistency_proof(id, row.size, size).await?.unwrap_or_default();
            (Some(signed_head(row)?), proof.iter().map(hex::encode).collect())
        }
        None => (None, Vec::new()),
    };
    Ok(Json(LogHead {
        region_id: id,
        current: current.into(),
        last_hash,
        public_key: latest.map(|r| r.public_key),
        signed,
        consistency,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HeadsQuery {
    /// At most this many days, newest first (1-1000, default 100).
    pub limit: Option<i64>,
}

/// The heads the region's key signed, one per day, newest first. Public.
#[utoipa::path(get, path = "/api/v1/regions/{id}/queue-log/heads", tag = "queue log", params(("id" = i64, Path), HeadsQuery),
    responses((status = 200, body = Vec<SignedHead>), (status = 404, body = ProblemBody)))]
pub async fn heads(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    query: Result<Query<HeadsQuery>, QueryRejection>,
) -> Result<Json<Vec<SignedHead>>, Problem> {
    let Query(q) = query?;
    known_region(&state, id).await?;
    let rows = state.db.published_queue_heads(id, q.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(rows.iter().map(signed_head).collect::<Result<_, _>>()?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    pub region: i64,
    pub seq: i64,
}

/// The inclusion proof of one entry against the region's current tree head. Public.
#[utoipa::path(get, path = "/api/v1/queue-log/proof", tag = "queue log", params(ProofQuery),
    responses((status = 200, body = Proof), (status = 400, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn proof(State(state): State<AppState>, query: Result<Query<ProofQuery>, QueryRejection>) -> Result<Json<Proof>, Problem> {
    let Query(q) = query?;
    known_region(&state, q.region).await?;
    let (size, _) = state.db.queue_log_head(q.region).await?;
    let proof = state.db.queue_inclusion_proof(q.region, q.seq, size).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(proof.into()))
}
