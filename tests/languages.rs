//! DESIGN.md, "Languages", on the wire: the policy page and the consent endpoint
//! follow the visitor (`?lang=`, `django_language`, `Accept-Language`, default), the
//! injected markup follows the page (`Content-Language`, `<html lang>`, default),
//! malformed language input is skipped, and configured texts are checked at load.

mod common;

use std::path::Path;

use common::{fixed, get, proxy, send};

const HOST: &str = "portal.test";

/// Request or response header fields of a table row.
type Fields<'a> = &'a [(&'a str, &'a str)];

fn yaml(upstream: &str, languages: &str) -> String {
    format!(
        r#"listen:
  http: 127.0.0.1:0
categories:
  necessary:
    required: true
    title: {{ en: Necessary cookies, fr: Cookies nécessaires }}
    description: {{ en: Needed for the site., fr: Indispensables au site. }}
  statistics:
    title: {{ en: Statistical cookies, fr: Cookies statistiques }}
    description: Audience measurement.
  third_party:
    title: {{ en: Third-party cookies, fr: Cookies tiers }}
    gpc: true
cookies:
  - name: sessionid
    category: necessary
    provider: Opendatasoft
    function: {{ en: Authentication (front and back office), fr: Authentification (front et back office) }}
    purpose: {{ en: To remember the user, fr: Se souvenir de l'utilisateur }}
  - {{ name: _ga*, category: statistics, provider: Google Analytics }}
policy:
  path: /terms/cookies-policy/
  link_text: {{ en: Cookies policy, fr: Politique des cookies }}
  banner: true
  languages: {languages}
sites:
  - name: portal
    hosts: [{HOST}]
    upstream: {upstream}
"#
    )
}

async fn start(languages: &str) -> (common::Upstream, consentry::net::server::Running) {
    let up = fixed(
        200,
        &[("content-type", "text/html; charset=utf-8")],
        "<html><body><p>hi</p></body></html>",
    )
    .await;
    let p = proxy(&yaml(&up.url(), languages)).await;
    (up, p)
}

fn header<'a>(got: &'a common::Got, name: &str) -> &'a str {
    got.headers
        .get(name)
        .map_or("", |v| v.to_str().unwrap_or(""))
}

#[tokio::test]
async fn the_policy_page_follows_query_cookie_accept_language_then_default() {
    let (_up, p) = start("[en, fr]").await;
    let addr = p.http_addr.unwrap();
    let policy = "/terms/cookies-policy/";
    // (path, headers, expected language)
    let cases: &[(&str, Fields, &str)] = &[
        (policy, &[], "en"),
        ("/terms/cookies-policy/?lang=fr", &[], "fr"),
        (
            "/terms/cookies-policy/?lang=fr",
            &[("accept-language", "en")],
            "fr",
        ),
        (
            "/terms/cookies-policy/?lang=en",
            &[("cookie", "django_language=fr")],
            "en",
        ),
        (policy, &[("cookie", "django_language=fr")], "fr"),
        (
            policy,
            &[("cookie", "django_language=fr"), ("accept-language", "en")],
            "fr",
        ),
        (
            policy,
            &[("accept-language", "fr-CA,fr;q=0.9,en;q=0.8")],
            "fr",
        ),
        (
            policy,
            &[("accept-language", "de, en;q=0.5, fr;q=0.7")],
            "fr",
        ),
        (policy, &[("accept-language", "de, *;q=0.5")], "en"),
        (
            policy,
            &[("cookie", "django_language=de"), ("accept-language", "fr")],
            "fr",
        ),
    ];
    for (path, headers, want) in cases {
        let got = get(addr, HOST, path, headers).await;
        assert_eq!(got.status, 200, "{path} {headers:?}");
        assert_eq!(
            header(&got, "content-language"),
            *want,
            "{path} {headers:?}"
        );
        let vary = header(&got, "vary").to_ascii_lowercase();
        assert!(
            vary.contains("accept-language") && vary.contains("cookie"),
            "{vary}"
        );
        let html = got.text();
        assert!(
            html.contains(&format!("<html lang=\"{want}\" dir=\"ltr\">")),
            "{path} {headers:?}: {html}"
        );
        if *want == "fr" {
            for needle in [
                "Cookies statistiques",
                "Nom du prestataire",
                "Authentification (front et back office)",
                "Tout accepter",
                "toujours actifs",
                "Politique des cookies",
            ] {
                assert!(
                    html.contains(&consentry::pages::policy::escape(needle)),
                    "{needle}: {html}"
                );
            }
        } else {
            assert!(
                html.contains("Statistical cookies") && html.contains("Accept all"),
                "{html}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_language_input_falls_back_to_the_default_never_an_error() {
    let (_up, p) = start("[fr, en]").await;
    let addr = p.http_addr.unwrap();
    let long = "x".repeat(10 * 1024);
    let long_list = "en;q=0.9,".repeat(1200);
    let long_query = format!("/terms/cookies-policy/?lang={long}");
    let bad: Vec<(String, Vec<(&str, String)>)> = vec![
        ("/terms/cookies-policy/?lang=".into(), vec![]),
        (long_query.clone(), vec![]),
        ("/terms/cookies-policy/?lang=%FF%00".into(), vec![]),
        ("/terms/cookies-policy/?lang=e%20n".into(), vec![]),
        (
            "/terms/cookies-policy/".into(),
            vec![("accept-language", String::new())],
        ),
        (
            "/terms/cookies-policy/".into(),
            vec![("accept-language", long.clone())],
        ),
        (
            "/terms/cookies-policy/".into(),
            vec![("accept-language", long_list)],
        ),
        (
            "/terms/cookies-policy/".into(),
            vec![("accept-language", "en;q=7".into())],
        ),
        (
            "/terms/cookies-policy/".into(),
            vec![("accept-language", "en;q=-1".into())],
        ),
        (
            "/terms/cookies-policy/".into(),
            vec![("accept-language", "en;q=0".into())],
        ),
        (
            "/terms/cookies-policy/".into(),
            vec![("accept-language", "!!, ;;, =".into())],
        ),
        (
            "/terms/cookies-policy/".into(),
            vec![("cookie", format!("django_language={long}"))],
        ),
        (
            "/terms/cookies-policy/".into(),
            vec![("cookie", "django_language=".into())],
        ),
        (
            "/terms/cookies-policy/".into(),
            vec![("cookie", "django_language=12-@".into())],
        ),
    ];
    for (path, headers) in &bad {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let got = get(addr, HOST, path, &headers).await;
        assert_eq!(got.status, 200, "{}", &path[..path.len().min(80)]);
        assert_eq!(header(&got, "content-language"), "fr");
        assert!(got.text().contains("<html lang=\"fr\""));
    }
    // A malformed `<html lang>` or `Content-Language` in a page: the default.
    for (page, content_language) in [
        (format!("<html lang=\"{long}\"><body>x</body></html>"), None),
        ("<html lang=\"\"><body>x</body></html>".to_owned(), None),
        ("<html lang=\"@@@\"><body>x</body></html>".to_owned(), None),
        ("<html><body>x</body></html>".to_owned(), Some(long.clone())),
        (
            "<html><body>x</body></html>".to_owned(),
            Some("!!, en;q=2".to_owned()),
        ),
    ] {
        let page: &'static str = Box::leak(page.into_boxed_str());
        let mut headers = vec![("content-type", "text/html")];
        let content_language = content_language.map(|c| &*Box::leak(c.into_boxed_str()));
        if let Some(c) = content_language {
            headers.push(("content-language", c));
        }
        let up = fixed(200, &headers, page).await;
        let p = proxy(&yaml(&up.url(), "[fr, en]")).await;
        let got = get(p.http_addr.unwrap(), HOST, "/", &[]).await;
        assert_eq!(got.status, 200);
        let html = got.text();
        assert!(
            html.contains("lang=\"fr\" dir=\"ltr\" role=\"dialog\""),
            "{}",
            &html[html.len().saturating_sub(400)..]
        );
        assert!(html.contains("Tout accepter"));
    }
}

/// Fetches `/` through a proxy whose upstream answers `page` with `headers`.
async fn injected(languages: &str, headers: &[(&str, &str)], page: &'static str) -> String {
    let mut all = vec![("content-type", "text/html; charset=utf-8")];
    all.extend_from_slice(headers);
    let up = fixed(200, &all, page).await;
    let p = proxy(&yaml(&up.url(), languages)).await;
    get(
        p.http_addr.unwrap(),
        HOST,
        "/",
        &[("accept-language", "en")],
    )
    .await
    .text()
}

#[tokio::test]
async fn injected_markup_follows_content_language_then_html_lang_then_default() {
    let fr = "lang=\"fr\" dir=\"ltr\" role=\"dialog\"";
    let en = "lang=\"en\" dir=\"ltr\" role=\"dialog\"";
    let cases: &[(Fields, &'static str, &str)] = &[
        (&[], "<html><body>x</body></html>", en),
        (
            &[("content-language", "fr")],
            "<html><body>x</body></html>",
            fr,
        ),
        (
            &[("content-language", "fr-CA")],
            "<html lang=\"en\"><body>x</body></html>",
            fr,
        ),
        (
            &[("content-language", "de, fr")],
            "<html><body>x</body></html>",
            fr,
        ),
        (
            &[("content-language", "de")],
            "<html lang=\"fr\"><body>x</body></html>",
            fr,
        ),
        (
            &[],
            "<!doctype html><HTML LANG=\"fr-BE\"><head></head><body>x</body></html>",
            fr,
        ),
        (&[], "<html lang=\"en-GB\"><body>x</body></html>", en),
        (&[], "<html lang=\"de\"><body>x</body></html>", en),
        (
            &[("content-language", "de")],
            "<html><body>x</body></html>",
            en,
        ),
    ];
    for (headers, page, want) in cases {
        let html = injected("[en, fr]", headers, page).await;
        assert!(html.contains(want), "{headers:?} {page}: {html}");
        // The policy link's text is in the same language; it carries `lang` and `dir`
        // only when the page declares a language that is none of the site's.
        let link = if *want == fr {
            "Politique des cookies"
        } else {
            "Cookies policy"
        };
        let declared_other = page.contains("lang=\"de\"")
            || headers.iter().any(|(_, v)| *v == "de") && !page.contains("lang=");
        let attributes = if declared_other {
            " lang=\"en\" dir=\"ltr\""
        } else {
            ""
        };
        assert!(
            html.contains(&format!(
                "class=\"consentry-policy-link\"{attributes}>{link}</a>"
            )),
            "{headers:?} {page}: {html}"
        );
    }
    // The same on a site of one language.
    let up = fixed(
        200,
        &[("content-type", "text/html")],
        "<html lang=\"de\"><body>x</body></html>",
    )
    .await;
    let p = proxy(&common::config_yaml(&up.url(), "", "")).await;
    let html = get(p.http_addr.unwrap(), HOST, "/", &[]).await.text();
    assert!(
        html.contains("class=\"consentry-policy-link\" lang=\"en\" dir=\"ltr\">"),
        "{html}"
    );
}

#[tokio::test]
async fn embed_placeholders_follow_the_page_language() {
    const FRAME: &str =
        r#"<iframe width="560" height="315" src="https://www.youtube.com/embed/x"></iframe>"#;
    let page: &'static str =
        Box::leak(format!("<html lang=\"fr\"><body>{FRAME}</body></html>").into_boxed_str());
    let html = injected("[en, fr]", &[], page).await;
    assert!(
        html.contains("data-consentry-placeholder=\"third_party\" lang=\"fr\" dir=\"ltr\""),
        "{html}"
    );
    assert!(
        html.contains("Ce contenu de YouTube est bloqu&#xE9;"),
        "{html}"
    );
    let page: &'static str =
        Box::leak(format!("<html><body>{FRAME}</body></html>").into_boxed_str());
    let html = injected("[en, fr]", &[("content-language", "en-US")], page).await;
    assert!(
        html.contains("lang=\"en\" dir=\"ltr\" role=\"region\""),
        "{html}"
    );
    assert!(
        html.contains("This content from YouTube is blocked"),
        "{html}"
    );
}

#[tokio::test]
async fn a_right_to_left_language_renders_right_to_left() {
    let html = injected(
        "[en, fr, ar]",
        &[],
        "<html lang=\"ar\"><body>x</body></html>",
    )
    .await;
    assert!(
        html.contains("lang=\"ar\" dir=\"rtl\" role=\"dialog\""),
        "{html}"
    );
    let (_up, p) = start("[en, fr, ar]").await;
    let got = get(
        p.http_addr.unwrap(),
        HOST,
        "/terms/cookies-policy/?lang=ar",
        &[],
    )
    .await;
    assert_eq!(header(&got, "content-language"), "ar");
    assert!(got.text().contains("<html lang=\"ar\" dir=\"rtl\">"));
}

#[tokio::test]
async fn the_consent_endpoint_answers_in_the_visitors_language() {
    let (_up, p) = start("[en, fr]").await;
    let got = send(
        p.http_addr.unwrap(),
        "POST",
        HOST,
        "/.consentry/consent",
        &[
            ("origin", "http://evil.test"),
            ("accept-language", "fr"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "choice=accept_all",
    )
    .await;
    assert_eq!(got.status, 403);
    assert_eq!(header(&got, "content-language"), "fr");
    assert!(
        got.text().contains("depuis les pages de ce site"),
        "{}",
        got.text()
    );
    let got = get(
        p.http_addr.unwrap(),
        HOST,
        "/.consentry/nothing?lang=fr",
        &[],
    )
    .await;
    assert_eq!(got.status, 404);
    assert!(got.text().contains("Rien n'est servi ici."));
}

/// `test.yaml:LINE:` of the first line of `yaml` holding `needle`.
fn at_line(yaml: &str, needle: &str) -> String {
    let line = yaml
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in the configuration"));
    format!("test.yaml:{}:", line + 1)
}

fn errors(yaml: &str) -> String {
    match consentry::Config::from_yaml(yaml, "test.yaml", Path::new(".")) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn configured_languages_and_texts_are_checked_with_their_place() {
    let base = yaml("http://127.0.0.1:9", "[en, fr]");
    // An unknown tag in `policy.languages`.
    let e = errors(&base.replace("languages: [en, fr]", "languages: [en, english]"));
    assert!(
        e.contains(&at_line(&base, "languages: [en, fr]")) && e.contains("`english`"),
        "{e}"
    );
    let e = errors(&base.replace("languages: [en, fr]", "languages: [en, xx]"));
    assert!(e.contains("`xx` is not a registered language"), "{e}");
    let e = errors(&base.replace("languages: [en, fr]", "languages: [en, en]"));
    assert!(e.contains("listed twice"), "{e}");
    // A map naming a language the site does not list.
    let e = errors(&base.replace(
        "title: { en: Statistical cookies, fr: Cookies statistiques }",
        "title: { en: Statistical cookies, de: Statistik }",
    ));
    assert!(
        e.contains(&at_line(&base, "Statistical cookies, fr"))
            && e.contains("categories.statistics.title.de")
            && e.contains("not a language of any site"),
        "{e}"
    );
    // A map with an invalid tag.
    let e = errors(&base.replace("fr: Politique des cookies", "f_r: Politique des cookies"));
    assert!(
        e.contains("policy.link_text.f_r") && e.contains("not a BCP 47"),
        "{e}"
    );
    // A map without the site's default language.
    let e = errors(&base.replace(
        "purpose: { en: To remember the user, fr: Se souvenir de l'utilisateur }",
        "purpose: { fr: Se souvenir de l'utilisateur }",
    ));
    assert!(
        e.contains(&at_line(&base, "purpose: { en: To remember"))
            && e.contains("no text in `en`, the default language of site `portal`"),
        "{e}"
    );
    // Not a text at all.
    let e = errors(&base.replace("provider: Opendatasoft", "provider: [a, b]"));
    assert!(
        e.contains("a text, or a mapping from language to text"),
        "{e}"
    );
}

#[test]
fn the_shipped_configuration_speaks_english_and_french() {
    let config =
        consentry::Config::from_yaml(consentry::config::SHIPPED, "proxy.yaml", Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"));
    for site in &config.sites {
        let tags: Vec<&str> = site
            .policy
            .languages
            .all()
            .iter()
            .map(|l| l.tag.as_str())
            .collect();
        assert_eq!(tags, ["en", "fr"], "{}", site.name);
    }
}
