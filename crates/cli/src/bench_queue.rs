//! `kezek bench-queue`: one allocation round for a city-sized region end to end through the
//! database. Generates an instance (shared/bench), loads it into a fresh database with the demo
//! accounts through `kezek import queue`'s library function, runs one round through
//! `kezek_web::queue::run_round` and prints the time of each phase.
//!
//! The whole run happens on the instance's round date (09:00 in Almaty), so the ages, bands and
//! registration times the generator wrote mean what they meant to it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use kezek_domain::access::{Role, UserId};
use kezek_domain::allocation::SourceFile;
use kezek_domain::identity::Iin;
use kezek_domain::queue_import::Source;
use kezek_store::Db;
use kezek_store::queue_import::{ImportRequest, import_queue};
use kezek_web::{Clock, ServerConfig};
use sqlx::Connection;
use time::OffsetDateTime;

#[derive(Debug, clap::Args)]
pub struct BenchQueueArgs {
    /// Waiting children of the generated region.
    #[arg(long, default_value_t = 100_000)]
    children: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The instance generator (needs numpy).
    #[arg(long, default_value = "../shared/bench/gen_instance.py")]
    generator: PathBuf,
    #[arg(long, default_value = "python3")]
    python: String,
    /// Use this instance directory instead of generating one.
    #[arg(long, value_name = "DIR")]
    instance: Option<PathBuf>,
    /// Run on PostgreSQL: an admin URL (…/postgres) on which a scratch database is created and
    /// dropped afterwards. Without it, a temporary SQLite file is used.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// SQLite only: keep the database in DIR/kezek.db (DIR must not hold one yet), e.g. to
    /// serve it afterwards with `kezek serve --data-dir DIR` and measure position reads.
    #[arg(long, value_name = "DIR", conflicts_with = "postgres")]
    keep_sqlite: Option<PathBuf>,
    /// The region to import into (a demo region).
    #[arg(long, default_value = "almaty-city")]
    region: String,
    /// The catalog folder (for the working-day calendar).
    #[arg(long, env = "KEZEK_CATALOG_DIR", default_value = "./catalog")]
    catalog_dir: PathBuf,
}

/// A clock stopped at the instance's round date.
#[derive(Debug)]
struct FixedClock(OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

pub fn run(args: BenchQueueArgs) -> anyhow::Result<()> {
    let workdir = std::env::temp_dir().join(format!("kezek-bench-queue-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).with_context(|| format!("cannot create {}", workdir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(bench(&args, &workdir));
    let _ = std::fs::remove_dir_all(&workdir);
    result
}

async fn bench(args: &BenchQueueArgs, workdir: &Path) -> anyhow::Result<()> {
    let instance = match &args.instance {
        Some(dir) => dir.clone(),
        None => generate(args, workdir)?,
    };
    let names = ["meta.json", "kindergartens.csv", "groups.csv", "children.csv"];
    let contents = names
        .iter()
        .map(|n| std::fs::read(instance.join(n)).with_context(|| format!("cannot read {}", instance.join(n).display())))
        .collect::<anyhow::Result<Vec<Vec<u8>>>>()?;
    let now = round_time(&contents[0])?;

    let scratch = match &args.postgres {
        Some(admin) => Some(Scratch::create(admin).await?),
        None => None,
    };
    let data_dir = match &args.keep_sqlite {
        Some(dir) => {
            if dir.join("kezek.db").exists() {
                bail!("{} already holds a database", dir.display());
            }
            dir.clone()
        }
        None => workdir.join("db"),
    };
    let result = bench_on(args, &names, &contents, now, data_dir, scratch.as_ref().map(|s| s.url.clone())).await;
    if let Some(s) = scratch {
        s.drop_database().await;
    }
    result
}

async fn bench_on(
    args: &BenchQueueArgs,
    names: &[&str],
    contents: &[Vec<u8>],
    now: OffsetDateTime,
    data_dir: PathBuf,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse()?,
        data_dir,
        database_url,
        catalog_dir: args.catalog_dir.clone(),
        no_demo: false,
        secure_cookies: false,
        log_format: "pretty".into(),
        registries: Default::default(),
        eds: kezek_web::config::EdsConfig { no_eds_demo: true, ..Default::default() },
    };
    let (state, logins) = kezek_web::prepare(&config, Arc::new(FixedClock(now))).await?;
    let db: &Db = &state.db;
    let region = crate::import_cmd::resolve_region(db, &args.region).await?;
    let admin = admin_of(db, &logins, region).await?;

    let files: Vec<SourceFile<'_>> = names.iter().zip(contents).map(|(n, b)| SourceFile { name: n, bytes: b }).collect();
    let mut salt_secret = [0u8; 32];
    getrandom::fill(&mut salt_secret).map_err(|e| anyhow::anyhow!("no randomness from the operating system: {e}"))?;
    let request = ImportRequest {
        region_id: region,
        source: Source::Instance,
        files,
        first_priority_category: "large-family",
        skip_invalid: false,
        dry_run: false,
        salt_secret,
        actor: None,
        now,
    };
    let started = Instant::now();
    let report = import_queue(db, &request).await.context("the import failed")?;
    if !report.rejected.is_empty() || report.import_id.is_none() {
        bail!("the import rejected {} row(s) or wrote nothing", report.rejected.len());
    }
    let import_time = started.elapsed();
    println!(
        "engine {}: imported {} children, {} groups, {} claims in {:.2} s",
        db.engine(),
        report.children,
        report.groups,
        report.claims,
        import_time.as_secs_f64()
    );

    let started = Instant::now();
    let (summary, t) = kezek_web::queue::run_round_timed(db, &state.calendar, now, region, Some(admin))
        .await
        .map_err(|p| anyhow::anyhow!("the round failed: {p:?}"))?;
    let total = started.elapsed();
    println!(
        "round {}: {} children, {} groups, {} free places, {} referrals, {} proposals",
        summary.round_id, summary.children, summary.groups, summary.free_places, summary.assigned, summary.proposals
    );
    println!("  snapshot (load + build instance) {:>8.3} s", t.snapshot.as_secs_f64());
    println!("  allocate                         {:>8.3} s", t.allocate.as_secs_f64());
    println!("  write (one transaction)          {:>8.3} s", t.write.as_secs_f64());
    println!("  total (run_round, lock included) {:>8.3} s", total.as_secs_f64());
    let (seq, _) = db.queue_log_head(region).await?;
    println!("queue log of region {region}: head at seq {seq}");
    db.close().await;
    Ok(())
}

fn generate(args: &BenchQueueArgs, workdir: &Path) -> anyhow::Result<PathBuf> {
    let dir = workdir.join("instance");
    eprintln!("generating {} children (seed {}) into {}", args.children, args.seed, dir.display());
    let status = std::process::Command::new(&args.python)
        .arg(&args.generator)
        .args(["--children", &args.children.to_string(), "--seed", &args.seed.to_string(), "--out"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run {} {}", args.python, args.generator.display()))?;
    if !status.success() {
        bail!("the generator failed ({status}); it needs numpy");
    }
    Ok(dir)
}

/// 09:00 in Almaty (UTC+5) on the instance's round date.
fn round_time(meta: &[u8]) -> anyhow::Result<OffsetDateTime> {
    let meta: serde_json::Value = serde_json::from_slice(meta).context("meta.json is not JSON")?;
    let date = meta["round_date"].as_str().context("meta.json has no round_date")?;
    let date = time::Date::parse(date, time::macros::format_description!("[year]-[month]-[day]"))
        .with_context(|| format!("round_date {date:?} is not a date"))?;
    Ok(date.with_hms(4, 0, 0)?.assume_utc())
}

/// The region's administrator among the demo accounts: the round's actor.
async fn admin_of(db: &Db, logins: &[kezek_store::demo::DemoLogin], region: i64) -> anyhow::Result<UserId> {
    for login in logins.iter().filter(|l| l.role == Role::RegionalAdmin) {
        let iin = Iin::parse(&login.iin).map_err(|e| anyhow::anyhow!("demo IIN: {e:?}"))?;
        let Some(user) = db.user_by_iin(&iin).await? else { continue };
        let memberships = db.memberships(UserId(user.id)).await?;
        if memberships.iter().any(|m| m.organization.is_some_and(|o| o.region == kezek_domain::access::RegionId(region))) {
            return Ok(UserId(user.id));
        }
    }
    bail!("region {region} has no demo administrator")
}

/// A PostgreSQL database that lives for one benchmark.
struct Scratch {
    admin: String,
    name: String,
    url: String,
}

impl Scratch {
    async fn create(admin: &str) -> anyhow::Result<Scratch> {
        let name = format!("kezek_bench_{}", std::process::id());
        let Some((base, _)) = admin.rsplit_once('/') else { bail!("--postgres must end with /<database>") };
        let mut conn = sqlx::PgConnection::connect(admin).await.with_context(|| "cannot connect to --postgres")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        let _ = conn.close().await;
        Ok(Scratch { admin: admin.to_owned(), url: format!("{base}/{name}"), name })
    }

    async fn drop_database(self) {
        match sqlx::PgConnection::connect(&self.admin).await {
            Ok(mut conn) => {
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                    eprintln!("could not drop the scratch database {}: {e}", self.name);
                }
                let _ = conn.close().await;
            }
            Err(e) => eprintln!("could not drop the scratch database {}: {e}", self.name),
        }
    }
}
