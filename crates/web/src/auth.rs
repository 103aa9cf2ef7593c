//! Who is asking: passwords (argon2), session tokens (cookie for pages, bearer for the API),
//! CSRF tokens for forms, and the extractors that turn a request into a [`Principal`].

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kezek_domain::access::{Principal, UserId};
use kezek_store::{SessionRow, UserRow};
use sha2::{Digest, Sha256};

use crate::i18n::{Lang, prefer_user_lang};
use crate::problem::Problem;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "kezek_session";
pub const CSRF_COOKIE: &str = "kezek_csrf";
pub const LANG_COOKIE: &str = "lang";
pub const MIN_PASSWORD_LEN: usize = 8;

/// Hashes a password with argon2id and a fresh random salt (slow on purpose: run it off the
/// async threads).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// A fresh unguessable token (256 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token: a stolen database copy yields no usable session.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An authenticated user with their roles.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub principal: Principal,
    pub user: UserRow,
    pub csrf_token: String,
}

impl Authenticated {
    pub fn user_id(&self) -> UserId {
        self.principal.user
    }
}

pub fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The longest a session found in [`SessionCache`] is trusted without asking the database while
/// this process wrote nothing: the bound on how long a logout made through another server can
/// go unnoticed here.
pub const SESSION_RECHECK_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// At most this many sessions are remembered; when full, the cache starts over.
const SESSION_CACHE_SIZE: usize = 4096;

/// Recently checked sessions by token digest, so that a burst of requests with one token asks
/// the database once. An entry counts only while this process has committed no write since it
/// was read (any write may be a logout, a role change or a language change: all of them show at
/// once), for at most [`SESSION_RECHECK_AFTER`], and before the session expires.
#[derive(Default)]
pub struct SessionCache {
    sessions: std::sync::Mutex<std::collections::HashMap<String, CachedSession>>,
}

struct CachedSession {
    who: Authenticated,
    kind: String,
    expires_at: time::OffsetDateTime,
    commits: u64,
    read_at: std::time::Instant,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.sessions.lock().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("SessionCache").field("sessions", &n).finish()
    }
}

impl SessionCache {
    fn get(&self, digest: &str, now: time::OffsetDateTime) -> Option<(Authenticated, String)> {
        let sessions = self.sessions.lock().ok()?;
        let s = sessions.get(digest)?;
        let fresh = s.commits == kezek_store::local_commits() && s.read_at.elapsed() < SESSION_RECHECK_AFTER && now < s.expires_at;
        fresh.then(|| (s.who.clone(), s.kind.clone()))
    }

    fn put(&self, digest: String, session: CachedSession) {
        if let Ok(mut sessions) = self.sessions.lock() {
            if sessions.len() >= SESSION_CACHE_SIZE {
                sessions.clear();
            }
            sessions.insert(digest, session);
        }
    }

    /// Forgets a session at once (logout), whatever else would have expired it.
    pub fn forget(&self, token: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&token_digest(token));
        }
    }
}

async fn load_session(state: &AppState, token: &str, kind: &str) -> Result<Option<Authenticated>, Problem> {
    let digest = token_digest(token);
    let now = state.clock.now();
    let (who, k) = match state.sessions.get(&digest, now) {
        Some(hit) => hit,
        None => {
            // Taken before the query: a write committed after it makes the entry stale.
            let commits = kezek_store::local_commits();
            // One query for the session, its user and their roles.
            let Some((SessionRow { user_id, kind: k, csrf_token, expires_at }, user, memberships)) =
                state.db.session_with_user(&digest, now).await?
            else {
                return Ok(None);
            };
            let who = Authenticated { principal: Principal { user: UserId(user_id), memberships }, user, csrf_token };
            let read_at = std::time::Instant::now();
            state.sessions.put(digest, CachedSession { who: who.clone(), kind: k.clone(), expires_at, commits, read_at });
            (who, k)
        }
    };
    if k != kind {
        return Ok(None);
    }
    if let Some(lang) = Lang::parse(&who.user.language) {
        prefer_user_lang(lang);
    }
    Ok(Some(who))
}

/// The caller of a JSON API endpoint, from `Authorization: Bearer <token>`; 401 otherwise.
pub struct ApiUser(pub Authenticated);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(Problem::unauthenticated)?;
        load_session(state, token.trim(), "api").await?.map(ApiUser).ok_or_else(Problem::unauthenticated)
    }
}

/// The visitor of a page: signed in through the session cookie, or not.
pub struct Visitor(pub Option<Authenticated>);

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Some(token) = cookie_value(parts, SESSION_COOKIE) else { return Ok(Visitor(None)) };
        // A forged or expired cookie is simply no session.
        Ok(Visitor(load_session(state, token, "browser").await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct hors", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_are_fresh_and_their_digest_is_not_the_token() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_digest(&a).len(), 64);
        assert_ne!(token_digest(&a), a);
    }

    #[test]
    fn secret_comparison() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
