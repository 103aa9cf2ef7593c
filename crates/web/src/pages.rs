//! What the queue's pages share: the header's data, the session check, CSRF on every form, the
//! error summary built from the API's problems, and names, days and groups in the visitor's
//! language.

// A page's early exit is the response it answers with (a redirect to sign in, a refusal page);
// boxing it would only add an allocation on paths that end the request anyway.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kezek_store::{OrganizationRow, RegionRow};

use crate::auth::{Authenticated, same_secret};
use crate::html::{Tr, render};
use crate::i18n::{Lang, current_lang};
use crate::messages;
use crate::problem::Problem;

/// One entry of the error summary, linked to the field (`id`) it is about.
pub struct FieldError {
    pub field: String,
    pub title: String,
    pub detail: String,
}

/// A problem as the error summary shows it: linked to the field at fault, or to `fallback` (the
/// form, or the control the action came from). A field's own guidance in the visitor's language
/// (`form-error-<field>`) replaces the API's technical reason.
pub fn field_error(p: &Problem, fallback: &str) -> FieldError {
    let lang = current_lang();
    let body = p.body(lang);
    let field = p.field.unwrap_or(fallback).to_owned();
    let detail = match p.field {
        Some(f) if p.key == "problem-invalid-field" => message_or(lang, &format!("form-error-{f}"), body.detail),
        _ => body.detail,
    };
    FieldError { field, title: body.title, detail }
}

/// The error of a form field the page itself checks (an empty or malformed value).
pub fn own_error(field: &str, key: &str) -> FieldError {
    let lang = current_lang();
    let m = messages();
    FieldError { field: field.to_owned(), title: m.get(lang, "problem-invalid-field", &[]), detail: m.get(lang, key, &[]) }
}

fn message_or(lang: Lang, key: &str, fallback: String) -> String {
    let m = messages().get(lang, key, &[]);
    if m == key { fallback } else { m }
}

/// A message in the visitor's language with named arguments.
pub fn msg(key: &str, args: &[(&str, String)]) -> String {
    messages().get(current_lang(), key, args)
}

/// The page of a problem that ends a request (403, 404, 409 with nowhere better to show it).
#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    title: String,
    detail: String,
}

pub fn problem_page(me: Option<&Authenticated>, p: Problem) -> Response {
    if p.status == StatusCode::UNAUTHORIZED {
        return to_login();
    }
    let body = p.body(current_lang());
    let (user_name, csrf) = chrome(me);
    render(ProblemPage { t: Tr::current(), back: "/".into(), user_name, csrf, title: body.title, detail: body.detail }, p.status)
}

/// A built page answered with `status`, or the page of the problem that stopped building it.
pub fn page_or_problem(me: Option<&Authenticated>, page: Result<impl Template, Problem>, status: StatusCode) -> Response {
    match page {
        Ok(page) => render(page, status),
        Err(p) => problem_page(me, p),
    }
}

/// The header's data: who is signed in and the token their sign-out form carries.
pub fn chrome(me: Option<&Authenticated>) -> (Option<String>, String) {
    match me {
        Some(a) => (Some(a.user.full_name.clone()), a.csrf_token.clone()),
        None => (None, String::new()),
    }
}

pub fn to_login() -> Response {
    see_other("/login")
}

/// 303 to `path`: after a form, the browser loads the next page with GET.
pub fn see_other(path: &str) -> Response {
    let mut r = Redirect::to(path).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}

/// The signed-in visitor, or the way to the sign-in page.
pub fn signed_in(visitor: Option<Authenticated>) -> Result<Authenticated, Response> {
    visitor.ok_or_else(to_login)
}

/// A form sent by a signed-in user with the session's CSRF token: the user and its fields; else
/// the way to the sign-in page, or the refusal of a forged form.
pub fn signed_form(visitor: Option<Authenticated>, form: Vec<(String, String)>) -> Result<(Authenticated, Fields), Response> {
    let me = signed_in(visitor)?;
    let fields = Fields::new(form);
    check_csrf(&me, &fields)?;
    Ok((me, fields))
}

/// A form's fields by name (the last value of a repeated name wins).
pub struct Fields(HashMap<String, String>);

impl Fields {
    pub fn new(pairs: Vec<(String, String)>) -> Fields {
        Fields(pairs.into_iter().collect())
    }
    pub fn empty() -> Fields {
        Fields(HashMap::new())
    }
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.as_str())
    }
    pub fn trimmed(&self, name: &str) -> String {
        self.get(name).trim().to_owned()
    }
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_owned(), value.into());
    }
}

/// The session's CSRF token must come back with every form a signed-in user sends.
fn check_csrf(me: &Authenticated, fields: &Fields) -> Result<(), Response> {
    if same_secret(&me.csrf_token, fields.get("csrf")) {
        Ok(())
    } else {
        Err(problem_page(Some(me), Problem::csrf()))
    }
}

pub fn region_name(r: &RegionRow) -> String {
    match current_lang() {
        Lang::Kk => r.name_kk.clone(),
        Lang::Ru => r.name_ru.clone(),
        Lang::En => r.name_en.clone(),
    }
}

/// A priority category's name in the visitor's language.
pub fn category_name(c: &kezek_store::queue::CategoryRow) -> String {
    match current_lang() {
        Lang::Kk => c.name_kk.clone(),
        Lang::Ru => c.name_ru.clone(),
        Lang::En => c.name_en.clone(),
    }
}

pub fn organization_name(o: &OrganizationRow) -> String {
    crate::html::localized_name(o)
}

/// Kindergarten names of a region by id, in the visitor's language.
pub async fn kindergarten_names(db: &kezek_store::Db, region: i64) -> Result<HashMap<i64, String>, Problem> {
    Ok(db
        .organizations_of_region(region)
        .await?
        .iter()
        .filter(|o| o.kind == "kindergarten")
        .map(|o| (o.id, organization_name(o)))
        .collect())
}

/// The name of a language of instruction.
pub fn language_name(code: &str) -> String {
    msg(&format!("language-{code}"), &[])
}

/// A group as families know it: its age band and language of instruction.
pub fn group_label(band: &str, language: &str) -> String {
    msg("group-name", &[("band", band.to_owned()), ("language", language_name(language))])
}

/// A day as people in Kazakhstan write it.
pub fn day(d: time::Date) -> String {
    format!("{:02}.{:02}.{}", d.day(), u8::from(d.month()), d.year())
}

/// An instant as Almaty local day and time.
pub fn moment(t: time::OffsetDateTime) -> String {
    let local = kezek_domain::calendar::utc_to_almaty(t);
    format!("{} {:02}:{:02}", day(local.date()), local.hour(), local.minute())
}
