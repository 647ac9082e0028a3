import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { club, zoe } from "../_store_contract.ts";
import { loadMigrations } from "../migrations.ts";
import { openSqliteStore } from "./open.ts";
import { StoreError } from "../store.ts";
import {
  FieldCipher,
  generateKey,
  WrongKeyError,
} from "../../crypto/field_cipher.ts";
import { readGroup, readUser, registerGroup, registerUser } from "../_seed.ts";
import { holdWriteLock, leakedNames, withDir } from "./_test_support.ts";

const key = generateKey();

Deno.test("SQLite: a missing folder is created only when asked, and the file is owner-only, in WAL mode", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/nested/data/bot.db`;
    await assert.rejects(
      openSqliteStore(path),
      /Cannot open the SQLite database at ".*": its folder ".*\/nested\/data" does not exist/,
    );
    await assert.rejects(Deno.stat(`${dir}/nested`), Deno.errors.NotFound);
    const store = await openSqliteStore(path, { createFolder: true });
    await registerUser(store, {
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
    const migrations = await loadMigrations();
    assert.equal(await store.schemaVersion(), migrations.length);
    await store.close();
    const db = new DatabaseSync(path, { readOnly: true });
    const rows = db.prepare("SELECT version, name FROM schema_migrations").all()
      .map((row) => ({ ...row }));
    db.close();
    assert.deepEqual(
      rows,
      migrations.map(({ version, name }) => ({ version, name })),
    );
  });
});

Deno.test("SQLite: a failing migration rolls back and the store does not open", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const migrations = [
      {
        namespace: "core",
        version: 1,
        name: "init",
        sql: await Deno.readTextFile(
          new URL("../../../migrations/sqlite/0001_init.sql", import.meta.url),
        ),
      },
      {
        namespace: "core",
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

Deno.test("SQLite, encrypted: a wrong key, or none, is refused when the store opens", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await (await openSqliteStore(path, {
      cipher: FieldCipher.fromKeySync(key),
    })).close();
    await assert.rejects(
      openSqliteStore(path, {
        cipher: FieldCipher.fromKeySync(generateKey()),
      }),
      (error: Error) =>
        error instanceof WrongKeyError &&
        /^The data key \(key \w+\) is not the key this database was encrypted with/
          .test(error.message),
    );
    await assert.rejects(
      openSqliteStore(path),
      (error: Error) =>
        error instanceof WrongKeyError &&
        /set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key$/.test(
          error.message,
        ),
    );
  });
});

Deno.test("SQLite, encrypted: a plaintext database is encrypted the first time a key is given", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const plain = await openSqliteStore(path);
    await registerUser(plain, zoe, 1);
    await registerGroup(plain, club, 2);
    await plain.close();
    assert.ok((await leakedNames(path)).length > 0);
    const store = await openSqliteStore(path, {
      cipher: FieldCipher.fromKeySync(key),
    });
    assert.deepEqual(await leakedNames(path), []);
    assert.deepEqual(await readUser(store, 77), {
      ...zoe,
      registered_at: 1,
      seen_on: null,
    });
    assert.deepEqual(await readGroup(store, -500), {
      ...club,
      registered_at: 2,
      seen_on: null,
    });
    await store.close();
  });
});

Deno.test("SQLite: an existing file, its -wal and -shm are made owner-only by any open", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await (await openSqliteStore(path)).close();
    for (const create of [true, false]) {
      // Another connection keeps the -wal and -shm files in place.
      const other = new DatabaseSync(path);
      other.exec("PRAGMA journal_mode = WAL; SELECT * FROM users");
      for (const suffix of ["", "-wal", "-shm"]) {
        await Deno.chmod(path + suffix, 0o644);
      }
      const store = await openSqliteStore(path, { create });
      for (const suffix of ["", "-wal", "-shm"]) {
        assert.equal(
          (await Deno.stat(path + suffix)).mode! & 0o777,
          0o600,
          `${suffix || "the database"} with create: ${create}`,
        );
      }
      await store.close();
      other.close();
    }
  });
});

Deno.test("SQLite: opening waits for another connection's lock to apply migrations", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const migrations = await loadMigrations();
    // A database from an older version: all but the last migration.
    const older = new DatabaseSync(path);
    for (const { version, name, sql } of migrations.slice(0, -1)) {
      older.exec(sql);
      if (version === 1) continue;
      older.prepare(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)",
      ).run(version, name);
    }
    older.prepare(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'init', 0)",
    ).run();
    older.close();
    const lock = holdWriteLock(path);
    const events: string[] = [];
    const opening = openSqliteStore(path).then((store) => {
      events.push("opened");
      return store;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    events.push("released");
    lock.release();
    const store = await opening;
    assert.deepEqual(events, ["released", "opened"]);
    assert.equal(await store.schemaVersion(), migrations.length);
    await store.close();
  });
});
