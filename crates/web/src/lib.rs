//! HTTP for kezek: the JSON API (`/api/v1`, OpenAPI at `/api/v1/openapi.json`), the pages, the
//! health and metrics endpoints, and the middleware every request passes through (request id,
//! language, problem rendering, body limit, timeout, panic catching, logging without personal data).

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub mod api;
pub mod applications;
pub mod auth;
pub mod config;
pub mod crl_distribution;
mod html;
pub mod i18n;
mod metrics;
pub mod openapi;
pub mod problem;
pub mod queue_log_keys;
mod queue_log_page;
mod pages;
mod queue_pages;
mod staff_pages;
pub mod position_index;
pub mod queue;
pub mod queue_applications;
mod registry_checks;
pub mod signatures;
mod rate_limit;
pub mod state;

pub use config::ServerConfig;
use i18n::{Lang, LangChoice, Messages, REQUEST_LANG};
use problem::{PROBLEM_JSON, Problem, REQUEST_ID};
pub use state::{AppState, Clock, SystemClock};

/// The longest a request may take before it is answered with 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

static MESSAGES: LazyLock<Messages> = LazyLock::new(Messages::load);

pub(crate) fn messages() -> &'static Messages {
    &MESSAGES
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Default)]
struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let token = auth::new_token();
        HeaderValue::from_str(&token[..16]).ok().map(RequestId::new)
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let api = api::routes().fallback(|| async { Problem::not_found() });
    Router::new()
        .route("/", get(html::home))
        .route("/login", get(html::login_form).post(html::login_submit))
        .route("/login/eds", post(html::login_eds_submit))
        .route("/static/eds.js", get(html::eds_script))
        .route("/demo/eds/sign", post(queue_pages::demo_sign))
        .route("/logout", post(html::logout))
        .route("/lang/{code}", get(html::switch_language))
        .route("/static/kezek.css", get(html::stylesheet))
        .route("/regions/{id}/queue-log", get(queue_log_page::page))
        .route("/regions/{id}/places", get(queue_pages::places))
        .route("/rounds/{id}", get(queue_pages::round))
        .route("/children", get(queue_pages::my_children))
        .route("/children/new", get(queue_pages::register_form).post(queue_pages::register_submit))
        .route("/children/new/signing-content", post(queue_pages::signing_content))
        .route("/children/{id}/preferences", get(queue_pages::preferences_form).post(queue_pages::preferences_submit))
        .route("/referrals/{id}/accept", post(queue_pages::accept_referral))
        .route("/referrals/{id}/decline", post(queue_pages::decline_referral))
        .route("/office/children/new", get(queue_pages::office_register_form).post(queue_pages::office_register_submit))
        .route("/kindergartens/{id}", get(staff_pages::kindergarten))
        .route("/groups/{id}/places", post(staff_pages::publish_places))
        .route("/referrals/{id}/enrol", post(staff_pages::enrol))
        .route("/referrals/{id}/refuse", post(staff_pages::refuse))
        .route("/regions/{id}/rounds", get(staff_pages::rounds).post(staff_pages::start_round))
        .route("/regions/{id}/rounds/new", get(staff_pages::confirm_round))
        .route("/regions/{id}/claims", get(staff_pages::claims))
        .route("/claims/{id}/decision", post(staff_pages::decide_claim))
        .route("/regions/{id}/honesty", get(staff_pages::honesty))
        .route("/regions/{id}/settings", get(staff_pages::settings).post(staff_pages::save_settings))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .nest("/api/v1", api)
        .merge(utoipa_swagger_ui::SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi::ApiDoc::openapi()))
        .fallback(|| async { Problem::not_found() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn(request_context))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                // Only the route pattern: paths and queries may carry personal data.
                let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str());
                let id = req.headers().get(&X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), route, request_id = id)
            }),
        )
        .layer(CatchPanicLayer::custom(|_| Problem::internal().into_response()))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID.clone(), RequestIds))
        .layer(SetSensitiveHeadersLayer::new([header::AUTHORIZATION, header::COOKIE, header::SET_COOKIE]))
        .with_state(state)
}

/// Picks the request's language and id, runs the request with them in scope, and turns any bare
/// error status (unknown route, wrong method, oversized body) into a problem in that language.
async fn request_context(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let switched = auth::cookie_value(&parts, auth::LANG_COOKIE).and_then(Lang::parse);
    let lang = switched
        .or_else(|| {
            parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::DEFAULT);
    let choice = LangChoice { lang, switched: switched.is_some() };
    let request_id = parts.headers.get(&X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    parts.extensions.insert(lang);
    let req = Request::from_parts(parts, body);
    REQUEST_ID
        .scope(request_id, REQUEST_LANG.scope(Cell::new(choice), async move {
            let response = next.run(req).await;
            explain_bare_errors(response)
        }))
        .await
}

fn explain_bare_errors(response: Response) -> Response {
    let status = response.status();
    let explained = response.headers().get(header::CONTENT_TYPE).is_some_and(|ct| {
        ct.to_str().is_ok_and(|ct| ct.starts_with(PROBLEM_JSON) || ct.starts_with("text/html"))
    });
    if (status.is_client_error() || status.is_server_error()) && !explained {
        let mut p = Problem::for_status(status).into_response();
        if let Some(allow) = response.headers().get(header::ALLOW) {
            p.headers_mut().insert(header::ALLOW, allow.clone());
        }
        return p;
    }
    response
}

async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    state.metrics.observe_request(&method, &route, status, started.elapsed());
    if response.status().is_server_error() {
        tracing::error!(status, "request failed");
    } else {
        tracing::info!(status, elapsed_ms = started.elapsed().as_millis() as u64, "request answered");
    }
    response
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when the server and its database answer.
    pub status: &'static str,
    pub database: &'static str,
    /// `sqlite` or `postgres`.
    pub engine: &'static str,
    pub version: &'static str,
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let db_ok = tokio::time::timeout(Duration::from_secs(3), state.db.ping()).await.is_ok_and(|r| r.is_ok());
    let body = Health {
        status: if db_ok { "ok" } else { "degraded" },
        database: if db_ok { "ok" } else { "unreachable" },
        engine: state.db.engine(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let status = if db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    text.push_str(&format!(
        "# HELP kezek_position_index_rebuilds_total Full reads of a region's queue by the position index.\n\
         # TYPE kezek_position_index_rebuilds_total counter\nkezek_position_index_rebuilds_total {}\n\
         # HELP kezek_position_index_catch_ups_total Times the position index followed new queue events instead.\n\
         # TYPE kezek_position_index_catch_ups_total counter\nkezek_position_index_catch_ups_total {}\n",
        state.positions.rebuilds(),
        state.positions.catch_ups()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], Body::from(text)).into_response()
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Opens the database named by `config`, migrates it, loads the demo data into an empty one
/// (unless disabled) and returns the state plus the demo logins that were created.
pub async fn prepare(config: &ServerConfig, clock: Arc<dyn Clock>) -> anyhow::Result<(AppState, Vec<kezek_store::demo::DemoLogin>)> {
    let registry_http = config.registries.http(REQUEST_TIMEOUT)?;
    let crl_settings = config.eds.crl_settings(&config.data_dir)?;
    let target = config.database();
    if let kezek_store::DatabaseTarget::SqliteFile(path) = &target
        && let Some(dir) = path.parent()
    {
        std::fs::create_dir_all(dir)?;
    }
    let calendar = kezek_catalog::calendars::load_calendar(&config.catalog_dir).map_err(|e| {
        anyhow::anyhow!("cannot load the working-day calendar from {}: {e} (set --catalog-dir or KEZEK_CATALOG_DIR)", config.catalog_dir.display())
    })?;
    let services = kezek_catalog::services::load_services(&config.catalog_dir).map_err(|e| {
        anyhow::anyhow!("cannot load the service definitions from {}: {e} (set --catalog-dir or KEZEK_CATALOG_DIR)", config.catalog_dir.display())
    })?;
    let db = kezek_store::Db::connect(&target).await?;
    db.migrate().await?;
    let mut logins = Vec::new();
    if !config.no_demo && kezek_store::demo::is_empty(&db).await? {
        let hash = tokio::task::spawn_blocking(|| auth::hash_password(kezek_store::demo::DEMO_PASSWORD)).await??;
        logins = kezek_store::demo::load(&db, clock.now(), &hash).await?;
        kezek_registries::demo::load_if_empty(&db, clock.now()).await?;
    }
    let registries = registry_checks::gateway(registry_http, &db, clock.clone())?;
    let citizens: Vec<String> =
        logins.iter().filter(|l| l.role == kezek_domain::access::Role::Citizen).map(|l| l.iin.clone()).collect();
    let (loaded, trust) = signatures::load_verifier(&config.eds, &config.data_dir, !config.no_demo && !config.eds.no_eds_demo, &citizens, clock.now())
        .map_err(|e| anyhow::anyhow!("cannot load the signature trust configuration: {e}"))?;
    // Waits at most --eds-crl-timeout-secs for the distribution points, whatever they do.
    let crl_distribution = match &loaded {
        Some(l) if !crl_settings.urls.is_empty() => {
            Some(crl_distribution::CrlDistribution::start(l.verifier.clone(), l.crls.clone(), crl_settings, clock.clone()).await)
        }
        _ => None,
    };
    match &trust {
        signatures::Trust::Configured => {}
        signatures::Trust::Demo(dir) => {
            tracing::warn!(folder = %dir.display(), "signatures are checked against the demo CA, not the national CA")
        }
        signatures::Trust::None => tracing::warn!("no trusted roots configured: signed filings and EDS login are refused"),
    }
    let keys = queue_log_keys::RegionKeys::in_data_dir(&config.data_dir);
    let verifier = loaded.map(|l| l.verifier);
    let demo_pki = match &trust {
        signatures::Trust::Demo(dir) => Some(kezek_eds::demo::DemoPki::at(dir)),
        signatures::Trust::Configured | signatures::Trust::None => None,
    };
    let state = AppState::new(
        db, clock, Arc::new(calendar), Arc::new(services), config.secure_cookies, registries, verifier, crl_distribution, keys, demo_pki,
    );
    Ok((state, logins))
}

/// Serves on an already bound listener until the task is dropped or shutdown is signalled.
pub fn spawn(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    if let Some(d) = &state.crl_distribution {
        d.keep_fresh();
    }
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let handle = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running { addr, state, handle })
}

/// How often the server lapses overdue referrals and expired claims.
const EXPIRY_EVERY: Duration = Duration::from_secs(300);

/// Runs the expiry job forever. Several servers may run it: each referral changes state once.
pub async fn run_expiry_job(state: AppState) {
    let mut tick = tokio::time::interval(EXPIRY_EVERY);
    loop {
        tick.tick().await;
        match queue::expire(&state.db, state.clock.now()).await {
            Ok(run) if run.referrals_expired + run.claims_expired > 0 => {
                tracing::info!(referrals = run.referrals_expired, claims = run.claims_expired, "expiry job ran");
            }
            Ok(_) => {}
            Err(p) => tracing::error!(status = p.status.as_u16(), "expiry job failed"),
        }
    }
}

/// How often the server looks for scheduled rounds that are due.
const ROUNDS_EVERY: Duration = Duration::from_secs(60);

/// Starts each region's scheduled round once per working day, forever. Several servers may run
/// it: the day's round is taken by one (see `queue::run_due_rounds`).
pub async fn run_round_scheduler(state: AppState) {
    let mut tick = tokio::time::interval(ROUNDS_EVERY);
    loop {
        tick.tick().await;
        match queue::run_due_rounds(&state.db, &state.calendar, state.clock.now()).await {
            Ok(started) => {
                for (region, outcome) in started {
                    match outcome {
                        Ok(r) => tracing::info!(region, round = r.round_id, assigned = r.assigned, "scheduled round ran"),
                        Err(p) => tracing::warn!(region, status = p.status.as_u16(), "scheduled round could not run; it is tried again"),
                    }
                }
            }
            Err(p) => tracing::error!(status = p.status.as_u16(), "round scheduler failed"),
        }
    }
}

/// How often the server looks for regions whose queue-log head of the Almaty day is not yet
/// published: the head of a day is signed within this time after midnight (or after start-up).
const HEADS_EVERY: Duration = Duration::from_secs(600);

/// Publishes each region's signed queue-log head once per Almaty day, forever. Several servers
/// on one database may run it: the day's row is stored once, by whichever comes first with the
/// region's key (see `queue_log_keys::publish_due_heads`).
pub async fn run_head_publisher(state: AppState) {
    let mut tick = tokio::time::interval(HEADS_EVERY);
    loop {
        tick.tick().await;
        match queue_log_keys::publish_due_heads(&state.db, &state.queue_log_keys, state.clock.now()).await {
            Ok(done) => {
                for (region, p) in done {
                    if let queue_log_keys::Publication::Published(h) = p {
                        tracing::info!(region, day = %h.day, size = h.size, "queue-log head published");
                    }
                }
            }
            Err(e) => tracing::error!(error = e.kind(), "queue-log head publication failed"),
        }
    }
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
pub async fn serve_until_shutdown(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    tokio::spawn(run_expiry_job(state.clone()));
    tokio::spawn(run_head_publisher(state.clone()));
    tokio::spawn(run_round_scheduler(state.clone()));
    if let Some(d) = &state.crl_distribution {
        d.keep_fresh();
    }
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Installs the log subscriber: `pretty` for a console, `json` for collectors.
pub fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KEZEK_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}
