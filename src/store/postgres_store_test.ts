import { storeContract } from "./_store_contract.ts";
import { loadMigrations } from "./migrations.ts";
import {
  openPostgresStore,
  POSTGRES_MIGRATIONS,
  type PostgresStore,
} from "./postgres_store.ts";
import type { Store } from "./store.ts";
import { FieldCipher, generateKey } from "../crypto/field_cipher.ts";
import {
  createTestDatabase,
  postgresUnavailable,
  type TestDatabase,
} from "../../tests/_pg.ts";

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
        await store.sql`TRUNCATE users, groups, audit_log, bot_profile`;
        return store;
      },
      connectAgain: () => connect(),
      migrations,
    });
  };
  suite("PostgreSQL");
  suite(
    "PostgreSQL, encrypted",
    await FieldCipher.fromKey(generateKey()),
  );

  Deno.test("PostgreSQL: the test databases are dropped", async () => {
    for (const database of databases) await database.drop();
  });
}
