import { DatabaseSync } from "node:sqlite";
import { decodeKey } from "../src/crypto/data_key.ts";
import { FieldCipher } from "../src/crypto/field_cipher.ts";
import { type SqliteStore } from "../src/store/sqlite/sqlite_store.ts";
import { openSqliteStore } from "../src/store/sqlite/open.ts";
import type { GroupRecord, UserRecord } from "../src/store/store.ts";
import { TEST_DATA_KEY } from "./_main_process.ts";
import { installedCatalog } from "../plugins.ts";
import { CORE_CATALOG } from "../src/base/tables.ts";

/** The cipher of `TEST_DATA_KEY` (or of another base64 key). */
export function testCipher(key = TEST_DATA_KEY): FieldCipher {
  return FieldCipher.fromKeySync(decodeKey(key, "key"));
}

/**
 * Opens the database file with the test key and the installed plugins'
 * catalog, as the bot and the CLI do: a database they made holds every
 * installed plugin's tables.
 */
export async function openTestStore(path: string): Promise<SqliteStore> {
  return await openSqliteStore(path, {
    cipher: testCipher(),
    catalog: installedCatalog(),
  });
}

/**
 * Opens the database file with the test key and the project's own tables
 * only, for tests about the core that run the CLI as `tests/_core_cli.ts`.
 */
export async function openCoreStore(path: string): Promise<SqliteStore> {
  return await openSqliteStore(path, {
    cipher: testCipher(),
    catalog: CORE_CATALOG,
  });
}

/**
 * Everything stored in a database file, decrypted with the test key;
 * `core` for a database of the project's own tables only.
 */
export async function readDb(
  path: string,
  options: { core?: boolean } = {},
): Promise<{ users: UserRecord[]; groups: GroupRecord[] }> {
  const store = options.core
    ? await openCoreStore(path)
    : await openTestStore(path);
  try {
    const users = [];
    for await (const user of store.iterate("users")) {
      users.push(user as unknown as UserRecord);
    }
    const groups = [];
    for await (const group of store.iterate("groups")) {
      groups.push(group as unknown as GroupRecord);
    }
    return { users, groups };
  } finally {
    await store.close();
  }
}

/** Runs SQL against a database file from outside the bot (as the CLI would). */
export function execDb(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec(sql);
  } finally {
    db.close();
  }
}

/** A fresh temporary directory, removed when disposed. */
export async function tempDir(): Promise<
  { path: string; [Symbol.asyncDispose](): Promise<void> }
> {
  const path = await Deno.makeTempDir({ prefix: "privacy_bot_test_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Overwrites the root page of `table` with garbage, as a failing disk might. */
export function damageTable(path: string, table: string): void {
  const db = new DatabaseSync(path);
  const { page_size: pageSize } = db.prepare("PRAGMA page_size").get() as {
    page_size: number;
  };
  const { rootpage } = db.prepare(
    "SELECT rootpage FROM sqlite_master WHERE name = ?",
  ).get(table) as { rootpage: number };
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  const file = Deno.openSync(path, { read: true, write: true });
  try {
    file.seekSync((rootpage - 1) * pageSize, Deno.SeekMode.Start);
    file.writeSync(new Uint8Array(pageSize).fill(0xa5));
  } finally {
    file.close();
  }
}

/** Holds the database's write lock from another connection until released. */
export function holdWriteLock(path: string): { release(): void } {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("BEGIN IMMEDIATE");
  return {
    release() {
      db.exec("ROLLBACK");
      db.close();
    },
  };
}
