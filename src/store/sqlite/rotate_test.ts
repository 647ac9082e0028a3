import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { club, zoe } from "../_store_contract.ts";
import { openSqliteStore } from "./open.ts";
import {
  FieldCipher,
  generateKey,
  TamperedError,
  WrongKeyError,
} from "../../crypto/field_cipher.ts";
import { readGroup, readUser, registerGroup, registerUser } from "../_seed.ts";
import { withDir } from "./_test_support.ts";

const key = generateKey();

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
    assert.equal((await readUser(store, 77))?.username, "zoe_secret");
    await store.close();
    await assert.rejects(
      openSqliteStore(path, { cipher: oldCipher }),
      WrongKeyError,
    );
    store = await openSqliteStore(path, { cipher: newCipher });
    assert.deepEqual(await readGroup(store, -500), {
      ...club,
      registered_at: 1,
      seen_on: null,
    });
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
    assert.equal((await readUser(reopened, 1))?.first_name, "Zoëname");
    assert.equal((await readUser(reopened, 1500))?.first_name, "Zoëname");
    await reopened.close();
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
    assert.equal(await readUser(reopened, 78), undefined);
    assert.equal((await readUser(reopened, 77))?.first_name, "Zoëname");
    await reopened.close();
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
    assert.equal((await readUser(reopened, 77))?.first_name, "Zoëname");
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
