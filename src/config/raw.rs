//! The shape of `proxy.yaml` as written, for serde. Every struct denies unknown keys
//! so a typo is an error, not a silently ignored setting. Nothing here is checked
//! beyond its type: `super::compile` validates and turns this into the runtime form.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub listen: RawListen,
    pub tls: Option<RawTls>,
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub consent: RawConsent,
    #[serde(default)]
    pub categories: Ordered<RawCategory>,
    #[serde(default)]
    pub cookies: Vec<RawRule>,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub sites: Vec<RawSite>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub trackers: RawTrackers,
    pub records: Option<RawRecords>,
}

/// `records:` (see `super::records`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecords {
    pub store: Option<String>,
    pub retain: Option<Dur>,
    pub client_info: Option<bool>,
    pub queue: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListen {
    pub http: Option<String>,
    pub https: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub certificates: Vec<RawCertificate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: String,
}

/// Consent settings; every key optional so that a site can override them one by one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsent {
    pub cookie: Option<String>,
    pub format: Option<String>,
    pub mapping: Option<Ordered<Option<String>>>,
    pub purposes: Option<Ordered<Vec<u8>>>,
    pub no_consent_region: Option<String>,
    pub sources: Option<Vec<RawSource>>,
    pub revision: Option<u64>,
    pub max_age: Option<u64>,
    pub honor_gpc: Option<bool>,
    pub unclassified: Option<String>,
    pub expire_revoked: Option<bool>,
    pub strip_request_cookies: Option<bool>,
}

/// One consent cookie and how to read it (`consent.sources[]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub format: String,
    pub cookie: Option<String>,
    pub mapping: Option<Ordered<Option<String>>>,
    pub purposes: Option<Ordered<Vec<u8>>>,
    pub no_consent_region: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCategory {
    #[serde(default)]
    pub required: bool,
    pub title: Option<RawText>,
    pub description: Option<RawText>,
    #[serde(default)]
    pub gpc: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: String,
    pub category: String,
    pub provider: Option<RawText>,
    pub function: Option<RawText>,
    pub purpose: Option<RawText>,
    pub path: Option<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub path: Option<String>,
    pub serve: Option<bool>,
    pub link_text: Option<RawText>,
    pub banner: Option<bool>,
    /// The site's languages, its default first (`[en, fr]`).
    pub languages: Option<Vec<String>>,
}

/// A configured text: one string for every language, or a map from language tag to
/// text (DESIGN.md, "Languages").
#[derive(Debug, Clone)]
pub enum RawText {
    One(String),
    ByLanguage(Ordered<String>),
}

impl From<&str> for RawText {
    fn from(text: &str) -> RawText {
        RawText::One(text.to_owned())
    }
}

impl<'de> Deserialize<'de> for RawText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text, or a mapping from language to text (en: …, fr: …)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawText, E> {
                Ok(RawText::One(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawText, A::Error> {
                Ordered::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawText::ByLanguage)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    pub name: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub upstream: String,
    /// Extra PEM CA bundle trusted for an `https://` upstream, beside the system roots.
    pub upstream_ca: Option<String>,
    pub consent: Option<RawConsent>,
    pub policy: Option<RawPolicy>,
    #[serde(default)]
    pub cookies: Vec<RawRule>,
    pub trackers: Option<RawTrackers>,
}

/// `trackers`: globally, or per site (`block` overrides, `rules` come first).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrackers {
    pub block: Option<bool>,
    #[serde(default)]
    pub rules: Vec<RawTrackerRule>,
    /// Catalogue category name (`statistics`) → the deployment's category.
    pub catalogue_categories: Option<Ordered<String>>,
    /// Google Consent Mode v2 type (`analytics_storage`) → category name, or
    /// `granted` / `denied`.
    pub consent_mode: Option<Ordered<String>>,
}

/// One `trackers.rules[]` entry: a URL pattern or an inline signature.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrackerRule {
    pub url: Option<String>,
    pub inline: Option<String>,
    pub category: String,
    pub provider: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_request_header_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_request_body_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub header_read: Option<Dur>,
    pub idle: Option<Dur>,
    pub upstream_connect: Option<Dur>,
    pub upstream_response: Option<Dur>,
    pub upstream_idle: Option<Dur>,
    pub shutdown_grace: Option<Dur>,
}

/// A duration written as `10s`, `250ms`, `2m`, `1h`, or a bare number of seconds.
#[derive(Debug, Clone, Copy)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 10s, 250ms, 2m or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur(Duration::from_secs(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Duration::try_from_secs_f64(v).map(Dur).map_err(|_| {
                    E::custom(if v.is_sign_negative() || v.is_nan() {
                        "a duration must be a positive number of seconds"
                    } else {
                        "a duration this long cannot be represented"
                    })
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).ok_or_else(|| {
                    E::custom(format!(
                        "`{v}` is not a duration (write 10s, 250ms, 2m, 1h, 395d or seconds)"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86_400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// A YAML mapping whose order matters (categories are listed in display order) and
/// whose duplicate keys are an error rather than a silent overwrite.
#[derive(Debug, Clone)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Ordered<T>, E> {
                Ok(Ordered(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut entries: Vec<(String, T)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units_and_bare_seconds() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_duration("395d"),
            Some(Duration::from_secs(395 * 86_400))
        );
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse_duration("s"), None);
    }
}
