//! Operating the proxy: the admin listener, Prometheus metrics, the audit of the
//! cookie names seen, consent records, access logging, request ids and giving freed
//! memory back.

pub mod access_line;
pub mod admin;
pub mod audit;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod records;
pub mod request_id;
