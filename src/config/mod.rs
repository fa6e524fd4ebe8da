//! `proxy.yaml`: reading, validating and compiling it.
//!
//! Loading happens in three steps. serde_yaml turns the text into [`raw`] structs
//! (unknown keys and wrong types fail here, with serde_yaml's location). Then
//! [`compile`] checks what types cannot (unknown categories, duplicate hosts, bad
//! addresses…) and builds the runtime [`Config`]: rules compiled, per-site settings
//! merged, headers and pages rendered, so that nothing is parsed again per request.
//! Every error carries `FILE:LINE:COL`, located with [`locate`].

pub mod locate;
pub mod raw;
pub mod records;
pub mod trackers;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Uri};

use crate::consent::{ConsentPolicy, Format, Source, Vocabulary};
use crate::cookies::catalogue::Catalogue;
use crate::cookies::category::{Categories, Category, CategoryId, MAX_CATEGORIES};
use crate::cookies::classify::{Classifier, Rule, Unclassified};
use crate::cookies::text::Text;
use crate::pages::languages::{self, Language, SiteLanguages};
use locate::{Locations, Seg, display_path};
use raw::{RawConfig, RawConsent, RawPolicy, RawRule, RawSite, RawSource, RawText};

/// The configuration shipped with consentry (the five portals), built into the binary
/// for `consentry demo` when no `proxy.yaml` is at hand.
pub const SHIPPED: &str = include_str!("../../proxy.yaml");

/// One configuration error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every error found in one file, in the order they stand in it.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A certificate and key to serve over TLS.
#[derive(Debug, Clone)]
pub struct CertificatePaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `limits:`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_request_header_bytes: usize,
    pub max_connections: usize,
    pub max_request_body_bytes: Option<u64>,
}

/// `timeouts:`.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub header_read: Duration,
    pub idle: Duration,
    pub upstream_connect: Duration,
    pub upstream_response: Duration,
    /// A pooled upstream connection idle this long is not used again.
    pub upstream_idle: Duration,
    pub shutdown_grace: Duration,
}

/// Where a site's requests go.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// A path prefix (without trailing `/`), usually empty.
    pub prefix: String,
    /// Extra CA bundle for an https upstream.
    pub ca_file: Option<PathBuf>,
}

impl Upstream {
    /// The target to send upstream, in origin-form: the request's path and query
    /// after the prefix. No re-parsing without a prefix.
    pub fn uri_for(&self, target: &Uri) -> Result<Uri, http::Error> {
        let path_and_query = match (target.path_and_query(), self.prefix.is_empty()) {
            // An absolute-form target may have no path (`http://host?q`, or one whose
            // fragment was cut off): origin-form starts with `/` (RFC 9112 §3.2.1),
            // and an empty target would leave the request line without one.
            (Some(pq), true) if pq.path().starts_with('/') || pq.as_str() == "*" => pq.clone(),
            // `OPTIONS *` asks about the server, not a path under the prefix.
            (Some(pq), false) if pq.as_str() == "*" => pq.clone(),
            (pq, _) => {
                let (path, query) = pq.map_or(("", None), |pq| (pq.path(), pq.query()));
                let path = if path.starts_with('/') { path } else { "/" };
                let (mark, query) = query.map_or(("", ""), |q| ("?", q));
                format!("{}{path}{mark}{query}", self.prefix).parse()?
            }
        };
        Ok(Uri::from(path_and_query))
    }
}

/// `policy:` after merging a site's overrides.
#[derive(Debug, Clone)]
pub struct Policy {
    pub path: String,
    pub serve: bool,
    pub link_text: Text,
    pub banner: bool,
    /// `policy.languages`: the site's languages, its default first.
    pub languages: Arc<SiteLanguages>,
    /// `<path>; rel="privacy-policy"`, rendered once.
    pub link_header: HeaderValue,
    /// `<link rel="privacy-policy">` for `<head>`.
    pub head_markup: Arc<str>,
    /// The link inserted before `</body>`, one per language of `languages`.
    pub link_markup: Vec<bytes::Bytes>,
    /// The banner, rendered at load, one per language of `languages`.
    pub banner_markup: Arc<Vec<crate::pages::policy::BannerMarkup>>,
}

/// One portal behind the proxy, with every setting it needs merged and compiled.
#[derive(Debug)]
pub struct Site {
    pub name: String,
    pub hosts: Vec<String>,
    pub upstream: Upstream,
    pub consent: ConsentPolicy,
    pub classifier: Classifier,
    pub policy: Policy,
    pub trackers: trackers::SiteTrackers,
}

/// The compiled configuration.
#[derive(Debug)]
pub struct Config {
    /// The path as given, for messages.
    pub file: String,
    pub listen_http: Option<SocketAddr>,
    pub listen_https: Option<SocketAddr>,
    pub certificates: Vec<CertificatePaths>,
    pub admin: Option<SocketAddr>,
    pub categories: Arc<Categories>,
    pub sites: Vec<Arc<Site>>,
    /// Host → index in `sites`, looked up on every request: foldhash, not SipHash
    /// (the keys come from the configuration, so lookups cannot flood it).
    hosts: crate::FastMap<String, usize>,
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// `records:`; `None`: nothing is recorded.
    pub records: Option<records::RecordsConfig>,
}

impl Config {
    /// Reads and compiles `path`; errors name the path as given.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: label.clone(),
                line: 1,
                column: 1,
                message: format!("cannot read the configuration: {e}"),
            }])
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::from_yaml(&text, &label, &base)
    }

    /// Compiles configuration text. Relative file paths in it are taken from `base`.
    pub fn from_yaml(text: &str, label: &str, base: &Path) -> Result<Config, ConfigErrors> {
        let raw = parse_raw(text, label)?;
        compile(raw, text, label, base)
    }

    /// The site serving `host` (lower-case, without port).
    pub fn site_for_host(&self, host: &str) -> Option<&Arc<Site>> {
        self.site_index_for_host(host).map(|(_, site)| site)
    }

    /// The position in `sites` and the site serving `host` (lower-case, without port).
    pub fn site_index_for_host(&self, host: &str) -> Option<(usize, &Arc<Site>)> {
        let &i = self.hosts.get(host)?;
        Some((i, self.sites.get(i)?))
    }

    /// A one-paragraph description, printed by `consentry check`.
    pub fn summary(&self) -> String {
        let categories: Vec<String> = self
            .categories
            .iter()
            .map(|(_, c)| {
                if c.required {
                    format!("{} (required)", c.name)
                } else {
                    c.name.clone()
                }
            })
            .collect();
        let rules: usize = self.sites.iter().map(|s| s.classifier.rules().len()).sum();
        let mut out = format!(
            "{}: ok\n  sites: {}\n  hosts: {}\n  categories: {} ({})\n  rules: {} (summed over sites, site rules included)\n",
            self.file,
            self.sites.len(),
            self.hosts.len(),
            self.categories.len(),
            categories.join(", "),
            rules
        );
        if let Some(records) = &self.records {
            out.push_str(&format!(
                "  consent records: {} (kept {} days{})
",
                records.store.redacted(),
                records.retain.as_secs() / 86_400,
                if records.client_info {
                    ", with truncated IP and user agent"
                } else {
                    ""
                }
            ));
        }
        for site in &self.sites {
            out.push_str(&format!(
                "  site {}: {} -> {}://{}{} ({} rules, consent from {})\n",
                site.name,
                site.hosts.join(", "),
                site.upstream.scheme,
                site.upstream.authority,
                site.upstream.prefix,
                site.classifier.rules().len(),
                site.consent
                    .sources
                    .iter()
                    .map(|s| format!("{} ({})", s.cookie, s.format.name()))
                    .collect::<Vec<_>>()
                    .join(" then ")
            ));
            let (tracker_rules, catalogue) = site.trackers.matcher.counts();
            out.push_str(&format!(
                "    trackers: {} ({tracker_rules} tracker rules, {catalogue} catalogue entries)\n",
                if site.trackers.block {
                    "blocked until consent"
                } else {
                    "not blocked (trackers.block: false)"
                },
            ));
        }
        out
    }
}

/// Parses the text into the raw structs, with serde_yaml's own location on error.
pub fn parse_raw(text: &str, label: &str) -> Result<RawConfig, ConfigErrors> {
    if text.trim().is_empty() {
        return Err(ConfigErrors(vec![ConfigError {
            file: label.to_owned(),
            line: 1,
            column: 1,
            message: "the configuration is empty: at least `categories` and `sites` are needed"
                .into(),
        }]));
    }
    serde_yaml::from_str(text).map_err(|e| {
        let message = e.to_string();
        // serde_yaml appends " at line L column C"; the prefix says it already.
        let message = match message.find(" at line ") {
            Some(at) => message[..at].to_owned(),
            None => message,
        };
        let (line, column) = locate_duplicate(text, &message)
            .or_else(|| e.location().map(|l| (l.line(), l.column())))
            .unwrap_or((1, 1));
        ConfigErrors(vec![ConfigError {
            file: label.to_owned(),
            line,
            column,
            message,
        }])
    })
}

/// Where the second of two equal keys stands. serde_yaml reports a duplicate at the
/// start of its mapping; `message` is `PATH: duplicate field `KEY`` (or `key`).
fn locate_duplicate(text: &str, message: &str) -> Option<(usize, usize)> {
    let (path, rest) = match message.rsplit_once(": ") {
        Some((path, rest)) => (path, rest),
        None => ("", message),
    };
    let key = rest
        .strip_prefix("duplicate field `")
        .or_else(|| rest.strip_prefix("duplicate key `"))?
        .strip_suffix('`')?;
    let mut segs = locate::parse_path(path)?;
    segs.push(Seg::Key(key.to_owned()));
    // The index keeps the last node of a path: the duplicate, at its key.
    let locations = Locations::index(text);
    locations.key(&segs).or_else(|| locations.get(&segs))
}

/// Collects validation errors by path; located once at the end.
struct Problems<'a> {
    label: &'a str,
    locations: Locations,
    found: Vec<(Vec<Seg>, String)>,
}

impl Problems<'_> {
    /// Records a problem once: a global key every site inherits is checked once per
    /// site, and its error would otherwise repeat for each.
    fn add(&mut self, path: &[Seg], message: impl Into<String>) {
        let message = message.into();
        if !self
            .found
            .iter()
            .any(|(seen, said)| seen.as_slice() == path && *said == message)
        {
            self.found.push((path.to_vec(), message));
        }
    }

    fn finish(self) -> Result<(), ConfigErrors> {
        if self.found.is_empty() {
            return Ok(());
        }
        let mut errors: Vec<ConfigError> = self
            .found
            .into_iter()
            .map(|(path, message)| {
                let (line, column) = self.locations.find(&path);
                let message = if path.is_empty() {
                    message
                } else {
                    format!("{}: {message}", display_path(&path))
                };
                ConfigError {
                    file: self.label.to_owned(),
                    line,
                    column,
                    message,
                }
            })
            .collect();
        errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors(errors))
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

fn at(base: &[Seg], rest: &[Seg]) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.extend_from_slice(rest);
    p
}

/// Validates the raw configuration and builds the runtime one.
pub fn compile(
    raw: RawConfig,
    text: &str,
    label: &str,
    base: &Path,
) -> Result<Config, ConfigErrors> {
    let mut problems = Problems {
        label,
        locations: Locations::index(text),
        found: Vec::new(),
    };
    let p = &mut problems;

    // Listeners.
    let addr = |p: &mut Problems, value: &Option<String>, path: &[Seg]| -> Option<SocketAddr> {
        let value = value.as_ref()?;
        match value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                p.add(
                    path,
                    format!("`{value}` is not an address: write IP:PORT, e.g. 0.0.0.0:8080"),
                );
                None
            }
        }
    };
    let listen_http = addr(p, &raw.listen.http, &[key("listen"), key("http")]);
    let listen_https = addr(p, &raw.listen.https, &[key("listen"), key("https")]);
    if raw.listen.http.is_none() && raw.listen.https.is_none() {
        p.add(
            &[key("listen")],
            "no listener: set `listen.http` and/or `listen.https`",
        );
    }
    let admin = raw
        .admin
        .as_ref()
        .and_then(|a| addr(p, &Some(a.listen.clone()), &[key("admin"), key("listen")]));
    if let Some(admin) = admin {
        for public in [listen_http, listen_https].into_iter().flatten() {
            if public.port() == admin.port() && admin.port() != 0 {
                p.add(
                    &[key("admin"), key("listen")],
                    format!(
                        "the admin listener must not share port {} with a public listener",
                        admin.port()
                    ),
                );
            }
        }
    }
    if let (Some(a), Some(b)) = (listen_http, listen_https) {
        if a == b {
            p.add(
                &[key("listen"), key("https")],
                "`listen.https` is the same address as `listen.http`",
            );
        }
    }

    // TLS.
    let mut certificates = Vec::new();
    match &raw.tls {
        Some(tls) => {
            if tls.certificates.is_empty() {
                p.add(
                    &[key("tls"), key("certificates")],
                    "at least one certificate is needed",
                );
            }
            for (i, c) in tls.certificates.iter().enumerate() {
                let here = [key("tls"), key("certificates"), Seg::Index(i)];
                let cert = base.join(&c.cert);
                let key_path = base.join(&c.key);
                let mut readable = true;
                for (field, file) in [("cert", &cert), ("key", &key_path)] {
                    if let Err(e) = std::fs::File::open(file) {
                        readable = false;
                        p.add(
                            &at(&here, &[key(field)]),
                            format!("cannot read {}: {e}", file.display()),
                        );
                    }
                }
                let paths = CertificatePaths {
                    cert,
                    key: key_path,
                };
                if readable {
                    if let Err(e) = crate::net::tls::check_certificate(&paths) {
                        // At the `cert:` or `key:` line of the file at fault.
                        let there = match &e {
                            crate::net::tls::TlsError::File { part, .. } => {
                                at(&here, &[key(part.field())])
                            }
                            _ => here.to_vec(),
                        };
                        p.add(&there, format!("unusable certificate: {e}"));
                    }
                }
                certificates.push(paths);
            }
        }
        None if listen_https.is_some() => {
            p.add(
                &[key("listen"), key("https")],
                "`listen.https` needs a `tls` section with certificates",
            );
        }
        None => {}
    }

    // Categories.
    let categories = compile_categories(p, &raw);

    // Global rules, consent and policy; per-site merges below.
    let global_rules = compile_rules(p, &raw.cookies, &[key("cookies")], &categories);

    let limits = Limits {
        max_request_header_bytes: raw.limits.max_request_header_bytes.unwrap_or(65536),
        max_connections: raw.limits.max_connections.unwrap_or(10_000),
        max_request_body_bytes: raw.limits.max_request_body_bytes,
    };
    if limits.max_request_header_bytes < 1024 {
        p.add(
            &[key("limits"), key("max_request_header_bytes")],
            "must be at least 1024",
        );
    }
    if limits.max_connections == 0 {
        p.add(
            &[key("limits"), key("max_connections")],
            "must be at least 1",
        );
    }
    let t = &raw.timeouts;
    let timeouts = Timeouts {
        header_read: t.header_read.map_or(Duration::from_secs(10), |d| d.0),
        idle: t.idle.map_or(Duration::from_secs(60), |d| d.0),
        upstream_connect: t.upstream_connect.map_or(Duration::from_secs(5), |d| d.0),
        upstream_response: t.upstream_response.map_or(Duration::from_secs(30), |d| d.0),
        upstream_idle: t.upstream_idle.map_or(Duration::from_secs(4), |d| d.0),
        shutdown_grace: t.shutdown_grace.map_or(Duration::from_secs(30), |d| d.0),
    };
    for (name, d) in [
        ("header_read", timeouts.header_read),
        ("idle", timeouts.idle),
        ("upstream_connect", timeouts.upstream_connect),
        ("upstream_response", timeouts.upstream_response),
        ("upstream_idle", timeouts.upstream_idle),
    ] {
        if d.is_zero() {
            p.add(&[key("timeouts"), key(name)], "must be longer than zero");
        }
    }

    // Sites.
    if raw.sites.is_empty() {
        p.add(&[key("sites")], "no sites: add at least one under `sites`");
    }
    let catalogue = categories.as_ref().map(|c| Arc::new(Catalogue::compile(c)));
    let mut sites = Vec::new();
    let mut shared_matchers = trackers::SharedMatchers::default();
    let mut shared_guards = crate::pages::guard::SharedBodies::default();
    let mut hosts: crate::FastMap<String, usize> = crate::FastMap::default();
    let mut names: HashMap<&str, usize> = HashMap::new();
    // (index in `sites:`, language tags) of each site compiled, for the texts' check.
    let mut site_languages: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, site) in raw.sites.iter().enumerate() {
        let here = [key("sites"), Seg::Index(i)];
        if site.name.trim().is_empty() {
            p.add(&at(&here, &[key("name")]), "a site needs a name");
        } else if let Some(first) = names.insert(&site.name, i) {
            p.add(
                &at(&here, &[key("name")]),
                format!(
                    "site name `{}` is already used by sites[{first}]",
                    site.name
                ),
            );
        }
        if site.hosts.is_empty() {
            p.add(
                &at(&here, &[key("hosts")]),
                "a site needs at least one host",
            );
        }
        for (j, host) in site.hosts.iter().enumerate() {
            let host_path = at(&here, &[key("hosts"), Seg::Index(j)]);
            let normal = host.trim().to_ascii_lowercase();
            if normal.is_empty()
                || normal.contains(['/', ' ', ':', '@']) && !normal.starts_with('[')
            {
                p.add(
                    &host_path,
                    format!("`{host}` is not a host name (write it without scheme, port or path)"),
                );
                continue;
            }
            if let Some(&other) = hosts.get(&normal) {
                let other_name = &raw.sites[other].name;
                p.add(
                    &host_path,
                    format!("host `{host}` is already served by site `{other_name}`"),
                );
            } else {
                hosts.insert(normal, i);
            }
        }
        let upstream = compile_upstream(p, site, &here, base);
        let Some(categories) = categories.as_ref() else {
            continue;
        };
        let consent_raw = merge_consent(&raw.consent, site.consent.as_ref());
        let consent_path = if site.consent.is_some() {
            at(&here, &[key("consent")])
        } else {
            vec![key("consent")]
        };
        let consent = compile_consent(
            p,
            &consent_raw,
            site.consent.as_ref(),
            &raw.consent,
            &here,
            categories,
        );
        let policy_raw = merge_policy(&raw.policy, site.policy.as_ref());
        let policy_path = if site.policy.is_some() {
            at(&here, &[key("policy")])
        } else {
            vec![key("policy")]
        };
        let policy = compile_policy(p, &policy_raw, &policy_path);
        if let Some(policy) = &policy {
            site_languages.push((
                i,
                policy
                    .languages
                    .all()
                    .iter()
                    .map(|l| l.tag.clone())
                    .collect(),
            ));
        }
        let unclassified = match consent_raw.unclassified.as_deref().unwrap_or("block") {
            "block" => Unclassified::Block,
            "allow" => Unclassified::Allow,
            "catalogue" => Unclassified::Catalogue,
            other => {
                p.add(
                    &at(&consent_path, &[key("unclassified")]),
                    format!("`{other}` is not one of block, allow, catalogue"),
                );
                Unclassified::Block
            }
        };
        let mut rules = compile_rules(
            p,
            &site.cookies,
            &at(&here, &[key("cookies")]),
            &Some(categories.clone()),
        );
        rules.extend(global_rules.iter().cloned());
        let (Some(upstream), Some(consent), Some(mut policy)) = (upstream, consent, policy) else {
            continue;
        };
        policy.head_markup = crate::pages::policy::head_markup(&policy).into();
        let speakers = (0..policy.languages.all().len())
            .map(|l| crate::pages::policy::Speak::at(&policy.languages, l));
        policy.link_markup = speakers
            .clone()
            .map(|speak| {
                crate::pages::policy::link_markup(&policy, speak, false)
                    .into_bytes()
                    .into()
            })
            .collect();
        let first = &consent.sources[0];
        let gpc_refusable = if consent.honor_gpc {
            categories.gpc()
        } else {
            crate::cookies::category::CategorySet::EMPTY
        };
        let banners = speakers
            .map(|speak| {
                crate::pages::policy::banner_markup(
                    &policy,
                    speak,
                    categories,
                    gpc_refusable,
                    &first.cookie,
                    first.format.name(),
                    consent.max_age,
                    consent.revision,
                )
            })
            .collect();
        policy.banner_markup = Arc::new(banners);
        if policy.banner && !consent.sources[0].format.writable() {
            p.add(
                &at(&policy_path, &[key("banner")]),
                format!(
                    "consentry's banner writes `json` or `list` consent, but this site reads `{}` first",
                    consent.sources[0].format.name()
                ),
            );
        }
        let Some(necessary) = categories.necessary() else {
            continue;
        };
        let preferences = consent
            .sources
            .iter()
            .map(|s| s.cookie.as_bytes().to_vec())
            .collect();
        let classifier = Classifier::new(
            rules,
            preferences,
            necessary,
            unclassified,
            (unclassified == Unclassified::Catalogue)
                .then(|| catalogue.clone())
                .flatten(),
        );
        let mut site_trackers = trackers::compile(
            p,
            &mut shared_matchers,
            &raw.trackers,
            site.trackers.as_ref(),
            &here,
            categories,
        );
        let preference_names: Vec<String> =
            consent.sources.iter().map(|s| s.cookie.clone()).collect();
        site_trackers.guard = crate::pages::guard::render(
            &mut shared_guards,
            categories,
            &classifier,
            &preference_names,
            &site_trackers.matcher,
            &site_trackers.consent_mode,
        );
        sites.push(Arc::new(Site {
            name: site.name.clone(),
            hosts: site
                .hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
            upstream,
            consent,
            classifier,
            policy,
            trackers: site_trackers,
        }));
    }

    let records = records::compile(p, raw.records.as_ref(), base);
    check_texts(p, &raw, &site_languages);

    problems.finish()?;
    let categories = categories.ok_or_else(|| ConfigErrors(vec![]))?;
    Ok(Config {
        file: label.to_owned(),
        listen_http,
        listen_https,
        certificates,
        admin,
        categories,
        sites,
        hosts,
        limits,
        timeouts,
        records,
    })
}

fn compile_categories(p: &mut Problems, raw: &RawConfig) -> Option<Arc<Categories>> {
    let path = [key("categories")];
    if raw.categories.0.is_empty() {
        p.add(
            &path,
            "no categories: declare at least one `required: true` category such as `necessary`",
        );
        return None;
    }
    if raw.categories.0.len() > MAX_CATEGORIES {
        p.add(
            &path,
            format!("at most {MAX_CATEGORIES} categories are supported"),
        );
        return None;
    }
    let mut list = Vec::new();
    for (name, c) in &raw.categories.0 {
        if name.is_empty() || name.contains([',', ' ', '"', ';']) {
            p.add(&at(&path, &[key(name)]), format!("`{name}` is not a usable category name (no spaces, commas, quotes or semicolons)"));
        }
        list.push(Category {
            name: name.clone(),
            title: c.title.as_ref().map_or_else(|| Text::plain(name), text),
            description: c.description.as_ref().map(text).unwrap_or_default(),
            required: c.required,
            gpc: c.gpc,
        });
    }
    let categories = Categories::new(list);
    if categories.necessary().is_none() {
        p.add(
            &path,
            "no category is `required: true`: the preferences cookie itself needs one",
        );
        return None;
    }
    Some(Arc::new(categories))
}

fn compile_rules(
    p: &mut Problems,
    raw: &[RawRule],
    path: &[Seg],
    categories: &Option<Arc<Categories>>,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let here = at(path, &[Seg::Index(i)]);
        // Inner spaces are allowed: browsers store names such as `foo bar`. Outer ones
        // never match: a browser trims them from the name it stores.
        if r.name.trim().is_empty()
            || r.name.trim() != r.name
            || r.name.contains([';', '='])
            || r.name.chars().any(char::is_control)
        {
            p.add(
                &at(&here, &[key("name")]),
                format!("`{}` is not a cookie name or glob", r.name),
            );
        }
        if let Some(rule_path) = &r.path {
            if !rule_path.starts_with('/') || rule_path.contains(';') {
                p.add(
                    &at(&here, &[key("path")]),
                    "a cookie path starts with `/` and has no `;`",
                );
            }
        }
        if let Some(domain) = &r.domain {
            if domain.is_empty() || domain.contains([';', ' ', '/']) {
                p.add(
                    &at(&here, &[key("domain")]),
                    format!("`{domain}` is not a cookie domain"),
                );
            }
        }
        let Some(categories) = categories else {
            continue;
        };
        let Some(category) = categories.id(&r.category) else {
            let known: Vec<&str> = categories.iter().map(|(_, c)| c.name.as_str()).collect();
            p.add(
                &at(&here, &[key("category")]),
                format!(
                    "unknown category `{}` (categories are: {})",
                    r.category,
                    known.join(", ")
                ),
            );
            continue;
        };
        rules.push(Rule {
            pattern: r.name.trim().to_owned(),
            category,
            provider: r.provider.as_ref().map(text),
            function: r.function.as_ref().map(text),
            purpose: r.purpose.as_ref().map(text),
            path: r.path.clone(),
            domain: r.domain.clone(),
        });
    }
    rules
}

fn compile_upstream(
    p: &mut Problems,
    site: &RawSite,
    here: &[Seg],
    base: &Path,
) -> Option<Upstream> {
    let path = at(here, &[key("upstream")]);
    let bad = |p: &mut Problems, why: &str| {
        p.add(
            &path,
            format!("`{}` is not a usable upstream URL: {why}", site.upstream),
        );
        None
    };
    let uri: Uri = match site.upstream.parse() {
        Ok(u) => u,
        Err(_) => return bad(p, "write http://HOST:PORT or https://HOST"),
    };
    let scheme = match uri.scheme_str() {
        Some("http") => http::uri::Scheme::HTTP,
        Some("https") => http::uri::Scheme::HTTPS,
        _ => return bad(p, "the scheme must be http or https"),
    };
    let Some(authority) = uri.authority().cloned() else {
        return bad(p, "it has no host");
    };
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return bad(p, "it needs a host and no user info");
    }
    if uri.query().is_some() {
        return bad(p, "it must not have a query");
    }
    let ca_file = site.upstream_ca.as_ref().map(|ca| {
        let file = base.join(ca);
        if let Err(e) = std::fs::File::open(&file) {
            p.add(
                &at(here, &[key("upstream_ca")]),
                format!("cannot read {}: {e}", file.display()),
            );
        }
        file
    });
    if ca_file.is_some() && scheme != http::uri::Scheme::HTTPS {
        p.add(
            &at(here, &[key("upstream_ca")]),
            "`upstream_ca` is only for https upstreams",
        );
    }
    Some(Upstream {
        scheme,
        authority,
        prefix: uri.path().trim_end_matches('/').to_owned(),
        ca_file,
    })
}

/// A site's `consent` keys override the global ones one by one.
fn merge_consent(global: &RawConsent, site: Option<&RawConsent>) -> RawConsent {
    let Some(site) = site else {
        return global.clone();
    };
    macro_rules! pick {
        ($($field:ident),*) => { RawConsent { $($field: site.$field.clone().or_else(|| global.$field.clone()),)* } };
    }
    let mut merged = pick!(
        cookie,
        format,
        mapping,
        purposes,
        no_consent_region,
        sources,
        revision,
        max_age,
        honor_gpc,
        unclassified,
        expire_revoked,
        strip_request_cookies
    );
    // A site that names a banner format of another family (another default cookie)
    // reads that format's cookie, in its words: the global cookie name and mapping
    // belong to the global format.
    let default_cookie = |format: &Option<String>| {
        Format::from_name(format.as_deref().unwrap_or("json")).map(Format::default_cookie)
    };
    if site.format.is_some() && default_cookie(&site.format) != default_cookie(&global.format) {
        merged.cookie = site.cookie.clone();
        merged.mapping = site.mapping.clone();
        merged.purposes = site.purposes.clone();
        merged.no_consent_region = site.no_consent_region.clone();
    }
    merged
}
fn merge_policy(global: &RawPolicy, site: Option<&RawPolicy>) -> RawPolicy {
    let Some(site) = site else {
        return global.clone();
    };
    RawPolicy {
        path: site.path.clone().or_else(|| global.path.clone()),
        serve: site.serve.or(global.serve),
        link_text: site.link_text.clone().or_else(|| global.link_text.clone()),
        banner: site.banner.or(global.banner),
        languages: site.languages.clone().or_else(|| global.languages.clone()),
    }
}

fn sets_single_source(c: &RawConsent) -> bool {
    c.cookie.is_some()
        || c.format.is_some()
        || c.mapping.is_some()
        || c.purposes.is_some()
        || c.no_consent_region.is_some()
}

fn compile_consent(
    p: &mut Problems,
    merged: &RawConsent,
    site: Option<&RawConsent>,
    global: &RawConsent,
    site_path: &[Seg],
    categories: &Categories,
) -> Option<ConsentPolicy> {
    // Which level decides the sources, and where errors about them point.
    let (level, level_path): (&RawConsent, Vec<Seg>) = match site {
        Some(s) if s.sources.is_some() || sets_single_source(s) => {
            (s, at(site_path, &[key("consent")]))
        }
        _ => (global, vec![key("consent")]),
    };
    if level.sources.is_some() && sets_single_source(level) {
        p.add(
            &at(&level_path, &[key("sources")]),
            "use either `sources` or `cookie`/`format`/`mapping` at one level, not both",
        );
        return None;
    }
    let singles = RawSource {
        format: merged.format.clone().unwrap_or_else(|| "json".into()),
        cookie: merged.cookie.clone(),
        mapping: merged.mapping.clone(),
        purposes: merged.purposes.clone(),
        no_consent_region: merged.no_consent_region.clone(),
    };
    let (raw_sources, sources_path): (Vec<RawSource>, Vec<Seg>) = match &level.sources {
        Some(list) => (list.clone(), at(&level_path, &[key("sources")])),
        None => (vec![singles], level_path.clone()),
    };
    if raw_sources.is_empty() {
        p.add(
            &sources_path,
            "`sources` is empty: list at least one consent cookie",
        );
        return None;
    }
    let mut sources = Vec::new();
    for (i, s) in raw_sources.iter().enumerate() {
        let here = if level.sources.is_some() {
            at(&sources_path, &[Seg::Index(i)])
        } else {
            sources_path.clone()
        };
        let Some(format) = Format::from_name(&s.format) else {
            let known: Vec<&str> = Format::ALL.iter().map(|(n, _)| *n).collect();
            p.add(
                &at(&here, &[key("format")]),
                format!(
                    "unknown consent format `{}` (formats are: {})",
                    s.format,
                    known.join(", ")
                ),
            );
            continue;
        };
        let cookie = s
            .cookie
            .clone()
            .unwrap_or_else(|| format.default_cookie().to_owned());
        if cookie.is_empty() || cookie.contains([';', '=', ',', ' ']) {
            p.add(
                &at(&here, &[key("cookie")]),
                format!("`{cookie}` is not a cookie name"),
            );
        }
        let vocab = compile_vocabulary(p, format, s, &here, categories);
        sources.push(Source {
            cookie,
            format,
            vocab,
        });
    }
    if sources.len() != raw_sources.len() {
        return None;
    }
    Some(ConsentPolicy {
        sources,
        revision: merged.revision,
        max_age: merged.max_age.unwrap_or(15_552_000),
        honor_gpc: merged.honor_gpc.unwrap_or(true),
        expire_revoked: merged.expire_revoked.unwrap_or(true),
        strip_request_cookies: merged.strip_request_cookies.unwrap_or(true),
    })
}

fn compile_vocabulary(
    p: &mut Problems,
    format: Format,
    source: &RawSource,
    here: &[Seg],
    categories: &Categories,
) -> Vocabulary {
    let mut vocab = Vocabulary::new(categories.all());
    // Category names stand for themselves, then the format's defaults, then the config.
    for (id, c) in categories.iter() {
        vocab.map(&c.name, Some(id));
    }
    for (word, category) in format.default_mapping() {
        if let Some(id) = categories.id(category) {
            vocab.map(word, Some(id));
        }
    }
    if let Some(mapping) = &source.mapping {
        for (word, target) in &mapping.0 {
            match target.as_deref() {
                None | Some("none") => vocab.map(word, None),
                Some(name) => match categories.id(name) {
                    Some(id) => vocab.map(word, Some(id)),
                    None => p.add(
                        &at(here, &[key("mapping"), key(word)]),
                        format!("`{word}` maps to unknown category `{name}`"),
                    ),
                },
            }
        }
    }
    vocab.purposes = default_purposes(format, categories);
    if let Some(purposes) = &source.purposes {
        for (category, list) in &purposes.0 {
            let Some(id) = categories.id(category) else {
                p.add(
                    &at(here, &[key("purposes"), key(category)]),
                    format!("unknown category `{category}`"),
                );
                continue;
            };
            let mut bits = 0u32;
            for &n in list {
                if (1..=24).contains(&n) {
                    bits |= 1 << (n - 1);
                } else {
                    p.add(
                        &at(here, &[key("purposes"), key(category)]),
                        format!("TCF purpose {n} is not between 1 and 24"),
                    );
                }
            }
            vocab.purposes.retain(|(c, _)| *c != id);
            vocab.purposes.push((id, bits));
        }
    }
    vocab.region_exempt_grants_all = match source.no_consent_region.as_deref() {
        None | Some("grant_all") => true,
        Some("required_only") => false,
        Some(other) => {
            p.add(
                &at(here, &[key("no_consent_region")]),
                format!("`{other}` is not one of grant_all, required_only"),
            );
            false
        }
    };
    vocab
}

/// Default TCF purposes per category (purpose 1, storage, is always needed too).
fn default_purposes(format: Format, categories: &Categories) -> Vec<(CategoryId, u32)> {
    let defaults: &[(&str, &[u8])] = format.default_purposes();
    defaults
        .iter()
        .filter_map(|(name, list)| {
            let id = categories.id(name)?;
            Some((id, list.iter().fold(0u32, |bits, n| bits | 1 << (n - 1))))
        })
        .collect()
}

fn compile_policy(p: &mut Problems, raw: &RawPolicy, path: &[Seg]) -> Option<Policy> {
    let policy_path = raw
        .path
        .clone()
        .unwrap_or_else(|| "/terms/cookies-policy/".into());
    if !policy_path.starts_with('/') || policy_path.contains(['"', '<', '>', ' ', '?', '#']) {
        p.add(&at(path, &[key("path")]), format!("`{policy_path}` is not a path: it starts with `/` and has no spaces, quotes, `?` or `#`"));
        return None;
    }
    if policy_path.starts_with(crate::RESERVED_PREFIX) {
        p.add(
            &at(path, &[key("path")]),
            format!(
                "paths under {} are reserved for consentry",
                crate::RESERVED_PREFIX
            ),
        );
        return None;
    }
    let link_header =
        HeaderValue::from_str(&format!("<{policy_path}>; rel=\"privacy-policy\"")).ok()?;
    let languages = compile_languages(p, raw.languages.as_deref(), path)?;
    Some(Policy {
        path: policy_path,
        serve: raw.serve.unwrap_or(true),
        link_text: raw
            .link_text
            .as_ref()
            .map_or_else(|| Text::plain("Cookies policy"), text),
        banner: raw.banner.unwrap_or(false),
        languages: Arc::new(languages),
        link_header,
        head_markup: Arc::from(""),
        link_markup: Vec::new(),
        banner_markup: Arc::default(),
    })
}

/// A configured text as the runtime holds it.
fn text(raw: &RawText) -> Text {
    match raw {
        RawText::One(text) => Text::plain(text.clone()),
        RawText::ByLanguage(map) => Text::by_language(map.0.clone()),
    }
}

/// `policy.languages`: registered BCP 47 tags, no repeats, at least one.
fn compile_languages(
    p: &mut Problems,
    raw: Option<&[String]>,
    path: &[Seg],
) -> Option<SiteLanguages> {
    let Some(raw) = raw else {
        return Some(SiteLanguages::default());
    };
    let here = at(path, &[key("languages")]);
    if raw.is_empty() {
        p.add(
            &here,
            "list at least one language (the first is the default)",
        );
        return None;
    }
    let mut list: Vec<Language> = Vec::new();
    let mut ok = true;
    for (i, tag) in raw.iter().enumerate() {
        match languages::parse_tag(tag) {
            Ok(id) => {
                if list.iter().any(|l| l.tag.eq_ignore_ascii_case(tag)) {
                    p.add(
                        &at(&here, &[Seg::Index(i)]),
                        format!("`{tag}` is listed twice"),
                    );
                    ok = false;
                }
                list.push(Language::new(id, tag));
            }
            Err(why) => {
                p.add(&at(&here, &[Seg::Index(i)]), why);
                ok = false;
            }
        }
    }
    ok.then(|| SiteLanguages::new(list))
}

/// Every text given as a map (DESIGN.md, "Languages"): its keys are registered
/// language tags that some site it applies to lists, and it gives the default
/// language of each of those sites. `sites` holds, per site compiled, its index in
/// `sites:` and its language tags.
fn check_texts(p: &mut Problems, raw: &RawConfig, sites: &[(usize, Vec<String>)]) {
    if sites.len() != raw.sites.len() {
        // A site's languages (or policy) are in error already: checking texts against
        // the others would only repeat it.
        return;
    }
    let all: Vec<&(usize, Vec<String>)> = sites.iter().collect();
    let only = |i: usize| -> Vec<&(usize, Vec<String>)> {
        sites.iter().filter(|(site, _)| *site == i).collect()
    };
    for (name, c) in &raw.categories.0 {
        for (field, value) in [("title", &c.title), ("description", &c.description)] {
            check_text(
                p,
                value.as_ref(),
                &[key("categories"), key(name), key(field)],
                raw,
                &all,
            );
        }
    }
    let rule_texts =
        |p: &mut Problems, rules: &[RawRule], path: &[Seg], applies: &[&(usize, Vec<String>)]| {
            for (i, r) in rules.iter().enumerate() {
                for (field, value) in [
                    ("provider", &r.provider),
                    ("function", &r.function),
                    ("purpose", &r.purpose),
                ] {
                    check_text(
                        p,
                        value.as_ref(),
                        &at(path, &[Seg::Index(i), key(field)]),
                        raw,
                        applies,
                    );
                }
            }
        };
    rule_texts(p, &raw.cookies, &[key("cookies")], &all);
    let inheriting: Vec<&(usize, Vec<String>)> = sites
        .iter()
        .filter(|(i, _)| {
            raw.sites[*i]
                .policy
                .as_ref()
                .is_none_or(|policy| policy.link_text.is_none())
        })
        .collect();
    check_text(
        p,
        raw.policy.link_text.as_ref(),
        &[key("policy"), key("link_text")],
        raw,
        &inheriting,
    );
    for (i, site) in raw.sites.iter().enumerate() {
        let here = [key("sites"), Seg::Index(i)];
        rule_texts(p, &site.cookies, &at(&here, &[key("cookies")]), &only(i));
        if let Some(policy) = &site.policy {
            check_text(
                p,
                policy.link_text.as_ref(),
                &at(&here, &[key("policy"), key("link_text")]),
                raw,
                &only(i),
            );
        }
    }
}

fn check_text(
    p: &mut Problems,
    value: Option<&RawText>,
    path: &[Seg],
    raw: &RawConfig,
    applies: &[&(usize, Vec<String>)],
) {
    let Some(RawText::ByLanguage(map)) = value else {
        return;
    };
    if map.0.is_empty() {
        p.add(path, "an empty map: give a text, or a text per language");
        return;
    }
    for (tag, _) in &map.0 {
        let here = at(path, &[key(tag)]);
        if let Err(why) = languages::parse_tag(tag) {
            p.add(&here, why);
            continue;
        }
        if !applies
            .iter()
            .any(|(_, tags)| tags.iter().any(|t| t.eq_ignore_ascii_case(tag)))
        {
            p.add(
                &here,
                format!("`{tag}` is not a language of any site this text applies to (add it to `policy.languages`)"),
            );
        }
    }
    for (i, tags) in applies {
        let Some(default) = tags.first() else {
            continue;
        };
        if !map
            .0
            .iter()
            .any(|(tag, _)| tag.eq_ignore_ascii_case(default))
        {
            p.add(
                path,
                format!(
                    "no text in `{default}`, the default language of site `{}`",
                    raw.sites[*i].name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests;
