//! The registries answered from this system's own database (tables filled from CSV by
//! [`crate::import`]): for demonstrations, tests, and deployments without a gateway connection.

use kezek_domain::identity::{Bin, Iin};
use kezek_store::{Db, StoreError};

use crate::{
    Entity, EntityRegistry, EntityStatus, NotaryRegistry, Person, PersonRegistry, PowerOfAttorney,
    RegistryError, Relation,
};

/// All three registries, backed by `registry_*` tables.
#[derive(Clone, Debug)]
pub struct EmbeddedRegistry {
    db: Db,
}

impl EmbeddedRegistry {
    pub fn new(db: Db) -> EmbeddedRegistry {
        EmbeddedRegistry { db }
    }
}

/// A database failure is this registry being unavailable; only its kind is kept (no values).
fn unavailable(e: StoreError) -> RegistryError {
    RegistryError::Unavailable(format!("embedded registry database: {}", e.kind()))
}

/// Stored rows are parsed like any registry answer: a bad row is an invalid answer, not a panic.
fn stored_iin(s: &str) -> Result<Iin, RegistryError> {
    Iin::parse(s).map_err(|e| RegistryError::InvalidAnswer(format!("stored IIN: {e}")))
}

impl PersonRegistry for EmbeddedRegistry {
    async fn person(&self, iin: &Iin) -> Result<Person, RegistryError> {
        let row = self
            .db
            .registry_person(iin)
            .await
            .map_err(unavailable)?
            .ok_or(RegistryError::NotFound)?;
        Ok(Person {
            iin: stored_iin(&row.iin)?,
            full_name: row.full_name,
            birth_date: row.birth_date,
            death_date: row.death_date,
        })
    }

    async fn relation(&self, adult: &Iin, child: &Iin) -> Result<Option<Relation>, RegistryError> {
        for who in [adult, child] {
            if self
                .db
                .registry_person(who)
                .await
                .map_err(unavailable)?
                .is_none()
            {
                return Err(RegistryError::NotFound);
            }
        }
        match self
            .db
            .registry_relation(adult, child)
            .await
            .map_err(unavailable)?
        {
            None => Ok(None),
            Some(r) => Relation::parse(&r)
                .map(Some)
                .ok_or_else(|| RegistryError::InvalidAnswer(format!("stored relation {r:?}"))),
        }
    }
}

impl EntityRegistry for EmbeddedRegistry {
    async fn entity(&self, bin: &Bin) -> Result<Entity, RegistryError> {
        let row = self
            .db
            .registry_entity(bin)
            .await
            .map_err(unavailable)?
            .ok_or(RegistryError::NotFound)?;
        let status = EntityStatus::parse(&row.status).ok_or_else(|| {
            RegistryError::InvalidAnswer(format!("stored status {:?}", row.status))
        })?;
        let bin = Bin::parse(&row.bin)
            .map_err(|e| RegistryError::InvalidAnswer(format!("stored BIN: {e}")))?;
        Ok(Entity {
            bin,
            name: row.name,
            status,
        })
    }
}

impl NotaryRegistry for EmbeddedRegistry {
    async fn power_of_attorney(&self, number: &str) -> Result<PowerOfAttorney, RegistryError> {
        let row = self
            .db
            .registry_power_of_attorney(number)
            .await
            .map_err(unavailable)?
            .ok_or(RegistryError::NotFound)?;
        Ok(PowerOfAttorney {
            number: row.number,
            principal_iin: stored_iin(&row.principal_iin)?,
            representative_iin: stored_iin(&row.representative_iin)?,
            scope: row
                .scope
                .split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            revoked_on: row.revoked_on,
        })
    }
}
