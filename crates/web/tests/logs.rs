//! No IIN, name or password ever reaches a log line: the logs of a registration and of logins
//! (API and form) are captured and searched.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_registration_and_login_hold_no_personal_data() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let app = common::TestApp::start(common::Engine::Sqlite).await;
    let iin = kezek_domain::identity::iin_for(time::macros::date!(1996 - 02 - 29), kezek_domain::identity::Sex::Male, 777)
        .or_else(|| kezek_domain::identity::iin_for(time::macros::date!(1996 - 02 - 29), kezek_domain::identity::Sex::Male, 778))
        .unwrap()
        .as_string();
    let (name, password) = ("Тимур Исабеков", "secret-password-42");
    let r = app.client.post(app.url("/api/v1/auth/register"))
        .json(&json!({"iin": iin, "full_name": name, "password": password})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = app.client.post(app.url("/api/v1/auth/login")).json(&json!({"iin": iin, "password": password})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let r = app.client.post(app.url("/api/v1/auth/login")).json(&json!({"iin": iin, "password": "wrong-password"})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app.client.post(app.url("/login")).header("cookie", "kezek_csrf=t")
        .form(&[("csrf", "t"), ("iin", iin.as_str()), ("password", password)]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let r = app.client.get(app.url(&format!("/api/v1/me?iin={iin}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("citizen account registered") && logs.contains("signed in") && logs.contains("login refused"),
        "the capture sees the server's log lines:\n{logs}");
    for (what, secret) in [("IIN", iin.as_str()), ("name", name), ("password", password), ("token", token.as_str())] {
        assert!(!logs.contains(secret), "the {what} appears in the logs:\n{logs}");
    }
}
