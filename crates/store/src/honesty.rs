//! The auditor's honesty checks over a region's queue: facts that should never be true, read
//! straight from the tables so that nothing the application layer believes is taken on trust.

use crate::{Db, Result, on_pool};

#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct GroupCapacityRow {
    pub group_id: i64,
    pub kindergarten_id: i64,
    pub age_band: String,
    pub capacity: i64,
}

impl Db {
    pub async fn group_norms(&self, region: i64) -> Result<Option<String>> {
        Ok(on_pool!(self, p => sqlx::query_scalar("SELECT group_norms FROM queue_settings WHERE region_id = $1")
            .bind(region).fetch_optional(p).await)?)
    }

    pub async fn group_capacities(&self, region: i64) -> Result<Vec<GroupCapacityRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT g.id AS group_id, g.organization_id AS kindergarten_id, g.age_band, g.capacity FROM kindergarten_groups g \
             JOIN organizations o ON o.id = g.organization_id WHERE o.region_id = $1 ORDER BY g.id")
            .bind(region).fetch_all(p).await)?)
    }

    /// Enrolments whose referral is not an enrolled referral of the same child and group, with
    /// the referral each names.
    pub async fn enrolments_without_referral(&self, region: i64) -> Result<Vec<(i64, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT n.id, n.referral_id FROM enrolments n JOIN queue_entries e ON e.id = n.entry_id \
             LEFT JOIN referrals r ON r.id = n.referral_id \
             WHERE e.region_id = $1 AND (r.id IS NULL OR r.status <> 'enrolled' OR r.entry_id <> n.entry_id OR r.group_id <> n.group_id) \
             ORDER BY n.id").bind(region).fetch_all(p).await)?)
    }

    /// Registrations of the region whose child is enrolled more than once, anywhere, with the
    /// number of the child's enrolments.
    pub async fn children_enrolled_twice(&self, region: i64) -> Result<Vec<(i64, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT e.id, t.enrolments FROM queue_entries e JOIN ( \
                SELECT x.child_iin, COUNT(*) AS enrolments FROM enrolments n JOIN queue_entries x ON x.id = n.entry_id \
                GROUP BY x.child_iin HAVING COUNT(*) > 1) t ON t.child_iin = e.child_iin \
             WHERE e.region_id = $1 ORDER BY e.id").bind(region).fetch_all(p).await)?)
    }

    /// Referrals of the region that no allocation round issued (placed outside the ranking).
    pub async fn referrals_outside_rounds(&self, region: i64) -> Result<Vec<i64>> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT r.id FROM referrals r JOIN queue_entries e ON e.id = r.entry_id \
             WHERE e.region_id = $1 AND r.round_id IS NULL ORDER BY r.id").bind(region).fetch_all(p).await)?)
    }

    /// The ids of the region's latest rounds, newest first.
    pub async fn recent_rounds(&self, region: i64, limit: i64) -> Result<Vec<i64>> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT id FROM allocation_rounds WHERE region_id = $1 ORDER BY id DESC LIMIT $2")
            .bind(region).bind(limit).fetch_all(p).await)?)
    }

    /// Audit entries where a group's enrolled count was raised by hand (not by an enrolment).
    pub async fn enrolled_raised_by_hand(&self, region: i64) -> Result<Vec<(i64, String, String)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT a.seq, a.object_id, a.details FROM audit_log a JOIN organizations o ON o.id = a.organization_id \
             WHERE o.region_id = $1 AND a.action = 'group.places_updated' ORDER BY a.seq")
            .bind(region).fetch_all(p).await)?)
    }
}
