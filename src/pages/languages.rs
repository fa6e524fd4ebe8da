//! The visitor's language (DESIGN.md, "Languages"): consentry's own texts, kept as
//! Project Fluent resources (`assets/i18n/<lang>/consentry.ftl`) compiled into the
//! binary, and the negotiation that picks one of a site's languages.
//!
//! - Markup injected into a page follows the page: [`SiteLanguages::for_page`]
//!   (`Content-Language`, else `<html lang>`, else the site's default).
//! - Pages consentry answers itself follow the visitor: [`SiteLanguages::for_visitor`]
//!   (`?lang=`, then the `django_language` cookie, then `Accept-Language`, then the
//!   site's default).
//!
//! Matching is the exact tag first, then the tag without its region (`fr-CA` → `fr`).
//! Input that cannot be read (not a tag, too long, a q-value out of range) is
//! skipped as if absent: language input never makes a request fail.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use unic_langid::{CharacterDirection, LanguageIdentifier};

/// consentry's own texts, one Fluent resource per language; English is the reference
/// and the fallback for a site language consentry has no texts in.
pub const BUILTIN: [(&str, &str); 8] = [
    ("en", include_str!("../../assets/i18n/en/consentry.ftl")),
    ("fr", include_str!("../../assets/i18n/fr/consentry.ftl")),
    ("de", include_str!("../../assets/i18n/de/consentry.ftl")),
    ("es", include_str!("../../assets/i18n/es/consentry.ftl")),
    ("it", include_str!("../../assets/i18n/it/consentry.ftl")),
    ("nl", include_str!("../../assets/i18n/nl/consentry.ftl")),
    ("pt", include_str!("../../assets/i18n/pt/consentry.ftl")),
    ("pl", include_str!("../../assets/i18n/pl/consentry.ftl")),
];

/// The longest language value read (a tag, `?lang=`, the cookie); longer is skipped.
const MAX_TAG: usize = 64;
/// The longest `Accept-Language` or `Content-Language` read; longer is skipped whole.
const MAX_LIST: usize = 1024;
/// The most entries of an `Accept-Language` list considered.
const MAX_ENTRIES: usize = 32;

/// ISO 639-1: the two-letter language subtags the IANA registry holds. Three-letter
/// subtags (ISO 639-2/3) are accepted on their form alone.
const ISO_639_1: &str = "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy \
da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik \
io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt \
my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so \
sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu";

/// Reads a BCP 47 language tag as a site may configure it: well formed, with a
/// registered two-letter language or a three-letter one. The error says why not.
pub fn parse_tag(text: &str) -> Result<LanguageIdentifier, String> {
    if text.is_empty() || text.len() > MAX_TAG {
        return Err(format!("`{text}` is not a language tag"));
    }
    let id = LanguageIdentifier::from_bytes(text.as_bytes())
        .map_err(|_| format!("`{text}` is not a BCP 47 language tag (write en, fr, pt-BR)"))?;
    let language = id.language.as_str();
    let known = match language.len() {
        2 => ISO_639_1.split_ascii_whitespace().any(|l| l == language),
        3 => language != "und",
        _ => false,
    };
    if !known {
        return Err(format!(
            "`{text}`: `{language}` is not a registered language (write en, fr, pt-BR)"
        ));
    }
    Ok(id)
}

/// Reads a tag from a request (lenient: no registry check), bounded.
fn read_tag(text: &str) -> Option<LanguageIdentifier> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_TAG || text == "*" {
        return None;
    }
    LanguageIdentifier::from_bytes(text.as_bytes()).ok()
}

/// The same tag without its region (and variants).
fn without_region(id: &LanguageIdentifier) -> LanguageIdentifier {
    LanguageIdentifier::from_parts(id.language, id.script, None, &[])
}

/// consentry's texts in one language.
pub struct Texts {
    /// The language the texts are written in (`en`, `fr`...).
    pub tag: &'static str,
    bundle: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for Texts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Texts").field("tag", &self.tag).finish()
    }
}

impl Texts {
    /// A message without arguments.
    pub fn get(&self, id: &str) -> String {
        self.format(id, None)
    }

    /// A message with its arguments (`$policy`, `$category`...).
    pub fn with(&self, id: &str, args: &[(&'static str, &str)]) -> String {
        let mut fluent = FluentArgs::new();
        for (name, value) in args {
            fluent.set(*name, value.to_string());
        }
        self.format(id, Some(&fluent))
    }

    fn format(&self, id: &str, args: Option<&FluentArgs>) -> String {
        let Some(pattern) = self.bundle.get_message(id).and_then(|m| m.value()) else {
            // Unreachable for the shipped resources (a test checks every message is in
            // every language); the id is better than nothing.
            return id.to_owned();
        };
        let mut errors = Vec::new();
        self.bundle
            .format_pattern(pattern, args, &mut errors)
            .into_owned()
    }

    /// Whether this language has the message.
    pub fn has(&self, id: &str) -> bool {
        self.bundle.has_message(id)
    }
}

/// Every built-in language's texts, parsed once.
pub fn builtin() -> &'static [Texts] {
    static TEXTS: OnceLock<Vec<Texts>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        BUILTIN
            .iter()
            .map(|(tag, source)| {
                let resource = FluentResource::try_new((*source).to_owned())
                    .unwrap_or_else(|(resource, _)| resource);
                let id: LanguageIdentifier = tag.parse().unwrap_or_default();
                let mut bundle = FluentBundle::new_concurrent(vec![id]);
                // The markup escapes what it writes; Unicode isolation marks would only
                // add invisible characters around every argument.
                bundle.set_use_isolating(false);
                let _ = bundle.add_resource(resource);
                Texts { tag, bundle }
            })
            .collect()
    })
}

/// The built-in texts for a language: its own, else its language's without region
/// (`pt-BR` → `pt`), else English.
pub fn texts_for(id: &LanguageIdentifier) -> &'static Texts {
    let all = builtin();
    let language = id.language.as_str();
    all.iter()
        .find(|t| t.tag.eq_ignore_ascii_case(&id.to_string()))
        .or_else(|| all.iter().find(|t| t.tag == language))
        .unwrap_or(&all[0])
}

/// One of a site's languages.
#[derive(Debug, Clone)]
pub struct Language {
    /// The tag as configured (`pt-BR`): what `Content-Language` and `lang` say.
    pub tag: String,
    id: LanguageIdentifier,
    /// Written right to left (Arabic, Hebrew, Persian, Urdu...).
    pub rtl: bool,
    /// consentry's own texts for it.
    pub texts: &'static Texts,
}

impl Language {
    pub fn new(id: LanguageIdentifier, tag: &str) -> Language {
        Language {
            tag: tag.to_owned(),
            rtl: id.character_direction() == CharacterDirection::RTL,
            texts: texts_for(&id),
            id,
        }
    }

    /// `ltr` or `rtl`, for a `dir` attribute.
    pub fn dir(&self) -> &'static str {
        if self.rtl { "rtl" } else { "ltr" }
    }
}

/// What decided the language of a page consentry answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy {
    Query,
    Cookie,
    AcceptLanguage,
    Default,
}

/// A site's languages (`policy.languages`), the first its default. Never empty.
#[derive(Debug, Clone)]
pub struct SiteLanguages(Vec<Language>);

impl Default for SiteLanguages {
    fn default() -> Self {
        SiteLanguages::new(vec![Language::new(
            LanguageIdentifier::from_bytes(b"en").unwrap_or_default(),
            "en",
        )])
    }
}

impl SiteLanguages {
    /// `languages` must not be empty (an empty list is [`Default`]).
    pub fn new(languages: Vec<Language>) -> SiteLanguages {
        if languages.is_empty() {
            return SiteLanguages::default();
        }
        SiteLanguages(languages)
    }

    /// The languages, default first.
    pub fn all(&self) -> &[Language] {
        &self.0
    }

    /// The language at `index` (from a negotiation), the default when out of range.
    pub fn get(&self, index: usize) -> &Language {
        self.0.get(index).unwrap_or(&self.0[0])
    }

    /// The site's default language.
    pub fn default_language(&self) -> &Language {
        &self.0[0]
    }

    /// The site language a tag matches: the exact tag, else the tag without its
    /// region. `None` for anything unreadable.
    pub fn match_tag(&self, text: &str) -> Option<usize> {
        let id = read_tag(text)?;
        self.match_id(&id)
    }

    fn match_id(&self, id: &LanguageIdentifier) -> Option<usize> {
        if let Some(i) = self.0.iter().position(|l| l.id == *id) {
            return Some(i);
        }
        let base = without_region(id);
        self.0.iter().position(|l| l.id == base)
    }

    /// The language of markup injected into a page: the first tag of its
    /// `Content-Language` lines that matches, else its `<html lang>` if that matches,
    /// else the default.
    pub fn for_page<'a>(
        &self,
        content_language: impl IntoIterator<Item = &'a [u8]>,
        html_lang: Option<&str>,
    ) -> usize {
        self.from_content_language(content_language)
            .or_else(|| html_lang.and_then(|lang| self.match_tag(lang)))
            .unwrap_or(0)
    }

    /// The first tag of `Content-Language` lines that matches a site language.
    pub fn from_content_language<'a>(
        &self,
        lines: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<usize> {
        let mut read = 0;
        for line in lines {
            read += line.len();
            if read > MAX_LIST {
                return None;
            }
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            if let Some(found) = line.split(',').find_map(|tag| self.match_tag(tag)) {
                return Some(found);
            }
        }
        None
    }

    /// The language of a page consentry answers itself, and what decided it.
    pub fn for_visitor(
        &self,
        query_lang: Option<&str>,
        cookie_lang: Option<&str>,
        accept_language: Option<&str>,
    ) -> (usize, DecidedBy) {
        if let Some(i) = query_lang.and_then(|l| self.match_tag(l)) {
            return (i, DecidedBy::Query);
        }
        if let Some(i) = cookie_lang.and_then(|l| self.match_tag(l)) {
            return (i, DecidedBy::Cookie);
        }
        if let Some(i) = accept_language.and_then(|a| self.from_accept_language(a)) {
            return (i, DecidedBy::AcceptLanguage);
        }
        (0, DecidedBy::Default)
    }

    /// The best site language an `Accept-Language` value asks for (RFC 9110
    /// §12.5.4), q-values honoured, `*` standing for the default; entries whose
    /// q-value is out of range or unreadable are skipped, and so is a value too long
    /// to be a browser's.
    pub fn from_accept_language(&self, header: &str) -> Option<usize> {
        if header.len() > MAX_LIST {
            return None;
        }
        accept_language::parse_with_quality(header)
            .into_iter()
            .take(MAX_ENTRIES)
            .filter(|(_, q)| q.is_finite() && *q > 0.0 && *q <= 1.0)
            .find_map(|(tag, _)| {
                if tag == "*" {
                    Some(0)
                } else {
                    self.match_tag(&tag)
                }
            })
    }
}

/// `lang=` in a query string, percent-decoded.
pub fn query_lang(query: Option<&str>) -> Option<String> {
    let query = query?;
    if query.len() > 8 * MAX_LIST {
        return None;
    }
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("lang=")?;
        if value.len() > MAX_TAG * 3 {
            return None;
        }
        Some(
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned(),
        )
    })
}

/// The `django_language` cookie of a request's `Cookie` lines (the first one).
pub fn cookie_lang(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name.trim() == "django_language").then(|| value.trim().trim_matches('"').to_owned())
        })
}

#[cfg(test)]
mod tests;
