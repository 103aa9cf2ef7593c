//! The instance files of FORMAT.md, parsed from bytes (the caller reads the files). Fields are
//! sliced out of the lines without building a `String` per field, and every error names the
//! file, the line and the problem.

use std::fmt;

use serde::Deserialize;
use time::{Date, Month};

use super::engine::Allocation;
use super::model::{
    Band, BuildError, ChildId, ChildRow, GroupId, GroupRow, Instance, InstanceBuilder,
    KindergartenId, Language, NONE, PriorityClass, RoundRules,
};

/// One input file: its name (for messages) and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// A problem in an input file, at a line (1-based) when it concerns one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub file: String,
    pub line: Option<usize>,
    pub problem: Problem,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {}: {}", self.file, line, self.problem),
            None => write!(f, "{}: {}", self.file, self.problem),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the file is empty: expected the header {expected:?}")]
    Empty { expected: &'static str },
    #[error("header is {found:?}, expected {expected:?}")]
    Header {
        found: String,
        expected: &'static str,
    },
    #[error("{found} fields, expected {expected}")]
    FieldCount { found: usize, expected: usize },
    #[error("empty line")]
    EmptyLine,
    #[error("{column}: {value:?} is not a positive integer")]
    NotAnId { column: &'static str, value: String },
    #[error("{column}: {value:?} is not a non-negative integer")]
    NotANumber { column: &'static str, value: String },
    #[error("{column}: {value:?} is not a date (YYYY-MM-DD)")]
    BadDate { column: &'static str, value: String },
    #[error("{column}: {value:?} is not a time (YYYY-MM-DDTHH:MM:SSZ)")]
    BadTimestamp { column: &'static str, value: String },
    #[error("{column}: {value:?} is not a language of this round ({allowed})")]
    BadLanguage {
        column: &'static str,
        value: String,
        allowed: String,
    },
    #[error("band {value:?} is not one of the bands in meta.json")]
    UnknownBand { value: String },
    #[error("priority {value:?} must be 0, 1 or 2")]
    BadPriority { value: String },
    #[error("registered_at {value} is not before the round date {round_date}")]
    RegisteredAfterRound { value: String, round_date: Date },
    #[error("unknown child {0}")]
    UnknownChild(ChildId),
    #[error("unknown group {0}")]
    UnknownGroup(GroupId),
    #[error("child {0} is listed twice")]
    ChildListedTwice(ChildId),
    #[error("{0}")]
    Meta(String),
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// What meta.json says: the round's date and rules (with the default ranking and no reserve:
/// those are the region's configuration, not part of the data).
#[derive(Debug, Clone)]
pub struct Meta {
    pub round_date: Date,
    pub languages: Vec<Language>,
    pub rules: RoundRules,
}

const FORMAT: &str = "kezek-allocation-instance/1";
const KINDERGARTENS_HEADER: &str = "kindergarten_id,district,x_m,y_m";
const GROUPS_HEADER: &str = "group_id,kindergarten_id,band,language,free_places";
const CHILDREN_HEADER: &str = "child_id,birth_date,language,registered_at,registration_no,priority,sibling_kindergarten_id,preferences,district";
const ASSIGNMENT_HEADER: &str = "child_id,group_id";

#[derive(Deserialize)]
struct MetaJson {
    format: String,
    round_date: String,
    reference_date: String,
    bands: Vec<BandJson>,
    languages: Vec<String>,
}

#[derive(Deserialize)]
struct BandJson {
    name: String,
    min_age: u8,
    max_age: u8,
}

/// Parses meta.json.
pub fn parse_meta(file: SourceFile<'_>) -> Result<Meta, ParseError> {
    let whole = |problem: Problem| ParseError {
        file: file.name.to_owned(),
        line: None,
        problem,
    };
    let json: MetaJson = serde_json::from_slice(file.bytes).map_err(|e| ParseError {
        file: file.name.to_owned(),
        line: Some(e.line()),
        problem: Problem::Meta(e.to_string()),
    })?;
    if json.format != FORMAT {
        return Err(whole(Problem::Meta(format!(
            "format is {:?}, expected {FORMAT:?}",
            json.format
        ))));
    }
    let date = |column: &'static str, value: &str| {
        parse_date(value.as_bytes()).ok_or_else(|| {
            whole(Problem::BadDate {
                column,
                value: value.to_owned(),
            })
        })
    };
    let round_date = date("round_date", &json.round_date)?;
    let reference_date = date("reference_date", &json.reference_date)?;
    let languages = json
        .languages
        .iter()
        .map(|l| {
            Language::parse(l.as_bytes()).ok_or_else(|| {
                whole(Problem::BadLanguage {
                    column: "languages",
                    value: l.clone(),
                    allowed: "kk, ru".to_owned(),
                })
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bands = json
        .bands
        .into_iter()
        .map(|b| Band::new(b.name, b.min_age, b.max_age))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| whole(e.into()))?;
    let rules = RoundRules::new(reference_date, bands).map_err(|e| whole(e.into()))?;
    Ok(Meta {
        round_date,
        languages,
        rules,
    })
}

/// Parses the three CSV files of an instance under `rules` (usually `meta.rules` with the
/// region's ranking and reserve set) and ranks the children.
pub fn parse_instance(
    meta: &Meta,
    rules: RoundRules,
    kindergartens: SourceFile<'_>,
    groups: SourceFile<'_>,
    children: SourceFile<'_>,
) -> Result<Instance, ParseError> {
    parse_rows(meta, rules, kindergartens, groups, children)?.build()
}

/// The rows of an instance, read and validated but not yet ranked (so that the two phases can
/// be timed apart).
#[derive(Debug)]
pub struct ParsedRows {
    builder: InstanceBuilder,
    children_file: String,
}

impl ParsedRows {
    /// Ranks the children: see [`InstanceBuilder::build`].
    pub fn build(self) -> Result<Instance, ParseError> {
        let file = self.children_file;
        self.builder.build().map_err(|e| {
            let line = match &e {
                // Rows are added in file order after the header, so row r is on line r + 2.
                BuildError::DuplicateRegistrationNo { second_row, .. } => Some(second_row + 2),
                _ => None,
            };
            ParseError {
                file,
                line,
                problem: e.into(),
            }
        })
    }
}

/// Parses the three CSV files of an instance without ranking the children yet.
pub fn parse_rows(
    meta: &Meta,
    rules: RoundRules,
    kindergartens: SourceFile<'_>,
    groups: SourceFile<'_>,
    children: SourceFile<'_>,
) -> Result<ParsedRows, ParseError> {
    let mut builder = InstanceBuilder::new(rules).map_err(|e| ParseError {
        file: "meta.json".to_owned(),
        line: None,
        problem: e.into(),
    })?;
    let allowed = meta
        .languages
        .iter()
        .map(|l| l.code())
        .collect::<Vec<_>>()
        .join(", ");
    let language = |column: &'static str, v: &[u8]| {
        Language::parse(v)
            .filter(|l| meta.languages.contains(l))
            .ok_or_else(|| Problem::BadLanguage {
                column,
                value: show(v),
                allowed: allowed.clone(),
            })
    };

    for_each_row(kindergartens, KINDERGARTENS_HEADER, |fields| {
        let id = id_field("kindergarten_id", fields[0])?;
        builder.add_kindergarten(KindergartenId(id))?;
        Ok(())
    })?;

    for_each_row(groups, GROUPS_HEADER, |f| {
        let id = id_field("group_id", f[0])?;
        let kindergarten = id_field("kindergarten_id", f[1])?;
        let band = builder
            .rules()
            .band_index(f[2])
            .ok_or_else(|| Problem::UnknownBand { value: show(f[2]) })?;
        let language = language("language", f[3])?;
        let free_places = number_field("free_places", f[4])?;
        let free_places = u32::try_from(free_places).map_err(|_| Problem::NotANumber {
            column: "free_places",
            value: show(f[4]),
        })?;
        builder.add_group(GroupRow {
            id: GroupId(id),
            kindergarten: KindergartenId(kindergarten),
            band,
            language,
            free_places,
        })?;
        Ok(())
    })?;

    // Sizing from the byte count avoids regrowing the big arrays (rows are ~70 bytes).
    builder.reserve(children.bytes.len() / 64, children.bytes.len() / 16);
    let mut prefs: Vec<KindergartenId> = Vec::with_capacity(8);
    let max_prefs = builder.rules().max_preferences;
    let round_start = unix_seconds(meta.round_date, 0, 0, 0);
    for_each_row(children, CHILDREN_HEADER, |f| {
        let id = id_field("child_id", f[0])?;
        let birth_date = parse_date(f[1]).ok_or_else(|| Problem::BadDate {
            column: "birth_date",
            value: show(f[1]),
        })?;
        let language = language("language", f[2])?;
        let registered_at = parse_timestamp(f[3]).ok_or_else(|| Problem::BadTimestamp {
            column: "registered_at",
            value: show(f[3]),
        })?;
        if registered_at >= round_start {
            return Err(Problem::RegisteredAfterRound {
                value: show(f[3]),
                round_date: meta.round_date,
            });
        }
        let registration_no = id_field("registration_no", f[4])?;
        let priority = number_field("priority", f[5])
            .ok()
            .and_then(PriorityClass::from_code)
            .ok_or_else(|| Problem::BadPriority { value: show(f[5]) })?;
        let sibling = if f[6].is_empty() {
            None
        } else {
            Some(KindergartenId(id_field("sibling_kindergarten_id", f[6])?))
        };
        prefs.clear();
        if !f[7].is_empty() {
            let count = f[7].iter().filter(|&&b| b == b';').count() + 1;
            if count > max_prefs {
                return Err(BuildError::TooManyPreferences {
                    count,
                    max: max_prefs,
                }
                .into());
            }
            for p in f[7].split(|&b| b == b';') {
                prefs.push(KindergartenId(id_field("preferences", p)?));
            }
        }
        builder.add_child(ChildRow {
            id: ChildId(id),
            birth_date,
            language,
            registered_at,
            registration_no,
            priority,
            sibling_kindergarten: sibling,
            preferences: &prefs,
        })?;
        Ok(())
    })?;

    Ok(ParsedRows {
        builder,
        children_file: children.name.to_owned(),
    })
}

/// Parses an assignment CSV (`child_id,group_id`) against an instance. A child missing from
/// the file is unassigned; a child listed twice, an unknown child or group is an error.
pub fn parse_assignment(inst: &Instance, file: SourceFile<'_>) -> Result<Allocation, ParseError> {
    let mut group_of = vec![NONE; inst.child_count()];
    let mut seen = vec![false; inst.child_count()];
    for_each_row(file, ASSIGNMENT_HEADER, |f| {
        let id = ChildId(id_field("child_id", f[0])?);
        let c = inst.child_index(id).ok_or(Problem::UnknownChild(id))?;
        if std::mem::replace(&mut seen[c as usize], true) {
            return Err(Problem::ChildListedTwice(id));
        }
        if !f[1].is_empty() {
            let g = GroupId(id_field("group_id", f[1])?);
            group_of[c as usize] = inst.group_index(g).ok_or(Problem::UnknownGroup(g))?;
        }
        Ok(())
    })?;
    Ok(Allocation::from_assignment(inst, group_of))
}

/// Up to this many fields per row (the children file has 9).
const MAX_FIELDS: usize = 9;

/// Checks the header, then calls `row` with the fields of each data line.
fn for_each_row(
    file: SourceFile<'_>,
    header: &'static str,
    mut row: impl FnMut(&[&[u8]]) -> Result<(), Problem>,
) -> Result<(), ParseError> {
    let err = |line: usize, problem: Problem| ParseError {
        file: file.name.to_owned(),
        line: Some(line),
        problem,
    };
    let expected = header.split(',').count();
    let mut lines = file.bytes.split(|&b| b == b'\n');
    let first = lines.next().map(trim_cr).unwrap_or_default();
    if first.is_empty() && file.bytes.is_empty() {
        return Err(ParseError {
            file: file.name.to_owned(),
            line: None,
            problem: Problem::Empty { expected: header },
        });
    }
    if first != header.as_bytes() {
        return Err(err(
            1,
            Problem::Header {
                found: show(first),
                expected: header,
            },
        ));
    }
    let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
    let mut line_no = 1;
    let mut pending_empty = None;
    for line in lines {
        line_no += 1;
        let line = trim_cr(line);
        if line.is_empty() {
            // Only the empty remainder after the final newline is allowed.
            pending_empty.get_or_insert(line_no);
            continue;
        }
        if let Some(at) = pending_empty {
            return Err(err(at, Problem::EmptyLine));
        }
        let mut count = 0;
        for field in line.split(|&b| b == b',') {
            if count < MAX_FIELDS {
                fields[count] = field;
            }
            count += 1;
        }
        if count != expected {
            return Err(err(
                line_no,
                Problem::FieldCount {
                    found: count,
                    expected,
                },
            ));
        }
        row(&fields[..count]).map_err(|p| err(line_no, p))?;
    }
    if let Some(at) = pending_empty
        && at != line_no
    {
        return Err(err(at, Problem::EmptyLine));
    }
    Ok(())
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A field value for an error message, shortened so one bad line cannot flood the terminal.
fn show(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.into_owned()
    }
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let mut n = 0u64;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn id_field(column: &'static str, v: &[u8]) -> Result<u64, Problem> {
    parse_u64(v)
        .filter(|&n| n > 0)
        .ok_or_else(|| Problem::NotAnId {
            column,
            value: show(v),
        })
}

fn number_field(column: &'static str, v: &[u8]) -> Result<u64, Problem> {
    parse_u64(v).ok_or_else(|| Problem::NotANumber {
        column,
        value: show(v),
    })
}

fn digits(v: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
    }
    Some(n)
}

/// `YYYY-MM-DD`, a real calendar date.
pub(crate) fn parse_date(v: &[u8]) -> Option<Date> {
    if v.len() != 10 || v[4] != b'-' || v[7] != b'-' {
        return None;
    }
    let year = digits(&v[0..4])?;
    let month = Month::try_from(digits(&v[5..7])? as u8).ok()?;
    let day = digits(&v[8..10])?;
    Date::from_calendar_date(year as i32, month, day as u8).ok()
}

/// `YYYY-MM-DDTHH:MM:SSZ` as seconds since the Unix epoch.
pub(crate) fn parse_timestamp(v: &[u8]) -> Option<i64> {
    if v.len() != 20 || v[10] != b'T' || v[13] != b':' || v[16] != b':' || v[19] != b'Z' {
        return None;
    }
    let date = parse_date(&v[..10])?;
    let (h, m, s) = (
        digits(&v[11..13])?,
        digits(&v[14..16])?,
        digits(&v[17..19])?,
    );
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(unix_seconds(date, h, m, s))
}

fn unix_seconds(date: Date, h: u32, m: u32, s: u32) -> i64 {
    const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
    (i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY) * 86_400
        + i64::from(h * 3600 + m * 60 + s)
}
