//! Everything that rewrites documents, streamed in constant memory: the policy link,
//! the banner and the guard script injected ([`inject`], which also owns the content
//! codings), and tracker elements of refused categories made inert ([`tracker_scan`]
//! finds the elements that may hold one, [`trackers`] rewrites them with lol_html).

mod byte_masks;
pub mod inject;
pub mod tracker_scan;
pub mod trackers;
