//! The shipped calendar files (`catalog/calendar/`) checked against the cases the law and the
//! decrees make interesting. The files are compiled in so the domain stays free of I/O.

use std::sync::LazyLock;

use proptest::prelude::*;
use time::macros::{date, datetime};

use super::*;

macro_rules! year_file {
    ($y:literal) => {
        (
            concat!($y, ".toml"),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../catalog/calendar/",
                $y,
                ".toml"
            )),
        )
    };
}

static KZ: LazyLock<Calendar> = LazyLock::new(|| {
    Calendar::from_year_files([
        year_file!("2024"),
        year_file!("2025"),
        year_file!("2026"),
        year_file!("2027"),
    ])
    .expect("the shipped calendar parses")
});

fn kz() -> &'static Calendar {
    &KZ
}

fn term(amount: u32, unit: DurationUnit) -> Term {
    Term { amount, unit }
}

// ---- days off, as the law and the orders make them ----

#[test]
fn sunday_5_january_2025_was_worked_and_friday_3_january_2025_was_off() {
    assert!(kz().is_working_day(date!(2025 - 01 - 05)));
    assert!(!kz().is_working_day(date!(2025 - 01 - 03)));
    assert!(matches!(
        kz().day_off(date!(2025 - 01 - 03)),
        Some(DayOff::Transferred(_))
    ));
}

#[test]
fn saturday_4_may_2024_was_worked_and_wednesday_8_may_2024_was_off() {
    assert!(kz().is_working_day(date!(2024 - 05 - 04)));
    assert!(!kz().is_working_day(date!(2024 - 05 - 08)));
}

#[test]
fn kurban_ait_on_sunday_16_june_2024_is_not_carried_over() {
    assert!(
        matches!(kz().day_off(date!(2024-06-16)), Some(DayOff::Holiday(h)) if h.kind == HolidayKind::Religious)
    );
    assert!(kz().is_working_day(date!(2024 - 06 - 17)));
}

#[test]
fn nauryz_2026_on_a_weekend_carries_over_to_24_and_25_march() {
    for d in [
        date!(2026 - 03 - 23),
        date!(2026 - 03 - 24),
        date!(2026 - 03 - 25),
    ] {
        assert!(!kz().is_working_day(d), "{d}");
    }
    assert!(kz().is_working_day(date!(2026 - 03 - 26)));
}

#[test]
fn constitution_day_is_no_day_off_in_2026_and_is_15_march_from_2027() {
    // 30 Aug 2026 is a Sunday; calendars printed before the referendum showed Monday 31 Aug off.
    assert!(kz().is_working_day(date!(2026 - 08 - 31)));
    assert!(!kz().is_working_day(date!(2027 - 03 - 15)));
    assert!(kz().is_working_day(date!(2027 - 08 - 30)));
}

#[test]
fn weekday_days_off_of_2025_and_2026_are_exactly_the_published_ones() {
    // dependencies.md §2.6, from the Ministry of Labour's production calendars.
    let published_2025 = [
        date!(2025 - 01 - 01),
        date!(2025 - 01 - 02),
        date!(2025 - 01 - 03),
        date!(2025 - 01 - 07),
        date!(2025 - 03 - 10),
        date!(2025 - 03 - 21),
        date!(2025 - 03 - 24),
        date!(2025 - 03 - 25),
        date!(2025 - 05 - 01),
        date!(2025 - 05 - 07),
        date!(2025 - 05 - 09),
        date!(2025 - 06 - 06),
        date!(2025 - 07 - 07),
        date!(2025 - 09 - 01),
        date!(2025 - 10 - 27),
        date!(2025 - 12 - 16),
    ];
    let published_2026 = [
        date!(2026 - 01 - 01),
        date!(2026 - 01 - 02),
        date!(2026 - 01 - 07),
        date!(2026 - 03 - 09),
        date!(2026 - 03 - 23),
        date!(2026 - 03 - 24),
        date!(2026 - 03 - 25),
        date!(2026 - 05 - 01),
        date!(2026 - 05 - 07),
        date!(2026 - 05 - 11),
        date!(2026 - 05 - 27),
        date!(2026 - 07 - 06),
        date!(2026 - 10 - 26),
        date!(2026 - 12 - 16),
    ];
    for (year, published) in [(2025, &published_2025[..]), (2026, &published_2026[..])] {
        let mut d = Date::from_calendar_date(year, Month::January, 1).unwrap();
        let mut ours = Vec::new();
        while d.year() == year {
            if !is_weekend(d) && !kz().is_working_day(d) {
                ours.push(d);
            }
            d = d.next_day().unwrap();
        }
        assert_eq!(ours, published, "{year}");
    }
    let weekend_worked: Vec<_> = kz().transfers().iter().map(|t| t.working_day).collect();
    assert_eq!(
        weekend_worked,
        [date!(2024 - 05 - 04), date!(2025 - 01 - 05)]
    );
}

// ---- working days ----

#[test]
fn five_working_days_from_20_march_2025_skip_nauryz() {
    // 21 Mar Nauryz, 22–23 weekend (Nauryz), 24–25 carried over: 26, 27, 28, 31 Mar, 1 Apr.
    let due = kz().due(
        datetime!(2025-03-20 10:00),
        term(5, DurationUnit::WorkingDays),
        &OfficeHours::provider(),
    );
    assert_eq!(due, Ok(Due::Day(date!(2025 - 04 - 01))));
}

#[test]
fn one_working_day_from_2_january_2025_is_the_worked_sunday_5_january() {
    assert_eq!(
        kz().add_working_days(date!(2025 - 01 - 02), 1),
        Ok(date!(2025 - 01 - 05))
    );
}

#[test]
fn one_working_day_from_new_years_eve_2025_is_monday_5_january_2026() {
    assert_eq!(
        kz().add_working_days(date!(2025 - 12 - 31), 1),
        Ok(date!(2026 - 01 - 05))
    );
}

#[test]
fn one_working_day_before_kurban_ait_2025_lands_on_monday_9_june() {
    assert_eq!(
        kz().add_working_days(date!(2025 - 06 - 05), 1),
        Ok(date!(2025 - 06 - 09))
    );
}

#[test]
fn one_working_day_from_friday_3_may_2024_is_the_worked_saturday() {
    assert_eq!(
        kz().add_working_days(date!(2024 - 05 - 03), 1),
        Ok(date!(2024 - 05 - 04))
    );
    assert_eq!(
        kz().add_working_days(date!(2024 - 05 - 06), 1),
        Ok(date!(2024 - 05 - 10))
    );
}

#[test]
fn the_start_day_never_counts_even_when_it_is_a_working_day() {
    assert_eq!(
        kz().add_working_days(date!(2025 - 02 - 03), 1),
        Ok(date!(2025 - 02 - 04))
    );
    assert_eq!(
        kz().add_working_days(date!(2025 - 02 - 08), 1),
        Ok(date!(2025 - 02 - 10))
    );
}

#[test]
fn zero_working_days_is_the_first_working_day_on_or_after_the_start() {
    assert_eq!(
        kz().add_working_days(date!(2025 - 02 - 04), 0),
        Ok(date!(2025 - 02 - 04))
    );
    assert_eq!(
        kz().add_working_days(date!(2025 - 03 - 21), 0),
        Ok(date!(2025 - 03 - 26))
    );
}

// ---- calendar days and months ----

#[test]
fn ten_calendar_days_landing_on_nauryz_2025_move_to_26_march() {
    assert_eq!(
        kz().add_calendar_days(date!(2025 - 03 - 11), 10),
        Ok(date!(2025 - 03 - 26))
    );
    assert_eq!(
        kz().add_calendar_days(date!(2025 - 03 - 11), 1),
        Ok(date!(2025 - 03 - 12))
    );
}

#[test]
fn a_month_from_31_january_ends_on_the_last_day_of_february() {
    assert_eq!(
        kz().add_months(date!(2025 - 01 - 31), 1),
        Ok(date!(2025 - 02 - 28))
    );
    // 28 Feb 2026 is a Saturday.
    assert_eq!(
        kz().add_months(date!(2026 - 01 - 31), 1),
        Ok(date!(2026 - 03 - 02))
    );
    // 29 Feb 2024 exists.
    assert_eq!(
        kz().add_months(date!(2024 - 01 - 31), 1),
        Ok(date!(2024 - 02 - 29))
    );
}

#[test]
fn a_month_landing_on_8_march_2025_moves_past_the_carried_over_monday() {
    assert_eq!(
        kz().add_months(date!(2025 - 02 - 08), 1),
        Ok(date!(2025 - 03 - 11))
    );
}

#[test]
fn months_cross_the_year_end() {
    assert_eq!(
        kz().add_months(date!(2025 - 11 - 15), 3),
        Ok(date!(2026 - 02 - 16))
    );
    assert_eq!(
        kz().add_months(date!(2024 - 06 - 10), 12),
        Ok(date!(2025 - 06 - 10))
    );
}

// ---- working minutes ----

#[test]
fn minutes_left_at_closing_continue_after_nauryz_2025() {
    let due = kz().add_working_minutes(datetime!(2025-03-20 17:45), 30, &OfficeHours::provider());
    assert_eq!(due, Ok(datetime!(2025-03-26 09:15)));
}

#[test]
fn a_start_in_the_lunch_break_counts_from_14_00() {
    let due = kz().add_working_minutes(datetime!(2025-03-19 13:20), 60, &OfficeHours::provider());
    assert_eq!(due, Ok(datetime!(2025-03-19 15:00)));
}

#[test]
fn a_start_before_opening_counts_from_09_00() {
    let due = kz().add_working_minutes(datetime!(2025-03-19 07:00), 15, &OfficeHours::provider());
    assert_eq!(due, Ok(datetime!(2025-03-19 09:15)));
}

#[test]
fn a_term_ending_when_lunch_starts_is_due_at_13_00() {
    let due = kz().add_working_minutes(datetime!(2025-03-19 12:00), 60, &OfficeHours::provider());
    assert_eq!(due, Ok(datetime!(2025-03-19 13:00)));
}

#[test]
fn minutes_filed_on_saturday_4_january_2025_run_on_the_worked_sunday() {
    let due = kz().due(
        datetime!(2025-01-04 10:00),
        term(15, DurationUnit::WorkingMinutes),
        &OfficeHours::state_corporation(),
    );
    assert_eq!(due, Ok(Due::Moment(datetime!(2025-01-05 09:15))));
}

#[test]
fn a_state_corporation_day_has_660_minutes() {
    let due = kz().add_working_minutes(
        datetime!(2026-02-02 09:00),
        660,
        &OfficeHours::state_corporation(),
    );
    assert_eq!(due, Ok(datetime!(2026-02-02 20:00)));
    let due = kz().add_working_minutes(
        datetime!(2026-02-02 09:00),
        661,
        &OfficeHours::state_corporation(),
    );
    assert_eq!(due, Ok(datetime!(2026-02-03 09:01)));
}

// ---- coverage ----

#[test]
fn terms_running_past_the_covered_years_are_errors() {
    assert!(matches!(
        kz().add_working_days(date!(2027 - 12 - 28), 5),
        Err(CalendarError::NotCovered { .. })
    ));
    assert!(matches!(
        kz().add_working_days(date!(2023 - 12 - 29), 1),
        Err(CalendarError::NotCovered { .. })
    ));
    assert!(matches!(
        kz().add_months(date!(2027 - 06 - 01), 12),
        Err(CalendarError::NotCovered { .. })
    ));
    assert!(matches!(
        kz().add_calendar_days(date!(2027 - 06 - 01), u32::MAX),
        Err(CalendarError::NotCovered { .. })
    ));
    assert!(matches!(
        kz().add_months(date!(2027 - 06 - 01), u32::MAX),
        Err(CalendarError::NotCovered { .. })
    ));
    let err = kz().add_working_days(date!(2027 - 12 - 28), 5).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the term needs 2028-01-01, outside the calendar's years 2024–2027"
    );
}

#[test]
fn due_prints_dates_and_minutes_as_the_csv_wants() {
    assert_eq!(Due::Day(date!(2025 - 04 - 01)).to_string(), "2025-04-01");
    assert_eq!(
        Due::Moment(datetime!(2025-03-26 09:15)).to_string(),
        "2025-03-26T09:15"
    );
}

// ---- the file format ----

const MINIMAL: &str = r#"year = 2025

[[holiday]]
date = 2025-03-08
kind = "state"
kk = "Халықаралық әйелдер күні"
ru = "Международный женский день"
en = "International Women's Day"
source = "Law 267-II"

[[carried_over]]
date = 2025-03-10
holiday = 2025-03-08
source = "Law 267-II"
"#;

fn parse_err(name: &str, text: &str) -> (String, usize, String) {
    match Calendar::from_year_files([(name, text)]) {
        Err(CalendarError::File {
            file,
            line,
            message,
        }) => (file, line, message),
        other => panic!("expected a file error, got {other:?}"),
    }
}

#[test]
fn a_minimal_year_file_parses() {
    let cal = Calendar::from_year_files([("calendar/2025.toml", MINIMAL)]).unwrap();
    assert!(!cal.is_working_day(date!(2025 - 03 - 10)));
    assert_eq!(cal.holidays()[0].names.en, "International Women's Day");
}

#[test]
fn a_wrong_carry_over_day_is_reported_with_file_and_line() {
    let text = MINIMAL.replace("date = 2025-03-10", "date = 2025-03-11");
    let (file, line, message) = parse_err("2025.toml", &text);
    assert_eq!((file.as_str(), line), ("2025.toml", 12));
    assert!(message.contains("carries over to 2025-03-10"), "{message}");
}

#[test]
fn a_missing_carry_over_names_the_holiday_line() {
    let text = &MINIMAL[..MINIMAL.find("[[carried_over]]").unwrap()];
    let (_, line, message) = parse_err("2025.toml", text);
    assert!((3..=9).contains(&line), "line {line}");
    assert!(
        message.contains("add a [[carried_over]] entry with date = 2025-03-10"),
        "{message}"
    );
}

#[test]
fn a_carried_over_religious_day_is_rejected() {
    let text = "year = 2024\n\n[[holiday]]\ndate = 2024-06-16\nkind = \"religious\"\nkk = \"Құрбан айт\"\nru = \"Курбан айт\"\nen = \"Kurban Ait\"\nsource = \"Law 267-II\"\n\n[[carried_over]]\ndate = 2024-06-17\nholiday = 2024-06-16\nsource = \"x\"\n";
    let (_, line, message) = parse_err("2024.toml", text);
    assert_eq!(line, 13);
    assert!(message.contains("not carried over"), "{message}");
}

#[test]
fn unknown_fields_kinds_and_misnamed_files_are_rejected_with_their_line() {
    let (_, line, message) = parse_err(
        "2025.toml",
        &MINIMAL.replace("kind = \"state\"", "kind = \"festive\""),
    );
    assert_eq!(line, 5);
    assert!(message.contains("unknown holiday kind"), "{message}");

    let (_, line, message) = parse_err(
        "2025.toml",
        &MINIMAL.replace("source = \"Law 267-II\"\n\n[[c", "sorce = \"x\"\n\n[[c"),
    );
    assert_eq!(line, 9, "{message}");

    let (_, line, message) = parse_err("2026.toml", MINIMAL);
    assert_eq!(line, 1);
    assert!(message.contains("must be named 2025.toml"), "{message}");

    let (_, line, message) = parse_err(
        "2025.toml",
        &MINIMAL.replace("date = 2025-03-08", "date = 2024-03-08"),
    );
    assert_eq!(line, 4);
    assert!(message.contains("not in the file's year"), "{message}");
}

#[test]
fn a_transfer_must_make_a_weekend_day_a_working_day() {
    let text = format!(
        "{MINIMAL}\n[[transfer]]\nday_off = 2025-01-03\nworking_day = 2025-01-06\nsource = \"x\"\n"
    );
    let (_, line, message) = parse_err("2025.toml", &text);
    assert_eq!(line, 18);
    assert!(message.contains("not a Saturday or Sunday"), "{message}");
}

#[test]
fn the_same_year_twice_is_rejected() {
    let err = Calendar::from_year_files([("a/2025.toml", MINIMAL), ("b/2025.toml", MINIMAL)])
        .unwrap_err();
    assert!(matches!(
        err,
        CalendarError::DuplicateYear { year: 2025, .. }
    ));
    assert_eq!(Calendar::from_year_files([]), Err(CalendarError::NoYears));
}

// ---- properties ----

fn covered_day() -> impl Strategy<Value = Date> {
    // 2024-01-01 plus up to ~3 years, leaving room for the terms below inside 2027.
    (0i64..1095).prop_map(|n| date!(2024 - 01 - 01) + Duration::days(n))
}

fn office_moment() -> impl Strategy<Value = PrimitiveDateTime> {
    (covered_day(), 0u8..24, 0u8..60)
        .prop_map(|(d, h, m)| PrimitiveDateTime::new(d, time::Time::from_hms(h, m, 0).unwrap()))
}

fn some_hours() -> impl Strategy<Value = OfficeHours> {
    prop_oneof![
        Just(OfficeHours::provider()),
        Just(OfficeHours::state_corporation())
    ]
}

proptest! {
    #[test]
    fn working_days_land_on_a_working_day_after_the_start(d in covered_day(), n in 1u32..120) {
        let due = kz().add_working_days(d, n).unwrap();
        prop_assert!(kz().is_working_day(due));
        prop_assert!(due > d);
    }

    #[test]
    fn working_days_are_monotone_in_n_and_in_start(d in covered_day(), gap in 0i64..20, n in 1u32..100) {
        let later = d + Duration::days(gap);
        prop_assert!(kz().add_working_days(d, 0).unwrap() <= kz().add_working_days(d, 1).unwrap());
        prop_assert!(kz().add_working_days(d, n).unwrap() < kz().add_working_days(d, n + 1).unwrap());
        prop_assert!(kz().add_working_days(d, n).unwrap() <= kz().add_working_days(later, n).unwrap());
    }

    #[test]
    fn working_days_add_up(d in covered_day(), n in 1u32..60, m in 0u32..60) {
        let stepwise = kz().add_working_days(kz().add_working_days(d, n).unwrap(), m).unwrap();
        prop_assert_eq!(stepwise, kz().add_working_days(d, n + m).unwrap());
    }

    #[test]
    fn calendar_days_and_months_land_on_working_days_monotonically(
        d in (0i64..730).prop_map(|n| date!(2024-01-01) + Duration::days(n)), gap in 0i64..40, n in 0u32..12,
    ) {
        let later = d + Duration::days(gap);
        for add in [Calendar::add_calendar_days, Calendar::add_months] {
            let due = add(kz(), d, n).unwrap();
            prop_assert!(kz().is_working_day(due));
            prop_assert!(due >= d);
            prop_assert!(due <= add(kz(), d, n + 1).unwrap());
            prop_assert!(due <= add(kz(), later, n).unwrap());
        }
    }

    #[test]
    fn working_minutes_end_inside_office_hours_on_a_working_day(
        start in office_moment(), n in 0u32..5000, hours in some_hours(),
    ) {
        let due = kz().add_working_minutes(start, n, &hours).unwrap();
        prop_assert!(kz().is_working_day(due.date()));
        prop_assert!(hours.contains(due.time()), "{} outside {}", due, hours);
        prop_assert!(due >= start);
    }

    #[test]
    fn working_minutes_are_monotone_and_add_up(
        start in office_moment(), gap in 0i64..3000, n in 1u32..2000, m in 1u32..2000, hours in some_hours(),
    ) {
        let add = |s, k| kz().add_working_minutes(s, k, &hours).unwrap();
        prop_assert!(add(start, n) < add(start, n + 1));
        prop_assert!(add(start, n) <= add(start + Duration::minutes(gap), n));
        prop_assert_eq!(add(add(start, n), m), add(start, n + m));
    }
}
