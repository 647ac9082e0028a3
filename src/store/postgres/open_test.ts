import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { club, plaintexts, zoe } from "../_store_contract.ts";
import { loadMigrations } from "../migrations.ts";
import { openPostgresStore, POSTGRES_MIGRATIONS } from "./open.ts";
import { StoreError } from "../store.ts";
import {
  FieldCipher,
  generateKey,
  WrongKeyError,
} from "../../crypto/field_cipher.ts";
import { execPg } from "../../../tests/_pg.ts";
import { readGroup, readUser, registerGroup, registerUser } from "../_seed.ts";
import { leakedNames, open, pgCase, tableFileText } from "./_test_support.ts";

const key = generateKey();

pgCase(
  "encrypted: a wrong key, or none, is refused when the store opens",
  async (db) => {
    await (await open(db, FieldCipher.fromKeySync(key))).close();
    await assert.rejects(
      open(db, FieldCipher.fromKeySync(generateKey())),
      (error: Error) =>
        error instanceof WrongKeyError &&
        /^The data key \(key \w+\) is not the key this database was encrypted with/
          .test(error.message),
    );
    await assert.rejects(
      open(db),
      (error: Error) =>
        error instanceof WrongKeyError &&
        /set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key$/.test(
          error.message,
        ),
    );
  },
);

pgCase(
  "encrypted: a plaintext database is encrypted the first time a key is given",
  async (db) => {
    const plain = await open(db);
    await registerUser(plain, zoe, 1);
    await registerGroup(plain, club, 2);
    await plain.close();
    assert.ok((await leakedNames(db)).length > 0);
    // Two instances starting together with the key encrypt it once.
    const cipher = FieldCipher.fromKeySync(key);
    const [store, other] = await Promise.all([
      open(db, cipher),
      open(db, cipher),
    ]);
    assert.deepEqual(await leakedNames(db), []);
    assert.deepEqual(await readUser(store, 77), {
      ...zoe,
      registered_at: 1,
      seen_on: null,
    });
    assert.deepEqual(await readGroup(other, -500), {
      ...club,
      registered_at: 2,
      seen_on: null,
    });
    await store.close();
    await other.close();
  },
);

pgCase(
  "a store opened without a key writes no plaintext once another process bound one",
  async (db) => {
    const plain = await open(db);
    await registerUser(plain, zoe, 1);
    await (await open(db, FieldCipher.fromKeySync(key))).close();
    await assert.rejects(
      registerUser(plain, { ...zoe, id: 79 }, 2),
      WrongKeyError,
    );
    await plain.close();
    assert.deepEqual(await leakedNames(db), []);
  },
);

pgCase(
  "instances starting together apply each migration exactly once",
  async (db) => {
    const stores = await Promise.all(
      Array.from({ length: 6 }, () => open(db)),
    );
    const migrations = await loadMigrations(POSTGRES_MIGRATIONS);
    for (const store of stores) {
      assert.equal(await store.schemaVersion(), migrations.length);
    }
    await Promise.all(stores.map((store) => store.close()));
    const rows = await execPg(
      db,
      (sql) =>
        sql`SELECT version, name FROM schema_migrations ORDER BY version`,
    );
    assert.deepEqual(
      rows.map((row) => ({ version: row.version, name: row.name })),
      migrations.map(({ version, name }) => ({ version, name })),
    );
    const keys = await execPg(
      db,
      (sql) => sql`SELECT count(*)::int AS n FROM audit_key`,
    );
    assert.equal(keys[0]!.n, 1);
  },
);

pgCase(
  "a failing migration rolls back and the store does not open",
  async (db) => {
    const migrations = [
      (await loadMigrations(POSTGRES_MIGRATIONS))[0]!,
      {
        namespace: "core",
        version: 2,
        name: "broken",
        sql: "CREATE TABLE half (x INTEGER); THIS IS NOT SQL",
      },
    ];
    await assert.rejects(
      openPostgresStore(db.location.connection, { migrations }),
      (error: Error) =>
        error instanceof StoreError &&
        /migration 2 "broken" failed/.test(error.message),
    );
    const tables = await execPg(
      db,
      (sql) =>
        sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public'
          ORDER BY tablename`,
    );
    assert.deepEqual(
      tables.map((row) => row.tablename),
      [
        "groups",
        "schema_migrations",
        "users",
      ],
    );
  },
);

pgCase(
  "the first encryption rewrites the tables: no old plaintext stays in their files",
  async (db) => {
    const plain = await open(db);
    await registerUser(plain, zoe, 1);
    await registerGroup(plain, club, 1);
    await plain.close();
    const before = await tableFileText(db);
    assert.ok(before.includes("Zoëname"), "the file check can fail");

    await (await open(db, FieldCipher.fromKeySync(key))).close();
    const after = await tableFileText(db);
    assert.deepEqual(plaintexts.filter((name) => after.includes(name)), []);
  },
);

// Every `table.column` the SQLite migrations create.
async function sqliteColumns(): Promise<string[]> {
  const db = new DatabaseSync(":memory:");
  for (const migration of await loadMigrations()) db.exec(migration.sql);
  const columns: string[] = [];
  const tables = db.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
  ).all();
  for (const { name } of tables) {
    for (const column of db.prepare(`PRAGMA table_info("${name}")`).all()) {
      columns.push(`${name}.${column.name}`);
    }
  }
  db.close();
  return columns.sort();
}

pgCase(
  "the migrations create the same tables and columns as SQLite's, with the same numbers",
  async (db) => {
    await (await open(db)).close();
    const rows = await execPg(
      db,
      (sql) =>
        sql`SELECT table_name, column_name FROM information_schema.columns
          WHERE table_schema = 'public'`,
    );
    const columns = rows.map((row) => `${row.table_name}.${row.column_name}`)
      .sort();
    assert.ok(columns.includes("users.registered_at"), "schema not read");
    assert.deepEqual(columns, await sqliteColumns());
    const numbers = (migrations: { version: number; name: string }[]) =>
      migrations.map(({ version, name }) => `${version}_${name}`);
    assert.deepEqual(
      numbers(await loadMigrations(POSTGRES_MIGRATIONS)),
      numbers(await loadMigrations()),
    );
    const types = await execPg(
      db,
      (sql) =>
        sql`SELECT table_name || '.' || column_name AS c, data_type AS t
          FROM information_schema.columns
          WHERE table_schema = 'public'
            AND column_name IN ('id', 'registered_at', 'key')
            AND table_name IN ('users', 'groups', 'audit_key')
          ORDER BY 1`,
    );
    assert.deepEqual(types.map((row) => [row.c, row.t]), [
      ["audit_key.id", "integer"],
      ["audit_key.key", "bytea"],
      ["groups.id", "bigint"],
      ["groups.registered_at", "bigint"],
      ["users.id", "bigint"],
      ["users.registered_at", "bigint"],
    ]);
  },
);
