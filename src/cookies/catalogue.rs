//! A built-in catalogue of well-known cookies, used by `unclassified: catalogue` to
//! classify names that no rule in `proxy.yaml` mentions. Rules always win: the
//! catalogue is consulted only after every rule has missed.
//!
//! Entries are written by the project from public facts about these cookies (the
//! platforms' own documentation of the names they set). Categories use consentry's
//! default names; an entry whose category a deployment does not declare is skipped.

use crate::cookies::category::{Categories, CategoryId};
use crate::cookies::classify::{NameMatcher, NamePattern};

/// One well-known cookie (or family of cookies, with `*`).
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub pattern: &'static str,
    pub platform: &'static str,
    /// `necessary`, `statistics`, `first_party` or `third_party`.
    pub category: &'static str,
}

const fn e(pattern: &'static str, platform: &'static str, category: &'static str) -> Entry {
    Entry {
        pattern,
        platform,
        category,
    }
}

const NEC: &str = "necessary";
const STAT: &str = "statistics";
const FIRST: &str = "first_party";
const THIRD: &str = "third_party";

/// The entries, first match wins (more specific names before broader globs).
pub static ENTRIES: &[Entry] = &[
    // Consent managers: they store the visitor's choice, so they are necessary.
    e("CookieConsent", "Cookiebot", NEC),
    e("CookieConsentBulkSetting-*", "Cookiebot", NEC),
    e("CookieConsentBulkTicket", "Cookiebot", NEC),
    e("OptanonConsent", "OneTrust", NEC),
    e("OptanonAlertBoxClosed", "OneTrust", NEC),
    e("euconsent-v2", "IAB TCF", NEC),
    e("euconsent", "IAB TCF", NEC),
    e("eupubconsent-v2", "IAB TCF", NEC),
    e("addtl_consent", "IAB TCF (Google Additional Consent)", NEC),
    e("usprivacy", "IAB CCPA", NEC),
    e("cc_cookie", "CookieConsent (orestbida)", NEC),
    e("cookieconsent_status", "Cookie Consent (Osano)", NEC),
    e("osano_consentmanager", "Osano", NEC),
    e("osano_consentmanager_uuid", "Osano", NEC),
    e("klaro", "Klaro", NEC),
    e("cookies_policy", "GOV.UK", NEC),
    e("cookie_consent", "Generic consent banner", NEC),
    e(
        "cookielawinfo-checkbox-*",
        "CookieYes (GDPR Cookie Consent)",
        NEC,
    ),
    e(
        "CookieLawInfoConsent",
        "CookieYes (GDPR Cookie Consent)",
        NEC,
    ),
    e(
        "viewed_cookie_policy",
        "CookieYes (GDPR Cookie Consent)",
        NEC,
    ),
    e("cookieyes-consent", "CookieYes", NEC),
    e("borlabs-cookie", "Borlabs Cookie", NEC),
    e("__cmpconsent*", "consentmanager.net", NEC),
    e("didomi_token", "Didomi", NEC),
    e("cmplz_*", "Complianz", NEC),
    e("_iub_cs-*", "iubenda", NEC),
    e("moove_gdpr_popup", "GDPR Cookie Compliance (Moove)", NEC),
    e("notice_behavior", "TrustArc", NEC),
    e("notice_gdpr_prefs", "TrustArc", NEC),
    e("notice_preferences", "TrustArc", NEC),
    e("cmapi_cookie_privacy", "TrustArc", NEC),
    e("cmapi_gtm_bl", "TrustArc", NEC),
    e("TAconsentID", "TrustArc", NEC),
    // Server-side sessions and CSRF tokens of common frameworks.
    e("JSESSIONID", "Java servlet session", NEC),
    e("PHPSESSID", "PHP session", NEC),
    e("ASP.NET_SessionId", "ASP.NET session", NEC),
    e("ASPSESSIONID*", "Classic ASP session", NEC),
    e(".AspNetCore.Session", "ASP.NET Core session", NEC),
    e(".AspNetCore.Cookies", "ASP.NET Core authentication", NEC),
    e(
        ".AspNetCore.Antiforgery.*",
        "ASP.NET Core anti-forgery",
        NEC,
    ),
    e("__RequestVerificationToken", "ASP.NET anti-forgery", NEC),
    e("CFID", "ColdFusion session", NEC),
    e("CFTOKEN", "ColdFusion session", NEC),
    e("connect.sid", "Express session", NEC),
    e("laravel_session", "Laravel session", NEC),
    e("XSRF-TOKEN", "CSRF token (Laravel, Angular, Wix)", NEC),
    e("csrftoken", "Django CSRF token", NEC),
    e("sessionid", "Django session", NEC),
    e("django_language", "Django language choice", NEC),
    e("messages", "Django messages (one-time notices)", NEC),
    e("_csrf", "CSRF token (csurf, Yii)", NEC),
    e("ci_session", "CodeIgniter session", NEC),
    e("rack.session", "Rack session", NEC),
    e("SESS*", "Drupal session", NEC),
    e("SSESS*", "Drupal secure session", NEC),
    // Load balancers, CDNs, WAFs and bot management.
    e("AWSALB", "AWS Elastic Load Balancing", NEC),
    e("AWSALBCORS", "AWS Elastic Load Balancing", NEC),
    e("AWSALBTG", "AWS Elastic Load Balancing", NEC),
    e("AWSALBTGCORS", "AWS Elastic Load Balancing", NEC),
    e("AWSELB", "AWS Elastic Load Balancing", NEC),
    e("AWSELBCORS", "AWS Elastic Load Balancing", NEC),
    e("aws-waf-token", "AWS WAF", NEC),
    e("ARRAffinity", "Azure App Service", NEC),
    e("ARRAffinitySameSite", "Azure App Service", NEC),
    e("BIGipServer*", "F5 BIG-IP", NEC),
    e("incap_ses_*", "Imperva Incapsula", NEC),
    e("visid_incap_*", "Imperva Incapsula", NEC),
    e("nlbi_*", "Imperva Incapsula", NEC),
    e("ak_bmsc", "Akamai Bot Manager", NEC),
    e("bm_sv", "Akamai Bot Manager", NEC),
    e("bm_sz", "Akamai Bot Manager", NEC),
    e("bm_mi", "Akamai Bot Manager", NEC),
    e("_abck", "Akamai Bot Manager", NEC),
    e("datadome", "DataDome", NEC),
    e("_px3", "HUMAN (PerimeterX)", NEC),
    e("_pxhd", "HUMAN (PerimeterX)", NEC),
    e("_pxvid", "HUMAN (PerimeterX)", NEC),
    e("pxcts", "HUMAN (PerimeterX)", NEC),
    e("_pxff_*", "HUMAN (PerimeterX)", NEC),
    e("sucuri_cloudproxy_uuid_*", "Sucuri", NEC),
    e("QueueITAccepted-*", "Queue-it", NEC),
    e("_vcrcs", "Vercel", NEC),
    e("_GRECAPTCHA", "Google reCAPTCHA", NEC),
    // Cloudflare
    e("__cf_bm", "Cloudflare", NEC),
    e("cf_clearance", "Cloudflare", NEC),
    e("__cflb", "Cloudflare", NEC),
    e("__cfruid", "Cloudflare", NEC),
    e("_cfuvid", "Cloudflare", NEC),
    e("cf_ob_info", "Cloudflare", NEC),
    e("cf_use_ob", "Cloudflare", NEC),
    e("__cfwaitingroom", "Cloudflare", NEC),
    e("__cfduid", "Cloudflare", NEC),
    e("cf_chl_*", "Cloudflare", NEC),
    e("__cfseq-*", "Cloudflare", NEC),
    e("CF_Authorization", "Cloudflare Access", NEC),
    e("CF_AppSession", "Cloudflare Access", NEC),
    // Stripe (fraud prevention)
    e("__stripe_mid", "Stripe", NEC),
    e("__stripe_sid", "Stripe", NEC),
    // Google Analytics
    e("_ga", "Google Analytics", STAT),
    e("_ga_*", "Google Analytics", STAT),
    e("_gid", "Google Analytics", STAT),
    e("_gat", "Google Analytics", STAT),
    e("_gat_*", "Google Analytics", STAT),
    e("_dc_gtm_*", "Google Analytics", STAT),
    e("AMP_TOKEN", "Google Analytics", STAT),
    e("__utma", "Google Analytics (ga.js)", STAT),
    e("__utmb", "Google Analytics (ga.js)", STAT),
    e("__utmc", "Google Analytics (ga.js)", STAT),
    e("__utmt", "Google Analytics (ga.js)", STAT),
    e("__utmt_*", "Google Analytics (ga.js)", STAT),
    e("__utmz", "Google Analytics (ga.js)", STAT),
    e("__utmv", "Google Analytics (ga.js)", STAT),
    e("__utmx", "Google Analytics Content Experiments", STAT),
    e("__utmxx", "Google Analytics Content Experiments", STAT),
    e("FPID", "Google Tag Manager (server-side)", STAT),
    e("FPLC", "Google Tag Manager (server-side)", STAT),
    e("FPGSID", "Google Tag Manager (server-side)", STAT),
    // Google Optimize (A/B testing)
    e("_gaexp", "Google Optimize", FIRST),
    e("_opt_expid", "Google Optimize", FIRST),
    e("_opt_utmc", "Google Optimize", FIRST),
    e("_opt_awcid", "Google Optimize", FIRST),
    e("_opt_awmid", "Google Optimize", FIRST),
    e("_opt_awgid", "Google Optimize", FIRST),
    e("_opt_awkid", "Google Optimize", FIRST),
    // Google Ads, DoubleClick, AdSense and Google accounts
    e("_gac_*", "Google Ads (Analytics link)", THIRD),
    e("_gcl_au", "Google Ads", THIRD),
    e("_gcl_aw", "Google Ads", THIRD),
    e("_gcl_dc", "Google Ads (DoubleClick)", THIRD),
    e("_gcl_gb", "Google Ads", THIRD),
    e("_gcl_gf", "Google Ads", THIRD),
    e("_gcl_ha", "Google Ads", THIRD),
    e("_gcl_*", "Google Ads", THIRD),
    e("FPAU", "Google Ads (server-side)", THIRD),
    e("FPGCLAW", "Google Ads (server-side)", THIRD),
    e("FPGCLDC", "Google Ads (server-side)", THIRD),
    e("FPGCLGB", "Google Ads (server-side)", THIRD),
    e("IDE", "Google DoubleClick", THIRD),
    e("DSID", "Google DoubleClick", THIRD),
    e("test_cookie", "Google DoubleClick", NEC),
    e("FLC", "Google DoubleClick", THIRD),
    e("RUL", "Google DoubleClick", THIRD),
    e("ACLK_DATA", "Google Ads", THIRD),
    e("__gads", "Google AdSense / Ad Manager", THIRD),
    e("__gpi", "Google AdSense / Ad Manager", THIRD),
    e("__eoi", "Google AdSense / Ad Manager", THIRD),
    e("__gsas", "Google AdSense", THIRD),
    e("NID", "Google", THIRD),
    e("ANID", "Google", THIRD),
    e("1P_JAR", "Google", THIRD),
    e("OTZ", "Google", THIRD),
    e("AEC", "Google", NEC),
    e("CONSENT", "Google", NEC),
    e("SOCS", "Google", NEC),
    e("APISID", "Google accounts", THIRD),
    e("SAPISID", "Google accounts", THIRD),
    e("SIDCC", "Google accounts", THIRD),
    e("__Secure-1P*", "Google accounts", THIRD),
    e("__Secure-3P*", "Google accounts", THIRD),
    e("__Secure-ENID", "Google", THIRD),
    // YouTube (embeds)
    e("YSC", "YouTube", THIRD),
    e("VISITOR_INFO1_LIVE", "YouTube", THIRD),
    e("VISITOR_PRIVACY_METADATA", "YouTube", THIRD),
    e("PREF", "YouTube", THIRD),
    e("LOGIN_INFO", "YouTube", THIRD),
    e("DEVICE_INFO", "YouTube", THIRD),
    e("__Secure-YEC", "YouTube", THIRD),
    e("__Secure-ROLLOUT_TOKEN", "YouTube", THIRD),
    e("yt-remote-*", "YouTube", THIRD),
    // Meta (Facebook, Instagram)
    e("_fbp", "Meta", THIRD),
    e("_fbc", "Meta", THIRD),
    e("fbm_*", "Meta (Facebook SDK)", THIRD),
    e("fbsr_*", "Meta (Facebook SDK)", THIRD),
    e("datr", "Meta", THIRD),
    e("c_user", "Meta", THIRD),
    e("ig_did", "Instagram", THIRD),
    e("ig_nrcb", "Instagram", THIRD),
    e("ds_user_id", "Instagram", THIRD),
    e("shbid", "Instagram", THIRD),
    e("shbts", "Instagram", THIRD),
    // Microsoft Clarity
    e("_clck", "Microsoft Clarity", STAT),
    e("_clsk", "Microsoft Clarity", STAT),
    e("CLID", "Microsoft Clarity", STAT),
    e("ANONCHK", "Microsoft Clarity", STAT),
    // Microsoft Advertising, Bing and Microsoft sites
    e("MUID", "Microsoft", THIRD),
    e("_uetsid", "Microsoft Advertising", THIRD),
    e("_uetvid", "Microsoft Advertising", THIRD),
    e("_uetmsclkid", "Microsoft Advertising", THIRD),
    e("MSPTC", "Microsoft Advertising", THIRD),
    e("_EDGE_S", "Microsoft Bing", THIRD),
    e("_EDGE_V", "Microsoft Bing", THIRD),
    e("SRCHD", "Microsoft Bing", THIRD),
    e("SRCHUID", "Microsoft Bing", THIRD),
    e("SRCHUSR", "Microsoft Bing", THIRD),
    e("MC1", "Microsoft", THIRD),
    e("MSFPC", "Microsoft", STAT),
    e("MSCC", "Microsoft", NEC),
    // Azure Application Insights
    e("ai_user", "Azure Application Insights", STAT),
    e("ai_session", "Azure Application Insights", STAT),
    e("ai_authUser", "Azure Application Insights", STAT),
    // Hotjar
    e("_hjOptOut", "Hotjar", NEC),
    e("_hjSessionUser_*", "Hotjar", STAT),
    e("_hjSession_*", "Hotjar", STAT),
    e("_hjid", "Hotjar", STAT),
    e("_hjFirstSeen", "Hotjar", STAT),
    e("_hjIncludedInSessionSample_*", "Hotjar", STAT),
    e("_hjIncludedInPageviewSample", "Hotjar", STAT),
    e("_hjAbsoluteSessionInProgress", "Hotjar", STAT),
    e("_hjTLDTest", "Hotjar", STAT),
    e("_hjLocalStorageTest", "Hotjar", STAT),
    e("_hjSessionStorageTest", "Hotjar", STAT),
    e("_hjCookieTest", "Hotjar", STAT),
    e("_hjUserAttributesHash", "Hotjar", STAT),
    e("_hjCachedUserAttributes", "Hotjar", STAT),
    e("_hjClosedSurveyInvites", "Hotjar", STAT),
    e("_hjDonePolls", "Hotjar", STAT),
    e("_hjMinimizedPolls", "Hotjar", STAT),
    e("_hjShownFeedbackMessage", "Hotjar", STAT),
    e("_hjSessionTooLarge", "Hotjar", STAT),
    e("_hjSessionRejected", "Hotjar", STAT),
    e("_hjSessionResumed", "Hotjar", STAT),
    e("_hjRecordingEnabled", "Hotjar", STAT),
    e("_hjRecordingLastActivity", "Hotjar", STAT),
    e("_hj*", "Hotjar", STAT),
    // Matomo and Piwik PRO
    e("mtm_consent", "Matomo", NEC),
    e("mtm_consent_removed", "Matomo", NEC),
    e("mtm_cookie_consent", "Matomo", NEC),
    e("MATOMO_SESSID", "Matomo", NEC),
    e("PIWIK_SESSID", "Matomo / Piwik PRO", NEC),
    e("piwik_auth", "Matomo / Piwik PRO", NEC),
    e("matomo_ignore", "Matomo", NEC),
    e("piwik_ignore", "Matomo", NEC),
    e("_pk_id.*", "Matomo / Piwik PRO", STAT),
    e("_pk_ses.*", "Matomo / Piwik PRO", STAT),
    e("_pk_ref.*", "Matomo / Piwik PRO", STAT),
    e("_pk_cvar", "Matomo / Piwik PRO", STAT),
    e("_pk_cvar.*", "Matomo / Piwik PRO", STAT),
    e("_pk_hsr.*", "Matomo / Piwik PRO", STAT),
    e("_pk_testcookie*", "Matomo / Piwik PRO", STAT),
    e("ppms_privacy_*", "Piwik PRO", NEC),
    e("stg_global_opt_out", "Piwik PRO", NEC),
    e("stg_traffic_source_priority", "Piwik PRO", STAT),
    e("stg_last_interaction", "Piwik PRO", STAT),
    e("stg_returning_visitor", "Piwik PRO", STAT),
    e("stg_externalReferrer", "Piwik PRO", STAT),
    e("stg_utm_campaign", "Piwik PRO", STAT),
    e("stg_pk_campaign", "Piwik PRO", STAT),
    e("stg_fired_*", "Piwik PRO", STAT),
    // HubSpot
    e("__hs_opt_out", "HubSpot", NEC),
    e("__hs_do_not_track", "HubSpot", NEC),
    e("__hs_initial_opt_in", "HubSpot", NEC),
    e("__hs_cookie_cat_pref", "HubSpot", NEC),
    e("__hs_gpc_banner_dismiss", "HubSpot", NEC),
    e("__hs_notify_banner_dismiss", "HubSpot", NEC),
    e("__hs_testcookie", "HubSpot", NEC),
    e("__hsmem", "HubSpot", NEC),
    e("hs-membership-csrf", "HubSpot", NEC),
    e("__hstc", "HubSpot", STAT),
    e("hubspotutk", "HubSpot", STAT),
    e("__hssc", "HubSpot", STAT),
    e("__hssrc", "HubSpot", STAT),
    e("hs_ab_test", "HubSpot", FIRST),
    e("hs_langswitcher_choice", "HubSpot", FIRST),
    e("messagesUtk", "HubSpot", FIRST),
    e("hs-messages-is-open", "HubSpot", FIRST),
    e("hs-messages-hide-welcome-message", "HubSpot", FIRST),
    // LinkedIn
    e("li_gc", "LinkedIn", NEC),
    e("li_mc", "LinkedIn", NEC),
    e("li_sugr", "LinkedIn", THIRD),
    e("bcookie", "LinkedIn", THIRD),
    e("bscookie", "LinkedIn", THIRD),
    e("lidc", "LinkedIn", THIRD),
    e("UserMatchHistory", "LinkedIn", THIRD),
    e("AnalyticsSyncHistory", "LinkedIn", THIRD),
    e("lms_ads", "LinkedIn", THIRD),
    e("lms_analytics", "LinkedIn", THIRD),
    e("li_fat_id", "LinkedIn", THIRD),
    e("li_giant", "LinkedIn", THIRD),
    e("_guid", "LinkedIn", THIRD),
    e("li_at", "LinkedIn", THIRD),
    e("liap", "LinkedIn", THIRD),
    e("li_rm", "LinkedIn", THIRD),
    e("ln_or", "LinkedIn", STAT),
    e("oribili_user_guid", "LinkedIn (Oribi)", STAT),
    // TikTok
    e("tt_csrf_token", "TikTok", NEC),
    e("_ttp", "TikTok", THIRD),
    e("_tt_enable_cookie", "TikTok", THIRD),
    e("ttcsid", "TikTok", THIRD),
    e("ttcsid_*", "TikTok", THIRD),
    e("ttwid", "TikTok", THIRD),
    e("tt_webid", "TikTok", THIRD),
    e("tt_webid_v2", "TikTok", THIRD),
    e("tt_chain_token", "TikTok", THIRD),
    e("msToken", "TikTok", THIRD),
    // Pinterest
    e("_pinterest_sess", "Pinterest", THIRD),
    e("_pin_unauth", "Pinterest", THIRD),
    e("_pinterest_ct_ua", "Pinterest", THIRD),
    e("_pinterest_ct_rt", "Pinterest", THIRD),
    e("_pinterest_ct", "Pinterest", THIRD),
    e("_epik", "Pinterest", THIRD),
    e("_derived_epik", "Pinterest", THIRD),
    e("_routing_id", "Pinterest", THIRD),
    // X (Twitter)
    e("ct0", "X (Twitter)", NEC),
    e("personalization_id", "X (Twitter)", THIRD),
    e("guest_id", "X (Twitter)", THIRD),
    e("guest_id_ads", "X (Twitter)", THIRD),
    e("guest_id_marketing", "X (Twitter)", THIRD),
    e("muc_ads", "X (Twitter)", THIRD),
    e("_twitter_sess", "X (Twitter)", THIRD),
    e("twid", "X (Twitter)", THIRD),
    e("kdt", "X (Twitter)", THIRD),
    e("_twclid", "X (Twitter)", THIRD),
    // Other social and advertising networks
    e("_rdt_uuid", "Reddit", THIRD),
    e("_scid", "Snapchat", THIRD),
    e("_scid_r", "Snapchat", THIRD),
    e("_sctr", "Snapchat", THIRD),
    e("sc_at", "Snapchat", THIRD),
    e("cto_bundle", "Criteo", THIRD),
    e("cto_bidid", "Criteo", THIRD),
    e("cto_*", "Criteo", THIRD),
    e("__qca", "Quantcast", THIRD),
    e("t_gid", "Taboola", THIRD),
    e("t_pt_gid", "Taboola", THIRD),
    e("taboola_session_id", "Taboola", THIRD),
    e("trc_cookie_storage", "Taboola", THIRD),
    e("obuid", "Outbrain", THIRD),
    e("outbrain_cid_fetch", "Outbrain", THIRD),
    e("_cc_id", "Lotame", THIRD),
    e("_cc_cc", "Lotame", THIRD),
    e("_cc_aud", "Lotame", THIRD),
    e("_cc_dc", "Lotame", THIRD),
    e("uuid2", "Xandr (AppNexus)", THIRD),
    e("anj", "Xandr (AppNexus)", THIRD),
    e("TDID", "The Trade Desk", THIRD),
    e("TDCPM", "The Trade Desk", THIRD),
    e("KADUSERCOOKIE", "PubMatic", THIRD),
    e("PugT", "PubMatic", THIRD),
    e("CMID", "Index Exchange", THIRD),
    e("CMPS", "Index Exchange", THIRD),
    e("CMPRO", "Index Exchange", THIRD),
    e("khaos", "Magnite (Rubicon)", THIRD),
    e("tuuid", "BidSwitch", THIRD),
    e("tuuid_lu", "BidSwitch", THIRD),
    e("_lr_env_src_ats", "LiveRamp", THIRD),
    e("_lr_retry_request", "LiveRamp", THIRD),
    e("ad-id", "Amazon Advertising", THIRD),
    e("ad-privacy", "Amazon Advertising", THIRD),
    e("__atuvc", "AddThis", THIRD),
    e("__atuvs", "AddThis", THIRD),
    e("__stid", "ShareThis", THIRD),
    e("__unam", "ShareThis", THIRD),
    e("__sharethis_cookie_test__", "ShareThis", THIRD),
    e("disqus_unique", "Disqus", THIRD),
    // Yandex Metrica
    e("_ym_uid", "Yandex Metrica", STAT),
    e("_ym_d", "Yandex Metrica", STAT),
    e("_ym_isad", "Yandex Metrica", STAT),
    e("_ym_visorc", "Yandex Metrica", STAT),
    e("_ym_*", "Yandex Metrica", STAT),
    e("yandexuid", "Yandex", THIRD),
    e("yuidss", "Yandex", THIRD),
    e("ymex", "Yandex", THIRD),
    e("yabs-sid", "Yandex", THIRD),
    // Adobe Analytics, Experience Cloud, Target and Audience Manager
    e("s_cc", "Adobe Analytics", STAT),
    e("s_sq", "Adobe Analytics", STAT),
    e("s_vi", "Adobe Analytics", STAT),
    e("s_fid", "Adobe Analytics", STAT),
    e("s_ecid", "Adobe Analytics", STAT),
    e("s_ppv", "Adobe Analytics", STAT),
    e("s_ppvl", "Adobe Analytics", STAT),
    e("s_nr", "Adobe Analytics", STAT),
    e("s_vnum", "Adobe Analytics", STAT),
    e("s_invisit", "Adobe Analytics", STAT),
    e("s_lv", "Adobe Analytics", STAT),
    e("s_lv_s", "Adobe Analytics", STAT),
    e("AMCV_*", "Adobe Experience Cloud ID", STAT),
    e("AMCVS_*", "Adobe Experience Cloud ID", STAT),
    e("kndctr_*_consent", "Adobe Experience Platform Web SDK", NEC),
    e("kndctr_*_cluster", "Adobe Experience Platform Web SDK", NEC),
    e("kndctr_*", "Adobe Experience Platform Web SDK", STAT),
    e("mbox", "Adobe Target", FIRST),
    e("mboxEdgeCluster", "Adobe Target", FIRST),
    e("at_check", "Adobe Target", FIRST),
    e("demdex", "Adobe Audience Manager", THIRD),
    e("dextp", "Adobe Audience Manager", THIRD),
    e("dpm", "Adobe Audience Manager", THIRD),
    e("aam_uuid", "Adobe Audience Manager", THIRD),
    // Product analytics
    e("__mp_opt_in_out_*", "Mixpanel", NEC),
    e("mp_*_mixpanel", "Mixpanel", STAT),
    e("ajs_anonymous_id", "Segment", STAT),
    e("ajs_user_id", "Segment", STAT),
    e("ajs_group_id", "Segment", STAT),
    e("amplitude_id*", "Amplitude", STAT),
    e("amp_*", "Amplitude", STAT),
    e("AMP_MKTG_*", "Amplitude", STAT),
    e("AMP_*", "Amplitude", STAT),
    e("_hp2_id.*", "Heap", STAT),
    e("_hp2_ses_props.*", "Heap", STAT),
    e("_hp2_props.*", "Heap", STAT),
    e("fs_uid", "FullStory", STAT),
    e("fs_lua", "FullStory", STAT),
    e("_pendo_*", "Pendo", STAT),
    e("_sp_id.*", "Snowplow", STAT),
    e("_sp_ses.*", "Snowplow", STAT),
    e("km_ai", "Kissmetrics", STAT),
    e("km_lv", "Kissmetrics", STAT),
    e("km_vs", "Kissmetrics", STAT),
    e("wooTracker", "Woopra", STAT),
    e("_dd_s", "Datadog RUM", STAT),
    e("dtCookie", "Dynatrace", STAT),
    e("dtPC", "Dynatrace", STAT),
    e("dtSa", "Dynatrace", STAT),
    e("dtLatC", "Dynatrace", STAT),
    e("rxVisitor", "Dynatrace", STAT),
    e("rxvt", "Dynatrace", STAT),
    e("ADRUM", "AppDynamics", STAT),
    e("ADRUM_BT*", "AppDynamics", STAT),
    // Web analytics, heatmaps and session replay
    e("_ce.s", "Crazy Egg", STAT),
    e("_ce.gtld", "Crazy Egg", STAT),
    e("_ce.clock_event", "Crazy Egg", STAT),
    e("_ce.clock_data", "Crazy Egg", STAT),
    e("_ce.cch", "Crazy Egg", STAT),
    e("_ce.*", "Crazy Egg", STAT),
    e("cebs", "Crazy Egg", STAT),
    e("cebsp_", "Crazy Egg", STAT),
    e("_CEFT", "Crazy Egg", STAT),
    e("mf_*", "Mouseflow", STAT),
    e("SL_C_*", "Smartlook", STAT),
    e("_lo_uid", "Lucky Orange", STAT),
    e("_lo_v", "Lucky Orange", STAT),
    e("_lorid", "Lucky Orange", STAT),
    e("_cs_optout", "Contentsquare", NEC),
    e("_cs_id", "Contentsquare", STAT),
    e("_cs_s", "Contentsquare", STAT),
    e("_cs_c", "Contentsquare", STAT),
    e("_cs_cvars", "Contentsquare", STAT),
    e("_cs_ex", "Contentsquare", STAT),
    e("_cb", "Chartbeat", STAT),
    e("_cb_svref", "Chartbeat", STAT),
    e("_chartbeat2", "Chartbeat", STAT),
    e("_chartbeat4", "Chartbeat", STAT),
    e("_parsely_session", "Parse.ly", STAT),
    e("_parsely_visitor", "Parse.ly", STAT),
    e("_jsuid", "Clicky", STAT),
    e("sc_is_visitor_unique", "Statcounter", STAT),
    e("_lfa", "Leadfeeder", STAT),
    // Marketing automation
    e("visitor_id*", "Salesforce Pardot", STAT),
    e("pi_opt_in*", "Salesforce Pardot", NEC),
    e("pardot", "Salesforce Pardot", NEC),
    e("_mkto_trk", "Marketo", STAT),
    e("__kla_id", "Klaviyo", STAT),
    e("sib_cuid", "Brevo (Sendinblue)", STAT),
    // A/B testing and personalisation
    e("optimizelyOptOut", "Optimizely", NEC),
    e("optimizelyEndUserId", "Optimizely", FIRST),
    e("optimizelySegments", "Optimizely", FIRST),
    e("optimizelyBuckets", "Optimizely", FIRST),
    e("optimizelyPendingLogEvents", "Optimizely", FIRST),
    e("optimizelyRedirectData", "Optimizely", FIRST),
    e("optimizelyDomainTestCookie", "Optimizely", FIRST),
    e("optimizely*", "Optimizely", FIRST),
    e("_vis_opt_out", "VWO", NEC),
    e("_vis_opt_test_cookie", "VWO", NEC),
    e("_vis_opt_s", "VWO", FIRST),
    e("_vis_opt_*", "VWO", FIRST),
    e("_vwo_uuid", "VWO", FIRST),
    e("_vwo_uuid_v2", "VWO", FIRST),
    e("_vwo_*", "VWO", FIRST),
    // Chat and support widgets
    e("intercom-id-*", "Intercom", FIRST),
    e("intercom-session-*", "Intercom", FIRST),
    e("intercom-device-id-*", "Intercom", FIRST),
    e("driftt_aid", "Drift", FIRST),
    e("driftt_sid", "Drift", FIRST),
    e("driftt_eid", "Drift", FIRST),
    e("driftt_wmd", "Drift", FIRST),
    e("drift_aid", "Drift", FIRST),
    e("drift_campaign_refresh", "Drift", FIRST),
    e("DFTT_END_USER_PREV_BOOTSTRAPPED", "Drift", FIRST),
    e("DFTT_LEAD_HAS_PREV_IDENTIFIED", "Drift", FIRST),
    e("__zlcmid", "Zendesk Chat", FIRST),
    e("__zlcstore", "Zendesk Chat", FIRST),
    e("_zendesk_session", "Zendesk", NEC),
    e("_zendesk_shared_session", "Zendesk", NEC),
    e("_zendesk_authenticated", "Zendesk", NEC),
    e("_zendesk_cookie", "Zendesk", FIRST),
    e("zalb_*", "Zoho", NEC),
    e("_zcsr_tmp", "Zoho", NEC),
    e("LS_CSRF_TOKEN", "Zoho SalesIQ", NEC),
    e("*-_zldp", "Zoho SalesIQ", FIRST),
    e("*-_zldt", "Zoho SalesIQ", FIRST),
    e("*-_siqid", "Zoho SalesIQ", FIRST),
    e("__tawkuuid", "Tawk.to", FIRST),
    e("TawkConnectionTime", "Tawk.to", FIRST),
    e("twk_idm_key", "Tawk.to", FIRST),
    e("twk_uuid_*", "Tawk.to", FIRST),
    e("__lc_cid", "LiveChat", FIRST),
    e("__lc_cst", "LiveChat", FIRST),
    e("__lc2_cid", "LiveChat", FIRST),
    e("__lc2_cst", "LiveChat", FIRST),
    e("hblid", "Olark", FIRST),
    e("olfsk", "Olark", FIRST),
    e("wcsid", "Olark", FIRST),
    e("_okbk", "Olark", FIRST),
    e("_okdetect", "Olark", FIRST),
    e("_oklv", "Olark", FIRST),
    // Video embeds
    e("vuid", "Vimeo", THIRD),
    e("player", "Vimeo", THIRD),
    // Shopify
    e("cart", "Shopify", NEC),
    e("cart_sig", "Shopify", NEC),
    e("cart_ts", "Shopify", NEC),
    e("cart_ver", "Shopify", NEC),
    e("cart_currency", "Shopify", NEC),
    e("checkout", "Shopify", NEC),
    e("checkout_token", "Shopify", NEC),
    e("checkout_session_lookup", "Shopify", NEC),
    e("checkout_session_token_*", "Shopify", NEC),
    e("secure_customer_sig", "Shopify", NEC),
    e("storefront_digest", "Shopify", NEC),
    e("_storefront_u", "Shopify", NEC),
    e("_secure_session_id", "Shopify", NEC),
    e("_shopify_essential", "Shopify", NEC),
    e("_shopify_country", "Shopify", NEC),
    e("_shopify_test", "Shopify", NEC),
    e("_shopify_m", "Shopify", NEC),
    e("_shopify_tm", "Shopify", NEC),
    e("_shopify_tw", "Shopify", NEC),
    e("_tracking_consent", "Shopify", NEC),
    e("_cmp_a", "Shopify", NEC),
    e("keep_alive", "Shopify", NEC),
    e("localization", "Shopify", NEC),
    e("shopify_pay_redirect", "Shopify", NEC),
    e("_shopify_y", "Shopify", STAT),
    e("_shopify_s", "Shopify", STAT),
    e("_shopify_sa_p", "Shopify", STAT),
    e("_shopify_sa_t", "Shopify", STAT),
    e("_landing_page", "Shopify", STAT),
    e("_orig_referrer", "Shopify", STAT),
    // WordPress and WooCommerce
    e("wordpress_logged_in_*", "WordPress", NEC),
    e("wordpress_sec_*", "WordPress", NEC),
    e("wordpress_test_cookie", "WordPress", NEC),
    e("wordpress_*", "WordPress", NEC),
    e("wp-postpass_*", "WordPress", NEC),
    e("wp_lang", "WordPress", NEC),
    e("wp-settings-time-*", "WordPress", FIRST),
    e("wp-settings-*", "WordPress", FIRST),
    e("comment_author_email_*", "WordPress", FIRST),
    e("comment_author_url_*", "WordPress", FIRST),
    e("comment_author_*", "WordPress", FIRST),
    e("woocommerce_cart_hash", "WooCommerce", NEC),
    e("woocommerce_items_in_cart", "WooCommerce", NEC),
    e("wp_woocommerce_session_*", "WooCommerce", NEC),
    e("woocommerce_recently_viewed", "WooCommerce", FIRST),
    e(
        "sbjs_*",
        "WooCommerce order attribution (Sourcebuster)",
        STAT,
    ),
    // Wix
    e("svSession", "Wix", NEC),
    e("smSession", "Wix", NEC),
    e("ssr-caching", "Wix", NEC),
    e("server-session-bind", "Wix", NEC),
    e("client-session-bind", "Wix", NEC),
    e("_wix_browser_sess", "Wix", NEC),
    e("consent-policy", "Wix", NEC),
    e("bSession", "Wix", STAT),
    e("fedops.logger.sessionId", "Wix", STAT),
    e("_wixAB3*", "Wix", FIRST),
    e("wixLanguage", "Wix", FIRST),
];

/// The catalogue compiled against one configuration's categories.
#[derive(Debug, Clone)]
pub struct Catalogue {
    matcher: NameMatcher,
    categories: Vec<Option<CategoryId>>,
}

impl Catalogue {
    pub fn compile(categories: &Categories) -> Self {
        let patterns: Vec<NamePattern> = ENTRIES
            .iter()
            .map(|e| NamePattern::new(e.pattern))
            .collect();
        Catalogue {
            matcher: NameMatcher::new(&patterns),
            categories: ENTRIES.iter().map(|e| categories.id(e.category)).collect(),
        }
    }

    /// The entry index and category for `name`, if the catalogue knows it.
    pub fn classify(&self, name: &[u8]) -> Option<(usize, CategoryId)> {
        let i = self.matcher.first_match(name)?;
        self.categories[i].map(|category| (i, category))
    }

    pub fn entry(i: usize) -> Option<&'static Entry> {
        ENTRIES.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookies::category::Category;

    fn categories() -> Categories {
        let cat = |name: &str, required: bool| Category {
            name: name.into(),
            title: name.into(),
            description: Default::default(),
            required,
            gpc: false,
        };
        Categories::new(vec![
            cat(NEC, true),
            cat(STAT, false),
            cat(FIRST, false),
            cat(THIRD, false),
        ])
    }

    /// The category name the catalogue gives `name`, if any.
    fn classify(name: &str) -> Option<String> {
        let cats = categories();
        let catalogue = Catalogue::compile(&cats);
        catalogue
            .classify(name.as_bytes())
            .map(|(_, id)| cats.name(id).to_owned())
    }

    #[test]
    fn has_enough_entries() {
        assert!(ENTRIES.len() >= 150, "only {} entries", ENTRIES.len());
    }

    #[test]
    fn patterns_are_plausible_cookie_names() {
        for entry in ENTRIES {
            let p = entry.pattern;
            assert!(!p.is_empty(), "empty pattern for {}", entry.platform);
            assert!(
                !p.contains([';', '=', ' ', ',', '\t', '"']),
                "pattern {p:?} has a character a cookie name cannot"
            );
            assert!(p != "*", "pattern {p:?} matches everything");
            assert!(!entry.platform.is_empty(), "pattern {p:?} has no platform");
        }
    }

    #[test]
    fn categories_are_the_four_defaults() {
        for entry in ENTRIES {
            assert!(
                [NEC, STAT, FIRST, THIRD].contains(&entry.category),
                "{} has category {:?}",
                entry.pattern,
                entry.category
            );
        }
    }

    #[test]
    fn no_exact_entry_is_shadowed() {
        let catalogue = Catalogue::compile(&categories());
        for (i, entry) in ENTRIES.iter().enumerate() {
            if entry.pattern.contains('*') {
                continue;
            }
            let got = catalogue.classify(entry.pattern.as_bytes()).map(|(j, _)| j);
            assert_eq!(
                got,
                Some(i),
                "{:?} (entry {i}) is classified by entry {:?}",
                entry.pattern,
                got.and_then(Catalogue::entry).map(|e| e.pattern)
            );
        }
    }

    #[test]
    fn no_glob_entry_is_shadowed() {
        // Each glob, with its stars filled in, must be matched by that glob first.
        let catalogue = Catalogue::compile(&categories());
        for (i, entry) in ENTRIES.iter().enumerate() {
            if !entry.pattern.contains('*') {
                continue;
            }
            let sample = entry.pattern.replace('*', "Zq9");
            let got = catalogue.classify(sample.as_bytes()).map(|(j, _)| j);
            assert_eq!(
                got,
                Some(i),
                "{sample:?} (from entry {i}, {:?}) is classified by entry {:?}",
                entry.pattern,
                got.and_then(Catalogue::entry).map(|e| e.pattern)
            );
        }
    }

    #[test]
    fn well_known_cookies_are_classified() {
        let cases = [
            ("_ga", Some(STAT)),
            ("_ga_ABC123", Some(STAT)),
            ("_gat_UA-1234-1", Some(STAT)),
            ("_gac_UA-1234-1", Some(THIRD)),
            ("_gid", Some(STAT)),
            ("_fbp", Some(THIRD)),
            ("__cf_bm", Some(NEC)),
            ("_pk_id.1.abcd", Some(STAT)),
            ("_pk_ses.1.abcd", Some(STAT)),
            ("hubspotutk", Some(STAT)),
            ("_hjSessionUser_123456", Some(STAT)),
            ("_hjSession_123456", Some(STAT)),
            ("AMP_TOKEN", Some(STAT)),
            ("AMP_0123456789", Some(STAT)),
            ("mp_0123abcd_mixpanel", Some(STAT)),
            ("intercom-session-abc", Some(FIRST)),
            ("wordpress_logged_in_0123abcd", Some(NEC)),
            ("wp-settings-time-1", Some(FIRST)),
            ("cookielawinfo-checkbox-analytics", Some(NEC)),
            ("OptanonConsent", Some(NEC)),
            ("PHPSESSID", Some(NEC)),
            ("cart", Some(NEC)),
            ("_shopify_y", Some(STAT)),
            ("AMCV_0123%40AdobeOrg", Some(STAT)),
            ("kndctr_0123_AdobeOrg_consent", Some(NEC)),
            ("kndctr_0123_AdobeOrg_identity", Some(STAT)),
            ("unknown_cookie_xyz", None),
            ("session", None),
            ("m", None),
            ("i", None),
        ];
        for (name, want) in cases {
            assert_eq!(classify(name).as_deref(), want, "classifying {name:?}");
        }
    }

    #[test]
    fn undeclared_categories_are_skipped() {
        let cats = Categories::new(vec![Category {
            name: NEC.into(),
            title: Default::default(),
            description: Default::default(),
            required: true,
            gpc: false,
        }]);
        let catalogue = Catalogue::compile(&cats);
        assert!(catalogue.classify(b"__cf_bm").is_some());
        assert!(catalogue.classify(b"_ga").is_none());
    }
}
