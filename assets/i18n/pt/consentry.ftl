# Textos do consentry, português. As mesmas mensagens que en/consentry.ftl.

## O banner
banner-title = Cookies neste site
banner-text = Este site utiliza cookies que precisam do seu consentimento: para estatísticas de audiência, para as suas próprias funcionalidades e para terceiros. Os cookies necessários estão sempre ativos.
banner-policy = Consulte a { $policy }.
choose-per-category = Escolher por categoria
always-on = sempre ativos
gpc-refused = recusados: o seu navegador envia Global Privacy Control
accept-all = Aceitar todos
refuse-all = Recusar todos
save-choices = Guardar as minhas escolhas

## Conteúdo incorporado bloqueado
placeholder-label = { $provider }: conteúdo bloqueado
placeholder-text = Este conteúdo de { $provider } está bloqueado até que autorize a categoria «{ $category }».
placeholder-allow = Autorizar: { $category }
undeclared-category = não declarada

## A política de cookies
policy-intro-form = Esta página lista, por categoria, os cookies que este site pode guardar no seu navegador. Os cookies que precisam de consentimento só são instalados depois de o ter dado, e pode alterar a sua escolha abaixo a qualquer momento.
policy-intro-banner = Esta página lista, por categoria, os cookies que este site pode guardar no seu navegador. Os cookies que precisam de consentimento só são instalados depois de o ter dado, e pode alterar a sua escolha a qualquer momento no banner de cookies deste site.
no-cookies = Não é utilizado nenhum cookie desta categoria.
column-provider = Nome do fornecedor
column-function = Função e localização
column-names = Nome(s) do cookie
column-purposes = Finalidades
trackers-caption = Rastreadores: { $category }
column-loaded-from = Carregado de
column-cookies-stored = Cookies que guarda
inline-script = Script incorporado na página
your-choice = A sua escolha
other-banner = Este site regista a sua escolha com o seu próprio banner de cookies; altere-a lá. Categorias atualmente autorizadas: { $granted }.
granted-none = nenhuma
back-to-site = Voltar ao site

## Respostas do ponto de consentimento
not-found = Nada é servido aqui.
endpoint-other-banner = Este site regista o consentimento com o seu próprio banner de cookies, não com este formulário.
endpoint-no-host = O pedido não indica nenhum anfitrião.
endpoint-cross-site = O consentimento só pode ser registado a partir das páginas deste site.
endpoint-form-type = O formulário de consentimento é enviado como application/x-www-form-urlencoded.
endpoint-too-large = O formulário de consentimento é demasiado grande.
endpoint-no-choice = O formulário de consentimento não indica nenhuma escolha (accept_all, refuse_all ou save).
