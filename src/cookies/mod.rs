//! Cookies as policy: the categories a deployment declares, cookie names read the
//! way browsers read them, the rules and built-in catalogue that file a name under a
//! category, and the `Set-Cookie`/`Cookie` rewriting that enforces consent. Pure
//! functions over configuration and headers: no I/O.

pub mod catalogue;
pub mod category;
pub mod classify;
pub mod enforce;
pub mod name;
pub mod request;
pub mod text;
pub mod tracker_catalogue;
pub mod trackers;
