import { DatabaseSync } from "node:sqlite";
import type { Catalog } from "../../base/tables.ts";
import { plaintexts } from "../_store_contract.ts";
import { pluginMigrationSql } from "../_plugin_tables.ts";

/**
 * Temporary, until opening a store applies the plugins' migrations: creates
 * the plugin tables of `catalog` in the database at `path`, unless there.
 */
export async function createPluginTables(
  path: string,
  catalog: Catalog,
): Promise<void> {
  const db = new DatabaseSync(path);
  try {
    const missing = catalog.tables.some((table) =>
      db.prepare("SELECT 1 FROM sqlite_master WHERE name = ?").get(
        table.name,
      ) === undefined
    );
    if (!missing) return;
    for (const sql of await pluginMigrationSql(catalog, "sqlite")) db.exec(sql);
  } finally {
    db.close();
  }
}

/** Runs `body` with a new temporary folder, removed afterwards. */
export async function withDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Another connection, as another process would, holding the write lock. */
export function holdWriteLock(path: string): { release(): void } {
  const other = new DatabaseSync(path);
  other.exec("BEGIN IMMEDIATE");
  return {
    release() {
      other.exec("COMMIT");
      other.close();
    },
  };
}

/** Which of the contract's plaintext names are in the file's bytes (or its -wal, -shm). */
export async function leakedNames(path: string): Promise<string[]> {
  const bytes: Uint8Array[] = [];
  for (const suffix of ["", "-wal", "-shm"]) {
    try {
      bytes.push(await Deno.readFile(path + suffix));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  const text = bytes.map((b) => new TextDecoder("latin1").decode(b)).join("\n");
  return plaintexts.filter((name) =>
    text.includes(
      new TextDecoder("latin1").decode(new TextEncoder().encode(name)),
    )
  );
}
