//! The kindergarten queue's pages for families and the public: "My children" (positions, events,
//! the last round's reasons, referrals to accept or decline), registering a child (also at a
//! front office, for the applicant present), changing preferences, and a region's free places,
//! queue length and rounds. Every action calls the API's own handler as the signed-in user, so
//! a page and the API share parsing, `authorize` and the queue service.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use kezek_domain::access::{Action, Membership, RegionId, Role, UserId, authorize};
use kezek_domain::queue::Relation;
use serde::Deserialize;

use crate::api::ApiJson;
use crate::api::queue::{
    self as api_q, ChangeRequest, PowerOfAttorneyRequest, PriorityClaimRequest, ReasonRequest, RegistrationRequest, RegistrationView, SinceQuery,
};
use crate::auth::{ApiUser, Authenticated, Visitor};
use crate::html::{Tr, render};
use crate::pages::{
    FieldError, Fields, category_name, chrome, day, field_error, group_label, kindergarten_names, language_name, moment, msg,
    own_error, page_or_problem, problem_page, region_name, see_other, signed_form, signed_in,
};
use crate::problem::Problem;
use crate::state::AppState;

/// One link of the home page to where a role's work starts.
pub struct StartLink {
    pub path: String,
    /// The message key of the link's text.
    pub key: String,
    /// What the link is marked with (`data-start`): the role's code for its main page.
    pub mark: String,
}

/// Where each role's work on these pages starts, for the home page.
pub fn role_starts(m: &Membership) -> Vec<StartLink> {
    let link = |path: String, key: &str, mark: &str| StartLink { path, key: key.to_owned(), mark: mark.to_owned() };
    let role = m.role.as_str();
    let Some(org) = m.organization else {
        return if m.role == Role::Citizen { vec![link("/children".to_owned(), "start-citizen", role)] } else { Vec::new() };
    };
    let claims = link(format!("/regions/{}/claims", org.region.0), "start-claims", "claims");
    match m.role {
        Role::Citizen => vec![link("/children".to_owned(), "start-citizen", role)],
        Role::KindergartenHead => vec![link(format!("/kindergartens/{}", org.id.0), "start-kindergarten_head", role)],
        Role::RegionalAdmin => vec![link(format!("/regions/{}/rounds", org.region.0), "start-regional_admin", role), claims],
        Role::Operator | Role::Clerk => vec![link("/office/children/new".to_owned(), "start-office", role)],
        Role::Auditor => vec![link(format!("/regions/{}/honesty", org.region.0), "start-auditor", role)],
        Role::Head | Role::Specialist => vec![StartLink { mark: role.to_owned(), ..claims }],
    }
}

/// A form's values and errors, as the templates and their macros read them.
pub struct FormState {
    pub values: Fields,
    pub errors: Vec<FieldError>,
}

impl FormState {
    pub fn new(values: Fields, errors: Vec<FieldError>) -> FormState {
        FormState { values, errors }
    }
    pub fn value(&self, name: &str) -> &str {
        self.values.get(name)
    }
    pub fn is(&self, name: &str, value: &str) -> bool {
        self.values.get(name) == value
    }
    pub fn error(&self, field: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.field == field)
    }
    pub fn has_error(&self, field: &str) -> bool {
        self.error(field).is_some()
    }
    /// The ids that describe a field: its hint (when it has one) and its error message.
    pub fn described(&self, field: &str, hint: &str) -> String {
        let mut ids = Vec::new();
        if !hint.is_empty() {
            ids.push(format!("{field}-hint"));
        }
        if self.has_error(field) {
            ids.push(format!("{field}-error"));
        }
        ids.join(" ")
    }
}

/// One radio button or option.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub hint: String,
}

impl Choice {
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Choice {
        Choice { value: value.into(), label: label.into(), hint: String::new() }
    }
}

/// One "n-th choice" kindergarten select.
pub struct PreferenceSlot {
    pub name: String,
    pub label: String,
}

fn preference_slots(max: usize) -> Vec<PreferenceSlot> {
    (1..=max).map(|n| PreferenceSlot { name: format!("pref{n}"), label: msg("register-preference", &[("n", n.to_string())]) }).collect()
}

/// The chosen kindergartens in rank order, from the `prefN` selects (empty ones skipped).
fn chosen_preferences(fields: &Fields, max: usize) -> Result<Vec<i64>, FieldError> {
    let mut out = Vec::new();
    for n in 1..=max {
        let v = fields.trimmed(&format!("pref{n}"));
        if v.is_empty() {
            continue;
        }
        out.push(v.parse::<i64>().map_err(|_| own_error(&format!("pref{n}"), "form-error-preferences"))?);
    }
    if out.is_empty() {
        return Err(own_error("pref1", "form-error-preferences"));
    }
    Ok(out)
}

/// The kindergartens of a region that teach in `language`, by name: what a family can rank.
async fn kindergartens_teaching(state: &AppState, region: i64, language: &str) -> Result<Vec<(String, String)>, Problem> {
    let names = kindergarten_names(&state.db, region).await?;
    let groups = state.db.groups_with_holds(region).await?;
    let mut out: Vec<(String, String)> = names
        .into_iter()
        .filter(|(id, _)| groups.iter().any(|g| g.organization_id == *id && g.language == language))
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    Ok(out)
}

fn language_choices() -> Vec<Choice> {
    ["kk", "ru"].into_iter().map(|l| Choice::new(l, language_name(l))).collect()
}

// ---------------------------------------------------------------------------------------------
// My children

#[derive(Template)]
#[template(path = "children.html")]
struct ChildrenPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    form: FormState,
    notice: Option<String>,
    children: Vec<ChildCard>,
}

struct ChildCard {
    id: i64,
    name: String,
    number: i64,
    registered: String,
    status: String,
    language: String,
    desired_start: String,
    waiting: bool,
    positions: Vec<PositionLine>,
    claims: Vec<ClaimLine>,
    referral: Option<ReferralCard>,
    events: Vec<EventLine>,
    events_note: String,
    round: Option<RoundWhy>,
    log_ref: String,
    region_id: i64,
}

/// A priority claim as the family sees it: category, state and when it was decided, and the
/// reason the reviewer gave for a rejection or revocation.
struct ClaimLine {
    text: String,
    reason: String,
}

struct PositionLine {
    rank: usize,
    kindergarten: String,
    group: String,
    ahead: u64,
    detail: String,
    free: String,
}

struct ReferralCard {
    id: i64,
    kindergarten: String,
    group: String,
    expires_on: String,
    status: String,
    open: bool,
}

struct EventLine {
    at: String,
    text: String,
    own: bool,
}

struct RoundWhy {
    round_id: i64,
    summary: String,
    lines: Vec<WhyLine>,
}

struct WhyLine {
    kindergarten: String,
    group: String,
    outcome: String,
    text: String,
}

#[derive(Deserialize, Default)]
pub struct ChildrenQuery {
    registered: Option<String>,
    done: Option<String>,
}

/// The cookie that remembers, per registration, the queue-log position of the family's last look.
const SEEN_COOKIE: &str = "kezek_seen";
/// Events shown on a first look, counted back from the log's head.
const FIRST_LOOK: i64 = 200;
/// Events listed per child (newest first).
const EVENTS_SHOWN: usize = 15;

fn seen_from(headers: &HeaderMap) -> HashMap<i64, i64> {
    let (mut parts, _) = axum::http::Request::new(()).into_parts();
    parts.headers = headers.clone();
    crate::auth::cookie_value(&parts, SEEN_COOKIE)
        .unwrap_or("")
        .split('-')
        .filter_map(|p| {
            let (e, s) = p.split_once('.')?;
            Some((e.parse().ok()?, s.parse().ok()?))
        })
        .collect()
}

fn seen_cookie(seen: &HashMap<i64, i64>, secure: bool) -> HeaderValue {
    let mut pairs: Vec<_> = seen.iter().collect();
    pairs.sort();
    let value = pairs.iter().map(|(e, s)| format!("{e}.{s}")).collect::<Vec<_>>().join("-");
    let mut c = format!("{SEEN_COOKIE}={value}; Path=/children; HttpOnly; SameSite=Lax; Max-Age=31536000");
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("digits, dots and dashes")
}

/// Builds the cards of the family's registrations; returns the log positions now seen.
async fn children_cards(state: &AppState, me: &Authenticated, seen: &HashMap<i64, i64>) -> Result<(Vec<ChildCard>, HashMap<i64, i64>), Problem> {
    let Json(views) = api_q::my_registrations(State(state.clone()), ApiUser(me.clone())).await?;
    let mut names: HashMap<i64, HashMap<i64, String>> = HashMap::new();
    let mut groups: HashMap<i64, HashMap<i64, (i64, String, String)>> = HashMap::new();
    let mut categories: HashMap<i64, HashMap<i64, String>> = HashMap::new();
    let mut now_seen = seen.clone();
    let mut cards = Vec::new();
    for v in views {
        let region = v.region_id;
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(region) {
            slot.insert(kindergarten_names(&state.db, region).await?);
            let Json(places) = api_q::places(State(state.clone()), Path(region)).await?;
            groups.insert(region, places.into_iter().map(|p| (p.group_id, (p.kindergarten_id, p.age_band, p.language))).collect());
            let cats = state.db.priority_categories(region).await?;
            categories.insert(region, cats.iter().map(|c| (c.id, category_name(c))).collect());
        }
        let names = &names[&region];
        let groups = &groups[&region];
        let kname = |k: i64| names.get(&k).cloned().unwrap_or_else(|| k.to_string());
        let gname = |g: i64| groups.get(&g).map_or_else(|| g.to_string(), |(_, b, l)| group_label(b, l));
        let gkind = |g: i64| groups.get(&g).map_or_else(String::new, |(k, _, _)| kname(*k));
        let card = child_card(state, me, &v, &kname, &gname, &gkind, &categories[&region], seen, &mut now_seen).await?;
        cards.push(card);
    }
    Ok((cards, now_seen))
}

#[allow(clippy::too_many_arguments)]
async fn child_card(
    state: &AppState,
    me: &Authenticated,
    v: &RegistrationView,
    kname: &(dyn Fn(i64) -> String + Sync),
    gname: &(dyn Fn(i64) -> String + Sync),
    gkind: &(dyn Fn(i64) -> String + Sync),
    categories: &HashMap<i64, String>,
    seen: &HashMap<i64, i64>,
    now_seen: &mut HashMap<i64, i64>,
) -> Result<ChildCard, Problem> {
    let waiting = v.status == "waiting";
    let mut positions = Vec::new();
    if waiting {
        let Json(p) = api_q::positions(State(state.clone()), ApiUser(me.clone()), Path(v.id)).await?;
        for pos in p.positions {
            let [general, first, out_of_turn] = pos.ahead_by_class;
            positions.push(PositionLine {
                rank: pos.preference_rank,
                kindergarten: kname(pos.kindergarten_id),
                group: pos.age_band.as_deref().map_or_else(|| msg("position-no-band", &[]), |b| group_label(b, &v.language)),
                ahead: pos.ahead,
                detail: msg("position-ahead-by-class", &[
                    ("out_of_turn", out_of_turn.to_string()),
                    ("first", first.to_string()),
                    ("general", general.to_string()),
                ]),
                free: if pos.group_id.is_some() {
                    msg("position-free", &[("free", pos.free_places.to_string())])
                } else {
                    msg("position-no-group", &[])
                },
            });
        }
    }
    let claims = v
        .claims
        .iter()
        .map(|c| {
            let name = categories.get(&c.category_id).cloned().unwrap_or_default();
            let status = msg(&format!("claim-status-{}", c.status), &[]);
            // The last day of the right matters only while it holds.
            let mut line = match c.expires_on.filter(|_| c.status == "confirmed") {
                Some(d) => msg("claim-line-until", &[("category", name), ("status", status), ("until", day(d))]),
                None => msg("claim-line", &[("category", name), ("status", status)]),
            };
            if let Some(at) = c.decided_at {
                line = format!("{line} ({})", msg("claim-decided-on", &[("date", day(kezek_domain::calendar::utc_to_almaty(at).date()))]));
            }
            ClaimLine { text: line, reason: c.reason.clone() }
        })
        .collect();
    let referral = v.referrals.iter().rev().find(|r| r.status == "open" || r.status == "accepted").map(|r| ReferralCard {
        id: r.id,
        kindergarten: gkind(r.group_id),
        group: gname(r.group_id),
        expires_on: day(r.expires_on),
        status: msg(&format!("referral-status-{}", r.status), &[]),
        open: r.status == "open",
    });

    // Events since the family's last look (the first look shows the latest ones).
    let since = match seen.get(&v.id) {
        Some(s) => *s,
        None => (state.db.queue_log_head(v.region_id).await?.0 - FIRST_LOOK).max(0),
    };
    let Json(ev) = api_q::events_since(State(state.clone()), ApiUser(me.clone()), Path(v.id), Ok(Query(SinceQuery { since: Some(since) }))).await?;
    now_seen.insert(v.id, ev.log_seq);
    let total = ev.events.len();
    let events = ev
        .events
        .iter()
        .rev()
        .take(EVENTS_SHOWN)
        .map(|e| EventLine { at: moment(e.at), text: msg(&format!("event-{}", e.kind), &[]), own: e.own })
        .collect();
    let events_note = if total == 0 {
        msg("events-none", &[])
    } else {
        msg("events-count", &[("count", total.to_string()), ("shown", total.min(EVENTS_SHOWN).to_string())])
    };

    // The round that placed the child, else the region's latest one.
    let round_id = match v.referrals.iter().rev().find_map(|r| r.round_id) {
        Some(r) => Some(r),
        None => state.db.recent_rounds(v.region_id, 1).await?.first().copied(),
    };
    let round = match round_id {
        Some(r) => match api_q::explain(State(state.clone()), ApiUser(me.clone()), Path((v.id, r))).await {
            Ok(Json(x)) => Some(RoundWhy {
                round_id: r,
                summary: match x.assigned_group {
                    Some(g) => msg("round-placed", &[("kindergarten", gkind(g)), ("group", gname(g))]),
                    None => msg("round-not-placed", &[]),
                },
                lines: x
                    .groups
                    .iter()
                    .map(|g| WhyLine {
                        kindergarten: kname(g.kindergarten_id),
                        group: gname(g.group_id),
                        outcome: g.outcome.clone(),
                        text: why_text(g),
                    })
                    .collect(),
            }),
            // The child was not in that round (registered after it, or not waiting then).
            Err(p) if p.status == StatusCode::NOT_FOUND => None,
            Err(p) => return Err(p),
        },
        None => None,
    };
    Ok(ChildCard {
        id: v.id,
        name: v.child_name.clone(),
        number: v.registration_no,
        registered: moment(v.registered_at),
        status: msg(&format!("entry-status-{}", v.status), &[]),
        language: language_name(&v.language),
        desired_start: day(v.desired_start),
        waiting,
        positions,
        claims,
        referral,
        events,
        events_note,
        round,
        log_ref: v.log_ref.clone(),
        region_id: v.region_id,
    })
}

fn why_text(g: &api_q::GroupWhy) -> String {
    let args = [
        ("position", g.position.to_string()),
        ("applicants", g.applicants.to_string()),
        ("free", g.free_places.to_string()),
        ("cutoff", g.cutoff.map_or_else(|| "—".to_owned(), |c| c.to_string())),
    ];
    match g.outcome.as_str() {
        "admitted" => msg("why-admitted", &args),
        "placed_higher" => msg("why-placed-higher", &args),
        _ if g.free_places == 0 => msg("why-no-places", &args),
        _ => msg("why-not-admitted", &args),
    }
}

async fn children_response(state: &AppState, me: &Authenticated, headers: &HeaderMap, notice: Option<String>, errors: Vec<FieldError>, status: StatusCode) -> Response {
    let seen = seen_from(headers);
    match children_cards(state, me, &seen).await {
        Ok((children, now_seen)) => {
            let (user_name, csrf) = chrome(Some(me));
            let page = ChildrenPage { t: Tr::current(), back: "/children".into(), user_name, csrf, form: FormState::new(Fields::empty(), errors), notice, children };
            let mut r = render(page, status);
            r.headers_mut().append(header::SET_COOKIE, seen_cookie(&now_seen, state.secure_cookies));
            r
        }
        Err(p) => problem_page(Some(me), p),
    }
}

/// `GET /children`: the family's registrations.
pub async fn my_children(State(state): State<AppState>, Visitor(visitor): Visitor, headers: HeaderMap, Query(q): Query<ChildrenQuery>) -> Response {
    let me = match signed_in(visitor) {
        Ok(me) => me,
        Err(r) => return r,
    };
    let notice = match (q.registered.as_deref().and_then(|n| n.parse::<i64>().ok()), q.done.as_deref()) {
        (Some(n), _) => Some(msg("notice-registered", &[("number", n.to_string())])),
        (None, Some(d @ ("accepted" | "declined" | "changed"))) => Some(msg(&format!("notice-{d}"), &[])),
        _ => None,
    };
    children_response(&state, &me, &headers, notice, Vec::new(), StatusCode::OK).await
}

/// `POST /referrals/{id}/accept`: the parent takes the place up.
pub async fn accept_referral(State(state): State<AppState>, Visitor(visitor): Visitor, headers: HeaderMap, Path(id): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let (me, _) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match api_q::accept(State(state.clone()), ApiUser(me.clone()), Path(id)).await {
        Ok(_) => see_other("/children?done=accepted"),
        Err(p) if p.status == StatusCode::NOT_FOUND => problem_page(Some(&me), p),
        Err(p) => children_response(&state, &me, &headers, None, vec![field_error(&p, &format!("accept-{id}"))], p.status).await,
    }
}

/// `POST /referrals/{id}/decline`: the parent gives the place back.
pub async fn decline_referral(State(state): State<AppState>, Visitor(visitor): Visitor, headers: HeaderMap, Path(id): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let (me, fields) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let reason = ReasonRequest { reason: fields.trimmed("reason") };
    match api_q::decline(State(state.clone()), ApiUser(me.clone()), Path(id), ApiJson(reason)).await {
        Ok(_) => see_other("/children?done=declined"),
        Err(p) if p.status == StatusCode::NOT_FOUND => problem_page(Some(&me), p),
        Err(p) => children_response(&state, &me, &headers, None, vec![field_error(&p, &format!("decline-{id}"))], p.status).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Registering a child: on the portal by the parent, or at an office for the applicant present.

/// Who files the registration this page sends.
#[derive(Clone, Copy)]
enum Filer {
    /// The signed-in citizen, for their own child (portal).
    Parent,
    /// A front-office operator or a provider's clerk of `region`, for the applicant present.
    Office { region: i64 },
}

impl Filer {
    fn path(self) -> &'static str {
        match self {
            Filer::Parent => "/children/new",
            Filer::Office { .. } => "/office/children/new",
        }
    }
}

fn filer_of(me: &Authenticated, office: bool) -> Result<Filer, Problem> {
    if office {
        let region = me
            .principal
            .memberships
            .iter()
            .find(|m| matches!(m.role, Role::Operator | Role::Clerk))
            .and_then(|m| m.organization)
            .map(|o| o.region.0)
            .ok_or_else(Problem::forbidden)?;
        authorize(&me.principal, Action::FileForApplicant(RegionId(region))).map_err(|_| Problem::forbidden())?;
        Ok(Filer::Office { region })
    } else {
        authorize(&me.principal, Action::ActAsApplicant(me.user_id())).map_err(|_| Problem::forbidden())?;
        if !me.principal.roles().any(|r| r == Role::Citizen) {
            return Err(Problem::forbidden());
        }
        Ok(Filer::Parent)
    }
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    form: FormState,
    notice: Option<String>,
    action: String,
    office: bool,
    /// The first step (region and language) is done: the full form is shown.
    step_two: bool,
    regions: Vec<Choice>,
    languages: Vec<Choice>,
    region_label: String,
    language_label: String,
    change_link: String,
    kindergartens: Vec<(String, String)>,
    slots: Vec<PreferenceSlot>,
    relations: Vec<Choice>,
    categories: Vec<Choice>,
    evidence_kinds: Vec<Choice>,
    /// The region's portal checks the applicant's EDS: the parent signs through NCALayer.
    sign_step: bool,
    /// The server trusts its demo CA only: the labelled demo signer is offered too.
    demo_signer: bool,
}

#[derive(Deserialize, Default)]
pub struct RegisterQuery {
    region: Option<String>,
    language: Option<String>,
    step: Option<String>,
    registered: Option<String>,
}

/// The region and language a registration form is for, once both are chosen.
fn chosen_region(filer: Filer, values: &Fields) -> Option<i64> {
    match filer {
        Filer::Office { region } => Some(region),
        Filer::Parent => values.trimmed("region").parse().ok(),
    }
}

fn chosen_language(values: &Fields) -> Option<String> {
    let l = values.trimmed("language");
    matches!(l.as_str(), "kk" | "ru").then_some(l)
}

async fn register_page(state: &AppState, me: &Authenticated, filer: Filer, mut values: Fields, errors: Vec<FieldError>, notice: Option<String>) -> Result<RegisterPage, Problem> {
    if let Filer::Office { region } = filer {
        values.set("region", region.to_string());
    }
    let regions = state.db.regions().await?;
    let region = chosen_region(filer, &values).and_then(|id| regions.iter().find(|r| r.id == id));
    let language = chosen_language(&values);
    let (user_name, csrf) = chrome(Some(me));
    let mut page = RegisterPage {
        t: Tr::current(),
        back: filer.path().to_owned(),
        user_name,
        csrf,
        form: FormState::new(values, errors),
        notice,
        action: filer.path().to_owned(),
        office: matches!(filer, Filer::Office { .. }),
        step_two: false,
        regions: regions.iter().map(|r| Choice::new(r.id.to_string(), region_name(r))).collect(),
        languages: language_choices(),
        region_label: String::new(),
        language_label: String::new(),
        change_link: String::new(),
        kindergartens: Vec::new(),
        slots: Vec::new(),
        relations: ["mother", "father", "guardian", "representative"].into_iter().map(|r| Choice::new(r, msg(&format!("relation-{r}"), &[]))).collect(),
        categories: Vec::new(),
        evidence_kinds: ["document", "registry"].into_iter().map(|k| Choice::new(k, msg(&format!("evidence-{k}"), &[]))).collect(),
        sign_step: false,
        demo_signer: false,
    };
    let (Some(region), Some(language)) = (region, language) else { return Ok(page) };
    let settings = crate::queue::load_settings(&state.db, region.id).await?;
    page.step_two = true;
    page.region_label = region_name(region);
    page.language_label = language_name(&language);
    page.change_link = match filer {
        Filer::Parent => format!("/children/new?region={}&language={language}", region.id),
        Filer::Office { .. } => format!("/office/children/new?language={language}"),
    };
    page.kindergartens = kindergartens_teaching(state, region.id, &language).await?;
    page.slots = preference_slots(settings.max_preferences);
    let mut categories = vec![Choice::new("", msg("register-category-none", &[]))];
    for c in state.db.priority_categories(region.id).await? {
        let mut choice = Choice::new(c.code.clone(), category_name(&c));
        choice.hint = c.clause.clone();
        categories.push(choice);
    }
    page.categories = categories;
    if let Filer::Parent = filer {
        page.sign_step = crate::queue_applications::portal_signs(state, region.id, state.clock.now()).await?;
        page.demo_signer = page.sign_step && state.demo_pki.is_some();
    }
    Ok(page)
}

async fn register_get(state: AppState, visitor: Option<Authenticated>, q: RegisterQuery, office: bool) -> Response {
    let me = match signed_in(visitor) {
        Ok(me) => me,
        Err(r) => return r,
    };
    let filer = match filer_of(&me, office) {
        Ok(f) => f,
        Err(p) => return problem_page(Some(&me), p),
    };
    let mut values = Fields::empty();
    values.set("region", q.region.clone().unwrap_or_default());
    values.set("language", q.language.clone().unwrap_or_default());
    values.set("consent", "");
    let mut errors = Vec::new();
    // The first step was sent without a choice: say which one is missing.
    if q.step.is_some() {
        if chosen_region(filer, &values).is_none() {
            errors.push(own_error("region", "form-error-region"));
        }
        if chosen_language(&values).is_none() {
            errors.push(own_error("language", "form-error-language"));
        }
    }
    let notice = q.registered.as_deref().and_then(|n| n.parse::<i64>().ok()).map(|n| msg("notice-registered", &[("number", n.to_string())]));
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    page_or_problem(Some(&me), register_page(&state, &me, filer, values, errors, notice).await, status)
}

/// `GET /children/new`: the parent's registration form (region and language first).
pub async fn register_form(State(state): State<AppState>, Visitor(visitor): Visitor, Query(q): Query<RegisterQuery>) -> Response {
    register_get(state, visitor, q, false).await
}

/// `GET /office/children/new`: the same form at a front office, for the applicant present.
pub async fn office_register_form(State(state): State<AppState>, Visitor(visitor): Visitor, Query(q): Query<RegisterQuery>) -> Response {
    register_get(state, visitor, q, true).await
}

fn relation_of(s: &str) -> Option<Relation> {
    match s {
        "mother" => Some(Relation::Mother),
        "father" => Some(Relation::Father),
        "guardian" => Some(Relation::Guardian),
        "representative" => Some(Relation::Representative),
        _ => None,
    }
}

/// The fields a registration cannot go without, checked together so that the summary lists them
/// all at once; everything else is the API's (and the queue service's) to decide.
fn missing_fields(fields: &Fields, office: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut required = vec!["child_iin", "child_birth_date", "child_name"];
    if office {
        required.insert(0, "applicant_iin");
    }
    for name in required {
        if fields.trimmed(name).is_empty() {
            errors.push(own_error(name, &format!("form-error-{name}")));
        }
    }
    if relation_of(fields.get("relation")).is_none() {
        errors.push(own_error("relation", "form-error-relation"));
    }
    if fields.trimmed("desired_start").is_empty() {
        errors.push(own_error("desired_start", "form-error-desired_start"));
    }
    if fields.get("consent") != "yes" {
        errors.push(own_error("consent", "form-error-consent"));
    }
    errors
}

/// The registration request a filled-in form makes, or what is missing from it. A parent's
/// signature (`signature`, put there by `/static/eds.js`) goes with it; an office's form has none.
fn registration_request(fields: &Fields, region: i64, language: String, office: bool, max: usize) -> Result<RegistrationRequest, Vec<FieldError>> {
    let mut errors = missing_fields(fields, office);
    let preferences = match chosen_preferences(fields, max) {
        Ok(p) => p,
        Err(e) => {
            errors.insert(errors.iter().position(|e| e.field == "desired_start").unwrap_or(errors.len()), e);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let category = fields.trimmed("category");
    Ok(RegistrationRequest {
        region_id: region,
        child_iin: fields.trimmed("child_iin"),
        child_birth_date: fields.trimmed("child_birth_date"),
        child_name: fields.trimmed("child_name"),
        relation: relation_of(fields.get("relation")).expect("checked by missing_fields"),
        // A representative presents the parent's power of attorney; given by anyone else, the
        // API refuses it, so it is passed on whenever it was filled in.
        power_of_attorney: (fields.get("relation") == "representative"
            || !fields.trimmed("power_of_attorney").is_empty()
            || !fields.trimmed("poa_principal_iin").is_empty())
        .then(|| PowerOfAttorneyRequest { number: fields.trimmed("power_of_attorney"), principal_iin: fields.trimmed("poa_principal_iin") }),
        language,
        preferences,
        desired_start: fields.trimmed("desired_start"),
        sibling_kindergarten_id: None,
        priority: (!category.is_empty()).then(|| PriorityClaimRequest {
            category,
            evidence_kind: fields.trimmed("evidence_kind"),
            evidence_ref: fields.trimmed("evidence_ref"),
        }),
        applicant_iin: office.then(|| fields.trimmed("applicant_iin")),
        applicant_name: office.then(|| fields.trimmed("applicant_name")).filter(|n| !n.is_empty()),
        consent: true,
        signature: (!office).then(|| fields.trimmed("signature")).filter(|s| !s.is_empty()),
    })
}

/// The form's region, language and preference count, or the page to go back to.
async fn form_choices(state: &AppState, me: &Authenticated, filer: Filer, fields: &Fields) -> Result<(i64, String, usize), Response> {
    let (Some(region), Some(language)) = (chosen_region(filer, fields), chosen_language(fields)) else {
        return Err(see_other(filer.path()));
    };
    match crate::queue::load_settings(&state.db, region).await {
        Ok(s) => Ok((region, language, s.max_preferences)),
        Err(p) => Err(problem_page(Some(me), p)),
    }
}

async fn register_post(state: AppState, visitor: Option<Authenticated>, form: Vec<(String, String)>, office: bool) -> Response {
    let (me, fields) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let filer = match filer_of(&me, office) {
        Ok(f) => f,
        Err(p) => return problem_page(Some(&me), p),
    };
    let (region, language, max) = match form_choices(&state, &me, filer, &fields).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (errors, status) = match registration_request(&fields, region, language, office, max) {
        Ok(request) => match api_q::register(State(state.clone()), ApiUser(me.clone()), ApiJson(request)).await {
            Ok((_, Json(n))) => {
                let next = match filer {
                    Filer::Parent => format!("/children?registered={}", n.registration_no),
                    Filer::Office { .. } => format!("/office/children/new?language={}&registered={}", fields.trimmed("language"), n.registration_no),
                };
                return see_other(&next);
            }
            Err(p) => (vec![field_error(&p, "registration")], p.status),
        },
        Err(errors) => (errors, StatusCode::UNPROCESSABLE_ENTITY),
    };
    // The signature was over what was sent; a corrected form is signed again.
    let mut fields = fields;
    fields.set("signature", "");
    page_or_problem(Some(&me), register_page(&state, &me, filer, fields, errors, None).await, status)
}

/// `POST /children/new/signing-content`: the bytes the parent signs for the form as filled in,
/// as JSON (the API's `SigningContent`), from the API's own handler; for `/static/eds.js`.
/// A form that is not complete answers 422, and the script then sends it unsigned so that the
/// page lists what is missing.
pub async fn signing_content(State(state): State<AppState>, Visitor(visitor): Visitor, Form(form): Form<Vec<(String, String)>>) -> Response {
    use axum::response::IntoResponse;
    let (me, fields) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(p) = filer_of(&me, false) {
        return p.into_response();
    }
    let (region, language, max) = match form_choices(&state, &me, Filer::Parent, &fields).await {
        Ok(c) => c,
        Err(_) => return Problem::invalid_field("region", "choose the region and language first").into_response(),
    };
    let request = match registration_request(&fields, region, language, false, max) {
        Ok(r) => r,
        Err(_) => return Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-registration-incomplete").into_response(),
    };
    match api_q::signing_content(State(state), ApiUser(me), ApiJson(request)).await {
        Ok(content) => content.into_response(),
        Err(p) => p.into_response(),
    }
}

#[derive(Deserialize)]
pub struct DemoSignForm {
    csrf: String,
    content: String,
}

/// `POST /demo/eds/sign`: the demo's stand-in for NCALayer. Only on a server that trusts its own
/// demo CA (never with configured roots: then there is no such route's answer but 404): signs
/// the bytes of a registration or an application (base64) with the signed-in citizen's demo
/// signing key, which the server created for the demo citizens in `<data-dir>/eds-demo/`.
pub async fn demo_sign(State(state): State<AppState>, Visitor(visitor): Visitor, Form(form): Form<DemoSignForm>) -> Response {
    use axum::response::IntoResponse;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let Some(demo) = state.demo_pki.clone() else {
        return Problem::not_found().into_response();
    };
    let me = match signed_in(visitor) {
        Ok(me) => me,
        Err(r) => return r,
    };
    if !crate::auth::same_secret(&form.csrf, &me.csrf_token) {
        return Problem::csrf().into_response();
    }
    let Ok(content) = STANDARD.decode(form.content.trim()) else {
        return Problem::invalid_field("content", "the base64 of the bytes to sign").into_response();
    };
    // What the demo signs is a filing's text, never an arbitrary document.
    if !(content.starts_with(b"kezek-queue-registration:v1\n") || content.starts_with(b"kezek-application:v1\n")) {
        return Problem::invalid_field("content", "the bytes a registration or an application signs").into_response();
    }
    let Ok(iin) = kezek_domain::identity::Iin::parse(&me.user.iin) else {
        return Problem::internal().into_response();
    };
    let now = state.clock.now();
    match tokio::task::spawn_blocking(move || demo.sign(&iin, &content, now)).await {
        Ok(Ok(der)) => Json(serde_json::json!({ "signature": STANDARD.encode(der) })).into_response(),
        // A citizen registered after the demo CA was made has no demo key.
        Ok(Err(_)) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-demo-no-key").into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

/// `POST /children/new`: files the registration through the API's handler.
pub async fn register_submit(State(state): State<AppState>, Visitor(visitor): Visitor, Form(form): Form<Vec<(String, String)>>) -> Response {
    register_post(state, visitor, form, false).await
}

/// `POST /office/children/new`: the same, for the applicant present at the office.
pub async fn office_register_submit(State(state): State<AppState>, Visitor(visitor): Visitor, Form(form): Form<Vec<(String, String)>>) -> Response {
    register_post(state, visitor, form, true).await
}

// ---------------------------------------------------------------------------------------------
// Changing preferences

#[derive(Template)]
#[template(path = "preferences.html")]
struct PreferencesPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    form: FormState,
    entry_id: i64,
    child_name: String,
    number: i64,
    languages: Vec<Choice>,
    kindergartens: Vec<(String, String)>,
    slots: Vec<PreferenceSlot>,
}

/// The registration a parent may change (404 for anyone else's, as the API answers).
async fn own_registration(state: &AppState, me: &Authenticated, id: i64) -> Result<RegistrationView, Problem> {
    let Json(view) = api_q::registration(State(state.clone()), ApiUser(me.clone()), Path(id)).await?;
    let entry = state.db.queue_entry(id).await?.ok_or_else(Problem::not_found)?;
    authorize(&me.principal, Action::ActAsApplicant(UserId(entry.applicant_user_id))).map_err(|_| Problem::not_found())?;
    Ok(view)
}

async fn preferences_page(state: &AppState, me: &Authenticated, view: &RegistrationView, values: Fields, errors: Vec<FieldError>) -> Result<PreferencesPage, Problem> {
    let settings = crate::queue::load_settings(&state.db, view.region_id).await?;
    let language = chosen_language(&values).unwrap_or_else(|| view.language.clone());
    let (user_name, csrf) = chrome(Some(me));
    Ok(PreferencesPage {
        t: Tr::current(),
        back: format!("/children/{}/preferences", view.id),
        user_name,
        csrf,
        form: FormState::new(values, errors),
        entry_id: view.id,
        child_name: view.child_name.clone(),
        number: view.registration_no,
        languages: language_choices(),
        kindergartens: kindergartens_teaching(state, view.region_id, &language).await?,
        slots: preference_slots(settings.max_preferences.max(view.preferences.len())),
    })
}

/// `GET /children/{id}/preferences`.
pub async fn preferences_form(State(state): State<AppState>, Visitor(visitor): Visitor, Path(id): Path<i64>) -> Response {
    let me = match signed_in(visitor) {
        Ok(me) => me,
        Err(r) => return r,
    };
    let page = async {
        let view = own_registration(&state, &me, id).await?;
        let mut values = Fields::empty();
        values.set("language", view.language.clone());
        for (n, k) in view.preferences.iter().enumerate() {
            values.set(&format!("pref{}", n + 1), k.to_string());
        }
        preferences_page(&state, &me, &view, values, Vec::new()).await
    }
    .await;
    page_or_problem(Some(&me), page, StatusCode::OK)
}

/// `POST /children/{id}/preferences`: the change goes through the API's handler.
pub async fn preferences_submit(State(state): State<AppState>, Visitor(visitor): Visitor, Path(id): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let (me, fields) = match signed_form(visitor, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let view = match own_registration(&state, &me, id).await {
        Ok(v) => v,
        Err(p) => return problem_page(Some(&me), p),
    };
    let max = match crate::queue::load_settings(&state.db, view.region_id).await {
        Ok(s) => s.max_preferences.max(view.preferences.len()),
        Err(p) => return problem_page(Some(&me), p),
    };
    let (status, errors) = match chosen_preferences(&fields, max) {
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, vec![e]),
        Ok(preferences) => {
            let request = ChangeRequest { preferences, language: fields.trimmed("language") };
            match api_q::change(State(state.clone()), ApiUser(me.clone()), Path(id), ApiJson(request)).await {
                Ok(_) => return see_other("/children?done=changed"),
                Err(p) => (p.status, vec![field_error(&p, "pref1")]),
            }
        }
    };
    page_or_problem(Some(&me), preferences_page(&state, &me, &view, fields, errors).await, status)
}

// ---------------------------------------------------------------------------------------------
// Public: a region's free places, queue length and rounds; one round's record and check.

#[derive(Template)]
#[template(path = "places.html")]
struct PlacesPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    region_id: i64,
    region_name: String,
    form: FormState,
    bands: Vec<Choice>,
    languages: Vec<Choice>,
    kindergartens: Vec<KindergartenPlaces>,
    free_total: i64,
    total_waiting: usize,
    stats: Vec<StatsLine>,
    rounds: Vec<i64>,
}

struct KindergartenPlaces {
    name: String,
    free: i64,
    groups: Vec<GroupPlaces>,
}

struct GroupPlaces {
    group: String,
    capacity: i64,
    enrolled: i64,
    held: i64,
    free: i64,
}

struct StatsLine {
    band: String,
    general: usize,
    first: usize,
    out_of_turn: usize,
    total: usize,
}

#[derive(Deserialize, Default)]
pub struct PlacesQuery {
    band: Option<String>,
    language: Option<String>,
    free: Option<String>,
}

/// `GET /regions/{id}/places`: free places by kindergarten, band and language, and the queue's
/// length by band and priority class. Public, anonymous.
pub async fn places(State(state): State<AppState>, Visitor(visitor): Visitor, Path(region): Path<i64>, Query(q): Query<PlacesQuery>) -> Response {
    let page = async {
        let regions = state.db.regions().await?;
        let r = regions.iter().find(|r| r.id == region).ok_or_else(Problem::not_found)?;
        let Json(places) = api_q::places(State(state.clone()), Path(region)).await?;
        let Json(stats) = api_q::stats(State(state.clone()), Path(region)).await?;
        let names = kindergarten_names(&state.db, region).await?;
        let band = q.band.clone().unwrap_or_default();
        let language = q.language.clone().unwrap_or_default();
        let only_free = q.free.as_deref() == Some("yes");
        let mut bands: Vec<String> = places.iter().map(|p| p.age_band.clone()).collect();
        bands.sort();
        bands.dedup();
        let mut by_kindergarten: Vec<(i64, KindergartenPlaces)> = Vec::new();
        for p in places.iter().filter(|p| (band.is_empty() || p.age_band == band) && (language.is_empty() || p.language == language)) {
            if only_free && p.free == 0 {
                continue;
            }
            let at = match by_kindergarten.iter().position(|(k, _)| *k == p.kindergarten_id) {
                Some(i) => i,
                None => {
                    let name = names.get(&p.kindergarten_id).cloned().unwrap_or_else(|| p.kindergarten_id.to_string());
                    by_kindergarten.push((p.kindergarten_id, KindergartenPlaces { name, free: 0, groups: Vec::new() }));
                    by_kindergarten.len() - 1
                }
            };
            let k = &mut by_kindergarten[at].1;
            k.free += p.free;
            k.groups.push(GroupPlaces { group: group_label(&p.age_band, &p.language), capacity: p.capacity, enrolled: p.enrolled, held: p.held, free: p.free });
        }
        let mut kindergartens: Vec<KindergartenPlaces> = by_kindergarten.into_iter().map(|(_, k)| k).collect();
        kindergartens.sort_by(|a, b| a.name.cmp(&b.name));
        let mut stat_lines: Vec<StatsLine> = Vec::new();
        for row in &stats.waiting {
            let band = if row.age_band == "none" { msg("stats-no-band", &[]) } else { row.age_band.clone() };
            let line = match stat_lines.iter_mut().find(|l| l.band == band) {
                Some(l) => l,
                None => {
                    stat_lines.push(StatsLine { band, general: 0, first: 0, out_of_turn: 0, total: 0 });
                    stat_lines.last_mut().expect("just pushed")
                }
            };
            match row.class {
                2 => line.out_of_turn += row.children,
                1 => line.first += row.children,
                _ => line.general += row.children,
            }
            line.total += row.children;
        }
        let mut values = Fields::empty();
        values.set("band", band);
        values.set("language", language);
        values.set("free", if only_free { "yes" } else { "" });
        let (user_name, csrf) = chrome(visitor.as_ref());
        let mut band_choices = vec![Choice::new("", msg("places-any", &[]))];
        band_choices.extend(bands.into_iter().map(|b| Choice::new(b.clone(), b)));
        let mut language_choices_all = vec![Choice::new("", msg("places-any", &[]))];
        language_choices_all.extend(language_choices());
        Ok::<_, Problem>(PlacesPage {
            t: Tr::current(),
            back: format!("/regions/{region}/places"),
            user_name,
            csrf,
            region_id: region,
            region_name: region_name(r),
            form: FormState::new(values, Vec::new()),
            bands: band_choices,
            languages: language_choices_all,
            free_total: kindergartens.iter().map(|k| k.free).sum(),
            kindergartens,
            total_waiting: stats.total_waiting,
            stats: stat_lines,
            rounds: state.db.recent_rounds(region, 10).await?,
        })
    }
    .await;
    page_or_problem(visitor.as_ref(), page, StatusCode::OK)
}

#[derive(Template)]
#[template(path = "round.html")]
struct RoundPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    notice: Option<String>,
    id: i64,
    region_id: i64,
    region_name: String,
    finished: String,
    children: i64,
    free_places: i64,
    assigned: i64,
    proposals: i64,
    engine: String,
    ranking: String,
    digest: String,
    check_ok: bool,
    check: String,
    details: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct RoundQuery {
    started: Option<String>,
}

/// `GET /rounds/{id}`: a round's statistics and the independent check of its referrals. Public.
pub async fn round(State(state): State<AppState>, Visitor(visitor): Visitor, Path(id): Path<i64>, Query(q): Query<RoundQuery>) -> Response {
    let page = async {
        let Json(r) = api_q::round(State(state.clone()), Path(id)).await?;
        let regions = state.db.regions().await?;
        let region = regions.iter().find(|x| x.id == r.region_id).ok_or_else(Problem::not_found)?;
        let check_ok = r.check.violations == 0 && r.check.child_optimal;
        let (user_name, csrf) = chrome(visitor.as_ref());
        Ok::<_, Problem>(RoundPage {
            t: Tr::current(),
            back: format!("/rounds/{id}"),
            user_name,
            csrf,
            notice: q.started.is_some().then(|| msg("notice-round-started", &[("assigned", r.assigned.to_string())])),
            id,
            region_id: r.region_id,
            region_name: region_name(region),
            finished: moment(r.finished_at),
            children: r.children,
            free_places: r.free_places,
            assigned: r.assigned,
            proposals: r.proposals,
            engine: r.engine_version,
            ranking: r.ranking,
            digest: r.input_digest,
            check: if check_ok {
                msg("round-check-ok", &[])
            } else {
                msg("round-check-failed", &[("violations", r.check.violations.to_string())])
            },
            check_ok,
            details: r.check.details,
        })
    }
    .await;
    page_or_problem(visitor.as_ref(), page, StatusCode::OK)
}
