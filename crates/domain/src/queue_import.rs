//! Bringing a region's existing queue into kezek (issue 6, item 9): the import files read row by
//! row, every row checked against the rules and against what the region already holds, and each
//! rejected row named with its file, line and reason. Nothing here touches the database: the
//! store hands in what it knows of the region ([`RegionState`]) and writes the [`Plan`].
//!
//! Two inputs: kezek's own CSV files (docs/import-format.md), with real identities, and the
//! allocation instance format (shared/bench/FORMAT.md), which has no identities, so placeholder
//! ones are generated (benchmarks and tests only).

use std::collections::{HashMap, HashSet};
use std::fmt;

use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use crate::allocation::{Language, SourceFile, age_on, parse_meta};
use crate::identity::{Bin, Iin, Sex, iin_for};
use crate::queue::{MAX_AGE_YEARS, Relation};

/// Which files an import reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// kezek's import CSV (docs/import-format.md).
    Csv,
    /// The allocation instance format, without identities.
    Instance,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Instance => "instance",
        }
    }
}

/// A row that will not be imported, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub file: String,
    /// 1-based; the header is line 1.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// A problem with a whole file (missing, wrong header, bad meta.json): nothing can be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct FileError {
    pub file: String,
    pub problem: String,
}

/// A kindergarten to create, keyed by the id the old queue gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kindergarten {
    pub external_id: String,
    pub bin: Option<Bin>,
    /// Kazakh, Russian, English.
    pub names: [String; 3],
    pub address: String,
}

/// A group to create in an imported kindergarten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub kindergarten: String,
    pub band: String,
    pub language: Language,
    pub capacity: u32,
    pub enrolled: u32,
}

/// Who the child and the applicant are.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub child_iin: Iin,
    pub child_name: String,
    pub applicant_iin: Iin,
    pub applicant_name: String,
    pub relation: Relation,
    /// Generated for an input without identities; never a real person's.
    pub placeholder: bool,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("placeholder", &self.placeholder)
            .finish_non_exhaustive()
    }
}

/// A confirmed priority right carried over from the old queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// A category code of the region.
    pub category: String,
    /// The document or registry answer the old queue recorded.
    pub evidence_ref: String,
    pub expires_on: Option<Date>,
}

/// A waiting child with the registration time and number the old queue gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    pub external_id: String,
    pub registration_no: i64,
    pub registered_at: OffsetDateTime,
    pub birth_date: Date,
    pub language: Language,
    pub desired_start: Date,
    pub identity: Identity,
    pub claim: Option<Claim>,
    pub sibling: Option<String>,
    /// External kindergarten ids, most preferred first.
    pub preferences: Vec<String>,
}

/// What the region already holds, as far as an import must know it.
#[derive(Clone, Debug, Default)]
pub struct RegionState {
    /// Age band names of the region's queue settings.
    pub bands: Vec<String>,
    pub max_preferences: usize,
    /// Category code → class (1 first-priority, 2 out-of-turn).
    pub categories: HashMap<String, u8>,
    /// External ids of kindergartens imported before.
    pub kindergartens: HashSet<String>,
    /// (kindergarten external id, band, language) of groups of imported kindergartens.
    pub groups: HashSet<(String, String, String)>,
    /// Registration numbers in use in the region.
    pub registration_nos: HashSet<i64>,
    /// IINs of children with an active (waiting or referred) registration in the region.
    pub active_child_iins: HashSet<String>,
    /// External ids of children imported before.
    pub children: HashSet<String>,
}

/// How instance-format priority classes become the region's categories.
#[derive(Clone, Debug)]
pub struct ClassMapping {
    /// Category for class 1.
    pub first: String,
    /// Category for class 2.
    pub out_of_turn: String,
}

/// The checked import: what will be written, and what was rejected.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Kindergartens not imported before (the others are reused).
    pub new_kindergartens: Vec<Kindergarten>,
    pub groups: Vec<Group>,
    pub children: Vec<Child>,
    pub rejected: Vec<Rejection>,
    /// Rows read per file, for the report.
    pub rows_read: usize,
}

pub const KINDERGARTENS_HEADER: &str = "kindergarten_id,bin,name_kk,name_ru,name_en,address";
pub const GROUPS_HEADER: &str = "kindergarten_id,band,language,capacity,enrolled";
pub const CHILDREN_HEADER: &str = "child_id,registration_no,registered_at,child_iin,birth_date,child_name,\
applicant_iin,applicant_name,relation,language,desired_start,category,evidence,category_expires_on,\
sibling_kindergarten_id,preferences";

const BENCH_KINDERGARTENS_HEADER: &str = "kindergarten_id,district,x_m,y_m";
const BENCH_GROUPS_HEADER: &str = "group_id,kindergarten_id,band,language,free_places";
const BENCH_CHILDREN_HEADER: &str = "child_id,birth_date,language,registered_at,registration_no,priority,sibling_kindergarten_id,preferences,district";

/// SHA-256 of each input file and of all of them together (name, length and bytes of each, in
/// the order given), recorded with the import so anyone holding the files can match them.
pub fn files_digest(files: &[SourceFile<'_>]) -> (Vec<(String, String)>, String) {
    let mut all = Sha256::new();
    let mut each = Vec::with_capacity(files.len());
    for f in files {
        each.push((f.name.to_owned(), hex::encode(Sha256::digest(f.bytes))));
        all.update(f.name.as_bytes());
        all.update(b"\n");
        all.update((f.bytes.len() as u64).to_be_bytes());
        all.update(f.bytes);
    }
    (each, hex::encode(all.finalize()))
}

/// The queue-log salt of an imported entry, derived from a secret the importer draws and then
/// forgets: unpredictable to anyone else, and no random source is needed here.
pub fn entry_salt(secret: &[u8; 32], registration_no: i64) -> String {
    let mut h = Sha256::new();
    h.update(b"kezek-import-salt/1\n");
    h.update(secret);
    h.update(registration_no.to_be_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Reads kezek's import CSV files; `now` is the time of the import (registrations must be
/// before it, children under 7 on its date).
pub fn plan_csv(
    kindergartens: SourceFile<'_>,
    groups: SourceFile<'_>,
    children: SourceFile<'_>,
    state: &RegionState,
    now: OffsetDateTime,
) -> Result<Plan, FileError> {
    let mut b = Builder::new(state);
    for_each_row(kindergartens, KINDERGARTENS_HEADER, |line, f| {
        b.plan.rows_read += 1;
        let raw_id = f.as_ref().ok().map(|f| f[0].trim().to_owned());
        let r = f.and_then(|f| {
            let id = external_id("kindergarten_id", &f[0])?;
            let bin = if f[1].is_empty() {
                None
            } else {
                Some(Bin::parse(&f[1]).map_err(|e| format!("bin {:?}: {e}", f[1]))?)
            };
            let name_kk = required("name_kk", &f[2])?;
            let name_ru = required("name_ru", &f[3])?;
            let name_en = if f[4].is_empty() {
                name_ru.clone()
            } else {
                f[4].clone()
            };
            Ok(Kindergarten {
                external_id: id,
                bin,
                names: [name_kk, name_ru, name_en],
                address: f[5].clone(),
            })
        });
        b.kindergarten(kindergartens.name, line, raw_id, r);
    })?;
    for_each_row(groups, GROUPS_HEADER, |line, f| {
        b.plan.rows_read += 1;
        let r = f.and_then(|f| {
            let capacity = count("capacity", &f[3])?;
            let enrolled = count("enrolled", &f[4])?;
            if enrolled > capacity {
                return Err(format!(
                    "enrolled {enrolled} is more than the capacity {capacity}"
                ));
            }
            Ok(Group {
                kindergarten: external_id("kindergarten_id", &f[0])?,
                band: f[1].clone(),
                language: language(&f[2])?,
                capacity,
                enrolled,
            })
        });
        b.group(groups.name, line, r);
    })?;
    let today = now.date();
    for_each_row(children, CHILDREN_HEADER, |line, f| {
        b.plan.rows_read += 1;
        let r = f.and_then(|f| {
            let external_id = external_id("child_id", &f[0])?;
            let registration_no = positive("registration_no", &f[1])?;
            let registered_at = OffsetDateTime::parse(&f[2], &Rfc3339)
                .map_err(|_| format!("registered_at {:?} is not an RFC 3339 time", f[2]))?;
            if registered_at > now {
                return Err(format!("registered_at {} is in the future", f[2]));
            }
            let birth_date = date("birth_date", &f[4])?;
            let child_iin = Iin::parse(&f[3]).map_err(|e| format!("child_iin: {e}"))?;
            if child_iin.birth_date() != birth_date {
                return Err("birth_date does not match the child's IIN".to_owned());
            }
            let applicant_iin = Iin::parse(&f[6]).map_err(|e| format!("applicant_iin: {e}"))?;
            if applicant_iin == child_iin {
                return Err("the applicant's IIN is the child's".to_owned());
            }
            let relation = match f[8].as_str() {
                "mother" => Relation::Mother,
                "father" => Relation::Father,
                "guardian" => Relation::Guardian,
                "representative" => Relation::Representative,
                other => {
                    return Err(format!(
                        "relation {other:?} is not mother, father, guardian or representative"
                    ));
                }
            };
            let claim = if f[11].is_empty() {
                if !f[12].is_empty() || !f[13].is_empty() {
                    return Err(
                        "evidence or category_expires_on given without a category".to_owned()
                    );
                }
                None
            } else {
                Some(Claim {
                    category: f[11].clone(),
                    evidence_ref: required("evidence", &f[12])?,
                    expires_on: if f[13].is_empty() {
                        None
                    } else {
                        Some(date("category_expires_on", &f[13])?)
                    },
                })
            };
            Ok(Child {
                external_id,
                registration_no,
                registered_at,
                birth_date,
                language: language(&f[9])?,
                desired_start: date("desired_start", &f[10])?,
                identity: Identity {
                    child_iin,
                    child_name: required("child_name", &f[5])?,
                    applicant_iin,
                    applicant_name: required("applicant_name", &f[7])?,
                    relation,
                    placeholder: false,
                },
                claim,
                sibling: if f[14].is_empty() {
                    None
                } else {
                    Some(f[14].clone())
                },
                preferences: split_preferences(&f[15])?,
            })
        });
        b.child(children.name, line, r, today);
    })?;
    Ok(b.finish())
}

/// Reads an allocation instance (shared/bench/FORMAT.md). Free places become the groups'
/// capacity with nobody enrolled; class 1 and 2 become the categories of `classes`; the
/// children get placeholder identities; their desired start is the reference date and their age
/// is checked on the round date (the date the data describes).
pub fn plan_instance(
    meta: SourceFile<'_>,
    kindergartens: SourceFile<'_>,
    groups: SourceFile<'_>,
    children: SourceFile<'_>,
    state: &RegionState,
    classes: &ClassMapping,
    now: OffsetDateTime,
) -> Result<Plan, FileError> {
    let meta = parse_meta(meta).map_err(|e| FileError {
        file: e.file.clone(),
        problem: e.problem.to_string(),
    })?;
    let mut b = Builder::new(state);
    for_each_row(kindergartens, BENCH_KINDERGARTENS_HEADER, |line, f| {
        b.plan.rows_read += 1;
        let raw_id = f.as_ref().ok().map(|f| f[0].trim().to_owned());
        let r = f.and_then(|f| {
            let id = external_id("kindergarten_id", &f[0])?;
            positive("kindergarten_id", &id)?;
            let name = format!("Imported kindergarten {id}");
            Ok(Kindergarten {
                external_id: id,
                bin: None,
                names: [name.clone(), name.clone(), name],
                address: format!("district {}, grid {} m, {} m", f[1], f[2], f[3]),
            })
        });
        b.kindergarten(kindergartens.name, line, raw_id, r);
    })?;
    for_each_row(groups, BENCH_GROUPS_HEADER, |line, f| {
        b.plan.rows_read += 1;
        let r = f.and_then(|f| {
            positive("group_id", &f[0])?;
            let free = count("free_places", &f[4])?;
            Ok(Group {
                kindergarten: external_id("kindergarten_id", &f[1])?,
                band: f[2].clone(),
                language: language(&f[3])?,
                capacity: free,
                enrolled: 0,
            })
        });
        b.group(groups.name, line, r);
    })?;
    let round_start = OffsetDateTime::new_utc(meta.round_date, time::Time::MIDNIGHT);
    let mut used_iins: HashSet<String> = state.active_child_iins.clone();
    for_each_row(children, BENCH_CHILDREN_HEADER, |line, f| {
        b.plan.rows_read += 1;
        let r = f.and_then(|f| {
            let id = positive("child_id", &f[0])?;
            let birth_date = date("birth_date", &f[1])?;
            let registered_at = OffsetDateTime::parse(&f[3], &Rfc3339).map_err(|_| {
                format!(
                    "registered_at {:?} is not a time (YYYY-MM-DDTHH:MM:SSZ)",
                    f[3]
                )
            })?;
            if registered_at >= round_start || registered_at > now {
                return Err(format!(
                    "registered_at {} is not before the round date {}",
                    f[3], meta.round_date
                ));
            }
            let claim = match f[5].as_str() {
                "0" => None,
                "1" => Some(&classes.first),
                "2" => Some(&classes.out_of_turn),
                other => return Err(format!("priority {other:?} must be 0, 1 or 2")),
            }
            .map(|code| Claim {
                category: code.clone(),
                evidence_ref: format!("imported priority class {}", f[5]),
                expires_on: None,
            });
            Ok(Child {
                external_id: f[0].clone(),
                registration_no: positive("registration_no", &f[4])?,
                registered_at,
                birth_date,
                language: language(&f[2])?,
                desired_start: meta.rules.reference_date,
                identity: placeholder_identity(id, birth_date, &mut used_iins)?,
                claim,
                sibling: if f[6].is_empty() {
                    None
                } else {
                    Some(f[6].clone())
                },
                preferences: split_preferences(&f[7])?,
            })
        });
        b.child(children.name, line, r, meta.round_date);
    })?;
    Ok(b.finish())
}

/// Placeholder identities for a child of an input without identities: the child's IIN is valid
/// for its real birth date (so the registration rules hold) and unused in the region; the
/// applicant's IIN has a birth date in the 19th century, so it cannot be a living person's;
/// every child has its own applicant. Deterministic: the same rows give the same numbers.
fn placeholder_identity(
    id: i64,
    birth: Date,
    used: &mut HashSet<String>,
) -> Result<Identity, String> {
    let sex = if id % 2 == 0 { Sex::Female } else { Sex::Male };
    let start = (id.unsigned_abs() % 10_000) as u16;
    let child_iin = (0..10_000u16)
        .filter_map(|k| iin_for(birth, sex, (start + k) % 10_000))
        .find(|iin| !used.contains(&iin.as_string()))
        .ok_or_else(|| "no placeholder IIN left for this birth date".to_owned())?;
    used.insert(child_iin.as_string());
    // 1800-01-01 plus a day per child id (wrapping within the century), a serial from the rest.
    let days = id.unsigned_abs() % 36_500;
    let applicant_birth = Date::from_calendar_date(1800, Month::January, 1).expect("a valid date")
        + time::Duration::days(days as i64);
    let serial = ((id.unsigned_abs() / 36_500) % 10_000) as u16;
    let applicant_iin = (0..10_000u16)
        .filter_map(|k| iin_for(applicant_birth, Sex::Female, (serial + k) % 10_000))
        .find(|iin| !used.contains(&iin.as_string()))
        .ok_or_else(|| "no placeholder IIN left for the applicant".to_owned())?;
    used.insert(applicant_iin.as_string());
    Ok(Identity {
        child_iin,
        child_name: format!("Imported child {id} (no identity)"),
        applicant_iin,
        applicant_name: format!("Imported applicant of child {id} (no identity)"),
        relation: Relation::Mother,
        placeholder: true,
    })
}

/// Collects rows into a plan, rejecting the ones that break a rule or conflict with an earlier
/// row or with the region.
struct Builder<'s> {
    state: &'s RegionState,
    plan: Plan,
    /// Kindergartens a row may refer to: imported before, or accepted in this file.
    kindergartens: HashSet<String>,
    /// Kindergarten ids seen in this file (accepted or not), to tell "rejected" from "unknown".
    seen_kindergartens: HashSet<String>,
    groups: HashSet<(String, String, Language)>,
    children: HashSet<String>,
    registration_nos: HashMap<i64, usize>,
    child_iins: HashMap<String, usize>,
}

impl<'s> Builder<'s> {
    fn new(state: &'s RegionState) -> Builder<'s> {
        Builder {
            state,
            plan: Plan::default(),
            kindergartens: state.kindergartens.clone(),
            seen_kindergartens: HashSet::new(),
            groups: HashSet::new(),
            children: HashSet::new(),
            registration_nos: HashMap::new(),
            child_iins: HashMap::new(),
        }
    }

    fn reject(&mut self, file: &str, line: usize, reason: String) {
        self.plan.rejected.push(Rejection {
            file: file.to_owned(),
            line,
            reason,
        });
    }

    fn known_kindergarten(&self, id: &str) -> Result<(), String> {
        if self.kindergartens.contains(id) {
            Ok(())
        } else if self.seen_kindergartens.contains(id) {
            Err(format!("kindergarten {id} was rejected"))
        } else {
            Err(format!(
                "kindergarten {id} is neither in the file nor imported before"
            ))
        }
    }

    /// `raw_id`: the row's first field, so that rows naming a rejected kindergarten say so.
    fn kindergarten(
        &mut self,
        file: &str,
        line: usize,
        raw_id: Option<String>,
        row: Result<Kindergarten, String>,
    ) {
        let r = row.and_then(|k| {
            if !self.seen_kindergartens.insert(k.external_id.clone()) {
                return Err(format!("kindergarten {} is listed twice", k.external_id));
            }
            Ok(k)
        });
        match r {
            Ok(k) => {
                // One imported before is reused: its id ties the old queue's rows to it.
                if self.kindergartens.insert(k.external_id.clone()) {
                    self.plan.new_kindergartens.push(k);
                }
            }
            Err(reason) => {
                if let Some(id) = raw_id.filter(|id| !id.is_empty()) {
                    self.seen_kindergartens.insert(id);
                }
                self.reject(file, line, reason)
            }
        }
    }

    fn group(&mut self, file: &str, line: usize, row: Result<Group, String>) {
        let r = row.and_then(|g| {
            self.known_kindergarten(&g.kindergarten)?;
            if !self.state.bands.contains(&g.band) {
                return Err(format!("band {:?} is not one of the region's bands ({})", g.band, self.state.bands.join(", ")));
            }
            let key = (g.kindergarten.clone(), g.band.clone(), g.language);
            if self.state.groups.contains(&(key.0.clone(), key.1.clone(), g.language.code().to_owned())) {
                return Err(format!(
                    "kindergarten {} already has a {} group of band {} (change its places in kezek, not by import)",
                    g.kindergarten, g.language.code(), g.band
                ));
            }
            if !self.groups.insert(key) {
                return Err(format!("kindergarten {} has a second {} group of band {}", g.kindergarten, g.language.code(), g.band));
            }
            Ok(g)
        });
        match r {
            Ok(g) => self.plan.groups.push(g),
            Err(reason) => self.reject(file, line, reason),
        }
    }

    /// `as_of`: the day the child must be born by and under 7 on.
    fn child(&mut self, file: &str, line: usize, row: Result<Child, String>, as_of: Date) {
        let r = row.and_then(|c| {
            if c.birth_date > as_of {
                return Err(format!("birth_date {} is after {as_of}", c.birth_date));
            }
            let age = age_on(c.birth_date, as_of);
            if age >= MAX_AGE_YEARS {
                return Err(format!(
                    "the child is {age} years old on {as_of}; the queue takes children under 7"
                ));
            }
            if c.registered_at.date() < c.birth_date {
                return Err("registered_at is before the birth date".to_owned());
            }
            if self.state.children.contains(&c.external_id) {
                return Err(format!("child {} was imported before", c.external_id));
            }
            if !self.children.insert(c.external_id.clone()) {
                return Err(format!("child {} is listed twice", c.external_id));
            }
            if self.state.registration_nos.contains(&c.registration_no) {
                return Err(format!(
                    "registration_no {} is already used in the region",
                    c.registration_no
                ));
            }
            if let Some(first) = self.registration_nos.get(&c.registration_no) {
                return Err(format!(
                    "registration_no {} is already on line {first}",
                    c.registration_no
                ));
            }
            let iin = c.identity.child_iin.as_string();
            if !c.identity.placeholder && self.state.active_child_iins.contains(&iin) {
                return Err("the child already has an active registration in the region".to_owned());
            }
            if let Some(first) = self.child_iins.get(&iin) {
                return Err(format!("the child's IIN is already on line {first}"));
            }
            if c.preferences.is_empty() || c.preferences.len() > self.state.max_preferences {
                return Err(format!(
                    "list between 1 and {} kindergartens",
                    self.state.max_preferences
                ));
            }
            for (i, k) in c.preferences.iter().enumerate() {
                if c.preferences[..i].contains(k) {
                    return Err(format!(
                        "kindergarten {k} is listed twice in the preferences"
                    ));
                }
                self.known_kindergarten(k)?;
            }
            if let Some(s) = &c.sibling {
                self.known_kindergarten(s)
                    .map_err(|e| format!("sibling_kindergarten_id: {e}"))?;
            }
            if let Some(claim) = &c.claim
                && !self.state.categories.contains_key(&claim.category)
            {
                return Err(format!(
                    "category {:?} is not a priority category of the region",
                    claim.category
                ));
            }
            Ok((c, iin))
        });
        match r {
            Ok((c, iin)) => {
                self.registration_nos.insert(c.registration_no, line);
                self.child_iins.insert(iin, line);
                self.plan.children.push(c);
            }
            Err(reason) => self.reject(file, line, reason),
        }
    }

    fn finish(self) -> Plan {
        self.plan
    }
}

fn required(column: &str, v: &str) -> Result<String, String> {
    if v.trim().is_empty() {
        Err(format!("{column} is empty"))
    } else {
        Ok(v.trim().to_owned())
    }
}

fn external_id(column: &str, v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() || v.contains(';') {
        return Err(format!("{column} {v:?} is not an id"));
    }
    Ok(v.to_owned())
}

fn positive(column: &str, v: &str) -> Result<i64, String> {
    match v.parse::<i64>() {
        Ok(n) if n > 0 && v.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("{column} {v:?} is not a positive integer")),
    }
}

fn count(column: &str, v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("{column} {v:?} is not a non-negative integer")),
    }
}

fn date(column: &str, v: &str) -> Result<Date, String> {
    Date::parse(v, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{column} {v:?} is not a date (YYYY-MM-DD)"))
}

fn language(v: &str) -> Result<Language, String> {
    Language::parse(v.as_bytes()).ok_or_else(|| format!("language {v:?} is not kk or ru"))
}

fn split_preferences(v: &str) -> Result<Vec<String>, String> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    v.split(';')
        .map(|p| external_id("preferences", p))
        .collect()
}

/// Checks the header, then calls `row` with the line number and the fields of each data line
/// (or why they could not be read: that row alone is rejected). Fields may be quoted (`"..."`,
/// a quote inside doubled).
fn for_each_row(
    file: SourceFile<'_>,
    header: &str,
    mut row: impl FnMut(usize, Result<&[String], String>),
) -> Result<(), FileError> {
    let err = |problem: String| FileError {
        file: file.name.to_owned(),
        problem,
    };
    let text = std::str::from_utf8(file.bytes).map_err(|e| err(format!("not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split('\n').enumerate();
    let first = lines
        .next()
        .map(|(_, l)| l.trim_end_matches('\r'))
        .unwrap_or("");
    if first != header {
        return Err(err(format!("header is {first:?}, expected {header:?}")));
    }
    let width = header.split(',').count();
    for (i, raw) in lines {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        match split_fields(line) {
            Ok(fields) if fields.len() == width => row(i + 1, Ok(&fields)),
            Ok(fields) => row(
                i + 1,
                Err(format!("{} fields, expected {width}", fields.len())),
            ),
            Err(e) => row(i + 1, Err(e)),
        }
    }
    Ok(())
}

/// Splits one CSV line; quoted fields may hold commas and doubled quotes.
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(16);
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".to_owned()),
                }
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => out.push(field),
                Some(c) => return Err(format!("{c:?} after a closing quote")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            out.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn src<'a>(name: &'a str, text: &'a str) -> SourceFile<'a> {
        SourceFile {
            name,
            bytes: text.as_bytes(),
        }
    }

    fn state() -> RegionState {
        RegionState {
            bands: ["1-2", "2-3", "3-4", "4-5", "5-6"]
                .map(str::to_owned)
                .to_vec(),
            max_preferences: 5,
            categories: [("large-family".to_owned(), 1), ("out".to_owned(), 2)]
                .into_iter()
                .collect(),
            ..RegionState::default()
        }
    }

    const META: &str = r#"{"format":"kezek-allocation-instance/1","round_date":"2025-06-01","reference_date":"2025-09-01",
        "bands":[{"name":"3-4","min_age":3,"max_age":4}],"languages":["kk","ru"]}"#;
    const CHILDREN: &str = "child_id,birth_date,language,registered_at,registration_no,priority,sibling_kindergarten_id,preferences,district";

    fn instance(kindergartens: &str, children: &str) -> Plan {
        let classes = ClassMapping {
            first: "large-family".into(),
            out_of_turn: "out".into(),
        };
        plan_instance(
            src("meta.json", META),
            src("kindergartens.csv", kindergartens),
            src(
                "groups.csv",
                "group_id,kindergarten_id,band,language,free_places\n",
            ),
            src("children.csv", children),
            &state(),
            &classes,
            datetime!(2026-11-25 12:00 UTC),
        )
        .unwrap()
    }

    #[test]
    fn quoted_fields_keep_their_commas_and_quotes() {
        assert_eq!(
            split_fields(r#"a,"b, c","say ""hi""",,"#).unwrap(),
            ["a", "b, c", "say \"hi\"", "", ""]
        );
        assert!(split_fields(r#"a,"open"#).is_err());
        assert!(split_fields(r#""x"y,z"#).is_err());
    }

    #[test]
    fn instance_classes_become_the_region_categories_and_identities_are_placeholders() {
        let kg = "kindergarten_id,district,x_m,y_m\n1,1,0,0\n2,2,5,5\n";
        let children = format!(
            "{CHILDREN}\n1,2021-05-01,kk,2022-01-01T00:00:00Z,7,0,,1;2,1\n2,2022-02-02,ru,2022-03-01T10:00:00Z,3,1,2,2,1\n3,2022-02-02,ru,2022-03-01T10:00:00Z,4,2,,1,1\n"
        );
        let plan = instance(kg, &children);
        assert_eq!(plan.rejected, []);
        assert_eq!(plan.new_kindergartens.len(), 2);
        let classes: Vec<Option<&str>> = plan
            .children
            .iter()
            .map(|c| c.claim.as_ref().map(|c| c.category.as_str()))
            .collect();
        assert_eq!(classes, [None, Some("large-family"), Some("out")]);
        let c = &plan.children[1];
        assert_eq!(
            (c.registration_no, c.registered_at, c.desired_start),
            (3, datetime!(2022-03-01 10:00 UTC), date!(2025 - 09 - 01))
        );
        assert_eq!(c.sibling.as_deref(), Some("2"));
        for c in &plan.children {
            assert!(c.identity.placeholder);
            assert_eq!(c.identity.child_iin.birth_date(), c.birth_date);
            assert!(c.identity.applicant_iin.birth_date().year() < 1900);
        }
        // Two children born the same day get different IINs; the same input gives the same ones.
        assert_ne!(
            plan.children[1].identity.child_iin,
            plan.children[2].identity.child_iin
        );
        let again = instance(kg, &children);
        assert!(
            plan.children
                .iter()
                .zip(&again.children)
                .all(|(a, b)| a.identity == b.identity)
        );
    }

    #[test]
    fn a_child_preferring_a_rejected_kindergarten_is_rejected_with_the_reason() {
        let kg = "kindergarten_id,district,x_m,y_m\n1,1,0,0\n0,1,0,0\n";
        let children = format!(
            "{CHILDREN}\n1,2021-05-01,kk,2022-01-01T00:00:00Z,7,0,,1;0,1\n2,2021-05-01,kk,2025-06-01T00:00:00Z,8,0,,1,1\n3,2018-01-01,kk,2019-01-01T00:00:00Z,9,3,,1,1\n"
        );
        let plan = instance(kg, &children);
        let lines: Vec<String> = plan.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "kindergartens.csv:3: kindergarten_id \"0\" is not a positive integer",
                "children.csv:2: kindergarten 0 was rejected",
                "children.csv:3: registered_at 2025-06-01T00:00:00Z is not before the round date 2025-06-01",
                "children.csv:4: priority \"3\" must be 0, 1 or 2",
            ]
        );
        assert!(plan.children.is_empty());
    }

    #[test]
    fn the_digest_covers_names_and_bytes() {
        let (each, all) = files_digest(&[src("a", "xy"), src("b", "z")]);
        assert_eq!(each[0].1, hex::encode(Sha256::digest(b"xy")));
        assert_ne!(all, files_digest(&[src("a", "x"), src("b", "yz")]).1);
        assert_ne!(all, files_digest(&[src("c", "xy"), src("b", "z")]).1);
    }

    #[test]
    fn a_wrong_header_stops_the_import_naming_the_file() {
        let e = plan_csv(
            src("kindergartens.csv", "id,name\n"),
            src("groups.csv", GROUPS_HEADER),
            src("children.csv", CHILDREN_HEADER),
            &state(),
            datetime!(2026-11-25 12:00 UTC),
        )
        .unwrap_err();
        assert_eq!(e.file, "kindergartens.csv");
        assert!(e.problem.starts_with("header is \"id,name\""));
    }
}
