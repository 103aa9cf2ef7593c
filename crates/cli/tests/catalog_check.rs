//! `kezek catalog check` run as a user runs it: on the shipped catalog, and on a broken copy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shipped_catalog() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalog"))
}

fn kezek(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kezek"));
    c.args(args).env_remove("KEZEK_CATALOG_DIR");
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("the kezek binary runs")
}

/// Copies the shipped service definitions into `<dir>/services`.
fn copy_catalog(dir: &Path) {
    let services = dir.join("services");
    std::fs::create_dir_all(&services).expect("create services dir");
    for entry in std::fs::read_dir(shipped_catalog().join("services")).expect("shipped services") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, services.join(path.file_name().expect("name"))).expect("copy");
        }
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle present")
        + 1
}

#[test]
fn shipped_catalog_passes_with_a_summary() {
    let catalog = shipped_catalog();
    let out = run(kezek(&[
        "catalog",
        "check",
        "--catalog",
        catalog.to_str().expect("utf-8 path"),
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("S1 ") && l.contains("3 variant(s)")),
        "{stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("ok: ") && last.contains(" services, ") && last.contains(" steps"),
        "{last}"
    );
}

#[test]
fn catalog_dir_comes_from_the_environment() {
    let mut c = kezek(&["catalog", "check"]);
    c.env("KEZEK_CATALOG_DIR", shipped_catalog());
    let out = run(c);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn broken_definitions_are_reported_with_file_and_line_and_fail() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_catalog(tmp.path());
    let s2 = tmp.path().join("services/S2-preschool-enrolment.toml");
    let text = std::fs::read_to_string(&s2).expect("S2 copy");
    let broken = text
        .replacen("performer = \"clerk\"", "performer = \"janitor\"", 1)
        .replacen(
            "amount = 25, unit = \"working_minutes\"",
            "amount = 25, unit = \"fortnights\"",
            1,
        );
    std::fs::write(&s2, &broken).expect("write broken S2");
    let s15 = tmp.path().join("services/S15-additional-education.toml");
    let text15 = std::fs::read_to_string(&s15).expect("S15 copy").replace(
        "kk = \"Балаларға арналған қосымша білім беру ұйымдарына",
        "xx = \"",
    );
    std::fs::write(&s15, &text15).expect("write broken S15");

    let out = run(kezek(&[
        "catalog",
        "check",
        "--catalog",
        tmp.path().to_str().expect("utf-8 path"),
    ]));
    assert!(!out.status.success(), "a broken catalog fails the check");
    assert!(out.stdout.is_empty(), "no summary for a broken catalog");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let janitor = format!(
        "{}:{}: unknown performer `janitor`",
        s2.display(),
        line_of(&broken, "janitor")
    );
    let unit = format!(
        "{}:{}: unknown duration unit `fortnights`",
        s2.display(),
        line_of(&broken, "fortnights")
    );
    let unknown_key = format!(
        "{}:{}: unknown field `xx`",
        s15.display(),
        line_of(&text15, "xx = ")
    );
    for expected in [&janitor, &unit, &unknown_key] {
        assert!(
            stderr.contains(expected.as_str()),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn missing_catalog_folder_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = run(kezek(&[
        "catalog",
        "check",
        "--catalog",
        tmp.path().join("nope").to_str().expect("utf-8"),
    ]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
