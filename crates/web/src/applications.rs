//! Applications of the regulation-driven services: filing on a channel, acting on a step,
//! reading with due times, an organization's work list. Handlers in `api::applications` parse
//! and authenticate; this module picks the edition and route, asks `authorize`, replays the
//! stored history through the step machine (`kezek_domain::application`) and writes each
//! transition, its history event and its audit entry in one transaction.
//!
//! The state types of the step machine are not stored: an application keeps its route (so a
//! later edit of the catalog never changes the terms it was promised) and its commands with who
//! made them, when and under which role, and every read replays them.

use axum::http::StatusCode;
use kezek_domain::access::{
    Action, Membership, OrganizationId, OrganizationKind, OrganizationScope, Principal, RegionId, Role, UserId, authorize,
};
use kezek_domain::application::{
    self as machine, Actor, Application, Command, Decision, Intake, JournalNumber, Milestone, Offices, Receipt,
    Responsible, Route, RouteStep, TransitionError,
};
use kezek_domain::calendar::{Calendar, Due, OfficeHours, almaty_to_utc, utc_to_almaty};
use kezek_domain::duration::Term;
use kezek_domain::identity::Iin;
use kezek_domain::regulation::{ChannelKind, Edition, Performer, RefusalGround, Region, ServiceDefinition};
use kezek_store::applications::{
    ApplicationEventRow, ApplicationRow, ApplicationState, NewApplication, NewApplicationEvent, QueueApplicationRow,
};
use kezek_store::signatures::{ApplicationSignatureRow, NewApplicationSignature};
use kezek_store::{AuditRecord, OrganizationRow, StoreError, WriteTx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::auth::Authenticated;
use crate::i18n::{Lang, current_lang};
use crate::signatures::{self, StoredVerdict};
use crate::problem::Problem;
use crate::state::AppState;

/// The catalog's region of a directory region code (`almaty-city` → `almaty_city`).
pub fn region_of_code(code: &str) -> Option<Region> {
    Region::parse(&code.trim().replace('-', "_"))
}

pub fn find_service<'a>(state: &'a AppState, id: &str) -> Result<&'a ServiceDefinition, Problem> {
    state
        .services
        .service(id)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "problem-unknown-service").arg("service", id))
}

/// The edition an application in `region` follows: the named variant, or the region's most
/// recent edition (every seed text is repealed, so none applies on today's date).
pub fn edition_in<'a>(
    def: &'a ServiceDefinition,
    region: Region,
    variant: Option<&str>,
    status: StatusCode,
) -> Result<&'a Edition, Problem> {
    let found = match variant {
        Some(v) => def.edition(v).filter(|e| e.region == region),
        None => def.edition_for(region, None),
    };
    found.ok_or_else(|| {
        Problem::new(status, "problem-no-edition").arg("service", &def.id).arg("region", region.as_str())
    })
}

/// The route as an application keeps it: steps, terms, results and the offices' hours.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RouteRecord {
    pub service: String,
    pub version: String,
    pub channel: String,
    pub results: Vec<String>,
    pub steps: Vec<StepRecord>,
    pub provider_hours: HoursRecord,
    pub front_office_hours: Option<HoursRecord>,
    /// Performed by the information system alone (`Route::automated`): S1 as the queue files it.
    #[serde(default)]
    pub automated: bool,
    /// The grounds the channel refuses on before registration (`Route::arrival_grounds`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arrival_grounds: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct StepRecord {
    pub clause: String,
    /// A role name or `system`.
    pub performer: String,
    /// `provider` or `front_office`.
    pub organization: String,
    pub term: Option<Term>,
    pub refusal_grounds: Vec<String>,
    pub closes: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct HoursRecord {
    pub hours: String,
    pub breaks: Vec<String>,
}

impl HoursRecord {
    fn of(org: &OrganizationRow) -> HoursRecord {
        let breaks = org.office_breaks.split(',').map(str::trim).filter(|b| !b.is_empty()).map(str::to_owned).collect();
        HoursRecord { hours: org.office_hours.trim().to_owned(), breaks }
    }

    fn parse(&self) -> Result<OfficeHours, Problem> {
        let breaks: Vec<&str> = self.breaks.iter().map(String::as_str).collect();
        OfficeHours::parse(&self.hours, &breaks).map_err(|_| corrupt("office hours"))
    }
}

fn corrupt(what: &str) -> Problem {
    tracing::error!(what, "stored application does not replay");
    Problem::internal()
}

impl RouteRecord {
    fn new(route: &Route, provider: &OrganizationRow, front_office: Option<&OrganizationRow>) -> RouteRecord {
        RouteRecord {
            service: route.service().to_owned(),
            version: route.version().to_owned(),
            channel: route.channel().to_owned(),
            results: route.results().to_vec(),
            steps: route
                .steps()
                .iter()
                .map(|s| StepRecord {
                    clause: s.clause.clone(),
                    performer: s.performer.as_str().to_owned(),
                    organization: match s.organization {
                        Responsible::Provider => "provider",
                        Responsible::FrontOffice => "front_office",
                    }
                    .to_owned(),
                    term: s.term,
                    refusal_grounds: s.refusal_grounds.clone(),
                    closes: s.closes.as_str().to_owned(),
                })
                .collect(),
            provider_hours: HoursRecord::of(provider),
            front_office_hours: front_office.map(HoursRecord::of),
            automated: route.is_automated(),
            arrival_grounds: route.arrival_grounds().to_vec(),
        }
    }

    /// The step machine's route and offices of an application of `row`.
    fn rebuild(&self, provider: i64, front_office: Option<i64>) -> Result<(Route, Offices), Problem> {
        let mut steps = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            steps.push(RouteStep {
                clause: s.clause.clone(),
                performer: Performer::parse(&s.performer).ok_or_else(|| corrupt("performer"))?,
                organization: match s.organization.as_str() {
                    "provider" => Responsible::Provider,
                    "front_office" => Responsible::FrontOffice,
                    _ => return Err(corrupt("organization")),
                },
                term: s.term,
                refusal_grounds: s.refusal_grounds.clone(),
                closes: Milestone::ALL.into_iter().find(|m| m.as_str() == s.closes).ok_or_else(|| corrupt("milestone"))?,
            });
        }
        let mut route = Route::new(&self.service, &self.version, &self.channel, steps, self.results.clone())
            .map_err(|_| corrupt("route"))?
            .with_arrival_grounds(self.arrival_grounds.clone());
        if self.automated {
            route = route.automated();
        }
        let front_office = match (front_office, &self.front_office_hours) {
            (Some(id), Some(h)) => Some((OrganizationId(id), h.parse()?)),
            _ => None,
        };
        let offices = Offices {
            provider: OrganizationId(provider),
            provider_hours: self.provider_hours.parse()?,
            front_office,
        };
        Ok((route, offices))
    }
}

/// An application read back: its row, route, history and the state its history replays to.
pub struct Loaded {
    pub row: ApplicationRow,
    pub route: RouteRecord,
    pub events: Vec<ApplicationEventRow>,
    pub application: Application,
    /// The registration receipt, once registered.
    pub receipt: Option<Receipt>,
    /// The verdict on the applicant's signature, for an application filed signed.
    pub signature: Option<ApplicationSignatureRow>,
    /// An S1 application's queue entry and the document it issued.
    pub queue: Option<QueueApplicationRow>,
}

impl Loaded {
    /// The open step's index, while the application is not closed.
    pub fn open_step(&self) -> Option<usize> {
        (!self.application.is_closed()).then(|| self.application.case().timings().len() - 1)
    }

    fn next_seq(&self) -> i64 {
        self.events.last().map_or(0, |e| e.seq + 1)
    }

    /// The documents the applicant handed in when filing.
    fn filed_documents(&self) -> Vec<String> {
        self.events
            .first()
            .and_then(|e| serde_json::from_str::<FiledPayload>(&e.payload).ok())
            .map(|p| p.documents)
            .unwrap_or_default()
    }
}

/// What the filing event records.
#[derive(Serialize, Deserialize)]
struct FiledPayload {
    channel: String,
    documents: Vec<String>,
    issue_place: String,
}

fn receipt_of(a: &Application) -> Option<&Receipt> {
    match a {
        Application::Registered(s) => Some(s.receipt()),
        Application::Assigned(s) => Some(s.receipt()),
        Application::Processing(s) => Some(s.receipt()),
        Application::Issued(s) => Some(s.receipt()),
        Application::Refused(s) => s.receipt(),
        _ => None,
    }
}

/// Reads an application and replays its history.
pub async fn load(state: &AppState, id: i64) -> Result<Loaded, Problem> {
    let row = state.db.application(id).await?.ok_or_else(Problem::not_found)?;
    let events = state.db.application_events(id).await?;
    let route: RouteRecord = serde_json::from_str(&row.route).map_err(|_| corrupt("route"))?;
    let (r, offices) = route.rebuild(row.provider_id, row.front_office_id)?;
    let calendar = &*state.calendar;
    let filed = machine::file(r, offices, UserId(row.applicant_user_id), utc_to_almaty(row.filed_at), calendar)
        .map_err(|_| corrupt("filing"))?;
    let mut application = Application::Filed(filed);
    let mut receipt = None;
    for e in events.iter().filter(|e| e.seq > 0) {
        let command: Command = serde_json::from_str(&e.payload).map_err(|_| corrupt("command"))?;
        let principal;
        let actor = if e.role == Performer::System.as_str() {
            Actor::System
        } else {
            // The membership the actor acted under when the event was recorded: replay does not
            // depend on the roles they hold today.
            let role = Role::parse(&e.role).ok_or_else(|| corrupt("role"))?;
            let (Some(user), Some(org)) = (e.actor_user_id, e.organization_id) else {
                return Err(corrupt("actor"));
            };
            let scope = OrganizationScope {
                id: OrganizationId(org),
                region: RegionId(row.region_id),
                kind: role.organization_kind().unwrap_or(OrganizationKind::Provider),
            };
            principal = Principal { user: UserId(user), memberships: vec![Membership { role, organization: Some(scope) }] };
            Actor::Official(&principal)
        };
        application = application.act(command, actor, utc_to_almaty(e.at), calendar).map_err(|_| corrupt("transition"))?;
        if let Some(r) = receipt_of(&application) {
            receipt = Some(r.clone());
        }
    }
    let signature = state.db.application_signature(id).await?;
    let queue = if row.service_id == QUEUE_SERVICE { state.db.queue_application(id).await? } else { None };
    Ok(Loaded { row, route, events, application, receipt, signature, queue })
}

async fn scope_of(state: &AppState, org: i64) -> Result<OrganizationScope, Problem> {
    let row = state.db.organization(org).await?.ok_or_else(Problem::not_found)?;
    Ok(row.scope()?)
}

/// Loads an application the caller may read; another family's application answers 404.
pub async fn readable(state: &AppState, me: &Authenticated, id: i64) -> Result<Loaded, Problem> {
    let row = state.db.application(id).await?.ok_or_else(Problem::not_found)?;
    check_read(state, me, &row).await.map_err(|_| Problem::not_found())?;
    load(state, id).await
}

async fn check_read(state: &AppState, me: &Authenticated, row: &ApplicationRow) -> Result<(), Problem> {
    let provider = scope_of(state, row.provider_id).await?;
    let front_office = match row.front_office_id {
        Some(f) => Some(scope_of(state, f).await?),
        None => None,
    };
    authorize(&me.principal, Action::ReadApplication { provider, front_office, applicant: UserId(row.applicant_user_id) })
        .map_err(|_| Problem::forbidden())
}

/// Refuses to file an S1 application by hand: it is the queue registration itself, filed only by
/// `queue::register` (POST /api/v1/queue/registrations), which checks the queue's rules and the
/// registries and issues the entry with it. Checked before anything else of a filing.
pub fn not_the_queue(service_id: &str) -> Result<(), Problem> {
    if service_id.trim() == QUEUE_SERVICE {
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-s1-through-queue").field("service_id"));
    }
    Ok(())
}

/// A filing, parsed at the boundary.
pub struct Filing {
    pub service_id: String,
    pub region_id: i64,
    pub channel: String,
    pub edition: Option<String>,
    pub provider_id: Option<i64>,
    /// The applicant present at an office; `None` files for the caller (portal).
    pub applicant: Option<UserId>,
    pub documents: Vec<String>,
    /// The applicant's CMS signature over [`filing_content`] (base64, PEM or DER text), for
    /// channels whose definition checks the applicant's EDS.
    pub signature: Option<String>,
}

/// The refusal ground of the portal's check of the applicant's EDS (004 App. 3; 000 R1 §14
/// condition 2; 002 R3 §12 condition 2), as the definitions name it.
pub const EDS_NOT_CONFIRMED: &str = "eds-not-confirmed";

/// The ground a portal channel refuses on when the applicant's signature is not confirmed, if
/// the channel's definition checks it: a filing there must then be signed. Every portal channel
/// of the shipped catalog has such a step; office channels do not (the applicant is present).
/// A queue registration on the portal applies the same rule to its S1 channel
/// (`AutomatedFiling::signature_ground`, `queue::applicant_signature`).
pub fn eds_check<'a>(edition: &'a Edition, channel: &kezek_domain::regulation::Channel) -> Option<&'a RefusalGround> {
    if !matches!(channel.kind, ChannelKind::EgovPortal | ChannelKind::CityPortal) {
        return None;
    }
    if !channel.steps.iter().any(|s| s.may_refuse.iter().any(|g| g == EDS_NOT_CONFIRMED)) {
        return None;
    }
    edition.refusal_grounds.iter().find(|g| g.id == EDS_NOT_CONFIRMED)
}

/// The bytes an applicant signs to file on a portal: the request's own values, one
/// `name:value` line each, in this order, each ending in a line feed, UTF-8:
///
/// ```text
/// kezek-application:v1
/// service_id:S5
/// region_id:1
/// channel:portal
/// edition:            (the variant as sent; empty when absent)
/// provider_id:        (as sent; empty when absent)
/// applicant_iin:190512600109
/// documents:application,birth-certificate   (as sent, in order, comma-separated)
/// ```
///
/// Values are checked against the catalog before the signature is, so none holds a line feed.
pub fn filing_content(f: &Filing, applicant: &Iin) -> Vec<u8> {
    format!(
        "kezek-application:v1\nservice_id:{}\nregion_id:{}\nchannel:{}\nedition:{}\nprovider_id:{}\napplicant_iin:{}\ndocuments:{}\n",
        f.service_id,
        f.region_id,
        f.channel,
        f.edition.as_deref().unwrap_or_default(),
        f.provider_id.map(|p| p.to_string()).unwrap_or_default(),
        applicant.as_string(),
        f.documents.join(",")
    )
    .into_bytes()
}

/// Checks the applicant's signature on a filing through a channel that requires one; a
/// refusal names the definition's ground (`grounds` member) and the verdict's reason code.
async fn check_signature(state: &AppState, me: &Authenticated, f: &Filing, ground: &RefusalGround) -> Result<StoredVerdict, Problem> {
    let iin = Iin::parse(&me.user.iin).map_err(|_| corrupt("account IIN"))?;
    let content = filing_content(f, &iin);
    verify_signed(state, &iin, content, f.signature.as_deref(), ground, "problem-eds-not-confirmed").await
}

/// Checks the applicant's signature over `content` where the channel checks the applicant's
/// EDS on `ground`: none is a 422 naming the `signature` field; an invalid verdict answers
/// `refusal` (a problem key whose detail takes the ground's name and the reason), with the
/// ground as `grounds`, the verdict's code as `reason` and the field. Filing on a portal and
/// queue registration on a portal both check through it.
pub async fn verify_signed(
    state: &AppState,
    applicant: &Iin,
    content: Vec<u8>,
    signature: Option<&str>,
    ground: &RefusalGround,
    refusal: &'static str,
) -> Result<StoredVerdict, Problem> {
    let signature = signature.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-eds-signature-required").field("signature")
    })?;
    signatures::verify_applicant_signature(state, applicant, content, signature).await.map_err(|mut p| {
        if p.reason.is_some() {
            let name = match current_lang() {
                Lang::Kk => &ground.names.kk,
                Lang::Ru => &ground.names.ru,
                Lang::En => &ground.names.en,
            };
            p.key = refusal;
            p.args.push(("ground", name.clone()));
            p.grounds = Some(ground.id.clone());
            p.field = Some("signature");
        }
        p
    })
}

/// Keeps a valid verdict with the application it was given for, in the filing's transaction; a
/// signature that already filed an application files no other (409).
pub async fn store_signature(tx: &mut WriteTx, application: i64, v: &StoredVerdict) -> Result<(), Problem> {
    tx.insert_application_signature(application, &NewApplicationSignature {
        signer_iin: &v.signer_iin.as_string(),
        signer_bin: v.signer_bin.as_deref(),
        certificate_serial: &v.certificate_serial,
        certificate_issuer: &v.certificate_issuer,
        signing_time: v.signing_time,
        verified_at: v.verified_at,
        revocation: v.revocation,
        verdict: &v.verdict_json,
        signature: &v.signature_base64,
        content_sha256: &v.content_sha256,
        signature_fingerprint: &v.fingerprint,
    })
    .await
    .map_err(|e| match e {
        StoreError::Conflict(kezek_store::signatures::SIGNATURE_USED) => signatures::already_used(),
        e => e.into(),
    })?;
    Ok(())
}

/// The organization kind the provider-side performers of `route` work in: one kind, or the
/// route cannot be handled by a single organization.
fn provider_kind(route: &Route) -> Option<OrganizationKind> {
    let mut kinds = route.steps().iter().filter(|s| s.organization == Responsible::Provider).filter_map(|s| match s.performer {
        Performer::Role(r) => r.organization_kind(),
        Performer::System => None,
    });
    let first = kinds.next().unwrap_or(OrganizationKind::Provider);
    kinds.all(|k| k == first).then_some(first)
}

/// Files an application: the channel decides who files (the applicant on a portal, an operator
/// at a State Corporation office, the provider's clerk at its own office). The registration step
/// opens; steps of the information system run at once.
/// The edition, channel and route a filing names.
struct Chosen<'a> {
    def: &'a ServiceDefinition,
    edition: &'a Edition,
    channel: &'a kezek_domain::regulation::Channel,
    version: String,
    route: Route,
}

async fn choose<'a>(state: &'a AppState, f: &Filing) -> Result<Chosen<'a>, Problem> {
    not_the_queue(&f.service_id)?;
    let def = find_service(state, &f.service_id)?;
    let region_row = state.db.regions().await?.into_iter().find(|r| r.id == f.region_id).ok_or_else(Problem::not_found)?;
    let region = region_of_code(&region_row.code).ok_or_else(|| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-no-edition").arg("service", &def.id).arg("region", &region_row.code)
    })?;
    let edition = edition_in(def, region, f.edition.as_deref(), StatusCode::UNPROCESSABLE_ENTITY)?;
    let channel = edition.channel(&f.channel).ok_or_else(|| {
        let channels: Vec<&str> = edition.channels.iter().map(|c| c.id.as_str()).collect();
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-unknown-channel")
            .arg("service", &def.id)
            .arg("region", region.as_str())
            .arg("channel", &f.channel)
            .arg("channels", channels.join(", "))
            .field("channel")
    })?;
    for d in &f.documents {
        if !edition.documents.required.iter().any(|r| &r.id == d) {
            let known: Vec<&str> = edition.documents.required.iter().map(|r| r.id.as_str()).collect();
            return Err(Problem::invalid_field("documents", format!("{d} is not a document of this service ({})", known.join(", "))));
        }
    }
    let version = edition_version(def, edition);
    let route = Route::for_channel(&def.id, &version, edition, &channel.id).map_err(|e| {
        tracing::error!(service = %def.id, channel = %channel.id, error = %e, "a shipped channel gives no route");
        Problem::internal()
    })?;
    Ok(Chosen { def, edition, channel, version, route })
}

pub async fn file(state: &AppState, me: &Authenticated, f: Filing) -> Result<Loaded, Problem> {
    let Chosen { def, edition, channel, version, route } = choose(state, &f).await?;

    // The responsible organization: the one named, or the region's only one of the kind the
    // route's performers work in.
    let kind = provider_kind(&route).ok_or_else(|| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-application-provider").arg("kind", "-").field("provider_id")
    })?;
    let wrong_provider = || Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-application-provider").arg("kind", kind.as_str()).field("provider_id");
    let provider = match f.provider_id {
        Some(id) => state.db.organization(id).await?.filter(|o| o.region_id == f.region_id && o.kind == kind.as_str()).ok_or_else(wrong_provider)?,
        None => {
            let mut of_kind: Vec<OrganizationRow> =
                state.db.organizations_of_region(f.region_id).await?.into_iter().filter(|o| o.kind == kind.as_str()).collect();
            if of_kind.len() != 1 {
                return Err(wrong_provider());
            }
            of_kind.remove(0)
        }
    };

    // Who files on this channel.
    let filer_problem = |who: &str| {
        Problem::new(StatusCode::FORBIDDEN, "problem-application-filer").arg("channel", &channel.id).arg("who", who)
    };
    let (applicant, filed_by, front_office) = match channel.kind {
        ChannelKind::EgovPortal | ChannelKind::CityPortal => {
            if f.applicant.is_some() || !me.principal.roles().any(|r| r == Role::Citizen) {
                return Err(filer_problem(Role::Citizen.as_str()));
            }
            authorize(&me.principal, Action::ActAsApplicant(me.user_id())).map_err(|_| Problem::forbidden())?;
            (me.user_id(), None, None)
        }
        ChannelKind::StateCorporation => {
            let office = me.principal.memberships.iter().find_map(|m| {
                m.organization.filter(|o| {
                    m.role == Role::Operator && o.kind == OrganizationKind::StateCorporation && o.region.0 == f.region_id
                })
            });
            let Some(office) = office else { return Err(filer_problem(Role::Operator.as_str())) };
            authorize(&me.principal, Action::FileAtOffice(office)).map_err(|_| Problem::forbidden())?;
            let applicant = f.applicant.ok_or_else(|| Problem::invalid_field("applicant_iin", "the applicant's IIN"))?;
            let office_row = state.db.organization(office.id.0).await?.ok_or_else(Problem::not_found)?;
            (applicant, Some(me.user_id()), Some(office_row))
        }
        ChannelKind::ProviderOffice => {
            let scope = provider.scope()?;
            if authorize(&me.principal, Action::FileAtOffice(scope)).is_err() {
                let who = if kind == OrganizationKind::Kindergarten { Role::KindergartenHead } else { Role::Clerk };
                return Err(filer_problem(who.as_str()));
            }
            let applicant = f.applicant.ok_or_else(|| Problem::invalid_field("applicant_iin", "the applicant's IIN"))?;
            (applicant, Some(me.user_id()), None)
        }
    };
    let signature = match eds_check(edition, channel) {
        Some(ground) => Some(check_signature(state, me, &f, ground).await?),
        None if f.signature.is_some() => {
            return Err(Problem::invalid_field("signature", format!("channel {} takes no applicant's signature", channel.id)));
        }
        None => None,
    };
    let issue_place = front_office.as_ref().unwrap_or(&provider).address.clone();
    let record = RouteRecord::new(&route, &provider, front_office.as_ref());
    let route_json = serde_json::to_string(&record).expect("a route record serializes");

    let mut tx = state.db.begin_write(Some(me.user_id()), state.clock.now()).await?;
    let at = utc_to_almaty(tx.now());
    let (_, offices) = record.rebuild(provider.id, front_office.as_ref().map(|o| o.id))?;
    let filed = machine::file(route, offices, applicant, at, &state.calendar).map_err(transition_problem)?;
    let id = tx
        .insert_application(&NewApplication {
            service_id: &def.id,
            edition: edition.variant_name(),
            version: &version,
            route: &route_json,
            channel: &channel.id,
            region_id: f.region_id,
            provider_id: provider.id,
            front_office_id: front_office.as_ref().map(|o| o.id),
            applicant_user_id: applicant.0,
            filed_by: filed_by.map(|u| u.0),
        })
        .await?;
    if let Some(v) = &signature {
        store_signature(&mut tx, id, v).await?;
    }
    let docs = FiledDocs(f.documents);
    let payload = serde_json::to_string(&FiledPayload { channel: channel.id.clone(), documents: docs.0.clone(), issue_place: issue_place.clone() })
        .expect("a filing serializes");
    let filer_role = match channel.kind {
        ChannelKind::EgovPortal | ChannelKind::CityPortal => Role::Citizen,
        ChannelKind::StateCorporation => Role::Operator,
        ChannelKind::ProviderOffice if kind == OrganizationKind::Kindergarten => Role::KindergartenHead,
        ChannelKind::ProviderOffice => Role::Clerk,
    };
    let filed_at_org = match channel.kind {
        ChannelKind::StateCorporation => front_office.as_ref().map(|o| o.id),
        ChannelKind::ProviderOffice => Some(provider.id),
        _ => None,
    };
    tx.append_application_event(id, &NewApplicationEvent {
        seq: 0,
        actor_user_id: Some(me.user_id().0),
        role: filer_role.as_str(),
        organization_id: filed_at_org,
        action: "file",
        payload: &payload,
    })
    .await?;
    let mut events = 1;
    let application = run_system_steps(&mut tx, Application::Filed(filed), id, provider.id, &mut events, &issue_place, &state.calendar, &docs).await?;
    record_state(&mut tx, id, &application).await?;
    tx.audit(AuditRecord {
        action: "application.filed",
        object_type: "application",
        object_id: id.to_string(),
        organization_id: Some(provider.id),
        details: json!({
            "service": def.id, "edition": edition.variant_name(), "channel": channel.id, "state": application.state_name(),
            "signature": signature.as_ref().map(|v| json!({ "serial": v.certificate_serial, "revocation": v.revocation })),
        }),
    })
    .await?;
    tx.commit().await?;
    load(state, id).await
}

/// A refusal to accept the documents at a State Corporation office (002 R1 §10): no application
/// comes into being; the applicant gets a refusal receipt, and the audit chain records it.
pub struct IntakeRefused {
    pub refusal: machine::IntakeRefusal,
    pub applicant: UserId,
    pub documents: Vec<String>,
}

/// Refuses a package at the intake of the filing's channel, by that step's role in the caller's
/// office, on one of the grounds the step lists.
pub async fn refuse_intake(state: &AppState, me: &Authenticated, f: Filing, grounds: &str) -> Result<IntakeRefused, Problem> {
    let Chosen { def, channel, route, .. } = choose(state, &f).await?;
    let office = me
        .principal
        .memberships
        .iter()
        .find_map(|m| m.organization.filter(|o| m.role == Role::Operator && o.kind == OrganizationKind::StateCorporation && o.region.0 == f.region_id));
    let Some(office) = office.filter(|_| channel.kind == ChannelKind::StateCorporation) else {
        return Err(Problem::new(StatusCode::FORBIDDEN, "problem-application-filer").arg("channel", &channel.id).arg("who", Role::Operator.as_str()));
    };
    authorize(&me.principal, Action::FileAtOffice(office)).map_err(|_| Problem::forbidden())?;
    let applicant = f.applicant.ok_or_else(|| Problem::invalid_field("applicant_iin", "the applicant's IIN"))?;
    let mut tx = state.db.begin_write(Some(me.user_id()), state.clock.now()).await?;
    let at = utc_to_almaty(tx.now());
    let refusal = machine::refuse_intake(&route, office.id, &me.principal, at, grounds).map_err(transition_problem)?;
    tx.audit(AuditRecord {
        action: "application.intake_refused",
        object_type: "service",
        object_id: def.id.clone(),
        organization_id: Some(office.id.0),
        details: json!({ "channel": channel.id, "clause": refusal.clause, "grounds": refusal.grounds, "documents": f.documents.len() }),
    })
    .await?;
    tx.commit().await?;
    Ok(IntakeRefused { refusal, applicant, documents: f.documents })
}

/// The documents a system registration enters in the receipt.
struct FiledDocs(Vec<String>);

/// The service every queue registration is an application of.
pub const QUEUE_SERVICE: &str = "S1";

/// An application the information system performs alone (S1 as the queue files it), resolved
/// before its transaction: the edition, channel, automated route and offices.
pub struct AutomatedFiling {
    pub service_id: String,
    pub edition: String,
    pub version: String,
    pub channel: String,
    pub route: Route,
    record: RouteRecord,
    pub provider: OrganizationRow,
    pub front_office: Option<OrganizationRow>,
    /// The documents the edition issues, with their names and forms.
    pub results: Vec<kezek_domain::regulation::ResultDocument>,
    /// The ground the channel refuses an unconfirmed applicant's EDS on, where it checks one
    /// ([`eds_check`]): a filing there is signed by the applicant.
    pub signature_ground: Option<RefusalGround>,
}

/// Who filed an automated application: the applicant (portal) or the staff member at an office,
/// under which role and in which organization.
pub struct Filer {
    pub user: UserId,
    pub role: Role,
    pub organization: Option<i64>,
}

/// The automated route of `service_id` in `region_id` through the edition's channel of `kind`:
/// the edition in force on `on`, or the region's most recent one when none is (every seed text is
/// repealed today). The provider is the region's only organization of the kind the steps name.
pub async fn automated_filing(
    state: &AppState,
    service_id: &str,
    region_id: i64,
    kind: ChannelKind,
    on: time::Date,
    front_office: Option<i64>,
) -> Result<AutomatedFiling, Problem> {
    let def = find_service(state, service_id)?;
    let region_row = state.db.regions().await?.into_iter().find(|r| r.id == region_id).ok_or_else(Problem::not_found)?;
    let no_edition = || Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-no-edition").arg("service", &def.id).arg("region", &region_row.code);
    let region = region_of_code(&region_row.code).ok_or_else(no_edition)?;
    let edition = def.edition_for(region, Some(on)).or_else(|| def.edition_for(region, None)).ok_or_else(no_edition)?;
    let channel = edition.channel_of_kind(kind).ok_or_else(|| {
        let channels: Vec<&str> = edition.channels.iter().map(|c| c.id.as_str()).collect();
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-unknown-channel")
            .arg("service", &def.id)
            .arg("region", region.as_str())
            .arg("channel", kind.as_str())
            .arg("channels", channels.join(", "))
    })?;
    let version = edition_version(def, edition);
    let route = Route::for_channel(&def.id, &version, edition, &channel.id)
        .map_err(|e| {
            tracing::error!(service = %def.id, channel = %channel.id, error = %e, "a shipped channel gives no route");
            Problem::internal()
        })?
        .automated();
    let kind = provider_kind(&route).unwrap_or(OrganizationKind::Provider);
    let mut of_kind: Vec<OrganizationRow> =
        state.db.organizations_of_region(region_id).await?.into_iter().filter(|o| o.kind == kind.as_str()).collect();
    if of_kind.len() != 1 {
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-application-provider").arg("kind", kind.as_str()));
    }
    let provider = of_kind.remove(0);
    let front_office = match front_office {
        Some(id) => Some(state.db.organization(id).await?.ok_or_else(Problem::not_found)?),
        None => None,
    };
    let record = RouteRecord::new(&route, &provider, front_office.as_ref());
    Ok(AutomatedFiling {
        service_id: def.id.clone(),
        edition: edition.variant_name().to_owned(),
        version,
        channel: channel.id.clone(),
        route,
        record,
        provider,
        front_office,
        results: edition.results.clone(),
        signature_ground: eds_check(edition, channel).cloned(),
    })
}

/// Files an automated application in the caller's transaction; the information system registers
/// it in the provider's journal at once. Returns its id, its state and the next history seq.
pub async fn file_automated(
    tx: &mut WriteTx,
    calendar: &Calendar,
    f: &AutomatedFiling,
    applicant: UserId,
    filer: &Filer,
    region_id: i64,
    documents: Vec<String>,
) -> Result<(i64, Application, i64), Problem> {
    let docs = FiledDocs(documents);
    let (id, filed) = insert_automated(tx, calendar, f, applicant, filer, region_id, &docs.0).await?;
    let mut seq = 1;
    let application = run_system_steps(tx, filed, id, f.provider.id, &mut seq, &issue_place_of(f), calendar, &docs).await?;
    Ok((id, application, seq))
}

/// Where an automated application's result is issued: its front office, else the provider.
fn issue_place_of(f: &AutomatedFiling) -> String {
    f.front_office.as_ref().unwrap_or(&f.provider).address.clone()
}

/// Writes an automated application and its filing event; it is then filed, not registered.
async fn insert_automated(
    tx: &mut WriteTx,
    calendar: &Calendar,
    f: &AutomatedFiling,
    applicant: UserId,
    filer: &Filer,
    region_id: i64,
    documents: &[String],
) -> Result<(i64, Application), Problem> {
    let at = utc_to_almaty(tx.now());
    let (route, offices) = f.record.rebuild(f.provider.id, f.front_office.as_ref().map(|o| o.id))?;
    let filed = machine::file(route, offices, applicant, at, calendar).map_err(transition_problem)?;
    let route_json = serde_json::to_string(&f.record).expect("a route record serializes");
    let id = tx
        .insert_application(&NewApplication {
            service_id: &f.service_id,
            edition: &f.edition,
            version: &f.version,
            route: &route_json,
            channel: &f.channel,
            region_id,
            provider_id: f.provider.id,
            front_office_id: f.front_office.as_ref().map(|o| o.id),
            applicant_user_id: applicant.0,
            filed_by: (filer.user != applicant).then_some(filer.user.0),
        })
        .await?;
    let payload = serde_json::to_string(&FiledPayload { channel: f.channel.clone(), documents: documents.to_vec(), issue_place: issue_place_of(f) })
        .expect("a filing serializes");
    tx.append_application_event(id, &NewApplicationEvent {
        seq: 0,
        actor_user_id: Some(filer.user.0),
        role: filer.role.as_str(),
        organization_id: filer.organization,
        action: "file",
        payload: &payload,
    })
    .await?;
    Ok((id, Application::Filed(filed)))
}

/// Files an automated application and refuses it at once on one of its channel's arrival
/// grounds (the applicant's EDS not confirmed), before registration: no journal number. In the
/// caller's transaction; returns the application's id.
#[allow(clippy::too_many_arguments)]
pub async fn refuse_automated_on_arrival(
    tx: &mut WriteTx,
    calendar: &Calendar,
    f: &AutomatedFiling,
    applicant: UserId,
    filer: &Filer,
    region_id: i64,
    documents: Vec<String>,
    grounds: &str,
) -> Result<i64, Problem> {
    let (id, filed) = insert_automated(tx, calendar, f, applicant, filer, region_id, &documents).await?;
    let command = Command::Refuse { grounds: grounds.to_owned() };
    let payload = serde_json::to_string(&command).expect("a command serializes");
    let at = utc_to_almaty(tx.now());
    let refused = filed.act(command, Actor::System, at, calendar).map_err(|r| transition_problem(r.error))?;
    tx.append_application_event(id, &NewApplicationEvent {
        seq: 1,
        actor_user_id: None,
        role: Performer::System.as_str(),
        organization_id: Some(f.provider.id),
        action: "refuse",
        payload: &payload,
    })
    .await
    .map_err(conflict_as_out_of_order)?;
    record_state(tx, id, &refused).await?;
    Ok(id)
}

/// The information system's decision on an automated application registered by
/// [`file_automated`], then its signature and issue, in the same transaction; records the state.
pub async fn decide_automated(
    tx: &mut WriteTx,
    calendar: &Calendar,
    id: i64,
    provider: i64,
    application: Application,
    mut seq: i64,
    decision: Decision,
) -> Result<Application, Problem> {
    let at = utc_to_almaty(tx.now());
    let command = Command::Decide(decision);
    let payload = serde_json::to_string(&command).expect("a command serializes");
    let application = application.act(command, Actor::System, at, calendar).map_err(|r| transition_problem(r.error))?;
    tx.append_application_event(id, &NewApplicationEvent {
        seq,
        actor_user_id: None,
        role: Performer::System.as_str(),
        organization_id: Some(provider),
        action: "decide",
        payload: &payload,
    })
    .await
    .map_err(conflict_as_out_of_order)?;
    seq += 1;
    let application = run_system_steps(tx, application, id, provider, &mut seq, "", calendar, &FiledDocs(Vec::new())).await?;
    record_state(tx, id, &application).await?;
    Ok(application)
}

/// Names the edition's text: a change of the definition gives a new version.
pub fn edition_version(def: &ServiceDefinition, edition: &Edition) -> String {
    let text = serde_json::to_vec(edition).expect("an edition serializes");
    let digest = hex::encode(Sha256::digest(&text));
    format!("{}/{}@{}", def.id, edition.variant_name(), &digest[..12])
}

/// An action on an application as the API asks for it.
#[derive(Debug, Clone)]
pub enum Request {
    Register { documents: Option<Vec<String>>, issue_place: Option<String> },
    Assign { executor: UserId },
    StartProcessing,
    Prepare(Decision),
    Sign,
    Issue,
    Refuse { grounds: String },
}

/// Makes one transition, by the caller, on the open step; the information system's steps that
/// follow run at once.
pub async fn act(state: &AppState, me: &Authenticated, id: i64, request: Request) -> Result<Loaded, Problem> {
    let row = state.db.application(id).await?.ok_or_else(Problem::not_found)?;
    let staff = me.principal.roles().any(|r| r != Role::Citizen);
    if !staff && check_read(state, me, &row).await.is_err() {
        return Err(Problem::not_found());
    }
    let loaded = load(state, id).await?;
    let Some(open) = loaded.open_step() else {
        return Err(out_of_order(request_name(&request), loaded.application.state_name()));
    };
    let step = &loaded.application.case().route().steps()[open];
    let org = match step.organization {
        Responsible::Provider => row.provider_id,
        Responsible::FrontOffice => row.front_office_id.ok_or_else(|| corrupt("front office"))?,
    };
    authorize(&me.principal, Action::ActOnApplication(scope_of(state, org).await?)).map_err(|_| Problem::forbidden())?;
    let role = step.performer;

    if let Request::Assign { executor } = &request {
        check_executor(state, &loaded, *executor).await?;
    }
    let issue_place = loaded.events.first().and_then(|e| serde_json::from_str::<FiledPayload>(&e.payload).ok()).map(|p| p.issue_place).unwrap_or_default();
    let filed_docs = loaded.filed_documents();

    let mut tx = state.db.begin_write(Some(me.user_id()), state.clock.now()).await?;
    let at = utc_to_almaty(tx.now());
    let command = match request {
        Request::Register { documents, issue_place: place } => {
            // Registration is only ever the next action of a filed application; anything else is
            // refused by the step machine before a journal number is spent.
            let number = if matches!(loaded.application, Application::Filed(_)) {
                journal_number(&mut tx, row.provider_id, at).await?
            } else {
                JournalNumber(0)
            };
            Command::Register(Intake {
                number,
                documents: documents.unwrap_or_else(|| filed_docs.clone()),
                issue_place: place.unwrap_or_else(|| issue_place.clone()),
            })
        }
        Request::Assign { executor } => Command::Assign { executor },
        Request::StartProcessing => Command::StartProcessing,
        Request::Prepare(d) => Command::Prepare(d),
        Request::Sign => Command::Sign,
        Request::Issue => Command::Issue,
        Request::Refuse { grounds } => Command::Refuse { grounds },
    };
    let payload = serde_json::to_string(&command).expect("a command serializes");
    let action = command.name();
    let mut seq = loaded.next_seq();
    let next = loaded.application.act(command, &me.principal, at, &state.calendar).map_err(|r| transition_problem(r.error))?;
    tx.append_application_event(id, &NewApplicationEvent {
        seq,
        actor_user_id: Some(me.user_id().0),
        role: role.as_str(),
        organization_id: Some(org),
        action,
        payload: &payload,
    })
    .await
    .map_err(conflict_as_out_of_order)?;
    seq += 1;
    let next = run_system_steps(&mut tx, next, id, row.provider_id, &mut seq, &issue_place, &state.calendar, &FiledDocs(filed_docs)).await?;
    record_state(&mut tx, id, &next).await?;
    tx.audit(AuditRecord {
        action: "application.acted",
        object_type: "application",
        object_id: id.to_string(),
        organization_id: Some(org),
        details: json!({ "action": action, "role": role.as_str(), "step": open, "state": next.state_name() }),
    })
    .await?;
    tx.commit().await?;
    load(state, id).await
}

fn request_name(r: &Request) -> &'static str {
    match r {
        Request::Register { .. } => "register",
        Request::Assign { .. } => "assign",
        Request::StartProcessing => "start_processing",
        Request::Prepare(_) => "prepare",
        Request::Sign => "sign",
        Request::Issue => "issue",
        Request::Refuse { .. } => "refuse",
    }
}

fn out_of_order(action: &str, state: &str) -> Problem {
    Problem::new(StatusCode::CONFLICT, "problem-application-out-of-order").arg("action", action).arg("state", state)
}

fn conflict_as_out_of_order(e: StoreError) -> Problem {
    match e {
        StoreError::Conflict(_) => Problem::new(StatusCode::CONFLICT, "problem-application-changed"),
        e => e.into(),
    }
}

/// The next number of the provider's journal, in the Almaty local year of registration.
async fn journal_number(tx: &mut WriteTx, provider: i64, at: PrimitiveDateTime) -> Result<JournalNumber, Problem> {
    let n = tx.next_journal_number(provider, i64::from(at.year())).await?;
    let n = u32::try_from(n).map_err(|_| corrupt("journal number"))?;
    Ok(JournalNumber(n))
}

/// The executor named by the head's resolution must hold the executor's role in the provider.
async fn check_executor(state: &AppState, loaded: &Loaded, executor: UserId) -> Result<(), Problem> {
    let route = loaded.application.case().route();
    let Some(step) = route.steps().iter().find(|s| s.closes >= Milestone::Preparation) else {
        return Ok(());
    };
    let Performer::Role(role) = step.performer else { return Ok(()) };
    let holds = state
        .db
        .memberships(executor)
        .await?
        .iter()
        .any(|m| m.role == role && m.organization.is_some_and(|o| o.id.0 == loaded.row.provider_id));
    if holds {
        Ok(())
    } else {
        Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-application-executor").arg("role", role.as_str()).field("executor_id"))
    }
}

/// Runs the steps the regulation gives to the information system (a portal request registered
/// on arrival, a result sent to the personal cabinet) as soon as they open.
#[allow(clippy::too_many_arguments)]
async fn run_system_steps(
    tx: &mut WriteTx,
    mut application: Application,
    id: i64,
    provider: i64,
    seq: &mut i64,
    issue_place: &str,
    calendar: &Calendar,
    docs: &FiledDocs,
) -> Result<Application, Problem> {
    loop {
        if application.is_closed() {
            return Ok(application);
        }
        let case = application.case();
        let open = case.timings().len() - 1;
        if case.route().steps()[open].performer != Performer::System && !case.route().is_automated() {
            return Ok(application);
        }
        let at = utc_to_almaty(tx.now());
        let command = match &application {
            Application::Filed(_) => Command::Register(Intake {
                number: journal_number(tx, provider, at).await?,
                documents: docs.0.clone(),
                issue_place: issue_place.to_owned(),
            }),
            Application::Prepared(_) => Command::Sign,
            Application::Signed(_) => Command::Issue,
            // No shipped route gives the system a resolution or the executor's work; on an
            // automated route the decision comes from the caller (`decide_automated`).
            _ => return Ok(application),
        };
        let payload = serde_json::to_string(&command).expect("a command serializes");
        let action = command.name();
        application = application.act(command, Actor::System, at, calendar).map_err(|r| transition_problem(r.error))?;
        tx.append_application_event(id, &NewApplicationEvent {
            seq: *seq,
            actor_user_id: None,
            role: Performer::System.as_str(),
            organization_id: Some(provider),
            action,
            payload: &payload,
        })
        .await
        .map_err(conflict_as_out_of_order)?;
        *seq += 1;
    }
}

/// The instant after which a step due at `due` is overdue: a day-due step has its whole day.
pub fn overdue_after(due: Due) -> OffsetDateTime {
    match due {
        Due::Day(day) => almaty_to_utc(day.next_day().unwrap_or(day).midnight()),
        Due::Moment(m) => almaty_to_utc(m),
    }
}

async fn record_state(tx: &mut WriteTx, id: i64, a: &Application) -> Result<(), Problem> {
    let case = a.case();
    let open = (!a.is_closed()).then(|| case.timings().len() - 1);
    let due = open.and_then(|i| case.timings()[i].due);
    let due_text = due.map(|d| d.to_string());
    let journal = receipt_of(a).map(|r| (i64::from(r.accepted_at.year()), i64::from(r.number.0)));
    let (result, grounds) = match a {
        Application::Issued(s) => (Some(s.result()), None),
        Application::Refused(s) => (None, Some(s.grounds())),
        _ => (None, None),
    };
    tx.set_application_state(id, &ApplicationState {
        state: a.state_name(),
        journal,
        current_step: open.map(|i| i as i64),
        current_due: due_text.as_deref(),
        overdue_after: due.map(overdue_after),
        closed_at: a.is_closed().then(|| tx.now()),
        result,
        grounds,
    })
    .await?;
    Ok(())
}

/// The problem a refused transition answers with: 403 for who, 409 for when, 422 for what.
pub fn transition_problem(e: TransitionError) -> Problem {
    match e {
        TransitionError::NotPerformer { clause, required } => Problem::new(StatusCode::FORBIDDEN, "problem-application-not-performer")
            .arg("clause", clause)
            .arg("role", required.as_str()),
        TransitionError::NotAssignee => Problem::new(StatusCode::FORBIDDEN, "problem-application-not-assignee"),
        TransitionError::OutOfOrder { attempted, state } => out_of_order(attempted, state),
        TransitionError::BeforePrevious => Problem::new(StatusCode::CONFLICT, "problem-application-changed"),
        TransitionError::RefusalNotAllowed { clause } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-application-refusal-not-allowed").arg("clause", clause)
        }
        TransitionError::UnknownGround { clause, grounds } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-application-unknown-ground").arg("clause", clause).arg("grounds", grounds)
        }
        TransitionError::UnknownResult(result) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-application-unknown-result").arg("result", result)
        }
        TransitionError::Calendar(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-application-calendar"),
        TransitionError::NoFrontOffice => corrupt("front office"),
    }
}

/// The applications an organization handles, each replayed; with `overdue_only`, those with a
/// step past its due point now.
pub async fn work_list(state: &AppState, me: &Authenticated, org: i64, overdue_only: bool) -> Result<Vec<Loaded>, Problem> {
    let scope = scope_of(state, org).await?;
    authorize(&me.principal, Action::ReadWorkList(scope)).map_err(|_| Problem::forbidden())?;
    let now = utc_to_almaty(state.clock.now());
    let mut out = Vec::new();
    for row in state.db.applications_of_organization(org, overdue_only).await? {
        let loaded = load(state, row.id).await?;
        if !overdue_only || !machine::overdue_steps(loaded.application.case(), now).is_empty() {
            out.push(loaded);
        }
    }
    Ok(out)
}

/// The caller's own applications, newest first.
pub async fn of_applicant(state: &AppState, me: &Authenticated) -> Result<Vec<Loaded>, Problem> {
    let mut out = Vec::new();
    for row in state.db.applications_of_applicant(me.user_id().0).await? {
        out.push(load(state, row.id).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn a_day_due_step_is_overdue_only_after_its_whole_day_in_almaty() {
        // Due 27 March 2025: overdue from midnight of the 28th, Almaty time (UTC+5).
        assert_eq!(overdue_after(Due::Day(date!(2025 - 03 - 27))), datetime!(2025-03-27 19:00 UTC));
        assert_eq!(overdue_after(Due::Moment(datetime!(2025-03-27 10:15))), datetime!(2025-03-27 05:15 UTC));
    }

    #[test]
    fn a_kept_route_rebuilds_the_same_steps_and_terms() {
        let catalog = kezek_catalog::services::load_services(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalog")))
            .expect("the shipped catalog loads");
        let provider = OrganizationRow {
            id: 1,
            region_id: 1,
            district_id: None,
            kind: "provider".to_owned(),
            bin: None,
            name_kk: String::new(),
            name_ru: String::new(),
            name_en: String::new(),
            address: String::new(),
            office_hours: "09:00-18:00".to_owned(),
            office_breaks: "13:00-14:00".to_owned(),
        };
        for def in &catalog.services {
            for edition in def.editions() {
                for channel in &edition.channels {
                    let route = Route::for_channel(&def.id, "v", edition, &channel.id).expect("every shipped channel is a route");
                    let kept: RouteRecord = serde_json::from_str(&serde_json::to_string(&RouteRecord::new(&route, &provider, None)).unwrap()).unwrap();
                    let (rebuilt, offices) = kept.rebuild(1, None).unwrap();
                    assert_eq!(rebuilt.steps(), route.steps(), "{} {}", def.id, channel.id);
                    assert_eq!(rebuilt.results(), route.results());
                    assert_eq!(offices.provider_hours, OfficeHours::provider());
                }
            }
        }
    }
}
