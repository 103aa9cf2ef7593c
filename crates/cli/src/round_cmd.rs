//! `kezek round export` and `kezek round replay`: a recorded allocation round as instance files
//! that `kezek check-round` verifies, and the round re-run from its stored input to show it
//! issued exactly the referrals the engine gives.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use kezek_domain::allocation::{
    Allocation, ChildId, GroupId, Instance, Ranking, SourceFile, allocate, parse_instance, parse_meta, write_assignment,
};
use kezek_store::queue::{ReferralRow, RoundRow};

use crate::server_cmd::DatabaseArgs;

#[derive(Debug, clap::Args)]
pub struct RoundArgs {
    #[command(subcommand)]
    what: RoundWhat,
}

#[derive(Debug, clap::Subcommand)]
enum RoundWhat {
    /// Write a recorded round's input as instance files (meta.json, kindergartens.csv,
    /// groups.csv, children.csv) and the referrals it issued as assignment.csv, for
    /// `kezek check-round --instance DIR --assignment DIR/assignment.csv`.
    Export(ExportArgs),
    /// Re-run a recorded round from its stored input and compare with the referrals it issued;
    /// exits 1 listing every difference.
    Replay(ReplayArgs),
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The round's id.
    round: i64,
    /// Directory to write the files into (created if missing).
    dir: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The round's id.
    round: i64,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: RoundArgs) -> anyhow::Result<()> {
    match args.what {
        RoundWhat::Export(a) => export(a),
        RoundWhat::Replay(a) => {
            if !replay(a)? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// Reads a round and the referrals it issued.
fn load(database: &DatabaseArgs, round: i64) -> anyhow::Result<(RoundRow, Vec<ReferralRow>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let db = database.open().await?;
        db.migrate().await?;
        let row = db.round(round).await?;
        let referrals = db.referrals_of_round(round).await?;
        db.close().await;
        match row {
            Some(row) => Ok((row, referrals)),
            None => bail!("no allocation round {round} in {}", database.target().redacted()),
        }
    })
}

/// The stored input as files, named as in an instance directory.
fn files(row: &RoundRow) -> [(&'static str, &str); 4] {
    [
        ("meta.json", &row.instance_meta),
        ("kindergartens.csv", &row.instance_kindergartens),
        ("groups.csv", &row.instance_groups),
        ("children.csv", &row.instance_children),
    ]
}

/// Parses the stored input with the round's recorded ranking.
fn instance(row: &RoundRow) -> anyhow::Result<Instance> {
    let f = files(row);
    let file = |i: usize| SourceFile { name: f[i].0, bytes: f[i].1.as_bytes() };
    let meta = parse_meta(file(0)).with_context(|| format!("round {}: stored meta.json", row.id))?;
    let ranking: Ranking = row
        .ranking
        .parse()
        .map_err(|e| anyhow::anyhow!("round {}: recorded ranking {:?}: {e}", row.id, row.ranking))?;
    let mut rules = meta.rules.clone();
    rules.ranking = ranking;
    // The runner checked each child's list against the region's maximum when it wrote the
    // input; here only the schema's ceiling applies (queue_settings.max_preferences <= 20).
    rules.max_preferences = 20;
    parse_instance(&meta, rules, file(1), file(2), file(3)).with_context(|| format!("round {}: stored input", row.id))
}

/// The referrals of the round as an allocation of its instance (each referral, whatever has
/// happened to it since, counts: it is what the round issued).
fn issued(inst: &Instance, row: &RoundRow, referrals: &[ReferralRow]) -> anyhow::Result<Allocation> {
    let mut group_of = vec![Allocation::UNASSIGNED; inst.child_count()];
    for r in referrals {
        let c = u64::try_from(r.entry_id)
            .ok()
            .and_then(|id| inst.child_index(ChildId(id)))
            .with_context(|| format!("round {}: referral {} is for entry {}, which is not in the round's input", row.id, r.id, r.entry_id))?;
        let g = u64::try_from(r.group_id)
            .ok()
            .and_then(|id| inst.group_index(GroupId(id)))
            .with_context(|| format!("round {}: referral {} is to group {}, which is not in the round's input", row.id, r.id, r.group_id))?;
        if group_of[c as usize] != Allocation::UNASSIGNED {
            bail!("round {}: entry {} has two referrals from this round", row.id, r.entry_id);
        }
        group_of[c as usize] = g;
    }
    Ok(Allocation::from_assignment(inst, group_of))
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let (row, referrals) = load(&args.database, args.round)?;
    let inst = instance(&row)?;
    let alloc = issued(&inst, &row, &referrals)?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    for (name, text) in files(&row) {
        let path = args.dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = Vec::new();
    write_assignment(&inst, &alloc, &mut out);
    let path = args.dir.join("assignment.csv");
    std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "round {}: wrote {} (4 instance files and assignment.csv: {} children, {} referrals)",
        row.id,
        args.dir.display(),
        inst.child_count(),
        referrals.len()
    );
    println!(
        "verify with: kezek check-round --instance {} --assignment {} --ranking {}",
        args.dir.display(),
        path.display(),
        row.ranking
    );
    Ok(())
}

/// Re-runs the round; `false` when the result differs from what the round issued.
fn replay(args: ReplayArgs) -> anyhow::Result<bool> {
    let (row, referrals) = load(&args.database, args.round)?;
    let inst = instance(&row)?;
    let recorded = issued(&inst, &row, &referrals)?;
    let again = allocate(&inst);
    let digest = kezek_domain::queue::input_digest(&files(&row));
    if digest == row.input_digest {
        println!("round {}: input digest {} matches the stored input", row.id, row.input_digest);
    } else {
        // Informative: the digest is the round runner's; a different canonical form shows here.
        println!("round {}: note: recorded input digest {} is not the digest of the stored files ({digest})", row.id, row.input_digest);
    }
    let mut differences: BTreeMap<u64, String> = BTreeMap::new();
    let name = |g: Option<u32>| match g {
        Some(g) => format!("group {}", inst.group_id(g)),
        None => "no referral".to_owned(),
    };
    for c in 0..inst.child_count() as u32 {
        let (was, now) = (recorded.group_of(c), again.group_of(c));
        if was != now {
            let child = inst.child_id(c);
            differences.insert(child.0, format!("entry {child}: the round issued {}, the replay gives {}", name(was), name(now)));
        }
    }
    if differences.is_empty() {
        println!("replay matches: {} referrals", referrals.len());
        return Ok(true);
    }
    for d in differences.values() {
        println!("{d}");
    }
    println!("replay DIFFERS from round {}: {} entries", row.id, differences.len());
    Ok(false)
}
