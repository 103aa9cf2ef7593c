//! State registries behind the e-government gateway (ШЭП): the person registry (ГБД ФЛ), the
//! legal-entity registry (ГБД ЮЛ) and the notary registry (ЕНИС), and the consent rule that every
//! request obeys (002 §10, 000 R1 §12).
//!
//! # Layers
//!
//! - The traits [`PersonRegistry`], [`EntityRegistry`] and [`NotaryRegistry`] answer in typed
//!   values ([`Person`], [`Entity`], [`PowerOfAttorney`]) or a typed [`RegistryError`] that keeps
//!   "the registry says there is no such record" ([`RegistryError::NotFound`]) apart from "we
//!   could not ask" (unavailable, timeout, circuit open, invalid answer).
//! - [`embedded::EmbeddedRegistry`] answers from the database tables filled by
//!   `kezek import registry person|entity|notary FILE.csv` ([`import`]).
//! - [`http::HttpRegistry`] asks a gateway over HTTP/JSON, with a timeout per attempt, bounded
//!   retries with exponential backoff, and a circuit breaker. A SOAP adapter for the real ШЭП
//!   (signed with XMLDSig and a GOST key) is out of scope; this adapter talks to a bridge that
//!   speaks the JSON of `docs/registry-gateway.md`.
//! - [`consent`] records consents (and their revocation) in the caller's transaction.
//! - [`configured::ConfiguredRegistry`] is whichever of the two a deployment is configured with.
//! - [`gateway::RegistryGateway`] wraps either one; application code calls registries only
//!   through it. It refuses to ask about a person without a recorded, unrevoked consent
//!   ([`gateway::GatewayError::NoConsent`]) and records every request and its answer in
//!   `registry_requests`.
//!
//! # Where requests are recorded, and why not in the caller's transaction
//!
//! The gateway records each request in **its own audited write transaction, opened after the
//! answer arrived**. An audited write takes the audit chain's head first, which serialises all
//! writes of the system; holding it across a registry call (up to timeout × attempts plus
//! backoff) would stall every other write while the gateway is slow. So the call runs outside
//! any transaction, and its record (the key asked, the masked key, when asked and answered, the
//! outcome, the SHA-256 of the answer's canonical JSON, the consent used, the application) is
//! committed right after, together with its audit entry. Failed calls (timeout, unavailable,
//! circuit open) are recorded too. If the record cannot be written the caller gets the store
//! error and never the answer: no answer is used without its record.
//!
//! # The HTTP/JSON protocol
//!
//! The gateway's contract (paths, JSON bodies, statuses, and how the adapter treats each) is
//! `docs/registry-gateway.md`; [`http`] implements it and its tests run against stub servers.

use std::future::Future;

use kezek_domain::identity::{Bin, Iin};
use serde::{Deserialize, Serialize};
use time::Date;

pub mod configured;
pub mod consent;
pub mod csv;
pub mod demo;
pub mod embedded;
pub mod gateway;
pub mod http;
pub mod import;

/// A person as the person registry (ГБД ФЛ) knows them. Personal data: `Debug` is masked.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub iin: Iin,
    pub full_name: String,
    #[serde(with = "iso_date")]
    pub birth_date: Date,
    #[serde(with = "iso_date::option", default)]
    pub death_date: Option<Date>,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("iin", &self.iin)
            .field("dead", &self.death_date.is_some())
            .finish_non_exhaustive()
    }
}

/// How an adult stands to a child in the person registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Parent,
    /// A guardian, curator or other legal representative.
    LegalRepresentative,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parent => "parent",
            Self::LegalRepresentative => "legal_representative",
        }
    }

    pub fn parse(s: &str) -> Option<Relation> {
        match s {
            "parent" => Some(Self::Parent),
            "legal_representative" => Some(Self::LegalRepresentative),
            _ => None,
        }
    }
}

/// The registration status of a legal entity in ГБД ЮЛ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityStatus {
    Active,
    Suspended,
    Liquidated,
}

impl EntityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Liquidated => "liquidated",
        }
    }

    pub fn parse(s: &str) -> Option<EntityStatus> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "liquidated" => Some(Self::Liquidated),
            _ => None,
        }
    }
}

/// A legal entity as ГБД ЮЛ knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub bin: Bin,
    pub name: String,
    pub status: EntityStatus,
}

/// A notarised power of attorney as ЕНИС knows it. Personal data: `Debug` is masked.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerOfAttorney {
    pub number: String,
    pub principal_iin: Iin,
    pub representative_iin: Iin,
    /// The ids of the services the representative may apply for.
    pub scope: Vec<String>,
    #[serde(with = "iso_date")]
    pub valid_from: Date,
    #[serde(with = "iso_date")]
    pub valid_until: Date,
    #[serde(with = "iso_date::option", default)]
    pub revoked_on: Option<Date>,
}

impl std::fmt::Debug for PowerOfAttorney {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerOfAttorney")
            .field("number", &self.number)
            .field("principal_iin", &self.principal_iin)
            .field("representative_iin", &self.representative_iin)
            .field("scope", &self.scope)
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .field("revoked_on", &self.revoked_on)
            .finish()
    }
}

/// Why a power of attorney does not let a representative act (000 §10 process 2, 002 §10:
/// a representative acts only on a notarised power of attorney).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttorneyRefusal {
    #[error("the power of attorney was issued to another representative")]
    OtherRepresentative,
    #[error("the power of attorney was given by another principal")]
    OtherPrincipal,
    #[error("the power of attorney is not valid yet")]
    NotYetValid,
    #[error("the power of attorney has expired")]
    Expired,
    #[error("the power of attorney has been revoked")]
    Revoked,
    #[error("the power of attorney does not cover this service")]
    OutOfScope,
}

impl PowerOfAttorney {
    /// Whether this power lets `representative` apply for `service` on behalf of `principal`
    /// on the day `on`. The validity bounds are inclusive; a revocation takes effect on its day.
    pub fn authorises(
        &self,
        principal: &Iin,
        representative: &Iin,
        service: &str,
        on: Date,
    ) -> Result<(), AttorneyRefusal> {
        if &self.representative_iin != representative {
            return Err(AttorneyRefusal::OtherRepresentative);
        }
        if &self.principal_iin != principal {
            return Err(AttorneyRefusal::OtherPrincipal);
        }
        if self.revoked_on.is_some_and(|r| r <= on) {
            return Err(AttorneyRefusal::Revoked);
        }
        if on < self.valid_from {
            return Err(AttorneyRefusal::NotYetValid);
        }
        if on > self.valid_until {
            return Err(AttorneyRefusal::Expired);
        }
        if !self.scope.iter().any(|s| s == service) {
            return Err(AttorneyRefusal::OutOfScope);
        }
        Ok(())
    }
}

/// Why a registry gave no answer. Messages carry no personal data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered that it has no such record (the seeds' "невозможность получения
    /// данных" when a person or a power of attorney is absent).
    #[error("the registry has no such record")]
    NotFound,
    /// The registry or the gateway could not be reached or failed (after the retries).
    #[error("the registry is unavailable: {0}")]
    Unavailable(String),
    /// No answer within the time allowed (after the retries).
    #[error("the registry did not answer in time")]
    Timeout,
    /// Recent requests kept failing; no request is sent until the cool-down has passed.
    #[error("the registry is failing; requests are paused for a while")]
    CircuitOpen,
    /// The registry answered something this system cannot read.
    #[error("the registry's answer could not be read: {0}")]
    InvalidAnswer(String),
}

impl RegistryError {
    /// The outcome name recorded in `registry_requests`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unavailable(_) => "unavailable",
            Self::Timeout => "timeout",
            Self::CircuitOpen => "circuit_open",
            Self::InvalidAnswer(_) => "invalid_answer",
        }
    }
}

/// ГБД ФЛ: persons by IIN and the parent-child links between them.
pub trait PersonRegistry: Send + Sync {
    fn person(&self, iin: &Iin) -> impl Future<Output = Result<Person, RegistryError>> + Send;

    /// How `adult` stands to `child`: `Ok(None)` when both are known and unrelated,
    /// [`RegistryError::NotFound`] when either is unknown.
    fn relation(
        &self,
        adult: &Iin,
        child: &Iin,
    ) -> impl Future<Output = Result<Option<Relation>, RegistryError>> + Send;
}

/// ГБД ЮЛ: legal entities by BIN.
pub trait EntityRegistry: Send + Sync {
    fn entity(&self, bin: &Bin) -> impl Future<Output = Result<Entity, RegistryError>> + Send;
}

/// ЕНИС: notarised powers of attorney by number.
pub trait NotaryRegistry: Send + Sync {
    fn power_of_attorney(
        &self,
        number: &str,
    ) -> impl Future<Output = Result<PowerOfAttorney, RegistryError>> + Send;
}

/// `YYYY-MM-DD` dates in JSON, as the gateway and the CSV files write them.
pub(crate) mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::macros::format_description;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]");

    pub fn parse(s: &str) -> Result<Date, time::error::Parse> {
        Date::parse(s.trim(), FORMAT)
    }

    pub fn format(d: Date) -> String {
        d.format(FORMAT).expect("a calendar date always formats")
    }

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_str(&format(*d)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
            let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
            s.map(|s| parse(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

pub use iso_date::parse as parse_date;

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_domain::identity::{Sex, iin_for};
    use time::macros::date;

    fn iin(serial: u16) -> Iin {
        (serial..)
            .find_map(|s| iin_for(date!(1990 - 01 - 01), Sex::Female, s))
            .expect("a serial with a check digit")
    }

    fn poa() -> PowerOfAttorney {
        PowerOfAttorney {
            number: "1".into(),
            principal_iin: iin(10),
            representative_iin: iin(20),
            scope: vec!["S1".into(), "S2".into()],
            valid_from: date!(2026 - 01 - 01),
            valid_until: date!(2026 - 12 - 31),
            revoked_on: None,
        }
    }

    #[test]
    fn power_of_attorney_is_valid_on_both_ends_of_its_term() {
        let p = poa();
        assert_eq!(
            p.authorises(
                &p.principal_iin,
                &p.representative_iin,
                "S1",
                date!(2026 - 01 - 01)
            ),
            Ok(())
        );
        assert_eq!(
            p.authorises(
                &p.principal_iin,
                &p.representative_iin,
                "S2",
                date!(2026 - 12 - 31)
            ),
            Ok(())
        );
        assert_eq!(
            p.authorises(
                &p.principal_iin,
                &p.representative_iin,
                "S1",
                date!(2027 - 01 - 01)
            ),
            Err(AttorneyRefusal::Expired)
        );
        assert_eq!(
            p.authorises(
                &p.principal_iin,
                &p.representative_iin,
                "S1",
                date!(2025 - 12 - 31)
            ),
            Err(AttorneyRefusal::NotYetValid)
        );
    }

    #[test]
    fn revocation_takes_effect_on_its_day_and_scope_and_parties_are_checked() {
        let mut p = poa();
        p.revoked_on = Some(date!(2026 - 06 - 01));
        assert_eq!(
            p.authorises(
                &p.principal_iin,
                &p.representative_iin,
                "S1",
                date!(2026 - 05 - 31)
            ),
            Ok(())
        );
        assert_eq!(
            p.authorises(
                &p.principal_iin,
                &p.representative_iin,
                "S1",
                date!(2026 - 06 - 01)
            ),
            Err(AttorneyRefusal::Revoked)
        );
        let p = poa();
        let on = date!(2026 - 03 - 01);
        assert_eq!(
            p.authorises(&p.principal_iin, &p.representative_iin, "S3", on),
            Err(AttorneyRefusal::OutOfScope)
        );
        assert_eq!(
            p.authorises(&p.principal_iin, &p.principal_iin, "S1", on),
            Err(AttorneyRefusal::OtherRepresentative)
        );
        assert_eq!(
            p.authorises(&iin(30), &p.representative_iin, "S1", on),
            Err(AttorneyRefusal::OtherPrincipal)
        );
    }

    #[test]
    fn answers_round_trip_through_the_gateway_json() {
        let p = Person {
            iin: iin(1),
            full_name: "Ахметова Гүлнар".into(),
            birth_date: date!(1990 - 01 - 01),
            death_date: None,
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"birth_date\":\"1990-01-01\""), "{json}");
        assert_eq!(serde_json::from_str::<Person>(&json).unwrap(), p);
        let mut a = poa();
        a.revoked_on = Some(date!(2026 - 02 - 02));
        assert_eq!(
            serde_json::from_str::<PowerOfAttorney>(&serde_json::to_string(&a).unwrap()).unwrap(),
            a
        );
        assert!(
            serde_json::from_str::<Person>(
                r#"{"iin":"123","full_name":"x","birth_date":"1990-01-01"}"#
            )
            .is_err()
        );
    }
}
