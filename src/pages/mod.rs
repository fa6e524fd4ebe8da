//! What consentry answers itself, under the site's policy path and the reserved
//! prefix: the policy page, the banner's assets and the consent endpoint.

pub mod guard;
pub mod languages;
pub mod local;
pub mod policy;
