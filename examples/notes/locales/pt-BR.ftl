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
