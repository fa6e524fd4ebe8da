//! Reading records back: the admin listener's `GET /records` (JSON pages) and the
//! `consentry records` command (JSON lines or CSV), oldest first.

use serde::Serialize;

use super::record::{CSV_HEADER, Record, parse_time};
use super::store::{self, Query, StoreError};
use crate::config::records::StoreUrl;

/// Records per admin page by default, and at most.
pub const PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

/// A bad request to `/records`.
#[derive(Debug)]
pub enum ReadError {
    BadRequest(String),
    Store(StoreError),
}

#[derive(Serialize)]
struct Page<'a> {
    records: Vec<&'a Record>,
    next: Option<String>,
}

/// Answers `GET /records?consent_id=ID&since=RFC3339&cursor=C&limit=N` with
/// `{"records": [...], "next": CURSOR|null}`.
pub async fn admin_page(url: &StoreUrl, query_string: Option<&str>) -> Result<String, ReadError> {
    let mut query = Query {
        limit: PAGE,
        ..Query::default()
    };
    for (key, value) in url_pairs(query_string.unwrap_or_default()) {
        match key.as_str() {
            "consent_id" => query.consent_id = Some(value),
            "since" => {
                query.since_ms = Some(parse_time(&value).ok_or_else(|| {
                    ReadError::BadRequest(format!("`since` is not an RFC 3339 time: {value}"))
                })?)
            }
            "cursor" => {
                query.after = Some(value.parse().map_err(|_| {
                    ReadError::BadRequest(format!("`cursor` is not a cursor from `next`: {value}"))
                })?)
            }
            "limit" => {
                query.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ReadError::BadRequest(format!("`limit` is a number from 1 to {MAX_PAGE}"))
                    })?
            }
            other => {
                return Err(ReadError::BadRequest(format!(
                    "unknown parameter `{other}` (consent_id, since, cursor, limit)"
                )));
            }
        }
    }
    let rows = store::query(url, &query).await.map_err(ReadError::Store)?;
    let next = (rows.len() == query.limit)
        .then(|| rows.last().map(|(seq, _)| seq.to_string()))
        .flatten();
    let page = Page {
        records: rows.iter().map(|(_, r)| r).collect(),
        next,
    };
    Ok(serde_json::to_string(&page).unwrap_or_default())
}

/// How `consentry records` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Jsonl,
    Csv,
}

/// Prints every matching record to `out`, a page at a time; with `with_policy`,
/// each JSON line also carries `policy_text`, the text its `policy_sha256` names.
pub async fn print_all(
    url: &StoreUrl,
    consent_id: Option<String>,
    since_ms: Option<i64>,
    format: Output,
    with_policy: bool,
    out: &mut dyn std::io::Write,
) -> Result<usize, StoreError> {
    let io = |e: std::io::Error| StoreError(format!("cannot write the output: {e}"));
    let mut query = Query {
        consent_id,
        since_ms,
        after: None,
        limit: MAX_PAGE,
    };
    if format == Output::Csv {
        writeln!(out, "{CSV_HEADER}").map_err(io)?;
    }
    let mut policies: std::collections::HashMap<String, Option<String>> = Default::default();
    let mut count = 0;
    loop {
        let rows = store::query(url, &query).await?;
        for (_, record) in &rows {
            match format {
                Output::Csv => writeln!(out, "{}", record.csv()).map_err(io)?,
                Output::Jsonl if with_policy => {
                    let text = match &record.policy_sha256 {
                        Some(sha) => {
                            if !policies.contains_key(sha) {
                                let text = store::policy_text(url, sha).await?;
                                policies.insert(sha.clone(), text);
                            }
                            policies[sha].clone()
                        }
                        None => None,
                    };
                    let mut value = serde_json::to_value(record).unwrap_or_default();
                    if let Some(object) = value.as_object_mut() {
                        object.insert("policy_text".into(), text.into());
                    }
                    writeln!(out, "{value}").map_err(io)?;
                }
                Output::Jsonl => {
                    writeln!(out, "{}", serde_json::to_string(record).unwrap_or_default())
                        .map_err(io)?
                }
            }
        }
        count += rows.len();
        match rows.last() {
            Some((seq, _)) if rows.len() == query.limit => query.after = Some(*seq),
            _ => return Ok(count),
        }
    }
}

/// `application/x-www-form-urlencoded` pairs of a query string.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}
