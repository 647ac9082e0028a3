import assert from "node:assert/strict";
import postgres from "postgres";
import { club, storeContract, zoe } from "../_store_contract.ts";
import { type Catalog, CORE_CATALOG, type Row } from "../../base/tables.ts";
import { loadMigrations } from "../migrations.ts";
import { openPostgresStore, POSTGRES_MIGRATIONS } from "./open.ts";
import { type Store, StoreError } from "../store.ts";
import {
  FieldCipher,
  generateKey,
  TamperedError,
} from "../../crypto/field_cipher.ts";
import { TcpProxy } from "../../../tests/_tcp_proxy.ts";
import {
  createTestDatabase,
  execPg,
  type TestDatabase,
} from "../../../tests/_pg.ts";
import { moveGroup, readUser, registerGroup, registerUser } from "../_seed.ts";
import {
  createPluginTables,
  leakedNames,
  open,
  pgCase,
  tableFileText,
  unavailable,
} from "./_test_support.ts";

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
  // One database per suite and catalog, emptied before each test: creating
  // a database per test would be slow, and every test still starts from no
  // records.
  const suite = (name: string, cipher?: FieldCipher) => {
    const byCatalog = new Map<Catalog, Promise<TestDatabase>>();
    const opened = new Map<Store, { db: TestDatabase; catalog: Catalog }>();
    const connect = async (catalog: Catalog) => {
      let database = byCatalog.get(catalog);
      if (database === undefined) {
        database = createTestDatabase().then((db) => {
          databases.push(db);
          return db;
        });
        byCatalog.set(catalog, database);
      }
      const db = await database;
      const store = await openPostgresStore(db.location.connection, {
        cipher,
        catalog,
      });
      // Temporary, until opening applies the plugins' migrations.
      await createPluginTables(db, catalog);
      opened.set(store, { db, catalog });
      return store;
    };
    const databaseOf = (store: Store) => opened.get(store)!.db;
    storeContract(name, {
      async open(catalog = CORE_CATALOG): Promise<Store> {
        const store = await connect(catalog);
        const tables = [
          "audit_log",
          "bot_profile",
          ...catalog.tables.map((t) => t.name),
        ];
        await execPg(databaseOf(store), async (sql) => {
          await sql.unsafe(`TRUNCATE ${tables.join(", ")}`);
          await sql.unsafe(
            "UPDATE retention SET days = NULL, since = NULL, swept_on = NULL",
          );
        });
        return store;
      },
      connectAgain: (store) => connect(opened.get(store)!.catalog),
      migrations,
      encrypted: cipher !== undefined,
      stored: (store, table) =>
        execPg(
          databaseOf(store),
          async (sql) => [...await sql.unsafe(`SELECT * FROM ${table}`)],
        ) as Promise<Row[]>,
      exec: async (store, text) => {
        await execPg(databaseOf(store), (sql) => sql.unsafe(text));
      },
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

function definePostgresTests(): void {
  const key = generateKey();
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

  pgCase(
    "encrypted: no name, username or title is stored in the clear",
    async (db) => {
      const store = await open(db, FieldCipher.fromKeySync(key));
      await registerUser(store, zoe, 1);
      await registerGroup(store, club, 1);
      await moveGroup(store, club.id, -1000500);
      assert.equal((await readUser(store, 77))?.first_name, "Zoëname");
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
        readUser(store, 77),
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
      await assert.rejects(readUser(store, 77), TamperedError);
      const iterate = async () => {
        for await (const _ of store.iterate("users")) {
          /* reads every row */
        }
      };
      await assert.rejects(iterate(), TamperedError);
      // The person's next update replaces the bad values with good ones.
      await registerUser(store, zoe, 2);
      assert.equal((await readUser(store, 77))?.first_name, "Zoëname");
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
        assert.equal((await readUser(store, 78))?.registered_at, 3);
        assert.equal(await readUser(store, 79), undefined);
        await store.close();
      } finally {
        await proxy.close();
      }
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
      assert.equal((await readUser(store, 78))?.first_name, "Zoëname");
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
      for await (const user of store.iterate("users")) {
        assert.equal(user.id, expected++);
        assert.equal(user.first_name, "Zoëname");
      }
      assert.equal(expected, 2501);
      await store.close();
    },
  );
}
