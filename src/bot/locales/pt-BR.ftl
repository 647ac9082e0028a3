# Todas as mensagens do bot, em português do Brasil. As chaves devem ser as
# mesmas de en.ftl (um teste confere).

cmd-start = O que é este bot
cmd-help = Como usar este bot
cmd-privacy = Ver, exportar ou apagar seus dados

start =
    Olá! Sou um bot de registro que guarda o mínimo possível sobre você.

    Eu lembro quem você é (seu id do Telegram, nomes, nome de usuário e idioma do app) e em quais grupos estou, e nada mais: nenhuma mensagem, nenhuma lista de membros, nenhuma atividade.

    Envie /privacy para ver exatamente o que está guardado, receber uma cópia ou apagar tudo. /help lista os comandos.

# /start em um grupo: lá, /privacy é para os admins e o registro do grupo.
start-group =
    Olá! Sou um bot de registro que guarda o mínimo possível sobre as pessoas que escrevem aqui.

    Eu lembro quem me envia algo (id do Telegram, nomes, nome de usuário e idioma do app) e o título, o nome de usuário e o tipo deste grupo, e nada mais: nenhuma mensagem, nenhuma lista de membros, nenhuma atividade.

    Para ver, exportar ou apagar os seus dados, abra uma conversa privada comigo ({ $bot }) e envie /privacy lá. Os admins deste grupo podem enviar /privacy aqui para o registro do grupo.

help =
    Comandos:
    /start - o que é este bot
    /help - esta lista
    /privacy - o que está guardado sobre você, com botões para exportar ou apagar

    Em um grupo, me adicione e eu registro o título, o nome de usuário e o tipo do grupo. Os admins do grupo podem exportar ou apagar o registro do grupo com /privacy lá.

# /help em um grupo.
help-plugins = Os recursos instalados neste bot acrescentam:

help-group =
    Comandos:
    /start - o que é este bot
    /help - esta lista
    /privacy - para os admins deste grupo: o registro do grupo, com botões para exportar ou apagar

    Para os seus dados, abra uma conversa privada comigo ({ $bot }) e envie /privacy lá.

privacy-policy =
    Política de privacidade (versão curta)

    O que é guardado sobre você, e por quê:
    - seu id do Telegram: para distinguir o seu registro dos outros
    - seu nome de usuário, nome e sobrenome, como o Telegram mostra: para saber de quem é o registro
    - o código de idioma do seu app: para responder no seu idioma
    - quando te vi pela primeira vez: para saber a idade do registro{ $retention ->
        [0] {""}
       *[other] {"\u000A"}- o dia em que te vi por último (só a data, sem hora): para apagar o seu registro depois de { $retention } dias sem atividade
    }

    Sobre um grupo em que estou: id, título, nome de usuário, tipo e quando o vi pela primeira vez{ $retention ->
        [0] {""}
       *[other] {" "}e o dia em que vi atividade nele por último
    }.

    Nomes, nomes de usuário e títulos são guardados criptografados. { $features ->
        [some] Os recursos instalados neste bot guardam mais, listado abaixo; nada mais é guardado.
       *[none] Nada mais é guardado: nenhum texto de mensagem, nenhuma lista de membros{ $retention ->
            [0] , nenhum "visto por último"
           *[other] , nenhuma hora do dia
        }.
    } Só quem envia uma atualização é registrado, nunca quem é respondido, encaminhado, mencionado ou adicionado.

    { $sentry ->
        [off] Relatórios de erro: nenhum é enviado a lugar nenhum. Se algo der errado ao tratar sua mensagem, o erro fica anotado só no log do próprio operador.
       *[on] Relatórios de erro: se algo der errado ao tratar sua mensagem, o Sentry do operador recebe o erro e a atualização do Telegram que o causou (que pode incluir sua mensagem e seus ids). Isso serve só para corrigir o erro e expira lá.
    }

    Por quanto tempo: um nome alterado substitui o antigo. Quando um grupo vira supergrupo, o registro passa para o novo id. Quando sou removido de um grupo, o registro dele é apagado.{ $block ->
        [keep] {" "}Me bloquear não apaga o seu registro (o operador escolheu mantê-lo, para que você ainda possa me usar em grupos): use o botão de apagar.
       *[erase] {" "}Quando você me bloqueia, o seu registro e tudo o que está guardado sobre você é apagado na hora.
    }{ $retention ->
        [0] {" "}Fora isso, os registros ficam guardados até você apagá-los ou o bot ser desativado de vez.
       *[other] {" "}Pessoas e grupos que eu não vejo há mais de { $retention } dias são apagados, com tudo o que está guardado sobre eles.
    }

privacy-policy-features = O que os recursos instalados neste bot guardam, e por quê:

privacy-contact = Dúvidas vão para o operador deste bot: { $contact }

# Uma linha por coluna de tabela de uma linha, uma por tabela de muitas
# (ver en.ftl).
privacy-stored = Guardado sobre { $whom ->
        [group] este grupo
       *[user] você
    } agora:
privacy-column-users-id = id
privacy-column-users-username = nome de usuário
privacy-column-users-first_name = nome
privacy-column-users-last_name = sobrenome
privacy-column-users-language_code = idioma
privacy-column-users-registered_at = visto pela primeira vez
privacy-column-users-seen_on = visto por último (dia)
privacy-column-groups-id = id
privacy-column-groups-username = nome de usuário
privacy-column-groups-title = título
privacy-column-groups-type = tipo
privacy-column-groups-registered_at = visto pela primeira vez
privacy-column-groups-seen_on = última atividade vista (dia)

privacy-nothing-stored = Nada está guardado sobre { $whom ->
        [group] este grupo
       *[user] você
    } agora.

privacy-none = (nenhum)

privacy-admins-only = Só os admins deste grupo podem ver, exportar ou apagar os dados do grupo. Para ver os seus dados, me envie /privacy em uma conversa privada.

button-export-user = Exportar meus dados
button-delete-user = Apagar meus dados
button-export-group = Exportar os dados do grupo
button-delete-group = Apagar os dados do grupo
button-policy = Política de privacidade completa
button-yes-delete = Sim, apagar
button-no-keep = Não, manter

export-caption = Tudo o que este bot guarda sobre { $whom ->
        [group] este grupo
       *[user] você
    }, no formato JSON da ferramenta de privacidade.
export-sent = Sua exportação está a caminho.
export-too-soon = Você já pediu uma exportação há pouco. Pode pedir de novo a partir de { $time }.
export-failed = Desculpe, não foi possível enviar o arquivo. Tente de novo mais tarde.

delete-confirm-user = Apagar tudo o que este bot guarda sobre você? Isso não pode ser desfeito.
delete-confirm-group = Apagar tudo o que este bot guarda sobre este grupo? Isso não pode ser desfeito.
delete-done-user = Pronto: seus dados foram apagados. Se você usar este bot de novo, ele vai te registrar de novo.
delete-done-group = Pronto: os dados deste grupo foram apagados. O grupo é registrado de novo se o bot continuar aqui e vir novas mensagens.
# Somado aos dois acima só quando o operador configurou o Sentry.
delete-done-sentry = Relatórios de erro já enviados ao Sentry do operador não estão no banco de dados do bot: expiram lá sozinhos.
delete-cancelled = Nada foi apagado.

button-not-yours = Este menu é de outra pessoa: envie /privacy para abrir o seu.
button-invalid = Este botão não vale mais: envie /privacy de novo.

admin-check-failed = Não consegui verificar seus direitos de administrador agora. Tente de novo.
command-failed = Desculpe, algo deu errado. Tente de novo mais tarde.
button-failed = Desculpe, algo deu errado. Tente de novo mais tarde.
button-answer-confirm = Confirme abaixo.
button-answer-deleted = Apagado.

# A central de privacidade (Mini App, docs/mini-app.md).
button-open-app = Abrir central de privacidade
app-title = Central de privacidade
app-first-stored = Armazenado pela primeira vez
app-erase-list = Isto apaga:
app-download-ready = Seus dados foram baixados.
app-error-unauthorized = Esta página não conseguiu confirmar quem você é. Abra-a de novo pelo bot no Telegram.
app-error-expired = Esta página foi aberta há muito tempo. Feche-a e abra de novo pelo bot.
