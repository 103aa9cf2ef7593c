use time::macros::date;

use super::*;
use crate::access::Role;
use crate::duration::{DurationUnit, Term};

/// A small valid definition: one office channel through a shared procedure, one variant.
/// Line numbers in the tests below refer to this text (line 1 is `id = "S99"`).
const VALID: &str = r#"id = "S99"
slug = "test-service"
region = "almaty_city"

[names]
kk = "Сынақ"
ru = "Тест"
en = "Test"

[provider]
kk = "Білім басқармасы"
ru = "Управление образования"
en = "Education department"

[[sources]]
seed = "000"
part = "R1"
clauses = "§5–8"

[status]
act = "Decree No. 1"
adopted_on = 2015-08-07
repealed_on = 2020-09-29
repealed_by = "Decree No. 2"

[documents]
default = true
source = "п. 9 of the Standard, not in the seeds"

[[refusal_grounds]]
id = "standard-p10"
default = true
source = "п. 10 of the Standard"
names = { kk = "10-тармақ", ru = "Пункт 10", en = "Item 10" }

[[results]]
kind = "queue_notification"
cites = "000 R1 §3"
names = { kk = "Хабарлама", ru = "Уведомление", en = "Notification" }

[[results]]
kind = "motivated_refusal"
cites = "000 R1 §3"
names = { kk = "Бас тарту", ru = "Отказ", en = "Refusal" }

[procedures.provider]

[[procedures.provider.steps]]
id = "register"
performer = "clerk"
action = "Registers the application"
duration = { amount = 5, unit = "working_minutes" }
cites = "000 R1 §8(1)"

[[procedures.provider.steps]]
id = "decide"
performer = "specialist"
action = "Draws up the result"
duration = { amount = 20, unit = "working_minutes" }
may_refuse = ["standard-p10"]
cites = "000 R1 §8(3)"

[[channels]]
id = "office"
kind = "provider_office"

[[channels.steps]]
procedure = "provider"

[[channels]]
id = "gc"
kind = "state_corporation"

[[channels.steps]]
id = "gc-intake"
performer = "operator"
action = "Accepts the documents"
duration = { amount = 15, unit = "working_minutes" }
cites = "000 R1 §10"

[[channels.steps]]
procedure = "provider"

[[variants]]
id = "region"
region = "almaty_region"

[variants.status]
act = "Decree No. 3"
adopted_on = 2015-07-17

[[variants.overrides]]
step = "decide"
duration = { amount = 10, unit = "working_minutes" }
cites = "001 R15 §5(3)"
"#;

fn problems(text: &str) -> Vec<(usize, String)> {
    match parse_service("t.toml", text) {
        Ok(_) => Vec::new(),
        Err(DefinitionErrors(ps)) => {
            assert!(
                ps.iter().all(|p| p.file == "t.toml"),
                "every problem names the file"
            );
            ps.into_iter().map(|p| (p.line, p.message)).collect()
        }
    }
}

/// Asserts that some problem on `line` contains `needle`.
fn assert_problem(ps: &[(usize, String)], line: usize, needle: &str) {
    assert!(
        ps.iter().any(|(l, m)| *l == line && m.contains(needle)),
        "expected a problem on line {line} containing {needle:?}, got {ps:#?}"
    );
}

fn line_containing(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in fixture")
        + 1
}

#[test]
fn valid_definition_expands_procedures_into_each_channel() {
    let def = parse_service("t.toml", VALID).expect("valid");
    assert_eq!(def.id, "S99");
    let office = def.base.channel("office").expect("office");
    let ids: Vec<_> = office.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["register", "decide"]);
    let gc = def.base.channel("gc").expect("gc");
    let ids: Vec<_> = gc.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["gc-intake", "register", "decide"]);
    assert_eq!(office.steps[0].performer, Performer::Role(Role::Clerk));
    assert_eq!(office.steps[1].may_refuse, ["standard-p10"]);
    assert_eq!(
        office.steps[0].line,
        line_containing(VALID, "id = \"register\"") - 1
    );
}

#[test]
fn variant_override_changes_the_step_in_every_channel_of_that_region_only() {
    let def = parse_service("t.toml", VALID).expect("valid");
    let region = def
        .edition_for(Region::AlmatyRegion, None)
        .expect("region edition");
    assert_eq!(region.variant.as_deref(), Some("region"));
    for c in &region.channels {
        let decide = c.steps.iter().find(|s| s.id == "decide").expect("decide");
        assert_eq!(
            decide.duration,
            Some(Term {
                amount: 10,
                unit: DurationUnit::WorkingMinutes
            })
        );
        assert_eq!(decide.cites, "001 R15 §5(3)");
    }
    let city = def
        .edition_for(Region::AlmatyCity, None)
        .expect("city edition");
    let decide = &city.channel("office").expect("office").steps[1];
    assert_eq!(
        decide.duration,
        Some(Term {
            amount: 20,
            unit: DurationUnit::WorkingMinutes
        })
    );
    assert!(
        def.edition_for(Region::Astana, None).is_none(),
        "no Astana text, no Astana edition"
    );
}

#[test]
fn edition_for_a_date_picks_the_text_in_force() {
    let def = parse_service("t.toml", VALID).expect("valid");
    assert!(
        def.edition_for(Region::AlmatyCity, Some(date!(2016 - 01 - 01)))
            .is_some()
    );
    assert!(
        def.edition_for(Region::AlmatyCity, Some(date!(2014 - 01 - 01)))
            .is_none()
    );
    assert!(
        def.edition_for(Region::AlmatyCity, Some(date!(2020 - 09 - 29)))
            .is_none()
    );
}

#[test]
fn unknown_role_and_unit_are_reported_on_their_lines_together() {
    let text = VALID
        .replace("performer = \"clerk\"", "performer = \"janitor\"")
        .replace(
            "amount = 15, unit = \"working_minutes\"",
            "amount = 15, unit = \"weeks\"",
        );
    let ps = problems(&text);
    assert_problem(
        &ps,
        line_containing(&text, "janitor"),
        "unknown performer `janitor`",
    );
    assert_problem(
        &ps,
        line_containing(&text, "weeks"),
        "unknown duration unit `weeks`",
    );
}

#[test]
fn duplicate_step_ids_are_reported_at_the_second_definition() {
    let text = VALID.replace("id = \"gc-intake\"", "id = \"register\"");
    let ps = problems(&text);
    let second = line_containing(&text, "performer = \"operator\"") - 2;
    assert_problem(&ps, second, "duplicate step id `register`");
}

#[test]
fn override_of_a_missing_step_names_the_variant_and_the_step() {
    let text = VALID.replace("step = \"decide\"", "step = \"approve\"");
    let ps = problems(&text);
    let line = line_containing(&text, "[[variants.overrides]]");
    assert_problem(
        &ps,
        line,
        "variant `region` overrides step `approve`, which does not exist",
    );
}

#[test]
fn missing_language_in_names_is_reported_at_the_names_table() {
    let text = VALID.replace("kk = \"Сынақ\"\n", "");
    let ps = problems(&text);
    assert_problem(
        &ps,
        line_containing(&text, "[names]"),
        "names: missing `kk` name",
    );
}

#[test]
fn refusal_ground_without_a_refusing_step_is_reported() {
    let text = VALID.replace("may_refuse = [\"standard-p10\"]\n", "");
    let ps = problems(&text);
    assert_problem(
        &ps,
        line_containing(&text, "[[refusal_grounds]]"),
        "refusal ground `standard-p10` is used by no step",
    );
    let refusal = line_containing(&text, "kind = \"motivated_refusal\"") - 1;
    assert_problem(
        &ps,
        refusal,
        "result `motivated_refusal` is listed, but no step may refuse",
    );
}

#[test]
fn refusing_on_an_undefined_ground_is_reported_at_the_step() {
    let text = VALID.replace(
        "may_refuse = [\"standard-p10\"]",
        "may_refuse = [\"standard-p10\", \"bad-mood\"]",
    );
    let ps = problems(&text);
    let step = line_containing(&text, "id = \"decide\"") - 1;
    assert_problem(
        &ps,
        step,
        "may refuse on `bad-mood`, which is not in `[[refusal_grounds]]`",
    );
}

#[test]
fn empty_channel_and_unknown_procedure_are_reported() {
    let text = VALID.replacen(
        "[[channels.steps]]\nprocedure = \"provider\"",
        "[[channels.steps]]\nprocedure = \"nope\"",
        1,
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        line_containing(&text, "procedure = \"nope\"") - 1,
        "unknown procedure `nope`",
    );
    assert_problem(
        &ps,
        line_containing(&text, "id = \"office\"") - 1,
        "channel `office` has no steps",
    );
}

#[test]
fn a_definition_without_channels_is_rejected() {
    let cut = VALID.find("[[channels]]").expect("channels");
    let vstart = VALID.find("[[variants]]").expect("variants");
    let text = format!("{}{}", &VALID[..cut], &VALID[vstart..]);
    let ps = problems(&text);
    assert_problem(&ps, 1, "no channels");
    assert_problem(
        &ps,
        line_containing(&text, "[procedures.provider]"),
        "procedure `provider` is used by no channel",
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = VALID
        .replace("performer = \"clerk\"", "performer = \"janitor\"")
        .replace("performer = \"operator\"", "performer = \"cashier\"")
        .replace("kind = \"state_corporation\"", "kind = \"post_office\"")
        .replace("cites = \"000 R1 §10\"", "cites = \"R1 §10\"")
        .replace("step = \"decide\"", "step = \"approve\"");
    let ps = problems(&text);
    assert!(ps.len() >= 5, "five separate problems, got {ps:#?}");
    assert_problem(
        &ps,
        line_containing(&text, "post_office"),
        "unknown channel kind `post_office`",
    );
    assert_problem(
        &ps,
        line_containing(&text, "\"R1 §10\""),
        "`cites` must start with the seed file code",
    );
}

#[test]
fn syntax_and_unknown_keys_report_their_line() {
    let text = VALID.replace(
        "action = \"Accepts the documents\"",
        "actoin = \"Accepts the documents\"",
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        line_containing(&text, "actoin"),
        "unknown field `actoin`",
    );
    let text = VALID.replace("slug = \"test-service\"", "slug = test-service");
    let ps = problems(&text);
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].0, 2);
}

#[test]
fn zero_or_negative_durations_are_rejected() {
    let text = VALID.replace("amount = 20,", "amount = 0,");
    let ps = problems(&text);
    assert_problem(
        &ps,
        line_containing(&text, "amount = 0,"),
        "positive whole number",
    );
}

#[test]
fn dropping_a_channel_the_base_lacks_is_reported() {
    let text = VALID.replace(
        "region = \"almaty_region\"\n",
        "region = \"almaty_region\"\ndrop_channels = [\"portal\"]\n",
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        line_containing(&text, "drop_channels"),
        "drops channel `portal`",
    );
}

#[test]
fn line_of_counts_from_one() {
    assert_eq!(line_of("a\nb\nc", 0), 1);
    assert_eq!(line_of("a\nb\nc", 2), 2);
    assert_eq!(line_of("a\nb\nc", 99), 3);
}

#[test]
fn named_only_list_requires_russian_and_english_but_not_kazakh() {
    let text = r#"[[services]]
id = "S7"
region = "almaty_region"
names = { ru = "Подвоз", en = "Transport" }
source = { seed = "001", part = "R5", clauses = "decree item 1" }
status = { act = "Decree No. 321", repealed_on = 2019-01-28, repealed_by = "Decree No. 42" }

[[services]]
id = "S16"
region = "almaty_region"
names = { en = "Grant" }
source = { seed = "001", part = "R14", clauses = "decree item 1" }
status = { act = "Decree No. 321" }
"#;
    let err = parse_named_only("n.toml", text).expect_err("S16 lacks ru");
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].line, 11);
    assert!(err.0[0].message.contains("missing `ru`"));
}

#[test]
fn milestones_must_come_in_their_fixed_order_along_a_channel() {
    let text = VALID
        .replace(
            "cites = \"000 R1 §8(1)\"",
            "closes = \"issue\"\ncites = \"000 R1 §8(1)\"",
        )
        .replace(
            "cites = \"000 R1 §8(3)\"",
            "closes = \"preparation\"\ncites = \"000 R1 §8(3)\"",
        );
    let ps = problems(&text);
    let decide = line_containing(&text, "id = \"decide\"") - 1;
    assert_problem(
        &ps,
        decide,
        "step `decide` closes `preparation`, but `register` before it",
    );
    let text = VALID.replace(
        "cites = \"000 R1 §8(1)\"",
        "closes = \"lunch\"\ncites = \"000 R1 §8(1)\"",
    );
    assert_problem(
        &problems(&text),
        line_containing(&text, "lunch"),
        "unknown milestone `lunch`",
    );
}

#[test]
fn a_region_with_a_full_definition_cannot_also_be_named_only() {
    let def = parse_service("t.toml", VALID).expect("valid");
    let named = parse_named_only(
        "n.toml",
        r#"[[services]]
id = "S99"
region = "almaty_region"
names = { ru = "Тест", en = "Test" }
source = { seed = "001", part = "R1", clauses = "title" }
status = { act = "Decree No. 321" }

[[services]]
id = "S99"
region = "astana"
names = { ru = "Тест", en = "Test" }
source = { seed = "004", clauses = "title" }
status = { act = "Decree" }
"#,
    )
    .expect("valid list");
    let ps = check_catalog(&[def.clone(), def], &named);
    let messages: Vec<_> = ps.iter().map(|p| (p.line, p.message.as_str())).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages
            .iter()
            .any(|(_, m)| m.contains("`S99` is already defined in t.toml"))
    );
    assert!(
        messages
            .iter()
            .any(|(l, m)| *l == 1 && m.contains("almaty_region is listed as named only"))
    );
}

// ---------------------------------------------------------------------------------------------
// Deadlines of whole paths on the real calendar

use crate::calendar::{Calendar, Due};
use time::macros::datetime;

fn kz_2025() -> Calendar {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../catalog/calendar/2025.toml"
    ));
    Calendar::from_year_files([("2025.toml", text)]).expect("shipped 2025 calendar")
}

fn s2() -> ServiceDefinition {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../catalog/services/S2-preschool-enrolment.toml"
    ));
    parse_service("S2-preschool-enrolment.toml", text).expect("shipped S2")
}

fn s1() -> ServiceDefinition {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../catalog/services/S1-preschool-queue.toml"
    ));
    parse_service("S1-preschool-queue.toml", text).expect("shipped S1")
}

#[test]
fn enrolment_filed_late_on_friday_8_march_weekend_finishes_on_tuesday() {
    // 001 R16: 5+5+10+5+5 provider minutes. Friday 7 March 2025 17:50: ten minutes that day;
    // Saturday 8 March (Women's Day) carries over to Monday 10 March, so the rest is Tuesday.
    let def = s2();
    let edition = def.edition("almaty-region").expect("region edition");
    let d = effective_deadline(
        edition,
        "office",
        datetime!(2025-03-07 17:50),
        &kz_2025(),
        &PathHours::default(),
    )
    .expect("within the calendar");
    let dues: Vec<_> = d
        .steps
        .iter()
        .map(|(_, due)| due.map(|x| x.to_string()))
        .collect();
    assert_eq!(
        dues,
        [
            "2025-03-07T17:55",
            "2025-03-07T18:00",
            "2025-03-11T09:10",
            "2025-03-11T09:15",
            "2025-03-11T09:20"
        ]
        .map(|s| Some(s.to_owned()))
    );
    assert_eq!(d.due, Some(Due::Moment(datetime!(2025-03-11 09:20))));
}

#[test]
fn astana_con_channel_chains_minutes_three_working_days_and_skips_kurban_ait() {
    // 004 App.3 T2: 30+1+1+1+10 minutes, 3 days, then 1-minute actions and the ЦОН's 15 minutes.
    // Monday 2 June 2025 10:00 → decision due Thursday 5 June; Friday 6 June is Kurban Ait, so
    // the remaining actions run on Monday 9 June from opening.
    let def = s1();
    let edition = def.edition("astana-2012").expect("Astana edition");
    let d = effective_deadline(
        edition,
        "con",
        datetime!(2025-06-02 10:00),
        &kz_2025(),
        &PathHours::default(),
    )
    .expect("within the calendar");
    let decision = d
        .steps
        .iter()
        .find(|(id, _)| id == "con-a6")
        .and_then(|(_, due)| *due);
    assert_eq!(
        decision,
        Some(Due::Day(time::macros::date!(2025 - 06 - 05)))
    );
    assert_eq!(d.due, Some(Due::Moment(datetime!(2025-06-09 09:22))));
}

#[test]
fn steps_without_terms_add_nothing_and_unknown_channels_are_errors() {
    let def = s1();
    let portal = effective_deadline(
        &def.base,
        "portal",
        datetime!(2025-06-02 10:00),
        &kz_2025(),
        &PathHours::default(),
    )
    .expect("portal path");
    assert!(
        portal.steps.iter().all(|(_, due)| due.is_none()),
        "000 R1's portal flow gives no terms"
    );
    assert_eq!(portal.due, None);
    let err = effective_deadline(
        &def.base,
        "fax",
        datetime!(2025-06-02 10:00),
        &kz_2025(),
        &PathHours::default(),
    );
    assert_eq!(err, Err(DeadlineError::UnknownChannel("fax".to_owned())));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever line is removed from a valid file, parsing never panics and every problem
        /// points at a line of the damaged file.
        #[test]
        fn removing_any_line_gives_a_definition_or_problems_on_real_lines(n in 0usize..120) {
            let lines: Vec<&str> = VALID.lines().collect();
            let n = n % lines.len();
            let damaged: String = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != n)
                .map(|(_, l)| format!("{l}\n"))
                .collect();
            if let Err(DefinitionErrors(ps)) = parse_service("t.toml", &damaged) {
                prop_assert!(!ps.is_empty());
                let count = damaged.lines().count();
                for p in ps {
                    prop_assert!(p.line >= 1 && p.line <= count + 1, "{p} outside 1..={count}");
                }
            }
        }

        /// Adding minutes to a step never makes the path due earlier.
        #[test]
        fn a_longer_step_never_makes_the_path_due_earlier(extra in 0u32..2000, hour in 0u8..24) {
            let def = s2();
            let mut longer = def.base.clone();
            let step = &mut longer.channels[0].steps[1];
            let term = step.duration.expect("S2 steps have terms");
            step.duration = Some(Term { amount: term.amount + extra, ..term });
            let start = time::PrimitiveDateTime::new(
                time::macros::date!(2025 - 03 - 05),
                time::Time::from_hms(hour, 0, 0).expect("valid hour"),
            );
            let cal = kz_2025();
            let hours = PathHours::default();
            let a = effective_deadline(&def.base, "office", start, &cal, &hours).expect("2025");
            let b = effective_deadline(&longer, "office", start, &cal, &hours).expect("2025");
            prop_assert!(a.due <= b.due);
        }
    }
}

#[test]
fn a_base_problem_is_reported_once_and_a_variant_problem_names_the_variant() {
    // The base refuses on a ground it does not list: reported once, not again for the variant.
    let text = VALID.replace(
        "may_refuse = [\"standard-p10\"]",
        "may_refuse = [\"standard-p10\", \"bad-mood\"]",
    );
    let ps = problems(&text);
    let bad: Vec<_> = ps.iter().filter(|(_, m)| m.contains("bad-mood")).collect();
    assert_eq!(bad.len(), 1, "{ps:#?}");
    assert!(!bad[0].1.contains("variant"));
    // A variant that replaces the refusing step's procedure leaves the base's ground unused.
    let text = VALID.replace(
        "[[variants.overrides]]",
        "[variants.procedures.provider]\n\n[[variants.procedures.provider.steps]]\nid = \"r-only\"\nperformer = \"head\"\naction = \"Decides\"\ncites = \"001 R15 §5\"\n\n[[variants.overrides]]",
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        line_containing(&text, "[[refusal_grounds]]"),
        "used by no step that may refuse (variant `region`)",
    );
}
