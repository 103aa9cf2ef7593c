//! A registry gateway on 127.0.0.1 that speaks docs/registry-gateway.md, answering from the
//! test database's embedded registry tables, and that can be made slow, failing or down.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kezek_domain::identity::{Bin, Iin};
use kezek_registries::embedded::EmbeddedRegistry;
use kezek_registries::{EntityRegistry, NotaryRegistry, PersonRegistry, RegistryError};
use kezek_store::Db;
use serde::Deserialize;
use serde_json::json;

/// How the stub answers; switchable while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Healthy,
    /// Answers after this long.
    Slow(Duration),
    /// Every request gets a 500.
    Failing,
    /// The next `n` requests get a 500, then it answers.
    FailNext(usize),
}

struct Shared {
    mode: Mutex<Mode>,
    hits: AtomicUsize,
    /// Set when the stub starts: the app's database, which exists only after the app started.
    registry: OnceLock<EmbeddedRegistry>,
}

/// A stub gateway's address, and its server once started. Until then (or with nothing started)
/// it is a gateway that is down: connections are refused.
pub struct StubGateway {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl StubGateway {
    /// Reserves a free port on 127.0.0.1 and serves nothing there yet.
    pub async fn reserve() -> StubGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        StubGateway {
            addr,
            shared: Arc::new(Shared { mode: Mutex::new(Mode::Healthy), hits: AtomicUsize::new(0), registry: OnceLock::new() }),
            server: Mutex::new(None),
        }
    }

    /// Starts answering on the reserved port from `db`'s registry tables: the gateway comes up.
    pub async fn start(&self, db: &Db) {
        let _ = self.shared.registry.set(EmbeddedRegistry::new(db.clone()));
        let listener = tokio::net::TcpListener::bind(self.addr).await.expect("the stub's port is free again");
        let app = axum::Router::new()
            .route("/registries/person", post(person))
            .route("/registries/person/relation", post(relation))
            .route("/registries/entity", post(entity))
            .route("/registries/power-of-attorney", post(power_of_attorney))
            .with_state(self.shared.clone());
        let handle = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        *self.server.lock().unwrap() = Some(handle);
    }

    /// Registry settings pointing at this stub, with short timeouts and no real pauses.
    pub fn config(&self, timeout: Duration) -> kezek_web::config::RegistryConfig {
        kezek_web::config::RegistryConfig {
            gateway_url: Some(self.url()),
            timeout_ms: timeout.as_millis() as u64,
            attempts: 2,
            backoff_ms: 10,
            max_backoff_ms: 20,
            breaker_threshold: 3,
            breaker_cooldown_secs: 60,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/registries", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Requests that reached the stub so far.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }
}

impl Drop for StubGateway {
    fn drop(&mut self) {
        if let Some(h) = self.server.lock().unwrap().take() {
            h.abort();
        }
    }
}

/// Counts the request and applies the mode: `Err` is the failure to answer with.
async fn behave(shared: &Shared) -> Result<(), Response> {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let mode = {
        let mut m = shared.mode.lock().unwrap();
        let now = *m;
        if let Mode::FailNext(n) = now {
            *m = if n <= 1 { Mode::Healthy } else { Mode::FailNext(n - 1) };
        }
        now
    };
    match mode {
        Mode::Healthy => Ok(()),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            Ok(())
        }
        Mode::Failing | Mode::FailNext(_) => Err((StatusCode::INTERNAL_SERVER_ERROR, "gateway failure").into_response()),
    }
}

fn answer<T: serde::Serialize>(r: Result<T, RegistryError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(RegistryError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[derive(Deserialize)]
struct IinQuery {
    iin: Iin,
}

#[derive(Deserialize)]
struct RelationQuery {
    adult_iin: Iin,
    child_iin: Iin,
}

#[derive(Deserialize)]
struct BinQuery {
    bin: Bin,
}

#[derive(Deserialize)]
struct NumberQuery {
    number: String,
}

async fn person(State(s): State<Arc<Shared>>, Json(q): Json<IinQuery>) -> Response {
    if let Err(r) = behave(&s).await {
        return r;
    }
    answer(s.registry.get().expect("started with a database").person(&q.iin).await)
}

async fn relation(State(s): State<Arc<Shared>>, Json(q): Json<RelationQuery>) -> Response {
    if let Err(r) = behave(&s).await {
        return r;
    }
    answer(s.registry.get().expect("started with a database").relation(&q.adult_iin, &q.child_iin).await.map(|r| json!({ "relation": r })))
}

async fn entity(State(s): State<Arc<Shared>>, Json(q): Json<BinQuery>) -> Response {
    if let Err(r) = behave(&s).await {
        return r;
    }
    answer(s.registry.get().expect("started with a database").entity(&q.bin).await)
}

async fn power_of_attorney(State(s): State<Arc<Shared>>, Json(q): Json<NumberQuery>) -> Response {
    if let Err(r) = behave(&s).await {
        return r;
    }
    answer(s.registry.get().expect("started with a database").power_of_attorney(&q.number).await)
}
