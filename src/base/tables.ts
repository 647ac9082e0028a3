/**
 * Personal data described as data: every table that holds something about a
 * person or a group is a `TableDescription`, and every privacy tool (export,
 * inspect, purge, copy, encryption, rotation, the erasure rule, the
 * PRIVACY.md check) goes through the descriptions instead of knowing tables
 * by name. The project's own users and groups are two descriptions like any
 * plugin's.
 *
 * @module
 */

/**
 * Whose data a table holds: a person's (`user`), a group's (`group`), or a
 * person's within one group (`member`: erased with the person and with the
 * group, exported with the person only).
 */
export type Subject = "user" | "group" | "member";

/** How a column is stored and how it reads in an export. */
export type ColumnType =
  /** A whole number (Telegram ids included), exported as a JSON number. */
  | "integer"
  /** Text, exported as a string. */
  | "text"
  /** Unix seconds (UTC), exported as ISO 8601 (`2026-11-29T14:00:00Z`). */
  | "time";

/** One stored column: what it means, how it is stored, how it is exported. */
export interface ColumnDescription {
  /** The SQL column name: lowercase letters, digits and `_`. */
  readonly name: string;
  /** What the column holds, in one sentence, as the privacy policy says it. */
  readonly meaning: string;
  readonly type: ColumnType;
  /** Whether the column may be empty (SQL NULL). */
  readonly nullable?: boolean;
  /**
   * Encrypted at rest with the data key (text columns only): the store
   * encrypts on write, decrypts on read, and rotates it with the key.
   */
  readonly encrypted?: boolean;
  /**
   * `inserted`: the store sets it to the time the row was first written and
   * never changes it afterwards (a `time` column; writers leave it out).
   */
  readonly stamp?: "inserted";
}

/** A table of personal data: whose it is, and every column it has. */
export interface TableDescription {
  /**
   * The SQL table name. A plugin's tables start with its name and `_`
   * (`notes_entries`), so that no two plugins collide.
   */
  readonly name: string;
  /**
   * What one row is, in the singular (`user`, `group`, `note`): the `kind`
   * of an NDJSON or CSV export line and how the CLI names a row.
   */
  readonly record: string;
  readonly subject: Subject;
  /** The column holding the person's Telegram id (`user` and `member`). */
  readonly userColumn?: string;
  /** The column holding the group's Telegram chat id (`group` and `member`). */
  readonly groupColumn?: string;
  /** The primary key's columns; it includes the subject columns. */
  readonly key: readonly string[];
  /** Every column of the table, in export order. */
  readonly columns: readonly ColumnDescription[];
}

/** A stored row as every layer passes it: column name to value. */
export type Row = Record<string, string | number | null>;

/** Registered Telegram users: exactly the fields the privacy policy lists. */
export const USERS: TableDescription = {
  name: "users",
  record: "user",
  subject: "user",
  userColumn: "id",
  key: ["id"],
  columns: [
    { name: "id", type: "integer", meaning: "The person's Telegram user id." },
    {
      name: "username",
      type: "text",
      nullable: true,
      encrypted: true,
      meaning: "Their public @username, if they have one.",
    },
    {
      name: "first_name",
      type: "text",
      encrypted: true,
      meaning: "Their first name as set in Telegram.",
    },
    {
      name: "last_name",
      type: "text",
      nullable: true,
      encrypted: true,
      meaning: "Their last name, if set.",
    },
    {
      name: "language_code",
      type: "text",
      nullable: true,
      meaning: "The language of their Telegram app, to answer in it.",
    },
    {
      name: "registered_at",
      type: "time",
      stamp: "inserted",
      meaning: "When the bot first saw them.",
    },
    {
      name: "seen_on",
      type: "text",
      nullable: true,
      meaning:
        "The day (UTC, no time) the bot last saw them; kept only when a retention period is configured.",
    },
  ],
};

/** Registered groups and supergroups: exactly the fields the policy lists. */
export const GROUPS: TableDescription = {
  name: "groups",
  record: "group",
  subject: "group",
  groupColumn: "id",
  key: ["id"],
  columns: [
    { name: "id", type: "integer", meaning: "The group's Telegram chat id." },
    {
      name: "username",
      type: "text",
      nullable: true,
      encrypted: true,
      meaning: "The group's public @username, if it has one.",
    },
    {
      name: "title",
      type: "text",
      encrypted: true,
      meaning: "The group's title.",
    },
    {
      name: "type",
      type: "text",
      meaning: "`group` or `supergroup`.",
    },
    {
      name: "registered_at",
      type: "time",
      stamp: "inserted",
      meaning: "When the bot first saw the group.",
    },
    {
      name: "seen_on",
      type: "text",
      nullable: true,
      meaning:
        "The day (UTC, no time) the bot last saw activity in the group; kept only when a retention period is configured.",
    },
  ],
};

/**
 * Tables the project itself keeps that hold no personal data (or only
 * keyed hashes, as the audit log): never exported, never refused at start.
 */
export const CORE_BOOKKEEPING: readonly string[] = [
  "schema_migrations",
  "audit_log",
  "audit_key",
  "data_key_check",
  "erasure_version",
  "health",
  "bot_profile",
  "retention",
];

/** The numbered migrations of one namespace, one folder per engine. */
export interface MigrationSource {
  /** `core` for the project's own; a plugin's name for its own. */
  readonly namespace: string;
  /** The folder of `NNNN_name.sql` files for SQLite, if any. */
  readonly sqlite?: URL;
  /** The folder of `NNNN_name.sql` files for PostgreSQL, if any. */
  readonly postgres?: URL;
}

/**
 * Everything the store must know about what it holds: every described
 * table (users and groups first), the bookkeeping tables, and the
 * migrations of each namespace (core first), as the installed plugins
 * declare them.
 */
export interface Catalog {
  readonly tables: readonly TableDescription[];
  readonly bookkeeping: readonly string[];
  readonly migrations: readonly MigrationSource[];
}

/** The namespace of the project's own migrations. */
export const CORE_NAMESPACE = "core";

/** The project's own migrations, in `migrations/<engine>/`. */
export const CORE_MIGRATIONS: MigrationSource = {
  namespace: CORE_NAMESPACE,
  sqlite: new URL("../../migrations/sqlite/", import.meta.url),
  postgres: new URL("../../migrations/postgres/", import.meta.url),
};

/** The catalog with no plugin data: users, groups and the bookkeeping. */
export const CORE_CATALOG: Catalog = {
  tables: [USERS, GROUPS],
  bookkeeping: CORE_BOOKKEEPING,
  migrations: [CORE_MIGRATIONS],
};

/** What a plugin declares about its data, as `catalogOf` reads it. */
export interface DataDeclaration {
  readonly name: string;
  readonly tables?: readonly TableDescription[];
  readonly bookkeeping?: readonly string[];
  readonly migrations?: { readonly sqlite?: URL; readonly postgres?: URL };
}

const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * The catalog of the installed plugins, checked: names are identifiers, a
 * plugin's tables start with its name, every description is complete.
 * Throws `TypeError` naming the plugin and what is wrong.
 */
export function catalogOf(plugins: readonly DataDeclaration[]): Catalog {
  const tables: TableDescription[] = [];
  const bookkeeping: string[] = [...CORE_BOOKKEEPING];
  const migrations: MigrationSource[] = [CORE_MIGRATIONS];
  const names = new Set<string>();
  for (const plugin of plugins) {
    if (!IDENTIFIER.test(plugin.name) || plugin.name === CORE_NAMESPACE) {
      throw new TypeError(
        `Plugin name "${plugin.name}" must be lowercase letters, digits and _, starting with a letter, and not "${CORE_NAMESPACE}"`,
      );
    }
    if (names.has(plugin.name)) {
      throw new TypeError(`Plugin "${plugin.name}" is installed twice`);
    }
    names.add(plugin.name);
    for (const table of plugin.tables ?? []) {
      checkDescription(table);
      if (!isCoreTable(table) && !table.name.startsWith(`${plugin.name}_`)) {
        throw new TypeError(
          `Plugin "${plugin.name}" describes table "${table.name}": its tables must start with "${plugin.name}_"`,
        );
      }
      tables.push(table);
    }
    for (const name of plugin.bookkeeping ?? []) {
      if (!name.startsWith(`${plugin.name}_`)) {
        throw new TypeError(
          `Plugin "${plugin.name}" declares bookkeeping table "${name}": its tables must start with "${plugin.name}_"`,
        );
      }
      bookkeeping.push(name);
    }
    if (plugin.migrations !== undefined) {
      migrations.push({ namespace: plugin.name, ...plugin.migrations });
    }
  }
  const seen = new Set<string>();
  for (const table of tables) {
    if (seen.has(table.name)) {
      throw new TypeError(`Table "${table.name}" is described twice`);
    }
    seen.add(table.name);
  }
  // Users and groups come first wherever tables are gone through.
  return { tables: orderCoreFirst(tables), bookkeeping, migrations };
}

/** Whether `table` is the project's own `users` or `groups`. */
export function isCoreTable(table: TableDescription): boolean {
  return table === USERS || table === GROUPS;
}

function orderCoreFirst(
  tables: readonly TableDescription[],
): TableDescription[] {
  return [USERS, GROUPS, ...tables.filter((table) => !isCoreTable(table))];
}

/**
 * Throws `TypeError` unless `table` is complete: identifiers for names,
 * the subject columns and the key among the columns, encryption only on
 * text, stamps only on times.
 */
export function checkDescription(table: TableDescription): void {
  const fail = (what: string): never => {
    throw new TypeError(`Table description "${table.name}": ${what}`);
  };
  if (!IDENTIFIER.test(table.name)) {
    fail("the name must be lowercase letters, digits and _");
  }
  const columns = new Set<string>();
  for (const column of table.columns) {
    if (!IDENTIFIER.test(column.name)) {
      fail(`column "${column.name}" must be lowercase letters, digits and _`);
    }
    if (columns.has(column.name)) fail(`column "${column.name}" is twice`);
    columns.add(column.name);
    if (column.encrypted && column.type !== "text") {
      fail(`column "${column.name}" is encrypted but not text`);
    }
    if (column.stamp !== undefined && column.type !== "time") {
      fail(`column "${column.name}" is stamped but not a time`);
    }
    if (column.meaning.trim() === "") {
      fail(`column "${column.name}" has no meaning`);
    }
  }
  const needs: [string | undefined, boolean, string][] = [
    [table.userColumn, table.subject !== "group", "userColumn"],
    [table.groupColumn, table.subject !== "user", "groupColumn"],
  ];
  for (const [column, needed, label] of needs) {
    if (needed && column === undefined) {
      fail(`a ${table.subject} table needs ${label}`);
    }
    if (!needed && column !== undefined) {
      fail(`a ${table.subject} table has no ${label}`);
    }
    if (column !== undefined && !table.key.includes(column)) {
      fail(`${label} "${column}" must be part of the key`);
    }
  }
  if (table.key.length === 0) fail("the key is empty");
  for (const column of table.key) {
    if (!columns.has(column)) fail(`key column "${column}" is not a column`);
  }
}

/** The tables holding rows about `kind`'s records (a group's: not members'). */
export function tablesAbout(
  tables: readonly TableDescription[],
  kind: "user" | "group",
): TableDescription[] {
  return tables.filter((table) =>
    kind === "user" ? table.userColumn !== undefined : table.subject === "group"
  );
}

/**
 * The tables a purge of `kind`'s record deletes from: a group's purge also
 * deletes what its members stored within it.
 */
export function tablesErasedWith(
  tables: readonly TableDescription[],
  kind: "user" | "group",
): TableDescription[] {
  return tables.filter((table) =>
    kind === "user"
      ? table.userColumn !== undefined
      : table.groupColumn !== undefined
  );
}

/** The encrypted columns of a table, in column order. */
export function encryptedColumns(table: TableDescription): string[] {
  return table.columns.filter((column) => column.encrypted).map((column) =>
    column.name
  );
}
