//! Starts the real server on a random port against a fresh database, as a client would see it.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use kezek_store::demo::DemoLogin;
use kezek_store::testing::TestDatabase;
use kezek_web::{AppState, ServerConfig};
use serde_json::Value;

pub mod stub_crl;
pub mod stub_gateway;

/// The real clock moved forward by a number of days, so tests can reach deadlines without sleeping.
#[derive(Debug, Default)]
pub struct TestClock {
    seconds_ahead: AtomicI64,
}

impl TestClock {
    /// Moves time forward; sessions older than their lifetime then end, as they would.
    pub fn advance(&self, by: time::Duration) {
        self.seconds_ahead.fetch_add(by.whole_seconds(), Ordering::SeqCst);
    }
}

impl kezek_web::Clock for TestClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(self.seconds_ahead.load(Ordering::SeqCst))
    }

    fn monotonic(&self) -> std::time::Instant {
        std::time::Instant::now() + std::time::Duration::from_secs(self.seconds_ahead.load(Ordering::SeqCst).max(0) as u64)
    }
}

/// The test PKI the server trusts: a root and an intermediate CA (P-256), their CRLs current for
/// two years (tests move the clock months ahead), the intermediate's revoking the `Revoked` user.
pub struct TestPki {
    pub pki: kezek_eds::testpki::Pki,
    dir: tempfile::TempDir,
    pub config: kezek_web::config::EdsConfig,
    /// Signatures made so far, to give each its own signing time.
    signed: AtomicI64,
}

impl TestPki {
    pub fn new() -> TestPki {
        let now = time::OffsetDateTime::now_utc();
        let pki = kezek_eds::testpki::Pki::new(kezek_eds::testpki::KeyKind::P256, now);
        let dir = tempfile::tempdir().unwrap();
        let roots = dir.path().join("roots");
        std::fs::create_dir(&roots).unwrap();
        std::fs::write(roots.join("root.cer"), pki.root_der()).unwrap();
        let [root_crl, intermediate_crl] = pki.crls_until(now + time::Duration::days(730));
        let crls = vec![dir.path().join("root.crl"), dir.path().join("intermediate.crl")];
        std::fs::write(&crls[0], root_crl).unwrap();
        std::fs::write(&crls[1], intermediate_crl).unwrap();
        let config = kezek_web::config::EdsConfig {
            eds_roots: Some(roots),
            eds_crls: crls,
            eds_crl_policy: kezek_web::config::CrlPolicy::Require,
            no_eds_demo: true,
            ..Default::default()
        };
        TestPki { pki, dir, config, signed: AtomicI64::new(0) }
    }

    /// Settings that trust the root and the intermediate (a configured CA, as a fetched CRL's
    /// issuer must be) and read no CRL file: CRLs come from `urls`, fetched again every second.
    pub fn config_with_crl_urls(&self, urls: Vec<String>, policy: kezek_web::config::CrlPolicy) -> kezek_web::config::EdsConfig {
        let intermediates = self.dir.path().join("intermediates");
        if !intermediates.exists() {
            std::fs::create_dir(&intermediates).unwrap();
            std::fs::write(intermediates.join("intermediate.cer"), self.pki.intermediate_der()).unwrap();
        }
        kezek_web::config::EdsConfig {
            eds_intermediates: Some(intermediates),
            eds_crls: Vec::new(),
            eds_crl_urls: urls,
            eds_crl_refresh_secs: 1,
            eds_crl_timeout_secs: 2,
            eds_crl_policy: policy,
            ..self.config.clone()
        }
    }

    /// A signature (base64 DER) by the `case` certificate of `iin` over `content`. Each is its
    /// own act of signing, with a signing time a second before the previous one's (a server
    /// takes one signature once: two signatures over the same bytes in the same second are one).
    pub fn sign(&self, case: kezek_eds::testpki::UserCase, iin: &str, content: &[u8], attached: bool) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.sign_der(case, iin, content, attached))
    }

    /// The same as [`Self::sign`], in DER.
    pub fn sign_der(&self, case: kezek_eds::testpki::UserCase, iin: &str, content: &[u8], attached: bool) -> Vec<u8> {
        let user = self.pki.user_for(case, iin);
        let earlier = time::Duration::seconds(self.signed.fetch_add(1, Ordering::SeqCst));
        let signing_time = Some(time::OffsetDateTime::now_utc() - earlier);
        user.sign(content, kezek_eds::testpki::SignOptions { attached, signing_time, include_intermediate: true })
    }
}

/// The bytes an applicant signs to file `body` (a POST /api/v1/applications request) on a
/// portal, built as the API documentation describes them.
pub fn filing_content(body: &Value, iin: &str) -> Vec<u8> {
    let text = |k: &str| body.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).unwrap_or_default();
    let documents: Vec<String> =
        body.get("documents").and_then(Value::as_array).map(|d| d.iter().map(|x| x.as_str().unwrap().to_owned()).collect()).unwrap_or_default();
    format!(
        "kezek-application:v1\nservice_id:{}\nregion_id:{}\nchannel:{}\nedition:{}\nprovider_id:{}\napplicant_iin:{iin}\ndocuments:{}\n",
        text("service_id"),
        text("region_id"),
        text("channel"),
        text("edition"),
        text("provider_id"),
        documents.join(",")
    )
    .into_bytes()
}

/// The bytes of a `SigningContent` answer.
pub fn signing_bytes(c: &Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(c["content"].as_str().expect("content")).expect("base64 content")
}

pub struct TestApp {
    /// Tokens by IIN, so a test logs each account in once (logins are rate limited per address).
    tokens: std::sync::Mutex<std::collections::HashMap<String, String>>,
    pub clock: Arc<TestClock>,
    pub base: String,
    pub state: AppState,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
    pub logins: Vec<DemoLogin>,
    pub client: reqwest::Client,
    /// The PKI the server trusts.
    pub pki: Arc<TestPki>,
    /// The server's data folder (for SQLite, the database's folder).
    pub data_dir: std::path::PathBuf,
    _data: Option<Arc<tempfile::TempDir>>,
    _db: TestDatabase,
}

#[derive(Clone, Copy, Debug)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub const PASSWORD: &str = kezek_store::demo::DEMO_PASSWORD;

async fn database(engine: Engine) -> TestDatabase {
    match engine {
        Engine::Sqlite => TestDatabase::sqlite(),
        Engine::Postgres => TestDatabase::postgres().await,
    }
}

impl TestApp {
    pub async fn start(engine: Engine) -> TestApp {
        Self::start_with(engine, Default::default(), true).await
    }

    /// Starts the server with these registry settings (a gateway URL, its timeouts).
    pub async fn start_with_registries(engine: Engine, registries: kezek_web::config::RegistryConfig) -> TestApp {
        Self::start_with(engine, registries, true).await
    }

    /// A server with these registry settings, and without trusted roots when `with_roots` is
    /// false (every signature is then unverifiable).
    pub async fn start_with(engine: Engine, registries: kezek_web::config::RegistryConfig, with_roots: bool) -> TestApp {
        let pki = TestPki::new();
        let eds = if with_roots {
            pki.config.clone()
        } else {
            kezek_web::config::EdsConfig { no_eds_demo: true, ..Default::default() }
        };
        let db = database(engine).await;
        Self::launch(db, None, Arc::new(pki), registries, eds, Vec::new()).await
    }

    /// A server trusting `pki` with these signature settings (see `TestPki::config_with_crl_urls`),
    /// with a data folder of its own on either engine.
    pub async fn start_with_eds(engine: Engine, pki: Arc<TestPki>, eds: kezek_web::config::EdsConfig) -> TestApp {
        let db = database(engine).await;
        let data = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(Arc::new(tempfile::tempdir().unwrap())),
        };
        Self::launch(db, data, pki, Default::default(), eds, Vec::new()).await
    }

    /// The server started again on the same database and data folder with these signature
    /// settings, as after a restart; the old one stops answering.
    pub async fn restart(self, eds: kezek_web::config::EdsConfig) -> TestApp {
        self.running.abort();
        Self::launch(self._db, self._data, self.pki, Default::default(), eds, self.logins).await
    }

    async fn launch(
        db: TestDatabase,
        data: Option<Arc<tempfile::TempDir>>,
        pki: Arc<TestPki>,
        registries: kezek_web::config::RegistryConfig,
        eds: kezek_web::config::EdsConfig,
        earlier_logins: Vec<DemoLogin>,
    ) -> TestApp {
        let config = ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.as_ref().map_or_else(std::env::temp_dir, |d| d.path().to_path_buf()),
            catalog_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog"),
            database_url: None,
            no_demo: false,
            secure_cookies: false,
            log_format: "pretty".into(),
            registries,
            eds,
        };
        let config = match &db.target {
            kezek_store::DatabaseTarget::SqliteFile(p) => {
                ServerConfig { data_dir: p.parent().unwrap().to_path_buf(), ..config }
            }
            kezek_store::DatabaseTarget::Postgres(url) => ServerConfig { database_url: Some(url.clone()), ..config },
        };
        let clock = Arc::new(TestClock::default());
        let (state, logins) = kezek_web::prepare(&config, clock.clone()).await.expect("server prepares");
        // A restart finds the demo data loaded: the logins are the first start's.
        let logins = if logins.is_empty() { earlier_logins } else { logins };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = kezek_web::spawn(listener, state).unwrap();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp {
            tokens: Default::default(),
            clock,
            base: format!("http://{}", running.addr),
            state: running.state,
            running: running.handle,
            logins,
            client,
            pki,
            data_dir: config.data_dir,
            _data: data,
            _db: db,
        }
    }

    /// Where the app's data lives, to open a second pool on it (another server).
    pub fn database(&self) -> &kezek_store::DatabaseTarget {
        &self._db.target
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The IIN of the `n`-th demo account with `role`.
    pub fn iin_of(&self, role: &str, n: usize) -> String {
        self.logins.iter().filter(|l| l.role.as_str() == role).nth(n).unwrap_or_else(|| panic!("demo has a {role} #{n}")).iin.clone()
    }

    /// A bearer token of the account, logging in through the API the first time.
    pub async fn token(&self, iin: &str) -> String {
        if let Some(t) = self.tokens.lock().unwrap().get(iin) {
            return t.clone();
        }
        let t = self.login(iin).await;
        self.tokens.lock().unwrap().insert(iin.to_owned(), t.clone());
        t
    }

    /// Forgets the tokens (after the clock moved past their lifetime).
    pub fn forget_tokens(&self) {
        self.tokens.lock().unwrap().clear();
    }

    /// Logs in through the API and returns a new bearer token.
    pub async fn login(&self, iin: &str) -> String {
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

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let r = self.client.post(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let r = self.client.put(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A portal registration body as its applicant (the holder of `token`) signs it through
    /// NCALayer: the bytes `POST /api/v1/queue/registrations/signing-content` names for it,
    /// signed by the applicant's valid test certificate, in `signature`. Unchanged when the
    /// server names none (a body it cannot parse, a staff filing) or asks for no signature.
    pub async fn signed_registration(&self, token: &str, mut body: Value) -> Value {
        let (status, c) = self.post("/api/v1/queue/registrations/signing-content", token, body.clone()).await;
        if status != 200 || c["signature_required"] != true {
            return body;
        }
        let (_, me) = self.get("/api/v1/me", Some(token)).await;
        let iin = me["iin"].as_str().expect("the account's IIN");
        body["signature"] = serde_json::json!(self.pki.sign(kezek_eds::testpki::UserCase::Valid, iin, &signing_bytes(&c), false));
        body
    }

    /// Organization ids of the demo region `code`, of `kind`.
    pub async fn organizations(&self, region_code: &str, kind: &str) -> Vec<Value> {
        let (_, regions) = self.get("/api/v1/regions", None).await;
        let region = regions.as_array().unwrap().iter().find(|r| r["code"] == region_code).unwrap()["id"].as_i64().unwrap();
        let (_, orgs) = self.get(&format!("/api/v1/regions/{region}/organizations"), None).await;
        orgs.as_array().unwrap().iter().filter(|o| o["kind"] == kind).cloned().collect()
    }
}

/// One test per engine for each scenario. With `engine =>`, each scenario gets the engine and
/// starts its own app (e.g. after a stub it points the app at).
#[macro_export]
macro_rules! on_both_engines {
    (engine => $($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario($crate::common::Engine::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario($crate::common::Engine::Postgres).await;
            })*
        }
    };
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
