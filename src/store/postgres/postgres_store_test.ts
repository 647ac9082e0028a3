import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { club, plaintexts, storeContract, zoe } from "../_store_contract.ts";
import { loadMigrations } from "../migrations.ts";
import { type PostgresStore } from "./postgres_store.ts";
import { openPostgresStore, POSTGRES_MIGRATIONS } from "./open.ts";
import { type Store, StoreError } from "../store.ts";
import {
  FieldCipher,
  generateKey,
  TamperedError,
  WrongKeyError,
} from "../../crypto/field_cipher.ts";
import { TcpProxy } from "../../../tests/_tcp_proxy.ts";
import {
  createTestDatabase,
  execPg,
  postgresUnavailable,
  type TestDatabase,
} from "../../../tests/_pg.ts";
import { moveGroup, registerGroup, registerUser } from "../_seed.ts";

const unavailable = await postgresUnavailable();

if (unavailable !== undefined) {
  console.warn(`skipping the PostgreSQL store tests: ${unavailable}`);
  Deno.test({
    name: "PostgreSQL: the store contract (skipped, no server)",
    ignore: true,
    fn: () => {},
  });
} else {
  const databases: TestDatabase[] = [];
  const migrations = (await loadMigrations(POSTGRES_MIGRATIONS)).length;
  // One database per suite, emptied before each test: creating a database
  // per test would be slow, and every test still starts from no records.
  const suite = (name: string, cipher?: FieldCipher) => {
    let database: Promise<TestDatabase> | undefined;
    const connect = async () => {
      database ??= createTestDatabase().then((db) => {
        databases.push(db);
        return db;
      });
      return await openPostgresStore((await database).location.connection, {
        cipher,
      });
    };
    storeContract(name, {
      async open(): Promise<Store> {
        const store: PostgresStore = await connect();
        await execPg(
          await database!,
          (sql) => sql`TRUNCATE users, groups, audit_log, bot_profile`,
        );
        return store;
      },
      connectAgain: () => connect(),
      migrations,
    });
  };
  suite("PostgreSQL");
  suite(
    "PostgreSQL, encrypted",
    FieldCipher.fromKeySync(generateKey()),
  );

  Deno.test("PostgreSQL: the test databases are dropped", async () => {
    for (const database of databases) await database.drop();
  });

  definePostgresTests();
}

// Runs `body` on its own fresh database, dropped afterwards.
function pgCase(
  title: string,
  body: (db: TestDatabase) => Promise<void>,
): void {
  Deno.test(`PostgreSQL: ${title}`, async () => {
    const db = await createTestDatabase();
    try {
      await body(db);
    } finally {
      await db.drop();
    }
  });
}

function open(db: TestDatabase, cipher?: FieldCipher, options = {}) {
  return openPostgresStore(db.location.connection, { cipher, ...options });
}

// The same unit as SQLite's, and a new value each time, so that the probe
// really writes however fast it is asked again.
pgCase(
  "the write probe stores milliseconds and changes its row each time",
  async (db) => {
    const store = await open(db);
    const checkedAt = async () =>
      Number(
        (await execPg(db, (sql) => sql`SELECT checked_at FROM health`))[0]!
          .checked_at,
      );
    const before = Date.now();
    await store.checkWritable();
    const first = await checkedAt();
    assert.ok(first >= before, "checked_at is in milliseconds");
    await store.checkWritable();
    await store.checkWritable();
    assert.ok(await checkedAt() >= first + 2, "every probe changed the row");
    await store.close();
  },
);

// Every name found as it is in the stored rows (the values as stored).
async function leakedNames(db: TestDatabase): Promise<string[]> {
  const rows = await execPg(
    db,
    (sql) =>
      sql`SELECT username, first_name, last_name, NULL AS title FROM users
        UNION ALL SELECT username, NULL, NULL, title FROM groups`,
  );
  const text = JSON.stringify(rows);
  return plaintexts.filter((name) => text.includes(name));
}

// The users and groups tables' files as the server wrote them to disk
// (after a checkpoint), as text, for a search of the stored bytes.
async function tableFileText(db: TestDatabase): Promise<string> {
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

function definePostgresTests(): void {
  const key = generateKey();

  pgCase(
    "encrypted: no name, username or title is stored in the clear",
    async (db) => {
      const store = await open(db, FieldCipher.fromKeySync(key));
      await registerUser(store, zoe, 1);
      await registerGroup(store, club, 1);
      await moveGroup(store, club.id, -1000500);
      assert.equal((await store.getUser(77))?.first_name, "Zoëname");
      assert.deepEqual(await leakedNames(db), []);
      await store.close();
      // The check itself can fail: the same writes without a key do leak.
      await execPg(db, (sql) => sql`TRUNCATE users, groups, data_key_check`);
      const plain = await open(db);
      await registerUser(plain, zoe, 1);
      assert.ok((await leakedNames(db)).includes("Zoëname"));
      await plain.close();
    },
  );

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
    "encrypted: an altered or swapped value is reported for that record",
    async (db) => {
      const store = await open(db, FieldCipher.fromKeySync(key));
      await registerUser(store, zoe, 1);
      await registerUser(store, { ...zoe, id: 78, first_name: "Other" }, 1);
      await execPg(
        db,
        (sql) =>
          sql`UPDATE users SET last_name = substr(last_name, 1, 20) ||
            (CASE substr(last_name, 21, 1) WHEN 'A' THEN 'B' ELSE 'A' END) ||
            substr(last_name, 22) WHERE id = 77`,
      );
      await assert.rejects(
        store.getUser(77),
        (error: Error) =>
          error instanceof TamperedError &&
          /users\.last_name for id 77 fails its integrity check/.test(
            error.message,
          ),
      );
      await execPg(
        db,
        (sql) =>
          sql`UPDATE users SET first_name = (SELECT first_name FROM users WHERE id = 78),
            last_name = NULL WHERE id = 77`,
      );
      await assert.rejects(store.getUser(77), TamperedError);
      const iterate = async () => {
        for await (const _ of store.iterateUsers()) {
          /* reads every row */
        }
      };
      await assert.rejects(iterate(), TamperedError);
      // The person's next update replaces the bad values with good ones.
      await registerUser(store, zoe, 2);
      assert.equal((await store.getUser(77))?.first_name, "Zoëname");
      await store.close();
    },
  );

  pgCase(
    "encrypted: rotation re-encrypts everything, reports progress; the new key reads, the old fails",
    async (db) => {
      const oldCipher = FieldCipher.fromKeySync(key);
      const newCipher = FieldCipher.fromKeySync(generateKey());
      let store = await open(db, oldCipher);
      for (let id = 1; id <= 1500; id++) {
        await store.register([{ user: { ...zoe, id } }], 1);
      }
      await registerGroup(store, club, 1);
      const progress: [number, number][] = [];
      assert.deepEqual(
        await store.rotateKey(newCipher, {
          onProgress: (done, total) => progress.push([done, total]),
        }),
        { records: 1501, remaining: 0 },
      );
      assert.deepEqual(progress, [
        [0, 1501],
        [1000, 1501],
        [1500, 1501],
        [1501, 1501],
      ]);
      assert.equal((await store.getUser(77))?.username, "zoe_secret");
      await store.close();
      await assert.rejects(open(db, oldCipher), WrongKeyError);
      store = await open(db, newCipher);
      assert.deepEqual(await store.getGroup(-500), {
        ...club,
        registered_at: 1,
      });
      await store.close();
    },
  );

  pgCase(
    "encrypted: a rotation that fails midway leaves every value readable with both keys",
    async (db) => {
      const oldCipher = FieldCipher.fromKeySync(key);
      const store = await open(db, oldCipher);
      await store.register(
        Array.from(
          { length: 1500 },
          (_, i) => ({ user: { ...zoe, id: i + 1 } }),
        ),
        1,
      );
      // A damaged record on the second page stops the rotation there.
      await execPg(
        db,
        (sql) =>
          sql`UPDATE users SET first_name = 'v1.' || substr(first_name, 4, 9) || 'garbage'
          WHERE id = 1200`,
      );
      const newCipher = FieldCipher.fromKeySync(generateKey());
      await assert.rejects(store.rotateKey(newCipher), TamperedError);
      await store.close();
      // The first page moved, the rest did not: the keyring reads both.
      const reopened = await open(db, newCipher.including(oldCipher));
      assert.deepEqual((await reopened.summary()).valuesByKeyId, {
        // Three values a user: username, first and last name.
        [newCipher.keyId]: 3000,
        [oldCipher.keyId]: 1500,
      });
      assert.equal((await reopened.getUser(1))?.first_name, "Zoëname");
      assert.equal((await reopened.getUser(1500))?.first_name, "Zoëname");
      await reopened.close();
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
      assert.deepEqual(await store.getUser(77), { ...zoe, registered_at: 1 });
      assert.deepEqual(await other.getGroup(-500), {
        ...club,
        registered_at: 2,
      });
      await store.close();
      await other.close();
    },
  );

  pgCase(
    "encrypted: after another process rotated the key, the old key writes nothing",
    async (db) => {
      const oldCipher = FieldCipher.fromKeySync(key);
      const bot = await open(db, oldCipher);
      await registerUser(bot, zoe, 1);
      const cli = await open(db, oldCipher);
      const newCipher = FieldCipher.fromKeySync(generateKey());
      await cli.rotateKey(newCipher);
      await cli.close();
      await assert.rejects(
        registerUser(bot, { ...zoe, id: 78 }, 2),
        (error: Error) =>
          error instanceof WrongKeyError &&
          /database was encrypted with key \w+ by another process/.test(
            error.message,
          ),
      );
      await assert.rejects(bot.checkWritable(), WrongKeyError);
      await bot.close();
      const reopened = await open(db, newCipher);
      assert.equal(await reopened.getUser(78), undefined);
      assert.equal((await reopened.getUser(77))?.first_name, "Zoëname");
      await reopened.close();
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
    "the write probe fails while a key rotation holds the key check, and passes after",
    async (db) => {
      const store = await open(db, FieldCipher.fromKeySync(key));
      await store.checkWritable();
      const events: string[] = [];
      await execPg(db, async (sql) => {
        await sql.begin(async (tx) => {
          await tx`SELECT key_id FROM data_key_check WHERE id = 1 FOR UPDATE`;
          events.push("locked");
          await store.checkWritable().then(
            () => events.push("probe passed"),
            (error) => events.push(`probe failed: ${error.name}`),
          );
          // Reads go on meanwhile.
          await store.schemaVersion();
          events.push("read");
        });
      });
      await store.checkWritable();
      events.push("probe passed");
      assert.deepEqual(events, [
        "locked",
        "probe failed: StoreError",
        "read",
        "probe passed",
      ]);
      await store.close();
    },
  );

  pgCase(
    "a purge waits for a registration of the same person in flight, so the older update never outlives it",
    async (db) => {
      const alice = { ...zoe, id: 5 };
      const store = await open(db);
      const other = await open(db);
      await registerUser(store, alice, 1);
      const events: string[] = [];
      let purge: Promise<unknown> = Promise.resolve();
      await execPg(db, async (sql) => {
        // Hold the person's lock as a registration in flight would.
        await sql.begin(async (tx) => {
          await tx`SELECT pg_advisory_xact_lock(5)`;
          purge = other.purge({ kind: "user", id: 5 }, "cli").then((n) =>
            events.push(`purged ${n}`)
          );
          // Time enough for a purge that did not wait to finish first.
          await new Promise((resolve) => setTimeout(resolve, 200));
          events.push("registration committed");
        });
      });
      await purge;
      assert.deepEqual(events, ["registration committed", "purged 1"]);
      await store.close();
      await other.close();
    },
  );

  pgCase(
    "an unreachable database rejects within the bound, and the same store recovers",
    async (db) => {
      const proxy = TcpProxy.start({ hostname: "127.0.0.1", port: 5432 });
      try {
        const connection = { ...db.location.connection, port: proxy.port };
        const store = await openPostgresStore(connection, {
          queryTimeoutMs: 1500,
        });
        await store.register([{ user: zoe }], 1);
        const steps: string[] = [];
        await proxy.cut();
        await assert.rejects(
          store.register([{ user: { ...zoe, id: 78 } }], 2),
          StoreError,
        );
        steps.push("refused while cut");
        await assert.rejects(store.checkWritable(), StoreError);
        await proxy.stall();
        await assert.rejects(
          store.register([{ user: { ...zoe, id: 79 } }], 2),
          (error: Error) =>
            error instanceof StoreError &&
            /did not answer within/.test(error.message),
        );
        steps.push("bounded while hung");
        await proxy.restore();
        // The pool reconnects by itself; the first tries may still fail.
        for (let attempt = 0;; attempt++) {
          try {
            await store.register([{ user: { ...zoe, id: 78 } }], 3);
            break;
          } catch (error) {
            if (attempt >= 20) throw error;
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        }
        steps.push("recovered");
        assert.deepEqual(steps, [
          "refused while cut",
          "bounded while hung",
          "recovered",
        ]);
        assert.equal((await store.getUser(78))?.registered_at, 3);
        assert.equal(await store.getUser(79), undefined);
        await store.close();
      } finally {
        await proxy.close();
      }
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

  pgCase(
    "compact removes a purged record's stored values from the table files",
    async (db) => {
      const store = await open(db, FieldCipher.fromKeySync(key));
      await registerUser(store, zoe, 1);
      await registerUser(store, { ...zoe, id: 78 }, 1);
      const [row] = await execPg(
        db,
        (sql) => sql`SELECT first_name FROM users WHERE id = 77`,
      );
      const stored = row!.first_name as string;
      await store.purge({ kind: "user", id: 77 }, "cli");
      assert.ok(
        (await tableFileText(db)).includes(stored),
        "a purged row lingers as a dead row until the table is rewritten",
      );
      await store.compact();
      assert.ok(!(await tableFileText(db)).includes(stored));
      assert.equal((await store.getUser(78))?.first_name, "Zoëname");
      await store.close();
    },
  );

  pgCase(
    "the write probe fails fast while another session locks the users table",
    async (db) => {
      const store = await open(db, FieldCipher.fromKeySync(key));
      await store.checkWritable();
      const other = postgres(db.url, { max: 1, onnotice: () => {} });
      try {
        let release!: () => void;
        const released = new Promise<void>((resolve) => release = resolve);
        let locked!: () => void;
        const isLocked = new Promise<void>((resolve) => locked = resolve);
        const holder = other.begin(async (tx) => {
          await tx`LOCK TABLE users IN SHARE MODE`;
          locked();
          await released;
        });
        await isLocked;
        await assert.rejects(store.checkWritable());
        release();
        await holder;
        await store.checkWritable();
      } finally {
        await other.end({ timeout: 1 });
        await store.close();
      }
    },
  );

  pgCase(
    "export pages through every record in id order across pages",
    async (db) => {
      const store = await open(db, FieldCipher.fromKeySync(key));
      const ids = Array.from({ length: 2500 }, (_, i) => (i * 7919) % 2500 + 1);
      await store.register(ids.map((id) => ({ user: { ...zoe, id } })), 1);
      let expected = 1;
      for await (const user of store.iterateUsers()) {
        assert.equal(user.id, expected++);
        assert.equal(user.first_name, "Zoëname");
      }
      assert.equal(expected, 2501);
      await store.close();
    },
  );
}

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

if (unavailable === undefined) {
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
}
