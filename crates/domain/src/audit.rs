//! The audit chain: each entry carries the SHA-256 of the previous entry and of its own
//! canonical content, so an edited, removed or reordered entry breaks every hash after it.

use sha2::{Digest, Sha256};

/// The hash that stands before the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry says, in the exact form that is hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditContent {
    pub seq: i64,
    /// UTC time, RFC 3339 with microseconds (the precision both databases keep).
    pub at: String,
    pub actor_user_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    /// Compact JSON written by the caller; hashed as the exact bytes stored.
    pub details: String,
}

impl AuditContent {
    /// The canonical bytes: one field per line, in a fixed order, so any engine or language can
    /// recompute the hash.
    pub fn canonical(&self, prev_hash: &str) -> String {
        let opt = |v: Option<i64>| v.map_or_else(String::new, |v| v.to_string());
        format!(
            "kezek-audit/1\nseq:{}\nat:{}\nactor:{}\norganization:{}\naction:{}\nobject:{}/{}\ndetails:{}\nprev:{}\n",
            self.seq,
            self.at,
            opt(self.actor_user_id),
            opt(self.organization_id),
            self.action,
            self.object_type,
            self.object_id,
            self.details,
            prev_hash
        )
    }

    pub fn hash(&self, prev_hash: &str) -> String {
        hex::encode(Sha256::digest(self.canonical(prev_hash).as_bytes()))
    }
}

/// An entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub content: AuditContent,
    pub prev_hash: String,
    pub hash: String,
}

/// The first place where the chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq}: expected sequence number {expected}, an entry is missing or reordered")]
    Gap { seq: i64, expected: i64 },
    #[error("entry {seq}: its previous-hash does not match the entry before it")]
    PrevMismatch { seq: i64 },
    #[error("entry {seq}: its content does not match its hash (edited after it was written)")]
    ContentMismatch { seq: i64 },
    #[error("the chain head says {head_seq} entries but the log has {last_seq}")]
    HeadMismatch { head_seq: i64, last_seq: i64 },
}

impl ChainBreak {
    pub fn seq(&self) -> i64 {
        match self {
            Self::Gap { seq, .. } | Self::PrevMismatch { seq } | Self::ContentMismatch { seq } => *seq,
            Self::HeadMismatch { last_seq, .. } => *last_seq,
        }
    }
}

/// Walks entries in sequence order and keeps the running state, so the store can stream a
/// large log through it.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self { expected_seq: 1, prev_hash: GENESIS_HASH.to_owned() }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, entry: &StoredEntry) -> Result<(), ChainBreak> {
        let seq = entry.content.seq;
        if seq != self.expected_seq {
            return Err(ChainBreak::Gap { seq, expected: self.expected_seq });
        }
        if entry.prev_hash != self.prev_hash {
            return Err(ChainBreak::PrevMismatch { seq });
        }
        if entry.content.hash(&entry.prev_hash) != entry.hash {
            return Err(ChainBreak::ContentMismatch { seq });
        }
        self.expected_seq += 1;
        self.prev_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// Checks the end of the log against the chain head (catches truncation of the tail).
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        let last_seq = self.expected_seq - 1;
        if head_seq != last_seq || head_hash != self.prev_hash {
            return Err(ChainBreak::HeadMismatch { head_seq, last_seq });
        }
        Ok(last_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let content = AuditContent {
                    seq,
                    at: format!("2026-01-0{}T10:00:00.000000Z", seq.min(9)),
                    actor_user_id: Some(seq * 10),
                    organization_id: None,
                    action: "group.places_updated".into(),
                    object_type: "group".into(),
                    object_id: seq.to_string(),
                    details: r#"{"capacity":20}"#.into(),
                };
                let hash = content.hash(&prev);
                let e = StoredEntry { content, prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(entries: &[StoredEntry]) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        let last = entries.last().map_or((0, GENESIS_HASH.to_owned()), |e| (e.content.seq, e.hash.clone()));
        v.finish(last.0, &last.1)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut c = chain(5);
        c[2].content.details = r#"{"capacity":25}"#.into();
        assert_eq!(verify(&c), Err(ChainBreak::ContentMismatch { seq: 3 }));
    }

    #[test]
    fn an_edited_and_rehashed_entry_breaks_the_next_link() {
        let mut c = chain(5);
        c[2].content.actor_user_id = Some(999);
        c[2].hash = c[2].content.hash(&c[2].prev_hash);
        assert_eq!(verify(&c), Err(ChainBreak::PrevMismatch { seq: 4 }));
    }

    #[test]
    fn a_removed_entry_is_a_gap() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c), Err(ChainBreak::Gap { seq: 3, expected: 2 }));
    }

    #[test]
    fn a_truncated_tail_disagrees_with_the_head() {
        let c = chain(5);
        let mut v = ChainVerifier::default();
        for e in &c[..4] {
            v.push(e).unwrap();
        }
        assert_eq!(v.finish(5, &c[4].hash), Err(ChainBreak::HeadMismatch { head_seq: 5, last_seq: 4 }));
    }
}
