//! The HTML interface through its forms, as a browser without JavaScript uses it.

mod common;

use common::TestApp;

on_both_engines!(
    demo_user_signs_in_through_the_form_and_sees_their_role_home,
    a_form_without_its_csrf_token_is_refused,
    a_forged_session_cookie_is_just_an_anonymous_visit,
    the_language_switch_changes_the_page_language,
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
