//! Dot-segments in a request's path (RFC 3986 §5.2.4), resolved before routing.
//!
//! Browsers resolve `.` and `..` before they send a request; other clients may not.
//! Passed on as they came, an upstream that resolves them after the proxy's routing
//! could be led outside a site's path prefix (`/prefix/../secret`) or onto paths the
//! proxy answers itself. So, as nginx does, the proxy resolves them, and answers a
//! path that climbs above the root with `400`. A segment counts as a dot-segment
//! when it reads `.` or `..` once `%2E` is read as a dot and anything from a `;` on
//! is left out (`..;`, which Java servers resolve as `..`).

use http::Uri;
use http::uri::PathAndQuery;

/// A path that climbs above the root: `/../x`.
#[derive(Debug, PartialEq, Eq)]
pub struct AboveRoot;

/// The target with its path's dot-segments resolved; `None` when it has none (the
/// usual case, found without allocating).
pub fn resolve_dot_segments(target: &Uri) -> Result<Option<Uri>, AboveRoot> {
    let path = target.path();
    if !path.starts_with('/')
        || !path
            .split('/')
            .any(|segment| dot_segment(segment).is_some())
    {
        return Ok(None);
    }
    let resolved = resolve(path)?;
    let path_and_query = match target.query() {
        Some(query) => format!("{resolved}?{query}"),
        None => resolved,
    };
    let mut parts = target.clone().into_parts();
    parts.path_and_query = PathAndQuery::try_from(path_and_query).ok();
    Ok(Uri::from_parts(parts).ok())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dot {
    One,
    Two,
}

/// Whether a segment is `.` or `..`, percent-encoded dots and `;` parameters aside.
fn dot_segment(segment: &str) -> Option<Dot> {
    if !segment.starts_with(['.', '%']) {
        return None;
    }
    let name = segment.split(';').next().unwrap_or(segment);
    let mut rest = name.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        match rest {
            [b'.', tail @ ..] => rest = tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => rest = tail,
            _ => return None,
        }
        dots += 1;
    }
    match dots {
        1 => Some(Dot::One),
        2 => Some(Dot::Two),
        _ => None,
    }
}

/// RFC 3986 §5.2.4 over `/`-separated segments; a `..` at the root is an error.
fn resolve(path: &str) -> Result<String, AboveRoot> {
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut kept: Vec<&str> = Vec::with_capacity(segments.len());
    for (at, segment) in segments.into_iter().enumerate() {
        match dot_segment(segment) {
            None => kept.push(segment),
            Some(dot) => {
                if dot == Dot::Two && kept.pop().is_none() {
                    return Err(AboveRoot);
                }
                // A dot-segment at the end leaves the path on its directory.
                if at == last {
                    kept.push("");
                }
            }
        }
    }
    Ok(format!("/{}", kept.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(target: &str) -> Result<Option<String>, AboveRoot> {
        resolve_dot_segments(&target.parse().unwrap()).map(|u| u.map(|u| u.to_string()))
    }

    #[test]
    fn leaves_paths_without_dot_segments_alone() {
        for path in [
            "/",
            "/data.json",
            "/a/.well-known/x",
            "/a/...",
            "/a..b/c",
            "/%2e%2ex",
        ] {
            assert_eq!(resolved(path), Ok(None), "{path}");
        }
    }

    #[test]
    fn resolves_dot_segments_as_rfc_3986_does() {
        for (path, expected) in [
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/%2E%2e/b?q=/../x", "/b?q=/../x"),
            ("/a/..;jsessionid=1/b", "/b"),
            ("/x/../.consentry/consent", "/.consentry/consent"),
        ] {
            assert_eq!(resolved(path), Ok(Some(expected.to_owned())), "{path}");
        }
    }

    #[test]
    fn refuses_a_path_that_climbs_above_the_root() {
        for path in [
            "/..",
            "/../secret",
            "/a/../../secret",
            "/%2e%2e/secret",
            "/..;/x",
        ] {
            assert_eq!(resolved(path), Err(AboveRoot), "{path}");
        }
    }

    #[test]
    fn keeps_an_absolute_form_targets_authority() {
        assert_eq!(
            resolved("http://portal.test/a/../b?x=1"),
            Ok(Some("http://portal.test/b?x=1".to_owned()))
        );
    }
}
