//! The JSON API as a client sees it, on SQLite and on PostgreSQL.

mod common;

use common::TestApp;
use serde_json::{Value, json};

on_both_engines!(
    health_answers_with_the_database_ok,
    openapi_document_is_3_1_and_describes_every_route,
    demo_user_logs_in_and_reads_their_account,
    bad_input_gets_a_problem_a_person_can_act_on,
    problems_speak_the_requesters_language,
    forged_or_missing_tokens_are_unauthenticated,
    kindergarten_head_changes_only_their_own_places,
    regional_admin_cannot_reach_another_region,
    a_citizen_sees_only_their_own_account,
    repeated_wrong_passwords_are_rate_limited,
    citizen_registers_once_and_then_signs_in,
    auditor_reads_the_region_audit_trail_of_a_change,
);

async fn health_answers_with_the_database_ok(app: &TestApp) {
    let (status, body) = app.get("/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["database"], "ok");
    assert_eq!(body["status"], "ok");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kezek_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1"), "{metrics}");
}

async fn openapi_document_is_3_1_and_describes_every_route(app: &TestApp) {
    let (status, doc) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/me", "/api/v1/groups/{id}", "/api/v1/regions/{id}/audit", "/health"] {
        assert!(paths.contains_key(p), "{p} is documented");
    }
    // Every operation documents its answers, and every referenced schema exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "schema {name} is defined");
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has responses");
        }
    }
    let docs = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"), "Swagger UI is served from the binary");
}

async fn demo_user_logs_in_and_reads_their_account(app: &TestApp) {
    let iin = app.iin_of("kindergarten_head", 0);
    let token = app.token(&iin).await;
    let (status, me) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["iin"], iin.as_str());
    assert_eq!(me["roles"][0]["role"], "kindergarten_head");
    let r = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (status, _) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 401, "the token is dead after logout");
}

async fn post_raw(app: &TestApp, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, String, Value) {
    let mut req = app.client.post(app.url(path)).header("accept-language", "en").body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ct, r.json().await.unwrap_or(Value::Null))
}

async fn bad_input_gets_a_problem_a_person_can_act_on(app: &TestApp) {
    let login = "/api/v1/auth/login";
    let json = Some("application/json");
    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", json, b"{\"iin\": ".to_vec(), 400, "malformed-json"),
        ("unknown field", json, br#"{"iin":"1","password":"x","admin":true}"#.to_vec(), 422, "invalid-field"),
        ("wrong type", json, br#"{"iin":123,"password":"x"}"#.to_vec(), 422, "invalid-field"),
        ("no content type", None, br#"{"iin":"1","password":"x"}"#.to_vec(), 415, "unsupported-media"),
        ("oversized body", json, format!("{{\"iin\":\"{}\",\"password\":\"x\"}}", "9".repeat(100_000)).into_bytes(), 413, "too-large"),
    ];
    for (what, ct, body, status, kind) in cases {
        let (s, content_type, problem) = post_raw(app, login, ct, body).await;
        assert_eq!(s, status, "{what}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{what}");
        assert_eq!(problem["type"], format!("urn:kezek:problem:{kind}"), "{what}");
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{what} explains itself");
    }
    // A wrong check digit: the last digit of a real IIN, changed.
    let iin = app.iin_of("citizen", 0);
    let last = iin.as_bytes()[11] - b'0';
    let wrong = format!("{}{}", &iin[..11], (last + 1) % 10);
    let (s, _, problem) = post_raw(app, login, json, json!({"iin": wrong, "password": "whatever1"}).to_string().into_bytes()).await;
    assert_eq!(s, 422);
    assert_eq!(problem["field"], "iin");
    assert!(problem["detail"].as_str().unwrap().contains("check"), "{problem}");
    // Unknown routes and wrong methods are problems too, never HTML or empty bodies.
    let (s, _, problem) = post_raw(app, "/api/v1/nothing-here", json, b"{}".to_vec()).await;
    assert_eq!((s, problem["type"].as_str()), (404, Some("urn:kezek:problem:not-found")));
    let r = app.client.delete(app.url("/api/v1/regions")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

async fn problems_speak_the_requesters_language(app: &TestApp) {
    let body = json!({"iin": app.iin_of("citizen", 0), "password": "wrong-password"}).to_string();
    let mut titles = Vec::new();
    for lang in ["kk-KZ", "ru", "en-US,en;q=0.9"] {
        let r = app.client.post(app.url("/api/v1/auth/login")).header("content-type", "application/json")
            .header("accept-language", lang).body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 401);
        titles.push(r.json::<Value>().await.unwrap()["title"].as_str().unwrap().to_owned());
    }
    assert_eq!(titles, ["ЖСН немесе құпиясөз қате", "Неверный ИИН или пароль", "The IIN or password is wrong"]);
}

async fn forged_or_missing_tokens_are_unauthenticated(app: &TestApp) {
    let (status, problem) = app.get("/api/v1/me", None).await;
    assert_eq!((status, problem["type"].as_str()), (401, Some("urn:kezek:problem:unauthenticated")));
    let (status, _) = app.get("/api/v1/me", Some("forged-token-forged-token-forged-token-forg")).await;
    assert_eq!(status, 401);
}

async fn first_group_of(app: &TestApp, kindergarten: &Value) -> Value {
    let (_, groups) = app.get(&format!("/api/v1/organizations/{}/groups", kindergarten["id"]), None).await;
    groups[0].clone()
}

async fn kindergarten_head_changes_only_their_own_places(app: &TestApp) {
    let kindergartens = app.organizations("almaty-city", "kindergarten").await;
    let (own, other) = (&kindergartens[0], &kindergartens[1]);
    let token = app.token(&app.iin_of("kindergarten_head", 0)).await;

    let own_group = first_group_of(app, own).await;
    let (status, updated) = app.put(&format!("/api/v1/groups/{}", own_group["id"]), &token, json!({"capacity": 30, "enrolled": 12})).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!((updated["capacity"].as_i64(), updated["enrolled"].as_i64()), (Some(30), Some(12)));

    let other_group = first_group_of(app, other).await;
    let (status, problem) = app.put(&format!("/api/v1/groups/{}", other_group["id"]), &token, json!({"capacity": 99, "enrolled": 0})).await;
    assert_eq!((status, problem["type"].as_str()), (403, Some("urn:kezek:problem:forbidden")));
    assert_eq!(first_group_of(app, other).await, other_group, "the other kindergarten's places are unchanged");

    let (status, _) = app.get(&format!("/api/v1/organizations/{}/staff", other["id"]), Some(&token)).await;
    assert_eq!(status, 403, "nor can they read another kindergarten's staff");
    let (status, staff) = app.get(&format!("/api/v1/organizations/{}/staff", own["id"]), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(staff.as_array().unwrap().len(), 1);

    let (status, problem) = app.put(&format!("/api/v1/groups/{}", own_group["id"]), &token, json!({"capacity": 10, "enrolled": 12})).await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("urn:kezek:problem:places")));
}

async fn regional_admin_cannot_reach_another_region(app: &TestApp) {
    let astana_admin = app.token(&app.iin_of("regional_admin", 1)).await;
    let almaty_k = &app.organizations("almaty-city", "kindergarten").await[0];
    let group = first_group_of(app, almaty_k).await;
    let (status, _) = app.put(&format!("/api/v1/groups/{}", group["id"]), &astana_admin, json!({"capacity": 1, "enrolled": 0})).await;
    assert_eq!(status, 403);
    assert_eq!(first_group_of(app, almaty_k).await, group);
    let (_, regions) = app.get("/api/v1/regions", None).await;
    let almaty = regions[0]["id"].as_i64().unwrap();
    let (status, _) = app.get(&format!("/api/v1/regions/{almaty}/audit"), Some(&astana_admin)).await;
    assert_eq!(status, 403);
    // The Almaty administrator may act on the same group.
    let almaty_admin = app.token(&app.iin_of("regional_admin", 0)).await;
    let (status, _) = app.put(&format!("/api/v1/groups/{}", group["id"]), &almaty_admin, json!({"capacity": 26, "enrolled": 20})).await;
    assert_eq!(status, 200);
}

async fn a_citizen_sees_only_their_own_account(app: &TestApp) {
    let token = app.token(&app.iin_of("citizen", 0)).await;
    let (_, me) = app.get("/api/v1/me", Some(&token)).await;
    let (status, own) = app.get(&format!("/api/v1/users/{}", me["id"]), Some(&token)).await;
    assert_eq!((status, &own["iin"]), (200, &me["iin"]));
    let other_token = app.token(&app.iin_of("citizen", 1)).await;
    let (_, other) = app.get("/api/v1/me", Some(&other_token)).await;
    let (status, problem) = app.get(&format!("/api/v1/users/{}", other["id"]), Some(&token)).await;
    assert_eq!(status, 404, "another citizen's account does not exist for them");
    assert!(!problem.to_string().contains(other["iin"].as_str().unwrap()));
    let kindergarten = &app.organizations("almaty-city", "kindergarten").await[0];
    let group = first_group_of(app, kindergarten).await;
    let (status, _) = app.put(&format!("/api/v1/groups/{}", group["id"]), &token, json!({"capacity": 1, "enrolled": 0})).await;
    assert_eq!(status, 403);
}

async fn repeated_wrong_passwords_are_rate_limited(app: &TestApp) {
    let iin = app.iin_of("operator", 0);
    for _ in 0..5 {
        let r = app.client.post(app.url("/api/v1/auth/login")).json(&json!({"iin": iin, "password": "guess-guess"})).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = app.client.post(app.url("/api/v1/auth/login")).json(&json!({"iin": iin, "password": common::PASSWORD})).send().await.unwrap();
    assert_eq!(r.status(), 429, "even the right password waits once the account is locked");
    assert!(r.headers().get("retry-after").is_some());
    // Other accounts are not affected.
    app.token(&app.iin_of("operator", 1)).await;
}

async fn citizen_registers_once_and_then_signs_in(app: &TestApp) {
    let iin = kezek_domain::identity::iin_for(time::macros::date!(1995 - 07 - 14), kezek_domain::identity::Sex::Female, 4242)
        .or_else(|| kezek_domain::identity::iin_for(time::macros::date!(1995 - 07 - 14), kezek_domain::identity::Sex::Female, 4243))
        .unwrap()
        .as_string();
    let body = json!({"iin": iin, "full_name": "Жанна Сапарова", "password": "long-enough-1", "language": "kk"});
    let r = app.client.post(app.url("/api/v1/auth/register")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let me: Value = r.json().await.unwrap();
    assert_eq!((me["language"].as_str(), me["roles"][0]["role"].as_str()), (Some("kk"), Some("citizen")));
    let r = app.client.post(app.url("/api/v1/auth/register")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let r = app.client.post(app.url("/api/v1/auth/login")).json(&json!({"iin": iin, "password": "long-enough-1"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let short = json!({"iin": app.iin_of("citizen", 2), "full_name": "X", "password": "short"});
    let r = app.client.post(app.url("/api/v1/auth/register")).json(&short).send().await.unwrap();
    assert_eq!(r.status(), 422);
}

async fn auditor_reads_the_region_audit_trail_of_a_change(app: &TestApp) {
    let head = app.token(&app.iin_of("kindergarten_head", 0)).await;
    let k = &app.organizations("almaty-city", "kindergarten").await[0];
    let group = first_group_of(app, k).await;
    let (status, _) = app.put(&format!("/api/v1/groups/{}", group["id"]), &head, json!({"capacity": 28, "enrolled": 3})).await;
    assert_eq!(status, 200);
    let auditor = app.token(&app.iin_of("auditor", 0)).await;
    let region = k["region_id"].as_i64().unwrap();
    let (status, entries) = app.get(&format!("/api/v1/regions/{region}/audit"), Some(&auditor)).await;
    assert_eq!(status, 200);
    let e = &entries[0];
    assert_eq!(e["action"], "group.places_updated");
    assert_eq!(e["object_id"], group["id"].to_string());
    assert_eq!(e["details"]["capacity"]["to"], 28);
    assert_eq!(app.state.db.verify_audit_chain().await.unwrap().map(|n| n > 1), Ok(true));
    // Auditors read; they do not change.
    let (status, _) = app.put(&format!("/api/v1/groups/{}", group["id"]), &auditor, json!({"capacity": 1, "enrolled": 0})).await;
    assert_eq!(status, 403);
}
