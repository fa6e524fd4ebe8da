# Teksty consentry, polski. Te same komunikaty co en/consentry.ftl.

## Baner
banner-title = Pliki cookie w tym serwisie
banner-text = Ten serwis używa plików cookie, które wymagają Twojej zgody: do statystyk odwiedzin, do własnych funkcji i dla podmiotów trzecich. Niezbędne pliki cookie są zawsze włączone.
banner-policy = Przeczytaj: { $policy }.
choose-per-category = Wybierz według kategorii
always-on = zawsze włączone
gpc-refused = odrzucone: Twoja przeglądarka wysyła sygnał Global Privacy Control
accept-all = Zaakceptuj wszystkie
refuse-all = Odrzuć wszystkie
save-choices = Zapisz moje wybory

## Zablokowane treści osadzone
placeholder-label = { $provider }: zablokowana treść
placeholder-text = Ta treść od { $provider } jest zablokowana, dopóki nie zezwolisz na kategorię „{ $category }”.
placeholder-allow = Zezwól: { $category }
undeclared-category = niezadeklarowana

## Polityka plików cookie
policy-intro-form = Ta strona wymienia, według kategorii, pliki cookie, które ten serwis może zapisać w Twojej przeglądarce. Pliki cookie wymagające zgody są zapisywane dopiero po jej wyrażeniu, a swój wybór możesz w każdej chwili zmienić poniżej.
policy-intro-banner = Ta strona wymienia, według kategorii, pliki cookie, które ten serwis może zapisać w Twojej przeglądarce. Pliki cookie wymagające zgody są zapisywane dopiero po jej wyrażeniu, a swój wybór możesz w każdej chwili zmienić w banerze cookie tego serwisu.
no-cookies = Nie są używane żadne pliki cookie z tej kategorii.
column-provider = Nazwa dostawcy
column-function = Funkcja i lokalizacja
column-names = Nazwa(-y) pliku cookie
column-purposes = Cele
trackers-caption = Narzędzia śledzące: { $category }
column-loaded-from = Ładowane z
column-cookies-stored = Zapisywane pliki cookie
inline-script = Skrypt osadzony w stronie
your-choice = Twój wybór
other-banner = Ten serwis zapisuje Twój wybór we własnym banerze cookie; zmień go tam. Obecnie dozwolone kategorie: { $granted }.
granted-none = brak
back-to-site = Powrót do serwisu

## Odpowiedzi punktu zgody
not-found = Nic tu nie jest udostępniane.
endpoint-other-banner = Ten serwis zapisuje zgodę we własnym banerze cookie, a nie za pomocą tego formularza.
endpoint-no-host = Żądanie nie podaje hosta.
endpoint-cross-site = Zgodę można zapisać tylko ze stron tego serwisu.
endpoint-form-type = Formularz zgody jest wysyłany jako application/x-www-form-urlencoded.
endpoint-too-large = Formularz zgody jest za duży.
endpoint-no-choice = Formularz zgody nie podaje wyboru (accept_all, refuse_all lub save).
