// For tests, and temporary: opening a store does not apply the plugins'
// migrations yet, so the tests create a catalog's plugin tables themselves
// by running its migration files after opening. To be replaced (and this
// file deleted) once opening applies them.

import { type Catalog, CORE_NAMESPACE } from "../base/tables.ts";

/**
 * The SQL of every plugin migration of `catalog` for `engine`, one string
 * per file, in namespace then file order.
 */
export async function pluginMigrationSql(
  catalog: Catalog,
  engine: "sqlite" | "postgres",
): Promise<string[]> {
  const sql: string[] = [];
  for (const source of catalog.migrations) {
    const folder = source[engine];
    if (source.namespace === CORE_NAMESPACE || folder === undefined) continue;
    const names: string[] = [];
    for await (const entry of Deno.readDir(folder)) {
      if (/^\d{4}_.*\.sql$/.test(entry.name)) names.push(entry.name);
    }
    for (const name of names.sort()) {
      sql.push(await Deno.readTextFile(new URL(name, folder)));
    }
  }
  return sql;
}
