//! `kezek import queue`: brings a region's existing kindergarten queue in, from kezek's import
//! CSV (docs/import-format.md) or from an allocation instance (shared/bench/FORMAT.md). The rules
//! are in `kezek_domain::queue_import`, the writing in `kezek_store::queue_import`; this module
//! reads the files and prints the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use kezek_domain::allocation::SourceFile;
use kezek_domain::queue_import::Source;
use kezek_store::Db;
use kezek_store::queue_import::{ImportRequest, import_queue};

use crate::server_cmd::DatabaseArgs;

/// `kezek import ...`: the queue import here, every other kind of import in `registry_cmd`.
pub enum ImportArgs {
    Queue(QueueImportArgs),
    Other(crate::registry_cmd::ImportArgs),
}

// Written by hand rather than derived so that `import queue` joins the `import` subcommands
// defined in registry_cmd without either module knowing the other's variants.
impl clap::FromArgMatches for ImportArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        match m.subcommand() {
            Some(("queue", sub)) => Ok(Self::Queue(QueueImportArgs::from_arg_matches(sub)?)),
            _ => Ok(Self::Other(crate::registry_cmd::ImportArgs::from_arg_matches(m)?)),
        }
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for ImportArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let queue = <QueueImportArgs as clap::Args>::augment_args(clap::Command::new("queue"))
            .about("Bring a region's existing kindergarten queue in: kindergartens, groups and waiting children")
            .long_about(QUEUE_ABOUT);
        <crate::registry_cmd::ImportArgs as clap::Args>::augment_args(cmd).subcommand(queue)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

const QUEUE_ABOUT: &str = "Bring a region's existing kindergarten queue in: kindergartens (created if their id was \
not imported before), their groups, and the waiting children with their original registration time and number, \
priority category, preferences and sibling kindergarten.\n\n\
Every row is checked; the report names each rejected row as FILE:LINE: reason. If any row is rejected, nothing \
is written unless --skip-invalid is given, in which case the other rows are written. The import is one \
transaction: it is audited and appends one `imported` event with the SHA-256 of the input files to the \
region's queue log. Applicants without an account get one without a password.\n\n\
--csv DIR reads kindergartens.csv, groups.csv and children.csv in the format of docs/import-format.md.\n\
--instance DIR reads an allocation instance (shared/bench/FORMAT.md): free places become capacity with nobody \
enrolled, class 1 becomes --first-priority-category, class 2 the region's out-of-turn category (one named \
`imported-out-of-turn` is created if the region has none), and the children and applicants get generated \
placeholder identities, marked as such: for benchmarks and tests, not for real queues.";

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["csv", "instance"])))]
pub struct QueueImportArgs {
    /// Region, by id or code.
    #[arg(long)]
    region: String,
    /// Directory of kezek's import CSV files (docs/import-format.md).
    #[arg(long, value_name = "DIR")]
    csv: Option<PathBuf>,
    /// Directory of an allocation instance (meta.json, kindergartens.csv, groups.csv, children.csv).
    #[arg(long, value_name = "DIR")]
    instance: Option<PathBuf>,
    /// Instance format: the region's first-priority category that class-1 children get.
    #[arg(long, value_name = "CODE", default_value = "large-family")]
    first_priority_category: String,
    /// Write the valid rows even if some are rejected (by default one rejected row means
    /// nothing is written).
    #[arg(long)]
    skip_invalid: bool,
    /// Check every row and report; write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    match args {
        ImportArgs::Queue(q) => run_queue(q),
        ImportArgs::Other(o) => crate::registry_cmd::run(o),
    }
}

/// Finds a region by its id or its code.
pub async fn resolve_region(db: &Db, region: &str) -> anyhow::Result<i64> {
    let regions = db.regions().await?;
    let found = regions
        .iter()
        .find(|r| r.code == region || region.parse::<i64>().is_ok_and(|id| id == r.id))
        .map(|r| r.id);
    match found {
        Some(id) => Ok(id),
        None => {
            let known: Vec<String> = regions.iter().map(|r| format!("{} ({})", r.code, r.id)).collect();
            bail!("no region {region:?}; the regions are: {}", known.join(", "))
        }
    }
}

fn run_queue(args: QueueImportArgs) -> anyhow::Result<()> {
    let (source, dir, names): (Source, &Path, &[&str]) = match (&args.csv, &args.instance) {
        (Some(dir), None) => (Source::Csv, dir, &["kindergartens.csv", "groups.csv", "children.csv"]),
        (None, Some(dir)) => (Source::Instance, dir, &["meta.json", "kindergartens.csv", "groups.csv", "children.csv"]),
        _ => bail!("give either --csv DIR or --instance DIR"),
    };
    let contents = names
        .iter()
        .map(|n| {
            let path = dir.join(n);
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<Vec<u8>>>>()?;
    // File names without the directory: the digest is of the files, wherever they lie.
    let files: Vec<SourceFile<'_>> = names.iter().zip(&contents).map(|(n, b)| SourceFile { name: n, bytes: b }).collect();
    let mut salt_secret = [0u8; 32];
    getrandom::fill(&mut salt_secret).map_err(|e| anyhow::anyhow!("no randomness from the operating system: {e}"))?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let db = args.database.open().await?;
        db.migrate().await?;
        let region = resolve_region(&db, &args.region).await?;
        let started = Instant::now();
        let request = ImportRequest {
            region_id: region,
            source,
            files,
            first_priority_category: &args.first_priority_category,
            skip_invalid: args.skip_invalid,
            dry_run: args.dry_run,
            salt_secret,
            actor: None,
            now: time::OffsetDateTime::now_utc(),
        };
        let result = import_queue(&db, &request).await;
        db.close().await;
        let report = result.with_context(|| format!("cannot import {}", dir.display()))?;
        let elapsed = started.elapsed();

        for r in &report.rejected {
            eprintln!("{}:{}: {}", dir.join(&r.file).display(), r.line, r.reason);
        }
        println!("read {} row(s) from {} ({} format), sha256 {}", report.rows_read, dir.display(), source.as_str(), report.digest);
        let what = format!(
            "{} new kindergarten(s), {} group(s), {} waiting child(ren) with {} priority claim(s)",
            report.new_kindergartens, report.groups, report.children, report.claims
        );
        if !report.rejected.is_empty() && !args.skip_invalid {
            bail!(
                "{} row(s) rejected; nothing was imported (fix them, or give --skip-invalid to import the other rows)",
                report.rejected.len()
            );
        }
        if args.dry_run {
            println!("dry run: would import {what}; {} row(s) rejected; nothing written", report.rejected.len());
            return Ok(());
        }
        match report.import_id {
            Some(id) => {
                println!(
                    "imported {what} into region {} as import {id} in {:.2} s; {} applicant account(s) created without a password",
                    args.region,
                    elapsed.as_secs_f64(),
                    report.new_applicants
                );
                if let Some(code) = &report.created_category {
                    println!("created the out-of-turn category {code:?} (the region had none) for class-2 children");
                }
                if report.placeholder_identities {
                    println!("the children and applicants have generated placeholder identities (benchmark and test data)");
                }
                if !report.rejected.is_empty() {
                    println!("{} row(s) rejected and skipped", report.rejected.len());
                }
                println!("queue log: one `imported` event with the files' SHA-256");
                Ok(())
            }
            None => bail!("nothing to import: every row was rejected or the files are empty"),
        }
    })
}
