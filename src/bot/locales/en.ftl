# Every message the bot sends, in English. Keys must match pt-BR.ftl (a test
# checks this); PRIVACY.md is the long version of privacy-policy.

cmd-start = What this bot is
cmd-help = How to use this bot
cmd-privacy = See, export or delete your data

start =
    Hello! I am a registration bot that keeps as little about you as it can.

    I remember who you are (your Telegram id, names, username and app language) and which groups I am in, and nothing else: no messages, no member lists, no activity.

    Send /privacy to see exactly what is stored, get a copy of it or delete it. /help lists the commands.

# /start in a group: /privacy there is for the group's admins and its record.
start-group =
    Hello! I am a registration bot that keeps as little as it can about the people who write here.

    I remember who sends me something (Telegram id, names, username and app language) and this group's title, username and type, and nothing else: no messages, no member lists, no activity.

    To see, export or delete your own data, open a private chat with me ({ $bot }) and send /privacy there. Admins of this group can send /privacy here for the group's record.

help =
    Commands:
    /start - what this bot is
    /help - this list
    /privacy - what is stored about you, with buttons to export or delete it

    In a group, add me and I register the group's title, username and type. Group admins can export or delete the group's record with /privacy there.

help-plugins = The features installed in this bot add:

# /help in a group.
help-group =
    Commands:
    /start - what this bot is
    /help - this list
    /privacy - for this group's admins: the group's record, with buttons to export or delete it

    For your own data, open a private chat with me ({ $bot }) and send /privacy there.

privacy-policy =
    Privacy policy (short version)

    What is stored about you, and why:
    - your Telegram id: to tell your record apart from others
    - your username, first name and last name, as Telegram shows them: to know whose record it is
    - your app's language code: to answer in your language
    - when I first saw you: to know how old the record is{ $retention ->
        [0] {""}
       *[other] {"\u000A"}- the day I last saw you (the date only, no time): to delete your record after { $retention } days without activity
    }

    About a group I am in: its id, title, username, type and when I first saw it{ $retention ->
        [0] {""}
       *[other] {" "}and the day I last saw activity there
    }.

    Names, usernames and titles are stored encrypted. { $features ->
        [some] The features installed in this bot keep more, listed below; nothing else is kept.
       *[none] Nothing else is kept: no message text, no member lists{ $retention ->
            [0] , no "last seen"
           *[other] , no time of day
        }.
    } Only the person who sends an update is registered, never people who are replied to, forwarded, mentioned or added.

    { $sentry ->
        [off] Crash reports: none are sent anywhere. If something goes wrong while handling your message, the error is noted only in the operator's own log.
       *[on] Crash reports: if something goes wrong while handling your message, the operator's Sentry receives the error and the Telegram update that caused it (which can include your message and ids). It is used only to fix the bug and expires there.
    }

    How long: a changed name replaces the old one. When a group becomes a supergroup its record moves to the new id. When I am removed from a group, its record is deleted.{ $block ->
        [keep] {" "}Blocking me does not delete your record (the operator chose to keep it, so that you can still use me in groups): use the delete button instead.
       *[erase] {" "}When you block me, your record and everything stored about you is deleted at once.
    }{ $retention ->
        [0] {" "}Otherwise records are kept until you delete them or the bot is shut down for good.
       *[other] {" "}People and groups I have not seen for more than { $retention } days are deleted, with everything stored about them.
    }

privacy-policy-features = What the features installed in this bot keep, and why:

privacy-contact = Questions go to the operator of this bot: { $contact }

# What is stored, one line per column of a one-row table (users, groups,
# a plugin's setting) and one line per table of many rows (a plugin's
# notes). Each label is privacy-column-<table>-<column>; a table of many
# rows says privacy-rows-<table> with $count. A plugin adds its own in its
# locale files; without them the column's or row kind's name is shown.
privacy-stored = Stored about { $whom ->
        [group] this group
       *[user] you
    } right now:
privacy-column-users-id = id
privacy-column-users-username = username
privacy-column-users-first_name = first name
privacy-column-users-last_name = last name
privacy-column-users-language_code = language
privacy-column-users-registered_at = first seen
privacy-column-users-seen_on = last seen (day)
privacy-column-groups-id = id
privacy-column-groups-username = username
privacy-column-groups-title = title
privacy-column-groups-type = type
privacy-column-groups-registered_at = first seen
privacy-column-groups-seen_on = last activity seen (day)

privacy-nothing-stored = Nothing is stored about { $whom ->
        [group] this group
       *[user] you
    } right now.

privacy-none = (none)

privacy-admins-only = Only the admins of this group can see, export or delete the group's data. To see your own data, send me /privacy in a private chat.

button-export-user = Export my data
button-delete-user = Delete my data
button-export-group = Export the group's data
button-delete-group = Delete the group's data
button-policy = Full privacy policy
button-yes-delete = Yes, delete
button-no-keep = No, keep it

export-caption = Everything this bot stores about { $whom ->
        [group] this group
       *[user] you
    }, in the JSON format of its privacy tool.
export-sent = Your export is on its way.
export-too-soon = You already asked for an export recently. You can ask again from { $time }.
export-failed = Sorry, the file could not be sent. Please try again later.

delete-confirm-user = Delete everything this bot stores about you? This cannot be undone.
delete-confirm-group = Delete everything this bot stores about this group? This cannot be undone.
delete-done-user = Done: your data is deleted. If you use this bot again, it will register you again.
delete-done-group = Done: this group's data is deleted. The group is registered again if the bot stays and sees new messages here.
# Added to the two above only when the operator has Sentry configured.
delete-done-sentry = Crash reports already sent to the operator's Sentry are not in the bot's database: they expire there on their own.
delete-cancelled = Nothing was deleted.

button-not-yours = This menu belongs to someone else: send /privacy to open your own.
button-invalid = This button is no longer valid: send /privacy again.

admin-check-failed = I could not check your admin rights just now. Please try again.
command-failed = Sorry, something went wrong. Please try again later.
button-failed = Sorry, something went wrong. Please try again later.
button-answer-confirm = Please confirm below.
button-answer-deleted = Deleted.

# The Mini App privacy center (docs/mini-app.md).
button-open-app = Open privacy center
app-title = Privacy center
app-first-stored = First stored
app-erase-list = This deletes:
app-download-ready = Your data was downloaded.
app-error-unauthorized = This page could not confirm who you are. Please open it again from the bot in Telegram.
app-error-expired = This page was opened too long ago. Please close it and open it again from the bot.
