//! The registry checks an application makes before it is accepted (000 R1 §10 processes 2–4,
//! 003 §14): the applicant's consent to use protected personal data is recorded first (002 §10:
//! no consent, no request); a representative's notarised power of attorney is checked in the
//! notary registry; then the person registry confirms the child and the parenthood of the
//! applicant, or of the principal a representative acts for. Every request and answer is
//! recorded by the registry gateway, in its own transaction: a refused or failed registration
//! leaves its consents and registry requests (the record of what was asked) and nothing else.

use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use kezek_domain::access::UserId;
use kezek_domain::identity::Iin;
use kezek_domain::queue::Channel;
use kezek_registries::AttorneyRefusal;
use kezek_registries::configured::ConfiguredRegistry;
use kezek_registries::embedded::EmbeddedRegistry;
use kezek_registries::gateway::{ChildRefusal, GatewayError, RegistryGateway, RequestContext};
use kezek_registries::http::{HttpConfig, HttpRegistry, Monotonic};
use kezek_store::{ConsentChannel, Db};
use time::Date;

use crate::problem::Problem;
use crate::queue::refused;
use crate::state::{AppState, Clock};

/// The gateway to the registries the configuration names (`http` from
/// [`crate::config::RegistryConfig::http`]; `None` is the embedded tables), built once at start.
pub fn gateway(http: Option<HttpConfig>, db: &Db, clock: Arc<dyn Clock>) -> anyhow::Result<RegistryGateway<ConfiguredRegistry>> {
    let registry = match http {
        None => ConfiguredRegistry::Embedded(EmbeddedRegistry::new(db.clone())),
        Some(config) => ConfiguredRegistry::Http(
            HttpRegistry::with_clock(config, Arc::new(BreakerClock(clock.clone())))
                .map_err(|e| anyhow::anyhow!("cannot set up the registry gateway client: {e}"))?,
        ),
    };
    Ok(RegistryGateway::new(db.clone(), registry).with_clock(Arc::new(move || clock.now())))
}

/// The circuit breaker's cool-down runs on the server's clock, so tests move it without sleeping.
struct BreakerClock(Arc<dyn Clock>);

impl Monotonic for BreakerClock {
    fn now(&self) -> Instant {
        self.0.monotonic()
    }
}

/// Who the applicant is to the child, as the registration states it.
#[derive(Debug)]
pub enum Standing {
    /// A parent or guardian: the person registry must record the applicant as such.
    Own,
    /// A representative acting under the notarised power of attorney `number`, given by
    /// `principal` — the child's parent or legal representative (000 R1 §10 process 2).
    Representative { principal: Iin, number: String },
}

fn consent_channel(channel: Channel, actor: UserId) -> ConsentChannel {
    match channel {
        Channel::StateCorporation => ConsentChannel::StateCorporation { operator_user_id: actor.0 },
        Channel::ProviderOffice => ConsentChannel::ProviderOffice,
        Channel::CityPortal => ConsentChannel::CityPortal,
        Channel::Portal | Channel::Import => ConsentChannel::Portal,
    }
}

/// A new reference for one registration's registry checks: its consents and registry requests
/// are recorded under it (their `application_ref`), and the registration's audit entry names it,
/// since the queue entry does not exist yet when the registries are asked.
fn new_check_reference(service: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("{service}-registration-{}", hex::encode(bytes))
}

/// Records the applicant's consent for each of `subjects`, in one audited transaction.
async fn record_consents(
    state: &AppState, service: &str, reference: &str, applicant: &Iin, subjects: &[&Iin], channel: Channel, actor: UserId,
) -> Result<(), Problem> {
    let mut tx = state.db.begin_write(Some(actor), state.clock.now()).await?;
    for subject in subjects {
        kezek_registries::consent::record(&mut tx, &kezek_store::NewConsent {
            subject,
            given_by: applicant,
            channel: consent_channel(channel, actor),
            scope: service,
            application_ref: Some(reference),
        })
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Consent, the power of attorney of a representative, then the person registry's word on the
/// child: a refusal the seeds name, or 503 when a registry cannot be asked (nothing is
/// registered; the applicant tries again). On success, the reference its consents and requests
/// are recorded under.
#[allow(clippy::too_many_arguments)]
pub async fn confirm_child(
    state: &AppState, service: &str, applicant: &Iin, child: &Iin, birth: Date, standing: &Standing, channel: Channel, actor: UserId,
) -> Result<String, Problem> {
    let reference = new_check_reference(service);
    record_consents(state, service, &reference, applicant, &[applicant, child], channel, actor).await?;
    let ctx = RequestContext { applicant, service, application_ref: Some(&reference), actor: Some(actor) };
    let parent = match standing {
        Standing::Own => applicant,
        Standing::Representative { principal, number } => {
            let today = crate::queue::local_today(state.clock.now());
            match state.registries.check_representative(&ctx, principal, number, today).await {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => return Err(attorney_refused(refusal)),
                Err(e) => return Err(not_asked(e)),
            }
            // The verified power is what lets the representative consent for the principal.
            record_consents(state, service, &reference, applicant, &[principal], channel, actor).await?;
            principal
        }
    };
    match state.registries.check_child_of(&ctx, child, birth, parent).await {
        Ok(Ok(_)) => Ok(reference),
        Ok(Err(refusal)) => Err(refused(
            match refusal {
                ChildRefusal::ChildUnknown => "registry-refusal-child-unknown",
                ChildRefusal::BirthDateDiffers => "registry-refusal-birth-date",
                ChildRefusal::ChildDeceased => "registry-refusal-deceased",
                ChildRefusal::NotParent if matches!(standing, Standing::Representative { .. }) => "registry-refusal-principal-not-parent",
                ChildRefusal::NotParent => "registry-refusal-not-parent",
            },
            None,
        )),
        Err(e) => Err(not_asked(e)),
    }
}

/// The refusal for a power of attorney that ЕНИС does not have (`None`: the seeds' "data cannot
/// be obtained", 000 R1 §10 process 4) or that does not let this applicant act.
fn attorney_refused(refusal: Option<AttorneyRefusal>) -> Problem {
    let key = match refusal {
        None => "registry-refusal-poa-unknown",
        Some(AttorneyRefusal::OtherRepresentative) => "registry-refusal-poa-other-representative",
        Some(AttorneyRefusal::OtherPrincipal) => "registry-refusal-poa-other-principal",
        Some(AttorneyRefusal::NotYetValid) => "registry-refusal-poa-not-yet-valid",
        Some(AttorneyRefusal::Expired) => "registry-refusal-poa-expired",
        Some(AttorneyRefusal::Revoked) => "registry-refusal-poa-revoked",
        Some(AttorneyRefusal::OutOfScope) => "registry-refusal-poa-out-of-scope",
    };
    refused(key, None).field("power_of_attorney")
}

/// A registry that could not be asked: 503, nothing registered.
fn not_asked(e: GatewayError) -> Problem {
    match e {
        GatewayError::Registry(e) => {
            tracing::warn!(outcome = e.outcome(), "registration not accepted: a registry could not be asked");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "problem-registry-unavailable")
        }
        GatewayError::NoConsent => {
            tracing::error!("registry asked without the consent just recorded");
            Problem::internal()
        }
        GatewayError::Store(e) => e.into(),
    }
}
