//! The validated, resolved form of a service definition: what the rest of kezek reads.

use serde::Serialize;
use time::Date;

use crate::access::Role;
pub use crate::application::Milestone;
use crate::duration::Term;

/// Defines a closed vocabulary of snake_case names used in definition files.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// The regions whose regulations the seeds hold.
    Region {
        AlmatyCity => "almaty_city",
        AlmatyRegion => "almaty_region",
        Astana => "astana",
    }
}

vocabulary! {
    /// Where an application is filed and its result handed over.
    ChannelKind {
        /// The provider's own office (канцелярия; in 004 the МИО front office).
        ProviderOffice => "provider_office",
        /// The State Corporation "Government for Citizens" (before 2016: ЦОН / ХҚКО).
        StateCorporation => "state_corporation",
        /// The national e-gov portal (www.egov.kz / ПЭП / ЭҮП).
        EgovPortal => "egov_portal",
        /// A city's own portal (004: ИС Е-Астана, www.e.astana.kz).
        CityPortal => "city_portal",
    }
}

vocabulary! {
    /// Kinds of document a service issues, as a result or on the way to it.
    DocumentKind {
        Referral => "referral",
        QueueNotification => "queue_notification",
        Certificate => "certificate",
        Order => "order",
        Decision => "decision",
        Contract => "contract",
        Conclusion => "conclusion",
        Enrolment => "enrolment",
        Recommendation => "recommendation",
        Notification => "notification",
        Receipt => "receipt",
        RefusalReceipt => "refusal_receipt",
        MotivatedRefusal => "motivated_refusal",
    }
}

vocabulary! {
    /// Service-level maximums the regulations set besides the step terms (001 R13 §6, 003 §7).
    LimitKind {
        Total => "total",
        MaxWait => "max_wait",
        MaxService => "max_service",
        MaxResultWait => "max_result_wait",
    }
}

vocabulary! {
    /// How far the regulation says the service is automated (§2 of each regulation; 004 §3).
    Automation {
        Full => "full",
        Partial => "partial",
        Paper => "paper",
    }
}

/// Who performs a step: a staff or citizen role, or an information system acting on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Performer {
    Role(Role),
    System,
}

impl Performer {
    pub fn parse(s: &str) -> Option<Self> {
        if s == "system" {
            Some(Performer::System)
        } else {
            Role::parse(s).map(Performer::Role)
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Performer::Role(r) => r.as_str(),
            Performer::System => "system",
        }
    }

    /// Every name a definition file may use, for error messages.
    pub fn names() -> Vec<&'static str> {
        let mut v: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        v.push("system");
        v
    }
}

/// A name in the three languages kezek serves (Kazakh, Russian, English).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct Names {
    pub kk: String,
    pub ru: String,
    pub en: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct LegalBasis {
    /// The Standard of the service (ministerial order or government decree).
    pub standard: Option<String>,
    pub acts: Vec<String>,
}

/// A seed text (file code like `000`), the regulation in it, and the clauses encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    pub seed: String,
    pub part: Option<String>,
    pub clauses: String,
}

/// The legal status of an edition as the digest records it; all seed texts are repealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct Status {
    pub act: String,
    pub adopted_on: Option<Date>,
    pub registered_on: Option<Date>,
    pub edition: Option<String>,
    pub repealed_on: Option<Date>,
    pub repealed_by: Option<String>,
}

impl Status {
    /// Whether the edition applies on `day`: from its registration (or adoption) up to, not
    /// including, the date of the repealing act. The exact entry into force depended on
    /// publication dates the seeds do not give, so this is the closest the data allows.
    pub fn applies_on(&self, day: Date) -> bool {
        let from = self.registered_on.or(self.adopted_on);
        from.is_none_or(|f| f <= day) && self.repealed_on.is_none_or(|r| day < r)
    }
}

/// A required document. The seeds point to п. 9 of a Standard they do not contain, so most
/// lists are defaults marked as such (see [`Documents::default`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Document {
    pub id: String,
    pub names: Names,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct Documents {
    /// True when the list is not from the seeds but a default standing in for a Standard.
    pub default: bool,
    pub source: Option<String>,
    pub required: Vec<Document>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusalGround {
    pub id: String,
    pub names: Names,
    /// True when the ground stands in for п. 10 of a Standard that is not in the seeds.
    pub default: bool,
    pub source: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResultDocument {
    pub kind: DocumentKind,
    pub names: Names,
    pub form: Option<String>,
    pub cites: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Limit {
    pub kind: LimitKind,
    pub term: Term,
    pub cites: String,
}

/// One step of a channel's path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub id: String,
    pub performer: Performer,
    pub action: String,
    /// None where the seed gives the step no term (portal processes, GC-B intake).
    pub duration: Option<Term>,
    /// Ids of the refusal grounds this step may refuse on; empty if it cannot refuse.
    pub may_refuse: Vec<String>,
    pub issues: Vec<DocumentKind>,
    pub output: Option<String>,
    /// The milestone of the application's life (002 §6 order) this step reaches, where the
    /// definition says; applications use it to know which step a transition closes.
    #[serde(serialize_with = "milestone_name")]
    pub closes: Option<Milestone>,
    pub cites: String,
    pub note: Option<String>,
    /// Line of the step in its definition file, for messages about it.
    pub line: usize,
}

impl Step {
    pub fn may_refuse(&self) -> bool {
        !self.may_refuse.is_empty()
    }
}

fn milestone_name<S: serde::Serializer>(m: &Option<Milestone>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.serialize_some(m.as_str()),
        None => s.serialize_none(),
    }
}

/// A channel with its full, ordered step list (procedures already inserted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Channel {
    pub id: String,
    pub kind: ChannelKind,
    pub cites: Option<String>,
    pub steps: Vec<Step>,
}

/// One edition of a service in one region, with every variant override applied: what an
/// application of that region follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edition {
    /// `None` for the base edition, else the variant's id.
    pub variant: Option<String>,
    pub region: Region,
    pub names: Names,
    pub provider: Names,
    pub free_of_charge: Option<bool>,
    pub automation: Option<Automation>,
    pub legal_basis: LegalBasis,
    pub sources: Vec<Source>,
    pub status: Status,
    pub documents: Documents,
    pub refusal_grounds: Vec<RefusalGround>,
    pub results: Vec<ResultDocument>,
    pub limits: Vec<Limit>,
    pub channels: Vec<Channel>,
}

impl Edition {
    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    pub fn channel_of_kind(&self, kind: ChannelKind) -> Option<&Channel> {
        self.channels.iter().find(|c| c.kind == kind)
    }

    /// The edition's name of the variant, `base` for the base edition.
    pub fn variant_name(&self) -> &str {
        self.variant.as_deref().unwrap_or("base")
    }
}

/// A whole definition file: the service and all its editions, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceDefinition {
    pub file: String,
    pub id: String,
    pub slug: String,
    pub base: Edition,
    pub variants: Vec<Edition>,
}

impl ServiceDefinition {
    /// The base edition followed by every variant.
    pub fn editions(&self) -> impl Iterator<Item = &Edition> {
        std::iter::once(&self.base).chain(self.variants.iter())
    }

    /// The edition named `variant` (`base` or a variant id).
    pub fn edition(&self, variant: &str) -> Option<&Edition> {
        self.editions().find(|e| e.variant_name() == variant)
    }

    /// The edition an application in `region` follows: the one that applies on `on` if a date
    /// is given, else the region's most recent one (latest adoption).
    pub fn edition_for(&self, region: Region, on: Option<Date>) -> Option<&Edition> {
        let mut candidates = self.editions().filter(|e| e.region == region);
        match on {
            Some(day) => candidates.find(|e| e.status.applies_on(day)),
            None => candidates.max_by_key(|e| e.status.adopted_on.or(e.status.registered_on)),
        }
    }
}

/// A service the seeds only name (title and repeal footnote, no procedure).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedOnlyService {
    pub id: String,
    pub region: Region,
    /// Kazakh is empty where the seeds give only a Russian title.
    pub names: Names,
    pub source: Source,
    pub status: Status,
    pub note: Option<String>,
    pub line: usize,
}
