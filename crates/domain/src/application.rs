//! The step machine of one application: a service filed on a channel in a region walks the
//! effective step list of its regional variant, from registration in the provider's journal to
//! the issued result or a reasoned refusal.
//!
//! Every 002 regulation (and 000/001 in the same shape) fixes one order of milestones in its §6:
//! registration with a receipt, the head's resolution assigning an executor, preparation of the
//! result, its signature, issue. A regulation groups them into steps differently (002 R1
//! has four steps, R8 folds preparation, signature and issue into one 4-working-day step), so a
//! [`Route`] says which milestone closes each step; the step's term starts when the previous step
//! closes, and its due point comes from the working-day [`Calendar`].
//!
//! Times here are Almaty local wall-clock times, the frame the regulations count in; the store
//! keeps UTC and converts with `calendar::utc_to_almaty` / `almaty_to_utc`.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;

use crate::access::{OrganizationId, Principal, Role, UserId};
use crate::calendar::{Calendar, CalendarError, Due, OfficeHours};
use crate::duration::Term;
use crate::regulation::{DocumentKind, Edition, Performer};

/// The fixed order of what happens to an application (002 R1–R11 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Milestone {
    /// Registered in the provider's journal; the applicant holds a receipt.
    Registration,
    /// The head's resolution has assigned the executor.
    Resolution,
    /// The executor has drawn up the result or the reasoned refusal.
    Preparation,
    /// The result is signed.
    Signature,
    /// The result is handed over (to the applicant, or to the front office that hands it over).
    Issue,
}

impl Milestone {
    pub const ALL: [Milestone; 5] = [
        Self::Registration,
        Self::Resolution,
        Self::Preparation,
        Self::Signature,
        Self::Issue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Resolution => "resolution",
            Self::Preparation => "preparation",
            Self::Signature => "signature",
            Self::Issue => "issue",
        }
    }
}

impl fmt::Display for Milestone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which organization of the application a step's performer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Responsible {
    /// The provider (услугодатель) rendering the service.
    Provider,
    /// The front office the application came through (a State Corporation office).
    FrontOffice,
}

/// Who makes a transition: an official acting under their roles, or the information system
/// itself for the steps a regulation gives to it (000 R1 §14 process 6: the request is
/// registered in the provider's workstation; a result sent to the personal cabinet).
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    Official(&'a Principal),
    System,
}

impl<'a> From<&'a Principal> for Actor<'a> {
    fn from(p: &'a Principal) -> Self {
        Actor::Official(p)
    }
}

impl Actor<'_> {
    fn user(self) -> Option<UserId> {
        match self {
            Actor::Official(p) => Some(p.user),
            Actor::System => None,
        }
    }
}

/// One step of the effective step list, as the application follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteStep {
    /// The clause the step encodes, e.g. `002 R1 §8(3)`.
    pub clause: String,
    pub performer: Performer,
    pub organization: Responsible,
    /// `None` where the regulation gives the step no term (the front-office hand-overs).
    pub term: Option<Term>,
    /// The grounds this step may refuse on; empty when the regulation gives it no refusal.
    pub refusal_grounds: Vec<String>,
    /// The last milestone this step accomplishes; the step closes when it is reached.
    pub closes: Milestone,
}

impl RouteStep {
    pub fn may_refuse(&self) -> bool {
        !self.refusal_grounds.is_empty()
    }
}

/// Why a step list cannot be followed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the route has no steps")]
    Empty,
    #[error("step {clause} closes {closes}, which an earlier step already reached")]
    NotInOrder { clause: String, closes: Milestone },
    #[error("the last step closes {0}, not issue: the result would never reach the applicant")]
    NoIssue(Milestone),
    #[error("the route names no result document")]
    NoResult,
    #[error("the service is not offered through channel `{0}` here")]
    NoChannel(String),
}

/// The effective step list of one service variant on one channel, with what it produces.
/// An application keeps its own copy, so a later edit of the definition never changes the
/// terms it was promised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    service: String,
    version: String,
    channel: String,
    steps: Vec<RouteStep>,
    results: Vec<String>,
    /// The front-office intake step where it may refuse an incomplete package (002 R1 §10).
    intake: Option<RouteStep>,
    /// The information system performs every step: see [`Route::automated`].
    automated: bool,
    /// The grounds the channel's steps before registration may refuse on (the portal's check of
    /// the applicant's EDS: 000 R1 §14 condition 2, 003 §13(6)–(7), 004 App. 3 T3 a1): on an
    /// automated route the information system refuses on them before any journal number.
    arrival_grounds: Vec<String>,
}

impl Route {
    /// Checks that the steps reach the milestones in order and end with the issue.
    pub fn new(
        service: impl Into<String>,
        version: impl Into<String>,
        channel: impl Into<String>,
        steps: Vec<RouteStep>,
        results: Vec<String>,
    ) -> Result<Route, RouteError> {
        let mut reached: Option<Milestone> = None;
        for step in &steps {
            if reached.is_some_and(|r| step.closes <= r) {
                return Err(RouteError::NotInOrder {
                    clause: step.clause.clone(),
                    closes: step.closes,
                });
            }
            reached = Some(step.closes);
        }
        match reached {
            None => return Err(RouteError::Empty),
            Some(Milestone::Issue) => {}
            Some(last) => return Err(RouteError::NoIssue(last)),
        }
        if results.is_empty() {
            return Err(RouteError::NoResult);
        }
        Ok(Route {
            service: service.into(),
            version: version.into(),
            channel: channel.into(),
            steps,
            results,
            intake: None,
            automated: false,
            arrival_grounds: Vec::new(),
        })
    }

    /// The same route performed by the information system alone: a service whose decision its
    /// own rules make (000 R1 §2, 001 R15 §2: S1 is rendered fully automated; kezek's queue rules
    /// are the check of §5(3)), so every step, the people's included, is the system's, and the
    /// executor's work is one decision ([`Registered::decide`]).
    pub fn automated(mut self) -> Route {
        self.automated = true;
        self
    }

    pub fn is_automated(&self) -> bool {
        self.automated
    }

    /// The same route with the grounds its channel refuses on before registration, as a route
    /// kept with an application names them ([`Route::arrival_grounds`]).
    pub fn with_arrival_grounds(mut self, grounds: Vec<String>) -> Route {
        self.arrival_grounds = grounds;
        self
    }

    /// The grounds the channel's steps before registration may refuse on.
    pub fn arrival_grounds(&self) -> &[String] {
        &self.arrival_grounds
    }

    /// The route of channel `channel` of `edition`: the steps that close a milestone, in order.
    /// The other steps (the front office's intake and hand-over, the portal's own processes) are
    /// how the application reaches the provider and the result the applicant, not part of the
    /// provider's work; a refusal at the front-office intake is [`refuse_intake`]'s.
    /// `version` names the definition text, which the application keeps.
    pub fn for_channel(
        service: &str,
        version: &str,
        edition: &Edition,
        channel: &str,
    ) -> Result<Route, RouteError> {
        // 6.1 item 4 of the digest: no filing through a channel the variant does not list.
        let ch = edition
            .channel(channel)
            .ok_or_else(|| RouteError::NoChannel(channel.to_owned()))?;
        let mut steps = Vec::new();
        let mut intake = None;
        let mut arrival_grounds: Vec<String> = Vec::new();
        for s in &ch.steps {
            if steps.is_empty() && s.closes.is_none() {
                for g in &s.may_refuse {
                    if !arrival_grounds.contains(g) {
                        arrival_grounds.push(g.clone());
                    }
                }
            }
            let Some(closes) = s.closes else {
                // A person's refusing step before registration is the intake (002 R1 §10).
                if let (true, true, Performer::Role(role)) =
                    (steps.is_empty(), s.may_refuse(), s.performer)
                {
                    intake = Some(RouteStep {
                        clause: s.cites.clone(),
                        performer: Performer::Role(role),
                        organization: responsible(s.performer),
                        term: s.duration,
                        refusal_grounds: s.may_refuse.clone(),
                        closes: Milestone::Registration,
                    });
                }
                continue;
            };
            steps.push(RouteStep {
                clause: s.cites.clone(),
                performer: s.performer,
                organization: responsible(s.performer),
                term: s.duration,
                refusal_grounds: s.may_refuse.clone(),
                closes,
            });
        }
        let mut results: Vec<String> = Vec::new();
        for r in &edition.results {
            let grant = !matches!(
                r.kind,
                DocumentKind::MotivatedRefusal
                    | DocumentKind::RefusalReceipt
                    | DocumentKind::Receipt
            );
            if grant && !results.iter().any(|k| k == r.kind.as_str()) {
                results.push(r.kind.as_str().to_owned());
            }
        }
        let mut route = Route::new(service, version, channel, steps, results)?;
        route.intake = intake;
        route.arrival_grounds = arrival_grounds;
        Ok(route)
    }

    pub fn service(&self) -> &str {
        &self.service
    }
    pub fn version(&self) -> &str {
        &self.version
    }
    pub fn channel(&self) -> &str {
        &self.channel
    }
    pub fn steps(&self) -> &[RouteStep] {
        &self.steps
    }
    pub fn results(&self) -> &[String] {
        &self.results
    }
    /// The front-office intake step that may refuse, if the channel has one.
    pub fn intake(&self) -> Option<&RouteStep> {
        self.intake.as_ref()
    }

    /// The step that is open while `milestone` is the next one to reach.
    fn step_for(&self, milestone: Milestone) -> usize {
        self.steps
            .iter()
            .position(|s| s.closes >= milestone)
            .expect("Route::new guarantees the last step closes Issue, the last milestone")
    }
}

/// The organizations an application is handled by, with the office hours that count their
/// minutes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offices {
    pub provider: OrganizationId,
    pub provider_hours: OfficeHours,
    /// The State Corporation office the application came through, if any.
    pub front_office: Option<(OrganizationId, OfficeHours)>,
}

/// A number in the provider's registration journal (002 R1 §8(1)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JournalNumber(pub u32);

impl fmt::Display for JournalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// The receipt given on acceptance, with the fields 002 R2, R7–R11 §8(1) require: number and
/// date of acceptance, the service, the number and names of the attached documents, the date and
/// place of issue, and the employee who accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub number: JournalNumber,
    pub accepted_at: PrimitiveDateTime,
    pub service: String,
    pub documents: Vec<String>,
    /// When the result is promised: every remaining step taking its full term.
    pub issue_by: Option<Due>,
    pub issue_place: String,
    /// `None` where the information system registered it (a portal request).
    pub accepted_by: Option<UserId>,
}

/// What the executor draws up: the result, or a reasoned refusal on listed grounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    Grant { result: String },
    Refuse { grounds: String },
}

/// The timing of one step: when it opened, when it is due, when it closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepTiming {
    pub started: PrimitiveDateTime,
    pub due: Option<Due>,
    pub completed: Option<PrimitiveDateTime>,
}

impl StepTiming {
    /// Whether the step is past its due point at `now` while still open. A day-due step is
    /// on time for the whole of its due day.
    pub fn is_overdue_at(&self, now: PrimitiveDateTime) -> bool {
        self.completed.is_none() && self.due.is_some_and(|due| past(due, now))
    }

    /// Whether the step closed after its due point.
    pub fn completed_late(&self) -> bool {
        match (self.completed, self.due) {
            (Some(done), Some(due)) => past(due, done),
            _ => false,
        }
    }
}

/// Where a step stands at an instant, as the deadline report counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepStatus {
    /// Open, and its due point is not today.
    Open,
    /// Open, and due today (a day-due step due today, or a minute-due step due later today).
    DueToday,
    Overdue,
    Completed,
    CompletedLate,
}

impl StepTiming {
    pub fn status_at(&self, now: PrimitiveDateTime) -> StepStatus {
        match (self.completed, self.due) {
            (Some(_), _) if self.completed_late() => StepStatus::CompletedLate,
            (Some(_), _) => StepStatus::Completed,
            _ if self.is_overdue_at(now) => StepStatus::Overdue,
            (None, Some(Due::Day(day))) if day == now.date() => StepStatus::DueToday,
            (None, Some(Due::Moment(m))) if m.date() == now.date() => StepStatus::DueToday,
            (None, _) => StepStatus::Open,
        }
    }
}

fn past(due: Due, at: PrimitiveDateTime) -> bool {
    match due {
        Due::Day(day) => at.date() > day,
        Due::Moment(moment) => at > moment,
    }
}

/// What happened, in the application's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    Filed,
    Registered { number: JournalNumber },
    Assigned { executor: UserId },
    ProcessingStarted,
    Prepared(Decision),
    Signed,
    Issued,
    Refused { grounds: String },
}

/// One timestamped entry of the application's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at: PrimitiveDateTime,
    /// `None` for the information system.
    pub by: Option<UserId>,
    pub performer: Performer,
    /// Index into the route's steps of the step the event belongs to.
    pub step: usize,
    pub kind: EventKind,
}

/// Why a transition was not made. The web layer answers 403 for the first two and 409 for the
/// rest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("step {clause} is performed by {} of the responsible organization", .required.as_str())]
    NotPerformer { clause: String, required: Performer },
    #[error("the application is assigned to another executor")]
    NotAssignee,
    #[error("{attempted} is not the next action of an application that is {state}")]
    OutOfOrder {
        attempted: &'static str,
        state: &'static str,
    },
    #[error("step {clause} may not refuse")]
    RefusalNotAllowed { clause: String },
    #[error("step {clause} does not list the refusal ground {grounds:?}")]
    UnknownGround { clause: String, grounds: String },
    #[error("the route produces no result {0:?}")]
    UnknownResult(String),
    #[error("the action is dated before the previous one")]
    BeforePrevious,
    #[error("the channel has a front-office step but the application names no front office")]
    NoFrontOffice,
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

/// A transition that was not made: the error, and the state it was tried on, unchanged.
#[derive(Debug)]
pub struct Rejected<S> {
    /// Boxed: a state carries the whole case, too big to pass back by value in every `Err`.
    pub state: Box<S>,
    pub error: TransitionError,
}

/// The part of an application every state carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    route: Route,
    offices: Offices,
    applicant: UserId,
    timings: Vec<StepTiming>,
    history: Vec<Event>,
    executor: Option<UserId>,
}

impl Case {
    pub fn route(&self) -> &Route {
        &self.route
    }
    pub fn offices(&self) -> &Offices {
        &self.offices
    }
    pub fn applicant(&self) -> UserId {
        self.applicant
    }
    /// The timings of the steps opened so far, in route order.
    pub fn timings(&self) -> &[StepTiming] {
        &self.timings
    }
    pub fn history(&self) -> &[Event] {
        &self.history
    }
    /// The executor the head's resolution assigned, once it has.
    pub fn executor(&self) -> Option<UserId> {
        self.executor
    }

    fn open_step(&self) -> usize {
        self.timings.len() - 1
    }

    fn organization(
        &self,
        step: &RouteStep,
    ) -> Result<(OrganizationId, &OfficeHours), TransitionError> {
        match step.organization {
            Responsible::Provider => Ok((self.offices.provider, &self.offices.provider_hours)),
            Responsible::FrontOffice => self
                .offices
                .front_office
                .as_ref()
                .map(|(id, hours)| (*id, hours))
                .ok_or(TransitionError::NoFrontOffice),
        }
    }

    /// Checks that `by` may act on the open step now: the information system for its own
    /// steps; otherwise the step's performer role in the responsible organization and, once an
    /// executor is assigned, the executor in person for the executor's role. The signature is
    /// the executor's act too: 002 R1 §8(3) has the specialist obtain it ("подписывает у
    /// руководителя"); the head's own signature on the document is the signature layer's concern.
    fn check_actor(
        &self,
        by: Actor<'_>,
        at: PrimitiveDateTime,
    ) -> Result<Performer, TransitionError> {
        let step = &self.route.steps[self.open_step()];
        let required = step.performer;
        let not_performer = || TransitionError::NotPerformer {
            clause: step.clause.clone(),
            required,
        };
        match (required, by) {
            (Performer::System, Actor::System) => {}
            (Performer::Role(_), Actor::System) if self.route.automated => {}
            (Performer::Role(role), Actor::Official(p)) => {
                let (org, _) = self.organization(step)?;
                let holds = p
                    .memberships
                    .iter()
                    .any(|m| m.role == role && m.organization.is_some_and(|o| o.id == org));
                if !holds {
                    return Err(not_performer());
                }
                if self.executor.is_some_and(|e| e != p.user) && self.executor_role() == required {
                    return Err(TransitionError::NotAssignee);
                }
            }
            _ => return Err(not_performer()),
        }
        if self.history.last().is_some_and(|e| at < e.at) {
            return Err(TransitionError::BeforePrevious);
        }
        Ok(required)
    }

    fn executor_role(&self) -> Performer {
        self.route.steps[self.route.step_for(Milestone::Preparation)].performer
    }

    fn record(
        &mut self,
        by: Actor<'_>,
        performer: Performer,
        at: PrimitiveDateTime,
        kind: EventKind,
    ) {
        let step = self.open_step();
        self.history.push(Event {
            at,
            by: by.user(),
            performer,
            step,
            kind,
        });
    }

    /// Records that `milestone` is reached at `at`: closes the open step if the milestone is its
    /// last, and opens the next one with its due point.
    fn reach(
        &mut self,
        milestone: Milestone,
        at: PrimitiveDateTime,
        calendar: &Calendar,
    ) -> Result<(), TransitionError> {
        let i = self.open_step();
        if self.route.steps[i].closes != milestone {
            return Ok(());
        }
        let next = i + 1;
        let opened = match self.route.steps.get(next) {
            Some(step) => Some(self.timing(step, at, calendar)?),
            None => None,
        };
        self.timings[i].completed = Some(at);
        if let Some(t) = opened {
            self.timings.push(t);
        }
        Ok(())
    }

    fn timing(
        &self,
        step: &RouteStep,
        started: PrimitiveDateTime,
        calendar: &Calendar,
    ) -> Result<StepTiming, TransitionError> {
        let (_, hours) = self.organization(step)?;
        let due = match step.term {
            Some(term) => Some(calendar.due(started, term, hours)?),
            None => None,
        };
        Ok(StepTiming {
            started,
            due,
            completed: None,
        })
    }

    /// The due point of the last step if every step from the open one on takes its full term.
    fn projected_issue(&self, calendar: &Calendar) -> Result<Option<Due>, TransitionError> {
        let open = self.open_step();
        let mut last = self.timings[open].due;
        let mut start = match last {
            Some(due) => resume_after(due),
            None => self.timings[open].started,
        };
        for step in &self.route.steps[open + 1..] {
            let t = self.timing(step, start, calendar)?;
            if let Some(due) = t.due {
                start = resume_after(due);
                last = Some(due);
            }
        }
        Ok(last)
    }

    fn finished(&mut self, at: PrimitiveDateTime) {
        let i = self.open_step();
        self.timings[i].completed = Some(at);
    }
}

/// Operators belong to the front office; every other staff role, and the information system
/// that registers and issues for the provider, to the provider.
fn responsible(performer: Performer) -> Responsible {
    if performer == Performer::Role(Role::Operator) {
        Responsible::FrontOffice
    } else {
        Responsible::Provider
    }
}

/// A refusal to accept the documents at the front office: no application comes into being and
/// the applicant gets a refusal receipt (002 R1 §10: "расписка об отказе в приеме документов").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntakeRefusal {
    pub service: String,
    pub clause: String,
    pub grounds: String,
    pub at: PrimitiveDateTime,
    pub by: UserId,
    pub office: OrganizationId,
}

/// Refuses to accept an application at the intake of `route`'s channel, by that step's role in
/// `office`, on one of its grounds.
pub fn refuse_intake(
    route: &Route,
    office: OrganizationId,
    by: &Principal,
    at: PrimitiveDateTime,
    grounds: &str,
) -> Result<IntakeRefusal, TransitionError> {
    let step = route
        .intake
        .as_ref()
        .ok_or_else(|| TransitionError::RefusalNotAllowed {
            clause: format!("intake of channel `{}`", route.channel),
        })?;
    let holds = by.memberships.iter().any(|m| {
        Performer::Role(m.role) == step.performer && m.organization.is_some_and(|o| o.id == office)
    });
    if !holds {
        return Err(TransitionError::NotPerformer {
            clause: step.clause.clone(),
            required: step.performer,
        });
    }
    if !step.refusal_grounds.iter().any(|g| g == grounds) {
        return Err(TransitionError::UnknownGround {
            clause: step.clause.clone(),
            grounds: grounds.to_owned(),
        });
    }
    Ok(IntakeRefusal {
        service: route.service.clone(),
        clause: step.clause.clone(),
        grounds: grounds.to_owned(),
        at,
        by: by.user,
        office,
    })
}

/// Where the next step starts counting when the previous one ends at `due`: a day-due step may
/// take its whole due day, and the next term never counts its start day anyway.
fn resume_after(due: Due) -> PrimitiveDateTime {
    match due {
        Due::Day(day) => day.midnight(),
        Due::Moment(moment) => moment,
    }
}

/// Makes one transition on a copy of the case: checks the actor, records the event against the
/// open step, reaches the milestone. The original stays untouched if anything fails.
fn advance(
    case: &Case,
    by: Actor<'_>,
    milestone: Milestone,
    at: PrimitiveDateTime,
    kind: EventKind,
    calendar: &Calendar,
) -> Result<Case, TransitionError> {
    let role = case.check_actor(by, at)?;
    let mut next = case.clone();
    next.record(by, role, at, kind);
    next.reach(milestone, at, calendar)?;
    Ok(next)
}

fn reject<S>(state: S, error: TransitionError) -> Rejected<S> {
    Rejected {
        state: Box::new(state),
        error,
    }
}

/// An application that has arrived at the provider and waits for registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filed {
    case: Case,
}

/// Registered in the journal; waits for the head's resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    case: Case,
    receipt: Receipt,
}

/// The head has assigned an executor, who has not taken it up yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assigned {
    case: Case,
    receipt: Receipt,
}

/// The executor is checking the documents and drawing up the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processing {
    case: Case,
    receipt: Receipt,
}

/// The result or the reasoned refusal is drawn up and waits for the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    case: Case,
    receipt: Receipt,
    decision: Decision,
}

/// Signed; waits to be issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    case: Case,
    receipt: Receipt,
    decision: Decision,
}

/// The result has reached the applicant (or the front office that hands it over).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    case: Case,
    receipt: Receipt,
    result: String,
}

/// A reasoned refusal has reached the applicant, or a step that may refuse ended the
/// application before the executor's work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    case: Case,
    receipt: Option<Receipt>,
    grounds: String,
    /// Index into the route of the step that refused.
    step: usize,
}

/// Files an application of `route` at `at`: the registration step opens and its term starts.
/// Who may file (the applicant on the portal, an operator at the front office, a clerk at the
/// counter) and whether the channel is offered are decided before this point.
pub fn file(
    route: Route,
    offices: Offices,
    applicant: UserId,
    at: PrimitiveDateTime,
    calendar: &Calendar,
) -> Result<Filed, TransitionError> {
    let mut case = Case {
        route,
        offices,
        applicant,
        timings: Vec::new(),
        history: Vec::new(),
        executor: None,
    };
    let first = case.timing(&case.route.steps[0], at, calendar)?;
    case.timings.push(first);
    case.history.push(Event {
        at,
        by: Some(applicant),
        performer: Performer::Role(Role::Citizen),
        step: 0,
        kind: EventKind::Filed,
    });
    Ok(Filed { case })
}

/// What the registering employee enters: the journal number, the documents received, and where
/// the result will be issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intake {
    pub number: JournalNumber,
    pub documents: Vec<String>,
    pub issue_place: String,
}

impl Filed {
    pub fn case(&self) -> &Case {
        &self.case
    }

    /// Registers the application in the journal and gives the receipt (002 R2 §8(1)).
    pub fn register<'a>(
        self,
        by: impl Into<Actor<'a>>,
        at: PrimitiveDateTime,
        intake: Intake,
        calendar: &Calendar,
    ) -> Result<Registered, Rejected<Filed>> {
        let by: Actor<'_> = by.into();
        let kind = EventKind::Registered {
            number: intake.number,
        };
        let case = match advance(&self.case, by, Milestone::Registration, at, kind, calendar) {
            Ok(case) => case,
            Err(e) => return Err(reject(self, e)),
        };
        let issue_by = match case.projected_issue(calendar) {
            Ok(due) => due,
            Err(e) => return Err(reject(self, e)),
        };
        let receipt = Receipt {
            number: intake.number,
            accepted_at: at,
            service: case.route.service.clone(),
            documents: intake.documents,
            issue_by,
            issue_place: intake.issue_place,
            accepted_by: by.user(),
        };
        Ok(Registered { case, receipt })
    }

    /// Refuses before registration, where the registration step may refuse (an incomplete
    /// package at the State Corporation: 002 R1 §10, refusal receipt by the Standard's form).
    /// On an automated route the information system also refuses on the channel's arrival
    /// grounds (the applicant's EDS not confirmed on the portal), before any journal number.
    pub fn refuse<'a>(
        self,
        by: impl Into<Actor<'a>>,
        at: PrimitiveDateTime,
        grounds: &str,
    ) -> Result<Refused, Rejected<Filed>> {
        let by: Actor<'_> = by.into();
        let route = &self.case.route;
        let on_arrival = route.automated
            && matches!(by, Actor::System)
            && route.arrival_grounds.iter().any(|g| g == grounds);
        let refused = if on_arrival {
            self.case
                .check_actor(by, at)
                .map(|role| refused_by(&self.case, None, by, role, at, grounds))
        } else {
            end_refused(&self.case, None, by, at, grounds)
        };
        match refused {
            Ok(refused) => Ok(refused),
            Err(e) => Err(reject(self, e)),
        }
    }
}

impl Registered {
    pub fn case(&self) -> &Case {
        &self.case
    }
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The head's resolution: assigns the executor (002 R1 §8(2)).
    pub fn assign<'a>(
        self,
        by: impl Into<Actor<'a>>,
        at: PrimitiveDateTime,
        executor: UserId,
        calendar: &Calendar,
    ) -> Result<Assigned, Rejected<Registered>> {
        let by: Actor<'_> = by.into();
        let kind = EventKind::Assigned { executor };
        match advance(&self.case, by, Milestone::Resolution, at, kind, calendar) {
            Ok(mut case) => {
                case.executor = Some(executor);
                Ok(Assigned {
                    case,
                    receipt: self.receipt,
                })
            }
            Err(e) => Err(reject(self, e)),
        }
    }

    /// Refuses at the resolution step, where that step may refuse.
    pub fn refuse<'a>(
        self,
        by: impl Into<Actor<'a>>,
        at: PrimitiveDateTime,
        grounds: &str,
    ) -> Result<Refused, Rejected<Registered>> {
        let by: Actor<'_> = by.into();
        match end_refused(&self.case, Some(&self.receipt), by, at, grounds) {
            Ok(refused) => Ok(refused),
            Err(e) => Err(reject(self, e)),
        }
    }
}

impl Registered {
    /// The information system decides an automated route at once (a queue registration decided
    /// by the queue's rules): no resolution or executor; the result, or a refusal on a ground the
    /// executor's step lists. Reaches the resolution and the preparation.
    pub fn decide(
        self,
        at: PrimitiveDateTime,
        decision: Decision,
        calendar: &Calendar,
    ) -> Result<Prepared, Rejected<Registered>> {
        if !self.case.route.automated {
            return Err(reject(
                self,
                TransitionError::OutOfOrder {
                    attempted: "decide",
                    state: "registered",
                },
            ));
        }
        let executor_step = &self.case.route.steps[self.case.route.step_for(Milestone::Preparation)];
        let valid = match &decision {
            Decision::Grant { result } if !self.case.route.results.contains(result) => {
                Err(TransitionError::UnknownResult(result.clone()))
            }
            Decision::Grant { .. } => Ok(()),
            Decision::Refuse { .. } if !executor_step.may_refuse() => {
                Err(TransitionError::RefusalNotAllowed {
                    clause: executor_step.clause.clone(),
                })
            }
            Decision::Refuse { grounds } if !executor_step.refusal_grounds.contains(grounds) => {
                Err(TransitionError::UnknownGround {
                    clause: executor_step.clause.clone(),
                    grounds: grounds.clone(),
                })
            }
            Decision::Refuse { .. } => Ok(()),
        };
        if let Err(e) = valid {
            return Err(reject(self, e));
        }
        let decided = |case: &Case| -> Result<Case, TransitionError> {
            let role = case.check_actor(Actor::System, at)?;
            let mut next = case.clone();
            next.record(Actor::System, role, at, EventKind::Prepared(decision.clone()));
            next.reach(Milestone::Resolution, at, calendar)?;
            next.reach(Milestone::Preparation, at, calendar)?;
            Ok(next)
        };
        match decided(&self.case) {
            Ok(case) => Ok(Prepared {
                case,
                receipt: self.receipt,
                decision,
            }),
            Err(e) => Err(reject(self, e)),
        }
    }
}

impl Assigned {
    pub fn case(&self) -> &Case {
        &self.case
    }
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The assigned executor takes the application into work. Reaches no milestone: the
    /// executor's term already runs from the resolution.
    pub fn start_processing<'a>(
        self,
        by: impl Into<Actor<'a>>,
        at: PrimitiveDateTime,
    ) -> Result<Processing, Rejected<Assigned>> {
        let by: Actor<'_> = by.into();
        let role = match self.case.check_actor(by, at) {
            Ok(role) => role,
            Err(e) => return Err(reject(self, e)),
        };
        let mut case = self.case;
        case.record(by, role, at, EventKind::ProcessingStarted);
        Ok(Processing {
            case,
            receipt: self.receipt,
        })
    }
}

impl Processing {
    pub fn case(&self) -> &Case {
        &self.case
    }
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The executor draws up the result, or a reasoned refusal where the step may refuse
    /// (002 R4 §8(3): "результат ... либо мотивированный ответ об отказе").
    pub fn prepare<'a>(
        self,
        by: impl Into<Actor<'a>>,
        at: PrimitiveDateTime,
        decision: Decision,
        calendar: &Calendar,
    ) -> Result<Prepared, Rejected<Processing>> {
        let by: Actor<'_> = by.into();
        let valid = match &decision {
            Decision::Grant { result } if !self.case.route.results.contains(result) => {
                Err(TransitionError::UnknownResult(result.clone()))
            }
            Decision::Grant { .. } => Ok(()),
            Decision::Refuse { grounds } => check_grounds(&self.case, grounds),
        };
        if let Err(e) = valid {
            return Err(reject(self, e));
        }
        let kind = EventKind::Prepared(decision.clone());
        match advance(&self.case, by, Milestone::Preparation, at, kind, calendar) {
            Ok(case) => Ok(Prepared {
                case,
                receipt: self.receipt,
                decision,
            }),
            Err(e) => Err(reject(self, e)),
        }
    }
}

impl Prepared {
    pub fn case(&self) -> &Case {
        &self.case
    }
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The result is signed (002 R1 §8(3): the specialist "подписывает у руководителя").
    pub fn sign<'a>(
        self,
        by: impl Into<Actor<'a>>,
        at: PrimitiveDateTime,
        calendar: &Calendar,
    ) -> Result<Signed, Rejected<Prepared>> {
        let by: Actor<'_> = by.into();
        match advance(
            &self.case,
            by,
            Milestone::Signature,
            at,
            EventKind::Signed,
            calendar,
        ) {
            Ok(case) => Ok(Signed {
                case,
                receipt: self.receipt,
                decision: self.decision,
            }),
            Err(e) => Err(reject(self, e)),
        }
    }
}

/// What issuing a signed decision leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Issued(Issued),
    Refused(Refused),
}

impl Signed {
    pub fn case(&self) -> &Case {
        &self.case
    }
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Hands the signed result or refusal over (002 R1 §8(4)); the application ends.
    pub fn issue<'a>(
        self,
        by: impl Into<Actor<'a>>,
        at: PrimitiveDateTime,
        calendar: &Calendar,
    ) -> Result<Outcome, Rejected<Signed>> {
        let by: Actor<'_> = by.into();
        let kind = match &self.decision {
            Decision::Grant { .. } => EventKind::Issued,
            Decision::Refuse { grounds } => EventKind::Refused {
                grounds: grounds.clone(),
            },
        };
        let case = match advance(&self.case, by, Milestone::Issue, at, kind, calendar) {
            Ok(case) => case,
            Err(e) => return Err(reject(self, e)),
        };
        Ok(match self.decision {
            Decision::Grant { result } => Outcome::Issued(Issued {
                case,
                receipt: self.receipt,
                result,
            }),
            Decision::Refuse { grounds } => {
                let step = case.route.step_for(Milestone::Preparation);
                Outcome::Refused(Refused {
                    case,
                    receipt: Some(self.receipt),
                    grounds,
                    step,
                })
            }
        })
    }
}

impl Issued {
    pub fn case(&self) -> &Case {
        &self.case
    }
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }
    pub fn result(&self) -> &str {
        &self.result
    }
}

impl Refused {
    pub fn case(&self) -> &Case {
        &self.case
    }
    pub fn receipt(&self) -> Option<&Receipt> {
        self.receipt.as_ref()
    }
    pub fn grounds(&self) -> &str {
        &self.grounds
    }
    /// Index into the route of the step that refused.
    pub fn step(&self) -> usize {
        self.step
    }
}

/// Ends the application with a refusal at the open step, which must allow it.
fn end_refused(
    case: &Case,
    receipt: Option<&Receipt>,
    by: Actor<'_>,
    at: PrimitiveDateTime,
    grounds: &str,
) -> Result<Refused, TransitionError> {
    let role = case.check_actor(by, at)?;
    check_grounds(case, grounds)?;
    Ok(refused_by(case, receipt, by, role, at, grounds))
}

/// The refusal, recorded on the open step, once who and why are checked.
fn refused_by(
    case: &Case,
    receipt: Option<&Receipt>,
    by: Actor<'_>,
    role: Performer,
    at: PrimitiveDateTime,
    grounds: &str,
) -> Refused {
    let mut case = case.clone();
    let step = case.open_step();
    case.record(
        by,
        role,
        at,
        EventKind::Refused {
            grounds: grounds.to_owned(),
        },
    );
    case.finished(at);
    Refused {
        case,
        receipt: receipt.cloned(),
        grounds: grounds.to_owned(),
        step,
    }
}

fn check_grounds(case: &Case, grounds: &str) -> Result<(), TransitionError> {
    let step = &case.route.steps[case.open_step()];
    if !step.may_refuse() {
        return Err(TransitionError::RefusalNotAllowed {
            clause: step.clause.clone(),
        });
    }
    if !step.refusal_grounds.iter().any(|g| g == grounds) {
        return Err(TransitionError::UnknownGround {
            clause: step.clause.clone(),
            grounds: grounds.to_owned(),
        });
    }
    Ok(())
}

/// An application in any state, as it is stored and acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Application {
    Filed(Filed),
    Registered(Registered),
    Assigned(Assigned),
    Processing(Processing),
    Prepared(Prepared),
    Signed(Signed),
    Issued(Issued),
    Refused(Refused),
}

/// An action on an application, as a user asks for it. Serializable so that the actions, with
/// who made them and when, can be kept and replayed through [`Application::act`] to rebuild
/// the state with its due points.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Command {
    Register(Intake),
    Assign { executor: UserId },
    /// The information system's decision on an automated route ([`Registered::decide`]).
    Decide(Decision),
    StartProcessing,
    Prepare(Decision),
    Sign,
    Issue,
    Refuse { grounds: String },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Register(_) => "register",
            Command::Assign { .. } => "assign",
            Command::Decide(_) => "decide",
            Command::StartProcessing => "start_processing",
            Command::Prepare(_) => "prepare",
            Command::Sign => "sign",
            Command::Issue => "issue",
            Command::Refuse { .. } => "refuse",
        }
    }
}

impl Application {
    pub fn case(&self) -> &Case {
        match self {
            Application::Filed(s) => &s.case,
            Application::Registered(s) => &s.case,
            Application::Assigned(s) => &s.case,
            Application::Processing(s) => &s.case,
            Application::Prepared(s) => &s.case,
            Application::Signed(s) => &s.case,
            Application::Issued(s) => &s.case,
            Application::Refused(s) => &s.case,
        }
    }

    pub fn state_name(&self) -> &'static str {
        match self {
            Application::Filed(_) => "filed",
            Application::Registered(_) => "registered",
            Application::Assigned(_) => "assigned",
            Application::Processing(_) => "processing",
            Application::Prepared(_) => "prepared",
            Application::Signed(_) => "signed",
            Application::Issued(_) => "issued",
            Application::Refused(_) => "refused",
        }
    }

    /// Whether the application has ended, issued or refused.
    pub fn is_closed(&self) -> bool {
        matches!(self, Application::Issued(_) | Application::Refused(_))
    }

    /// Applies `command`; a command that is not the next one for this state is
    /// [`TransitionError::OutOfOrder`].
    pub fn act<'a>(
        self,
        command: Command,
        by: impl Into<Actor<'a>>,
        at: PrimitiveDateTime,
        calendar: &Calendar,
    ) -> Result<Application, Rejected<Application>> {
        let by: Actor<'_> = by.into();
        use Application as A;
        fn up<S, T>(
            r: Result<T, Rejected<S>>,
            wrap: fn(T) -> Application,
            back: fn(S) -> Application,
        ) -> Result<Application, Rejected<Application>> {
            r.map(wrap).map_err(|Rejected { state, error }| Rejected {
                state: Box::new(back(*state)),
                error,
            })
        }
        match (self, command) {
            (A::Filed(s), Command::Register(intake)) => up(
                s.register(by, at, intake, calendar),
                A::Registered,
                A::Filed,
            ),
            (A::Filed(s), Command::Refuse { grounds }) => {
                up(s.refuse(by, at, &grounds), A::Refused, A::Filed)
            }
            (A::Registered(s), Command::Assign { executor }) => up(
                s.assign(by, at, executor, calendar),
                A::Assigned,
                A::Registered,
            ),
            (A::Registered(s), Command::Decide(decision)) if matches!(by, Actor::System) => up(
                s.decide(at, decision, calendar),
                A::Prepared,
                A::Registered,
            ),
            (A::Registered(s), Command::Refuse { grounds }) => {
                up(s.refuse(by, at, &grounds), A::Refused, A::Registered)
            }
            (A::Assigned(s), Command::StartProcessing) => {
                up(s.start_processing(by, at), A::Processing, A::Assigned)
            }
            (A::Processing(s), Command::Prepare(decision)) => up(
                s.prepare(by, at, decision, calendar),
                A::Prepared,
                A::Processing,
            ),
            (A::Prepared(s), Command::Sign) => up(s.sign(by, at, calendar), A::Signed, A::Prepared),
            (A::Signed(s), Command::Issue) => up(
                s.issue(by, at, calendar),
                |o| match o {
                    Outcome::Issued(i) => A::Issued(i),
                    Outcome::Refused(r) => A::Refused(r),
                },
                A::Signed,
            ),
            (state, command) => {
                let error = TransitionError::OutOfOrder {
                    attempted: command.name(),
                    state: state.state_name(),
                };
                Err(Rejected {
                    state: Box::new(state),
                    error,
                })
            }
        }
    }
}

/// A step past its due point while still open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverdueStep {
    /// Index into the route's steps.
    pub step: usize,
    pub clause: String,
    pub performer: Performer,
    pub started: PrimitiveDateTime,
    pub due: Due,
}

/// The steps of `case` that are overdue at `now` (002 §5 terms; seed-services.md §6.6 item 35).
pub fn overdue_steps(case: &Case, now: PrimitiveDateTime) -> Vec<OverdueStep> {
    case.timings
        .iter()
        .enumerate()
        .filter(|(_, t)| t.is_overdue_at(now))
        .filter_map(|(i, t)| {
            let step = &case.route.steps[i];
            t.due.map(|due| OverdueStep {
                step: i,
                clause: step.clause.clone(),
                performer: step.performer,
                started: t.started,
                due,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use time::macros::{date, datetime};

    use super::*;
    use crate::access::{Membership, OrganizationKind, OrganizationScope, RegionId};
    use crate::duration::DurationUnit;

    macro_rules! year_file {
        ($y:literal) => {
            (
                concat!($y, ".toml"),
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../catalog/calendar/",
                    $y,
                    ".toml"
                )),
            )
        };
    }

    static KZ: LazyLock<Calendar> = LazyLock::new(|| {
        Calendar::from_year_files([
            year_file!("2024"),
            year_file!("2025"),
            year_file!("2026"),
            year_file!("2027"),
        ])
        .expect("the shipped calendar parses")
    });

    const ALMATY: RegionId = RegionId(1);
    const PROVIDER: OrganizationId = OrganizationId(10);
    const OTHER_PROVIDER: OrganizationId = OrganizationId(11);
    const APPLICANT: UserId = UserId(1);
    const CLERK: UserId = UserId(2);
    const HEAD: UserId = UserId(3);
    const SPECIALIST: UserId = UserId(4);
    const OTHER_SPECIALIST: UserId = UserId(5);
    const FRONT_OFFICE: OrganizationId = OrganizationId(20);
    const OPERATOR: UserId = UserId(6);
    const NONCONFORMING: &str = "documents-nonconforming";
    const CERTIFICATE: &str = "certificate";

    fn kz() -> &'static Calendar {
        &KZ
    }

    fn staff(user: UserId, role: Role, org: OrganizationId) -> Principal {
        let scope = OrganizationScope {
            id: org,
            region: ALMATY,
            kind: OrganizationKind::Provider,
        };
        Principal {
            user,
            memberships: vec![Membership {
                role,
                organization: Some(scope),
            }],
        }
    }

    fn step(
        clause: &str,
        performer: Role,
        amount: u32,
        unit: DurationUnit,
        closes: Milestone,
    ) -> RouteStep {
        RouteStep {
            clause: clause.to_owned(),
            performer: Performer::Role(performer),
            organization: Responsible::Provider,
            term: Some(Term { amount, unit }),
            refusal_grounds: Vec::new(),
            closes,
        }
    }

    /// A shipped definition, compiled in: the domain reads no files.
    macro_rules! service_file {
        ($name:literal) => {
            crate::regulation::parse_service(
                $name,
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../catalog/services/",
                    $name
                )),
            )
            .expect("the shipped definition parses")
        };
    }

    static S3: LazyLock<crate::regulation::ServiceDefinition> =
        LazyLock::new(|| service_file!("S3-guardianship-certificates.toml"));

    /// Every 002 definition (S3–S14 but S7, which the seeds only name).
    static ALL_002: LazyLock<Vec<crate::regulation::ServiceDefinition>> = LazyLock::new(|| {
        vec![
            service_file!("S3-guardianship-certificates.toml"),
            service_file!("S4-establishing-guardianship.toml"),
            service_file!("S5-minors-property-certificates.toml"),
            service_file!("S6-minors-property-transactions.toml"),
            service_file!("S8-free-school-meals.toml"),
            service_file!("S9-guardian-allowance.toml"),
            service_file!("S10-foster-care-placement.toml"),
            service_file!("S11-foster-carer-payment.toml"),
            service_file!("S12-prospective-adopters-register.toml"),
            service_file!("S13-adoption-one-time-payment.toml"),
            service_file!("S14-camp-referrals.toml"),
        ]
    });

    /// S3, guardianship certificates (002 R1), through the State Corporation: the provider's
    /// §8(1)–(4) steps between the operator's intake and hand-over.
    fn s3_route() -> Route {
        Route::for_channel("S3", "002-2017", &S3.base, "state-corporation")
            .expect("S3 is filed through the State Corporation")
    }

    fn offices() -> Offices {
        Offices {
            provider: PROVIDER,
            provider_hours: OfficeHours::provider(),
            front_office: Some((FRONT_OFFICE, OfficeHours::state_corporation())),
        }
    }

    fn intake() -> Intake {
        Intake {
            number: JournalNumber(17),
            documents: vec!["application".to_owned(), "identity_document".to_owned()],
            issue_place: "Almaty, Education Department office".to_owned(),
        }
    }

    fn clerk() -> Principal {
        staff(CLERK, Role::Clerk, PROVIDER)
    }
    fn head() -> Principal {
        staff(HEAD, Role::Head, PROVIDER)
    }
    fn specialist() -> Principal {
        staff(SPECIALIST, Role::Specialist, PROVIDER)
    }

    fn filed_on_20_march() -> Filed {
        file(
            s3_route(),
            offices(),
            APPLICANT,
            datetime!(2025-03-20 10:00),
            kz(),
        )
        .expect("2025 is covered")
    }

    fn processing_on_20_march() -> Processing {
        filed_on_20_march()
            .register(&clerk(), datetime!(2025-03-20 10:10), intake(), kz())
            .expect("the clerk registers")
            .assign(&head(), datetime!(2025-03-20 10:20), SPECIALIST, kz())
            .expect("the head assigns")
            .start_processing(&specialist(), datetime!(2025-03-20 11:00))
            .expect("the assigned specialist takes it up")
    }

    #[test]
    fn s3_through_the_state_corporation_walks_to_the_certificate_with_due_dates_skipping_nauryz() {
        let filed = filed_on_20_march();
        assert_eq!(
            filed.case().timings()[0].due,
            Some(Due::Moment(datetime!(2025-03-20 10:15)))
        );

        let registered = filed
            .register(&clerk(), datetime!(2025-03-20 10:10), intake(), kz())
            .unwrap();
        let receipt = registered.receipt().clone();
        assert_eq!(receipt.number, JournalNumber(17));
        assert_eq!(receipt.accepted_by, Some(CLERK));
        assert_eq!(receipt.service, "S3");
        // 15 minutes for the head, then 2 working days: 21–25 March 2025 are Nauryz and its
        // carried-over days, so 26 and 27 March count; the hand-over day is 28 March.
        assert_eq!(receipt.issue_by, Some(Due::Day(date!(2025 - 03 - 28))));
        assert_eq!(
            registered.case().timings()[1].due,
            Some(Due::Moment(datetime!(2025-03-20 10:25)))
        );

        let assigned = registered
            .assign(&head(), datetime!(2025-03-20 10:20), SPECIALIST, kz())
            .unwrap();
        assert_eq!(assigned.case().executor(), Some(SPECIALIST));
        assert_eq!(
            assigned.case().timings()[2].started,
            datetime!(2025-03-20 10:20)
        );
        assert_eq!(
            assigned.case().timings()[2].due,
            Some(Due::Day(date!(2025 - 03 - 27)))
        );

        let processing = assigned
            .start_processing(&specialist(), datetime!(2025-03-20 11:00))
            .unwrap();
        let grant = Decision::Grant {
            result: CERTIFICATE.to_owned(),
        };
        let prepared = processing
            .prepare(&specialist(), datetime!(2025-03-26 15:00), grant, kz())
            .unwrap();
        // Preparation and signature are one step in §8(3): it stays open until signed.
        assert_eq!(prepared.case().timings().len(), 3);
        let signed = prepared
            .sign(&specialist(), datetime!(2025-03-27 11:00), kz())
            .unwrap();
        assert_eq!(
            signed.case().timings()[3].due,
            Some(Due::Day(date!(2025 - 03 - 28)))
        );

        let Outcome::Issued(issued) = signed
            .issue(&clerk(), datetime!(2025-03-28 16:00), kz())
            .unwrap()
        else {
            panic!("a granted certificate is issued, not refused");
        };
        assert_eq!(issued.result(), CERTIFICATE);
        let case = issued.case();
        assert!(
            case.timings()
                .iter()
                .all(|t| t.completed.is_some() && !t.completed_late())
        );
        let kinds: Vec<_> = case
            .history()
            .iter()
            .map(|e| (e.step, e.performer))
            .collect();
        let role = Performer::Role;
        assert_eq!(
            kinds,
            [
                (0, role(Role::Citizen)),
                (0, role(Role::Clerk)),
                (1, role(Role::Head)),
                (2, role(Role::Specialist)),
                (2, role(Role::Specialist)),
                (2, role(Role::Specialist)),
                (3, role(Role::Clerk)),
            ]
        );
        assert!(overdue_steps(case, datetime!(2025-04-30 12:00)).is_empty());
    }

    #[test]
    fn the_whole_walk_through_commands_matches_the_typed_walk() {
        let mut app = Application::Filed(filed_on_20_march());
        let walk = [
            (
                Command::Register(intake()),
                clerk(),
                datetime!(2025-03-20 10:10),
            ),
            (
                Command::Assign {
                    executor: SPECIALIST,
                },
                head(),
                datetime!(2025-03-20 10:20),
            ),
            (
                Command::StartProcessing,
                specialist(),
                datetime!(2025-03-20 11:00),
            ),
            (
                Command::Prepare(Decision::Grant {
                    result: CERTIFICATE.to_owned(),
                }),
                specialist(),
                datetime!(2025-03-26 15:00),
            ),
            (Command::Sign, specialist(), datetime!(2025-03-27 11:00)),
            (Command::Issue, clerk(), datetime!(2025-03-28 16:00)),
        ];
        for (command, by, at) in walk {
            app = app
                .act(command, &by, at, kz())
                .map_err(|r| r.error)
                .unwrap();
        }
        assert_eq!(app.state_name(), "issued");
        assert!(app.is_closed());
    }

    #[test]
    fn a_step_done_by_the_wrong_role_is_refused_and_the_state_is_kept() {
        let filed = filed_on_20_march();
        let before = filed.clone();
        let rejected = filed
            .register(&head(), datetime!(2025-03-20 10:10), intake(), kz())
            .unwrap_err();
        assert_eq!(
            rejected.error,
            TransitionError::NotPerformer {
                clause: "002 R1 §5(1), §6(1), §8(1)".to_owned(),
                required: Performer::Role(Role::Clerk)
            }
        );
        assert_eq!(*rejected.state, before);

        // The right role in another provider is still the wrong organization.
        let elsewhere = staff(CLERK, Role::Clerk, OTHER_PROVIDER);
        let rejected = (*rejected.state)
            .register(&elsewhere, datetime!(2025-03-20 10:10), intake(), kz())
            .unwrap_err();
        assert!(matches!(
            rejected.error,
            TransitionError::NotPerformer { .. }
        ));
    }

    #[test]
    fn only_the_assigned_specialist_works_on_the_application() {
        let assigned = filed_on_20_march()
            .register(&clerk(), datetime!(2025-03-20 10:10), intake(), kz())
            .unwrap()
            .assign(&head(), datetime!(2025-03-20 10:20), SPECIALIST, kz())
            .unwrap();
        let colleague = staff(OTHER_SPECIALIST, Role::Specialist, PROVIDER);
        let rejected = assigned
            .start_processing(&colleague, datetime!(2025-03-20 11:00))
            .unwrap_err();
        assert_eq!(rejected.error, TransitionError::NotAssignee);
    }

    #[test]
    fn a_transition_out_of_order_is_refused() {
        let app = Application::Filed(filed_on_20_march());
        let rejected = app
            .act(
                Command::Sign,
                &specialist(),
                datetime!(2025-03-20 10:10),
                kz(),
            )
            .unwrap_err();
        assert_eq!(
            rejected.error,
            TransitionError::OutOfOrder {
                attempted: "sign",
                state: "filed"
            }
        );
        assert_eq!(rejected.state.state_name(), "filed");
    }

    #[test]
    fn refusal_is_allowed_only_at_a_step_that_may_refuse_and_on_its_grounds() {
        // Registration (§8(1)) gives no refusal.
        let rejected = filed_on_20_march()
            .refuse(&clerk(), datetime!(2025-03-20 10:10), NONCONFORMING)
            .unwrap_err();
        assert_eq!(
            rejected.error,
            TransitionError::RefusalNotAllowed {
                clause: "002 R1 §5(1), §6(1), §8(1)".to_owned()
            }
        );

        // The specialist's check (§8(3)) refuses, but only on its listed grounds.
        let processing = processing_on_20_march();
        let unlisted = Decision::Refuse {
            grounds: "applicant_disliked".to_owned(),
        };
        let rejected = processing
            .prepare(&specialist(), datetime!(2025-03-26 09:00), unlisted, kz())
            .unwrap_err();
        assert!(matches!(
            rejected.error,
            TransitionError::UnknownGround { .. }
        ));

        let refusal = Decision::Refuse {
            grounds: NONCONFORMING.to_owned(),
        };
        let prepared = (*rejected.state)
            .prepare(&specialist(), datetime!(2025-03-26 09:00), refusal, kz())
            .unwrap();
        let signed = prepared
            .sign(&specialist(), datetime!(2025-03-26 10:00), kz())
            .unwrap();
        let Outcome::Refused(refused) = signed
            .issue(&clerk(), datetime!(2025-03-27 10:00), kz())
            .unwrap()
        else {
            panic!("a signed refusal ends as refused");
        };
        assert_eq!(refused.grounds(), NONCONFORMING);
        assert_eq!(refused.step(), 2);
        assert_eq!(refused.receipt().map(|r| r.number), Some(JournalNumber(17)));
    }

    #[test]
    fn an_open_step_is_overdue_only_after_its_due_point() {
        let filed = filed_on_20_march();
        // 15 working minutes from 10:00: due 10:15.
        assert!(overdue_steps(filed.case(), datetime!(2025-03-20 10:15)).is_empty());
        let late = overdue_steps(filed.case(), datetime!(2025-03-20 10:16));
        assert_eq!(late.len(), 1);
        assert_eq!(
            (late[0].step, late[0].performer),
            (0, Performer::Role(Role::Clerk))
        );

        // The specialist's 2 working days end on 27 March: the whole day is still on time.
        let processing = processing_on_20_march();
        assert!(overdue_steps(processing.case(), datetime!(2025-03-27 23:59)).is_empty());
        let late = overdue_steps(processing.case(), datetime!(2025-03-28 09:00));
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].clause, "002 R1 §5(3), §6(3), §8(3)");
        assert_eq!(late[0].due, Due::Day(date!(2025 - 03 - 27)));

        // Once closed late, it is no longer overdue but remembered as late.
        let grant = Decision::Grant {
            result: CERTIFICATE.to_owned(),
        };
        let signed = processing
            .prepare(&specialist(), datetime!(2025-03-28 09:30), grant, kz())
            .unwrap()
            .sign(&specialist(), datetime!(2025-03-28 10:00), kz())
            .unwrap();
        assert!(overdue_steps(signed.case(), datetime!(2025-03-28 10:01)).is_empty());
        assert!(signed.case().timings()[2].completed_late());
    }

    #[test]
    fn a_route_must_reach_its_milestones_in_order_and_end_with_the_issue() {
        use DurationUnit::*;
        let reg = step(
            "a",
            Role::Clerk,
            15,
            WorkingMinutes,
            Milestone::Registration,
        );
        let res = step("b", Role::Head, 1, WorkingDays, Milestone::Resolution);
        let sig = step("c", Role::Specialist, 2, WorkingDays, Milestone::Signature);
        let results = vec!["certificate".to_owned()];
        let build = |steps: Vec<RouteStep>| Route::new("S", "v", "c", steps, results.clone());
        assert!(matches!(
            build(vec![res.clone(), reg.clone()]),
            Err(RouteError::NotInOrder { .. })
        ));
        assert_eq!(
            build(vec![reg.clone(), res.clone(), sig]),
            Err(RouteError::NoIssue(Milestone::Signature))
        );
        assert_eq!(build(vec![]), Err(RouteError::Empty));
        // 002 R8 §8(3): preparation, signature and issue in one step.
        let all = step("d", Role::Specialist, 4, WorkingDays, Milestone::Issue);
        assert!(build(vec![reg, res, all]).is_ok());
    }

    fn operator() -> Principal {
        Principal {
            user: OPERATOR,
            memberships: vec![Membership {
                role: Role::Operator,
                organization: Some(OrganizationScope {
                    id: FRONT_OFFICE,
                    region: ALMATY,
                    kind: OrganizationKind::StateCorporation,
                }),
            }],
        }
    }

    #[test]
    fn steps_of_the_information_system_are_made_by_the_system_alone() {
        use DurationUnit::*;
        // 000 R1 through the portal: the system registers the request (§14 process 6) and
        // sends the result to the personal cabinet; officials decide in between.
        let mut register = step(
            "000 R1 §14 process 6",
            Role::Clerk,
            1,
            WorkingMinutes,
            Milestone::Registration,
        );
        register.performer = Performer::System;
        register.term = None;
        let mut deliver = step(
            "000 R1 §14 process 8",
            Role::Clerk,
            1,
            WorkingMinutes,
            Milestone::Issue,
        );
        deliver.performer = Performer::System;
        deliver.term = None;
        let route = Route::new(
            "S1",
            "000-2018",
            "portal",
            vec![
                register,
                step(
                    "000 R1 §8(2)",
                    Role::Head,
                    10,
                    WorkingMinutes,
                    Milestone::Resolution,
                ),
                step(
                    "000 R1 §8(3)",
                    Role::Specialist,
                    20,
                    WorkingMinutes,
                    Milestone::Signature,
                ),
                deliver,
            ],
            vec!["queue_notification".to_owned()],
        )
        .unwrap();
        let at = datetime!(2025-03-20 10:00);
        let filed = file(route, offices(), APPLICANT, at, kz()).unwrap();
        let rejected = filed.register(&clerk(), at, intake(), kz()).unwrap_err();
        assert_eq!(
            rejected.error,
            TransitionError::NotPerformer {
                clause: "000 R1 §14 process 6".to_owned(),
                required: Performer::System
            }
        );
        let registered = (*rejected.state)
            .register(Actor::System, at, intake(), kz())
            .unwrap();
        assert_eq!(registered.receipt().accepted_by, None);
        assert_eq!(registered.case().history()[1].by, None);
        let signed = registered
            .assign(&head(), datetime!(2025-03-20 10:05), SPECIALIST, kz())
            .unwrap()
            .start_processing(&specialist(), datetime!(2025-03-20 10:06))
            .unwrap()
            .prepare(
                &specialist(),
                datetime!(2025-03-20 10:20),
                Decision::Grant {
                    result: "queue_notification".to_owned(),
                },
                kz(),
            )
            .unwrap()
            .sign(&specialist(), datetime!(2025-03-20 10:21), kz())
            .unwrap();
        // An official cannot stand in for the system's delivery either.
        let rejected = signed
            .issue(&clerk(), datetime!(2025-03-20 10:22), kz())
            .unwrap_err();
        assert!(matches!(
            rejected.error,
            TransitionError::NotPerformer {
                required: Performer::System,
                ..
            }
        ));
        let outcome = (*rejected.state)
            .issue(Actor::System, datetime!(2025-03-20 10:22), kz())
            .unwrap();
        assert!(matches!(outcome, Outcome::Issued(_)));
    }

    #[test]
    fn a_step_is_open_due_today_overdue_or_completed_in_time_or_late() {
        let processing = processing_on_20_march();
        let t = &processing.case().timings()[2];
        // Due 27 March 2025 (2 working days after 20 March, Nauryz skipped).
        assert_eq!(t.status_at(datetime!(2025-03-26 12:00)), StepStatus::Open);
        assert_eq!(
            t.status_at(datetime!(2025-03-27 08:00)),
            StepStatus::DueToday
        );
        assert_eq!(
            t.status_at(datetime!(2025-03-28 08:00)),
            StepStatus::Overdue
        );
        let done = processing.case().timings()[1].clone();
        assert_eq!(
            done.status_at(datetime!(2025-03-28 08:00)),
            StepStatus::Completed
        );
        let late = StepTiming {
            completed: Some(datetime!(2025-03-28 09:00)),
            ..t.clone()
        };
        assert_eq!(
            late.status_at(datetime!(2025-03-28 10:00)),
            StepStatus::CompletedLate
        );
    }

    #[test]
    fn commands_survive_being_kept_as_data() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Kept {
            commands: Vec<Command>,
        }
        let kept = Kept {
            commands: vec![
                Command::Register(intake()),
                Command::Assign {
                    executor: SPECIALIST,
                },
                Command::StartProcessing,
                Command::Prepare(Decision::Refuse {
                    grounds: NONCONFORMING.to_owned(),
                }),
                Command::Prepare(Decision::Grant {
                    result: CERTIFICATE.to_owned(),
                }),
                Command::Sign,
                Command::Issue,
                Command::Refuse {
                    grounds: NONCONFORMING.to_owned(),
                },
            ],
        };
        let text = toml::to_string(&kept).unwrap();
        assert!(text.contains(r#"action = "assign""#), "{text}");
        assert_eq!(toml::from_str::<Kept>(&text).unwrap(), kept);
    }

    #[test]
    fn s3_has_no_office_channel_to_file_through() {
        // 002 R1 §1: State Corporation and portal only.
        assert_eq!(
            Route::for_channel("S3", "002-2017", &S3.base, "office"),
            Err(RouteError::NoChannel("office".to_owned()))
        );
        let portal = Route::for_channel("S3", "002-2017", &S3.base, "portal").unwrap();
        let performers: Vec<_> = portal.steps().iter().map(|s| s.performer).collect();
        assert_eq!(
            performers,
            [Role::Clerk, Role::Head, Role::Specialist, Role::Clerk].map(Performer::Role)
        );
    }

    #[test]
    fn an_incomplete_package_is_refused_at_the_state_corporation_intake_only() {
        let route = s3_route();
        let at = datetime!(2025-03-20 09:30);
        let refusal =
            refuse_intake(&route, FRONT_OFFICE, &operator(), at, "incomplete-package").unwrap();
        assert_eq!(
            refusal.clause,
            "002 R1 §9 entry, processes 1–6, condition 1, §10"
        );
        assert_eq!((refusal.by, refusal.office), (OPERATOR, FRONT_OFFICE));

        // Only the operator of that office refuses, and only on the intake's ground.
        let err = refuse_intake(&route, FRONT_OFFICE, &clerk(), at, "incomplete-package");
        assert!(matches!(
            err,
            Err(TransitionError::NotPerformer {
                required: Performer::Role(Role::Operator),
                ..
            })
        ));
        let err = refuse_intake(&route, FRONT_OFFICE, &operator(), at, NONCONFORMING);
        assert!(matches!(err, Err(TransitionError::UnknownGround { .. })));

        // The portal has no intake that refuses a package: its checks are automatic.
        let portal = Route::for_channel("S3", "002-2017", &S3.base, "portal").unwrap();
        let err = refuse_intake(&portal, FRONT_OFFICE, &operator(), at, "incomplete-package");
        assert!(matches!(
            err,
            Err(TransitionError::RefusalNotAllowed { .. })
        ));
    }

    #[test]
    fn every_002_channel_gives_a_route_ending_with_the_issue() {
        let files = &*ALL_002;
        for def in files {
            for channel in &def.base.channels {
                let route = Route::for_channel(&def.id, "002-2017", &def.base, &channel.id)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", def.id, channel.id));
                assert_eq!(
                    route.steps()[0].closes,
                    Milestone::Registration,
                    "{}",
                    def.id
                );
                assert!(
                    route
                        .steps()
                        .iter()
                        .all(|s| s.organization == Responsible::Provider)
                );
                // Only S14 (002 R11) names no refusal anywhere.
                let refusing = route.steps().iter().any(RouteStep::may_refuse);
                assert_eq!(refusing, def.id != "S14", "{} {}", def.id, channel.id);
            }
        }
    }

    #[test]
    fn s14_camp_referral_cannot_be_refused() {
        let def = service_file!("S14-camp-referrals.toml");
        let route = Route::for_channel("S14", "002-2017", &def.base, "office").unwrap();
        let offices = Offices {
            front_office: None,
            ..offices()
        };
        let start = datetime!(2025-06-02 10:00);
        let responsible = specialist();
        let processing = file(route, offices, APPLICANT, start, kz())
            .unwrap()
            .register(&clerk(), start, intake(), kz())
            .unwrap()
            .assign(&head(), datetime!(2025-06-02 11:00), SPECIALIST, kz())
            .unwrap()
            .start_processing(&responsible, datetime!(2025-06-02 12:00))
            .unwrap();
        let refusal = Decision::Refuse {
            grounds: NONCONFORMING.to_owned(),
        };
        let rejected = processing
            .prepare(&responsible, datetime!(2025-06-03 10:00), refusal, kz())
            .unwrap_err();
        assert_eq!(
            rejected.error,
            TransitionError::RefusalNotAllowed {
                clause: "002 R11 §5(3), §6(2)–(3), §8(3)".to_owned()
            }
        );
    }

    #[test]
    fn s4_resolution_due_on_nauryz_moves_to_the_next_working_day() {
        let def = service_file!("S4-establishing-guardianship.toml");
        let route = Route::for_channel("S4", "002-2017", &def.base, "office").unwrap();
        let offices = Offices {
            front_office: None,
            ..offices()
        };
        let registered = file(route, offices, APPLICANT, datetime!(2025-03-20 10:00), kz())
            .unwrap()
            .register(&clerk(), datetime!(2025-03-20 10:05), intake(), kz())
            .unwrap();
        // 1 calendar day from 20 March is 21 March, Nauryz; 21–25 March are off.
        assert_eq!(
            registered.case().timings()[1].due,
            Some(Due::Day(date!(2025 - 03 - 26)))
        );
        // Projected: 28 calendar days from 26 March is 23 April, then 1 more: 24 April.
        assert_eq!(
            registered.receipt().issue_by,
            Some(Due::Day(date!(2025 - 04 - 24)))
        );
        let assigned = registered
            .assign(&head(), datetime!(2025-03-20 15:00), SPECIALIST, kz())
            .unwrap();
        // 28 calendar days from 20 March: Thursday 17 April 2025.
        assert_eq!(
            assigned.case().timings()[2].due,
            Some(Due::Day(date!(2025 - 04 - 17)))
        );
    }

    /// One official holding every provider role, for walks where who acts is not the point.
    fn whole_office() -> Principal {
        let scope = OrganizationScope {
            id: PROVIDER,
            region: ALMATY,
            kind: OrganizationKind::Provider,
        };
        let memberships = [Role::Clerk, Role::Head, Role::Specialist]
            .into_iter()
            .map(|role| Membership {
                role,
                organization: Some(scope),
            })
            .collect();
        Principal {
            user: SPECIALIST,
            memberships,
        }
    }

    proptest! {
        /// Whatever 002 service and channel, whenever filed in 2025 and however quickly each step
        /// is done within its term: no step is ever overdue or late, every day-due lands on a
        /// working day after the step's start, and the receipt's promised day is never before
        /// the actual issue.
        #[test]
        fn on_time_work_is_never_overdue(
            service in 0usize..11,
            channel in 0usize..3,
            day in 0i64..330,
            minute in 0i64..(24 * 60),
            fractions in proptest::collection::vec(0u32..=100, 6),
        ) {
            let def = &ALL_002[service];
            let channel = &def.base.channels[channel % def.base.channels.len()];
            let route = Route::for_channel(&def.id, "002-2017", &def.base, &channel.id).unwrap();
            let result = route.results()[0].clone();
            let start = datetime!(2025-01-01 00:00) + time::Duration::days(day) + time::Duration::minutes(minute);
            let mut app = Application::Filed(file(route, offices(), APPLICANT, start, kz()).unwrap());
            let mut at = start;
            let commands = [
                Command::Register(intake()),
                Command::Assign { executor: SPECIALIST },
                Command::StartProcessing,
                Command::Prepare(Decision::Grant { result }),
                Command::Sign,
                Command::Issue,
            ];
            let mut promised = None;
            for (command, fraction) in commands.into_iter().zip(fractions) {
                let case = app.case();
                let timing = case.timings().last().unwrap().clone();
                let deadline = match timing.due.unwrap() {
                    Due::Moment(m) => m,
                    Due::Day(d) => {
                        prop_assert!(kz().is_working_day(d));
                        prop_assert!(d > timing.started.date());
                        d.with_hms(23, 59, 0).unwrap()
                    }
                };
                // Somewhere between now and the deadline, never past it.
                let span = (deadline - at).whole_minutes().max(0);
                at += time::Duration::minutes(span * i64::from(fraction) / 100);
                app = app.act(command, &whole_office(), at, kz()).map_err(|r| r.error).unwrap();
                prop_assert!(overdue_steps(app.case(), at).is_empty());
                if let Application::Registered(r) = &app {
                    promised = r.receipt().issue_by;
                }
            }
            prop_assert_eq!(app.state_name(), "issued");
            prop_assert!(app.case().timings().iter().all(|t| !t.completed_late()));
            match promised {
                Some(Due::Day(d)) => prop_assert!(at.date() <= d),
                other => prop_assert!(false, "the promise is a day: {other:?}"),
            }
        }
    }

    /// S1 as kezek renders it: every edition's every channel, performed by the information system
    /// alone on the automated route, reaches the queue notification at the instant of filing;
    /// a refusal only on a ground the executor's step lists; never on a route people walk.
    #[test]
    fn an_automated_s1_route_is_walked_by_the_system_to_its_result_at_once() {
        let s1 = service_file!("S1-preschool-queue.toml");
        let at = datetime!(2026-03-20 23:30);
        for edition in s1.editions() {
            for channel in &edition.channels {
                let route = Route::for_channel("S1", "v", edition, &channel.id).unwrap().automated();
                let executor = route.steps()[route.step_for(Milestone::Preparation)].clone();
                for decision in [
                    Decision::Grant { result: "queue_notification".into() },
                    Decision::Refuse { grounds: executor.refusal_grounds[0].clone() },
                ] {
                    let filed = file(route.clone(), offices(), APPLICANT, at, kz()).unwrap();
                    let mut a = Application::Filed(filed);
                    for c in [Command::Register(intake()), Command::Decide(decision.clone()), Command::Sign, Command::Issue] {
                        a = a.act(c, Actor::System, at, kz()).unwrap_or_else(|r| panic!("{} {}: {}", edition.variant_name(), channel.id, r.error));
                    }
                    let case = a.case();
                    assert!(case.timings().iter().all(|t| t.completed == Some(at)), "{}", channel.id);
                    assert_eq!(case.timings().len(), route.steps().len());
                    match (&a, &decision) {
                        (Application::Issued(i), Decision::Grant { .. }) => assert_eq!(i.result(), "queue_notification"),
                        (Application::Refused(r), Decision::Refuse { grounds }) => assert_eq!(r.grounds(), grounds),
                        (other, _) => panic!("{}", other.state_name()),
                    }
                }
                let filed = file(route.clone(), offices(), APPLICANT, at, kz()).unwrap();
                let registered = Application::Filed(filed).act(Command::Register(intake()), Actor::System, at, kz()).unwrap();
                let refused = registered.act(Command::Decide(Decision::Refuse { grounds: "no-such-ground".into() }), Actor::System, at, kz());
                assert!(matches!(refused.unwrap_err().error, TransitionError::UnknownGround { .. }));
            }
        }
        // A route people walk is never decided by the system.
        let manual = Route::for_channel("S1", "v", &s1.base, "office").unwrap();
        let filed = file(manual, offices(), APPLICANT, at, kz()).unwrap();
        let registered = Application::Filed(filed).act(Command::Register(intake()), &clerk(), at, kz()).unwrap();
        let grant = Command::Decide(Decision::Grant { result: "queue_notification".into() });
        assert!(matches!(registered.act(grant, Actor::System, at, kz()).unwrap_err().error, TransitionError::OutOfOrder { .. }));
    }

    /// The portal's check of the applicant's EDS comes before registration in every S1 text
    /// that has one (000 R1 §14 condition 2, 003 §13(6)–(7), 004 App. 3 T3 a1, T4 a1): on the
    /// automated route the system refuses there, with no journal number; on no other ground,
    /// and never on a route people walk.
    #[test]
    fn an_automated_s1_portal_route_refuses_an_unconfirmed_signature_before_registration() {
        let s1 = service_file!("S1-preschool-queue.toml");
        let at = datetime!(2026-03-20 23:30);
        let mut portals = 0;
        for edition in s1.editions() {
            for channel in &edition.channels {
                let route = Route::for_channel("S1", "v", edition, &channel.id).unwrap();
                let portal = matches!(channel.kind, crate::regulation::ChannelKind::EgovPortal | crate::regulation::ChannelKind::CityPortal);
                let checks_eds = route.arrival_grounds().iter().any(|g| g == "eds-not-confirmed");
                // At an office the EDS a step checks is the staff member's own (004 App. 3 T2 a2).
                if !portal || !checks_eds {
                    continue;
                }
                portals += 1;
                let automated = route.clone().automated();
                let filed = file(automated.clone(), offices(), APPLICANT, at, kz()).unwrap();
                let refused = Application::Filed(filed.clone())
                    .act(Command::Refuse { grounds: "eds-not-confirmed".into() }, Actor::System, at, kz())
                    .unwrap_or_else(|r| panic!("{} {}: {}", edition.variant_name(), channel.id, r.error));
                match &refused {
                    Application::Refused(r) => {
                        assert_eq!((r.grounds(), r.step(), r.receipt()), ("eds-not-confirmed", 0, None));
                    }
                    other => panic!("{}", other.state_name()),
                }
                let other = Application::Filed(filed).act(Command::Refuse { grounds: "no-such-ground".into() }, Actor::System, at, kz());
                assert!(other.is_err(), "{} {}", edition.variant_name(), channel.id);
                // On the route people walk, the system does not refuse for them.
                let manual = file(route, offices(), APPLICANT, at, kz()).unwrap();
                let refused = Application::Filed(manual).act(Command::Refuse { grounds: "eds-not-confirmed".into() }, Actor::System, at, kz());
                assert!(refused.is_err(), "{} {}", edition.variant_name(), channel.id);
            }
        }
        // 000 R1 (Almaty city), 003 (Almaty city, 2013), 004's portal and ИС Е-Астана.
        assert_eq!(portals, 4);
    }

}
