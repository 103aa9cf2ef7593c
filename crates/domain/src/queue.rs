//! The kindergarten queue's rules (service S1, seeds 000 R1, 001 R15, 003, 004): who may be
//! registered, which groups a child fits, how referrals expire, where a child stands, and the
//! canonical form of the public queue log.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::allocation::{Band, Criterion, PriorityClass, Ranking, age_on};
use crate::calendar::{Calendar, CalendarError, Due, OfficeHours};
use crate::duration::{DurationUnit, Term};

/// Children are registered until they turn 7 (the service's name in every seed: "до 7 лет").
pub const MAX_AGE_YEARS: i32 = 7;

/// Who files for the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Mother,
    Father,
    Guardian,
    /// A representative acting under a notarised power of attorney.
    Representative,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mother => "mother",
            Self::Father => "father",
            Self::Guardian => "guardian",
            Self::Representative => "representative",
        }
    }
}

/// Where the application came in (004 §6: provider, State Corporation, e-gov portal, city portal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    ProviderOffice,
    StateCorporation,
    Portal,
    CityPortal,
    /// Brought in from a region's existing queue.
    Import,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProviderOffice => "provider_office",
            Self::StateCorporation => "state_corporation",
            Self::Portal => "portal",
            Self::CityPortal => "city_portal",
            Self::Import => "import",
        }
    }
}

/// What happens to a child's queue entry when a referral is declined or lapses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryPolicy {
    /// The child keeps their place (registration time and number) and waits for the next round.
    KeepWaiting,
    /// The entry is closed; the parent registers again if they still want a place.
    Remove,
}

impl EntryPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "keep_waiting" => Some(Self::KeepWaiting),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeepWaiting => "keep_waiting",
            Self::Remove => "remove",
        }
    }
}

/// A region's queue rules.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub max_preferences: usize,
    pub bands: Vec<Band>,
    pub ranking: Ranking,
    /// How long a referral stays open (004 App. 10: one month; 003 App. 3: five days).
    pub referral_term: Term,
    pub on_decline: EntryPolicy,
    pub on_expiry: EntryPolicy,
}

/// A rule a registration broke; each maps to a motivated refusal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("the birth date is in the future")]
    BornInFuture,
    #[error("the child is {age} years old; the queue takes children under 7")]
    TooOld { age: i32 },
    #[error("the birth date does not match the child's IIN")]
    BirthDateMismatch,
    #[error("list between 1 and {max} kindergartens")]
    PreferenceCount { max: usize },
    #[error("kindergarten {0} is listed twice")]
    DuplicatePreference(i64),
    #[error("the desired start date is in the past")]
    StartInPast,
    #[error("the desired start is more than two years ahead")]
    StartTooFar,
    #[error("the child fits no age band on the desired start")]
    NoBand,
}

/// Parses bands written as `1-2,2-3,...` (min and max age in full years on 1 September).
pub fn parse_bands(s: &str) -> Option<Vec<Band>> {
    s.split(',')
        .map(|name| {
            let name = name.trim();
            let (a, b) = name.split_once('-')?;
            Band::new(name, a.parse().ok()?, b.parse().ok()?).ok()
        })
        .collect()
}

/// The 1 September that starts the school year containing `day`: groups are formed by age on it.
pub fn school_year_start(day: Date) -> Date {
    let year = if day.month() >= Month::September {
        day.year()
    } else {
        day.year() - 1
    };
    Date::from_calendar_date(year, Month::September, 1).expect("1 September exists")
}

/// The band of a child born on `birth` in the school year of `start`, if any.
pub fn band_on_start(bands: &[Band], birth: Date, start: Date) -> Option<&Band> {
    let age = age_on(birth, school_year_start(start));
    bands
        .iter()
        .find(|b| i32::from(b.min_age()) <= age && age < i32::from(b.max_age()))
}

/// Checks the child and the request against the rules that need no database.
pub fn check_registration(
    birth: Date,
    iin_birth: Date,
    today: Date,
    desired_start: Date,
    preferences: &[i64],
    settings: &QueueSettings,
) -> Result<(), RegistrationError> {
    if birth != iin_birth {
        return Err(RegistrationError::BirthDateMismatch);
    }
    if birth > today {
        return Err(RegistrationError::BornInFuture);
    }
    let age = age_on(birth, today);
    if age >= MAX_AGE_YEARS {
        return Err(RegistrationError::TooOld { age });
    }
    if preferences.is_empty() || preferences.len() > settings.max_preferences {
        return Err(RegistrationError::PreferenceCount {
            max: settings.max_preferences,
        });
    }
    for (i, k) in preferences.iter().enumerate() {
        if preferences[..i].contains(k) {
            return Err(RegistrationError::DuplicatePreference(*k));
        }
    }
    if desired_start < today {
        return Err(RegistrationError::StartInPast);
    }
    if desired_start > today.saturating_add(time::Duration::days(2 * 366)) {
        return Err(RegistrationError::StartTooFar);
    }
    band_on_start(&settings.bands, birth, desired_start).ok_or(RegistrationError::NoBand)?;
    Ok(())
}

/// The last day a referral issued on `issued` (Almaty local date) may be taken up.
pub fn referral_expiry(
    calendar: &Calendar,
    issued: Date,
    term: Term,
) -> Result<Date, CalendarError> {
    let start = PrimitiveDateTime::new(issued, Time::MIDNIGHT);
    match calendar.due(start, term, &OfficeHours::provider())? {
        Due::Day(d) => Ok(d),
        Due::Moment(m) => Ok(m.date()),
    }
}

/// Whether a term's unit can measure a referral's life (minutes cannot).
pub fn is_day_unit(unit: DurationUnit) -> bool {
    !matches!(unit, DurationUnit::WorkingMinutes)
}

/// A child's standing at one kindergarten: the fields the region's ranking compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub priority: PriorityClass,
    pub sibling_here: bool,
    /// Seconds since the Unix epoch.
    pub registered_at: i64,
    pub registration_no: u64,
}

/// The ranking tuple of a standing: smaller is better.
pub fn rank_key(ranking: &Ranking, s: &Standing) -> [i128; 4] {
    let mut out = [0i128; 4];
    for (slot, c) in out.iter_mut().zip(ranking.criteria()) {
        *slot = match c {
            Criterion::Priority => -i128::from(s.priority.code()),
            Criterion::SiblingAtKindergarten => i128::from(!s.sibling_here),
            Criterion::RegisteredAt => i128::from(s.registered_at),
            Criterion::RegistrationNo => i128::from(s.registration_no),
        };
    }
    out
}

/// How many of `others` rank ahead of `me`, by their priority class (index = class code).
pub fn ahead_by_class<'a>(
    ranking: &Ranking,
    me: &Standing,
    others: impl IntoIterator<Item = &'a Standing>,
) -> [u64; 3] {
    let mine = rank_key(ranking, me);
    let mut counts = [0u64; 3];
    for o in others {
        if rank_key(ranking, o) < mine {
            counts[usize::from(o.priority.code())] += 1;
        }
    }
    counts
}

/// The child's reference in the public log: nobody can tell whose it is without the salt, which
/// only the parent receives.
pub fn child_ref(salt: &str, child_iin: &str) -> String {
    hex::encode(Sha256::digest(
        format!("kezek-child/1\n{salt}\n{child_iin}\n").as_bytes(),
    ))
}

/// One queue-log entry in the form that is hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLogContent {
    pub region_id: i64,
    pub seq: i64,
    /// UTC, RFC 3339 with microseconds.
    pub at: String,
    pub kind: String,
    pub child_ref: Option<String>,
    /// Compact JSON without personal data.
    pub payload: String,
}

impl QueueLogContent {
    pub fn canonical(&self, prev_hash: &str) -> String {
        format!(
            "kezek-queue/1\nregion:{}\nseq:{}\nat:{}\nkind:{}\nchild:{}\npayload:{}\nprev:{}\n",
            self.region_id,
            self.seq,
            self.at,
            self.kind,
            self.child_ref.as_deref().unwrap_or(""),
            self.payload,
            prev_hash
        )
    }

    pub fn hash(&self, prev_hash: &str) -> String {
        hex::encode(Sha256::digest(self.canonical(prev_hash).as_bytes()))
    }
}

/// A priority category as the catalog defines it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryDef {
    pub code: String,
    pub class: u8,
    pub name: Names,
    pub evidence: String,
    pub clause: String,
    /// The right ends on a day its evidence fixes: a confirmation names that last day.
    #[serde(default)]
    pub expires: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    pub kk: String,
    pub ru: String,
    pub en: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryFile {
    category: Vec<CategoryDef>,
}

/// Parses `catalog/queue/priority-categories.toml`; classes must be 1 or 2 and codes unique.
pub fn parse_categories(text: &str) -> Result<Vec<CategoryDef>, String> {
    let file: CategoryFile = toml::from_str(text).map_err(|e| e.to_string())?;
    for (i, c) in file.category.iter().enumerate() {
        if !(1..=2).contains(&c.class) {
            return Err(format!("category {}: class must be 1 or 2", c.code));
        }
        if file.category[..i].iter().any(|o| o.code == c.code) {
            return Err(format!("category {} is defined twice", c.code));
        }
    }
    Ok(file.category)
}

/// A canonical digest of a round's input files, so anyone holding the export can confirm it is
/// the input the round used.
pub fn input_digest(parts: &[(&str, &str)]) -> String {
    let mut h = Sha256::new();
    for (name, text) in parts {
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update((text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Seconds since the Unix epoch, as the allocation engine ranks registration times.
pub fn epoch_seconds(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}


/// A region's norm of places per group, by age band: a kindergarten that declares a group
/// below it is shown to the auditor. Stored as `band:places,...`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupNorms(Vec<(String, u32)>);

/// The most places a norm may ask of one group.
pub const MAX_GROUP_NORM: u32 = 60;

impl GroupNorms {
    /// Norms for some of `bands`, each between 1 and [`MAX_GROUP_NORM`] places.
    pub fn new(norms: Vec<(String, u32)>, bands: &[Band]) -> Result<GroupNorms, SettingsError> {
        for (band, places) in &norms {
            if !bands.iter().any(|b| b.name() == band) {
                return Err(SettingsError::UnknownBand(band.clone()));
            }
            if !(1..=MAX_GROUP_NORM).contains(places) {
                return Err(SettingsError::NormOutOfRange { band: band.clone() });
            }
        }
        Ok(GroupNorms(norms))
    }

    /// Reads the stored form; parts that do not parse are left out.
    pub fn parse(text: &str) -> GroupNorms {
        GroupNorms(
            text.split(',')
                .filter_map(|part| {
                    let (band, places) = part.trim().split_once(':')?;
                    Some((band.trim().to_owned(), places.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    pub fn to_text(&self) -> String {
        self.0.iter().map(|(b, n)| format!("{b}:{n}")).collect::<Vec<_>>().join(",")
    }

    pub fn of_band(&self, band: &str) -> Option<u32> {
        self.0.iter().find(|(b, _)| b == band).map(|(_, n)| *n)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.0.iter().map(|(b, n)| (b.as_str(), *n))
    }
}

/// The Almaty time of day at which a region's daily round starts on working days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundTime(Time);

impl RoundTime {
    /// `HH:MM`, 24-hour.
    pub fn parse(s: &str) -> Result<RoundTime, SettingsError> {
        let (h, m) = s.trim().split_once(':').ok_or(SettingsError::BadRoundTime)?;
        let digits = |part: &str, len: std::ops::RangeInclusive<usize>| {
            if len.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()) { part.parse::<u8>().ok() } else { None }
        };
        let (Some(h), Some(m)) = (digits(h, 1..=2), digits(m, 2..=2)) else { return Err(SettingsError::BadRoundTime) };
        Time::from_hms(h, m, 0).map(RoundTime).map_err(|_| SettingsError::BadRoundTime)
    }

    pub fn time(self) -> Time {
        self.0
    }

    /// Whether the round of the Almaty day of `local` is due: a working day, at or after the time.
    pub fn is_due(self, calendar: &Calendar, local: PrimitiveDateTime) -> bool {
        calendar.is_working_day(local.date()) && local.time() >= self.0
    }
}

impl std::fmt::Display for RoundTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

/// The bounds of a region's queue settings.
pub const MAX_PREFERENCES_LIMIT: usize = 20;

/// Checks a referral term a region chooses: a few working or calendar days up to three months.
pub fn check_referral_term(term: Term) -> Result<Term, SettingsError> {
    let max = match term.unit {
        DurationUnit::WorkingDays | DurationUnit::CalendarDays => 60,
        DurationUnit::Months => 3,
        DurationUnit::WorkingMinutes => return Err(SettingsError::TermUnit),
    };
    if (1..=max).contains(&term.amount) { Ok(term) } else { Err(SettingsError::TermOutOfRange { max }) }
}

/// A setting a regional administrator chose that the queue cannot work with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("age band {0} is not one of the region's bands")]
    UnknownBand(String),
    #[error("the norm of band {band} must be between 1 and 60 places")]
    NormOutOfRange { band: String },
    #[error("a referral term is counted in working days, calendar days or months")]
    TermUnit,
    #[error("the referral term must be between 1 and {max}")]
    TermOutOfRange { max: u32 },
    #[error("the number of preferred kindergartens must be between 1 and 20")]
    PreferencesOutOfRange,
    #[error("the round time is written HH:MM")]
    BadRoundTime,
    #[error("after a referral the child either keeps waiting or leaves the queue")]
    Policy,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn settings() -> QueueSettings {
        QueueSettings {
            max_preferences: 5,
            bands: parse_bands("1-2,2-3,3-4,4-5,5-6").unwrap(),
            ranking: Ranking::default(),
            referral_term: Term {
                amount: 5,
                unit: DurationUnit::WorkingDays,
            },
            on_decline: EntryPolicy::KeepWaiting,
            on_expiry: EntryPolicy::KeepWaiting,
        }
    }

    #[test]
    fn school_year_starts_on_the_last_1_september() {
        assert_eq!(
            school_year_start(date!(2026 - 03 - 10)),
            date!(2025 - 09 - 01)
        );
        assert_eq!(
            school_year_start(date!(2026 - 09 - 01)),
            date!(2026 - 09 - 01)
        );
        assert_eq!(
            school_year_start(date!(2026 - 08 - 31)),
            date!(2025 - 09 - 01)
        );
    }

    #[test]
    fn a_child_born_on_29_february_fits_by_age_on_1_september() {
        let bands = parse_bands("1-2,2-3,3-4").unwrap();
        let b = band_on_start(&bands, date!(2024 - 02 - 29), date!(2026 - 09 - 01)).unwrap();
        assert_eq!(b.name(), "2-3");
    }

    #[test]
    fn registration_rules_each_refuse_with_their_reason() {
        let s = settings();
        let today = date!(2026 - 11 - 25);
        let birth = date!(2023 - 05 - 10);
        let ok = check_registration(birth, birth, today, date!(2027 - 09 - 01), &[1, 2], &s);
        assert_eq!(ok, Ok(()));
        assert_eq!(
            check_registration(birth, date!(2023 - 05 - 11), today, today, &[1], &s),
            Err(RegistrationError::BirthDateMismatch)
        );
        let old = date!(2019 - 11 - 24);
        assert_eq!(
            check_registration(old, old, today, today, &[1], &s),
            Err(RegistrationError::TooOld { age: 7 })
        );
        assert_eq!(
            check_registration(birth, birth, today, today, &[], &s),
            Err(RegistrationError::PreferenceCount { max: 5 })
        );
        assert_eq!(
            check_registration(birth, birth, today, today, &[1, 2, 3, 4, 5, 6], &s),
            Err(RegistrationError::PreferenceCount { max: 5 })
        );
        assert_eq!(
            check_registration(birth, birth, today, today, &[3, 3], &s),
            Err(RegistrationError::DuplicatePreference(3))
        );
        assert_eq!(
            check_registration(birth, birth, today, date!(2026 - 11 - 24), &[1], &s),
            Err(RegistrationError::StartInPast)
        );
        // Born last week: under 1 on 1 September 2026, so no band this school year.
        let baby = date!(2026 - 11 - 18);
        assert_eq!(
            check_registration(baby, baby, today, today, &[1], &s),
            Err(RegistrationError::NoBand)
        );
        assert_eq!(
            check_registration(baby, baby, today, date!(2028 - 09 - 01), &[1], &s),
            Ok(())
        );
    }

    #[test]
    fn positions_count_who_ranks_ahead_by_class() {
        let r = Ranking::default();
        let st = |p: u64, sib: bool, at: i64, no: u64| Standing {
            priority: PriorityClass::from_code(p).unwrap(),
            sibling_here: sib,
            registered_at: at,
            registration_no: no,
        };
        let me = st(0, false, 100, 10);
        let others = [
            st(2, false, 500, 50),
            st(1, false, 900, 90),
            st(0, true, 200, 20),
            st(0, false, 100, 9),
            st(0, false, 150, 5),
        ];
        assert_eq!(ahead_by_class(&r, &me, &others), [2, 1, 1]);
    }

    #[test]
    fn the_child_ref_hides_the_iin_and_depends_on_the_salt() {
        let a = child_ref("salt-a", "230510600123");
        assert_eq!(a.len(), 64);
        assert!(!a.contains("230510"));
        assert_ne!(a, child_ref("salt-b", "230510600123"));
        assert_eq!(a, child_ref("salt-a", "230510600123"));
    }

    #[test]
    fn the_shipped_categories_are_the_five_of_003_section_6() {
        let cats = parse_categories(include_str!("../../../catalog/queue/priority-categories.toml")).unwrap();
        assert_eq!(cats.len(), 5);
        assert!(cats.iter().all(|c| c.class == 1 && c.clause.starts_with("003 §6(")));
        assert!(parse_categories("[[category]]\ncode='x'\nclass=3\nname={kk='a',ru='b',en='c'}\nevidence=''\nclause=''").is_err());
    }

    #[test]
    fn input_digest_changes_with_any_byte_and_with_boundaries() {
        let d = input_digest(&[("a", "xy"), ("b", "z")]);
        assert_ne!(d, input_digest(&[("a", "x"), ("b", "yz")]));
        assert_ne!(d, input_digest(&[("a", "xy"), ("b", "Z")]));
    }

    #[test]
    fn group_norms_round_trip_and_check_their_bands() {
        let bands = parse_bands("1-2,2-3,3-4").unwrap();
        let norms = GroupNorms::parse("1-2:10, 2-3:15,bad,3-4:x");
        assert_eq!(norms.to_text(), "1-2:10,2-3:15");
        assert_eq!(norms.of_band("2-3"), Some(15));
        assert_eq!(GroupNorms::new(vec![("4-5".into(), 20)], &bands), Err(SettingsError::UnknownBand("4-5".into())));
        assert_eq!(GroupNorms::new(vec![("1-2".into(), 0)], &bands), Err(SettingsError::NormOutOfRange { band: "1-2".into() }));
        assert_eq!(GroupNorms::new(vec![("1-2".into(), 61)], &bands), Err(SettingsError::NormOutOfRange { band: "1-2".into() }));
        assert!(GroupNorms::new(vec![("1-2".into(), 60)], &bands).is_ok());
    }

    #[test]
    fn round_times_are_hours_and_minutes() {
        assert_eq!(RoundTime::parse("09:30").unwrap().to_string(), "09:30");
        assert_eq!(RoundTime::parse("7:05").unwrap().to_string(), "07:05");
        for bad in ["24:00", "12:60", "1230", "", "12:5:0", "-1:00", "12:005"] {
            assert_eq!(RoundTime::parse(bad), Err(SettingsError::BadRoundTime), "{bad}");
        }
    }

    #[test]
    fn referral_terms_stay_within_bounds() {
        let t = |amount, unit| check_referral_term(Term { amount, unit });
        assert!(t(5, DurationUnit::WorkingDays).is_ok());
        assert!(t(1, DurationUnit::Months).is_ok());
        assert_eq!(t(4, DurationUnit::Months), Err(SettingsError::TermOutOfRange { max: 3 }));
        assert_eq!(t(0, DurationUnit::CalendarDays), Err(SettingsError::TermOutOfRange { max: 60 }));
        assert_eq!(t(30, DurationUnit::WorkingMinutes), Err(SettingsError::TermUnit));
    }
}
