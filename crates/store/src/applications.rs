//! Applications of the regulation-driven services: one row per application with a summary of its
//! state, and its history of commands, from which the step machine rebuilds the state.

use time::OffsetDateTime;

use crate::{Db, Result, StoreError, WriteTx, conflict_as, db_time, on_pool, on_tx};

/// An application as stored. The route is JSON the web layer writes and reads back.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct ApplicationRow {
    pub id: i64,
    pub service_id: String,
    pub edition: String,
    pub version: String,
    pub route: String,
    pub channel: String,
    pub region_id: i64,
    pub provider_id: i64,
    pub front_office_id: Option<i64>,
    pub applicant_user_id: i64,
    pub filed_by: Option<i64>,
    pub filed_at: OffsetDateTime,
    pub state: String,
    pub journal_year: Option<i64>,
    pub journal_no: Option<i64>,
    pub current_step: Option<i64>,
    pub current_due: Option<String>,
    pub overdue_after: Option<OffsetDateTime>,
    pub closed_at: Option<OffsetDateTime>,
    pub result: Option<String>,
    pub grounds: Option<String>,
}

/// One entry of an application's history.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct ApplicationEventRow {
    pub application_id: i64,
    pub seq: i64,
    pub at: OffsetDateTime,
    pub actor_user_id: Option<i64>,
    pub role: String,
    pub organization_id: Option<i64>,
    pub action: String,
    pub payload: String,
}

pub struct NewApplication<'a> {
    pub service_id: &'a str,
    pub edition: &'a str,
    pub version: &'a str,
    pub route: &'a str,
    pub channel: &'a str,
    pub region_id: i64,
    pub provider_id: i64,
    pub front_office_id: Option<i64>,
    pub applicant_user_id: i64,
    pub filed_by: Option<i64>,
}

/// The summary of an application's state after a transition.
pub struct ApplicationState<'a> {
    pub state: &'a str,
    pub journal: Option<(i64, i64)>,
    pub current_step: Option<i64>,
    pub current_due: Option<&'a str>,
    pub overdue_after: Option<OffsetDateTime>,
    pub closed_at: Option<OffsetDateTime>,
    pub result: Option<&'a str>,
    pub grounds: Option<&'a str>,
}

pub struct NewApplicationEvent<'a> {
    pub seq: i64,
    pub actor_user_id: Option<i64>,
    pub role: &'a str,
    pub organization_id: Option<i64>,
    pub action: &'a str,
    pub payload: &'a str,
}

macro_rules! application_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, service_id, edition, version, route, channel, region_id, provider_id, front_office_id, \
             applicant_user_id, filed_by, filed_at, state, journal_year, journal_no, current_step, current_due, \
             overdue_after, closed_at, result, grounds FROM applications ",
            $tail
        )
    };
}

impl Db {
    pub async fn application(&self, id: i64) -> Result<Option<ApplicationRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(application_select!("WHERE id = $1")).bind(id).fetch_optional(p).await)?)
    }

    /// The history of an application, oldest first.
    pub async fn application_events(&self, id: i64) -> Result<Vec<ApplicationEventRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT application_id, seq, at, actor_user_id, role, organization_id, action, payload \
             FROM application_events WHERE application_id = $1 ORDER BY seq")
            .bind(id).fetch_all(p).await)?)
    }

    /// The applications a user filed or had filed for them, newest first.
    pub async fn applications_of_applicant(&self, user: i64) -> Result<Vec<ApplicationRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(application_select!("WHERE applicant_user_id = $1 ORDER BY id DESC")).bind(user).fetch_all(p).await)?)
    }

    /// The applications an organization handles, as provider or as the front office they came
    /// through, oldest first; only the open ones if `open_only`.
    pub async fn applications_of_organization(&self, organization: i64, open_only: bool) -> Result<Vec<ApplicationRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(application_select!(
            "WHERE (provider_id = $1 OR front_office_id = $1) AND (closed_at IS NULL OR $2 = 0) ORDER BY id")).bind(organization).bind(i64::from(open_only)).fetch_all(p).await)?)
    }
}

impl WriteTx {
    /// Adds an application in its first state; its filing is the event with seq 0.
    pub async fn insert_application(&mut self, a: &NewApplication<'_>) -> Result<i64> {
        let now = self.now();
        Ok(on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO applications (service_id, edition, version, route, channel, region_id, provider_id, \
             front_office_id, applicant_user_id, filed_by, filed_at, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'filed') RETURNING id")
            .bind(a.service_id).bind(a.edition).bind(a.version).bind(a.route).bind(a.channel).bind(a.region_id)
            .bind(a.provider_id).bind(a.front_office_id).bind(a.applicant_user_id).bind(a.filed_by).bind(now)
            .fetch_one(c).await)?)
    }

    /// The next number of `provider`'s registration journal in `year`. Audited writes are
    /// serialised by the audit head, so no other transaction takes the same number meanwhile;
    /// the unique index on the journal is the backstop.
    pub async fn next_journal_number(&mut self, provider: i64, year: i64) -> Result<i64> {
        let last: Option<i64> = on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "SELECT MAX(journal_no) FROM applications WHERE provider_id = $1 AND journal_year = $2")
            .bind(provider).bind(year).fetch_one(c).await)?;
        Ok(last.unwrap_or(0) + 1)
    }

    /// Appends an event to an application's history at this transaction's time. A second
    /// event with the same seq (two actions racing on one state) is [`StoreError::Conflict`].
    pub async fn append_application_event(&mut self, application: i64, e: &NewApplicationEvent<'_>) -> Result<()> {
        let now = self.now();
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO application_events (application_id, seq, at, actor_user_id, role, organization_id, action, payload) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(application).bind(e.seq).bind(now).bind(e.actor_user_id).bind(e.role).bind(e.organization_id)
            .bind(e.action).bind(e.payload).execute(c).await.map(|r| r.rows_affected()))
            .map_err(conflict_as("action on this state of the application"))?;
        Ok(())
    }

    /// Records the state an application reached.
    pub async fn set_application_state(&mut self, application: i64, s: &ApplicationState<'_>) -> Result<()> {
        let (year, no) = s.journal.unzip();
        let changed = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE applications SET state = $2, journal_year = COALESCE($3, journal_year), journal_no = COALESCE($4, journal_no), \
             current_step = $5, current_due = $6, overdue_after = $7, closed_at = $8, result = $9, grounds = $10 WHERE id = $1")
            .bind(application).bind(s.state).bind(year).bind(no).bind(s.current_step).bind(s.current_due)
            .bind(s.overdue_after.map(db_time)).bind(s.closed_at.map(db_time)).bind(s.result).bind(s.grounds)
            .execute(c).await.map(|r| r.rows_affected()))
            .map_err(conflict_as("journal number"))?;
        if changed == 0 {
            return Err(StoreError::NotFound("application"));
        }
        Ok(())
    }
}

/// The link between an S1 application and the queue entry it put in the queue (none when the
/// registration was refused), with the document it issued as JSON.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct QueueApplicationRow {
    pub application_id: i64,
    pub region_id: i64,
    pub entry_id: Option<i64>,
    pub document: String,
}

impl Db {
    pub async fn queue_application(&self, application: i64) -> Result<Option<QueueApplicationRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT application_id, region_id, entry_id, document FROM queue_applications WHERE application_id = $1")
            .bind(application).fetch_optional(p).await)?)
    }

    /// The application that registered a queue entry; `None` for an imported entry.
    pub async fn queue_application_of_entry(&self, entry: i64) -> Result<Option<QueueApplicationRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT application_id, region_id, entry_id, document FROM queue_applications WHERE entry_id = $1")
            .bind(entry).fetch_optional(p).await)?)
    }
}

impl WriteTx {
    /// Links an S1 application to its queue entry (or to none, for a refusal) with the document
    /// it issued.
    pub async fn insert_queue_application(&mut self, application: i64, region: i64, entry: Option<i64>, document: &str) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO queue_applications (application_id, region_id, entry_id, document) VALUES ($1, $2, $3, $4)")
            .bind(application).bind(region).bind(entry).bind(document).execute(c).await.map(|r| r.rows_affected()))
            .map_err(conflict_as("queue entry's application"))?;
        Ok(())
    }
}
