import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { club, plaintexts, storeContract, zoe } from "../_store_contract.ts";
import { loadMigrations } from "../migrations.ts";
import { openSqliteStore } from "./open.ts";
import { type Store, StoreError } from "../store.ts";
import {
  FieldCipher,
  generateKey,
  TamperedError,
  WrongKeyError,
} from "../../crypto/field_cipher.ts";
import { moveGroup, registerGroup, registerUser } from "../_seed.ts";

const migrationCount = (await loadMigrations()).length;
const contractDir = Deno.makeTempDirSync({ prefix: "sqlite_contract_" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(contractDir, { recursive: true });
});

// Each store on its own file, so that a second connection can reach it.
function contractTarget(
  prefix: string,
  cipher?: () => FieldCipher,
) {
  const paths = new Map<Store, string>();
  let next = 0;
  const openAt = async (path: string) => {
    const store = await openSqliteStore(path, { cipher: cipher?.() });
    paths.set(store, path);
    return store;
  };
  return {
    open: () => openAt(`${contractDir}/${prefix}${next++}.db`),
    connectAgain: (store: Store) => openAt(paths.get(store)!),
    migrations: migrationCount,
  };
}

storeContract("SQLite", contractTarget("plain"));

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

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
        version: 1,
        name: "init",
        sql: await Deno.readTextFile(
          new URL("../../../migrations/sqlite/0001_init.sql", import.meta.url),
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

const key = generateKey();
storeContract(
  "SQLite, encrypted",
  contractTarget("encrypted", () => FieldCipher.fromKeySync(key)),
);

// The bytes of the database and its WAL, searched for any of the names.
async function leakedNames(path: string): Promise<string[]> {
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

Deno.test("SQLite, encrypted: no name, username or title is in the files' bytes", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const store = await openSqliteStore(path, {
      cipher: FieldCipher.fromKeySync(key),
    });
    await registerUser(store, zoe, 1);
    await registerGroup(store, club, 1);
    await moveGroup(store, club.id, -1000500);
    assert.equal((await store.getUser(77))?.first_name, "Zoëname");
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
      store.getUser(77),
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
      store.getUser(77),
      (error: Error) =>
        error instanceof TamperedError &&
        /users\.first_name for id 77/.test(error.message),
    );
    const iterate = async () => {
      for await (const _ of store.iterateUsers()) { /* reads every row */ }
    };
    await assert.rejects(iterate(), TamperedError);
    // The person's next update replaces the bad values with good ones.
    await registerUser(store, zoe, 2);
    assert.equal((await store.getUser(77))?.first_name, "Zoëname");
    await store.close();
  });
});

Deno.test("SQLite, encrypted: rotation re-encrypts everything; the new key reads, the old fails", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const oldCipher = FieldCipher.fromKeySync(key);
    const newCipher = FieldCipher.fromKeySync(generateKey());
    let store = await openSqliteStore(path, { cipher: oldCipher });
    await registerUser(store, zoe, 1);
    await registerGroup(store, club, 1);
    assert.deepEqual(await store.rotateKey(newCipher), {
      records: 2,
      remaining: 0,
    });
    assert.equal((await store.getUser(77))?.username, "zoe_secret");
    await store.close();
    await assert.rejects(
      openSqliteStore(path, { cipher: oldCipher }),
      WrongKeyError,
    );
    store = await openSqliteStore(path, { cipher: newCipher });
    assert.deepEqual(await store.getGroup(-500), { ...club, registered_at: 1 });
    await store.close();
  });
});

Deno.test("SQLite, encrypted: a rotation that fails midway leaves the old key valid and nothing lost", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const oldCipher = FieldCipher.fromKeySync(key);
    const store = await openSqliteStore(path, { cipher: oldCipher });
    for (let id = 1; id <= 1500; id++) {
      await registerUser(store, { ...zoe, id }, 1);
    }
    // A damaged record on the second page stops the rotation there.
    const raw = new DatabaseSync(path);
    raw.exec(
      "UPDATE users SET first_name = 'v1.' || substr(first_name, 4, 9) || 'garbage' WHERE id = 1200",
    );
    raw.close();
    await assert.rejects(
      store.rotateKey(FieldCipher.fromKeySync(generateKey())),
      TamperedError,
    );
    await store.close();
    const reopened = await openSqliteStore(path, { cipher: oldCipher });
    assert.equal((await reopened.getUser(1))?.first_name, "Zoëname");
    assert.equal((await reopened.getUser(1500))?.first_name, "Zoëname");
    await reopened.close();
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
    assert.deepEqual(await store.getUser(77), { ...zoe, registered_at: 1 });
    assert.deepEqual(await store.getGroup(-500), { ...club, registered_at: 2 });
    await store.close();
  });
});

Deno.test("SQLite, encrypted: after another process rotated the key, the old key writes nothing", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const oldCipher = FieldCipher.fromKeySync(key);
    const bot = await openSqliteStore(path, { cipher: oldCipher });
    await registerUser(bot, zoe, 1);
    const cli = await openSqliteStore(path, { cipher: oldCipher });
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
    await bot.close();
    const reopened = await openSqliteStore(path, { cipher: newCipher });
    assert.equal(await reopened.getUser(78), undefined);
    assert.equal((await reopened.getUser(77))?.first_name, "Zoëname");
    await reopened.close();
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

// Another connection, as another process would, holding the write lock.
function holdWriteLock(path: string): { release(): void } {
  const other = new DatabaseSync(path);
  other.exec("BEGIN IMMEDIATE");
  return {
    release() {
      other.exec("COMMIT");
      other.close();
    },
  };
}

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
    assert.equal((await store.getUser(5))?.first_name, "Dora");
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
    assert.ok(await store.getUser(5));
    await store.close();
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

Deno.test("SQLite, encrypted: rotation and the first encryption report their progress", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const plain = await openSqliteStore(path);
    await plain.register(
      Array.from({ length: 1500 }, (_, i) => ({ user: { ...zoe, id: i + 1 } })),
      1,
    );
    await plain.register([{ group: club }], 1);
    await plain.close();
    const first: [number, number][] = [];
    const store = await openSqliteStore(path, {
      cipher: FieldCipher.fromKeySync(key),
      onProgress: (done, total) => first.push([done, total]),
    });
    assert.deepEqual(first, [[0, 1501], [1000, 1501], [1500, 1501], [
      1501,
      1501,
    ]]);
    const rotation: [number, number][] = [];
    await store.rotateKey(FieldCipher.fromKeySync(generateKey()), {
      onProgress: (done, total) => rotation.push([done, total]),
    });
    assert.deepEqual(rotation, first);
    await store.close();
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
    [await store.getGroup(-2), (await store.getGroup(-3))?.registered_at],
    [undefined, 1],
  );
  await store.close();
});

Deno.test("SQLite, encrypted: a rotation succeeds though a reader keeps the log from being emptied", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const store = await openSqliteStore(path, {
      cipher: FieldCipher.fromKeySync(key),
      lockTimeoutMs: 100,
    });
    await store.register([{ user: zoe }], 1);
    const reader = new DatabaseSync(path);
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM users").get();
    const next = FieldCipher.fromKeySync(generateKey());
    try {
      // Committed, so it reports success; the log is emptied later.
      assert.deepEqual(await store.rotateKey(next), {
        records: 1,
        remaining: 0,
      });
    } finally {
      reader.exec("COMMIT");
      reader.close();
    }
    await store.close();
    const reopened = await openSqliteStore(path, { cipher: next });
    assert.equal((await reopened.getUser(77))?.first_name, "Zoëname");
    await reopened.close();
  });
});

Deno.test("SQLite, encrypted: a long rotation lets another connection's writer wait without freezing, then refuses its old key", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const oldCipher = FieldCipher.fromKeySync(key);
    const cli = await openSqliteStore(path, { cipher: oldCipher });
    await cli.register(
      Array.from({ length: 2500 }, (_, i) => ({ user: { ...zoe, id: i + 1 } })),
      1,
    );
    // The bound is shorter than SQLite's own busy wait used to be: a writer
    // sleeping on this thread would stop the rotation and run out of time.
    const bot = await openSqliteStore(path, {
      cipher: oldCipher,
      lockTimeoutMs: 3000,
    });
    const events: string[] = [];
    let write: Promise<unknown> | undefined;
    const rotation = cli.rotateKey(FieldCipher.fromKeySync(generateKey()), {
      onProgress: (done) => {
        // The rotation holds the write lock from its first page on.
        write ??= bot.register([{ user: { ...zoe, id: 9999 } }], 2).then(
          () => events.push("bot wrote"),
          (error: Error) => events.push(`bot refused: ${error.name}`),
        );
        if (done > 0 && done < 2500) events.push("rotating");
      },
    });
    assert.deepEqual(await rotation, { records: 2500, remaining: 0 });
    events.push("rotated");
    await write;
    assert.deepEqual(events.slice(-2), [
      "rotated",
      "bot refused: WrongKeyError",
    ]);
    assert.ok(events.includes("rotating"));
    await bot.close();
    await cli.close();
  });
});
