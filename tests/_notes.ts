// The example notes plugin's data in a real SQLite file, for the privacy
// tools' tests: a store opened with its catalog (which makes its tables),
// and its rows read back directly from the file.
import { DatabaseSync } from "node:sqlite";
import { type Catalog, catalogOf } from "../src/base/tables.ts";
import { NOTES_DATA } from "../examples/notes/data.ts";
import { openSqliteStore } from "../src/store/sqlite/open.ts";
import type { SqliteStore } from "../src/store/sqlite/sqlite_store.ts";
import { testCipher } from "./_db.ts";

/** Users, groups and the notes plugin's two tables. */
export const NOTES_CATALOG: Catalog = catalogOf([NOTES_DATA]);

/** Opens (creating) the database at `path` with the test key and the notes catalog. */
export async function openNotesStore(path: string): Promise<SqliteStore> {
  return await openSqliteStore(path, {
    cipher: testCipher(),
    catalog: NOTES_CATALOG,
  });
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
