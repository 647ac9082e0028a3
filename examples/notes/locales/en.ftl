# The notes plugin's messages in English; keys start with "notes-" so they
# cannot collide with another plugin's (pt-BR.ftl has the same keys).

cmd-note = Keep a note (in a group: share one)
cmd-notes = List your notes

notes-usage = Write the note after the command: /note buy milk
notes-saved = Noted. /notes lists your notes.
notes-shared = Your note is shared with this group.
notes-none = You have no notes yet. Write one with /note <text>.
notes-list =
    { $count ->
        [one] Your note:
       *[other] Your { $count } notes:
    }
    { $notes }
