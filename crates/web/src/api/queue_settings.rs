//! A region's queue settings: what its regional administrator chooses (the referral term, what
//! happens to a child's entry after a declined or lapsed referral, how many kindergartens a
//! family may list, the norms of places per group, the time of the daily round) and anyone may
//! read. The age bands and the ranking come from the regulation and are shown, not changed.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kezek_domain::access::{Action, RegionId, authorize};
use kezek_domain::duration::{DurationUnit, Term};
use kezek_domain::queue::{self as rules, EntryPolicy, GroupNorms, RoundTime, SettingsError};
use kezek_store::AuditRecord;
use kezek_store::queue::{QueueSettingsRow, QueueSettingsUpdate};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::ApiJson;
use crate::auth::ApiUser;
use crate::i18n::current_lang;
use crate::messages;
use crate::problem::{Problem, ProblemBody};
use crate::queue::settings_of;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReferralTerm {
    pub amount: u32,
    /// `working_days`, `calendar_days` or `months`.
    pub unit: String,
}

/// The settings as read.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueSettingsView {
    pub region_id: i64,
    /// Age bands as `min-max` (full years on 1 September); from the regulation.
    pub bands: Vec<String>,
    /// The ranking criteria in order; from the regulation.
    pub ranking: String,
    #[serde(flatten)]
    pub chosen: QueueSettingsChoice,
}

/// What the regional administrator chooses.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueSettingsChoice {
    /// How many kindergartens a family may list (1–20).
    pub max_preferences: usize,
    /// How long a referral stays open (004 App. 10: one month; 003 App. 3: five working days).
    pub referral_term: ReferralTerm,
    /// After a declined referral: `keep_waiting` or `remove`.
    pub on_decline: String,
    /// After a lapsed referral: `keep_waiting` or `remove`.
    pub on_expiry: String,
    /// Places per group below which a declared group is shown to the auditor, by age band.
    pub group_norms: BTreeMap<String, u32>,
    /// `HH:MM`, Almaty time: a round starts by itself at this time on each working day; none
    /// when the administrator starts rounds by hand.
    pub round_time: Option<String>,
}

fn view_of(row: &QueueSettingsRow) -> Result<QueueSettingsView, Problem> {
    let settings = settings_of(row)?;
    Ok(QueueSettingsView {
        region_id: row.region_id,
        bands: settings.bands.iter().map(|b| b.name().to_owned()).collect(),
        ranking: row.ranking.clone(),
        chosen: QueueSettingsChoice {
            max_preferences: settings.max_preferences,
            referral_term: ReferralTerm { amount: settings.referral_term.amount, unit: settings.referral_term.unit.as_str().to_owned() },
            on_decline: row.on_decline.clone(),
            on_expiry: row.on_expiry.clone(),
            group_norms: GroupNorms::parse(&row.group_norms).iter().map(|(b, n)| (b.to_owned(), n)).collect(),
            round_time: row.round_time.clone(),
        },
    })
}

/// A region's queue settings.
#[utoipa::path(get, path = "/api/v1/regions/{id}/queue-settings", tag = "queue", params(("id" = i64, Path)),
    responses((status = 200, body = QueueSettingsView), (status = 404, body = ProblemBody)))]
pub async fn get_settings(State(state): State<AppState>, Path(region): Path<i64>) -> Result<Json<QueueSettingsView>, Problem> {
    let row = state.db.queue_settings(region).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(view_of(&row)?))
}

/// Changes what the region's administrator chooses; audited with the settings before and after.
#[utoipa::path(put, path = "/api/v1/regions/{id}/queue-settings", tag = "queue", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = QueueSettingsChoice,
    responses((status = 200, body = QueueSettingsView), (status = 403, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(region): Path<i64>,
    ApiJson(choice): ApiJson<QueueSettingsChoice>,
) -> Result<Json<QueueSettingsView>, Problem> {
    authorize(&me.principal, Action::ManageQueue(RegionId(region))).map_err(|_| Problem::forbidden())?;
    let before = state.db.queue_settings(region).await?.ok_or_else(Problem::not_found)?;
    let checked = check(&choice, &settings_of(&before)?.bands)?;
    let mut tx = state.db.begin_write(Some(me.user_id()), state.clock.now()).await?;
    tx.update_queue_settings(region, &QueueSettingsUpdate {
        max_preferences: checked.max_preferences as i64,
        referral_term_amount: i64::from(checked.term.amount),
        referral_term_unit: checked.term.unit.as_str(),
        on_decline: checked.on_decline.as_str(),
        on_expiry: checked.on_expiry.as_str(),
        group_norms: &checked.norms.to_text(),
        round_time: checked.round_time.map(|t| t.to_string()).as_deref(),
    })
    .await?;
    let previous = view_of(&before)?;
    tx.audit(AuditRecord {
        action: "queue.settings_changed",
        object_type: "region",
        object_id: region.to_string(),
        organization_id: None,
        details: json!({ "before": previous.chosen, "after": choice_of(&checked) }),
    })
    .await?;
    tx.commit().await?;
    let after = state.db.queue_settings(region).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(view_of(&after)?))
}

/// A choice that passed [`check`].
struct Checked {
    max_preferences: usize,
    term: Term,
    on_decline: EntryPolicy,
    on_expiry: EntryPolicy,
    norms: GroupNorms,
    round_time: Option<RoundTime>,
}

fn choice_of(c: &Checked) -> QueueSettingsChoice {
    QueueSettingsChoice {
        max_preferences: c.max_preferences,
        referral_term: ReferralTerm { amount: c.term.amount, unit: c.term.unit.as_str().to_owned() },
        on_decline: c.on_decline.as_str().to_owned(),
        on_expiry: c.on_expiry.as_str().to_owned(),
        group_norms: c.norms.iter().map(|(b, n)| (b.to_owned(), n)).collect(),
        round_time: c.round_time.map(|t| t.to_string()),
    }
}

/// Parses and bounds every choice; the first wrong one is a 422 naming its field.
fn check(c: &QueueSettingsChoice, bands: &[kezek_domain::allocation::Band]) -> Result<Checked, Problem> {
    if !(1..=rules::MAX_PREFERENCES_LIMIT).contains(&c.max_preferences) {
        return Err(invalid("max_preferences", &SettingsError::PreferencesOutOfRange));
    }
    let unit = DurationUnit::parse(&c.referral_term.unit).ok_or_else(|| invalid("referral_term", &SettingsError::TermUnit))?;
    let term = rules::check_referral_term(Term { amount: c.referral_term.amount, unit }).map_err(|e| invalid("referral_term", &e))?;
    let policy = |field: &'static str, text: &str| EntryPolicy::parse(text).ok_or_else(|| invalid(field, &SettingsError::Policy));
    let on_decline = policy("on_decline", &c.on_decline)?;
    let on_expiry = policy("on_expiry", &c.on_expiry)?;
    let norms = GroupNorms::new(c.group_norms.iter().map(|(b, n)| (b.clone(), *n)).collect(), bands).map_err(|e| invalid("group_norms", &e))?;
    let round_time = c.round_time.as_deref().filter(|t| !t.trim().is_empty()).map(RoundTime::parse).transpose().map_err(|e| invalid("round_time", &e))?;
    Ok(Checked { max_preferences: c.max_preferences, term, on_decline, on_expiry, norms, round_time })
}

/// The settings error as a 422 in the requester's language.
fn invalid(field: &'static str, e: &SettingsError) -> Problem {
    let (key, args): (&str, Vec<(&str, String)>) = match e {
        SettingsError::UnknownBand(band) => ("settings-unknown-band", vec![("band", band.clone())]),
        SettingsError::NormOutOfRange { band } => ("settings-norm-out-of-range", vec![("band", band.clone()), ("max", rules::MAX_GROUP_NORM.to_string())]),
        SettingsError::TermUnit => ("settings-term-unit", vec![]),
        SettingsError::TermOutOfRange { max } => ("settings-term-out-of-range", vec![("max", max.to_string())]),
        SettingsError::PreferencesOutOfRange => ("settings-preferences-out-of-range", vec![("max", rules::MAX_PREFERENCES_LIMIT.to_string())]),
        SettingsError::BadRoundTime => ("settings-bad-round-time", vec![]),
        SettingsError::Policy => ("settings-policy", vec![]),
    };
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-settings-invalid")
        .arg("reason", messages().get(current_lang(), key, &args))
        .field(field)
}
