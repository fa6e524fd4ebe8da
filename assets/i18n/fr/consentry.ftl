# Textes de consentry, français. Mêmes messages que en/consentry.ftl.

## Le bandeau
banner-title = Cookies sur ce site
banner-text = Ce site utilise des cookies soumis à votre consentement : pour la mesure d'audience, pour ses propres fonctionnalités et pour des tiers. Les cookies nécessaires sont toujours actifs.
banner-policy = Consultez la { $policy }.
choose-per-category = Choisir par catégorie
always-on = toujours actifs
gpc-refused = refusés : votre navigateur envoie le signal Global Privacy Control
accept-all = Tout accepter
refuse-all = Tout refuser
save-choices = Enregistrer mes choix

## Contenus intégrés bloqués
placeholder-label = { $provider } : contenu bloqué
placeholder-text = Ce contenu de { $provider } est bloqué tant que vous n'autorisez pas la catégorie « { $category } ».
placeholder-allow = Autoriser : { $category }
undeclared-category = non déclarée

## La page de politique
policy-intro-form = Cette page liste, par catégorie, les cookies que ce site peut déposer dans votre navigateur. Les cookies soumis à consentement ne sont déposés qu'une fois celui-ci donné, et vous pouvez modifier votre choix ci-dessous à tout moment.
policy-intro-banner = Cette page liste, par catégorie, les cookies que ce site peut déposer dans votre navigateur. Les cookies soumis à consentement ne sont déposés qu'une fois celui-ci donné, et vous pouvez modifier votre choix à tout moment dans le bandeau cookies de ce site.
no-cookies = Aucun cookie de cette catégorie n'est utilisé.
column-provider = Nom du prestataire
column-function = Fonction et emplacement
column-names = Nom(s) du cookie
column-purposes = Finalités
trackers-caption = Traceurs : { $category }
column-loaded-from = Chargé depuis
column-cookies-stored = Cookies déposés
inline-script = Script intégré à la page
your-choice = Votre choix
other-banner = Ce site enregistre votre choix avec son propre bandeau cookies ; modifiez-le là. Catégories actuellement acceptées : { $granted }.
granted-none = aucune
back-to-site = Retour au site

## Les réponses du point de consentement
not-found = Rien n'est servi ici.
endpoint-other-banner = Ce site enregistre le consentement avec son propre bandeau cookies, pas avec ce formulaire.
endpoint-no-host = La requête ne nomme aucun hôte.
endpoint-cross-site = Le consentement ne peut être enregistré que depuis les pages de ce site.
endpoint-form-type = Le formulaire de consentement s'envoie en application/x-www-form-urlencoded.
endpoint-too-large = Le formulaire de consentement est trop volumineux.
endpoint-no-choice = Le formulaire de consentement ne nomme aucun choix (accept_all, refuse_all ou save).
