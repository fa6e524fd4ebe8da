//! The cookie audit: every cookie name seen in a `Set-Cookie` since start, per site,
//! with its category, where that came from, and how often it was allowed or removed,
//! so an operator can finish the policy from real traffic.
//!
//! Memory is bounded: past [`MAX_NAMES_PER_SITE`] names a site's further names are
//! counted together under `other`.

use std::sync::Mutex;

use serde::Serialize;

use crate::FastMap;
use crate::config::Site;
use crate::cookies::category::Categories;
use crate::cookies::enforce::Report;

/// Distinct names kept per site.
pub const MAX_NAMES_PER_SITE: usize = 1000;

/// The name under which names past the bound are counted.
pub const OTHER: &str = "other";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Seen {
    pub name: String,
    /// `None` for unclassified cookies.
    pub category: Option<String>,
    /// `rule`, `catalogue`, `preferences` or `unclassified`.
    pub source: &'static str,
    pub allowed: u64,
    pub removed: u64,
}

impl Seen {
    fn count(&mut self, allowed: bool) {
        if allowed {
            self.allowed += 1;
        } else {
            self.removed += 1;
        }
    }
}

/// Cookie name (as sent, bytes) → what was seen of it.
type SiteNames = FastMap<Box<[u8]>, Seen>;

#[derive(Debug, Default)]
pub struct Audit {
    /// Site name → what was seen on that site.
    sites: Mutex<FastMap<String, SiteNames>>,
}

impl Audit {
    pub fn record(&self, site: &Site, report: &Report, categories: &Categories) {
        if report.allowed.is_empty() && report.removed.is_empty() {
            return;
        }
        let Ok(mut sites) = self.sites.lock() else {
            return;
        };
        if !sites.contains_key(site.name.as_str()) {
            sites.insert(site.name.clone(), FastMap::default());
        }
        let Some(names) = sites.get_mut(site.name.as_str()) else {
            return;
        };
        let decisions = (report.allowed.iter().map(|d| (d, true)))
            .chain(report.removed.iter().map(|d| (d, false)));
        for (d, allowed) in decisions {
            // Nearly every name was seen before: one lookup, no allocation.
            if let Some(seen) = names.get_mut(d.name_bytes()) {
                seen.count(allowed);
                continue;
            }
            let full = names.len() >= MAX_NAMES_PER_SITE;
            let seen = if full {
                names
                    .entry(OTHER.as_bytes().into())
                    .or_insert_with(|| Seen {
                        name: OTHER.to_owned(),
                        category: None,
                        source: "mixed",
                        allowed: 0,
                        removed: 0,
                    })
            } else {
                names.entry(d.name_bytes().into()).or_insert_with(|| Seen {
                    name: d.name().into_owned(),
                    category: d.category.map(|c| categories.name(c).to_owned()),
                    source: d.origin.as_str(),
                    allowed: 0,
                    removed: 0,
                })
            };
            seen.count(allowed);
        }
    }

    /// A snapshot: site name → names sorted by name.
    pub fn snapshot(&self) -> Vec<(String, Vec<Seen>)> {
        let Ok(sites) = self.sites.lock() else {
            return Vec::new();
        };
        let mut out: Vec<(String, Vec<Seen>)> = sites
            .iter()
            .map(|(site, names)| {
                let mut list: Vec<Seen> = names.values().cloned().collect();
                list.sort_by(|a, b| a.name.cmp(&b.name));
                (site.clone(), list)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The snapshot as JSON: `{"sites":{"NAME":[{name, category, source, allowed,
    /// removed}]}, "trackers":{"NAME":[{provider, category, source, blocked,
    /// allowed}]}}`; trackers are those seen in the pages of `config`'s sites.
    pub fn to_json(&self, config: &crate::Config) -> String {
        let sites: serde_json::Map<String, serde_json::Value> = self
            .snapshot()
            .into_iter()
            .map(|(site, list)| (site, serde_json::to_value(list).unwrap_or_default()))
            .collect();
        let trackers: serde_json::Map<String, serde_json::Value> = config
            .sites
            .iter()
            .map(|site| (site.name.clone(), trackers_seen(site, &config.categories)))
            .filter(|(_, list)| list.as_array().is_some_and(|l| !l.is_empty()))
            .collect();
        serde_json::json!({ "sites": sites, "trackers": trackers }).to_string()
    }
}

/// The trackers seen in a site's pages, with how often they were blocked and allowed.
fn trackers_seen(site: &Site, categories: &Categories) -> serde_json::Value {
    let matcher = &site.trackers.matcher;
    let list: Vec<serde_json::Value> = site
        .trackers
        .tally
        .seen()
        .into_iter()
        .map(|(id, blocked, allowed)| {
            let tracker = matcher.tracker(id);
            serde_json::json!({
                "provider": tracker.provider,
                "category": tracker.category.map(|c| categories.name(c).to_owned()),
                "source": match tracker.origin {
                    crate::cookies::trackers::TrackerOrigin::Rule => "rule",
                    crate::cookies::trackers::TrackerOrigin::Catalogue(_) => "catalogue",
                },
                "blocked": blocked,
                "allowed": allowed,
            })
        })
        .collect();
    serde_json::Value::Array(list)
}

/// Fetches `/cookies` from a running instance's admin listener.
pub async fn fetch(admin: std::net::SocketAddr) -> Result<String, crate::BoxError> {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(admin).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = http::Request::get("/cookies")
        .header(http::header::HOST, admin.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()).into());
    }
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Renders the audit JSON as a table, one row per site and cookie name.
pub fn table(json: &str) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Row {
        name: String,
        category: Option<String>,
        source: String,
        allowed: u64,
        removed: u64,
    }
    #[derive(serde::Deserialize)]
    struct TrackerRow {
        provider: String,
        category: Option<String>,
        source: String,
        blocked: u64,
        allowed: u64,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        sites: std::collections::BTreeMap<String, Vec<Row>>,
        #[serde(default)]
        trackers: std::collections::BTreeMap<String, Vec<TrackerRow>>,
    }
    let doc: Doc = serde_json::from_str(json)?;
    // One line of the table: site, name, category, source and two counts.
    let line = |cells: [&str; 6]| {
        format!(
            "{:<16} {:<32} {:<14} {:<12} {:>9} {:>9}\n",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
        )
    };
    let mut out = line(["SITE", "COOKIE", "CATEGORY", "SOURCE", "ALLOWED", "REMOVED"]);
    for (site, rows) in &doc.sites {
        for r in rows {
            let (allowed, removed) = (r.allowed.to_string(), r.removed.to_string());
            let category = r.category.as_deref().unwrap_or("-");
            out.push_str(&line([
                site, &r.name, category, &r.source, &allowed, &removed,
            ]));
        }
    }
    if doc.sites.is_empty() {
        out.push_str("(no Set-Cookie seen yet)\n");
    }
    out.push('\n');
    out.push_str(&line([
        "SITE", "TRACKER", "CATEGORY", "SOURCE", "ALLOWED", "BLOCKED",
    ]));
    for (site, rows) in &doc.trackers {
        for r in rows {
            let (allowed, blocked) = (r.allowed.to_string(), r.blocked.to_string());
            let category = r.category.as_deref().unwrap_or("-");
            out.push_str(&line([
                site,
                &r.provider,
                category,
                &r.source,
                &allowed,
                &blocked,
            ]));
        }
    }
    if doc.trackers.is_empty() {
        out.push_str("(no tracker seen in pages yet)\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookies::classify::Origin;
    use crate::cookies::enforce::Decision;
    use std::path::Path;
    use std::sync::Arc;

    fn config() -> crate::Config {
        let yaml = "listen: { http: 127.0.0.1:0 }\ncategories:\n  necessary: { required: true }\n  statistics: {}\ncookies:\n  - { name: _ga, category: statistics }\nsites:\n  - { name: s, hosts: [s.test], upstream: 'http://127.0.0.1:1' }\n";
        crate::Config::from_yaml(yaml, "t.yaml", Path::new(".")).unwrap()
    }

    fn site_and_categories() -> (Arc<Site>, Arc<Categories>) {
        let config = config();
        (config.sites[0].clone(), config.categories.clone())
    }

    fn decision(name: &str, category: Option<u8>, origin: Origin) -> Decision {
        Decision::new(
            name,
            category.map(crate::cookies::category::CategoryId),
            origin,
        )
    }

    #[test]
    fn counts_allowed_and_removed_per_name_with_category_and_source() {
        let (site, categories) = site_and_categories();
        let audit = Audit::default();
        let report = Report {
            allowed: vec![decision("sessionid", Some(0), Origin::Rule(0))],
            removed: vec![
                decision("_ga", Some(1), Origin::Rule(1)),
                decision("mystery", None, Origin::Unclassified),
            ],
            ..Report::default()
        };
        audit.record(&site, &report, &categories);
        audit.record(&site, &report, &categories);
        let snapshot = audit.snapshot();
        let names = &snapshot[0].1;
        let ga = names.iter().find(|s| s.name == "_ga").unwrap();
        assert_eq!(
            (ga.allowed, ga.removed, ga.category.as_deref(), ga.source),
            (0, 2, Some("statistics"), "rule")
        );
        let mystery = names.iter().find(|s| s.name == "mystery").unwrap();
        assert_eq!(
            (mystery.category.as_deref(), mystery.source),
            (None, "unclassified")
        );
        let config = config();
        let ga_tracker = config.sites[0]
            .trackers
            .matcher
            .match_url("https://www.google-analytics.com/analytics.js", "s.test")
            .unwrap();
        config.sites[0].trackers.tally.record(ga_tracker, false);
        let table = table(&audit.to_json(&config)).unwrap();
        assert!(
            table.lines().any(|l| l.starts_with("s ")
                && l.contains("Google Analytics")
                && l.trim_end().ends_with('1')),
            "{table}"
        );
        assert!(
            table.lines().any(|l| l.starts_with("s ")
                && l.contains("_ga")
                && l.contains("statistics")
                && l.trim_end().ends_with('2')),
            "{table}"
        );
    }

    #[test]
    fn memory_is_bounded_past_the_name_limit() {
        let (site, categories) = site_and_categories();
        let audit = Audit::default();
        for i in 0..MAX_NAMES_PER_SITE + 50 {
            let report = Report {
                removed: vec![decision(&format!("c{i}"), None, Origin::Unclassified)],
                ..Report::default()
            };
            audit.record(&site, &report, &categories);
        }
        let names = &audit.snapshot()[0].1;
        assert_eq!(names.len(), MAX_NAMES_PER_SITE + 1);
        let other = names.iter().find(|s| s.name == OTHER).unwrap();
        assert_eq!(other.removed, 50);
    }
}
