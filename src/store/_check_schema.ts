// The "no table escapes" rule, checked at every open: each table in the
// database is described (and matches its description) or declared as
// bookkeeping, so that no privacy tool can miss one.

import { SchemaError } from "../base/errors.ts";
import type { Catalog } from "../base/tables.ts";

/**
 * Throws `SchemaError` for the first table in `found` (table name to its
 * columns, as the engine lists them) that no description covers and no
 * plugin declared as bookkeeping, then for the first described table whose
 * columns differ from the description's or that is missing.
 */
export function checkSchema(
  found: ReadonlyMap<string, readonly string[]>,
  catalog: Catalog,
): void {
  const described = new Map(catalog.tables.map((table) => [table.name, table]));
  const bookkeeping = new Set(catalog.bookkeeping);
  for (const name of [...found.keys()].sort()) {
    if (described.has(name) || bookkeeping.has(name)) continue;
    throw new SchemaError(
      `Table "${name}" in the database is not described by any installed plugin: describe its personal data in the plugin's tables, or declare it as bookkeeping if it holds none`,
    );
  }
  for (const table of catalog.tables) {
    const columns = found.get(table.name);
    if (columns === undefined) {
      throw new SchemaError(
        `Table "${table.name}" is described by an installed plugin but is not in the database: add a migration that creates it`,
      );
    }
    const expected = table.columns.map((column) => column.name);
    const extra = columns.filter((column) => !expected.includes(column));
    const missing = expected.filter((column) => !columns.includes(column));
    if (extra.length === 0 && missing.length === 0) continue;
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
}

function quoted(columns: readonly string[]): string {
  const names = columns.map((column) => `"${column}"`).join(", ");
  return `${columns.length === 1 ? "column" : "columns"} ${names}`;
}
