//! `kezek allocate` and `kezek check-round` as an operator runs them: on an instance made by the
//! shared generator, and on broken files, which must be refused with a message naming the
//! file, the line and the problem — never a panic.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kezek(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kezek"))
        .args(args)
        .output()
        .expect("the kezek binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn generator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/gen_instance.py")
}

/// A generated instance of `children` children (seed 1) in `dir`.
fn generate(dir: &Path, children: u32) {
    let status = Command::new("python3")
        .arg(generator())
        .args(["--children", &children.to_string(), "--seed", "1", "--out"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(
        status.success(),
        "gen_instance.py failed: it needs python3 with numpy installed"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

#[test]
fn allocates_a_generated_instance_and_check_round_confirms_the_child_optimal_outcome() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = tmp.path().join("instance");
    generate(&inst, 3000);
    let out = tmp.path().join("assignment.csv");

    let run = kezek(&["allocate", "--instance", path(&inst), "--out", path(&out)]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("children ("), "{stdout}");
    assert!(
        stdout.contains("no band"),
        "summary lists children outside the bands: {stdout}"
    );
    assert!(stdout.contains("proposals: "), "{stdout}");
    assert!(text(&run.stderr).contains("allocate"), "progress on stderr");

    let csv = fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("child_id,group_id"));
    assert_eq!(lines.count(), 3000, "one row per child");

    let check = kezek(&[
        "check-round",
        "--instance",
        path(&inst),
        "--assignment",
        path(&out),
    ]);
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    assert!(text(&check.stdout).contains("OK: the assignment is the child-optimal stable outcome"));

    // The same input gives the same bytes.
    let again = tmp.path().join("again.csv");
    assert!(
        kezek(&[
            "allocate",
            "--instance",
            path(&inst),
            "--out",
            path(&again),
            "--quiet"
        ])
        .status
        .success()
    );
    assert_eq!(fs::read(&out).unwrap(), fs::read(&again).unwrap());

    // Leaving everybody unassigned wastes places: check-round lists them and fails.
    let empty = tmp.path().join("empty.csv");
    fs::write(&empty, "child_id,group_id\n").unwrap();
    let check = kezek(&[
        "check-round",
        "--instance",
        path(&inst),
        "--assignment",
        path(&empty),
    ]);
    assert_eq!(check.status.code(), Some(1));
    let stdout = text(&check.stdout);
    assert!(stdout.contains("wasted place: child "), "{stdout}");
    assert!(stdout.contains("FAILED"), "{stdout}");

    // A child moved into a group it is not eligible for is named with the group.
    let first_row = csv.lines().nth(1).unwrap().to_owned();
    let (child, _) = first_row.split_once(',').unwrap();
    let groups = fs::read_to_string(inst.join("groups.csv")).unwrap();
    let mut tampered = String::from("child_id,group_id\n");
    let prefs_line = fs::read_to_string(inst.join("children.csv")).unwrap();
    let child_row = prefs_line
        .lines()
        .find(|l| l.starts_with(&format!("{child},")))
        .unwrap()
        .to_owned();
    let preferred: Vec<&str> = child_row.split(',').nth(7).unwrap().split(';').collect();
    let foreign = groups
        .lines()
        .skip(1)
        .find(|l| !preferred.contains(&l.split(',').nth(1).unwrap()))
        .map(|l| l.split(',').next().unwrap().to_owned())
        .expect("some group belongs to a kindergarten the child did not list");
    for line in csv.lines().skip(1) {
        if line == first_row {
            tampered.push_str(&format!("{child},{foreign}\n"));
        } else {
            tampered.push_str(line);
            tampered.push('\n');
        }
    }
    let bad = tmp.path().join("tampered.csv");
    fs::write(&bad, tampered).unwrap();
    let check = kezek(&[
        "check-round",
        "--instance",
        path(&inst),
        "--assignment",
        path(&bad),
        "--max-listed",
        "100000",
    ]);
    assert_eq!(check.status.code(), Some(1));
    let stdout = text(&check.stdout);
    assert!(
        stdout.contains(&format!(
            "not eligible: child {child} placed in group {foreign}"
        )),
        "{stdout}"
    );
}

const META: &str = r#"{"format": "kezek-allocation-instance/1", "round_date": "2025-06-01",
 "reference_date": "2025-09-01", "languages": ["kk", "ru"],
 "bands": [{"name": "3-4", "min_age": 3, "max_age": 4}]}"#;
const KINDERGARTENS: &str = "kindergarten_id,district,x_m,y_m\n1,1,0,0\n2,1,10,10\n";
const GROUPS: &str =
    "group_id,kindergarten_id,band,language,free_places\n1,1,3-4,kk,1\n2,2,3-4,kk,0\n";
const CHILDREN: &str = "child_id,birth_date,language,registered_at,registration_no,priority,sibling_kindergarten_id,preferences,district\n\
1,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,2;1,1\n\
2,2021-12-01,kk,2024-01-01T10:00:00Z,2,0,,1,1\n";

/// A hand-written instance with one file replaced.
fn small_instance(dir: &Path, replace: Option<(&str, &str)>) {
    fs::create_dir_all(dir).unwrap();
    for (name, body) in [
        ("meta.json", META),
        ("kindergartens.csv", KINDERGARTENS),
        ("groups.csv", GROUPS),
        ("children.csv", CHILDREN),
    ] {
        let body = match replace {
            Some((n, b)) if n == name => b,
            _ => body,
        };
        fs::write(dir.join(name), body).unwrap();
    }
}

/// Runs allocate on a small instance with one file replaced; returns stderr after checking
/// that it failed cleanly.
fn refused(file: &str, body: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    small_instance(tmp.path(), Some((file, body)));
    let out = tmp.path().join("out.csv");
    let run = kezek(&[
        "allocate",
        "--instance",
        path(tmp.path()),
        "--out",
        path(&out),
    ]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !out.exists(),
        "no assignment is written for a refused instance"
    );
    stderr
}

#[test]
fn small_hand_written_instance_is_allocated() {
    let tmp = tempfile::tempdir().unwrap();
    small_instance(tmp.path(), None);
    let out = tmp.path().join("out.csv");
    let run = kezek(&[
        "allocate",
        "--instance",
        path(tmp.path()),
        "--out",
        path(&out),
        "--quiet",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    // Child 1 lists the full kindergarten 2 first, then takes kindergarten 1 ahead of child 2.
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "child_id,group_id\n1,1\n2,\n"
    );
    assert!(text(&run.stderr).is_empty(), "--quiet prints no progress");
}

#[test]
fn malformed_files_are_refused_with_file_line_and_problem() {
    let child = |row: &str| format!("{}{row}\n", CHILDREN);
    let cases = [
        (
            "children.csv",
            child("3,2021-02-29,kk,2024-01-01T10:00:00Z,3,0,,1,1"),
            "children.csv, line 4: birth_date: \"2021-02-29\" is not a date",
        ),
        (
            "children.csv",
            child("2,2021-12-01,kk,2024-01-01T10:00:00Z,3,0,,1,1"),
            "children.csv, line 4: duplicate child id 2",
        ),
        (
            "children.csv",
            child("3,2021-12-01,kk,2024-01-01T10:00:00Z,3,0,,1;2;1;2;1;2,1"),
            "children.csv, line 4: 6 preferences, more than the allowed 5",
        ),
        (
            "children.csv",
            child("3,2021-12-01,kk,2024-01-01T10:00:00Z,3,0,,7,1"),
            "children.csv, line 4: unknown kindergarten 7 in the preferences",
        ),
        (
            "children.csv",
            child("3,2021-12-01,kk,2024-01-01T10:00:00Z,3,0,,1"),
            "children.csv, line 4: 8 fields, expected 9",
        ),
        (
            "children.csv",
            child("3,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,1,1"),
            "children.csv, line 4: registration number 1 is used by children 1 and 3",
        ),
        (
            "children.csv",
            "child_id\n1\n".to_owned(),
            "children.csv, line 1: header is \"child_id\"",
        ),
        (
            "children.csv",
            String::new(),
            "children.csv: the file is empty",
        ),
        (
            "groups.csv",
            format!("{GROUPS}3,9,3-4,kk,1\n"),
            "groups.csv, line 4: unknown kindergarten 9",
        ),
        (
            "groups.csv",
            format!("{GROUPS}2,1,3-4,ru,1\n"),
            "groups.csv, line 4: duplicate group id 2",
        ),
        (
            "groups.csv",
            format!("{GROUPS}3,1,3-4,kk,-1\n"),
            "groups.csv, line 4: free_places: \"-1\" is not a non-negative integer",
        ),
        (
            "kindergartens.csv",
            format!("{KINDERGARTENS}1,1,0,0\n"),
            "kindergartens.csv, line 4: duplicate kindergarten id 1",
        ),
        (
            "meta.json",
            "{\"format\": ".to_owned(),
            "meta.json, line 1:",
        ),
        (
            "meta.json",
            META.replace("2025-09-01", "2025-09-31"),
            "meta.json: reference_date: \"2025-09-31\" is not a date",
        ),
    ];
    for (file, body, expected) in cases {
        let stderr = refused(file, &body);
        assert!(
            stderr.contains(expected),
            "{file}: expected {expected:?} in {stderr:?}"
        );
    }
}

#[test]
fn binary_garbage_and_missing_files_are_refused_without_a_panic() {
    let stderr = refused("children.csv", "\u{0}\u{1}\u{fffd}\n\u{ff}");
    assert!(
        stderr.contains("children.csv, line 1: header is"),
        "{stderr}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.csv");
    let run = kezek(&[
        "allocate",
        "--instance",
        path(&tmp.path().join("nowhere")),
        "--out",
        path(&out),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr).contains("cannot read"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn check_round_refuses_an_assignment_naming_an_unknown_group_or_a_child_twice() {
    let tmp = tempfile::tempdir().unwrap();
    small_instance(tmp.path(), None);
    let a = tmp.path().join("a.csv");
    for (body, expected) in [
        (
            "child_id,group_id\n1,1\n2,5\n",
            "a.csv, line 3: unknown group 5",
        ),
        (
            "child_id,group_id\n1,1\n1,\n",
            "a.csv, line 3: child 1 is listed twice",
        ),
        ("child,group\n", "a.csv, line 1: header is"),
    ] {
        fs::write(&a, body).unwrap();
        let run = kezek(&[
            "check-round",
            "--instance",
            path(tmp.path()),
            "--assignment",
            path(&a),
        ]);
        assert_eq!(run.status.code(), Some(1));
        assert!(
            text(&run.stderr).contains(expected),
            "{expected:?} in {}",
            text(&run.stderr)
        );
    }
    // The kindergarten-optimal swap: child 2 instead of child 1 is envy, not a crash.
    fs::write(&a, "child_id,group_id\n1,\n2,1\n").unwrap();
    let run = kezek(&[
        "check-round",
        "--instance",
        path(tmp.path()),
        "--assignment",
        path(&a),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stdout).contains(
            "justified envy: child 1 prefers group 1, which holds child 2 ranked below it"
        ),
        "{}",
        text(&run.stdout)
    );
}

#[test]
fn a_reserve_and_a_regional_ranking_are_taken_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    // Child 2 has an out-of-turn right but registered later; the ranking ignores priority.
    let children = "child_id,birth_date,language,registered_at,registration_no,priority,sibling_kindergarten_id,preferences,district\n\
1,2021-12-01,kk,2024-01-01T10:00:00Z,1,0,,1,1\n\
2,2021-12-01,kk,2024-02-01T10:00:00Z,2,2,,1,1\n";
    small_instance(tmp.path(), Some(("children.csv", children)));
    let out = tmp.path().join("out.csv");
    let base = [
        "allocate",
        "--instance",
        path(tmp.path()),
        "--out",
        path(&out),
        "--quiet",
        "--ranking",
        "registered_at,registration_no",
    ];
    assert!(kezek(&base).status.success());
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "child_id,group_id\n1,1\n2,\n"
    );
    let mut with_reserve = base.to_vec();
    with_reserve.extend(["--reserve", "count:1"]);
    assert!(kezek(&with_reserve).status.success());
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "child_id,group_id\n1,\n2,1\n"
    );
    // check-round needs the same configuration to agree.
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check-round",
            "--instance",
            path(tmp.path()),
            "--assignment",
            path(&out),
            "--ranking",
            "registered_at,registration_no",
        ];
        args.extend(extra);
        kezek(&args).status.code()
    };
    assert_eq!(check(&["--reserve", "count:1"]), Some(0));
    assert_eq!(check(&[]), Some(1));

    let run = kezek(&[
        "allocate",
        "--instance",
        path(tmp.path()),
        "--out",
        path(&out),
        "--ranking",
        "priority,registered_at",
    ]);
    assert_eq!(
        run.status.code(),
        Some(2),
        "clap rejects a ranking that can tie"
    );
    assert!(
        text(&run.stderr).contains("registration_no"),
        "{}",
        text(&run.stderr)
    );
}
