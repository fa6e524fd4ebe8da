//! The floor under consentry's request path: a reverse proxy built from the same
//! parts (tokio's current-thread runtime, hyper's HTTP/1 server and its
//! `client::conn::http1`), doing nothing but passing requests and responses through
//! unchanged. No routing, consent, header rewriting, logging or metrics.
//!
//! `bench/load.sh` loads it next to nginx and consentry (`target: bare`), so that a
//! run shows how much of consentry's cost per request is hyper and tokio, and how
//! much is consentry's own work.
//!
//!     cargo run --release --example bare_hyper_proxy -- 127.0.0.1:8081 127.0.0.1:8001
//!
//! Each client connection gets its own upstream connection, made on its first
//! request and kept for the next ones: with keep-alive clients that is the steady
//! state of a pool, without a pool's bookkeeping.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;

use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_hyper_proxy LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().map_err(std::io::Error::other)?;
    let upstream: SocketAddr = upstream.parse().map_err(std::io::Error::other)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(listen).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::task::spawn_local(serve(stream, upstream));
        }
    })
}

/// Serves one client connection, forwarding over one upstream connection.
async fn serve(stream: TcpStream, upstream: SocketAddr) {
    let sender: Rc<RefCell<Option<SendRequest<Incoming>>>> = Rc::default();
    let service = service_fn(move |req: Request<Incoming>| {
        let sender = sender.clone();
        async move { Ok::<_, Infallible>(forward(req, upstream, &sender).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn forward(
    req: Request<Incoming>,
    upstream: SocketAddr,
    sender: &RefCell<Option<SendRequest<Incoming>>>,
) -> Response<Body> {
    let mut current = sender.borrow_mut().take();
    if current.as_ref().is_none_or(|s| !s.is_ready()) {
        current = connect(upstream).await;
    }
    let Some(mut send) = current else {
        return bad_gateway();
    };
    let (mut parts, body) = req.into_parts();
    if let Some(target) = parts.uri.path_and_query() {
        parts.uri = Uri::from(target.clone());
    }
    let result = send.send_request(Request::from_parts(parts, body)).await;
    *sender.borrow_mut() = Some(send);
    match result {
        Ok(response) => response.map(BodyExt::boxed_unsync),
        Err(_) => bad_gateway(),
    }
}

async fn connect(upstream: SocketAddr) -> Option<SendRequest<Incoming>> {
    let stream = TcpStream::connect(upstream).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::task::spawn_local(connection);
    Some(send)
}

fn bad_gateway() -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(b"bad gateway\n"))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}
