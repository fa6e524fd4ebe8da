//! The pooled keep-alive client that carries requests to the portals.
//!
//! One [`UpstreamClient`] per site, built when the configuration is loaded. It keeps
//! idle HTTP/1.1 connections to its one upstream and speaks through hyper's
//! connection API (`hyper::client::conn::http1`): a site has exactly one upstream, so
//! there is no pool key to hash, no spawned task per request to wait for the
//! connection to come free, and a connection goes back to the pool the moment its
//! response body has been read to the end.
//!
//! HTTPS upstreams are verified with rustls against the system's roots plus the
//! site's `upstream_ca`. `timeouts.upstream_connect` bounds name resolution, the TCP
//! connect and the TLS handshake together.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::Body;
use crate::config::{Timeouts, Upstream};

/// Why an upstream client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read CA file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("CA file {0} holds no usable certificate")]
    NoCertificate(String),
    #[error("upstream host {0} is not a valid TLS server name")]
    ServerName(String),
}

/// How often the reaper closes idle connections past `timeouts.upstream_idle`.
/// Reuse checks the idle time exactly; the reaper only frees what nobody reused.
const REAPER_TICK: Duration = Duration::from_secs(1);

/// Why a request could not be carried to the upstream and its answer back.
#[derive(Debug)]
pub struct UpstreamError {
    kind: Kind,
    source: crate::BoxError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Resolving, connecting, or the TLS or HTTP handshake failed.
    Connect,
    /// Resolving, connecting and the TLS handshake took longer than `upstream_connect`.
    ConnectTimeout,
    /// The connection broke, or the upstream's answer was not HTTP/1.1.
    Exchange,
    /// No response head within `upstream_response`.
    ResponseTimeout,
}

impl UpstreamError {
    fn new(kind: Kind, source: impl Into<crate::BoxError>) -> Self {
        UpstreamError {
            kind,
            source: source.into(),
        }
    }

    /// No connection to the upstream could be made (refused, unreachable, timed out,
    /// TLS or HTTP handshake failed): the request never reached it.
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, Kind::Connect | Kind::ConnectTimeout)
    }

    /// The upstream did not answer within `upstream_response`.
    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::ResponseTimeout
    }
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.kind {
            Kind::Connect => "cannot connect to the upstream",
            Kind::ConnectTimeout => "connecting to the upstream timed out",
            Kind::Exchange => "the upstream exchange failed",
            Kind::ResponseTimeout => "the upstream did not answer in time",
        })
    }
}

impl std::error::Error for UpstreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// The client of one site's upstream. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct UpstreamClient {
    pool: Arc<Pool>,
}

struct Pool {
    /// Host to resolve (IPv6 without brackets) and port.
    host: String,
    port: u16,
    /// For an `https` upstream: the TLS connector and the name to verify.
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
    /// `timeouts.upstream_idle`: a connection idle this long is not reused. Below
    /// the upstream's keep-alive timeout, a reused connection is rarely one the
    /// upstream is closing (hyper#3553); a request that meets one anyway is sent
    /// again when it can be (see [`UpstreamClient::request`]).
    idle_timeout: Duration,
    /// The same in reaper ticks, rounded up.
    idle_ticks: u64,
    /// Idle connections, most recently used at the back.
    idle: Mutex<VecDeque<Idle>>,
    /// Whether the task that closes expired idle connections runs.
    reaper: std::sync::Once,
    /// Reaper ticks so far: the pool's clock.
    ticks: AtomicU64,
    body_failures: BodyFailures,
}

struct Idle {
    conn: Conn,
    /// `ticks` when the connection went idle, for the reaper.
    since: u64,
    /// When it went idle, for reuse.
    idle_since: std::time::Instant,
}

/// One connection to the upstream: the handle its requests go through, and the
/// timer that bounds waiting for a response on it. The timer is set again for each
/// request rather than made anew: moving a registered timer's deadline later costs
/// one atomic operation, where a new one is registered with the runtime and removed
/// again on every request.
struct Conn {
    sender: SendRequest<Body>,
    timer: Pin<Box<Sleep>>,
}

/// A pooled connection idle at least this long may be one the upstream is closing
/// (keep-alive timeouts of 1 or 2 s exist: gunicorn's is 2 s). A request that can be
/// sent twice is then kept, to go out again on a fresh connection should this one
/// close before answering. Under load connections are idle for far less, and
/// nothing is copied.
const REPLAY_AFTER_IDLE: Duration = Duration::from_millis(500);

/// A copy of a request that may be sent again: an idempotent method (RFC 9110
/// §9.2.2) and no body. `None` for anything else. Boxed: the request's future holds
/// the option across the send, and most requests never fill it.
fn replay_copy(req: &Request<Body>) -> Option<Box<Request<Body>>> {
    let idempotent = matches!(
        *req.method(),
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
    );
    if !idempotent || !hyper::body::Body::is_end_stream(req.body()) {
        return None;
    }
    let mut copy = Request::new(crate::net::reply::empty());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(Box::new(copy))
}

/// Whether `error` says the connection closed (or was reset) after the request went
/// out and before any response: what a keep-alive connection the upstream was
/// closing at that moment gives.
fn closed_before_answer(error: &hyper::Error) -> bool {
    if error.is_incomplete_message() || error.is_canceled() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        source = e.source();
    }
    false
}

/// Builds one client per site, in site order. The system roots are read once.
pub fn clients(
    config: &crate::Config,
    metrics: &crate::ops::metrics::Metrics,
) -> Result<Vec<UpstreamClient>, ClientError> {
    let needs_roots = config
        .sites
        .iter()
        .any(|s| s.upstream.scheme == http::uri::Scheme::HTTPS);
    let mut system = rustls::RootCertStore::empty();
    if needs_roots {
        // The system store may be missing or partly unreadable; an https upstream then
        // fails its handshake with a 502 that says so, rather than failing to start.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = system.add(cert);
        }
    }
    config
        .sites
        .iter()
        .map(|site| {
            let failures = BodyFailures {
                site: site.name.clone(),
                counter: metrics.upstream_error_counter(&site.name, "body"),
            };
            client(&site.upstream, &config.timeouts, &system, failures)
        })
        .collect()
}

/// Builds the client for one upstream.
pub fn client(
    upstream: &Upstream,
    timeouts: &Timeouts,
    system_roots: &rustls::RootCertStore,
    body_failures: BodyFailures,
) -> Result<UpstreamClient, ClientError> {
    let authority = &upstream.authority;
    let https = upstream.scheme == http::uri::Scheme::HTTPS;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tls = if https {
        let name = ServerName::try_from(host.clone())
            .map_err(|_| ClientError::ServerName(host.clone()))?;
        let connector =
            tokio_rustls::TlsConnector::from(Arc::new(tls_config(upstream, system_roots)?));
        Some((connector, name))
    } else {
        None
    };
    Ok(UpstreamClient {
        pool: Arc::new(Pool {
            host,
            port,
            tls,
            connect_timeout: timeouts.upstream_connect,
            idle_timeout: timeouts.upstream_idle,
            idle_ticks: timeouts
                .upstream_idle
                .as_millis()
                .div_ceil(REAPER_TICK.as_millis())
                .try_into()
                .unwrap_or(u64::MAX),
            idle: Mutex::new(VecDeque::new()),
            reaper: std::sync::Once::new(),
            ticks: AtomicU64::new(0),
            body_failures,
        }),
    })
}

/// Where a response body that breaks off is reported: the site, for the log line,
/// and its `consentry_upstream_errors_total{kind="body"}` counter. The status is
/// already on its way to the client by then, so this is the only trace it leaves.
pub struct BodyFailures {
    pub site: String,
    pub counter: prometheus_client::metrics::counter::Counter,
}

impl UpstreamClient {
    /// Sends `req` (origin-form target, `Host` set) and returns the response head; its
    /// body streams from the connection, which returns to the pool once it is read.
    /// Getting a connection, sending the request and receiving the response head end
    /// at most `response_timeout` after `started` (the caller's clock reading, which
    /// it needs for its own timing anyway).
    ///
    /// A pooled connection can turn out closed only when the request is handed to it;
    /// hyper then gives the request back unsent, and it goes out on the next idle
    /// connection or a fresh one. A request that was sent goes out again only when it
    /// can be sent twice (idempotent, no body), its connection had been idle for
    /// [`REPLAY_AFTER_IDLE`] and closed before answering: then once, on a fresh
    /// connection, as nginx does for a cached connection that fails.
    ///
    /// An `async move` block rather than an `async fn`, which would hold `req` twice
    /// (see [`crate::proxy::Proxy::handle`]).
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub fn request(
        &self,
        mut req: Request<Body>,
        started: std::time::Instant,
        response_timeout: Duration,
    ) -> impl Future<Output = Result<Response<PooledBody>, UpstreamError>> + Send + '_ {
        async move {
            let deadline = tokio::time::Instant::from_std(started) + response_timeout;
            // Set once the request was sent on a connection that closed unanswered.
            let mut fresh_only = false;
            loop {
                let pooled = if fresh_only {
                    None
                } else {
                    self.pool.checkout(started)
                };
                let (mut conn, idle_for) = match pooled {
                    Some((conn, idle_for)) => (conn, Some(idle_for)),
                    // Boxed: connecting (resolve, TCP, TLS) is a future of several KB that
                    // would otherwise be moved along with every request.
                    None => (Box::pin(self.pool.connect(deadline)).await?, None),
                };
                let reused = idle_for.is_some();
                let mut replay = None;
                if idle_for.is_some_and(|idle| idle >= REPLAY_AFTER_IDLE) {
                    replay = replay_copy(&req);
                }
                conn.timer.as_mut().reset(deadline);
                let Conn { sender, timer, .. } = &mut conn;
                let ready = tokio::select! {
                    biased;
                    ready = sender.ready() => ready,
                    () = timer.as_mut() => return Err(response_timeout_error(response_timeout)),
                };
                if let Err(error) = ready {
                    if reused {
                        continue;
                    }
                    return Err(UpstreamError::new(Kind::Connect, error));
                }
                let sent = tokio::select! {
                    biased;
                    sent = sender.try_send_request(req) => sent,
                    () = timer.as_mut() => return Err(response_timeout_error(response_timeout)),
                };
                match sent {
                    Ok(response) => return Ok(self.pool.clone().track(conn, response)),
                    Err(mut error) => match (error.take_message(), replay) {
                        (Some(unsent), _) if reused => req = unsent,
                        (None, Some(copy)) if closed_before_answer(error.error()) => {
                            tracing::debug!(
                                error = %error.error(),
                                "a pooled upstream connection closed before answering; sending again on a fresh one"
                            );
                            req = *copy;
                            fresh_only = true;
                        }
                        _ => return Err(UpstreamError::new(Kind::Exchange, error.into_error())),
                    },
                }
            }
        }
    }
}

fn response_timeout_error(timeout: Duration) -> UpstreamError {
    UpstreamError::new(
        Kind::ResponseTimeout,
        format!("no response head after {timeout:?}"),
    )
}

impl Pool {
    /// The most recently used idle connection that is still open and free, and not
    /// idle for `idle_timeout` at `now`; with how long it was idle.
    fn checkout(&self, now: std::time::Instant) -> Option<(Conn, Duration)> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(entry) = idle.pop_back() {
            let idle_for = now.saturating_duration_since(entry.idle_since);
            if entry.conn.sender.is_ready() && idle_for < self.idle_timeout {
                return Some((entry.conn, idle_for));
            }
            // Closed, busy finishing a request body, or idle too long: dropping the
            // sender lets its connection close once it is done.
        }
        None
    }

    fn checkin(self: &Arc<Self>, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push_back(Idle {
                conn,
                since: self.ticks.load(Ordering::Relaxed),
                idle_since: std::time::Instant::now(),
            });
        }
        self.reaper.call_once(|| {
            tokio::spawn(reap(Arc::downgrade(self)));
        });
    }

    fn expired(&self, entry: &Idle) -> bool {
        // One tick more than the timeout: the reaper frees, reuse decides.
        self.ticks.load(Ordering::Relaxed) - entry.since > self.idle_ticks
    }

    /// Drops expired idle connections (the oldest are at the front).
    fn expire(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            while idle.front().is_some_and(|entry| self.expired(entry)) {
                idle.pop_front();
            }
            // A burst of client connections leaves as many pooled ones behind; once
            // they expire, the room they took goes back too (issue 16: memory comes
            // back after bursts).
            let kept = idle.len();
            if idle.capacity() > 64 && kept < idle.capacity() / 4 {
                idle.shrink_to(kept * 2);
            }
        }
    }

    /// Wraps the response body so that its connection returns to the pool at its end.
    fn track(self: Arc<Self>, conn: Conn, response: Response<Incoming>) -> Response<PooledBody> {
        // After a 101 the connection belongs to the upgraded protocol. After an
        // HTTP/1.0 response hyper speaks HTTP/1.0 on the connection, which cannot
        // carry a body of unknown length (it was dropped): such a connection serves
        // no further request.
        let reusable = response.status() != StatusCode::SWITCHING_PROTOCOLS
            && response.version() != http::Version::HTTP_10;
        response.map(|body| {
            let mut body = PooledBody {
                inner: body,
                conn: reusable.then_some(conn),
                pool: self,
            };
            body.release_if_done();
            body
        })
    }

    async fn connect(
        &self,
        response_deadline: tokio::time::Instant,
    ) -> Result<Conn, UpstreamError> {
        let connecting = async {
            let tcp = self
                .tcp()
                .await
                .map_err(|e| UpstreamError::new(Kind::Connect, e))?;
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                None => handshake(tcp).await,
                Some((connector, name)) => {
                    let tls = connector
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| UpstreamError::new(Kind::Connect, e))?;
                    handshake(tls).await
                }
            }
        };
        // hyper's HTTP/1 handshake does no I/O, so the bound is on resolving,
        // connecting and TLS: `upstream_connect`, or what is left of the request's
        // `upstream_response` when that comes first.
        let connect_deadline = tokio::time::Instant::now() + self.connect_timeout;
        let bound = connect_deadline.min(response_deadline);
        let sender = tokio::time::timeout_at(bound, connecting)
            .await
            .map_err(|_| {
                if bound < connect_deadline {
                    UpstreamError::new(
                        Kind::ResponseTimeout,
                        "no connection before the response deadline",
                    )
                } else {
                    UpstreamError::new(
                        Kind::ConnectTimeout,
                        format!("no connection after {:?}", self.connect_timeout),
                    )
                }
            })??;
        Ok(Conn {
            sender,
            timer: Box::pin(tokio::time::sleep_until(response_deadline)),
        })
    }

    /// Resolves the host and connects to its addresses in turn.
    async fn tcp(&self) -> std::io::Result<TcpStream> {
        let mut last_error = None;
        for addr in tokio::net::lookup_host((self.host.as_str(), self.port)).await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} resolves to no address", self.host),
            )
        }))
    }
}

/// The HTTP/1.1 handshake on a new connection, whose task is spawned.
async fn handshake<T>(io: T) -> Result<SendRequest<Body>, UpstreamError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| UpstreamError::new(Kind::Connect, e))?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// Advances the pool's clock and closes expired idle connections, every
/// [`REAPER_TICK`] while the pool exists.
async fn reap(pool: Weak<Pool>) {
    let start = tokio::time::Instant::now() + REAPER_TICK;
    let mut tick = tokio::time::interval_at(start, REAPER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match pool.upgrade() {
            Some(pool) => {
                pool.ticks.fetch_add(1, Ordering::Relaxed);
                pool.expire();
            }
            None => return,
        }
    }
}

/// A response body from the upstream. When it has been read to its end, its
/// connection goes back to the pool; dropped before that, the connection closes.
pub struct PooledBody {
    inner: Incoming,
    /// The connection, while it may still go back to the pool.
    conn: Option<Conn>,
    pool: Arc<Pool>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.checkin(conn);
        }
    }

    fn release_if_done(&mut self) {
        if hyper::body::Body::is_end_stream(&self.inner) {
            self.release();
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            None => self.release(),
            Some(Ok(_)) => self.release_if_done(),
            Some(Err(error)) => {
                // A broken body means a broken connection: it is not reused.
                self.conn = None;
                let failures = &self.pool.body_failures;
                failures.counter.inc();
                tracing::warn!(site = %failures.site, %error, "upstream response body broke off");
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // A consumer that saw the end (by length) may drop the body without polling
        // again; only then is the connection free.
        self.release_if_done();
    }
}

fn tls_config(
    upstream: &Upstream,
    system_roots: &rustls::RootCertStore,
) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = system_roots.clone();
    if let Some(path) = &upstream.ca_file {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| ClientError::CaFile {
            path: shown.clone(),
            source,
        })?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            if roots.add(cert).is_ok() {
                added += 1;
            }
        }
        if added == 0 {
            return Err(ClientError::NoCertificate(shown));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| ClientError::NoCertificate("(no TLS versions)".into()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: http::Method, body: Body) -> Request<Body> {
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = http::Uri::from_static("/a?b");
        req.headers_mut()
            .insert(http::header::HOST, http::HeaderValue::from_static("x"));
        req
    }

    #[test]
    fn only_idempotent_requests_without_a_body_are_kept_for_a_second_send() {
        let copy = replay_copy(&request(http::Method::GET, crate::net::reply::empty())).unwrap();
        assert_eq!(copy.method(), http::Method::GET);
        assert_eq!(copy.uri(), "/a?b");
        assert_eq!(copy.headers().get(http::header::HOST).unwrap(), "x");
        for method in [http::Method::HEAD, http::Method::PUT, http::Method::DELETE] {
            assert!(replay_copy(&request(method, crate::net::reply::empty())).is_some());
        }
        assert!(replay_copy(&request(http::Method::POST, crate::net::reply::empty())).is_none());
        assert!(replay_copy(&request(http::Method::PATCH, crate::net::reply::empty())).is_none());
        let with_body = request(http::Method::PUT, crate::net::reply::full("data"));
        assert!(replay_copy(&with_body).is_none());
    }
}
