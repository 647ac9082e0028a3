// Column lists and SQL fragments built from the table descriptions, in one
// place, so that a column added by a migration and its description is added
// everywhere at once: both stores and both raw views read them from here.

import type { GroupRecord, UserRecord } from "../base/records.ts";
import {
  encryptedColumns,
  GROUPS,
  type TableDescription,
  USERS,
} from "../base/tables.ts";

/** The column names of a described table, in description order. */
export function columnNames(table: TableDescription): string[] {
  return table.columns.map((column) => column.name);
}

/** The columns a write gives: every one but the stamped ones. */
export function writtenColumns(table: TableDescription): string[] {
  return table.columns.filter((column) => column.stamp === undefined).map((
    column,
  ) => column.name);
}

/** The columns an upsert changes on a stored row: neither key nor stamp. */
export function updatedColumns(table: TableDescription): string[] {
  return writtenColumns(table).filter((name) => !table.key.includes(name));
}

/** The columns of `users`, in the order of `UserRecord`. */
export const USER_FIELDS = columnNames(USERS) as readonly (keyof UserRecord)[];

/** The columns of `groups`, in the order of `GroupRecord`. */
export const GROUP_FIELDS = columnNames(
  GROUPS,
) as readonly (keyof GroupRecord)[];

/** The columns of `audit_log` that an entry is made of (not its id). */
export const AUDIT_FIELDS = [
  "at",
  "actor",
  "action",
  "kind",
  "subject",
  "records",
  "outcome",
  "reason",
] as const;

/** `USER_FIELDS` as a column list, for reads and inserts. */
export const USER_COLUMNS = USER_FIELDS.join(", ");

/** `GROUP_FIELDS` as a column list, for reads and inserts. */
export const GROUP_COLUMNS = GROUP_FIELDS.join(", ");

/** `AUDIT_FIELDS` as a column list, for reads and inserts. */
export const AUDIT_COLUMNS = AUDIT_FIELDS.join(", ");

/**
 * Every stored encrypted value of the tables as one column `v`, for
 * counting values by key; null when no table has an encrypted column.
 */
export function encryptedValues(
  tables: readonly TableDescription[],
): string | null {
  const parts = tables.flatMap((table) =>
    encryptedColumns(table).map((column) =>
      `SELECT ${column} AS v FROM ${table.name}`
    )
  );
  return parts.length === 0 ? null : parts.join(" UNION ALL ");
}

/** `SET a = excluded.a, …` for an upsert of `columns`. */
export function fromExcluded(columns: readonly string[]): string {
  return columns.map((column) => `${column} = excluded.${column}`).join(", ");
}

/**
 * `ON CONFLICT (key) DO UPDATE SET …` for an upsert of a described table:
 * stamped columns keep their first value; a table whose every written
 * column is in its key has nothing to update.
 */
export function onConflictUpdate(table: TableDescription): string {
  const updated = updatedColumns(table);
  return `ON CONFLICT (${table.key.join(", ")}) ${
    updated.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${fromExcluded(updated)}`
  }`;
}

/** `a = ?, b = ?, …`: an update of `columns` by SQLite's positional parameters. */
export function assignments(columns: readonly string[]): string {
  return columns.map((column) => `${column} = ?`).join(", ");
}

/** One `?` per column, for SQLite's positional parameters. */
export function placeholders(columns: readonly string[]): string {
  return columns.map(() => "?").join(", ");
}

/**
 * Rows per page wherever a table is read or written a page at a time (the
 * stores, the raw copies): memory stays flat at any size.
 */
export const PAGE_SIZE = 1000;

/**
 * `ON CONFLICT (key) …` for a row carried to a new key (a group's move):
 * a row already there keeps its values and the earliest of the two stamps.
 * `earliest` is the engine's two-argument minimum (`min`, `least`).
 */
export function onConflictKeepEarliest(
  table: TableDescription,
  earliest: "min" | "least",
): string {
  const stamps = table.columns.filter((column) => column.stamp).map((
    column,
  ) => column.name);
  return `ON CONFLICT (${table.key.join(", ")}) ${
    stamps.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${
        stamps.map((name) =>
          `${name} = ${earliest}(${table.name}.${name}, excluded.${name})`
        ).join(", ")
      }`
  }`;
}

/** `a, b`: a table's key as a column list, for `ORDER BY` and row values. */
export function keyList(table: TableDescription): string {
  return table.key.join(", ");
}
