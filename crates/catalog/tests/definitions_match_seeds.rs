//! Each definition against the step counts, terms, performers and refusing steps a reviewer
//! read off the seeds. The expected values live in `tests/expected/<seed>.toml`, one file per
//! seed, each row citing its clause (format in catalog/README.md), so a reviewer can hold a
//! row and the seed text side by side.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kezek_catalog::services::load_services;
use kezek_domain::regulation::Step;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Row {
    file: String,
    index: usize,
    service: String,
    variant: String,
    channel: String,
    durations: Vec<String>,
    performers: Option<Vec<String>>,
    refusing: Option<Vec<String>>,
}

fn strings(v: Option<&toml::Value>) -> Option<Vec<String>> {
    v.and_then(|v| v.as_array()).map(|a| {
        a.iter()
            .map(|x| x.as_str().unwrap_or("<not a string>").to_owned())
            .collect()
    })
}

fn read_rows(dir: &Path) -> Vec<Row> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/expected exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut rows = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("readable");
        let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{file}: {e}"));
        let paths = table
            .get("path")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();
        for (index, p) in paths.iter().enumerate() {
            let get = |k: &str| {
                p.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_else(|| panic!("{file} row {}: missing `{k}`", index + 1))
                    .to_owned()
            };
            let _cites = get("cites");
            rows.push(Row {
                file: file.clone(),
                index: index + 1,
                service: get("service"),
                variant: get("variant"),
                channel: get("channel"),
                durations: strings(p.get("durations"))
                    .unwrap_or_else(|| panic!("{file} row {}: missing `durations`", index + 1)),
                performers: strings(p.get("performers")),
                refusing: strings(p.get("refusing")),
            });
        }
    }
    rows
}

fn duration_text(s: &Step) -> String {
    match s.duration {
        Some(t) => format!("{} {}", t.amount, t.unit.as_str()),
        None => "-".to_owned(),
    }
}

#[test]
fn definitions_match_the_seeds() {
    let catalog = load_services(&manifest_dir().join("../../catalog"))
        .unwrap_or_else(|e| panic!("the shipped catalog has problems:\n{e}"));
    let rows = read_rows(&manifest_dir().join("tests/expected"));
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for r in &rows {
        let at = format!(
            "{} row {} ({} {} {})",
            r.file, r.index, r.service, r.variant, r.channel
        );
        let Some(def) = catalog.service(&r.service) else {
            failures.push(format!("{at}: no definition of {}", r.service));
            continue;
        };
        let Some(edition) = def.edition(&r.variant) else {
            failures.push(format!(
                "{at}: {} has no variant `{}`",
                r.service, r.variant
            ));
            continue;
        };
        let Some(channel) = edition.channel(&r.channel) else {
            failures.push(format!("{at}: no channel `{}`", r.channel));
            continue;
        };
        covered.insert((r.service.clone(), r.variant.clone(), r.channel.clone()));
        let got: Vec<String> = channel.steps.iter().map(duration_text).collect();
        if got != r.durations {
            failures.push(format!(
                "{at}: durations {got:?}, the seed says {:?}",
                r.durations
            ));
        }
        if let Some(expected) = &r.performers {
            let got: Vec<&str> = channel.steps.iter().map(|s| s.performer.as_str()).collect();
            if &got != expected {
                failures.push(format!("{at}: performers {got:?}, expected {expected:?}"));
            }
        }
        if let Some(expected) = &r.refusing {
            let got: Vec<&str> = channel
                .steps
                .iter()
                .filter(|s| s.may_refuse())
                .map(|s| s.id.as_str())
                .collect();
            if &got != expected {
                failures.push(format!(
                    "{at}: refusing steps {got:?}, expected {expected:?}"
                ));
            }
        }
    }
    for def in &catalog.services {
        for e in def.editions() {
            for c in &e.channels {
                let key = (def.id.clone(), e.variant_name().to_owned(), c.id.clone());
                if !covered.contains(&key) {
                    failures.push(format!(
                        "{} {} {}: no row in tests/expected checks this channel against its seed",
                        key.0, key.1, key.2
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
