//! The one way application code asks a registry: consent first, then the request, then its
//! record. See the crate docs for why the record has its own transaction.

use std::sync::Arc;

use kezek_domain::access::UserId;
use kezek_domain::identity::{Bin, Iin};
use kezek_store::{AuditRecord, Db, NewRegistryRequest, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

use crate::{
    AttorneyRefusal, Entity, EntityRegistry, NotaryRegistry, Person, PersonRegistry,
    PowerOfAttorney, RegistryError, Relation,
};

/// On whose application, for which service and by whom a registry is asked.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext<'a> {
    /// The applicant: their consent is needed for every request.
    pub applicant: &'a Iin,
    /// The id of the service (`S1`, …): consents are given for a service.
    pub service: &'a str,
    /// The application the request belongs to, when there is one yet.
    pub application_ref: Option<&'a str>,
    /// The staff member or citizen on whose action the request is made.
    pub actor: Option<UserId>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A person the request is about has no recorded, unrevoked consent for this service
    /// (002 §10): nothing was sent.
    #[error(
        "no recorded consent to use the protected personal data of a person this request is about"
    )]
    NoConsent,
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The request could not be recorded; its answer is not given out.
    #[error("the registry request could not be recorded: {0}")]
    Store(#[from] StoreError),
}

/// The current time, injected so tests fix it.
pub type WallClock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// Asks `R` on behalf of applications, under the consent rule, recording everything.
#[derive(Clone)]
pub struct RegistryGateway<R> {
    registry: R,
    db: Db,
    clock: WallClock,
}

/// The SHA-256 (hex) of the canonical JSON of an answer, as recorded in `registry_requests`.
/// "No such record" is the JSON `null`.
pub fn answer_digest<T: Serialize>(answer: Option<&T>) -> String {
    let json =
        serde_json::to_vec(&answer).expect("registry answers are plain data and always serialise");
    hex::encode(Sha256::digest(&json))
}

/// Why a child may not be registered by this applicant on the registry's word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChildRefusal {
    /// 000 R1 §10 condition 1: the person registry has no such child ("невозможность получения данных").
    #[error("the person registry has no data on the child")]
    ChildUnknown,
    #[error("the birth date differs from the person registry's")]
    BirthDateDiffers,
    #[error("the person registry records the child as deceased")]
    ChildDeceased,
    #[error(
        "the person registry does not record the applicant (or the principal they represent) as the child's parent or legal representative"
    )]
    NotParent,
}

impl<R: std::fmt::Debug> std::fmt::Debug for RegistryGateway<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryGateway")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<R> RegistryGateway<R> {
    pub fn new(db: Db, registry: R) -> RegistryGateway<R> {
        RegistryGateway {
            registry,
            db,
            clock: Arc::new(OffsetDateTime::now_utc),
        }
    }

    pub fn with_clock(mut self, clock: WallClock) -> RegistryGateway<R> {
        self.clock = clock;
        self
    }

    pub fn registry(&self) -> &R {
        &self.registry
    }

    /// The applicant's consent id, after checking that every person the request is about has
    /// an unrevoked consent for this service.
    async fn consent(&self, ctx: &RequestContext<'_>, about: &[&Iin]) -> Result<i64, GatewayError> {
        let applicant = self
            .db
            .active_consent(ctx.applicant, ctx.service)
            .await?
            .ok_or(GatewayError::NoConsent)?;
        for person in about {
            if *person != ctx.applicant
                && self.db.active_consent(person, ctx.service).await?.is_none()
            {
                return Err(GatewayError::NoConsent);
            }
        }
        Ok(applicant.id)
    }

    /// Records the request and its outcome in its own audited transaction.
    #[allow(clippy::too_many_arguments)]
    async fn record<T: Serialize>(
        &self,
        ctx: &RequestContext<'_>,
        (registry, operation): (&str, &str),
        query: &str,
        query_masked: &str,
        consent_id: i64,
        asked_at: OffsetDateTime,
        result: &Result<T, RegistryError>,
    ) -> Result<(), GatewayError> {
        let answered_at = (self.clock)();
        let (outcome, digest) = match result {
            Ok(answer) => ("answered", Some(answer_digest(Some(answer)))),
            Err(RegistryError::NotFound) => ("not_found", Some(answer_digest::<T>(None))),
            Err(e) => (e.outcome(), None),
        };
        let mut tx = self.db.begin_write(ctx.actor, answered_at).await?;
        let id = tx
            .insert_registry_request(&NewRegistryRequest {
                registry,
                operation,
                query,
                query_masked,
                subject: ctx.applicant,
                consent_id,
                application_ref: ctx.application_ref,
                asked_at,
                answered_at,
                outcome,
                answer_digest: digest.as_deref(),
            })
            .await?;
        tx.audit(AuditRecord {
            action: "registry.requested",
            object_type: "registry_request",
            object_id: id.to_string(),
            organization_id: None,
            details: serde_json::json!({ "registry": registry, "operation": operation, "outcome": outcome }),
        })
        .await?;
        tx.commit().await?;
        tracing::info!(
            registry,
            operation,
            query = query_masked,
            outcome,
            request_id = id,
            "registry request recorded"
        );
        Ok(())
    }

    /// `request` is called only once consent is established, so a refused request never
    /// reaches the registry, not even to build its message.
    async fn ask<T: Serialize, F: Future<Output = Result<T, RegistryError>>>(
        &self,
        ctx: &RequestContext<'_>,
        what: (&str, &str),
        (query, masked): (String, String),
        about: &[&Iin],
        request: impl FnOnce() -> F,
    ) -> Result<T, GatewayError> {
        let consent_id = match self.consent(ctx, about).await {
            Ok(id) => id,
            Err(e) => {
                tracing::info!(registry = what.0, operation = what.1, query = %masked, "registry request refused: no consent");
                return Err(e);
            }
        };
        let asked_at = (self.clock)();
        let result = request().await;
        self.record(ctx, what, &query, &masked, consent_id, asked_at, &result)
            .await?;
        Ok(result?)
    }
}

impl<R: PersonRegistry> RegistryGateway<R> {
    /// ГБД ФЛ: the person with this IIN.
    pub async fn person(
        &self,
        ctx: &RequestContext<'_>,
        iin: &Iin,
    ) -> Result<Person, GatewayError> {
        self.ask(
            ctx,
            ("person", "person"),
            (iin.as_string(), iin.masked()),
            &[iin],
            || self.registry.person(iin),
        )
        .await
    }

    /// ГБД ФЛ: how `adult` stands to `child`.
    pub async fn relation(
        &self,
        ctx: &RequestContext<'_>,
        adult: &Iin,
        child: &Iin,
    ) -> Result<Option<Relation>, GatewayError> {
        self.ask(
            ctx,
            ("person", "relation"),
            (
                format!("{} {}", adult.as_string(), child.as_string()),
                format!("{} {}", adult.masked(), child.masked()),
            ),
            &[adult, child],
            || self.registry.relation(adult, child),
        )
        .await
    }

    /// The checks the registration of a child makes in the person registry (000 R1 §10
    /// process 3, condition 1; 003 §14): the child is known, born on `birth_date`, alive, and
    /// the applicant is their parent or legal representative. `Ok(Err(_))` is a refusal the
    /// applicant is told; `Err(_)` means the registry could not be asked.
    pub async fn check_child(
        &self,
        ctx: &RequestContext<'_>,
        child: &Iin,
        birth_date: Date,
    ) -> Result<Result<Relation, ChildRefusal>, GatewayError> {
        self.check_child_of(ctx, child, birth_date, ctx.applicant)
            .await
    }

    /// [`Self::check_child`] with the parenthood asked of `adult` instead of the applicant: the
    /// principal of a representative's power of attorney, whose consent must be recorded.
    pub async fn check_child_of(
        &self,
        ctx: &RequestContext<'_>,
        child: &Iin,
        birth_date: Date,
        adult: &Iin,
    ) -> Result<Result<Relation, ChildRefusal>, GatewayError> {
        let person = match self.person(ctx, child).await {
            Ok(p) => p,
            Err(GatewayError::Registry(RegistryError::NotFound)) => {
                return Ok(Err(ChildRefusal::ChildUnknown));
            }
            Err(e) => return Err(e),
        };
        if person.birth_date != birth_date {
            return Ok(Err(ChildRefusal::BirthDateDiffers));
        }
        if person.death_date.is_some() {
            return Ok(Err(ChildRefusal::ChildDeceased));
        }
        match self.relation(ctx, adult, child).await {
            Ok(Some(r)) => Ok(Ok(r)),
            Ok(None) | Err(GatewayError::Registry(RegistryError::NotFound)) => {
                Ok(Err(ChildRefusal::NotParent))
            }
            Err(e) => Err(e),
        }
    }
}

impl<R: EntityRegistry> RegistryGateway<R> {
    /// ГБД ЮЛ: the legal entity with this BIN.
    pub async fn entity(
        &self,
        ctx: &RequestContext<'_>,
        bin: &Bin,
    ) -> Result<Entity, GatewayError> {
        self.ask(
            ctx,
            ("entity", "entity"),
            (bin.as_string(), bin.as_string()),
            &[],
            || self.registry.entity(bin),
        )
        .await
    }
}

impl<R: NotaryRegistry> RegistryGateway<R> {
    /// ЕНИС: the power of attorney with this number.
    pub async fn power_of_attorney(
        &self,
        ctx: &RequestContext<'_>,
        number: &str,
    ) -> Result<PowerOfAttorney, GatewayError> {
        self.ask(
            ctx,
            ("notary", "power_of_attorney"),
            (number.to_owned(), number.to_owned()),
            &[],
            || self.registry.power_of_attorney(number),
        )
        .await
    }

    /// Whether the applicant may act for `principal` in this service on the day `on`, by the
    /// notarised power of attorney `number` (000 §10 process 2, 002 §10). `Ok(Err(None))` means
    /// ЕНИС has no such power ("невозможность получения данных").
    pub async fn check_representative(
        &self,
        ctx: &RequestContext<'_>,
        principal: &Iin,
        number: &str,
        on: Date,
    ) -> Result<Result<(), Option<AttorneyRefusal>>, GatewayError> {
        match self.power_of_attorney(ctx, number).await {
            Ok(poa) => Ok(poa
                .authorises(principal, ctx.applicant, ctx.service, on)
                .map_err(Some)),
            Err(GatewayError::Registry(RegistryError::NotFound)) => Ok(Err(None)),
            Err(e) => Err(e),
        }
    }
}
