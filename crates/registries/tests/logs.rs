//! Registry requests leave log lines with masked keys only: no raw IIN reaches a log, whether
//! the request is answered, refused for lack of consent, or fails at the gateway.

use std::io::Write;
use std::sync::{Arc, Mutex};

use kezek_domain::identity::Iin;
use kezek_registries::demo;
use kezek_registries::embedded::EmbeddedRegistry;
use kezek_registries::gateway::{RegistryGateway, RequestContext};
use kezek_registries::http::{HttpConfig, HttpRegistry};
use kezek_store::testing::TestDatabase;
use kezek_store::{AuditRecord, ConsentChannel, NewConsent};
use time::macros::{date, datetime};

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

#[tokio::test(flavor = "current_thread")]
async fn registry_log_lines_carry_masked_keys_only() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let now = datetime!(2026-04-01 09:00 UTC);
    let t = TestDatabase::sqlite();
    let db = t.open().await;
    demo::load_if_empty(&db, now).await.unwrap();
    let parent = Iin::parse("930413401529").unwrap();
    let child = Iin::parse("210903602018").unwrap();
    let other = Iin::parse("220630502031").unwrap();
    for subject in [parent, child] {
        let mut tx = db.begin_write(None, now).await.unwrap();
        tx.insert_consent(&NewConsent {
            subject: &subject,
            given_by: &parent,
            channel: ConsentChannel::Portal,
            scope: "S1",
            application_ref: None,
        })
        .await
        .unwrap();
        tx.audit(AuditRecord {
            action: "consent.given",
            object_type: "consent",
            object_id: "1".into(),
            organization_id: None,
            details: serde_json::json!({}),
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let ctx = RequestContext {
        applicant: &parent,
        service: "S1",
        application_ref: Some("APP-9"),
        actor: None,
    };

    let g = RegistryGateway::new(db.clone(), EmbeddedRegistry::new(db.clone()));
    assert!(
        g.check_child(&ctx, &child, date!(2021 - 09 - 03))
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        g.person(&ctx, &other).await.is_err(),
        "no consent for this child"
    );

    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let mut config = HttpConfig::new(format!("http://{addr}"));
    config.attempts = 2;
    config.backoff = std::time::Duration::from_millis(1);
    let g = RegistryGateway::new(db.clone(), HttpRegistry::new(config).unwrap());
    assert!(g.relation(&ctx, &parent, &child).await.is_err());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("2109******18"),
        "requests are logged by their masked key:\n{logs}"
    );
    assert!(logs.contains("no consent"), "{logs}");
    assert!(logs.contains("registry request failed"), "{logs}");
    for iin in [parent, child, other] {
        assert!(
            !logs.contains(&iin.as_string()),
            "a raw IIN reached the log:\n{logs}"
        );
    }
}
