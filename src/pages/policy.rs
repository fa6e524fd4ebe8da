//! Markup consentry writes: the policy link, the consent banner, the policy page.
//!
//! Everything is escaped with [`escape`], which also writes every non-ASCII character
//! as a numeric reference: the markup is then the same bytes in UTF-8, ISO-8859-1 or
//! any other ASCII-compatible charset a page declares.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::RESERVED_PREFIX;
use crate::config::{Policy, Site};
use crate::cookies::category::{Categories, CategoryId, CategorySet};
use crate::cookies::classify::Rule;
use crate::cookies::text::Text;
use crate::pages::languages::{Language, SiteLanguages};

/// The language markup is written in: consentry's own texts in it, and the
/// configured texts in it or, where a map does not give it, in the site's default.
#[derive(Debug, Clone, Copy)]
pub struct Speak<'a> {
    pub language: &'a Language,
    /// The site's default language's tag.
    pub default: &'a str,
}

impl<'a> Speak<'a> {
    /// The language at `index` of a site's languages.
    pub fn at(languages: &'a SiteLanguages, index: usize) -> Speak<'a> {
        Speak {
            language: languages.get(index),
            default: &languages.default_language().tag,
        }
    }

    /// A configured text in this language.
    pub fn text(&self, text: &'a Text) -> &'a str {
        text.get(&self.language.tag, self.default)
    }

    /// One of consentry's messages, escaped.
    pub fn msg(&self, id: &str) -> String {
        escape(&self.language.texts.get(id))
    }

    /// One of consentry's messages with its arguments (given unescaped), escaped.
    pub fn msg_with(&self, id: &str, args: &[(&'static str, &str)]) -> String {
        escape(&self.language.texts.with(id, args))
    }

    /// ` lang="…" dir="…"` for an element.
    pub fn attributes(&self) -> String {
        format!(
            " lang=\"{}\" dir=\"{}\"",
            escape(&self.language.tag),
            self.language.dir()
        )
    }
}

/// HTML-escapes text for element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_ascii() => out.push(c),
            c => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
        }
    }
    out
}

/// `<link rel="privacy-policy">` for `<head>`.
pub fn head_markup(policy: &Policy) -> String {
    format!(
        "<link rel=\"privacy-policy\" href=\"{}\">",
        escape(&policy.path)
    )
}

/// The policy link inserted at the end of `<body>`.
/// `marked`: with `lang` and `dir`, for a page whose declared language differs.
pub fn link_markup(policy: &Policy, speak: Speak, marked: bool) -> String {
    format!(
        "<a href=\"{}\" class=\"consentry-policy-link\"{}>{}</a>",
        escape(&policy.path),
        if marked {
            speak.attributes()
        } else {
            String::new()
        },
        escape(speak.text(&policy.link_text))
    )
}

/// What goes before `</body>`: the link, and the banner when the visitor has not
/// chosen. Without the banner it is the link rendered at load, shared, not copied.
/// `marked`: the link carries `lang` and `dir` (the page declares another language).
pub fn body_markup(
    site: &Site,
    language: usize,
    marked: bool,
    show_banner: bool,
    refused_by_gpc: bool,
    path_and_query: &str,
) -> Bytes {
    let language = language.min(site.policy.link_markup.len().saturating_sub(1));
    let Some(stored) = site.policy.link_markup.get(language) else {
        return Bytes::new();
    };
    let marked_link;
    let link = if marked {
        marked_link = Bytes::from(link_markup(
            &site.policy,
            Speak::at(&site.policy.languages, language),
            true,
        ));
        &marked_link
    } else {
        stored
    };
    if !show_banner {
        return link.clone();
    }
    let Some(banner) = site.policy.banner_markup.get(language) else {
        return link.clone();
    };
    let (before, after) = banner.for_visitor(refused_by_gpc);
    let mut out = String::with_capacity(link.len() + before.len() + after.len() + 64);
    out.push_str(&String::from_utf8_lossy(link));
    out.push_str(before);
    out.push_str(&escape(path_and_query));
    out.push_str(after);
    Bytes::from(out)
}

/// The form both the banner and the policy page use: one checkbox per category (the
/// required ones checked and disabled) and the three choices. `checked` marks the
/// categories currently granted; `refused_by_gpc` those the browser's Global Privacy
/// Control refuses, shown unchecked and disabled (`data-gpc`), since no choice here
/// would change them. Posts to the consent endpoint, so it works without
/// JavaScript; the banner script enhances it.
fn choice_form(
    speak: Speak,
    categories: &Categories,
    checked: CategorySet,
    refused_by_gpc: CategorySet,
    return_to: &str,
    id: &str,
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<form class=\"consentry-form\" method=\"post\" action=\"{RESERVED_PREFIX}consent\">\
         <input type=\"hidden\" name=\"return\" value=\"{return_to}\">\
         <input type=\"hidden\" name=\"lang\" value=\"{}\">\
         <fieldset class=\"consentry-categories\"><legend>{}</legend>",
        escape(&speak.language.tag),
        speak.msg("choose-per-category")
    );
    let always_on = format!(" ({})", speak.msg("always-on"));
    let gpc_refused = format!(" ({})", speak.msg("gpc-refused"));
    for (cat_id, c) in categories.iter() {
        let input_id = format!("{id}-{}", escape(&c.name));
        let (state, note) = if c.required {
            (" checked disabled", always_on.as_str())
        } else if refused_by_gpc.contains(cat_id) {
            (" disabled data-gpc", gpc_refused.as_str())
        } else if checked.contains(cat_id) {
            (" checked", "")
        } else {
            ("", "")
        };
        let _ = write!(
            out,
            "<div class=\"consentry-category\"><input type=\"checkbox\" id=\"{input_id}\" name=\"category\" value=\"{}\"{state}>\
             <label for=\"{input_id}\">{}{note}</label></div>",
            escape(&c.name),
            escape(speak.text(&c.title))
        );
    }
    let _ = write!(
        out,
        "</fieldset><div class=\"consentry-actions\">\
         <button type=\"submit\" name=\"choice\" value=\"accept_all\">{}</button>\
         <button type=\"submit\" name=\"choice\" value=\"refuse_all\">{}</button>\
         <button type=\"submit\" name=\"choice\" value=\"save\">{}</button>\
         </div></form>",
        speak.msg("accept-all"),
        speak.msg("refuse-all"),
        speak.msg("save-choices"),
    );
    out
}

/// The banner, rendered once at load in the two forms a visitor may get, each split
/// where the (per-request) return path goes.
#[derive(Debug, Default)]
pub struct BannerMarkup {
    /// As most visitors see it.
    open: (String, String),
    /// For a browser whose Global Privacy Control the site honours: the categories it
    /// refuses are shown refused. The same as `open` when there are none.
    under_gpc: Option<(String, String)>,
}

impl BannerMarkup {
    /// The two parts around the return path, for a visitor whose GPC signal refused
    /// categories (`refused_by_gpc`) or not.
    pub fn for_visitor(&self, refused_by_gpc: bool) -> (&str, &str) {
        let (before, after) = match (&self.under_gpc, refused_by_gpc) {
            (Some(under_gpc), true) => under_gpc,
            _ => &self.open,
        };
        (before, after)
    }
}

/// The banner. Its link to the policy carries a fragment, so that the page's one link
/// whose target is `policy.path` stays the injected one (DESIGN.md: exactly once).
/// `gpc_refusable` is what `Sec-GPC: 1` refuses on this site (empty when it is not
/// honoured).
#[allow(clippy::too_many_arguments)]
pub fn banner_markup(
    site_policy: &Policy,
    speak: Speak,
    categories: &Categories,
    gpc_refusable: CategorySet,
    cookie: &str,
    format: &str,
    max_age: u64,
    revision: Option<u64>,
) -> BannerMarkup {
    let render = |refused_by_gpc: CategorySet| {
        const MARK: &str = "\u{0}RETURN\u{0}";
        let form = choice_form(
            speak,
            categories,
            CategorySet::EMPTY,
            refused_by_gpc,
            MARK,
            "consentry-banner",
        );
        let mut out = String::new();
        let _ = write!(
            out,
            "<link rel=\"stylesheet\" href=\"{RESERVED_PREFIX}banner.css\">\
             <section id=\"consentry-banner\" class=\"consentry-banner\"{} role=\"dialog\" aria-modal=\"false\" \
             aria-labelledby=\"consentry-banner-title\" aria-describedby=\"consentry-banner-text\" \
             data-cookie=\"{}\" data-format=\"{}\" data-max-age=\"{max_age}\"{}>\
             <h2 id=\"consentry-banner-title\" tabindex=\"-1\">{}</h2>\
             <p id=\"consentry-banner-text\">{} {}</p>{form}</section>\
             <script src=\"{RESERVED_PREFIX}banner.js\" defer></script>",
            speak.attributes(),
            escape(cookie),
            escape(format),
            revision
                .map(|r| format!(" data-revision=\"{r}\""))
                .unwrap_or_default(),
            speak.msg("banner-title"),
            speak.msg("banner-text"),
            // The link goes where the message puts `$policy`: split around a mark.
            speak
                .msg_with("banner-policy", &[("policy", "\u{1}")])
                .replacen(
                    "\u{1}",
                    &format!(
                        "<a href=\"{}#consentry-policy\">{}</a>",
                        escape(&site_policy.path),
                        escape(speak.text(&site_policy.link_text))
                    ),
                    1
                ),
        );
        match out.split_once(MARK) {
            Some((before, after)) => (before.to_owned(), after.to_owned()),
            None => (out, String::new()),
        }
    };
    BannerMarkup {
        open: render(CategorySet::EMPTY),
        under_gpc: (!gpc_refusable.is_empty()).then(|| render(gpc_refusable)),
    }
}

/// One table row: rules that share provider, function and purpose.
struct Row<'a> {
    provider: &'a str,
    function: &'a str,
    purpose: &'a str,
    names: Vec<&'a str>,
}

/// The policy page, generated from the same rules that are enforced.
pub fn policy_page(
    site: &Site,
    categories: &Categories,
    granted: CategorySet,
    refused_by_gpc: CategorySet,
    speak: Speak,
) -> String {
    let mut out = String::new();
    // The form writes the first consent source's cookie. A site whose consent another
    // banner records gets no form: a value in consentry's format would sit beside that
    // banner's own, which then reads as no choice until it expires.
    let writable = site.consent.sources[0].format.writable();
    // Visitors know the site by its address, not by the name in proxy.yaml.
    let site_label = site.hosts.first().unwrap_or(&site.name);
    let link_text = speak.text(&site.policy.link_text);
    let title = format!("{link_text} — {site_label}");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html{}><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"{RESERVED_PREFIX}banner.css\"></head>\
         <body class=\"consentry-policy\"><main><h1 id=\"consentry-policy\">{}</h1>\
         <p>{}</p>",
        speak.attributes(),
        escape(&title),
        escape(link_text),
        speak.msg(if writable {
            "policy-intro-form"
        } else {
            "policy-intro-banner"
        })
    );
    for (cat_id, category) in categories.iter() {
        let _ = write!(
            out,
            "<section aria-labelledby=\"cat-{0}\"><h2 id=\"cat-{0}\">{1}</h2><p>{2}</p>",
            escape(&category.name),
            escape(speak.text(&category.title)),
            escape(speak.text(&category.description))
        );
        let rules: Vec<&Rule> = site
            .classifier
            .rules()
            .iter()
            .filter(|r| r.category == cat_id)
            .collect();
        let trackers = trackers_table(site, cat_id, speak.text(&category.title), speak);
        if rules.is_empty() {
            let _ = write!(out, "<p>{}</p>", speak.msg("no-cookies"));
            out.push_str(&trackers);
            out.push_str("</section>");
            continue;
        }
        let mut rows: Vec<Row> = Vec::new();
        for rule in rules {
            let provider = rule.provider.as_ref().map_or("", |t| speak.text(t));
            let function = rule.function.as_ref().map_or("", |t| speak.text(t));
            let purpose = rule.purpose.as_ref().map_or("", |t| speak.text(t));
            match rows
                .iter_mut()
                .find(|r| r.provider == provider && r.function == function && r.purpose == purpose)
            {
                Some(row) => {
                    if !row.names.contains(&rule.pattern.as_str()) {
                        row.names.push(&rule.pattern);
                    }
                }
                None => rows.push(Row {
                    provider,
                    function,
                    purpose,
                    names: vec![&rule.pattern],
                }),
            }
        }
        let _ = write!(
            out,
            "<div class=\"consentry-table\"><table><caption>{}</caption><thead><tr><th scope=\"col\">{}</th>\
             <th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
             <th scope=\"col\">{}</th></tr></thead><tbody>",
            escape(speak.text(&category.title)),
            speak.msg("column-provider"),
            speak.msg("column-function"),
            speak.msg("column-names"),
            speak.msg("column-purposes"),
        );
        for row in rows {
            let names: Vec<String> = row
                .names
                .iter()
                .map(|n| format!("<code>{}</code>", escape(n)))
                .collect();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(row.provider),
                escape(row.function),
                names.join(", "),
                escape(row.purpose)
            );
        }
        out.push_str("</tbody></table></div>");
        out.push_str(&trackers);
        out.push_str("</section>");
    }
    if writable {
        let _ = writeln!(
            out,
            "<section aria-labelledby=\"consentry-choice\" class=\"consentry-choice\"><h2 id=\"consentry-choice\">{}</h2>{}</section>\
             <p><a href=\"/\">{}</a></p>\
             </main><script src=\"{RESERVED_PREFIX}banner.js\" defer></script></body></html>",
            speak.msg("your-choice"),
            choice_form(
                speak,
                categories,
                granted,
                refused_by_gpc,
                &escape(&site.policy.path),
                "consentry-policy"
            ),
            speak.msg("back-to-site"),
        );
    } else {
        let _ = writeln!(
            out,
            "<section aria-labelledby=\"consentry-choice\" class=\"consentry-choice\"><h2 id=\"consentry-choice\">{}</h2>\
             <p>{}</p></section>\
             <p><a href=\"/\">{}</a></p></main></body></html>",
            speak.msg("your-choice"),
            speak.msg_with(
                "other-banner",
                &[("granted", &granted_titles(categories, granted, speak))]
            ),
            speak.msg("back-to-site"),
        );
    }
    out
}

/// The trackers of one category: the site's tracker rules, and the catalogue's
/// trackers seen in the site's pages since the configuration loaded. Empty when there
/// are none.
fn trackers_table(site: &Site, category: CategoryId, title: &str, speak: Speak) -> String {
    use crate::cookies::trackers::TrackerOrigin;
    let matcher = &site.trackers.matcher;
    let seen: Vec<crate::cookies::trackers::TrackerId> = site
        .trackers
        .tally
        .seen()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    let mut rows = String::new();
    for (i, tracker) in matcher.trackers().iter().enumerate() {
        let id = crate::cookies::trackers::TrackerId(i as u32);
        let listed = match tracker.origin {
            TrackerOrigin::Rule => true,
            TrackerOrigin::Catalogue(_) => seen.contains(&id),
        };
        if !listed || tracker.category != Some(category) {
            continue;
        }
        let hosts: Vec<String> = tracker
            .urls
            .iter()
            .map(|u| format!("<code>{}</code>", escape(u)))
            .collect();
        let cookies: Vec<String> = tracker
            .cookies
            .iter()
            .map(|c| format!("<code>{}</code>", escape(c)))
            .collect();
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&tracker.provider),
            if hosts.is_empty() {
                speak.msg("inline-script")
            } else {
                hosts.join(", ")
            },
            cookies.join(", ")
        );
    }
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<div class=\"consentry-table\"><table><caption>{}</caption><thead><tr>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th></tr></thead><tbody>{rows}</tbody></table></div>",
        speak.msg_with("trackers-caption", &[("category", title)]),
        speak.msg("column-provider"),
        speak.msg("column-loaded-from"),
        speak.msg("column-cookies-stored"),
    )
}

/// The titles of the granted categories, for a sentence (unescaped).
fn granted_titles(categories: &Categories, granted: CategorySet, speak: Speak) -> String {
    let titles: Vec<String> = categories
        .iter()
        .filter(|(id, _)| granted.contains(*id))
        .map(|(_, c)| speak.text(&c.title).to_owned())
        .collect();
    if titles.is_empty() {
        speak.language.texts.get("granted-none")
    } else {
        titles.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_writes_non_ascii_as_references() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            escape("Politique de confidentialité"),
            "Politique de confidentialit&#xE9;"
        );
        assert!(escape("日本").is_ascii());
    }

    #[test]
    fn the_form_shows_what_gpc_refuses_as_refused_and_fixed() {
        use crate::cookies::category::{Category, CategoryId};
        let c = |name: &str, required| Category {
            name: name.into(),
            title: name.into(),
            description: Default::default(),
            required,
            gpc: name == "ads",
        };
        let categories = Categories::new(vec![
            c("necessary", true),
            c("stats", false),
            c("ads", false),
        ]);
        let mut granted = categories.required();
        granted.insert(CategoryId(1));
        granted.insert(CategoryId(2));
        let languages = SiteLanguages::default();
        let speak = Speak::at(&languages, 0);
        let form = choice_form(speak, &categories, granted, categories.gpc(), "/", "f");
        assert!(
            form.contains(r#"value="necessary" checked disabled>"#),
            "{form}"
        );
        assert!(form.contains(r#"value="stats" checked>"#), "{form}");
        // Unchecked even though granted by the cookie: GPC refuses it on this request.
        assert!(form.contains(r#"value="ads" disabled data-gpc>"#), "{form}");
        assert!(form.contains("ads (refused: your browser sends Global Privacy Control)"));
        let open = choice_form(speak, &categories, granted, CategorySet::EMPTY, "/", "f");
        assert!(open.contains(r#"value="ads" checked>"#), "{open}");
        assert!(!open.contains("data-gpc"));
    }
}
