# consentry's own texts, English (the reference: every other language has the same messages).
# Short standard phrases, as regulators' and public design systems' banners word them
# (the CNIL's recommendations, GOV.UK's cookie banner).

## The banner
banner-title = Cookies on this site
banner-text = This site uses cookies that need your consent: for audience statistics, for its own features and for other parties. Necessary cookies are always on.
banner-policy = Read the { $policy }.
choose-per-category = Choose per category
always-on = always on
gpc-refused = refused: your browser sends Global Privacy Control
accept-all = Accept all
refuse-all = Refuse all
save-choices = Save my choices

## Embed placeholders
placeholder-label = { $provider }: blocked content
placeholder-text = This content from { $provider } is blocked until you allow { $category }.
placeholder-allow = Allow { $category }
undeclared-category = an undeclared category

## The policy page
policy-intro-form = This page lists the cookies this site may store in your browser, by category. Cookies that need consent are only set once you have given it, and you can change your choice below at any time.
policy-intro-banner = This page lists the cookies this site may store in your browser, by category. Cookies that need consent are only set once you have given it, and you can change your choice in this site's cookie banner at any time.
no-cookies = No cookies of this category are used.
column-provider = Service provider's name
column-function = Function and location
column-names = Cookie name(s)
column-purposes = Purposes
trackers-caption = Trackers: { $category }
column-loaded-from = Loaded from
column-cookies-stored = Cookies it stores
inline-script = Inline script
your-choice = Your choice
other-banner = This site records your choice with its own cookie banner; change it there. The categories it grants now: { $granted }.
granted-none = none
back-to-site = Back to the site

## The consent endpoint's answers
not-found = Nothing is served here.
endpoint-other-banner = This site records consent with its own cookie banner, not with this form.
endpoint-no-host = The request names no host.
endpoint-cross-site = Consent can only be recorded from this site's own pages.
endpoint-form-type = The consent form is sent as application/x-www-form-urlencoded.
endpoint-too-large = The consent form is too large.
endpoint-no-choice = The consent form names no choice (accept_all, refuse_all or save).
