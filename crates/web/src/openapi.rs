//! The OpenAPI 3.1 description of `/api/v1`, served at `/api/v1/openapi.json` and browsable at
//! `/api/docs` (Swagger UI, vendored into the binary).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{accounts, applications, directory, queue, queue_log, queue_settings};

#[derive(OpenApi)]
#[openapi(
    info(title = "kezek API", description = "Public services in education: accounts, organizations, kindergarten places, audit."),
    paths(
        accounts::register, accounts::login, accounts::eds_challenge, accounts::eds_login, accounts::logout, accounts::me, accounts::set_language, accounts::user,
        directory::regions, directory::organizations, directory::organization, directory::staff,
        directory::groups, directory::update_places, directory::audit_log,
        queue::register, queue::signing_content, queue::registration, queue::my_registrations, queue::change, queue::claim, queue::decide_claim, queue::region_claims,
        queue::positions, queue::explain, queue::start_round, queue::run_expiry, queue::accept, queue::decline, queue::enrol,
        queue::refuse, queue::categories, queue::places, queue::stats, queue::round, queue::honesty, queue::events_since,
        queue::log_proofs, queue_settings::get_settings, queue_settings::put_settings,
        queue_log::entries, queue_log::head, queue_log::heads, queue_log::proof,
        applications::services, applications::service, applications::file, applications::refuse_intake, applications::act, applications::application,
        applications::my_applications, applications::work_list,
        crate::health,
    ),
    modifiers(&BearerAuth),
    tags((name = "accounts"), (name = "directory"), (name = "places"), (name = "audit"), (name = "queue"), (name = "queue log"), (name = "applications"), (name = "operations"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}
