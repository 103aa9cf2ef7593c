//! Filling the embedded registries from CSV files: every row is checked first (IINs and BINs
//! with the domain parsers, dates, references between rows), every rejected row is reported with
//! its line and reason, and only a file without a bad row is written — in one audited
//! transaction, so an import is all or nothing.
//!
//! Files (header row required, columns in any order):
//!
//! - persons: `iin,full_name,birth_date,death_date,parent_iins,representative_iins` — dates
//!   `YYYY-MM-DD` (the birth date must be the one the IIN encodes), `death_date` may be empty,
//!   the last two are `;`-separated IINs of the child's parents and legal representatives, who
//!   must be in the same file or already in the registry. A child's links are replaced by the
//!   file's.
//! - entities: `bin,name,status` — status `active`, `suspended` or `liquidated`.
//! - powers of attorney: `number,principal_iin,representative_iin,scope,valid_from,valid_until,revoked_on`
//!   — scope is `;`-separated service ids (`S1;S2`), `revoked_on` may be empty.
//!
//! Rows with a key already in the registry replace it.

use std::collections::{BTreeSet, HashMap, HashSet};

use kezek_domain::access::UserId;
use kezek_domain::identity::{Bin, Iin};
use kezek_store::{AuditRecord, Db, NewPowerOfAttorney, NewRegistryPerson, StoreError, WriteTx};
use time::{Date, OffsetDateTime};

use crate::csv::{CsvError, Record, Table};
use crate::{Entity, EntityStatus, Person, PowerOfAttorney, Relation, parse_date};

/// Which registry a file fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryKind {
    Person,
    Entity,
    Notary,
}

impl RegistryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Entity => "entity",
            Self::Notary => "notary",
        }
    }
}

/// A rejected row. The reason names fields, never their personal values (IINs are masked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Csv(#[from] CsvError),
    #[error("{} row(s) rejected, nothing imported", .0.len())]
    Rows(Vec<RowError>),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What an import wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportSummary {
    pub kind: RegistryKind,
    pub records: usize,
    /// Parent and representative links (person files only).
    pub links: usize,
}

/// A person row with the adults linked to them.
#[derive(Clone, Debug)]
pub struct PersonEntry {
    /// The line of the file the row came from.
    pub line: usize,
    pub person: Person,
    pub adults: Vec<(Iin, Relation)>,
}

/// Checks and imports one file into the embedded registry of `kind`.
pub async fn import(
    db: &Db,
    kind: RegistryKind,
    text: &str,
    actor: Option<UserId>,
    now: OffsetDateTime,
) -> Result<ImportSummary, ImportError> {
    match kind {
        RegistryKind::Person => {
            let entries = parse_persons(text)?;
            check_adults_known(db, &entries).await?;
            write_persons(db, &entries, actor, now).await
        }
        RegistryKind::Entity => write_entities(db, &parse_entities(text)?, actor, now).await,
        RegistryKind::Notary => write_powers(db, &parse_powers(text)?, actor, now).await,
    }
}

fn collect<T>(
    table: &Table,
    mut row: impl FnMut(&Record) -> Result<T, String>,
) -> Result<Vec<T>, ImportError> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for record in &table.records {
        let checked = if record.len() > table.width() {
            Err(format!(
                "{} fields, the header has {}",
                record.len(),
                table.width()
            ))
        } else {
            row(record)
        };
        match checked {
            Ok(v) => good.push(v),
            Err(reason) => bad.push(RowError {
                line: record.line,
                reason,
            }),
        }
    }
    if bad.is_empty() {
        Ok(good)
    } else {
        Err(ImportError::Rows(bad))
    }
}

fn iin_field(r: &Record, col: usize, name: &str) -> Result<Iin, String> {
    let v = r.get(col);
    if v.is_empty() {
        return Err(format!("{name} is empty"));
    }
    Iin::parse(v).map_err(|e| format!("{name} is not a valid IIN: {e}"))
}

fn date_field(r: &Record, col: usize, name: &str) -> Result<Date, String> {
    let v = r.get(col);
    if v.is_empty() {
        return Err(format!("{name} is empty"));
    }
    parse_date(v).map_err(|_| format!("{name} {v:?} is not a date (YYYY-MM-DD)"))
}

fn optional_date(r: &Record, col: Option<usize>, name: &str) -> Result<Option<Date>, String> {
    match col {
        Some(c) if !r.get(c).is_empty() => date_field(r, c, name).map(Some),
        _ => Ok(None),
    }
}

fn text_field(r: &Record, col: usize, name: &str) -> Result<String, String> {
    let v = r.get(col);
    if v.is_empty() {
        Err(format!("{name} is empty"))
    } else {
        Ok(v.to_owned())
    }
}

fn iin_list(r: &Record, col: Option<usize>, name: &str) -> Result<Vec<Iin>, String> {
    let Some(c) = col else { return Ok(Vec::new()) };
    r.get(c)
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, s)| {
            Iin::parse(s).map_err(|e| format!("{name} entry {} is not a valid IIN: {e}", i + 1))
        })
        .collect()
}

/// Checks a persons file without touching the database.
pub fn parse_persons(text: &str) -> Result<Vec<PersonEntry>, ImportError> {
    let table = Table::parse(text)?;
    let (c_iin, c_name, c_birth) = (
        table.column("iin")?,
        table.column("full_name")?,
        table.column("birth_date")?,
    );
    let c_death = table.optional_column("death_date");
    let c_parents = table.optional_column("parent_iins");
    let c_reps = table.optional_column("representative_iins");
    let mut seen = HashSet::new();
    collect(&table, |r| {
        let iin = iin_field(r, c_iin, "iin")?;
        let full_name = text_field(r, c_name, "full_name")?;
        let birth_date = date_field(r, c_birth, "birth_date")?;
        if birth_date != iin.birth_date() {
            return Err(format!(
                "birth_date {} differs from the date the IIN encodes",
                crate::iso_date::format(birth_date)
            ));
        }
        let death_date = optional_date(r, c_death, "death_date")?;
        if death_date.is_some_and(|d| d < birth_date) {
            return Err("death_date is before birth_date".into());
        }
        let mut adults = Vec::new();
        for (list, relation) in [
            (c_parents, Relation::Parent),
            (c_reps, Relation::LegalRepresentative),
        ] {
            for adult in iin_list(
                r,
                list,
                if relation == Relation::Parent {
                    "parent_iins"
                } else {
                    "representative_iins"
                },
            )? {
                if adult == iin {
                    return Err("a person cannot be their own parent or representative".into());
                }
                if adults.iter().any(|(a, _)| *a == adult) {
                    return Err(format!(
                        "{} is listed twice among the parents and representatives",
                        adult.masked()
                    ));
                }
                adults.push((adult, relation));
            }
        }
        if !seen.insert(iin) {
            return Err(format!("{} appears on an earlier line", iin.masked()));
        }
        Ok(PersonEntry {
            line: r.line,
            person: Person {
                iin,
                full_name,
                birth_date,
                death_date,
            },
            adults,
        })
    })
}

/// Every linked adult must be a person of the same file or already be in the registry.
async fn check_adults_known(db: &Db, entries: &[PersonEntry]) -> Result<(), ImportError> {
    let in_file: HashSet<Iin> = entries.iter().map(|e| e.person.iin).collect();
    let mut known: HashMap<Iin, bool> = HashMap::new();
    let mut bad = Vec::new();
    for entry in entries {
        let line = entry.line;
        for (adult, _) in &entry.adults {
            if in_file.contains(adult) {
                continue;
            }
            let exists = match known.get(adult) {
                Some(&e) => e,
                None => {
                    let e = db.registry_person(adult).await?.is_some();
                    known.insert(*adult, e);
                    e
                }
            };
            if !exists {
                bad.push(RowError {
                    line,
                    reason: format!(
                        "{} is neither in this file nor in the registry",
                        adult.masked()
                    ),
                });
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ImportError::Rows(bad))
    }
}

/// Checks an entities file.
pub fn parse_entities(text: &str) -> Result<Vec<Entity>, ImportError> {
    let table = Table::parse(text)?;
    let (c_bin, c_name, c_status) = (
        table.column("bin")?,
        table.column("name")?,
        table.column("status")?,
    );
    let mut seen = HashSet::new();
    collect(&table, |r| {
        let bin_text = text_field(r, c_bin, "bin")?;
        let bin = Bin::parse(&bin_text).map_err(|e| format!("bin is not a valid BIN: {e}"))?;
        let name = text_field(r, c_name, "name")?;
        let status_text = text_field(r, c_status, "status")?;
        let status = EntityStatus::parse(&status_text).ok_or_else(|| {
            format!("status {status_text:?} is not one of active, suspended, liquidated")
        })?;
        if !seen.insert(bin) {
            return Err(format!("BIN {bin} appears on an earlier line"));
        }
        Ok(Entity { bin, name, status })
    })
}

/// Checks a powers-of-attorney file.
pub fn parse_powers(text: &str) -> Result<Vec<PowerOfAttorney>, ImportError> {
    let table = Table::parse(text)?;
    let c_number = table.column("number")?;
    let c_principal = table.column("principal_iin")?;
    let c_rep = table.column("representative_iin")?;
    let c_scope = table.column("scope")?;
    let c_from = table.column("valid_from")?;
    let c_until = table.column("valid_until")?;
    let c_revoked = table.optional_column("revoked_on");
    let mut seen = HashSet::new();
    collect(&table, |r| {
        let number = text_field(r, c_number, "number")?;
        let principal_iin = iin_field(r, c_principal, "principal_iin")?;
        let representative_iin = iin_field(r, c_rep, "representative_iin")?;
        if principal_iin == representative_iin {
            return Err("principal and representative are the same person".into());
        }
        let scope: BTreeSet<String> = r
            .get(c_scope)
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if scope.is_empty() {
            return Err("scope is empty: name the services, e.g. S1;S2".into());
        }
        let valid_from = date_field(r, c_from, "valid_from")?;
        let valid_until = date_field(r, c_until, "valid_until")?;
        if valid_until < valid_from {
            return Err("valid_until is before valid_from".into());
        }
        let revoked_on = optional_date(r, c_revoked, "revoked_on")?;
        if !seen.insert(number.clone()) {
            return Err(format!("number {number:?} appears on an earlier line"));
        }
        Ok(PowerOfAttorney {
            number,
            principal_iin,
            representative_iin,
            scope: scope.into_iter().collect(),
            valid_from,
            valid_until,
            revoked_on,
        })
    })
}

fn audit(kind: RegistryKind, records: usize, links: usize) -> AuditRecord<'static> {
    AuditRecord {
        action: "registry.imported",
        object_type: "registry",
        object_id: kind.as_str().to_owned(),
        organization_id: None,
        details: serde_json::json!({ "records": records, "links": links }),
    }
}

/// Writes checked person entries in one audited transaction.
pub async fn write_persons(
    db: &Db,
    entries: &[PersonEntry],
    actor: Option<UserId>,
    now: OffsetDateTime,
) -> Result<ImportSummary, ImportError> {
    let mut tx = db.begin_write(actor, now).await?;
    let links = put_persons(&mut tx, entries).await?;
    tx.audit(audit(RegistryKind::Person, entries.len(), links))
        .await?;
    tx.commit().await?;
    Ok(ImportSummary {
        kind: RegistryKind::Person,
        records: entries.len(),
        links,
    })
}

pub async fn write_entities(
    db: &Db,
    entities: &[Entity],
    actor: Option<UserId>,
    now: OffsetDateTime,
) -> Result<ImportSummary, ImportError> {
    let mut tx = db.begin_write(actor, now).await?;
    put_entities(&mut tx, entities).await?;
    tx.audit(audit(RegistryKind::Entity, entities.len(), 0))
        .await?;
    tx.commit().await?;
    Ok(ImportSummary {
        kind: RegistryKind::Entity,
        records: entities.len(),
        links: 0,
    })
}

pub async fn write_powers(
    db: &Db,
    powers: &[PowerOfAttorney],
    actor: Option<UserId>,
    now: OffsetDateTime,
) -> Result<ImportSummary, ImportError> {
    let mut tx = db.begin_write(actor, now).await?;
    put_powers(&mut tx, powers).await?;
    tx.audit(audit(RegistryKind::Notary, powers.len(), 0))
        .await?;
    tx.commit().await?;
    Ok(ImportSummary {
        kind: RegistryKind::Notary,
        records: powers.len(),
        links: 0,
    })
}

/// Writes persons and their links within `tx`; returns the number of links.
pub(crate) async fn put_persons(
    tx: &mut WriteTx,
    entries: &[PersonEntry],
) -> Result<usize, StoreError> {
    // Persons first, so that links may point at any person of the file.
    for e in entries {
        let p = &e.person;
        tx.upsert_registry_person(&NewRegistryPerson {
            iin: &p.iin,
            full_name: &p.full_name,
            birth_date: p.birth_date,
            death_date: p.death_date,
        })
        .await?;
    }
    let mut links = 0;
    for e in entries {
        tx.clear_registry_links_of(&e.person.iin).await?;
        for (adult, relation) in &e.adults {
            tx.insert_registry_link(adult, &e.person.iin, relation.as_str())
                .await?;
            links += 1;
        }
    }
    Ok(links)
}

pub(crate) async fn put_entities(tx: &mut WriteTx, entities: &[Entity]) -> Result<(), StoreError> {
    for e in entities {
        tx.upsert_registry_entity(&e.bin, &e.name, e.status.as_str())
            .await?;
    }
    Ok(())
}

pub(crate) async fn put_powers(
    tx: &mut WriteTx,
    powers: &[PowerOfAttorney],
) -> Result<(), StoreError> {
    for p in powers {
        let scope = p.scope.join(";");
        tx.upsert_power_of_attorney(&NewPowerOfAttorney {
            number: &p.number,
            principal: &p.principal_iin,
            representative: &p.representative_iin,
            scope: &scope,
            valid_from: p.valid_from,
            valid_until: p.valid_until,
            revoked_on: p.revoked_on,
        })
        .await?;
    }
    Ok(())
}
