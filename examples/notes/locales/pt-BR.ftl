# As mensagens do plugin de notas em português; as mesmas chaves de en.ftl.

cmd-note = Guardar uma nota (num grupo: compartilhar uma)
cmd-notes = Listar suas notas

notes-usage = Escreva a nota depois do comando: /note comprar leite
notes-saved = Anotado. /notes lista suas notas.
notes-shared = Sua nota foi compartilhada com este grupo.
notes-none = Você ainda não tem notas. Escreva uma com /note <texto>.
notes-list =
    { $count ->
        [one] Sua nota:
       *[other] Suas { $count } notas:
    }
    { $notes }

# O que /privacy diz dos dados do plugin de notas.
privacy-policy-notes_entries = - suas notas (/note num chat privado), criptografadas: para listá-las e oferecê-las inline, até você apagá-las
privacy-policy-notes_shared = - a nota que você compartilha num grupo, criptografada: para mostrá-la lá, até seus dados ou os do grupo serem apagados
privacy-rows-notes_entries = { $count ->
        [one] notas: 1
       *[other] notas: { $count }
    }
privacy-rows-notes_shared = { $count ->
        [one] notas compartilhadas em grupos: 1
       *[other] notas compartilhadas em grupos: { $count }
    }
