//! `kezek calendar …`: the working-day calendar from the command line.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kezek_domain::calendar::{Calendar, OfficeHours};
use kezek_domain::duration::{DurationUnit, Term};
use time::PrimitiveDateTime;
use time::macros::format_description;

#[derive(Args)]
pub struct CalendarArgs {
    #[command(subcommand)]
    command: CalendarCommand,
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Due dates of terms: reads CSV `id,start_local,unit,amount` on stdin, writes `id,due_local`.
    #[command(long_about = DUE_HELP)]
    Due(DueArgs),
}

const DUE_HELP: &str = "\
Due dates of terms on the Kazakhstan working-day calendar.

Reads CSV on stdin with the header `id,start_local,unit,amount`:
  start_local  YYYY-MM-DDTHH:MM, Asia/Almaty local time
  unit         working_days | calendar_days | months | working_minutes
  amount       a whole number >= 0
and writes CSV `id,due_local` on stdout: a date YYYY-MM-DD for days and months,
YYYY-MM-DDTHH:MM for working minutes.

working_days N: the N-th working day after the start date (the start day never counts).
calendar_days N: start + N days, then the next working day if that is a day off.
months N: the same day N months later (clamped to the month's end), then the next working day.
working_minutes N: only minutes inside the office hours on working days count.

Without --office-hours and --break the office is a service provider: 09:00-18:00 with a
13:00-14:00 break. With --office-hours, the breaks are exactly the --break options given
(e.g. `--office-hours 09:00-20:00` for a State Corporation office without a break).

Errors: any malformed row, or a term that runs past the years of the calendar, stops the
whole run with a non-zero exit status and a message naming the line; nothing is written
to stdout in that case.";

#[derive(Args)]
struct DueArgs {
    /// Office hours, HH:MM-HH:MM [default: 09:00-18:00, with a 13:00-14:00 break]
    #[arg(long, value_name = "HH:MM-HH:MM")]
    office_hours: Option<String>,
    /// A break inside the office hours; repeat for several
    #[arg(long = "break", value_name = "HH:MM-HH:MM")]
    breaks: Vec<String>,
    /// The catalog folder (its calendar/ subfolder holds YYYY.toml year files)
    #[arg(
        long,
        env = "KEZEK_CATALOG_DIR",
        default_value = "catalog",
        value_name = "DIR"
    )]
    catalog: PathBuf,
}

pub fn run(args: CalendarArgs) -> anyhow::Result<()> {
    match args.command {
        CalendarCommand::Due(due) => run_due(due),
    }
}

fn run_due(args: DueArgs) -> anyhow::Result<()> {
    let hours = office_hours(&args)?;
    let calendar = kezek_catalog::calendars::load_calendar(&args.catalog)
        .with_context(|| format!("loading the calendar from {}", args.catalog.display()))?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading CSV from stdin")?;
    let output = due_csv(&calendar, &hours, &input)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    Ok(())
}

fn office_hours(args: &DueArgs) -> anyhow::Result<OfficeHours> {
    let breaks: Vec<&str> = args.breaks.iter().map(String::as_str).collect();
    let hours = match (&args.office_hours, breaks.is_empty()) {
        (None, true) => OfficeHours::provider(),
        (None, false) => OfficeHours::parse("09:00-18:00", &breaks)?,
        (Some(h), _) => OfficeHours::parse(h, &breaks)?,
    };
    Ok(hours)
}

const HEADER: &str = "id,start_local,unit,amount";

/// The whole CSV answer, or the first bad line; nothing partial.
fn due_csv(calendar: &Calendar, hours: &OfficeHours, input: &str) -> anyhow::Result<String> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut lines = input
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let Some((_, header)) = lines.by_ref().find(|(_, l)| !l.trim().is_empty()) else {
        bail!("empty input: expected the CSV header `{HEADER}`");
    };
    let header_fields: Vec<&str> = header.split(',').map(str::trim).collect();
    if header_fields != HEADER.split(',').collect::<Vec<_>>() {
        bail!("line 1: expected the CSV header `{HEADER}`, found `{header}`");
    }

    let mut out = String::from("id,due_local\n");
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let due = due_row(calendar, hours, line).with_context(|| format!("line {n}: `{line}`"))?;
        out.push_str(&due);
        out.push('\n');
    }
    Ok(out)
}

fn due_row(calendar: &Calendar, hours: &OfficeHours, line: &str) -> anyhow::Result<String> {
    if line.contains('"') {
        bail!("quoted CSV fields are not supported");
    }
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [id, start, unit, amount] = fields[..] else {
        bail!("expected 4 fields ({HEADER}), found {}", fields.len());
    };
    if id.is_empty() {
        bail!("empty id");
    }
    let start = PrimitiveDateTime::parse(
        start,
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
    )
    .map_err(|_| anyhow::anyhow!("start_local `{start}` is not a local time YYYY-MM-DDTHH:MM"))?;
    let unit = DurationUnit::parse(unit).ok_or_else(|| {
        anyhow::anyhow!(
            "unit `{unit}` is not one of working_days, calendar_days, months, working_minutes"
        )
    })?;
    let amount: u32 = amount
        .parse()
        .map_err(|_| anyhow::anyhow!("amount `{amount}` is not a whole number >= 0"))?;
    let due = calendar.due(start, Term { amount, unit }, hours)?;
    Ok(format!("{id},{due}"))
}
