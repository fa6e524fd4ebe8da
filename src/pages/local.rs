//! Requests consentry answers itself: the generated policy page, the banner's script
//! and style under `/.consentry/`, and the consent endpoint the banner's form posts
//! to when JavaScript is off.

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION, ORIGIN, REFERER, SET_COOKIE, VARY,
};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};

use crate::config::Site;
use crate::consent::Consent;
use crate::cookies::category::{Categories, CategorySet};
use crate::net::reply;
use crate::pages::languages;
use crate::pages::policy::{self, Speak};
use crate::{Body, BoxError, RESERVED_PREFIX};

const BANNER_JS: &str = include_str!("../../assets/banner.js");
const BANNER_CSS: &str = include_str!("../../assets/banner.css");

/// The largest consent form accepted.
const MAX_FORM_BYTES: usize = 8 * 1024;

/// How many directories of the return path get a stray copy expired: the deepest
/// ones, where a page's script stores it; a bound on the response's header lines.
const MAX_EXPIRED_DIRS: usize = 8;

/// A choice made through consentry (its banner's script or the consent form), as
/// the endpoint decided it: what `ops::records` records before the endpoint answers.
#[derive(Debug, Clone)]
pub struct Choice {
    pub consent_id: String,
    /// The visitor's cookie already carried consentry's ID: an `updated` choice.
    pub had_id: bool,
    /// Required categories included, `Sec-GPC` refusals excluded: what the cookie says.
    pub granted: CategorySet,
    pub revision: Option<u64>,
    /// The page the choice was made on (the form's return path), without its query.
    pub path: String,
    /// `banner` (its script posted) or `endpoint` (the form itself).
    pub source: &'static str,
    /// The cookie value written, as the browser sends it back.
    pub cookie_value: String,
    /// The site language the form was shown in (its `lang` field; the default when
    /// absent or not one of the site's), an index into `policy.languages`.
    pub language: usize,
}

/// A request for something consentry serves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    PolicyPage,
    Asset(&'static str, &'static str),
    /// `guard.js?v=…&g=…`: the site's guard script.
    Guard,
    ConsentForm,
    /// Anything else under the reserved prefix.
    NotFound,
}

/// Whether consentry answers this request itself.
pub fn route<B>(req: &Request<B>, site: &Site) -> Option<Local> {
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix(RESERVED_PREFIX) {
        return Some(match rest {
            "banner.js" => Local::Asset(BANNER_JS, "text/javascript; charset=utf-8"),
            "banner.css" => Local::Asset(BANNER_CSS, "text/css; charset=utf-8"),
            "consent" => Local::ConsentForm,
            "guard.js" => Local::Guard,
            _ => Local::NotFound,
        });
    }
    (site.policy.serve && path == site.policy.path).then_some(Local::PolicyPage)
}

/// Answers a local request; a choice made at the consent endpoint is left in
/// `chosen`, for the caller to record.
#[allow(clippy::too_many_arguments)]
pub async fn respond<B>(
    what: Local,
    req: Request<B>,
    site: &Site,
    categories: &Categories,
    consent: &Consent,
    tls: bool,
    report: &mut crate::cookies::enforce::Report,
    chosen: &mut Option<Choice>,
) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let head = req.method() == Method::HEAD;
    match what {
        Local::NotFound => {
            let speak = visitor_language(&req, site);
            say(speak, StatusCode::NOT_FOUND, "not-found")
        }
        Local::Asset(text, content_type) => {
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                return reply::method_not_allowed("GET, HEAD");
            }
            let mut response = static_response(text.as_bytes(), content_type, head);
            response.headers_mut().insert(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            response
        }
        Local::Guard => {
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                return reply::method_not_allowed("GET, HEAD");
            }
            let guard = &site.trackers.guard;
            let mut response = static_response(&guard.body, "text/javascript; charset=utf-8", head);
            // The URL names the rules (`v`) and the granted categories (`g`): a copy
            // for this URL never changes. An old `v` (the configuration was reloaded)
            // still gets the current rules, but no cache may keep them under it.
            let current = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == format!("v={}", guard.version)));
            let cache = if current {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
            response
        }
        Local::PolicyPage => {
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                return reply::method_not_allowed("GET, HEAD");
            }
            let speak = visitor_language(&req, site);
            let html = policy::policy_page(
                site,
                categories,
                consent.granted(),
                consent.refused_by_gpc(),
                speak,
            );
            let mut response = static_response(html.as_bytes(), "text/html; charset=utf-8", head);
            let headers = response.headers_mut();
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
            headers.insert(http::header::LINK, site.policy.link_header.clone());
            spoken(&mut response, speak);
            response
        }
        Local::ConsentForm => {
            let refused_by_gpc = consent.refused_by_gpc();
            record_choice(req, site, categories, refused_by_gpc, tls, report, chosen).await
        }
    }
}

/// The language of a page consentry answers itself (DESIGN.md, "Languages"):
/// `?lang=`, then the `django_language` cookie, then `Accept-Language`, then the
/// site's default; what cannot be read is skipped.
fn visitor_language<'a, B>(req: &Request<B>, site: &'a Site) -> Speak<'a> {
    let query = languages::query_lang(req.uri().query());
    let cookie = languages::cookie_lang(req.headers());
    let accept = req
        .headers()
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let (index, _) = site
        .policy
        .languages
        .for_visitor(query.as_deref(), cookie.as_deref(), accept);
    Speak::at(&site.policy.languages, index)
}

/// Marks a response as written in `speak`'s language, chosen from the request's
/// `Accept-Language` and `Cookie` (the query is in the URL already).
fn spoken(response: &mut Response<Body>, speak: Speak) {
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&speak.language.tag) {
        headers.insert(http::header::CONTENT_LANGUAGE, tag);
    }
    headers.insert(VARY, HeaderValue::from_static("Accept-Language, Cookie"));
}

/// A plain-text answer in the visitor's language.
fn say(speak: Speak, status: StatusCode, id: &str) -> Response<Body> {
    let mut response = reply::text(status, &speak.language.texts.get(id));
    spoken(&mut response, speak);
    response
}

fn static_response(bytes: &[u8], content_type: &'static str, head: bool) -> Response<Body> {
    let length = bytes.len();
    let body = if head {
        reply::empty()
    } else {
        reply::full(Bytes::copy_from_slice(bytes))
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// `POST /.consentry/consent`: records the visitor's choice in the preferences cookie
/// and sends them back (303) to the page they came from, on this site only.
async fn record_choice<B>(
    req: Request<B>,
    site: &Site,
    categories: &Categories,
    refused_by_gpc: CategorySet,
    tls: bool,
    report: &mut crate::cookies::enforce::Report,
    chosen: &mut Option<Choice>,
) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if req.method() != Method::POST {
        return reply::method_not_allowed("POST");
    }
    let speak = visitor_language(&req, site);
    let source = &site.consent.sources[0];
    if !source.format.writable() {
        // Another banner records consent here; a value of ours beside its own would
        // read as two copies, no choice at all, until it expired.
        return say(speak, StatusCode::NOT_FOUND, "endpoint-other-banner");
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
        .or_else(|| {
            req.uri()
                .authority()
                .map(|a| a.as_str().to_ascii_lowercase())
        });
    let Some(host) = host else {
        return say(speak, StatusCode::BAD_REQUEST, "endpoint-no-host");
    };
    // Cross-site posts could force a choice on a visitor: only this site may post here.
    // Over TLS that means an https page: a plain-http page of the same host is another
    // origin (RFC 6454 §4). Over plain HTTP either scheme passes, since a TLS
    // terminator in front of the proxy makes its pages https.
    let same_origin = |uri: &Uri| {
        let scheme_ok = !tls || uri.scheme_str() == Some("https");
        scheme_ok
            && uri
                .authority()
                .is_some_and(|a| a.as_str().eq_ignore_ascii_case(&host))
    };
    let referer = req
        .headers()
        .get(REFERER)
        .and_then(|v| v.to_str().ok()?.parse::<Uri>().ok());
    let same_site = match (req.headers().get(ORIGIN), &referer) {
        (Some(origin), _) => origin
            .to_str()
            .ok()
            .and_then(|o| o.parse::<Uri>().ok())
            .is_some_and(|o| same_origin(&o)),
        (None, Some(referer)) => same_origin(referer),
        (None, None) => false,
    };
    if !same_site {
        return say(speak, StatusCode::FORBIDDEN, "endpoint-cross-site");
    }
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return say(
            speak,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "endpoint-form-type",
        );
    }
    let cookies = crate::consent::RequestCookies::from_headers(req.headers());
    let body = match Limited::new(req.into_body(), MAX_FORM_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return say(speak, StatusCode::PAYLOAD_TOO_LARGE, "endpoint-too-large");
        }
    };
    let form = parse_form(&body);
    // A browser sends the button that submitted the form (for implicit submission,
    // the first); a script's `form.submit()` sends none, which saves the ticked boxes.
    // An unknown choice records nothing, rather than a refusal nobody chose.
    let choice = form
        .iter()
        .find(|(k, _)| k == "choice")
        .map(|(_, v)| v.as_str());
    let granted = match choice {
        Some("accept_all") => categories.all(),
        Some("refuse_all") => categories.required(),
        None | Some("save") => form
            .iter()
            .filter(|(k, _)| k == "category")
            .filter_map(|(_, v)| categories.id(v))
            .fold(categories.required(), CategorySet::with),
        _ => {
            return say(speak, StatusCode::BAD_REQUEST, "endpoint-no-choice");
        }
    };
    // The form showed these refused, whatever the button: "Accept all" accepts what
    // was offered. (The banner script records the same.)
    let granted = granted.without(refused_by_gpc);
    // The consent ID: kept from the visitor's one copy of consentry's cookie, else new.
    let mut copies = cookies
        .items()
        .filter(|item| item.name == source.cookie.as_bytes());
    let kept = match (copies.next(), copies.next()) {
        (Some(only), None) if source.format.has_own_id(only.value) => {
            Some(source.format.consent_id(only.value))
        }
        _ => None,
    };
    let had_id = kept.is_some();
    let consent_id = kept.unwrap_or_else(crate::random_id);
    let revision = site
        .consent
        .revision
        .filter(|_| source.format.records_revision());
    let value = source
        .format
        .write_with_id(granted, &source.vocab, revision, Some(&consent_id));
    // Encoded as the banner script encodes it, so a JSON value starts `%7B` and every
    // reader takes it as percent-encoded.
    let encoded = crate::consent::format::encode_uri_component(&value);
    let cookie = cookie::Cookie::build((source.cookie.as_str(), encoded.as_str()))
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(site.consent.max_age).unwrap_or(i64::MAX),
        ))
        .path("/")
        .same_site(cookie::SameSite::Lax)
        .secure(tls)
        .build()
        .to_string();
    let return_to = form
        .iter()
        .find(|(k, _)| k == "return")
        .map(|(_, v)| v.as_str())
        .filter(|p| is_local_path(p))
        .map(str::to_owned)
        .or_else(|| {
            referer
                .as_ref()
                .and_then(|r| r.path_and_query())
                .map(|pq| pq.as_str().to_owned())
        })
        .filter(|p| is_local_path(p))
        .unwrap_or_else(|| "/".to_owned());
    let via_banner = form.iter().any(|(k, v)| k == "via" && v == "banner");
    let language = form
        .iter()
        .find(|(k, _)| k == "lang")
        .and_then(|(_, tag)| site.policy.languages.match_tag(tag))
        .unwrap_or(0);
    *chosen = Some(Choice {
        consent_id,
        had_id,
        granted: granted.union(categories.required()),
        revision,
        path: return_to.split(['?', '#']).next().unwrap_or("/").to_owned(),
        source: if via_banner { "banner" } else { "endpoint" },
        cookie_value: encoded.clone(),
        language,
    });
    let mut response = Response::new(reply::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&return_to) {
        headers.insert(LOCATION, location);
    } else {
        headers.insert(LOCATION, HeaderValue::from_static("/"));
    }
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        headers.insert(SET_COOKIE, cookie);
    }
    // Two copies (a site script's, stored without `Path=` under a page's directory,
    // besides ours) read as no choice at all, so the choice would never stick: expire
    // the other copy where a browser would have put it, under each directory of the
    // page the visitor chose on. Whether there is one cannot be seen from here: a
    // browser sends a cookie stored under `/explore/` with the page's requests, not
    // with this one. Expiring a cookie that is not there does nothing.
    // A `;` in a directory would end the `Path` attribute; such a copy cannot be named.
    let dirs = ancestor_dirs(&return_to).filter(|dir| !dir.contains(';'));
    for dir in dirs.take(MAX_EXPIRED_DIRS) {
        for path in [dir.to_owned(), format!("{dir}/")] {
            let expired = format!("{}=; Max-Age=0; Path={path}", source.cookie);
            if let Ok(expired) = HeaderValue::from_str(&expired) {
                headers.append(SET_COOKIE, expired);
            }
        }
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // What the visitor just refused goes at once, HttpOnly cookies included.
    if site.consent.expire_revoked {
        // Into the exchange's report: logged and counted like the proxy's own.
        crate::cookies::enforce::expire_revoked(
            headers,
            &cookies,
            &site.classifier,
            granted,
            report,
        );
    }
    response
}

/// The directories above a local path's last segment, deepest first, `/` left out:
/// `/a/b/c?q` gives `/a/b`, `/a`.
fn ancestor_dirs(path_and_query: &str) -> impl Iterator<Item = &str> {
    let path = path_and_query.split(['?', '#']).next().unwrap_or("");
    path.char_indices()
        .rev()
        .filter(|&(at, c)| c == '/' && at > 0)
        .map(move |(at, _)| &path[..at])
}

/// A path on this site: starts with one `/`, not `//` or `/\` (which browsers read as
/// another host), no control characters.
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(|c| c.is_control())
}

/// `application/x-www-form-urlencoded` pairs.
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &[u8]| {
        let plus: Vec<u8> = s
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&plus)
            .decode_utf8_lossy()
            .into_owned()
    };
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (decode(&pair[..eq]), decode(&pair[eq + 1..])),
            None => (decode(pair), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_returned_to() {
        assert!(is_local_path("/datasets?q=1"));
        assert!(!is_local_path("//evil.example/"));
        assert!(!is_local_path("/\\evil.example/"));
        assert!(!is_local_path("https://evil.example/"));
        assert!(!is_local_path("/a\r\nSet-Cookie: x=1"));
    }

    #[test]
    fn parses_urlencoded_forms() {
        let form =
            parse_form(b"choice=save&category=statistics&category=first_party&return=%2Fa+b");
        assert_eq!(form[0], ("choice".into(), "save".into()));
        assert_eq!(form[2], ("category".into(), "first_party".into()));
        assert_eq!(form[3], ("return".into(), "/a b".into()));
    }
}
