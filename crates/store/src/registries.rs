//! The embedded state registries (persons with their parent-child links, legal entities, notarised
//! powers of attorney), the consents to use protected personal data, and the log of registry
//! requests. Rows hold personal data (IINs, names): their `Debug` masks it.

use kezek_domain::identity::{Bin, Iin};
use time::{Date, OffsetDateTime};

use crate::{Db, Result, WriteTx, conflict_as, on_pool, on_tx};

/// A person as the embedded person registry keeps them.
#[derive(Clone, sqlx::FromRow)]
pub struct RegistryPersonRow {
    pub iin: String,
    pub full_name: String,
    pub birth_date: Date,
    pub death_date: Option<Date>,
}

impl std::fmt::Debug for RegistryPersonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryPersonRow")
            .field("dead", &self.death_date.is_some())
            .finish_non_exhaustive()
    }
}

pub struct NewRegistryPerson<'a> {
    pub iin: &'a Iin,
    pub full_name: &'a str,
    pub birth_date: Date,
    pub death_date: Option<Date>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RegistryEntityRow {
    pub bin: String,
    pub name: String,
    pub status: String,
}

#[derive(Clone, sqlx::FromRow)]
pub struct PowerOfAttorneyRow {
    pub number: String,
    pub principal_iin: String,
    pub representative_iin: String,
    pub scope: String,
    pub valid_from: Date,
    pub valid_until: Date,
    pub revoked_on: Option<Date>,
}

impl std::fmt::Debug for PowerOfAttorneyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerOfAttorneyRow")
            .field("number", &self.number)
            .field("scope", &self.scope)
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .field("revoked_on", &self.revoked_on)
            .finish_non_exhaustive()
    }
}

pub struct NewPowerOfAttorney<'a> {
    pub number: &'a str,
    pub principal: &'a Iin,
    pub representative: &'a Iin,
    /// Service ids separated by `;`.
    pub scope: &'a str,
    pub valid_from: Date,
    pub valid_until: Date,
    pub revoked_on: Option<Date>,
}

/// Where a consent was given (the channels of the seeds' flows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentChannel {
    ProviderOffice,
    /// 000 R1 §12, 002 §10: the State Corporation's operator takes the consent.
    StateCorporation {
        operator_user_id: i64,
    },
    Portal,
    CityPortal,
}

impl ConsentChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProviderOffice => "provider_office",
            Self::StateCorporation { .. } => "state_corporation",
            Self::Portal => "portal",
            Self::CityPortal => "city_portal",
        }
    }

    fn operator(self) -> Option<i64> {
        match self {
            Self::StateCorporation { operator_user_id } => Some(operator_user_id),
            _ => None,
        }
    }
}

pub struct NewConsent<'a> {
    /// Whose protected data may be used.
    pub subject: &'a Iin,
    /// Who consented: the subject, or a parent or representative on their behalf.
    pub given_by: &'a Iin,
    pub channel: ConsentChannel,
    /// The purpose: the id of the service the data are used for.
    pub scope: &'a str,
    pub application_ref: Option<&'a str>,
}

#[derive(Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub id: i64,
    pub subject_iin: String,
    pub given_by_iin: String,
    pub channel: String,
    pub operator_user_id: Option<i64>,
    pub scope: String,
    pub application_ref: Option<String>,
    pub given_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for ConsentRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentRow")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("operator_user_id", &self.operator_user_id)
            .field("scope", &self.scope)
            .field("given_at", &self.given_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// One registry request and its answer, as the application records it.
pub struct NewRegistryRequest<'a> {
    /// `person`, `entity` or `notary`.
    pub registry: &'a str,
    pub operation: &'a str,
    pub query: &'a str,
    pub query_masked: &'a str,
    pub subject: &'a Iin,
    pub consent_id: i64,
    pub application_ref: Option<&'a str>,
    pub asked_at: OffsetDateTime,
    pub answered_at: OffsetDateTime,
    /// `answered`, `not_found`, `unavailable`, `timeout`, `circuit_open` or `invalid_answer`.
    pub outcome: &'a str,
    pub answer_digest: Option<&'a str>,
}

#[derive(Clone, sqlx::FromRow)]
pub struct RegistryRequestRow {
    pub id: i64,
    pub registry: String,
    pub operation: String,
    pub query: String,
    pub query_masked: String,
    pub subject_iin: String,
    pub consent_id: i64,
    pub application_ref: Option<String>,
    pub actor_user_id: Option<i64>,
    pub asked_at: OffsetDateTime,
    pub answered_at: OffsetDateTime,
    pub outcome: String,
    pub answer_digest: Option<String>,
}

impl std::fmt::Debug for RegistryRequestRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryRequestRow")
            .field("id", &self.id)
            .field("registry", &self.registry)
            .field("operation", &self.operation)
            .field("query_masked", &self.query_masked)
            .field("outcome", &self.outcome)
            .field("answer_digest", &self.answer_digest)
            .finish_non_exhaustive()
    }
}

/// How many rows each embedded registry holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistryCounts {
    pub persons: i64,
    pub links: i64,
    pub entities: i64,
    pub powers_of_attorney: i64,
}

const REQUEST_COLUMNS: &str = "id, registry, operation, query, query_masked, subject_iin, consent_id, \
     application_ref, actor_user_id, asked_at, answered_at, outcome, answer_digest";

impl Db {
    pub async fn registry_person(&self, iin: &Iin) -> Result<Option<RegistryPersonRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT iin, full_name, birth_date, death_date FROM registry_persons WHERE iin = $1")
            .bind(iin.as_string()).fetch_optional(p).await)?)
    }

    /// The relation (`parent` or `legal_representative`) of `adult` to `child`, if any.
    pub async fn registry_relation(&self, adult: &Iin, child: &Iin) -> Result<Option<String>> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT relation FROM registry_person_links WHERE adult_iin = $1 AND child_iin = $2")
            .bind(adult.as_string()).bind(child.as_string()).fetch_optional(p).await)?)
    }

    pub async fn registry_entity(&self, bin: &Bin) -> Result<Option<RegistryEntityRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT bin, name, status FROM registry_entities WHERE bin = $1")
            .bind(bin.as_string()).fetch_optional(p).await)?)
    }

    pub async fn registry_power_of_attorney(
        &self,
        number: &str,
    ) -> Result<Option<PowerOfAttorneyRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT number, principal_iin, representative_iin, scope, valid_from, valid_until, revoked_on \
             FROM registry_powers_of_attorney WHERE number = $1")
            .bind(number).fetch_optional(p).await)?)
    }

    pub async fn registry_counts(&self) -> Result<RegistryCounts> {
        let count = |table: &'static str| async move {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let n: i64 = on_pool!(self, p => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(p).await)?;
            Result::<i64>::Ok(n)
        };
        Ok(RegistryCounts {
            persons: count("registry_persons").await?,
            links: count("registry_person_links").await?,
            entities: count("registry_entities").await?,
            powers_of_attorney: count("registry_powers_of_attorney").await?,
        })
    }

    /// The newest unrevoked consent of `subject` for `scope`.
    pub async fn active_consent(&self, subject: &Iin, scope: &str) -> Result<Option<ConsentRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, subject_iin, given_by_iin, channel, operator_user_id, scope, application_ref, given_at, revoked_at \
             FROM consents WHERE subject_iin = $1 AND scope = $2 AND revoked_at IS NULL ORDER BY id DESC LIMIT 1")
            .bind(subject.as_string()).bind(scope).fetch_optional(p).await)?)
    }

    pub async fn consents_of(&self, subject: &Iin) -> Result<Vec<ConsentRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, subject_iin, given_by_iin, channel, operator_user_id, scope, application_ref, given_at, revoked_at \
             FROM consents WHERE subject_iin = $1 ORDER BY id")
            .bind(subject.as_string()).fetch_all(p).await)?)
    }

    /// The registry requests made for one application, oldest first.
    pub async fn registry_requests_of(
        &self,
        application_ref: &str,
    ) -> Result<Vec<RegistryRequestRow>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM registry_requests WHERE application_ref = $1 ORDER BY id"
        );
        Ok(
            on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(application_ref).fetch_all(p).await)?,
        )
    }

    /// The registry requests made about one subject, oldest first.
    pub async fn registry_requests_about(&self, subject: &Iin) -> Result<Vec<RegistryRequestRow>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM registry_requests WHERE subject_iin = $1 ORDER BY id"
        );
        Ok(
            on_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(subject.as_string()).fetch_all(p).await)?,
        )
    }

    pub async fn registry_request_count(&self) -> Result<i64> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM registry_requests").fetch_one(p).await)?,
        )
    }
}

impl WriteTx {
    /// Adds or replaces a person of the embedded person registry.
    pub async fn upsert_registry_person(&mut self, person: &NewRegistryPerson<'_>) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO registry_persons (iin, full_name, birth_date, death_date) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (iin) DO UPDATE SET full_name = excluded.full_name, birth_date = excluded.birth_date, \
             death_date = excluded.death_date")
            .bind(person.iin.as_string()).bind(person.full_name).bind(person.birth_date).bind(person.death_date)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Removes the recorded parents and representatives of `child`, before its links are replaced.
    pub async fn clear_registry_links_of(&mut self, child: &Iin) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query("DELETE FROM registry_person_links WHERE child_iin = $1")
            .bind(child.as_string()).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records that `adult` is a `parent` or `legal_representative` of `child`.
    pub async fn insert_registry_link(
        &mut self,
        adult: &Iin,
        child: &Iin,
        relation: &str,
    ) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO registry_person_links (adult_iin, child_iin, relation) VALUES ($1, $2, $3)")
            .bind(adult.as_string()).bind(child.as_string()).bind(relation)
            .execute(c).await.map(|r| r.rows_affected()))
            .map_err(conflict_as("parent-child link"))?;
        Ok(())
    }

    pub async fn upsert_registry_entity(
        &mut self,
        bin: &Bin,
        name: &str,
        status: &str,
    ) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO registry_entities (bin, name, status) VALUES ($1, $2, $3) \
             ON CONFLICT (bin) DO UPDATE SET name = excluded.name, status = excluded.status")
            .bind(bin.as_string()).bind(name).bind(status).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn upsert_power_of_attorney(&mut self, poa: &NewPowerOfAttorney<'_>) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO registry_powers_of_attorney (number, principal_iin, representative_iin, scope, valid_from, \
             valid_until, revoked_on) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (number) DO UPDATE SET principal_iin = excluded.principal_iin, \
             representative_iin = excluded.representative_iin, scope = excluded.scope, \
             valid_from = excluded.valid_from, valid_until = excluded.valid_until, revoked_on = excluded.revoked_on")
            .bind(poa.number).bind(poa.principal.as_string()).bind(poa.representative.as_string()).bind(poa.scope)
            .bind(poa.valid_from).bind(poa.valid_until).bind(poa.revoked_on)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records a consent given now; returns its id.
    pub async fn insert_consent(&mut self, consent: &NewConsent<'_>) -> Result<i64> {
        let now = self.now();
        Ok(on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO consents (subject_iin, given_by_iin, channel, operator_user_id, scope, application_ref, given_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
            .bind(consent.subject.as_string()).bind(consent.given_by.as_string()).bind(consent.channel.as_str())
            .bind(consent.channel.operator()).bind(consent.scope).bind(consent.application_ref).bind(now)
            .fetch_one(c).await)?)
    }

    /// Revokes a consent now; returns whether an unrevoked one was there.
    pub async fn revoke_consent(&mut self, id: i64) -> Result<bool> {
        let now = self.now();
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE consents SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Records one registry request and its answer; returns its id. The actor is the
    /// transaction's.
    pub async fn insert_registry_request(&mut self, r: &NewRegistryRequest<'_>) -> Result<i64> {
        let actor = self.actor().map(|u| u.0);
        Ok(on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO registry_requests (registry, operation, query, query_masked, subject_iin, consent_id, \
             application_ref, actor_user_id, asked_at, answered_at, outcome, answer_digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id")
            .bind(r.registry).bind(r.operation).bind(r.query).bind(r.query_masked).bind(r.subject.as_string())
            .bind(r.consent_id).bind(r.application_ref).bind(actor).bind(crate::db_time(r.asked_at))
            .bind(crate::db_time(r.answered_at)).bind(r.outcome).bind(r.answer_digest)
            .fetch_one(c).await)?)
    }
}
