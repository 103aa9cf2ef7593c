//! The registries asked over HTTP/JSON through a gateway (the protocol is in the crate docs).
//!
//! Each attempt has its own timeout; failed attempts (timeouts, connection failures, `5xx`,
//! `429`) are retried a bounded number of times with exponential backoff; a circuit breaker
//! stops sending after a run of consecutive failures and lets one trial request through after
//! a cool-down. So a call always ends within about `attempts × (timeout + max_backoff)`, and a
//! failing gateway costs one quick [`RegistryError::CircuitOpen`] per call instead of a wait.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kezek_domain::identity::{Bin, Iin};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    Entity, EntityRegistry, NotaryRegistry, Person, PersonRegistry, PowerOfAttorney, RegistryError,
    Relation,
};

/// How the adapter talks to the gateway.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// e.g. `http://gateway.local:8080/registries` (no trailing slash needed).
    pub base_url: String,
    /// The limit of one attempt, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Attempts per call, the first included (at least 1).
    pub attempts: u32,
    /// The pause before the second attempt; it doubles for each next one.
    pub backoff: Duration,
    /// The longest pause between attempts.
    pub max_backoff: Duration,
    /// Consecutive failed attempts that open the circuit.
    pub breaker_threshold: u32,
    /// How long the circuit stays open before one trial request may go through.
    pub breaker_cooldown: Duration,
}

impl HttpConfig {
    pub fn new(base_url: impl Into<String>) -> HttpConfig {
        HttpConfig {
            base_url: base_url.into(),
            timeout: Duration::from_secs(5),
            attempts: 3,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }

    /// The longest one call can take when every attempt runs into the timeout: the attempts'
    /// timeouts plus the pauses between them. A caller with its own deadline checks against it.
    pub fn worst_case(&self) -> Duration {
        let attempts = self.attempts.max(1);
        (1..=attempts).fold(Duration::ZERO, |sum, a| {
            sum.saturating_add(self.timeout)
                .saturating_add(self.backoff_before(a))
        })
    }

    /// The pause before attempt `n` (1-based; none before the first).
    pub fn backoff_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(attempt - 2).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// A monotonic clock for the breaker's cool-down, injected so tests move time by hand.
pub trait Monotonic: Send + Sync {
    fn now(&self) -> Instant;
}

/// The process's monotonic clock.
#[derive(Debug, Default)]
pub struct SystemMonotonic;

impl Monotonic for SystemMonotonic {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualMonotonic(Mutex<Instant>);

impl Default for ManualMonotonic {
    fn default() -> Self {
        ManualMonotonic(Mutex::new(Instant::now()))
    }
}

impl ManualMonotonic {
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Monotonic for ManualMonotonic {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The breaker's state, as the adapter reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests go through; `failures` consecutive attempts have failed so far.
    Closed { failures: u32 },
    /// No request goes through until the cool-down has passed.
    Open,
    /// The cool-down has passed and one trial request is out; others are refused.
    HalfOpen,
}

#[derive(Debug)]
enum Breaker {
    Closed {
        failures: u32,
    },
    Open {
        since: Instant,
    },
    /// A trial went out at `since`. Should its caller give up on it (a dropped future never
    /// reports back), another trial is let through one cool-down later.
    HalfOpen {
        since: Instant,
    },
}

impl Breaker {
    /// Whether an attempt may be sent now; moves an open breaker whose cool-down has passed to
    /// half-open, letting exactly this attempt through.
    fn admit(&mut self, now: Instant, cooldown: Duration) -> bool {
        match *self {
            Breaker::Closed { .. } => true,
            Breaker::Open { since } | Breaker::HalfOpen { since }
                if now.saturating_duration_since(since) >= cooldown =>
            {
                *self = Breaker::HalfOpen { since: now };
                true
            }
            Breaker::Open { .. } | Breaker::HalfOpen { .. } => false,
        }
    }

    fn success(&mut self) {
        *self = Breaker::Closed { failures: 0 };
    }

    /// Records a failed attempt; returns whether the circuit is now open.
    fn failure(&mut self, now: Instant, threshold: u32) -> bool {
        match *self {
            Breaker::Closed { failures } if failures + 1 < threshold.max(1) => {
                *self = Breaker::Closed {
                    failures: failures + 1,
                };
                false
            }
            _ => {
                *self = Breaker::Open { since: now };
                true
            }
        }
    }
}

/// All three registries asked over HTTP/JSON. Clones share the connection pool and the breaker.
#[derive(Clone)]
pub struct HttpRegistry {
    client: reqwest::Client,
    config: Arc<HttpConfig>,
    breaker: Arc<Mutex<Breaker>>,
    clock: Arc<dyn Monotonic>,
}

impl std::fmt::Debug for HttpRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegistry")
            .field("config", &self.config)
            .field("breaker", &self.breaker_state())
            .finish()
    }
}

/// What one attempt came to.
enum Attempt<T> {
    Answer(T),
    /// The registry answered "no such record".
    Absent,
    /// Worth another attempt (and counts against the breaker).
    Retry(RegistryError),
    /// Not worth another attempt, and the gateway is not failing (e.g. `400`).
    Final(RegistryError),
}

impl HttpRegistry {
    pub fn new(config: HttpConfig) -> Result<HttpRegistry, RegistryError> {
        Self::with_clock(config, Arc::new(SystemMonotonic))
    }

    pub fn with_clock(
        config: HttpConfig,
        clock: Arc<dyn Monotonic>,
    ) -> Result<HttpRegistry, RegistryError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| RegistryError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(HttpRegistry {
            client,
            config: Arc::new(config),
            breaker: Arc::new(Mutex::new(Breaker::Closed { failures: 0 })),
            clock,
        })
    }

    pub fn breaker_state(&self) -> BreakerState {
        match *self.lock() {
            Breaker::Closed { failures } => BreakerState::Closed { failures },
            Breaker::Open { .. } => BreakerState::Open,
            Breaker::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        // The breaker's state stays consistent even if a holder panicked: every update is one
        // assignment.
        self.breaker.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.config.base_url.trim_end_matches('/'), path)
    }

    /// POSTs `body` to `path` with timeouts, retries and the breaker; `Ok(None)` is a `404`.
    async fn call<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Option<T>, RegistryError> {
        let url = self.url(path);
        let attempts = self.config.attempts.max(1);
        let mut last = RegistryError::Unavailable("no attempt made".into());
        for attempt in 1..=attempts {
            let pause = self.config.backoff_before(attempt);
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if !self
                .lock()
                .admit(self.clock.now(), self.config.breaker_cooldown)
            {
                // Open (or another trial is out): the first attempt reports the open circuit;
                // a later one reports why the earlier attempts failed.
                return Err(if attempt == 1 {
                    RegistryError::CircuitOpen
                } else {
                    last
                });
            }
            match self.attempt(&url, body).await {
                Attempt::Answer(v) => {
                    self.lock().success();
                    return Ok(Some(v));
                }
                Attempt::Absent => {
                    self.lock().success();
                    return Ok(None);
                }
                Attempt::Final(e) => {
                    self.lock().success();
                    return Err(e);
                }
                Attempt::Retry(e) => {
                    tracing::warn!(endpoint = path, attempt, error = %e, "registry request failed");
                    let opened = self
                        .lock()
                        .failure(self.clock.now(), self.config.breaker_threshold);
                    if opened {
                        tracing::warn!(endpoint = path, "registry circuit opened");
                        return Err(e);
                    }
                    last = e;
                }
            }
        }
        Err(last)
    }

    async fn attempt<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        url: &str,
        body: &B,
    ) -> Attempt<T> {
        let exchange = async {
            let response = self.client.post(url).json(body).send().await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes))
        };
        match tokio::time::timeout(self.config.timeout, exchange).await {
            Err(_) => Attempt::Retry(RegistryError::Timeout),
            Ok(Err(e)) if e.is_timeout() => Attempt::Retry(RegistryError::Timeout),
            Ok(Err(e)) => Attempt::Retry(RegistryError::Unavailable(describe(&e))),
            Ok(Ok((status, bytes))) => {
                if status == reqwest::StatusCode::NOT_FOUND {
                    Attempt::Absent
                } else if status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                {
                    Attempt::Retry(RegistryError::Unavailable(format!(
                        "gateway answered {}",
                        status.as_u16()
                    )))
                } else if !status.is_success() {
                    Attempt::Final(RegistryError::InvalidAnswer(format!(
                        "gateway answered {}",
                        status.as_u16()
                    )))
                } else {
                    match serde_json::from_slice(&bytes) {
                        Ok(v) => Attempt::Answer(v),
                        // The message of a serde error may quote the value; keep only where it broke.
                        Err(e) => Attempt::Final(RegistryError::InvalidAnswer(format!(
                            "unreadable JSON at line {} column {}",
                            e.line(),
                            e.column()
                        ))),
                    }
                }
            }
        }
    }
}

/// A transport error described without the URL's query or any body.
fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "cannot connect to the gateway".into()
    } else if e.is_body() || e.is_decode() {
        "the answer broke off".into()
    } else if e.is_request() {
        "the request could not be sent".into()
    } else {
        "transport error".into()
    }
}

#[derive(Serialize)]
struct IinQuery<'a> {
    iin: &'a Iin,
}

#[derive(Serialize)]
struct RelationQuery<'a> {
    adult_iin: &'a Iin,
    child_iin: &'a Iin,
}

#[derive(serde::Deserialize)]
struct RelationAnswer {
    relation: Option<Relation>,
}

#[derive(Serialize)]
struct BinQuery<'a> {
    bin: &'a Bin,
}

#[derive(Serialize)]
struct NumberQuery<'a> {
    number: &'a str,
}

impl PersonRegistry for HttpRegistry {
    async fn person(&self, iin: &Iin) -> Result<Person, RegistryError> {
        let person: Person = self
            .call("person", &IinQuery { iin })
            .await?
            .ok_or(RegistryError::NotFound)?;
        if &person.iin != iin {
            return Err(RegistryError::InvalidAnswer(
                "the answer is about another person".into(),
            ));
        }
        Ok(person)
    }

    async fn relation(&self, adult: &Iin, child: &Iin) -> Result<Option<Relation>, RegistryError> {
        let answer: RelationAnswer = self
            .call(
                "person/relation",
                &RelationQuery {
                    adult_iin: adult,
                    child_iin: child,
                },
            )
            .await?
            .ok_or(RegistryError::NotFound)?;
        Ok(answer.relation)
    }
}

impl EntityRegistry for HttpRegistry {
    async fn entity(&self, bin: &Bin) -> Result<Entity, RegistryError> {
        let entity: Entity = self
            .call("entity", &BinQuery { bin })
            .await?
            .ok_or(RegistryError::NotFound)?;
        if &entity.bin != bin {
            return Err(RegistryError::InvalidAnswer(
                "the answer is about another entity".into(),
            ));
        }
        Ok(entity)
    }
}

impl NotaryRegistry for HttpRegistry {
    async fn power_of_attorney(&self, number: &str) -> Result<PowerOfAttorney, RegistryError> {
        let poa: PowerOfAttorney = self
            .call("power-of-attorney", &NumberQuery { number })
            .await?
            .ok_or(RegistryError::NotFound)?;
        if poa.number != number {
            return Err(RegistryError::InvalidAnswer(
                "the answer is about another power of attorney".into(),
            ));
        }
        Ok(poa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut c = HttpConfig::new("http://x");
        c.backoff = Duration::from_millis(100);
        c.max_backoff = Duration::from_millis(350);
        let pauses: Vec<u128> = (1..=6).map(|a| c.backoff_before(a).as_millis()).collect();
        assert_eq!(pauses, [0, 100, 200, 350, 350, 350]);
        assert_eq!(c.backoff_before(200), Duration::from_millis(350));
    }

    #[test]
    fn the_worst_case_of_a_call_counts_every_timeout_and_pause() {
        let mut c = HttpConfig::new("http://x");
        c.timeout = Duration::from_secs(2);
        c.attempts = 3;
        c.backoff = Duration::from_millis(200);
        c.max_backoff = Duration::from_secs(1);
        assert_eq!(c.worst_case(), Duration::from_millis(3 * 2000 + 200 + 400));
        c.attempts = 0;
        assert_eq!(c.worst_case(), Duration::from_secs(2), "one attempt at least");
    }

    #[test]
    fn breaker_opens_after_the_threshold_and_lets_one_trial_through_after_the_cooldown() {
        let t0 = Instant::now();
        let cool = Duration::from_secs(10);
        let mut b = Breaker::Closed { failures: 0 };
        assert!(!b.failure(t0, 3));
        assert!(!b.failure(t0, 3));
        assert!(b.failure(t0, 3));
        assert!(!b.admit(t0 + Duration::from_secs(9), cool));
        assert!(b.admit(t0 + cool, cool), "one trial after the cool-down");
        assert!(!b.admit(t0 + cool, cool), "only one trial at a time");
        assert!(
            b.failure(t0 + cool, 3),
            "a failed trial opens again at once"
        );
        assert!(!b.admit(t0 + cool + Duration::from_secs(9), cool));
        assert!(b.admit(t0 + cool + cool, cool));
        b.success();
        assert!(b.admit(t0, cool));
        assert!(matches!(b, Breaker::Closed { failures: 0 }));
    }
}
