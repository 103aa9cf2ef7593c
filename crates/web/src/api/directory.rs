//! Regions, organizations, their staff, kindergarten groups and the audit log.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use kezek_domain::access::{Action, OrganizationScope, RegionId, authorize};
use kezek_store::{AuditRecord, GroupRow, OrganizationRow, RegionRow};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::ApiJson;
use crate::auth::ApiUser;
use crate::problem::{Problem, ProblemBody};
use crate::state::AppState;

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct Names {
    pub kk: String,
    pub ru: String,
    pub en: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct Region {
    pub id: i64,
    pub code: String,
    pub name: Names,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct Organization {
    pub id: i64,
    pub region_id: i64,
    pub district_id: Option<i64>,
    /// provider, state_corporation, kindergarten or oversight.
    pub kind: String,
    pub bin: Option<String>,
    pub name: Names,
    pub address: String,
    pub office_hours: String,
    pub office_breaks: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct StaffMember {
    pub user_id: i64,
    pub full_name: String,
    pub role: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub kindergarten_id: i64,
    /// Age in full years on 1 September, e.g. `3-4`.
    pub age_band: String,
    pub language: String,
    pub capacity: i64,
    pub enrolled: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacesRequest {
    pub capacity: i64,
    pub enrolled: i64,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct AuditEntry {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor_user_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries with a sequence number below this one (for paging back).
    pub before: Option<i64>,
    /// At most this many entries (1-500, default 100).
    pub limit: Option<i64>,
}

impl From<RegionRow> for Region {
    fn from(r: RegionRow) -> Region {
        Region { id: r.id, code: r.code, name: Names { kk: r.name_kk, ru: r.name_ru, en: r.name_en } }
    }
}

impl From<OrganizationRow> for Organization {
    fn from(o: OrganizationRow) -> Organization {
        Organization {
            id: o.id,
            region_id: o.region_id,
            district_id: o.district_id,
            kind: o.kind,
            bin: o.bin,
            name: Names { kk: o.name_kk, ru: o.name_ru, en: o.name_en },
            address: o.address,
            office_hours: o.office_hours,
            office_breaks: o.office_breaks,
        }
    }
}

impl From<GroupRow> for Group {
    fn from(g: GroupRow) -> Group {
        Group { id: g.id, kindergarten_id: g.organization_id, age_band: g.age_band, language: g.language, capacity: g.capacity, enrolled: g.enrolled }
    }
}

async fn organization_scope(state: &AppState, id: i64) -> Result<(OrganizationRow, OrganizationScope), Problem> {
    let org = state.db.organization(id).await?.ok_or_else(Problem::not_found)?;
    let scope = org.scope()?;
    Ok((org, scope))
}

/// The regions kezek serves. Public.
#[utoipa::path(get, path = "/api/v1/regions", tag = "directory", responses((status = 200, body = Vec<Region>)))]
pub async fn regions(State(state): State<AppState>) -> Result<Json<Vec<Region>>, Problem> {
    Ok(Json(state.db.regions().await?.into_iter().map(Region::from).collect()))
}

/// The organizations of a region (providers, offices, kindergartens). Public.
#[utoipa::path(get, path = "/api/v1/regions/{id}/organizations", tag = "directory", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Organization>)))]
pub async fn organizations(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Vec<Organization>>, Problem> {
    Ok(Json(state.db.organizations_of_region(id).await?.into_iter().map(Organization::from).collect()))
}

/// One organization. Public.
#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "directory", params(("id" = i64, Path)),
    responses((status = 200, body = Organization), (status = 404, body = ProblemBody)))]
pub async fn organization(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Organization>, Problem> {
    Ok(Json(state.db.organization(id).await?.ok_or_else(Problem::not_found)?.into()))
}

/// The staff of an organization: its head, the region's administrators and auditors only.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/staff", tag = "directory", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Vec<StaffMember>), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn staff(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>) -> Result<Json<Vec<StaffMember>>, Problem> {
    let (_, scope) = organization_scope(&state, id).await?;
    authorize(&me.principal, Action::ReadStaff(scope)).map_err(|_| Problem::forbidden())?;
    let staff = state.db.staff_of(id).await?;
    Ok(Json(staff.into_iter().map(|s| StaffMember { user_id: s.user_id, full_name: s.full_name, role: s.role }).collect()))
}

/// A kindergarten's groups with capacity and enrolment. Public: free places are public information.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/groups", tag = "places", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Group>), (status = 404, body = ProblemBody)))]
pub async fn groups(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Vec<Group>>, Problem> {
    state.db.organization(id).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(state.db.groups_of(id).await?.into_iter().map(Group::from).collect()))
}

/// Sets a group's capacity and enrolment: the kindergarten's head or the region's administrator.
#[utoipa::path(put, path = "/api/v1/groups/{id}", tag = "places", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = PlacesRequest,
    responses((status = 200, body = Group), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn update_places(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<PlacesRequest>,
) -> Result<Json<Group>, Problem> {
    let group = state.db.group(id).await?.ok_or_else(Problem::not_found)?;
    let (_, scope) = organization_scope(&state, group.organization_id).await?;
    authorize(&me.principal, Action::UpdatePlaces(scope)).map_err(|_| Problem::forbidden())?;
    if req.capacity < 0 || req.enrolled < 0 || req.enrolled > req.capacity || req.capacity > 10_000 {
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-places")
            .arg("capacity", req.capacity)
            .arg("enrolled", req.enrolled));
    }
    let mut tx = state.db.begin_write(Some(me.user_id()), state.clock.now()).await?;
    tx.update_group_places(id, req.capacity, req.enrolled).await?;
    tx.audit(AuditRecord {
        action: "group.places_updated",
        object_type: "group",
        object_id: id.to_string(),
        organization_id: Some(group.organization_id),
        details: serde_json::json!({
            "capacity": { "from": group.capacity, "to": req.capacity },
            "enrolled": { "from": group.enrolled, "to": req.enrolled },
        }),
    })
    .await?;
    tx.commit().await?;
    let updated = state.db.group(id).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(updated.into()))
}

/// The audit entries of a region's organizations, newest first: its auditors and administrators.
#[utoipa::path(get, path = "/api/v1/regions/{id}/audit", tag = "audit", security(("bearer" = [])), params(("id" = i64, Path), AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
pub async fn audit_log(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Path(id): Path<i64>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, Problem> {
    let Query(q) = query?;
    authorize(&me.principal, Action::ReadAudit(RegionId(id))).map_err(|_| Problem::forbidden())?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let rows = state.db.audit_entries_of_region(id, q.before, limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditEntry {
                seq: r.seq,
                at: r.at,
                actor_user_id: r.actor_user_id,
                organization_id: r.organization_id,
                action: r.action,
                object_type: r.object_type,
                object_id: r.object_id,
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
                prev_hash: r.prev_hash,
                hash: r.hash,
            })
            .collect(),
    ))
}
