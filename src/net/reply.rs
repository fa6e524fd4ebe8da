//! Responses consentry writes itself: errors with a short body, and helpers to box
//! bodies into [`crate::Body`].

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};

use crate::Body;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A plain-text response: `STATUS REASON` then a sentence, never cached.
pub fn text(status: StatusCode, detail: &str) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("");
    let body = format!("{} {reason}\n{detail}\n", status.as_u16());
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `405 Method Not Allowed`, with the `Allow` field RFC 9110 §15.5.6 requires.
pub fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "This method is not allowed here.",
    );
    response
        .headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// [`text`] with `Connection: close`: the connection cannot serve another request
/// (HTTP/2 drops the field; hyper strips connection-specific fields there).
pub fn closing(status: StatusCode, detail: &str) -> Response<Body> {
    let mut response = text(status, detail);
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}
