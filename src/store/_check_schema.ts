// The "no table escapes" rule, checked at every open: each table or view in
// the database is described (and matches its description) or declared as
// bookkeeping, so that no privacy tool can miss one.

import { SchemaError } from "../base/errors.ts";
import type { Catalog, ColumnDescription } from "../base/tables.ts";

/** A column as the engine lists it. */
export interface FoundColumn {
  /** Its name. */
  name: string;
  /** Its declared type, as the engine spells it (`INTEGER`, `bigint`, `character varying(64)`). */
  type: string;
  /** Whether it refuses NULL (a primary key column counts as refusing it). */
  notNull: boolean;
}

/** A table or view as the engine lists it, with its columns in order. */
export interface FoundTable {
  /** `view` for views and materialized views, which hold or show data all the same. */
  kind: "table" | "view";
  /** Its columns in order. */
  columns: FoundColumn[];
}

/**
 * Throws `SchemaError` for the first table or view in `found` (the checked
 * schema's, by name) that no description covers and no plugin declared as
 * bookkeeping, then for the first described table that is missing, whose
 * column names differ from the description's, or whose column types or
 * nullability do not fit it.
 */
export function checkSchema(
  found: ReadonlyMap<string, FoundTable>,
  catalog: Catalog,
): void {
  const described = new Map(catalog.tables.map((table) => [table.name, table]));
  const bookkeeping = new Set(catalog.bookkeeping);
  for (const name of [...found.keys()].sort()) {
    if (described.has(name) || bookkeeping.has(name)) continue;
    const kind = found.get(name)!.kind === "view" ? "View" : "Table";
    throw new SchemaError(
      `${kind} "${name}" in the database is not described by any installed plugin: describe its personal data in the plugin's tables, or declare it as bookkeeping if it holds none, or install again the plugin that made it, or drop the ${kind.toLowerCase()}`,
    );
  }
  for (const table of catalog.tables) {
    const columns = found.get(table.name)?.columns;
    if (columns === undefined) {
      throw new SchemaError(
        `Table "${table.name}" is described by an installed plugin but is not in the database: add a migration that creates it`,
      );
    }
    const names = columns.map((column) => column.name);
    const expected = table.columns.map((column) => column.name);
    const extra = names.filter((column) => !expected.includes(column));
    const missing = expected.filter((column) => !names.includes(column));
    if (extra.length > 0 || missing.length > 0) {
      const differences = [
        ...(extra.length > 0
          ? [`the database has ${quoted(extra)}, which it does not describe`]
          : []),
        ...(missing.length > 0
          ? [`it describes ${quoted(missing)}, which the database lacks`]
          : []),
      ];
      throw new SchemaError(
        `Table "${table.name}" does not match its description: ${
          differences.join("; ")
        }; describe exactly the columns its migrations create`,
      );
    }
    for (const column of table.columns) {
      const migrated = columns.find((found) => found.name === column.name)!;
      const wrong = mismatch(column, migrated);
      if (wrong === undefined) continue;
      throw new SchemaError(
        `Table "${table.name}" column "${column.name}" does not match its description: it is described as ${wrong.described} but migrated as ${wrong.migrated}; never change a landed column's type, add a new column with a new migration`,
      );
    }
  }
}

const INTEGER_TYPES = /^(integer|int|bigint|smallint|int2|int4|int8)$/;
const TEXT_TYPES = /^(text|varchar|character varying)(\s*\(\d+\))?$/;

// How a described column and its migrated one disagree, or undefined: an
// integer or time must be an integer column, text a text column, and a
// column described as never empty must refuse NULL.
function mismatch(
  column: ColumnDescription,
  migrated: FoundColumn,
): { described: string; migrated: string } | undefined {
  const type = migrated.type.trim().toLowerCase();
  const fits = column.type === "text"
    ? TEXT_TYPES.test(type)
    : INTEGER_TYPES.test(type);
  const nullable = (nullable: boolean) => nullable ? "nullable" : "NOT NULL";
  if (fits && (column.nullable === true || migrated.notNull)) return undefined;
  return {
    described: `${column.type} ${nullable(column.nullable === true)}`,
    migrated: `${migrated.type === "" ? "(no type)" : migrated.type} ${
      nullable(!migrated.notNull)
    }`,
  };
}

function quoted(columns: readonly string[]): string {
  const names = columns.map((column) => `"${column}"`).join(", ");
  return `${columns.length === 1 ? "column" : "columns"} ${names}`;
}
