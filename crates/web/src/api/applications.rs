//! Service applications over HTTP: the catalog of services with each region's edition, filing,
//! acting on a step, reading an application with its steps, due times and history, the caller's
//! applications and an organization's work list.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use kezek_domain::access::{Role, UserId};
use kezek_domain::application::{Decision, StepStatus};
use kezek_domain::calendar::utc_to_almaty;
use kezek_domain::identity::Iin;
use kezek_domain::regulation::Names;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};
use utoipa::ToSchema;

use super::ApiJson;
use crate::applications::{self as service, Filing, Loaded, Request};
use crate::auth::ApiUser;
use crate::problem::{Problem, ProblemBody};
use crate::state::AppState;

/// A service of the catalog and the editions it has.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ServiceSummary {
    pub id: String,
    pub slug: String,
    pub name_kk: String,
    pub name_ru: String,
    pub name_en: String,
    pub editions: Vec<EditionSummary>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct EditionSummary {
    /// `base` or the variant's id.
    pub variant: String,
    /// almaty_city, almaty_region or astana.
    pub region: String,
    /// The channels' ids, to file through.
    pub channels: Vec<String>,
    #[schema(value_type = Option<String>)]
    pub adopted_on: Option<time::Date>,
    #[schema(value_type = Option<String>)]
    pub repealed_on: Option<time::Date>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ServiceCatalogView {
    pub services: Vec<ServiceSummary>,
    /// Services the seeds only name, without a procedure to file under.
    #[schema(value_type = Vec<Object>)]
    pub named_only: serde_json::Value,
}

/// One service in one region: the edition an application there follows.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ServiceView {
    pub id: String,
    pub slug: String,
    /// The edition's text version an application filed now keeps.
    pub version: String,
    /// The resolved edition: names, provider, legal basis, sources, documents, refusal grounds,
    /// results, limits and each channel's steps with performer, term and clause.
    #[schema(value_type = Object)]
    pub edition: serde_json::Value,
}

#[derive(Deserialize, ToSchema, Debug)]
pub struct ServiceQuery {
    /// almaty_city (or the directory code almaty-city), almaty_region, astana; the base edition's region if absent.
    pub region: Option<String>,
    /// A variant id or `base`; the region's most recent edition if absent.
    pub edition: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    /// S1, S2, … (GET /api/v1/services).
    pub service_id: String,
    pub region_id: i64,
    /// A channel id of the region's edition.
    pub channel: String,
    /// A variant of the region; its most recent edition if absent.
    #[serde(default)]
    pub edition: Option<String>,
    /// The responsible organization; the region's only one of the kind the steps need if absent.
    #[serde(default)]
    pub provider_id: Option<i64>,
    /// Office channels: the applicant present.
    #[serde(default)]
    pub applicant_iin: Option<String>,
    /// Office channels: the applicant's full name, for a first visit.
    #[serde(default)]
    pub applicant_name: Option<String>,
    /// Ids of the edition's required documents handed in.
    #[serde(default)]
    pub documents: Vec<String>,
    /// Portal channels: the applicant's CMS signature (base64, as NCALayer returns it; PEM
    /// also accepted), detached over the filing's canonical bytes or attached with them as its
    /// content. The bytes are the lines `kezek-application:v1`, `service_id:…`, `region_id:…`,
    /// `channel:…`, `edition:…`, `provider_id:…`, `applicant_iin:…` (the caller's IIN),
    /// `documents:…` (comma-separated), each ending in LF, with the values as sent (empty when
    /// absent). Refused with 422 and a `reason` code when it does not verify, and with 409
    /// when the same signature (however re-packed) already filed an application.
    #[serde(default)]
    pub signature: Option<String>,
}

/// The verdict on the applicant's signature, kept with an application filed signed.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct SignatureView {
    /// Always true: an application is filed only with a valid signature.
    pub valid: bool,
    pub signer_iin: String,
    pub signer_bin: Option<String>,
    /// Upper-case hex.
    pub certificate_serial: String,
    pub certificate_issuer: String,
    /// The signer's signing-time attribute, if present.
    #[serde(with = "time::serde::rfc3339::option")]
    pub signing_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
    /// `good`, or `unknown` when the CRL policy accepted a certificate without a current CRL.
    pub revocation: String,
    /// The whole verdict, as `kezek eds verify` prints it.
    #[schema(value_type = Object)]
    pub verdict: serde_json::Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeRefusalRequest {
    pub service_id: String,
    pub region_id: i64,
    /// The State Corporation channel's id.
    pub channel: String,
    #[serde(default)]
    pub edition: Option<String>,
    pub applicant_iin: String,
    #[serde(default)]
    pub applicant_name: Option<String>,
    /// Ids of the documents handed in.
    #[serde(default)]
    pub documents: Vec<String>,
    /// A ground the intake step lists, e.g. `incomplete-package`.
    pub grounds: String,
}

/// The receipt of refusal to accept the documents (002 R1 §10, Standard App. 3).
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RefusalReceiptView {
    pub service: String,
    pub clause: String,
    pub grounds: String,
    pub refused_at: String,
    pub refused_by: i64,
    pub office_id: i64,
    pub applicant_user_id: i64,
    pub documents: Vec<String>,
}

/// An action on the open step. `prepare` takes `result` (a document kind the service issues) or
/// `grounds` (a refusal ground the step lists).
#[derive(Deserialize, ToSchema, Debug)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ActionRequest {
    Register {
        #[serde(default)]
        documents: Option<Vec<String>>,
        #[serde(default)]
        issue_place: Option<String>,
    },
    Assign {
        executor_id: i64,
    },
    StartProcessing,
    Prepare {
        #[serde(default)]
        result: Option<String>,
        #[serde(default)]
        grounds: Option<String>,
    },
    Sign,
    Issue,
    Refuse {
        grounds: String,
    },
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct TermView {
    pub amount: u32,
    /// working_minutes, working_days, calendar_days or months.
    pub unit: String,
}

/// A step of the application's route with its timing. Times are Almaty local time.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct StepView {
    pub index: usize,
    pub clause: String,
    /// A role, or `system`.
    pub performer: String,
    /// provider or front_office.
    pub organization: String,
    pub term: Option<TermView>,
    pub refusal_grounds: Vec<String>,
    /// The milestone that closes the step.
    pub closes: String,
    /// pending, open, due_today, overdue, completed or completed_late.
    pub status: String,
    /// `YYYY-MM-DDTHH:MM:SS.ffffff`.
    pub started: Option<String>,
    /// `YYYY-MM-DD` for day terms, `YYYY-MM-DDTHH:MM` for minute terms.
    pub due: Option<String>,
    pub completed: Option<String>,
}

/// The receipt of registration (002 §8(1)).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct ReceiptView {
    /// The number in the provider's registration journal.
    pub number: String,
    pub accepted_at: String,
    pub service: String,
    pub documents: Vec<String>,
    /// When the result is promised if every remaining step takes its full term.
    pub issue_by: Option<String>,
    pub issue_place: String,
    pub accepted_by: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct EventView {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub at_local: String,
    pub actor_user_id: Option<i64>,
    /// The role acted under, or `system`.
    pub role: String,
    pub organization_id: Option<i64>,
    pub action: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct ApplicationView {
    pub id: i64,
    pub service_id: String,
    pub edition: String,
    pub version: String,
    pub channel: String,
    pub region_id: i64,
    pub provider_id: i64,
    pub front_office_id: Option<i64>,
    pub applicant_user_id: i64,
    /// filed, registered, assigned, processing, prepared, signed, issued or refused.
    pub state: String,
    pub closed: bool,
    /// The document kind issued.
    pub result: Option<String>,
    /// The refusal grounds of a refused application.
    pub grounds: Option<String>,
    pub executor_id: Option<i64>,
    pub receipt: Option<ReceiptView>,
    #[serde(with = "time::serde::rfc3339")]
    pub filed_at: OffsetDateTime,
    pub open_step: Option<usize>,
    /// Indexes of the steps past their due point now.
    pub overdue_steps: Vec<usize>,
    pub steps: Vec<StepView>,
    pub history: Vec<EventView>,
    /// The verdict on the applicant's signature, for an application filed signed (portal).
    pub signature: Option<SignatureView>,
    /// S1 only: the queue registration this application is, and the document it issued.
    pub queue_registration: Option<QueueRegistrationLink>,
}

/// The queue side of an S1 application.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct QueueRegistrationLink {
    /// The queue entry (GET /api/v1/queue/registrations/{id}); none for a refused registration.
    pub registration_id: Option<i64>,
    /// The document as issued: `kind` queue_notification (with `queue_number`, 004 App. 11,
    /// 003 App. 4) or motivated_refusal (with `grounds` and the `reason` in the caller's language).
    /// Later changes of preferences, language or category are queue events of the registration.
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
}

fn queue_link(row: &kezek_store::applications::QueueApplicationRow) -> QueueRegistrationLink {
    let mut document: serde_json::Value = serde_json::from_str(&row.document).unwrap_or(serde_json::Value::Null);
    if let Ok(crate::queue_applications::QueueDocument::MotivatedRefusal { motive, .. }) = serde_json::from_str(&row.document) {
        document["reason"] = serde_json::Value::String(motive.text(crate::i18n::current_lang()));
    }
    QueueRegistrationLink { registration_id: row.entry_id, document }
}

#[derive(Deserialize, ToSchema, Debug)]
pub struct WorkListQuery {
    /// Only applications with a step past its due point.
    #[serde(default)]
    pub overdue: bool,
}

fn local(t: PrimitiveDateTime) -> String {
    t.format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"))
        .expect("a local time formats")
}

fn status_name(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Open => "open",
        StepStatus::DueToday => "due_today",
        StepStatus::Overdue => "overdue",
        StepStatus::Completed => "completed",
        StepStatus::CompletedLate => "completed_late",
    }
}

fn view(l: &Loaded, now: OffsetDateTime) -> ApplicationView {
    let now = utc_to_almaty(now);
    let case = l.application.case();
    let steps = l
        .route
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let timing = case.timings().get(i);
            StepView {
                index: i,
                clause: s.clause.clone(),
                performer: s.performer.clone(),
                organization: s.organization.clone(),
                term: s.term.map(|t| TermView { amount: t.amount, unit: t.unit.as_str().to_owned() }),
                refusal_grounds: s.refusal_grounds.clone(),
                closes: s.closes.clone(),
                status: timing.map_or("pending", |t| status_name(t.status_at(now))).to_owned(),
                started: timing.map(|t| local(t.started)),
                due: timing.and_then(|t| t.due).map(|d| d.to_string()),
                completed: timing.and_then(|t| t.completed).map(local),
            }
        })
        .collect();
    let history = l
        .events
        .iter()
        .map(|e| EventView {
            seq: e.seq,
            at: e.at,
            at_local: local(utc_to_almaty(e.at)),
            actor_user_id: e.actor_user_id,
            role: e.role.clone(),
            organization_id: e.organization_id,
            action: e.action.clone(),
            payload: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    ApplicationView {
        id: l.row.id,
        service_id: l.row.service_id.clone(),
        edition: l.row.edition.clone(),
        version: l.row.version.clone(),
        channel: l.row.channel.clone(),
        region_id: l.row.region_id,
        provider_id: l.row.provider_id,
        front_office_id: l.row.front_office_id,
        applicant_user_id: l.row.applicant_user_id,
        state: l.application.state_name().to_owned(),
        closed: l.application.is_closed(),
        result: l.row.result.clone(),
        grounds: l.row.grounds.clone(),
        executor_id: case.executor().map(|u| u.0),
        receipt: l.receipt.as_ref().map(|r| ReceiptView {
            number: r.number.to_string(),
            accepted_at: local(r.accepted_at),
            service: r.service.clone(),
            documents: r.documents.clone(),
            issue_by: r.issue_by.map(|d| d.to_string()),
            issue_place: r.issue_place.clone(),
            accepted_by: r.accepted_by.map(|u| u.0),
        }),
        filed_at: l.row.filed_at,
        open_step: l.open_step(),
        overdue_steps: kezek_domain::application::overdue_steps(case, now).into_iter().map(|o| o.step).collect(),
        steps,
        history,
        signature: l.signature.as_ref().map(|s| SignatureView {
            valid: true,
            signer_iin: s.signer_iin.clone(),
            signer_bin: s.signer_bin.clone(),
            certificate_serial: s.certificate_serial.clone(),
            certificate_issuer: s.certificate_issuer.clone(),
            signing_time: s.signing_time,
            verified_at: s.verified_at,
            revocation: s.revocation.clone(),
            verdict: serde_json::from_str(&s.verdict).unwrap_or(serde_json::Value::Null),
        }),
        queue_registration: l.queue.as_ref().map(queue_link),
    }
}

fn names_of(n: &Names) -> (String, String, String) {
    (n.kk.clone(), n.ru.clone(), n.en.clone())
}

/// The service catalog: every service with its editions and their channels.
#[utoipa::path(get, path = "/api/v1/services", tag = "applications", responses((status = 200, body = ServiceCatalogView)))]
pub async fn services(State(state): State<AppState>) -> Json<ServiceCatalogView> {
    let services = state
        .services
        .services
        .iter()
        .map(|s| {
            let (kk, ru, en) = names_of(&s.base.names);
            ServiceSummary {
                id: s.id.clone(),
                slug: s.slug.clone(),
                name_kk: kk,
                name_ru: ru,
                name_en: en,
                editions: s
                    .editions()
                    .map(|e| EditionSummary {
                        variant: e.variant_name().to_owned(),
                        region: e.region.as_str().to_owned(),
                        channels: e.channels.iter().map(|c| c.id.clone()).collect(),
                        adopted_on: e.status.adopted_on,
                        repealed_on: e.status.repealed_on,
                    })
                    .collect(),
            }
        })
        .collect();
    let named_only = serde_json::to_value(&state.services.named_only).unwrap_or(serde_json::Value::Null);
    Json(ServiceCatalogView { services, named_only })
}

/// One service as a region runs it: channels, steps with performers, terms and clause citations.
#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "applications", params(("id" = String, Path), ("region" = Option<String>, Query), ("edition" = Option<String>, Query)),
    responses((status = 200, body = ServiceView), (status = 404, body = ProblemBody)))]
pub async fn service(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<ServiceQuery>) -> Result<Json<ServiceView>, Problem> {
    let def = service::find_service(&state, &id)?;
    let region = match q.region.as_deref() {
        Some(r) => service::region_of_code(r)
            .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "problem-no-edition").arg("service", &def.id).arg("region", r))?,
        None => def.base.region,
    };
    let edition = service::edition_in(def, region, q.edition.as_deref(), StatusCode::NOT_FOUND)?;
    Ok(Json(ServiceView {
        id: def.id.clone(),
        slug: def.slug.clone(),
        version: service::edition_version(def, edition),
        edition: serde_json::to_value(edition).expect("an edition serializes"),
    }))
}

/// Files an application of a service on one of its channels: a citizen on a portal, an operator
/// at a State Corporation office or the provider's clerk for the applicant present.
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", security(("bearer" = [])), request_body = FileRequest,
    responses((status = 201, body = ApplicationView), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody), (status = 503, body = ProblemBody)))]
pub async fn file(State(state): State<AppState>, ApiUser(me): ApiUser, ApiJson(req): ApiJson<FileRequest>) -> Result<(StatusCode, Json<ApplicationView>), Problem> {
    // Before an applicant's account is opened for an office filing.
    service::not_the_queue(&req.service_id)?;
    let applicant = match &req.applicant_iin {
        Some(iin) => {
            let iin = Iin::parse(iin).map_err(|e| Problem::invalid_iin("applicant_iin", e))?;
            // Only staff file for someone else; the channel's rules decide which staff.
            if !me.principal.roles().any(|r| r != Role::Citizen) {
                return Err(Problem::forbidden());
            }
            Some(super::accounts::applicant_for(&state, me.user_id(), &iin, req.applicant_name.as_deref()).await?)
        }
        None => None,
    };
    let loaded = service::file(&state, &me, Filing {
        service_id: req.service_id,
        region_id: req.region_id,
        channel: req.channel,
        edition: req.edition,
        provider_id: req.provider_id,
        applicant,
        documents: req.documents,
        signature: req.signature,
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(&loaded, state.clock.now()))))
}

/// Refuses to accept an incomplete package at a State Corporation office: no application is
/// filed, the applicant gets a refusal receipt.
#[utoipa::path(post, path = "/api/v1/applications/intake-refusals", tag = "applications", security(("bearer" = [])), request_body = IntakeRefusalRequest,
    responses((status = 201, body = RefusalReceiptView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn refuse_intake(State(state): State<AppState>, ApiUser(me): ApiUser, ApiJson(req): ApiJson<IntakeRefusalRequest>) -> Result<(StatusCode, Json<RefusalReceiptView>), Problem> {
    service::not_the_queue(&req.service_id)?;
    let iin = Iin::parse(&req.applicant_iin).map_err(|e| Problem::invalid_iin("applicant_iin", e))?;
    if !me.principal.roles().any(|r| r == Role::Operator) {
        return Err(Problem::forbidden());
    }
    let applicant = super::accounts::applicant_for(&state, me.user_id(), &iin, req.applicant_name.as_deref()).await?;
    let r = service::refuse_intake(&state, &me, Filing {
        service_id: req.service_id,
        region_id: req.region_id,
        channel: req.channel,
        edition: req.edition,
        provider_id: None,
        applicant: Some(applicant),
        documents: req.documents,
        signature: None,
    }, &req.grounds)
    .await?;
    Ok((StatusCode::CREATED, Json(RefusalReceiptView {
        service: r.refusal.service,
        clause: r.refusal.clause,
        grounds: r.refusal.grounds,
        refused_at: local(r.refusal.at),
        refused_by: r.refusal.by.0,
        office_id: r.refusal.office.0,
        applicant_user_id: r.applicant.0,
        documents: r.documents,
    })))
}

/// Acts on the application's open step. 403 when the step is not the caller's (role or
/// organization), 409 when the action is not the next one, 422 for a refusal the step does not allow.
#[utoipa::path(post, path = "/api/v1/applications/{id}/actions", tag = "applications", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = ActionRequest, responses((status = 200, body = ApplicationView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn act(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>, ApiJson(req): ApiJson<ActionRequest>) -> Result<Json<ApplicationView>, Problem> {
    let request = match req {
        ActionRequest::Register { documents, issue_place } => Request::Register { documents, issue_place },
        ActionRequest::Assign { executor_id } => Request::Assign { executor: UserId(executor_id) },
        ActionRequest::StartProcessing => Request::StartProcessing,
        ActionRequest::Prepare { result: Some(result), grounds: None } => Request::Prepare(Decision::Grant { result }),
        ActionRequest::Prepare { result: None, grounds: Some(grounds) } => Request::Prepare(Decision::Refuse { grounds }),
        ActionRequest::Prepare { .. } => {
            return Err(Problem::invalid_field("result", "either result (the document issued) or grounds (of the refusal)"));
        }
        ActionRequest::Sign => Request::Sign,
        ActionRequest::Issue => Request::Issue,
        ActionRequest::Refuse { grounds } => Request::Refuse { grounds },
    };
    let loaded = service::act(&state, &me, id, request).await?;
    Ok(Json(view(&loaded, state.clock.now())))
}

/// One application with its steps, due times, their status and its whole history.
#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "applications", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = ApplicationView), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn application(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>) -> Result<Json<ApplicationView>, Problem> {
    let loaded = service::readable(&state, &me, id).await?;
    Ok(Json(view(&loaded, state.clock.now())))
}

/// The caller's own applications (the personal cabinet), newest first.
#[utoipa::path(get, path = "/api/v1/me/applications", tag = "applications", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApplicationView>), (status = 401, body = ProblemBody)))]
pub async fn my_applications(State(state): State<AppState>, ApiUser(me): ApiUser) -> Result<Json<Vec<ApplicationView>>, Problem> {
    let now = state.clock.now();
    Ok(Json(service::of_applicant(&state, &me).await?.iter().map(|l| view(l, now)).collect()))
}

/// The applications an organization handles (as provider or front office); `overdue=true`
/// keeps those with a step past its due point.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/applications", tag = "applications", security(("bearer" = [])),
    params(("id" = i64, Path), ("overdue" = Option<bool>, Query)),
    responses((status = 200, body = Vec<ApplicationView>), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn work_list(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>, Query(q): Query<WorkListQuery>) -> Result<Json<Vec<ApplicationView>>, Problem> {
    let now = state.clock.now();
    Ok(Json(service::work_list(&state, &me, id, q.overdue).await?.iter().map(|l| view(l, now)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_domain::regulation::Region;

    #[test]
    fn region_codes_of_the_directory_name_catalog_regions() {
        assert_eq!(service::region_of_code("almaty-city"), Some(Region::AlmatyCity));
        assert_eq!(service::region_of_code("almaty_region"), Some(Region::AlmatyRegion));
        assert_eq!(service::region_of_code("astana"), Some(Region::Astana));
        assert_eq!(service::region_of_code("shymkent"), None);
    }
}
