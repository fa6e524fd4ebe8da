//! `X-Request-Id`: kept when the client (or an edge in front) sent a usable one,
//! otherwise made here; sent upstream, returned to the client and logged.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
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
///
/// Ids are written 64 at a time into one buffer, and each request's id is a slice of
/// it: a header value needs its bytes on the heap, and one allocation per 64 requests
/// costs less than one (or two, once the value is cloned) per request.
fn fresh() -> HeaderValue {
    thread_local! {
        static BATCH: RefCell<(Bytes, usize)> = const { RefCell::new((Bytes::new(), 0)) };
    }
    BATCH.with(|batch| {
        let mut batch = batch.borrow_mut();
        let (ids, next) = &mut *batch;
        if *next >= ids.len() {
            *ids = write_batch();
            *next = 0;
        }
        let id = ids.slice(*next..*next + ID_LEN);
        *next += ID_LEN;
        HeaderValue::from_maybe_shared(id).unwrap_or(HeaderValue::from_static("-"))
    })
}

const ID_LEN: usize = 32;
const BATCH_IDS: u64 = 64;

/// The next [`BATCH_IDS`] ids, back to back: one process-wide counter range per batch.
fn write_batch() -> Bytes {
    // The prefix's 16 digits are made once.
    static PREFIX: OnceLock<[u8; 16]> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        hex16(h.finish())
    });
    let first = COUNTER.fetch_add(BATCH_IDS, Ordering::Relaxed);
    let mut ids = Vec::with_capacity(ID_LEN * BATCH_IDS as usize);
    for n in first..first + BATCH_IDS {
        ids.extend_from_slice(prefix);
        ids.extend_from_slice(&hex16(n));
    }
    Bytes::from(ids)
}

/// `n` as 16 lower-case hex digits, two per byte from a table (`format!` here cost
/// more than the rest of the request's id work).
fn hex16(n: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (pair, byte) in out.chunks_exact_mut(2).zip(n.to_be_bytes()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    out
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
        assert_eq!(&hex16(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert!(hex(&b) > hex(&a));
    }

    #[test]
    fn ids_stay_distinct_across_batches() {
        let ids: Vec<HeaderValue> = (0..3 * BATCH_IDS).map(|_| fresh()).collect();
        let distinct: std::collections::HashSet<&[u8]> =
            ids.iter().map(HeaderValue::as_bytes).collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(ids.iter().all(|id| id.len() == ID_LEN));
    }
}
