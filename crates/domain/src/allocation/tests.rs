//! Allocation tests: the issue's edge cases, the parser's messages, the checker's findings and
//! property tests against a brute-force enumeration of all stable matchings.

use proptest::prelude::*;
use time::Date;
use time::macros::date;

use super::engine::Allocation;
use super::model::NONE;
use super::*;

const REFERENCE: Date = date!(2025 - 09 - 01);
/// Born here, a child is 2 on the reference date (band "2-3").
const AGE_2: Date = date!(2022 - 12 - 01);
/// Born here, a child is 3 on the reference date (band "3-4").
const AGE_3: Date = date!(2021 - 12 - 01);
/// Born here, a child is 0 on the reference date: no band, no part in the round.
const AGE_0: Date = date!(2024 - 12 - 01);

fn bands() -> Vec<Band> {
    vec![
        Band::new("2-3", 2, 3).unwrap(),
        Band::new("3-4", 3, 4).unwrap(),
    ]
}

fn rules(ranking: Ranking, reserve: Option<ReservePolicy>) -> RoundRules {
    let mut rules = RoundRules::new(REFERENCE, bands()).unwrap();
    rules.ranking = ranking;
    rules.reserve = reserve;
    rules
}

#[derive(Debug, Clone)]
struct Kid {
    birth: Date,
    lang: Language,
    t: i64,
    no: u64,
    prio: u8,
    sibling: Option<u64>,
    prefs: Vec<u64>,
}

fn kid(no: u64, prefs: &[u64]) -> Kid {
    Kid {
        birth: AGE_3,
        lang: Language::Kazakh,
        t: 1000 * no as i64,
        no,
        prio: 0,
        sibling: None,
        prefs: prefs.to_vec(),
    }
}

/// A group: (kindergarten, band index, language, free places).
type G = (u64, u8, Language, u32);

/// Builds an instance; child i gets id i + 1, group j id j + 1, kindergartens 1..=kgs.
fn build(kgs: u64, groups: &[G], kids: &[Kid], rules: RoundRules) -> Instance {
    build_with_ids(
        kgs,
        groups,
        kids,
        &(1..=kids.len() as u64).collect::<Vec<_>>(),
        rules,
    )
}

fn build_with_ids(
    kgs: u64,
    groups: &[G],
    kids: &[Kid],
    ids: &[u64],
    rules: RoundRules,
) -> Instance {
    let mut b = InstanceBuilder::new(rules).unwrap();
    for k in 1..=kgs {
        b.add_kindergarten(KindergartenId(k)).unwrap();
    }
    for (j, &(kg, band, language, free_places)) in groups.iter().enumerate() {
        b.add_group(GroupRow {
            id: GroupId(j as u64 + 1),
            kindergarten: KindergartenId(kg),
            band,
            language,
            free_places,
        })
        .unwrap();
    }
    for (k, &id) in kids.iter().zip(ids) {
        let prefs: Vec<KindergartenId> = k.prefs.iter().map(|&p| KindergartenId(p)).collect();
        b.add_child(ChildRow {
            id: ChildId(id),
            birth_date: k.birth,
            language: k.lang,
            registered_at: k.t,
            registration_no: k.no,
            priority: PriorityClass::from_code(u64::from(k.prio)).unwrap(),
            sibling_kindergarten: k.sibling.map(KindergartenId),
            preferences: &prefs,
        })
        .unwrap();
    }
    b.build().unwrap()
}

/// Group id of each child (by child index), 0 for none.
fn outcome(inst: &Instance, alloc: &Allocation) -> Vec<u64> {
    (0..inst.child_count() as u32)
        .map(|c| alloc.group_of(c).map_or(0, |g| inst.group_id(g).0))
        .collect()
}

fn g3(kg: u64, places: u32) -> G {
    (kg, 1, Language::Kazakh, places)
}

// ---------------------------------------------------------------------------------------------
// Edge cases named in the issue.

#[test]
fn group_with_zero_places_takes_nobody_and_the_child_moves_on() {
    let inst = build(
        2,
        &[g3(1, 0), g3(2, 1)],
        &[kid(1, &[1, 2])],
        rules(Ranking::default(), None),
    );
    let alloc = allocate(&inst);
    assert_eq!(outcome(&inst, &alloc), vec![2]);
    assert!(check(&inst, &alloc).is_clean());
}

#[test]
fn child_without_an_eligible_group_stays_unassigned() {
    // Kindergarten 1 has only a Russian group; kindergarten 2 only a group for 2-year-olds.
    let groups = [(1, 1, Language::Russian, 5), (2, 0, Language::Kazakh, 5)];
    let inst = build(
        2,
        &groups,
        &[kid(1, &[1, 2])],
        rules(Ranking::default(), None),
    );
    assert!(inst.eligible_groups(0).is_empty());
    let alloc = allocate(&inst);
    assert_eq!(outcome(&inst, &alloc), vec![0]);
    assert_eq!(alloc.proposals(), 0);
    assert!(check(&inst, &alloc).is_clean());
}

#[test]
fn tied_registration_times_are_broken_by_the_smaller_registration_number() {
    let mut a = kid(7, &[1]);
    let mut b = kid(3, &[1]);
    a.t = 5_000;
    b.t = 5_000;
    let inst = build(1, &[g3(1, 1)], &[a, b], rules(Ranking::default(), None));
    assert_eq!(outcome(&inst, &allocate(&inst)), vec![0, 1]);
}

#[test]
fn earlier_registration_beats_a_smaller_number_when_times_differ() {
    let mut a = kid(7, &[1]);
    let mut b = kid(3, &[1]);
    a.t = 4_000;
    b.t = 5_000;
    let inst = build(1, &[g3(1, 1)], &[a, b], rules(Ranking::default(), None));
    assert_eq!(outcome(&inst, &allocate(&inst)), vec![1, 0]);
}

#[test]
fn a_child_born_on_29_february_turns_a_year_older_on_1_march_in_common_years() {
    let birth = date!(2020 - 02 - 29);
    assert_eq!(age_on(birth, date!(2023 - 02 - 28)), 2);
    assert_eq!(age_on(birth, date!(2023 - 03 - 01)), 3);
    assert_eq!(age_on(birth, date!(2024 - 02 - 28)), 3);
    assert_eq!(age_on(birth, date!(2024 - 02 - 29)), 4);
    // On 1 September 2025 the child is 5: outside the test bands, so it takes no part.
    let mut k = kid(1, &[1]);
    k.birth = birth;
    let inst = build(1, &[g3(1, 1)], &[k], rules(Ranking::default(), None));
    assert_eq!(inst.child_band(0), None);
    assert_eq!(outcome(&inst, &allocate(&inst)), vec![0]);
}

#[test]
fn a_child_whose_birthday_is_1_september_is_already_older_on_the_reference_date() {
    let mut on_boundary = kid(1, &[1]);
    on_boundary.birth = date!(2022 - 09 - 01); // 3 on 1 September 2025
    let mut day_after = kid(2, &[1]);
    day_after.birth = date!(2022 - 09 - 02); // still 2
    let groups = [(1, 0, Language::Kazakh, 1), (1, 1, Language::Kazakh, 1)];
    let inst = build(
        1,
        &groups,
        &[on_boundary, day_after],
        rules(Ranking::default(), None),
    );
    assert_eq!(inst.child_band(0), Some(1));
    assert_eq!(inst.child_band(1), Some(0));
    assert_eq!(outcome(&inst, &allocate(&inst)), vec![2, 1]);
}

#[test]
fn a_sibling_at_the_kindergarten_wins_the_last_place_over_an_earlier_registration() {
    let early = kid(1, &[1]);
    let mut sibling = kid(2, &[1]);
    sibling.sibling = Some(1);
    let kids = [early, sibling];
    let inst = build(1, &[g3(1, 1)], &kids, rules(Ranking::default(), None));
    assert_eq!(outcome(&inst, &allocate(&inst)), vec![0, 1]);
    // A region that does not rank by siblings gives the place to the earlier registration.
    let no_sibling: Ranking = "priority,registered_at,registration_no".parse().unwrap();
    let inst = build(1, &[g3(1, 1)], &kids, rules(no_sibling, None));
    assert_eq!(outcome(&inst, &allocate(&inst)), vec![1, 0]);
}

#[test]
fn a_sibling_counts_only_at_the_siblings_kindergarten() {
    let early = kid(1, &[1]);
    let mut late = kid(2, &[1]);
    late.sibling = Some(2);
    let inst = build(
        2,
        &[g3(1, 1)],
        &[early, late],
        rules(Ranking::default(), None),
    );
    assert_eq!(outcome(&inst, &allocate(&inst)), vec![1, 0]);
}

#[test]
fn priority_class_goes_before_registration_time() {
    let early = kid(1, &[1]);
    let mut priority = kid(2, &[1]);
    priority.prio = 1;
    let mut out_of_turn = kid(3, &[1]);
    out_of_turn.prio = 2;
    let inst = build(
        1,
        &[g3(1, 2)],
        &[early, priority, out_of_turn],
        rules(Ranking::default(), None),
    );
    assert_eq!(outcome(&inst, &allocate(&inst)), vec![0, 1, 1]);
}

#[test]
fn a_displaced_child_falls_back_to_its_next_choice() {
    // Child 1 holds kindergarten 1 until child 2 (out-of-turn) takes it; child 1 then gets 2.
    let first = kid(1, &[1, 2]);
    let mut second = kid(2, &[1]);
    second.prio = 2;
    let inst = build(
        2,
        &[g3(1, 1), g3(2, 1)],
        &[first, second],
        rules(Ranking::default(), None),
    );
    let alloc = allocate(&inst);
    assert_eq!(outcome(&inst, &alloc), vec![2, 1]);
    assert_eq!(alloc.proposals(), 3);
}

#[test]
fn ranking_must_include_the_registration_number_and_each_criterion_once() {
    assert_eq!(
        "priority,registered_at".parse::<Ranking>(),
        Err(RankingError::NotStrict)
    );
    assert_eq!(
        "registration_no,priority,priority".parse::<Ranking>(),
        Err(RankingError::Repeated("priority"))
    );
    assert!(matches!(
        "age,registration_no".parse::<Ranking>(),
        Err(RankingError::Unknown(_))
    ));
    assert_eq!(
        Ranking::default().to_string(),
        "priority,sibling,registered_at,registration_no"
    );
}

#[test]
fn builder_rejects_duplicate_ids_and_registration_numbers() {
    let mut b = InstanceBuilder::new(rules(Ranking::default(), None)).unwrap();
    b.add_kindergarten(KindergartenId(5)).unwrap();
    assert_eq!(
        b.add_kindergarten(KindergartenId(5)),
        Err(BuildError::DuplicateKindergarten(KindergartenId(5)))
    );
    let row = |id, no| ChildRow {
        id: ChildId(id),
        birth_date: AGE_3,
        language: Language::Kazakh,
        registered_at: 0,
        registration_no: no,
        priority: PriorityClass::None,
        sibling_kindergarten: None,
        preferences: &[KindergartenId(5)],
    };
    b.add_child(row(9, 1)).unwrap();
    assert_eq!(
        b.add_child(row(9, 2)),
        Err(BuildError::DuplicateChild(ChildId(9)))
    );
    b.add_child(row(4, 1)).unwrap();
    assert!(matches!(
        b.build(),
        Err(BuildError::DuplicateRegistrationNo {
            number: 1,
            first: ChildId(9),
            second: ChildId(4),
            ..
        })
    ));
}

#[test]
fn ids_need_not_be_dense_or_sorted() {
    let kids = [kid(1, &[1]), kid(2, &[1]), kid(3, &[1])];
    let inst = build_with_ids(
        1,
        &[g3(1, 2)],
        &kids,
        &[30, 10, 20],
        rules(Ranking::default(), None),
    );
    assert_eq!(inst.child_index(ChildId(10)), Some(1));
    assert_eq!(inst.child_index(ChildId(1)), None);
    let alloc = allocate(&inst);
    let mut out = Vec::new();
    write_assignment(&inst, &alloc, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "child_id,group_id\n30,1\n10,1\n20,\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Checker.

fn violations_of(inst: &Instance, group_of: Vec<u32>) -> Vec<Violation> {
    check(inst, &Allocation::from_assignment(inst, group_of)).violations
}

#[test]
fn checker_names_over_capacity_ineligible_waste_envy_and_non_optimal_children() {
    // Two children, kindergartens 1 (1 place) and 2 (1 place); both prefer 1. Child 1 ranks first.
    let kids = [kid(1, &[1, 2]), kid(2, &[1, 2])];
    let inst = build(
        2,
        &[g3(1, 1), g3(2, 1), (2, 0, Language::Kazakh, 3)],
        &kids,
        rules(Ranking::default(), None),
    );
    assert!(violations_of(&inst, vec![0, 1]).is_empty());

    let v = violations_of(&inst, vec![0, 0]);
    assert!(v.contains(&Violation::OverCapacity {
        group: GroupId(1),
        placed: 2,
        free_places: 1
    }));

    let v = violations_of(&inst, vec![2, 1]);
    assert!(v.contains(&Violation::NotEligible {
        child: ChildId(1),
        group: GroupId(3)
    }));

    let v = violations_of(&inst, vec![1, 0]);
    assert!(v.contains(&Violation::JustifiedEnvy {
        child: ChildId(1),
        group: GroupId(1),
        displaced: ChildId(2)
    }));

    let v = violations_of(&inst, vec![NONE, 1]);
    assert!(v.contains(&Violation::Waste {
        child: ChildId(1),
        group: GroupId(1)
    }));
    assert!(v.contains(&Violation::NotChildOptimal {
        child: ChildId(1),
        expected: Some(GroupId(1)),
        actual: None
    }));
}

#[test]
fn checker_accepts_a_stable_matching_but_flags_it_when_it_is_not_child_optimal() {
    // Classic two-by-two: the kindergartens rank the children opposite to their wishes.
    // Child 1 wants A then B, child 2 wants B then A; A prefers child 2 (sibling), B child 1.
    let mut c1 = kid(1, &[1, 2]);
    let mut c2 = kid(2, &[2, 1]);
    c1.sibling = Some(2);
    c2.sibling = Some(1);
    let inst = build(
        2,
        &[g3(1, 1), g3(2, 1)],
        &[c1, c2],
        rules(Ranking::default(), None),
    );
    assert_eq!(outcome(&inst, &allocate(&inst)), vec![1, 2]);
    // The kindergarten-optimal matching is stable too, but worse for both children.
    let v = violations_of(&inst, vec![1, 0]);
    assert!(
        v.iter()
            .all(|v| matches!(v, Violation::NotChildOptimal { .. })),
        "{v:?}"
    );
    assert_eq!(v.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Explanations.

#[test]
fn explanation_gives_position_cutoff_and_admitted_ahead_by_class() {
    let mut a = kid(1, &[1]);
    a.prio = 2;
    let mut b = kid(2, &[1]);
    b.prio = 1;
    let c = kid(3, &[1, 2]);
    let d = kid(4, &[1, 2]);
    let inst = build(
        2,
        &[g3(1, 2), g3(2, 1)],
        &[a, b, c, d],
        rules(Ranking::default(), None),
    );
    let alloc = allocate(&inst);
    assert_eq!(outcome(&inst, &alloc), vec![1, 1, 2, 0]);
    let ex = Explainer::new(&inst, &alloc);
    let e = ex.explain(3);
    assert_eq!(e.assigned, None);
    assert_eq!(e.band.as_deref(), Some("3-4"));
    assert_eq!(e.groups.len(), 2);
    assert_eq!(
        e.groups[0],
        GroupExplanation {
            group: GroupId(1),
            kindergarten: KindergartenId(1),
            free_places: 2,
            outcome: GroupOutcome::NotAdmitted,
            applicants: 4,
            position: 4,
            cutoff: Some(2),
            admitted_ahead: [0, 1, 1],
        }
    );
    assert_eq!(e.groups[1].position, 2);
    assert_eq!(e.groups[1].cutoff, Some(1));
    assert_eq!(e.groups[1].admitted_ahead, [1, 0, 0]);
    let e = ex.explain(2);
    assert_eq!(e.groups[0].outcome, GroupOutcome::NotAdmitted);
    assert_eq!(e.groups[1].outcome, GroupOutcome::Admitted);
    let e = ex.explain(0);
    assert_eq!(e.groups[0].outcome, GroupOutcome::Admitted);
    assert_eq!(e.groups[0].admitted_ahead, [0, 0, 0]);
}

// ---------------------------------------------------------------------------------------------
// Parser.

const META: &str = r#"{"format": "kezek-allocation-instance/1", "round_date": "2025-06-01",
 "reference_date": "2025-09-01", "languages": ["kk", "ru"],
 "bands": [{"name": "2-3", "min_age": 2, "max_age": 3}, {"name": "3-4", "min_age": 3, "max_age": 4}]}"#;
const KGS: &str = "kindergarten_id,district,x_m,y_m\n1,1,0,0\n2,1,10,10\n";
const GROUPS: &str = "group_id,kindergarten_id,band,language,free_places\n1,1,3-4,kk,1\n2,2,3-4,kk,1\n3,2,2-3,ru,0\n";
const CHILDREN_HEADER: &str = "child_id,birth_date,language,registered_at,registration_no,priority,sibling_kindergarten_id,preferences,district\n";

fn parse_with(groups: &str, children_rows: &str) -> Result<Instance, ParseError> {
    let meta = parse_meta(SourceFile {
        name: "meta.json",
        bytes: META.as_bytes(),
    })
    .unwrap();
    let children = format!("{CHILDREN_HEADER}{children_rows}");
    parse_instance(
        &meta,
        meta.rules.clone(),
        SourceFile {
            name: "kindergartens.csv",
            bytes: KGS.as_bytes(),
        },
        SourceFile {
            name: "groups.csv",
            bytes: groups.as_bytes(),
        },
        SourceFile {
            name: "children.csv",
            bytes: children.as_bytes(),
        },
    )
}

fn parse_children(rows: &str) -> Result<Instance, ParseError> {
    parse_with(GROUPS, rows)
}

fn error_text(rows: &str) -> String {
    parse_children(rows).unwrap_err().to_string()
}

#[test]
fn parses_a_small_instance_and_allocates_it() {
    let inst = parse_children(
        "1,2021-12-01,kk,2024-01-01T10:00:00Z,2,0,,1;2,3\n2,2021-11-01,kk,2024-01-01T10:00:00Z,1,0,2,1;2,3\n",
    )
    .unwrap();
    assert_eq!(inst.child_count(), 2);
    assert_eq!(inst.group_count(), 3);
    let alloc = allocate(&inst);
    // Same time: child 2 has the smaller registration number and takes kindergarten 1.
    assert_eq!(outcome(&inst, &alloc), vec![2, 1]);
    let mut out = Vec::new();
    write_assignment(&inst, &alloc, &mut out);
    let back = parse_assignment(
        &inst,
        SourceFile {
            name: "a.csv",
            bytes: &out,
        },
    )
    .unwrap();
    assert_eq!(back.assignment(), alloc.assignment());
}

#[test]
fn parse_errors_name_the_file_the_line_and_the_problem() {
    let ok = "1,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,1,3\n";
    assert_eq!(
        error_text(&format!(
            "{ok}2,2021-02-30,kk,2024-01-01T10:00:00Z,2,0,,1,3\n"
        )),
        "children.csv, line 3: birth_date: \"2021-02-30\" is not a date (YYYY-MM-DD)"
    );
    assert_eq!(
        error_text(&format!(
            "{ok}1,2021-12-01,kk,2024-01-01T10:00:00Z,2,0,,1,3\n"
        )),
        "children.csv, line 3: duplicate child id 1"
    );
    assert_eq!(
        error_text("1,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,1;2;1;2;1;2,3\n"),
        "children.csv, line 2: 6 preferences, more than the allowed 5"
    );
    assert_eq!(
        error_text("1,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,1;9,3\n"),
        "children.csv, line 2: unknown kindergarten 9 in the preferences"
    );
    assert_eq!(
        error_text("1,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,2;2,3\n"),
        "children.csv, line 2: kindergarten 2 is listed twice in the preferences"
    );
    assert_eq!(
        error_text("1,2021-12-01,de,2024-01-01T10:00:00Z,1,0,,1,3\n"),
        "children.csv, line 2: language: \"de\" is not a language of this round (kk, ru)"
    );
    assert_eq!(
        error_text("1,2021-12-01,kk,2024-01-01 10:00:00,1,0,,1,3\n"),
        "children.csv, line 2: registered_at: \"2024-01-01 10:00:00\" is not a time (YYYY-MM-DDTHH:MM:SSZ)"
    );
    assert_eq!(
        error_text("1,2021-12-01,kk,2025-06-01T00:00:00Z,1,0,,1,3\n"),
        "children.csv, line 2: registered_at 2025-06-01T00:00:00Z is not before the round date 2025-06-01"
    );
    assert_eq!(
        error_text("1,2021-12-01,kk,2024-01-01T10:00:00Z,1,3,,1,3\n"),
        "children.csv, line 2: priority \"3\" must be 0, 1 or 2"
    );
    assert_eq!(
        error_text("1,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,1\n"),
        "children.csv, line 2: 8 fields, expected 9"
    );
    assert_eq!(
        error_text("x,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,1,3\n"),
        "children.csv, line 2: child_id: \"x\" is not a positive integer"
    );
    assert_eq!(
        error_text(&format!(
            "{ok}\n2,2021-12-01,kk,2024-01-01T10:00:00Z,2,0,,1,3\n"
        )),
        "children.csv, line 3: empty line"
    );
    assert_eq!(
        error_text(&format!(
            "{ok}2,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,1,3\n"
        )),
        "children.csv, line 3: registration number 1 is used by children 1 and 2"
    );
    assert_eq!(
        error_text("1,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,7,1,3\n"),
        "children.csv, line 2: unknown sibling kindergarten 7"
    );
    assert_eq!(
        parse_with(
            "group_id,kindergarten_id,band,language,free_places\n1,1,3-4,kk,1\n2,1,3-4,kk,2\n",
            ""
        )
        .unwrap_err()
        .to_string(),
        "groups.csv, line 3: kindergarten 1 already has a group 1 for band \"3-4\" and language kk"
    );
    assert_eq!(
        parse_with(
            "group_id,kindergarten_id,band,language,free_places\n1,4,3-4,kk,1\n",
            ""
        )
        .unwrap_err()
        .to_string(),
        "groups.csv, line 2: unknown kindergarten 4"
    );
    assert_eq!(
        parse_with(
            "group_id,kindergarten_id,band,language,free_places\n1,1,0-1,kk,1\n",
            ""
        )
        .unwrap_err()
        .to_string(),
        "groups.csv, line 2: band \"0-1\" is not one of the bands in meta.json"
    );
    assert_eq!(
        parse_with("group_id,kindergarten,band,language,free_places\n", "")
            .unwrap_err()
            .to_string(),
        "groups.csv, line 1: header is \"group_id,kindergarten,band,language,free_places\", expected \"group_id,kindergarten_id,band,language,free_places\""
    );
}

#[test]
fn meta_errors_are_reported_with_their_line() {
    let err = parse_meta(SourceFile {
        name: "meta.json",
        bytes: b"{\n\"format\": 1\n}",
    })
    .unwrap_err();
    assert_eq!(err.file, "meta.json");
    assert_eq!(err.line, Some(2));
    let err = parse_meta(SourceFile {
        name: "meta.json",
        bytes: META.replace("instance/1", "instance/2").as_bytes(),
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("expected \"kezek-allocation-instance/1\""),
        "{err}"
    );
}

#[test]
fn assignment_errors_name_the_child_or_group() {
    let inst = parse_children("1,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,1,3\n").unwrap();
    let parse = |text: &str| {
        parse_assignment(
            &inst,
            SourceFile {
                name: "a.csv",
                bytes: text.as_bytes(),
            },
        )
        .map_err(|e| e.to_string())
    };
    assert_eq!(
        parse("child_id,group_id\n1,9\n").unwrap_err(),
        "a.csv, line 2: unknown group 9"
    );
    assert_eq!(
        parse("child_id,group_id\n5,1\n").unwrap_err(),
        "a.csv, line 2: unknown child 5"
    );
    assert_eq!(
        parse("child_id,group_id\n1,1\n1,\n").unwrap_err(),
        "a.csv, line 3: child 1 is listed twice"
    );
    // A missing child is unassigned.
    assert_eq!(parse("child_id,group_id\n").unwrap().assignment(), &[NONE]);
}

// ---------------------------------------------------------------------------------------------
// Property tests on tiny random instances.

#[derive(Debug, Clone)]
struct Tiny {
    kgs: u64,
    groups: Vec<G>,
    kids: Vec<Kid>,
    ranking: Ranking,
    reserve: Option<ReservePolicy>,
}

impl Tiny {
    fn instance(&self) -> Instance {
        build(
            self.kgs,
            &self.groups,
            &self.kids,
            rules(self.ranking.clone(), self.reserve),
        )
    }
}

fn ranking_strategy() -> impl Strategy<Value = Ranking> {
    Just(vec![
        Criterion::Priority,
        Criterion::SiblingAtKindergarten,
        Criterion::RegisteredAt,
        Criterion::RegistrationNo,
    ])
    .prop_shuffle()
    .prop_flat_map(|all| {
        // Optionally drop criteria after the registration number: they can never matter.
        let at = all
            .iter()
            .position(|c| *c == Criterion::RegistrationNo)
            .unwrap();
        (at + 1..=all.len()).prop_map(move |len| Ranking::new(all[..len].to_vec()).unwrap())
    })
}

fn reserve_strategy() -> impl Strategy<Value = Option<ReservePolicy>> {
    let class = prop_oneof![Just(PriorityClass::First), Just(PriorityClass::OutOfTurn)];
    let amount = prop_oneof![
        (0u32..=2).prop_map(ReserveAmount::Count),
        (0u8..=100).prop_map(ReserveAmount::Share)
    ];
    (class, amount).prop_map(|(min_class, amount)| Some(ReservePolicy { min_class, amount }))
}

fn tiny_strategy(
    max_kids: usize,
    reserve: impl Strategy<Value = Option<ReservePolicy>>,
) -> impl Strategy<Value = Tiny> {
    (1u64..=3, 1usize..=max_kids, ranking_strategy(), reserve).prop_flat_map(
        |(kgs, n, ranking, reserve)| {
            let group = (
                0u8..2,
                prop_oneof![Just(Language::Kazakh), Just(Language::Russian)],
                0u32..=2,
                any::<bool>(),
            );
            let groups =
                proptest::collection::vec(proptest::collection::vec(group, 1..=3), kgs as usize);
            let kid = (
                prop_oneof![4 => Just(AGE_3), 2 => Just(AGE_2), 1 => Just(AGE_0)],
                prop_oneof![3 => Just(Language::Kazakh), 1 => Just(Language::Russian)],
                0i64..3,
                0u8..=2,
                proptest::option::weighted(0.3, 1..=kgs),
                proptest::sample::subsequence((1..=kgs).collect::<Vec<_>>(), 1..=kgs as usize)
                    .prop_shuffle(),
            );
            let kids = proptest::collection::vec(kid, n);
            let numbers = Just((1..=n as u64).collect::<Vec<_>>()).prop_shuffle();
            (groups, kids, numbers).prop_map(move |(groups, kids, numbers)| {
                // At most one group per (kindergarten, band, language): keep the first drawn.
                let mut gs: Vec<G> = Vec::new();
                for (k, list) in groups.iter().enumerate() {
                    for &(band, lang, cap, keep) in list {
                        let kg = k as u64 + 1;
                        // `keep` false drops the group unless the kindergarten has none yet.
                        let wanted = keep || gs.iter().all(|g| g.0 != kg);
                        if wanted && !gs.iter().any(|g| g.0 == kg && g.1 == band && g.2 == lang) {
                            gs.push((kg, band, lang, cap));
                        }
                    }
                }
                let kids = kids
                    .into_iter()
                    .zip(&numbers)
                    .map(|((birth, lang, t, prio, sibling, prefs), &no)| Kid {
                        birth,
                        lang,
                        t: t * 1000,
                        no,
                        prio,
                        sibling,
                        prefs,
                    })
                    .collect();
                Tiny {
                    kgs,
                    groups: gs,
                    kids,
                    ranking: ranking.clone(),
                    reserve,
                }
            })
        },
    )
}

/// The choice of group `g` among `members` (child indices), straight from the definition in
/// `reserve.rs`: the best of the reserved classes up to the reserve, then the best of the rest.
fn choice(inst: &Instance, g: u32, members: &[u32]) -> Vec<u32> {
    let kg = inst.group_kg[g as usize];
    let q = inst.free_places(g) as usize;
    let reserve = inst.rules().reserve;
    let r = reserve.map_or(0, |p| p.reserved_places(q as u32)) as usize;
    let covered = |c: u32| reserve.is_some_and(|p| p.covers(inst.child_priority(c)));
    let mut sorted = members.to_vec();
    sorted.sort_by_key(|&c| inst.rules().ranking.tuple(inst, c, kg));
    let mut chosen: Vec<u32> = sorted
        .iter()
        .copied()
        .filter(|&c| covered(c))
        .take(r)
        .collect();
    for &c in &sorted {
        if chosen.len() == q {
            break;
        }
        if !chosen.contains(&c) {
            chosen.push(c);
        }
    }
    chosen
}

/// Whether `m` (group index or NONE per child) is feasible and stable, by the definition.
fn is_stable(inst: &Instance, m: &[u32]) -> bool {
    let members = |g: u32| {
        (0..m.len() as u32)
            .filter(|&c| m[c as usize] == g)
            .collect::<Vec<_>>()
    };
    for g in 0..inst.group_count() as u32 {
        if members(g).len() > inst.free_places(g) as usize {
            return false;
        }
    }
    for c in 0..m.len() as u32 {
        for &g in inst.eligible_groups(c) {
            if g == m[c as usize] {
                break;
            }
            let mut with_c = members(g);
            with_c.push(c);
            if choice(inst, g, &with_c).contains(&c) {
                return false;
            }
        }
    }
    true
}

/// All stable matchings, by enumerating every assignment of children to eligible groups.
fn all_stable(inst: &Instance) -> Vec<Vec<u32>> {
    let n = inst.child_count();
    let options: Vec<Vec<u32>> = (0..n as u32)
        .map(|c| {
            inst.eligible_groups(c)
                .iter()
                .copied()
                .chain([NONE])
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    let mut idx = vec![0usize; n];
    loop {
        let m: Vec<u32> = (0..n).map(|c| options[c][idx[c]]).collect();
        if is_stable(inst, &m) {
            out.push(m);
        }
        let mut i = 0;
        loop {
            if i == n {
                return out;
            }
            idx[i] += 1;
            if idx[i] < options[i].len() {
                break;
            }
            idx[i] = 0;
            i += 1;
        }
    }
}

/// Position of `g` in child `c`'s list (unassigned counts as last).
fn pref_rank(inst: &Instance, c: u32, g: u32) -> usize {
    inst.eligible_groups(c)
        .iter()
        .position(|&x| x == g)
        .unwrap_or(usize::MAX)
}

fn check_against_brute_force(tiny: &Tiny) -> Result<(), TestCaseError> {
    let inst = tiny.instance();
    let alloc = allocate(&inst);
    let stable = all_stable(&inst);
    prop_assert!(!stable.is_empty(), "a stable matching always exists");
    let best: Vec<&Vec<u32>> = stable
        .iter()
        .filter(|m| {
            stable.iter().all(|other| {
                (0..inst.child_count() as u32).all(|c| {
                    pref_rank(&inst, c, m[c as usize]) <= pref_rank(&inst, c, other[c as usize])
                })
            })
        })
        .collect();
    prop_assert_eq!(
        best.len(),
        1,
        "exactly one stable matching is best for every child"
    );
    prop_assert_eq!(alloc.assignment(), best[0].as_slice());
    let report = check(&inst, &alloc);
    prop_assert!(report.is_clean(), "{:?}", report.violations);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn allocation_is_the_child_optimal_stable_matching(tiny in tiny_strategy(6, Just(None))) {
        check_against_brute_force(&tiny)?;
    }

    #[test]
    fn allocation_with_a_reserve_is_the_child_optimal_matching_stable_under_the_reserve(
        tiny in tiny_strategy(6, reserve_strategy())
    ) {
        check_against_brute_force(&tiny)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn allocation_respects_capacities_and_eligibility(tiny in tiny_strategy(30, prop_oneof![Just(None), reserve_strategy()])) {
        let inst = tiny.instance();
        let alloc = allocate(&inst);
        for g in 0..inst.group_count() as u32 {
            let placed = (0..inst.child_count() as u32).filter(|&c| alloc.group_of(c) == Some(g)).count();
            prop_assert!(placed <= inst.free_places(g) as usize);
            prop_assert_eq!(placed as u32, alloc.filled(g));
        }
        for c in 0..inst.child_count() as u32 {
            if let Some(g) = alloc.group_of(c) {
                let k = &tiny.kids[c as usize];
                prop_assert!(k.prefs.contains(&inst.group_kindergarten(g).0));
                prop_assert_eq!(inst.group_language(g), k.lang);
                prop_assert_eq!(inst.child_band(c), Some(inst.group_band(g)));
            }
        }
        prop_assert!(is_stable(&inst, alloc.assignment()));
        let report = check(&inst, &alloc);
        prop_assert!(report.is_clean(), "{:?}", report.violations);
    }

    #[test]
    fn outcome_does_not_depend_on_the_order_children_are_listed_in(
        tiny in tiny_strategy(30, prop_oneof![Just(None), reserve_strategy()]),
        seed in any::<u64>(),
    ) {
        let inst = tiny.instance();
        let by_id = |inst: &Instance, alloc: &Allocation| {
            let mut v: Vec<(u64, u64)> = (0..inst.child_count() as u32)
                .map(|c| (inst.child_id(c).0, alloc.group_of(c).map_or(0, |g| inst.group_id(g).0)))
                .collect();
            v.sort_unstable();
            v
        };
        let expected = by_id(&inst, &allocate(&inst));
        // Reverse or rotate the rows: children then propose in another order.
        let n = tiny.kids.len();
        let shift = (seed as usize) % n.max(1);
        let mut order: Vec<usize> = (0..n).collect();
        if seed % 2 == 0 { order.reverse(); }
        order.rotate_left(shift);
        let kids: Vec<Kid> = order.iter().map(|&i| tiny.kids[i].clone()).collect();
        let ids: Vec<u64> = order.iter().map(|&i| i as u64 + 1).collect();
        let shuffled = build_with_ids(tiny.kgs, &tiny.groups, &kids, &ids, rules(tiny.ranking.clone(), tiny.reserve));
        prop_assert_eq!(by_id(&shuffled, &allocate(&shuffled)), expected);
    }

    #[test]
    fn integer_keys_order_children_exactly_as_the_ranking_tuples(tiny in tiny_strategy(30, Just(None))) {
        let inst = tiny.instance();
        let mut entries = Vec::new();
        for c in 0..inst.child_count() as u32 {
            for (&g, &key) in inst.eligible_groups(c).iter().zip(inst.eligible_keys(c)) {
                entries.push((inst.group_kg[g as usize], c, key));
            }
        }
        for &(kg, a, ka) in &entries {
            for &(kg2, b, kb) in &entries {
                if kg == kg2 && a != b {
                    let ta = inst.rules().ranking.tuple(&inst, a, kg);
                    let tb = inst.rules().ranking.tuple(&inst, b, kg);
                    prop_assert_eq!(ka.cmp(&kb), ta.cmp(&tb));
                }
            }
        }
    }

    #[test]
    fn a_reserve_changes_nothing_under_the_default_ranking_or_without_children_with_a_right(
        tiny in tiny_strategy(30, reserve_strategy())
    ) {
        // Default ranking: the priority classes already come first.
        let with = build(tiny.kgs, &tiny.groups, &tiny.kids, rules(Ranking::default(), tiny.reserve));
        let without = build(tiny.kgs, &tiny.groups, &tiny.kids, rules(Ranking::default(), None));
        prop_assert_eq!(allocate(&with).assignment().to_vec(), allocate(&without).assignment().to_vec());
        // Any ranking, but nobody holds a right: reserved places are all released.
        let kids: Vec<Kid> = tiny.kids.iter().cloned().map(|mut k| { k.prio = 0; k }).collect();
        let with = build(tiny.kgs, &tiny.groups, &kids, rules(tiny.ranking.clone(), tiny.reserve));
        let without = build(tiny.kgs, &tiny.groups, &kids, rules(tiny.ranking.clone(), None));
        prop_assert_eq!(allocate(&with).assignment().to_vec(), allocate(&without).assignment().to_vec());
    }

    #[test]
    fn a_reserve_holds_places_for_children_with_a_right_up_to_its_size(
        tiny in tiny_strategy(30, reserve_strategy())
    ) {
        // Every group admits at least min(reserve, children with a right who would rather be
        // there than where they are) of them: the reserve cannot be taken by others while
        // such children are turned away.
        let inst = tiny.instance();
        let alloc = allocate(&inst);
        let policy = tiny.reserve.expect("strategy always sets a reserve");
        for g in 0..inst.group_count() as u32 {
            let r = policy.reserved_places(inst.free_places(g)) as usize;
            let admitted = (0..inst.child_count() as u32)
                .filter(|&c| alloc.group_of(c) == Some(g) && policy.covers(inst.child_priority(c)))
                .count();
            let turned_away = (0..inst.child_count() as u32)
                .filter(|&c| policy.covers(inst.child_priority(c)) && alloc.group_of(c) != Some(g))
                .filter(|&c| {
                    let rank = pref_rank(&inst, c, g);
                    rank != usize::MAX && rank < alloc.group_of(c).map_or(usize::MAX, |h| pref_rank(&inst, c, h))
                })
                .count();
            if turned_away > 0 {
                prop_assert!(admitted >= r, "group {g}: {admitted} admitted with a right, reserve {r}, {turned_away} turned away");
            }
        }
    }
}
