//! The pooled keep-alive client that carries requests to the portals.
//!
//! One client per site, built when the configuration is loaded: plain HTTP and HTTPS
//! share one connector (rustls, verifying against the system's roots plus the site's
//! `upstream_ca` when given). Upstream connections speak HTTP/1.1.

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::Body;
use crate::config::{Timeouts, Upstream};

/// The client type used for every upstream.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Body>;

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
}

/// Idle pooled connections are closed after this long: below the common upstream
/// keep-alive timeouts (nginx 75 s, Node 5 s is the odd one out and resets are
/// retried), so a reused connection is rarely one the upstream is closing
/// (hyper#3553).
const POOL_IDLE: Duration = Duration::from_secs(4);

/// Builds one client per site, in site order. The system roots are read once.
pub fn clients(config: &crate::Config) -> Result<Vec<UpstreamClient>, ClientError> {
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
        .map(|site| client(&site.upstream, &config.timeouts, &system))
        .collect()
}

/// Builds the client for one upstream.
pub fn client(
    upstream: &Upstream,
    timeouts: &Timeouts,
    system_roots: &rustls::RootCertStore,
) -> Result<UpstreamClient, ClientError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeouts.upstream_connect));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(upstream, system_roots)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .set_host(false)
        .build(connector))
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| ClientError::NoCertificate("(no TLS versions)".into()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
