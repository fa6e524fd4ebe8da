//! The network edge: listeners, TLS, connection lifetimes, the pooled upstream
//! client, hop-by-hop and forwarding headers, request targets and the short
//! replies sent when something fails.

pub mod field_list;
pub mod hop;
pub mod reply;
pub mod server;
pub mod target;
pub mod tls;
pub mod upstream;
