//! A configured text (a category's title, a rule's purpose, the policy link's text):
//! one string for every language, or one per language (DESIGN.md, "Languages").
//!
//! It lives with the categories and rules that carry it; choosing the language is the
//! pages layer's business (`crate::pages::languages`).

use std::fmt;
use std::ops::Deref;

/// A text in one or several languages. Derefs to its language-neutral form: the
/// string when one was given, else the first entry of the map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    plain: String,
    /// Language tag (as configured) → text; empty for a plain string.
    by_language: Vec<(String, String)>,
}

impl Text {
    /// The same text in every language.
    pub fn plain(text: impl Into<String>) -> Text {
        Text {
            plain: text.into(),
            by_language: Vec::new(),
        }
    }

    /// One text per language, in the order given (not empty).
    pub fn by_language(entries: Vec<(String, String)>) -> Text {
        Text {
            plain: entries.first().map(|(_, t)| t.clone()).unwrap_or_default(),
            by_language: entries,
        }
    }

    /// The text in `language`; a language the map does not give falls back to the
    /// site's `default` language, and a plain string serves every language.
    pub fn get(&self, language: &str, default: &str) -> &str {
        let find = |wanted: &str| {
            self.by_language
                .iter()
                .find(|(tag, _)| tag.eq_ignore_ascii_case(wanted))
                .map(|(_, text)| text.as_str())
        };
        find(language)
            .or_else(|| find(default))
            .unwrap_or(&self.plain)
    }

    /// The languages a map names (none for a plain string).
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.by_language.iter().map(|(tag, _)| tag.as_str())
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.plain
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plain)
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text::plain(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text::plain(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_falls_back_to_the_default_language_and_a_string_serves_all() {
        let t = Text::by_language(vec![
            ("en".into(), "Statistics".into()),
            ("fr".into(), "Statistiques".into()),
        ]);
        assert_eq!(t.get("fr", "en"), "Statistiques");
        assert_eq!(t.get("de", "en"), "Statistics");
        assert_eq!(t.get("de", "fr"), "Statistiques");
        assert_eq!(&*t, "Statistics");
        let p = Text::plain("Stats");
        assert_eq!(p.get("fr", "en"), "Stats");
        assert_eq!(p.languages().count(), 0);
    }
}
