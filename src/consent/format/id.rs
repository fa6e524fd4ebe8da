//! The consent ID of a cookie value, for consent records: the ID the banner itself
//! gave the visitor's consent where its format has one, else a hash of the value.
//!
//! - `json`: consentry's own `id` key (`{"statistics":true,"id":"…"}`);
//! - `list`: consentry's own `id:…` item (`statistics,id:…`);
//! - `cookieconsent`: v3 `consentId`, v2.9 `consent_uuid`;
//! - `cookiebot`: `stamp` (but not `-1`, which every exempt region shares);
//! - `onetrust`: the `consentId` field;
//! - `klaro`, `govuk`, `django-cookie-consent`, `tcf`: no ID of their own.
//!
//! Otherwise the ID is `sha256:` and the SHA-256 of the value as sent, in hex: the
//! value itself is never kept. An ID that is not short printable ASCII (at most
//! [`MAX_ID_BYTES`]) is not trusted as one and the hash is used instead.
//!
//! Pure: no I/O, and nothing here decides what is granted.

use std::borrow::Cow;

use super::{Format, percent_decoded, unquoted, utf8};

/// The longest banner ID kept as it is.
pub const MAX_ID_BYTES: usize = 128;

/// The item or key prefix of consentry's own ID in `list` values.
pub const LIST_ID_PREFIX: &str = "id:";

impl Format {
    /// The consent ID of `value` (see the module documentation).
    pub fn consent_id(self, value: &[u8]) -> String {
        own_id(self, value)
            .filter(|id| usable(id))
            .unwrap_or_else(|| hashed(value))
    }

    /// Whether [`Format::consent_id`] finds an ID the banner wrote (rather than a hash).
    pub fn has_own_id(self, value: &[u8]) -> bool {
        own_id(self, value).is_some_and(|id| usable(&id))
    }
}

/// `sha256:HEX` of the value as sent.
pub fn hashed(value: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn usable(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES && id.bytes().all(|b| b.is_ascii_graphic())
}

fn own_id(format: Format, value: &[u8]) -> Option<String> {
    match format {
        Format::Json => json_key(value, &["id"]),
        Format::List => {
            let text = percent_decoded(unquoted(utf8(value).ok()?)).ok()?;
            text.split(',')
                .find_map(|item| item.trim().strip_prefix(LIST_ID_PREFIX))
                .map(str::to_owned)
        }
        Format::Cookieconsent => json_key(value, &["consentId", "consent_uuid"]),
        Format::Cookiebot => super::cookiebot::stamp(value).filter(|stamp| stamp != "-1"),
        Format::Onetrust => {
            let text = unquoted(utf8(value).ok()?);
            let text = if text.contains(['=', '&']) {
                Cow::Borrowed(text)
            } else {
                percent_decoded(text).ok()?
            };
            let raw = text
                .split('&')
                .find_map(|field| field.strip_prefix("consentId="))?;
            Some(percent_decoded(raw).ok()?.into_owned())
        }
        Format::Klaro | Format::Govuk | Format::DjangoCookieConsent | Format::Tcf => None,
    }
}

/// The first of `keys` that holds a string in a JSON object value, raw or
/// percent-encoded (read as `json::read_object` reads it).
fn json_key(value: &[u8], keys: &[&str]) -> Option<String> {
    let text = utf8(value).ok()?;
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
    let object = if text.trim_start().starts_with('{') {
        parse(text).or_else(|| parse(&percent_decoded(text).ok()?))
    } else {
        parse(&percent_decoded(text).ok()?)
    }?;
    keys.iter()
        .find_map(|key| object.get(key)?.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::super::encode_uri_component;
    use super::*;

    #[test]
    fn consentry_own_json_and_list_ids() {
        let json = r#"{"necessary":true,"statistics":false,"id":"c0ffee"}"#;
        assert_eq!(Format::Json.consent_id(json.as_bytes()), "c0ffee");
        let encoded = encode_uri_component(json);
        assert_eq!(Format::Json.consent_id(encoded.as_bytes()), "c0ffee");
        assert_eq!(
            Format::List.consent_id(b"necessary,statistics,id:c0ffee"),
            "c0ffee"
        );
        assert_eq!(
            Format::List.consent_id(b"necessary%2Cid%3Ac0ffee"),
            "c0ffee"
        );
    }

    #[test]
    fn values_without_an_id_are_hashed_never_kept() {
        let value = br#"{"statistics":true}"#;
        let id = Format::Json.consent_id(value);
        assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
        assert!(!id.contains("statistics"));
        // Stable, and a different value gives another.
        assert_eq!(id, Format::Json.consent_id(value));
        assert_ne!(id, Format::Json.consent_id(br#"{"statistics":false}"#));
        assert!(!Format::Json.has_own_id(value));
        // An ID that is not short printable ASCII is not taken as one.
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(200));
        assert!(
            Format::Json
                .consent_id(long.as_bytes())
                .starts_with("sha256:")
        );
        assert!(
            Format::Json
                .consent_id(br#"{"id":"a b"}"#)
                .starts_with("sha256:")
        );
        assert!(
            Format::Json
                .consent_id(br#"{"id":7}"#)
                .starts_with("sha256:")
        );
    }

    #[test]
    fn banner_ids_per_format() {
        let v3 = r#"{"categories":["necessary"],"revision":1,"consentId":"a2b61b9c-ff57"}"#;
        assert_eq!(
            Format::Cookieconsent.consent_id(encode_uri_component(v3).as_bytes()),
            "a2b61b9c-ff57"
        );
        let v29 = r#"{"level":["necessary"],"consent_uuid":"5d3b0a5e"}"#;
        assert_eq!(Format::Cookieconsent.consent_id(v29.as_bytes()), "5d3b0a5e");
        let bot = "%7Bstamp%3A%27-3ZcDGWqAbC%3D%3D%27%2Cnecessary%3Atrue%2Cstatistics%3Afalse%7D";
        assert_eq!(
            Format::Cookiebot.consent_id(bot.as_bytes()),
            "-3ZcDGWqAbC=="
        );
        let exempt = "{stamp:'-1',necessary:true,statistics:true}";
        assert!(
            Format::Cookiebot
                .consent_id(exempt.as_bytes())
                .starts_with("sha256:")
        );
        assert!(Format::Cookiebot.consent_id(b"-1").starts_with("sha256:"));
        let ot = "isGpcEnabled=0&consentId=5b8b4bd5-1d2f&groups=C0001%3A1";
        assert_eq!(Format::Onetrust.consent_id(ot.as_bytes()), "5b8b4bd5-1d2f");
        assert_eq!(
            Format::Onetrust.consent_id(encode_uri_component(ot).as_bytes()),
            "5b8b4bd5-1d2f"
        );
        for (format, value) in [
            (Format::Klaro, r#"{"matomo":true}"#),
            (Format::Govuk, r#"{"essential":true}"#),
            (Format::DjangoCookieConsent, "optional=-1"),
            (Format::Tcf, "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"),
        ] {
            assert_eq!(
                format.consent_id(value.as_bytes()),
                hashed(value.as_bytes()),
                "{format:?}"
            );
        }
    }
}
