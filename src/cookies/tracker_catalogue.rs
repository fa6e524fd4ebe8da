//! The built-in catalogue of trackers: what a tracker looks like in a page.
//!
//! Written by the project from public facts, mostly the vendors' own documentation of
//! the snippet a site pastes and of the hosts it loads from (Google's gtag.js and
//! Tag Manager install guides, Meta's pixel base code, Hotjar's and Clarity's
//! tracking code, Matomo's JavaScript tracking client, LinkedIn's Insight Tag,
//! TikTok's and X's pixel base code, Pinterest's tag, HubSpot's tracking code, and the
//! embed codes of YouTube, Vimeo and Google Maps). It is not copied from any licensed
//! block list.
//!
//! Each entry says, under consentry's default category names, which URLs load the
//! tracker (`host[/path]`, `*` a glob; a host also matches its subdomains), which
//! text marks its inline snippet, and which cookies it stores (shown on the policy
//! page). A deployment that names its categories otherwise maps them with
//! `trackers.catalogue_categories`; an entry whose category is not declared is
//! always blocked.

/// One tracker, as the catalogue describes it.
#[derive(Debug, Clone, Copy)]
pub struct TrackerEntry {
    pub provider: &'static str,
    /// `statistics` (audience measurement) or `third_party` (advertising, social,
    /// embeds), before `trackers.catalogue_categories` maps it.
    pub category: &'static str,
    /// URL patterns: `host[/path]`; the host matches itself and its subdomains; `*`
    /// in the host or the path is a glob; the query is never matched.
    pub urls: &'static [&'static str],
    /// Text an inline `<script>` of this tracker contains.
    pub inline: &'static [&'static str],
    /// The cookies it stores, for the policy page.
    pub cookies: &'static [&'static str],
}

const STAT: &str = "statistics";
const THIRD: &str = "third_party";

/// The entries, first match wins: the narrower patterns of a shared host (gtag.js on
/// Tag Manager's host) come before the host itself.
pub static TRACKERS: &[TrackerEntry] = &[
    TrackerEntry {
        provider: "Google Analytics",
        category: STAT,
        urls: &[
            "googletagmanager.com/gtag/*",
            "google-analytics.com",
            "analytics.google.com",
            "ssl.google-analytics.com",
        ],
        inline: &[
            "gtag('config'",
            "gtag(\"config\"",
            "gtag('js'",
            "gtag(\"js\"",
            "googletagmanager.com/gtag/js",
            "google-analytics.com/analytics.js",
            "google-analytics.com/ga.js",
            "ga('create'",
            "ga(\"create\"",
            "_gaq.push",
        ],
        cookies: &[
            "_ga", "_ga_*", "_gid", "_gat*", "__utma", "__utmb", "__utmz",
        ],
    },
    TrackerEntry {
        provider: "Google Tag Manager",
        category: STAT,
        urls: &["googletagmanager.com"],
        inline: &[
            "googletagmanager.com/gtm.js",
            "'gtm.start'",
            "\"gtm.start\"",
        ],
        cookies: &[],
    },
    TrackerEntry {
        provider: "Google Ads and DoubleClick",
        category: THIRD,
        urls: &[
            "doubleclick.net",
            "googlesyndication.com",
            "googleadservices.com",
            "adservice.google.com",
            "googletagservices.com",
        ],
        inline: &[
            "adsbygoogle",
            "googlesyndication.com/pagead",
            "googleadservices.com/pagead/conversion",
            "securepubads.g.doubleclick.net",
        ],
        cookies: &["IDE", "test_cookie", "_gcl_*", "__gads", "__gpi", "DSID"],
    },
    TrackerEntry {
        provider: "Meta Pixel",
        category: THIRD,
        urls: &[
            "connect.facebook.net",
            "facebook.com/tr*",
            "facebook.net/signals/*",
        ],
        inline: &[
            "fbq('init'",
            "fbq(\"init\"",
            "connect.facebook.net/en_US/fbevents.js",
            "fbevents.js",
        ],
        cookies: &["_fbp", "_fbc", "fr"],
    },
    TrackerEntry {
        provider: "Hotjar",
        category: STAT,
        urls: &["hotjar.com", "hotjar.io"],
        inline: &["(h,o,t,j,a,r)", "static.hotjar.com", "hotjar.com/c/hotjar-"],
        cookies: &[
            "_hjSessionUser_*",
            "_hjSession_*",
            "_hjid",
            "_hjFirstSeen",
            "_hjIncludedInSessionSample*",
            "_hjAbsoluteSessionInProgress",
        ],
    },
    TrackerEntry {
        provider: "Microsoft Clarity",
        category: STAT,
        urls: &["clarity.ms"],
        inline: &["(c,l,a,r,i,t,y)", "clarity.ms/tag/"],
        cookies: &["_clck", "_clsk", "CLID", "MUID"],
    },
    TrackerEntry {
        provider: "Matomo",
        category: STAT,
        urls: &[
            "matomo.cloud",
            "*/matomo.js",
            "*/*/matomo.js",
            "*/piwik.js",
            "*/*/piwik.js",
            "*/matomo.php",
            "*/*/matomo.php",
            "*/piwik.php",
            "*/*/piwik.php",
        ],
        inline: &["_paq.push", "window._paq", "_mtm.push"],
        cookies: &[
            "_pk_id.*",
            "_pk_ses.*",
            "_pk_ref.*",
            "_pk_cvar.*",
            "_pk_hsr.*",
            "mtm_consent*",
        ],
    },
    TrackerEntry {
        provider: "LinkedIn Insight Tag",
        category: THIRD,
        urls: &[
            "snap.licdn.com",
            "px.ads.linkedin.com",
            "dc.ads.linkedin.com",
        ],
        inline: &["_linkedin_partner_id", "snap.licdn.com/li.lms-analytics"],
        cookies: &[
            "li_sugr",
            "bcookie",
            "lidc",
            "UserMatchHistory",
            "AnalyticsSyncHistory",
            "li_fat_id",
        ],
    },
    TrackerEntry {
        provider: "TikTok Pixel",
        category: THIRD,
        urls: &["analytics.tiktok.com"],
        inline: &["ttq.load(", "analytics.tiktok.com/i18n/pixel"],
        cookies: &["_ttp", "_tt_enable_cookie"],
    },
    TrackerEntry {
        provider: "X (Twitter) Pixel and embeds",
        category: THIRD,
        urls: &[
            "static.ads-twitter.com",
            "analytics.twitter.com",
            "ads-twitter.com",
            "t.co/i/adsct*",
            "platform.twitter.com",
            "platform.x.com",
        ],
        inline: &[
            "twq('config'",
            "twq(\"config\"",
            "twq('init'",
            "static.ads-twitter.com/uwt.js",
        ],
        cookies: &["personalization_id", "muc_ads", "guest_id*"],
    },
    TrackerEntry {
        provider: "Pinterest Tag",
        category: THIRD,
        urls: &["s.pinimg.com/ct/*", "ct.pinterest.com"],
        inline: &[
            "pintrk('load'",
            "pintrk(\"load\"",
            "s.pinimg.com/ct/core.js",
        ],
        cookies: &["_pinterest_ct_ua", "_pin_unauth", "_epik"],
    },
    TrackerEntry {
        provider: "HubSpot",
        category: THIRD,
        urls: &[
            "js.hs-scripts.com",
            "js.hs-analytics.net",
            "js.hsadspixel.net",
            "js.hscollectedforms.net",
            "track.hubspot.com",
        ],
        inline: &["js.hs-scripts.com", "_hsq.push"],
        cookies: &["__hstc", "hubspotutk", "__hssc", "__hssrc"],
    },
    TrackerEntry {
        provider: "YouTube",
        category: THIRD,
        urls: &[
            "youtube.com/embed/*",
            "youtube.com/iframe_api*",
            "youtube.com/s/player/*",
            "youtube-nocookie.com",
        ],
        inline: &["youtube.com/iframe_api"],
        cookies: &["YSC", "VISITOR_INFO1_LIVE", "PREF"],
    },
    TrackerEntry {
        provider: "Vimeo",
        category: THIRD,
        urls: &["player.vimeo.com"],
        inline: &["player.vimeo.com/api/player.js"],
        cookies: &["vuid"],
    },
    TrackerEntry {
        provider: "Google Maps",
        category: THIRD,
        urls: &[
            "google.com/maps/*",
            "maps.google.com",
            "maps.googleapis.com",
        ],
        inline: &["maps.googleapis.com/maps/api/js"],
        cookies: &["NID"],
    },
];
