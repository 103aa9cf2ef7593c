//! The regions' queue-log keys and the daily signed heads.
//!
//! Each region signs its queue log head with its own P-256 key, kept by the server in
//! `<data-dir>/keys/queue-<region>.pem` (PKCS#8 PEM, created on first use, readable by the
//! server's user only). The signature is ECDSA P-256 with SHA-256 (deterministic, RFC 6979)
//! over [`HeadStatement::canonical`], stored DER-encoded in hex next to the public key (SPKI PEM)
//! so anyone can check it with stock tools.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use kezek_domain::calendar::utc_to_almaty;
use kezek_domain::queue_log::{HeadStatement, QueueLogBreak, parse_hash};
use kezek_store::queue_log::{NewPublishedHead, PublishedHeadRow};
use kezek_store::{AuditRecord, Db, StoreError, db_time};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write the key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the key file {0} is not a PKCS#8 P-256 private key")]
    Malformed(PathBuf),
}

/// The folder of the regions' signing keys. Servers sharing one PostgreSQL database must be
/// given the same key files (or only one of them publishes heads): a server that finds no file
/// makes a new key, and `verify-log --queue` reports heads signed by a key other than its own.
#[derive(Clone, Debug)]
pub struct RegionKeys {
    dir: PathBuf,
}

impl RegionKeys {
    /// The key folder inside the server's data folder.
    pub fn in_data_dir(data_dir: &Path) -> RegionKeys {
        RegionKeys { dir: data_dir.join("keys") }
    }

    pub fn path_of(&self, region: i64) -> PathBuf {
        self.dir.join(format!("queue-{region}.pem"))
    }

    /// The region's key, read from its file, or made and written there the first time.
    /// Blocking file I/O: call it at start-up or through `spawn_blocking`.
    pub fn key_of(&self, region: i64) -> Result<QueueLogKey, KeyError> {
        let path = self.path_of(region);
        match self.read(&path)? {
            Some(key) => Ok(key),
            None => self.create(&path),
        }
    }

    /// The region's key if its file exists.
    pub fn existing_key_of(&self, region: i64) -> Result<Option<QueueLogKey>, KeyError> {
        self.read(&self.path_of(region))
    }

    fn read(&self, path: &Path) -> Result<Option<QueueLogKey>, KeyError> {
        match std::fs::read_to_string(path) {
            Ok(pem) => SigningKey::from_pkcs8_pem(&pem)
                .map(|key| Some(QueueLogKey { key }))
                .map_err(|_| KeyError::Malformed(path.to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(KeyError::Io { path: path.to_owned(), source }),
        }
    }

    fn create(&self, path: &Path) -> Result<QueueLogKey, KeyError> {
        let io = |source| KeyError::Io { path: path.to_owned(), source };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir).map_err(io)?;
        let key = loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("the operating system provides randomness");
            // Fails only for zero or a value above the group order: astronomically rare, draw again.
            if let Ok(k) = SigningKey::from_bytes(&bytes.into()) {
                break k;
            }
        };
        let pem = key.to_pkcs8_pem(LineEnding::LF).expect("a P-256 key encodes as PKCS#8");
        // Written whole under a name of its own, then linked to the key's name, which fails if
        // the name exists: when two processes make the key at once, the loser reads the
        // winner's complete file (a file created in place could be read while still empty).
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).expect("the operating system provides randomness");
        let draft = self.dir.join(format!(".{}.{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("key"), hex::encode(nonce)));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&draft)
            .and_then(|mut f| f.write_all(pem.as_bytes()).and_then(|()| f.sync_all()));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&draft);
            return Err(io(e));
        }
        let linked = std::fs::hard_link(&draft, path);
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => Ok(QueueLogKey { key }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.read(path)?.ok_or_else(|| io(std::io::Error::other("the key file vanished")))
            }
            Err(e) => Err(io(e)),
        }
    }
}

/// A region's private signing key.
pub struct QueueLogKey {
    key: SigningKey,
}

impl std::fmt::Debug for QueueLogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueLogKey(..)")
    }
}

impl QueueLogKey {
    /// The public key as SPKI PEM, the form that is published.
    pub fn public_key_pem(&self) -> String {
        self.key.verifying_key().to_public_key_pem(LineEnding::LF).expect("a P-256 public key encodes as SPKI")
    }

    /// The DER-encoded signature over the statement, hex.
    pub fn sign(&self, statement: &HeadStatement) -> String {
        let sig: Signature = self.key.sign(statement.canonical().as_bytes());
        hex::encode(sig.to_der().as_bytes())
    }
}

/// Why a signed head does not check out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the public key is not an SPKI PEM P-256 key")]
    MalformedKey,
    #[error("the signature is not a hex DER ECDSA signature")]
    MalformedSignature,
    #[error("the signature does not match the head")]
    Invalid,
}

/// Checks a signature made by [`QueueLogKey::sign`] against the published public key.
pub fn verify_head_signature(public_key_pem: &str, statement: &HeadStatement, signature_hex: &str) -> Result<(), SignatureError> {
    let key = VerifyingKey::from_public_key_pem(public_key_pem).map_err(|_| SignatureError::MalformedKey)?;
    let der = hex::decode(signature_hex).map_err(|_| SignatureError::MalformedSignature)?;
    let sig = Signature::from_der(&der).map_err(|_| SignatureError::MalformedSignature)?;
    key.verify(statement.canonical().as_bytes(), &sig).map_err(|_| SignatureError::Invalid)
}

/// The statement a stored head was signed over.
pub fn statement_of(row: &PublishedHeadRow) -> Result<HeadStatement, StoreError> {
    Ok(HeadStatement {
        region_id: row.region_id,
        day: row.day.to_string(),
        size: u64::try_from(row.size).map_err(|_| StoreError::Corrupt("negative published head size".into()))?,
        root: parse_hash(&row.root).ok_or_else(|| StoreError::Corrupt("malformed published head root".into()))?,
        signed_at: rfc3339(row.signed_at)?,
    })
}

/// Checks a stored head's signature with the public key stored beside it.
pub fn verify_published_head(row: &PublishedHeadRow) -> Result<(), SignatureError> {
    let statement = statement_of(row).map_err(|_| SignatureError::Invalid)?;
    verify_head_signature(&row.public_key, &statement, &row.signature)
}

fn rfc3339(t: OffsetDateTime) -> Result<String, StoreError> {
    db_time(t).format(&Rfc3339).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A broken log is never signed: signing it would vouch for the tampering.
    #[error("the queue log of region {region} is broken at entry {}: {reason}", reason.seq())]
    Broken { region: i64, reason: QueueLogBreak },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs and records the region's log head for the Almaty day of `now`, after verifying the
/// whole log; on a day that already has a head, returns that one unchanged. Run it once a day
/// per region (the server's [`publish_due_heads`] or `kezek queue-log head`); calling it more
/// often is harmless.
pub async fn publish_head(db: &Db, region: i64, key: &QueueLogKey, now: OffsetDateTime) -> Result<PublishedHeadRow, PublishError> {
    Ok(publish_head_once(db, region, key, now).await?.0)
}

/// [`publish_head`], also saying whether this call stored the head (`false`: the day already
/// had one, or another server stored it first).
async fn publish_head_once(db: &Db, region: i64, key: &QueueLogKey, now: OffsetDateTime) -> Result<(PublishedHeadRow, bool), PublishError> {
    let now = db_time(now);
    let day = utc_to_almaty(now).date();
    if let Some(row) = db.published_queue_head(region, day).await? {
        return Ok((row, false));
    }
    if db.queue_settings(region).await?.is_none() {
        return Err(StoreError::NotFound("queue log of the region").into());
    }
    let verified = match db.verify_queue_log(region).await? {
        Ok(v) => v,
        Err(reason) => return Err(PublishError::Broken { region, reason }),
    };
    let statement = HeadStatement {
        region_id: region,
        day: day.to_string(),
        size: verified.head.size,
        root: verified.head.root,
        signed_at: rfc3339(now)?,
    };
    let signature = key.sign(&statement);
    let root = hex::encode(statement.root);
    let public_key = key.public_key_pem();
    let mut tx = db.begin_write(None, now).await?;
    let inserted = tx
        .insert_published_queue_head(&NewPublishedHead {
            region_id: region,
            day,
            size: statement.size as i64,
            root: &root,
            signed_at: now,
            signature: &signature,
            public_key: &public_key,
        })
        .await?;
    if inserted {
        tx.audit(AuditRecord {
            action: "queue_log.head_published",
            object_type: "region",
            object_id: region.to_string(),
            organization_id: None,
            details: serde_json::json!({"day": statement.day, "size": statement.size, "root": root}),
        })
        .await?;
        tx.commit().await?;
    } else {
        // Another server published this day's head first; keep theirs.
        drop(tx);
    }
    let row = db.published_queue_head(region, day).await?.ok_or(StoreError::NotFound("published queue log head"))?;
    Ok((row, inserted))
}

/// What one pass of the daily publisher did for a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publication {
    /// This server signed and stored the day's head.
    Published(PublishedHeadRow),
    /// The day already had its head (from this server, another one, or `kezek queue-log head`).
    AlreadyPublished,
    /// Heads were published before with a key this server does not have (or its file cannot be
    /// read): the server holding the region's key publishes (servers sharing a database must
    /// share the key folder).
    NoKey,
    /// This server's key file for the region is not the key of the heads published so far;
    /// signing with it would publish two keys for one log, so it does not.
    OtherKey,
    /// The log does not verify; it is never signed (the failure is logged).
    Broken,
}

/// Publishes the Almaty day's head of every region that has a queue and no head for that day
/// yet. Safe to run from several servers at once: the day's row is inserted only if absent, so
/// each region gets exactly one head per day. A region's key is taken from `keys`, made there
/// only for a region that has never had a head; once a region has heads, only the key that
/// signed them is used.
pub async fn publish_due_heads(db: &Db, keys: &RegionKeys, now: OffsetDateTime) -> Result<Vec<(i64, Publication)>, StoreError> {
    let day = utc_to_almaty(now).date();
    let mut out = Vec::new();
    for region in db.regions().await? {
        if db.queue_settings(region.id).await?.is_none() {
            continue;
        }
        if db.published_queue_head(region.id, day).await?.is_some() {
            out.push((region.id, Publication::AlreadyPublished));
            continue;
        }
        let earlier = db.published_queue_heads(region.id, 1).await?.into_iter().next();
        let key = match region_key(keys, region.id, earlier.is_some()).await {
            Some(key) => key,
            None => {
                tracing::warn!(region = region.id, "no key for the region's queue-log heads here; leaving them to the server that has it");
                out.push((region.id, Publication::NoKey));
                continue;
            }
        };
        if let Some(h) = &earlier
            && h.public_key != key.public_key_pem()
        {
            tracing::error!(region = region.id, path = %keys.path_of(region.id).display(),
                "this key did not sign the region's earlier queue-log heads; not publishing with it");
            out.push((region.id, Publication::OtherKey));
            continue;
        }
        let done = match publish_head_once(db, region.id, &key, now).await {
            Ok((row, true)) => Publication::Published(row),
            Ok((_, false)) => Publication::AlreadyPublished,
            Err(PublishError::Broken { region, reason }) => {
                tracing::error!(region, seq = reason.seq(), "the queue log does not verify; its head is not signed");
                Publication::Broken
            }
            Err(PublishError::Store(e)) => return Err(e),
        };
        out.push((region.id, done));
    }
    Ok(out)
}

/// The region's key: an existing one only, when heads were published before (a new key would
/// not be theirs); otherwise the existing or a new one. `None` when there is none to use (an
/// unreadable file is logged).
async fn region_key(keys: &RegionKeys, region: i64, had_heads: bool) -> Option<QueueLogKey> {
    let keys = keys.clone();
    let read = tokio::task::spawn_blocking(move || if had_heads { keys.existing_key_of(region) } else { keys.key_of(region).map(Some) }).await;
    match read {
        Ok(Ok(key)) => key,
        Ok(Err(e)) => {
            tracing::error!(region, error = %e, "the region's queue-log key cannot be read");
            None
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> HeadStatement {
        HeadStatement { region_id: 3, day: "2026-11-25".into(), size: 12, root: [7; 32], signed_at: "2026-11-25T13:00:00Z".into() }
    }

    #[test]
    fn processes_making_a_key_at_once_all_read_the_same_whole_key() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let keys = RegionKeys::in_data_dir(dir.path());
            let made: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8).map(|_| s.spawn(|| keys.key_of(5).map(|k| k.public_key_pem()))).collect();
                handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
            });
            assert!(made.iter().all(|k| *k == made[0]));
            let left: Vec<_> = std::fs::read_dir(dir.path().join("keys")).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(left.len(), 1, "no drafts left behind: {left:?}");
        }
    }

    #[test]
    fn a_key_is_made_once_with_owner_only_permissions_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = RegionKeys::in_data_dir(dir.path());
        assert!(keys.existing_key_of(3).unwrap().is_none());
        let first = keys.key_of(3).unwrap();
        let mode = std::fs::metadata(keys.path_of(3)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = keys.key_of(3).unwrap();
        assert_eq!(first.public_key_pem(), again.public_key_pem());
        assert_ne!(first.public_key_pem(), keys.key_of(4).unwrap().public_key_pem());
        assert!(std::fs::read_to_string(keys.path_of(3)).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(first.public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
    }

    #[test]
    fn a_signed_head_verifies_and_fails_once_altered() {
        let dir = tempfile::tempdir().unwrap();
        let key = RegionKeys::in_data_dir(dir.path()).key_of(3).unwrap();
        let s = statement();
        let sig = key.sign(&s);
        let public = key.public_key_pem();
        assert_eq!(verify_head_signature(&public, &s, &sig), Ok(()));
        let mut bigger = s.clone();
        bigger.size = 13;
        assert_eq!(verify_head_signature(&public, &bigger, &sig), Err(SignatureError::Invalid));
        let mut other_root = s.clone();
        other_root.root[31] ^= 1;
        assert_eq!(verify_head_signature(&public, &other_root, &sig), Err(SignatureError::Invalid));
        let other_key = RegionKeys::in_data_dir(dir.path()).key_of(4).unwrap();
        assert_eq!(verify_head_signature(&other_key.public_key_pem(), &s, &sig), Err(SignatureError::Invalid));
        assert_eq!(verify_head_signature(&public, &s, "zz"), Err(SignatureError::MalformedSignature));
        assert_eq!(verify_head_signature("not a key", &s, &sig), Err(SignatureError::MalformedKey));
    }

    #[test]
    fn a_garbled_key_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let keys = RegionKeys::in_data_dir(dir.path());
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(keys.path_of(5), "garbage").unwrap();
        assert!(matches!(keys.key_of(5), Err(KeyError::Malformed(_))));
        assert_eq!(std::fs::read_to_string(keys.path_of(5)).unwrap(), "garbage");
    }
}
