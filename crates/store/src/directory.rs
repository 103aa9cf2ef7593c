//! Regions, districts, organizations and kindergarten groups.

use kezek_domain::access::{OrganizationId, OrganizationKind, OrganizationScope, RegionId};

use crate::{Db, Result, StoreError, WriteTx, conflict_as, on_pool, on_tx};

#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct RegionRow {
    pub id: i64,
    pub code: String,
    pub name_kk: String,
    pub name_ru: String,
    pub name_en: String,
}

#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct OrganizationRow {
    pub id: i64,
    pub region_id: i64,
    pub district_id: Option<i64>,
    pub kind: String,
    pub bin: Option<String>,
    pub name_kk: String,
    pub name_ru: String,
    pub name_en: String,
    pub address: String,
    pub office_hours: String,
    pub office_breaks: String,
}

impl OrganizationRow {
    /// What access decisions need to know about this organization.
    pub fn scope(&self) -> Result<OrganizationScope> {
        let kind = OrganizationKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("organization kind {:?}", self.kind)))?;
        Ok(OrganizationScope { id: OrganizationId(self.id), region: RegionId(self.region_id), kind })
    }
}

#[derive(Debug, Clone)]
pub struct NewOrganization<'a> {
    pub region_id: i64,
    pub district_id: Option<i64>,
    pub kind: OrganizationKind,
    pub bin: Option<&'a str>,
    pub names: [&'a str; 3],
    pub address: &'a str,
    pub office_hours: &'a str,
    pub office_breaks: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct GroupRow {
    pub id: i64,
    pub organization_id: i64,
    pub age_band: String,
    pub language: String,
    pub capacity: i64,
    pub enrolled: i64,
}


impl Db {
    pub async fn regions(&self) -> Result<Vec<RegionRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, code, name_kk, name_ru, name_en FROM regions ORDER BY id").fetch_all(p).await)?)
    }

    pub async fn organizations_of_region(&self, region_id: i64) -> Result<Vec<OrganizationRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, region_id, district_id, kind, bin, name_kk, name_ru, name_en, address, office_hours, office_breaks \
             FROM organizations WHERE region_id = $1 ORDER BY kind, id")
            .bind(region_id).fetch_all(p).await)?)
    }

    pub async fn organization(&self, id: i64) -> Result<Option<OrganizationRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, region_id, district_id, kind, bin, name_kk, name_ru, name_en, address, office_hours, office_breaks \
             FROM organizations WHERE id = $1")
            .bind(id).fetch_optional(p).await)?)
    }

    pub async fn groups_of(&self, organization_id: i64) -> Result<Vec<GroupRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, organization_id, age_band, language, capacity, enrolled FROM kindergarten_groups \
             WHERE organization_id = $1 ORDER BY age_band, language")
            .bind(organization_id).fetch_all(p).await)?)
    }

    pub async fn group(&self, id: i64) -> Result<Option<GroupRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, organization_id, age_band, language, capacity, enrolled FROM kindergarten_groups WHERE id = $1")
            .bind(id).fetch_optional(p).await)?)
    }
}

impl WriteTx {
    pub async fn insert_region(&mut self, code: &str, names: [&str; 3]) -> Result<i64> {
        let id: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO regions (code, name_kk, name_ru, name_en) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(code).bind(names[0]).bind(names[1]).bind(names[2]).fetch_one(c).await)
            .map_err(conflict_as("region"))?;
        Ok(id)
    }

    pub async fn insert_district(&mut self, region_id: i64, names: [&str; 3]) -> Result<i64> {
        Ok(on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO districts (region_id, name_kk, name_ru, name_en) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(region_id).bind(names[0]).bind(names[1]).bind(names[2]).fetch_one(c).await)?)
    }

    pub async fn insert_organization(&mut self, o: &NewOrganization<'_>) -> Result<i64> {
        let id: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO organizations (region_id, district_id, kind, bin, name_kk, name_ru, name_en, address, office_hours, office_breaks) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id")
            .bind(o.region_id).bind(o.district_id).bind(o.kind.as_str()).bind(o.bin)
            .bind(o.names[0]).bind(o.names[1]).bind(o.names[2]).bind(o.address)
            .bind(o.office_hours).bind(o.office_breaks).fetch_one(c).await)
            .map_err(conflict_as("organization with this BIN"))?;
        Ok(id)
    }

    pub async fn insert_group(&mut self, organization_id: i64, age_band: &str, language: &str, capacity: i64, enrolled: i64) -> Result<i64> {
        let id: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO kindergarten_groups (organization_id, age_band, language, capacity, enrolled) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(organization_id).bind(age_band).bind(language).bind(capacity).bind(enrolled)
            .fetch_one(c).await)
            .map_err(conflict_as("group of this age band and language"))?;
        Ok(id)
    }

    /// Sets a group's capacity and enrolment count; the caller has checked `0 <= enrolled <= capacity`.
    pub async fn update_group_places(&mut self, group_id: i64, capacity: i64, enrolled: i64) -> Result<()> {
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE kindergarten_groups SET capacity = $1, enrolled = $2 WHERE id = $3")
            .bind(capacity).bind(enrolled).bind(group_id).execute(c).await.map(|r| r.rows_affected()))?;
        if n == 0 { Err(StoreError::NotFound("group")) } else { Ok(()) }
    }

    pub async fn update_office_hours(&mut self, organization_id: i64, hours: &str, breaks: &str) -> Result<()> {
        let n = on_tx!(&mut self.tx, c => sqlx::query(
            "UPDATE organizations SET office_hours = $1, office_breaks = $2 WHERE id = $3")
            .bind(hours).bind(breaks).bind(organization_id).execute(c).await.map(|r| r.rows_affected()))?;
        if n == 0 { Err(StoreError::NotFound("organization")) } else { Ok(()) }
    }
}
