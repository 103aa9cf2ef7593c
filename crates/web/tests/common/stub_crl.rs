//! A CRL distribution point on 127.0.0.1: serves whatever CRL files a test puts there, counts
//! the fetches of each, and can be down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[derive(Default)]
struct Shared {
    files: Mutex<HashMap<String, Vec<u8>>>,
    fetches: Mutex<HashMap<String, usize>>,
}

/// A distribution point's address and its server once started; down until then.
pub struct StubCrlServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl StubCrlServer {
    /// Reserves a free port on 127.0.0.1 and serves nothing there yet: a distribution point
    /// that is down (connections refused).
    pub async fn reserve() -> StubCrlServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        StubCrlServer { addr, shared: Arc::default(), server: Mutex::new(None) }
    }

    /// A distribution point that is up.
    pub async fn start() -> StubCrlServer {
        let stub = Self::reserve().await;
        stub.up().await;
        stub
    }

    /// Starts answering on the reserved port.
    pub async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.expect("the stub's port is free again");
        let app = axum::Router::new().route("/{name}", get(serve)).with_state(self.shared.clone());
        let handle = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        *self.server.lock().unwrap() = Some(handle);
    }

    /// Stops answering: new connections are refused.
    pub fn down(&self) {
        if let Some(h) = self.server.lock().unwrap().take() {
            h.abort();
        }
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }

    /// Serves `bytes` at `/name` from now on.
    pub fn publish(&self, name: &str, bytes: impl Into<Vec<u8>>) {
        self.shared.files.lock().unwrap().insert(name.to_owned(), bytes.into());
    }

    /// Requests for `/name` so far.
    pub fn fetches(&self, name: &str) -> usize {
        self.shared.fetches.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    /// Waits until `/name` was asked for twice more: the first of those fetches may have begun
    /// before the caller's last change, the second began after the server had dealt with the
    /// first (a distribution point is fetched again only after the previous fetch was handled).
    pub async fn two_more_fetches(&self, name: &str) {
        let target = self.fetches(name) + 2;
        // Generous: the server fetches every second; this only stops a broken refresh from
        // hanging the test.
        for _ in 0..1200 {
            if self.fetches(name) >= target {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not fetch /{name} again within a minute");
    }
}

impl Drop for StubCrlServer {
    fn drop(&mut self) {
        self.down();
    }
}

async fn serve(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    *s.fetches.lock().unwrap().entry(name.clone()).or_default() += 1;
    match s.files.lock().unwrap().get(&name) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
