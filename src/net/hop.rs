//! Hop-by-hop headers (RFC 9110 §7.6.1) and the forwarding headers a proxy adds.
//!
//! A hop-by-hop header describes one connection, so it must not be forwarded: the
//! fixed list below plus every header named in `Connection`. `Upgrade` and
//! `Connection: upgrade` survive only on an upgrade exchange, where the proxy must
//! pass them on for the upgrade to happen at all.

use http::HeaderMap;
use http::header::{
    CONNECTION, CONTENT_LENGTH, HeaderName, HeaderValue, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION,
    TE, TRAILER, TRANSFER_ENCODING, UPGRADE, VIA,
};

use crate::net::field_list;

static HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    // Connection-specific by definition (RFC 7540 §3.2.1), named in `Connection`
    // or not: it only ever goes with an `h2c` upgrade, which is not passed on.
    HeaderName::from_static("http2-settings"),
];

/// Where `name` stands in [`HOP_BY_HOP`]; `UPGRADE_INDEX` for `Upgrade`.
fn hop_index(name: &HeaderName) -> Option<usize> {
    // A match on the (already lower-case) name compiles to a length switch and one
    // comparison, where comparing against each entry costs nine.
    Some(match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "proxy-authenticate" => 3,
        "proxy-authorization" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "http2-settings" => 8,
        "upgrade" => UPGRADE_INDEX,
        _ => return None,
    })
}
const UPGRADE_INDEX: usize = HOP_BY_HOP.len();
/// `Connection` is first in [`HOP_BY_HOP`].
const CONNECTION_INDEX: usize = 0;
const TRANSFER_ENCODING_INDEX: usize = 7;

/// Removes hop-by-hop headers. With `keep_upgrade`, `Upgrade` and a
/// `Connection: upgrade` are put back after the clean-up.
///
/// Returns whether `Transfer-Encoding` named a coding besides `chunked` (RFC 9112
/// §6.1): hyper takes the framing off and leaves such a body in that coding, which
/// would reach the other side mislabelled once the header is gone.
#[must_use]
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) -> bool {
    // One pass over the names finds which are present (most messages carry none, or
    // only `Connection`), so that only those are hashed and removed.
    let mut present = [false; HOP_BY_HOP.len() + 1];
    for name in headers.keys() {
        if let Some(i) = hop_index(name) {
            present[i] = true;
        }
    }
    let has_upgrade = present[UPGRADE_INDEX];
    if !has_upgrade && !present.contains(&true) {
        return false;
    }
    // A message with both is framed by Transfer-Encoding, and a proxy must drop the
    // Content-Length before forwarding it (RFC 9112 §6.3).
    if present[TRANSFER_ENCODING_INDEX] {
        headers.remove(CONTENT_LENGTH);
    }
    // Chunked applied twice (which a sender must not do) is as foreign: one layer
    // would be taken off and the other passed on as if it were the body.
    let foreign_coding = present[TRANSFER_ENCODING_INDEX] && {
        let mut chunked = 0;
        let mut other = false;
        for coding in field_list::items(headers.get_all(TRANSFER_ENCODING)) {
            if coding.eq_ignore_ascii_case(b"chunked") {
                chunked += 1;
            } else {
                other = true;
            }
        }
        other || chunked > 1
    };
    // Headers the `Connection` field names; `keep-alive` and `close`, what nearly
    // every `Connection` says, name none.
    let mut named: Vec<HeaderName> = Vec::new();
    if present[CONNECTION_INDEX] {
        for token in connection_tokens(headers) {
            if token.eq_ignore_ascii_case(b"close") || token.eq_ignore_ascii_case(b"keep-alive") {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token) {
                if hop_index(&name).is_none() {
                    named.push(name);
                }
            }
        }
    }
    let upgrade = if keep_upgrade && has_upgrade {
        passed_on_upgrade(headers)
    } else {
        None
    };
    for name in named {
        headers.remove(name);
    }
    for (name, _) in HOP_BY_HOP.iter().zip(present).filter(|(_, here)| *here) {
        headers.remove(name);
    }
    if has_upgrade {
        headers.remove(UPGRADE);
    }
    if let Some(protocol) = upgrade {
        headers.insert(UPGRADE, protocol);
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
    foreign_coding
}

/// Whether the message asks to switch protocols (`Connection: upgrade` + `Upgrade`)
/// to one this proxy passes on: any but `h2c`.
///
/// An `h2c` upgrade (RFC 7540 §3.2, removed in RFC 9113) would hand the client a
/// raw HTTP/2 connection to the upstream, its requests and responses past every
/// check of this proxy; it is not passed on, and the request goes as a plain one.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && connection_tokens(headers).any(|token| token.eq_ignore_ascii_case(b"upgrade"))
        && field_list::items(headers.get_all(UPGRADE)).any(|protocol| !is_h2c(protocol))
}

/// Whether an `Upgrade` item names HTTP/2 over cleartext.
fn is_h2c(protocol: &[u8]) -> bool {
    protocol_name(protocol).eq_ignore_ascii_case(b"h2c")
}

/// A protocol's name, without its `/version` (RFC 9110 §7.8).
fn protocol_name(protocol: &[u8]) -> &[u8] {
    protocol.split(|b| *b == b'/').next().unwrap_or(protocol)
}

/// The `Upgrade` field a proxy passes on: the offered protocols but `h2c`.
fn passed_on_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let offered: Vec<&[u8]> = field_list::items(headers.get_all(UPGRADE))
        .filter(|protocol| !is_h2c(protocol))
        .collect();
    if offered.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(&offered.join(&b", "[..])).ok()
}

/// Whether a `101` switches to a protocol the request offered (RFC 9110 §7.8: the
/// server names what it switches to, from what the client listed). `offered` is
/// the `Upgrade` field sent upstream.
pub fn switches_to_offered(response: &HeaderMap, offered: Option<&HeaderValue>) -> bool {
    let Some(offered) = offered else {
        return false;
    };
    let mut chosen = field_list::items(response.get_all(UPGRADE)).peekable();
    chosen.peek().is_some()
        && chosen.all(|protocol| {
            field_list::line_items(offered)
                .any(|listed| protocol_name(listed).eq_ignore_ascii_case(protocol_name(protocol)))
        })
}

/// The tokens of every `Connection` field.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    field_list::items(headers.get_all(CONNECTION))
}

/// What the proxy knows of the client connection, for the forwarding headers.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub addr: std::net::SocketAddr,
    pub tls: bool,
    /// The client's IP as written into `X-Forwarded-For`, rendered once per connection
    /// rather than once per request.
    ip: HeaderValue,
}

impl ClientInfo {
    pub fn new(addr: std::net::SocketAddr, tls: bool) -> Self {
        let ip = HeaderValue::from_str(&addr.ip().to_string())
            .unwrap_or(HeaderValue::from_static("unknown"));
        ClientInfo { addr, tls, ip }
    }
}

// Constants, so that each name is checked and built once, at compile time.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Sets `X-Forwarded-For` (appended to any earlier hops), `X-Forwarded-Proto`,
/// `X-Forwarded-Host` (the client's Host, port included) and `Via`.
pub fn add_forwarding(
    headers: &mut HeaderMap,
    client: &ClientInfo,
    host: Option<&HeaderValue>,
    version: http::Version,
) {
    // Every earlier line counts: a list may be split across several fields (RFC 9110
    // §5.3), and a hop left out is a hop lost.
    let mut earlier = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let chain = match earlier.next() {
        None => Some(client.ip.clone()),
        Some(first) => {
            let mut chain = Vec::with_capacity(first.len() + 2 + client.ip.len());
            chain.extend_from_slice(first.as_bytes());
            for more in earlier {
                chain.extend_from_slice(b", ");
                chain.extend_from_slice(more.as_bytes());
            }
            chain.extend_from_slice(b", ");
            chain.extend_from_slice(client.ip.as_bytes());
            HeaderValue::from_bytes(&chain).ok()
        }
    };
    if let Some(chain) = chain {
        headers.insert(X_FORWARDED_FOR, chain);
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if client.tls { "https" } else { "http" }),
    );
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST, host.clone());
    }
    append_via(headers, version);
}

/// Appends this hop to `Via` (RFC 9110 §7.6.3), keeping earlier hops.
pub fn append_via(headers: &mut HeaderMap, version: http::Version) {
    let hop = match version {
        http::Version::HTTP_10 => "1.0 consentry",
        http::Version::HTTP_2 => "2 consentry",
        http::Version::HTTP_3 => "3 consentry",
        _ => "1.1 consentry",
    };
    headers.append(VIA, HeaderValue::from_static(hop));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_name_switch_agrees_with_the_list() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_index(name), Some(i), "{name}");
        }
        assert_eq!(hop_index(&UPGRADE), Some(UPGRADE_INDEX));
        assert_eq!(hop_index(&CONNECTION), Some(CONNECTION_INDEX));
        assert_eq!(hop_index(&TRANSFER_ENCODING), Some(TRANSFER_ENCODING_INDEX));
        assert_eq!(hop_index(&VIA), None);
    }

    #[test]
    fn removes_all_hop_headers_case_insensitively() {
        let mut h = headers(&[
            ("Connection", "close, X-Custom"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Transfer-Encoding", "chunked"),
            ("Trailer", "x"),
            ("Upgrade", "websocket"),
            ("Proxy-Authorization", "Basic x"),
            ("Proxy-Authenticate", "Basic"),
            ("x-custom", "1"),
            ("x-kept", "1"),
        ]);
        assert!(!remove_hop_by_hop(&mut h, false));
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn tells_of_a_transfer_coding_besides_chunked() {
        for (lines, foreign) in [
            (&["chunked"][..], false),
            (&["Chunked"], false),
            (&["gzip, chunked"], true),
            (&["gzip", "chunked"], true),
            (&["identity"], true),
            (&["chunked, chunked"], true),
            (&["chunked", "chunked"], true),
        ] {
            let mut h = HeaderMap::new();
            for line in lines {
                h.append(TRANSFER_ENCODING, HeaderValue::from_static(line));
            }
            assert_eq!(remove_hop_by_hop(&mut h, false), foreign, "{lines:?}");
            assert!(h.is_empty());
        }
    }

    #[test]
    fn keeps_upgrade_on_an_upgrade_exchange() {
        let mut h = headers(&[
            ("connection", "Upgrade, keep-alive"),
            ("upgrade", "websocket"),
        ]);
        assert!(is_upgrade(&h));
        assert!(!remove_hop_by_hop(&mut h, true));
        assert_eq!(h.get(UPGRADE).unwrap(), "websocket");
        assert_eq!(h.get(CONNECTION).unwrap(), "upgrade");
        assert!(!is_upgrade(&headers(&[("upgrade", "websocket")])));
    }

    /// A security audit: `Upgrade: h2c` was passed on, and an upstream that agreed
    /// gave the client a raw HTTP/2 connection past every check of the proxy.
    #[test]
    fn never_passes_on_an_h2c_upgrade() {
        let h2c = headers(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAAQCAAAAAAIAAAAA"),
        ]);
        assert!(!is_upgrade(&h2c));
        let mut plain = h2c.clone();
        assert!(!remove_hop_by_hop(&mut plain, false));
        for gone in ["upgrade", "connection", "http2-settings"] {
            assert!(plain.get(gone).is_none(), "{gone} forwarded");
        }
        // Not named in `Connection`: still connection-specific (a re-audit).
        let mut unnamed = headers(&[("upgrade", "h2c"), ("http2-settings", "AAMAAABk")]);
        assert!(!remove_hop_by_hop(&mut unnamed, false));
        assert!(unnamed.get("http2-settings").is_none());
        // Offered beside another protocol: that one goes on, h2c does not.
        let mut both = headers(&[("connection", "upgrade"), ("upgrade", "H2C, websocket")]);
        assert!(is_upgrade(&both));
        assert!(!remove_hop_by_hop(&mut both, true));
        assert_eq!(both.get(UPGRADE).unwrap(), "websocket");
    }

    #[test]
    fn a_101_must_switch_to_a_protocol_the_request_offered() {
        let offered = HeaderValue::from_static("websocket");
        let answer = |upgrade: &str| headers(&[("upgrade", upgrade)]);
        assert!(switches_to_offered(&answer("WebSocket"), Some(&offered)));
        assert!(!switches_to_offered(&answer("h2c"), Some(&offered)));
        assert!(!switches_to_offered(&headers(&[]), Some(&offered)));
        assert!(!switches_to_offered(&answer("websocket"), None));
        let versioned = HeaderValue::from_static("foo/2, websocket");
        assert!(switches_to_offered(&answer("foo/1"), Some(&versioned)));
    }

    #[test]
    fn appends_to_forwarded_for_and_sets_the_others() {
        let mut h = headers(&[("x-forwarded-for", "10.0.0.1"), ("via", "1.1 edge")]);
        let client = ClientInfo::new("192.0.2.7:5555".parse().unwrap(), true);
        let host = HeaderValue::from_static("data.longbeach.gov:8443");
        add_forwarding(&mut h, &client, Some(&host), http::Version::HTTP_11);
        assert_eq!(h.get("x-forwarded-for").unwrap(), "10.0.0.1, 192.0.2.7");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
        assert_eq!(
            h.get("x-forwarded-host").unwrap(),
            "data.longbeach.gov:8443"
        );
        let via: Vec<_> = h.get_all(VIA).iter().collect();
        assert_eq!(via, ["1.1 edge", "1.1 consentry"]);
    }
}
