//! The public page of a region's queue log: the current head and the head signed each day,
//! with the region's public key, readable without JavaScript or an account.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::api::queue_log::{SignedHead, signed_head};
use crate::auth::Visitor;
use crate::html::Tr;
use crate::i18n::{Lang, current_lang};
use crate::problem::Problem;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "queue_log.html")]
struct QueueLogPage {
    t: Tr,
    back: String,
    user_name: Option<String>,
    csrf: String,
    region_id: i64,
    region_name: String,
    size: i64,
    root: String,
    heads: Vec<SignedHead>,
    public_key: Option<String>,
}

/// `/regions/{id}/queue-log`: the log head per day.
pub async fn page(State(state): State<AppState>, Visitor(visitor): Visitor, Path(id): Path<i64>) -> Result<Response, Problem> {
    let region = state.db.regions().await?.into_iter().find(|r| r.id == id).ok_or_else(Problem::not_found)?;
    state.db.queue_settings(id).await?.ok_or_else(Problem::not_found)?;
    let current = state.db.queue_tree_head(id).await?;
    let rows = state.db.published_queue_heads(id, 366).await?;
    let heads = rows.iter().map(signed_head).collect::<Result<Vec<_>, _>>()?;
    let region_name = match current_lang() {
        Lang::Kk => region.name_kk,
        Lang::Ru => region.name_ru,
        Lang::En => region.name_en,
    };
    let (user_name, csrf) = match &visitor {
        Some(a) => (Some(a.user.full_name.clone()), a.csrf_token.clone()),
        None => (None, String::new()),
    };
    let page = QueueLogPage {
        t: Tr::current(),
        back: format!("/regions/{id}/queue-log"),
        user_name,
        csrf,
        region_id: id,
        region_name,
        size: current.size as i64,
        root: hex::encode(current.root),
        public_key: rows.first().map(|r| r.public_key.clone()),
        heads,
    };
    match page.render() {
        Ok(html) => Ok((StatusCode::OK, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            Err(Problem::internal())
        }
    }
}
