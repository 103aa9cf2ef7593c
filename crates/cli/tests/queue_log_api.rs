//! The public queue-log API of the real server, on SQLite and on PostgreSQL: entries page by
//! sequence, the head endpoint gives the current root, the signed daily head with the public key
//! and a consistency proof that verifies, an entry's inclusion proof verifies, and the public
//! page shows the head per day.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use kezek_domain::queue::child_ref;
use kezek_domain::queue_log::{TreeHead, parse_hash, verify_consistency};
use kezek_store::testing::TestDatabase;
use kezek_store::{AuditRecord, DatabaseTarget, Db};
use kezek_web::api::queue_log::{LogHead, Proof, QueueLogEntry, SignedHead};
use kezek_web::queue_log_keys::{RegionKeys, publish_head};
use time::OffsetDateTime;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &DatabaseTarget, data_dir: &std::path::Path) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kezek"));
    cmd.env_remove("DATABASE_URL").env_remove("KEZEK_BIND").env("KEZEK_DATA_DIR", data_dir);
    cmd.env("KEZEK_CATALOG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalog"));
    if let DatabaseTarget::Postgres(url) = db {
        cmd.env("DATABASE_URL", url);
    }
    let mut child = cmd
        .args(["serve", "--bind", "127.0.0.1:0", "--no-demo"])
        .env("KEZEK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kezek starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("the server prints its URL before exiting").unwrap();
        if let Some(rest) = line.strip_prefix("kezek is running at ") {
            break rest.split_whitespace().next().unwrap().trim_end_matches('/').to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

fn note(action: &'static str) -> AuditRecord<'static> {
    AuditRecord { action, object_type: "test", object_id: "1".into(), organization_id: None, details: serde_json::json!({}) }
}

async fn append(db: &Db, region: i64, kind: &str, n: i64) {
    let mut tx = db.begin_write(None, OffsetDateTime::now_utc()).await.unwrap();
    let who = child_ref("salt", &format!("child-{}", n % 2));
    tx.append_queue_event(region, kind, Some(&who), &serde_json::json!({"n": n})).await.unwrap();
    tx.audit(note("queue.event")).await.unwrap();
    tx.commit().await.unwrap();
}

async fn scenario(t: &TestDatabase) {
    let scratch = tempfile::tempdir().unwrap();
    let data_dir = match &t.target {
        DatabaseTarget::SqliteFile(path) => path.parent().unwrap().to_owned(),
        DatabaseTarget::Postgres(_) => scratch.path().to_owned(),
    };
    let db = t.open().await;
    let mut tx = db.begin_write(None, OffsetDateTime::now_utc()).await.unwrap();
    let region = tx.insert_region("astana-q", ["Астана", "Астана", "Astana"]).await.unwrap();
    tx.insert_queue_settings(region, 1, "months").await.unwrap();
    tx.audit(note("queue.settings_created")).await.unwrap();
    tx.commit().await.unwrap();
    for n in 0..6 {
        append(&db, region, "registered", n).await;
    }
    // The day's head is signed at six entries; two more events come after it.
    let key = RegionKeys::in_data_dir(&data_dir).key_of(region).unwrap();
    let published = publish_head(&db, region, &key, OffsetDateTime::now_utc()).await.unwrap();
    append(&db, region, "round", 6).await;
    append(&db, region, "referral_issued", 7).await;
    let current = db.queue_tree_head(region).await.unwrap();

    let server = start(&t.target, &data_dir);
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{}{path}", server.base);
        async move { client.get(url).send().await.unwrap() }
    };

    let page: Vec<QueueLogEntry> = get(format!("/api/v1/regions/{region}/queue-log?after=2&limit=3")).await.json().await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
    assert_eq!(page[0].payload, r#"{"n":2}"#);

    let head: LogHead = get(format!("/api/v1/regions/{region}/queue-log/head")).await.json().await.unwrap();
    assert_eq!(head.current.size, 8);
    assert_eq!(head.current.root, hex_of(&current.root));
    let signed = head.signed.clone().expect("the day's head is shown");
    assert_eq!((signed.size, signed.root.clone()), (6, published.root.clone()));
    assert_eq!(head.public_key.as_deref(), Some(key.public_key_pem().as_str()));
    let old = TreeHead { size: 6, root: parse_hash(&signed.root).unwrap() };
    let proof: Vec<[u8; 32]> = head.consistency.iter().map(|h| parse_hash(h).unwrap()).collect();
    assert_eq!(verify_consistency(&old, &current, &proof), Ok(()));

    let heads: Vec<SignedHead> = get(format!("/api/v1/regions/{region}/queue-log/heads")).await.json().await.unwrap();
    assert_eq!(heads, vec![signed]);

    let proof: Proof = get(format!("/api/v1/queue-log/proof?region={region}&seq=5")).await.json().await.unwrap();
    assert_eq!(proof.root, head.current.root);
    assert_eq!(proof.to_inclusion_proof().verify(), Ok(()));

    assert_eq!(get(format!("/api/v1/queue-log/proof?region={region}&seq=9")).await.status(), 404);
    assert_eq!(get("/api/v1/regions/999999/queue-log/head".to_owned()).await.status(), 404);
    assert_eq!(get(format!("/api/v1/queue-log/proof?region={region}&seq=x")).await.status(), 400);
    // The public page shows the head per day, in the reader's language.
    let page = client.get(format!("{}/regions/{region}/queue-log", server.base)).header("accept-language", "ru").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Журнал очереди: Астана"), "{html}");
    assert!(html.contains(&published.day.to_string()) && html.contains(&published.root) && html.contains(&head.current.root));
    assert!(html.contains("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(get("/regions/999999/queue-log".to_owned()).await.status(), 404);
    let spec = get("/api/v1/openapi.json".to_owned()).await.text().await.unwrap();
    assert!(spec.contains("/api/v1/regions/{id}/queue-log/head") && spec.contains("/api/v1/queue-log/proof"));
}

fn hex_of(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_log_api_serves_entries_signed_heads_and_proofs() {
    scenario(&TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_log_api_serves_entries_signed_heads_and_proofs() {
    scenario(&TestDatabase::postgres().await).await;
}
