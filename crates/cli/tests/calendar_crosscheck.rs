//! Cross-check of `catalog/calendar/` against an independent source: the Kazakhstan data of
//! the PyPI `holidays` package (class `holidays.KZ`). The test command installs it with
//! `python3 -m pip install holidays==0.109`; without it this test fails, it never skips.
//! Any disagreement not listed in `KNOWN_DISAGREEMENTS` fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use time::{Date, Month, Weekday};

/// Days where we knowingly differ from `holidays`, with the reason. None known with 0.109.
const KNOWN_DISAGREEMENTS: &[(&str, &str)] = &[];

const YEARS: std::ops::RangeInclusive<i32> = 2024..=2027;

const SCRIPT: &str = r#"
import re, sys
try:
    import holidays
except ImportError as e:
    print("IMPORT-FAILED", e)
    sys.exit(3)
print("version", holidays.__version__)
for y in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    for d, name in sorted(holidays.country_holidays("KZ", years=y, language="en_US").items()):
        m = re.search(r"substituted from (\d\d)/(\d\d)/(\d{4})", name)
        if m:
            print("worked", f"{m.group(3)}-{m.group(1)}-{m.group(2)}", name)
        kind = "observed" if ("observed" in name or "substituted" in name) else "holiday"
        print(kind, d.isoformat(), name)
"#;

struct Oracle {
    version: String,
    /// Every date `holidays` lists (holidays, observed and substituted days off).
    off: BTreeMap<Date, String>,
    /// Holidays proper (not their observed or substituted days).
    holidays: BTreeSet<Date>,
    /// Weekend days that became working days.
    worked: BTreeSet<Date>,
}

fn parse_date(s: &str) -> Date {
    let p: Vec<&str> = s.split('-').collect();
    let month = Month::try_from(p[1].parse::<u8>().expect("month")).expect("month");
    Date::from_calendar_date(
        p[0].parse().expect("year"),
        month,
        p[2].parse().expect("day"),
    )
    .expect("date")
}

fn oracle() -> Oracle {
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &YEARS.start().to_string(), &YEARS.end().to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); the test command installs python3 and `python3 -m pip install holidays==0.109`"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if text.starts_with("IMPORT-FAILED") || !out.status.success() {
        panic!(
            "the PyPI package `holidays` is not importable by python3 ({}{}).\n\
             The test command installs it: `python3 -m pip install holidays==0.109`.",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut o = Oracle {
        version: String::new(),
        off: BTreeMap::new(),
        holidays: BTreeSet::new(),
        worked: BTreeSet::new(),
    };
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (kind, value, name) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        match kind {
            "version" => o.version = value.to_string(),
            "worked" => {
                o.worked.insert(parse_date(value));
            }
            "holiday" | "observed" => {
                let d = parse_date(value);
                o.off.insert(d, name.to_string());
                if kind == "holiday" {
                    o.holidays.insert(d);
                }
            }
            _ => panic!("unexpected line from the python script: {line}"),
        }
    }
    o
}

#[test]
fn days_off_agree_with_the_holidays_package_for_2024_to_2027() {
    let oracle = oracle();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog");
    let calendar =
        kezek_catalog::calendars::load_calendar(&dir).expect("the shipped calendar loads");

    let known: BTreeMap<Date, &str> = KNOWN_DISAGREEMENTS
        .iter()
        .map(|(d, why)| (parse_date(d), *why))
        .collect();
    let mut unexpected = Vec::new();
    let mut seen_known = BTreeSet::new();

    let mut day = Date::from_calendar_date(*YEARS.start(), Month::January, 1).expect("date");
    while day.year() <= *YEARS.end() {
        let weekend = matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday);
        let theirs = oracle.worked.contains(&day) || (!weekend && !oracle.off.contains_key(&day));
        let ours = calendar.is_working_day(day);
        if theirs != ours {
            if known.contains_key(&day) {
                seen_known.insert(day);
            } else {
                unexpected.push(format!(
                    "{day} ({}): ours {}, holidays {} says {} ({})",
                    day.weekday(),
                    if ours { "working" } else { "day off" },
                    oracle.version,
                    if theirs { "working" } else { "day off" },
                    oracle
                        .off
                        .get(&day)
                        .map(String::as_str)
                        .unwrap_or("not listed"),
                ));
            }
        }
        day = day.next_day().expect("inside the calendar");
    }

    // Holidays on weekends change no working day by themselves; check their dates too.
    let ours: BTreeSet<Date> = calendar.holidays().iter().map(|h| h.date).collect();
    for d in ours.symmetric_difference(&oracle.holidays) {
        if !known.contains_key(d) {
            unexpected.push(format!(
                "{d}: holiday in {} only",
                if ours.contains(d) {
                    "our calendar"
                } else {
                    "the holidays package"
                }
            ));
        } else {
            seen_known.insert(*d);
        }
    }

    assert!(
        unexpected.is_empty(),
        "disagreements with holidays {}:\n{}",
        oracle.version,
        unexpected.join("\n")
    );
    let stale: Vec<_> = known.keys().filter(|d| !seen_known.contains(d)).collect();
    assert!(
        stale.is_empty(),
        "listed disagreements that no longer occur, remove them: {stale:?}"
    );
}
