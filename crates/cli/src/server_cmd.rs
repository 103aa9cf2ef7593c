//! `kezek serve`, `kezek migrate` and `kezek verify-log`: the commands that run against the database.

use std::sync::Arc;

use anyhow::Context;
use kezek_store::Db;
use kezek_web::{ServerConfig, SystemClock};

#[derive(Debug, clap::Args)]
pub struct DatabaseArgs {
    /// Folder of the embedded SQLite database (when no DATABASE_URL is given).
    #[arg(long, env = "KEZEK_DATA_DIR", default_value = "./kezek-data")]
    pub data_dir: std::path::PathBuf,
    /// PostgreSQL URL; empty means embedded SQLite.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    pub(crate) fn target(&self) -> kezek_store::DatabaseTarget {
        match self.database_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => kezek_store::DatabaseTarget::Postgres(url.to_owned()),
            _ => kezek_store::DatabaseTarget::SqliteFile(self.data_dir.join("kezek.db")),
        }
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Db> {
        let target = self.target();
        if let kezek_store::DatabaseTarget::SqliteFile(path) = &target
            && let Some(dir) = path.parent()
        {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Db::connect(&target).await.with_context(|| format!("cannot open the database {}", target.redacted()))
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

pub fn serve(config: ServerConfig) -> anyhow::Result<()> {
    kezek_web::init_logging(&config.log_format);
    runtime()?.block_on(async move {
        eprintln!("kezek {} starting: {}", env!("CARGO_PKG_VERSION"), config.describe());
        let (state, logins) = kezek_web::prepare(&config, Arc::new(SystemClock)).await?;
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {} (is another server running there? use --bind)", config.bind))?;
        let addr = listener.local_addr()?;
        if !logins.is_empty() {
            println!("Demo data loaded. Every demo account's password is: {}", kezek_store::demo::DEMO_PASSWORD);
            println!("{:<20} {:<14} organization", "role", "IIN");
            let mut shown_heads = 0usize;
            for l in &logins {
                if l.role == kezek_domain::access::Role::KindergartenHead {
                    shown_heads += 1;
                    if shown_heads > 2 {
                        continue;
                    }
                }
                println!("{:<20} {:<14} {}", l.role.as_str(), l.iin, l.organization);
            }
            println!("(and {} more kindergarten heads, one per kindergarten)", shown_heads.saturating_sub(2));
        }
        println!("kezek is running at http://{addr}/  (API docs: http://{addr}/api/docs, health: http://{addr}/health)");
        kezek_web::serve_until_shutdown(listener, state).await?;
        eprintln!("kezek stopped");
        Ok(())
    })
}

pub fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let db = args.open().await?;
        db.migrate().await?;
        println!("migrations applied to {}", args.target().redacted());
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub struct VerifyLogArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Verify this region's queue log (region id or code) instead of the audit log.
    #[arg(long, value_name = "REGION")]
    pub queue: Option<String>,
}

/// Walks the audit chain (or a region's queue log); exits non-zero naming the first broken entry.
pub fn verify_log(args: VerifyLogArgs) -> anyhow::Result<bool> {
    if let Some(region) = &args.queue {
        return crate::queue_log_cmd::verify(&args.database, region);
    }
    let args = args.database;
    runtime()?.block_on(async move {
        let db = args.open().await?;
        match db.verify_audit_chain().await? {
            Ok(n) => {
                println!("audit log intact: {n} entries, every hash matches");
                Ok(true)
            }
            Err(b) => {
                println!("audit log BROKEN at entry {}: {b}", b.seq());
                Ok(false)
            }
        }
    })
}
