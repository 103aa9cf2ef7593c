//! `kezek verify-log --queue REGION`, `kezek queue-log head REGION` and
//! `kezek queue-log prove REGION --child-ref REF`: the verifiable queue log from the command line.

use anyhow::Context;
use kezek_store::Db;
use kezek_web::queue_log_keys::{RegionKeys, publish_head, verify_published_head};

use crate::import_cmd::resolve_region;
use crate::server_cmd::DatabaseArgs;

#[derive(Debug, clap::Args)]
pub struct QueueLogArgs {
    #[command(subcommand)]
    command: QueueLogCommand,
}

#[derive(Debug, clap::Subcommand)]
enum QueueLogCommand {
    /// Sign and record today's log head of a region (once per Almaty day; later calls print it).
    Head(HeadArgs),
    /// Print the inclusion proofs (JSON) of one child's events against the current log head.
    Prove(ProveArgs),
}

#[derive(Debug, clap::Args)]
struct HeadArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Region id or code.
    region: String,
}

#[derive(Debug, clap::Args)]
struct ProveArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Region id or code.
    region: String,
    /// The child's salted reference as it appears in the log.
    #[arg(long)]
    child_ref: String,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

pub fn run(args: QueueLogArgs) -> anyhow::Result<()> {
    match args.command {
        QueueLogCommand::Head(a) => head(a),
        QueueLogCommand::Prove(a) => prove(a),
    }
}

/// Verifies one region's queue log: the chain, the log head, every published head's root and
/// signature, and that the region's key file (when present) is the key that signed them.
/// Prints the verdict; `false` when the log is broken.
pub fn verify(database: &DatabaseArgs, region: &str) -> anyhow::Result<bool> {
    runtime()?.block_on(async move {
        let db = database.open().await?;
        let region = resolve_region(&db, region).await?;
        match verify_region(&db, region, &RegionKeys::in_data_dir(&database.data_dir)).await? {
            Ok(summary) => {
                println!("queue log of region {region} intact: {summary}");
                Ok(true)
            }
            Err((seq, reason)) => {
                println!("queue log of region {region} BROKEN at entry {seq}: {reason}");
                Ok(false)
            }
        }
    })
}

async fn verify_region(db: &Db, region: i64, keys: &RegionKeys) -> anyhow::Result<Result<String, (i64, String)>> {
    let verified = match db.verify_queue_log(region).await? {
        Ok(v) => v,
        Err(b) => return Ok(Err((b.seq(), b.to_string()))),
    };
    let heads = db.published_queue_heads(region, i64::MAX).await?;
    let key = keys.existing_key_of(region).context("cannot read the region's key")?;
    let public = key.map(|k| k.public_key_pem());
    for h in &heads {
        if let Err(e) = verify_published_head(h) {
            return Ok(Err((h.size, format!("the head published on {}: {e}", h.day))));
        }
        if public.as_deref().is_some_and(|p| p != h.public_key) {
            return Ok(Err((h.size, format!("the head published on {} was signed by a key other than the region's", h.day))));
        }
    }
    Ok(Ok(format!(
        "{} entries, root {}, {} signed daily heads",
        verified.head.size,
        hex_root(&verified.head.root),
        heads.len()
    )))
}

fn hex_root(root: &[u8; 32]) -> String {
    root.iter().map(|b| format!("{b:02x}")).collect()
}

fn head(args: HeadArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let db = args.database.open().await?;
        db.migrate().await?;
        let region = resolve_region(&db, &args.region).await?;
        let key = RegionKeys::in_data_dir(&args.database.data_dir).key_of(region)?;
        let row = publish_head(&db, region, &key, time::OffsetDateTime::now_utc()).await?;
        let signed = kezek_web::api::queue_log::signed_head(&row)?;
        println!("{}", serde_json::to_string_pretty(&signed)?);
        Ok(())
    })
}

fn prove(args: ProveArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let db = args.database.open().await?;
        let region = resolve_region(&db, &args.region).await?;
        let proofs = kezek_web::api::queue_log::proofs_for_child(&db, region, &args.child_ref).await?;
        if proofs.is_empty() {
            anyhow::bail!("region {region}'s queue log has no events of that child reference");
        }
        println!("{}", serde_json::to_string_pretty(&proofs)?);
        Ok(())
    })
}
