//! The file format as serde sees it: every field optional and spanned, so that a missing or
//! unknown value becomes a problem with a line number instead of stopping the parse. Only
//! TOML syntax errors, wrong value types and unknown keys stop at the first error.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(super) type Sp<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub id: Option<Sp<String>>,
    pub slug: Option<Sp<String>>,
    pub region: Option<Sp<String>>,
    pub names: Option<Sp<RawNames>>,
    pub provider: Option<Sp<RawNames>>,
    pub free_of_charge: Option<bool>,
    pub automation: Option<Sp<String>>,
    pub legal_basis: Option<Sp<RawLegalBasis>>,
    pub sources: Option<Vec<Sp<RawSource>>>,
    pub status: Option<Sp<RawStatus>>,
    pub documents: Option<Sp<RawDocuments>>,
    pub refusal_grounds: Option<Vec<Sp<RawGround>>>,
    pub results: Option<Vec<Sp<RawResult>>>,
    pub limits: Option<Vec<Sp<RawLimit>>>,
    #[serde(default)]
    pub procedures: BTreeMap<String, Sp<RawProcedure>>,
    #[serde(default)]
    pub channels: Vec<Sp<RawChannel>>,
    #[serde(default)]
    pub variants: Vec<Sp<RawVariant>>,
}

/// What the base edition and a variant have in common (serde cannot flatten spanned
/// values, so both structs carry these fields and hand them over here). In a variant every
/// present field replaces the base one wholesale; step-level changes go through `overrides`.
pub(super) struct RawBody {
    pub provider: Option<Sp<RawNames>>,
    pub free_of_charge: Option<bool>,
    pub automation: Option<Sp<String>>,
    pub legal_basis: Option<Sp<RawLegalBasis>>,
    pub sources: Option<Vec<Sp<RawSource>>>,
    pub status: Option<Sp<RawStatus>>,
    pub documents: Option<Sp<RawDocuments>>,
    pub refusal_grounds: Option<Vec<Sp<RawGround>>>,
    pub results: Option<Vec<Sp<RawResult>>>,
    pub limits: Option<Vec<Sp<RawLimit>>>,
    pub procedures: BTreeMap<String, Sp<RawProcedure>>,
    pub channels: Vec<Sp<RawChannel>>,
}

macro_rules! take_body {
    ($raw:expr) => {
        RawBody {
            provider: $raw.provider,
            free_of_charge: $raw.free_of_charge,
            automation: $raw.automation,
            legal_basis: $raw.legal_basis,
            sources: $raw.sources,
            status: $raw.status,
            documents: $raw.documents,
            refusal_grounds: $raw.refusal_grounds,
            results: $raw.results,
            limits: $raw.limits,
            procedures: $raw.procedures,
            channels: $raw.channels,
        }
    };
}
pub(super) use take_body;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNames {
    pub kk: Option<Sp<String>>,
    pub ru: Option<Sp<String>>,
    pub en: Option<Sp<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLegalBasis {
    pub standard: Option<String>,
    #[serde(default)]
    pub acts: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub seed: Option<Sp<String>>,
    pub part: Option<String>,
    pub clauses: Option<Sp<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStatus {
    pub act: Option<Sp<String>>,
    pub adopted_on: Option<Sp<toml::value::Datetime>>,
    pub registered_on: Option<Sp<toml::value::Datetime>>,
    pub edition: Option<String>,
    pub repealed_on: Option<Sp<toml::value::Datetime>>,
    pub repealed_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocuments {
    #[serde(default)]
    pub default: bool,
    pub source: Option<String>,
    #[serde(default)]
    pub required: Vec<Sp<RawDocument>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocument {
    pub id: Option<Sp<String>>,
    pub names: Option<Sp<RawNames>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGround {
    pub id: Option<Sp<String>>,
    pub names: Option<Sp<RawNames>>,
    #[serde(default)]
    pub default: bool,
    pub source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResult {
    pub kind: Option<Sp<String>>,
    pub names: Option<Sp<RawNames>>,
    pub form: Option<String>,
    pub cites: Option<Sp<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimit {
    pub kind: Option<Sp<String>>,
    pub duration: Option<Sp<RawDuration>>,
    pub cites: Option<Sp<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDuration {
    pub amount: Option<Sp<i64>>,
    pub unit: Option<Sp<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProcedure {
    #[serde(default)]
    pub steps: Vec<Sp<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChannel {
    pub id: Option<Sp<String>>,
    pub kind: Option<Sp<String>>,
    pub cites: Option<String>,
    #[serde(default)]
    pub steps: Vec<Sp<RawStep>>,
}

/// A step, or (with only `procedure` set) a reference to a named procedure whose steps are
/// inserted at this point of the channel.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub procedure: Option<Sp<String>>,
    pub id: Option<Sp<String>>,
    pub performer: Option<Sp<String>>,
    pub action: Option<Sp<String>>,
    pub duration: Option<Sp<RawDuration>>,
    pub may_refuse: Option<Vec<Sp<String>>>,
    pub issues: Option<Vec<Sp<String>>>,
    pub output: Option<String>,
    pub closes: Option<Sp<String>>,
    pub cites: Option<Sp<String>>,
    pub note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariant {
    pub id: Option<Sp<String>>,
    pub region: Option<Sp<String>>,
    pub names: Option<Sp<RawNames>>,
    #[serde(default)]
    pub replace_channels: bool,
    #[serde(default)]
    pub drop_channels: Vec<Sp<String>>,
    #[serde(default)]
    pub overrides: Vec<Sp<RawOverride>>,
    pub provider: Option<Sp<RawNames>>,
    pub free_of_charge: Option<bool>,
    pub automation: Option<Sp<String>>,
    pub legal_basis: Option<Sp<RawLegalBasis>>,
    pub sources: Option<Vec<Sp<RawSource>>>,
    pub status: Option<Sp<RawStatus>>,
    pub documents: Option<Sp<RawDocuments>>,
    pub refusal_grounds: Option<Vec<Sp<RawGround>>>,
    pub results: Option<Vec<Sp<RawResult>>>,
    pub limits: Option<Vec<Sp<RawLimit>>>,
    #[serde(default)]
    pub procedures: BTreeMap<String, Sp<RawProcedure>>,
    #[serde(default)]
    pub channels: Vec<Sp<RawChannel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    pub step: Option<Sp<String>>,
    pub performer: Option<Sp<String>>,
    pub action: Option<Sp<String>>,
    pub duration: Option<Sp<RawDuration>>,
    pub may_refuse: Option<Vec<Sp<String>>>,
    pub cites: Option<Sp<String>>,
    pub note: Option<String>,
}

/// `_named-only.toml`: services the seeds only name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNamedOnlyFile {
    #[serde(default)]
    pub services: Vec<Sp<RawNamedOnly>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNamedOnly {
    pub id: Option<Sp<String>>,
    pub region: Option<Sp<String>>,
    pub names: Option<Sp<RawNames>>,
    pub source: Option<Sp<RawSource>>,
    pub status: Option<Sp<RawStatus>>,
    pub note: Option<String>,
}
