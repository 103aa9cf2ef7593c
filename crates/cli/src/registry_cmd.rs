//! `kezek import registry person|entity|notary FILE.csv`: fills an embedded state registry from
//! a CSV file — every row checked, every rejected row reported with its line, all or nothing.

use std::path::PathBuf;

use anyhow::Context;
use kezek_registries::import::{ImportError, RegistryKind, import};

use crate::server_cmd::DatabaseArgs;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    what: ImportWhat,
}

#[derive(Debug, clap::Subcommand)]
enum ImportWhat {
    /// Fill an embedded state registry (person, entity or notary) from a CSV file, all rows or
    /// none. The columns are listed in catalog/registries/README.md.
    Registry(RegistryImportArgs),
}

#[derive(Debug, clap::Args)]
struct RegistryImportArgs {
    /// Which registry: person (ГБД ФЛ), entity (ГБД ЮЛ) or notary (ЕНИС).
    kind: Kind,
    /// The CSV file (UTF-8, header row first).
    file: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    Person,
    Entity,
    Notary,
}

impl From<Kind> for RegistryKind {
    fn from(k: Kind) -> RegistryKind {
        match k {
            Kind::Person => RegistryKind::Person,
            Kind::Entity => RegistryKind::Entity,
            Kind::Notary => RegistryKind::Notary,
        }
    }
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let ImportWhat::Registry(args) = args.what;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let kind = RegistryKind::from(args.kind);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let db = args.database.open().await?;
        db.migrate().await?;
        let result = import(&db, kind, &text, None, time::OffsetDateTime::now_utc()).await;
        db.close().await;
        match result {
            Ok(summary) => {
                let links = if summary.links > 0 {
                    format!(" and {} parent or representative links", summary.links)
                } else {
                    String::new()
                };
                println!(
                    "imported {} record(s){links} into the {} registry of {}",
                    summary.records,
                    kind.as_str(),
                    args.database.target().redacted()
                );
                Ok(())
            }
            Err(ImportError::Rows(rows)) => {
                for row in &rows {
                    eprintln!("{}:{}: {}", args.file.display(), row.line, row.reason);
                }
                anyhow::bail!("{} row(s) rejected; nothing was imported", rows.len())
            }
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("cannot import {}", args.file.display())))
            }
        }
    })
}
