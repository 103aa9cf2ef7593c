//! The server's one configuration: flags, each with an environment variable and a default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kezek_registries::http::HttpConfig;
use kezek_store::DatabaseTarget;

#[derive(Debug, Clone, clap::Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "KEZEK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Folder for the embedded SQLite database (used when no DATABASE_URL is given).
    #[arg(long, env = "KEZEK_DATA_DIR", default_value = "./kezek-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user:password@host:port/db); empty means embedded SQLite.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The catalog folder: service definitions and the working-day calendar.
    #[arg(long, env = "KEZEK_CATALOG_DIR", default_value = "./catalog")]
    pub catalog_dir: PathBuf,
    /// Do not load demo data into an empty database.
    #[arg(long, env = "KEZEK_NO_DEMO")]
    pub no_demo: bool,
    /// Mark cookies Secure (set when served over HTTPS).
    #[arg(long, env = "KEZEK_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Log format: `pretty` for people, `json` for collectors.
    #[arg(long, env = "KEZEK_LOG_FORMAT", default_value = "pretty", value_parser = ["pretty", "json"])]
    pub log_format: String,
    #[command(flatten)]
    pub registries: RegistryConfig,
    #[command(flatten)]
    pub eds: EdsConfig,
}

/// Where the person, legal-entity and notary registries are asked (docs/registry-gateway.md).
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryConfig {
    /// Base URL of the registry gateway (HTTP/JSON); unset means the embedded registry tables.
    #[arg(long = "registry-gateway-url", env = "KEZEK_REGISTRY_GATEWAY_URL", hide_env_values = true)]
    pub gateway_url: Option<String>,
    /// Timeout of one attempt at the gateway, in milliseconds.
    #[arg(long = "registry-timeout-ms", env = "KEZEK_REGISTRY_TIMEOUT_MS", default_value_t = RegistryConfig::DEFAULT.timeout_ms)]
    pub timeout_ms: u64,
    /// Attempts per registry request, the first included.
    #[arg(long = "registry-attempts", env = "KEZEK_REGISTRY_ATTEMPTS", default_value_t = RegistryConfig::DEFAULT.attempts,
        value_parser = clap::value_parser!(u32).range(1..=10))]
    pub attempts: u32,
    /// Pause before the second attempt, in milliseconds; it doubles for each next one.
    #[arg(long = "registry-backoff-ms", env = "KEZEK_REGISTRY_BACKOFF_MS", default_value_t = RegistryConfig::DEFAULT.backoff_ms)]
    pub backoff_ms: u64,
    /// Longest pause between attempts, in milliseconds.
    #[arg(long = "registry-max-backoff-ms", env = "KEZEK_REGISTRY_MAX_BACKOFF_MS", default_value_t = RegistryConfig::DEFAULT.max_backoff_ms)]
    pub max_backoff_ms: u64,
    /// Consecutive failed attempts that open the circuit (no requests for the cool-down).
    #[arg(long = "registry-breaker-threshold", env = "KEZEK_REGISTRY_BREAKER_THRESHOLD", default_value_t = RegistryConfig::DEFAULT.breaker_threshold,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub breaker_threshold: u32,
    /// How long an open circuit waits before letting one trial request through, in seconds.
    #[arg(long = "registry-breaker-cooldown-secs", env = "KEZEK_REGISTRY_BREAKER_COOLDOWN_SECS", default_value_t = RegistryConfig::DEFAULT.breaker_cooldown_secs)]
    pub breaker_cooldown_secs: u64,
}

/// Registry requests one registration makes one after another at most: a representative's
/// power of attorney, the child, and the principal's parenthood.
pub const REGISTRY_REQUESTS_PER_REGISTRATION: u32 = 3;

impl RegistryConfig {
    /// The defaults of the flags: an attempt's timeout short enough that a registration's three
    /// requests, with every retry, end well inside the server's request limit.
    pub const DEFAULT: RegistryConfig = RegistryConfig {
        gateway_url: None,
        timeout_ms: 2000,
        attempts: 3,
        backoff_ms: 200,
        max_backoff_ms: 1000,
        breaker_threshold: 5,
        breaker_cooldown_secs: 30,
    };

    /// The HTTP adapter's settings when a gateway is configured; `None` means the embedded
    /// registry. Refuses settings under which a registration could outlast `request_limit`.
    pub fn http(&self, request_limit: Duration) -> anyhow::Result<Option<HttpConfig>> {
        let Some(url) = self.gateway_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            anyhow::bail!("--registry-gateway-url must be an http:// or https:// URL");
        }
        if self.timeout_ms == 0 {
            anyhow::bail!("--registry-timeout-ms must be above 0");
        }
        let config = HttpConfig {
            base_url: url.to_owned(),
            timeout: Duration::from_millis(self.timeout_ms),
            attempts: self.attempts.max(1),
            backoff: Duration::from_millis(self.backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
            breaker_threshold: self.breaker_threshold.max(1),
            breaker_cooldown: Duration::from_secs(self.breaker_cooldown_secs),
        };
        let worst = config.worst_case().saturating_mul(REGISTRY_REQUESTS_PER_REGISTRATION);
        if worst >= request_limit {
            anyhow::bail!(
                "registry settings allow a registration to wait {} s for the gateway ({REGISTRY_REQUESTS_PER_REGISTRATION} requests × attempts × timeout, plus pauses), \
                 not less than the {} s request limit: lower --registry-timeout-ms, --registry-attempts or the backoff",
                worst.as_secs_f64(),
                request_limit.as_secs()
            );
        }
        Ok(Some(config))
    }

    /// `embedded`, or `http(URL)` with any user and password in the URL removed.
    pub fn describe(&self) -> String {
        match self.gateway_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            None => "embedded".into(),
            Some(url) => format!(
                "http({}) timeout_ms={} attempts={} backoff_ms={}..{} breaker={}/{}s",
                redact_userinfo(url),
                self.timeout_ms,
                self.attempts,
                self.backoff_ms,
                self.max_backoff_ms,
                self.breaker_threshold,
                self.breaker_cooldown_secs
            ),
        }
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig::DEFAULT
    }
}

fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

impl ServerConfig {
    pub fn database(&self) -> DatabaseTarget {
        match self.database_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => DatabaseTarget::Postgres(url.to_owned()),
            _ => DatabaseTarget::SqliteFile(self.data_dir.join("kezek.db")),
        }
    }

    /// One line per setting, secrets removed, for the start-up banner.
    pub fn describe(&self) -> String {
        format!(
            "bind={} database={} catalog={} demo_data={} secure_cookies={} log_format={} registries={} {}",
            self.bind,
            self.database().redacted(),
            self.catalog_dir.display(),
            !self.no_demo,
            self.secure_cookies,
            self.log_format,
            self.registries.describe(),
            self.eds.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_gateway_url_the_embedded_registry_is_used() {
        let c = RegistryConfig::default();
        assert!(c.http(Duration::from_secs(30)).unwrap().is_none());
        assert_eq!(c.describe(), "embedded");
    }

    #[test]
    fn the_defaults_fit_a_registration_in_the_request_limit_and_slow_settings_are_refused() {
        let mut c = RegistryConfig { gateway_url: Some("http://gw.local/registries".into()), ..RegistryConfig::default() };
        let http = c.http(Duration::from_secs(30)).unwrap().expect("a gateway is configured");
        assert_eq!(http.timeout, Duration::from_secs(2));
        assert_eq!(http.attempts, 3);
        c.timeout_ms = 5000;
        let e = c.http(Duration::from_secs(30)).unwrap_err().to_string();
        assert!(e.contains("--registry-timeout-ms"), "{e}");
        c.timeout_ms = 2000;
        c.gateway_url = Some("gw.local".into());
        assert!(c.http(Duration::from_secs(30)).is_err());
    }

    #[test]
    fn crl_urls_must_be_plain_http_and_each_is_fetched_once() {
        let urls = |list: &[&str]| EdsConfig { eds_crl_urls: list.iter().map(|u| u.to_string()).collect(), ..EdsConfig::default() }.crl_urls();
        let two = ["http://crl.pki.gov.kz/nca_rsa.crl", "http://crl.pki.gov.kz/nca_d_rsa.crl"];
        assert_eq!(urls(&[two[0], two[1], two[0], ""]).unwrap(), two);
        let e = urls(&["https://u:s3cret@crl.pki.gov.kz/nca_rsa.crl"]).unwrap_err().to_string();
        assert!(e.contains("--eds-crl-url") && !e.contains("s3cret"), "{e}");
        let d = EdsConfig { eds_roots: Some("/roots".into()), eds_crl_urls: vec!["http://u:s3cret@crl.local/a.crl".into()], ..EdsConfig::default() }.describe();
        assert!(d.contains("eds_crl_urls=[http://***@crl.local/a.crl]") && d.contains("eds_crl_refresh_secs=3600"), "{d}");
    }

    #[test]
    fn the_banner_shows_no_password_of_the_gateway_url() {
        let c = RegistryConfig { gateway_url: Some("https://kezek:s3cret@gw.local:8443/registries".into()), ..RegistryConfig::default() };
        let d = c.describe();
        assert!(d.starts_with("http(https://***@gw.local:8443/registries)"), "{d}");
        assert!(!d.contains("s3cret"));
    }
}

/// Where the server finds what electronic signatures must chain to, and what it does when a
/// certificate's revocation status cannot be established.
#[derive(Debug, Clone, clap::Args)]
pub struct EdsConfig {
    /// Folder of trusted root certificates (the national CA's `.cer` files, DER or PEM). Without
    /// it signed filings and EDS login answer 503, except in demo mode (see README).
    #[arg(long, env = "KEZEK_EDS_ROOTS", value_name = "DIR")]
    pub eds_roots: Option<PathBuf>,
    /// Folder of intermediate certificates, for signatures that do not carry them.
    #[arg(long, env = "KEZEK_EDS_INTERMEDIATES", value_name = "DIR")]
    pub eds_intermediates: Option<PathBuf>,
    /// A CRL file (DER or PEM), base or delta; repeat the flag, or separate files by commas in
    /// the environment variable. Read once at start.
    #[arg(long = "eds-crl", env = "KEZEK_EDS_CRLS", value_name = "FILE", value_delimiter = ',')]
    pub eds_crls: Vec<PathBuf>,
    /// A CRL distribution point (http://, DER or PEM), base or delta; repeat the flag, or
    /// separate URLs by commas in the environment variable. Fetched at start and refreshed in
    /// the background; the last good CRL of each is cached in `<data-dir>/eds-crl-cache/`.
    #[arg(long = "eds-crl-url", env = "KEZEK_EDS_CRL_URLS", value_name = "URL", value_delimiter = ',')]
    pub eds_crl_urls: Vec<String>,
    /// Longest time between two fetches of a distribution point, in seconds; a CRL is fetched
    /// sooner as its nextUpdate nears, and retried with growing pauses (up to this) on failure.
    #[arg(long, env = "KEZEK_EDS_CRL_REFRESH_SECS", default_value_t = EdsConfig::DEFAULT_REFRESH_SECS,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub eds_crl_refresh_secs: u64,
    /// Timeout of one fetch of a distribution point, in seconds (connection and whole body).
    /// Start-up waits at most this long for all of them together.
    #[arg(long, env = "KEZEK_EDS_CRL_TIMEOUT_SECS", default_value_t = EdsConfig::DEFAULT_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=300))]
    pub eds_crl_timeout_secs: u64,
    /// When a certificate's issuer has no current CRL (missing or past its nextUpdate):
    /// `require` refuses the signature (`untrusted_chain`), `allow-missing` accepts it and
    /// stores the verdict with revocation `unknown`.
    #[arg(long, env = "KEZEK_EDS_CRL_POLICY", value_enum, default_value_t = CrlPolicy::Require)]
    pub eds_crl_policy: CrlPolicy,
    /// With demo data and no --eds-roots, do not create or trust the demo CA (`eds-demo` in the
    /// data folder): signatures then answer 503 as in production without roots.
    #[arg(long, env = "KEZEK_NO_EDS_DEMO")]
    pub no_eds_demo: bool,
}

/// The revocation policy as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CrlPolicy {
    #[default]
    Require,
    AllowMissing,
}

impl CrlPolicy {
    pub fn policy(self) -> kezek_eds::RevocationPolicy {
        match self {
            CrlPolicy::Require => kezek_eds::RevocationPolicy::RequireCurrentCrl,
            CrlPolicy::AllowMissing => kezek_eds::RevocationPolicy::AllowUnknown,
        }
    }
}

impl Default for EdsConfig {
    fn default() -> Self {
        EdsConfig {
            eds_roots: None,
            eds_intermediates: None,
            eds_crls: Vec::new(),
            eds_crl_urls: Vec::new(),
            eds_crl_refresh_secs: EdsConfig::DEFAULT_REFRESH_SECS,
            eds_crl_timeout_secs: EdsConfig::DEFAULT_TIMEOUT_SECS,
            eds_crl_policy: CrlPolicy::Require,
            no_eds_demo: false,
        }
    }
}

impl EdsConfig {
    /// A distribution point is fetched at least hourly.
    pub const DEFAULT_REFRESH_SECS: u64 = 3600;
    /// A fetch (and start-up, for all distribution points together) waits at most 10 s.
    pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

    /// The distribution point URLs, each checked: plain `http://` with a host (CRLs are signed,
    /// so CAs publish them over HTTP; the server's HTTP client speaks no TLS).
    /// A URL given twice is fetched once.
    pub fn crl_urls(&self) -> anyhow::Result<Vec<String>> {
        let mut urls: Vec<String> = Vec::new();
        for u in self.eds_crl_urls.iter().filter(|u| !u.trim().is_empty()) {
            let url = crate::crl_distribution::check_url(u)
                .map_err(|_| anyhow::anyhow!("--eds-crl-url {}: must be an http:// URL with a host", redact_userinfo(u.trim())))?;
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
        Ok(urls)
    }

    /// How the server fetches the distribution points, its cache inside `data_dir`.
    pub fn crl_settings(&self, data_dir: &std::path::Path) -> anyhow::Result<crate::crl_distribution::Settings> {
        Ok(crate::crl_distribution::Settings {
            urls: self.crl_urls()?,
            cache_dir: data_dir.join(crate::crl_distribution::CACHE_DIR),
            refresh: Duration::from_secs(self.eds_crl_refresh_secs.max(1)),
            timeout: Duration::from_secs(self.eds_crl_timeout_secs.max(1)),
        })
    }

    fn describe(&self) -> String {
        match &self.eds_roots {
            Some(roots) => format!(
                "eds_roots={} eds_intermediates={} eds_crls={} eds_crl_urls=[{}] eds_crl_refresh_secs={} eds_crl_timeout_secs={} eds_crl_policy={:?}",
                roots.display(),
                self.eds_intermediates.as_ref().map_or("-".to_owned(), |d| d.display().to_string()),
                self.eds_crls.len(),
                self.eds_crl_urls.iter().map(|u| redact_userinfo(u)).collect::<Vec<_>>().join(","),
                self.eds_crl_refresh_secs,
                self.eds_crl_timeout_secs,
                self.eds_crl_policy
            ),
            None => "eds_roots=-".to_owned(),
        }
    }
}
