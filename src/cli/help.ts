/** The CLI's version, printed by `--version`. */
export const VERSION = "0.2.0";

/** `cli --help`. */
export const MAIN_HELP = `Usage: deno task cli <command> [options]

Answers privacy requests about the users and groups the bot has stored.

Commands:
  export       write records as json, ndjson or csv
  inspect      show one record, or a summary of the database
  purge        delete one record, or all of them
  migrate      create the database or apply pending migrations
  keygen       make a new data encryption key (--out FILE writes it safely)
  rotate-key   re-encrypt every record under a new key
  backup       write a consistent SQLite snapshot to a new file
  copy         copy every record and the audit log into another, empty database
  setup        the one-time Bot API calls (needs BOT_TOKEN)

Global options:
  --database URL   sqlite:PATH, a file path, or postgres://... (default:
                   $DATABASE_URL, else sqlite:data/bot.db)
  --help           show help (also after a command: cli export --help)
  --version        print the version

The data key comes from DATA_ENCRYPTION_KEY, else the file DATA_KEY_FILE
(default secrets/data.key), as for the bot.

Progress of long work (export --all, rotate-key, copy) is shown on stderr
only when it is a terminal; --quiet turns it off.

Exit codes: 0 done, 1 no record with that id, 2 usage error (nothing changed),
3 the database could not be opened or written.

Examples:
  deno task cli export --user 123456789 > alice.json
  deno task cli inspect
  deno task cli purge --group -1001234567890 --yes
  deno task cli migrate
  deno task cli keygen --out secrets/new.key
  deno task cli backup --out backups/bot.db
`;

/** `cli <command> --help`, per command. */
export const COMMAND_HELP = {
  export:
    `Usage: deno task cli export (--user ID | --group ID | --all) [options]

Writes the records to stdout, or to a new file with --out.

Options:
  --user ID          the user with this Telegram id
  --group ID         the group with this Telegram id (negative)
  --all              every user and group (streamed; memory stays flat)
  --format FORMAT    json (default), ndjson or csv
  --out FILE         write to FILE, created with mode 0600; an existing file is refused
  --force            with --out, overwrite an existing file
  --quiet            no progress display on a terminal

Every export is written to the audit log before any record leaves the
database; when that entry cannot be written, nothing is exported (exit 3).

Examples:
  deno task cli export --user 123456789
  deno task cli export --all --format ndjson --out backup.ndjson
  deno task cli export --group -1001234567890 --format csv
`,
  inspect: `Usage: deno task cli inspect [--user ID | --group ID]

Shows one record in readable form or, without an id, a summary: counts, schema
version, oldest and newest registration, size, and recent privacy requests.

Options:
  --user ID    the user with this Telegram id
  --group ID   the group with this Telegram id (negative)

Examples:
  deno task cli inspect
  deno task cli inspect --user 123456789
`,
  purge:
    `Usage: deno task cli purge (--user ID | --group ID | --all) [--dry-run] [--yes]

Deletes the record (one transaction, recorded in the audit log). On a terminal
it shows the record and asks first; elsewhere it needs --yes.

Options:
  --user ID    the user with this Telegram id
  --group ID   the group with this Telegram id (negative)
  --all        every user and group record (when the bot stops operating);
               on a terminal, type "delete all records" to confirm
  --dry-run    show what would be deleted, delete nothing
  --yes        do not ask

Examples:
  deno task cli purge --user 123456789
  deno task cli purge --group -1001234567890 --dry-run
  deno task cli purge --all --yes
`,
  migrate: `Usage: deno task cli migrate

Applies pending migrations (each in a transaction) and prints the schema
version. Safe to run any number of times. A missing SQLite database is
created (so is the default data/ folder), but never any other missing folder.

Example:
  deno task cli migrate
`,
  keygen: `Usage: deno task cli keygen [--out FILE]

Makes a new data encryption key: the base64 of 32 random bytes, for
DATA_ENCRYPTION_KEY or a DATA_KEY_FILE. Keep it apart from the database.

Options:
  --out FILE   write the key to FILE, a new file with mode 0600; an existing
               file is never overwritten (exit 2, nothing changed)

Without --out the key is printed. Note that "keygen > FILE" lets the shell
empty FILE before keygen runs: never point it at a key in use.

Examples:
  deno task cli keygen --out secrets/new.key
  deno task cli keygen
`,
  "rotate-key": `Usage: deno task cli rotate-key [--quiet]

Re-encrypts every record under a new key in one transaction: if it stops
midway, the old key still opens the database and nothing is lost.

With a key file (DATA_KEY_FILE, default secrets/data.key), rotate-key makes
the new key itself: it writes it beside the old one (FILE.new, mode 0600),
re-encrypts, and then renames it over the old file. The data is readable by
a saved key at every moment.

With DATA_ENCRYPTION_KEY, give the new key in NEW_DATA_ENCRYPTION_KEY, saved
to a file first, and set DATA_ENCRYPTION_KEY to it afterwards.

Restart a running bot afterwards: until then its writes are refused.

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
WEBHOOK_URL is set, registers the webhook with WEBHOOK_SECRET.

Example:
  BOT_TOKEN=123:abc deno task cli setup
`,
} as const;
