//! Operating the proxy: the admin listener, Prometheus metrics, the audit of the
//! cookie names seen, consent records, access logging and request ids.

pub mod admin;
pub mod audit;
pub mod logging;
pub mod metrics;
pub mod records;
pub mod request_id;
