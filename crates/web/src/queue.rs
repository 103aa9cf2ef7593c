//! The kindergarten queue service: registration, changes, priority claims, allocation rounds,
//! referrals, enrolment, expiry and positions. Handlers in `api::queue` parse and authorize;
//! this module orders the reads and the one audited transaction of each action, and appends the
//! queue-log events in that same transaction.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::http::StatusCode;
use kezek_domain::access::UserId;
use kezek_domain::allocation::{
    self, Band, ChildId, ChildRow, GroupId, GroupRow, Instance, InstanceBuilder, KindergartenId, Language, PriorityClass,
    Ranking, RoundRules,
};
use kezek_domain::calendar::{Calendar, utc_to_almaty};
use kezek_domain::duration::{DurationUnit, Term};
use kezek_domain::identity::Iin;
use kezek_domain::queue::{RoundTime, 
    self, Channel, EntryPolicy, QueueSettings, Relation, RegistrationError, Standing, band_on_start, child_ref,
    school_year_start,
};
use kezek_store::queue::{EntryRow, NewEntry, NewQueueEvent, NewRound, QueueSettingsRow, WaitingRow};
use kezek_store::{AuditRecord, Db, WriteTx};
use serde_json::json;
use time::{Date, OffsetDateTime};

use crate::auth::new_token;
use crate::problem::{Motive, Problem};
use crate::queue_applications as s1;
use crate::signatures::StoredVerdict;
use crate::state::AppState;

/// The version of the allocation engine recorded with every round.
pub const ENGINE_VERSION: &str = concat!("kezek-deferred-acceptance/", env!("CARGO_PKG_VERSION"));

/// How long a round may hold its region's lock before another server may take it over.
const ROUND_LEASE: time::Duration = time::Duration::minutes(10);

/// The Almaty local date of an instant: the day the calendar and the regulations speak of.
pub fn local_today(now: OffsetDateTime) -> Date {
    utc_to_almaty(now).date()
}

/// A region's queue rules, parsed from their row.
pub fn settings_of(row: &QueueSettingsRow) -> Result<QueueSettings, Problem> {
    let corrupt = || {
        tracing::error!(region = row.region_id, "queue settings are not valid");
        Problem::internal()
    };
    Ok(QueueSettings {
        max_preferences: usize::try_from(row.max_preferences).map_err(|_| corrupt())?,
        bands: queue::parse_bands(&row.bands).ok_or_else(corrupt)?,
        ranking: row.ranking.parse::<Ranking>().map_err(|_| corrupt())?,
        referral_term: Term {
            amount: u32::try_from(row.referral_term_amount).map_err(|_| corrupt())?,
            unit: DurationUnit::parse(&row.referral_term_unit).ok_or_else(corrupt)?,
        },
        on_decline: EntryPolicy::parse(&row.on_decline).ok_or_else(corrupt)?,
        on_expiry: EntryPolicy::parse(&row.on_expiry).ok_or_else(corrupt)?,
    })
}

pub async fn load_settings(db: &Db, region: i64) -> Result<QueueSettings, Problem> {
    let row = db.queue_settings(region).await?.ok_or_else(Problem::not_found)?;
    settings_of(&row)
}

fn refusal(e: &RegistrationError) -> Problem {
    let (key, arg) = match e {
        RegistrationError::BornInFuture => ("queue-refusal-born-in-future", None),
        RegistrationError::TooOld { age } => ("queue-refusal-too-old", Some(age.to_string())),
        RegistrationError::BirthDateMismatch => ("queue-refusal-birth-date-mismatch", None),
        RegistrationError::PreferenceCount { max } => ("queue-refusal-preference-count", Some(max.to_string())),
        RegistrationError::DuplicatePreference(k) => ("queue-refusal-duplicate-preference", Some(k.to_string())),
        RegistrationError::StartInPast => ("queue-refusal-start-in-past", None),
        RegistrationError::StartTooFar => ("queue-refusal-start-too-far", None),
        RegistrationError::NoBand => ("queue-refusal-no-band", None),
    };
    refused(key, arg)
}

/// A motivated refusal: 422 whose detail gives the rule that was broken, in the requester's
/// language; the registration service records it as the refusal of the S1 application.
pub fn refused(reason_key: &str, arg: Option<String>) -> Problem {
    let motive = Motive { key: reason_key.to_owned(), value: arg };
    let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-registration-refused").arg("reason", motive.text(crate::i18n::current_lang()));
    p.motive = Some(motive);
    p
}

/// One active registration per child and region: 409, and a motivated refusal of S1 too.
fn already_registered() -> Problem {
    let mut p = conflict("problem-already-registered");
    p.motive = Some(Motive { key: "queue-refusal-already-registered".to_owned(), value: None });
    p
}

fn conflict(key: &'static str) -> Problem {
    Problem::new(StatusCode::CONFLICT, key)
}

/// A registration request, parsed at the boundary.
pub struct Registration {
    pub region_id: i64,
    pub child_iin: Iin,
    pub child_birth_date: Date,
    pub child_name: String,
    pub relation: Relation,
    pub language: Language,
    pub preferences: Vec<i64>,
    pub desired_start: Date,
    pub sibling_kindergarten_id: Option<i64>,
    pub priority: Option<ClaimInput>,
    pub applicant: UserId,
    /// The applicant's IIN, for the person registry's check of parenthood.
    pub applicant_iin: Iin,
    /// Whose child it is: the applicant's own, or a principal's under a power of attorney.
    pub standing: crate::registry_checks::Standing,
    pub channel: Channel,
    pub accepted_by: Option<UserId>,
    /// The applicant's CMS signature over [`signing_content`] (base64, PEM or DER text), for a
    /// portal whose S1 edition checks the applicant's EDS.
    pub signature: Option<String>,
}

/// The bytes an applicant signs to register a child on a portal: the registration's values as
/// the server parsed them, one `name:value` line each, in this order, each ending in a line
/// feed, UTF-8. Free text (the child's name, the evidence reference, the power of attorney's
/// number) is written as a JSON string (in quotes, `"`, `\\` and control characters escaped,
/// the rest as is), so no value can end its line or run into the next; an absent value is empty.
///
/// ```text
/// kezek-queue-registration:v1
/// region_id:1
/// channel:portal
/// applicant_iin:190512600109
/// relation:mother                          (mother, father, guardian or representative)
/// power_of_attorney:"2026-0001"            (a representative's; empty otherwise)
/// principal_iin:930413401529               (who gave it; empty otherwise)
/// child_iin:230214502028
/// child_birth_date:2023-02-14
/// child_name:"Ахметов Алихан"              (trimmed)
/// language:kk
/// preferences:12,15,3                      (kindergarten ids, most wanted first)
/// desired_start:2026-09-01
/// sibling_kindergarten_id:                 (empty when none)
/// priority_category:large-family           (empty with the next two when no priority is claimed)
/// priority_evidence_kind:document
/// priority_evidence_ref:"No. 12, 2025-01-10"
/// consent:yes
/// ```
///
/// `POST /api/v1/queue/registrations/signing-content` gives these bytes for a registration body,
/// so that a client never builds them itself.
pub fn signing_content(r: &Registration) -> Vec<u8> {
    let text = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let (poa, principal) = match &r.standing {
        crate::registry_checks::Standing::Representative { principal, number } => (text(number), principal.as_string()),
        crate::registry_checks::Standing::Own => (String::new(), String::new()),
    };
    let (category, evidence_kind, evidence_ref) = match &r.priority {
        Some(c) => (c.category_code.clone(), c.evidence_kind.clone(), text(&c.evidence_ref)),
        None => (String::new(), String::new(), String::new()),
    };
    let preferences: Vec<String> = r.preferences.iter().map(i64::to_string).collect();
    let mut out = String::from("kezek-queue-registration:v1\n");
    for (name, value) in [
        ("region_id", r.region_id.to_string()),
        ("channel", r.channel.as_str().to_owned()),
        ("applicant_iin", r.applicant_iin.as_string()),
        ("relation", r.relation.as_str().to_owned()),
        ("power_of_attorney", poa),
        ("principal_iin", principal),
        ("child_iin", r.child_iin.as_string()),
        ("child_birth_date", r.child_birth_date.to_string()),
        ("child_name", text(r.child_name.trim())),
        ("language", r.language.code().to_owned()),
        ("preferences", preferences.join(",")),
        ("desired_start", r.desired_start.to_string()),
        ("sibling_kindergarten_id", r.sibling_kindergarten_id.map(|k| k.to_string()).unwrap_or_default()),
        ("priority_category", category),
        ("priority_evidence_kind", evidence_kind),
        ("priority_evidence_ref", evidence_ref),
        ("consent", "yes".to_owned()),
    ] {
        let _ = writeln!(out, "{name}:{value}");
    }
    out.into_bytes()
}

pub struct ClaimInput {
    pub category_code: String,
    pub evidence_kind: String,
    pub evidence_ref: String,
}

/// What the queue notification says (004 App. 11, 003 App. 4), and the S1 application it ends.
pub struct Registered {
    pub entry_id: i64,
    pub registration_no: i64,
    pub registered_at: OffsetDateTime,
    pub application_id: i64,
}

/// Checks that every preferred kindergarten is in the region and has a group of the child's band
/// and language on the desired start; the sibling's kindergarten must be in the region too.
async fn check_kindergartens(db: &Db, r: &Registration, bands: &[Band]) -> Result<(), Problem> {
    let band = band_on_start(bands, r.child_birth_date, r.desired_start)
        .ok_or_else(|| refusal(&RegistrationError::NoBand))?;
    for k in &r.preferences {
        let org = db.organization(*k).await?;
        let Some(org) = org.filter(|o| o.region_id == r.region_id && o.kind == "kindergarten") else {
            return Err(refused("queue-refusal-unknown-kindergarten", Some(k.to_string())));
        };
        let groups = db.groups_of(org.id).await?;
        if !groups.iter().any(|g| g.language == r.language.code()) {
            return Err(refused("queue-refusal-language", Some(k.to_string())));
        }
        if !groups.iter().any(|g| g.language == r.language.code() && g.age_band == band.name()) {
            return Err(refused("queue-refusal-band", Some(k.to_string())));
        }
    }
    if let Some(s) = r.sibling_kindergarten_id {
        let ok = db.organization(s).await?.is_some_and(|o| o.region_id == r.region_id && o.kind == "kindergarten");
        if !ok {
            return Err(refused("queue-refusal-unknown-kindergarten", Some(s.to_string())));
        }
    }
    Ok(())
}

async fn category_id(db: &Db, region: i64, code: &str) -> Result<(i64, i64), Problem> {
    db.priority_categories(region)
        .await?
        .into_iter()
        .find(|c| c.code == code)
        .map(|c| (c.id, c.class))
        .ok_or_else(|| refused("queue-refusal-unknown-category", Some(code.to_owned())))
}

fn log_salt() -> String {
    new_token()
}

/// The rules a registration must meet that need no registry: checked before any personal data
/// is requested from a state registry.
pub async fn precheck(db: &Db, now: OffsetDateTime, r: &Registration) -> Result<(), Problem> {
    let settings = load_settings(db, r.region_id).await?;
    queue::check_registration(r.child_birth_date, r.child_iin.birth_date(), local_today(now), r.desired_start, &r.preferences, &settings)
        .map_err(|e| refusal(&e))?;
    check_kindergartens(db, r, &settings.bands).await
}

/// Registers a child: the single entry point of every channel (API and pages). The rules that
/// need no registry, the applicant's consent and the person registry's word, then one
/// transaction with the S1 application (filed, registered, decided, issued), the entry, its
/// preferences, an optional claim, the queue-log events and the audit entries. A refusal of any
/// rule is recorded as the S1 application's motivated refusal and answered with its id.
pub async fn register(state: &AppState, r: Registration) -> Result<Registered, Problem> {
    let now = state.clock.now();
    let filing = s1::prepare(state, now, &r).await?;
    let verdict = applicant_signature(state, now, &filing, &r).await?;
    match decide_and_write(state, now, &filing, &r, verdict.as_ref()).await {
        Err(mut p) => {
            if let Some(motive) = p.motive.clone() {
                p.application_id = s1::refuse(state, now, &filing, &r, &motive).await?;
            }
            Err(p)
        }
        ok => ok,
    }
}

/// Whether the registration's S1 channel checks the applicant's signature (the same rule as any
/// portal filing: `applications::eds_check`), then the check itself, before anything is asked of
/// a registry. A missing signature is a 422 naming the field; a refused one is recorded as the
/// S1 application's motivated refusal on the definition's ground, with the verdict's reason.
pub async fn applicant_signature(state: &AppState, now: OffsetDateTime, filing: &s1::S1Filing, r: &Registration) -> Result<Option<StoredVerdict>, Problem> {
    let Some(ground) = s1::signature_ground(filing) else {
        if r.signature.is_some() {
            return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-registration-not-signed-here").field("signature"));
        }
        return Ok(None);
    };
    let content = signing_content(r);
    let refusal = "problem-registration-eds-not-confirmed";
    match crate::applications::verify_signed(state, &r.applicant_iin, content, r.signature.as_deref(), ground, refusal).await {
        Ok(verdict) => Ok(Some(verdict)),
        Err(mut p) => {
            if let Some(reason) = p.reason {
                let motive = Motive { key: format!("eds-reason-{reason}"), value: None };
                p.application_id = Some(s1::refuse_unconfirmed_signature(state, now, filing, r, &motive).await?);
            }
            Err(p)
        }
    }
}

async fn decide_and_write(
    state: &AppState,
    now: OffsetDateTime,
    filing: &s1::S1Filing,
    r: &Registration,
    verdict: Option<&StoredVerdict>,
) -> Result<Registered, Problem> {
    let db = &state.db;
    precheck(db, now, r).await?;
    let actor = s1::filer_of(filing);
    let checks = crate::registry_checks::confirm_child(state, "S1", &r.applicant_iin, &r.child_iin, r.child_birth_date, &r.standing, r.channel, actor).await?;
    let claim = match &r.priority {
        Some(c) => Some((category_id(db, r.region_id, &c.category_code).await?, c)),
        None => None,
    };
    let salt = log_salt();
    let iin = r.child_iin.as_string();
    let mut tx = db.begin_write(Some(actor), now).await?;
    // The application first, the entry second: a registration that cannot be written (the child
    // is already waiting) takes its application with it when the transaction rolls back.
    let application = s1::file(&mut tx, state, filing, r).await?;
    let application_id = application.0;
    let (entry, number) = tx
        .insert_queue_entry(&NewEntry {
            region_id: r.region_id,
            child_iin: &iin,
            child_birth_date: r.child_birth_date,
            child_name: r.child_name.trim(),
            applicant_user_id: r.applicant.0,
            applicant_relation: r.relation.as_str(),
            language: r.language.code(),
            desired_start: r.desired_start,
            channel: r.channel.as_str(),
            accepted_by: r.accepted_by.map(|u| u.0),
            sibling_kindergarten_id: r.sibling_kindergarten_id,
            log_salt: &salt,
            original: None,
        })
        .await
        .map_err(|e| match e {
            kezek_store::StoreError::Conflict(_) => already_registered(),
            e => e.into(),
        })?;
    // After the entry: a child already waiting is that refusal, whatever signed the request.
    if let Some(v) = verdict {
        crate::applications::store_signature(&mut tx, application_id, v).await?;
    }
    tx.set_preferences(entry, &r.preferences).await?;
    let cref = child_ref(&salt, &iin);
    tx.append_queue_event(r.region_id, "registered", Some(&cref), &json!({
        "registration_no": number,
        "language": r.language.code(),
        "preferences": r.preferences,
        "channel": r.channel.as_str(),
    }))
    .await?;
    if let Some(((category, class), c)) = claim {
        let claim = tx.insert_claim(entry, category, &c.evidence_kind, &c.evidence_ref).await?;
        tx.append_queue_event(r.region_id, "claim_submitted", Some(&cref), &json!({ "claim": claim, "class": class })).await?;
    }
    s1::grant(&mut tx, state, filing, application, r, entry, number).await?;
    tx.audit(AuditRecord {
        action: "queue.registered",
        object_type: "queue_entry",
        object_id: entry.to_string(),
        organization_id: None,
        details: json!({
            "region": r.region_id, "registration_no": number, "channel": r.channel.as_str(), "registry_checks": checks, "application": application_id,
            "signature": verdict.map(|v| json!({ "serial": v.certificate_serial, "revocation": v.revocation })),
        }),
    })
    .await?;
    let at = tx.now();
    tx.commit().await?;
    tracing::info!(entry, application = application_id, region = r.region_id, "child registered in the queue");
    Ok(Registered { entry_id: entry, registration_no: number, registered_at: at, application_id })
}

/// Changes the preferences and language of a waiting entry; the registration time and number stay.
pub async fn change(db: &Db, now: OffsetDateTime, entry: &EntryRow, by: UserId, preferences: Vec<i64>, language: Language) -> Result<(), Problem> {
    if entry.status != "waiting" {
        return Err(conflict("problem-entry-not-waiting"));
    }
    let settings = load_settings(db, entry.region_id).await?;
    let today = local_today(now);
    let iin = Iin::parse(&entry.child_iin).map_err(|_| Problem::internal())?;
    let desired_start = entry.desired_start.max(today);
    queue::check_registration(entry.child_birth_date, iin.birth_date(), today, desired_start, &preferences, &settings)
        .map_err(|e| refusal(&e))?;
    let probe = Registration {
        region_id: entry.region_id,
        child_iin: iin,
        child_birth_date: entry.child_birth_date,
        child_name: String::new(),
        relation: Relation::Mother,
        language,
        preferences: preferences.clone(),
        desired_start,
        sibling_kindergarten_id: entry.sibling_kindergarten_id,
        priority: None,
        applicant: by,
        applicant_iin: iin,
        standing: crate::registry_checks::Standing::Own,
        channel: Channel::Portal,
        accepted_by: None,
        signature: None,
    };
    check_kindergartens(db, &probe, &settings.bands).await?;
    let mut tx = db.begin_write(Some(by), now).await?;
    tx.set_preferences(entry.id, &preferences).await?;
    tx.set_entry_language(entry.id, language.code()).await?;
    tx.append_queue_event(entry.region_id, "changed", Some(&child_ref(&entry.log_salt, &entry.child_iin)),
        &json!({ "preferences": preferences, "language": language.code() })).await?;
    tx.audit(AuditRecord { action: "queue.changed", object_type: "queue_entry", object_id: entry.id.to_string(),
        organization_id: None, details: json!({ "preferences": preferences.len(), "language": language.code() }) }).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds a priority claim with its evidence; it counts only once confirmed.
pub async fn submit_claim(db: &Db, now: OffsetDateTime, entry: &EntryRow, by: UserId, c: &ClaimInput) -> Result<i64, Problem> {
    if !matches!(entry.status.as_str(), "waiting" | "referred") {
        return Err(conflict("problem-entry-not-waiting"));
    }
    let (category, class) = category_id(db, entry.region_id, &c.category_code).await?;
    let mut tx = db.begin_write(Some(by), now).await?;
    let claim = tx.insert_claim(entry.id, category, &c.evidence_kind, &c.evidence_ref).await?;
    tx.append_queue_event(entry.region_id, "claim_submitted", Some(&child_ref(&entry.log_salt, &entry.child_iin)),
        &json!({ "claim": claim, "class": class })).await?;
    tx.audit(AuditRecord { action: "queue.claim_submitted", object_type: "priority_claim", object_id: claim.to_string(),
        organization_id: None, details: json!({ "entry": entry.id, "category": c.category_code }) }).await?;
    tx.commit().await?;
    Ok(claim)
}

/// What a reviewer decides about a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimDecision {
    Confirm,
    Reject,
    /// Withdraws a confirmed claim (the right ended or the evidence was false).
    Revoke,
}

pub async fn decide_claim(db: &Db, now: OffsetDateTime, claim_id: i64, by: UserId, decision: ClaimDecision, expires_on: Option<Date>, reason: &str) -> Result<(), Problem> {
    let claim = db.claim(claim_id).await?.ok_or_else(Problem::not_found)?;
    let entry = db.queue_entry(claim.entry_id).await?.ok_or_else(Problem::not_found)?;
    let (from, to, kind) = match decision {
        ClaimDecision::Confirm => ("pending", "confirmed", "claim_confirmed"),
        ClaimDecision::Reject => ("pending", "rejected", "claim_rejected"),
        ClaimDecision::Revoke => ("confirmed", "revoked", "claim_revoked"),
    };
    if expires_on.is_some_and(|d| d < local_today(now)) {
        return Err(Problem::invalid_field("expires_on", "the expiry date is in the past"));
    }
    // Decided already: the conditional update below would refuse it too, but the other checks
    // would speak first.
    if claim.status != from {
        return Err(conflict("problem-claim-state"));
    }
    let category = db.priority_categories(entry.region_id).await?.into_iter().find(|c| c.id == claim.category_id);
    if decision == ClaimDecision::Confirm && expires_on.is_none() && category.as_ref().is_some_and(|c| c.expires) {
        return Err(Problem::invalid_field("expires_on", "this category's right ends on a day its evidence fixes: give that last day"));
    }
    let class = category.map_or(0, |c| c.class);
    let mut tx = db.begin_write(Some(by), now).await?;
    if !tx.decide_claim(claim_id, from, to, expires_on, reason).await? {
        return Err(conflict("problem-claim-state"));
    }
    tx.append_queue_event(entry.region_id, kind, Some(&child_ref(&entry.log_salt, &entry.child_iin)),
        &json!({ "claim": claim_id, "class": class, "expires_on": expires_on.map(|d| d.to_string()) })).await?;
    tx.audit(AuditRecord { action: "queue.claim_decided", object_type: "priority_claim", object_id: claim_id.to_string(),
        organization_id: None, details: json!({ "decision": to }) }).await?;
    tx.commit().await?;
    Ok(())
}

/// What a round did, for its answer and its record.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RoundSummary {
    pub round_id: i64,
    pub region_id: i64,
    pub reference_date: String,
    pub children: usize,
    pub groups: usize,
    pub free_places: u64,
    pub assigned: usize,
    pub proposals: u64,
    pub input_digest: String,
    pub engine_version: String,
    pub ranking: String,
}

/// The round's input in the instance format of shared/bench/FORMAT.md.
pub struct InstanceFiles {
    pub meta: String,
    pub kindergartens: String,
    pub groups: String,
    pub children: String,
}

impl InstanceFiles {
    pub fn digest(&self) -> String {
        queue::input_digest(&[
            ("meta.json", &self.meta),
            ("kindergartens.csv", &self.kindergartens),
            ("groups.csv", &self.groups),
            ("children.csv", &self.children),
        ])
    }
}

fn language_of(code: &str) -> Result<Language, Problem> {
    Language::parse(code.as_bytes()).ok_or_else(Problem::internal)
}

/// Reads the waiting children who want a place by `today` and the free places of a region,
/// and writes them as an instance (the canonical export of the round's input).
pub async fn snapshot(db: &Db, region: i64, settings: &QueueSettings, now: OffsetDateTime) -> Result<(InstanceFiles, Instance), Problem> {
    let today = local_today(now);
    let reference = school_year_start(today);
    let round_date = now.date().next_day().ok_or_else(Problem::internal)?;
    let children: Vec<WaitingRow> = db.waiting_children(region, today).await?;
    let groups = db.groups_with_holds(region).await?;
    let orgs = db.organizations_of_region(region).await?;

    let mut rules = RoundRules::new(reference, settings.bands.clone()).map_err(|_| Problem::internal())?;
    rules.ranking = settings.ranking.clone();
    rules.max_preferences = settings.max_preferences;

    let mut meta = serde_json::to_string_pretty(&json!({
        "format": "kezek-allocation-instance/1",
        "round_date": round_date.to_string(),
        "reference_date": reference.to_string(),
        "bands": settings.bands.iter().map(|b| json!({"name": b.name(), "min_age": b.min_age(), "max_age": b.max_age()})).collect::<Vec<_>>(),
        "languages": ["kk", "ru"],
        "ranking": settings.ranking.to_string(),
        "generator": { "source": "kezek queue", "region": region, "engine": ENGINE_VERSION },
    }))
    .map_err(|_| Problem::internal())?;
    meta.push('\n');

    let mut builder = InstanceBuilder::new(rules).map_err(|_| Problem::internal())?;
    let mut kindergartens = String::from("kindergarten_id,district,x_m,y_m\n");
    for o in orgs.iter().filter(|o| o.kind == "kindergarten") {
        builder.add_kindergarten(KindergartenId(o.id as u64)).map_err(|_| Problem::internal())?;
        let _ = writeln!(kindergartens, "{},{},0,0", o.id, o.district_id.map(|d| d.to_string()).unwrap_or_default());
    }
    let mut group_csv = String::from("group_id,kindergarten_id,band,language,free_places\n");
    for g in &groups {
        let Some(band) = builder.rules().band_index(g.age_band.as_bytes()) else { continue };
        let free = u32::try_from(g.free()).unwrap_or(0);
        builder
            .add_group(GroupRow { id: GroupId(g.id as u64), kindergarten: KindergartenId(g.organization_id as u64), band, language: language_of(&g.language)?, free_places: free })
            .map_err(|_| Problem::internal())?;
        let _ = writeln!(group_csv, "{},{},{},{},{}", g.id, g.organization_id, g.age_band, g.language, free);
    }
    let mut child_csv = String::from("child_id,birth_date,language,registered_at,registration_no,priority,sibling_kindergarten_id,preferences,district\n");
    let mut ks: Vec<KindergartenId> = Vec::new();
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    for c in &children {
        let wanted = c.preferences.0.as_slice();
        ks.clear();
        ks.extend(wanted.iter().map(|k| KindergartenId(*k as u64)));
        let priority = PriorityClass::from_code(c.priority as u64).ok_or_else(Problem::internal)?;
        builder
            .add_child(ChildRow {
                id: ChildId(c.id as u64),
                birth_date: c.child_birth_date,
                language: language_of(&c.language)?,
                registered_at: c.registered_at.unix_timestamp(),
                registration_no: c.registration_no as u64,
                priority,
                sibling_kindergarten: c.sibling_kindergarten_id.map(|k| KindergartenId(k as u64)),
                preferences: &ks,
            })
            .map_err(|e| {
                tracing::error!(error = %e, "a waiting child does not fit the instance");
                Problem::internal()
            })?;
        let registered = c.registered_at.to_offset(time::UtcOffset::UTC).format(&fmt).map_err(|_| Problem::internal())?;
        let prefs_text = wanted.iter().map(i64::to_string).collect::<Vec<_>>().join(";");
        let _ = writeln!(
            child_csv,
            "{},{},{},{},{},{},{},{},",
            c.id,
            c.child_birth_date,
            c.language,
            registered,
            c.registration_no,
            c.priority,
            c.sibling_kindergarten_id.map(|k| k.to_string()).unwrap_or_default(),
            prefs_text
        );
    }
    let instance = builder.build().map_err(|e| {
        tracing::error!(error = %e, "round instance could not be built");
        Problem::internal()
    })?;
    Ok((InstanceFiles { meta, kindergartens, groups: group_csv, children: child_csv }, instance))
}

/// Runs an allocation round for a region: takes the region's round lock (409 when another round
/// runs), allocates, and in one transaction records the round, issues the referrals, moves the
/// children and appends the log events; the lock is released whatever happens.
/// Runs a round for the region, started by its administrator `by`, or by its schedule (`None`).
pub async fn run_round(db: &Db, calendar: &Calendar, now: OffsetDateTime, region: i64, by: Option<UserId>) -> Result<RoundSummary, Problem> {
    run_round_timed(db, calendar, now, region, by).await.map(|(summary, _)| summary)
}

/// How long each phase of a round took (for benchmarks and logs).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundTimings {
    /// Reading the waiting children, their preferences and the free places, and building the instance.
    pub snapshot: std::time::Duration,
    pub allocate: std::time::Duration,
    /// The one transaction that records the round, issues the referrals and appends the log events.
    pub write: std::time::Duration,
}

/// [`run_round`], also telling how long each phase took.
pub async fn run_round_timed(db: &Db, calendar: &Calendar, now: OffsetDateTime, region: i64, by: Option<UserId>) -> Result<(RoundSummary, RoundTimings), Problem> {
    let settings = load_settings(db, region).await?;
    let token = new_token();
    let mut tx = db.begin_write(by, now).await?;
    if !tx.take_round_lock(region, &token, now + ROUND_LEASE).await? {
        return Err(conflict("problem-round-running"));
    }
    tx.audit(AuditRecord { action: "round.started", object_type: "region", object_id: region.to_string(),
        organization_id: None, details: json!({}) }).await?;
    tx.commit().await?;

    let outcome = allocate_and_issue(db, calendar, now, region, by, &settings, &token).await;
    if outcome.is_err() {
        let mut tx = db.begin_write(by, now).await?;
        tx.release_round_lock(region, &token).await?;
        tx.audit(AuditRecord { action: "round.failed", object_type: "region", object_id: region.to_string(),
            organization_id: None, details: json!({}) }).await?;
        tx.commit().await?;
    }
    outcome
}

async fn allocate_and_issue(db: &Db, calendar: &Calendar, now: OffsetDateTime, region: i64, by: Option<UserId>, settings: &QueueSettings, token: &str) -> Result<(RoundSummary, RoundTimings), Problem> {
    let mut timings = RoundTimings::default();
    let started = std::time::Instant::now();
    let (files, instance) = snapshot(db, region, settings, now).await?;
    timings.snapshot = started.elapsed();
    let started = std::time::Instant::now();
    let allocation = allocation::allocate(&instance);
    timings.allocate = started.elapsed();
    let started = std::time::Instant::now();
    let digest = files.digest();
    let today = local_today(now);
    let expires_on = queue::referral_expiry(calendar, today, settings.referral_term).map_err(|e| {
        tracing::error!(error = %e, "referral term cannot be computed on the calendar");
        Problem::internal()
    })?;
    let free_places: u64 = (0..instance.group_count() as u32).map(|g| u64::from(instance.free_places(g))).sum();
    let assigned: Vec<(i64, i64)> = (0..instance.child_count() as u32)
        .filter_map(|c| allocation.group_of(c).map(|g| (instance.child_id(c).0 as i64, instance.group_id(g).0 as i64)))
        .collect();
    let group_kindergarten: HashMap<i64, i64> = (0..instance.group_count() as u32)
        .map(|g| (instance.group_id(g).0 as i64, instance.group_kindergarten(g).0 as i64))
        .collect();

    let mut tx = db.begin_write(by, now).await?;
    let round = tx.insert_round(&NewRound {
        region_id: region,
        started_at: now,
        reference_date: instance.rules().reference_date,
        engine_version: ENGINE_VERSION,
        ranking: &settings.ranking.to_string(),
        input_digest: &digest,
        children: instance.child_count() as i64,
        groups: instance.group_count() as i64,
        free_places: free_places as i64,
        assigned: assigned.len() as i64,
        proposals: allocation.proposals() as i64,
        meta: &files.meta,
        kindergartens: &files.kindergartens,
        group_rows: &files.groups,
        child_rows: &files.children,
    }).await?;
    let mut events = issue_referrals(&mut tx, round, &assigned, &group_kindergarten, expires_on).await?;
    events.push(NewQueueEvent {
        kind: "round",
        child_ref: None,
        payload: json!({
            "round": round, "input_digest": digest, "engine": ENGINE_VERSION, "ranking": settings.ranking.to_string(),
            "children": instance.child_count(), "free_places": free_places, "assigned": assigned.len(),
        })
        .to_string(),
    });
    tx.append_queue_events(region, &events).await?;
    tx.release_round_lock(region, token).await?;
    tx.audit(AuditRecord { action: "round.completed", object_type: "allocation_round", object_id: round.to_string(),
        organization_id: None, details: json!({ "region": region, "assigned": assigned.len(), "input_digest": digest }) }).await?;
    tx.commit().await?;
    timings.write = started.elapsed();
    tracing::info!(round, region, assigned = assigned.len(), snapshot_ms = timings.snapshot.as_millis() as u64,
        allocate_ms = timings.allocate.as_millis() as u64, write_ms = timings.write.as_millis() as u64, "allocation round completed");
    let summary = RoundSummary {
        round_id: round,
        region_id: region,
        reference_date: instance.rules().reference_date.to_string(),
        children: instance.child_count(),
        groups: instance.group_count(),
        free_places,
        assigned: assigned.len(),
        proposals: allocation.proposals(),
        input_digest: digest,
        engine_version: ENGINE_VERSION.to_owned(),
        ranking: settings.ranking.to_string(),
    };
    Ok((summary, timings))
}

/// Issues a round's referrals and moves their children to `referred`, a few statements for the
/// lot; returns the `referral_issued` events in the order of `assigned`. A child who stopped
/// waiting since the snapshot (or already holds a live referral) fails the round with a 409.
async fn issue_referrals(
    tx: &mut WriteTx,
    round: i64,
    assigned: &[(i64, i64)],
    group_kindergarten: &HashMap<i64, i64>,
    expires_on: Date,
) -> Result<Vec<NewQueueEvent<'static>>, Problem> {
    let referral_of: HashMap<i64, i64> = tx.insert_round_referrals(round, assigned, expires_on).await?.into_iter().collect();
    let entries: Vec<i64> = assigned.iter().map(|(e, _)| *e).collect();
    let moved = tx.refer_waiting_entries(&entries).await?;
    if moved.len() != entries.len() || referral_of.len() != entries.len() {
        return Err(conflict("problem-entry-not-waiting"));
    }
    let refs: HashMap<i64, String> = moved.into_iter().map(|(id, salt, iin)| (id, child_ref(&salt, &iin))).collect();
    let expires = expires_on.to_string();
    let mut events = Vec::with_capacity(assigned.len() + 1);
    for (entry, group) in assigned {
        let (Some(referral), Some(cref), Some(kindergarten)) = (referral_of.get(entry), refs.get(entry), group_kindergarten.get(group)) else {
            return Err(Problem::internal());
        };
        events.push(NewQueueEvent {
            kind: "referral_issued",
            child_ref: Some(cref.clone()),
            payload: json!({
                "round": round, "referral": referral, "group": group, "kindergarten": kindergarten, "expires_on": expires,
            })
            .to_string(),
        });
    }
    Ok(events)
}

/// The parent's or the kindergarten's answer to a referral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferralAnswer {
    Accept,
    Decline,
    /// The kindergarten head records a refusal with a reason (S2: a motivated refusal).
    Refuse,
}

pub async fn answer_referral(db: &Db, now: OffsetDateTime, referral_id: i64, by: UserId, answer: ReferralAnswer, reason: &str) -> Result<(), Problem> {
    let referral = db.referral(referral_id).await?.ok_or_else(Problem::not_found)?;
    let entry = db.queue_entry(referral.entry_id).await?.ok_or_else(Problem::not_found)?;
    let settings = load_settings(db, entry.region_id).await?;
    let cref = child_ref(&entry.log_salt, &entry.child_iin);
    let mut tx = db.begin_write(Some(by), now).await?;
    let (moved, kind) = match answer {
        ReferralAnswer::Accept => (tx.move_referral(referral_id, "open", "accepted", reason).await?, "referral_accepted"),
        ReferralAnswer::Decline | ReferralAnswer::Refuse => {
            let to = if answer == ReferralAnswer::Decline { "declined" } else { "refused" };
            let moved = tx.move_referral(referral_id, "open", to, reason).await?
                || tx.move_referral(referral_id, "accepted", to, reason).await?;
            (moved, if answer == ReferralAnswer::Decline { "referral_declined" } else { "referral_refused" })
        }
    };
    if !moved {
        return Err(conflict("problem-referral-state"));
    }
    if answer != ReferralAnswer::Accept {
        let policy = if answer == ReferralAnswer::Decline { settings.on_decline } else { EntryPolicy::KeepWaiting };
        release_entry(&mut tx, &entry, policy, kind).await?;
    }
    tx.append_queue_event(entry.region_id, kind, Some(&cref), &json!({ "referral": referral_id, "group": referral.group_id })).await?;
    tx.audit(AuditRecord { action: "queue.referral_answered", object_type: "referral", object_id: referral_id.to_string(),
        organization_id: None, details: json!({ "answer": kind }) }).await?;
    tx.commit().await?;
    Ok(())
}

/// After a referral ends without enrolment the child waits again or leaves, by the region's policy.
async fn release_entry(tx: &mut WriteTx, entry: &EntryRow, policy: EntryPolicy, why: &str) -> Result<(), Problem> {
    let (to, reason) = match policy {
        EntryPolicy::KeepWaiting => ("waiting", ""),
        EntryPolicy::Remove => ("removed", why),
    };
    if !tx.move_entry(entry.id, "referred", to, reason).await? {
        return Err(conflict("problem-entry-not-waiting"));
    }
    if to == "removed" {
        tx.append_queue_event(entry.region_id, "removed", Some(&child_ref(&entry.log_salt, &entry.child_iin)), &json!({ "reason": why })).await?;
    }
    Ok(())
}

/// The kindergarten enrols the child under a contract (S2): the referral's place becomes an
/// enrolled place in the same transaction.
pub async fn enrol(db: &Db, now: OffsetDateTime, referral_id: i64, by: UserId, contract_no: &str, contract_date: Date) -> Result<i64, Problem> {
    let referral = db.referral(referral_id).await?.ok_or_else(Problem::not_found)?;
    let entry = db.queue_entry(referral.entry_id).await?.ok_or_else(Problem::not_found)?;
    let mut tx = db.begin_write(Some(by), now).await?;
    let moved = tx.move_referral(referral_id, "accepted", "enrolled", "").await?
        || tx.move_referral(referral_id, "open", "enrolled", "").await?;
    if !moved {
        return Err(conflict("problem-referral-state"));
    }
    if !tx.insert_enrolment(referral_id, entry.id, referral.group_id, contract_no, contract_date).await? {
        return Err(conflict("problem-group-full"));
    }
    if !tx.move_entry(entry.id, "referred", "enrolled", "").await? {
        return Err(conflict("problem-entry-not-waiting"));
    }
    tx.append_queue_event(entry.region_id, "enrolled", Some(&child_ref(&entry.log_salt, &entry.child_iin)),
        &json!({ "referral": referral_id, "group": referral.group_id })).await?;
    tx.audit(AuditRecord { action: "queue.enrolled", object_type: "referral", object_id: referral_id.to_string(),
        organization_id: None, details: json!({ "group": referral.group_id }) }).await?;
    tx.commit().await?;
    Ok(entry.id)
}

/// Starts the rounds that regions' schedules make due: on a working day, at or after the
/// region's round time (Almaty), once per day whatever the number of servers running this. A
/// round that cannot run (another round holds the lock, say) gives its day back, so the next
/// call tries again. Returns each started round's outcome.
pub async fn run_due_rounds(db: &Db, calendar: &Calendar, now: OffsetDateTime) -> Result<Vec<(i64, Result<RoundSummary, Problem>)>, Problem> {
    let local = utc_to_almaty(now);
    let mut started = Vec::new();
    for (region, time) in db.scheduled_round_regions().await? {
        let Ok(time) = RoundTime::parse(&time) else {
            tracing::error!(region, "the region's round time is not valid");
            continue;
        };
        if !time.is_due(calendar, local) {
            continue;
        }
        let day = local.date();
        let mut tx = db.begin_write(None, now).await?;
        let Some(before) = tx.take_scheduled_round(region, day).await? else { continue };
        tx.audit(AuditRecord { action: "round.scheduled", object_type: "region", object_id: region.to_string(),
            organization_id: None, details: json!({ "day": day.to_string(), "time": time.to_string() }) }).await?;
        tx.commit().await?;
        let outcome = run_round(db, calendar, now, region, None).await;
        if outcome.is_err() {
            let mut tx = db.begin_write(None, now).await?;
            tx.give_back_scheduled_round(region, day, before).await?;
            tx.audit(AuditRecord { action: "round.scheduled_postponed", object_type: "region", object_id: region.to_string(),
                organization_id: None, details: json!({ "day": day.to_string() }) }).await?;
            tx.commit().await?;
        }
        started.push((region, outcome));
    }
    Ok(started)
}

/// What one expiry run did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ExpiryRun {
    pub referrals_expired: usize,
    pub claims_expired: usize,
}

/// How many referrals or claims one expiry transaction lapses. A round's referrals share their
/// last day, so tens of thousands can lapse at once; in batches, the database's write lock is
/// never held for long (on SQLite it blocks every other write, sign-ins included).
const EXPIRY_BATCH: i64 = 500;

/// Lapses open referrals past their last day and confirmed claims past their expiry, in
/// transactions of at most [`EXPIRY_BATCH`] each. Safe to run from several servers at once:
/// each row changes state in one conditional UPDATE.
pub async fn expire(db: &Db, now: OffsetDateTime) -> Result<ExpiryRun, Problem> {
    let mut run = ExpiryRun::default();
    let mut policies: HashMap<i64, EntryPolicy> = HashMap::new();
    loop {
        let n = expire_referral_batch(db, now, &mut policies).await?;
        run.referrals_expired += n;
        if n < EXPIRY_BATCH as usize {
            break;
        }
    }
    for region in db.regions().await? {
        loop {
            let n = expire_claim_batch(db, now, region.id).await?;
            run.claims_expired += n;
            if n < EXPIRY_BATCH as usize {
                break;
            }
        }
    }
    Ok(run)
}

/// One transaction of [`expire`]: lapses referrals and releases their children's entries by
/// each region's policy; returns how many lapsed.
async fn expire_referral_batch(db: &Db, now: OffsetDateTime, policies: &mut HashMap<i64, EntryPolicy>) -> Result<usize, Problem> {
    let mut tx = db.begin_write(None, now).await?;
    let lapsed = tx.expire_referrals(local_today(now), EXPIRY_BATCH).await?;
    if lapsed.is_empty() {
        return Ok(0);
    }
    for (referral, entry_id, region) in &lapsed {
        let policy = match policies.get(region) {
            Some(p) => *p,
            None => {
                let p = load_settings(db, *region).await?.on_expiry;
                policies.insert(*region, p);
                p
            }
        };
        let entry = db.queue_entry(*entry_id).await?.ok_or_else(Problem::internal)?;
        tx.append_queue_event(*region, "referral_expired", Some(&child_ref(&entry.log_salt, &entry.child_iin)),
            &json!({ "referral": referral })).await?;
        release_entry(&mut tx, &entry, policy, "referral_expired").await?;
    }
    tx.audit(AuditRecord { action: "queue.expiry", object_type: "job", object_id: "expiry".into(), organization_id: None,
        details: json!({ "referrals": lapsed.len(), "claims": 0 }) }).await?;
    tx.commit().await?;
    Ok(lapsed.len())
}

/// One transaction of [`expire`]: lapses a region's confirmed claims past their expiry; returns
/// how many lapsed.
async fn expire_claim_batch(db: &Db, now: OffsetDateTime, region: i64) -> Result<usize, Problem> {
    let mut tx = db.begin_write(None, now).await?;
    let lapsed = tx.expire_claims(region, local_today(now), EXPIRY_BATCH).await?;
    if lapsed.is_empty() {
        return Ok(0);
    }
    for (claim, entry_id) in &lapsed {
        let entry = db.queue_entry(*entry_id).await?.ok_or_else(Problem::internal)?;
        tx.append_queue_event(region, "claim_expired", Some(&child_ref(&entry.log_salt, &entry.child_iin)),
            &json!({ "claim": claim })).await?;
    }
    tx.audit(AuditRecord { action: "queue.expiry", object_type: "job", object_id: "expiry".into(), organization_id: None,
        details: json!({ "referrals": 0, "claims": lapsed.len() }) }).await?;
    tx.commit().await?;
    Ok(lapsed.len())
}

/// A child's place at one preferred kindergarten now.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Position {
    pub kindergarten_id: i64,
    pub preference_rank: usize,
    /// The group the child would join (band and language), if the kindergarten has one.
    pub group_id: Option<i64>,
    pub age_band: Option<String>,
    pub free_places: i64,
    /// Waiting children of the same group who rank ahead, by priority class: [none, first, out-of-turn].
    pub ahead_by_class: [u64; 3],
    pub ahead: u64,
}

/// Where a waiting child stands at each preferred kindergarten, by the region's ranking.
pub async fn positions(db: &Db, now: OffsetDateTime, entry: &EntryRow) -> Result<Vec<Position>, Problem> {
    let settings = load_settings(db, entry.region_id).await?;
    let today = local_today(now);
    let reference = school_year_start(today.max(entry.desired_start));
    let waiting = db.waiting_children(entry.region_id, today).await?;
    let groups = db.groups_with_holds(entry.region_id).await?;
    let mine = db.preferences(entry.id).await?;
    let band_of = |birth: Date| -> Option<&str> {
        let age = allocation::age_on(birth, reference);
        settings.bands.iter().find(|b| i32::from(b.min_age()) <= age && age < i32::from(b.max_age())).map(Band::name)
    };
    let my_band = band_of(entry.child_birth_date);
    let by_id: HashMap<i64, &WaitingRow> = waiting.iter().map(|w| (w.id, w)).collect();
    let my_row = by_id.get(&entry.id);
    let standing = |w: &WaitingRow, k: i64| Standing {
        priority: PriorityClass::from_code(w.priority as u64).unwrap_or(PriorityClass::None),
        sibling_here: w.sibling_kindergarten_id == Some(k),
        registered_at: w.registered_at.unix_timestamp(),
        registration_no: w.registration_no as u64,
    };
    let mut out = Vec::with_capacity(mine.len());
    for (rank, k) in mine.iter().enumerate() {
        let group = groups.iter().find(|g| g.organization_id == *k && Some(g.age_band.as_str()) == my_band && g.language == entry.language);
        let competitors: Vec<Standing> = waiting
            .iter()
            .filter(|w| w.id != entry.id && w.preferences.0.contains(k))
            .filter(|w| w.language == entry.language && band_of(w.child_birth_date) == my_band)
            .map(|w| standing(w, *k))
            .collect();
        let ahead_by_class = match my_row {
            Some(me) => queue::ahead_by_class(&settings.ranking, &standing(me, *k), &competitors),
            None => [0; 3],
        };
        out.push(Position {
            kindergarten_id: *k,
            preference_rank: rank + 1,
            group_id: group.map(|g| g.id),
            age_band: my_band.map(str::to_owned),
            free_places: group.map_or(0, |g| g.free()),
            ahead: ahead_by_class.iter().sum(),
            ahead_by_class,
        });
    }
    Ok(out)
}
