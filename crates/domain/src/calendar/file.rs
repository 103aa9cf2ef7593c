//! Parsing and checking one year file (`catalog/calendar/YYYY.toml`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Deserialize;
use time::{Date, Month, Weekday};
use toml::Spanned;

use super::{CalendarError, CarriedOver, Holiday, HolidayKind, Names, Transfer};

/// One year, checked: every date inside the year, the carry-over entries equal to the rule.
pub(super) struct YearData {
    pub year: i32,
    pub holidays: Vec<Holiday>,
    pub carried_over: Vec<CarriedOver>,
    pub transfers: Vec<Transfer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: Spanned<i64>,
    #[serde(default)]
    holiday: Vec<Spanned<RawHoliday>>,
    #[serde(default)]
    carried_over: Vec<Spanned<RawCarriedOver>>,
    #[serde(default)]
    transfer: Vec<Spanned<RawTransfer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    date: Spanned<toml::value::Datetime>,
    kind: Spanned<String>,
    kk: String,
    ru: String,
    en: String,
    source: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCarriedOver {
    date: Spanned<toml::value::Datetime>,
    holiday: Spanned<toml::value::Datetime>,
    source: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransfer {
    day_off: Spanned<toml::value::Datetime>,
    working_day: Spanned<toml::value::Datetime>,
    source: Spanned<String>,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: &Range<usize>, message: impl Into<String>) -> CalendarError {
        CalendarError::File {
            file: self.file.to_string(),
            line: self.line_of(span),
            message: message.into(),
        }
    }

    fn date(
        &self,
        v: &Spanned<toml::value::Datetime>,
        year: i32,
        field: &str,
    ) -> Result<Date, CalendarError> {
        let dt = v.get_ref();
        let d = match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => d,
            _ => {
                return Err(self.err(
                    &v.span(),
                    format!("`{field}` must be a date like 2025-01-01"),
                ));
            }
        };
        let month = Month::try_from(d.month)
            .map_err(|_| self.err(&v.span(), format!("`{field}`: no such month")))?;
        let date = Date::from_calendar_date(i32::from(d.year), month, d.day)
            .map_err(|_| self.err(&v.span(), format!("`{field}`: no such date")))?;
        if date.year() != year {
            return Err(self.err(
                &v.span(),
                format!("`{field}` {date} is not in the file's year {year}"),
            ));
        }
        Ok(date)
    }

    fn source(&self, v: &Spanned<String>) -> Result<String, CalendarError> {
        let s = v.get_ref().trim();
        if s.is_empty() {
            return Err(self.err(
                &v.span(),
                "`source` must cite the law or order the entry comes from",
            ));
        }
        Ok(s.to_string())
    }
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// Parses one year file. `file` is used in messages and must be named after the year.
pub(super) fn parse_year(file: &str, text: &str) -> Result<YearData, CalendarError> {
    let ctx = Ctx { file, text };
    let raw: RawYear = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        ctx.err(&span, e.message().trim().to_string())
    })?;

    let year_span = raw.year.span();
    let year = i32::try_from(*raw.year.get_ref())
        .ok()
        .filter(|y| (1900..=9999).contains(y))
        .ok_or_else(|| ctx.err(&year_span, "`year` must be a four-digit year"))?;
    let stem = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let stem = stem.strip_suffix(".toml").unwrap_or(stem);
    if stem != year.to_string() {
        return Err(ctx.err(
            &year_span,
            format!("the file for year {year} must be named {year}.toml"),
        ));
    }

    let mut holidays = Vec::new();
    let mut holiday_lines: BTreeMap<Date, Range<usize>> = BTreeMap::new();
    for h in &raw.holiday {
        let span = h.span();
        let h = h.get_ref();
        let date = ctx.date(&h.date, year, "date")?;
        let kind = match h.kind.get_ref().as_str() {
            "national" => HolidayKind::National,
            "state" => HolidayKind::State,
            "religious" => HolidayKind::Religious,
            other => {
                return Err(ctx.err(
                    &h.kind.span(),
                    format!(
                        "unknown holiday kind {other:?}: expected national, state or religious"
                    ),
                ));
            }
        };
        for (lang, name) in [("kk", &h.kk), ("ru", &h.ru), ("en", &h.en)] {
            if name.trim().is_empty() {
                return Err(ctx.err(&span, format!("holiday {date} has an empty `{lang}` name")));
            }
        }
        if holiday_lines.insert(date, span.clone()).is_some() {
            return Err(ctx.err(&span, format!("holiday {date} is listed twice")));
        }
        holidays.push(Holiday {
            date,
            kind,
            names: Names {
                kk: h.kk.trim().to_string(),
                ru: h.ru.trim().to_string(),
                en: h.en.trim().to_string(),
            },
            source: ctx.source(&h.source)?,
        });
    }
    holidays.sort_by_key(|h| h.date);

    let mut transfers = Vec::new();
    let mut moved_days_off = BTreeSet::new();
    let mut working_weekend_days = BTreeSet::new();
    for t in &raw.transfer {
        let t = t.get_ref();
        let day_off = ctx.date(&t.day_off, year, "day_off")?;
        let working_day = ctx.date(&t.working_day, year, "working_day")?;
        if is_weekend(day_off) {
            return Err(ctx.err(
                &t.day_off.span(),
                format!("`day_off` {day_off} is already a {}", day_off.weekday()),
            ));
        }
        if holiday_lines.contains_key(&day_off) || !moved_days_off.insert(day_off) {
            return Err(ctx.err(
                &t.day_off.span(),
                format!("`day_off` {day_off} is already a day off"),
            ));
        }
        if !is_weekend(working_day) {
            return Err(ctx.err(
                &t.working_day.span(),
                format!(
                    "`working_day` {working_day} is a {}, not a Saturday or Sunday",
                    working_day.weekday()
                ),
            ));
        }
        if holiday_lines.contains_key(&working_day) || !working_weekend_days.insert(working_day) {
            return Err(ctx.err(
                &t.working_day.span(),
                format!("`working_day` {working_day} is a holiday or already a working day"),
            ));
        }
        transfers.push(Transfer {
            day_off,
            working_day,
            source: ctx.source(&t.source)?,
        });
    }
    transfers.sort_by_key(|t| t.day_off);

    // The rule the carried-over entries must match: each national or state holiday on a
    // Saturday or Sunday gives the next working day not yet taken by an earlier carry-over.
    let is_working_before_carry_over = |d: Date| {
        working_weekend_days.contains(&d)
            || (!is_weekend(d) && !holiday_lines.contains_key(&d) && !moved_days_off.contains(&d))
    };
    let mut expected: BTreeMap<Date, Date> = BTreeMap::new(); // holiday -> carried-over day
    let mut taken = BTreeSet::new();
    for h in &holidays {
        if h.kind == HolidayKind::Religious || !is_weekend(h.date) {
            continue;
        }
        let mut d = h.date;
        loop {
            d = d
                .next_day()
                .ok_or_else(|| ctx.err(&holiday_lines[&h.date], "date out of range"))?;
            if is_working_before_carry_over(d) && !taken.contains(&d) {
                break;
            }
        }
        if d.year() != year {
            return Err(ctx.err(
                &holiday_lines[&h.date],
                format!(
                    "holiday {} carries over into the next year ({d}); not supported",
                    h.date
                ),
            ));
        }
        taken.insert(d);
        expected.insert(h.date, d);
    }

    let mut carried_over = Vec::new();
    let mut seen = BTreeSet::new();
    for c in &raw.carried_over {
        let c = c.get_ref();
        let date = ctx.date(&c.date, year, "date")?;
        let holiday = ctx.date(&c.holiday, year, "holiday")?;
        let Some(h) = holidays.iter().find(|h| h.date == holiday) else {
            return Err(ctx.err(
                &c.holiday.span(),
                format!("no [[holiday]] on {holiday} in this file"),
            ));
        };
        if h.kind == HolidayKind::Religious {
            return Err(ctx.err(
                &c.holiday.span(),
                format!(
                    "{holiday} is a religious day off; religious days off are not carried over"
                ),
            ));
        }
        let Some(want) = expected.get(&holiday) else {
            return Err(ctx.err(
                &c.holiday.span(),
                format!(
                    "holiday {holiday} is a {}, not a weekend day; it is not carried over",
                    holiday.weekday()
                ),
            ));
        };
        if *want != date {
            return Err(ctx.err(
                &c.date.span(),
                format!(
                    "holiday {holiday} ({}) carries over to {want}, not {date}",
                    holiday.weekday()
                ),
            ));
        }
        if !seen.insert(holiday) {
            return Err(ctx.err(
                &c.holiday.span(),
                format!("holiday {holiday} is carried over twice"),
            ));
        }
        carried_over.push(CarriedOver {
            date,
            holiday,
            source: ctx.source(&c.source)?,
        });
    }
    if let Some((holiday, want)) = expected.iter().find(|(h, _)| !seen.contains(*h)) {
        return Err(ctx.err(
            &holiday_lines[holiday],
            format!(
                "holiday {holiday} falls on a {}: add a [[carried_over]] entry with date = {want}",
                holiday.weekday()
            ),
        ));
    }
    carried_over.sort_by_key(|c| c.date);

    Ok(YearData {
        year,
        holidays,
        carried_over,
        transfers,
    })
}
