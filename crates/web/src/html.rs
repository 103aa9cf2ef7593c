//! Server-rendered pages (askama). They work without JavaScript; forms carry a CSRF token.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use kezek_store::SessionKind;
use serde::Deserialize;

use crate::api::accounts::{SignIn, check_credentials, check_eds_login, close_session, open_session, open_session_for};
use crate::auth::{Authenticated, CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE, Visitor, cookie_value, new_token, same_secret};
use crate::i18n::{Lang, current_lang};
use crate::messages;
use crate::problem::Problem;
use crate::state::AppState;

/// How long a browser session lives.
const BROWSER_SESSION: time::Duration = time::Duration::hours(8);

/// Translation helper handed to templates.
pub struct Tr {
    lang: Lang,
}

impl Tr {
    pub fn current() -> Tr {
        Tr { lang: current_lang() }
    }
    pub fn get(&self, key: &str) -> String {
        messages().get(self.lang, key, &[])
    }
    pub fn get_with(&self, key: &str, name: &'static str, value: &str) -> String {
        messages().get(self.lang, key, &[(name, value.to_owned())])
    }
    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }
    pub fn languages(&self) -> Vec<(&'static str, &'static str)> {
        vec![("kk", "Қазақша"), ("ru", "Русский"), ("en", "English")]
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    iin: String,
    error: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    /// (role code, role message key, organization, task message key)
    roles: Vec<(String, String, String, String)>,
    /// Where each role's work starts (same order as `roles`).
    role_links: Vec<Vec<crate::queue_pages::StartLink>>,
    /// Each region's public pages: (id, name).
    regions: Vec<(i64, String)>,
}

pub(crate) fn render(t: impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            Problem::internal().into_response()
        }
    }
}

fn cookie(name: &str, value: &str, max_age: Option<i64>, same_site: &str, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are base64url or fixed words")
}

pub async fn home(State(state): State<AppState>, Visitor(visitor): Visitor) -> Result<Response, Problem> {
    let mut role_links = Vec::new();
    let (user_name, csrf, roles) = match &visitor {
        Some(a) => {
            let mut roles = Vec::new();
            for m in &a.principal.memberships {
                role_links.push(crate::queue_pages::role_starts(m));
                let org = match m.organization {
                    Some(o) => state.db.organization(o.id.0).await?.map(|o| localized_name(&o)).unwrap_or_default(),
                    None => String::new(),
                };
                let code = m.role.as_str();
                roles.push((code.to_owned(), format!("role-{code}"), org, format!("task-{code}")));
            }
            (Some(a.user.full_name.clone()), a.csrf_token.clone(), roles)
        }
        None => (None, String::new(), Vec::new()),
    };
    let regions = state.db.regions().await?.iter().map(|r| (r.id, crate::pages::region_name(r))).collect();
    Ok(render(HomePage { t: Tr::current(), back: "/".into(), user_name, csrf, roles, role_links, regions }, StatusCode::OK))
}

pub(crate) fn localized_name(o: &kezek_store::OrganizationRow) -> String {
    match current_lang() {
        Lang::Kk => o.name_kk.clone(),
        Lang::Ru => o.name_ru.clone(),
        Lang::En => o.name_en.clone(),
    }
}

fn login_page(state: &AppState, csrf: String, iin: String, error: Option<Problem>, status: StatusCode) -> Response {
    let lang = current_lang();
    let error = error.map(|p| {
        let b = p.body(lang);
        (b.title, b.detail)
    });
    let mut r = render(LoginPage { t: Tr::current(), back: "/login".into(), user_name: None, csrf: csrf.clone(), iin, error }, status);
    r.headers_mut().append(header::SET_COOKIE, cookie(CSRF_COOKIE, &csrf, None, "Strict", state.secure_cookies));
    r
}

pub async fn login_form(State(state): State<AppState>, headers: HeaderMap, Visitor(visitor): Visitor) -> Response {
    if visitor.is_some() {
        return Redirect::to("/").into_response();
    }
    let csrf = csrf_cookie(&headers).unwrap_or_else(new_token);
    login_page(&state, csrf, String::new(), None, StatusCode::OK)
}

fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    let (mut parts, _) = axum::http::Request::new(()).into_parts();
    parts.headers = headers.clone();
    cookie_value(&parts, CSRF_COOKIE).map(str::to_owned)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    iin: String,
    #[serde(default)]
    password: String,
}

pub async fn login_submit(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let expected = csrf_cookie(&headers);
    let fresh = || new_token();
    let Ok(Form(form)) = form else {
        return login_page(&state, expected.unwrap_or_else(fresh), String::new(), Some(Problem::csrf()), StatusCode::BAD_REQUEST);
    };
    // Double-submit check: the form's token must equal the cookie set with the form.
    if !expected.as_deref().is_some_and(|e| same_secret(e, &form.csrf)) {
        return login_page(&state, expected.unwrap_or_else(fresh), form.iin, Some(Problem::csrf()), StatusCode::FORBIDDEN);
    }
    let csrf = expected.unwrap_or_else(fresh);
    match check_credentials(&state, addr, form.iin.trim(), &form.password).await {
        Ok(user) => match open_session(&state, &user, SessionKind::Browser, BROWSER_SESSION).await {
            Ok((token, _, _)) => {
                let mut r = Redirect::to("/").into_response();
                *r.status_mut() = StatusCode::SEE_OTHER;
                r.headers_mut().append(
                    header::SET_COOKIE,
                    cookie(SESSION_COOKIE, &token, Some(BROWSER_SESSION.whole_seconds()), "Lax", state.secure_cookies),
                );
                r
            }
            Err(p) => p.into_response(),
        },
        Err(p) => {
            let status = p.status;
            login_page(&state, csrf, form.iin, Some(p), status)
        }
    }
}

#[derive(Deserialize)]
pub struct EdsLoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    signature: String,
}

/// Signs in with a challenge signed in the browser through NCALayer (`/static/eds.js`
/// fetches the challenge, has it signed and posts this form).
pub async fn login_eds_submit(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<EdsLoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let expected = csrf_cookie(&headers);
    let fresh = || new_token();
    let form = match form {
        Ok(Form(form)) if expected.as_deref().is_some_and(|e| same_secret(e, &form.csrf)) => form,
        _ => return login_page(&state, expected.unwrap_or_else(fresh), String::new(), Some(Problem::csrf()), StatusCode::FORBIDDEN),
    };
    let csrf = expected.unwrap_or_else(fresh);
    let signed_in = match check_eds_login(&state, addr, &form.challenge, &form.signature).await {
        Ok((user, challenge_hash)) => {
            open_session_for(&state, &user, SessionKind::Browser, BROWSER_SESSION, SignIn::Eds { challenge_hash: &challenge_hash }).await
        }
        Err(p) => Err(p),
    };
    match signed_in {
        Ok((token, _, _)) => {
            let mut r = Redirect::to("/").into_response();
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut()
                .append(header::SET_COOKIE, cookie(SESSION_COOKIE, &token, Some(BROWSER_SESSION.whole_seconds()), "Lax", state.secure_cookies));
            r
        }
        Err(p) => {
            let status = p.status;
            login_page(&state, csrf, String::new(), Some(p), status)
        }
    }
}

/// The pages' NCALayer adapter (EDS login, signing a registration); the pages work without it.
pub async fn eds_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], include_str!("../static/eds.js"))
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, Visitor(visitor): Visitor, Form(form): Form<LogoutForm>) -> Response {
    let Some(Authenticated { principal, csrf_token, .. }) = visitor else {
        return Redirect::to("/").into_response();
    };
    if !same_secret(&csrf_token, &form.csrf) {
        return Problem::csrf().into_response();
    }
    let (mut parts, _) = axum::http::Request::new(()).into_parts();
    parts.headers = headers;
    if let Some(token) = cookie_value(&parts, SESSION_COOKIE)
        && let Err(p) = close_session(&state, principal.user, token).await
    {
        return p.into_response();
    }
    let mut r = Redirect::to("/").into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().append(header::SET_COOKIE, cookie(SESSION_COOKIE, "", Some(0), "Lax", state.secure_cookies));
    r
}

#[derive(Deserialize)]
pub struct Back {
    back: Option<String>,
}

/// Switches the interface language (a cookie) and returns to the page the visitor was on.
pub async fn switch_language(State(state): State<AppState>, Path(code): Path<String>, Query(q): Query<Back>) -> Response {
    let Some(lang) = Lang::parse(&code) else { return Problem::not_found().into_response() };
    // Only local paths: an open redirect would help phishing.
    let back = q.back.filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\')).unwrap_or_else(|| "/".into());
    let mut r = Redirect::to(&back).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().append(header::SET_COOKIE, cookie(LANG_COOKIE, lang.code(), Some(365 * 24 * 3600), "Lax", state.secure_cookies));
    r
}

pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], include_str!("../static/kezek.css"))
}
