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
//! The source tree is one folder per layer, lowest first:
//!
//! - [`cookies`]: pure policy over cookie names: the categories, names read the
//!   way browsers read them (RFC 6265 §5.2), classification by rules and the
//!   built-in catalogue, and `Set-Cookie`/`Cookie` enforcement;
//! - [`consent`]: the visitor's [`Consent`], fail-closed by construction, read by
//!   one of the cookie [`consent::format`]s;
//! - [`config`]: `proxy.yaml` parsed, validated (errors as `FILE:LINE:COL`) and
//!   compiled once, so nothing is parsed per request;
//! - [`html`]: document rewriting (the injected link and banner), streamed;
//! - [`pages`]: what consentry answers itself (policy page, banner assets, consent
//!   endpoint);
//! - [`net`]: sockets, TLS, the upstream client, hop-by-hop headers, targets;
//! - [`ops`]: admin listener, metrics, audit, logging, request ids.
//!
//! [`proxy`] sits on top and calls them in the order of an exchange; [`demo`] is a
//! built-in sample portal for a first look.
//!
//! User documentation: `README.md` and `docs/` (the behaviour, every key, bad input).

// No `unsafe` but the four libc calls of `ops::memory` and the SSE2 and AVX2 byte
// compares of `html::byte_masks`, which allow it for themselves.
#![deny(unsafe_code)]

pub mod config;
pub mod consent;
pub mod cookies;
pub mod demo;
pub mod html;
pub mod net;
pub mod ops;
pub mod pages;
pub mod proxy;

pub use config::{Config, ConfigError, ConfigErrors};
pub use consent::Consent;
pub use cookies::category::{Categories, CategoryId, CategorySet};
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

/// 128 random bits in hex: consentry's consent IDs (its own cookie) and record IDs.
pub fn random_id() -> String {
    use aws_lc_rs::rand::SecureRandom;
    use std::fmt::Write;
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .is_err()
    {
        // No system randomness at all: time and a counter still make IDs unique
        // within this process, which is what a record ID needs (and a consent ID
        // too: the choice itself does not depend on it).
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes[..8].copy_from_slice(&now.to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
    }
    let mut out = String::with_capacity(32);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
