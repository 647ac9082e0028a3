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

# What /privacy says about the notes plugin's data: a line of the short
# policy per table, and how many rows of each are stored (the bot refuses
# to start while one of these is missing in English).
privacy-policy-notes_entries = - your notes (/note in a private chat), encrypted: to list them and offer them inline, until you delete them
privacy-policy-notes_shared = - the note you share in a group, encrypted: to show it there, until you or the group's data is deleted
privacy-rows-notes_entries = { $count ->
        [one] notes: 1
       *[other] notes: { $count }
    }
privacy-rows-notes_shared = { $count ->
        [one] notes shared in groups: 1
       *[other] notes shared in groups: { $count }
    }
