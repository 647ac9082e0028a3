import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { storeContract } from "./_store_contract.ts";
import { openSqliteStore } from "./sqlite_store.ts";
import { StoreError } from "./store.ts";

storeContract("SQLite", () => openSqliteStore(":memory:"));

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SQLite: the data directory is created and the file is owner-only, in WAL mode", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/nested/data/bot.db`;
    const store = await openSqliteStore(path);
    await store.upsertUser({
      id: 1,
      username: null,
      first_name: "A",
      last_name: null,
      language_code: null,
    }, 1);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${path}-wal`)).mode! & 0o777, 0o600);
    const db = new DatabaseSync(path, { readOnly: true });
    assert.equal(
      (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string })
        .journal_mode,
      "wal",
    );
    db.close();
    await store.close();
  });
});

Deno.test("SQLite: migrations are recorded and applied once across reopenings", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await (await openSqliteStore(path)).close();
    const store = await openSqliteStore(path);
    assert.equal(await store.schemaVersion(), 2);
    await store.close();
    const db = new DatabaseSync(path, { readOnly: true });
    const rows = db.prepare("SELECT version, name FROM schema_migrations").all()
      .map((row) => ({ ...row }));
    db.close();
    assert.deepEqual(rows, [
      { version: 1, name: "init" },
      { version: 2, name: "audit_log" },
    ]);
  });
});

Deno.test("SQLite: a failing migration rolls back and the store does not open", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const migrations = [
      {
        version: 1,
        name: "init",
        sql: await Deno.readTextFile(
          new URL("../migrations/0001_init.sql", import.meta.url),
        ),
      },
      {
        version: 2,
        name: "broken",
        sql: "CREATE TABLE half (x INTEGER); THIS IS NOT SQL",
      },
    ];
    await assert.rejects(
      openSqliteStore(path, { migrations }),
      (error: Error) =>
        error instanceof StoreError &&
        /migration 2 "broken" failed/.test(error.message),
    );
    const db = new DatabaseSync(path, { readOnly: true });
    const tables = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    ).all().map((row) => row.name);
    db.close();
    assert.deepEqual(tables, ["groups", "schema_migrations", "users"]);
  });
});

Deno.test("SQLite: another connection's commit changes the external version", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const store = await openSqliteStore(path);
    const before = await store.externalVersion();
    await store.upsertUser({
      id: 1,
      username: null,
      first_name: "A",
      last_name: null,
      language_code: null,
    }, 1);
    assert.equal(
      await store.externalVersion(),
      before,
      "own writes do not count",
    );
    const other = new DatabaseSync(path);
    other.exec("DELETE FROM users");
    other.close();
    assert.notEqual(await store.externalVersion(), before);
    await store.close();
  });
});
