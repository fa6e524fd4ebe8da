//! # consentry
//!
//! A reverse proxy that enforces cookie consent on the wire. A cookie banner in the
//! browser cannot stop a cookie the server sets, and JavaScript cannot delete an
//! HttpOnly cookie; a proxy in front of the server can do both, for any backend,
//! without touching its code.
//!
//! ## How a request flows
//!
//! [`proxy`] holds the whole flow, top to bottom:
//! request → route (by Host) → consent (read the preferences cookie) → upstream
//! (forward, with the cookies the visitor refused stripped) → enforce (remove every
//! `Set-Cookie` that is not granted, expire revoked ones) → inject (a link to the
//! cookie policy in HTML pages, streaming).
//!
//! Each step calls a small pure module that is unit-tested without sockets:
//!
//! - [`config`]: `proxy.yaml` parsed, validated (errors as `FILE:LINE:COL`) and
//!   compiled once, so nothing is parsed per request;
//! - [`consent`]: the visitor's [`Consent`], fail-closed by construction, read by one
//!   of the cookie [`consent::Format`]s;
//! - [`classify`]: which category a cookie name belongs to (rules, first match wins);
//! - [`cookie_name`]: cookie names read the way browsers read them (RFC 6265 §5.2);
//! - [`enforce`]: `Set-Cookie` and `Cookie` header rewriting;
//! - [`hop`]: hop-by-hop and forwarding headers;
//! - [`target`]: dot-segments in the request path, resolved before routing.
//!
//! [`server`] owns sockets, TLS and connection lifetimes; [`upstream`] the pooled
//! client to the portals; [`demo`] a built-in sample portal for a first look.
//!
//! Design contract: `../shared/DESIGN.md`; user documentation: `README.md`, `docs/`.

#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod catalogue;
pub mod category;
pub mod classify;
pub mod config;
pub mod consent;
pub mod cookie_name;
pub mod demo;
pub mod enforce;
pub mod field_list;
pub mod hop;
pub mod inject;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod page;
pub mod proxy;
pub mod reply;
pub mod request_id;
pub mod server;
pub mod target;
pub mod tls;
pub mod upstream;

pub use category::{Categories, CategoryId, CategorySet};
pub use config::{Config, ConfigError, ConfigErrors};
pub use consent::Consent;
pub use proxy::Proxy;

/// Paths under this prefix are answered by consentry itself (banner assets, the
/// consent endpoint) and never reach an upstream.
pub const RESERVED_PREFIX: &str = "/.consentry/";

/// The boxed error type bodies carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response consentry sends and every request it forwards.
pub type Body = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, BoxError>;

/// A hash map for lookups on the request path (cookie names, category words). std's
/// SipHash cost more per request than the lookups around it; foldhash is seeded per
/// map, and every such map is either built from the configuration or bounded.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
