//! The HTML interface through its forms, as a browser without JavaScript uses it.

mod common;

use common::TestApp;

on_both_engines!(
    demo_user_signs_in_through_the_form_and_sees_their_role_home,
    a_form_without_its_csrf_token_is_refused,
    a_forged_session_cookie_is_just_an_anonymous_visit,
    the_language_switch_changes_the_page_language,
    a_parent_registers_sees_positions_and_accepts_the_referral_of_a_round_the_admin_started,
    the_registration_form_lists_every_missing_field_and_refuses_in_the_parents_language,
    free_places_queue_length_and_rounds_are_public,
    an_operator_registers_for_the_applicant_present_and_the_auditor_reads_findings,
    a_kindergarten_head_publishes_the_places_of_their_own_kindergarten_only,
    a_representative_registers_through_the_form_only_with_the_parents_power_of_attorney,
    reviewers_decide_the_claims_of_their_own_region_and_the_family_sees_the_decision,
    the_honesty_page_puts_each_finding_in_the_readers_language,
    the_regional_administrator_sets_the_queue_settings_on_a_page,
    the_registration_page_says_the_portal_needs_an_eds_and_who_else_registers,
);

fn cookie_from(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let (pair, _) = c.split_once(';').unwrap_or((c, ""));
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("the form carries a CSRF token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn demo_user_signs_in_through_the_form_and_sees_their_role_home(app: &TestApp) {
    let form = app.client.get(app.url("/login")).header("accept-language", "en").send().await.unwrap();
    assert_eq!(form.status(), 200);
    let csrf_cookie = cookie_from(&form, "kezek_csrf").expect("a CSRF cookie comes with the form");
    let set_cookie = form.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let html = form.text().await.unwrap();
    assert!(html.contains("<label for=\"iin\">IIN</label>"));
    let csrf = hidden_csrf(&html);
    assert_eq!(csrf, csrf_cookie);

    let iin = app.iin_of("specialist", 0);
    let r = app.client.post(app.url("/login"))
        .header("cookie", format!("kezek_csrf={csrf_cookie}"))
        .header("accept-language", "en")
        .form(&[("csrf", csrf.as_str()), ("iin", iin.as_str()), ("password", common::PASSWORD)])
        .send().await.unwrap();
    assert_eq!(r.status(), 303);
    let session = cookie_from(&r, "kezek_session").expect("a session cookie");
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");

    // Demo accounts are set to Russian, which beats the browser's Accept-Language...
    let home = app.client.get(app.url("/")).header("cookie", format!("kezek_session={session}"))
        .header("accept-language", "en").send().await.unwrap().text().await.unwrap();
    assert!(home.contains("data-role=\"specialist\""), "{home}");
    assert!(home.contains("Управление образования города Алматы"), "{home}");
    // ...and the language switch (its cookie) beats the account setting.
    let home = app.client.get(app.url("/")).header("cookie", format!("kezek_session={session}; lang=en"))
        .send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Education Department of Almaty city"));
    assert!(home.contains("Sign out"));

    // Signing out needs the session's own CSRF token, and ends the session.
    let logout_csrf = hidden_csrf(&home);
    let r = app.client.post(app.url("/logout")).header("cookie", format!("kezek_session={session}"))
        .form(&[("csrf", logout_csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let home = app.client.get(app.url("/")).header("cookie", format!("kezek_session={session}"))
        .send().await.unwrap().text().await.unwrap();
    assert!(!home.contains("data-role="), "signed out");
}

async fn a_form_without_its_csrf_token_is_refused(app: &TestApp) {
    let iin = app.iin_of("specialist", 0);
    let r = app.client.post(app.url("/login")).header("accept-language", "en")
        .form(&[("iin", iin.as_str()), ("password", common::PASSWORD)]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(cookie_from(&r, "kezek_session").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("error-summary") && html.contains("The form has expired"), "{html}");

    let r = app.client.post(app.url("/login")).header("cookie", "kezek_csrf=aaaa")
        .form(&[("csrf", "bbbb"), ("iin", iin.as_str()), ("password", common::PASSWORD)]).send().await.unwrap();
    assert_eq!(r.status(), 403, "a token that differs from the cookie is refused");
}

async fn a_forged_session_cookie_is_just_an_anonymous_visit(app: &TestApp) {
    let r = app.client.get(app.url("/")).header("cookie", "kezek_session=forged").header("accept-language", "en").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"/login\"") && !html.contains("data-role="));
}

async fn the_language_switch_changes_the_page_language(app: &TestApp) {
    let r = app.client.get(app.url("/lang/kk?back=/login")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    assert_eq!(cookie_from(&r, "lang").as_deref(), Some("kk"));
    let html = app.client.get(app.url("/login")).header("cookie", "lang=kk").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<html lang=\"kk\">") && html.contains("ЖСН"), "{html}");
    let r = app.client.get(app.url("/lang/en?back=//evil.example")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/", "no open redirect");
}

/// A browser session signed in through the form: its cookie header and the CSRF token its forms carry.
struct Browser {
    cookie: String,
    csrf: String,
    /// Whose session it is: their test certificate signs what `/static/eds.js` would sign.
    iin: String,
}

async fn sign_in(app: &TestApp, iin: &str, lang: &str) -> Browser {
    let form = app.client.get(app.url("/login")).send().await.unwrap();
    let csrf_cookie = cookie_from(&form, "kezek_csrf").unwrap();
    let r = app.client.post(app.url("/login")).header("cookie", format!("kezek_csrf={csrf_cookie}"))
        .form(&[("csrf", csrf_cookie.as_str()), ("iin", iin), ("password", common::PASSWORD)]).send().await.unwrap();
    assert_eq!(r.status(), 303, "demo account {iin} signs in");
    let session = cookie_from(&r, "kezek_session").unwrap();
    let cookie = format!("kezek_session={session}; lang={lang}");
    let home = app.client.get(app.url("/")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    Browser { csrf: hidden_csrf(&home), cookie, iin: iin.to_owned() }
}

impl Browser {
    async fn get(&self, app: &TestApp, path: &str) -> (u16, String) {
        let r = app.client.get(app.url(path)).header("cookie", &self.cookie).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Sends a form with the session's CSRF token; answers the status and the redirect or page.
    async fn post(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        let r = app.client.post(app.url(path)).header("cookie", &self.cookie).form(&all).send().await.unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        (status, match location { Some(l) => l, None => r.text().await.unwrap() })
    }

    /// Sends the registration form as `/static/eds.js` does: asks `{path}/signing-content` for
    /// the bytes of the form as filled in, signs them with the signed-in citizen's valid test
    /// certificate (NCALayer's part), and sends the form with the signature; unsigned when the
    /// server names no bytes (an incomplete form) or wants no signature.
    async fn post_signed(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        let r = app.client.post(app.url(&format!("{path}/signing-content"))).header("cookie", &self.cookie).form(&all).send().await.unwrap();
        let signature = if r.status() == 200 {
            let c: serde_json::Value = r.json().await.unwrap();
            if c["signature_required"] == true {
                app.pki.sign(kezek_eds::testpki::UserCase::Valid, &self.iin, &common::signing_bytes(&c), false)
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        let mut signed = fields.to_vec();
        signed.push(("signature", signature.as_str()));
        self.post(app, path, &signed).await
    }
}

fn today() -> time::Date {
    kezek_web::queue::local_today(time::OffsetDateTime::now_utc())
}

async fn almaty_id(app: &TestApp) -> i64 {
    let (_, regions) = app.get("/api/v1/regions", None).await;
    regions.as_array().unwrap().iter().find(|r| r["code"] == "almaty-city").unwrap()["id"].as_i64().unwrap()
}

/// A kindergarten of the region with a free place in a group of `band` and `language`.
async fn kindergarten_with_place(app: &TestApp, region: i64, band: &str, language: &str) -> (i64, i64) {
    let (_, places) = app.get(&format!("/api/v1/regions/{region}/places"), None).await;
    let g = places.as_array().unwrap().iter()
        .find(|g| g["age_band"] == band && g["language"] == language && g["free"].as_i64().unwrap() > 0)
        .expect("the demo has a free place in the band");
    (g["kindergarten_id"].as_i64().unwrap(), g["group_id"].as_i64().unwrap())
}

/// The demo registry's child of the first demo citizen (Ахметов Алихан, born 2023-02-14).
const CHILD_IIN: &str = "230214502028";
const CHILD_BIRTH: &str = "2023-02-14";

fn band_of(birth: &str) -> String {
    let birth = time::Date::parse(birth, time::macros::format_description!("[year]-[month]-[day]")).unwrap();
    let age = kezek_domain::allocation::age_on(birth, kezek_domain::queue::school_year_start(today()));
    format!("{}-{}", age, age + 1)
}

async fn a_parent_registers_sees_positions_and_accepts_the_referral_of_a_round_the_admin_started(app: &TestApp) {
    let region = almaty_id(app).await;
    let parent = sign_in(app, &app.iin_of("citizen", 0), "en").await;
    let (k, group) = kindergarten_with_place(app, region, &band_of(CHILD_BIRTH), "kk").await;

    // The first step offers the regions and languages; the second only kindergartens teaching in Kazakh.
    let (s, step1) = parent.get(app, "/children/new").await;
    assert_eq!(s, 200);
    assert!(step1.contains("name=\"region\"") && step1.contains("name=\"language\""), "{step1}");
    let (s, step2) = parent.get(app, &format!("/children/new?region={region}&language=kk")).await;
    assert_eq!(s, 200);
    assert!(step2.contains(&format!("<option value=\"{k}\"")), "the kindergarten is offered");
    let ru_only = app.organizations("almaty-city", "kindergarten").await.iter().map(|o| o["id"].as_i64().unwrap()).nth(5).unwrap();
    assert!(!step2.contains(&format!("<option value=\"{ru_only}\"")), "a Russian-only kindergarten is not offered for Kazakh");

    let start = today().to_string();
    let k_text = k.to_string();
    let (s, to) = parent.post_signed(app, "/children/new", &[
        ("region", &region.to_string()), ("language", "kk"), ("child_iin", CHILD_IIN), ("child_birth_date", CHILD_BIRTH),
        ("child_name", "Ахметов Алихан"), ("relation", "mother"), ("pref1", &k_text), ("desired_start", &start), ("consent", "yes"),
    ]).await;
    assert_eq!((s, to.as_str()), (303, "/children?registered=1"));

    let (s, page) = parent.get(app, "/children?registered=1").await;
    assert_eq!(s, 200);
    assert!(page.contains("registered in the queue under number 1"), "{page}");
    assert!(page.contains("data-number>1<") && page.contains("Waiting in the queue"));
    assert!(page.contains("data-rank=\"1\"") && page.contains("Ahead in the queue: 0"), "{page}");
    assert!(page.contains("Your child:</strong> a child was registered"), "the family's own event is listed: {page}");

    // Someone who is not the regional administrator cannot start a round.
    let (s, _) = parent.get(app, &format!("/regions/{region}/rounds/new")).await;
    assert_eq!(s, 403);
    let admin = sign_in(app, &app.iin_of("regional_admin", 0), "en").await;
    let (s, confirm) = admin.get(app, &format!("/regions/{region}/rounds/new")).await;
    assert_eq!(s, 200);
    assert!(confirm.contains("data-waiting-total>1<") && confirm.contains("id=\"start-round\""), "{confirm}");
    let (s, to) = admin.post(app, &format!("/regions/{region}/rounds"), &[]).await;
    assert_eq!(s, 303);
    assert!(to.starts_with("/rounds/") && to.ends_with("?started=1"), "{to}");
    let (s, round) = admin.get(app, &to).await;
    assert_eq!(s, 200);
    assert!(round.contains("data-check=\"ok\"") && round.contains("data-assigned>1<"), "{round}");

    // The parent sees the referral, the round's reasons and the event, then accepts in Kazakh.
    let kk = Browser { cookie: parent.cookie.replace("lang=en", "lang=kk"), csrf: parent.csrf.clone(), iin: parent.iin.clone() };
    let (_, page) = kk.get(app, "/children").await;
    let referral = app.state.db.live_referrals_to_kindergarten(k).await.unwrap();
    assert_eq!(referral.len(), 1);
    assert_eq!(referral[0].group_id, group);
    let rid = referral[0].id;
    assert!(page.contains(&format!("action=\"/referrals/{rid}/accept\"")), "{page}");
    assert!(page.contains("Бала орын алды") && page.contains("data-outcome=\"admitted\""), "{page}");
    let (s, _) = app.client.post(app.url(&format!("/referrals/{rid}/accept"))).header("cookie", &kk.cookie)
        .form(&[("csrf", "forged")]).send().await.map(|r| (r.status().as_u16(), ())).unwrap();
    assert_eq!(s, 403, "a form without the session's token is refused");
    let (s, to) = kk.post(app, &format!("/referrals/{rid}/accept"), &[]).await;
    assert_eq!((s, to.as_str()), (303, "/children?done=accepted"));
    let (_, page) = kk.get(app, "/children?done=accepted").await;
    assert!(page.contains("Сіз орынды қабылдадыңыз") && page.contains("data-referral-status>Қабылданды<"), "{page}");
    // Accepting twice is a conflict shown in the error summary, in the page's language.
    let (s, page) = kk.post(app, &format!("/referrals/{rid}/accept"), &[]).await;
    assert_eq!(s, 409);
    assert!(page.contains("error-summary") && page.contains(&format!("href=\"#accept-{rid}\"")), "{page}");

    // The kindergarten's head sees the referral and enrols the child under a contract.
    let k_name = app.state.db.organization(k).await.unwrap().unwrap().name_en;
    let head_iin = app.logins.iter().find(|l| l.role.as_str() == "kindergarten_head" && l.organization == k_name).map(|l| l.iin.clone()).unwrap();
    let head = sign_in(app, &head_iin, "ru").await;
    let (s, kpage) = head.get(app, &format!("/kindergartens/{k}")).await;
    assert_eq!(s, 200);
    assert!(kpage.contains("Ахметов Алихан") && kpage.contains(&format!("action=\"/referrals/{rid}/enrol\"")), "{kpage}");
    let (s, to) = head.post(app, &format!("/referrals/{rid}/enrol"), &[
        (&format!("contract_no-{rid}"), "Д-17"), (&format!("contract_date-{rid}"), &start),
    ]).await;
    assert_eq!((s, to), (303, format!("/kindergartens/{k}?done=enrolled")));
    let (_, page) = parent.get(app, "/children").await;
    assert!(page.contains("data-status>Enrolled<"), "{page}");
}

async fn the_registration_form_lists_every_missing_field_and_refuses_in_the_parents_language(app: &TestApp) {
    let region = almaty_id(app).await;
    let parent = sign_in(app, &app.iin_of("citizen", 0), "kk").await;
    let (s, page) = parent.post_signed(app, "/children/new", &[("region", &region.to_string()), ("language", "kk")]).await;
    assert_eq!(s, 422);
    for field in ["child_iin", "child_birth_date", "child_name", "relation", "pref1", "desired_start", "consent"] {
        assert!(page.contains(&format!("<a href=\"#{field}\">")), "the summary links to {field}: {page}");
    }
    assert!(page.contains("Баланың ЖСН енгізіңіз") && page.contains("aria-invalid=\"true\""), "{page}");
    // Step one sent without a choice.
    let (s, page) = parent.get(app, "/children/new?step=1").await;
    assert_eq!(s, 422);
    assert!(page.contains("<a href=\"#region\">") && page.contains("<a href=\"#language\">"), "{page}");

    // A child the person registry does not know: the motivated refusal, in Russian.
    let ru = Browser { cookie: parent.cookie.replace("lang=kk", "lang=ru"), csrf: parent.csrf.clone(), iin: parent.iin.clone() };
    let (k, _) = kindergarten_with_place(app, region, &band_of(CHILD_BIRTH), "kk").await;
    let unknown = kezek_domain::identity::iin_for(time::macros::date!(2023 - 02 - 14), kezek_domain::identity::Sex::Male, 4321).unwrap().as_string();
    let (s, page) = ru.post_signed(app, "/children/new", &[
        ("region", &region.to_string()), ("language", "kk"), ("child_iin", &unknown), ("child_birth_date", CHILD_BIRTH),
        ("child_name", "Бала"), ("relation", "father"), ("pref1", &k.to_string()), ("desired_start", &today().to_string()), ("consent", "yes"),
    ]).await;
    assert_eq!(s, 422);
    assert!(page.contains("<a href=\"#registration\">В постановке на очередь отказано</a>"), "{page}");
    assert!(page.contains("в государственной базе данных «Физические лица» нет сведений о ребёнке"), "{page}");
    assert!(page.contains(&format!("value=\"{unknown}\"")), "the typed IIN is kept");
    // A mistyped IIN is the field's own error, linked to it.
    let typo = format!("{}{}", &CHILD_IIN[..11], (CHILD_IIN.as_bytes()[11] - b'0' + 1) % 10);
    let (s, page) = ru.post_signed(app, "/children/new", &[
        ("region", &region.to_string()), ("language", "kk"), ("child_iin", &typo), ("child_birth_date", CHILD_BIRTH),
        ("child_name", "Бала"), ("relation", "father"), ("pref1", &k.to_string()), ("desired_start", &today().to_string()), ("consent", "yes"),
    ]).await;
    assert_eq!(s, 422);
    assert!(page.contains("<a href=\"#child_iin\">ИИН указан неверно</a>"), "{page}");
}

async fn free_places_queue_length_and_rounds_are_public(app: &TestApp) {
    let region = almaty_id(app).await;
    let home = app.client.get(app.url("/")).header("cookie", "lang=en").send().await.unwrap().text().await.unwrap();
    assert!(home.contains(&format!("href=\"/regions/{region}/places\"")), "{home}");
    let r = app.client.get(app.url(&format!("/regions/{region}/places"))).header("cookie", "lang=ru").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Ясли-сад №1 «Балапан»") && page.contains("data-waiting-total>0<"), "{page}");
    let (_, places) = app.get(&format!("/api/v1/regions/{region}/places"), None).await;
    let free: i64 = places.as_array().unwrap().iter().map(|g| g["free"].as_i64().unwrap()).sum();
    assert!(page.contains(&format!("data-free-total>{free}<")), "the page adds up the API's free places");
    let filtered = app.client.get(app.url(&format!("/regions/{region}/places?band=3-4&language=ru&free=yes"))).send().await.unwrap().text().await.unwrap();
    let shown = filtered.matches("data-free>").count();
    let expected = places.as_array().unwrap().iter().filter(|g| g["age_band"] == "3-4" && g["language"] == "ru" && g["free"].as_i64().unwrap() > 0).count();
    assert_eq!(shown, expected, "the filter shows exactly the matching groups");
    let log = app.client.get(app.url(&format!("/regions/{region}/queue-log"))).send().await.unwrap().text().await.unwrap();
    assert!(log.contains(&format!("href=\"/regions/{region}/places\"")), "the queue log links to the places");
    let r = app.client.get(app.url("/regions/999999/places")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

async fn an_operator_registers_for_the_applicant_present_and_the_auditor_reads_findings(app: &TestApp) {
    let region = almaty_id(app).await;
    let operator = sign_in(app, &app.iin_of("operator", 0), "en").await;
    let (s, page) = operator.get(app, "/office/children/new?language=ru").await;
    assert_eq!(s, 200);
    assert!(page.contains("id=\"applicant_iin\"") && !page.contains("name=\"region\" value=\"\""), "{page}");
    // Иванова Мария (the second demo citizen) and her son Тимур, born 2022-06-30.
    let (k, _) = kindergarten_with_place(app, region, &band_of("2022-06-30"), "ru").await;
    let (s, to) = operator.post(app, "/office/children/new", &[
        ("language", "ru"), ("applicant_iin", &app.iin_of("citizen", 1)), ("child_iin", "220630502031"), ("child_birth_date", "2022-06-30"),
        ("child_name", "Иванов Тимур"), ("relation", "mother"), ("pref1", &k.to_string()), ("desired_start", &today().to_string()), ("consent", "yes"),
    ]).await;
    assert_eq!((s, to.as_str()), (303, "/office/children/new?language=ru&registered=1"), "{to}");
    let entry = &app.state.db.entries_of_region(region).await.unwrap()[0];
    assert_eq!(entry.channel, "state_corporation");
    // The family sees it among their children.
    let mother = sign_in(app, &app.iin_of("citizen", 1), "en").await;
    let (_, page) = mother.get(app, "/children").await;
    assert!(page.contains("Иванов Тимур"), "{page}");
    // A citizen has no office form and no honesty page.
    assert_eq!(mother.get(app, "/office/children/new").await.0, 403);
    assert_eq!(mother.get(app, &format!("/regions/{region}/honesty")).await.0, 403);

    let auditor = sign_in(app, &app.iin_of("auditor", 0), "en").await;
    let (s, page) = auditor.get(app, &format!("/regions/{region}/honesty")).await;
    assert_eq!(s, 200);
    let (_, report) = app.get(&format!("/api/v1/regions/{region}/honesty"), Some(&app.token(&app.iin_of("auditor", 0)).await)).await;
    let n = report["findings"].as_array().unwrap().len();
    assert!(page.contains(&format!("data-findings=\"{n}\"")), "the page lists what the API finds: {page}");
}

async fn a_kindergarten_head_publishes_the_places_of_their_own_kindergarten_only(app: &TestApp) {
    let head = sign_in(app, &app.iin_of("kindergarten_head", 0), "en").await;
    let k = app.organizations("almaty-city", "kindergarten").await[0]["id"].as_i64().unwrap();
    let other = app.organizations("almaty-city", "kindergarten").await[1]["id"].as_i64().unwrap();
    assert_eq!(head.get(app, &format!("/kindergartens/{other}")).await.0, 403, "only the kindergarten's own head");
    let (s, page) = head.get(app, &format!("/kindergartens/{k}")).await;
    assert_eq!(s, 200);
    let group = app.state.db.groups_of(k).await.unwrap()[0].clone();
    assert!(page.contains(&format!("action=\"/groups/{}/places\"", group.id)), "{page}");
    let cap = format!("capacity-{}", group.id);
    let enr = format!("enrolled-{}", group.id);
    let (s, to) = head.post(app, &format!("/groups/{}/places", group.id), &[(&cap, &(group.enrolled + 4).to_string()), (&enr, &group.enrolled.to_string())]).await;
    assert_eq!((s, to), (303, format!("/kindergartens/{k}?done=places")));
    assert_eq!(app.state.db.group(group.id).await.unwrap().unwrap().capacity, group.enrolled + 4);
    // Not a number, and more enrolled than capacity: both shown against the group's fields.
    let (s, page) = head.post(app, &format!("/groups/{}/places", group.id), &[(&cap, "many"), (&enr, "1")]).await;
    assert_eq!(s, 422);
    assert!(page.contains(&format!("<a href=\"#{cap}\">")) && page.contains("capacity as a number"), "{page}");
    let (s, page) = head.post(app, &format!("/groups/{}/places", group.id), &[(&cap, "5"), (&enr, "9")]).await;
    assert_eq!(s, 422);
    assert!(page.contains("The numbers of places do not add up"), "{page}");
    // An unknown referral is a page of its own, not an error summary.
    let (s, page) = head.post(app, "/referrals/999999/enrol", &[]).await;
    assert_eq!(s, 404, "{page}");
}

/// The demo notary registry: power of attorney 2026-0001 lets Серікбаев Данияр apply for S1 on
/// behalf of Ахметова Гүлнар (the first demo citizen); 2024-0042, from Иванова Мария, has expired.
async fn a_representative_registers_through_the_form_only_with_the_parents_power_of_attorney(app: &TestApp) {
    let region = almaty_id(app).await;
    let representative = sign_in(app, "870415401546", "en").await;
    let (k, _) = kindergarten_with_place(app, region, &band_of(CHILD_BIRTH), "kk").await;
    let (region, k, start) = (region.to_string(), k.to_string(), today().to_string());
    let form = |number: &'static str, principal: &'static str| {
        vec![
            ("region", region.clone()), ("language", "kk".into()), ("child_iin", CHILD_IIN.into()), ("child_birth_date", CHILD_BIRTH.into()),
            ("child_name", "Ахметов Алихан".into()), ("relation", "representative".into()), ("pref1", k.clone()), ("desired_start", start.clone()),
            ("consent", "yes".into()), ("power_of_attorney", number.into()), ("poa_principal_iin", principal.into()),
        ]
    };
    async fn post(b: &Browser, app: &TestApp, fields: Vec<(&'static str, String)>) -> (u16, String) {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        b.post_signed(app, "/children/new", &fields).await
    }
    let (s, page) = representative.get(app, &format!("/children/new?region={region}&language=kk")).await;
    assert_eq!(s, 200);
    assert!(page.contains("name=\"power_of_attorney\"") && page.contains("name=\"poa_principal_iin\""), "{page}");

    let (s, page) = post(&representative, app, form("", "")).await;
    assert_eq!(s, 422);
    assert!(page.contains("<a href=\"#power_of_attorney\">") && page.contains("Give the number of the notarised power of attorney"), "{page}");
    let (s, page) = post(&representative, app, form("2024-0042", "900414301532")).await;
    assert_eq!(s, 422);
    assert!(page.contains("<a href=\"#power_of_attorney\">The registration is refused</a>") && page.contains("the power of attorney has expired"), "{page}");
    assert!(app.state.db.entries_of_region(region.parse().unwrap()).await.unwrap().is_empty());

    let (s, to) = post(&representative, app, form("2026-0001", "930413401529")).await;
    assert_eq!((s, to.as_str()), (303, "/children?registered=1"), "{to}");
    let entries = app.state.db.entries_of_region(region.parse().unwrap()).await.unwrap();
    assert_eq!((entries.len(), entries[0].applicant_relation.as_str()), (1, "representative"));
}

/// Registers a demo family's child through the parent's form; answers the registration's id.
async fn register_through_form(app: &TestApp, parent: &Browser, child: (&str, &str, &str), k: i64, claim: Option<(&str, &str)>) -> i64 {
    let region = almaty_id(app).await;
    let (region_text, k_text, start) = (region.to_string(), k.to_string(), today().to_string());
    let (iin, birth, name) = child;
    let mut fields = vec![
        ("region", region_text.as_str()), ("language", "ru"), ("child_iin", iin), ("child_birth_date", birth), ("child_name", name),
        ("relation", "mother"), ("pref1", k_text.as_str()), ("desired_start", start.as_str()), ("consent", "yes"),
    ];
    if let Some((category, evidence)) = claim {
        fields.extend([("category", category), ("evidence_kind", "document"), ("evidence_ref", evidence)]);
    }
    let (s, to) = parent.post_signed(app, "/children/new", &fields).await;
    assert_eq!(s, 303, "{name} is registered: {to}");
    app.state.db.entries_of_region(region).await.unwrap().into_iter().find(|e| e.child_iin == iin).unwrap().id
}

/// How many children rank ahead of the registration's child at its first kindergarten, as the
/// family reads it.
async fn ahead(app: &TestApp, parent_iin: &str, entry: i64) -> u64 {
    let (s, p) = app.get(&format!("/api/v1/queue/registrations/{entry}/positions"), Some(&app.token(parent_iin).await)).await;
    assert_eq!(s, 200, "{p}");
    p["positions"][0]["ahead"].as_u64().unwrap()
}

/// Иванова Мария's son Тимур (2022-06-30) and Ахметова Гүлнар's daughter Айлин (2021-09-03) are
/// in the same age band every school year: Тимур registers first, Айлин then with a claim of a
/// large family, for the same Russian group.
async fn reviewers_decide_the_claims_of_their_own_region_and_the_family_sees_the_decision(app: &TestApp) {
    let region = almaty_id(app).await;
    assert_eq!(band_of("2022-06-30"), band_of("2021-09-03"));
    let (k, _) = kindergarten_with_place(app, region, &band_of("2022-06-30"), "ru").await;
    let (mother_iin, gulnar_iin) = (app.iin_of("citizen", 1), app.iin_of("citizen", 0));
    let mother = sign_in(app, &mother_iin, "en").await;
    let gulnar = sign_in(app, &gulnar_iin, "en").await;
    let timur = register_through_form(app, &mother, ("220630502031", "2022-06-30", "Иванов Тимур"), k, None).await;
    let ailin = register_through_form(app, &gulnar, ("210903602018", "2021-09-03", "Ахметова Айлин"), k, Some(("large-family", "№ 4471 of 02.10.2026"))).await;
    assert_eq!((ahead(app, &mother_iin, timur).await, ahead(app, &gulnar_iin, ailin).await), (0, 1), "a claim counts only once confirmed");
    let claim = app.state.db.claims(ailin).await.unwrap()[0].clone();
    let (id, number) = (claim.id, app.state.db.queue_entry(ailin).await.unwrap().unwrap().registration_no);
    let decision = format!("/claims/{id}/decision");
    let page = format!("/regions/{region}/claims");

    // Who may not: the family, a kindergarten's head, another region's administrator.
    let k_name = app.state.db.organization(k).await.unwrap().unwrap().name_en;
    let head_iin = app.logins.iter().find(|l| l.role.as_str() == "kindergarten_head" && l.organization == k_name).map(|l| l.iin.clone()).unwrap();
    let astana_admin_iin = app.iin_of("regional_admin", 1);
    for (who, iin) in [("the family", &gulnar_iin), ("a kindergarten head", &head_iin), ("Astana's administrator", &astana_admin_iin)] {
        let b = sign_in(app, iin, "en").await;
        assert_eq!(b.get(app, &page).await.0, 403, "{who} does not see Almaty's claims");
        let (s, _) = b.post(app, &decision, &[("decision", "confirm")]).await;
        assert_eq!(s, 403, "{who} does not decide");
        let (s, _) = app.get(&format!("/api/v1/regions/{region}/claims"), Some(&app.token(iin).await)).await;
        assert_eq!(s, 403, "{who} does not list them through the API");
    }
    let astana = sign_in(app, &astana_admin_iin, "en").await;
    let (_, regions) = app.get("/api/v1/regions", None).await;
    let astana_id = regions.as_array().unwrap().iter().find(|r| r["code"] == "astana").unwrap()["id"].as_i64().unwrap();
    let (s, own) = astana.get(app, &format!("/regions/{astana_id}/claims")).await;
    assert_eq!(s, 200);
    assert!(own.contains("data-claims=\"0\""), "Astana has no claim: {own}");
    assert_eq!(app.state.db.claim(id).await.unwrap().unwrap().status, "pending", "nothing was decided");

    // The specialist finds the claim with its evidence, from the home page.
    let specialist_iin = app.iin_of("specialist", 0);
    let specialist = sign_in(app, &specialist_iin, "ru").await;
    let (_, home) = specialist.get(app, "/").await;
    assert!(home.contains(&format!("href=\"{page}\" data-start=\"specialist\"")), "{home}");
    let (s, list) = specialist.get(app, &page).await;
    assert_eq!(s, 200);
    assert!(list.contains("data-claims=\"1\"") && list.contains(&format!("Номер в очереди {number}")), "{list}");
    assert!(list.contains("Дети из многодетных семей") && list.contains("№ 4471 of 02.10.2026") && list.contains("Ахметова Айлин"), "{list}");
    let (s, api) = app.get(&format!("/api/v1/regions/{region}/claims"), Some(&app.token(&specialist_iin).await)).await;
    assert_eq!(s, 200);
    assert_eq!((api[0]["id"].as_i64(), api[0]["category"].as_str(), api[0]["registration_no"].as_i64()), (Some(id), Some("large-family"), Some(number)));
    assert_eq!(app.get(&format!("/api/v1/regions/{region}/claims?status=lost"), Some(&app.token(&specialist_iin).await)).await.0, 422);

    // A rejection without a reason, and a right that ended yesterday, are sent back to their fields.
    let (reason, expires) = (format!("reason-{id}"), format!("expires_on-{id}"));
    let (s, back) = specialist.post(app, &decision, &[("decision", "reject"), (&reason, " ")]).await;
    assert_eq!(s, 422);
    assert!(back.contains(&format!("<a href=\"#{reason}\">")) && back.contains("семья увидит эту причину"), "{back}");
    let yesterday = (today() - time::Duration::days(1)).to_string();
    let (s, back) = specialist.post(app, &decision, &[("decision", "confirm"), (&expires, &yesterday)]).await;
    assert_eq!(s, 422);
    assert!(back.contains(&format!("<a href=\"#{expires}\">")) && back.contains(&format!("value=\"{yesterday}\"")), "{back}");
    let (s, back) = specialist.post(app, &decision, &[("decision", "confirm"), (&expires, "")]).await;
    assert_eq!(s, 422, "a large family's right ends on a day its certificate fixes");
    assert!(back.contains(&format!("<a href=\"#{expires}\">")) && back.contains("Это право заканчивается в день, указанный в документе"), "{back}");
    assert_eq!(app.state.db.claim(id).await.unwrap().unwrap().status, "pending");

    // Confirmed until a year from now: recorded with who and when, and Айлин goes ahead of Тимур.
    let until = today() + time::Duration::days(365);
    let (s, to) = specialist.post(app, &decision, &[("decision", "confirm"), (&expires, &until.to_string())]).await;
    assert_eq!((s, to.clone()), (303, format!("{page}?status=pending&done=confirmed&number={number}")));
    let (_, after) = specialist.get(app, &to).await;
    assert!(after.contains(&format!("Льгота номера {number} подтверждена")) && after.contains("data-claims=\"0\""), "{after}");
    let recorded = app.state.db.claim(id).await.unwrap().unwrap();
    let specialist_id = app.state.db.user_by_iin(&kezek_domain::identity::Iin::parse(&specialist_iin).unwrap()).await.unwrap().unwrap().id;
    assert_eq!((recorded.status.as_str(), recorded.decided_by, recorded.expires_on), ("confirmed", Some(specialist_id), Some(until)));
    assert!(recorded.decided_at.is_some());
    let (_, confirmed) = specialist.get(app, &format!("{page}?status=confirmed")).await;
    assert!(confirmed.contains("Подтвердил(а) Ким Наталья") && confirmed.contains(&format!("id=\"revoke-{id}\"")), "{confirmed}");
    assert_eq!((ahead(app, &mother_iin, timur).await, ahead(app, &gulnar_iin, ailin).await), (1, 0), "the confirmed claim puts Айлин ahead");
    let (s, twice) = specialist.post(app, &decision, &[("decision", "confirm")]).await;
    assert_eq!(s, 409, "a claim is decided once");
    assert!(twice.contains("error-summary"), "{twice}");

    // The family sees the decision; the regional administrator revokes it with a reason, which the family reads.
    let (_, children) = gulnar.get(app, "/children").await;
    let until_text = format!("{:02}.{:02}.{}", until.day(), u8::from(until.month()), until.year());
    assert!(children.contains(&format!("Children of large families: confirmed until {until_text} (decided ")), "{children}");
    let admin = sign_in(app, &app.iin_of("regional_admin", 0), "en").await;
    let (_, home) = admin.get(app, "/").await;
    assert!(home.contains(&format!("href=\"{page}\" data-start=\"claims\"")), "{home}");
    let (s, to) = admin.post(app, &decision, &[("decision", "revoke"), (&reason, "The certificate was withdrawn")]).await;
    assert_eq!((s, to), (303, format!("{page}?status=confirmed&done=revoked&number={number}")));
    let (_, children) = gulnar.get(app, "/children").await;
    assert!(children.contains("Children of large families: revoked") && children.contains("Reason: The certificate was withdrawn"), "{children}");
    assert_eq!(ahead(app, &gulnar_iin, ailin).await, 1, "without the claim Айлин is behind Тимур again");
    let (_, revoked) = admin.get(app, &format!("{page}?status=revoked")).await;
    assert!(revoked.contains("Revoked by Сейітқали Айгерім") && revoked.contains("The certificate was withdrawn"), "{revoked}");
    assert_eq!(admin.post(app, "/claims/999999/decision", &[("decision", "confirm")]).await.0, 404);
}

/// A kindergarten head publishes a group's places through the page's form.
async fn publish(app: &TestApp, head: &Browser, g: &kezek_store::GroupRow, capacity: i64, enrolled: i64) {
    let (cap, enr) = (format!("capacity-{}", g.id), format!("enrolled-{}", g.id));
    let (s, page) = head.post(app, &format!("/groups/{}/places", g.id), &[(&cap, &capacity.to_string()), (&enr, &enrolled.to_string())]).await;
    assert_eq!(s, 303, "{page}");
}

async fn the_honesty_page_puts_each_finding_in_the_readers_language(app: &TestApp) {
    let region = almaty_id(app).await;
    // The head raises one group's enrolled count by hand and declares another below the region's norm.
    let head = sign_in(app, &app.iin_of("kindergarten_head", 0), "en").await;
    let k = app.organizations("almaty-city", "kindergarten").await[0]["id"].as_i64().unwrap();
    let groups = app.state.db.groups_of(k).await.unwrap();
    let raised = groups.iter().find(|g| g.enrolled < g.capacity).expect("a group with a free place").clone();
    let small = groups.iter().find(|g| g.id != raised.id).expect("a second group").clone();
    publish(app, &head, &raised, raised.capacity, raised.enrolled + 1).await;
    let norms = app.state.db.group_norms(region).await.unwrap().unwrap();
    let norm: i64 = norms.split(',').find_map(|n| n.strip_prefix(&format!("{}:", small.age_band))).unwrap().parse().unwrap();
    publish(app, &head, &small, norm - 1, 0).await;

    let (_, report) = app.get(&format!("/api/v1/regions/{region}/honesty"), Some(&app.token(&app.iin_of("auditor", 0)).await)).await;
    let findings = report["findings"].as_array().unwrap();
    let below = findings.iter().find(|f| f["kind"] == "group_below_norm" && f["object_id"] == small.id).expect("the group is below the norm");
    assert_eq!(below["params"], serde_json::json!({"band": small.age_band, "capacity": norm - 1, "norm": norm}), "{below}");
    let by_hand = findings.iter().find(|f| f["kind"] == "enrolled_raised_by_hand" && f["object_id"] == raised.id).expect("the raise is found");
    assert_eq!((by_hand["params"]["from"].as_i64(), by_hand["params"]["to"].as_i64()), (Some(raised.enrolled), Some(raised.enrolled + 1)));

    let auditor = sign_in(app, &app.iin_of("auditor", 0), "kk").await;
    let (s, kk) = auditor.get(app, &format!("/regions/{region}/honesty")).await;
    assert_eq!(s, 200);
    assert!(kk.contains(&format!("Сыйымдылығы {}: {} жас тобы үшін {norm} өңірлік нормасынан аз.", norm - 1, small.age_band)), "{kk}");
    assert!(kk.contains(&format!("қабылданғандар {} → {}, қабылдаусыз", raised.enrolled, raised.enrolled + 1)), "{kk}");
    let k_name = app.state.db.organization(k).await.unwrap().unwrap().name_kk;
    assert!(kk.contains(&k_name) && !kk.contains("without enrolments"), "a group is named by its kindergarten, nothing is left in English: {kk}");
    let ru = Browser { cookie: auditor.cookie.replace("lang=kk", "lang=ru"), csrf: auditor.csrf.clone(), iin: auditor.iin.clone() };
    let (_, ru) = ru.get(app, &format!("/regions/{region}/honesty")).await;
    assert!(ru.contains(&format!("Вместимость {} меньше региональной нормы {norm} для возрастной группы {}.", norm - 1, small.age_band)), "{ru}");
    assert!(ru.contains(&format!("зачисленных {} → {} без зачисления", raised.enrolled, raised.enrolled + 1)), "{ru}");
}

async fn the_registration_page_says_the_portal_needs_an_eds_and_who_else_registers(app: &TestApp) {
    let region = almaty_id(app).await;
    let parent = sign_in(app, &app.iin_of("citizen", 0), "en").await;
    for (lang, office_words) in [("kk", "Мемлекеттік корпорация"), ("ru", "Госкорпорации"), ("en", "State Corporation")] {
        let b = Browser { cookie: parent.cookie.replace("lang=en", &format!("lang={lang}")), csrf: parent.csrf.clone(), iin: parent.iin.clone() };
        let (s, page) = b.get(app, &format!("/children/new?region={region}&language=kk")).await;
        assert_eq!(s, 200);
        let note = page.split("id=\"eds-needs-script\">").nth(1).expect("the note for a page without JavaScript").split("</p>").next().unwrap();
        assert!(note.contains("NCALayer") && note.contains(office_words), "{lang}: {note}");
        assert!(page.contains("data-signing-content=\"/children/new/signing-content\"") && page.contains("src=\"/static/eds.js\""), "{page}");
        // The server trusts configured roots: no demo signer.
        assert!(!page.contains("id=\"demo-sign\""), "{page}");
    }
    let (k, _) = kindergarten_with_place(app, region, &band_of(CHILD_BIRTH), "kk").await;
    let (region_text, k_text, start) = (region.to_string(), k.to_string(), today().to_string());
    let form = [
        ("region", region_text.as_str()), ("language", "kk"), ("child_iin", CHILD_IIN), ("child_birth_date", CHILD_BIRTH),
        ("child_name", "Ахметов Алихан"), ("relation", "mother"), ("pref1", &k_text), ("desired_start", &start), ("consent", "yes"),
    ];
    // Sent without JavaScript, hence unsigned: the summary links to the signing step.
    let (s, page) = parent.post(app, "/children/new", &form).await;
    assert_eq!(s, 422);
    assert!(page.contains("<a href=\"#signature\">The application must be signed</a>"), "{page}");
    assert!(app.state.db.entries_of_region(region).await.unwrap().is_empty());
    // The demo signer exists only beside the demo CA.
    let r = app.client.post(app.url("/demo/eds/sign")).header("cookie", &parent.cookie)
        .form(&[("csrf", parent.csrf.as_str()), ("content", "a2V6ZWstcXVldWUtcmVnaXN0cmF0aW9uOnYxCg==")]).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Signed as eds.js signs it, the same form registers the child.
    let (s, to) = parent.post_signed(app, "/children/new", &form).await;
    assert_eq!((s, to.as_str()), (303, "/children?registered=1"), "{to}");
}

async fn the_regional_administrator_sets_the_queue_settings_on_a_page(app: &TestApp) {
    let region = almaty_id(app).await;
    let path = format!("/regions/{region}/settings");
    let head = sign_in(app, &app.iin_of("kindergarten_head", 0), "en").await;
    assert_eq!(head.get(app, &path).await.0, 403);
    let other_admin = sign_in(app, &app.iin_of("regional_admin", 1), "en").await;
    assert_eq!(other_admin.get(app, &path).await.0, 403, "only the region's own administrator");

    let admin = sign_in(app, &app.iin_of("regional_admin", 0), "ru").await;
    let (s, page) = admin.get(app, &format!("/regions/{region}/rounds")).await;
    assert_eq!(s, 200);
    assert!(page.contains(&format!("href=\"{path}\"")), "the rounds page links the settings");
    let (s, page) = admin.get(app, &path).await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("Настройки очереди") && page.contains("name=\"norm-3-4\""), "{page}");

    let valid = [
        ("referral_term_amount", "1"), ("referral_term_unit", "months"), ("on_decline", "keep_waiting"), ("on_expiry", "remove"),
        ("max_preferences", "3"), ("norm-3-4", "25"), ("round_time", "10:00"),
    ];
    // Not a number: the page's own error, against its field; a wrong time: the API's, in Russian.
    let mut wrong = valid.to_vec();
    wrong[4] = ("max_preferences", "три");
    let (s, page) = admin.post(app, &path, &wrong).await;
    assert_eq!(s, 422);
    assert!(page.contains("<a href=\"#max_preferences\">") && page.contains("Введите целое число"), "{page}");
    let mut wrong = valid.to_vec();
    wrong[6] = ("round_time", "25:61");
    let (s, page) = admin.post(app, &path, &wrong).await;
    assert_eq!(s, 422);
    assert!(page.contains("<a href=\"#round_time\">") && page.contains("ЧЧ:ММ"), "{page}");
    assert!(page.contains("value=\"25:61\""), "what was typed is kept");
    let (_, unchanged) = app.get(&format!("/api/v1/regions/{region}/queue-settings"), None).await;
    assert!(unchanged["round_time"].is_null());

    let (s, page) = admin.post(app, &path, &valid).await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("Настройки сохранены"), "{page}");
    let (_, saved) = app.get(&format!("/api/v1/regions/{region}/queue-settings"), None).await;
    assert_eq!(saved["referral_term"], serde_json::json!({"amount": 1, "unit": "months"}));
    assert_eq!(saved["on_expiry"], "remove");
    assert_eq!(saved["max_preferences"], 3);
    assert_eq!(saved["group_norms"], serde_json::json!({"3-4": 25}), "an empty norm is no norm");
    assert_eq!(saved["round_time"], "10:00");
}
