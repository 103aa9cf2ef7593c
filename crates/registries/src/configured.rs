//! The registries a deployment is configured with: the embedded tables, or a gateway over
//! HTTP. One type for both, so the server builds its [`crate::gateway::RegistryGateway`] once at
//! start and holds it (with the HTTP adapter's circuit breaker) for every request.

use kezek_domain::identity::{Bin, Iin};

use crate::embedded::EmbeddedRegistry;
use crate::http::HttpRegistry;
use crate::{
    Entity, EntityRegistry, NotaryRegistry, Person, PersonRegistry, PowerOfAttorney, RegistryError,
    Relation,
};

/// The person, legal-entity and notary registries, all answered by the same source.
#[derive(Clone, Debug)]
pub enum ConfiguredRegistry {
    /// The `registry_*` tables of this system's database (the default; demo data).
    Embedded(EmbeddedRegistry),
    /// A gateway speaking the JSON protocol of `docs/registry-gateway.md`.
    Http(HttpRegistry),
}

impl ConfiguredRegistry {
    /// `embedded` or `http`, for the start-up banner and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Embedded(_) => "embedded",
            Self::Http(_) => "http",
        }
    }
}

impl PersonRegistry for ConfiguredRegistry {
    async fn person(&self, iin: &Iin) -> Result<Person, RegistryError> {
        match self {
            Self::Embedded(r) => r.person(iin).await,
            Self::Http(r) => r.person(iin).await,
        }
    }

    async fn relation(&self, adult: &Iin, child: &Iin) -> Result<Option<Relation>, RegistryError> {
        match self {
            Self::Embedded(r) => r.relation(adult, child).await,
            Self::Http(r) => r.relation(adult, child).await,
        }
    }
}

impl EntityRegistry for ConfiguredRegistry {
    async fn entity(&self, bin: &Bin) -> Result<Entity, RegistryError> {
        match self {
            Self::Embedded(r) => r.entity(bin).await,
            Self::Http(r) => r.entity(bin).await,
        }
    }
}

impl NotaryRegistry for ConfiguredRegistry {
    async fn power_of_attorney(&self, number: &str) -> Result<PowerOfAttorney, RegistryError> {
        match self {
            Self::Embedded(r) => r.power_of_attorney(number).await,
            Self::Http(r) => r.power_of_attorney(number).await,
        }
    }
}
