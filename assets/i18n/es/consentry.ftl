# Textos de consentry, español. Los mismos mensajes que en/consentry.ftl.

## El banner
banner-title = Cookies en este sitio
banner-text = Este sitio utiliza cookies que requieren su consentimiento: para la medición de audiencia, para sus propias funciones y para terceros. Las cookies necesarias están siempre activas.
banner-policy = Consulte la { $policy }.
choose-per-category = Elegir por categoría
always-on = siempre activas
gpc-refused = rechazadas: su navegador envía Global Privacy Control
accept-all = Aceptar todas
refuse-all = Rechazar todas
save-choices = Guardar mis preferencias

## Contenido incrustado bloqueado
placeholder-label = { $provider }: contenido bloqueado
placeholder-text = Este contenido de { $provider } está bloqueado hasta que permita la categoría «{ $category }».
placeholder-allow = Permitir: { $category }
undeclared-category = no declarada

## La política de cookies
policy-intro-form = Esta página enumera, por categoría, las cookies que este sitio puede almacenar en su navegador. Las cookies que requieren consentimiento solo se instalan una vez que usted lo ha dado, y puede cambiar su elección más abajo en cualquier momento.
policy-intro-banner = Esta página enumera, por categoría, las cookies que este sitio puede almacenar en su navegador. Las cookies que requieren consentimiento solo se instalan una vez que usted lo ha dado, y puede cambiar su elección en cualquier momento en el banner de cookies de este sitio.
no-cookies = No se utiliza ninguna cookie de esta categoría.
column-provider = Nombre del proveedor
column-function = Función y ubicación
column-names = Nombre(s) de la cookie
column-purposes = Finalidades
trackers-caption = Rastreadores: { $category }
column-loaded-from = Cargado desde
column-cookies-stored = Cookies que almacena
inline-script = Script integrado en la página
your-choice = Su elección
other-banner = Este sitio registra su elección con su propio banner de cookies; cámbiela allí. Categorías aceptadas actualmente: { $granted }.
granted-none = ninguna
back-to-site = Volver al sitio

## Respuestas del punto de consentimiento
not-found = Aquí no se sirve nada.
endpoint-other-banner = Este sitio registra el consentimiento con su propio banner de cookies, no con este formulario.
endpoint-no-host = La solicitud no indica ningún host.
endpoint-cross-site = El consentimiento solo puede registrarse desde las páginas de este sitio.
endpoint-form-type = El formulario de consentimiento se envía como application/x-www-form-urlencoded.
endpoint-too-large = El formulario de consentimiento es demasiado grande.
endpoint-no-choice = El formulario de consentimiento no indica ninguna elección (accept_all, refuse_all o save).
