//! The registry checks an application makes before it is accepted (000 R1 §10 process 3,
//! 003 §14): the applicant's consent to use protected personal data is recorded first (002 §10:
//! no consent, no request), then the person registry confirms the child and the applicant's
//! parenthood. Every request and answer is recorded by the registry gateway.

use std::sync::Arc;

use axum::http::StatusCode;
use kezek_domain::access::UserId;
use kezek_domain::identity::Iin;
use kezek_domain::queue::Channel;
use kezek_registries::embedded::EmbeddedRegistry;
use kezek_registries::gateway::{ChildRefusal, GatewayError, RegistryGateway, RequestContext};
use kezek_store::ConsentChannel;
use time::Date;

use crate::problem::Problem;
use crate::queue::refused;
use crate::state::AppState;

/// The gateway to the registries the server is configured with (the embedded tables today).
pub fn gateway(state: &AppState) -> RegistryGateway<EmbeddedRegistry> {
    let clock = state.clock.clone();
    RegistryGateway::new(state.db.clone(), EmbeddedRegistry::new(state.db.clone())).with_clock(Arc::new(move || clock.now()))
}

fn consent_channel(channel: Channel, actor: UserId) -> ConsentChannel {
    match channel {
        Channel::StateCorporation => ConsentChannel::StateCorporation { operator_user_id: actor.0 },
        Channel::ProviderOffice => ConsentChannel::ProviderOffice,
        Channel::CityPortal => ConsentChannel::CityPortal,
        Channel::Portal | Channel::Import => ConsentChannel::Portal,
    }
}

/// Records the applicant's consent for themselves and for the child, in one audited transaction.
async fn record_consents(state: &AppState, service: &str, applicant: &Iin, child: &Iin, channel: Channel, actor: UserId) -> Result<(), Problem> {
    let mut tx = state.db.begin_write(Some(actor), state.clock.now()).await?;
    for subject in [applicant, child] {
        kezek_registries::consent::record(&mut tx, &kezek_store::NewConsent {
            subject,
            given_by: applicant,
            channel: consent_channel(channel, actor),
            scope: service,
            application_ref: None,
        })
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Consent, then the person registry's word on the child: a refusal the seeds name, or 503 when
/// the registry cannot be asked (nothing is registered; the applicant tries again).
pub async fn confirm_child(state: &AppState, service: &str, applicant: &Iin, child: &Iin, birth: Date, channel: Channel, actor: UserId) -> Result<(), Problem> {
    record_consents(state, service, applicant, child, channel, actor).await?;
    let ctx = RequestContext { applicant, service, application_ref: None, actor: Some(actor) };
    match gateway(state).check_child(&ctx, child, birth).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(refusal)) => Err(refused(
            match refusal {
                ChildRefusal::ChildUnknown => "registry-refusal-child-unknown",
                ChildRefusal::BirthDateDiffers => "registry-refusal-birth-date",
                ChildRefusal::ChildDeceased => "registry-refusal-deceased",
                ChildRefusal::NotParent => "registry-refusal-not-parent",
            },
            None,
        )),
        Err(GatewayError::Registry(_)) => Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "problem-registry-unavailable")),
        Err(GatewayError::NoConsent) => {
            tracing::error!("registry asked without the consent just recorded");
            Err(Problem::internal())
        }
        Err(GatewayError::Store(e)) => Err(e.into()),
    }
}
