//! `trackers:`: validated and compiled once per site (DESIGN.md, "Trackers in pages").
//!
//! A site's rules come before the global ones, then the built-in catalogue; the
//! result is one [`TrackerMatcher`] per site, and the guard script the pages layer
//! renders from the same rules, so that what the proxy rewrites and what the guard
//! refuses in the browser cannot drift apart.

use std::sync::Arc;

use super::raw::{RawTrackerRule, RawTrackers};
use super::{Problems, at, key};
use crate::config::locate::Seg;
use crate::cookies::category::{Categories, CategoryId};
use crate::cookies::trackers::{TrackerMatcher, TrackerRule, TrackerTally, check_url_pattern};
use crate::pages::guard::{GuardScript, ModeDefault};

/// The compiled `trackers` of one site.
#[derive(Debug)]
pub struct SiteTrackers {
    /// `trackers.block`: rewrite tracker elements and load the guard.
    pub block: bool,
    pub matcher: Arc<TrackerMatcher>,
    /// Google Consent Mode v2 defaults, in the order they are written.
    pub consent_mode: Vec<(&'static str, ModeDefault)>,
    /// The trackers seen in this site's pages since the configuration loaded.
    pub tally: TrackerTally,
    /// The guard script, rendered from the same rules (filled in by `compile` once
    /// the site's cookie rules are known).
    pub guard: GuardScript,
}

/// The Consent Mode v2 types and the default category each follows (DESIGN.md).
const CONSENT_MODE_DEFAULTS: [(&str, &str); 7] = [
    ("analytics_storage", "statistics"),
    ("ad_storage", "third_party"),
    ("ad_user_data", "third_party"),
    ("ad_personalization", "third_party"),
    ("functionality_storage", "first_party"),
    ("personalization_storage", "first_party"),
    ("security_storage", "granted"),
];

/// The catalogue's category names.
const CATALOGUE_CATEGORIES: [&str; 2] = ["statistics", "third_party"];

/// Matchers already compiled for this configuration, by what they are compiled from.
/// Sites that share their tracker rules (most deployments: only global ones) share
/// one matcher: its automata weigh hundreds of KiB, which 10,000 sites would pay
/// 10,000 times (8 GB, measured by bench/scale.sh before this cache).
#[derive(Default)]
pub(super) struct SharedMatchers {
    compiled: Vec<(Vec<TrackerRule>, CatalogueCategories, Arc<TrackerMatcher>)>,
}

/// The category each catalogue category resolves to at one site.
type CatalogueCategories = [Option<CategoryId>; CATALOGUE_CATEGORIES.len()];

impl SharedMatchers {
    fn get(
        &mut self,
        rules: Vec<TrackerRule>,
        catalogue_category: impl Fn(&str) -> Option<CategoryId>,
    ) -> Arc<TrackerMatcher> {
        let resolved = CATALOGUE_CATEGORIES.map(&catalogue_category);
        let same = |(r, c, _): &&(_, _, _)| *r == rules && *c == resolved;
        if let Some((_, _, matcher)) = self.compiled.iter().find(same) {
            return matcher.clone();
        }
        let matcher = Arc::new(TrackerMatcher::compile(&rules, catalogue_category));
        self.compiled.push((rules, resolved, matcher.clone()));
        matcher
    }
}

pub(super) fn compile(
    p: &mut Problems,
    shared: &mut SharedMatchers,
    global: &RawTrackers,
    site: Option<&RawTrackers>,
    site_path: &[Seg],
    categories: &Categories,
) -> SiteTrackers {
    let global_path = vec![key("trackers")];
    let site_trackers_path = at(site_path, &[key("trackers")]);
    let block = site.and_then(|s| s.block).or(global.block).unwrap_or(true);

    let mut rules = Vec::new();
    if let Some(site) = site {
        compile_rules(p, &site.rules, &site_trackers_path, categories, &mut rules);
    }
    compile_rules(p, &global.rules, &global_path, categories, &mut rules);

    // `catalogue_categories` and `consent_mode`: the site's when it gives them.
    let (mapping, mapping_path) = match site.and_then(|s| s.catalogue_categories.as_ref()) {
        Some(m) => (Some(m), site_trackers_path.clone()),
        None => (global.catalogue_categories.as_ref(), global_path.clone()),
    };
    if let Some(mapping) = mapping {
        for (from, to) in &mapping.0 {
            let here = at(&mapping_path, &[key("catalogue_categories"), key(from)]);
            if !CATALOGUE_CATEGORIES.contains(&from.as_str()) {
                p.add(
                    &here,
                    format!(
                        "`{from}` is not a catalogue category (they are: {})",
                        CATALOGUE_CATEGORIES.join(", ")
                    ),
                );
            } else if categories.id(to).is_none() {
                p.add(&here, unknown_category(to, categories));
            }
        }
    }
    let catalogue_category = |name: &str| {
        let mapped = mapping
            .and_then(|m| m.0.iter().find(|(from, _)| from == name))
            .map_or(name, |(_, to)| to.as_str());
        categories.id(mapped)
    };
    let matcher = shared.get(rules, catalogue_category);

    let (mode, mode_path) = match site.and_then(|s| s.consent_mode.as_ref()) {
        Some(m) => (Some(m), site_trackers_path),
        None => (global.consent_mode.as_ref(), global_path),
    };
    let mut consent_mode = Vec::new();
    for (kind, default) in CONSENT_MODE_DEFAULTS {
        let configured = mode.and_then(|m| m.0.iter().find(|(k, _)| k == kind));
        let value = configured.map_or(default, |(_, v)| v.as_str());
        let compiled = match value {
            "granted" => Some(ModeDefault::Granted),
            "denied" => Some(ModeDefault::Denied),
            name => categories.id(name).map(ModeDefault::Follows),
        };
        match compiled {
            Some(v) => consent_mode.push((kind, v)),
            None if configured.is_some() => p.add(
                &at(&mode_path, &[key("consent_mode"), key(kind)]),
                format!("`{value}` is neither `granted`, `denied` nor a category"),
            ),
            // A default naming a category the deployment does not declare: denied.
            None => consent_mode.push((kind, ModeDefault::Denied)),
        }
    }
    if let Some(mode) = mode {
        for (kind, _) in &mode.0 {
            if !CONSENT_MODE_DEFAULTS.iter().any(|(k, _)| k == kind) {
                let known: Vec<&str> = CONSENT_MODE_DEFAULTS.iter().map(|(k, _)| *k).collect();
                p.add(
                    &at(&mode_path, &[key("consent_mode"), key(kind)]),
                    format!(
                        "`{kind}` is not a Consent Mode type (they are: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    let tally = TrackerTally::new(matcher.trackers().len());
    SiteTrackers {
        block,
        matcher,
        consent_mode,
        tally,
        guard: GuardScript::default(),
    }
}

fn unknown_category(name: &str, categories: &Categories) -> String {
    let known: Vec<&str> = categories.iter().map(|(_, c)| c.name.as_str()).collect();
    format!(
        "unknown category `{name}` (categories are: {})",
        known.join(", ")
    )
}

fn compile_rules(
    p: &mut Problems,
    raw: &[RawTrackerRule],
    path: &[Seg],
    categories: &Categories,
    out: &mut Vec<TrackerRule>,
) {
    for (i, r) in raw.iter().enumerate() {
        let here = at(path, &[key("rules"), Seg::Index(i)]);
        match (&r.url, &r.inline) {
            (None, None) => {
                p.add(&here, "a tracker rule needs `url` or `inline`");
                continue;
            }
            (Some(_), Some(_)) => {
                p.add(
                    &here,
                    "a tracker rule has either `url` or `inline`, not both",
                );
                continue;
            }
            (Some(url), None) => {
                if let Err(e) = check_url_pattern(url) {
                    p.add(&at(&here, &[key("url")]), e.0);
                    continue;
                }
            }
            (None, Some(inline)) => {
                if inline.trim().len() < 4 {
                    p.add(
                        &at(&here, &[key("inline")]),
                        "an inline signature needs at least 4 characters, or it would match ordinary scripts",
                    );
                    continue;
                }
            }
        }
        let Some(category) = categories.id(&r.category) else {
            p.add(
                &at(&here, &[key("category")]),
                unknown_category(&r.category, categories),
            );
            continue;
        };
        out.push(TrackerRule {
            url: r.url.clone(),
            inline: r.inline.clone(),
            category,
            provider: r
                .provider
                .clone()
                .or_else(|| r.url.clone())
                .unwrap_or_else(|| "Unnamed tracker".to_owned()),
        });
    }
}
