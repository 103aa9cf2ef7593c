//! `kezek calendar due` as a user runs it: CSV in on stdin, CSV out on stdout, on the shipped
//! calendar around New Year, Nauryz, Kurban Ait, carried-over and moved days off of 2025–2026.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn catalog_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalog").to_string()
}

fn kezek_due(extra: &[&str], csv: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kezek"))
        .args(["calendar", "due", "--catalog", &catalog_dir()])
        .args(extra)
        .env_remove("KEZEK_CATALOG_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kezek binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(csv.as_bytes())
        .expect("stdin accepts the CSV");
    child.wait_with_output().expect("kezek finishes")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("UTF-8 errors")
}

#[test]
fn due_dates_around_the_holidays_of_2025_and_2026_at_a_provider() {
    let csv = "\
id,start_local,unit,amount
new_year_2025_worked_sunday,2024-12-31T10:00,working_days,1
new_year_2026,2025-12-31T10:00,working_days,1
orthodox_christmas_2026,2026-01-06T10:00,working_days,1
nauryz_2025,2025-03-20T10:00,working_days,5
nauryz_2026,2026-03-20T10:00,working_days,1
kurban_ait_2025,2025-06-05T10:00,working_days,1
kurban_ait_2026,2026-05-26T10:00,working_days,1
victory_day_2026_carried_over,2026-05-08T10:00,working_days,1
no_constitution_day_2026,2026-08-28T10:00,working_days,1
calendar_days_into_nauryz_2026,2026-03-13T09:00,calendar_days,10
month_onto_kurban_ait_2026,2026-02-27T09:00,months,3
month_from_31_january_2026,2026-01-31T09:00,months,1
minutes_over_kurban_ait_2026,2026-05-26T17:30,working_minutes,60
minutes_from_the_lunch_break,2025-03-19T13:20,working_minutes,60
";
    let out = kezek_due(&[], csv);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "\
id,due_local
new_year_2025_worked_sunday,2025-01-05
new_year_2026,2026-01-05
orthodox_christmas_2026,2026-01-08
nauryz_2025,2025-04-01
nauryz_2026,2026-03-26
kurban_ait_2025,2025-06-09
kurban_ait_2026,2026-05-28
victory_day_2026_carried_over,2026-05-12
no_constitution_day_2026,2026-08-31
calendar_days_into_nauryz_2026,2026-03-26
month_onto_kurban_ait_2026,2026-05-28
month_from_31_january_2026,2026-03-02
minutes_over_kurban_ait_2026,2026-05-28T09:30
minutes_from_the_lunch_break,2025-03-19T15:00
"
    );
}

#[test]
fn state_corporation_hours_count_minutes_on_the_worked_sunday_5_january_2025() {
    let csv = "id,start_local,unit,amount\nsaturday,2025-01-04T12:00,working_minutes,30\nevening,2025-01-06T19:50,working_minutes,20\n";
    let out = kezek_due(&["--office-hours", "09:00-20:00"], csv);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    // 7 January is Orthodox Christmas, so the evening's remaining 10 minutes run on the 8th.
    assert_eq!(
        stdout(&out),
        "id,due_local\nsaturday,2025-01-05T09:30\nevening,2025-01-08T09:10\n"
    );
}

#[test]
fn a_malformed_row_fails_the_whole_run_naming_its_line() {
    let csv = "id,start_local,unit,amount\nok,2025-03-20T10:00,working_days,5\nbad,2025-03-20T10:00,weeks,2\n";
    let out = kezek_due(&[], csv);
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "", "nothing is written when a row is bad");
    let err = stderr(&out);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("unit `weeks`"), "{err}");
}

#[test]
fn a_term_past_the_calendar_years_fails_naming_its_line() {
    let csv = "id,start_local,unit,amount\nlate,2027-12-28T10:00,working_days,5\n";
    let out = kezek_due(&[], csv);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("line 2") && err.contains("2028-01-01"),
        "{err}"
    );
}

#[test]
fn a_wrong_header_and_bad_office_hours_are_refused() {
    let out = kezek_due(
        &[],
        "id,start,unit,amount\nx,2025-03-20T10:00,working_days,1\n",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));

    let out = kezek_due(
        &["--office-hours", "18:00-09:00"],
        "id,start_local,unit,amount\n",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("18:00-09:00"), "{}", stderr(&out));
}

#[test]
fn the_catalog_is_found_in_the_current_folder_or_through_kezek_catalog_dir() {
    let csv = "id,start_local,unit,amount\na,2025-01-02T10:00,working_days,1\n";
    let run = |cwd: &str, env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kezek"));
        cmd.args(["calendar", "due"])
            .current_dir(cwd)
            .env_remove("KEZEK_CATALOG_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = env {
            cmd.env("KEZEK_CATALOG_DIR", dir);
        }
        let mut child = cmd.spawn().expect("the kezek binary starts");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(csv.as_bytes())
            .expect("stdin accepts the CSV");
        child.wait_with_output().expect("kezek finishes")
    };
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let elsewhere = env!("CARGO_MANIFEST_DIR");

    let out = run(repo, None);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "id,due_local\na,2025-01-05\n");

    let out = run(elsewhere, Some(&catalog_dir()));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "id,due_local\na,2025-01-05\n");

    // crates/cli has no catalog folder: the error says where it looked.
    let out = run(elsewhere, None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("catalog"), "{}", stderr(&out));
}
