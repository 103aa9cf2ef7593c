//! Office hours of an organization: when its officials work on a working day.

use time::Time;

use super::CalendarError;

/// Opening and closing time and the breaks in between; valid by construction: open < close,
/// every break lies strictly inside the day, breaks are sorted and neither overlap nor touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficeHours {
    open: Time,
    close: Time,
    breaks: Vec<(Time, Time)>,
}

impl OfficeHours {
    /// Parses `"09:00-18:00"` with breaks like `["13:00-14:00"]`.
    pub fn parse(hours: &str, breaks: &[&str]) -> Result<OfficeHours, CalendarError> {
        let (open, close) = parse_span(hours)?;
        let breaks = breaks
            .iter()
            .map(|b| parse_span(b))
            .collect::<Result<Vec<_>, _>>()?;
        OfficeHours::new(open, close, breaks)
    }

    /// Builds office hours from times, enforcing the invariants listed on the type.
    pub fn new(
        open: Time,
        close: Time,
        mut breaks: Vec<(Time, Time)>,
    ) -> Result<OfficeHours, CalendarError> {
        let describe = |open: Time, close: Time, breaks: &[(Time, Time)]| {
            let mut s = format!("{}-{}", hhmm(open), hhmm(close));
            for (a, b) in breaks {
                s.push_str(&format!(" break {}-{}", hhmm(*a), hhmm(*b)));
            }
            s
        };
        let invalid = |reason: String| CalendarError::OfficeHours {
            input: describe(open, close, &breaks),
            reason,
        };
        if open >= close {
            return Err(invalid("the office must open before it closes".into()));
        }
        let mut sorted = breaks.clone();
        sorted.sort();
        for (a, b) in &sorted {
            if a >= b {
                return Err(invalid(format!(
                    "break {}-{} ends before it starts",
                    hhmm(*a),
                    hhmm(*b)
                )));
            }
            if *a <= open || *b >= close {
                return Err(invalid(format!(
                    "break {}-{} must lie strictly inside the office hours",
                    hhmm(*a),
                    hhmm(*b)
                )));
            }
        }
        for pair in sorted.windows(2) {
            if pair[0].1 >= pair[1].0 {
                return Err(invalid(format!(
                    "breaks {}-{} and {}-{} overlap or touch",
                    hhmm(pair[0].0),
                    hhmm(pair[0].1),
                    hhmm(pair[1].0),
                    hhmm(pair[1].1)
                )));
            }
        }
        breaks = sorted;
        Ok(OfficeHours {
            open,
            close,
            breaks,
        })
    }

    /// State Corporation «Government for Citizens» offices: 09:00–20:00 without a break.
    pub fn state_corporation() -> OfficeHours {
        OfficeHours::parse("09:00-20:00", &[]).expect("constant office hours are valid")
    }

    /// Service providers (kindergartens, education departments): 09:00–18:00, lunch 13:00–14:00.
    pub fn provider() -> OfficeHours {
        OfficeHours::parse("09:00-18:00", &["13:00-14:00"])
            .expect("constant office hours are valid")
    }

    pub fn open(&self) -> Time {
        self.open
    }

    pub fn close(&self) -> Time {
        self.close
    }

    pub fn breaks(&self) -> &[(Time, Time)] {
        &self.breaks
    }

    /// The working intervals of a day, sorted: office hours minus breaks. Each is non-empty.
    pub fn intervals(&self) -> Vec<(Time, Time)> {
        let mut out = Vec::with_capacity(self.breaks.len() + 1);
        let mut from = self.open;
        for (a, b) in &self.breaks {
            out.push((from, *a));
            from = *b;
        }
        out.push((from, self.close));
        out
    }

    /// Whether `t` is inside a working interval, ends included: a term that ends at 13:00 is
    /// due at 13:00 even though the lunch break starts then.
    pub fn contains(&self, t: Time) -> bool {
        self.intervals().iter().any(|(a, b)| *a <= t && t <= *b)
    }
}

impl std::fmt::Display for OfficeHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", hhmm(self.open), hhmm(self.close))?;
        for (a, b) in &self.breaks {
            write!(f, " (break {}-{})", hhmm(*a), hhmm(*b))?;
        }
        Ok(())
    }
}

pub(super) fn hhmm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// Parses `HH:MM`, two digits each, 00:00–23:59.
pub(super) fn parse_hhmm(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || !s.is_char_boundary(2) {
        return None;
    }
    let digits = |x: &str| {
        x.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| x.parse::<u8>().ok())
            .flatten()
    };
    let h = digits(&s[..2])?;
    let m = digits(&s[3..])?;
    Time::from_hms(h, m, 0).ok()
}

fn parse_span(s: &str) -> Result<(Time, Time), CalendarError> {
    let bad = |reason: &str| CalendarError::OfficeHours {
        input: s.to_string(),
        reason: reason.to_string(),
    };
    let (a, b) = s
        .trim()
        .split_once('-')
        .ok_or_else(|| bad("expected HH:MM-HH:MM"))?;
    let a =
        parse_hhmm(a.trim()).ok_or_else(|| bad("expected HH:MM-HH:MM with a valid start time"))?;
    let b =
        parse_hhmm(b.trim()).ok_or_else(|| bad("expected HH:MM-HH:MM with a valid end time"))?;
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::time;

    #[test]
    fn provider_hours_have_a_lunch_break() {
        let h = OfficeHours::provider();
        assert_eq!(
            h.intervals(),
            vec![(time!(09:00), time!(13:00)), (time!(14:00), time!(18:00))]
        );
        assert!(h.contains(time!(13:00)));
        assert!(!h.contains(time!(13:30)));
        assert!(!h.contains(time!(18:01)));
    }

    #[test]
    fn state_corporation_works_without_a_break() {
        let h = OfficeHours::state_corporation();
        assert_eq!(h.intervals(), vec![(time!(09:00), time!(20:00))]);
    }

    #[test]
    fn rejects_malformed_and_inconsistent_hours() {
        for (hours, breaks) in [
            ("9:00-18:00", vec![]),
            ("09:00/18:00", vec![]),
            ("18:00-09:00", vec![]),
            ("09:00-24:00", vec![]),
            ("09:00-18:00", vec!["08:00-10:00"]),
            ("09:00-18:00", vec!["14:00-13:00"]),
            ("09:00-18:00", vec!["12:00-14:00", "13:00-15:00"]),
            ("09:00-18:00", vec!["12:00-13:00", "13:00-14:00"]),
        ] {
            assert!(
                OfficeHours::parse(hours, &breaks).is_err(),
                "{hours} {breaks:?} accepted"
            );
        }
    }

    #[test]
    fn breaks_are_sorted() {
        let h = OfficeHours::parse("08:00-20:00", &["15:00-15:30", "12:00-13:00"]).unwrap();
        assert_eq!(
            h.breaks(),
            &[(time!(12:00), time!(13:00)), (time!(15:00), time!(15:30))]
        );
    }
}
