//! The Republic of Kazakhstan working-day calendar and term arithmetic.
//!
//! The calendar is data (`catalog/calendar/YYYY.toml`, one file per year, parsed here from
//! text); the arithmetic follows the conventions of the regulations (seed-services.md §0):
//! - `working_days` N: the N-th working day after the start date; the start day never counts
//!   ("the day of acceptance and the day of issue are not included in the term");
//! - `calendar_days` N: start date + N days, then the next working day if that is a day off;
//! - `months` N: the same day N months later (the month's last day if it has no such day),
//!   then the next working day if needed;
//! - `working_minutes` N: only minutes inside office hours on working days count; a start
//!   outside them counts from the next opening.
//!
//! A term that needs a day outside the covered years is an error, never a guess.

mod file;
mod hours;
mod zone;

use std::collections::BTreeSet;
use std::fmt;

use time::{Date, Duration, Month, PrimitiveDateTime, Weekday};

use crate::duration::{DurationUnit, Term};

pub use hours::OfficeHours;
pub use zone::{ALMATY_SWITCH_TO_UTC5, almaty_offset_at, almaty_to_utc, utc_to_almaty};

/// What can go wrong reading a calendar, office hours, or computing a due point.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A year file is malformed or contradicts the holiday rules.
    #[error("{file}:{line}: {message}")]
    File {
        file: String,
        line: usize,
        message: String,
    },
    /// Two files describe the same year.
    #[error("{file}: year {year} is already given by {first}")]
    DuplicateYear {
        file: String,
        year: i32,
        first: String,
    },
    #[error("no calendar year files were given")]
    NoYears,
    #[error("office hours {input:?}: {reason}")]
    OfficeHours { input: String, reason: String },
    /// The term needs a day the calendar has no data for.
    #[error("the term needs {date}, outside the calendar's years {covered}")]
    NotCovered { date: Date, covered: String },
}

/// Whether a holiday is carried over when it falls on a weekend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HolidayKind {
    /// National holiday (Independence Day, Republic Day): carried over.
    National,
    /// State holiday (New Year, Nauryz, …): carried over.
    State,
    /// Religious day off (Orthodox Christmas, Kurban Ait): never carried over.
    Religious,
}

/// A holiday's name in the three languages kezek speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub kk: String,
    pub ru: String,
    pub en: String,
}

/// A public holiday and the law that makes it one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holiday {
    pub date: Date,
    pub kind: HolidayKind,
    pub names: Names,
    pub source: String,
}

/// A working day made a day off because the holiday `holiday` fell on a weekend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarriedOver {
    pub date: Date,
    pub holiday: Date,
    pub source: String,
}

/// A day off moved by order: `day_off` is off, the weekend day `working_day` is worked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub day_off: Date,
    pub working_day: Date,
    pub source: String,
}

/// Why a day is not a working day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayOff<'a> {
    Weekend,
    Holiday(&'a Holiday),
    CarriedOver(&'a CarriedOver),
    Transferred(&'a Transfer),
}

/// The working-day calendar for a set of years.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeSet<i32>,
    holidays: Vec<Holiday>,
    carried_over: Vec<CarriedOver>,
    transfers: Vec<Transfer>,
}

/// When a term ends: a date for day and month terms, a local moment for minute terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Due {
    Day(Date),
    Moment(PrimitiveDateTime),
}

impl fmt::Display for Due {
    /// `YYYY-MM-DD` for a day, `YYYY-MM-DDTHH:MM` for a moment (Almaty local time).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Due::Day(d) => write_date(f, *d),
            Due::Moment(m) => {
                write_date(f, m.date())?;
                write!(f, "T{:02}:{:02}", m.hour(), m.minute())
            }
        }
    }
}

fn write_date(f: &mut fmt::Formatter<'_>, d: Date) -> fmt::Result {
    write!(
        f,
        "{:04}-{:02}-{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

impl Calendar {
    /// Parses year files (file name, text); errors name the file and line.
    pub fn from_year_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Calendar, CalendarError> {
        let mut cal = Calendar {
            years: BTreeSet::new(),
            holidays: Vec::new(),
            carried_over: Vec::new(),
            transfers: Vec::new(),
        };
        let mut origin: Vec<(i32, &str)> = Vec::new();
        for (name, text) in files {
            let y = file::parse_year(name, text)?;
            if let Some((_, first)) = origin.iter().find(|(year, _)| *year == y.year) {
                return Err(CalendarError::DuplicateYear {
                    file: name.to_string(),
                    year: y.year,
                    first: first.to_string(),
                });
            }
            origin.push((y.year, name));
            cal.years.insert(y.year);
            cal.holidays.extend(y.holidays);
            cal.carried_over.extend(y.carried_over);
            cal.transfers.extend(y.transfers);
        }
        if cal.years.is_empty() {
            return Err(CalendarError::NoYears);
        }
        cal.holidays.sort_by_key(|h| h.date);
        cal.carried_over.sort_by_key(|c| c.date);
        cal.transfers.sort_by_key(|t| t.day_off);
        Ok(cal)
    }

    /// The years this calendar has data for.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    /// Whether the calendar has data for `day`'s year.
    pub fn covers(&self, day: Date) -> bool {
        self.years.contains(&day.year())
    }

    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }

    pub fn carried_over(&self) -> &[CarriedOver] {
        &self.carried_over
    }

    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    /// Why `day` is a day off, or `None` if it is a working day. Outside the covered years
    /// only weekends are known; use [`Calendar::covers`] to tell.
    pub fn day_off(&self, day: Date) -> Option<DayOff<'_>> {
        if let Some(t) = self.transfers.iter().find(|t| t.day_off == day) {
            return Some(DayOff::Transferred(t));
        }
        if self.transfers.iter().any(|t| t.working_day == day) {
            return None;
        }
        if let Some(h) = self.holidays.iter().find(|h| h.date == day) {
            return Some(DayOff::Holiday(h));
        }
        if let Some(c) = self.carried_over.iter().find(|c| c.date == day) {
            return Some(DayOff::CarriedOver(c));
        }
        is_weekend(day).then_some(DayOff::Weekend)
    }

    /// Whether `day` is a working day (Monday–Friday that is no day off, or a worked weekend
    /// day). Outside the covered years this only knows weekends; terms check coverage.
    pub fn is_working_day(&self, day: Date) -> bool {
        self.day_off(day).is_none()
    }

    fn not_covered(&self, day: Date) -> CalendarError {
        let covered = match (self.years.first(), self.years.last()) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a}–{b}"),
            _ => "none".to_string(),
        };
        CalendarError::NotCovered { date: day, covered }
    }

    fn covered(&self, day: Date) -> Result<Date, CalendarError> {
        if self.covers(day) {
            Ok(day)
        } else {
            Err(self.not_covered(day))
        }
    }

    fn next_day(&self, day: Date) -> Result<Date, CalendarError> {
        match day.next_day() {
            Some(next) => self.covered(next),
            None => Err(self.not_covered(day)),
        }
    }

    /// `day` itself if it is a working day, otherwise the first working day after it.
    pub fn working_day_on_or_after(&self, day: Date) -> Result<Date, CalendarError> {
        let mut d = self.covered(day)?;
        while !self.is_working_day(d) {
            d = self.next_day(d)?;
        }
        Ok(d)
    }

    /// The `n`-th working day after `start`; `start` itself never counts. For `n = 0`, the
    /// first working day on or after `start`.
    pub fn add_working_days(&self, start: Date, n: u32) -> Result<Date, CalendarError> {
        if n == 0 {
            return self.working_day_on_or_after(start);
        }
        let mut d = start;
        let mut left = n;
        while left > 0 {
            d = self.next_day(d)?;
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        Ok(d)
    }

    /// `start` + `n` days, moved to the next working day if that is a day off.
    pub fn add_calendar_days(&self, start: Date, n: u32) -> Result<Date, CalendarError> {
        let target = start
            .checked_add(Duration::days(i64::from(n)))
            .unwrap_or(Date::MAX);
        self.working_day_on_or_after(target)
    }

    /// The same day `n` months after `start` (the month's last day if shorter), moved to the
    /// next working day if that is a day off.
    pub fn add_months(&self, start: Date, n: u32) -> Result<Date, CalendarError> {
        let index =
            i64::from(start.year()) * 12 + i64::from(u8::from(start.month())) - 1 + i64::from(n);
        let year = i32::try_from(index.div_euclid(12)).unwrap_or(i32::MAX);
        let month =
            Month::try_from(u8::try_from(index.rem_euclid(12) + 1).expect("1..=12 fits in u8"))
                .expect("1..=12 is a month");
        let target = if year > Date::MAX.year() {
            Date::MAX
        } else {
            let day = start.day().min(time::util::days_in_month(month, year));
            Date::from_calendar_date(year, month, day).expect("day clamped to the month's length")
        };
        self.working_day_on_or_after(target)
    }

    /// The moment `n` working minutes after `start` at an office with `hours`. Only minutes
    /// inside office hours on working days count; a start outside them counts from the next
    /// opening. A term ending exactly at a break or at closing is due at that moment.
    pub fn add_working_minutes(
        &self,
        start: PrimitiveDateTime,
        n: u32,
        hours: &OfficeHours,
    ) -> Result<PrimitiveDateTime, CalendarError> {
        let intervals = hours.intervals();
        let mut left = Duration::minutes(i64::from(n));
        let mut day = self.covered(start.date())?;
        let mut from = start.time();
        loop {
            if self.is_working_day(day) {
                for (open, close) in &intervals {
                    if from >= *close {
                        continue;
                    }
                    let begin = from.max(*open);
                    let available = *close - begin;
                    if left <= available {
                        return Ok(PrimitiveDateTime::new(day, begin) + left);
                    }
                    left -= available;
                }
            }
            day = self.next_day(day)?;
            from = time::Time::MIDNIGHT;
        }
    }

    /// Due point of a term started at `start` (Almaty local time) at an office with `hours`.
    /// Days and months give `Due::Day`, minutes give `Due::Moment`.
    pub fn due(
        &self,
        start: PrimitiveDateTime,
        term: Term,
        hours: &OfficeHours,
    ) -> Result<Due, CalendarError> {
        let day = start.date();
        Ok(match term.unit {
            DurationUnit::WorkingDays => Due::Day(self.add_working_days(day, term.amount)?),
            DurationUnit::CalendarDays => Due::Day(self.add_calendar_days(day, term.amount)?),
            DurationUnit::Months => Due::Day(self.add_months(day, term.amount)?),
            DurationUnit::WorkingMinutes => {
                Due::Moment(self.add_working_minutes(start, term.amount, hours)?)
            }
        })
    }
}

#[cfg(test)]
mod tests;
