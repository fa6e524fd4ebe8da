//! Operating the proxy: the admin listener, Prometheus metrics, the audit of the
//! cookie names seen, access logging and request ids.

pub mod admin;
pub mod audit;
pub mod logging;
pub mod metrics;
pub mod request_id;
