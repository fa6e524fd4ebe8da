# Testi di consentry, italiano. Gli stessi messaggi di en/consentry.ftl.

## Il banner
banner-title = Cookie su questo sito
banner-text = Questo sito utilizza cookie che richiedono il tuo consenso: per la misurazione del pubblico, per le proprie funzionalità e per terze parti. I cookie necessari sono sempre attivi.
banner-policy = Leggi la { $policy }.
choose-per-category = Scegli per categoria
always-on = sempre attivi
gpc-refused = rifiutati: il tuo browser invia Global Privacy Control
accept-all = Accetta tutti
refuse-all = Rifiuta tutti
save-choices = Salva le mie scelte

## Contenuti incorporati bloccati
placeholder-label = { $provider }: contenuto bloccato
placeholder-text = Questo contenuto di { $provider } è bloccato finché non consenti la categoria «{ $category }».
placeholder-allow = Consenti: { $category }
undeclared-category = non dichiarata

## La cookie policy
policy-intro-form = Questa pagina elenca, per categoria, i cookie che questo sito può memorizzare nel tuo browser. I cookie che richiedono il consenso vengono installati solo dopo che lo hai dato, e puoi modificare la tua scelta qui sotto in qualsiasi momento.
policy-intro-banner = Questa pagina elenca, per categoria, i cookie che questo sito può memorizzare nel tuo browser. I cookie che richiedono il consenso vengono installati solo dopo che lo hai dato, e puoi modificare la tua scelta in qualsiasi momento nel banner dei cookie di questo sito.
no-cookies = Non viene utilizzato alcun cookie di questa categoria.
column-provider = Nome del fornitore
column-function = Funzione e posizione
column-names = Nome/i del cookie
column-purposes = Finalità
trackers-caption = Tracker: { $category }
column-loaded-from = Caricato da
column-cookies-stored = Cookie memorizzati
inline-script = Script incorporato nella pagina
your-choice = La tua scelta
other-banner = Questo sito registra la tua scelta con il proprio banner dei cookie; modificala lì. Categorie attualmente consentite: { $granted }.
granted-none = nessuna
back-to-site = Torna al sito

## Risposte del punto di consenso
not-found = Qui non viene servito nulla.
endpoint-other-banner = Questo sito registra il consenso con il proprio banner dei cookie, non con questo modulo.
endpoint-no-host = La richiesta non indica alcun host.
endpoint-cross-site = Il consenso può essere registrato solo dalle pagine di questo sito.
endpoint-form-type = Il modulo di consenso si invia come application/x-www-form-urlencoded.
endpoint-too-large = Il modulo di consenso è troppo grande.
endpoint-no-choice = Il modulo di consenso non indica alcuna scelta (accept_all, refuse_all o save).
