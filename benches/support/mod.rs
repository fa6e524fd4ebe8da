//! What the page benches (`inject`, `trackers`) share: the consent of a visitor who
//! chose nothing yet, and one page through `inject::plan` + `inject::apply`, collected
//! on a current-thread runtime, as the proxy does for a response.

use bytes::Bytes;
use consentry::consent::RequestCookies;
use consentry::html::inject::{self, RequestFacts};
use consentry::{Config, Consent};
use http_body_util::BodyExt;

/// The first site's consent for a request with no cookie: required categories only.
pub fn undecided_visitor(config: &Config) -> Consent {
    Consent::read(
        &RequestCookies::default(),
        false,
        &config.sites[0].consent,
        &config.categories,
    )
}

/// Rewrites one HTML response of the first site; `parts` gets the rewritten head.
pub fn rewrite(
    rt: &tokio::runtime::Runtime,
    facts: &RequestFacts,
    config: &Config,
    consent: &Consent,
    parts: &mut http::response::Parts,
    body: consentry::Body,
) -> Bytes {
    let plan = inject::plan(
        facts,
        parts,
        &config.sites[0],
        &config.categories,
        "portal.test",
        consent,
    )
    .expect("an HTML page is rewritten");
    let body = inject::apply(plan, parts, body);
    rt.block_on(async { body.collect().await.expect("body").to_bytes() })
}
