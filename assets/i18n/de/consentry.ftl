# Texte von consentry, Deutsch. Dieselben Nachrichten wie en/consentry.ftl.

## Das Banner
banner-title = Cookies auf dieser Website
banner-text = Diese Website verwendet Cookies, die Ihre Einwilligung erfordern: für Reichweitenmessung, für eigene Funktionen und für Dritte. Notwendige Cookies sind immer aktiv.
banner-policy = Lesen Sie die { $policy }.
choose-per-category = Nach Kategorie auswählen
always-on = immer aktiv
gpc-refused = abgelehnt: Ihr Browser sendet Global Privacy Control
accept-all = Alle akzeptieren
refuse-all = Alle ablehnen
save-choices = Auswahl speichern

## Platzhalter für eingebettete Inhalte
placeholder-label = { $provider }: blockierter Inhalt
placeholder-text = Dieser Inhalt von { $provider } ist blockiert, bis Sie die Kategorie „{ $category }“ erlauben.
placeholder-allow = Erlauben: { $category }
undeclared-category = nicht deklariert

## Die Cookie-Richtlinie
policy-intro-form = Diese Seite listet nach Kategorien die Cookies auf, die diese Website in Ihrem Browser speichern kann. Einwilligungspflichtige Cookies werden erst gesetzt, wenn Sie eingewilligt haben, und Sie können Ihre Auswahl unten jederzeit ändern.
policy-intro-banner = Diese Seite listet nach Kategorien die Cookies auf, die diese Website in Ihrem Browser speichern kann. Einwilligungspflichtige Cookies werden erst gesetzt, wenn Sie eingewilligt haben, und Sie können Ihre Auswahl jederzeit im Cookie-Banner dieser Website ändern.
no-cookies = Es werden keine Cookies dieser Kategorie verwendet.
column-provider = Name des Anbieters
column-function = Funktion und Speicherort
column-names = Cookie-Name(n)
column-purposes = Zwecke
trackers-caption = Tracker: { $category }
column-loaded-from = Geladen von
column-cookies-stored = Gespeicherte Cookies
inline-script = Eingebettetes Skript
your-choice = Ihre Auswahl
other-banner = Diese Website speichert Ihre Auswahl mit ihrem eigenen Cookie-Banner; ändern Sie sie dort. Derzeit erlaubte Kategorien: { $granted }.
granted-none = keine
back-to-site = Zurück zur Website

## Antworten des Einwilligungs-Endpunkts
not-found = Hier wird nichts bereitgestellt.
endpoint-other-banner = Diese Website speichert die Einwilligung mit ihrem eigenen Cookie-Banner, nicht mit diesem Formular.
endpoint-no-host = Die Anfrage nennt keinen Host.
endpoint-cross-site = Die Einwilligung kann nur von den Seiten dieser Website aus gespeichert werden.
endpoint-form-type = Das Einwilligungsformular wird als application/x-www-form-urlencoded gesendet.
endpoint-too-large = Das Einwilligungsformular ist zu groß.
endpoint-no-choice = Das Einwilligungsformular nennt keine Auswahl (accept_all, refuse_all oder save).
