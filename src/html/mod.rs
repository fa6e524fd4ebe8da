//! Everything that rewrites documents: the policy link and banner injection,
//! content codings, streamed through lol_html in constant memory.

pub mod inject;
pub mod tracker_scan;
pub mod trackers;
