//! The kindergarten queue's tables: settings, categories, registrations, claims, rounds,
//! referrals, enrolments and the per-region queue log.

use kezek_domain::queue::QueueLogContent;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::{Db, Result, StoreError, WriteTx, conflict_as, db_time, on_pool, on_tx};

pub const GENESIS: &str = kezek_domain::audit::GENESIS_HASH;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueSettingsRow {
    pub region_id: i64,
    pub max_preferences: i64,
    pub bands: String,
    pub ranking: String,
    pub referral_term_amount: i64,
    pub referral_term_unit: String,
    pub on_decline: String,
    pub on_expiry: String,
    /// `band:places,...`: below these a declared group is shown to the auditor.
    pub group_norms: String,
    /// `HH:MM` Almaty time of the daily round on working days; none when rounds start by hand.
    pub round_time: Option<String>,
}

/// What a regional administrator changes of the region's queue settings (the bands and the
/// ranking come from the regulation and are not among them).
#[derive(Debug, Clone)]
pub struct QueueSettingsUpdate<'a> {
    pub max_preferences: i64,
    pub referral_term_amount: i64,
    pub referral_term_unit: &'a str,
    pub on_decline: &'a str,
    pub on_expiry: &'a str,
    pub group_norms: &'a str,
    pub round_time: Option<&'a str>,
}

#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct CategoryRow {
    pub id: i64,
    pub region_id: i64,
    pub code: String,
    pub class: i64,
    pub name_kk: String,
    pub name_ru: String,
    pub name_en: String,
    pub evidence: String,
    pub clause: String,
    /// A confirmation names the right's last day.
    pub expires: bool,
}

/// A registration. `child_iin` and `child_name` are personal data.
#[derive(Clone, sqlx::FromRow)]
pub struct EntryRow {
    pub id: i64,
    pub region_id: i64,
    pub registration_no: i64,
    pub registered_at: OffsetDateTime,
    pub child_iin: String,
    pub child_birth_date: Date,
    pub child_name: String,
    pub applicant_user_id: i64,
    pub applicant_relation: String,
    pub language: String,
    pub desired_start: Date,
    pub channel: String,
    pub sibling_kindergarten_id: Option<i64>,
    pub status: String,
    pub status_reason: String,
    pub log_salt: String,
}

impl std::fmt::Debug for EntryRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryRow").field("id", &self.id).field("status", &self.status).finish_non_exhaustive()
    }
}

pub struct NewEntry<'a> {
    pub region_id: i64,
    pub child_iin: &'a str,
    pub child_birth_date: Date,
    pub child_name: &'a str,
    pub applicant_user_id: i64,
    pub applicant_relation: &'a str,
    pub language: &'a str,
    pub desired_start: Date,
    pub channel: &'a str,
    pub accepted_by: Option<i64>,
    pub sibling_kindergarten_id: Option<i64>,
    pub log_salt: &'a str,
    /// Kept from an imported queue; `None` takes the next number and the transaction's time.
    pub original: Option<(i64, OffsetDateTime)>,
}

#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct ClaimRow {
    pub id: i64,
    pub entry_id: i64,
    pub category_id: i64,
    pub status: String,
    pub evidence_kind: String,
    pub evidence_ref: String,
    pub submitted_at: OffsetDateTime,
    pub decided_by: Option<i64>,
    pub decided_at: Option<OffsetDateTime>,
    pub expires_on: Option<Date>,
    pub reason: String,
}

/// A claim as its reviewers list it: with the registration's number and child, the category,
/// and the name of whoever decided it. `child_name` is personal data.
#[derive(Clone, sqlx::FromRow)]
pub struct ClaimReviewRow {
    #[sqlx(flatten)]
    pub claim: ClaimRow,
    pub registration_no: i64,
    pub child_name: String,
    pub child_birth_date: Date,
    pub decided_by_name: Option<String>,
}

impl std::fmt::Debug for ClaimReviewRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimReviewRow").field("id", &self.claim.id).field("status", &self.claim.status).finish_non_exhaustive()
    }
}

/// What a position read's cached index is checked against: the region's queue-log head, the
/// version of its groups' places and its settings, read in one query.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueVersionRow {
    /// The queue-log head's sequence number (0 before the first event).
    pub seq: i64,
    /// Moved by a trigger on every change of the region's kindergarten groups.
    pub places_version: i64,
    #[sqlx(flatten)]
    pub settings: QueueSettingsRow,
}

/// A registration as the position index keeps it: what authorizes a read and places the child.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PositionEntryRow {
    pub id: i64,
    pub applicant_user_id: i64,
    pub status: String,
    pub registration_no: i64,
    pub registered_at: OffsetDateTime,
    pub child_birth_date: Date,
    pub language: String,
    pub desired_start: Date,
    pub sibling_kindergarten_id: Option<i64>,
    /// With the salt, the child's reference in the queue log (which names no one otherwise).
    pub child_iin: String,
    pub log_salt: String,
    /// The highest class of the child's confirmed, unexpired claims (0 without one, and for a
    /// child who is not waiting).
    pub priority: i64,
    #[sqlx(try_from = "String")]
    pub preferences: RankedKindergartens,
}

/// The select of [`PositionEntryRow`]s on day `$2` whose registrations meet `$where` (which
/// names the region `$1`).
macro_rules! position_entries_sql {
    ($where:literal) => {
        concat!(
            "SELECT e.id, e.applicant_user_id, e.status, e.registration_no, e.registered_at, e.child_birth_date, e.language, \
             e.desired_start, e.sibling_kindergarten_id, e.child_iin, e.log_salt, \
             CASE WHEN e.status = 'waiting' THEN COALESCE((SELECT MAX(c.class) FROM priority_claims pc \
                 JOIN priority_categories c ON c.id = pc.category_id WHERE pc.entry_id = e.id AND pc.status = 'confirmed' \
                 AND (pc.expires_on IS NULL OR pc.expires_on >= $2)), 0) ELSE 0 END AS priority, ",
            ranked_preferences_column!(),
            " FROM queue_entries e WHERE ",
            $where,
            " ORDER BY e.id"
        )
    };
}

/// A waiting child as a round or a position read needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitingRow {
    pub id: i64,
    pub registration_no: i64,
    pub registered_at: OffsetDateTime,
    pub child_birth_date: Date,
    pub language: String,
    pub sibling_kindergarten_id: Option<i64>,
    /// The highest class of the child's confirmed, unexpired claims (0 without one).
    pub priority: i64,
    #[sqlx(try_from = "String")]
    pub preferences: RankedKindergartens,
}

/// A registration's preferred kindergartens in rank order. Read as one column (ids joined by
/// commas) rather than a row each: through SQLite's worker thread every row costs a hand-over,
/// and a region's preferences are four times as many rows as its registrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RankedKindergartens(pub Vec<i64>);

impl TryFrom<String> for RankedKindergartens {
    type Error = std::num::ParseIntError;

    fn try_from(joined: String) -> std::result::Result<Self, Self::Error> {
        joined.split(',').filter(|s| !s.is_empty()).map(str::parse).collect::<std::result::Result<_, _>>().map(RankedKindergartens)
    }
}

/// The column `preferences` of registration `e`: its kindergartens in rank order, joined by
/// commas (`string_agg` with ORDER BY: PostgreSQL, and SQLite from 3.44).
macro_rules! ranked_preferences_column {
    () => {
        "COALESCE((SELECT string_agg(CAST(p.kindergarten_id AS TEXT), ',' ORDER BY p.rank) \
         FROM queue_preferences p WHERE p.entry_id = e.id), '') AS preferences"
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FreeGroupRow {
    pub id: i64,
    pub organization_id: i64,
    pub age_band: String,
    pub language: String,
    pub capacity: i64,
    pub enrolled: i64,
    pub held: i64,
}

impl FreeGroupRow {
    pub fn free(&self) -> i64 {
        (self.capacity - self.enrolled - self.held).max(0)
    }
}

#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct ReferralRow {
    pub id: i64,
    pub round_id: Option<i64>,
    pub entry_id: i64,
    pub group_id: i64,
    pub issued_at: OffsetDateTime,
    pub expires_on: Date,
    pub status: String,
    pub reason: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoundRow {
    pub id: i64,
    pub region_id: i64,
    pub started_by: Option<i64>,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub reference_date: Date,
    pub engine_version: String,
    pub ranking: String,
    pub input_digest: String,
    pub children: i64,
    pub groups_count: i64,
    pub free_places: i64,
    pub assigned: i64,
    pub proposals: i64,
    pub instance_meta: String,
    pub instance_kindergartens: String,
    pub instance_groups: String,
    pub instance_children: String,
}

pub struct NewRound<'a> {
    pub region_id: i64,
    pub started_at: OffsetDateTime,
    pub reference_date: Date,
    pub engine_version: &'a str,
    pub ranking: &'a str,
    pub input_digest: &'a str,
    pub children: i64,
    pub groups: i64,
    pub free_places: i64,
    pub assigned: i64,
    pub proposals: i64,
    pub meta: &'a str,
    pub kindergartens: &'a str,
    pub group_rows: &'a str,
    pub child_rows: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct QueueLogRow {
    pub region_id: i64,
    pub seq: i64,
    pub at: OffsetDateTime,
    pub kind: String,
    pub child_ref: Option<String>,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

impl QueueLogRow {
    pub fn content(&self) -> Result<QueueLogContent> {
        Ok(QueueLogContent {
            region_id: self.region_id,
            seq: self.seq,
            at: db_time(self.at).format(&Rfc3339).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            kind: self.kind.clone(),
            child_ref: self.child_ref.clone(),
            payload: self.payload.clone(),
        })
    }
}


/// Most values bound in one multi-row statement on PostgreSQL (its limit is 65,535).
const MAX_BINDS: usize = 30_000;

/// Most values bound in one multi-row statement on SQLite, whose round statements use anonymous
/// `?` placeholders: with `$N` SQLite looks each name up among those seen so far, so an UPDATE
/// of 30,000 `$N` ids takes 2.8 s to parse, against 0.25 s with `?`.
const MAX_BINDS_SQLITE: usize = 30_000;

fn max_binds(tx: &crate::Tx) -> usize {
    match tx {
        crate::Tx::Sqlite(_) => MAX_BINDS_SQLITE,
        crate::Tx::Postgres(_) => MAX_BINDS,
    }
}

/// The rows of a multi-row statement: `rows` times `row` applied to the placeholders of that
/// row's `per_row` values, numbered after the `shared` ones.
fn rows_sql(rows: usize, shared: usize, per_row: usize, row: impl Fn(&[String]) -> String) -> String {
    let mut out = String::with_capacity(rows * (per_row * 8 + 4));
    let mut v = Vec::with_capacity(per_row);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        v.clear();
        v.extend((0..per_row).map(|c| format!("${}", shared + r * per_row + c + 1)));
        out.push_str(&row(&v));
    }
    out
}

/// Like [`rows_sql`] without shared values, with anonymous `?` placeholders on SQLite (whose
/// parser looks each `$N` up among the names seen so far) and `$N` on PostgreSQL.
fn batch_rows_sql(tx: &crate::Tx, rows: usize, per_row: usize, row: impl Fn(&[String]) -> String) -> String {
    match tx {
        crate::Tx::Sqlite(_) => {
            let v = vec!["?".to_owned(); per_row];
            let one = row(&v);
            let mut out = String::with_capacity(rows * (one.len() + 2));
            for r in 0..rows {
                if r > 0 {
                    out.push_str(", ");
                }
                out.push_str(&one);
            }
            out
        }
        crate::Tx::Postgres(_) => rows_sql(rows, 0, per_row, row),
    }
}

/// A queue-log event to append: `payload` is compact JSON without personal data.
pub struct NewQueueEvent<'a> {
    pub kind: &'a str,
    pub child_ref: Option<String>,
    pub payload: String,
}

macro_rules! entry_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, region_id, registration_no, registered_at, child_iin, child_birth_date, child_name, \
             applicant_user_id, applicant_relation, language, desired_start, channel, sibling_kindergarten_id, \
             status, status_reason, log_salt FROM queue_entries ",
            $tail
        )
    };
}

impl Db {
    pub async fn queue_settings(&self, region: i64) -> Result<Option<QueueSettingsRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT region_id, max_preferences, bands, ranking, referral_term_amount, referral_term_unit, on_decline, on_expiry, \
             group_norms, round_time \
             FROM queue_settings WHERE region_id = $1").bind(region).fetch_optional(p).await)?)
    }

    pub async fn priority_categories(&self, region: i64) -> Result<Vec<CategoryRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, region_id, code, class, name_kk, name_ru, name_en, evidence, clause, expires FROM priority_categories \
             WHERE region_id = $1 ORDER BY class DESC, id").bind(region).fetch_all(p).await)?)
    }

    pub async fn queue_entry(&self, id: i64) -> Result<Option<EntryRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(entry_select!("WHERE id = $1")).bind(id).fetch_optional(p).await)?)
    }

    pub async fn entries_of_applicant(&self, user: i64) -> Result<Vec<EntryRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(entry_select!("WHERE applicant_user_id = $1 ORDER BY id"))
            .bind(user).fetch_all(p).await)?)
    }

    pub async fn entries_of_region(&self, region: i64) -> Result<Vec<EntryRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(entry_select!("WHERE region_id = $1 ORDER BY id"))
            .bind(region).fetch_all(p).await)?)
    }

    pub async fn preferences(&self, entry: i64) -> Result<Vec<i64>> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT kindergarten_id FROM queue_preferences WHERE entry_id = $1 ORDER BY rank")
            .bind(entry).fetch_all(p).await)?)
    }

    pub async fn claims(&self, entry: i64) -> Result<Vec<ClaimRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, entry_id, category_id, status, evidence_kind, evidence_ref, submitted_at, decided_by, decided_at, expires_on, reason \
             FROM priority_claims WHERE entry_id = $1 ORDER BY id").bind(entry).fetch_all(p).await)?)
    }

    /// The claims of a region in `status`, at most `limit`: pending ones oldest first (they are
    /// decided in the order they came), decided ones latest decision first.
    pub async fn claims_of_region(&self, region: i64, status: &str, limit: i64) -> Result<Vec<ClaimReviewRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT pc.id, pc.entry_id, e.registration_no, e.child_name, e.child_birth_date, pc.category_id, pc.status, \
             pc.evidence_kind, pc.evidence_ref, pc.submitted_at, pc.decided_by, u.full_name AS decided_by_name, pc.decided_at, \
             pc.expires_on, pc.reason \
             FROM priority_claims pc JOIN queue_entries e ON e.id = pc.entry_id LEFT JOIN users u ON u.id = pc.decided_by \
             WHERE e.region_id = $1 AND pc.status = $2 \
             ORDER BY pc.decided_at DESC, pc.id LIMIT $3")
            .bind(region).bind(status).bind(limit).fetch_all(p).await)?)
    }

    pub async fn claim(&self, id: i64) -> Result<Option<ClaimRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, entry_id, category_id, status, evidence_kind, evidence_ref, submitted_at, decided_by, decided_at, expires_on, reason \
             FROM priority_claims WHERE id = $1").bind(id).fetch_optional(p).await)?)
    }

    /// The waiting children of a region with their effective priority class on `today`.
    pub async fn waiting_children(&self, region: i64, today: Date) -> Result<Vec<WaitingRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(concat!(
            "SELECT e.id, e.registration_no, e.registered_at, e.child_birth_date, e.language, e.sibling_kindergarten_id, \
             COALESCE((SELECT MAX(c.class) FROM priority_claims pc JOIN priority_categories c ON c.id = pc.category_id \
                       WHERE pc.entry_id = e.id AND pc.status = 'confirmed' AND (pc.expires_on IS NULL OR pc.expires_on >= $2)), 0) AS priority, ",
            ranked_preferences_column!(),
            " FROM queue_entries e WHERE e.region_id = $1 AND e.status = 'waiting' ORDER BY e.id"))
            .bind(region).bind(today).fetch_all(p).await)?)
    }

    /// Every group of a region's kindergartens with the places held by live referrals.
    pub async fn groups_with_holds(&self, region: i64) -> Result<Vec<FreeGroupRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT g.id, g.organization_id, g.age_band, g.language, g.capacity, g.enrolled, \
             (SELECT COUNT(*) FROM referrals r WHERE r.group_id = g.id AND r.status IN ('open', 'accepted')) AS held \
             FROM kindergarten_groups g JOIN organizations o ON o.id = g.organization_id \
             WHERE o.region_id = $1 AND o.kind = 'kindergarten' ORDER BY g.id")
            .bind(region).fetch_all(p).await)?)
    }

    pub async fn referral(&self, id: i64) -> Result<Option<ReferralRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, round_id, entry_id, group_id, issued_at, expires_on, status, reason FROM referrals WHERE id = $1")
            .bind(id).fetch_optional(p).await)?)
    }

    pub async fn referrals_of_entry(&self, entry: i64) -> Result<Vec<ReferralRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, round_id, entry_id, group_id, issued_at, expires_on, status, reason FROM referrals WHERE entry_id = $1 ORDER BY id")
            .bind(entry).fetch_all(p).await)?)
    }

    pub async fn referrals_of_round(&self, round: i64) -> Result<Vec<ReferralRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, round_id, entry_id, group_id, issued_at, expires_on, status, reason FROM referrals WHERE round_id = $1 ORDER BY entry_id")
            .bind(round).fetch_all(p).await)?)
    }

    pub async fn round(&self, id: i64) -> Result<Option<RoundRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, region_id, started_by, started_at, finished_at, reference_date, engine_version, ranking, input_digest, \
             children, groups_count, free_places, assigned, proposals, instance_meta, instance_kindergartens, instance_groups, \
             instance_children FROM allocation_rounds WHERE id = $1").bind(id).fetch_optional(p).await)?)
    }

    pub async fn queue_log(&self, region: i64, after: i64, limit: i64) -> Result<Vec<QueueLogRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT region_id, seq, at, kind, child_ref, payload, prev_hash, hash FROM queue_log \
             WHERE region_id = $1 AND seq > $2 ORDER BY seq LIMIT $3").bind(region).bind(after).bind(limit).fetch_all(p).await)?)
    }

    /// The regions whose rounds start on a schedule: (region, `HH:MM`).
    pub async fn scheduled_round_regions(&self) -> Result<Vec<(i64, String)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT region_id, round_time FROM queue_settings WHERE round_time IS NOT NULL ORDER BY region_id").fetch_all(p).await)?)
    }

    /// The region's queue settings with its queue-log head's sequence number and its places
    /// version, in one query: what a position read checks its cached index against.
    pub async fn queue_version(&self, region: i64) -> Result<Option<QueueVersionRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT COALESCE(h.seq, 0) AS seq, s.places_version, s.region_id, s.max_preferences, s.bands, s.ranking, \
             s.referral_term_amount, s.referral_term_unit, s.on_decline, s.on_expiry, s.group_norms, s.round_time \
             FROM queue_settings s LEFT JOIN queue_log_head h ON h.region_id = s.region_id WHERE s.region_id = $1")
            .bind(region).fetch_optional(p).await)?)
    }

    /// Every registration of a region, whatever its status, with the effective priority class
    /// on `today` of the waiting ones.
    pub async fn position_entries(&self, region: i64, today: Date) -> Result<Vec<PositionEntryRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(position_entries_sql!("e.region_id = $1"))
            .bind(region).bind(today).fetch_all(p).await)?)
    }

    /// [`Db::position_entries`] of the region's registrations numbered after `after_id`
    /// (registered since) or listed in `ids` (changed since): what the position index reloads
    /// when the queue log moved by a few events.
    pub async fn position_entries_changed(&self, region: i64, today: Date, after_id: i64, ids: &[i64]) -> Result<Vec<PositionEntryRow>> {
        // Ids looked up by primary key: those after `after_id`, and the listed ones (`$N` names
        // after the three shared values; the lists are short, so SQLite's lookup of each name
        // costs little). `+e.region_id` keeps the planner off the region's index, which would
        // visit every registration of the region (16 ms for 100,000 on SQLite).
        let listed = if ids.is_empty() {
            String::new()
        } else {
            format!(" UNION VALUES {}", (0..ids.len()).map(|i| format!("(${})", i + 4)).collect::<Vec<_>>().join(", "))
        };
        let sql = position_entries_sql!("+e.region_id = $1 AND e.id IN (SELECT id FROM queue_entries WHERE id > $3{listed})")
            .replace("{listed}", &listed);
        Ok(on_pool!(self, p => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false).bind(region).bind(today).bind(after_id);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?)
    }

    pub async fn queue_log_head(&self, region: i64) -> Result<(i64, String)> {
        let head: Option<(i64, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT seq, last_hash FROM queue_log_head WHERE region_id = $1").bind(region).fetch_optional(p).await)?;
        Ok(head.unwrap_or_else(|| (0, GENESIS.to_owned())))
    }
}

impl WriteTx {
    pub async fn insert_queue_settings(&mut self, region: i64, referral_term_amount: i64, referral_term_unit: &str) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO queue_settings (region_id, referral_term_amount, referral_term_unit) VALUES ($1, $2, $3)")
            .bind(region).bind(referral_term_amount).bind(referral_term_unit).execute(c).await.map(|r| r.rows_affected()))
            .map_err(conflict_as("queue settings"))?;
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO queue_log_head (region_id, seq, last_hash) VALUES ($1, 0, $2)")
            .bind(region).bind(GENESIS).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn update_queue_policies(&mut self, region: i64, term_amount: i64, term_unit: &str, on_decline: &str, on_expiry: &str, max_preferences: i64) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE queue_settings SET referral_term_amount = $2, referral_term_unit = $3, on_decline = $4, on_expiry = $5, max_preferences = $6 WHERE region_id = $1")
            .bind(region).bind(term_amount).bind(term_unit).bind(on_decline).bind(on_expiry).bind(max_preferences)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_priority_category(&mut self, region: i64, code: &str, class: i64, names: [&str; 3], evidence: &str, clause: &str) -> Result<i64> {
        on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO priority_categories (region_id, code, class, name_kk, name_ru, name_en, evidence, clause) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(region).bind(code).bind(class).bind(names[0]).bind(names[1]).bind(names[2]).bind(evidence).bind(clause)
            .fetch_one(c).await).map_err(conflict_as("priority category"))
    }

    /// Marks a category whose right ends on a day its evidence fixes.
    pub async fn set_category_expires(&mut self, category: i64) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query("UPDATE priority_categories SET expires = $2 WHERE id = $1")
            .bind(category).bind(true).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Adds a registration: takes the region's next registration number (or keeps an imported
    /// one); a second active registration of the same child in the region is a conflict.
    pub async fn insert_queue_entry(&mut self, e: &NewEntry<'_>) -> Result<(i64, i64)> {
        let now = self.now();
        let (number, at) = match e.original {
            Some((n, at)) => {
                on_tx!(&mut self.tx, c => sqlx::query(
                    "UPDATE queue_settings SET next_registration_no = CASE WHEN next_registration_no > $2 THEN next_registration_no ELSE $2 + 1 END WHERE region_id = $1")
                    .bind(e.region_id).bind(n).execute(c).await.map(|r| r.rows_affected()))?;
                (n, db_time(at))
            }
            None => {
                let n: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(
                    "UPDATE queue_settings SET next_registration_no = next_registration_no + 1 WHERE region_id = $1 RETURNING next_registration_no - 1")
                    .bind(e.region_id).fetch_optional(c).await)?
                    .ok_or(StoreError::NotFound("queue settings of the region"))?;
                (n, now)
            }
        };
        let id: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO queue_entries (region_id, registration_no, registered_at, child_iin, child_birth_date, child_name, \
             applicant_user_id, applicant_relation, language, desired_start, channel, accepted_by, sibling_kindergarten_id, status, log_salt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'waiting', $14) RETURNING id")
            .bind(e.region_id).bind(number).bind(at).bind(e.child_iin).bind(e.child_birth_date).bind(e.child_name)
            .bind(e.applicant_user_id).bind(e.applicant_relation).bind(e.language).bind(e.desired_start).bind(e.channel)
            .bind(e.accepted_by).bind(e.sibling_kindergarten_id).bind(e.log_salt)
            .fetch_one(c).await).map_err(conflict_as("active registration of this child in the region"))?;
        Ok((id, number))
    }

    pub async fn set_preferences(&mut self, entry: i64, kindergartens: &[i64]) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query("DELETE FROM queue_preferences WHERE entry_id = $1")
            .bind(entry).execute(c).await.map(|r| r.rows_affected()))?;
        for (i, k) in kindergartens.iter().enumerate() {
            on_tx!(&mut self.tx, c => sqlx::query(
                "INSERT INTO queue_preferences (entry_id, rank, kindergarten_id) VALUES ($1, $2, $3)")
                .bind(entry).bind(i as i64 + 1).bind(*k).execute(c).await.map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    pub async fn set_entry_language(&mut self, entry: i64, language: &str) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query("UPDATE queue_entries SET language = $2 WHERE id = $1")
            .bind(entry).bind(language).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Moves an entry from `from` to `to`; `false` when it was not in `from` (someone else moved it).
    pub async fn move_entry(&mut self, entry: i64, from: &str, to: &str, reason: &str) -> Result<bool> {
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE queue_entries SET status = $3, status_reason = $4 WHERE id = $1 AND status = $2")
            .bind(entry).bind(from).bind(to).bind(reason).execute(c).await.map(|r| r.rows_affected()))
            .map_err(conflict_as("active registration of this child in the region"))?;
        Ok(n == 1)
    }

    pub async fn insert_claim(&mut self, entry: i64, category: i64, evidence_kind: &str, evidence_ref: &str) -> Result<i64> {
        let now = self.now();
        Ok(on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO priority_claims (entry_id, category_id, status, evidence_kind, evidence_ref, submitted_at) \
             VALUES ($1, $2, 'pending', $3, $4, $5) RETURNING id")
            .bind(entry).bind(category).bind(evidence_kind).bind(evidence_ref).bind(now).fetch_one(c).await)?)
    }

    /// Decides a claim that is in `from`; `false` if it was not.
    pub async fn decide_claim(&mut self, claim: i64, from: &str, to: &str, expires_on: Option<Date>, reason: &str) -> Result<bool> {
        let (now, by) = (self.now(), self.actor().map(|u| u.0));
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE priority_claims SET status = $3, decided_by = $4, decided_at = $5, expires_on = COALESCE($6, expires_on), reason = $7 \
             WHERE id = $1 AND status = $2")
            .bind(claim).bind(from).bind(to).bind(by).bind(now).bind(expires_on).bind(reason)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Marks confirmed claims of a region that ended before `today` as expired; returns (claim, entry).
    /// Expires at most `limit` of the region's confirmed claims past their expiry date; returns
    /// (claim, entry) of each.
    pub async fn expire_claims(&mut self, region: i64, today: Date, limit: i64) -> Result<Vec<(i64, i64)>> {
        let now = self.now();
        Ok(on_tx!(&mut self.tx, c => sqlx::query_as(
            "UPDATE priority_claims SET status = 'expired', decided_at = $3 WHERE id IN ( \
                 SELECT pc.id FROM priority_claims pc JOIN queue_entries e ON e.id = pc.entry_id \
                 WHERE e.region_id = $1 AND pc.status = 'confirmed' AND pc.expires_on < $2 ORDER BY pc.id LIMIT $4) \
             RETURNING id, entry_id")
            .bind(region).bind(today).bind(now).bind(limit).fetch_all(c).await)?)
    }

    pub async fn update_queue_settings(&mut self, region: i64, u: &QueueSettingsUpdate<'_>) -> Result<bool> {
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE queue_settings SET max_preferences = $2, referral_term_amount = $3, referral_term_unit = $4, \
             on_decline = $5, on_expiry = $6, group_norms = $7, round_time = $8 WHERE region_id = $1")
            .bind(region).bind(u.max_preferences).bind(u.referral_term_amount).bind(u.referral_term_unit)
            .bind(u.on_decline).bind(u.on_expiry).bind(u.group_norms).bind(u.round_time)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Takes the scheduled round of `day` for this server, unless another took it (or the
    /// region has no schedule); returns the day taken before, to give it back with
    /// [`WriteTx::give_back_scheduled_round`] if the round cannot run.
    pub async fn take_scheduled_round(&mut self, region: i64, day: Date) -> Result<Option<Option<Date>>> {
        let before: Option<Option<Date>> = on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "SELECT scheduled_round_on FROM queue_settings WHERE region_id = $1 AND round_time IS NOT NULL \
             AND (scheduled_round_on IS NULL OR scheduled_round_on < $2)")
            .bind(region).bind(day).fetch_optional(c).await)?;
        let Some(before) = before else { return Ok(None) };
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE queue_settings SET scheduled_round_on = $2 WHERE region_id = $1 \
             AND (scheduled_round_on IS NULL OR scheduled_round_on < $2)")
            .bind(region).bind(day).execute(c).await.map(|r| r.rows_affected()))?;
        Ok((n == 1).then_some(before))
    }

    pub async fn give_back_scheduled_round(&mut self, region: i64, day: Date, before: Option<Date>) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE queue_settings SET scheduled_round_on = $3 WHERE region_id = $1 AND scheduled_round_on = $2")
            .bind(region).bind(day).bind(before).execute(c).await.map(|_| ()))?;
        Ok(())
    }

    /// Takes the region's round lock for `token` until `until`, unless a live round holds it.
    pub async fn take_round_lock(&mut self, region: i64, token: &str, until: OffsetDateTime) -> Result<bool> {
        let now = self.now();
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE queue_settings SET round_lock = $2, round_lock_until = $3 \
             WHERE region_id = $1 AND (round_lock IS NULL OR round_lock_until < $4)")
            .bind(region).bind(token).bind(db_time(until)).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    pub async fn release_round_lock(&mut self, region: i64, token: &str) -> Result<bool> {
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE queue_settings SET round_lock = NULL, round_lock_until = NULL WHERE region_id = $1 AND round_lock = $2")
            .bind(region).bind(token).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    pub async fn insert_round(&mut self, r: &NewRound<'_>) -> Result<i64> {
        let (now, by) = (self.now(), self.actor().map(|u| u.0));
        Ok(on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO allocation_rounds (region_id, started_by, started_at, finished_at, reference_date, engine_version, ranking, \
             input_digest, children, groups_count, free_places, assigned, proposals, instance_meta, instance_kindergartens, \
             instance_groups, instance_children) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id")
            .bind(r.region_id).bind(by).bind(db_time(r.started_at)).bind(now).bind(r.reference_date).bind(r.engine_version)
            .bind(r.ranking).bind(r.input_digest).bind(r.children).bind(r.groups).bind(r.free_places).bind(r.assigned)
            .bind(r.proposals).bind(r.meta).bind(r.kindergartens).bind(r.group_rows).bind(r.child_rows)
            .fetch_one(c).await)?)
    }

    pub async fn insert_referral(&mut self, round: Option<i64>, entry: i64, group: i64, expires_on: Date) -> Result<i64> {
        let now = self.now();
        on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO referrals (round_id, entry_id, group_id, issued_at, expires_on, status) VALUES ($1, $2, $3, $4, $5, 'open') RETURNING id")
            .bind(round).bind(entry).bind(group).bind(now).bind(expires_on).fetch_one(c).await)
            .map_err(conflict_as("live referral of this child"))
    }

    /// Moves a referral from `from` to `to`; `false` when it was not in `from`.
    pub async fn move_referral(&mut self, referral: i64, from: &str, to: &str, reason: &str) -> Result<bool> {
        let (now, by) = (self.now(), self.actor().map(|u| u.0));
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE referrals SET status = $3, decided_at = $4, decided_by = $5, reason = $6 WHERE id = $1 AND status = $2")
            .bind(referral).bind(from).bind(to).bind(now).bind(by).bind(reason).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Lapses every open referral whose last day is before `today`; returns (referral, entry, region).
    /// One statement: two servers running it at once each lapse a referral at most once between them.
    /// Expires at most `limit` open referrals past their last day; returns (referral, entry,
    /// region) of each, by referral id.
    pub async fn expire_referrals(&mut self, today: Date, limit: i64) -> Result<Vec<(i64, i64, i64)>> {
        let now = self.now();
        let mut lapsed: Vec<(i64, i64, i64)> = on_tx!(&mut self.tx, c => sqlx::query_as(
            "UPDATE referrals SET status = 'expired', decided_at = $2, reason = 'term ended' WHERE id IN ( \
                 SELECT id FROM referrals WHERE status = 'open' AND expires_on < $1 ORDER BY id LIMIT $3) \
             RETURNING id, entry_id, (SELECT e.region_id FROM queue_entries e WHERE e.id = entry_id)")
            .bind(today).bind(now).bind(limit).fetch_all(c).await)?;
        lapsed.sort_unstable();
        Ok(lapsed)
    }

    /// Records the contract and counts the child in the group; `false` if the group is full.
    pub async fn insert_enrolment(&mut self, referral: i64, entry: i64, group: i64, contract_no: &str, contract_date: Date) -> Result<bool> {
        let (now, by) = (self.now(), self.actor().map(|u| u.0));
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE kindergarten_groups SET enrolled = enrolled + 1 WHERE id = $1 AND enrolled < capacity")
            .bind(group).execute(c).await.map(|r| r.rows_affected()))?;
        if n != 1 {
            return Ok(false);
        }
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO enrolments (referral_id, entry_id, group_id, contract_no, contract_date, enrolled_at, enrolled_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(referral).bind(entry).bind(group).bind(contract_no).bind(contract_date).bind(now).bind(by)
            .execute(c).await.map(|r| r.rows_affected())).map_err(conflict_as("enrolment under this referral"))?;
        Ok(true)
    }

    /// Issues the referrals of a round, a few thousand rows per statement (a round of a city
    /// issues tens of thousands); returns (entry, referral) pairs. A child who already holds a
    /// live referral is a conflict, as in [`WriteTx::insert_referral`].
    pub async fn insert_round_referrals(&mut self, round: i64, assigned: &[(i64, i64)], expires_on: Date) -> Result<Vec<(i64, i64)>> {
        let now = self.now();
        if let crate::Tx::Postgres(t) = &mut self.tx {
            // One statement over arrays: PostgreSQL parses and plans it once, where 36,000
            // rows of placeholders cost a second.
            let (entries, groups): (Vec<i64>, Vec<i64>) = assigned.iter().copied().unzip();
            return sqlx::query_as(
                "INSERT INTO referrals (round_id, entry_id, group_id, issued_at, expires_on, status) \
                 SELECT $1, e, g, $2, $3, 'open' FROM UNNEST($4::bigint[], $5::bigint[]) AS t(e, g) RETURNING entry_id, id")
                .bind(round).bind(now).bind(expires_on).bind(entries).bind(groups)
                .fetch_all(&mut **t).await
                .map_err(conflict_as("live referral of this child"));
        }
        let mut out = Vec::with_capacity(assigned.len());
        for chunk in assigned.chunks(max_binds(&self.tx) / 5) {
            let sql = format!(
                "INSERT INTO referrals (round_id, entry_id, group_id, issued_at, expires_on, status) VALUES {} RETURNING entry_id, id",
                batch_rows_sql(&self.tx, chunk.len(), 5, |v| format!("({}, {}, {}, {}, {}, 'open')", v[0], v[1], v[2], v[3], v[4]))
            );
            let ids: Vec<(i64, i64)> = on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false);
                for (entry, group) in chunk {
                    q = q.bind(round).bind(*entry).bind(*group).bind(now).bind(expires_on);
                }
                q.fetch_all(c).await
            })
            .map_err(conflict_as("live referral of this child"))?;
            out.extend(ids);
        }
        Ok(out)
    }

    /// Moves waiting entries to `referred` in a few statements; returns (id, log salt, child
    /// IIN) of each entry moved, for its queue-log reference. An entry that was no longer
    /// waiting is simply not returned: the caller compares the counts.
    pub async fn refer_waiting_entries(&mut self, entries: &[i64]) -> Result<Vec<(i64, String, String)>> {
        if let crate::Tx::Postgres(t) = &mut self.tx {
            return sqlx::query_as(
                "UPDATE queue_entries SET status = 'referred', status_reason = '' WHERE status = 'waiting' AND id = ANY($1::bigint[]) \
                 RETURNING id, log_salt, child_iin")
                .bind(entries).fetch_all(&mut **t).await
                .map_err(conflict_as("active registration of this child in the region"));
        }
        let mut out = Vec::with_capacity(entries.len());
        for chunk in entries.chunks(max_binds(&self.tx)) {
            let sql = format!(
                "UPDATE queue_entries SET status = 'referred', status_reason = '' WHERE status = 'waiting' AND id IN ({}) \
                 RETURNING id, log_salt, child_iin",
                batch_rows_sql(&self.tx, chunk.len(), 1, |v| v[0].clone())
            );
            let moved: Vec<(i64, String, String)> = on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(c).await
            })
            .map_err(conflict_as("active registration of this child in the region"))?;
            out.extend(moved);
        }
        Ok(out)
    }

    /// Appends events to the region's queue log in order, each chained to the one before it
    /// exactly as [`WriteTx::append_queue_event`] would, but with one head update and a few
    /// multi-row inserts for the lot. Returns the last sequence number (the head's if empty).
    pub async fn append_queue_events(&mut self, region: i64, events: &[NewQueueEvent<'_>]) -> Result<i64> {
        let n = events.len() as i64;
        // Takes the head row's lock first (PostgreSQL) and reserves the sequence numbers.
        let (last, mut prev): (i64, String) = on_tx!(&mut self.tx, c => sqlx::query_as(
            "UPDATE queue_log_head SET seq = seq + $2 WHERE region_id = $1 RETURNING seq, last_hash")
            .bind(region).bind(n).fetch_optional(c).await)?
            .ok_or(StoreError::NotFound("queue log of the region"))?;
        if events.is_empty() {
            return Ok(last);
        }
        let at = self.now();
        let at_text = at.format(&Rfc3339).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut rows: Vec<(i64, &NewQueueEvent<'_>, String, String)> = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let seq = last - n + 1 + i as i64;
            let content = QueueLogContent {
                region_id: region,
                seq,
                at: at_text.clone(),
                kind: e.kind.to_owned(),
                child_ref: e.child_ref.clone(),
                payload: e.payload.clone(),
            };
            let hash = content.hash(&prev);
            rows.push((seq, e, std::mem::replace(&mut prev, hash.clone()), hash));
        }
        let on_sqlite = matches!(self.tx, crate::Tx::Sqlite(_));
        if let crate::Tx::Postgres(t) = &mut self.tx {
            let column = |f: fn(&(i64, &NewQueueEvent<'_>, String, String)) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
            sqlx::query(
                "INSERT INTO queue_log (region_id, seq, at, kind, child_ref, payload, prev_hash, hash) \
                 SELECT $1, s, $2, k, c, p, ph, h FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) \
                 AS t(s, k, c, p, ph, h)")
                .bind(region)
                .bind(at)
                .bind(rows.iter().map(|r| r.0).collect::<Vec<i64>>())
                .bind(column(|r| Some(r.1.kind.to_owned())))
                .bind(column(|r| r.1.child_ref.clone()))
                .bind(column(|r| Some(r.1.payload.clone())))
                .bind(column(|r| Some(r.2.clone())))
                .bind(column(|r| Some(r.3.clone())))
                .execute(&mut **t)
                .await?;
        }
        // SQLite has no arrays: multi-row VALUES with `?` placeholders.
        for chunk in rows.chunks(max_binds(&self.tx) / 8).filter(|_| on_sqlite) {
            let sql = format!(
                "INSERT INTO queue_log (region_id, seq, at, kind, child_ref, payload, prev_hash, hash) VALUES {}",
                batch_rows_sql(&self.tx, chunk.len(), 8, |v| format!("({})", v.join(", ")))
            );
            on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
                for (seq, e, prev_hash, hash) in chunk {
                    q = q.bind(region).bind(*seq).bind(at).bind(e.kind).bind(e.child_ref.as_deref()).bind(&e.payload).bind(prev_hash).bind(hash);
                }
                q.execute(c).await.map(|r| r.rows_affected())
            })?;
        }
        on_tx!(&mut self.tx, c => sqlx::query("UPDATE queue_log_head SET last_hash = $2 WHERE region_id = $1")
            .bind(region).bind(&prev).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(last)
    }

    /// Appends an event to the region's queue log, chained to the one before it.
    pub async fn append_queue_event(&mut self, region: i64, kind: &str, child_ref: Option<&str>, payload: &serde_json::Value) -> Result<i64> {
        let (seq, prev): (i64, String) = on_tx!(&mut self.tx, c => sqlx::query_as(
            "UPDATE queue_log_head SET seq = seq + 1 WHERE region_id = $1 RETURNING seq, last_hash")
            .bind(region).fetch_optional(c).await)?
            .ok_or(StoreError::NotFound("queue log of the region"))?;
        let at = self.now();
        let content = QueueLogContent {
            region_id: region,
            seq,
            at: at.format(&Rfc3339).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            kind: kind.to_owned(),
            child_ref: child_ref.map(str::to_owned),
            payload: payload.to_string(),
        };
        let hash = content.hash(&prev);
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO queue_log (region_id, seq, at, kind, child_ref, payload, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(region).bind(seq).bind(at).bind(kind).bind(child_ref).bind(&content.payload).bind(&prev).bind(&hash)
            .execute(c).await.map(|r| r.rows_affected()))?;
        on_tx!(&mut self.tx, c => sqlx::query("UPDATE queue_log_head SET last_hash = $2 WHERE region_id = $1")
            .bind(region).bind(&hash).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(seq)
    }
}

impl Db {
    /// The live referrals (open or accepted) to a kindergarten's groups, oldest first: what its
    /// head enrols or refuses.
    pub async fn live_referrals_to_kindergarten(&self, kindergarten: i64) -> Result<Vec<ReferralRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT r.id, r.round_id, r.entry_id, r.group_id, r.issued_at, r.expires_on, r.status, r.reason FROM referrals r \
             JOIN kindergarten_groups g ON g.id = r.group_id \
             WHERE g.organization_id = $1 AND r.status IN ('open', 'accepted') ORDER BY r.id")
            .bind(kindergarten).fetch_all(p).await)?)
    }
}
