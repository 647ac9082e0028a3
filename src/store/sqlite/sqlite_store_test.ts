import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  club,
  type ContractTarget,
  storeContract,
  zoe,
} from "../_store_contract.ts";
import type { Catalog, Row } from "../../base/tables.ts";
import { loadMigrations } from "../migrations.ts";
import { openSqliteStore } from "./open.ts";
import { type Store, StoreError } from "../store.ts";
import {
  FieldCipher,
  generateKey,
  TamperedError,
  WrongKeyError,
} from "../../crypto/field_cipher.ts";
import {
  moveGroup,
  readGroup,
  readUser,
  registerGroup,
  registerUser,
} from "../_seed.ts";
import {
  createPluginTables,
  holdWriteLock,
  leakedNames,
  withDir,
} from "./_test_support.ts";

const migrationCount = (await loadMigrations()).length;
const contractDir = Deno.makeTempDirSync({ prefix: "sqlite_contract_" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(contractDir, { recursive: true });
});

// Each store on its own file, so that a second connection can reach it.
function contractTarget(
  prefix: string,
  cipher?: () => FieldCipher,
): ContractTarget {
  const opened = new Map<Store, { path: string; catalog?: Catalog }>();
  let next = 0;
  const openAt = async (path: string, catalog?: Catalog) => {
    const store = await openSqliteStore(path, { cipher: cipher?.(), catalog });
    // Temporary, until opening applies the plugins' migrations.
    if (catalog !== undefined) await createPluginTables(path, catalog);
    opened.set(store, { path, catalog });
    return store;
  };
  const outside = <T>(store: Store, body: (db: DatabaseSync) => T): T => {
    const db = new DatabaseSync(opened.get(store)!.path);
    try {
      return body(db);
    } finally {
      db.close();
    }
  };
  return {
    open: (catalog) => openAt(`${contractDir}/${prefix}${next++}.db`, catalog),
    connectAgain: (store) => {
      const { path, catalog } = opened.get(store)!;
      return openAt(path, catalog);
    },
    migrations: migrationCount,
    encrypted: cipher !== undefined,
    stored: (store, table) =>
      Promise.resolve(
        outside(store, (db) =>
          db.prepare(`SELECT * FROM ${table}`).all()) as Row[],
      ),
    exec: (store, sql) => Promise.resolve(outside(store, (db) => db.exec(sql))),
  };
}

storeContract("SQLite", contractTarget("plain"));

const key = generateKey();
storeContract(
  "SQLite, encrypted",
  contractTarget("encrypted", () => FieldCipher.fromKeySync(key)),
);

// The bytes of the database and its WAL, searched for any of the names.

Deno.test("SQLite, encrypted: no name, username or title is in the files' bytes", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const store = await openSqliteStore(path, {
      cipher: FieldCipher.fromKeySync(key),
    });
    await registerUser(store, zoe, 1);
    await registerGroup(store, club, 1);
    await moveGroup(store, club.id, -1000500);
    assert.equal((await readUser(store, 77))?.first_name, "Zoëname");
    assert.deepEqual(await leakedNames(path), []);
    await store.close();
    assert.deepEqual(await leakedNames(path), []);
    // The check itself can fail: the same writes without a key do leak.
    const plain = await openSqliteStore(`${dir}/plain.db`);
    await registerUser(plain, zoe, 1);
    assert.ok((await leakedNames(`${dir}/plain.db`)).includes("Zoëname"));
    await plain.close();
  });
});

Deno.test("SQLite: after a purge and compact, the purged values are in neither the database nor its log", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    // Unencrypted, so that the names themselves can be looked for.
    const store = await openSqliteStore(path);
    await registerUser(store, zoe, 1);
    await registerGroup(store, club, 1);
    await store.purge({ kind: "user", id: zoe.id }, "cli");
    await store.purge({ kind: "group", id: club.id }, "cli");
    assert.ok(
      (await leakedNames(path)).includes("Zoëname"),
      "the log still holds the page as it was before the purge",
    );
    await store.compact();
    assert.deepEqual(await leakedNames(path), []);
    await store.close();
  });
});

Deno.test("SQLite, encrypted: an altered or swapped value is reported for that record", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const store = await openSqliteStore(path, {
      cipher: FieldCipher.fromKeySync(key),
    });
    await registerUser(store, zoe, 1);
    await registerUser(store, { ...zoe, id: 78, first_name: "Other" }, 1);
    const raw = new DatabaseSync(path);
    // Flip one character of the ciphertext body.
    raw.exec(`UPDATE users SET last_name = substr(last_name, 1, 20) ||
      (CASE substr(last_name, 21, 1) WHEN 'A' THEN 'B' ELSE 'A' END) || substr(last_name, 22) WHERE id = 77`);
    await assert.rejects(
      readUser(store, 77),
      (error: Error) =>
        error instanceof TamperedError &&
        /users\.last_name for id 77 fails its integrity check/.test(
          error.message,
        ),
    );
    // Copy user 78's first name into user 77's row.
    raw.exec(
      "UPDATE users SET first_name = (SELECT first_name FROM users WHERE id = 78), last_name = NULL WHERE id = 77",
    );
    raw.close();
    await assert.rejects(
      readUser(store, 77),
      (error: Error) =>
        error instanceof TamperedError &&
        /users\.first_name for id 77/.test(error.message),
    );
    const iterate = async () => {
      for await (const _ of store.iterate("users")) { /* reads every row */ }
    };
    await assert.rejects(iterate(), TamperedError);
    // The person's next update replaces the bad values with good ones.
    await registerUser(store, zoe, 2);
    assert.equal((await readUser(store, 77))?.first_name, "Zoëname");
    await store.close();
  });
});

Deno.test("SQLite: a store opened without a key writes no plaintext once another process bound one", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const plain = await openSqliteStore(path);
    await registerUser(plain, zoe, 1);
    // The first keyed open encrypts the rows and binds the key.
    await (await openSqliteStore(path, {
      cipher: FieldCipher.fromKeySync(key),
    })).close();
    await assert.rejects(
      registerUser(plain, { ...zoe, id: 79 }, 2),
      WrongKeyError,
    );
    await plain.close();
    assert.deepEqual(await leakedNames(path), []);
  });
});

const dora = {
  id: 5,
  username: null,
  first_name: "Dora",
  last_name: null,
  language_code: null,
};

Deno.test("SQLite: a write waits for another connection's lock without blocking the event loop", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    // The bound is shorter than SQLite's own busy wait used to be: a wait
    // that slept on this thread would outlast it and fail.
    const store = await openSqliteStore(path, { lockTimeoutMs: 2000 });
    const lock = holdWriteLock(path);
    const events: string[] = [];
    // Only a timer of this very thread releases the lock, so the write
    // succeeds only if the event loop kept turning while it waited.
    setTimeout(() => {
      events.push("released");
      lock.release();
    }, 20);
    await store.register([{ user: dora }], 1);
    events.push("registered");
    assert.deepEqual(events, ["released", "registered"]);
    assert.equal((await readUser(store, 5))?.first_name, "Dora");
    await store.close();
  });
});

Deno.test("SQLite: a lock held past the bound fails the write, saying the database is locked", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const store = await openSqliteStore(path, { lockTimeoutMs: 100 });
    const lock = holdWriteLock(path);
    try {
      for (
        const write of [
          () => store.register([{ user: dora }], 1),
          () => store.purge({ kind: "user", id: 5 }, "cli"),
          () =>
            store.recordAudit({
              actor: "cli",
              action: "export",
              target: { kind: "all" },
              records: 0,
            }),
        ]
      ) {
        await assert.rejects(
          write(),
          (error: Error) =>
            error instanceof StoreError &&
            /^The database is locked by another process/.test(error.message),
        );
      }
    } finally {
      lock.release();
    }
    await store.register([{ user: dora }], 1);
    assert.ok(await readUser(store, 5));
    await store.close();
  });
});

Deno.test("SQLite: the write probe fails at once while another connection holds the lock", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const store = await openSqliteStore(path);
    await store.checkWritable();
    const lock = holdWriteLock(path);
    const events: string[] = [];
    const released = new Promise<void>((resolve) =>
      setTimeout(() => {
        events.push("released");
        lock.release();
        resolve();
      }, 50)
    );
    // It settles while the lock is still held: it never waits for it, or
    // it would succeed once the lock is released.
    await assert.rejects(
      store.checkWritable(),
      (error: Error) =>
        error instanceof StoreError && /locked/.test(error.message),
    );
    events.push("probe failed");
    // Reads go on meanwhile.
    await store.schemaVersion();
    await released;
    assert.deepEqual(events, ["probe failed", "released"]);
    const before = Date.now();
    await store.checkWritable();
    const db = new DatabaseSync(path, { readOnly: true });
    const row = db.prepare("SELECT checked_at FROM health").get() as {
      checked_at: number;
    };
    db.close();
    assert.ok(row.checked_at >= before, "the probe wrote its row, in ms");
    await store.close();
  });
});

Deno.test("SQLite, encrypted: the write probe fails once another process rotated the key", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const cipher = FieldCipher.fromKeySync(key);
    const bot = await openSqliteStore(path, { cipher });
    await bot.checkWritable();
    const cli = await openSqliteStore(path, { cipher });
    await cli.rotateKey(FieldCipher.fromKeySync(generateKey()));
    await cli.close();
    await assert.rejects(bot.checkWritable(), WrongKeyError);
    await bot.close();
  });
});

Deno.test("SQLite: removing and moving groups in a batch raise the erasure version", async () => {
  const store = await openSqliteStore(":memory:");
  await store.register([{ group: { ...club, id: -1 } }, {
    group: { ...club, id: -2 },
  }], 1);
  const start = await store.erasureVersion();
  await store.register([{ removeGroupId: -1 }], 2);
  const removed = await store.erasureVersion();
  assert.notEqual(removed, start);
  await store.register([{ move: { fromId: -2, toId: -3 } }], 2);
  assert.notEqual(await store.erasureVersion(), removed);
  assert.deepEqual(
    [await readGroup(store, -2), (await readGroup(store, -3))?.registered_at],
    [undefined, 1],
  );
  await store.close();
});
