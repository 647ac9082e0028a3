/** The CLI's version, printed by `--version`. */
export const VERSION = "0.2.0";

/** `cli --help`. */
export const MAIN_HELP = `Usage: deno task cli <command> [options]

Answers privacy requests about the users and groups the bot has stored.

Commands:
  export       write records as json, ndjson or csv
  inspect      show one record, or a summary of the database
  purge        delete one record, or all of them
  migrate      apply pending database migrations
  keygen       print a new data encryption key
  rotate-key   re-encrypt every record with NEW_DATA_ENCRYPTION_KEY

Global options:
  --database URL   sqlite:PATH or a file path (default: $DATABASE_URL, else sqlite:data/bot.db)
  --help           show help (also after a command: cli export --help)
  --version        print the version

The data key comes from DATA_ENCRYPTION_KEY, else the file DATA_KEY_FILE
(default secrets/data.key), as for the bot.

Exit codes: 0 done, 1 no record with that id, 2 usage error (nothing changed),
3 the database could not be opened or written.

Examples:
  deno task cli export --user 123456789 > alice.json
  deno task cli inspect
  deno task cli purge --group -1001234567890 --yes
  deno task cli migrate
  deno task cli keygen
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
version. Safe to run any number of times.

Example:
  deno task cli migrate
`,
  keygen: `Usage: deno task cli keygen

Prints a new data encryption key: the base64 of 32 random bytes, for
DATA_ENCRYPTION_KEY or a DATA_KEY_FILE. Keep it apart from the database.

Example:
  deno task cli keygen > secrets/data.key
`,
  "rotate-key":
    `Usage: DATA_ENCRYPTION_KEY=OLD NEW_DATA_ENCRYPTION_KEY=NEW deno task cli rotate-key

Re-encrypts every record from the current key (DATA_ENCRYPTION_KEY, or the
DATA_KEY_FILE) to NEW_DATA_ENCRYPTION_KEY in one transaction: if it stops
midway, the old key still opens the database and nothing is lost. Afterwards,
configure the new key for the bot and the CLI.

Example:
  NEW_DATA_ENCRYPTION_KEY="$(deno task cli keygen)" deno task cli rotate-key
`,
} as const;
