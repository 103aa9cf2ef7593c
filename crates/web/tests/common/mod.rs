//! Starts the real server on a random port against a fresh database, as a client would see it.
#![allow(dead_code)]

use std::sync::Arc;

use kezek_store::demo::DemoLogin;
use kezek_store::testing::TestDatabase;
use kezek_web::{AppState, ServerConfig, SystemClock};
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub logins: Vec<DemoLogin>,
    pub client: reqwest::Client,
    _db: TestDatabase,
}

#[derive(Clone, Copy, Debug)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub const PASSWORD: &str = kezek_store::demo::DEMO_PASSWORD;

impl TestApp {
    pub async fn start(engine: Engine) -> TestApp {
        let db = match engine {
            Engine::Sqlite => TestDatabase::sqlite(),
            Engine::Postgres => TestDatabase::postgres().await,
        };
        let config = ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            data_dir: std::env::temp_dir(),
            database_url: None,
            no_demo: false,
            secure_cookies: false,
            log_format: "pretty".into(),
        };
        let config = match &db.target {
            kezek_store::DatabaseTarget::SqliteFile(p) => {
                ServerConfig { data_dir: p.parent().unwrap().to_path_buf(), ..config }
            }
            kezek_store::DatabaseTarget::Postgres(url) => ServerConfig { database_url: Some(url.clone()), ..config },
        };
        let (state, logins) = kezek_web::prepare(&config, Arc::new(SystemClock)).await.expect("server prepares");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = kezek_web::spawn(listener, state).unwrap();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp { base: format!("http://{}", running.addr), state: running.state, logins, client, _db: db }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The IIN of the `n`-th demo account with `role`.
    pub fn iin_of(&self, role: &str, n: usize) -> String {
        self.logins.iter().filter(|l| l.role.as_str() == role).nth(n).unwrap_or_else(|| panic!("demo has a {role} #{n}")).iin.clone()
    }

    /// Logs in through the API and returns the bearer token.
    pub async fn token(&self, iin: &str) -> String {
        let r = self.client.post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"iin": iin, "password": PASSWORD}))
            .send().await.unwrap();
        assert_eq!(r.status(), 200, "demo login works");
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let r = self.client.put(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Organization ids of the demo region `code`, of `kind`.
    pub async fn organizations(&self, region_code: &str, kind: &str) -> Vec<Value> {
        let (_, regions) = self.get("/api/v1/regions", None).await;
        let region = regions.as_array().unwrap().iter().find(|r| r["code"] == region_code).unwrap()["id"].as_i64().unwrap();
        let (_, orgs) = self.get(&format!("/api/v1/regions/{region}/organizations"), None).await;
        orgs.as_array().unwrap().iter().filter(|o| o["kind"] == kind).cloned().collect()
    }
}

/// One test per engine for each scenario.
#[macro_export]
macro_rules! on_both_engines {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(&$crate::common::TestApp::start($crate::common::Engine::Sqlite).await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(&$crate::common::TestApp::start($crate::common::Engine::Postgres).await).await;
            })*
        }
    };
}
