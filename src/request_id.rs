//! `X-Request-Id`: kept when the client (or an edge in front) sent a usable one,
//! otherwise made here; sent upstream, returned to the client and logged.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: the incoming one if it is 1–128 visible ASCII characters.
pub fn of(headers: &HeaderMap) -> HeaderValue {
    if let Some(incoming) = headers.get(HEADER) {
        let bytes = incoming.as_bytes();
        if !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic()) {
            return incoming.clone();
        }
    }
    fresh()
}

/// A new id: a per-process random prefix and a counter, 32 hex digits.
fn fresh() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        h.finish()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Hex by hand: `format!` here cost more than the rest of the request's id work.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    for (i, digit) in id.iter_mut().enumerate() {
        let word = if i < 16 { prefix } else { n };
        let shift = 60 - 4 * (i % 16);
        *digit = HEX[((word >> shift) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_usable_incoming_id_and_replaces_others() {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("abc-123"));
        assert_eq!(of(&h), "abc-123");
        h.insert(HEADER, HeaderValue::from_static("has space"));
        assert_ne!(of(&h), "has space");
        let a = of(&HeaderMap::new());
        let b = of(&HeaderMap::new());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn fresh_ids_are_a_process_prefix_and_a_counter_in_lower_hex() {
        let a = fresh();
        let b = fresh();
        let hex = |v: &HeaderValue| u128::from_str_radix(v.to_str().unwrap(), 16).unwrap();
        assert!(
            a.as_bytes()
                .iter()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_eq!(a.as_bytes()[..16], b.as_bytes()[..16]);
        assert!(hex(&b) > hex(&a));
    }
}
