//! The shipped catalog folder loads without a single problem, whatever files it holds.

use std::path::Path;

use kezek_catalog::services::load_services;

fn catalog_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalog"))
}

#[test]
fn every_shipped_service_definition_is_valid() {
    let catalog = match load_services(catalog_dir()) {
        Ok(c) => c,
        Err(e) => panic!("the shipped catalog has problems:\n{e}"),
    };
    for id in ["S1", "S2", "S15", "S21"] {
        assert!(catalog.service(id).is_some(), "{id} is shipped");
    }
    // The eleven services with no regulation text anywhere in the seeds are listed by name.
    let named: std::collections::BTreeSet<&str> =
        catalog.named_only.iter().map(|n| n.id.as_str()).collect();
    for id in [
        "S7", "S16", "S17", "S18", "S19", "S20", "S22", "S23", "S24", "S25", "S26",
    ] {
        assert!(named.contains(id), "{id} is listed as named only");
        assert!(catalog.service(id).is_none(), "{id} has no definition");
    }
    for s in &catalog.services {
        for e in s.editions() {
            assert!(
                !e.channels.is_empty(),
                "{} {} has channels",
                s.id,
                e.variant_name()
            );
            for c in &e.channels {
                assert!(
                    !c.steps.is_empty(),
                    "{} {} {} has steps",
                    s.id,
                    e.variant_name(),
                    c.id
                );
            }
        }
    }
}

#[test]
fn every_channel_of_every_edition_is_a_route_an_application_can_walk() {
    use kezek_domain::application::Route;
    let catalog = load_services(catalog_dir()).unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for s in &catalog.services {
        for e in s.editions() {
            for c in &e.channels {
                if let Err(err) = Route::for_channel(&s.id, e.variant_name(), e, &c.id) {
                    failures.push(format!("{} {} {}: {err}", s.id, e.variant_name(), c.id));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
