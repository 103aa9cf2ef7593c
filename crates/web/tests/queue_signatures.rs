//! The applicant's EDS on a portal queue registration, on SQLite and on PostgreSQL (004 App. 3
//! Table 3, 003 §13(6)–(7), 000 R1 §14 condition 2): the parent signs exactly the bytes the
//! server names for the registration; a valid signature's verdict is kept with the S1
//! application; none is a 422 naming the field; a refused one is the S1 application's
//! motivated refusal on the definition's ground, with no queue entry. An S1 application is
//! never filed by hand.

mod common;

use common::{TestApp, signing_bytes};
use kezek_eds::testpki::UserCase;
use serde_json::{Value, json};

on_both_engines!(
    the_signing_content_is_the_documented_text_of_the_registration,
    a_registration_signed_by_the_parent_keeps_the_verdict_on_its_s1_application,
    an_unsigned_portal_registration_is_a_422_naming_the_signature_and_files_nothing,
    a_registration_signed_with_another_iin_is_refused_with_iin_mismatch_and_no_entry,
    revoked_expired_and_other_content_signatures_refuse_the_registration_with_their_reason,
    office_registrations_take_no_applicants_signature,
    an_s1_application_filed_by_hand_is_refused_pointing_to_the_queue,
);

/// The demo registry's child of the first demo citizen (Ахметов Алихан, born 2023-02-14).
const CHILD_IIN: &str = "230214502028";
const CHILD_BIRTH: &str = "2023-02-14";

fn today() -> time::Date {
    kezek_web::queue::local_today(time::OffsetDateTime::now_utc())
}

/// Two kindergartens of Almaty city with a Kazakh group of the child's band, and the region.
async fn almaty_kindergartens(app: &TestApp) -> (i64, Vec<i64>) {
    let (_, regions) = app.get("/api/v1/regions", None).await;
    let region = regions.as_array().unwrap().iter().find(|r| r["code"] == "almaty-city").unwrap()["id"].as_i64().unwrap();
    let birth = time::Date::parse(CHILD_BIRTH, time::macros::format_description!("[year]-[month]-[day]")).unwrap();
    let age = kezek_domain::allocation::age_on(birth, kezek_domain::queue::school_year_start(today()));
    let band = format!("{}-{}", age, age + 1);
    let (_, places) = app.get(&format!("/api/v1/regions/{region}/places"), None).await;
    let mut ks: Vec<i64> = places
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["age_band"] == band.as_str() && g["language"] == "kk")
        .map(|g| g["kindergarten_id"].as_i64().unwrap())
        .collect();
    ks.sort_unstable();
    ks.dedup();
    assert!(ks.len() >= 2, "two kindergartens teach the band {band} in Kazakh");
    (region, ks)
}

/// The first demo citizen's registration of her child on the portal, unsigned.
async fn registration(app: &TestApp) -> Value {
    let (region, ks) = almaty_kindergartens(app).await;
    json!({
        "region_id": region,
        "child_iin": CHILD_IIN,
        "child_birth_date": CHILD_BIRTH,
        "child_name": "  Ахметов Алихан ",
        "relation": "mother",
        "language": "kk",
        "preferences": [ks[0], ks[1]],
        "desired_start": today().to_string(),
        "priority": { "category": "large-family", "evidence_kind": "document", "evidence_ref": "No. 12 \"Көпбалалы\"\nof 2025-01-10" },
        "consent": true,
    })
}

async fn signing_content(app: &TestApp, token: &str, body: &Value) -> Value {
    let (status, c) = app.post("/api/v1/queue/registrations/signing-content", token, body.clone()).await;
    assert_eq!(status, 200, "{c}");
    c
}

async fn post_en(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let r = app.client.post(app.url("/api/v1/queue/registrations")).bearer_auth(token).header("cookie", "lang=en").json(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The citizen's applications and the region's queue entries: what a refusal may leave.
async fn written(app: &TestApp, token: &str, region: i64) -> (usize, usize) {
    let (_, mine) = app.get("/api/v1/me/applications", Some(token)).await;
    (mine.as_array().unwrap().len(), app.state.db.entries_of_region(region).await.unwrap().len())
}

async fn the_signing_content_is_the_documented_text_of_the_registration(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let body = registration(app).await;
    let c = signing_content(app, &token, &body).await;
    assert_eq!(c["signature_required"], true, "Almaty city's portal checks the applicant's EDS (000 R1 §14)");
    let text = String::from_utf8(signing_bytes(&c)).unwrap();
    let ks = body["preferences"].as_array().unwrap();
    let expected = format!(
        "kezek-queue-registration:v1\nregion_id:{}\nchannel:portal\napplicant_iin:{iin}\nrelation:mother\npower_of_attorney:\nprincipal_iin:\n\
         child_iin:{CHILD_IIN}\nchild_birth_date:{CHILD_BIRTH}\nchild_name:\"Ахметов Алихан\"\nlanguage:kk\npreferences:{},{}\n\
         desired_start:{}\nsibling_kindergarten_id:\npriority_category:large-family\npriority_evidence_kind:document\n\
         priority_evidence_ref:\"No. 12 \\\"Көпбалалы\\\"\\nof 2025-01-10\"\nconsent:yes\n",
        body["region_id"], ks[0], ks[1], today()
    );
    assert_eq!(text, expected);
    use sha2::Digest;
    assert_eq!(c["content_sha256"], hex::encode(sha2::Sha256::digest(text.as_bytes())));
    // The ranking is part of what is signed: the same choice in another order is other bytes.
    let mut swapped = body.clone();
    swapped["preferences"] = json!([ks[1], ks[0]]);
    assert_ne!(signing_bytes(&signing_content(app, &token, &swapped).await), text.as_bytes());
    // A body that does not parse names its field, as the registration would.
    let mut bad = body.clone();
    bad["child_iin"] = json!("123");
    let (status, p) = app.post("/api/v1/queue/registrations/signing-content", &token, bad).await;
    assert_eq!((status, p["field"].as_str()), (422, Some("child_iin")), "{p}");
    assert_eq!(written(app, &token, body["region_id"].as_i64().unwrap()).await, (0, 0), "naming the bytes writes nothing");
}

async fn a_registration_signed_by_the_parent_keeps_the_verdict_on_its_s1_application(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let mut body = registration(app).await;
    let content = signing_bytes(&signing_content(app, &token, &body).await);
    body["signature"] = json!(app.pki.sign(UserCase::Valid, &iin, &content, false));
    let (status, n) = post_en(app, &token, &body).await;
    assert_eq!(status, 201, "{n}");
    let (status, a) = app.get(&format!("/api/v1/applications/{}", n["application_id"]), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!((a["service_id"].as_str(), a["state"].as_str(), a["channel"].as_str()), (Some("S1"), Some("issued"), Some("portal")), "{a}");
    let s = &a["signature"];
    assert_eq!((s["valid"].as_bool(), s["signer_iin"].as_str(), s["revocation"].as_str()), (Some(true), Some(iin.as_str()), Some("good")), "{a}");
    assert_eq!(s["verdict"]["signer"]["iin"], iin.as_str());
    let stored = app.state.db.application_signature(n["application_id"].as_i64().unwrap()).await.unwrap().expect("the verdict is kept");
    use sha2::Digest;
    assert_eq!(stored.content_sha256, hex::encode(sha2::Sha256::digest(&content)), "over exactly the bytes named");
    assert_eq!(app.state.db.entries_of_region(body["region_id"].as_i64().unwrap()).await.unwrap().len(), 1);
}

async fn an_unsigned_portal_registration_is_a_422_naming_the_signature_and_files_nothing(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let mut body = registration(app).await;
    let region = body["region_id"].as_i64().unwrap();
    for signature in [None, Some("")] {
        if let Some(s) = signature {
            body["signature"] = json!(s);
        }
        let (status, p) = post_en(app, &token, &body).await;
        assert_eq!((status, p["field"].as_str()), (422, Some("signature")), "{p}");
        assert!(p["application_id"].is_null() && p.get("reason").is_none(), "{p}");
        assert!(p["detail"].as_str().unwrap().contains("signature field"), "{p}");
    }
    assert_eq!(written(app, &token, region).await, (0, 0));
    let audit = app.state.db.verify_audit_chain().await.unwrap().expect("the audit chain verifies");
    let (status, _) = post_en(app, &token, &body).await;
    assert_eq!(status, 422);
    assert_eq!(app.state.db.verify_audit_chain().await.unwrap().expect("the audit chain verifies"), audit, "no audit entry either");
}

/// Checks a refused registration: its problem and the S1 application that records it.
async fn assert_refused(app: &TestApp, token: &str, p: &Value, reason: &str, says: &str) {
    assert_eq!((p["reason"].as_str(), p["grounds"].as_str(), p["field"].as_str()), (Some(reason), Some("eds-not-confirmed"), Some("signature")), "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(says) && detail.contains("electronic signature is not confirmed"), "{detail}");
    let r = app.client.get(app.url(&format!("/api/v1/applications/{}", p["application_id"]))).bearer_auth(token).header("cookie", "lang=en").send().await.unwrap();
    assert_eq!(r.status(), 200, "the refusal names its application: {p}");
    let a: Value = r.json().await.unwrap();
    assert_eq!((a["service_id"].as_str(), a["state"].as_str(), a["grounds"].as_str()), (Some("S1"), Some("refused"), Some("eds-not-confirmed")), "{a}");
    let actions: Vec<&str> = a["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["file", "refuse"], "refused on arrival, before a journal number: {a}");
    assert!(a["receipt"].is_null(), "{a}");
    assert!(a["signature"].is_null(), "a refused signature is not kept as a verdict: {a}");
    let doc = &a["queue_registration"]["document"];
    assert_eq!(doc["kind"], "motivated_refusal", "{a}");
    assert!(doc["reason"].as_str().unwrap().contains(says), "the motive: {doc}");
    assert!(a["queue_registration"]["registration_id"].is_null());
}

async fn a_registration_signed_with_another_iin_is_refused_with_iin_mismatch_and_no_entry(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let mut body = registration(app).await;
    let region = body["region_id"].as_i64().unwrap();
    let content = signing_bytes(&signing_content(app, &token, &body).await);
    // The father's own valid certificate, over exactly the mother's registration.
    let other = app.iin_of("citizen", 1);
    body["signature"] = json!(app.pki.sign(UserCase::Valid, &other, &content, false));
    let requests_before = app.state.db.registry_request_count().await.unwrap();
    let (status, p) = post_en(app, &token, &body).await;
    assert_eq!(status, 422, "{p}");
    assert_refused(app, &token, &p, "iin_mismatch", "IIN in the certificate is not the applicant's").await;
    assert_eq!(written(app, &token, region).await, (1, 0), "the refused application, no queue entry");
    assert_eq!(app.state.db.registry_request_count().await.unwrap(), requests_before, "no registry was asked");
    assert!(app.state.db.queue_log(region, 0, 100).await.unwrap().is_empty(), "no queue event");
    // In Russian and Kazakh too.
    for (lang, title) in [("ru", "В постановке на очередь отказано: ЭЦП не подтверждена"), ("kk", "Кезекке қоюдан бас тартылды: ЭЦҚ расталмады")] {
        let r = app.client.post(app.url("/api/v1/queue/registrations")).bearer_auth(&token).header("cookie", format!("lang={lang}")).json(&body).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["title"], title);
    }
}

async fn revoked_expired_and_other_content_signatures_refuse_the_registration_with_their_reason(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let body = registration(app).await;
    let region = body["region_id"].as_i64().unwrap();
    let content = signing_bytes(&signing_content(app, &token, &body).await);
    // Signed for another choice of kindergartens than the one sent.
    let mut other_list = body.clone();
    other_list["preferences"] = json!([body["preferences"][1]]);
    let other_content = signing_bytes(&signing_content(app, &token, &other_list).await);
    let cases = [
        ("revoked", app.pki.sign(UserCase::Revoked, &iin, &content, false), "revoked"),
        ("expired", app.pki.sign(UserCase::Expired, &iin, &content, false), "has expired"),
        ("content_mismatch", app.pki.sign(UserCase::Valid, &iin, &other_content, false), "not the data of this request"),
        ("content_mismatch", app.pki.sign(UserCase::Valid, &iin, &other_content, true), "not the data of this request"),
    ];
    for (n, (reason, signature, says)) in cases.into_iter().enumerate() {
        let mut b = body.clone();
        b["signature"] = json!(signature);
        let (status, p) = post_en(app, &token, &b).await;
        assert_eq!(status, 422, "{reason}: {p}");
        assert_refused(app, &token, &p, reason, says).await;
        assert_eq!(written(app, &token, region).await, (n + 1, 0), "one refused application each, no entry");
    }
    // Signed properly at last, the same registration goes through.
    let mut b = body.clone();
    b["signature"] = json!(app.pki.sign(UserCase::Valid, &iin, &content, true));
    let (status, n) = post_en(app, &token, &b).await;
    assert_eq!(status, 201, "{n}");
}

async fn office_registrations_take_no_applicants_signature(app: &TestApp) {
    // At the State Corporation the operator files for the applicant present (000 R1 §10): the
    // request is the operator's, so the applicant signs nothing and nothing asks for it.
    let operator = app.token(&app.iin_of("operator", 0)).await;
    let mut body = registration(app).await;
    body["applicant_iin"] = json!(app.iin_of("citizen", 0));
    let (status, p) = app.post("/api/v1/queue/registrations/signing-content", &operator, body.clone()).await;
    assert_eq!((status, p["field"].as_str()), (422, Some("applicant_iin")), "{p}");
    body["signature"] = json!(app.pki.sign(UserCase::Valid, &app.iin_of("citizen", 0), b"anything", false));
    let (status, p) = post_en(app, &operator, &body).await;
    assert_eq!((status, p["field"].as_str()), (422, Some("signature")), "{p}");
    body.as_object_mut().unwrap().remove("signature");
    let (status, n) = post_en(app, &operator, &body).await;
    assert_eq!(status, 201, "{n}");
    let (_, a) = app.get(&format!("/api/v1/applications/{}", n["application_id"]), Some(&operator)).await;
    assert_eq!((a["channel"].as_str(), a["state"].as_str()), (Some("gc"), Some("issued")), "{a}");
    assert!(a["signature"].is_null());
}

async fn an_s1_application_filed_by_hand_is_refused_pointing_to_the_queue(app: &TestApp) {
    let iin = app.iin_of("citizen", 0);
    let token = app.token(&iin).await;
    let operator = app.token(&app.iin_of("operator", 0)).await;
    let region = registration(app).await["region_id"].clone();
    let by_hand = [
        (token.clone(), json!({ "service_id": "S1", "region_id": region, "channel": "portal", "documents": ["application"] })),
        (operator.clone(), json!({ "service_id": "S1", "region_id": region, "channel": "gc", "documents": ["application"], "applicant_iin": iin })),
    ];
    for (who, body) in by_hand {
        let r = app.client.post(app.url("/api/v1/applications")).bearer_auth(&who).header("cookie", "lang=en").json(&body).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["field"], "service_id", "{p}");
        assert!(p["detail"].as_str().unwrap().contains("POST /api/v1/queue/registrations"), "{p}");
    }
    let (_, mine) = app.get("/api/v1/me/applications", Some(&token)).await;
    assert!(mine.as_array().unwrap().is_empty());
    // Other services are still filed there (S5 at the State Corporation).
    let (status, a) = app.post("/api/v1/applications", &operator, json!({ "service_id": "S5", "region_id": region, "channel": "state-corporation", "documents": ["application"], "applicant_iin": iin })).await;
    assert_eq!(status, 201, "{a}");
}
