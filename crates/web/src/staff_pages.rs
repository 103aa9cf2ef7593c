//! The queue's pages for staff: a kindergarten head publishes places and enrols or refuses the
//! referrals to the kindergarten; the provider's specialists and head and the regional
//! administrator confirm, reject or revoke priority claims; a regional administrator starts an
//! allocation round (after a confirmation) and reads its statistics and check; an auditor reads
//! the honesty findings.
//! As on the families' pages, every action is the API's own handler called as the signed-in user.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kezek_domain::access::{Action, RegionId, authorize};
use serde::Deserialize;

use crate::api::ApiJson;
use crate::api::directory::{self as api_d, PlacesRequest};
use crate::api::queue::{self as api_q, ClaimDecisionRequest, ClaimsQuery, EnrolRequest, ReasonRequest};
use crate::auth::{ApiUser, Authenticated, Visitor};
use crate::html::Tr;
use crate::pages::{
    FieldError, Fields, category_name, chrome, day, field_error, group_label, kindergarten_names, moment, msg, organization_name,
    own_error, page_or_problem, problem_page, region_name, see_other, signed_form, signed_in,
};
use crate::queue::ClaimDecision;
use crate::problem::Problem;
use crate::api::queue_settings::{self as api_s, QueueSettingsChoice, QueueSettingsView, ReferralTerm};
use crate::queue_pages::{Choice, FormState};
use crate::state::AppState;

// ---------------------------------------------------------------------------------------------
// Kindergarten head

#[derive(Template)]
#[template(path = "kindergarten.html")]
struct KindergartenPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    form: FormState,
    notice: Option<String>,
    name: String,
    region_id: i64,
    groups: Vec<GroupRow>,
    referrals: Vec<ReferralRow>,
}

struct GroupRow {
    id: i64,
    cap_field: String,
    enr_field: String,
    label: String,
    capacity: i64,
    enrolled: i64,
    held: i64,
    free: i64,
}

struct ReferralRow {
    id: i64,
    no_field: String,
    date_field: String,
    reason_field: String,
    child: String,
    birth_date: String,
    number: i64,
    group: String,
    issued: String,
    expires_on: String,
    status: String,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// The kindergarten `id`, if the visitor may enrol there (its head): 404 for an unknown one,
/// 403 for anyone else.
async fn headed_kindergarten(state: &AppState, me: &Authenticated, id: i64) -> Result<kezek_store::OrganizationRow, Problem> {
    let org = state.db.organization(id).await?.filter(|o| o.kind == "kindergarten").ok_or_else(Problem::not_found)?;
    authorize(&me.principal, Action::Enrol(org.scope()?)).map_err(|_| Problem::forbidden())?;
    Ok(org)
}

async fn kindergarten_page(state: &AppState, me: &Authenticated, id: i64, values: Fields, errors: Vec<FieldError>, notice: Option<String>) -> Result<KindergartenPage, Problem> {
    let org = headed_kindergarten(state, me, id).await?;
    let groups: Vec<GroupRow> = state
        .db
        .groups_with_holds(org.region_id)
        .await?
        .into_iter()
        .filter(|g| g.organization_id == id)
        .map(|g| GroupRow {
            id: g.id,
            cap_field: format!("capacity-{}", g.id),
            enr_field: format!("enrolled-{}", g.id),
            label: group_label(&g.age_band, &g.language),
            capacity: g.capacity,
            enrolled: g.enrolled,
            held: g.held,
            free: g.free(),
        })
        .collect();
    let mut referrals = Vec::new();
    for r in state.db.live_referrals_to_kindergarten(id).await? {
        let Some(entry) = state.db.queue_entry(r.entry_id).await? else { continue };
        referrals.push(ReferralRow {
            id: r.id,
            no_field: format!("contract_no-{}", r.id),
            date_field: format!("contract_date-{}", r.id),
            reason_field: format!("reason-{}", r.id),
            child: entry.child_name,
            birth_date: day(entry.child_birth_date),
            number: entry.registration_no,
            group: groups.iter().find(|g| g.id == r.group_id).map_or_else(String::new, |g| g.label.clone()),
            issued: moment(r.issued_at),
            expires_on: day(r.expires_on),
            status: msg(&format!("referral-status-{}", r.status), &[]),
        });
    }
    let mut form = FormState::new(values, errors);
    for g in &groups {
        for (name, value) in [("capacity", g.capacity), ("enrolled", g.enrolled)] {
            let key = format!("{name}-{}", g.id);
            if form.values.get(&key).is_empty() {
                form.values.set(&key, value.to_string());
            }
        }
    }
    let (user_name, csrf) = chrome(Some(me));
    Ok(KindergartenPage {
        t: Tr::current(),
        back: format!("/kindergartens/{id}"),
        user_name,
        csrf,
        form,
        notice,
        name: organization_name(&org),
        region_id: org.region_id,
        groups,
        referrals,
    })
}

async fn kindergarten_response(state: &AppState, me: &Authenticated, id: i64, values: Fields, errors: Vec<FieldError>, notice: Option<String>, status: StatusCode) -> Response {
    page_or_problem(Some(me), kindergarten_page(state, me, id, values, errors, notice).await, status)
}

/// `GET /kindergartens/{id}`: the head's groups and referrals.
pub async fn kindergarten(State(state): State<AppState>, Visitor(visitor): Visitor, Path(id): Path<i64>, Query(q): Query<DoneQuery>) -> Response {
    let me = match signed_in(visitor) {
        Ok(me) => me,
        Err(r) => return r,
    };
    let notice = match q.done.as_deref() {
        Some(d @ ("places" | "enrolled" | "refused")) => Some(msg(&format!("notice-{d}"), &[])),
        _ => None,
    };
    kindergarten_response(&state, &me, id, Fields::empty(), Vec::new(), notice, StatusCode::OK).await
}

/// The kindergarten a group or a referral belongs to, for the page to return to.
async fn kindergarten_of_group(state: &AppState, group: i64) -> Result<i64, Problem> {
    Ok(state.db.group(group).await?.ok_or_else(Problem::not_found)?.organization_id)
}

async fn kindergarten_of_referral(state: &AppState, referral: i64) -> Result<i64, Problem> {
    let r = state.db.referral(referral).await?.ok_or_else(Problem::not_found)?;
    kindergarten_of_group(state, r.group_id).await
}

/// `POST /groups/{id}/places`: publishes a group's capacity and enrolment.
pub async fn publish_places(State(state): State<AppState>, Visitor(visitor): Visitor, Path(group): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let (me, fields) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let kindergarten = match kindergarten_of_group(&state, group).await {
        Ok(k) => k,
        Err(p) => return problem_page(Some(&me), p),
    };
    let (capacity_field, enrolled_field) = (format!("capacity-{group}"), format!("enrolled-{group}"));
    let mut errors = Vec::new();
    let capacity = fields.trimmed(&capacity_field).parse::<i64>().map_err(|_| errors.push(own_error(&capacity_field, "form-error-capacity"))).ok();
    let enrolled = fields.trimmed(&enrolled_field).parse::<i64>().map_err(|_| errors.push(own_error(&enrolled_field, "form-error-enrolled"))).ok();
    let status = match (capacity, enrolled) {
        (Some(capacity), Some(enrolled)) => {
            match api_d::update_places(State(state.clone()), ApiUser(me.clone()), Path(group), ApiJson(PlacesRequest { capacity, enrolled })).await {
                Ok(_) => return see_other(&format!("/kindergartens/{kindergarten}?done=places")),
                Err(p) => {
                    errors.push(field_error(&p, &capacity_field));
                    p.status
                }
            }
        }
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    kindergarten_response(&state, &me, kindergarten, fields, errors, None, status).await
}

/// `POST /referrals/{id}/enrol`: enrols the child under a contract (S2).
pub async fn enrol(State(state): State<AppState>, Visitor(visitor): Visitor, Path(referral): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let (me, fields) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let kindergarten = match kindergarten_of_referral(&state, referral).await {
        Ok(k) => k,
        Err(p) => return problem_page(Some(&me), p),
    };
    let (no_field, date_field) = (format!("contract_no-{referral}"), format!("contract_date-{referral}"));
    let mut errors = Vec::new();
    if fields.trimmed(&no_field).is_empty() {
        errors.push(own_error(&no_field, "form-error-contract_no"));
    }
    if fields.trimmed(&date_field).is_empty() {
        errors.push(own_error(&date_field, "form-error-contract_date"));
    }
    let status = if errors.is_empty() {
        let request = EnrolRequest { contract_no: fields.trimmed(&no_field), contract_date: fields.trimmed(&date_field) };
        match api_q::enrol(State(state.clone()), ApiUser(me.clone()), Path(referral), ApiJson(request)).await {
            Ok(_) => return see_other(&format!("/kindergartens/{kindergarten}?done=enrolled")),
            Err(p) => {
                let mut e = field_error(&p, &no_field);
                if let Some(f) = p.field {
                    e.field = format!("{f}-{referral}");
                }
                errors.push(e);
                p.status
            }
        }
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    kindergarten_response(&state, &me, kindergarten, fields, errors, None, status).await
}

/// `POST /referrals/{id}/refuse`: the head refuses the referral with a reason.
pub async fn refuse(State(state): State<AppState>, Visitor(visitor): Visitor, Path(referral): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let (me, fields) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let kindergarten = match kindergarten_of_referral(&state, referral).await {
        Ok(k) => k,
        Err(p) => return problem_page(Some(&me), p),
    };
    let reason_field = format!("reason-{referral}");
    let request = ReasonRequest { reason: fields.trimmed(&reason_field) };
    let (status, errors) = match api_q::refuse(State(state.clone()), ApiUser(me.clone()), Path(referral), ApiJson(request)).await {
        Ok(_) => return see_other(&format!("/kindergartens/{kindergarten}?done=refused")),
        Err(p) => (p.status, vec![field_error(&p, &reason_field)]),
    };
    let errors = errors.into_iter().map(|mut e| {
        if e.field == "reason" {
            e.field = reason_field.clone();
        }
        e
    }).collect();
    kindergarten_response(&state, &me, kindergarten, fields, errors, None, status).await
}

// ---------------------------------------------------------------------------------------------
// Reviewers: priority claims

#[derive(Template)]
#[template(path = "claims.html")]
struct ClaimsPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    form: FormState,
    notice: Option<String>,
    region_id: i64,
    region_name: String,
    tabs: Vec<StatusTab>,
    claims: Vec<ClaimCard>,
}

struct StatusTab {
    status: String,
    label: String,
    current: bool,
}

struct ClaimCard {
    id: i64,
    number: i64,
    child: String,
    birth_date: String,
    category: String,
    class: String,
    clause: String,
    evidence_kind: String,
    evidence_ref: String,
    submitted: String,
    status: String,
    /// Who decided and when, in words; empty while pending.
    decided: String,
    expires_on: String,
    reason: String,
    pending: bool,
    confirmed: bool,
    /// The category's right ends on a day its evidence fixes: confirming names that day.
    expiry_required: bool,
    expires_field: String,
    reason_field: String,
}

#[derive(Deserialize, Default)]
pub struct ClaimsPageQuery {
    status: Option<String>,
    done: Option<String>,
    number: Option<i64>,
}

async fn claims_page(state: &AppState, me: &Authenticated, region: i64, status: &str, form: FormState, notice: Option<String>) -> Result<ClaimsPage, Problem> {
    let query = ClaimsQuery { status: Some(status.to_owned()), limit: None };
    let Json(claims) = api_q::region_claims(State(state.clone()), ApiUser(me.clone()), Path(region), Ok(Query(query))).await?;
    let regions = state.db.regions().await?;
    let r = regions.iter().find(|r| r.id == region).ok_or_else(Problem::not_found)?;
    let categories = state.db.priority_categories(region).await?;
    let cards = claims
        .into_iter()
        .map(|c| {
            let category = categories.iter().find(|k| k.code == c.category);
            let decided = match (c.decided_at, c.decided_by_name) {
                (Some(at), Some(name)) => msg(&format!("claims-decided-{}", c.status), &[("name", name), ("at", moment(at))]),
                (Some(at), None) => msg("claims-lapsed", &[("at", moment(at))]),
                _ => String::new(),
            };
            ClaimCard {
                id: c.id,
                number: c.registration_no,
                child: c.child_name,
                birth_date: day(c.child_birth_date),
                category: category.map_or_else(|| c.category.clone(), category_name),
                class: msg(&format!("class-{}", c.class), &[]),
                clause: category.map_or_else(String::new, |k| k.clause.clone()),
                evidence_kind: msg(&format!("evidence-{}", c.evidence_kind), &[]),
                evidence_ref: c.evidence_ref,
                submitted: moment(c.submitted_at),
                status: msg(&format!("claim-status-{}", c.status), &[]),
                decided,
                // The last day of a right that no longer holds would only mislead.
                expires_on: c.expires_on.filter(|_| matches!(c.status.as_str(), "confirmed" | "expired")).map(day).unwrap_or_default(),
                reason: c.reason,
                pending: c.status == "pending",
                confirmed: c.status == "confirmed",
                expiry_required: category.is_some_and(|k| k.expires),
                expires_field: format!("expires_on-{}", c.id),
                reason_field: format!("reason-{}", c.id),
            }
        })
        .collect();
    let (user_name, csrf) = chrome(Some(me));
    Ok(ClaimsPage {
        t: Tr::current(),
        back: format!("/regions/{region}/claims?status={status}"),
        user_name,
        csrf,
        form,
        notice,
        region_id: region,
        region_name: region_name(r),
        tabs: api_q::CLAIM_STATUSES
            .iter()
            .map(|s| StatusTab { status: (*s).to_owned(), label: msg(&format!("claims-tab-{s}"), &[]), current: *s == status })
            .collect(),
        claims: cards,
    })
}

async fn claims_response(state: &AppState, me: &Authenticated, region: i64, status: &str, form: FormState, notice: Option<String>, code: StatusCode) -> Response {
    page_or_problem(Some(me), claims_page(state, me, region, status, form, notice).await, code)
}

/// `GET /regions/{id}/claims`: the region's priority claims in one state, pending ones with
/// the forms that confirm or reject them, confirmed ones with the form that revokes them.
pub async fn claims(State(state): State<AppState>, Visitor(visitor): Visitor, Path(region): Path<i64>, Query(q): Query<ClaimsPageQuery>) -> Response {
    let me = match signed_in(visitor) {
        Ok(me) => me,
        Err(r) => return r,
    };
    let status = q.status.as_deref().filter(|s| api_q::CLAIM_STATUSES.contains(s)).unwrap_or("pending");
    let notice = match (q.done.as_deref(), q.number) {
        (Some(d @ ("confirmed" | "rejected" | "revoked")), Some(n)) => Some(msg(&format!("notice-claim-{d}"), &[("number", n.to_string())])),
        _ => None,
    };
    claims_response(&state, &me, region, status, FormState::new(Fields::empty(), Vec::new()), notice, StatusCode::OK).await
}

/// `POST /claims/{id}/decision`: confirms (with the right's last day, if it has one), rejects
/// or revokes (with the reason) through the API's handler.
pub async fn decide_claim(State(state): State<AppState>, Visitor(visitor): Visitor, Path(claim): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let (me, fields) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let found = async {
        let c = state.db.claim(claim).await?.ok_or_else(Problem::not_found)?;
        let entry = state.db.queue_entry(c.entry_id).await?.ok_or_else(Problem::not_found)?;
        Ok::<_, Problem>((c.status, entry.region_id, entry.registration_no))
    }
    .await;
    let (status, region, number) = match found {
        Ok(x) => x,
        Err(p) => return problem_page(Some(&me), p),
    };
    let (decision, done) = match fields.get("decision") {
        "confirm" => (ClaimDecision::Confirm, "confirmed"),
        "reject" => (ClaimDecision::Reject, "rejected"),
        "revoke" => (ClaimDecision::Revoke, "revoked"),
        _ => return problem_page(Some(&me), Problem::invalid_field("decision", "confirm, reject or revoke")),
    };
    let (expires_field, reason_field) = (format!("expires_on-{claim}"), format!("reason-{claim}"));
    if decision != ClaimDecision::Confirm && fields.trimmed(&reason_field).is_empty() {
        let form = FormState::new(fields, vec![own_error(&reason_field, "form-error-claim_reason")]);
        return claims_response(&state, &me, region, &status, form, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let request = ClaimDecisionRequest {
        decision,
        expires_on: (decision == ClaimDecision::Confirm).then(|| fields.trimmed(&expires_field)).filter(|d| !d.is_empty()),
        reason: if decision == ClaimDecision::Confirm { String::new() } else { fields.trimmed(&reason_field) },
    };
    let p = match api_q::decide_claim(State(state.clone()), ApiUser(me.clone()), Path(claim), ApiJson(request)).await {
        Ok(_) => return see_other(&format!("/regions/{region}/claims?status={status}&done={done}&number={number}")),
        Err(p) if p.status == StatusCode::FORBIDDEN || p.status == StatusCode::NOT_FOUND => return problem_page(Some(&me), p),
        Err(p) => p,
    };
    let mut error = field_error(&p, &format!("{}-{claim}", fields.get("decision")));
    if let Some(f) = p.field {
        error.field = format!("{f}-{claim}");
    }
    claims_response(&state, &me, region, &status, FormState::new(fields, vec![error]), None, p.status).await
}

// ---------------------------------------------------------------------------------------------
// Regional administrator: rounds

#[derive(Template)]
#[template(path = "rounds.html")]
struct RoundsPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    form: FormState,
    /// The confirmation step before a round starts.
    confirm: bool,
    region_id: i64,
    region_name: String,
    total_waiting: usize,
    free_places: i64,
    rounds: Vec<i64>,
}

async fn rounds_page(state: &AppState, me: &Authenticated, region: i64, confirm: bool, errors: Vec<FieldError>) -> Result<RoundsPage, Problem> {
    authorize(&me.principal, Action::ManageQueue(RegionId(region))).map_err(|_| Problem::forbidden())?;
    let regions = state.db.regions().await?;
    let r = regions.iter().find(|r| r.id == region).ok_or_else(Problem::not_found)?;
    let Json(stats) = api_q::stats(State(state.clone()), Path(region)).await?;
    let Json(places) = api_q::places(State(state.clone()), Path(region)).await?;
    let (user_name, csrf) = chrome(Some(me));
    Ok(RoundsPage {
        t: Tr::current(),
        back: format!("/regions/{region}/rounds"),
        user_name,
        csrf,
        form: FormState::new(Fields::empty(), errors),
        confirm,
        region_id: region,
        region_name: region_name(r),
        total_waiting: stats.total_waiting,
        free_places: places.iter().map(|p| p.free).sum(),
        rounds: state.db.recent_rounds(region, 20).await?,
    })
}

async fn rounds_response(state: &AppState, visitor: Option<Authenticated>, region: i64, confirm: bool) -> Response {
    let me = match signed_in(visitor) {
        Ok(me) => me,
        Err(r) => return r,
    };
    page_or_problem(Some(&me), rounds_page(state, &me, region, confirm, Vec::new()).await, StatusCode::OK)
}

/// `GET /regions/{id}/rounds`: the region's queue at a glance and its rounds.
pub async fn rounds(State(state): State<AppState>, Visitor(visitor): Visitor, Path(region): Path<i64>) -> Response {
    rounds_response(&state, visitor, region, false).await
}

/// `GET /regions/{id}/rounds/new`: what a round will take, and the button that starts it.
pub async fn confirm_round(State(state): State<AppState>, Visitor(visitor): Visitor, Path(region): Path<i64>) -> Response {
    rounds_response(&state, visitor, region, true).await
}

/// `POST /regions/{id}/rounds`: starts the round through the API's handler.
pub async fn start_round(State(state): State<AppState>, Visitor(visitor): Visitor, Path(region): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let (me, _) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match api_q::start_round(State(state.clone()), ApiUser(me.clone()), Path(region)).await {
        Ok((_, Json(summary))) => see_other(&format!("/rounds/{}?started=1", summary.round_id)),
        Err(p) if p.status == StatusCode::FORBIDDEN || p.status == StatusCode::NOT_FOUND => problem_page(Some(&me), p),
        Err(p) => page_or_problem(Some(&me), rounds_page(&state, &me, region, true, vec![field_error(&p, "start-round")]).await, p.status),
    }
}

// ---------------------------------------------------------------------------------------------
// Auditor: honesty findings

#[derive(Template)]
#[template(path = "honesty.html")]
struct HonestyPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    region_id: i64,
    region_name: String,
    findings: Vec<FindingRow>,
}

struct FindingRow {
    kind: String,
    label: String,
    object: String,
    detail: String,
}

/// What a finding is about, in words: a group by its kindergarten, age band and language; other
/// records by their number.
fn finding_object(f: &api_q::Finding, groups: &HashMap<i64, (i64, String, String)>, kindergartens: &HashMap<i64, String>) -> String {
    match groups.get(&f.object_id).filter(|_| f.object_type == "group") {
        Some((k, band, language)) => msg("object-group-named", &[
            ("kindergarten", kindergartens.get(k).cloned().unwrap_or_else(|| k.to_string())),
            ("group", group_label(band, language)),
        ]),
        None => msg(&format!("object-{}", f.object_type), &[("id", f.object_id.to_string())]),
    }
}

/// A finding's figures in the reader's language (`finding-detail-<kind>` with the API's `params`).
fn finding_detail(f: &api_q::Finding) -> String {
    let args: Vec<(&str, String)> = f
        .params
        .iter()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => msg(if *b { "answer-yes" } else { "answer-no" }, &[]),
                other => other.to_string(),
            };
            (name.as_str(), text)
        })
        .collect();
    let key = format!("finding-detail-{}", f.kind);
    let text = msg(&key, &args);
    if text == key { String::new() } else { text }
}

/// `GET /regions/{id}/honesty`: what should never happen in the region's queue.
pub async fn honesty(State(state): State<AppState>, Visitor(visitor): Visitor, Path(region): Path<i64>) -> Response {
    let me = match signed_in(visitor) {
        Ok(me) => me,
        Err(r) => return r,
    };
    let page = async {
        let Json(report) = api_q::honesty(State(state.clone()), ApiUser(me.clone()), Path(region)).await?;
        let regions = state.db.regions().await?;
        let r = regions.iter().find(|r| r.id == region).ok_or_else(Problem::not_found)?;
        let kindergartens = kindergarten_names(&state.db, region).await?;
        let groups: HashMap<i64, (i64, String, String)> =
            state.db.groups_with_holds(region).await?.into_iter().map(|g| (g.id, (g.organization_id, g.age_band, g.language))).collect();
        let (user_name, csrf) = chrome(Some(&me));
        Ok::<_, Problem>(HonestyPage {
            t: Tr::current(),
            back: format!("/regions/{region}/honesty"),
            user_name,
            csrf,
            region_id: region,
            region_name: region_name(r),
            findings: report
                .findings
                .iter()
                .map(|f| FindingRow {
                    label: msg(&format!("finding-{}", f.kind), &[]),
                    object: finding_object(f, &groups, &kindergartens),
                    detail: finding_detail(f),
                    kind: f.kind.clone(),
                })
                .collect(),
        })
    }
    .await;
    page_or_problem(Some(&me), page, StatusCode::OK)
}

// ---------------------------------------------------------------------------------------------
// Regional administrator: the region's queue settings

#[derive(Template)]
#[template(path = "queue_settings.html")]
struct SettingsPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    form: FormState,
    notice: Option<String>,
    region_id: i64,
    region_name: String,
    bands: String,
    ranking: String,
    units: Vec<Choice>,
    policies: Vec<Choice>,
    /// (field name, label) of each band's norm.
    norm_fields: Vec<(String, String)>,
}

fn norm_field(band: &str) -> String {
    format!("norm-{band}")
}

/// The form's values as the settings are now.
fn settings_fields(s: &QueueSettingsView) -> Fields {
    let c = &s.chosen;
    let mut f = Fields::empty();
    f.set("referral_term_amount", c.referral_term.amount.to_string());
    f.set("referral_term_unit", c.referral_term.unit.clone());
    f.set("on_decline", c.on_decline.clone());
    f.set("on_expiry", c.on_expiry.clone());
    f.set("max_preferences", c.max_preferences.to_string());
    f.set("round_time", c.round_time.clone().unwrap_or_default());
    for (band, n) in &c.group_norms {
        f.set(&norm_field(band), n.to_string());
    }
    f
}

async fn settings_page(state: &AppState, me: &Authenticated, region: i64, values: Option<Fields>, errors: Vec<FieldError>, notice: Option<String>) -> Result<SettingsPage, Problem> {
    authorize(&me.principal, Action::ManageQueue(RegionId(region))).map_err(|_| Problem::forbidden())?;
    let regions = state.db.regions().await?;
    let r = regions.iter().find(|r| r.id == region).ok_or_else(Problem::not_found)?;
    let Json(settings) = api_s::get_settings(State(state.clone()), Path(region)).await?;
    let (user_name, csrf) = chrome(Some(me));
    Ok(SettingsPage {
        t: Tr::current(),
        back: format!("/regions/{region}/settings"),
        user_name,
        csrf,
        form: FormState::new(values.unwrap_or_else(|| settings_fields(&settings)), errors),
        notice,
        region_id: region,
        region_name: region_name(r),
        bands: settings.bands.join(", "),
        ranking: settings.ranking.clone(),
        units: ["working_days", "calendar_days", "months"].iter().map(|u| Choice::new(*u, msg(&format!("settings-unit-{u}"), &[]))).collect(),
        policies: ["keep_waiting", "remove"].iter().map(|p| Choice::new(*p, msg(&format!("settings-policy-{p}"), &[]))).collect(),
        norm_fields: settings.bands.iter().map(|b| (norm_field(b), msg("settings-norm-of", &[("band", b.clone())]))).collect(),
    })
}

async fn settings_response(state: &AppState, me: &Authenticated, region: i64, values: Option<Fields>, errors: Vec<FieldError>, notice: Option<String>, status: StatusCode) -> Response {
    page_or_problem(Some(me), settings_page(state, me, region, values, errors, notice).await, status)
}

/// `GET /regions/{id}/settings`: the region's queue settings in a form.
pub async fn settings(State(state): State<AppState>, Visitor(visitor): Visitor, Path(region): Path<i64>) -> Response {
    match signed_in(visitor) {
        Ok(me) => settings_response(&state, &me, region, None, Vec::new(), None, StatusCode::OK).await,
        Err(r) => r,
    }
}

/// Reads the form into the API's request; what is not a number is the page's own error.
fn settings_choice(f: &Fields, bands: &[String]) -> Result<QueueSettingsChoice, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut number = |field: &str| -> u32 {
        f.trimmed(field).parse().unwrap_or_else(|_| {
            errors.push(own_error(field, "settings-not-a-number"));
            0
        })
    };
    let amount = number("referral_term_amount");
    let max_preferences = number("max_preferences");
    let mut group_norms = std::collections::BTreeMap::new();
    for band in bands {
        let field = norm_field(band);
        if !f.trimmed(&field).is_empty() {
            group_norms.insert(band.clone(), number(&field));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let round_time = Some(f.trimmed("round_time")).filter(|t| !t.is_empty());
    Ok(QueueSettingsChoice {
        max_preferences: max_preferences as usize,
        referral_term: ReferralTerm { amount, unit: f.trimmed("referral_term_unit") },
        on_decline: f.trimmed("on_decline"),
        on_expiry: f.trimmed("on_expiry"),
        group_norms,
        round_time,
    })
}

/// The form field an API refusal is about.
fn settings_field(api_field: Option<&str>) -> &'static str {
    match api_field {
        Some("referral_term") => "referral_term_amount",
        Some("max_preferences") => "max_preferences",
        Some("on_decline") => "on_decline",
        Some("on_expiry") => "on_expiry",
        Some("round_time") => "round_time",
        _ => "group_norms",
    }
}

/// `POST /regions/{id}/settings`: saves the settings through the API's handler.
pub async fn save_settings(State(state): State<AppState>, Visitor(visitor): Visitor, Path(region): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let (me, fields) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let bands = match api_s::get_settings(State(state.clone()), Path(region)).await {
        Ok(Json(s)) => s.bands,
        Err(p) => return problem_page(Some(&me), p),
    };
    let choice = match settings_choice(&fields, &bands) {
        Ok(c) => c,
        Err(errors) => return settings_response(&state, &me, region, Some(fields), errors, None, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    match api_s::put_settings(State(state.clone()), ApiUser(me.clone()), Path(region), ApiJson(choice)).await {
        Ok(_) => settings_response(&state, &me, region, None, Vec::new(), Some(msg("settings-saved", &[])), StatusCode::OK).await,
        Err(p) if p.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let mut e = field_error(&p, "group_norms");
            e.field = settings_field(p.field).to_owned();
            settings_response(&state, &me, region, Some(fields), vec![e], None, p.status).await
        }
        Err(p) => problem_page(Some(&me), p),
    }
}
