//! What every handler shares.

use std::sync::Arc;
use std::time::Instant;

use kezek_catalog::services::ServiceCatalog;
use kezek_domain::calendar::Calendar;
use kezek_registries::configured::ConfiguredRegistry;
use kezek_registries::gateway::RegistryGateway;
use kezek_store::Db;
use time::OffsetDateTime;

use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;

/// The source of "now", injected so tests can move time without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;

    /// The monotonic time that cool-downs (the registry circuit breaker's) are measured on; a
    /// test clock moves it together with `now`.
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

#[derive(Debug)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// The working-day calendar every term is counted on.
    pub calendar: Arc<Calendar>,
    /// The service definitions applications are filed and walked under.
    pub services: Arc<ServiceCatalog>,
    pub limiter: RateLimiter,
    pub metrics: Metrics,
    /// Whether cookies carry the `Secure` attribute (behind HTTPS).
    pub secure_cookies: bool,
    /// Waiting children's ranking keys per region, for position reads.
    pub positions: crate::position_index::PositionIndex,
    /// The state registries as configured (embedded or HTTP), built once at start so that the
    /// HTTP adapter's connection pool and circuit breaker serve every request.
    pub registries: RegistryGateway<ConfiguredRegistry>,
    /// Checks electronic signatures against the configured roots; `None` when none are
    /// configured, and then every signature is refused as unverifiable.
    pub verifier: Option<Arc<kezek_eds::Verifier>>,
    /// The CRL distribution points (`--eds-crl-url`) the verifier's CRLs are refreshed from,
    /// if any; running the server keeps them fresh.
    pub crl_distribution: Option<Arc<crate::crl_distribution::CrlDistribution>>,
    /// Recently checked sessions, so that each request need not ask the database.
    pub sessions: crate::auth::SessionCache,
    /// The regions' keys that sign the daily queue-log heads (`<data-dir>/keys`).
    pub queue_log_keys: crate::queue_log_keys::RegionKeys,
    /// The demo CA the verifier trusts, when it trusts that and nothing else: its citizens' keys
    /// back the pages' demo signer. `None` whenever roots are configured.
    pub demo_pki: Option<kezek_eds::demo::DemoPki>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        db: Db, clock: Arc<dyn Clock>, calendar: Arc<Calendar>, services: Arc<ServiceCatalog>, secure_cookies: bool,
        registries: RegistryGateway<ConfiguredRegistry>,
        verifier: Option<Arc<kezek_eds::Verifier>>,
        crl_distribution: Option<Arc<crate::crl_distribution::CrlDistribution>>,
        queue_log_keys: crate::queue_log_keys::RegionKeys,
        demo_pki: Option<kezek_eds::demo::DemoPki>,
    ) -> AppState {
        AppState(Arc::new(Inner {
            db,
            clock,
            calendar,
            services,
            limiter: RateLimiter::default(),
            metrics: Metrics::default(),
            secure_cookies,
            positions: Default::default(),
            registries,
            verifier,
            crl_distribution,
            sessions: Default::default(),
            queue_log_keys,
            demo_pki,
        }))
    }
}
