//! `kezek allocate`, `kezek check-round` and `kezek bench`: the allocation round on instance
//! files (FORMAT.md). The rules live in `kezek_domain::allocation`; this module reads and
//! writes files, times the phases and prints summaries.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use kezek_domain::allocation::{
    Allocation, Instance, Meta, PriorityClass, Ranking, ReserveAmount, ReservePolicy, RoundRules,
    SourceFile, Violation, allocate, check, parse_assignment, parse_meta, parse_rows,
    write_assignment,
};

/// The region's configuration of a round, shared by `allocate` and `check-round`.
#[derive(Args, Debug, Clone)]
pub struct RoundConfig {
    /// Ranking criteria, most significant first (each once; must include registration_no).
    #[arg(long, default_value = "priority,sibling,registered_at,registration_no")]
    ranking: Ranking,
    /// Reserve places of each group for priority classes: `share:PERCENT` or `count:N` (off by
    /// default).
    #[arg(long, value_parser = parse_reserve_amount)]
    reserve: Option<ReserveAmount>,
    /// Lowest priority class the reserve is for: 1 (first-priority and out-of-turn) or 2
    /// (out-of-turn only).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    reserve_class: u8,
}

#[derive(Args, Debug)]
pub struct AllocateArgs {
    /// Instance directory (meta.json, kindergartens.csv, groups.csv, children.csv).
    #[arg(long)]
    instance: PathBuf,
    /// Where to write the assignment CSV (child_id,group_id).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    config: RoundConfig,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct CheckRoundArgs {
    /// Instance directory.
    #[arg(long)]
    instance: PathBuf,
    /// Assignment CSV to verify (child_id,group_id).
    #[arg(long)]
    assignment: PathBuf,
    #[command(flatten)]
    config: RoundConfig,
    /// Print at most this many violations (all are counted).
    #[arg(long, default_value_t = 50)]
    max_listed: usize,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Numbers of children to generate instances for.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<u32>,
    /// The instance generator.
    #[arg(long, default_value = "../shared/bench/gen_instance.py")]
    generator: PathBuf,
    /// Python interpreter for the generator (needs numpy).
    #[arg(long, default_value = "python3")]
    python: String,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Timed repetitions per measurement; the fastest is reported.
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Directory for the generated instances (default: a fresh one under the system temporary
    /// directory, removed afterwards).
    #[arg(long)]
    workdir: Option<PathBuf>,
}

fn parse_reserve_amount(s: &str) -> Result<ReserveAmount, String> {
    let (kind, value) = s
        .split_once(':')
        .ok_or("expected share:PERCENT or count:N")?;
    match kind {
        "share" => match value.parse::<u8>() {
            Ok(p) if p <= 100 => Ok(ReserveAmount::Share(p)),
            _ => Err(format!("share must be a percentage 0-100, got {value:?}")),
        },
        "count" => value
            .parse::<u32>()
            .map(ReserveAmount::Count)
            .map_err(|_| format!("count must be a number, got {value:?}")),
        _ => Err(format!("expected share:PERCENT or count:N, got {s:?}")),
    }
}

impl RoundConfig {
    fn apply(&self, mut rules: RoundRules) -> RoundRules {
        rules.ranking = self.ranking.clone();
        rules.reserve = self.reserve.map(|amount| ReservePolicy {
            min_class: if self.reserve_class >= 2 {
                PriorityClass::OutOfTurn
            } else {
                PriorityClass::First
            },
            amount,
        });
        rules
    }
}

/// The four files of an instance directory, read into memory.
struct InstanceBytes {
    meta: Vec<u8>,
    kindergartens: Vec<u8>,
    groups: Vec<u8>,
    children: Vec<u8>,
}

impl InstanceBytes {
    fn read(dir: &Path) -> anyhow::Result<InstanceBytes> {
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        Ok(InstanceBytes {
            meta: read("meta.json")?,
            kindergartens: read("kindergartens.csv")?,
            groups: read("groups.csv")?,
            children: read("children.csv")?,
        })
    }

    fn meta(&self) -> anyhow::Result<Meta> {
        Ok(parse_meta(SourceFile {
            name: "meta.json",
            bytes: &self.meta,
        })?)
    }

    fn parse(
        &self,
        meta: &Meta,
        config: &RoundConfig,
        timer: &mut Phases,
    ) -> anyhow::Result<Instance> {
        let rows = parse_rows(
            meta,
            config.apply(meta.rules.clone()),
            SourceFile {
                name: "kindergartens.csv",
                bytes: &self.kindergartens,
            },
            SourceFile {
                name: "groups.csv",
                bytes: &self.groups,
            },
            SourceFile {
                name: "children.csv",
                bytes: &self.children,
            },
        )?;
        timer.lap("parse");
        let inst = rows.build()?;
        timer.lap("rank");
        Ok(inst)
    }
}

/// Wall-clock time per phase, with a progress line on stderr as each ends.
struct Phases {
    quiet: bool,
    started: Instant,
    last: Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn new(quiet: bool) -> Phases {
        let now = Instant::now();
        Phases {
            quiet,
            started: now,
            last: now,
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, phase: &'static str) {
        let now = Instant::now();
        let d = now - self.last;
        self.last = now;
        self.laps.push((phase, d));
        if !self.quiet {
            eprintln!("  {phase:<9} {:>9.3} s", d.as_secs_f64());
        }
    }

    fn progress(&self, what: &str) {
        if !self.quiet {
            eprintln!("{what}");
        }
    }

    fn total(&self) -> Duration {
        self.last - self.started
    }
}

pub fn run_allocate(args: AllocateArgs) -> anyhow::Result<()> {
    let mut timer = Phases::new(args.quiet);
    timer.progress(&format!("reading {}", args.instance.display()));
    let bytes = InstanceBytes::read(&args.instance)?;
    timer.lap("read");
    let meta = bytes.meta()?;
    timer.progress(&format!(
        "parsing {} MB of children",
        bytes.children.len() / 1_000_000
    ));
    let inst = bytes.parse(&meta, &args.config, &mut timer)?;
    drop(bytes);
    timer.progress(&format!(
        "allocating {} children, {} groups, {} eligible pairs",
        inst.child_count(),
        inst.group_count(),
        inst.eligible_pairs()
    ));
    let alloc = allocate(&inst);
    timer.lap("allocate");
    let mut out = Vec::new();
    write_assignment(&inst, &alloc, &mut out);
    fs::write(&args.out, &out).with_context(|| format!("cannot write {}", args.out.display()))?;
    timer.lap("write");

    let mut stdout = std::io::stdout().lock();
    print_summary(&mut stdout, &inst, &alloc)?;
    writeln!(stdout, "proposals: {}", alloc.proposals())?;
    write!(stdout, "time:")?;
    for (phase, d) in &timer.laps {
        write!(stdout, " {phase} {:.3} s,", d.as_secs_f64())?;
    }
    writeln!(stdout, " total {:.3} s", timer.total().as_secs_f64())?;
    if let Some(cpu) = cpu_time() {
        writeln!(stdout, "cpu time: {:.3} s", cpu.as_secs_f64())?;
    }
    if let Some(peak) = peak_rss_kib() {
        writeln!(
            stdout,
            "peak resident memory: {:.1} MiB",
            peak as f64 / 1024.0
        )?;
    }
    Ok(())
}

/// Assigned and unassigned children per band and priority class, places left per band.
fn print_summary(out: &mut impl Write, inst: &Instance, alloc: &Allocation) -> std::io::Result<()> {
    let bands = &inst.rules().bands;
    // [band or "no band"][class] -> (assigned, unassigned)
    let mut counts = vec![[(0u64, 0u64); 3]; bands.len() + 1];
    for c in 0..inst.child_count() as u32 {
        let b = inst.child_band(c).map_or(bands.len(), usize::from);
        let cell = &mut counts[b][usize::from(inst.child_priority(c).code())];
        if alloc.group_of(c).is_some() {
            cell.0 += 1;
        } else {
            cell.1 += 1;
        }
    }
    let mut places = vec![(0u64, 0u64); bands.len()]; // (free, left)
    for g in 0..inst.group_count() as u32 {
        let p = &mut places[usize::from(inst.group_band(g))];
        p.0 += u64::from(inst.free_places(g));
        p.1 += u64::from(inst.free_places(g) - alloc.filled(g).min(inst.free_places(g)));
    }
    let assigned: u64 = counts.iter().flatten().map(|c| c.0).sum();
    let total = inst.child_count() as u64;
    writeln!(
        out,
        "assigned {assigned} of {total} children ({} unassigned)",
        total - assigned
    )?;
    writeln!(
        out,
        "{:<8} {:>21} {:>21} {:>21} {:>9} {:>9}",
        "band", "priority 0 (as/un)", "priority 1 (as/un)", "priority 2 (as/un)", "places", "left"
    )?;
    for (b, row) in counts.iter().enumerate() {
        let name = bands.get(b).map_or("no band", |band| band.name());
        let cells: Vec<String> = row.iter().map(|(a, u)| format!("{a}/{u}")).collect();
        let (free, left) = places.get(b).map_or((String::new(), String::new()), |p| {
            (p.0.to_string(), p.1.to_string())
        });
        writeln!(
            out,
            "{name:<8} {:>21} {:>21} {:>21} {free:>9} {left:>9}",
            cells[0], cells[1], cells[2]
        )?;
    }
    Ok(())
}

/// Exits with status 1 when the assignment breaks any rule.
pub fn run_check_round(args: CheckRoundArgs) -> anyhow::Result<()> {
    let mut timer = Phases::new(false);
    let bytes = InstanceBytes::read(&args.instance)?;
    let assignment_bytes = fs::read(&args.assignment)
        .with_context(|| format!("cannot read {}", args.assignment.display()))?;
    timer.lap("read");
    let meta = bytes.meta()?;
    let inst = bytes.parse(&meta, &args.config, &mut timer)?;
    drop(bytes);
    let name = args
        .assignment
        .file_name()
        .map_or_else(|| "assignment".into(), |n| n.to_string_lossy());
    let alloc = parse_assignment(
        &inst,
        SourceFile {
            name: &name,
            bytes: &assignment_bytes,
        },
    )?;
    timer.lap("parse");
    let report = check(&inst, &alloc);
    timer.lap("check");

    let mut stdout = std::io::stdout().lock();
    let mut kinds = [0usize; 5];
    for v in &report.violations {
        kinds[match v {
            Violation::OverCapacity { .. } => 0,
            Violation::NotEligible { .. } => 1,
            Violation::Waste { .. } => 2,
            Violation::JustifiedEnvy { .. } => 3,
            Violation::NotChildOptimal { .. } => 4,
        }] += 1;
    }
    for v in report.violations.iter().take(args.max_listed) {
        writeln!(stdout, "{v}")?;
    }
    if report.violations.len() > args.max_listed {
        writeln!(
            stdout,
            "... and {} more",
            report.violations.len() - args.max_listed
        )?;
    }
    writeln!(
        stdout,
        "{} children, {} assigned; over capacity {}, not eligible {}, wasted places {}, justified envy {}, differing from the child-optimal outcome {}",
        inst.child_count(),
        report.assigned,
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        kinds[4]
    )?;
    if report.is_clean() {
        writeln!(
            stdout,
            "OK: the assignment is the child-optimal stable outcome"
        )?;
    } else {
        writeln!(stdout, "FAILED: {} violations", report.violations.len())?;
    }
    writeln!(
        stdout,
        "time: check {:.3} s, total {:.3} s",
        timer.laps.last().map_or(0.0, |l| l.1.as_secs_f64()),
        timer.total().as_secs_f64()
    )?;
    stdout.flush()?;
    drop(stdout);
    if !report.is_clean() {
        std::process::exit(1);
    }
    Ok(())
}

/// Peak resident set size of this process in KiB (Linux), if the kernel tells.
fn peak_rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    let (workdir, remove) = match &args.workdir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("kezek-bench-{}", std::process::id())),
            true,
        ),
    };
    fs::create_dir_all(&workdir).with_context(|| format!("cannot create {}", workdir.display()))?;
    let exe = std::env::current_exe().context("cannot find the kezek binary")?;
    let result = bench_sizes(&args, &workdir, &exe);
    if remove {
        let _ = fs::remove_dir_all(&workdir);
    }
    result
}

/// CPU time this thread has run, from the scheduler (Linux); unlike wall-clock time it is not
/// inflated when other processes compete for the cores.
fn cpu_time() -> Option<Duration> {
    let stat = fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Best (smallest) wall-clock and CPU time over several runs.
#[derive(Clone, Copy)]
struct Best {
    wall: Duration,
    cpu: Option<Duration>,
}

impl Best {
    fn new() -> Best {
        Best {
            wall: Duration::MAX,
            cpu: None,
        }
    }

    fn add(&mut self, wall: Duration, cpu: Option<Duration>) {
        self.wall = self.wall.min(wall);
        if let Some(cpu) = cpu {
            self.cpu = Some(self.cpu.map_or(cpu, |c| c.min(cpu)));
        }
    }

    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (c0, t0) = (cpu_time(), Instant::now());
        let out = f();
        let wall = t0.elapsed();
        let cpu = c0.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a));
        self.add(wall, cpu);
        out
    }

    fn cell(&self) -> String {
        match self.cpu {
            Some(cpu) => format!("{:.3}/{:.3}", self.wall.as_secs_f64(), cpu.as_secs_f64()),
            None => format!("{:.3}", self.wall.as_secs_f64()),
        }
    }
}

fn bench_sizes(args: &BenchArgs, workdir: &Path, exe: &Path) -> anyhow::Result<()> {
    println!("times in seconds, best of the runs, as wall-clock/CPU");
    println!(
        "{:>9} {:>13} {:>13} {:>13} {:>13} {:>13} {:>9} {:>10} {:>9}",
        "children",
        "parse",
        "rank",
        "allocate",
        "check",
        "end to end",
        "peak MiB",
        "proposals",
        "assigned"
    );
    for &n in &args.sizes {
        let dir = workdir.join(format!("n{n}-seed{}", args.seed));
        if !dir.join("meta.json").exists() {
            eprintln!("generating {n} children into {}", dir.display());
            let status = std::process::Command::new(&args.python)
                .arg(&args.generator)
                .args([
                    "--children",
                    &n.to_string(),
                    "--seed",
                    &args.seed.to_string(),
                    "--out",
                ])
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .status()
                .with_context(|| {
                    format!("cannot run {} {}", args.python, args.generator.display())
                })?;
            if !status.success() {
                bail!("the generator failed ({status}); it needs numpy");
            }
        }
        let config = RoundConfig {
            ranking: Ranking::default(),
            reserve: None,
            reserve_class: 1,
        };
        let bytes = InstanceBytes::read(&dir)?;
        let meta = bytes.meta()?;
        let files = |bytes: &InstanceBytes| {
            parse_rows(
                &meta,
                config.apply(meta.rules.clone()),
                SourceFile {
                    name: "kindergartens.csv",
                    bytes: &bytes.kindergartens,
                },
                SourceFile {
                    name: "groups.csv",
                    bytes: &bytes.groups,
                },
                SourceFile {
                    name: "children.csv",
                    bytes: &bytes.children,
                },
            )
        };
        let (mut parse, mut rank, mut alloc_time, mut check_time) =
            (Best::new(), Best::new(), Best::new(), Best::new());
        let mut inst = None;
        for _ in 0..args.runs.max(1) {
            let rows = parse.time(|| files(&bytes))?;
            inst = Some(rank.time(|| rows.build())?);
        }
        let inst = inst.expect("at least one run");
        let mut alloc = None;
        for _ in 0..args.runs.max(1) {
            alloc = Some(alloc_time.time(|| allocate(&inst)));
        }
        let alloc = alloc.expect("at least one run");
        let report = check_time.time(|| check(&inst, &alloc));
        if !report.is_clean() {
            bail!(
                "check-round found {} violations at {n} children",
                report.violations.len()
            );
        }
        drop(inst);
        drop(bytes);

        // End to end in a fresh process, as an operator would run it; it reports its own CPU
        // time and peak memory.
        let out = dir.join("assignment.csv");
        let mut e2e = Best::new();
        let mut peak = String::from("?");
        for _ in 0..args.runs.max(1) {
            let t = Instant::now();
            let output = std::process::Command::new(exe)
                .arg("allocate")
                .arg("--instance")
                .arg(&dir)
                .arg("--out")
                .arg(&out)
                .arg("--quiet")
                .output()
                .context("cannot run kezek allocate")?;
            let wall = t.elapsed();
            if !output.status.success() {
                bail!(
                    "kezek allocate failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let stdout = String::from_utf8_lossy(&output.stdout);
            let value = |prefix: &str| {
                stdout
                    .lines()
                    .find_map(|l| l.strip_prefix(prefix))
                    .map(|v| {
                        v.trim()
                            .trim_end_matches(" MiB")
                            .trim_end_matches(" s")
                            .to_owned()
                    })
            };
            let cpu = value("cpu time:")
                .and_then(|v| v.parse::<f64>().ok())
                .map(Duration::from_secs_f64);
            e2e.add(wall, cpu);
            if let Some(p) = value("peak resident memory:") {
                peak = p;
            }
        }
        println!(
            "{:>9} {:>13} {:>13} {:>13} {:>13} {:>13} {:>9} {:>10} {:>9}",
            n,
            parse.cell(),
            rank.cell(),
            alloc_time.cell(),
            check_time.cell(),
            e2e.cell(),
            peak,
            alloc.proposals(),
            report.assigned
        );
    }
    Ok(())
}
