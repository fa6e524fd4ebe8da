//! One consent record, modelled on ISO/IEC TS 27560 (consent record information
//! structure): who decided (a consent ID, never a person's name), when, what was
//! granted and refused, under which policy text; and how records are written out
//! (JSON lines, CSV).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::cookies::category::{Categories, CategorySet};

/// The version of the record's fields (DESIGN.md "Consent records").
pub const SCHEMA_VERSION: u32 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A first choice, through consentry, granting more than the required categories.
    Given,
    /// A first choice, through consentry, granting only the required categories.
    Refused,
    /// A later choice through consentry with the same consent ID.
    Updated,
    /// A new consent state of a cookie seen on a request.
    Observed,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::Given => "given",
            Event::Refused => "refused",
            Event::Updated => "updated",
            Event::Observed => "observed",
        }
    }

    pub fn from_name(name: &str) -> Option<Event> {
        [
            Event::Given,
            Event::Refused,
            Event::Updated,
            Event::Observed,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }

    /// The event of a choice made through consentry: `updated` when the visitor's
    /// cookie already had consentry's ID, else `given` or `refused`.
    pub fn of_choice(had_id: bool, granted: CategorySet, required: CategorySet) -> Event {
        if had_id {
            Event::Updated
        } else if granted.is_subset(required) {
            Event::Refused
        } else {
            Event::Given
        }
    }
}

/// A consent record (JSON field names; CSV columns in this order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub record_id: String,
    pub schema_version: u32,
    /// RFC 3339, UTC, the server's clock.
    pub time: String,
    pub event: Event,
    /// `banner` or `endpoint` for consentry's own, else the cookie's format name.
    pub source: String,
    pub consent_id: String,
    pub site: String,
    pub granted: Vec<String>,
    pub refused: Vec<String>,
    pub revision: Option<u64>,
    /// The language of what consentry showed, or null when it showed nothing.
    pub language: Option<String>,
    /// SHA-256 of the policy text consentry showed, or null.
    pub policy_sha256: Option<String>,
    /// The page, without its query.
    pub path: String,
    /// Only with `records.client_info: true`: truncated to /24 or /48.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// The CSV header, in the order of [`Record`]'s fields.
pub const CSV_HEADER: &str = "record_id,schema_version,time,event,source,consent_id,site,granted,refused,revision,language,policy_sha256,path,client_ip,user_agent";

impl Record {
    /// The milliseconds since the epoch of [`Record::time`] (what the store sorts and
    /// expires by).
    pub fn time_ms(&self) -> i64 {
        parse_time(&self.time).unwrap_or(0)
    }

    /// One CSV line (RFC 4180), without its line end; lists joined by spaces.
    pub fn csv(&self) -> String {
        let revision = self.revision.map(|r| r.to_string()).unwrap_or_default();
        let fields: [String; 15] = [
            self.record_id.clone(),
            self.schema_version.to_string(),
            self.time.clone(),
            self.event.name().to_owned(),
            self.source.clone(),
            self.consent_id.clone(),
            self.site.clone(),
            self.granted.join(" "),
            self.refused.join(" "),
            revision,
            self.language.clone().unwrap_or_default(),
            self.policy_sha256.clone().unwrap_or_default(),
            self.path.clone(),
            self.client_ip.clone().unwrap_or_default(),
            self.user_agent.clone().unwrap_or_default(),
        ];
        let mut out = String::new();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // RFC 4180 quoting; outer spaces too, which some readers trim. Values
            // stay as they are (a consent ID may start with `-` or `=`): open the
            // file as text, not formulas, in a spreadsheet.
            if field.contains([',', '"', '\n', '\r'])
                || field.starts_with(' ')
                || field.ends_with(' ')
            {
                let _ = write!(out, "\"{}\"", field.replace('"', "\"\""));
            } else {
                out.push_str(field);
            }
        }
        out
    }
}

/// The categories of a set, by name, in configuration order.
pub fn names(categories: &Categories, set: CategorySet) -> Vec<String> {
    set.ids().map(|id| categories.name(id).to_owned()).collect()
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `ms` as RFC 3339 in UTC, to the millisecond (`2026-12-07T10:55:53.123Z`).
pub fn format_time(ms: i64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time.format(&format).unwrap_or_default()
}

/// RFC 3339 text as milliseconds since the epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    let time =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Record IDs are the crate's random IDs (consent IDs are too).
pub use crate::random_id;

/// An IP address truncated for records: IPv4 to its /24, IPv6 to its /48.
pub fn truncated_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => truncated_ip(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
                format!("{net}/48")
            }
        },
    }
}

/// A path without its query or fragment, bounded in length.
pub fn path_only(path_and_query: &str) -> String {
    let path = path_and_query.split(['?', '#']).next().unwrap_or("");
    let mut end = path.len().min(1024);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_to_the_millisecond() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        let ms = 1_796_640_953_123;
        assert_eq!(parse_time(&format_time(ms)), Some(ms));
        assert_eq!(
            parse_time("2026-12-07T11:55:53+01:00"),
            Some(1_796_640_953_000)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn truncates_addresses() {
        assert_eq!(
            truncated_ip("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            truncated_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348".parse().unwrap()),
            "2001:db8:85a3::/48"
        );
        assert_eq!(
            truncated_ip("::ffff:198.51.100.9".parse().unwrap()),
            "198.51.100.0/24"
        );
    }

    #[test]
    fn events_of_choices() {
        let required = CategorySet::EMPTY.with(crate::CategoryId(0));
        let more = required.with(crate::CategoryId(1));
        assert_eq!(Event::of_choice(false, required, required), Event::Refused);
        assert_eq!(Event::of_choice(false, more, required), Event::Given);
        assert_eq!(Event::of_choice(true, required, required), Event::Updated);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let record = Record {
            record_id: "r1".into(),
            schema_version: 1,
            time: format_time(0),
            event: Event::Observed,
            source: "onetrust".into(),
            consent_id: "-3ZcD==".into(),
            site: "a,b".into(),
            granted: vec!["necessary".into(), "statistics".into()],
            refused: vec![],
            revision: Some(2),
            language: None,
            policy_sha256: None,
            path: "/x\"y".into(),
            client_ip: None,
            user_agent: None,
        };
        assert_eq!(
            record.csv(),
            "r1,1,1970-01-01T00:00:00.000Z,observed,onetrust,-3ZcD==,\"a,b\",necessary statistics,,2,,,\"/x\"\"y\",,"
        );
        assert_eq!(CSV_HEADER.split(',').count(), 15);
    }

    #[test]
    fn paths_lose_their_query() {
        assert_eq!(path_only("/datasets?q=secret#x"), "/datasets");
    }
}
