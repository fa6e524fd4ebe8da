//! The guard script (`/.consentry/guard.js`), rendered once per site at load.
//!
//! The JavaScript is `assets/guard.js`; what differs per site is its rules: the cookie
//! rules in order (site, global, then the catalogue under `unclassified:
//! catalogue`), the preferences cookies, the `unclassified` setting, the trackers
//! with their URL patterns and inline signatures, and the Consent Mode defaults. They
//! go into the file as one JSON object, and their hash is the `v` of the file's URL,
//! so a browser may keep the file for good (`immutable`): a new configuration is a
//! new URL. The visitor's granted categories are the `g` of the URL.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::RESERVED_PREFIX;
use crate::cookies::catalogue::ENTRIES;
use crate::cookies::category::{Categories, CategoryId, CategorySet};
use crate::cookies::classify::{Classifier, Unclassified};
use crate::cookies::trackers::TrackerMatcher;

const GUARD_JS: &str = include_str!("../../assets/guard.js");
const RULES_MARK: &str = "/*CONSENTRY_RULES*/ null";

/// The Consent Mode default of one type, as the guard writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeDefault {
    Granted,
    Denied,
    /// Granted when the visitor granted this category.
    Follows(CategoryId),
}

/// A site's guard script: its body and the version its URL names.
#[derive(Debug, Clone, Default)]
pub struct GuardScript {
    /// Sixteen hexadecimal digits: a hash of the body.
    pub version: String,
    pub body: Bytes,
}

impl GuardScript {
    /// The `<script>` tag that loads it, for a visitor granting `granted`.
    pub fn tag(&self, granted: CategorySet) -> String {
        let mut tag = String::with_capacity(80);
        let _ = write!(
            tag,
            "<script src=\"{RESERVED_PREFIX}guard.js?v={}&amp;g={:x}\"></script>",
            self.version,
            granted.bits()
        );
        tag
    }
}

/// Renders a site's guard.
/// Guard bodies already rendered for this configuration, by version: sites with the
/// same rules serve one copy (a guard is tens of KiB; a deployment may have
/// thousands of sites).
#[derive(Default)]
pub struct SharedBodies {
    by_version: std::collections::HashMap<String, Bytes>,
}

pub fn render(
    shared: &mut SharedBodies,
    categories: &Categories,
    classifier: &Classifier,
    preferences: &[String],
    matcher: &TrackerMatcher,
    consent_mode: &[(&'static str, ModeDefault)],
) -> GuardScript {
    let mut cookies: Vec<Value> = classifier
        .rules()
        .iter()
        .map(|r| json!([r.pattern, r.category.index()]))
        .collect();
    if classifier.unclassified() == Unclassified::Catalogue {
        cookies.extend(ENTRIES.iter().map(|e| {
            let category = categories.id(e.category).map_or(-1, |c| c.index() as i64);
            json!([e.pattern, category])
        }));
    }
    let trackers: Vec<Value> = matcher
        .trackers()
        .iter()
        .map(|t| {
            json!({
                "c": t.category.map_or(-1, |c| c.index() as i64),
                "u": t.urls,
                "i": t.inline,
            })
        })
        .collect();
    let mode: serde_json::Map<String, Value> = consent_mode
        .iter()
        .map(|(kind, value)| {
            let v = match value {
                ModeDefault::Granted => json!("granted"),
                ModeDefault::Denied => json!("denied"),
                ModeDefault::Follows(category) => json!(category.index()),
            };
            ((*kind).to_owned(), v)
        })
        .collect();
    let rules = json!({
        "categories": categories.iter().map(|(_, c)| c.name.clone()).collect::<Vec<_>>(),
        "required": categories.required().ids().map(|c| c.index()).collect::<Vec<_>>(),
        "necessary": categories.necessary().map_or(-1, |c| c.index() as i64),
        "preferences": preferences,
        "unclassified": if classifier.unclassified() == Unclassified::Allow { "allow" } else { "block" },
        "cookies": cookies,
        "trackers": trackers,
        "consentMode": mode,
    });
    // `</` cannot close anything in a file served as JavaScript, but the JSON is
    // escaped as if inline anyway: it costs nothing.
    let rules = rules.to_string().replace("</", "<\\/");
    let body = GUARD_JS.replacen(RULES_MARK, &rules, 1);
    let version = format!("{:016x}", fnv1a(body.as_bytes()));
    let body = match shared.by_version.get(&version) {
        Some(same) if same[..] == *body.as_bytes() => same.clone(),
        _ => {
            let body = Bytes::from(body);
            shared.by_version.insert(version.clone(), body.clone());
            body
        }
    };
    GuardScript { version, body }
}

/// FNV-1a, 64 bits: a stable hash, the same in every process and replica, so that
/// the file's URL is too.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
