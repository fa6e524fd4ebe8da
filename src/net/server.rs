//! Sockets and connection lifetimes: the public HTTP and HTTPS listeners, the admin
//! listener, limits and timeouts per connection, reload and graceful shutdown.
//!
//! Timeouts are kept here rather than left to hyper because hyper's HTTP/1 header
//! timer also runs while a keep-alive connection waits for its next request
//! (hyper#3395), which would make `idle` meaningless. A small watcher per connection
//! tracks, from the socket's own reads and the requests in flight:
//! - `header_read`: a request that started arriving (or a new connection) must have
//!   its headers complete by then, or the connection is cut (HTTP/1);
//! - `idle`: a connection with nothing in flight and no bytes for that long is closed
//!   gracefully (HTTP/1 and HTTP/2).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{self, Either};
use http::{Request, Response, StatusCode};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::{http1, http2};
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::BoxError;
use crate::config::{Config, Timeouts};
use crate::net::hop::ClientInfo;
use crate::net::{reply, tls};
use crate::ops::admin;
use crate::proxy::{Proxy, ResponseBody};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Client(#[from] crate::net::upstream::ClientError),
}

/// What every connection task shares.
struct Shared {
    proxy: Arc<Proxy>,
    tls: ArcSwapOption<TlsAcceptor>,
    connections: Arc<Semaphore>,
    tracker: TaskTracker,
    shutdown: watch::Receiver<bool>,
    config_path: Option<PathBuf>,
    ready: AtomicBool,
}

/// A running proxy: its bound addresses and the handle to stop it.
pub struct Running {
    pub http_addr: Option<SocketAddr>,
    pub https_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    pub proxy: Arc<Proxy>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish for up to `shutdown_grace`,
    /// then returns whether everything drained in time.
    pub async fn shutdown(self) -> bool {
        let grace = self.proxy.current().config.timeouts.shutdown_grace;
        let _ = self.stop.send(true);
        self.shared.tracker.close();
        let drained = tokio::time::timeout(grace, self.shared.tracker.wait())
            .await
            .is_ok();
        // Then the records still queued are written (a few seconds at most).
        self.proxy
            .records
            .shutdown(grace.min(std::time::Duration::from_secs(5)))
            .await;
        drained
    }

    /// Re-reads the configuration file (and certificates) and swaps them in; on any
    /// error the running configuration stays and the error is returned.
    pub fn reload(&self) -> Result<(), String> {
        reload(&self.shared)
    }
}

/// Binds every listener in `config` and starts serving.
pub async fn start(config: Config, config_path: Option<PathBuf>) -> Result<Running, StartError> {
    let tls_config = match config.listen_https {
        Some(_) => Some(tls::server_config(&config.certificates)?),
        None => None,
    };
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })
    };
    let http = match config.listen_http {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let https = match config.listen_https {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let admin = match config.admin {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let max_connections = config.limits.max_connections;
    let records = config.records.clone();
    let proxy = Arc::new(Proxy::new(config)?);
    // Opened in the background: a store that is down does not stop the proxy.
    proxy.records.apply(records.as_ref());
    let (stop, shutdown) = watch::channel(false);
    let shared = Arc::new(Shared {
        proxy: proxy.clone(),
        tls: ArcSwapOption::from(tls_config.map(|c| Arc::new(TlsAcceptor::from(c)))),
        connections: Arc::new(Semaphore::new(max_connections)),
        tracker: TaskTracker::new(),
        shutdown,
        config_path,
        ready: AtomicBool::new(false),
    });
    let local = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
    let running = Running {
        http_addr: local(&http),
        https_addr: local(&https),
        admin_addr: local(&admin),
        proxy,
        shared: shared.clone(),
        stop,
    };
    if let Some(listener) = http {
        tokio::spawn(accept_loop(listener, shared.clone(), false));
    }
    if let Some(listener) = https {
        tokio::spawn(accept_loop(listener, shared.clone(), true));
    }
    if let Some(listener) = admin {
        let shared = shared.clone();
        let ready = move || shared.ready.load(Ordering::Relaxed);
        tokio::spawn(admin::serve(
            listener,
            running.proxy.clone(),
            Arc::new(ready),
            running.shared.shutdown.clone(),
        ));
    }
    if let Some(path) = &running.shared.config_path {
        // Taken now, not when the task first runs, so an edit right after start counts.
        let seen = stamps(&running.shared, path);
        tokio::spawn(watch_config(shared.clone(), seen));
    }
    shared.ready.store(true, Ordering::Relaxed);
    let shown = |addr: Option<SocketAddr>| addr.map_or("-".to_owned(), |a| a.to_string());
    tracing::info!(
        http = %shown(running.http_addr),
        https = %shown(running.https_addr),
        admin = %shown(running.admin_addr),
        "consentry listening"
    );
    Ok(running)
}

/// Runs until SIGTERM or Ctrl-C, then drains.
pub async fn run(config: Config, config_path: Option<PathBuf>) -> Result<(), StartError> {
    let running = start(config, config_path).await?;
    wait_for_stop_signal().await;
    tracing::info!("stopping: no new connections; draining requests in flight");
    if running.shutdown().await {
        tracing::info!("drained; bye");
    } else {
        tracing::warn!("shutdown grace period ended with requests still in flight");
    }
    Ok(())
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn reload(shared: &Shared) -> Result<(), String> {
    let Some(path) = &shared.config_path else {
        return Err("no configuration file to reload".into());
    };
    let outcome = (|| {
        let config = Config::load(path).map_err(|e| e.to_string())?;
        let acceptor = match config.listen_https {
            Some(_) => Some(Arc::new(TlsAcceptor::from(
                tls::server_config(&config.certificates).map_err(|e| e.to_string())?,
            ))),
            None => None,
        };
        let running = shared.proxy.current().config.clone();
        if (
            running.listen_http,
            running.listen_https,
            running.admin,
            running.limits.max_connections,
        ) != (
            config.listen_http,
            config.listen_https,
            config.admin,
            config.limits.max_connections,
        ) {
            tracing::warn!(
                "listen addresses, admin.listen and limits.max_connections are read at start: restart to apply their change"
            );
        }
        shared.proxy.replace(config).map_err(|e| e.to_string())?;
        if acceptor.is_some() {
            shared.tls.store(acceptor);
        }
        Ok::<(), String>(())
    })();
    shared.proxy.metrics.reload(outcome.is_ok());
    match &outcome {
        Ok(()) => tracing::info!(path = %path.display(), "configuration reloaded"),
        Err(errors) => {
            // One event per line: the errors, one per line in `check`, joined here.
            let errors = errors.lines().collect::<Vec<_>>().join(" | ");
            tracing::error!(path = %path.display(), %errors, "reload failed; keeping the running configuration")
        }
    }
    outcome
}

/// [`reload`] on a thread of tokio's blocking pool: compiling a large configuration
/// takes seconds (10,000 sites: about 2 s, bench/scale.sh), and on the request
/// runtime's one thread it stalled every connection meanwhile (p99 1.5 s under load
/// for 1,000 sites). The running configuration serves until the new one is swapped in.
async fn reload_beside(shared: &Arc<Shared>) {
    let shared = shared.clone();
    let _ = tokio::task::spawn_blocking(move || reload(&shared)).await;
}

/// What the watcher compares: modification time and length. File times tick
/// coarsely (a few ms), so a rewrite within one tick changes only the length, and a
/// truncate-then-write seen half done must not hide the finished file.
type FileStamp = Option<(std::time::SystemTime, u64)>;

fn file_stamp(path: &std::path::Path) -> FileStamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The stamps of every file the running configuration was read from: the file
/// itself, then the TLS certificates and keys and the sites' upstream CA files, so
/// that renewing a certificate needs no SIGHUP.
fn stamps(shared: &Shared, config_path: &std::path::Path) -> Vec<FileStamp> {
    let config = shared.proxy.current().config.clone();
    let certificates = config
        .certificates
        .iter()
        .flat_map(|c| [c.cert.as_path(), c.key.as_path()]);
    let upstream_cas = config
        .sites
        .iter()
        .filter_map(|site| site.upstream.ca_file.as_deref());
    std::iter::once(config_path)
        .chain(certificates)
        .chain(upstream_cas)
        .map(file_stamp)
        .collect()
}

/// Reloads on SIGHUP, and when the modification time or length of the file or of
/// one it names (see [`stamps`]) changes.
async fn watch_config(shared: Arc<Shared>, mut last: Vec<FileStamp>) {
    let Some(path) = shared.config_path.clone() else {
        return;
    };
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut shutdown = shared.shutdown.clone();
    let mut poll = tokio::time::interval(Duration::from_secs(2));
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = signalled => {
                reload_beside(&shared).await;
                last = stamps(&shared, &path);
            }
            _ = poll.tick() => {
                let now = stamps(&shared, &path);
                // A missing configuration file is a move in progress, not a change.
                if now.first().is_some_and(Option::is_some) && now != last {
                    reload_beside(&shared).await;
                    // Again: the new configuration may name other files.
                    last = stamps(&shared, &path);
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, https: bool) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared_for_task = shared.clone();
        shared.tracker.spawn(async move {
            let info = ClientInfo::new(addr, https);
            // Over the connection limit a new connection waits briefly, then gets a 503.
            let permit = match shared_for_task.connections.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => tokio::time::timeout(
                    OVERLOAD_WAIT,
                    shared_for_task.connections.clone().acquire_owned(),
                )
                .await
                .ok()
                .and_then(Result::ok),
            };
            serve_stream(stream, shared_for_task, info, permit).await;
        });
    }
}

/// How long a connection over `max_connections` waits for a slot before its 503.
const OVERLOAD_WAIT: Duration = Duration::from_secs(1);

async fn serve_stream(
    stream: TcpStream,
    shared: Arc<Shared>,
    info: ClientInfo,
    permit: Option<OwnedSemaphorePermit>,
) {
    let config = shared.proxy.current().config.clone();
    let activity = Arc::new(Activity::new());
    let io = Watched {
        inner: stream,
        activity: activity.clone(),
    };
    if info.tls {
        let Some(acceptor) = shared.tls.load_full() else {
            return;
        };
        // HTTP/2 has no header timeout of its own (hyper#2894): the handshake is bounded.
        // Boxed: the handshake's state would otherwise size every connection's task,
        // plain ones included, for as long as the connection lives.
        let handshake = before_serving(
            &shared,
            Box::pin(tokio::time::timeout(
                config.timeouts.header_read,
                acceptor.accept(io),
            )),
        )
        .await;
        let Some(handshake) = handshake else {
            return;
        };
        match handshake {
            Ok(Ok(tls)) => {
                let protocol = if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    Protocol::Http2
                } else {
                    Protocol::Http1
                };
                // Boxed, here and below: the task then holds the one connection type
                // this socket speaks, not room for the largest of them all (an idle
                // keep-alive connection cost 11.5 KB of task before, hyper's buffers
                // aside).
                Box::pin(serve_connection(
                    tls, shared, info, permit, activity, &config, protocol,
                ))
                .await
            }
            Ok(Err(e)) => tracing::debug!(client = %info.addr, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(client = %info.addr, "TLS handshake timed out"),
        }
    } else {
        // Bounded like the TLS handshake: the watcher only starts with the connection.
        let sniffed = before_serving(
            &shared,
            tokio::time::timeout(config.timeouts.header_read, sniff_protocol(&io.inner)),
        )
        .await;
        let Some(sniffed) = sniffed else {
            return;
        };
        match sniffed {
            Ok(Ok(Some(protocol))) => {
                Box::pin(serve_connection(
                    io, shared, info, permit, activity, &config, protocol,
                ))
                .await
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::debug!(client = %info.addr, error = %e, "connection failed before its first byte")
            }
            Err(_) => tracing::debug!(client = %info.addr, "nothing received in time; closing"),
        }
    }
}

/// Runs a step before a connection is served (TLS handshake, protocol sniffing), or
/// gives up on it at shutdown: such a connection has asked for nothing yet, so there
/// is nothing to drain, and it must not hold the shutdown up.
async fn before_serving<F: Future>(shared: &Shared, step: F) -> Option<F::Output> {
    let mut shutdown = shared.shutdown.clone();
    tokio::select! {
        output = step => Some(output),
        _ = shutdown.changed() => None,
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4): what a client speaking HTTP/2 with
/// prior knowledge sends before anything else.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a plain connection speaks, from its first bytes, which are peeked at
/// and left in the socket for hyper; `None` when the client closed without a byte.
///
/// Peeking, rather than reading and replaying the bytes, leaves nothing in front of
/// the socket for the rest of the connection.
async fn sniff_protocol(stream: &TcpStream) -> io::Result<Option<Protocol>> {
    let mut first = [0u8; H2_PREFACE.len()];
    loop {
        let n = stream.peek(&mut first).await?;
        if n == 0 {
            return Ok(None);
        }
        if first[..n] != H2_PREFACE[..n] {
            return Ok(Some(Protocol::Http1));
        }
        if n == H2_PREFACE.len() {
            return Ok(Some(Protocol::Http2));
        }
        // A preface cut short: the socket stays readable with the same bytes, so
        // peeking again at once would spin. Rare enough to poll for the rest.
        tokio::time::sleep(PREFACE_POLL).await;
    }
}

const PREFACE_POLL: Duration = Duration::from_millis(5);

/// What a client connection speaks: chosen by ALPN over TLS, by the first bytes on
/// the plain listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

async fn serve_connection<I>(
    io: I,
    shared: Arc<Shared>,
    info: ClientInfo,
    permit: Option<OwnedSemaphorePermit>,
    activity: Arc<Activity>,
    config: &Config,
    protocol: Protocol,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let overloaded = permit.is_none();
    let proxy = shared.proxy.clone();
    let service_activity = activity.clone();
    // Shared, not copied: each request's future holds one pointer to it.
    let client = Arc::new(info.clone());
    let service = service_fn(move |req: Request<Incoming>| {
        let guard = InFlight::start(service_activity.clone());
        // Combinators rather than an `async` block around the call: the block would
        // hold the request a second time beside the future it is moved into.
        let answering = if overloaded {
            Either::Left(future::ready(proxy.overloaded(&req)))
        } else {
            Either::Right(answer(proxy.clone(), req, client.clone()))
        };
        // Not boxed again: hyper takes any body type.
        answering.map(move |response| {
            Ok::<_, Infallible>(response.map(|body| Guarded {
                body,
                failed: None,
                _guard: guard,
            }))
        })
    });

    // The watcher runs beside the connection, so that between its ticks serving a
    // request polls nothing but the connection and one channel.
    let (stop_tx, stop_rx) = oneshot::channel();
    tokio::spawn(watch(
        activity.clone(),
        shared.shutdown.clone(),
        config.timeouts.clone(),
        // HTTP/2 frames between requests are not request headers.
        protocol == Protocol::Http1,
        stop_tx,
    ));
    // hyper's own connection types rather than hyper-util's auto one, which would put
    // a protocol switch and a replay buffer in front of every read.
    let limits = &config.limits;
    let ended = match protocol {
        Protocol::Http1 => {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(None)
                // hyper answers a head that outgrows its read buffer with a bare 431;
                // the bound sits above the configured limit, as for HTTP/2 below, so
                // the usual over-the-limit request gets the handler's own.
                .max_buf_size(library_header_bound(limits.max_request_header_bytes))
                .keep_alive(!overloaded);
            let connection = builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            drive(connection, |c| c.graceful_shutdown(), &activity, stop_rx).await
        }
        Protocol::Http2 => {
            let mut builder = http2::Builder::new(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                // h2 answers a header list over this with a bare 431 of its own (no
                // body, no X-Request-Id, no access line). It counts 32 bytes more per
                // field than `header_bytes` does, pseudo-fields too.
                .max_header_list_size(
                    u32::try_from(library_header_bound(limits.max_request_header_bytes))
                        .unwrap_or(u32::MAX),
                )
                .max_concurrent_streams(256);
            // Each stream's future boxed: hyper spawns a task per stream and moves
            // the future some ten times on the way; a pointer moves for less than the
            // future's 2-3 KB (bench/callgrind_h2.sh). HTTP/1.1 polls the future in
            // place, where boxing only added an allocation.
            let service = service_fn(move |req| Box::pin(service.call(req)));
            let connection = builder.serve_connection(TokioIo::new(io), service);
            // Boxed: HTTP/2's connection state is several times HTTP/1's, and would
            // otherwise size every connection's task.
            Box::pin(drive(
                connection,
                |c| c.graceful_shutdown(),
                &activity,
                stop_rx,
            ))
            .await
        }
    };
    match ended {
        Ended::Closed(Err(e)) if e.is_parse_too_large() => {
            shared.proxy.head_too_large_for_library();
        }
        Ended::Closed(Err(e)) => {
            tracing::debug!(client = %info.addr, error = %e, "connection ended with an error");
        }
        Ended::Closed(Ok(())) => {}
        Ended::SlowHeaders => {
            tracing::debug!(client = %info.addr, "request headers not received in time; closing");
        }
        Ended::Unanswered => {
            tracing::debug!(client = %info.addr, "graceful close not answered; closing");
        }
    }
    drop(permit);
}

/// The bound the HTTP libraries keep on a request head, above the configured
/// `max_request_header_bytes`: a head between the two gets consentry's own `431`
/// (body, `X-Request-Id`, access line); past this, the library's bare one. Twice the
/// limit plus 8 KiB covers HTTP/2's 32 bytes of accounting per field and HTTP/1.1's
/// request line, and still bounds what one connection may make the proxy buffer.
fn library_header_bound(limit: usize) -> usize {
    limit.saturating_mul(2).saturating_add(8192)
}

/// How [`drive`] ended.
enum Ended {
    Closed(Result<(), hyper::Error>),
    SlowHeaders,
    /// Asked to close gracefully, the peer neither finished nor answered.
    Unanswered,
}

/// How long a connection asked to close gracefully may stay open with nothing in
/// flight. HTTP/2 waits for the peer to acknowledge its GOAWAY's PING; a peer that
/// never does would otherwise hold its connection (and a `max_connections` slot, and
/// a shutdown) for ever.
const GOAWAY_LINGER: Duration = Duration::from_secs(1);

/// Serves a connection to its end, asking it to close as its watcher says.
async fn drive<C>(
    connection: C,
    graceful_shutdown: impl Fn(Pin<&mut C>),
    activity: &Activity,
    mut stop_rx: oneshot::Receiver<Stop>,
) -> Ended
where
    C: Future<Output = Result<(), hyper::Error>>,
{
    let mut connection = std::pin::pin!(connection);
    let mut listening = true;
    // Armed once a graceful close is asked; polled only then.
    let linger = tokio::time::sleep(GOAWAY_LINGER);
    let mut linger = std::pin::pin!(linger);
    let mut lingering = false;
    loop {
        tokio::select! {
            biased;
            result = connection.as_mut() => return Ended::Closed(result),
            stop = &mut stop_rx, if listening => {
                listening = false;
                match stop {
                    Ok(Stop::Now) => return Ended::SlowHeaders,
                    Ok(Stop::Graceful) => {
                        graceful_shutdown(connection.as_mut());
                        linger.as_mut().reset(tokio::time::Instant::now() + GOAWAY_LINGER);
                        lingering = true;
                    }
                    // The watcher is gone without a word: serve on unwatched.
                    Err(_) => {}
                }
            }
            () = linger.as_mut(), if lingering => {
                if activity.in_flight.load(Ordering::Relaxed) == 0 {
                    return Ended::Unanswered;
                }
                linger.as_mut().reset(tokio::time::Instant::now() + GOAWAY_LINGER);
            }
        }
    }
}

/// What the watcher asks of its connection.
enum Stop {
    /// Finish the request in flight, if any, then close (idle, or shutting down).
    Graceful,
    /// Close now (request headers too slow).
    Now,
}

/// Watches one connection until it ends: asks for a graceful close on shutdown or
/// when idle, and for an immediate one when request headers are too slow.
async fn watch(
    activity: Arc<Activity>,
    mut shutdown: watch::Receiver<bool>,
    timeouts: Timeouts,
    header_timer: bool,
    mut stop: oneshot::Sender<Stop>,
) {
    // A quarter of the shorter limit, so a connection is closed at most half a limit
    // late; at most 2.5 s, at least 1 ms (`interval` panics on zero). With the
    // default limits (header_read 10 s, idle 60 s) each idle connection wakes its
    // watcher every 2.5 s: 10,000 idle keep-alive connections took 7.5 % of a core
    // at the former 250 ms (bench/scale.sh).
    let period = (timeouts.header_read.min(timeouts.idle) / 4)
        .min(Duration::from_millis(2500))
        .max(Duration::from_millis(1));
    let mut tick = tokio::time::interval(period);
    let verdict = loop {
        tokio::select! {
            _ = stop.closed() => return,
            _ = shutdown.changed() => break Stop::Graceful,
            _ = tick.tick() => {
                match activity.verdict(timeouts.header_read, timeouts.idle, header_timer, period) {
                    Verdict::Fine => {}
                    Verdict::SlowHeaders => break Stop::Now,
                    Verdict::Idle => break Stop::Graceful,
                }
            }
        }
    };
    let _ = stop.send(verdict);
}

/// Calls the proxy, turning a panic in it into a 500 for this request only.
fn answer(
    proxy: Arc<Proxy>,
    req: Request<Incoming>,
    client: Arc<ClientInfo>,
) -> impl Future<Output = Response<ResponseBody>> {
    std::panic::AssertUnwindSafe(proxy.handle(req, client))
        .catch_unwind()
        .map(|outcome| {
            outcome.unwrap_or_else(|_| {
                tracing::error!("a request handler panicked; answered 500");
                reply::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The proxy failed on this request.",
                )
                .map(Into::into)
            })
        })
}

/// What the watcher knows of one connection.
struct Activity {
    origin: Instant,
    /// Requests whose response body has not finished.
    in_flight: AtomicUsize,
    /// Milliseconds since `origin` of the last byte read or response finished.
    last: AtomicU64,
    /// Milliseconds since `origin` at the watcher's last tick.
    clock: AtomicU64,
    /// When the bytes of a request not yet handed to the proxy started arriving (ms
    /// since `origin`, plus one; zero when none is pending).
    request_started: AtomicU64,
}

enum Verdict {
    Fine,
    SlowHeaders,
    Idle,
}

impl Activity {
    fn new() -> Self {
        Activity {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            clock: AtomicU64::new(0),
            // A new connection must send its first headers in time.
            request_started: AtomicU64::new(1),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// The time as of the watcher's last tick: what the request path stamps, so that
    /// it reads no clock. At most one tick behind [`Activity::now`].
    fn recent(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }

    fn read_bytes(&self) {
        // While a request is in flight the watcher looks at nothing else, and the end
        // of the request stamps `last`: no clock read per body chunk of an upload.
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return;
        }
        let now = self.recent();
        self.last.store(now, Ordering::Relaxed);
        let _ =
            self.request_started
                .compare_exchange(0, now + 1, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Called on each tick, `period` apart. `header_read` and `idle` are counted from
    /// stamps up to one tick old, so a limit is only judged passed once it has been
    /// by `period` more: a connection may be closed up to two ticks late, never early.
    /// `header_timer` is off for HTTP/2, whose frames between requests are not headers.
    fn verdict(
        &self,
        header_read: Duration,
        idle: Duration,
        header_timer: bool,
        period: Duration,
    ) -> Verdict {
        let now = self.now();
        self.clock.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Verdict::Fine;
        }
        let slack = period.as_millis() as u64;
        let header_read = header_read.as_millis() as u64 + slack;
        let idle = idle.as_millis() as u64 + slack;
        let started = self.request_started.load(Ordering::Relaxed);
        if header_timer && started != 0 && now.saturating_sub(started - 1) > header_read {
            return Verdict::SlowHeaders;
        }
        if (started == 0 || !header_timer)
            && now.saturating_sub(self.last.load(Ordering::Relaxed)) > idle
        {
            return Verdict::Idle;
        }
        Verdict::Fine
    }
}

/// Marks a request in flight until its response body is done (or dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.request_started.store(0, Ordering::Relaxed);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.0.recent();
        self.0.last.store(now, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in flight, and hands hyper a
/// body's failure a moment late ([`FAILURE_DELAY`]).
///
/// hyper drops what it has not yet written when a body fails: HTTP/1.1 its write
/// buffer, HTTP/2 the stream's queued DATA frames (the reset clears them). A failure
/// right behind the last bytes (a rewritten page's held end, the link with it)
/// would lose them. The wait lets them go out first; the failure then still cuts
/// the response short, so the client can tell.
struct Guarded {
    body: ResponseBody,
    failed: Option<(BoxError, Pin<Box<tokio::time::Sleep>>)>,
    _guard: InFlight,
}

/// How long a body's failure waits before it reaches hyper. HTTP/2 needs a turn of
/// the connection's task, which one yield of the stream's does not give (h2 clears
/// the queued frames in the same poll that resets the stream).
const FAILURE_DELAY: Duration = Duration::from_millis(100);

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.failed.is_none() {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Err(error))) => {
                    let wait = Box::pin(tokio::time::sleep(FAILURE_DELAY));
                    self.failed = Some((error, wait));
                }
                other => return other,
            }
        }
        let Some((_, wait)) = self.failed.as_mut() else {
            return Poll::Ready(None);
        };
        ready!(wait.as_mut().poll(cx));
        Poll::Ready(self.failed.take().map(|(error, _)| Err(error)))
    }
    fn is_end_stream(&self) -> bool {
        self.failed.is_none() && self.body.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, reporting reads to the connection's [`Activity`].
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_bytes();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
