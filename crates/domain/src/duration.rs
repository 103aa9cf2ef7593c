//! A term written in a regulation: an amount and the unit the regulation counts it in.

use serde::{Deserialize, Serialize};

/// How a regulation counts a term (seed-services.md §0 "Durations").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    /// Minutes within the office hours of the performing organization, on working days.
    WorkingMinutes,
    /// Working days; the day the term starts is never counted.
    WorkingDays,
    /// Calendar days; a due date that is not a working day moves to the next working day.
    CalendarDays,
    /// Calendar months; same day N months later (clamped to the month's end), then the next
    /// working day if needed.
    Months,
}

impl DurationUnit {
    /// The unit's name as it appears in definition files and CSV input.
    pub fn as_str(self) -> &'static str {
        match self {
            DurationUnit::WorkingMinutes => "working_minutes",
            DurationUnit::WorkingDays => "working_days",
            DurationUnit::CalendarDays => "calendar_days",
            DurationUnit::Months => "months",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::WorkingMinutes, Self::WorkingDays, Self::CalendarDays, Self::Months]
            .into_iter()
            .find(|u| u.as_str() == s)
    }
}

/// A term: `amount` units of `unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Term {
    pub amount: u32,
    pub unit: DurationUnit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_round_trip() {
        for u in [
            DurationUnit::WorkingMinutes,
            DurationUnit::WorkingDays,
            DurationUnit::CalendarDays,
            DurationUnit::Months,
        ] {
            assert_eq!(DurationUnit::parse(u.as_str()), Some(u));
        }
        assert_eq!(DurationUnit::parse("weeks"), None);
    }
}
