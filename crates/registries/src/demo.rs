//! The demo registries: the CSV files of `catalog/registries/`, built into the binary so that a
//! first start needs no files, and loaded together with the demo accounts they match.

use kezek_store::{AuditRecord, Db};
use time::OffsetDateTime;

use crate::import::{
    ImportError, parse_entities, parse_persons, parse_powers, put_entities, put_persons, put_powers,
};

pub const PERSONS_CSV: &str = include_str!("../../../catalog/registries/persons.csv");
pub const ENTITIES_CSV: &str = include_str!("../../../catalog/registries/entities.csv");
pub const POWERS_OF_ATTORNEY_CSV: &str =
    include_str!("../../../catalog/registries/powers_of_attorney.csv");

/// Whether all embedded registries are empty.
pub async fn is_empty(db: &Db) -> Result<bool, ImportError> {
    Ok(db.registry_counts().await? == kezek_store::RegistryCounts::default())
}

/// Loads the demo registries in one audited transaction when they are all empty (a first
/// start); returns whether it loaded them.
pub async fn load_if_empty(db: &Db, now: OffsetDateTime) -> Result<bool, ImportError> {
    if !is_empty(db).await? {
        return Ok(false);
    }
    let persons = parse_persons(PERSONS_CSV)?;
    let entities = parse_entities(ENTITIES_CSV)?;
    let powers = parse_powers(POWERS_OF_ATTORNEY_CSV)?;
    let mut tx = db.begin_write(None, now).await?;
    let links = put_persons(&mut tx, &persons).await?;
    put_entities(&mut tx, &entities).await?;
    put_powers(&mut tx, &powers).await?;
    tx.audit(AuditRecord {
        action: "registry.demo_loaded",
        object_type: "registry",
        object_id: "demo".into(),
        organization_id: None,
        details: serde_json::json!({
            "persons": persons.len(), "links": links, "entities": entities.len(), "powers_of_attorney": powers.len(),
        }),
    })
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_files_pass_the_import_checks() {
        let persons = parse_persons(PERSONS_CSV).unwrap();
        assert_eq!(persons.len(), 10);
        assert_eq!(parse_entities(ENTITIES_CSV).unwrap().len(), 7);
        assert_eq!(parse_powers(POWERS_OF_ATTORNEY_CSV).unwrap().len(), 4);
    }
}
