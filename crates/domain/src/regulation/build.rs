//! From the raw file to resolved editions, collecting every problem on the way.
//!
//! The order is: convert each raw value (unknown names, missing keys and bad durations become
//! problems and are replaced by placeholders so the checks can go on), merge each variant into
//! a copy of the base, then check every merged edition as a whole. A file with any problem
//! yields no definition, so placeholders never leave this module.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::model::*;
use super::raw::*;
use super::{DefinitionErrors, Problem, line_of};
use crate::duration::{DurationUnit, Term};

struct Ctx<'a> {
    text: &'a str,
    problems: BTreeSet<(usize, String)>,
    /// The problems found once the base edition was checked, before any variant.
    base_problems: BTreeSet<(usize, String)>,
}

impl<'a> Ctx<'a> {
    fn new(text: &'a str) -> Self {
        Ctx {
            text,
            problems: BTreeSet::new(),
            base_problems: BTreeSet::new(),
        }
    }

    fn line(&self, span: Range<usize>) -> usize {
        line_of(self.text, span.start)
    }

    fn line_of<T>(&self, v: &Sp<T>) -> usize {
        self.line(v.span())
    }

    fn push(&mut self, line: usize, message: impl Into<String>) {
        self.problems.insert((line, message.into()));
    }

    fn into_errors(self, file: &str) -> DefinitionErrors {
        DefinitionErrors(
            self.problems
                .into_iter()
                .map(|(line, message)| Problem {
                    file: file.to_owned(),
                    line,
                    message,
                })
                .collect(),
        )
    }
}

fn toml_error(file: &str, text: &str, e: toml::de::Error) -> DefinitionErrors {
    let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
    DefinitionErrors(vec![Problem {
        file: file.to_owned(),
        line,
        message: e.message().to_owned(),
    }])
}

// ---------------------------------------------------------------------------------------------
// Intermediate form: converted values that still remember their lines, before merging.

#[derive(Clone)]
enum Item {
    Step(Step),
    Procedure { name: String, line: usize },
}

#[derive(Clone)]
struct ChannelSpec {
    id: String,
    kind: ChannelKind,
    cites: Option<String>,
    items: Vec<Item>,
    line: usize,
}

#[derive(Clone)]
struct ProcedureSpec {
    steps: Vec<Step>,
    line: usize,
}

#[derive(Default)]
struct Body {
    provider: Option<Names>,
    free_of_charge: Option<bool>,
    automation: Option<Automation>,
    legal_basis: Option<LegalBasis>,
    sources: Option<Vec<Source>>,
    status: Option<Status>,
    documents: Option<Documents>,
    refusal_grounds: Option<Vec<(RefusalGround, usize)>>,
    results: Option<Vec<(ResultDocument, usize)>>,
    limits: Option<Vec<Limit>>,
    procedures: BTreeMap<String, ProcedureSpec>,
    channels: Vec<ChannelSpec>,
}

struct Override {
    step: String,
    line: usize,
    performer: Option<Performer>,
    action: Option<String>,
    duration: Option<Term>,
    may_refuse: Option<Vec<String>>,
    cites: Option<String>,
    note: Option<String>,
}

struct VariantSpec {
    id: String,
    line: usize,
    region: Region,
    names: Option<Names>,
    replace_channels: bool,
    drop_channels: Vec<(String, usize)>,
    overrides: Vec<Override>,
    body: Body,
}

/// An edition after merging, before its channels are expanded.
#[derive(Clone)]
struct EditionSpec {
    variant: Option<String>,
    line: usize,
    region: Region,
    names: Names,
    provider: Names,
    free_of_charge: Option<bool>,
    automation: Option<Automation>,
    legal_basis: LegalBasis,
    sources: Vec<Source>,
    status: Status,
    documents: Documents,
    refusal_grounds: Vec<(RefusalGround, usize)>,
    results: Vec<(ResultDocument, usize)>,
    limits: Vec<Limit>,
    procedures: BTreeMap<String, ProcedureSpec>,
    channels: Vec<ChannelSpec>,
}

// ---------------------------------------------------------------------------------------------
// Entry points

pub(super) fn service(file: &str, text: &str) -> Result<ServiceDefinition, DefinitionErrors> {
    let raw: RawService = toml::from_str(text).map_err(|e| toml_error(file, text, e))?;
    let mut cx = Ctx::new(text);

    let id = match &raw.id {
        Some(id) => {
            if !is_service_id(id.get_ref()) {
                cx.push(
                    cx.line_of(id),
                    format!("service id `{}` must look like `S1`", id.get_ref()),
                );
            }
            id.get_ref().clone()
        }
        None => {
            cx.push(1, "missing `id` (the digest's service number, e.g. \"S2\")");
            String::new()
        }
    };
    let slug = match &raw.slug {
        Some(s) => {
            check_identifier(&mut cx, s, "slug");
            s.get_ref().clone()
        }
        None => {
            cx.push(1, "missing `slug`");
            String::new()
        }
    };
    let region = required_region(&mut cx, raw.region.as_ref(), 1);
    let names = names(&mut cx, raw.names.as_ref(), 1, "names", true);
    let mut raw = raw;
    let raw_variants = std::mem::take(&mut raw.variants);
    let body = body(&mut cx, take_body!(raw));

    let base = EditionSpec {
        variant: None,
        line: 1,
        region,
        names,
        provider: body.provider.unwrap_or_else(|| {
            cx.push(
                1,
                "missing `provider` (names of the organization rendering the service)",
            );
            Names::default()
        }),
        free_of_charge: body.free_of_charge,
        automation: body.automation,
        legal_basis: body.legal_basis.unwrap_or_default(),
        sources: body.sources.unwrap_or_default(),
        status: body.status.unwrap_or_else(|| {
            cx.push(
                1,
                "missing `[status]` (the act and its repeal, as the digest records them)",
            );
            Status::default()
        }),
        documents: body.documents.unwrap_or_else(|| {
            cx.push(
                1,
                "missing `[documents]` (required documents, or a marked default)",
            );
            Documents::default()
        }),
        refusal_grounds: body.refusal_grounds.unwrap_or_default(),
        results: body.results.unwrap_or_default(),
        limits: body.limits.unwrap_or_default(),
        procedures: body.procedures,
        channels: body.channels,
    };
    if base.sources.is_empty() {
        cx.push(
            1,
            "missing `[[sources]]` (the seed files and clauses this definition encodes)",
        );
    }

    let variants: Vec<VariantSpec> = raw_variants
        .into_iter()
        .map(|v| variant(&mut cx, v))
        .collect();
    let mut seen = BTreeMap::new();
    for v in &variants {
        if v.id == "base" {
            cx.push(v.line, "variant id `base` is reserved for the base edition");
        }
        if let Some(first) = seen.insert(v.id.clone(), v.line) {
            cx.push(
                v.line,
                format!("duplicate variant id `{}` (first at line {first})", v.id),
            );
        }
    }

    let base_edition = check_and_expand(&mut cx, &base);
    cx.base_problems = cx.problems.clone();
    let mut editions = Vec::new();
    for v in &variants {
        let merged = merge(&mut cx, &base, v);
        editions.push(check_and_expand(&mut cx, &merged));
    }

    if !cx.problems.is_empty() {
        return Err(cx.into_errors(file));
    }
    Ok(ServiceDefinition {
        file: file.to_owned(),
        id,
        slug,
        base: base_edition,
        variants: editions,
    })
}

pub(super) fn named_only(
    file: &str,
    text: &str,
) -> Result<Vec<NamedOnlyService>, DefinitionErrors> {
    let raw: RawNamedOnlyFile = toml::from_str(text).map_err(|e| toml_error(file, text, e))?;
    let mut cx = Ctx::new(text);
    let mut out = Vec::new();
    let mut seen = BTreeMap::new();
    for entry in &raw.services {
        let line = cx.line_of(entry);
        let e = entry.get_ref();
        let id = match &e.id {
            Some(id) if is_service_id(id.get_ref()) => id.get_ref().clone(),
            Some(id) => {
                cx.push(
                    cx.line_of(id),
                    format!("service id `{}` must look like `S7`", id.get_ref()),
                );
                String::new()
            }
            None => {
                cx.push(line, "missing `id`");
                String::new()
            }
        };
        let region = required_region(&mut cx, e.region.as_ref(), line);
        if let Some(first) = seen.insert((id.clone(), region), line) {
            cx.push(
                line,
                format!("`{id}` in {region} is listed twice (first at line {first})"),
            );
        }
        // The seeds give these services only in Russian; Kazakh may be added later.
        let names = names(&mut cx, e.names.as_ref(), line, "names", false);
        let source = match &e.source {
            Some(s) => source(&mut cx, s),
            None => {
                cx.push(
                    line,
                    "missing `source` (the seed and the place that names the service)",
                );
                Source {
                    seed: String::new(),
                    part: None,
                    clauses: String::new(),
                }
            }
        };
        let status = match &e.status {
            Some(s) => status(&mut cx, s),
            None => {
                cx.push(line, "missing `status`");
                Status::default()
            }
        };
        out.push(NamedOnlyService {
            id,
            region,
            names,
            source,
            status,
            note: e.note.clone(),
            line,
        });
    }
    if !cx.problems.is_empty() {
        return Err(cx.into_errors(file));
    }
    Ok(out)
}

pub(super) fn check_catalog(
    services: &[ServiceDefinition],
    named: &[NamedOnlyService],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for s in services {
        if let Some(first) = seen.insert(&s.id, &s.file) {
            problems.push(Problem {
                file: s.file.clone(),
                line: 1,
                message: format!("service `{}` is already defined in {first}", s.id),
            });
        }
    }
    for n in named {
        if let Some(s) = services.iter().find(|s| s.id == n.id)
            && s.editions().any(|e| e.region == n.region)
        {
            problems.push(Problem {
                file: String::new(),
                line: n.line,
                message: format!(
                    "`{}` in {} is listed as named only, but {} defines it for that region",
                    n.id, n.region, s.file
                ),
            });
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Conversion of raw values

fn is_service_id(s: &str) -> bool {
    s.len() > 1 && s.starts_with('S') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Ids and slugs are lowercase ASCII words joined by hyphens, so they are safe in URLs and
/// file names and cannot differ only in case.
fn check_identifier(cx: &mut Ctx, v: &Sp<String>, what: &str) {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !s.starts_with('-');
    if !ok {
        cx.push(
            cx.line_of(v),
            format!("{what} `{s}` must be lowercase letters, digits and hyphens"),
        );
    }
}

/// Every citation names its seed file first (`002 R2 §9`), so a reader can find the text.
fn check_cites(cx: &mut Ctx, v: &Sp<String>) -> String {
    let s = v.get_ref();
    let code = s.get(..3).unwrap_or("");
    let ok = code.len() == 3
        && code.bytes().all(|b| b.is_ascii_digit())
        && s[3..].chars().next().is_none_or(|c| c == ' ');
    if !ok {
        cx.push(
            cx.line_of(v),
            format!("`cites` must start with the seed file code, e.g. \"002 R2 §9\", not \"{s}\""),
        );
    }
    s.clone()
}

fn required_cites(cx: &mut Ctx, v: Option<&Sp<String>>, line: usize, what: &str) -> String {
    match v {
        Some(v) => check_cites(cx, v),
        None => {
            cx.push(
                line,
                format!("{what}: missing `cites` (the clause it encodes, e.g. \"002 R2 §9\")"),
            );
            String::new()
        }
    }
}

fn required_region(cx: &mut Ctx, v: Option<&Sp<String>>, line: usize) -> Region {
    match v {
        Some(r) => Region::parse(r.get_ref()).unwrap_or_else(|| {
            cx.push(
                cx.line_of(r),
                unknown(
                    "region",
                    r.get_ref(),
                    Region::ALL.iter().map(|r| r.as_str()),
                ),
            );
            Region::AlmatyCity
        }),
        None => {
            cx.push(line, "missing `region`");
            Region::AlmatyCity
        }
    }
}

fn unknown<'a>(what: &str, value: &str, known: impl Iterator<Item = &'a str>) -> String {
    let known: Vec<_> = known.collect();
    format!("unknown {what} `{value}` (known: {})", known.join(", "))
}

fn names(
    cx: &mut Ctx,
    v: Option<&Sp<RawNames>>,
    parent_line: usize,
    key: &str,
    kk_required: bool,
) -> Names {
    let Some(v) = v else {
        cx.push(parent_line, format!("missing `{key}` (kk, ru and en)"));
        return Names::default();
    };
    let line = cx.line_of(v);
    let n = v.get_ref();
    let mut one = |lang: &str, value: &Option<Sp<String>>, required: bool| match value {
        Some(s) if s.get_ref().trim().is_empty() => {
            cx.push(cx.line_of(s), format!("{key}: `{lang}` is empty"));
            String::new()
        }
        Some(s) => s.get_ref().clone(),
        None => {
            if required {
                cx.push(line, format!("{key}: missing `{lang}` name"));
            }
            String::new()
        }
    };
    Names {
        kk: one("kk", &n.kk, kk_required),
        ru: one("ru", &n.ru, true),
        en: one("en", &n.en, true),
    }
}

fn date(cx: &mut Ctx, v: &Sp<toml::value::Datetime>) -> Option<time::Date> {
    let dt = v.get_ref();
    let parsed = match (dt.date, dt.time, dt.offset) {
        (Some(d), None, None) => time::Month::try_from(d.month)
            .ok()
            .and_then(|m| time::Date::from_calendar_date(i32::from(d.year), m, d.day).ok()),
        _ => None,
    };
    if parsed.is_none() {
        cx.push(
            cx.line_of(v),
            format!("`{dt}` is not a date like 2015-08-07"),
        );
    }
    parsed
}

fn duration(cx: &mut Ctx, v: &Sp<RawDuration>) -> Option<Term> {
    let line = cx.line_of(v);
    let d = v.get_ref();
    let amount = match &d.amount {
        Some(a) => match u32::try_from(*a.get_ref()) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                cx.push(
                    cx.line_of(a),
                    format!(
                        "duration amount must be a positive whole number, not {}",
                        a.get_ref()
                    ),
                );
                None
            }
        },
        None => {
            cx.push(line, "duration: missing `amount`");
            None
        }
    };
    let unit = match &d.unit {
        Some(u) => {
            let parsed = DurationUnit::parse(u.get_ref());
            if parsed.is_none() {
                let known = [
                    DurationUnit::WorkingMinutes,
                    DurationUnit::WorkingDays,
                    DurationUnit::CalendarDays,
                    DurationUnit::Months,
                ];
                cx.push(
                    cx.line_of(u),
                    unknown(
                        "duration unit",
                        u.get_ref(),
                        known.iter().map(|k| k.as_str()),
                    ),
                );
            }
            parsed
        }
        None => {
            cx.push(line, "duration: missing `unit`");
            None
        }
    };
    Some(Term {
        amount: amount?,
        unit: unit?,
    })
}

fn performer(cx: &mut Ctx, v: &Sp<String>) -> Performer {
    Performer::parse(v.get_ref()).unwrap_or_else(|| {
        cx.push(
            cx.line_of(v),
            unknown("performer", v.get_ref(), Performer::names().into_iter()),
        );
        Performer::System
    })
}

fn document_kinds(cx: &mut Ctx, v: &[Sp<String>]) -> Vec<DocumentKind> {
    v.iter()
        .filter_map(|k| {
            let parsed = DocumentKind::parse(k.get_ref());
            if parsed.is_none() {
                cx.push(
                    cx.line_of(k),
                    unknown(
                        "document kind",
                        k.get_ref(),
                        DocumentKind::ALL.iter().map(|d| d.as_str()),
                    ),
                );
            }
            parsed
        })
        .collect()
}

fn step(cx: &mut Ctx, v: &Sp<RawStep>) -> Step {
    let line = cx.line_of(v);
    let s = v.get_ref();
    let id = match &s.id {
        Some(id) => {
            check_identifier(cx, id, "step id");
            id.get_ref().clone()
        }
        None => {
            cx.push(line, "step: missing `id`");
            String::new()
        }
    };
    let what = format!("step `{id}`");
    let performer = match &s.performer {
        Some(p) => performer(cx, p),
        None => {
            cx.push(line, format!("{what}: missing `performer`"));
            Performer::System
        }
    };
    let action = match &s.action {
        Some(a) if !a.get_ref().trim().is_empty() => a.get_ref().clone(),
        _ => {
            cx.push(line, format!("{what}: missing `action`"));
            String::new()
        }
    };
    Step {
        id,
        performer,
        action,
        duration: s.duration.as_ref().and_then(|d| duration(cx, d)),
        may_refuse: s
            .may_refuse
            .iter()
            .flatten()
            .map(|g| g.get_ref().clone())
            .collect(),
        issues: document_kinds(cx, s.issues.as_deref().unwrap_or(&[])),
        output: s.output.clone(),
        closes: s.closes.as_ref().and_then(|m| {
            let parsed = Milestone::ALL
                .iter()
                .copied()
                .find(|x| x.as_str() == m.get_ref());
            if parsed.is_none() {
                cx.push(
                    cx.line_of(m),
                    unknown(
                        "milestone",
                        m.get_ref(),
                        Milestone::ALL.iter().map(|x| x.as_str()),
                    ),
                );
            }
            parsed
        }),
        cites: required_cites(cx, s.cites.as_ref(), line, &what),
        note: s.note.clone(),
        line,
    }
}

fn item(cx: &mut Ctx, v: &Sp<RawStep>, in_procedure: bool) -> Item {
    let s = v.get_ref();
    let Some(name) = &s.procedure else {
        return Item::Step(step(cx, v));
    };
    let line = cx.line_of(v);
    if in_procedure {
        cx.push(line, "a procedure cannot include another procedure");
    }
    let others = s.id.is_some()
        || s.performer.is_some()
        || s.action.is_some()
        || s.duration.is_some()
        || s.may_refuse.is_some()
        || s.issues.is_some()
        || s.output.is_some()
        || s.closes.is_some()
        || s.cites.is_some()
        || s.note.is_some();
    if others {
        cx.push(line, "a `procedure` reference takes no other keys");
    }
    Item::Procedure {
        name: name.get_ref().clone(),
        line,
    }
}

fn channel(cx: &mut Ctx, v: &Sp<RawChannel>) -> ChannelSpec {
    let line = cx.line_of(v);
    let c = v.get_ref();
    let id = match &c.id {
        Some(id) => {
            check_identifier(cx, id, "channel id");
            id.get_ref().clone()
        }
        None => {
            cx.push(line, "channel: missing `id`");
            String::new()
        }
    };
    let kind = match &c.kind {
        Some(k) => ChannelKind::parse(k.get_ref()).unwrap_or_else(|| {
            cx.push(
                cx.line_of(k),
                unknown(
                    "channel kind",
                    k.get_ref(),
                    ChannelKind::ALL.iter().map(|k| k.as_str()),
                ),
            );
            ChannelKind::ProviderOffice
        }),
        None => {
            cx.push(line, format!("channel `{id}`: missing `kind`"));
            ChannelKind::ProviderOffice
        }
    };
    let items = c.steps.iter().map(|s| item(cx, s, false)).collect();
    ChannelSpec {
        id,
        kind,
        cites: c.cites.clone(),
        items,
        line,
    }
}

fn source(cx: &mut Ctx, v: &Sp<RawSource>) -> Source {
    let line = cx.line_of(v);
    let s = v.get_ref();
    let seed = match &s.seed {
        Some(seed) => {
            let ok =
                seed.get_ref().len() == 3 && seed.get_ref().bytes().all(|b| b.is_ascii_digit());
            if !ok {
                cx.push(
                    cx.line_of(seed),
                    format!(
                        "seed `{}` must be a seed file code like \"000\"",
                        seed.get_ref()
                    ),
                );
            }
            seed.get_ref().clone()
        }
        None => {
            cx.push(line, "source: missing `seed`");
            String::new()
        }
    };
    let clauses = match &s.clauses {
        Some(c) => c.get_ref().clone(),
        None => {
            cx.push(line, "source: missing `clauses`");
            String::new()
        }
    };
    Source {
        seed,
        part: s.part.clone(),
        clauses,
    }
}

fn status(cx: &mut Ctx, v: &Sp<RawStatus>) -> Status {
    let line = cx.line_of(v);
    let s = v.get_ref();
    let act = match &s.act {
        Some(a) => a.get_ref().clone(),
        None => {
            cx.push(line, "status: missing `act` (the approving act)");
            String::new()
        }
    };
    let st = Status {
        act,
        adopted_on: s.adopted_on.as_ref().and_then(|d| date(cx, d)),
        registered_on: s.registered_on.as_ref().and_then(|d| date(cx, d)),
        edition: s.edition.clone(),
        repealed_on: s.repealed_on.as_ref().and_then(|d| date(cx, d)),
        repealed_by: s.repealed_by.clone(),
    };
    if st.repealed_on.is_some() != st.repealed_by.is_some() {
        cx.push(line, "status: `repealed_on` and `repealed_by` go together");
    }
    if let (Some(from), Some(to)) = (st.registered_on.or(st.adopted_on), st.repealed_on)
        && to <= from
    {
        cx.push(
            line,
            format!("status: repealed on {to}, before it took effect on {from}"),
        );
    }
    st
}

fn body(cx: &mut Ctx, b: RawBody) -> Body {
    let provider = b
        .provider
        .as_ref()
        .map(|p| names(cx, Some(p), 1, "provider", true));
    let automation = b.automation.as_ref().map(|a| {
        Automation::parse(a.get_ref()).unwrap_or_else(|| {
            cx.push(
                cx.line_of(a),
                unknown(
                    "automation",
                    a.get_ref(),
                    Automation::ALL.iter().map(|a| a.as_str()),
                ),
            );
            Automation::Paper
        })
    });
    let legal_basis = b.legal_basis.as_ref().map(|l| LegalBasis {
        standard: l.get_ref().standard.clone(),
        acts: l.get_ref().acts.clone(),
    });
    let sources = b
        .sources
        .as_ref()
        .map(|v| v.iter().map(|s| source(cx, s)).collect());
    let status = b.status.as_ref().map(|s| status(cx, s));
    let documents = b.documents.as_ref().map(|d| {
        let line = cx.line_of(d);
        let raw = d.get_ref();
        if raw.default && raw.source.is_none() {
            cx.push(
                line,
                "documents: a default list must say in `source` what it stands in for",
            );
        }
        let mut seen = BTreeMap::new();
        let required = raw
            .required
            .iter()
            .map(|doc| {
                let dline = cx.line_of(doc);
                let id = match &doc.get_ref().id {
                    Some(id) => {
                        check_identifier(cx, id, "document id");
                        id.get_ref().clone()
                    }
                    None => {
                        cx.push(dline, "document: missing `id`");
                        String::new()
                    }
                };
                if let Some(first) = seen.insert(id.clone(), dline) {
                    cx.push(
                        dline,
                        format!("duplicate document id `{id}` (first at line {first})"),
                    );
                }
                let names = names(cx, doc.get_ref().names.as_ref(), dline, "names", true);
                Document { id, names }
            })
            .collect();
        Documents {
            default: raw.default,
            source: raw.source.clone(),
            required,
        }
    });
    let refusal_grounds = b.refusal_grounds.as_ref().map(|v| {
        let mut seen = BTreeMap::new();
        v.iter()
            .map(|g| {
                let gline = cx.line_of(g);
                let raw = g.get_ref();
                let id = match &raw.id {
                    Some(id) => {
                        check_identifier(cx, id, "refusal ground id");
                        id.get_ref().clone()
                    }
                    None => {
                        cx.push(gline, "refusal ground: missing `id`");
                        String::new()
                    }
                };
                if let Some(first) = seen.insert(id.clone(), gline) {
                    cx.push(gline, format!("duplicate refusal ground `{id}` (first at line {first})"));
                }
                if raw.default && raw.source.is_none() {
                    cx.push(gline, format!("refusal ground `{id}`: a default must say in `source` what it stands in for"));
                }
                let names = names(cx, raw.names.as_ref(), gline, "names", true);
                (RefusalGround { id, names, default: raw.default, source: raw.source.clone() }, gline)
            })
            .collect()
    });
    let results = b.results.as_ref().map(|v| {
        v.iter()
            .map(|r| {
                let rline = cx.line_of(r);
                let raw = r.get_ref();
                let kind = match &raw.kind {
                    Some(k) => document_kinds(cx, std::slice::from_ref(k))
                        .pop()
                        .unwrap_or(DocumentKind::Notification),
                    None => {
                        cx.push(rline, "result: missing `kind`");
                        DocumentKind::Notification
                    }
                };
                let names = names(cx, raw.names.as_ref(), rline, "names", true);
                let cites =
                    required_cites(cx, raw.cites.as_ref(), rline, &format!("result `{kind}`"));
                (
                    ResultDocument {
                        kind,
                        names,
                        form: raw.form.clone(),
                        cites,
                    },
                    rline,
                )
            })
            .collect()
    });
    let limits = b.limits.as_ref().map(|v| {
        v.iter()
            .filter_map(|l| {
                let lline = cx.line_of(l);
                let raw = l.get_ref();
                let kind = match &raw.kind {
                    Some(k) => {
                        let parsed = LimitKind::parse(k.get_ref());
                        if parsed.is_none() {
                            cx.push(
                                cx.line_of(k),
                                unknown(
                                    "limit kind",
                                    k.get_ref(),
                                    LimitKind::ALL.iter().map(|k| k.as_str()),
                                ),
                            );
                        }
                        parsed
                    }
                    None => {
                        cx.push(lline, "limit: missing `kind`");
                        None
                    }
                };
                let term = match &raw.duration {
                    Some(d) => duration(cx, d),
                    None => {
                        cx.push(lline, "limit: missing `duration`");
                        None
                    }
                };
                let cites = required_cites(cx, raw.cites.as_ref(), lline, "limit");
                Some(Limit {
                    kind: kind?,
                    term: term?,
                    cites,
                })
            })
            .collect()
    });
    let procedures = b
        .procedures
        .iter()
        .map(|(name, p)| {
            let line = cx.line_of(p);
            let steps = p
                .get_ref()
                .steps
                .iter()
                .filter_map(|s| match item(cx, s, true) {
                    Item::Step(step) => Some(step),
                    Item::Procedure { .. } => None,
                })
                .collect();
            (name.clone(), ProcedureSpec { steps, line })
        })
        .collect();
    let channels = b.channels.iter().map(|c| channel(cx, c)).collect();
    Body {
        provider,
        free_of_charge: b.free_of_charge,
        automation,
        legal_basis,
        sources,
        status,
        documents,
        refusal_grounds,
        results,
        limits,
        procedures,
        channels,
    }
}

fn variant(cx: &mut Ctx, v: Sp<RawVariant>) -> VariantSpec {
    let line = cx.line_of(&v);
    let mut raw = v.into_inner();
    let id = match &raw.id {
        Some(id) => {
            check_identifier(cx, id, "variant id");
            id.get_ref().clone()
        }
        None => {
            cx.push(line, "variant: missing `id`");
            String::new()
        }
    };
    let region = required_region(cx, raw.region.as_ref(), line);
    let names = raw
        .names
        .as_ref()
        .map(|n| names(cx, Some(n), line, "names", true));
    let drop_channels = raw
        .drop_channels
        .iter()
        .map(|d| (d.get_ref().clone(), cx.line_of(d)))
        .collect();
    let overrides = std::mem::take(&mut raw.overrides)
        .iter()
        .map(|o| {
            let oline = cx.line_of(o);
            let r = o.get_ref();
            let step = match &r.step {
                Some(s) => s.get_ref().clone(),
                None => {
                    cx.push(
                        oline,
                        "override: missing `step` (the id of the step it changes)",
                    );
                    String::new()
                }
            };
            Override {
                step,
                line: oline,
                performer: r.performer.as_ref().map(|p| performer(cx, p)),
                action: r.action.as_ref().map(|a| a.get_ref().clone()),
                duration: r.duration.as_ref().and_then(|d| duration(cx, d)),
                may_refuse: r
                    .may_refuse
                    .as_ref()
                    .map(|v| v.iter().map(|g| g.get_ref().clone()).collect()),
                cites: r.cites.as_ref().map(|c| check_cites(cx, c)),
                note: r.note.clone(),
            }
        })
        .collect();
    let replace_channels = raw.replace_channels;
    let body = body(cx, take_body!(raw));
    VariantSpec {
        id,
        line,
        region,
        names,
        replace_channels,
        drop_channels,
        overrides,
        body,
    }
}

// ---------------------------------------------------------------------------------------------
// Merging a variant into the base

fn merge(cx: &mut Ctx, base: &EditionSpec, v: &VariantSpec) -> EditionSpec {
    let mut e = base.clone();
    e.variant = Some(v.id.clone());
    e.line = v.line;
    e.region = v.region;
    if let Some(n) = &v.names {
        e.names = n.clone();
    }
    let b = &v.body;
    if let Some(x) = &b.provider {
        e.provider = x.clone();
    }
    if b.free_of_charge.is_some() {
        e.free_of_charge = b.free_of_charge;
    }
    if b.automation.is_some() {
        e.automation = b.automation;
    }
    if let Some(x) = &b.legal_basis {
        e.legal_basis = x.clone();
    }
    if let Some(x) = &b.sources {
        e.sources = x.clone();
    }
    if let Some(x) = &b.status {
        e.status = x.clone();
    }
    if let Some(x) = &b.documents {
        e.documents = x.clone();
    }
    if let Some(x) = &b.refusal_grounds {
        e.refusal_grounds = x.clone();
    }
    if let Some(x) = &b.results {
        e.results = x.clone();
    }
    if let Some(x) = &b.limits {
        e.limits = x.clone();
    }
    for (name, p) in &b.procedures {
        e.procedures.insert(name.clone(), p.clone());
    }
    if v.replace_channels {
        e.channels.clear();
    }
    for (id, line) in &v.drop_channels {
        let before = e.channels.len();
        e.channels.retain(|c| &c.id != id);
        if e.channels.len() == before {
            cx.push(
                *line,
                format!(
                    "variant `{}` drops channel `{id}`, which the base does not have",
                    v.id
                ),
            );
        }
    }
    for c in &b.channels {
        match e.channels.iter_mut().find(|x| x.id == c.id) {
            Some(existing) => *existing = c.clone(),
            None => e.channels.push(c.clone()),
        }
    }
    // A procedure the variant no longer uses (its channels replaced) is not an error of the
    // variant: drop base procedures nothing refers to any more.
    let used: BTreeSet<String> = e
        .channels
        .iter()
        .flat_map(|c| c.items.iter())
        .filter_map(|i| match i {
            Item::Procedure { name, .. } => Some(name.clone()),
            Item::Step(_) => None,
        })
        .collect();
    e.procedures
        .retain(|name, _| used.contains(name) || b.procedures.contains_key(name));

    for o in &v.overrides {
        let target = e
            .procedures
            .values_mut()
            .flat_map(|p| p.steps.iter_mut())
            .chain(e.channels.iter_mut().flat_map(|c| {
                c.items.iter_mut().filter_map(|i| match i {
                    Item::Step(s) => Some(s),
                    Item::Procedure { .. } => None,
                })
            }))
            .find(|s| s.id == o.step);
        let Some(step) = target else {
            cx.push(
                o.line,
                format!(
                    "variant `{}` overrides step `{}`, which does not exist in its edition",
                    v.id, o.step
                ),
            );
            continue;
        };
        if let Some(p) = o.performer {
            step.performer = p;
        }
        if let Some(a) = &o.action {
            step.action = a.clone();
        }
        if o.duration.is_some() {
            step.duration = o.duration;
        }
        if let Some(m) = &o.may_refuse {
            step.may_refuse = m.clone();
            // Problems with these grounds point at the override that set them.
            step.line = o.line;
        }
        if let Some(c) = &o.cites {
            step.cites = c.clone();
        }
        if o.note.is_some() {
            step.note = o.note.clone();
        }
    }
    e
}

// ---------------------------------------------------------------------------------------------
// Whole-edition checks and expansion of procedures into channels

/// A problem of a merged edition. A problem the base edition already has is not repeated for
/// every variant that inherits it; one that arises only in a variant says which.
fn report(cx: &mut Ctx, e: &EditionSpec, line: usize, message: impl Into<String>) {
    let message = message.into();
    match &e.variant {
        None => cx.push(line, message),
        Some(v) => {
            if !cx.base_problems.contains(&(line, message.clone())) {
                cx.push(line, format!("{message} (variant `{v}`)"));
            }
        }
    }
}

fn check_and_expand(cx: &mut Ctx, e: &EditionSpec) -> Edition {
    if e.channels.is_empty() {
        report(
            cx,
            e,
            e.line,
            "no channels: a service is filed through at least one".to_string(),
        );
    }
    if e.results.is_empty() {
        report(
            cx,
            e,
            e.line,
            "no `[[results]]`: what does the service issue?".to_string(),
        );
    }

    let mut channel_ids = BTreeMap::new();
    for c in &e.channels {
        if let Some(first) = channel_ids.insert(c.id.clone(), c.line) {
            report(
                cx,
                e,
                c.line,
                format!("duplicate channel id `{}` (first at line {first})", c.id),
            );
        }
    }

    // Step ids are unique across the edition's definitions, so an override or an
    // application's history names one step unambiguously.
    let mut step_ids: BTreeMap<&str, usize> = BTreeMap::new();
    let defined =
        e.procedures
            .values()
            .flat_map(|p| p.steps.iter())
            .chain(e.channels.iter().flat_map(|c| {
                c.items.iter().filter_map(|i| match i {
                    Item::Step(s) => Some(s),
                    Item::Procedure { .. } => None,
                })
            }));
    for s in defined {
        if s.id.is_empty() {
            continue;
        }
        if let Some(first) = step_ids.insert(&s.id, s.line) {
            report(
                cx,
                e,
                s.line,
                format!("duplicate step id `{}` (first at line {first})", s.id),
            );
        }
    }

    let mut used_procedures = BTreeSet::new();
    let mut channels = Vec::new();
    for c in &e.channels {
        let mut steps: Vec<Step> = Vec::new();
        for i in &c.items {
            match i {
                Item::Step(s) => steps.push(s.clone()),
                Item::Procedure { name, line } => match e.procedures.get(name) {
                    Some(p) => {
                        used_procedures.insert(name.as_str());
                        steps.extend(p.steps.iter().cloned());
                    }
                    None => {
                        let known: Vec<_> = e.procedures.keys().map(String::as_str).collect();
                        report(
                            cx,
                            e,
                            *line,
                            format!("unknown procedure `{name}` (defined: {})", known.join(", ")),
                        );
                    }
                },
            }
        }
        if steps.is_empty() {
            report(cx, e, c.line, format!("channel `{}` has no steps", c.id));
        }
        let mut seen = BTreeSet::new();
        for s in &steps {
            if !seen.insert(s.id.as_str()) {
                report(
                    cx,
                    e,
                    c.line,
                    format!("channel `{}` passes step `{}` twice", c.id, s.id),
                );
            }
        }
        // Milestones are reached in their fixed order (002 §6), each at most once per path.
        let mut reached: Option<(Milestone, &str)> = None;
        for s in &steps {
            let Some(m) = s.closes else { continue };
            if let Some((prev, prev_id)) = reached
                && m <= prev
            {
                report(
                    cx,
                    e,
                    s.line,
                    format!(
                        "step `{}` closes `{m}`, but `{prev_id}` before it in channel `{}` already reached `{prev}`",
                        s.id, c.id
                    ),
                );
            }
            reached = Some((m, s.id.as_str()));
        }
        channels.push(Channel {
            id: c.id.clone(),
            kind: c.kind,
            cites: c.cites.clone(),
            steps,
        });
    }
    for (name, p) in &e.procedures {
        if p.steps.is_empty() {
            report(cx, e, p.line, format!("procedure `{name}` has no steps"));
        }
        if !used_procedures.contains(name.as_str()) {
            report(
                cx,
                e,
                p.line,
                format!("procedure `{name}` is used by no channel"),
            );
        }
    }

    // Refusals: a step refuses only on grounds the definition lists, every listed ground can be
    // applied by some step, and the results say a refusal can come out.
    let grounds: BTreeMap<&str, usize> = e
        .refusal_grounds
        .iter()
        .map(|(g, l)| (g.id.as_str(), *l))
        .collect();
    let mut used_grounds = BTreeSet::new();
    let mut first_refusing: Option<usize> = None;
    for s in channels.iter().flat_map(|c| c.steps.iter()) {
        for g in &s.may_refuse {
            if grounds.contains_key(g.as_str()) {
                used_grounds.insert(g.as_str());
            } else {
                report(
                    cx,
                    e,
                    s.line,
                    format!(
                        "step `{}` may refuse on `{g}`, which is not in `[[refusal_grounds]]`",
                        s.id
                    ),
                );
            }
        }
        if s.may_refuse() {
            first_refusing = Some(first_refusing.map_or(s.line, |l| l.min(s.line)));
        }
    }
    for (id, line) in &grounds {
        if !used_grounds.contains(id) {
            report(
                cx,
                e,
                *line,
                format!("refusal ground `{id}` is used by no step that may refuse"),
            );
        }
    }
    let refusal_result = e.results.iter().find(|(r, _)| {
        matches!(
            r.kind,
            DocumentKind::MotivatedRefusal | DocumentKind::RefusalReceipt
        )
    });
    match (first_refusing, refusal_result) {
        (Some(line), None) => report(
            cx,
            e,
            line,
            "a step may refuse, but no result is a `motivated_refusal` or `refusal_receipt`".to_string(),
        ),
        (None, Some((r, line))) => report(
            cx,
            e,
            *line,
            format!("result `{}` is listed, but no step may refuse", r.kind),
        ),
        _ => {}
    }

    Edition {
        variant: e.variant.clone(),
        region: e.region,
        names: e.names.clone(),
        provider: e.provider.clone(),
        free_of_charge: e.free_of_charge,
        automation: e.automation,
        legal_basis: e.legal_basis.clone(),
        sources: e.sources.clone(),
        status: e.status.clone(),
        documents: e.documents.clone(),
        refusal_grounds: e.refusal_grounds.iter().map(|(g, _)| g.clone()).collect(),
        results: e.results.iter().map(|(r, _)| r.clone()).collect(),
        limits: e.limits.clone(),
        channels,
    }
}
