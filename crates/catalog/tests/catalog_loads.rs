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
    assert!(catalog.service("S2").is_some(), "S2 enrolment is shipped");
    for s in &catalog.services {
        for e in s.editions() {
            assert!(!e.channels.is_empty(), "{} {} has channels", s.id, e.variant_name());
            for c in &e.channels {
                assert!(!c.steps.is_empty(), "{} {} {} has steps", s.id, e.variant_name(), c.id);
            }
        }
    }
}
