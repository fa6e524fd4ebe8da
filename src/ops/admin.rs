//! The admin listener (`admin.listen`, never a public port): `/healthz`, `/readyz`,
//! `/metrics` (Prometheus text), `/cookies` (the cookie audit, JSON) and `/records`
//! (consent records, JSON pages).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Body;
use crate::net::reply;
use crate::proxy::Proxy;

/// Whether the listeners are bound and serving.
pub type ReadyCheck = Arc<dyn Fn() -> bool + Send + Sync>;

pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    ready: ReadyCheck,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => {
                    // EMFILE and friends: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let proxy = proxy.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let proxy = proxy.clone();
                let ready = ready.clone();
                async move { Ok::<_, Infallible>(route(&req, &proxy, &ready).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(req: &Request<Incoming>, proxy: &Proxy, ready: &ReadyCheck) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply::method_not_allowed("GET, HEAD");
    }
    match req.uri().path() {
        "/healthz" => reply::text(StatusCode::OK, "alive"),
        "/readyz" => {
            if !ready() {
                return reply::text(StatusCode::SERVICE_UNAVAILABLE, "listeners not bound yet");
            }
            // The records store is reported, not required: recording never holds
            // up a proxied request, so a store that is down does not make the
            // proxy unready.
            let records = match proxy.records.status() {
                None => String::new(),
                Some((store, Ok(()))) => format!("; consent records: {store} up"),
                Some((store, Err(e))) => {
                    format!(
                        "; consent records: {store} DOWN ({e}), records are dropped and counted"
                    )
                }
            };
            match reachable_upstreams(proxy).await {
                0 => reply::text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("no upstream is reachable{records}"),
                ),
                n => reply::text(
                    StatusCode::OK,
                    &format!("ready: configuration loaded, {n} upstream(s) reachable{records}"),
                ),
            }
        }
        "/metrics" => typed(
            proxy.metrics.encode(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        "/cookies" => typed(
            proxy.audit.to_json(&proxy.current().config),
            "application/json",
        ),
        "/records" => records(req, proxy).await,
        _ => reply::text(
            StatusCode::NOT_FOUND,
            "Try /healthz, /readyz, /metrics, /cookies or /records.",
        ),
    }
}

/// `GET /records?consent_id=ID`: consent records, a page at a time.
async fn records(req: &Request<Incoming>, proxy: &Proxy) -> Response<Body> {
    use crate::ops::records::read::{ReadError, admin_page};
    let Some(store) = proxy.records.store() else {
        return reply::text(
            StatusCode::NOT_FOUND,
            "Consent records are off: set `records` in the configuration.",
        );
    };
    match admin_page(&store, req.uri().query()).await {
        Ok(json) => typed(json, "application/json"),
        Err(ReadError::BadRequest(why)) => reply::text(StatusCode::BAD_REQUEST, &why),
        Err(ReadError::Store(e)) => reply::text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("The records store cannot be read: {e}"),
        ),
    }
}

fn typed(body: String, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(reply::full(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// How many distinct upstreams accept a TCP connection within a second.
async fn reachable_upstreams(proxy: &Proxy) -> usize {
    let loaded = proxy.current();
    let mut targets: Vec<String> = loaded
        .config
        .sites
        .iter()
        .map(|s| {
            let port = s.upstream.authority.port_u16().unwrap_or(
                if s.upstream.scheme == http::uri::Scheme::HTTPS {
                    443
                } else {
                    80
                },
            );
            format!(
                "{}:{port}",
                s.upstream
                    .authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
            )
        })
        .collect();
    targets.sort();
    targets.dedup();
    let checks = targets.into_iter().map(|target| async move {
        matches!(
            tokio::time::timeout(
                Duration::from_secs(1),
                tokio::net::TcpStream::connect(target)
            )
            .await,
            Ok(Ok(_))
        )
    });
    futures_util::future::join_all(checks)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count()
}
