// The example notes plugin's data in a real SQLite file, for the privacy
// tools' tests: a store opened with its catalog, and its rows read back
// directly from the file.
import { DatabaseSync } from "node:sqlite";
import { type Catalog, catalogOf, CORE_NAMESPACE } from "../src/base/tables.ts";
import { NOTES_DATA } from "../examples/notes/data.ts";
import { loadMigrations } from "../src/store/migrations.ts";
import { openSqliteStore } from "../src/store/sqlite/open.ts";
import type { SqliteStore } from "../src/store/sqlite/sqlite_store.ts";
import { testCipher } from "./_db.ts";

/** Users, groups and the notes plugin's two tables. */
export const NOTES_CATALOG: Catalog = catalogOf([NOTES_DATA]);

/**
 * Opens (creating) the database at `path` with the test key and the notes
 * catalog. Its tables are made from the plugin's migration files when
 * missing: opening does not apply plugin migrations yet.
 */
export async function openNotesStore(path: string): Promise<SqliteStore> {
  const store = await openSqliteStore(path, {
    cipher: testCipher(),
    catalog: NOTES_CATALOG,
  });
  const db = new DatabaseSync(path);
  try {
    const made = db.prepare(
      "SELECT 1 FROM sqlite_master WHERE name = 'notes_entries'",
    ).get();
    for (const source of NOTES_CATALOG.migrations) {
      if (
        made || source.namespace === CORE_NAMESPACE ||
        source.sqlite === undefined
      ) continue;
      for (const migration of await loadMigrations(source.sqlite)) {
        db.exec(migration.sql);
      }
    }
  } finally {
    db.close();
  }
  return store;
}

/** The `user_id` of every row of a notes table, straight from the file. */
export function storedOwners(path: string, table: string): number[] {
  const db = new DatabaseSync(path);
  try {
    return db.prepare(`SELECT user_id FROM "${table}" ORDER BY user_id`).all()
      .map((row) => Number(row.user_id));
  } finally {
    db.close();
  }
}
