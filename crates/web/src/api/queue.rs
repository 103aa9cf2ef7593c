//! The kindergarten queue over HTTP: registration on every channel, changes, priority claims,
//! positions, allocation rounds, referrals, enrolment and the public views.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kezek_domain::access::{Action, RegionId, Role, UserId, authorize};
use kezek_domain::allocation::{self, Allocation, Language, SourceFile};
use kezek_domain::identity::Iin;
use kezek_domain::queue::{Channel, Relation};
use kezek_store::queue::EntryRow;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use super::ApiJson;
use crate::auth::{ApiUser, Authenticated};
use crate::problem::{Problem, ProblemBody};
use crate::registry_checks::Standing;
use crate::queue::{self as service, ClaimDecision, ClaimInput, ExpiryRun, Position, ReferralAnswer, Registration, RoundSummary};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityClaimRequest {
    /// A category code of the region (GET /api/v1/regions/{id}/priority-categories).
    pub category: String,
    /// `document` or `registry`.
    pub evidence_kind: String,
    /// The document's number and date, or the registry answer's reference.
    pub evidence_ref: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    pub region_id: i64,
    pub child_iin: String,
    /// YYYY-MM-DD; must match the birth date in the child's IIN.
    #[schema(value_type = String, example = "2023-05-10")]
    pub child_birth_date: String,
    pub child_name: String,
    /// mother, father, guardian or representative.
    #[schema(value_type = String)]
    pub relation: Relation,
    /// A representative only (and then required): the notarised power of attorney the parent
    /// gave them, checked in the notary registry (ЕНИС).
    #[serde(default)]
    pub power_of_attorney: Option<PowerOfAttorneyRequest>,
    /// kk or ru: the language of instruction.
    pub language: String,
    /// Kindergarten ids, most preferred first.
    pub preferences: Vec<i64>,
    #[schema(value_type = String, example = "2027-09-01")]
    pub desired_start: String,
    #[serde(default)]
    pub sibling_kindergarten_id: Option<i64>,
    #[serde(default)]
    pub priority: Option<PriorityClaimRequest>,
    /// Front office and provider's office only: the applicant's IIN (the applicant is present).
    #[serde(default)]
    pub applicant_iin: Option<String>,
    /// Front office and provider's office only: the applicant's full name, for a first visit.
    #[serde(default)]
    pub applicant_name: Option<String>,
    /// The applicant consents to the use of their and the child's protected personal data held
    /// in state registries (002 §10). Without it nothing is asked and nothing is registered.
    #[serde(default)]
    pub consent: bool,
    /// Portal only, where the region's S1 edition checks the applicant's EDS (every shipped
    /// portal but Almaty region's): the applicant's CMS signature (base64 DER, or PEM) over the
    /// bytes `POST /api/v1/queue/registrations/signing-content` gives for this same body.
    #[serde(default)]
    pub signature: Option<String>,
}

/// What a portal applicant signs for a registration body.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct SigningContent {
    /// The exact bytes to sign (base64): `kezek_web::queue::signing_content`.
    pub content: String,
    /// SHA-256 of those bytes, hex, to show or compare.
    pub content_sha256: String,
    /// Whether the region's S1 edition checks the applicant's signature on the portal; when
    /// false, the registration is sent without one.
    pub signature_required: bool,
}

/// A notarised power of attorney presented by a representative (000 R1 §10 process 2).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerOfAttorneyRequest {
    /// Its number in the notary registry (ЕНИС).
    pub number: String,
    /// The IIN of the principal: the child's parent or legal representative who gave it.
    pub principal_iin: String,
}

/// How the applicant stands to the child: a representative presents a power of attorney, nobody else does.
fn standing(relation: Relation, poa: Option<&PowerOfAttorneyRequest>) -> Result<Standing, Problem> {
    match (relation, poa) {
        (Relation::Representative, Some(p)) => {
            let number = p.number.trim();
            if number.is_empty() || number.chars().count() > 100 {
                return Err(Problem::invalid_field("power_of_attorney", "the power of attorney's number (1-100 characters)"));
            }
            let principal = Iin::parse(&p.principal_iin).map_err(|e| Problem::invalid_iin("power_of_attorney", e))?;
            Ok(Standing::Representative { principal, number: number.to_owned() })
        }
        (Relation::Representative, None) => {
            Err(Problem::invalid_field("power_of_attorney", "a representative presents the notarised power of attorney given by the parent"))
        }
        (_, Some(_)) => Err(Problem::invalid_field("power_of_attorney", "only a representative presents a power of attorney")),
        (_, None) => Ok(Standing::Own),
    }
}

/// The queue notification (004 App. 11, 003 App. 4).
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct QueueNotification {
    pub entry_id: i64,
    pub registration_no: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    pub status: String,
    /// The S1 application this registration is (GET /api/v1/applications/{id}).
    pub application_id: i64,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ClaimView {
    pub id: i64,
    pub category_id: i64,
    pub status: String,
    pub evidence_kind: String,
    #[schema(value_type = Option<String>)]
    pub expires_on: Option<Date>,
    /// When it was confirmed, rejected, revoked or expired.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// Why it was rejected or revoked.
    pub reason: String,
}

/// A priority claim as its reviewers see it (GET /api/v1/regions/{id}/claims).
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ClaimReview {
    pub id: i64,
    /// The registration (GET /api/v1/queue/registrations/{id}).
    pub entry_id: i64,
    pub registration_no: i64,
    pub child_name: String,
    #[schema(value_type = String)]
    pub child_birth_date: Date,
    /// The region's category (GET /api/v1/regions/{id}/priority-categories).
    pub category: String,
    /// 1 first-priority, 2 out-of-turn.
    pub class: i64,
    /// pending, confirmed, rejected, revoked or expired.
    pub status: String,
    /// `document` or `registry`.
    pub evidence_kind: String,
    /// The document's number and date, or the registry answer's reference.
    pub evidence_ref: String,
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
    /// Who confirmed, rejected or revoked it (none while pending, and for an expired claim the
    /// job lapsed).
    pub decided_by: Option<i64>,
    pub decided_by_name: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    #[schema(value_type = Option<String>)]
    pub expires_on: Option<Date>,
    pub reason: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ClaimsQuery {
    /// pending (the default), confirmed, rejected, revoked or expired.
    pub status: Option<String>,
    /// At most this many (default 200, at most 1000).
    pub limit: Option<i64>,
}

/// The states a claim can be in, as `ClaimsQuery::status` takes them.
pub const CLAIM_STATUSES: [&str; 5] = ["pending", "confirmed", "rejected", "revoked", "expired"];

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ReferralView {
    pub id: i64,
    pub round_id: Option<i64>,
    pub group_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// The last day to take the referral up.
    #[schema(value_type = String)]
    pub expires_on: Date,
    pub status: String,
}

/// A registration as its applicant and the region's staff see it.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RegistrationView {
    pub id: i64,
    pub region_id: i64,
    pub registration_no: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    pub child_iin: String,
    pub child_name: String,
    #[schema(value_type = String)]
    pub child_birth_date: Date,
    pub language: String,
    #[schema(value_type = String)]
    pub desired_start: Date,
    pub channel: String,
    pub status: String,
    pub preferences: Vec<i64>,
    pub claims: Vec<ClaimView>,
    pub referrals: Vec<ReferralView>,
    /// The child's reference in the public queue log and the salt that proves it is theirs.
    pub log_ref: String,
    pub log_salt: String,
    /// The S1 application that registered the child (GET /api/v1/applications/{id}); none for a
    /// child brought in by `kezek import queue`.
    pub application_id: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    pub preferences: Vec<i64>,
    pub language: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimDecisionRequest {
    pub decision: ClaimDecision,
    /// The day the right ends (confirm only), YYYY-MM-DD.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub expires_on: Option<String>,
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub contract_no: String,
    #[schema(value_type = String)]
    pub contract_date: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CategoryView {
    pub code: String,
    /// 1 first-priority, 2 out-of-turn.
    pub class: i64,
    pub name_kk: String,
    pub name_ru: String,
    pub name_en: String,
    pub evidence: String,
    /// The clause of the regulation that grants it.
    pub clause: String,
    /// The right ends on a day its evidence fixes: confirming a claim names that last day
    /// (`expires_on`), after which the claim lapses.
    pub expires: bool,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct PlacesView {
    pub group_id: i64,
    pub kindergarten_id: i64,
    pub age_band: String,
    pub language: String,
    pub capacity: i64,
    pub enrolled: i64,
    /// Held by referrals not yet used or lapsed.
    pub held: i64,
    pub free: i64,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct QueueStats {
    /// Waiting children by age band (on this school year's 1 September) and priority class.
    pub waiting: Vec<StatsRow>,
    pub total_waiting: usize,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, PartialEq, Eq)]
pub struct StatsRow {
    pub age_band: String,
    pub class: i64,
    pub children: usize,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RoundView {
    pub id: i64,
    pub region_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    pub engine_version: String,
    pub ranking: String,
    pub input_digest: String,
    pub children: i64,
    pub free_places: i64,
    pub assigned: i64,
    pub proposals: i64,
    /// The independent check of the round's referrals against its recorded input.
    pub check: RoundCheck,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RoundCheck {
    pub violations: usize,
    pub child_optimal: bool,
    pub details: Vec<String>,
}

/// Why a child was or was not placed in a round, group by group.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct Explanation {
    pub round_id: i64,
    pub assigned_group: Option<i64>,
    pub age_band: Option<String>,
    pub groups: Vec<GroupWhy>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct GroupWhy {
    pub group_id: i64,
    pub kindergarten_id: i64,
    pub free_places: u32,
    /// admitted, not_admitted, or placed_higher (the child got a group it preferred).
    pub outcome: String,
    pub applicants: u32,
    pub position: u32,
    /// The position of the last admitted child.
    pub cutoff: Option<u32>,
    /// Admitted children ranked ahead, by priority class [none, first, out-of-turn].
    pub admitted_ahead: [u32; 3],
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct PositionsView {
    pub entry_id: i64,
    pub status: String,
    pub positions: Vec<Position>,
}

fn parse_date(field: &'static str, s: &str) -> Result<Date, Problem> {
    Date::parse(s.trim(), time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| Problem::invalid_field(field, "a date as YYYY-MM-DD"))
}

fn parse_language(s: &str) -> Result<Language, Problem> {
    Language::parse(s.trim().as_bytes()).ok_or_else(|| Problem::invalid_field("language", "kk or ru"))
}

fn staff_role_in(me: &Authenticated, region: i64, roles: &[Role]) -> Option<Role> {
    me.principal
        .memberships
        .iter()
        .find(|m| roles.contains(&m.role) && m.organization.is_some_and(|o| o.region.0 == region))
        .map(|m| m.role)
}

/// Registers a child in a region's queue. A citizen files for themselves (portal); a front-office
/// operator or a provider's clerk files for the applicant present (`applicant_iin`).
#[utoipa::path(post, path = "/api/v1/queue/registrations", tag = "queue", security(("bearer" = [])), request_body = RegistrationRequest,
    responses((status = 201, body = QueueNotification), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn register(State(state): State<AppState>, ApiUser(me): ApiUser, ApiJson(req): ApiJson<RegistrationRequest>) -> Result<(StatusCode, Json<QueueNotification>), Problem> {
    let registration = registration_of(&state, &me, req).await?;
    let r = service::register(&state, registration).await?;
    Ok((StatusCode::CREATED, Json(QueueNotification {
        entry_id: r.entry_id,
        registration_no: r.registration_no,
        registered_at: r.registered_at,
        status: "waiting".into(),
        application_id: r.application_id,
    })))
}

/// The bytes a citizen signs to register a child on the portal: the body is the registration
/// itself (without `signature`), parsed exactly as `POST /api/v1/queue/registrations` parses it.
/// Nothing is written and no registry is asked.
#[utoipa::path(post, path = "/api/v1/queue/registrations/signing-content", tag = "queue", security(("bearer" = [])), request_body = RegistrationRequest,
    responses((status = 200, body = SigningContent), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn signing_content(State(state): State<AppState>, ApiUser(me): ApiUser, ApiJson(req): ApiJson<RegistrationRequest>) -> Result<Json<SigningContent>, Problem> {
    use base64::Engine;
    use sha2::Digest;
    if req.applicant_iin.is_some() {
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-registration-not-signed-here").field("applicant_iin"));
    }
    let registration = registration_of(&state, &me, req).await?;
    let content = service::signing_content(&registration);
    Ok(Json(SigningContent {
        content: base64::engine::general_purpose::STANDARD.encode(&content),
        content_sha256: hex::encode(sha2::Sha256::digest(&content)),
        signature_required: crate::queue_applications::portal_signs(&state, registration.region_id, state.clock.now()).await?,
    }))
}

/// Parses a registration request at the boundary: who files it on which channel, for whom.
async fn registration_of(state: &AppState, me: &Authenticated, req: RegistrationRequest) -> Result<Registration, Problem> {
    let child_iin = Iin::parse(&req.child_iin).map_err(|e| Problem::invalid_iin("child_iin", e))?;
    let child_birth_date = parse_date("child_birth_date", &req.child_birth_date)?;
    let desired_start = parse_date("desired_start", &req.desired_start)?;
    let language = parse_language(&req.language)?;
    let standing = standing(req.relation, req.power_of_attorney.as_ref())?;
    if req.child_name.trim().is_empty() || req.child_name.chars().count() > 200 {
        return Err(Problem::invalid_field("child_name", "1-200 characters"));
    }
    state.db.regions().await?.into_iter().find(|r| r.id == req.region_id).ok_or_else(Problem::not_found)?;
    if !req.consent {
        return Err(Problem::invalid_field("consent", "the consent to use protected personal data from state registries (002 §10)"));
    }
    let (applicant, channel, accepted_by) = match &req.applicant_iin {
        None => {
            authorize(&me.principal, Action::ActAsApplicant(me.user_id())).map_err(|_| Problem::forbidden())?;
            if !me.principal.roles().any(|r| r == Role::Citizen) {
                return Err(Problem::invalid_field("applicant_iin", "staff file for the applicant present: give applicant_iin"));
            }
            (me.user_id(), Channel::Portal, None)
        }
        Some(iin) => {
            authorize(&me.principal, Action::FileForApplicant(RegionId(req.region_id))).map_err(|_| Problem::forbidden())?;
            let iin = Iin::parse(iin).map_err(|e| Problem::invalid_iin("applicant_iin", e))?;
            let channel = match staff_role_in(me, req.region_id, &[Role::Operator, Role::Clerk]) {
                Some(Role::Operator) => Channel::StateCorporation,
                _ => Channel::ProviderOffice,
            };
            (super::accounts::applicant_for(state, me.user_id(), &iin, req.applicant_name.as_deref()).await?, channel, Some(me.user_id()))
        }
    };
    let applicant_iin = match &req.applicant_iin {
        Some(iin) => Iin::parse(iin).map_err(|e| Problem::invalid_iin("applicant_iin", e))?,
        None => Iin::parse(&me.user.iin).map_err(|_| Problem::internal())?,
    };
    let priority = req.priority.map(|p| ClaimInput { category_code: p.category, evidence_kind: p.evidence_kind, evidence_ref: p.evidence_ref });
    if let Some(p) = &priority {
        check_evidence(p)?;
    }
    let registration = Registration {
        region_id: req.region_id,
        child_iin,
        child_birth_date,
        child_name: req.child_name,
        relation: req.relation,
        language,
        preferences: req.preferences,
        desired_start,
        sibling_kindergarten_id: req.sibling_kindergarten_id,
        priority,
        applicant,
        applicant_iin,
        standing,
        channel,
        accepted_by,
        signature: req.signature,
    };
    Ok(registration)
}

fn check_evidence(p: &ClaimInput) -> Result<(), Problem> {
    if !matches!(p.evidence_kind.as_str(), "document" | "registry") {
        return Err(Problem::invalid_field("evidence_kind", "document or registry"));
    }
    if p.evidence_ref.trim().is_empty() || p.evidence_ref.len() > 500 {
        return Err(Problem::invalid_field("evidence_ref", "the document's number and date (1-500 characters)"));
    }
    Ok(())
}

/// Loads an entry the caller may read (404 otherwise: another family's child does not exist for them).
async fn readable_entry(state: &AppState, me: &Authenticated, id: i64) -> Result<EntryRow, Problem> {
    let entry = state.db.queue_entry(id).await?.ok_or_else(Problem::not_found)?;
    authorize(&me.principal, Action::ReadRegistration { region: RegionId(entry.region_id), applicant: UserId(entry.applicant_user_id) })
        .map_err(|_| Problem::not_found())?;
    Ok(entry)
}

async fn view(state: &AppState, entry: EntryRow) -> Result<RegistrationView, Problem> {
    let preferences = state.db.preferences(entry.id).await?;
    let claims = state.db.claims(entry.id).await?.into_iter().map(|c| ClaimView {
        id: c.id, category_id: c.category_id, status: c.status, evidence_kind: c.evidence_kind, expires_on: c.expires_on,
        decided_at: c.decided_at, reason: c.reason,
    }).collect();
    let referrals = state.db.referrals_of_entry(entry.id).await?.into_iter().map(|r| ReferralView {
        id: r.id, round_id: r.round_id, group_id: r.group_id, issued_at: r.issued_at, expires_on: r.expires_on, status: r.status,
    }).collect();
    let application_id = state.db.queue_application_of_entry(entry.id).await?.map(|a| a.application_id);
    Ok(RegistrationView {
        application_id,
        log_ref: kezek_domain::queue::child_ref(&entry.log_salt, &entry.child_iin),
        id: entry.id,
        region_id: entry.region_id,
        registration_no: entry.registration_no,
        registered_at: entry.registered_at,
        child_iin: entry.child_iin,
        child_name: entry.child_name,
        child_birth_date: entry.child_birth_date,
        language: entry.language,
        desired_start: entry.desired_start,
        channel: entry.channel,
        status: entry.status,
        preferences,
        claims,
        referrals,
        log_salt: entry.log_salt,
    })
}

/// One registration with its preferences, claims and referrals.
#[utoipa::path(get, path = "/api/v1/queue/registrations/{id}", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = RegistrationView), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn registration(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>) -> Result<Json<RegistrationView>, Problem> {
    let entry = readable_entry(&state, &me, id).await?;
    Ok(Json(view(&state, entry).await?))
}

/// The caller's own registrations.
#[utoipa::path(get, path = "/api/v1/me/registrations", tag = "queue", security(("bearer" = [])),
    responses((status = 200, body = Vec<RegistrationView>), (status = 401, body = ProblemBody)))]
pub async fn my_registrations(State(state): State<AppState>, ApiUser(me): ApiUser) -> Result<Json<Vec<RegistrationView>>, Problem> {
    let mut out = Vec::new();
    for e in state.db.entries_of_applicant(me.user.id).await? {
        out.push(view(&state, e).await?);
    }
    Ok(Json(out))
}

/// Changes the preferred kindergartens and language; the place in the queue (time, number) stays.
#[utoipa::path(put, path = "/api/v1/queue/registrations/{id}/preferences", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ChangeRequest, responses((status = 204), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn change(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>, ApiJson(req): ApiJson<ChangeRequest>) -> Result<StatusCode, Problem> {
    let entry = readable_entry(&state, &me, id).await?;
    authorize(&me.principal, Action::ActAsApplicant(UserId(entry.applicant_user_id))).map_err(|_| Problem::forbidden())?;
    let language = parse_language(&req.language)?;
    service::change(&state.db, state.clock.now(), &entry, me.user_id(), req.preferences, language).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Claims a priority category with its evidence; it counts once a specialist confirms it.
#[utoipa::path(post, path = "/api/v1/queue/registrations/{id}/claims", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = PriorityClaimRequest, responses((status = 201, body = i64), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn claim(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>, ApiJson(req): ApiJson<PriorityClaimRequest>) -> Result<(StatusCode, Json<i64>), Problem> {
    let entry = readable_entry(&state, &me, id).await?;
    let own = authorize(&me.principal, Action::ActAsApplicant(UserId(entry.applicant_user_id))).is_ok();
    if !own {
        authorize(&me.principal, Action::FileForApplicant(RegionId(entry.region_id))).map_err(|_| Problem::forbidden())?;
    }
    let input = ClaimInput { category_code: req.category, evidence_kind: req.evidence_kind, evidence_ref: req.evidence_ref };
    check_evidence(&input)?;
    let claim = service::submit_claim(&state.db, state.clock.now(), &entry, me.user_id(), &input).await?;
    Ok((StatusCode::CREATED, Json(claim)))
}

/// Confirms, rejects or revokes a priority claim: the provider's specialist, head or the
/// region's administrator. A rejection or revocation states its reason; a confirmation may give
/// the last day of the right (the claim then lapses after it).
#[utoipa::path(post, path = "/api/v1/queue/claims/{id}/decision", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ClaimDecisionRequest, responses((status = 204), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn decide_claim(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>, ApiJson(req): ApiJson<ClaimDecisionRequest>) -> Result<StatusCode, Problem> {
    let claim = state.db.claim(id).await?.ok_or_else(Problem::not_found)?;
    let entry = state.db.queue_entry(claim.entry_id).await?.ok_or_else(Problem::not_found)?;
    authorize(&me.principal, Action::ReviewClaims(RegionId(entry.region_id))).map_err(|_| Problem::forbidden())?;
    let expires_on = req.expires_on.as_deref().filter(|d| !d.trim().is_empty()).map(|d| parse_date("expires_on", d)).transpose()?;
    let reason = req.reason.trim();
    if req.decision != ClaimDecision::Confirm && reason.is_empty() {
        return Err(Problem::invalid_field("reason", "a rejection or revocation states its reason"));
    }
    if reason.chars().count() > 500 {
        return Err(Problem::invalid_field("reason", "at most 500 characters"));
    }
    if req.decision != ClaimDecision::Confirm && expires_on.is_some() {
        return Err(Problem::invalid_field("expires_on", "only a confirmation sets the last day of the right"));
    }
    service::decide_claim(&state.db, state.clock.now(), id, me.user_id(), req.decision, expires_on, reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The region's priority claims in one state, for those who decide them: the provider's
/// specialists and head and the region's administrator (others: 403).
#[utoipa::path(get, path = "/api/v1/regions/{id}/claims", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path), ClaimsQuery),
    responses((status = 200, body = Vec<ClaimReview>), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody)))]
pub async fn region_claims(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(region): Path<i64>,
    query: Result<axum::extract::Query<ClaimsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ClaimReview>>, Problem> {
    let axum::extract::Query(q) = query?;
    authorize(&me.principal, Action::ReviewClaims(RegionId(region))).map_err(|_| Problem::forbidden())?;
    let status = q.status.as_deref().unwrap_or("pending");
    if !CLAIM_STATUSES.contains(&status) {
        return Err(Problem::invalid_field("status", "pending, confirmed, rejected, revoked or expired"));
    }
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::invalid_field("limit", "a number from 1 to 1000"));
    }
    let categories = state.db.priority_categories(region).await?;
    let rows = state.db.claims_of_region(region, status, limit).await?;
    Ok(Json(rows.into_iter().map(|r| {
        let c = r.claim;
        let category = categories.iter().find(|k| k.id == c.category_id);
        ClaimReview {
            id: c.id,
            entry_id: c.entry_id,
            registration_no: r.registration_no,
            child_name: r.child_name,
            child_birth_date: r.child_birth_date,
            category: category.map_or_else(String::new, |k| k.code.clone()),
            class: category.map_or(0, |k| k.class),
            status: c.status,
            evidence_kind: c.evidence_kind,
            evidence_ref: c.evidence_ref,
            submitted_at: c.submitted_at,
            decided_by: c.decided_by,
            decided_by_name: r.decided_by_name,
            decided_at: c.decided_at,
            expires_on: c.expires_on,
            reason: c.reason,
        }
    }).collect()))
}

/// Where the child stands now at each preferred kindergarten.
#[utoipa::path(get, path = "/api/v1/queue/registrations/{id}/positions", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = PositionsView), (status = 404, body = ProblemBody)))]
pub async fn positions(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>) -> Result<Json<PositionsView>, Problem> {
    // From the position index alone, authorization included: the hot path asks the database
    // nothing beyond the caller's session.
    let entry = crate::position_index::locate(&state.positions, &state.db, state.clock.now(), id).await?.ok_or_else(Problem::not_found)?;
    authorize(&me.principal, Action::ReadRegistration { region: RegionId(entry.region_id()), applicant: UserId(entry.applicant_user_id()) })
        .map_err(|_| Problem::not_found())?;
    Ok(Json(PositionsView { entry_id: id, status: entry.status().to_owned(), positions: entry.positions()? }))
}

/// Starts an allocation round for a region: its administrator only; 409 while one runs.
#[utoipa::path(post, path = "/api/v1/regions/{id}/rounds", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 201, body = RoundSummary), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub async fn start_round(State(state): State<AppState>, ApiUser(me): ApiUser, Path(region): Path<i64>) -> Result<(StatusCode, Json<RoundSummary>), Problem> {
    authorize(&me.principal, Action::ManageQueue(RegionId(region))).map_err(|_| Problem::forbidden())?;
    let summary = service::run_round(&state.db, &state.calendar, state.clock.now(), region, Some(me.user_id())).await?;
    Ok((StatusCode::CREATED, Json(summary)))
}

/// Lapses overdue referrals and expired claims now (the server also does this every few minutes).
#[utoipa::path(post, path = "/api/v1/regions/{id}/expiry", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = ExpiryRun), (status = 403, body = ProblemBody)))]
pub async fn run_expiry(State(state): State<AppState>, ApiUser(me): ApiUser, Path(region): Path<i64>) -> Result<Json<ExpiryRun>, Problem> {
    authorize(&me.principal, Action::ManageQueue(RegionId(region))).map_err(|_| Problem::forbidden())?;
    Ok(Json(service::expire(&state.db, state.clock.now()).await?))
}

async fn owned_referral(state: &AppState, me: &Authenticated, id: i64) -> Result<i64, Problem> {
    let referral = state.db.referral(id).await?.ok_or_else(Problem::not_found)?;
    let entry = state.db.queue_entry(referral.entry_id).await?.ok_or_else(Problem::not_found)?;
    authorize(&me.principal, Action::ActAsApplicant(UserId(entry.applicant_user_id))).map_err(|_| Problem::not_found())?;
    Ok(id)
}

async fn kindergarten_referral(state: &AppState, me: &Authenticated, id: i64) -> Result<i64, Problem> {
    let referral = state.db.referral(id).await?.ok_or_else(Problem::not_found)?;
    let group = state.db.group(referral.group_id).await?.ok_or_else(Problem::not_found)?;
    let org = state.db.organization(group.organization_id).await?.ok_or_else(Problem::not_found)?;
    authorize(&me.principal, Action::Enrol(org.scope()?)).map_err(|_| Problem::forbidden())?;
    Ok(id)
}

/// The parent accepts a referral.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/accept", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub async fn accept(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>) -> Result<StatusCode, Problem> {
    let id = owned_referral(&state, &me, id).await?;
    service::answer_referral(&state.db, state.clock.now(), id, me.user_id(), ReferralAnswer::Accept, "").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The parent declines a referral; the place goes back, the child waits or leaves by the region's policy.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/decline", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ReasonRequest, responses((status = 204), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub async fn decline(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>, ApiJson(req): ApiJson<ReasonRequest>) -> Result<StatusCode, Problem> {
    let id = owned_referral(&state, &me, id).await?;
    service::answer_referral(&state.db, state.clock.now(), id, me.user_id(), ReferralAnswer::Decline, &req.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The kindergarten head enrols the child under a contract (service S2).
#[utoipa::path(post, path = "/api/v1/referrals/{id}/enrol", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = EnrolRequest, responses((status = 204), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub async fn enrol(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>, ApiJson(req): ApiJson<EnrolRequest>) -> Result<StatusCode, Problem> {
    let id = kindergarten_referral(&state, &me, id).await?;
    let contract_date = parse_date("contract_date", &req.contract_date)?;
    if req.contract_no.trim().is_empty() || req.contract_no.len() > 100 {
        return Err(Problem::invalid_field("contract_no", "the contract's number (1-100 characters)"));
    }
    service::enrol(&state.db, state.clock.now(), id, me.user_id(), req.contract_no.trim(), contract_date).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The kindergarten head refuses a referral with a reason; the child goes back to waiting.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/refuse", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ReasonRequest, responses((status = 204), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn refuse(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>, ApiJson(req): ApiJson<ReasonRequest>) -> Result<StatusCode, Problem> {
    let id = kindergarten_referral(&state, &me, id).await?;
    if req.reason.trim().is_empty() {
        return Err(Problem::invalid_field("reason", "a refusal states its reason"));
    }
    service::answer_referral(&state.db, state.clock.now(), id, me.user_id(), ReferralAnswer::Refuse, req.reason.trim()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The region's priority categories. Public.
#[utoipa::path(get, path = "/api/v1/regions/{id}/priority-categories", tag = "queue", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<CategoryView>)))]
pub async fn categories(State(state): State<AppState>, Path(region): Path<i64>) -> Result<Json<Vec<CategoryView>>, Problem> {
    Ok(Json(state.db.priority_categories(region).await?.into_iter().map(|c| CategoryView {
        code: c.code, class: c.class, name_kk: c.name_kk, name_ru: c.name_ru, name_en: c.name_en, evidence: c.evidence, clause: c.clause,
        expires: c.expires,
    }).collect()))
}

/// Free places by kindergarten, age band and language. Public.
#[utoipa::path(get, path = "/api/v1/regions/{id}/places", tag = "queue", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PlacesView>)))]
pub async fn places(State(state): State<AppState>, Path(region): Path<i64>) -> Result<Json<Vec<PlacesView>>, Problem> {
    Ok(Json(state.db.groups_with_holds(region).await?.into_iter().map(|g| PlacesView {
        free: g.free(), group_id: g.id, kindergarten_id: g.organization_id, age_band: g.age_band, language: g.language,
        capacity: g.capacity, enrolled: g.enrolled, held: g.held,
    }).collect()))
}

/// Queue length by age band and priority class, without any personal data. Public.
#[utoipa::path(get, path = "/api/v1/regions/{id}/queue-stats", tag = "queue", params(("id" = i64, Path)),
    responses((status = 200, body = QueueStats), (status = 404, body = ProblemBody)))]
pub async fn stats(State(state): State<AppState>, Path(region): Path<i64>) -> Result<Json<QueueStats>, Problem> {
    let settings = service::load_settings(&state.db, region).await?;
    let today = service::local_today(state.clock.now());
    let reference = kezek_domain::queue::school_year_start(today);
    let waiting = state.db.waiting_children(region, today).await?;
    let mut counts: std::collections::BTreeMap<(String, i64), usize> = Default::default();
    for w in &waiting {
        let age = allocation::age_on(w.child_birth_date, reference);
        let band = settings.bands.iter().find(|b| i32::from(b.min_age()) <= age && age < i32::from(b.max_age()))
            .map_or_else(|| "none".to_owned(), |b| b.name().to_owned());
        *counts.entry((band, w.priority)).or_default() += 1;
    }
    Ok(Json(QueueStats {
        total_waiting: waiting.len(),
        waiting: counts.into_iter().map(|((age_band, class), children)| StatsRow { age_band, class, children }).collect(),
    }))
}

/// Parses a round's stored instance and the assignment its referrals made.
fn recorded(round: &kezek_store::queue::RoundRow, referrals: &[kezek_store::queue::ReferralRow]) -> Result<(allocation::Instance, Allocation), Problem> {
    let fail = |e: allocation::ParseError| {
        tracing::error!(error = %e, "a stored round does not parse");
        Problem::internal()
    };
    let meta = allocation::parse_meta(SourceFile { name: "meta.json", bytes: round.instance_meta.as_bytes() }).map_err(fail)?;
    let mut rules = meta.rules.clone();
    rules.ranking = round.ranking.parse().map_err(|_| Problem::internal())?;
    rules.max_preferences = 20;
    let inst = allocation::parse_instance(&meta, rules,
        SourceFile { name: "kindergartens.csv", bytes: round.instance_kindergartens.as_bytes() },
        SourceFile { name: "groups.csv", bytes: round.instance_groups.as_bytes() },
        SourceFile { name: "children.csv", bytes: round.instance_children.as_bytes() }).map_err(fail)?;
    let mut group_of = vec![u32::MAX; inst.child_count()];
    for r in referrals {
        if let (Some(c), Some(g)) = (inst.child_index(allocation::ChildId(r.entry_id as u64)), inst.group_index(allocation::GroupId(r.group_id as u64))) {
            group_of[c as usize] = g;
        }
    }
    let alloc = Allocation::from_assignment(&inst, group_of);
    Ok((inst, alloc))
}

/// A round's record and its independent check (capacities, eligibility, no justified envy,
/// no waste, equality with the child-optimal outcome). Public.
#[utoipa::path(get, path = "/api/v1/rounds/{id}", tag = "queue", params(("id" = i64, Path)),
    responses((status = 200, body = RoundView), (status = 404, body = ProblemBody)))]
pub async fn round(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<RoundView>, Problem> {
    let round = state.db.round(id).await?.ok_or_else(Problem::not_found)?;
    let referrals = state.db.referrals_of_round(id).await?;
    let (inst, alloc) = recorded(&round, &referrals)?;
    let report = allocation::check(&inst, &alloc);
    Ok(Json(RoundView {
        id: round.id, region_id: round.region_id, finished_at: round.finished_at, engine_version: round.engine_version,
        ranking: round.ranking, input_digest: round.input_digest, children: round.children, free_places: round.free_places,
        assigned: round.assigned, proposals: round.proposals,
        check: RoundCheck {
            violations: report.violations.len(),
            child_optimal: report.child_optimal,
            details: report.violations.iter().take(50).map(|v| format!("{v:?}")).collect(),
        },
    }))
}

/// Why the child was or was not placed in a round: the cut-off of each preferred group.
#[utoipa::path(get, path = "/api/v1/queue/registrations/{id}/rounds/{round}", tag = "queue", security(("bearer" = [])),
    params(("id" = i64, Path), ("round" = i64, Path)), responses((status = 200, body = Explanation), (status = 404, body = ProblemBody)))]
pub async fn explain(State(state): State<AppState>, ApiUser(me): ApiUser, Path((id, round_id)): Path<(i64, i64)>) -> Result<Json<Explanation>, Problem> {
    let entry = readable_entry(&state, &me, id).await?;
    let round = state.db.round(round_id).await?.filter(|r| r.region_id == entry.region_id).ok_or_else(Problem::not_found)?;
    let referrals = state.db.referrals_of_round(round_id).await?;
    let (inst, alloc) = recorded(&round, &referrals)?;
    let c = inst.child_index(allocation::ChildId(entry.id as u64)).ok_or_else(Problem::not_found)?;
    let e = allocation::Explainer::new(&inst, &alloc).explain(c);
    Ok(Json(Explanation {
        round_id,
        assigned_group: e.assigned.map(|g| g.0 as i64),
        age_band: e.band,
        groups: e.groups.into_iter().map(|g| GroupWhy {
            group_id: g.group.0 as i64,
            kindergarten_id: g.kindergarten.0 as i64,
            free_places: g.free_places,
            outcome: match g.outcome {
                allocation::GroupOutcome::Admitted => "admitted",
                allocation::GroupOutcome::PlacedHigher => "placed_higher",
                allocation::GroupOutcome::NotAdmitted => "not_admitted",
            }
            .to_owned(),
            applicants: g.applicants,
            position: g.position,
            cutoff: g.cutoff,
            admitted_ahead: g.admitted_ahead,
        }).collect(),
    }))
}

/// One finding of the honesty checks.
#[derive(Serialize, Deserialize, ToSchema, Debug, PartialEq, Eq)]
pub struct Finding {
    /// group_below_norm, enrolled_raised_by_hand, enrolment_without_referral, enrolled_twice,
    /// referral_outside_round, round_check_failed.
    pub kind: String,
    pub object_type: String,
    pub object_id: i64,
    /// The finding's figures by name, for a program to check and a page to put into words in
    /// the reader's language: group_below_norm `band`, `capacity`, `norm`; enrolled_raised_by_hand
    /// `audit_entry`, `from`, `to`; enrolment_without_referral `referral`; enrolled_twice
    /// `enrolments`; round_check_failed `violations`, `child_optimal`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The same in English words.
    pub detail: String,
}

impl Finding {
    fn new(kind: &str, object_type: &str, object_id: i64, params: serde_json::Value, detail: String) -> Finding {
        let params = match params {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        Finding { kind: kind.to_owned(), object_type: object_type.to_owned(), object_id, params, detail }
    }
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct HonestyReport {
    pub region_id: i64,
    pub findings: Vec<Finding>,
}

/// What an auditor looks for: groups declared below the regional norm, enrolled counts raised
/// by hand, enrolments without a referral, children enrolled twice, referrals no round issued,
/// and rounds whose referrals fail the independent check.
#[utoipa::path(get, path = "/api/v1/regions/{id}/honesty", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = HonestyReport), (status = 403, body = ProblemBody)))]
pub async fn honesty(State(state): State<AppState>, ApiUser(me): ApiUser, Path(region): Path<i64>) -> Result<Json<HonestyReport>, Problem> {
    authorize(&me.principal, Action::ReadAudit(RegionId(region))).map_err(|_| Problem::forbidden())?;
    let db = &state.db;
    let mut findings = Vec::new();
    let norms = kezek_domain::queue::GroupNorms::parse(&db.group_norms(region).await?.unwrap_or_default());
    for g in db.group_capacities(region).await? {
        if let Some(norm) = norms.of_band(&g.age_band)
            && g.capacity < i64::from(norm)
        {
            findings.push(Finding::new("group_below_norm", "group", g.group_id,
                serde_json::json!({ "band": g.age_band, "capacity": g.capacity, "norm": norm }),
                format!("capacity {} is below the norm of {norm} for band {}", g.capacity, g.age_band)));
        }
    }
    for (seq, group, details) in db.enrolled_raised_by_hand(region).await? {
        let d: serde_json::Value = serde_json::from_str(&details).unwrap_or_default();
        let (from, to) = (d["enrolled"]["from"].as_i64().unwrap_or(0), d["enrolled"]["to"].as_i64().unwrap_or(0));
        if to > from {
            findings.push(Finding::new("enrolled_raised_by_hand", "group", group.parse().unwrap_or(0),
                serde_json::json!({ "audit_entry": seq, "from": from, "to": to }),
                format!("audit entry {seq}: enrolled {from} → {to} without enrolments")));
        }
    }
    for (id, referral) in db.enrolments_without_referral(region).await? {
        findings.push(Finding::new("enrolment_without_referral", "enrolment", id, serde_json::json!({ "referral": referral }),
            format!("referral {referral} did not enrol this child in this group")));
    }
    for (id, enrolments) in db.children_enrolled_twice(region).await? {
        findings.push(Finding::new("enrolled_twice", "queue_entry", id, serde_json::json!({ "enrolments": enrolments }),
            format!("the child has {enrolments} enrolments")));
    }
    for id in db.referrals_outside_rounds(region).await? {
        findings.push(Finding::new("referral_outside_round", "referral", id, serde_json::json!({}), String::new()));
    }
    for round_id in db.recent_rounds(region, 10).await? {
        let round = db.round(round_id).await?.ok_or_else(Problem::internal)?;
        let referrals = db.referrals_of_round(round_id).await?;
        let (inst, alloc) = recorded(&round, &referrals)?;
        let report = allocation::check(&inst, &alloc);
        if !report.is_clean() || !report.child_optimal {
            findings.push(Finding::new("round_check_failed", "allocation_round", round_id,
                serde_json::json!({ "violations": report.violations.len(), "child_optimal": report.child_optimal }),
                format!("{} violations, child-optimal: {}", report.violations.len(), report.child_optimal)));
        }
    }
    Ok(Json(HonestyReport { region_id: region, findings }))
}

/// A queue event since the parent last looked that may have moved the child's position.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct MovingEvent {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: String,
    /// Whether the event is about this child.
    pub own: bool,
    pub payload: serde_json::Value,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct EventsSince {
    /// Pass this back as `since` next time.
    pub log_seq: i64,
    pub events: Vec<MovingEvent>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SinceQuery {
    /// The `log_seq` of the parent's previous look (0: from the start).
    pub since: Option<i64>,
}

/// Kinds of queue event that move other children's positions.
const MOVING: [&str; 9] = [
    "registered", "claim_confirmed", "claim_revoked", "claim_expired", "round", "referral_declined",
    "referral_expired", "referral_refused", "removed",
];

/// The events since the parent's last look that can have moved the child's position: other
/// families' confirmed out-of-turn or first-priority claims, rounds, lapsed or declined referrals.
#[utoipa::path(get, path = "/api/v1/queue/registrations/{id}/events", tag = "queue", security(("bearer" = [])),
    params(("id" = i64, Path), SinceQuery), responses((status = 200, body = EventsSince), (status = 404, body = ProblemBody)))]
pub async fn events_since(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<i64>,
    query: Result<axum::extract::Query<SinceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventsSince>, Problem> {
    let axum::extract::Query(q) = query?;
    let entry = readable_entry(&state, &me, id).await?;
    let mine = kezek_domain::queue::child_ref(&entry.log_salt, &entry.child_iin);
    let (head, _) = state.db.queue_log_head(entry.region_id).await?;
    let since = q.since.unwrap_or(0).max(0);
    let rows = state.db.queue_log(entry.region_id, since, 500).await?;
    let events = rows
        .into_iter()
        .filter(|r| MOVING.contains(&r.kind.as_str()) || r.child_ref.as_deref() == Some(mine.as_str()))
        .map(|r| MovingEvent {
            seq: r.seq,
            at: r.at,
            own: r.child_ref.as_deref() == Some(mine.as_str()),
            kind: r.kind,
            payload: serde_json::from_str(&r.payload).unwrap_or_default(),
        })
        .collect();
    Ok(Json(EventsSince { log_seq: head, events }))
}

/// Inclusion proofs of the child's queue events against the region's latest signed daily head,
/// for the parent to check that the public log holds their child's history. The registration's
/// applicant, the region's staff and its auditors only (others: 404).
#[utoipa::path(get, path = "/api/v1/queue/registrations/{id}/log-proofs", tag = "queue log", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = super::queue_log::ChildLogProofs), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn log_proofs(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>) -> Result<Json<super::queue_log::ChildLogProofs>, Problem> {
    let entry = readable_entry(&state, &me, id).await?;
    let child = kezek_domain::queue::child_ref(&entry.log_salt, &entry.child_iin);
    Ok(Json(super::queue_log::child_proofs(&state.db, entry.region_id, &child).await?))
}
