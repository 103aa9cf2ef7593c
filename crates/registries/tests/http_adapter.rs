//! The HTTP registry adapter against stub gateways on 127.0.0.1 that answer, fail, flap, hang
//! or are down: timeouts, bounded retries, the circuit breaker opening and closing, and no call
//! that never returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use kezek_domain::identity::{Iin, Sex, iin_for};
use kezek_registries::http::{BreakerState, HttpConfig, HttpRegistry, ManualMonotonic};
use kezek_registries::{NotaryRegistry, PersonRegistry, RegistryError, Relation};
use serde_json::{Value, json};
use time::macros::date;

/// How the stub behaves; switchable while it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Healthy,
    /// Every request gets a 503.
    Failing,
    /// The first `n` requests get a 500, the rest are answered.
    FailFirst(u32),
    /// The answer comes long after any client timeout.
    Slow,
    /// A 200 with a body that is not the answer's JSON.
    Garbage,
}

struct Stub {
    mode: std::sync::Mutex<Mode>,
    hits: AtomicUsize,
    failed: AtomicU32,
}

impl Stub {
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn child() -> Iin {
    (1..)
        .find_map(|s| iin_for(date!(2022 - 06 - 30), Sex::Male, s))
        .unwrap()
}

fn parent() -> Iin {
    (1..)
        .find_map(|s| iin_for(date!(1990 - 04 - 14), Sex::Female, s))
        .unwrap()
}

async fn answer(stub: &Stub, body: Value) -> Result<Json<Value>, StatusCode> {
    stub.hits.fetch_add(1, Ordering::SeqCst);
    let mode = *stub.mode.lock().unwrap();
    match mode {
        Mode::Healthy => Ok(Json(body)),
        Mode::Failing => Err(StatusCode::SERVICE_UNAVAILABLE),
        Mode::FailFirst(n) => {
            if stub.failed.fetch_add(1, Ordering::SeqCst) < n {
                Err(StatusCode::INTERNAL_SERVER_ERROR)
            } else {
                Ok(Json(body))
            }
        }
        Mode::Slow => {
            // Far beyond the clients' timeouts; the stub's task ends with the test runtime.
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Json(body))
        }
        Mode::Garbage => Ok(Json(json!({"unexpected": true}))),
    }
}

async fn person(
    State(stub): State<Arc<Stub>>,
    Json(q): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    if q["iin"] != json!(child().as_string()) {
        stub.hits.fetch_add(1, Ordering::SeqCst);
        return Err(StatusCode::NOT_FOUND);
    }
    answer(&stub, json!({"iin": child(), "full_name": "Иванов Тимур", "birth_date": "2022-06-30", "death_date": null})).await
}

async fn relation(
    State(stub): State<Arc<Stub>>,
    Json(q): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    let is_parent = q["adult_iin"] == json!(parent().as_string())
        && q["child_iin"] == json!(child().as_string());
    answer(
        &stub,
        json!({"relation": if is_parent { Some("parent") } else { None }}),
    )
    .await
}

async fn power_of_attorney(
    State(stub): State<Arc<Stub>>,
    Json(q): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    answer(&stub, json!({
        "number": q["number"], "principal_iin": parent(), "representative_iin": child(), "scope": ["S1"],
        "valid_from": "2026-01-01", "valid_until": "2026-12-31", "revoked_on": null,
    }))
    .await
}

/// Starts a stub gateway on a free port; returns its base URL and its control.
async fn start_stub(mode: Mode) -> (String, Arc<Stub>) {
    let stub = Arc::new(Stub {
        mode: std::sync::Mutex::new(mode),
        hits: AtomicUsize::new(0),
        failed: AtomicU32::new(0),
    });
    let app = axum::Router::new()
        .route("/gw/person", post(person))
        .route("/gw/person/relation", post(relation))
        .route("/gw/power-of-attorney", post(power_of_attorney))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/gw"), stub)
}

fn config(base: &str) -> HttpConfig {
    let mut c = HttpConfig::new(base);
    c.timeout = Duration::from_millis(300);
    c.attempts = 3;
    c.backoff = Duration::from_millis(10);
    c.max_backoff = Duration::from_millis(40);
    c.breaker_threshold = 5;
    c.breaker_cooldown = Duration::from_secs(30);
    c
}

/// Guards against a hang: every call in these tests must come back. The bound is far above
/// what any call may take (3 × (300 ms + 40 ms)); it is not a speed requirement.
async fn returns<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the registry call came back")
}

#[tokio::test]
async fn a_healthy_gateway_answers_and_a_missing_person_is_not_found_without_retries() {
    let (base, stub) = start_stub(Mode::Healthy).await;
    let r = HttpRegistry::new(config(&base)).unwrap();
    let p = returns(r.person(&child())).await.unwrap();
    assert_eq!(p.iin, child());
    assert_eq!(p.birth_date, date!(2022 - 06 - 30));
    assert_eq!(
        returns(r.relation(&parent(), &child())).await,
        Ok(Some(Relation::Parent))
    );
    assert_eq!(returns(r.relation(&child(), &parent())).await, Ok(None));
    assert_eq!(stub.hits(), 3);
    assert_eq!(
        returns(r.person(&parent())).await,
        Err(RegistryError::NotFound)
    );
    assert_eq!(stub.hits(), 4, "a 404 is an answer: not retried");
    assert_eq!(r.breaker_state(), BreakerState::Closed { failures: 0 });
    let poa = returns(r.power_of_attorney("2026-0001")).await.unwrap();
    assert_eq!(poa.scope, ["S1"]);
}

#[tokio::test]
async fn a_slow_gateway_times_out_on_every_attempt_and_the_call_ends() {
    let (base, stub) = start_stub(Mode::Slow).await;
    let r = HttpRegistry::new(config(&base)).unwrap();
    assert_eq!(
        returns(r.person(&child())).await,
        Err(RegistryError::Timeout)
    );
    assert_eq!(
        stub.hits(),
        3,
        "three attempts, each cut off by its timeout"
    );
    assert_eq!(r.breaker_state(), BreakerState::Closed { failures: 3 });
}

#[tokio::test]
async fn a_flapping_gateway_is_retried_until_it_answers() {
    let (base, stub) = start_stub(Mode::FailFirst(2)).await;
    let r = HttpRegistry::new(config(&base)).unwrap();
    assert_eq!(
        returns(r.person(&child())).await.map(|p| p.iin),
        Ok(child())
    );
    assert_eq!(stub.hits(), 3);
    assert_eq!(
        r.breaker_state(),
        BreakerState::Closed { failures: 0 },
        "a success resets the count"
    );
}

#[tokio::test]
async fn a_failing_gateway_opens_the_circuit_and_then_gets_no_requests() {
    let (base, stub) = start_stub(Mode::Failing).await;
    let r = HttpRegistry::new(config(&base)).unwrap();
    let first = returns(r.person(&child())).await;
    assert!(
        matches!(first, Err(RegistryError::Unavailable(ref m)) if m.contains("503")),
        "{first:?}"
    );
    assert_eq!(stub.hits(), 3);
    // Two more failures reach the threshold of five: the circuit opens mid-call.
    assert!(matches!(
        returns(r.person(&child())).await,
        Err(RegistryError::Unavailable(_))
    ));
    assert_eq!(stub.hits(), 5);
    assert_eq!(r.breaker_state(), BreakerState::Open);
    for _ in 0..3 {
        assert_eq!(
            returns(r.person(&child())).await,
            Err(RegistryError::CircuitOpen)
        );
    }
    assert_eq!(stub.hits(), 5, "an open circuit sends nothing");
}

#[tokio::test]
async fn after_the_cooldown_one_trial_goes_through_and_closes_or_reopens_the_circuit() {
    let (base, stub) = start_stub(Mode::Failing).await;
    let clock = Arc::new(ManualMonotonic::default());
    let mut c = config(&base);
    c.attempts = 1;
    c.breaker_threshold = 2;
    let r = HttpRegistry::with_clock(c, clock.clone()).unwrap();
    for _ in 0..2 {
        let _ = returns(r.person(&child())).await;
    }
    assert_eq!(r.breaker_state(), BreakerState::Open);
    clock.advance(Duration::from_secs(29));
    assert_eq!(
        returns(r.person(&child())).await,
        Err(RegistryError::CircuitOpen)
    );
    assert_eq!(stub.hits(), 2);

    // Cool-down over, gateway still failing: the one trial fails and the circuit reopens.
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        returns(r.person(&child())).await,
        Err(RegistryError::Unavailable(_))
    ));
    assert_eq!(stub.hits(), 3);
    assert_eq!(r.breaker_state(), BreakerState::Open);
    assert_eq!(
        returns(r.person(&child())).await,
        Err(RegistryError::CircuitOpen)
    );

    // Next cool-down, gateway recovered: the trial succeeds and the circuit closes.
    stub.set(Mode::Healthy);
    clock.advance(Duration::from_secs(30));
    assert!(returns(r.person(&child())).await.is_ok());
    assert_eq!(r.breaker_state(), BreakerState::Closed { failures: 0 });
    assert!(returns(r.relation(&parent(), &child())).await.is_ok());
    assert_eq!(stub.hits(), 5);
}

#[tokio::test]
async fn a_gateway_that_is_down_is_unavailable_after_the_retries() {
    // Bind, note the port, close: nothing listens there any more.
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let r = HttpRegistry::new(config(&format!("http://{addr}/gw"))).unwrap();
    let e = returns(r.person(&child())).await.unwrap_err();
    assert!(
        matches!(e, RegistryError::Unavailable(ref m) if m.contains("connect")),
        "{e:?}"
    );
    assert_eq!(r.breaker_state(), BreakerState::Closed { failures: 3 });
}

#[tokio::test]
async fn a_gateway_that_accepts_and_never_answers_times_out() {
    // A raw TCP server that takes connections and reads, but never writes a byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let r = HttpRegistry::new(config(&format!("http://{addr}"))).unwrap();
    assert_eq!(
        returns(r.person(&child())).await,
        Err(RegistryError::Timeout)
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        3,
        "each attempt opened its own connection"
    );
}

#[tokio::test]
async fn an_unreadable_answer_is_invalid_and_not_retried() {
    let (base, stub) = start_stub(Mode::Garbage).await;
    let r = HttpRegistry::new(config(&base)).unwrap();
    assert!(matches!(
        returns(r.person(&child())).await,
        Err(RegistryError::InvalidAnswer(_))
    ));
    assert_eq!(stub.hits(), 1);
    assert_eq!(r.breaker_state(), BreakerState::Closed { failures: 0 });
}
