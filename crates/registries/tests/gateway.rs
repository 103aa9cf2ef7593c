//! Registries through the gateway, on SQLite and on PostgreSQL: all-or-nothing imports, no
//! request without consent, every request recorded with its answer's digest, the parent-child
//! and power-of-attorney checks, and a gateway that is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kezek_domain::access::UserId;
use kezek_domain::identity::{Bin, Iin};
use kezek_registries::embedded::EmbeddedRegistry;
use kezek_registries::gateway::{
    ChildRefusal, GatewayError, RegistryGateway, RequestContext, answer_digest,
};
use kezek_registries::http::{HttpConfig, HttpRegistry};
use kezek_registries::import::{ImportError, RegistryKind, import};
use kezek_registries::{
    AttorneyRefusal, Entity, EntityRegistry, EntityStatus, NotaryRegistry, Person, PersonRegistry,
    PowerOfAttorney, RegistryError, Relation, demo,
};
use kezek_store::testing::TestDatabase;
use kezek_store::{AuditRecord, ConsentChannel, Db, NewConsent, NewUser};
use time::OffsetDateTime;
use time::macros::{date, datetime};

macro_rules! on_both_engines {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let t = kezek_store::testing::TestDatabase::sqlite();
                super::$scenario(&t).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let t = kezek_store::testing::TestDatabase::postgres().await;
                super::$scenario(&t).await;
            })*
        }
    };
}

on_both_engines!(
    an_import_with_a_bad_row_writes_nothing_and_names_every_bad_line,
    imports_replace_records_and_a_childs_links,
    without_consent_no_request_reaches_the_registry,
    with_consent_the_request_and_the_answers_digest_are_recorded,
    the_parent_child_check_confirms_parents_and_representatives_only,
    powers_of_attorney_valid_expired_revoked_and_out_of_scope,
    a_gateway_that_is_down_fails_clearly_and_the_attempt_is_recorded,
    demo_registries_load_once_and_know_the_demo_citizens,
);

const NOW: OffsetDateTime = datetime!(2026-04-01 09:15:00 UTC);

fn iin(s: &str) -> Iin {
    Iin::parse(s).unwrap()
}

// The demo citizens and their families (catalog/registries/persons.csv).
fn gulnar() -> Iin {
    iin("930413401529")
}
fn nurlan() -> Iin {
    iin("910702302062")
}
fn maria() -> Iin {
    iin("900414301532")
}
fn petr() -> Iin {
    iin("580305302073")
}
fn daniyar() -> Iin {
    iin("870415401546")
}
fn ailin() -> Iin {
    iin("210903602018")
}
fn timur() -> Iin {
    iin("220630502031")
}
fn alisa() -> Iin {
    iin("201121602058")
}

/// A registry that counts the requests that reach it.
#[derive(Clone)]
struct Counting<R> {
    inner: R,
    calls: Arc<AtomicUsize>,
}

impl<R> Counting<R> {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl<R: PersonRegistry> PersonRegistry for Counting<R> {
    async fn person(&self, iin: &Iin) -> Result<Person, RegistryError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.person(iin).await
    }
    async fn relation(&self, adult: &Iin, child: &Iin) -> Result<Option<Relation>, RegistryError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.relation(adult, child).await
    }
}

impl<R: EntityRegistry> EntityRegistry for Counting<R> {
    async fn entity(&self, bin: &Bin) -> Result<Entity, RegistryError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.entity(bin).await
    }
}

impl<R: NotaryRegistry> NotaryRegistry for Counting<R> {
    async fn power_of_attorney(&self, number: &str) -> Result<PowerOfAttorney, RegistryError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.power_of_attorney(number).await
    }
}

async fn demo_db(t: &TestDatabase) -> Db {
    let db = t.open().await;
    assert!(demo::load_if_empty(&db, NOW).await.unwrap());
    db
}

fn gateway(db: &Db) -> RegistryGateway<Counting<EmbeddedRegistry>> {
    let registry = Counting {
        inner: EmbeddedRegistry::new(db.clone()),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    RegistryGateway::new(db.clone(), registry).with_clock(Arc::new(|| NOW))
}

async fn consent(
    db: &Db,
    subject: &Iin,
    given_by: &Iin,
    channel: ConsentChannel,
    scope: &str,
) -> i64 {
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    let consent = NewConsent {
        subject,
        given_by,
        channel,
        scope,
        application_ref: Some("APP-1"),
    };
    let id = kezek_registries::consent::record(&mut tx, &consent)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn revoke(db: &Db, id: i64) {
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    assert!(
        kezek_registries::consent::revoke(&mut tx, id)
            .await
            .unwrap()
    );
    assert!(
        !kezek_registries::consent::revoke(&mut tx, id)
            .await
            .unwrap(),
        "revoked once"
    );
    tx.commit().await.unwrap();
}

/// A State Corporation operator's account, for consents taken at the State Corporation.
async fn operator(db: &Db) -> i64 {
    let op = iin("940426301099");
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    let id = tx
        .insert_user(&NewUser {
            iin: &op,
            full_name: "Абенова Сәуле",
            password_hash: None,
            language: "ru",
        })
        .await
        .unwrap();
    tx.audit(AuditRecord {
        action: "user.created",
        object_type: "user",
        object_id: id.to_string(),
        organization_id: None,
        details: serde_json::json!({}),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

fn ctx<'a>(applicant: &'a Iin, service: &'a str) -> RequestContext<'a> {
    RequestContext {
        applicant,
        service,
        application_ref: Some("APP-1"),
        actor: None,
    }
}

async fn an_import_with_a_bad_row_writes_nothing_and_names_every_bad_line(t: &TestDatabase) {
    let db = t.open().await;
    let csv = "iin,full_name,birth_date,death_date,parent_iins,representative_iins\n\
               930413401529,Ахметова Гүлнар,1993-04-13,,,\n\
               930413401528,Broken Check Digit,1993-04-13,,,\n\
               210903602018,Ахметова Айлин,2021-09-03,,930413401529,\n\
               220630502031,Иванов Тимур,2022-06-31,,,\n\
               \n\
               201121602058,Иванова Алиса,2020-11-22,,,\n\
               230214502028,,2023-02-14,,,\n";
    let Err(ImportError::Rows(rows)) = import(&db, RegistryKind::Person, csv, None, NOW).await
    else {
        panic!("rows rejected")
    };
    let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 5, 7, 8], "{rows:?}");
    assert!(rows[0].reason.contains("check digit"), "{}", rows[0].reason);
    assert!(rows[1].reason.contains("birth_date"), "{}", rows[1].reason);
    assert!(
        rows[2]
            .reason
            .contains("differs from the date the IIN encodes"),
        "{}",
        rows[2].reason
    );
    assert!(
        rows[3].reason.contains("full_name is empty"),
        "{}",
        rows[3].reason
    );
    for r in &rows {
        assert!(
            !r.reason.contains("930413401529") && !r.reason.contains("201121602058"),
            "reasons carry no raw IIN: {}",
            r.reason
        );
    }

    // A parent neither in the file nor in the registry rejects the row, after the row checks.
    let csv = "iin,full_name,birth_date,parent_iins\n210903602018,Ахметова Айлин,2021-09-03,930413401529\n";
    let Err(ImportError::Rows(rows)) = import(&db, RegistryKind::Person, csv, None, NOW).await
    else {
        panic!("unknown parent rejected")
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 2);
    assert!(
        rows[0].reason.contains("9304******29"),
        "{}",
        rows[0].reason
    );

    let csv = "number,principal_iin,representative_iin,scope,valid_from,valid_until,revoked_on\n\
               1,930413401529,870415401546,S1,2026-01-01,2026-12-31,\n\
               2,930413401529,870415401546,S1,2026-01-01,2025-12-31,\n";
    let Err(ImportError::Rows(rows)) = import(&db, RegistryKind::Notary, csv, None, NOW).await
    else {
        panic!()
    };
    assert_eq!((rows.len(), rows[0].line), (1, 3));
    let csv = "bin,name,status\n050340001017,A,active\n050340001017,B,closed\n";
    let Err(ImportError::Rows(rows)) = import(&db, RegistryKind::Entity, csv, None, NOW).await
    else {
        panic!()
    };
    assert_eq!((rows.len(), rows[0].line), (1, 3));

    assert_eq!(db.registry_counts().await.unwrap(), Default::default());
    assert_eq!(
        db.verify_audit_chain().await.unwrap(),
        Ok(0),
        "nothing was written, not even an audit entry"
    );
}

async fn imports_replace_records_and_a_childs_links(t: &TestDatabase) {
    let db = t.open().await;
    let first = "iin,full_name,birth_date,death_date,parent_iins,representative_iins\n\
                 930413401529,Ахметова Гүлнар,1993-04-13,,,\n\
                 900414301532,Иванова Мария,1990-04-14,,,\n\
                 210903602018,Ахметова Айлин,2021-09-03,,930413401529,\n";
    let s = import(&db, RegistryKind::Person, first, Some(UserId(7)), NOW)
        .await
        .unwrap();
    assert_eq!((s.records, s.links), (3, 1));
    // The second file moves Айлин's link to a representative and renames her.
    let second = "iin,full_name,birth_date,representative_iins\n210903602018,Ахметова Айлин Н.,2021-09-03,900414301532\n";
    import(&db, RegistryKind::Person, second, None, NOW)
        .await
        .unwrap();
    let counts = db.registry_counts().await.unwrap();
    assert_eq!((counts.persons, counts.links), (3, 1));
    let r = EmbeddedRegistry::new(db.clone());
    assert_eq!(
        r.person(&ailin()).await.unwrap().full_name,
        "Ахметова Айлин Н."
    );
    assert_eq!(r.relation(&gulnar(), &ailin()).await, Ok(None));
    assert_eq!(
        r.relation(&maria(), &ailin()).await,
        Ok(Some(Relation::LegalRepresentative))
    );

    import(&db, RegistryKind::Entity, demo::ENTITIES_CSV, None, NOW)
        .await
        .unwrap();
    let e = r
        .entity(&Bin::parse("100540007779").unwrap())
        .await
        .unwrap();
    assert_eq!(
        (e.name.as_str(), e.status),
        ("ТОО \"Детский центр «Ақбота»\"", EntityStatus::Liquidated)
    );
    import(
        &db,
        RegistryKind::Entity,
        "bin,name,status\n100540007779,Ақбота,active\n",
        None,
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(
        r.entity(&Bin::parse("100540007779").unwrap())
            .await
            .unwrap()
            .status,
        EntityStatus::Active
    );
    assert_eq!(db.registry_counts().await.unwrap().entities, 7);
    assert_eq!(
        db.verify_audit_chain().await.unwrap(),
        Ok(4),
        "one audit entry per import"
    );
}

async fn without_consent_no_request_reaches_the_registry(t: &TestDatabase) {
    let db = demo_db(t).await;
    let g = gateway(&db);
    let gulnar_iin = gulnar();
    let c = ctx(&gulnar_iin, "S1");

    assert!(matches!(
        g.person(&c, &gulnar()).await,
        Err(GatewayError::NoConsent)
    ));
    assert!(matches!(
        g.relation(&c, &gulnar(), &ailin()).await,
        Err(GatewayError::NoConsent)
    ));
    assert!(matches!(
        g.entity(&c, &Bin::parse("050340001017").unwrap()).await,
        Err(GatewayError::NoConsent)
    ));
    assert!(matches!(
        g.power_of_attorney(&c, "2026-0001").await,
        Err(GatewayError::NoConsent)
    ));

    // The applicant's own consent does not cover the child: the parent consents for the child.
    consent(&db, &gulnar(), &gulnar(), ConsentChannel::Portal, "S1").await;
    assert!(matches!(
        g.relation(&c, &gulnar(), &ailin()).await,
        Err(GatewayError::NoConsent)
    ));
    // A consent for another service does not count.
    consent(&db, &ailin(), &gulnar(), ConsentChannel::Portal, "S8").await;
    assert!(matches!(
        g.person(&c, &ailin()).await,
        Err(GatewayError::NoConsent)
    ));
    // A revoked consent does not count.
    let id = consent(&db, &ailin(), &gulnar(), ConsentChannel::Portal, "S1").await;
    revoke(&db, id).await;
    assert!(matches!(
        g.check_child(&c, &ailin(), date!(2021 - 09 - 03)).await,
        Err(GatewayError::NoConsent)
    ));

    assert_eq!(g.registry().calls(), 0, "no request was sent");
    assert_eq!(db.registry_request_count().await.unwrap(), 0);
}

async fn with_consent_the_request_and_the_answers_digest_are_recorded(t: &TestDatabase) {
    let db = demo_db(t).await;
    let operator = operator(&db).await;
    let g = gateway(&db);
    let channel = ConsentChannel::StateCorporation {
        operator_user_id: operator,
    };
    let given = consent(&db, &gulnar(), &gulnar(), channel, "S1").await;
    consent(&db, &ailin(), &gulnar(), channel, "S1").await;
    let stored = db.consents_of(&gulnar()).await.unwrap();
    assert_eq!(
        (stored[0].channel.as_str(), stored[0].operator_user_id),
        ("state_corporation", Some(operator))
    );

    let gulnar_iin = gulnar();
    let c = RequestContext {
        actor: Some(UserId(operator)),
        ..ctx(&gulnar_iin, "S1")
    };
    let child = g.person(&c, &ailin()).await.unwrap();
    assert_eq!(
        (child.full_name.as_str(), child.birth_date),
        ("Ахметова Айлин", date!(2021 - 09 - 03))
    );
    assert_eq!(
        g.entity(&c, &Bin::parse("050340001017").unwrap())
            .await
            .unwrap()
            .status,
        EntityStatus::Active
    );
    assert!(matches!(
        g.power_of_attorney(&c, "1999-0000").await,
        Err(GatewayError::Registry(RegistryError::NotFound))
    ));
    assert_eq!(g.registry().calls(), 3);

    let rows = db.registry_requests_of("APP-1").await.unwrap();
    assert_eq!(rows.len(), 3);
    let r = &rows[0];
    assert_eq!(
        (
            r.registry.as_str(),
            r.operation.as_str(),
            r.outcome.as_str()
        ),
        ("person", "person", "answered")
    );
    assert_eq!(
        r.query,
        ailin().as_string(),
        "the table keeps what was asked"
    );
    assert_eq!(r.query_masked, "2109******18");
    assert_eq!(r.subject_iin, gulnar().as_string());
    assert_eq!(r.consent_id, given);
    assert_eq!(r.actor_user_id, Some(operator));
    assert_eq!((r.asked_at, r.answered_at), (NOW, NOW));
    assert_eq!(
        r.answer_digest.as_deref(),
        Some(answer_digest(Some(&child)).as_str())
    );
    assert_eq!(r.answer_digest.as_ref().map(String::len), Some(64));
    assert_eq!(
        (rows[1].registry.as_str(), rows[1].outcome.as_str()),
        ("entity", "answered")
    );
    assert_eq!(
        (rows[2].registry.as_str(), rows[2].outcome.as_str()),
        ("notary", "not_found")
    );
    assert_eq!(
        rows[2].answer_digest.as_deref(),
        Some(answer_digest::<PowerOfAttorney>(None).as_str())
    );
    assert_eq!(
        db.registry_requests_about(&gulnar()).await.unwrap().len(),
        3
    );
    // Demo load, operator, two consents, three requests: each its own audited write.
    assert_eq!(db.verify_audit_chain().await.unwrap(), Ok(7));
}

async fn the_parent_child_check_confirms_parents_and_representatives_only(t: &TestDatabase) {
    let db = demo_db(t).await;
    let g = gateway(&db);
    for (subject, by) in [
        (gulnar(), gulnar()),
        (ailin(), gulnar()),
        (maria(), maria()),
        (alisa(), maria()),
        (timur(), maria()),
        (petr(), maria()),
    ] {
        consent(&db, &subject, &by, ConsentChannel::ProviderOffice, "S1").await;
    }
    let gulnar_iin = gulnar();
    let g_ctx = ctx(&gulnar_iin, "S1");
    let maria_iin = maria();
    let m_ctx = ctx(&maria_iin, "S1");
    assert_eq!(
        g.relation(&g_ctx, &gulnar(), &ailin()).await.unwrap(),
        Some(Relation::Parent)
    );
    assert_eq!(
        g.check_child(&g_ctx, &ailin(), date!(2021 - 09 - 03))
            .await
            .unwrap(),
        Ok(Relation::Parent)
    );
    assert_eq!(
        g.check_child(&m_ctx, &alisa(), date!(2020 - 11 - 21))
            .await
            .unwrap(),
        Ok(Relation::LegalRepresentative)
    );
    assert_eq!(
        g.check_child(&m_ctx, &timur(), date!(2022 - 06 - 30))
            .await
            .unwrap(),
        Ok(Relation::Parent)
    );
    // Мария is not Айлин's parent (Айлин's consent, given by Гүлнар, lets the registry be asked).
    assert_eq!(g.relation(&m_ctx, &maria(), &ailin()).await.unwrap(), None);
    assert_eq!(
        g.check_child(&m_ctx, &ailin(), date!(2021 - 09 - 03))
            .await
            .unwrap(),
        Err(ChildRefusal::NotParent)
    );
    assert_eq!(
        g.check_child(&m_ctx, &timur(), date!(2022 - 06 - 29))
            .await
            .unwrap(),
        Err(ChildRefusal::BirthDateDiffers)
    );
    assert_eq!(
        g.check_child(&m_ctx, &petr(), date!(1958 - 03 - 05))
            .await
            .unwrap(),
        Err(ChildRefusal::ChildDeceased)
    );
    // A well-formed IIN the registry does not know.
    let unknown = iin("190505502081");
    consent(
        &db,
        &unknown,
        &maria(),
        ConsentChannel::ProviderOffice,
        "S1",
    )
    .await;
    assert_eq!(
        g.check_child(&m_ctx, &unknown, date!(2019 - 05 - 05))
            .await
            .unwrap(),
        Err(ChildRefusal::ChildUnknown)
    );
    assert!(matches!(
        g.relation(&m_ctx, &maria(), &unknown).await,
        Err(GatewayError::Registry(RegistryError::NotFound))
    ));
}

async fn powers_of_attorney_valid_expired_revoked_and_out_of_scope(t: &TestDatabase) {
    let db = demo_db(t).await;
    let g = gateway(&db);
    consent(
        &db,
        &daniyar(),
        &daniyar(),
        ConsentChannel::CityPortal,
        "S1",
    )
    .await;
    consent(&db, &nurlan(), &nurlan(), ConsentChannel::CityPortal, "S1").await;
    consent(&db, &gulnar(), &gulnar(), ConsentChannel::CityPortal, "S1").await;
    let on = date!(2026 - 04 - 01);
    let daniyar_iin = daniyar();
    let d = ctx(&daniyar_iin, "S1");
    assert_eq!(
        g.check_representative(&d, &gulnar(), "2026-0001", on)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        g.check_representative(&d, &maria(), "2024-0042", on)
            .await
            .unwrap(),
        Err(Some(AttorneyRefusal::Expired))
    );
    assert_eq!(
        g.check_representative(&d, &maria(), "2026-0001", on)
            .await
            .unwrap(),
        Err(Some(AttorneyRefusal::OtherPrincipal))
    );
    let nurlan_iin = nurlan();
    let n = ctx(&nurlan_iin, "S1");
    assert_eq!(
        g.check_representative(&n, &gulnar(), "2026-0007", on)
            .await
            .unwrap(),
        Err(Some(AttorneyRefusal::Revoked))
    );
    // Before its revocation the same power was good.
    assert_eq!(
        g.check_representative(&n, &gulnar(), "2026-0007", date!(2026 - 03 - 01))
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        g.check_representative(&n, &gulnar(), "2026-0001", on)
            .await
            .unwrap(),
        Err(Some(AttorneyRefusal::OtherRepresentative))
    );
    let gulnar_iin = gulnar();
    let gl = ctx(&gulnar_iin, "S1");
    assert_eq!(
        g.check_representative(&gl, &maria(), "2026-0010", on)
            .await
            .unwrap(),
        Err(Some(AttorneyRefusal::OutOfScope))
    );
    assert_eq!(
        g.check_representative(&gl, &maria(), "9999-9999", on)
            .await
            .unwrap(),
        Err(None),
        "ЕНИС has no such power"
    );
    assert_eq!(db.registry_request_count().await.unwrap(), 8);
}

async fn a_gateway_that_is_down_fails_clearly_and_the_attempt_is_recorded(t: &TestDatabase) {
    let db = t.open().await;
    consent(&db, &gulnar(), &gulnar(), ConsentChannel::Portal, "S1").await;
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let mut config = HttpConfig::new(format!("http://{addr}"));
    config.attempts = 2;
    config.backoff = std::time::Duration::from_millis(5);
    let g = RegistryGateway::new(db.clone(), HttpRegistry::new(config).unwrap())
        .with_clock(Arc::new(|| NOW));
    let gulnar_iin = gulnar();
    let c = ctx(&gulnar_iin, "S1");
    let err = g.person(&c, &gulnar()).await.unwrap_err();
    assert!(
        matches!(err, GatewayError::Registry(RegistryError::Unavailable(_))),
        "{err:?}"
    );
    let rows = db.registry_requests_of("APP-1").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].outcome.as_str(), rows[0].answer_digest.as_deref()),
        ("unavailable", None)
    );

    // A gateway that takes the connection and never answers: the call ends with a timeout,
    // which is recorded too.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut config = HttpConfig::new(format!("http://{addr}"));
    config.attempts = 2;
    config.timeout = std::time::Duration::from_millis(200);
    config.backoff = std::time::Duration::from_millis(5);
    let g = RegistryGateway::new(db.clone(), HttpRegistry::new(config).unwrap())
        .with_clock(Arc::new(|| NOW));
    let err = g
        .entity(&c, &Bin::parse("050340001017").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, GatewayError::Registry(RegistryError::Timeout)),
        "{err:?}"
    );
    let rows = db.registry_requests_of("APP-1").await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[1].registry.as_str(), rows[1].outcome.as_str()),
        ("entity", "timeout")
    );
    // The consent, then one audited record per request: nothing half-written.
    assert_eq!(db.verify_audit_chain().await.unwrap(), Ok(3));
}

async fn demo_registries_load_once_and_know_the_demo_citizens(t: &TestDatabase) {
    let db = t.open().await;
    let logins = kezek_store::demo::load(&db, NOW, "$argon2id$placeholder")
        .await
        .unwrap();
    assert!(demo::load_if_empty(&db, NOW).await.unwrap());
    assert!(
        !demo::load_if_empty(&db, NOW).await.unwrap(),
        "a second start loads nothing"
    );
    let counts = db.registry_counts().await.unwrap();
    assert_eq!(
        (
            counts.persons,
            counts.links,
            counts.entities,
            counts.powers_of_attorney
        ),
        (10, 8, 7, 4)
    );
    let r = EmbeddedRegistry::new(db.clone());
    let citizens: Vec<_> = logins
        .iter()
        .filter(|l| l.role == kezek_domain::access::Role::Citizen)
        .collect();
    assert_eq!(citizens.len(), 3);
    for c in citizens {
        let iin = Iin::parse(&c.iin).unwrap();
        let user = db.user_by_iin(&iin).await.unwrap().unwrap();
        assert_eq!(
            r.person(&iin).await.unwrap().full_name,
            user.full_name,
            "the registry knows each demo citizen by name"
        );
    }
    let provider = db
        .organizations_of_region(db.regions().await.unwrap()[0].id)
        .await
        .unwrap();
    let bin = Bin::parse(provider[0].bin.as_deref().unwrap()).unwrap();
    assert_eq!(r.entity(&bin).await.unwrap().status, EntityStatus::Active);
    assert_eq!(db.verify_audit_chain().await.unwrap(), Ok(2));
}
