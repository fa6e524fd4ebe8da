# Teksten van consentry, Nederlands. Dezelfde berichten als en/consentry.ftl.

## De banner
banner-title = Cookies op deze website
banner-text = Deze website gebruikt cookies waarvoor uw toestemming nodig is: voor bezoekersstatistieken, voor eigen functies en voor derden. Noodzakelijke cookies staan altijd aan.
banner-policy = Lees het { $policy }.
choose-per-category = Kies per categorie
always-on = staan altijd aan
gpc-refused = geweigerd: uw browser verstuurt Global Privacy Control
accept-all = Alles accepteren
refuse-all = Alles weigeren
save-choices = Mijn keuzes opslaan

## Geblokkeerde ingesloten inhoud
placeholder-label = { $provider }: geblokkeerde inhoud
placeholder-text = Deze inhoud van { $provider } is geblokkeerd totdat u de categorie ‘{ $category }’ toestaat.
placeholder-allow = Toestaan: { $category }
undeclared-category = niet opgegeven

## Het cookiebeleid
policy-intro-form = Deze pagina toont per categorie de cookies die deze website in uw browser kan opslaan. Cookies waarvoor toestemming nodig is, worden pas geplaatst nadat u die hebt gegeven, en u kunt uw keuze hieronder altijd wijzigen.
policy-intro-banner = Deze pagina toont per categorie de cookies die deze website in uw browser kan opslaan. Cookies waarvoor toestemming nodig is, worden pas geplaatst nadat u die hebt gegeven, en u kunt uw keuze altijd wijzigen in de cookiebanner van deze website.
no-cookies = Er worden geen cookies van deze categorie gebruikt.
column-provider = Naam van de aanbieder
column-function = Functie en locatie
column-names = Naam of namen van de cookie
column-purposes = Doeleinden
trackers-caption = Trackers: { $category }
column-loaded-from = Geladen van
column-cookies-stored = Opgeslagen cookies
inline-script = Script in de pagina
your-choice = Uw keuze
other-banner = Deze website legt uw keuze vast met een eigen cookiebanner; wijzig die daar. Categorieën die nu zijn toegestaan: { $granted }.
granted-none = geen
back-to-site = Terug naar de website

## Antwoorden van het toestemmingspunt
not-found = Hier wordt niets aangeboden.
endpoint-other-banner = Deze website legt toestemming vast met een eigen cookiebanner, niet met dit formulier.
endpoint-no-host = Het verzoek noemt geen host.
endpoint-cross-site = Toestemming kan alleen worden vastgelegd vanaf de pagina's van deze website.
endpoint-form-type = Het toestemmingsformulier wordt verzonden als application/x-www-form-urlencoded.
endpoint-too-large = Het toestemmingsformulier is te groot.
endpoint-no-choice = Het toestemmingsformulier noemt geen keuze (accept_all, refuse_all of save).
