//! Sign-up, sign-in, sign-out and the caller's own account.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use kezek_domain::access::{Action, Role, UserId, authorize};
use kezek_domain::identity::Iin;
use kezek_store::{AuditRecord, NewUser, SessionKind, UserRow};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ApiJson;
use crate::auth::{ApiUser, MIN_PASSWORD_LEN, hash_password, new_token, token_digest, verify_password};
use crate::i18n::Lang;
use crate::problem::{Problem, ProblemBody};
use crate::rate_limit::{PER_ACCOUNT, PER_ADDRESS};
use crate::state::AppState;

/// How long an API token lives.
const API_SESSION: time::Duration = time::Duration::hours(12);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The citizen's IIN (12 digits).
    #[schema(example = "900417300017")]
    pub iin: String,
    pub full_name: String,
    /// At least 8 characters.
    pub password: String,
    #[serde(default)]
    pub language: Option<Lang>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub iin: String,
    pub password: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub user: Me,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct RoleView {
    /// citizen, operator, clerk, head, specialist, kindergarten_head, regional_admin or auditor.
    #[schema(value_type = String)]
    pub role: Role,
    pub organization_id: Option<i64>,
    pub region_id: Option<i64>,
}

/// The caller's own account. Their own IIN is shown to them in full.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct Me {
    pub id: i64,
    pub iin: String,
    pub full_name: String,
    pub language: String,
    pub roles: Vec<RoleView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageRequest {
    pub language: Lang,
}

fn parse_iin(s: &str) -> Result<Iin, Problem> {
    Iin::parse(s).map_err(|e| Problem::invalid_iin("iin", e))
}

fn me_view(user: &UserRow, roles: &[kezek_domain::access::Membership]) -> Me {
    Me {
        id: user.id,
        iin: user.iin.clone(),
        full_name: user.full_name.clone(),
        language: user.language.clone(),
        roles: roles
            .iter()
            .map(|m| RoleView {
                role: m.role,
                organization_id: m.organization.map(|o| o.id.0),
                region_id: m.organization.map(|o| o.region.0),
            })
            .collect(),
    }
}

async fn hash_off_thread(password: String) -> Result<String, Problem> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| Problem::internal())?
        .map_err(|_| Problem::internal())
}

/// Creates a citizen account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = Me), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody), (status = 429, body = ProblemBody)))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Me>), Problem> {
    state.limiter.hit(&format!("addr:{}", addr.ip()), PER_ADDRESS, Instant::now()).map_err(Problem::rate_limited)?;
    let iin = parse_iin(&req.iin)?;
    let full_name = req.full_name.trim();
    if full_name.is_empty() || full_name.chars().count() > 200 {
        return Err(Problem::invalid_field("full_name", "1-200 characters"));
    }
    if req.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-weak-password")
            .arg("min", MIN_PASSWORD_LEN)
            .field("password"));
    }
    let language = req.language.unwrap_or_else(crate::i18n::current_lang);
    let hash = hash_off_thread(req.password).await?;
    let mut tx = state.db.begin_write(None, state.clock.now()).await?;
    let id = tx
        .insert_user(&NewUser { iin: &iin, full_name, password_hash: Some(&hash), language: language.code() })
        .await?;
    tx.insert_membership(id, None, Role::Citizen).await?;
    tx.audit(AuditRecord {
        action: "account.registered",
        object_type: "user",
        object_id: id.to_string(),
        organization_id: None,
        details: serde_json::json!({ "channel": "portal" }),
    })
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = id, "citizen account registered");
    let user = state.db.user(UserId(id)).await?.ok_or_else(Problem::internal)?;
    let roles = state.db.memberships(UserId(id)).await?;
    Ok((StatusCode::CREATED, Json(me_view(&user, &roles))))
}

/// Checks an IIN and password; limits attempts per address and per account.
pub(crate) async fn check_credentials(state: &AppState, addr: SocketAddr, iin: &str, password: &str) -> Result<UserRow, Problem> {
    let now = Instant::now();
    state.limiter.hit(&format!("addr:{}", addr.ip()), PER_ADDRESS, now).map_err(Problem::rate_limited)?;
    let iin = parse_iin(iin)?;
    let account_key = format!("iin:{}", token_digest(&iin.as_string()));
    state.limiter.check(&account_key, PER_ACCOUNT, now).map_err(Problem::rate_limited)?;
    let user = state.db.user_by_iin(&iin).await?;
    let password = password.to_owned();
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    // Verify even for unknown accounts, so timing does not tell which IINs have one.
    let ok = tokio::task::spawn_blocking(move || match stored {
        Some(h) => verify_password(&password, &h),
        None => {
            let _ = hash_password(&password);
            false
        }
    })
    .await
    .map_err(|_| Problem::internal())?;
    match user {
        Some(u) if ok => {
            state.metrics.observe_login("success");
            Ok(u)
        }
        _ => {
            state.limiter.count(&account_key, PER_ACCOUNT, now);
            state.metrics.observe_login("failure");
            tracing::info!("login refused");
            Err(Problem::new(StatusCode::UNAUTHORIZED, "problem-bad-credentials"))
        }
    }
}

/// Opens a session of `kind` for `user` and records it; returns the token.
pub(crate) async fn open_session(state: &AppState, user: &UserRow, kind: SessionKind, ttl: time::Duration) -> Result<(String, String, OffsetDateTime), Problem> {
    open_session_for(state, user, kind, ttl, SignIn::Password).await
}

/// How the user proved who they are.
pub(crate) enum SignIn<'a> {
    Password,
    /// A signature over this challenge (its digest), consumed with the session's opening.
    Eds { challenge_hash: &'a str },
}

pub(crate) async fn open_session_for(
    state: &AppState,
    user: &UserRow,
    kind: SessionKind,
    ttl: time::Duration,
    how: SignIn<'_>,
) -> Result<(String, String, OffsetDateTime), Problem> {
    let token = new_token();
    let csrf = new_token();
    let now = state.clock.now();
    let expires = now + ttl;
    let mut tx = state.db.begin_write(Some(UserId(user.id)), now).await?;
    let method = match how {
        SignIn::Password => "password",
        SignIn::Eds { challenge_hash } => {
            // Conditional: of two logins racing with one challenge, one opens a session.
            if !tx.consume_eds_challenge(challenge_hash, user.id).await? {
                return Err(Problem::new(StatusCode::UNAUTHORIZED, "problem-eds-challenge-used"));
            }
            "eds"
        }
    };
    tx.insert_session(&token_digest(&token), user.id, kind, &csrf, expires).await?;
    tx.audit(AuditRecord {
        action: "session.opened",
        object_type: "user",
        object_id: user.id.to_string(),
        organization_id: None,
        details: serde_json::json!({ "kind": format!("{kind:?}").to_lowercase(), "method": method }),
    })
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = user.id, method, "signed in");
    Ok((token, csrf, expires))
}

/// How long a login challenge may wait for its signature.
const CHALLENGE_TTL: time::Duration = time::Duration::minutes(5);

/// A one-time login challenge.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EdsChallenge {
    /// Sign its UTF-8 bytes (as content, attached or detached) with the authentication key of
    /// your EDS (NCALayer: `createCAdESFromBase64` of its base64), then POST /api/v1/auth/eds/login.
    pub challenge: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdsLoginRequest {
    /// The challenge as issued.
    pub challenge: String,
    /// The CMS signature over it (base64, as NCALayer returns it; PEM also accepted).
    pub signature: String,
}

/// Issues a one-time challenge for logging in with an electronic digital signature; it expires
/// after five minutes and signs in once.
#[utoipa::path(post, path = "/api/v1/auth/eds/challenge", tag = "accounts",
    responses((status = 201, body = EdsChallenge), (status = 429, body = ProblemBody), (status = 503, body = ProblemBody)))]
pub async fn eds_challenge(State(state): State<AppState>, ConnectInfo(addr): ConnectInfo<SocketAddr>) -> Result<(StatusCode, Json<EdsChallenge>), Problem> {
    state.limiter.hit(&format!("addr:{}", addr.ip()), PER_ADDRESS, Instant::now()).map_err(Problem::rate_limited)?;
    if state.verifier.is_none() {
        return Err(crate::signatures::not_configured());
    }
    let challenge = new_token();
    let now = state.clock.now();
    let expires_at = now + CHALLENGE_TTL;
    let mut tx = state.db.begin_write(None, now).await?;
    let id = tx.insert_eds_challenge(&token_digest(&challenge), expires_at).await?;
    tx.audit(AuditRecord {
        action: "eds.challenge_issued",
        object_type: "eds_challenge",
        object_id: id.to_string(),
        organization_id: None,
        details: serde_json::json!({}),
    })
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(EdsChallenge { challenge, expires_at })))
}

/// The challenge, if it may still be signed: known, unused and unexpired.
async fn open_challenge(state: &AppState, challenge: &str) -> Result<String, Problem> {
    let digest = token_digest(challenge.trim());
    let row = state.db.eds_challenge(&digest).await?.ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "problem-eds-challenge-unknown"))?;
    if row.used_at.is_some() {
        return Err(Problem::new(StatusCode::UNAUTHORIZED, "problem-eds-challenge-used"));
    }
    if row.expires_at <= state.clock.now() {
        return Err(Problem::new(StatusCode::UNAUTHORIZED, "problem-eds-challenge-expired").arg("minutes", CHALLENGE_TTL.whole_minutes()));
    }
    Ok(digest)
}

/// Exchanges a signed login challenge for a bearer token: the signature must verify with an
/// authentication certificate (EKU clientAuth) chaining to a trusted root, valid and not
/// revoked, whose IIN has an account. Limited like the password login.
#[utoipa::path(post, path = "/api/v1/auth/eds/login", tag = "accounts", request_body = EdsLoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ProblemBody), (status = 422, body = ProblemBody),
        (status = 429, body = ProblemBody), (status = 503, body = ProblemBody)))]
pub async fn eds_login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<EdsLoginRequest>,
) -> Result<Json<LoginResponse>, Problem> {
    let user = check_eds_login(&state, addr, &req.challenge, &req.signature).await?;
    let (token, _, expires_at) = open_session_for(&state, &user.0, SessionKind::Api, API_SESSION, SignIn::Eds { challenge_hash: &user.1 }).await?;
    let roles = state.db.memberships(UserId(user.0.id)).await?;
    Ok(Json(LoginResponse { token, expires_at, user: me_view(&user.0, &roles) }))
}

/// Checks a signed challenge and finds the signer's account; returns it with the challenge's
/// digest, which the session's opening consumes.
pub(crate) async fn check_eds_login(state: &AppState, addr: SocketAddr, challenge: &str, signature: &str) -> Result<(UserRow, String), Problem> {
    let now = Instant::now();
    state.limiter.hit(&format!("addr:{}", addr.ip()), PER_ADDRESS, now).map_err(Problem::rate_limited)?;
    if state.verifier.is_none() {
        return Err(crate::signatures::not_configured());
    }
    let digest = open_challenge(state, challenge).await?;
    let refused = |p: Problem| {
        state.metrics.observe_login("failure");
        p
    };
    let iin = crate::signatures::verify_login_signature(state, challenge.trim().as_bytes(), signature).await.map_err(refused)?;
    let account_key = format!("iin:{}", token_digest(&iin.as_string()));
    state.limiter.check(&account_key, PER_ACCOUNT, now).map_err(Problem::rate_limited)?;
    match state.db.user_by_iin(&iin).await? {
        Some(user) => {
            state.metrics.observe_login("success");
            Ok((user, digest))
        }
        None => {
            state.limiter.count(&account_key, PER_ACCOUNT, now);
            Err(refused(Problem::new(StatusCode::UNAUTHORIZED, "problem-eds-unknown-account")))
        }
    }
}

/// Exchanges an IIN and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ProblemBody), (status = 422, body = ProblemBody), (status = 429, body = ProblemBody)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, Problem> {
    let user = check_credentials(&state, addr, &req.iin, &req.password).await?;
    let (token, _, expires_at) = open_session(&state, &user, SessionKind::Api, API_SESSION).await?;
    let roles = state.db.memberships(UserId(user.id)).await?;
    Ok(Json(LoginResponse { token, expires_at, user: me_view(&user, &roles) }))
}

/// Ends the caller's bearer session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ProblemBody)))]
pub async fn logout(State(state): State<AppState>, ApiUser(me): ApiUser, headers: axum::http::HeaderMap) -> Result<StatusCode, Problem> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(Problem::unauthenticated)?;
    close_session(&state, me.user_id(), token.trim()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn close_session(state: &AppState, user: UserId, token: &str) -> Result<(), Problem> {
    state.sessions.forget(token);
    let mut tx = state.db.begin_write(Some(user), state.clock.now()).await?;
    tx.delete_session(&token_digest(token)).await?;
    tx.audit(AuditRecord {
        action: "session.closed",
        object_type: "user",
        object_id: user.0.to_string(),
        organization_id: None,
        details: serde_json::json!({}),
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The caller's account and roles.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ProblemBody)))]
pub async fn me(ApiUser(me): ApiUser) -> Json<Me> {
    Json(me_view(&me.user, &me.principal.memberships))
}

/// Sets the language the caller's messages and documents are written in.
#[utoipa::path(put, path = "/api/v1/me/language", tag = "accounts", security(("bearer" = [])), request_body = LanguageRequest,
    responses((status = 204), (status = 401, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn set_language(State(state): State<AppState>, ApiUser(me): ApiUser, ApiJson(req): ApiJson<LanguageRequest>) -> Result<StatusCode, Problem> {
    authorize(&me.principal, Action::UpdateUser(me.user_id())).map_err(|_| Problem::forbidden())?;
    let mut tx = state.db.begin_write(Some(me.user_id()), state.clock.now()).await?;
    tx.set_user_language(me.user.id, req.language.code()).await?;
    tx.audit(AuditRecord {
        action: "account.language_set",
        object_type: "user",
        object_id: me.user.id.to_string(),
        organization_id: None,
        details: serde_json::json!({ "language": req.language.code() }),
    })
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's account: only its owner may read it.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Me), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn user(State(state): State<AppState>, ApiUser(me): ApiUser, Path(id): Path<i64>) -> Result<Json<Me>, Problem> {
    // Someone else's account answers 404, not 403: whether an account exists is itself private.
    authorize(&me.principal, Action::ReadUser(UserId(id))).map_err(|_| Problem::not_found())?;
    let user = state.db.user(UserId(id)).await?.ok_or_else(Problem::not_found)?;
    let roles = state.db.memberships(UserId(id)).await?;
    Ok(Json(me_view(&user, &roles)))
}

/// Finds the applicant's account by IIN, opening one without a password on a first visit to a
/// front office (they can set a password on the portal later). `by` is the staff member acting.
pub(crate) async fn applicant_for(state: &AppState, by: UserId, iin: &Iin, name: Option<&str>) -> Result<UserId, Problem> {
    if let Some(u) = state.db.user_by_iin(iin).await? {
        return Ok(UserId(u.id));
    }
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Problem::invalid_field("applicant_name", "the applicant's full name"))?;
    let mut tx = state.db.begin_write(Some(by), state.clock.now()).await?;
    let id = tx
        .insert_user(&NewUser { iin, full_name: name, password_hash: None, language: crate::i18n::current_lang().code() })
        .await?;
    tx.insert_membership(id, None, Role::Citizen).await?;
    tx.audit(AuditRecord {
        action: "account.opened_at_front_office",
        object_type: "user",
        object_id: id.to_string(),
        organization_id: None,
        details: serde_json::json!({}),
    })
    .await?;
    tx.commit().await?;
    Ok(UserId(id))
}
