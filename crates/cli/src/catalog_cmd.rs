//! `kezek catalog …`: checks the service definitions of a catalog folder.

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use kezek_catalog::services::{ServiceCatalog, ServicesError, load_services};

#[derive(Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    command: CatalogCommand,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Validates every service definition; prints each problem as `file:line: problem`.
    Check(CheckArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// The catalog folder (its services/ subfolder holds one TOML file per service)
    #[arg(
        long,
        env = "KEZEK_CATALOG_DIR",
        default_value = "./catalog",
        value_name = "DIR"
    )]
    catalog: PathBuf,
}

pub fn run(args: CatalogArgs) -> anyhow::Result<()> {
    match args.command {
        CatalogCommand::Check(a) => check(a),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    match load_services(&args.catalog) {
        Ok(catalog) => {
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{}", summary(&catalog)) {
                // A closed pipe (`kezek catalog check | head`) is not a failed check.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Err(ServicesError::Definitions(errors)) => {
            for p in &errors.0 {
                eprintln!("{p}");
            }
            bail!(
                "{} problem(s) in {}",
                errors.0.len(),
                args.catalog.display()
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// One line per service, then the totals; counts are over every edition (base and variants).
fn summary(catalog: &ServiceCatalog) -> String {
    let mut out = String::new();
    let (mut channels, mut variants, mut steps) = (0, 0, 0);
    for s in &catalog.services {
        let c: usize = s.editions().map(|e| e.channels.len()).sum();
        let st: usize = s
            .editions()
            .flat_map(|e| e.channels.iter())
            .map(|c| c.steps.len())
            .sum();
        channels += c;
        variants += s.variants.len();
        steps += st;
        out.push_str(&format!(
            "{:<4} {:<32} {} variant(s), {c} channel(s), {st} step(s)\n",
            s.id,
            s.slug,
            s.variants.len()
        ));
    }
    out.push_str(&format!(
        "ok: {} services, {channels} channels, {variants} variants, {steps} steps; {} named only",
        catalog.services.len(),
        catalog.named_only.len()
    ));
    out
}
