//! The flow of one request, top to bottom:
//! request → route → consent → upstream → enforce → inject.
//!
//! Everything that can be decided once is already in the compiled [`Config`]; this
//! file only wires the pure modules together and talks to the network. It never
//! panics on input: every failure becomes a response with a status and a body.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, HeaderValue, TRANSFER_ENCODING};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;

use crate::config::{Config, Site};
use crate::consent::{Consent, RequestCookies};
use crate::cookies::enforce::{self, Report};
use crate::html::inject;
use crate::net::hop::{self, ClientInfo};
use crate::net::reply;
use crate::net::upstream::{self, ClientError, PooledBody, UpstreamClient};
use crate::ops::metrics::{Metrics, SiteMetrics};
use crate::pages::local;
use crate::{Body, BoxError};

/// A configuration together with what was built from it, per site in site order:
/// the upstream client and the metric handles.
pub struct Loaded {
    pub config: Arc<Config>,
    clients: Vec<UpstreamClient>,
    site_metrics: Vec<SiteMetrics>,
    /// For requests no site took (421, 400).
    unrouted_metrics: SiteMetrics,
    /// What consent records need of each site (policy text and its hash).
    records: crate::ops::records::SiteTable,
}

/// The proxy: the current configuration, swapped whole on reload so that a request
/// in flight finishes on the configuration it started with.
pub struct Proxy {
    state: ArcSwap<Loaded>,
    pub metrics: Metrics,
    pub audit: crate::ops::audit::Audit,
    pub records: crate::ops::records::Records,
}

impl Proxy {
    pub fn new(config: Config) -> Result<Proxy, ClientError> {
        let metrics = Metrics::default();
        let loaded = Self::load(config, &metrics)?;
        let records = crate::ops::records::Records::new(metrics.records.clone());
        Ok(Proxy {
            state: ArcSwap::from_pointee(loaded),
            metrics,
            audit: crate::ops::audit::Audit::default(),
            records,
        })
    }

    fn load(config: Config, metrics: &Metrics) -> Result<Loaded, ClientError> {
        let clients = upstream::clients(&config, metrics)?;
        let site_metrics = config
            .sites
            .iter()
            .map(|site| metrics.site(&site.name, &config.categories))
            .collect();
        let unrouted_metrics = metrics.site("-", &config.categories);
        let records = crate::ops::records::SiteTable::new(&config);
        Ok(Loaded {
            config: Arc::new(config),
            clients,
            site_metrics,
            unrouted_metrics,
            records,
        })
    }

    /// The configuration requests start on now.
    pub fn current(&self) -> Arc<Loaded> {
        self.state.load_full()
    }

    /// Builds what `config` needs, then makes it the configuration of every request
    /// that starts from now on. On error the running configuration stays.
    pub fn replace(&self, config: Config) -> Result<(), ClientError> {
        let loaded = Self::load(config, &self.metrics)?;
        if self.records.started() {
            self.records.apply(loaded.config.records.as_ref());
        }
        self.state.store(Arc::new(loaded));
        Ok(())
    }

    /// The answer to a request on a connection accepted over `max_connections`: a 503
    /// that closes the connection, logged and counted like any other answer.
    pub fn overloaded<B>(&self, req: &Request<B>) -> Response<ResponseBody> {
        let loaded = self.current();
        let request_id = crate::ops::request_id::of(req.headers());
        let response = reply::closing(
            StatusCode::SERVICE_UNAVAILABLE,
            "The proxy is at its connection limit; try again shortly.",
        );
        Exchange::start(req, &loaded, &request_id).finish(self, None, &Report::default(), response)
    }

    /// Logs and counts a request the HTTP library answered itself, before any handler
    /// saw it: its head was past the library's own bound (HTTP/1.1: the read buffer,
    /// or more than 100 fields), so it got hyper's bare `431`. An operator should
    /// still see such requests, a header flood above all.
    pub fn head_too_large_for_library(&self) {
        let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.as_u16();
        let loaded = self.current();
        loaded
            .unrouted_metrics
            .record(status, Duration::ZERO, None, &Report::default());
        tracing::info!(
            target: "consentry::access",
            status,
            "request head too large; answered by the HTTP library"
        );
    }

    /// Answers one request.
    ///
    /// A function returning an `async move` block rather than an `async fn`: an
    /// `async fn` keeps a second copy of each argument in its future
    /// (rust-lang/rust#62958), and this future, made per request, is moved on its way
    /// into hyper. It owns what it needs, so hyper can hold it without a wrapper.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub fn handle<B>(
        self: Arc<Self>,
        mut req: Request<B>,
        client: Arc<ClientInfo>,
    ) -> impl Future<Output = Response<ResponseBody>> + Send + 'static
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        async move {
            let loaded = self.current();
            let config = &loaded.config;
            let request_id = crate::ops::request_id::of(req.headers());
            let ex = Exchange::start(&req, &loaded, &request_id);

            if header_bytes(req.headers()) > config.limits.max_request_header_bytes {
                let response = reply::text(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "The request headers are larger than this proxy accepts.",
                );
                return ex.finish(&self, None, &Report::default(), response);
            }

            // 1. Route by :authority, then Host; port ignored, case folded.
            let Some(host) = request_host(&req) else {
                return ex.finish(
                    &self,
                    None,
                    &Report::default(),
                    reply::text(
                        StatusCode::BAD_REQUEST,
                        "The request names no host, more than one, or an invalid one.",
                    ),
                );
            };
            let Some((index, site)) = config.site_index_for_host(&host) else {
                let response = reply::text(
                    StatusCode::MISDIRECTED_REQUEST,
                    "No site is configured here for this host.",
                );
                return ex.finish(&self, None, &Report::default(), response);
            };
            let mut ex = ex.with_site(site, &loaded.site_metrics[index]);
            // The page's host for relative URLs in it, borrowed from the site, not the request.
            let page_host = site
                .hosts
                .iter()
                .find(|h| **h == *host)
                .or(site.hosts.first())
                .map_or("", String::as_str);
            // `.` and `..` resolved here, not by an upstream after the routing.
            match crate::net::target::resolve_dot_segments(req.uri()) {
                Ok(None) => {}
                Ok(Some(resolved)) => *req.uri_mut() = resolved,
                Err(crate::net::target::AboveRoot) => {
                    let response = reply::text(
                        StatusCode::BAD_REQUEST,
                        "The request path climbs above the root.",
                    );
                    return ex.finish(&self, None, &Report::default(), response);
                }
            }
            // A tunnel has no place in a reverse proxy, and TRACE would echo the
            // request's cookies back to scripts (cross-site tracing); nginx refuses both.
            if refused_method(req.method()) {
                let response = reply::text(
                    StatusCode::NOT_IMPLEMENTED,
                    "This proxy does not forward CONNECT, TRACE or TRACK requests.",
                );
                return ex.finish(&self, None, &Report::default(), response);
            }

            // 2. Consent, from the request's cookies and Sec-GPC.
            let cookies = RequestCookies::from_headers(req.headers());
            // Any field, any item: a second field or an intermediary's merge
            // (`Sec-GPC: 0` then `1`, or `1, 1`) must not hide the signal.
            let gpc = crate::net::field_list::items(req.headers().get_all(SEC_GPC))
                .any(|item| item == b"1");
            let consent = Consent::read(&cookies, gpc, &site.consent, &config.categories);
            let granted = consent.granted();
            // A new consent state is recorded; a repeated one costs a table lookup.
            if consent.recorded().is_some() {
                let categories = &config.categories;
                let records = &loaded.records;
                let (index, req, client) = (index, &req, &client);
                self.records.observe(
                    records, index, site, categories, &consent, &cookies, req, client,
                );
            }

            // Consentry's own pages: the policy, banner assets, the consent endpoint.
            if let Some(what) = local::route(&req, site) {
                // Boxed: a rare path whose future would otherwise enlarge every request's.
                let mut report = Report::default();
                let response = Box::pin(async {
                    let mut choice = None;
                    // The endpoint's record may keep the user agent (`client_info`).
                    let headers = match what {
                        local::Local::ConsentForm => req.headers().clone(),
                        _ => http::HeaderMap::new(),
                    };
                    let response = local::respond(
                        what,
                        req,
                        site,
                        &config.categories,
                        &consent,
                        client.tls,
                        &mut report,
                        &mut choice,
                    )
                    .await;
                    // Recorded before the endpoint answers (waiting a bounded time).
                    if let Some(choice) = choice {
                        let categories = &config.categories;
                        self.records
                            .record_choice(
                                &loaded.records,
                                index,
                                site,
                                categories,
                                &choice,
                                &headers,
                                &client,
                            )
                            .await;
                    }
                    response
                })
                .await;
                return ex.finish(&self, None, &report, response);
            }
            let page = inject::RequestFacts::new(&ex.method, &ex.uri, req.headers());

            // 3. The request to forward.
            if let Some(limit) = config.limits.max_request_body_bytes {
                if declared_length(req.headers()).is_some_and(|n| n > limit) {
                    // The unread body makes the connection unusable: say it closes.
                    let response = reply::closing(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "The request body is larger than this proxy accepts.",
                    );
                    return ex.finish(&self, None, &Report::default(), response);
                }
            }
            let upgrading = hop::is_upgrade(req.headers()) && req.version() == Version::HTTP_11;
            let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut req));
            let (mut parts, body) = req.into_parts();
            let mut report = Report::default();
            if site.consent.strip_request_cookies {
                report.stripped = enforce::strip_request_cookies(
                    &mut parts.headers,
                    &cookies,
                    &site.classifier,
                    granted,
                );
            }
            // The target's authority, when it has one, is what routed the request and
            // replaces any Host field (RFC 9112 §3.2.2); else Host as it came.
            let authority = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
            let from_target = authority.is_some();
            let client_host = authority.or_else(|| parts.headers.get(HOST).cloned());
            if hop::remove_hop_by_hop(&mut parts.headers, upgrading) {
                let response = reply::closing(
                    StatusCode::NOT_IMPLEMENTED,
                    "The request uses a transfer coding this proxy does not decode.",
                );
                return ex.finish(&self, None, &report, response);
            }
            // What the upstream may switch to: the protocols passed on.
            let offered = upgrading
                .then(|| parts.headers.get(http::header::UPGRADE).cloned())
                .flatten();
            hop::add_forwarding(
                &mut parts.headers,
                &client,
                client_host.as_ref(),
                parts.version,
            );
            parts
                .headers
                .insert(crate::ops::request_id::HEADER, request_id.clone());
            // Put back when `Connection` named it, or taken from the target.
            if let Some(host) = &client_host {
                if from_target || !parts.headers.contains_key(HOST) {
                    parts.headers.insert(HOST, host.clone());
                }
            }
            parts.uri = match site.upstream.uri_for(&parts.uri) {
                Ok(uri) => uri,
                Err(_) => {
                    let response = reply::text(
                        StatusCode::BAD_REQUEST,
                        "The request target cannot be forwarded.",
                    );
                    return ex.finish(&self, None, &report, response);
                }
            };
            parts.version = Version::HTTP_11;
            page.restrict_accept_encoding(&mut parts.headers);
            // hyper's client sends no body with a GET or HEAD unless told it is chunked
            // (it assumes there is none); a client that sent one gets it forwarded.
            if matches!(parts.method, Method::GET | Method::HEAD)
                && !hyper::body::Body::is_end_stream(&body)
                && hyper::body::Body::size_hint(&body).exact().is_none()
            {
                parts
                    .headers
                    .insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            }
            let body: Body = match config.limits.max_request_body_bytes {
                Some(limit) => Limited::new(
                    body.map_err(client_body_error),
                    usize::try_from(limit).unwrap_or(usize::MAX),
                )
                .boxed_unsync(),
                None => body.map_err(client_body_error).boxed_unsync(),
            };

            // 4. Upstream.
            let upstream_started = Instant::now();
            let sent = loaded.clients[index]
                .request(
                    Request::from_parts(parts, body),
                    upstream_started,
                    config.timeouts.upstream_response,
                )
                .await;
            let responded = Instant::now();
            let upstream_time = responded - upstream_started;
            ex.responded = Some(responded);
            let mut upstream_response = match sent {
                Ok(response) => response,
                Err(error) if error.is_timeout() => {
                    self.metrics.upstream_error(&site.name, "timeout");
                    tracing::warn!(site = %site.name, timeout = ?config.timeouts.upstream_response, "upstream timed out");
                    let response = reply::text(
                        StatusCode::GATEWAY_TIMEOUT,
                        &format!("The upstream of site {} did not answer in time.", site.name),
                    );
                    return ex.finish(&self, Some(upstream_time), &report, response);
                }
                Err(error) => {
                    let (status, detail, kind) = classify_upstream_error(&error);
                    self.metrics.upstream_error(&site.name, kind);
                    if status.is_server_error() {
                        tracing::warn!(site = %site.name, kind, error = %error_chain(&error), "upstream failed");
                    } else {
                        // The client's doing: worth a line, not a warning.
                        tracing::info!(site = %site.name, kind, error = %error_chain(&error), "request body failed");
                    }
                    let response = reply::text(status, &format!("{detail} (site {}).", site.name));
                    return ex.finish(&self, Some(upstream_time), &report, response);
                }
            };

            // A 101 hands both connections over to a byte pipe, after its headers are enforced.
            let switching = upstream_response.status() == StatusCode::SWITCHING_PROTOCOLS;
            if switching {
                match client_upgrade {
                    Some(_)
                        if !hop::switches_to_offered(
                            upstream_response.headers(),
                            offered.as_ref(),
                        ) =>
                    {
                        let response = reply::text(
                            StatusCode::BAD_GATEWAY,
                            "The upstream switched to a protocol the client did not offer.",
                        );
                        return ex.finish(&self, Some(upstream_time), &report, response);
                    }
                    Some(client_upgrade) => {
                        let upstream_upgrade = hyper::upgrade::on(&mut upstream_response);
                        tokio::spawn(pipe_upgraded(client_upgrade, upstream_upgrade));
                    }
                    None => {
                        let response = reply::text(
                            StatusCode::BAD_GATEWAY,
                            "The upstream switched protocols unasked.",
                        );
                        return ex.finish(&self, Some(upstream_time), &report, response);
                    }
                }
            }

            // 5. Enforce on the response headers, whatever the status.
            let (mut parts, body) = upstream_response.into_parts();
            // This hop speaks its own version (RFC 9110 §6.2), whatever the upstream's.
            parts.version = Version::HTTP_11;
            let foreign_coding = hop::remove_hop_by_hop(&mut parts.headers, switching);
            // What hyper's client lets through but no client should get.
            let broken = if parts.status.as_u16() > 599 {
                // Status codes are three digits from 100 to 599 (RFC 9110 §15).
                Some("a status code outside 100-599")
            } else if foreign_coding {
                Some("a transfer coding this proxy does not decode")
            } else {
                None
            };
            if let Some(what) = broken {
                tracing::warn!(site = %site.name, what, "upstream response refused");
                self.metrics.upstream_error(&site.name, "protocol");
                let response = reply::text(
                    StatusCode::BAD_GATEWAY,
                    &format!("The upstream answered with {what}."),
                );
                return ex.finish(&self, Some(upstream_time), &report, response);
            }
            enforce::filter_set_cookies(&mut parts.headers, &site.classifier, granted, &mut report);
            if site.consent.expire_revoked && !cookies.is_empty() {
                enforce::expire_revoked(
                    &mut parts.headers,
                    &cookies,
                    &site.classifier,
                    granted,
                    &mut report,
                );
            }
            if site.trackers.block {
                crate::html::trackers::filter_link_header(
                    &mut parts.headers,
                    site,
                    granted,
                    page_host,
                );
            }
            enforce::add_policy_link(&mut parts.headers, &site.policy.link_header);
            hop::append_via(&mut parts.headers, Version::HTTP_11);

            // 6. Inject the policy link (and banner) into HTML documents, streaming.
            if parts.status == StatusCode::NOT_MODIFIED {
                inject::keep_client_validator(&page, site.policy.banner, &mut parts.headers);
            }
            let body =
                match inject::plan(&page, &parts, site, &config.categories, page_host, &consent) {
                    Some(plan) => ResponseBody::Other(inject::apply(
                        plan,
                        &mut parts,
                        body.map_err(Into::into).boxed_unsync(),
                    )),
                    None => ResponseBody::Upstream(body),
                };
            let response = Response::from_parts(parts, body);
            ex.finish(&self, Some(upstream_time), &report, response)
        }
    }
}

/// A constant: a `&str` key would be parsed and lower-cased on every lookup.
const SEC_GPC: http::HeaderName = http::HeaderName::from_static("sec-gpc");

/// What is known of an exchange from its start, for the log line, metrics and audit.
struct Exchange<'a> {
    request_id: &'a HeaderValue,
    site: Option<&'a Arc<Site>>,
    metrics: &'a SiteMetrics,
    method: Method,
    /// Logged by path only: a query may carry personal data.
    uri: http::Uri,
    started: Instant,
    /// When the upstream's response head (or failure) came.
    responded: Option<Instant>,
    categories: &'a crate::Categories,
}

impl<'a> Exchange<'a> {
    /// An exchange no site has taken yet.
    fn start<B>(req: &Request<B>, loaded: &'a Loaded, request_id: &'a HeaderValue) -> Self {
        Exchange {
            request_id,
            site: None,
            metrics: &loaded.unrouted_metrics,
            method: req.method().clone(),
            uri: req.uri().clone(),
            started: Instant::now(),
            responded: None,
            categories: &loaded.config.categories,
        }
    }

    fn with_site(self, site: &'a Arc<Site>, metrics: &'a SiteMetrics) -> Exchange<'a> {
        Exchange {
            site: Some(site),
            metrics,
            ..self
        }
    }

    /// Records the exchange (log line, metrics, audit) and returns the response.
    fn finish(
        &self,
        proxy: &Proxy,
        upstream_time: Option<Duration>,
        report: &Report,
        response: Response<impl Into<ResponseBody>>,
    ) -> Response<ResponseBody> {
        let site_name = self.site.map_or("-", |s| s.name.as_str());
        let status = response.status().as_u16();
        // After the upstream answered, what is left to do takes µs: no new clock read.
        let elapsed = self.responded.unwrap_or_else(Instant::now) - self.started;
        let request_id = self.request_id.to_str().unwrap_or("-");
        crate::ops::logging::access(
            request_id,
            site_name,
            &self.method,
            self.uri.path(),
            status,
            elapsed,
            upstream_time,
            report,
            self.categories,
        );
        self.metrics.record(status, elapsed, upstream_time, report);
        if let Some(site) = self.site {
            proxy.audit.record(site, report, self.categories);
        }
        let mut response = response.map(Into::into);
        response
            .headers_mut()
            .insert(crate::ops::request_id::HEADER, self.request_id.clone());
        response
    }
}

/// The body [`Proxy::handle`] answers with: the upstream's, passed through as it
/// comes, or any other. An enum rather than one more box, so that the common case
/// costs no allocation and no dynamic call per frame.
pub enum ResponseBody {
    Upstream(PooledBody),
    Other(Body),
}

impl From<Body> for ResponseBody {
    fn from(body: Body) -> Self {
        ResponseBody::Other(body)
    }
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ResponseBody::Upstream(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|result| result.map_err(Into::into))),
            ResponseBody::Other(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Upstream(body) => body.is_end_stream(),
            ResponseBody::Other(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Upstream(body) => body.size_hint(),
            ResponseBody::Other(body) => body.size_hint(),
        }
    }
}

/// The host a request is for: the URI authority (HTTP/2 `:authority`, absolute-form),
/// else the `Host` header; lower-cased, port and trailing dot removed.
pub fn request_host<B>(req: &Request<B>) -> Option<Cow<'_, str>> {
    // RFC 9112 §3.2: more than one Host field, or an invalid one, is a 400, even when
    // the target's authority is what routes the request.
    let mut fields = req.headers().get_all(HOST).iter();
    let field = fields.next();
    if fields.next().is_some() {
        return None;
    }
    let from_field = match field {
        Some(value) => Some(host_of_field(value.as_bytes())?),
        None => None,
    };
    // The target's authority is held to what a Host field may say: no userinfo
    // (`a.test:80@b.test` would route by one host and read as another upstream), a
    // port of digits.
    let raw = match req.uri().authority() {
        Some(authority) => host_of_field(authority.as_str().as_bytes())?,
        None => from_field?,
    };
    // One trailing dot is the absolute form of a name; an empty label is no name.
    let host = raw.strip_suffix('.').unwrap_or(raw);
    let bytes = host.as_bytes();
    if bytes.first().is_none_or(|b| *b == b'.')
        || bytes.last() == Some(&b'.')
        || bytes.windows(2).any(|pair| pair == b"..")
    {
        return None;
    }
    // Hosts are nearly always lower-case already: no allocation then.
    Some(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    })
}

/// CONNECT, TRACE, and IIS's TRACK, in any case: method names are case-sensitive
/// (RFC 9110 §9.1), but an upstream that reads them otherwise must not get one.
fn refused_method(method: &Method) -> bool {
    let name = method.as_str();
    name.len() >= 5
        && ["CONNECT", "TRACE", "TRACK"]
            .iter()
            .any(|refused| name.eq_ignore_ascii_case(refused))
}

/// The host of a `Host` field value (`uri-host [":" port]`, RFC 9110 §7.2), or
/// `None` when the value is not one.
fn host_of_field(value: &[u8]) -> Option<&str> {
    let (host, port) = if value.first() == Some(&b'[') {
        let end = value.iter().position(|b| *b == b']')?;
        let (literal, rest) = value.split_at(end + 1);
        if literal.len() < 3 || !literal.is_ascii() {
            return None;
        }
        match rest {
            [] => (literal, &[][..]),
            [b':', port @ ..] => (literal, port),
            _ => return None,
        }
    } else {
        let (host, port) = match value.iter().rposition(|b| *b == b':') {
            Some(colon) => (&value[..colon], &value[colon + 1..]),
            None => (value, &[][..]),
        };
        if !host.iter().all(|b| HOST_BYTE[usize::from(*b)]) {
            return None;
        }
        (host, port)
    };
    if !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // ASCII by now, so this cannot fail.
    std::str::from_utf8(host).ok()
}

/// The bytes of a reg-name or IPv4 host (RFC 3986 §3.2.2): unreserved characters,
/// sub-delims and `%`; no userinfo, spaces or other delimiters. One table lookup a
/// byte, since every request's Host goes through it.
const HOST_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            );
        i += 1;
    }
    table
};

/// The size of the request's header fields as sent (name, `: `, value, CRLF).
fn header_bytes(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Maps a client error to the status the visitor gets and a metric label.
fn classify_upstream_error(
    error: &upstream::UpstreamError,
) -> (StatusCode, &'static str, &'static str) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is larger than this proxy accepts",
                "body_too_large",
            );
        }
        if e.is::<ClientBodyError>() {
            return (
                StatusCode::BAD_REQUEST,
                "The request body ended before it was complete",
                "client_body",
            );
        }
        source = e.source();
    }
    if error.is_connect() {
        (
            StatusCode::BAD_GATEWAY,
            "The upstream refused the connection, could not be reached, or failed TLS verification",
            "connect",
        )
    } else {
        (
            StatusCode::BAD_GATEWAY,
            "The upstream closed the connection or sent a broken response",
            "protocol",
        )
    }
}

/// The client's request body failed while it was streamed upstream (the client went
/// away mid-upload, or sent less than it declared): marked so that the exchange is
/// told apart from an upstream failure.
#[derive(Debug)]
struct ClientBodyError(BoxError);

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the client's request body failed")
    }
}

impl std::error::Error for ClientBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

fn client_body_error(error: impl Into<BoxError>) -> BoxError {
    Box::new(ClientBodyError(error.into()))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Copies bytes both ways between an upgraded client and upstream connection.
async fn pipe_upgraded(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    match tokio::join!(client, upstream) {
        (Ok(client), Ok(upstream)) => {
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                tracing::debug!(error = %e, "upgraded connection ended");
            }
        }
        (client, upstream) => {
            tracing::debug!(
                client_ok = client.is_ok(),
                upstream_ok = upstream.is_ok(),
                "upgrade failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, host: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header(HOST, h);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn routes_on_authority_then_host_without_port_and_case() {
        assert_eq!(
            request_host(&req("/", Some("Data.LongBeach.gov:8080"))).as_deref(),
            Some("data.longbeach.gov")
        );
        assert_eq!(
            request_host(&req("https://goldcoast.opendatasoft.com/x", Some("other"))).as_deref(),
            Some("goldcoast.opendatasoft.com")
        );
        assert_eq!(
            request_host(&req("/", Some("[::1]:8080"))).as_deref(),
            Some("[::1]")
        );
        assert_eq!(
            request_host(&req("/", Some("example.org."))).as_deref(),
            Some("example.org")
        );
        assert_eq!(request_host(&req("/", None)), None);
    }

    #[test]
    fn rejects_invalid_host_fields_as_rfc_9112_asks() {
        for bad in [
            "portal.test:abc",
            "portal.test..",
            ".portal.test",
            "portal..test",
            "user@portal.test",
            "portal test",
            "[::1",
            "[]",
            "[::1]x",
            "",
        ] {
            assert_eq!(request_host(&req("/", Some(bad))), None, "{bad:?}");
        }
        // An empty port is allowed by RFC 3986 §3.2.3.
        assert_eq!(
            request_host(&req("/", Some("portal.test:"))).as_deref(),
            Some("portal.test")
        );
    }

    #[test]
    fn two_host_fields_are_refused_even_with_an_absolute_target() {
        let mut two = req("/", Some("portal.test"));
        two.headers_mut()
            .append(HOST, HeaderValue::from_static("other.test"));
        assert_eq!(request_host(&two), None);
        let mut absolute = req("http://portal.test/", Some("portal.test"));
        absolute
            .headers_mut()
            .append(HOST, HeaderValue::from_static("portal.test"));
        assert_eq!(request_host(&absolute), None);
    }

    /// Every request's future is moved several times on its way into hyper's
    /// dispatcher; rare paths (connecting, local pages) are boxed so that it stays small.
    #[tokio::test]
    async fn request_future_stays_small() {
        let config = crate::config::Config::load(std::path::Path::new("proxy.yaml")).unwrap();
        let proxy = Proxy::new(config).unwrap();
        let request = Request::builder()
            .uri("/")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let client = Arc::new(ClientInfo::new("127.0.0.1:1".parse().unwrap(), false));
        let proxy = Arc::new(proxy);
        let handle = proxy.clone().handle(request, client);
        let size = std::mem::size_of_val(&handle);
        // 1.7 KB since handle() is an async block (2.6 KB as an async fn, 6 KB before
        // the rare paths were boxed).
        assert!(size <= 2048, "Proxy::handle's future is {size} bytes");
        let loaded = proxy.current();
        let upstream = loaded.clients[0].request(
            Request::new(Body::default()),
            Instant::now(),
            Duration::from_secs(1),
        );
        let size = std::mem::size_of_val(&upstream);
        assert!(
            size <= 768,
            "UpstreamClient::request's future is {size} bytes"
        );
    }
}
