//! Users, their roles in organizations, and login sessions.

use kezek_domain::access::{Membership, OrganizationId, OrganizationKind, OrganizationScope, RegionId, Role, UserId};
use kezek_domain::identity::Iin;
use time::OffsetDateTime;

use crate::{Db, Result, StoreError, WriteTx, conflict_as, on_pool, on_tx};

/// A user as stored. `iin` and `full_name` are personal data: keep them out of logs.
#[derive(Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub iin: String,
    pub full_name: String,
    pub password_hash: Option<String>,
    pub language: String,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow").field("id", &self.id).field("language", &self.language).finish_non_exhaustive()
    }
}

pub struct NewUser<'a> {
    pub iin: &'a Iin,
    pub full_name: &'a str,
    pub password_hash: Option<&'a str>,
    pub language: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A cookie session of the HTML interface.
    Browser,
    /// A bearer token of the JSON API.
    Api,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Api => "api",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub user_id: i64,
    pub kind: String,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Clone, sqlx::FromRow)]
pub struct StaffRow {
    pub user_id: i64,
    pub full_name: String,
    pub role: String,
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    role: String,
    organization_id: Option<i64>,
    region_id: Option<i64>,
    kind: Option<String>,
}

/// A session joined with its user and one of the user's roles (none: `role` is NULL).
#[derive(sqlx::FromRow)]
struct SessionUserRow {
    user_id: i64,
    kind: String,
    csrf_token: String,
    expires_at: OffsetDateTime,
    iin: String,
    full_name: String,
    password_hash: Option<String>,
    language: String,
    role: Option<String>,
    organization_id: Option<i64>,
    region_id: Option<i64>,
    organization_kind: Option<String>,
}

impl MembershipRow {
    fn into_membership(self) -> Result<Membership> {
        let role = Role::parse(&self.role).ok_or_else(|| StoreError::Corrupt(format!("role {:?}", self.role)))?;
        let organization = match (self.organization_id, self.region_id, self.kind) {
            (Some(id), Some(region), Some(kind)) => Some(OrganizationScope {
                id: OrganizationId(id),
                region: RegionId(region),
                kind: OrganizationKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("organization kind {kind:?}")))?,
            }),
            _ => None,
        };
        Ok(Membership { role, organization })
    }
}


impl Db {
    pub async fn user_by_iin(&self, iin: &Iin) -> Result<Option<UserRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, iin, full_name, password_hash, language FROM users WHERE iin = $1")
            .bind(iin.as_string()).fetch_optional(p).await)?)
    }

    pub async fn user(&self, id: UserId) -> Result<Option<UserRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, iin, full_name, password_hash, language FROM users WHERE id = $1")
            .bind(id.0).fetch_optional(p).await)?)
    }

    pub async fn memberships(&self, user: UserId) -> Result<Vec<Membership>> {
        let rows: Vec<MembershipRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT m.role, m.organization_id, o.region_id, o.kind FROM memberships m \
             LEFT JOIN organizations o ON o.id = m.organization_id WHERE m.user_id = $1 ORDER BY m.id")
            .bind(user.0).fetch_all(p).await)?;
        rows.into_iter().map(MembershipRow::into_membership).collect()
    }

    pub async fn staff_of(&self, organization_id: i64) -> Result<Vec<StaffRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT u.id AS user_id, u.full_name, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.organization_id = $1 ORDER BY m.role, u.id")
            .bind(organization_id).fetch_all(p).await)?)
    }

    /// The live session with this token digest, its user and the user's roles, in one query
    /// (every authenticated request asks this first).
    pub async fn session_with_user(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<(SessionRow, UserRow, Vec<Membership>)>> {
        let rows: Vec<SessionUserRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT s.user_id, s.kind, s.csrf_token, s.expires_at, u.iin, u.full_name, u.password_hash, u.language, \
             m.role, m.organization_id, o.region_id, o.kind AS organization_kind \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN memberships m ON m.user_id = s.user_id LEFT JOIN organizations o ON o.id = m.organization_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 ORDER BY m.id")
            .bind(token_hash).bind(now).fetch_all(p).await)?;
        let Some(first) = rows.first() else { return Ok(None) };
        let session = SessionRow { user_id: first.user_id, kind: first.kind.clone(), csrf_token: first.csrf_token.clone(), expires_at: first.expires_at };
        let user = UserRow {
            id: first.user_id,
            iin: first.iin.clone(),
            full_name: first.full_name.clone(),
            password_hash: first.password_hash.clone(),
            language: first.language.clone(),
        };
        let memberships = rows
            .into_iter()
            .filter_map(|r| {
                let role = r.role?;
                Some(MembershipRow { role, organization_id: r.organization_id, region_id: r.region_id, kind: r.organization_kind })
            })
            .map(MembershipRow::into_membership)
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((session, user, memberships)))
    }

    /// The live session with this token digest, if it has not expired at `now`.
    pub async fn session(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<SessionRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT user_id, kind, csrf_token, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash).bind(now).fetch_optional(p).await)?)
    }
}

impl WriteTx {
    pub async fn insert_user(&mut self, u: &NewUser<'_>) -> Result<i64> {
        let now = self.now();
        let id: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO users (iin, full_name, password_hash, language, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(u.iin.as_string()).bind(u.full_name).bind(u.password_hash).bind(u.language).bind(now)
            .fetch_one(c).await)
            .map_err(conflict_as("account with this IIN"))?;
        Ok(id)
    }

    pub async fn insert_membership(&mut self, user_id: i64, organization_id: Option<i64>, role: Role) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO memberships (user_id, organization_id, role) VALUES ($1, $2, $3)")
            .bind(user_id).bind(organization_id).bind(role.as_str()).execute(c).await.map(|r| r.rows_affected()))
            .map_err(conflict_as("role"))?;
        Ok(())
    }

    pub async fn set_user_language(&mut self, user_id: i64, language: &str) -> Result<()> {
        on_tx!(&mut self.tx, c => sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
            .bind(language).bind(user_id).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn insert_session(&mut self, token_hash: &str, user_id: i64, kind: SessionKind, csrf_token: &str, expires_at: OffsetDateTime) -> Result<()> {
        let now = self.now();
        on_tx!(&mut self.tx, c => sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, kind, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(token_hash).bind(user_id).bind(kind.as_str()).bind(csrf_token).bind(now).bind(expires_at)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Ends a session; returns whether there was one.
    pub async fn delete_session(&mut self, token_hash: &str) -> Result<bool> {
        let n = on_tx!(&mut self.tx, c => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
