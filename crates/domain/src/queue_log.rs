//! The verifiable queue log: a region's hash chain of queue events checked entry by entry, and a
//! Merkle tree over the entries' hashes in the Certificate Transparency shape (RFC 6962 / 9162)
//! so a parent can check one event against a published log head without the whole log.
//!
//! Leaf hash = SHA-256(0x00 || entry hash bytes); node = SHA-256(0x01 || left || right); the
//! tree of n leaves splits at the largest power of two below n. Anyone holding the entries can
//! recompute every root with a few lines in any language.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::GENESIS_HASH;
use crate::queue::QueueLogContent;

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// One queue-log entry as stored: its content, the hash it chains to and its own hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLogEntry {
    pub content: QueueLogContent,
    pub prev_hash: String,
    pub hash: String,
}

/// The first place where a region's queue log does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueLogBreak {
    #[error("entry {seq}: expected sequence number {expected}, an entry is missing or reordered")]
    Gap { seq: i64, expected: i64 },
    #[error("entry {seq}: it belongs to region {found}, not to this region's log")]
    WrongRegion { seq: i64, found: i64 },
    #[error("entry {seq}: its previous-hash does not match the entry before it")]
    PrevMismatch { seq: i64 },
    #[error("entry {seq}: its content does not match its hash (edited after it was written)")]
    ContentMismatch { seq: i64 },
    #[error("entry {seq}: its stored hash is not a SHA-256 value")]
    MalformedHash { seq: i64 },
    #[error("the log head says {head_seq} entries but the log has {last_seq}")]
    HeadMismatch { head_seq: i64, last_seq: i64 },
    #[error("the first {size} entries no longer give the root of the head published on {day}")]
    PublishedHeadMismatch { size: i64, day: String },
    #[error("the head published on {day} counts {size} entries but the log has only {last_seq}")]
    PublishedHeadBeyondLog {
        size: i64,
        day: String,
        last_seq: i64,
    },
}

impl QueueLogBreak {
    /// The entry verification stopped at (for a published head, its last entry).
    pub fn seq(&self) -> i64 {
        match self {
            Self::Gap { seq, .. }
            | Self::WrongRegion { seq, .. }
            | Self::PrevMismatch { seq }
            | Self::ContentMismatch { seq }
            | Self::MalformedHash { seq } => *seq,
            Self::HeadMismatch { last_seq, .. } | Self::PublishedHeadBeyondLog { last_seq, .. } => {
                *last_seq
            }
            Self::PublishedHeadMismatch { size, .. } => *size,
        }
    }
}

/// A published head the log must still agree with: after `size` entries the root was `root`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub day: String,
    pub size: i64,
    pub root: Hash,
}

/// What an intact log amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedLog {
    pub head: TreeHead,
    pub last_hash: String,
}

/// Walks one region's entries in sequence order, checking the chain and building the Merkle root
/// as it goes, so the store can stream a large log through it in pages.
#[derive(Debug)]
pub struct QueueLogVerifier {
    region_id: i64,
    expected_seq: i64,
    prev_hash: String,
    root: RootBuilder,
    /// Published heads still to check, smallest size last (popped as the log reaches them).
    checkpoints: Vec<Checkpoint>,
}

impl QueueLogVerifier {
    pub fn new(region_id: i64) -> Self {
        Self::with_checkpoints(region_id, Vec::new())
    }

    /// Also checks that the log still gives the root of each published head at its size, which
    /// catches a history rewritten and rehashed end to end after the head was published.
    pub fn with_checkpoints(region_id: i64, mut checkpoints: Vec<Checkpoint>) -> Self {
        checkpoints.sort_by_key(|c| std::cmp::Reverse(c.size));
        Self {
            region_id,
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            root: RootBuilder::default(),
            checkpoints,
        }
    }

    pub fn push(&mut self, entry: &QueueLogEntry) -> Result<(), QueueLogBreak> {
        let seq = entry.content.seq;
        if seq != self.expected_seq {
            return Err(QueueLogBreak::Gap {
                seq,
                expected: self.expected_seq,
            });
        }
        if entry.content.region_id != self.region_id {
            return Err(QueueLogBreak::WrongRegion {
                seq,
                found: entry.content.region_id,
            });
        }
        if entry.prev_hash != self.prev_hash {
            return Err(QueueLogBreak::PrevMismatch { seq });
        }
        if entry.content.hash(&entry.prev_hash) != entry.hash {
            return Err(QueueLogBreak::ContentMismatch { seq });
        }
        let bytes = parse_hash(&entry.hash).ok_or(QueueLogBreak::MalformedHash { seq })?;
        self.root.push(leaf_hash(&bytes));
        self.check_checkpoints()?;
        self.expected_seq += 1;
        self.prev_hash.clone_from(&entry.hash);
        Ok(())
    }

    fn check_checkpoints(&mut self) -> Result<(), QueueLogBreak> {
        let size = self.root.size() as i64;
        while self.checkpoints.last().is_some_and(|c| c.size <= size) {
            let c = self.checkpoints.pop().expect("checked just above");
            // Heads are checked as soon as the log reaches their size, so only a head of size 0
            // can be left behind the current size; its root is the empty tree's.
            let root = if c.size == size {
                self.root.root()
            } else {
                empty_root()
            };
            if c.root != root {
                return Err(QueueLogBreak::PublishedHeadMismatch {
                    size: c.size,
                    day: c.day,
                });
            }
        }
        Ok(())
    }

    /// Checks the end of the log against the region's log head (catches a truncated tail) and
    /// against published heads larger than the log.
    pub fn finish(mut self, head_seq: i64, head_hash: &str) -> Result<VerifiedLog, QueueLogBreak> {
        let last_seq = self.expected_seq - 1;
        if head_seq != last_seq || head_hash != self.prev_hash {
            return Err(QueueLogBreak::HeadMismatch { head_seq, last_seq });
        }
        self.check_checkpoints()?;
        if let Some(c) = self.checkpoints.pop() {
            return Err(QueueLogBreak::PublishedHeadBeyondLog {
                size: c.size,
                day: c.day,
                last_seq,
            });
        }
        Ok(VerifiedLog {
            head: TreeHead {
                size: self.root.size(),
                root: self.root.root(),
            },
            last_hash: self.prev_hash,
        })
    }
}

/// Decodes a 64-digit hex SHA-256 value.
pub fn parse_hash(hex_text: &str) -> Option<Hash> {
    let bytes = hex::decode(hex_text).ok()?;
    bytes.try_into().ok()
}

/// The Merkle leaf of an entry: its chain hash bytes with the leaf prefix.
pub fn leaf_hash(entry_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry_hash);
    h.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of an empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A tree head: how many entries and the root over them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    pub size: u64,
    #[serde(with = "hex_hash")]
    pub root: Hash,
}

/// Builds the root of a growing list of leaves in O(log n) memory: one perfect subtree per set
/// bit of the size, which is exactly how RFC 6962 splits the tree.
#[derive(Clone, Debug, Default)]
pub struct RootBuilder {
    size: u64,
    /// Roots of perfect subtrees, largest first.
    frontier: Vec<Hash>,
}

impl RootBuilder {
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut n = self.size;
        // Each trailing one bit of the old size is a perfect subtree of the same height to merge.
        while n & 1 == 1 {
            let left = self.frontier.pop().expect("one frontier entry per set bit");
            node = node_hash(&left, &node);
            n >>= 1;
        }
        self.frontier.push(node);
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Hash {
        let mut it = self.frontier.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// RFC 6962 MTH over leaf hashes.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1), bottom up.
pub fn audit_path(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    path_into(index, leaves, &mut path);
    Some(path)
}

fn path_into(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path_into(m, &leaves[..k], out);
        out.push(root_of(&leaves[k..]));
    } else {
        path_into(m - k, &leaves[k..], out);
        out.push(root_of(&leaves[..k]));
    }
}

/// Why a Merkle proof does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the leaf index is outside the tree")]
    IndexOutOfRange,
    #[error("the proof has the wrong number of hashes for this tree")]
    WrongLength,
    #[error("the proof does not lead to the tree head's root")]
    RootMismatch,
    #[error("the entry's content does not give its hash")]
    EntryMismatch,
    #[error("a hash in the proof is not a SHA-256 value")]
    Malformed,
    #[error("the older head is larger than the newer one")]
    SizesOutOfOrder,
}

/// Checks an audit path (RFC 9162 §2.1.3.2): leaf `index` of a tree of `size` leaves, whose
/// leaf hash is `leaf`, leads to `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange);
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A consistency proof (RFC 6962 §2.1.2) that the tree of the first `old` leaves is a prefix of
/// the tree of all `leaves`: a published head was only ever extended, never rewritten.
pub fn consistency_path(old: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if old > leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    if old > 0 && old < leaves.len() {
        subproof(old, leaves, true, &mut out);
    }
    Some(out)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            out.push(root_of(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], whole, out);
        out.push(root_of(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root_of(&leaves[..k]));
    }
}

/// Checks a consistency proof between two heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: &TreeHead,
    new: &TreeHead,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old.size > new.size {
        return Err(ProofError::SizesOutOfOrder);
    }
    if old.size == new.size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old.root == new.root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if old.size == 0 {
        // Every tree extends the empty one.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old.size.is_power_of_two() {
        path.insert(0, old.root);
    }
    let (first, rest) = path.split_first().ok_or(ProofError::WrongLength)?;
    let (mut fn_, mut sn) = (old.size - 1, new.size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != old.root || sr != new.root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// What a parent receives for one of their child's events: the entry itself (to recompute its
/// hash), and the audit path from it to a tree head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub region_id: i64,
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub child_ref: Option<String>,
    pub payload: String,
    pub prev_hash: String,
    /// The entry's chain hash as stored.
    pub hash: String,
    /// Leaf position: `seq - 1`.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Root of the head the proof leads to, hex.
    pub root: String,
    /// Sibling hashes from the leaf up, hex.
    pub audit_path: Vec<String>,
}

impl InclusionProof {
    /// Builds the proof of `entry` in the tree of `leaves` (the leaf hashes of the first
    /// `leaves.len()` entries of the region).
    pub fn build(entry: &QueueLogEntry, leaves: &[Hash]) -> Option<InclusionProof> {
        let index = usize::try_from(entry.content.seq.checked_sub(1)?).ok()?;
        let path = audit_path(index, leaves)?;
        let c = &entry.content;
        Some(InclusionProof {
            region_id: c.region_id,
            seq: c.seq,
            at: c.at.clone(),
            kind: c.kind.clone(),
            child_ref: c.child_ref.clone(),
            payload: c.payload.clone(),
            prev_hash: entry.prev_hash.clone(),
            hash: entry.hash.clone(),
            leaf_index: index as u64,
            tree_size: leaves.len() as u64,
            root: hex::encode(root_of(leaves)),
            audit_path: path.iter().map(hex::encode).collect(),
        })
    }

    pub fn content(&self) -> QueueLogContent {
        QueueLogContent {
            region_id: self.region_id,
            seq: self.seq,
            at: self.at.clone(),
            kind: self.kind.clone(),
            child_ref: self.child_ref.clone(),
            payload: self.payload.clone(),
        }
    }

    /// The head this proof leads to.
    pub fn head(&self) -> Result<TreeHead, ProofError> {
        Ok(TreeHead {
            size: self.tree_size,
            root: parse_hash(&self.root).ok_or(ProofError::Malformed)?,
        })
    }

    /// Recomputes the entry's hash from its content and follows the path to the root: any
    /// changed byte of the event, a wrong position or another root fails.
    pub fn verify(&self) -> Result<(), ProofError> {
        let recomputed = self.content().hash(&self.prev_hash);
        if recomputed != self.hash {
            return Err(ProofError::EntryMismatch);
        }
        if self.seq < 1 || self.leaf_index != (self.seq - 1) as u64 {
            return Err(ProofError::IndexOutOfRange);
        }
        let leaf = leaf_hash(&parse_hash(&recomputed).ok_or(ProofError::Malformed)?);
        let path: Vec<Hash> = self
            .audit_path
            .iter()
            .map(|h| parse_hash(h).ok_or(ProofError::Malformed))
            .collect::<Result<_, _>>()?;
        verify_inclusion(
            &leaf,
            self.leaf_index,
            self.tree_size,
            &path,
            &self.head()?.root,
        )
    }
}

/// What a region's key signs each day: the region, the Almaty date, the head and the moment of
/// signing, one field per line so any tool can rebuild the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadStatement {
    pub region_id: i64,
    /// Almaty date, `YYYY-MM-DD`.
    pub day: String,
    pub size: u64,
    pub root: Hash,
    /// UTC, RFC 3339.
    pub signed_at: String,
}

impl HeadStatement {
    pub fn canonical(&self) -> String {
        format!(
            "kezek-queue-head/1\nregion:{}\nday:{}\nsize:{}\nroot:{}\nsigned_at:{}\n",
            self.region_id,
            self.day,
            self.size,
            hex::encode(self.root),
            self.signed_at
        )
    }
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &super::Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<super::Hash, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_hash(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&Sha256::digest(i.to_le_bytes()).into()))
            .collect()
    }

    fn chain(region: i64, n: i64) -> Vec<QueueLogEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let content = QueueLogContent {
                    region_id: region,
                    seq,
                    at: format!("2026-11-25T10:00:{:02}.000000Z", seq % 60),
                    kind: "registered".into(),
                    child_ref: Some(format!("{seq:064x}")),
                    payload: format!(r#"{{"registration_no":{seq}}}"#),
                };
                let hash = content.hash(&prev);
                let e = QueueLogEntry {
                    content,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(
        entries: &[QueueLogEntry],
        checkpoints: Vec<Checkpoint>,
    ) -> Result<VerifiedLog, QueueLogBreak> {
        let mut v = QueueLogVerifier::with_checkpoints(7, checkpoints);
        for e in entries {
            v.push(e)?;
        }
        let (seq, hash) = entries.last().map_or((0, GENESIS_HASH.to_owned()), |e| {
            (e.content.seq, e.hash.clone())
        });
        v.finish(seq, &hash)
    }

    fn entry_leaves(entries: &[QueueLogEntry]) -> Vec<Hash> {
        entries
            .iter()
            .map(|e| leaf_hash(&parse_hash(&e.hash).unwrap()))
            .collect()
    }

    #[test]
    fn the_empty_tree_and_small_trees_match_rfc_6962() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let l = leaves(3);
        assert_eq!(root_of(&l[..1]), l[0]);
        assert_eq!(root_of(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
    }

    #[test]
    fn an_intact_log_verifies_and_its_root_is_the_tree_of_its_hashes() {
        let c = chain(7, 13);
        let v = verify(&c, Vec::new()).unwrap();
        assert_eq!(
            v.head,
            TreeHead {
                size: 13,
                root: root_of(&entry_leaves(&c))
            }
        );
        assert_eq!(
            verify(&[], Vec::new()).unwrap().head,
            TreeHead {
                size: 0,
                root: empty_root()
            }
        );
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut c = chain(7, 6);
        c[3].content.payload = r#"{"registration_no":1}"#.into();
        assert_eq!(
            verify(&c, Vec::new()),
            Err(QueueLogBreak::ContentMismatch { seq: 4 })
        );
    }

    #[test]
    fn an_edited_and_rehashed_event_breaks_the_next_link() {
        let mut c = chain(7, 6);
        c[3].content.kind = "removed".into();
        c[3].hash = c[3].content.hash(&c[3].prev_hash);
        assert_eq!(
            verify(&c, Vec::new()),
            Err(QueueLogBreak::PrevMismatch { seq: 5 })
        );
    }

    #[test]
    fn a_removed_event_is_a_gap_and_a_truncated_tail_disagrees_with_the_head() {
        let mut c = chain(7, 6);
        c.remove(2);
        assert_eq!(
            verify(&c, Vec::new()),
            Err(QueueLogBreak::Gap {
                seq: 4,
                expected: 3
            })
        );
        let c = chain(7, 6);
        let mut v = QueueLogVerifier::new(7);
        for e in &c[..5] {
            v.push(e).unwrap();
        }
        assert_eq!(
            v.finish(6, &c[5].hash),
            Err(QueueLogBreak::HeadMismatch {
                head_seq: 6,
                last_seq: 5
            })
        );
    }

    #[test]
    fn another_regions_event_is_refused() {
        let c = chain(8, 2);
        assert_eq!(
            verify(&c, Vec::new()),
            Err(QueueLogBreak::WrongRegion { seq: 1, found: 8 })
        );
    }

    #[test]
    fn a_history_rewritten_end_to_end_no_longer_matches_a_published_head() {
        let original = chain(7, 8);
        let published = Checkpoint {
            day: "2026-11-24".into(),
            size: 5,
            root: root_of(&entry_leaves(&original[..5])),
        };
        assert!(verify(&original, vec![published.clone()]).is_ok());
        // Rewrite entry 3 and rehash everything after it: the chain alone cannot tell.
        let mut forged = original.clone();
        forged[2].content.payload = r#"{"registration_no":99}"#.into();
        let mut prev = forged[1].hash.clone();
        for e in &mut forged[2..] {
            e.prev_hash = prev.clone();
            e.hash = e.content.hash(&prev);
            prev = e.hash.clone();
        }
        assert!(verify(&forged, Vec::new()).is_ok());
        assert_eq!(
            verify(&forged, vec![published.clone()]),
            Err(QueueLogBreak::PublishedHeadMismatch {
                size: 5,
                day: "2026-11-24".into()
            })
        );
        assert_eq!(
            verify(&original[..4], vec![published]),
            Err(QueueLogBreak::PublishedHeadBeyondLog {
                size: 5,
                day: "2026-11-24".into(),
                last_seq: 4
            })
        );
    }

    #[test]
    fn a_head_published_before_the_first_event_holds_only_with_the_empty_root() {
        let empty = |root| Checkpoint {
            day: "2026-11-20".into(),
            size: 0,
            root,
        };
        assert!(verify(&[], vec![empty(empty_root())]).is_ok());
        assert!(verify(&chain(7, 3), vec![empty(empty_root())]).is_ok());
        let wrong = Err(QueueLogBreak::PublishedHeadMismatch {
            size: 0,
            day: "2026-11-20".into(),
        });
        assert_eq!(verify(&[], vec![empty([1; 32])]), wrong);
        assert_eq!(verify(&chain(7, 3), vec![empty([1; 32])]), wrong);
    }

    #[test]
    fn a_proof_of_an_event_verifies_and_fails_once_the_event_changes() {
        let c = chain(7, 11);
        let l = entry_leaves(&c);
        let proof = InclusionProof::build(&c[6], &l).unwrap();
        assert_eq!(proof.verify(), Ok(()));
        let mut edited = proof.clone();
        edited.payload = r#"{"registration_no":1}"#.into();
        assert_eq!(edited.verify(), Err(ProofError::EntryMismatch));
        // Even with a recomputed hash the changed event no longer leads to the root.
        edited.hash = edited.content().hash(&edited.prev_hash);
        assert_eq!(edited.verify(), Err(ProofError::RootMismatch));
        let mut moved = proof.clone();
        moved.seq = 6;
        moved.hash = moved.content().hash(&moved.prev_hash);
        moved.leaf_index = 5;
        assert_eq!(moved.verify(), Err(ProofError::RootMismatch));
        let json = serde_json::to_string(&proof).unwrap();
        assert_eq!(
            serde_json::from_str::<InclusionProof>(&json).unwrap(),
            proof
        );
    }

    #[test]
    fn the_head_statement_names_every_field() {
        let s = HeadStatement {
            region_id: 2,
            day: "2026-11-25".into(),
            size: 3,
            root: [0xab; 32],
            signed_at: "2026-11-25T18:00:00Z".into(),
        };
        assert_eq!(
            s.canonical(),
            format!(
                "kezek-queue-head/1\nregion:2\nday:2026-11-25\nsize:3\nroot:{}\nsigned_at:2026-11-25T18:00:00Z\n",
                "ab".repeat(32)
            )
        );
    }

    proptest! {
        #[test]
        fn every_leaf_proves_against_the_root(n in 1usize..200) {
            let l = leaves(n);
            let root = root_of(&l);
            let mut builder = RootBuilder::default();
            for leaf in &l {
                builder.push(*leaf);
            }
            prop_assert_eq!(builder.root(), root);
            for i in 0..n {
                let path = audit_path(i, &l).unwrap();
                prop_assert_eq!(verify_inclusion(&l[i], i as u64, n as u64, &path, &root), Ok(()));
            }
        }

        #[test]
        fn a_proof_fails_for_a_changed_leaf_a_wrong_index_or_another_root(n in 2usize..200, pick in any::<prop::sample::Index>(), other in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let root = root_of(&l);
            let i = pick.index(n);
            let path = audit_path(i, &l).unwrap();
            let changed = leaf_hash(&[0x5a; 32]);
            prop_assert!(verify_inclusion(&changed, i as u64, n as u64, &path, &root).is_err());
            let j = other.index(n);
            if j != i {
                prop_assert!(verify_inclusion(&l[i], j as u64, n as u64, &path, &root).is_err());
            }
            prop_assert!(verify_inclusion(&l[i], n as u64, n as u64, &path, &root).is_err());
            let mut wrong_root = root;
            wrong_root[0] ^= 1;
            prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &path, &wrong_root).is_err());
            // The same path against a tree one leaf larger does not hold either.
            let bigger = root_of(&leaves(n + 1));
            prop_assert!(verify_inclusion(&l[i], i as u64, n as u64 + 1, &path, &bigger).is_err());
        }

        #[test]
        fn a_larger_tree_is_consistent_with_each_of_its_prefixes(n in 1usize..120, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let m = pick.index(n + 1);
            let old = TreeHead { size: m as u64, root: root_of(&l[..m]) };
            let new = TreeHead { size: n as u64, root: root_of(&l) };
            let proof = consistency_path(m, &l).unwrap();
            prop_assert_eq!(verify_consistency(&old, &new, &proof), Ok(()));
            if m > 0 && m < n {
                let mut forged = l.clone();
                forged[m - 1] = leaf_hash(&[0x77; 32]);
                let rewritten = TreeHead { size: n as u64, root: root_of(&forged) };
                let proof = consistency_path(m, &forged).unwrap();
                prop_assert!(verify_consistency(&old, &rewritten, &proof).is_err());
            }
        }
    }
}
