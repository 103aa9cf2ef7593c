//! The JSON API under `/api/v1`. Every handler authenticates through [`ApiUser`](crate::auth::ApiUser)
//! where it needs to, and asks [`kezek_domain::access::authorize`] before it reads or changes
//! an organization's data.

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;

use crate::problem::Problem;
use crate::state::AppState;

pub mod accounts;
pub mod applications;
pub mod directory;
pub mod queue_log;
pub mod queue;
pub mod queue_settings;

/// A JSON body whose rejections (syntax, unknown fields, wrong types, size) are problems in the
/// requester's language.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Problem> {
        axum::Json::<T>::from_request(req, state).await.map(|j| ApiJson(j.0)).map_err(Problem::from)
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(accounts::register))
        .route("/auth/login", post(accounts::login))
        .route("/auth/logout", post(accounts::logout))
        .route("/auth/eds/challenge", post(accounts::eds_challenge))
        .route("/auth/eds/login", post(accounts::eds_login))
        .route("/me", get(accounts::me))
        .route("/me/language", put(accounts::set_language))
        .route("/users/{id}", get(accounts::user))
        .route("/regions", get(directory::regions))
        .route("/regions/{id}/organizations", get(directory::organizations))
        .route("/regions/{id}/audit", get(directory::audit_log))
        .route("/organizations/{id}", get(directory::organization))
        .route("/organizations/{id}/staff", get(directory::staff))
        .route("/organizations/{id}/groups", get(directory::groups))
        .route("/groups/{id}", put(directory::update_places))
        .route("/regions/{id}/queue-log", get(queue_log::entries))
        .route("/regions/{id}/queue-log/head", get(queue_log::head))
        .route("/regions/{id}/queue-log/heads", get(queue_log::heads))
        .route("/queue-log/proof", get(queue_log::proof))
        .route("/queue/registrations", post(queue::register))
        .route("/queue/registrations/signing-content", post(queue::signing_content))
        .route("/queue/registrations/{id}", get(queue::registration))
        .route("/queue/registrations/{id}/preferences", put(queue::change))
        .route("/queue/registrations/{id}/claims", post(queue::claim))
        .route("/queue/registrations/{id}/positions", get(queue::positions))
        .route("/queue/registrations/{id}/rounds/{round}", get(queue::explain))
        .route("/queue/claims/{id}/decision", post(queue::decide_claim))
        .route("/regions/{id}/claims", get(queue::region_claims))
        .route("/me/registrations", get(queue::my_registrations))
        .route("/regions/{id}/rounds", post(queue::start_round))
        .route("/regions/{id}/expiry", post(queue::run_expiry))
        .route("/regions/{id}/queue-settings", get(queue_settings::get_settings).put(queue_settings::put_settings))
        .route("/regions/{id}/priority-categories", get(queue::categories))
        .route("/regions/{id}/places", get(queue::places))
        .route("/regions/{id}/queue-stats", get(queue::stats))
        .route("/regions/{id}/honesty", get(queue::honesty))
        .route("/queue/registrations/{id}/events", get(queue::events_since))
        .route("/queue/registrations/{id}/log-proofs", get(queue::log_proofs))
        .route("/rounds/{id}", get(queue::round))
        .route("/referrals/{id}/accept", post(queue::accept))
        .route("/referrals/{id}/decline", post(queue::decline))
        .route("/referrals/{id}/enrol", post(queue::enrol))
        .route("/referrals/{id}/refuse", post(queue::refuse))
        .route("/services", get(applications::services))
        .route("/services/{id}", get(applications::service))
        .route("/applications", post(applications::file))
        .route("/applications/intake-refusals", post(applications::refuse_intake))
        .route("/applications/{id}", get(applications::application))
        .route("/applications/{id}/actions", post(applications::act))
        .route("/me/applications", get(applications::my_applications))
        .route("/organizations/{id}/applications", get(applications::work_list))
}
