//! Revocation lists fetched from the CAs' distribution points (`--eds-crl-url`): fetched at
//! start, refreshed in the background before their nextUpdate, and cached on disk so that a
//! restart while a distribution point is down still has its last good CRL.
//!
//! A fetched CRL replaces the one held only after `Verifier::check_crl_update` took it (one
//! CRL, signed by a configured root or intermediate, not older than the one held); the
//! verifier reads the held CRLs through `kezek_eds::UpdatableCrls`, so a replacement counts
//! from the next signature on. Nothing here decides whether a signature is valid: an issuer
//! without a current CRL is left to `--eds-crl-policy`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use kezek_eds::{Crl, CrlRefusal, CrlUpdate, UpdatableCrls, Verifier};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::state::Clock;

/// The folder of the cached CRLs inside the data folder.
pub const CACHE_DIR: &str = "eds-crl-cache";

/// The largest CRL accepted, in bytes. The national CA's base CRLs list hundreds of thousands
/// of serials in tens of megabytes; this leaves room and bounds memory.
pub const MAX_CRL_BYTES: usize = 256 * 1024 * 1024;

/// The first pause before fetching again after a failure; it doubles up to the refresh interval.
const FIRST_RETRY: Duration = Duration::from_secs(30);

/// Why a distribution point gave no CRL to take.
#[derive(Debug, thiserror::Error)]
pub enum CrlFetchError {
    #[error("not an http:// URL")]
    NotHttp,
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("more than {MAX_CRL_BYTES} bytes")]
    TooLarge,
    #[error("no answer within {0} s")]
    TimedOut(u64),
    #[error("CRL refused: {0}")]
    Refused(#[from] CrlRefusal),
}

/// A distribution point URL as configured: plain HTTP, as CAs publish CRLs (the CRL is signed;
/// its transport need not be), and as the one HTTP client of the workspace speaks.
pub fn check_url(url: &str) -> Result<String, CrlFetchError> {
    let url = url.trim();
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" && u.host_str().is_some() => Ok(url.to_owned()),
        _ => Err(CrlFetchError::NotHttp),
    }
}

/// The HTTP client for distribution points: every fetch ends within `timeout`, connection and
/// whole body included.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        // Fails only when the TLS backend or the system resolver configuration cannot be
        // initialised; this client uses neither TLS nor custom settings.
        .expect("a plain HTTP client builds")
}

/// The bytes at `url`, at most [`MAX_CRL_BYTES`], within `timeout`.
pub async fn fetch(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<Vec<u8>, CrlFetchError> {
    let download = async {
        let mut response = client.get(url).send().await.map_err(|e| CrlFetchError::Unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(CrlFetchError::Status(response.status().as_u16()));
        }
        if response.content_length().is_some_and(|n| n > MAX_CRL_BYTES as u64) {
            return Err(CrlFetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| CrlFetchError::Unreachable(e.without_url().to_string()))? {
            if body.len() + chunk.len() > MAX_CRL_BYTES {
                return Err(CrlFetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    // The client's own timeout bounds each request too; this bounds the whole download.
    tokio::time::timeout(timeout, download).await.map_err(|_| CrlFetchError::TimedOut(timeout.as_secs()))?
}

/// What a fetch brought.
#[derive(Debug)]
pub enum Fetched {
    /// A CRL newer than the one held (or the first), now held; its bytes as fetched.
    Newer { crl: Arc<Crl>, bytes: Vec<u8> },
    /// The CRL already held.
    Unchanged,
}

/// Checks `bytes` against the CRL the slot of `url` holds and, if the verifier takes them,
/// puts them in the slot. Parsing and the signature check of a large CRL run off the async
/// threads.
async fn hold(verifier: &Arc<Verifier>, crls: &Arc<UpdatableCrls>, url: &str, bytes: Vec<u8>) -> Result<Fetched, CrlFetchError> {
    let (verifier, crls, url) = (verifier.clone(), crls.clone(), url.to_owned());
    tokio::task::spawn_blocking(move || {
        let held = crls.held(&url);
        match verifier.check_crl_update(&bytes, held.as_deref())? {
            CrlUpdate::Newer(crl) => {
                crls.replace(&url, crl.clone());
                Ok(Fetched::Newer { crl, bytes })
            }
            CrlUpdate::Unchanged => Ok(Fetched::Unchanged),
        }
    })
    .await
    .map_err(|e| CrlFetchError::Unreachable(format!("the CRL check stopped: {e}")))?
}

/// Fetches the CRL at `url` once and holds it in the slot of `url` if the verifier takes it.
/// `kezek eds verify --crl-url` and the server's refresh both come through here.
pub async fn fetch_and_hold(
    client: &reqwest::Client,
    timeout: Duration,
    verifier: &Arc<Verifier>,
    crls: &Arc<UpdatableCrls>,
    url: &str,
) -> Result<Fetched, CrlFetchError> {
    let bytes = fetch(client, url, timeout).await?;
    hold(verifier, crls, url, bytes).await
}

/// When to fetch again: sooner as the held CRL's nextUpdate nears (halfway there), at the
/// latest after `refresh`; after `failures` failed fetches in a row (or while the held CRL is
/// not current), after a pause that doubles from 30 s (or `refresh`, if shorter) up to `refresh`.
pub fn next_fetch_in(refresh: Duration, held: Option<&Crl>, now: OffsetDateTime, failures: u32) -> Duration {
    let first_retry = FIRST_RETRY.min(refresh);
    let retry = |n: u32| first_retry.saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(16))).min(refresh);
    if failures > 0 {
        return retry(failures);
    }
    match held.map(|c| (c.this_update(), c.next_update())) {
        Some((this, Some(next))) if this <= now && now < next => {
            let half = Duration::try_from((next - now) / 2).unwrap_or(Duration::ZERO);
            half.max(first_retry).min(refresh)
        }
        // Stale, not yet in force, or without nextUpdate: nothing current to count on.
        Some((_, Some(_))) | None => retry(1),
        Some((_, None)) => refresh,
    }
}

/// Whether `crl` is in force at `now` (thisUpdate ≤ now < nextUpdate).
fn is_current(crl: &Crl, now: OffsetDateTime) -> bool {
    crl.this_update() <= now && crl.next_update().is_some_and(|next| now < next)
}

/// One distribution point and its cache file.
#[derive(Debug)]
struct Point {
    url: String,
    cache: PathBuf,
}

/// The cache file of `url`: readable by operators (host and path), unique by the URL's digest.
fn cache_file(dir: &Path, url: &str) -> PathBuf {
    let readable: String = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .take(80)
        .collect();
    let digest = hex::encode(&Sha256::digest(url.as_bytes())[..6]);
    dir.join(format!("{readable}-{digest}.crl"))
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it, synced, renamed
/// over it. A crash leaves the old file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("crl");
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself is durable once the folder is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Fetches one distribution point again and again, holding only a weak reference between
/// fetches so that it ends once the distribution is dropped.
async fn refresh_forever(distribution: Weak<CrlDistribution>, index: usize) {
    let Some(mut failures) = distribution.upgrade().map(|d| u32::from(!d.holds_current(index))) else { return };
    loop {
        let Some(pause) = distribution.upgrade().map(|d| d.pause(index, failures)) else { return };
        tokio::time::sleep(pause).await;
        let Some(d) = distribution.upgrade() else { return };
        let fetched = d.refresh(index).await;
        failures = if fetched && d.holds_current(index) { 0 } else { failures.saturating_add(1) };
    }
}

/// The configured distribution points, their CRLs and how they are kept fresh.
pub struct CrlDistribution {
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    points: Vec<Point>,
    verifier: Arc<Verifier>,
    crls: Arc<UpdatableCrls>,
    client: reqwest::Client,
    refresh: Duration,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

/// Stops the refresh tasks at once rather than after their pause.
impl Drop for CrlDistribution {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            task.abort();
        }
    }
}

/// Names the distribution points, not the CRLs.
impl std::fmt::Debug for CrlDistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlDistribution")
            .field("urls", &self.points.iter().map(|p| p.url.as_str()).collect::<Vec<_>>())
            .field("refresh", &self.refresh)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How the distribution points are asked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub urls: Vec<String>,
    /// `<data-dir>/eds-crl-cache`.
    pub cache_dir: PathBuf,
    pub refresh: Duration,
    pub timeout: Duration,
}

impl CrlDistribution {
    /// Loads each distribution point's cached CRL (checked again, as the trust configuration
    /// may have changed), then fetches them all at once. Returns after at most `timeout` of
    /// fetching, whatever the distribution points do; one that failed keeps its cached CRL
    /// (or none: the revocation policy decides) and is retried by [`Self::keep_fresh`].
    pub async fn start(verifier: Arc<Verifier>, crls: Arc<UpdatableCrls>, settings: Settings, clock: Arc<dyn Clock>) -> Arc<CrlDistribution> {
        let points = settings.urls.iter().map(|url| Point { url: url.clone(), cache: cache_file(&settings.cache_dir, url) }).collect();
        let distribution = Arc::new(CrlDistribution {
            tasks: Mutex::default(),
            points,
            verifier,
            crls,
            client: client(settings.timeout),
            refresh: settings.refresh,
            timeout: settings.timeout,
            clock,
        });
        let mut first = tokio::task::JoinSet::new();
        for index in 0..distribution.points.len() {
            let d = distribution.clone();
            first.spawn(async move {
                d.load_cache(index).await;
                d.refresh(index).await;
            });
        }
        while first.join_next().await.is_some() {}
        distribution
    }

    /// Starts one background task per distribution point that fetches it again before its
    /// CRL's nextUpdate, at least every `refresh`, with growing pauses after failures. The
    /// tasks end with the distribution (when the server's state is gone); a second call
    /// starts nothing.
    pub fn keep_fresh(self: &Arc<Self>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if !tasks.is_empty() {
            return;
        }
        for index in 0..self.points.len() {
            tasks.push(tokio::spawn(refresh_forever(Arc::downgrade(self), index)).abort_handle());
        }
    }

    /// The pause before the next fetch of the point, after `failures` failed ones in a row.
    fn pause(&self, index: usize, failures: u32) -> Duration {
        next_fetch_in(self.refresh, self.crls.held(&self.points[index].url).as_deref(), self.clock.now(), failures)
    }

    /// Whether the point's CRL held is in force now.
    fn holds_current(&self, index: usize) -> bool {
        self.crls.held(&self.points[index].url).is_some_and(|crl| is_current(&crl, self.clock.now()))
    }

    /// The cached CRL of the point, if there is one the verifier still takes.
    async fn load_cache(&self, index: usize) {
        let point = &self.points[index];
        let bytes = match tokio::fs::read(&point.cache).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!(url = %point.url, cache = %point.cache.display(), error = %e, "cached CRL unreadable");
                return;
            }
        };
        match hold(&self.verifier, &self.crls, &point.url, bytes).await {
            Ok(Fetched::Newer { crl, .. }) => {
                tracing::info!(url = %point.url, issuer = %crl.issuer(), this_update = %crl.this_update(), next_update = ?crl.next_update(), "cached CRL loaded")
            }
            Ok(Fetched::Unchanged) => {}
            Err(e) => tracing::warn!(url = %point.url, cache = %point.cache.display(), error = %e, "cached CRL not used"),
        }
    }

    /// Fetches the point once; a CRL taken is cached. True when the fetch brought a CRL the
    /// verifier took or the one already held.
    async fn refresh(&self, index: usize) -> bool {
        let point = &self.points[index];
        match fetch_and_hold(&self.client, self.timeout, &self.verifier, &self.crls, &point.url).await {
            Ok(Fetched::Newer { crl, bytes }) => {
                tracing::info!(url = %point.url, issuer = %crl.issuer(), this_update = %crl.this_update(), next_update = ?crl.next_update(), "CRL updated");
                let cache = point.cache.clone();
                let written = tokio::task::spawn_blocking(move || write_atomically(&cache, &bytes)).await;
                if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
                    tracing::warn!(url = %point.url, cache = %point.cache.display(), error = %e, "CRL not cached");
                }
                true
            }
            Ok(Fetched::Unchanged) => true,
            Err(e) => {
                let held = self.crls.held(&point.url);
                tracing::warn!(
                    url = %point.url,
                    error = %e,
                    held_next_update = ?held.as_ref().and_then(|c| c.next_update()),
                    "CRL not updated; the one held (if any) stays"
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_eds::testpki::{CrlIssuer, KeyKind, Pki};
    use time::Duration as Span;

    fn crl(pki: &Pki, this_update: OffsetDateTime, next_update: OffsetDateTime) -> Crl {
        let der = pki.numbered_crl(CrlIssuer::Intermediate, 1, this_update, next_update, &[]);
        Crl::new(kezek_eds::decode::crls(&der).unwrap().remove(0)).unwrap()
    }

    #[test]
    fn a_current_crl_is_fetched_again_halfway_to_its_next_update_and_at_least_every_interval() {
        // Whole seconds, as X.509 times are.
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let pki = Pki::new(KeyKind::P256, now);
        let hour = Duration::from_secs(3600);
        let soon = crl(&pki, now - Span::hours(1), now + Span::minutes(40));
        assert_eq!(next_fetch_in(hour, Some(&soon), now, 0), Duration::from_secs(20 * 60));
        let later = crl(&pki, now - Span::hours(1), now + Span::days(7));
        assert_eq!(next_fetch_in(hour, Some(&later), now, 0), hour);
        let almost = crl(&pki, now - Span::hours(1), now + Span::seconds(10));
        assert_eq!(next_fetch_in(hour, Some(&almost), now, 0), Duration::from_secs(30), "never more often than the first retry");
    }

    #[test]
    fn failures_and_stale_crls_are_retried_with_doubling_pauses_up_to_the_interval() {
        let now = OffsetDateTime::now_utc();
        let pki = Pki::new(KeyKind::P256, now);
        let hour = Duration::from_secs(3600);
        let pauses: Vec<u64> = (1..=9).map(|n| next_fetch_in(hour, None, now, n).as_secs()).collect();
        assert_eq!(pauses, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(next_fetch_in(hour, None, now, 0), Duration::from_secs(30), "nothing held yet");
        let stale = crl(&pki, now - Span::days(8), now - Span::days(1));
        assert_eq!(next_fetch_in(hour, Some(&stale), now, 0), Duration::from_secs(30));
        assert_eq!(next_fetch_in(Duration::from_secs(5), None, now, 3), Duration::from_secs(5), "a short interval caps the retries");
    }

    #[test]
    fn only_plain_http_urls_with_a_host_are_distribution_points() {
        assert_eq!(check_url(" http://crl.pki.gov.kz/nca_rsa.crl ").unwrap(), "http://crl.pki.gov.kz/nca_rsa.crl");
        for bad in ["https://crl.pki.gov.kz/nca_rsa.crl", "crl.pki.gov.kz/nca_rsa.crl", "file:///etc/crl", "http://"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_url_has_its_own_cache_file_named_after_it() {
        let dir = Path::new("/data/eds-crl-cache");
        let a = cache_file(dir, "http://crl.pki.gov.kz/nca_rsa.crl");
        let b = cache_file(dir, "http://crl.pki.gov.kz/nca_d_rsa.crl");
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("crl.pki.gov.kz_nca_rsa.crl-") && name.ends_with(".crl"), "{name}");
        assert_eq!(a.parent(), Some(dir));
    }

    #[test]
    fn an_atomic_write_replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache").join("a.crl");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["a.crl"]);
    }
}
