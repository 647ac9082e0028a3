import { plaintexts } from "../_store_contract.ts";
import type { FieldCipher } from "../../crypto/field_cipher.ts";
import {
  createTestDatabase,
  execPg,
  postgresUnavailable,
  type TestDatabase,
} from "../../../tests/_pg.ts";
import { openPostgresStore } from "./open.ts";
import type { Catalog } from "../../base/tables.ts";
import { pluginMigrationSql } from "../_plugin_tables.ts";
import type { PostgresStore } from "./postgres_store.ts";

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export const unavailable = await postgresUnavailable();

/** Runs `body` on its own fresh database, dropped afterwards (ignored without a server). */
export function pgCase(
  title: string,
  body: (db: TestDatabase) => Promise<void>,
): void {
  Deno.test({
    name: `PostgreSQL: ${title}`,
    ignore: unavailable !== undefined,
    fn: async () => {
      const db = await createTestDatabase();
      try {
        await body(db);
      } finally {
        await db.drop();
      }
    },
  });
}

/** Opens a store on the test database. */
export function open(
  db: TestDatabase,
  cipher?: FieldCipher,
  options = {},
): Promise<PostgresStore> {
  return openPostgresStore(db.location.connection, { cipher, ...options });
}

/**
 * Temporary, until opening a store applies the plugins' migrations: creates
 * the plugin tables of `catalog` in the test database, unless there.
 */
export async function createPluginTables(
  db: TestDatabase,
  catalog: Catalog,
): Promise<void> {
  await execPg(db, async (sql) => {
    const names = catalog.tables.map((table) => table.name);
    const [found] = await sql`SELECT count(*)::int AS n FROM pg_tables
      WHERE tablename IN ${sql(names)}
        AND schemaname = ANY (current_schemas(false))`;
    if (found!.n === names.length) return;
    for (const text of await pluginMigrationSql(catalog, "postgres")) {
      await sql.unsafe(text);
    }
  });
}

/** Every name found as it is in the stored rows (the values as stored). */
export async function leakedNames(db: TestDatabase): Promise<string[]> {
  const rows = await execPg(
    db,
    (sql) =>
      sql`SELECT username, first_name, last_name, NULL AS title FROM users
        UNION ALL SELECT username, NULL, NULL, title FROM groups`,
  );
  const text = JSON.stringify(rows);
  return plaintexts.filter((name) => text.includes(name));
}

/**
 * The users and groups tables' files as the server wrote them to disk
 * (after a checkpoint), as text, for a search of the stored bytes.
 */
export async function tableFileText(db: TestDatabase): Promise<string> {
  const [row] = await execPg(db, async (sql) => {
    await sql`CHECKPOINT`;
    return await sql`SELECT current_setting('data_directory') AS dir,
      pg_relation_filepath('users') AS users,
      pg_relation_filepath('groups') AS groups`;
  });
  let text = "";
  for (const file of [row!.users, row!.groups] as string[]) {
    // Not fatal: the pages' bytes around the values are not UTF-8.
    text += new TextDecoder().decode(
      await Deno.readFile(`${row!.dir}/${file}`),
    );
  }
  return text;
}
