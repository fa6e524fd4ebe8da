//! The request's cookies, read once: the `Cookie` fields split into items, and each
//! item's category under the site's rules. Reading consent, stripping revoked cookies
//! from the forwarded request, expiring them in the response and recording consent
//! all walk this one list.

use std::cell::OnceCell;

use http::HeaderMap;
use smallvec::SmallVec;

use crate::cookies::classify::{Classification, Classifier};
use crate::cookies::name::{CookieItem, ItemRanges, cookie_item_ranges};

/// The request's `Cookie` header fields, kept so they can be read after the request
/// headers are rewritten, and split into items once. HTTP/2 may split cookies over
/// several fields (RFC 9113 §8.2.3); they are read as one list.
#[derive(Debug, Clone, Default)]
pub struct RequestCookies {
    /// `None` without a `Cookie` field. Boxed: one allocation for a request with
    /// cookies (as the list of fields always took), and the request's future, which
    /// holds this across the upstream exchange, stays small.
    read: Option<Box<Read>>,
}

#[derive(Debug, Clone, Default)]
struct Read {
    /// One field in HTTP/1.1; HTTP/2 clients may send one per cookie.
    fields: SmallVec<[http::HeaderValue; 1]>,
    /// Where each item stands in its field. Inline for up to 16 cookies (a typical
    /// visitor carries 5 to 15).
    items: SmallVec<[ItemSpan; 16]>,
    /// The site classifier's verdict per item, computed on first use: stripping,
    /// expiring and recording ask about the same names. Keyed by the classifier's
    /// address, so that another classifier is never answered from this cache.
    classes: OnceCell<(usize, SmallVec<[Classification; 16]>)>,
}

/// A [`CookieItem`] as offsets into field `field` (u32: hyper refuses header
/// sections anywhere near 4 GiB).
#[derive(Debug, Clone, Copy)]
struct ItemSpan {
    field: u32,
    raw: (u32, u32),
    name: (u32, u32),
    value: (u32, u32),
}

impl ItemSpan {
    fn new(field: usize, ranges: ItemRanges) -> Self {
        let pair = |r: std::ops::Range<usize>| (r.start as u32, r.end as u32);
        ItemSpan {
            field: field as u32,
            raw: pair(ranges.raw),
            name: pair(ranges.name),
            value: pair(ranges.value),
        }
    }

    fn resolve<'a>(&self, fields: &'a [http::HeaderValue]) -> CookieItem<'a> {
        let bytes = fields
            .get(self.field as usize)
            .map_or(&b""[..], |f| f.as_bytes());
        let at =
            |(start, end): (u32, u32)| bytes.get(start as usize..end as usize).unwrap_or_default();
        CookieItem {
            raw: at(self.raw),
            name: at(self.name),
            value: at(self.value),
        }
    }
}

impl RequestCookies {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut fields = headers.get_all(http::header::COOKIE).iter().peekable();
        if fields.peek().is_none() {
            return RequestCookies::default();
        }
        let mut read = Box::<Read>::default();
        for (field, value) in fields.enumerate() {
            let spans = cookie_item_ranges(value.as_bytes()).map(|r| ItemSpan::new(field, r));
            read.items.extend(spans);
            read.fields.push(value.clone());
        }
        RequestCookies { read: Some(read) }
    }

    pub fn items(&self) -> impl Iterator<Item = CookieItem<'_>> {
        let (fields, items) = match &self.read {
            Some(read) => (&read.fields[..], &read.items[..]),
            None => (&[][..], &[][..]),
        };
        items.iter().map(|span| span.resolve(fields))
    }

    /// Each item with `classifier`'s verdict on its name, judged once per request.
    pub fn classified<'a>(
        &'a self,
        classifier: &'a Classifier,
    ) -> impl Iterator<Item = (CookieItem<'a>, Classification)> {
        let key = classifier as *const Classifier as usize;
        let cached = self.read.as_ref().map(|read| {
            read.classes.get_or_init(|| {
                let classes = self.items().map(|item| classifier.classify(item.name));
                (key, classes.collect())
            })
        });
        let cached = cached
            .filter(|(owner, _)| *owner == key)
            .map(|(_, c)| &c[..]);
        self.items().enumerate().map(move |(i, item)| {
            let class = match cached.and_then(|c| c.get(i)) {
                Some(class) => *class,
                None => classifier.classify(item.name),
            };
            (item, class)
        })
    }

    /// Whether the request carried no `Cookie` field at all.
    pub fn is_empty(&self) -> bool {
        self.read.is_none()
    }

    /// How many `Cookie` fields the request carried.
    pub fn field_count(&self) -> usize {
        self.read.as_ref().map_or(0, |read| read.fields.len())
    }
}
