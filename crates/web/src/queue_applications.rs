//! Every queue registration is an application of service S1 (`catalog/services/S1-preschool-queue.toml`):
//! filed on the registration's channel under the edition of the region and date, performed by the
//! information system alone (`Route::automated`: S1 is rendered fully automated, and the queue's
//! rules are its check) and decided in the transaction that writes the queue entry. Its result is
//! the queue notification with the queue number (004 App. 11, 003 App. 4); a refused registration
//! is the application's motivated refusal, on a ground the executor's step lists.
//!
//! An imported queue (`kezek import queue`) files no applications: those children were
//! registered under the region's previous system, and kezek did not render the service to them.

use kezek_domain::access::{OrganizationKind, Role, UserId};
use kezek_domain::application::{Application, Decision, Milestone, Route};
use kezek_domain::calendar::utc_to_almaty;
use kezek_domain::queue::Channel;
use kezek_domain::regulation::{ChannelKind, DocumentKind, RefusalGround, ResultDocument};
use kezek_store::{AuditRecord, WriteTx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::applications::{
    AutomatedFiling, Filer, QUEUE_SERVICE, automated_filing, decide_automated, file_automated, refuse_automated_on_arrival,
};
use crate::problem::{Motive, Problem};
use crate::queue::{Registration, local_today};
use crate::state::AppState;

/// The grounds a refused registration is recorded on, in order of preference: the Standard's
/// (п. 10 of MES order No. 172; 004's Standard), else the documents' nonconformity, which is how
/// the portal and State Corporation routes of 000 R1 word the executor's refusal.
const REFUSAL_GROUNDS: [&str; 3] = ["standard-p10", "standard-refusal", "documents-nonconforming"];

/// A title in the three languages.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Title {
    pub kk: String,
    pub ru: String,
    pub en: String,
}

/// The document an S1 application issued, as it is kept with the application.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueueDocument {
    /// The registration ticket of 004 App. 11 / the notification of 003 App. 4: the parent and
    /// the child, the date of registration in the journal and the queue number, the issuer.
    QueueNotification {
        title: Title,
        form: Option<String>,
        cites: String,
        queue_number: i64,
        #[serde(with = "time::serde::rfc3339")]
        registered_at: OffsetDateTime,
        /// The Almaty local date of registration, `YYYY-MM-DD`.
        registered_on: String,
        child_name: String,
        applicant_name: String,
        /// The provider whose queue-management system issued it.
        provider_id: i64,
        issued_by: Title,
    },
    /// A refusal on a ground of the definition, with the rule that was broken.
    MotivatedRefusal {
        title: Title,
        cites: String,
        grounds: String,
        motive: Motive,
    },
}

/// An S1 filing of one registration, resolved before anything is written.
pub struct S1Filing {
    pub filing: AutomatedFiling,
    filer: Filer,
    applicant_name: String,
    documents: Vec<String>,
}

fn channel_kind(c: Channel) -> Option<ChannelKind> {
    match c {
        Channel::Portal => Some(ChannelKind::EgovPortal),
        Channel::CityPortal => Some(ChannelKind::CityPortal),
        Channel::StateCorporation => Some(ChannelKind::StateCorporation),
        Channel::ProviderOffice => Some(ChannelKind::ProviderOffice),
        Channel::Import => None,
    }
}

/// Resolves the edition, channel, route and offices of the registration's S1 application and
/// who files it: the applicant on a portal, the operator of their State Corporation office, the
/// staff member of the office they work in the region.
pub async fn prepare(state: &AppState, now: OffsetDateTime, r: &Registration) -> Result<S1Filing, Problem> {
    let kind = channel_kind(r.channel).ok_or_else(Problem::internal)?;
    let filer = match (r.channel, r.accepted_by) {
        (Channel::Portal | Channel::CityPortal, _) | (_, None) => Filer { user: r.applicant, role: Role::Citizen, organization: None },
        (channel, Some(staff)) => {
            let memberships = state.db.memberships(staff).await?;
            let found = memberships.iter().find_map(|m| {
                let o = m.organization.filter(|o| o.region.0 == r.region_id)?;
                let at_office = match channel {
                    Channel::StateCorporation => m.role == Role::Operator && o.kind == OrganizationKind::StateCorporation,
                    _ => m.role != Role::Citizen,
                };
                at_office.then_some((m.role, o.id.0))
            });
            let (role, org) = found.ok_or_else(Problem::forbidden)?;
            Filer { user: staff, role, organization: Some(org) }
        }
    };
    let front_office = (r.channel == Channel::StateCorporation).then_some(filer.organization).flatten();
    let filing = automated_filing(state, QUEUE_SERVICE, r.region_id, kind, local_today(now), front_office).await?;
    let applicant_name = state.db.user(r.applicant).await?.map(|u| u.full_name).unwrap_or_default();
    let mut documents = vec!["application".to_owned()];
    if r.priority.is_some() {
        documents.push("priority-right".to_owned());
    }
    Ok(S1Filing { filing, filer, applicant_name, documents })
}

fn result_of(f: &AutomatedFiling, kind: DocumentKind) -> Option<&ResultDocument> {
    f.results.iter().find(|d| d.kind == kind)
}

fn title_of(doc: Option<&ResultDocument>) -> Title {
    doc.map_or_else(
        || Title { kk: String::new(), ru: String::new(), en: String::new() },
        |d| Title { kk: d.names.kk.clone(), ru: d.names.ru.clone(), en: d.names.en.clone() },
    )
}

/// The ground the executor's step of `route` lists for a refused registration, if it lists one.
pub fn refusal_ground(route: &Route) -> Option<String> {
    let executor = route.steps().iter().find(|s| s.closes >= Milestone::Preparation)?;
    REFUSAL_GROUNDS.iter().find(|g| executor.refusal_grounds.iter().any(|l| l == *g)).map(|g| (*g).to_owned())
}

/// Files the application in the registration's transaction, before the queue entry is written:
/// if the entry cannot be written, the application goes with it.
pub async fn file(tx: &mut WriteTx, state: &AppState, s: &S1Filing, r: &Registration) -> Result<(i64, Application, i64), Problem> {
    file_automated(tx, &state.calendar, &s.filing, r.applicant, &s.filer, r.region_id, s.documents.clone()).await
}

/// Decides the application filed by [`file`] with the queue notification of `entry` and links
/// them, in the same transaction.
pub async fn grant(
    tx: &mut WriteTx,
    state: &AppState,
    s: &S1Filing,
    filed: (i64, Application, i64),
    r: &Registration,
    entry: i64,
    queue_number: i64,
) -> Result<(), Problem> {
    let (id, application, seq) = filed;
    let f = &s.filing;
    let notification = result_of(f, DocumentKind::QueueNotification);
    let decision = Decision::Grant { result: DocumentKind::QueueNotification.as_str().to_owned() };
    decide_automated(tx, &state.calendar, id, f.provider.id, application, seq, decision).await?;
    let at = tx.now();
    let document = QueueDocument::QueueNotification {
        title: title_of(notification),
        form: notification.and_then(|d| d.form.clone()),
        cites: notification.map(|d| d.cites.clone()).unwrap_or_default(),
        queue_number,
        registered_at: at,
        registered_on: utc_to_almaty(at).date().to_string(),
        child_name: r.child_name.trim().to_owned(),
        applicant_name: s.applicant_name.clone(),
        provider_id: f.provider.id,
        issued_by: Title { kk: f.provider.name_kk.clone(), ru: f.provider.name_ru.clone(), en: f.provider.name_en.clone() },
    };
    let text = serde_json::to_string(&document).expect("a queue document serializes");
    tx.insert_queue_application(id, r.region_id, Some(entry), &text).await?;
    tx.audit(AuditRecord {
        action: "application.filed",
        object_type: "application",
        object_id: id.to_string(),
        organization_id: Some(f.provider.id),
        details: json!({ "service": f.service_id, "edition": f.edition, "channel": f.channel, "state": "issued", "entry": entry }),
    })
    .await?;
    Ok(())
}

/// Records a refused registration as its S1 application's motivated refusal, in a transaction of
/// its own (nothing of the registration was written). `None` when the executor's step of the
/// route lists no ground it fits: the refusal is then only answered.
pub async fn refuse(state: &AppState, now: OffsetDateTime, s: &S1Filing, r: &Registration, motive: &Motive) -> Result<Option<i64>, Problem> {
    let f = &s.filing;
    let Some(grounds) = refusal_ground(&f.route) else {
        return Ok(None);
    };
    let mut tx = state.db.begin_write(Some(s.filer.user), now).await?;
    let (id, application, seq) = file(&mut tx, state, s, r).await?;
    let decision = Decision::Refuse { grounds: grounds.clone() };
    decide_automated(&mut tx, &state.calendar, id, f.provider.id, application, seq, decision).await?;
    record_refusal(&mut tx, s, r, id, &grounds, motive).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// The ground the registration's portal channel refuses an unconfirmed applicant's EDS on, if
/// the edition checks the applicant's signature there: the registration must then be signed.
pub fn signature_ground(s: &S1Filing) -> Option<&RefusalGround> {
    s.filing.signature_ground.as_ref()
}

/// Whether a registration on the portal of `region_id` is signed by the applicant: the S1
/// edition in force there on the day checks the applicant's EDS on its portal channel.
pub async fn portal_signs(state: &AppState, region_id: i64, now: OffsetDateTime) -> Result<bool, Problem> {
    let filing = automated_filing(state, QUEUE_SERVICE, region_id, ChannelKind::EgovPortal, local_today(now), None).await?;
    Ok(filing.signature_ground.is_some())
}

/// Records a registration whose signature was not confirmed as its S1 application's motivated
/// refusal on the definition's ground (`eds-not-confirmed`), refused on arrival before
/// registration as the portal's check of the EDS comes first (000 R1 §14 condition 2, 003
/// §13(6)–(7), 004 App. 3 T3 a1), in a transaction of its own. Nothing else is written: no
/// registry was asked, no entry made.
pub async fn refuse_unconfirmed_signature(state: &AppState, now: OffsetDateTime, s: &S1Filing, r: &Registration, motive: &Motive) -> Result<i64, Problem> {
    let ground = signature_ground(s).ok_or_else(Problem::internal)?;
    let f = &s.filing;
    let mut tx = state.db.begin_write(Some(s.filer.user), now).await?;
    let id = refuse_automated_on_arrival(&mut tx, &state.calendar, f, r.applicant, &s.filer, r.region_id, s.documents.clone(), &ground.id).await?;
    record_refusal(&mut tx, s, r, id, &ground.id, motive).await?;
    tx.commit().await?;
    Ok(id)
}

/// Keeps the motivated refusal with the refused application and audits it.
async fn record_refusal(tx: &mut WriteTx, s: &S1Filing, r: &Registration, id: i64, grounds: &str, motive: &Motive) -> Result<(), Problem> {
    let f = &s.filing;
    let refusal = result_of(f, DocumentKind::MotivatedRefusal);
    let document = QueueDocument::MotivatedRefusal {
        title: title_of(refusal),
        cites: refusal.map(|d| d.cites.clone()).unwrap_or_default(),
        grounds: grounds.to_owned(),
        motive: motive.clone(),
    };
    let text = serde_json::to_string(&document).expect("a queue document serializes");
    tx.insert_queue_application(id, r.region_id, None, &text).await?;
    tx.audit(AuditRecord {
        action: "queue.registration_refused",
        object_type: "application",
        object_id: id.to_string(),
        organization_id: Some(f.provider.id),
        details: json!({ "region": r.region_id, "edition": f.edition, "channel": f.channel, "grounds": grounds, "reason": motive.key }),
    })
    .await?;
    Ok(())
}

/// Who filed, for callers that write the registration's own audit entry.
pub fn filer_of(s: &S1Filing) -> UserId {
    s.filer.user
}
