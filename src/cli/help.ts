/** The CLI's version, printed by `--version`. */
export const VERSION = "0.2.0";

/** `cli --help`. */
export const MAIN_HELP = `Usage: deno task cli <command> [options]

Answers privacy requests about the users and groups the bot has stored:
their own records and every table the installed plugins (plugins.ts)
describe.

Commands:
  export       write what is stored about one person or group, or everything,
               as json, ndjson or csv
  inspect      show what is stored about one person or group, or a summary
  purge        delete one person's or group's rows in every table, or all
  audit        list the audit-log entries about one record
  migrate      create the database or apply pending migrations
  compact      make deleted values leave the database files now
  keygen       make a data encryption key (--out FILE), or print key ids (--id)
  rotate-key   move the data to a new key while the bot keeps serving
  backup       write a consistent SQLite snapshot to a new file
  copy         copy every record and the audit log into another, empty database
  setup        the one-time Bot API calls (needs BOT_TOKEN)
  sweep        erase users and groups not seen for RETENTION_DAYS days
  decommission the bot's end: erase everything, clean up at Telegram

Global options:
  --database URL   sqlite:PATH, a file path, or postgres://... (default:
                   $DATABASE_URL, else sqlite:data/bot.db)
  --help           show help (also after a command: cli export --help)
  --version        print the version

The data key comes from DATA_ENCRYPTION_KEY (previous keys, which still read
old values, in DATA_ENCRYPTION_KEYS_PREVIOUS), else the file DATA_KEY_FILE
(default secrets/data.key; current key first, previous keys after), as for
the bot. See docs/keys.md.

Progress of long work (export --all, rotate-key, copy) is shown on stderr
only when it is a terminal; --quiet turns it off.

Exit codes (the bot's are the same numbers): 0 done, 1 no record with that id,
2 usage error (nothing changed), 3 the database or a file could not be opened
or written, 5 some records are damaged (named on stderr; the rest was done),
6 Telegram could not be reached or a Bot API call failed (setup; a refused
token is 2).

Examples:
  deno task cli export --user 123456789 > alice.json
  deno task cli inspect
  deno task cli purge --group -1001234567890 --yes
  deno task cli audit --user 123456789
  deno task cli migrate
  deno task cli keygen --out secrets/new.key
  deno task cli backup --out backups/bot.db
`;

/** `cli <command> --help`, per command. */
export const COMMAND_HELP = {
  export:
    `Usage: deno task cli export (--user ID | --group ID | --all) [options]

Writes the records to stdout, or to a new file with --out: for a user, their
record and their rows in every plugin table (their rows within groups
included); for a group, its record and its own plugin rows, but not what its
members stored within it (that is each member's data, in their export).

Options:
  --user ID          the user with this Telegram id
  --group ID         the group with this Telegram id (negative)
  --all              every row of every table (streamed; memory stays flat)
  --format FORMAT    json (default), ndjson or csv
  --keep-formulas    csv only: write cells exactly as stored (see below)
  --out FILE         write to FILE, created with mode 0600; an existing file is refused
  --force            with --out, overwrite an existing file
  --quiet            no progress display on a terminal

JSON holds "users" and "groups", then one key per plugin table (its name);
NDJSON lines and CSV rows say what they are in "kind" (user, group, or the
plugin's kind of row). CSV has one column per described column, empty where a
row's table lacks it.

Every export is written to the audit log before any record leaves the
database; when that entry cannot be written, nothing is exported (exit 3).

In CSV, a text cell (a name, a title, a plugin's text) starting with =, +, -, @, a tab or a carriage return
gets a leading apostrophe, so that a spreadsheet shows it instead of running
it as a formula. --keep-formulas writes such cells unchanged; JSON and NDJSON
always hold every value exactly as stored.

Examples:
  deno task cli export --user 123456789
  deno task cli export --all --format ndjson --out backup.ndjson
  deno task cli export --group -1001234567890 --format csv
`,
  inspect: `Usage: deno task cli inspect [--user ID | --group ID]

Shows every row about one user (theirs in every table) or one group (its own)
in readable form or, without an id, a summary: rows per table, schema
version, oldest and newest registration, size, the id of the key new values
are written with, how many stored values each key id encrypted (a key still
listed there cannot be retired), and recent privacy requests.

Options:
  --user ID    the user with this Telegram id
  --group ID   the group with this Telegram id (negative)

Examples:
  deno task cli inspect
  deno task cli inspect --user 123456789
`,
  purge:
    `Usage: deno task cli purge (--user ID | --group ID | --all) [--dry-run] [--yes]

Deletes the record and its rows in every plugin table: a user's own and theirs
within groups; a group's own and what its members stored within it (one
transaction, recorded in the audit log). On a terminal it shows what goes,
with how many rows of each table when plugins add tables, and asks first;
elsewhere it needs --yes.

Options:
  --user ID    the user with this Telegram id
  --group ID   the group with this Telegram id (negative)
  --all        every row of every table (when the bot stops operating);
               on a terminal, type "delete all records" to confirm
  --dry-run    show what would be deleted, delete nothing
  --yes        do not ask

Examples:
  deno task cli purge --user 123456789
  deno task cli purge --group -1001234567890 --dry-run
  deno task cli purge --all --yes
`,
  audit: `Usage: deno task cli audit (--user ID | --group ID) [--format FORMAT]

Lists every export and erasure of the record, oldest first: when (UTC), what
(export or purge), by whom ("in the bot": the person, or a group admin, with
/privacy; "with the CLI": the operator; "by Telegram": the person blocked the
bot, or the bot was removed from the group), how many records it concerned
and, for an erasure, why: on request, blocked, removed, after the retention
period without activity (the sweep), or because the bot was shut down.
The log keeps a keyed hash of the id, never the id: this command hashes the
id you give the same way, so it still finds the entries after an erasure.
Erasures of every record at once (purge --all) are shown by inspect.

Options:
  --user ID          the user with this Telegram id
  --group ID         the group with this Telegram id (negative)
  --format FORMAT    text (default), json or ndjson

Exit 1 when the log has no entry about that record.

Examples:
  deno task cli audit --user 123456789
  deno task cli audit --group -1001234567890 --format json
`,
  migrate: `Usage: deno task cli migrate

Applies pending migrations (each in a transaction) and prints the schema
version. Safe to run any number of times. A missing SQLite database is
created (so is the default data/ folder), but never any other missing folder.

Example:
  deno task cli migrate
`,
  compact: `Usage: deno task cli compact

Makes values deleted or replaced earlier (by purges, erasures or a key
rotation) leave the database files now. On SQLite, deleted values are
overwritten with zeros in the database file, but older copies stay in its
write-ahead log (the -wal file) until a checkpoint: this runs that checkpoint
and empties the log (exit 3 when another program's long read keeps it from
finishing: run it again later). On PostgreSQL a deleted row stays in the table file until
its space is reused: this rewrites the users and groups tables into new files
(their live rows set aside, the tables emptied and refilled, in one
transaction), which locks them, so registrations wait, for about as long as
copying them takes. Backups, and on PostgreSQL the write-ahead log and replicas, keep their
copies until they expire.

Example:
  deno task cli compact
`,
  keygen: `Usage: deno task cli keygen [--out FILE | --id FILE]

Makes a new data encryption key: the base64 of 32 random bytes, for
DATA_ENCRYPTION_KEY or a DATA_KEY_FILE. Keep it apart from the database.

Options:
  --out FILE   write the key to FILE, a new file with mode 0600; an existing
               file is never overwritten (exit 2, nothing changed)
  --id FILE    make no key: print the id of each key in FILE (one a line,
               current first), or of the keys on stdin with --id -; the id
               is what inspect and rotate-key show, and reveals nothing of
               the key

Without --out the key is printed. Note that "keygen > FILE" lets the shell
empty FILE before keygen runs: never point it at a key in use.

Examples:
  deno task cli keygen --out secrets/new.key
  deno task cli keygen
  deno task cli keygen --id secrets/data.key
  printenv DATA_ENCRYPTION_KEY | deno task cli keygen --id -
`,
  "rotate-key": `Usage: deno task cli rotate-key [--quiet]

Moves the data to a new key while the bot keeps serving: new values are
written with the new key at once, and the values under old keys are
re-encrypted a page at a time. It ends by saying whether any value is left
under an old key (exit 3 if one is), and which old keys can be retired.

When the current key (DATA_ENCRYPTION_KEY, or the key file's first line) is
not yet the database's, the data moves to it: this is the step of a rotation
across several instances, after every instance got the new key as current
and the old one as previous (DATA_ENCRYPTION_KEYS_PREVIOUS, or the key
file's later lines). See docs/keys.md.

Otherwise a new key is made. With a key file (DATA_KEY_FILE, default
secrets/data.key), rotate-key writes the new key there itself, first, with
the old keys after it, so that the file opens the database at every moment
and a running bot reading it again finds the new key. With
DATA_ENCRYPTION_KEY, give the new key in NEW_DATA_ENCRYPTION_KEY, saved to a
file first; a running bot then needs a restart with the new key.

Options:
  --quiet   no progress display on a terminal

Examples:
  deno task cli rotate-key
  deno task cli keygen --out secrets/new.key
  NEW_DATA_ENCRYPTION_KEY="$(cat secrets/new.key)" deno task cli rotate-key
`,
  backup: `Usage: deno task cli backup --out FILE

Writes a consistent snapshot of the SQLite database to FILE, a new file with
mode 0600, while the bot keeps running. An existing file is never
overwritten (exit 2). The snapshot is encrypted like the database: back up
the data key too, kept apart from it. For PostgreSQL use pg_dump.

To restore: stop the bot, copy the snapshot to the database path, and start
the bot with the same data key.

Options:
  --out FILE   the new backup file

Example:
  deno task cli backup --out backups/bot-2026-11-29.db
`,
  copy: `Usage: deno task cli copy --to URL [--quiet]

Copies every record and the audit log from the current database (--database
or DATABASE_URL) into another, empty one: SQLite to PostgreSQL or back. A
target that already holds records is refused (exit 2, nothing changed).
Both databases use the same data key.

Options:
  --to URL   the target database: postgres://..., sqlite:PATH or a file path
  --quiet    no progress display on a terminal

Example:
  deno task cli copy --to postgres://bot@db.example.com/bot
`,
  setup: `Usage: deno task cli setup

Needs BOT_TOKEN. Does the one-time Bot API calls: stores the bot's profile
(getMe) in the database, sets the command menus per language and, when
WEBHOOK_URL is set (and BOT_MODE is not polling), registers the webhook with
WEBHOOK_SECRET. It never removes a webhook.

Example:
  BOT_TOKEN=123456789:AAH…your-token… deno task cli setup
`,
  sweep: `Usage: deno task cli sweep [--dry-run]

Needs RETENTION_DAYS. Erases every user and group the bot has not seen for
longer than RETENTION_DAYS days (the day last seen is kept as a date, UTC),
with every row of every table erased with them, a page at a time, and writes
one audit entry with the counts (reason: inactive). The bot runs the same
sweep once a day; this is for systemd timers or cron. Running it twice in a
day, or from two places, erases nothing twice.

Options:
  --dry-run   print how many users and groups would be erased; erase nothing

Examples:
  RETENTION_DAYS=365 deno task cli sweep --dry-run
  RETENTION_DAYS=365 deno task cli sweep
`,
  decommission: `Usage: deno task cli decommission [--yes] [--destroy-key]

The bot's end, as Telegram's terms require when a bot stops operating: erases
every record of every table (plugins' included) and writes the final audit
entry (reason: decommission); with BOT_TOKEN, removes the webhook and the
command menus at Telegram; with --destroy-key, then destroys the key file
(DATA_KEY_FILE): every backup made with that key becomes unreadable, for good.
It says all of this first, then asks you to type "${"shut down this bot"}";
without a terminal it needs --yes. A wrong answer changes nothing (exit 2).
Stop the bot first. See docs/operations.md for the whole shutdown.

Options:
  --yes           do not ask
  --destroy-key   destroy the key file afterwards (needs DATA_KEY_FILE's key)

Examples:
  BOT_TOKEN=123456789:AAH…your-token… deno task cli decommission
  deno task cli decommission --yes --destroy-key
`,
} as const;
