//! Hop-by-hop headers (RFC 9110 §7.6.1) and the forwarding headers a proxy adds.
//!
//! A hop-by-hop header describes one connection, so it must not be forwarded: the
//! fixed list below plus every header named in `Connection`. `Upgrade` and
//! `Connection: upgrade` survive only on an upgrade exchange, where the proxy must
//! pass them on for the upgrade to happen at all.

use http::HeaderMap;
use http::header::{CONNECTION, HeaderName, HeaderValue, UPGRADE, VIA};

static HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Removes hop-by-hop headers. With `keep_upgrade`, `Upgrade` and a
/// `Connection: upgrade` are put back after the clean-up.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none (or only `Connection`): one pass over the names is
    // cheaper than hashing nine absent ones.
    let present = headers
        .keys()
        .any(|name| name == UPGRADE || HOP_BY_HOP.iter().any(|hop| name == *hop));
    if !present {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let upgrade = if keep_upgrade {
        headers.get(UPGRADE).cloned()
    } else {
        None
    };
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(UPGRADE);
    if let Some(protocol) = upgrade {
        headers.insert(UPGRADE, protocol);
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Whether the message asks to switch protocols (`Connection: upgrade` + `Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// What the proxy knows of the client connection, for the forwarding headers.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    pub addr: std::net::SocketAddr,
    pub tls: bool,
}

/// Sets `X-Forwarded-For` (appended to any earlier hops), `X-Forwarded-Proto`,
/// `X-Forwarded-Host` (the client's Host, port included) and `Via`.
pub fn add_forwarding(
    headers: &mut HeaderMap,
    client: ClientInfo,
    host: Option<&HeaderValue>,
    version: http::Version,
) {
    let xff = HeaderName::from_static("x-forwarded-for");
    let client_ip = client.addr.ip().to_string();
    let chain = match headers.get(&xff).and_then(|v| v.to_str().ok()) {
        Some(earlier) if !earlier.trim().is_empty() => format!("{earlier}, {client_ip}"),
        _ => client_ip,
    };
    if let Ok(v) = HeaderValue::from_str(&chain) {
        headers.insert(xff, v);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if client.tls { "https" } else { "http" }),
    );
    if let Some(host) = host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
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
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn keeps_upgrade_on_an_upgrade_exchange() {
        let mut h = headers(&[
            ("connection", "Upgrade, keep-alive"),
            ("upgrade", "websocket"),
        ]);
        assert!(is_upgrade(&h));
        remove_hop_by_hop(&mut h, true);
        assert_eq!(h.get(UPGRADE).unwrap(), "websocket");
        assert_eq!(h.get(CONNECTION).unwrap(), "upgrade");
        assert!(!is_upgrade(&headers(&[("upgrade", "websocket")])));
    }

    #[test]
    fn appends_to_forwarded_for_and_sets_the_others() {
        let mut h = headers(&[("x-forwarded-for", "10.0.0.1"), ("via", "1.1 edge")]);
        let client = ClientInfo {
            addr: "192.0.2.7:5555".parse().unwrap(),
            tls: true,
        };
        let host = HeaderValue::from_static("data.longbeach.gov:8443");
        add_forwarding(&mut h, client, Some(&host), http::Version::HTTP_11);
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
