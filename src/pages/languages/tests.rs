use super::*;

fn site(tags: &[&str]) -> SiteLanguages {
    SiteLanguages::new(
        tags.iter()
            .map(|t| Language::new(parse_tag(t).expect(t), t))
            .collect(),
    )
}

/// Message ids of a Fluent source, in order.
fn ids(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_owned()))
        .collect()
}

#[test]
fn every_message_is_in_every_language() {
    let reference = ids(BUILTIN[0].1);
    assert!(reference.len() > 20, "{reference:?}");
    for (tag, source) in BUILTIN {
        // The resource parses without error…
        if let Err((_, errors)) = FluentResource::try_new(source.to_owned()) {
            panic!("{tag}: {errors:?}");
        }
        // …and has exactly the reference's messages, each with a value.
        let mine = ids(source);
        let missing: Vec<_> = reference.iter().filter(|id| !mine.contains(id)).collect();
        let extra: Vec<_> = mine.iter().filter(|id| !reference.contains(id)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{tag}: missing {missing:?}, extra {extra:?}"
        );
        let texts = builtin().iter().find(|t| t.tag == tag).unwrap();
        for id in &reference {
            assert!(texts.has(id), "{tag}: {id}");
            let text = texts.with(
                id,
                &[
                    ("policy", "P"),
                    ("provider", "X"),
                    ("category", "C"),
                    ("granted", "G"),
                ],
            );
            assert!(
                !text.trim().is_empty() && !text.contains('{'),
                "{tag}: {id}: {text}"
            );
        }
    }
}

#[test]
fn arguments_are_filled_in_without_isolation_marks() {
    let fr = texts_for(&parse_tag("fr").unwrap());
    assert_eq!(fr.get("accept-all"), "Tout accepter");
    assert_eq!(
        fr.with("placeholder-allow", &[("category", "cookies tiers")]),
        "Autoriser : cookies tiers"
    );
    assert_eq!(texts_for(&parse_tag("pt-BR").unwrap()).tag, "pt");
    assert_eq!(texts_for(&parse_tag("ar").unwrap()).tag, "en");
}

#[test]
fn configured_tags_must_be_well_formed_and_registered() {
    for ok in ["en", "fr", "pt-BR", "zh-Hant-TW", "ar", "gsw", "sr-Latn"] {
        assert!(parse_tag(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "english",
        "xx",
        "e",
        "en_US!",
        "und",
        "fr-",
        &"a".repeat(100),
    ] {
        assert!(parse_tag(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn right_to_left_languages_say_so() {
    let s = site(&["en", "ar", "he"]);
    assert_eq!(s.get(0).dir(), "ltr");
    assert_eq!(s.get(1).dir(), "rtl");
    assert_eq!(s.get(2).dir(), "rtl");
}

#[test]
fn page_language_follows_content_language_then_html_lang() {
    let s = site(&["en", "fr", "pt-BR"]);
    let long = "x".repeat(10 * 1024);
    // (Content-Language lines, <html lang>, expected tag)
    let table: &[(&[&str], Option<&str>, &str)] = &[
        (&[], None, "en"),
        (&["fr"], None, "fr"),
        (&["fr-CA"], None, "fr"),
        (&["FR"], None, "fr"),
        (&["de, fr"], None, "fr"),
        (&["de", "fr"], None, "fr"),
        (&["pt-BR"], None, "pt-BR"),
        (&["pt"], None, "en"),
        (&["de"], Some("fr"), "fr"),
        (&[], Some("fr-BE"), "fr"),
        (&["fr"], Some("en"), "fr"),
        (&[], Some(""), "en"),
        (&[], Some("@@"), "en"),
        (&[], Some(long.as_str()), "en"),
        (&[""], None, "en"),
        (&["not a tag"], None, "en"),
        (&[long.as_str()], Some("fr"), "fr"),
    ];
    for (lines, html, want) in table {
        let got = s.for_page(lines.iter().map(|l| l.as_bytes()), *html);
        assert_eq!(s.get(got).tag, *want, "{lines:?} {html:?}");
    }
}

#[test]
fn visitor_language_follows_query_cookie_accept_language_default() {
    let s = site(&["en", "fr", "de"]);
    let long = format!("fr;q=0.5,{}", "de;q=0.9,".repeat(1200));
    // (?lang=, django_language, Accept-Language, expected, decided by)
    type Row<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
        DecidedBy,
    );
    let table: &[Row] = &[
        (None, None, None, "en", DecidedBy::Default),
        (Some("fr"), Some("de"), Some("de"), "fr", DecidedBy::Query),
        (
            Some("xx-?"),
            Some("de"),
            Some("fr"),
            "de",
            DecidedBy::Cookie,
        ),
        (Some(""), None, Some("fr"), "fr", DecidedBy::AcceptLanguage),
        (
            None,
            Some("it"),
            Some("de"),
            "de",
            DecidedBy::AcceptLanguage,
        ),
        (
            None,
            None,
            Some("it, de;q=0.8, fr;q=0.9"),
            "fr",
            DecidedBy::AcceptLanguage,
        ),
        (
            None,
            None,
            Some("fr-CH, fr;q=0.9, en;q=0.8"),
            "fr",
            DecidedBy::AcceptLanguage,
        ),
        (
            None,
            None,
            Some("it, *;q=0.5, fr;q=0.4"),
            "en",
            DecidedBy::AcceptLanguage,
        ),
        (None, None, Some("fr;q=0"), "en", DecidedBy::Default),
        (
            None,
            None,
            Some("fr;q=2, de;q=0.1"),
            "de",
            DecidedBy::AcceptLanguage,
        ),
        (None, None, Some("fr;q=-1"), "en", DecidedBy::Default),
        (None, None, Some("fr;q=abc"), "en", DecidedBy::Default),
        (None, None, Some("fr;q=NaN"), "en", DecidedBy::Default),
        (None, None, Some(""), "en", DecidedBy::Default),
        (None, None, Some(",,;;=,"), "en", DecidedBy::Default),
        (None, None, Some("\u{e9}t\u{e9}"), "en", DecidedBy::Default),
        (None, None, Some(long.as_str()), "en", DecidedBy::Default),
        (
            Some(&"f".repeat(10 * 1024)),
            None,
            None,
            "en",
            DecidedBy::Default,
        ),
    ];
    for (query, cookie, accept, want, by) in table {
        let (got, decided) = s.for_visitor(*query, *cookie, *accept);
        assert_eq!(
            (s.get(got).tag.as_str(), decided),
            (*want, *by),
            "{query:?} {cookie:?} {accept:?}"
        );
    }
}

#[test]
fn reads_lang_from_the_query_and_the_cookie() {
    assert_eq!(query_lang(Some("a=1&lang=fr")), Some("fr".into()));
    assert_eq!(query_lang(Some("lang=pt%2DBR")), Some("pt-BR".into()));
    assert_eq!(query_lang(Some("language=fr")), None);
    assert_eq!(query_lang(None), None);
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::COOKIE,
        "a=1; django_language=fr; b=2".parse().unwrap(),
    );
    assert_eq!(cookie_lang(&h), Some("fr".into()));
}
