import { readGroup, readUser } from "../store/_seed.ts";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { FieldCipher, generateKey } from "../crypto/field_cipher.ts";
import { Registrar } from "./registrar.ts";
import { openSqliteStore } from "../store/sqlite/open.ts";
import type { RegistrationPlan, Store } from "../store/store.ts";
import { catalogOf } from "../base/tables.ts";
import { createPluginTables } from "../store/sqlite/_test_support.ts";
import { NOTES_DATA } from "../../examples/notes/data.ts";

interface Counted {
  store: Store;
  /** Every `register` call, as the ids of the records each plan writes. */
  calls: number[][];
  /** Makes `register` calls with a plan for this id fail while set. */
  failOn?: number;
}

// The real SQLite store, with a record of the register calls.
function counting(real: Store): Counted {
  const counted: Counted = { store: real, calls: [] };
  counted.store = new Proxy(real, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (key === "register") {
          const plans = args[0] as RegistrationPlan[];
          counted.calls.push(
            plans.flatMap((plan) =>
              [plan.user?.id, plan.group?.id].filter((id) => id !== undefined)
            ),
          );
          if (
            counted.failOn !== undefined &&
            plans.some((plan) => plan.user?.id === counted.failOn)
          ) {
            return Promise.reject(new Error("database or disk is full"));
          }
        }
        return value.apply(target, args);
      };
    },
  });
  return counted;
}

async function countingStore(): Promise<Counted> {
  return counting(await openSqliteStore(":memory:"));
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const alice = {
  id: 1,
  username: "alice",
  first_name: "Alice",
  last_name: null,
  language_code: "en",
};
const user = (id: number) => ({ ...alice, id });

Deno.test("an unchanged sender is not written again", async () => {
  const { store, calls } = await countingStore();
  const registrar = new Registrar(store);
  await registrar.apply({ user: alice });
  await registrar.apply({ user: alice });
  await registrar.apply({ user: { ...alice } });
  assert.deepEqual(calls, [[1]]);
  await registrar.apply({ user: { ...alice, last_name: "null" } });
  await registrar.apply({ user: { ...alice, last_name: null } });
  assert.deepEqual(calls, [[1], [1], [1]]);
  await store.close();
});

// Ciphertexts differ on every write: an unchanged sender written again
// would change its stored row.
Deno.test("an unchanged sender keeps its stored ciphertexts", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const store = await openSqliteStore(path, {
      cipher: FieldCipher.fromKeySync(generateKey()),
    });
    const registrar = new Registrar(store);
    await registrar.apply({ user: alice });
    const stored = () => {
      const raw = new DatabaseSync(path, { readOnly: true });
      const row = { ...raw.prepare("SELECT * FROM users WHERE id = 1").get() };
      raw.close();
      return row;
    };
    const before = stored();
    assert.match(String(before.first_name), /^v1\./);
    await registrar.apply({ user: { ...alice } });
    assert.deepEqual(stored(), before);
    await registrar.apply({ user: { ...alice, last_name: "L" } });
    assert.notDeepEqual(stored(), before);
    await store.close();
  });
});

Deno.test("the cache is bounded and forgets the least recently seen", async () => {
  const { store, calls } = await countingStore();
  const registrar = new Registrar(store, { cacheSize: 2 });
  await registrar.apply({ user: user(1) });
  await registrar.apply({ user: user(2) });
  await registrar.apply({ user: user(1) }); // 1 is now the most recent
  await registrar.apply({ user: user(3) }); // evicts 2
  calls.length = 0;
  await registrar.apply({ user: user(1) });
  await registrar.apply({ user: user(3) });
  assert.deepEqual(calls, []);
  await registrar.apply({ user: user(2) });
  assert.deepEqual(calls, [[2]]);
  await store.close();
});

Deno.test("plans applied together are written in one transaction", async () => {
  const { store, calls } = await countingStore();
  const registrar = new Registrar(store);
  await Promise.all(
    Array.from(
      { length: 50 },
      (_, i) => registrar.apply({ user: user(i + 1) }),
    ),
  );
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.length, 50);
  await registrar.applyAll([{ user: user(100) }, { user: user(101) }]);
  assert.deepEqual(calls.slice(1), [[100, 101]]);
  for (let id = 1; id <= 50; id++) assert.ok(await readUser(store, id));
  await store.close();
});

Deno.test("plans arriving while a transaction is in flight share the next one", async () => {
  const { store, calls } = await countingStore();
  const registrar = new Registrar(store);
  const first = registrar.apply({ user: user(1) });
  // Wait until the first batch has reached the store, then send ten more.
  while (calls.length === 0) await new Promise((r) => setTimeout(r, 0));
  const rest = Array.from(
    { length: 10 },
    (_, i) => registrar.apply({ user: user(i + 2) }),
  );
  await Promise.all([first, ...rest]);
  assert.deepEqual(calls, [[1], [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]);
  await store.close();
});

Deno.test("plans arriving over the next turns of the event loop join the batch", async () => {
  const { store, calls } = await countingStore();
  const registrar = new Registrar(store);
  // As webhook requests do: each reaches apply() in a later turn.
  const applied = [registrar.apply({ user: user(1) })];
  for (let id = 2; id <= 4; id++) {
    await new Promise((resolve) => setImmediate(resolve));
    applied.push(registrar.apply({ user: user(id) }));
  }
  await Promise.all(applied);
  assert.deepEqual(calls, [[1, 2, 3, 4]]);
  await store.close();
});

Deno.test("the same sender twice in one batch is written once", async () => {
  const { store, calls } = await countingStore();
  const registrar = new Registrar(store);
  await Promise.all([
    registrar.apply({ user: alice, sentAt: 10 }),
    registrar.apply({ user: alice, sentAt: 10 }),
    registrar.apply({ user: { ...alice, first_name: "Al" }, sentAt: 11 }),
  ]);
  assert.deepEqual(calls, [[1, 1]]);
  assert.equal((await readUser(store, 1))?.first_name, "Al");
  await store.close();
});

Deno.test("each caller settles with its own batch: a failed batch rejects only its callers", async () => {
  const counted = await countingStore();
  const registrar = new Registrar(counted.store);
  counted.failOn = 2;
  const first = registrar.apply({ user: user(1) });
  while (counted.calls.length === 0) await new Promise((r) => setTimeout(r, 0));
  const settled = await Promise.allSettled([
    first,
    registrar.apply({ user: user(2) }),
    registrar.apply({ user: user(3) }),
  ]);
  counted.failOn = undefined;
  assert.deepEqual(counted.calls, [[1], [2, 3]]);
  assert.deepEqual(settled.map((s) => s.status), [
    "fulfilled",
    "rejected",
    "rejected",
  ]);
  assert.match(
    ((settled[1] as PromiseRejectedResult).reason as Error).message,
    /disk is full/,
  );
  // Nothing failed is remembered as written: the same plans go again.
  await Promise.all([
    registrar.apply({ user: user(2) }),
    registrar.apply({ user: user(3) }),
  ]);
  assert.deepEqual(counted.calls.slice(2), [[2, 3]]);
  assert.ok(await readUser(counted.store, 3));
  await counted.store.close();
});

Deno.test("a plan the database refuses fails alone, not the plans that shared its batch", async () => {
  const { store, calls } = await countingStore();
  const registrar = new Registrar(store);
  const bad = {
    id: -5,
    username: null,
    title: "C",
    type: "channel" as "group",
  };
  const settled = await Promise.allSettled([
    registrar.apply({ user: user(1) }),
    registrar.apply({ group: bad }),
    registrar.apply({ user: user(2) }),
  ]);
  assert.deepEqual(settled.map((s) => s.status), [
    "fulfilled",
    "rejected",
    "fulfilled",
  ]);
  assert.deepEqual(calls, [[1, -5, 2], [1], [-5], [2]]);
  assert.ok(await readUser(store, 1));
  assert.ok(await readUser(store, 2));
  await store.close();
});

Deno.test("a purge by another process is seen by the very next update, every time", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const counted = counting(await openSqliteStore(path));
    const cli = await openSqliteStore(path);
    const registrar = new Registrar(counted.store);
    await registrar.apply({ user: alice });
    await registrar.apply({ user: alice });
    assert.equal(counted.calls.length, 1);
    for (let round = 0; round < 10; round++) {
      assert.equal(await cli.purge({ kind: "user", id: 1 }, "cli"), 1);
      await registrar.apply({ user: alice });
      assert.ok(await readUser(counted.store, 1), `round ${round}`);
    }
    assert.equal(counted.calls.length, 11);
    await cli.close();
    await counted.store.close();
  });
});

Deno.test("an update sent before an erasure neither registers nor is remembered", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const counted = counting(await openSqliteStore(path));
    const cli = await openSqliteStore(path);
    const registrar = new Registrar(counted.store);
    await registrar.apply({ user: alice });
    await cli.purge({ kind: "user", id: 1 }, "cli");
    const at = (await cli.recentAudit(1))[0]!.at;
    await registrar.apply({ user: alice, sentAt: at - 1 });
    assert.equal(await readUser(counted.store, 1), undefined);
    // The erased plan was not cached: a later one with the same fields writes.
    await registrar.apply({ user: alice, sentAt: at });
    assert.equal((await readUser(counted.store, 1))?.first_name, "Alice");
    assert.equal(counted.calls.length, 3);
    await cli.close();
    await counted.store.close();
  });
});

Deno.test("a moved or removed group is written again when seen again", async () => {
  const { store, calls } = await countingStore();
  const registrar = new Registrar(store);
  const group = { id: -5, username: null, title: "G", type: "group" as const };
  await registrar.apply({ group });
  await registrar.apply({ removeGroupId: -5 });
  await registrar.apply({ group });
  assert.deepEqual(await readGroup(store, -5).then((g) => g?.title), "G");
  assert.deepEqual(calls, [[-5], [], [-5]]);
  await store.close();
});

// A store holding the notes plugin's tables too, at `path`.
async function notesStore(path: string): Promise<Counted> {
  const catalog = catalogOf([NOTES_DATA]);
  const store = await openSqliteStore(path, { catalog });
  await createPluginTables(path, catalog);
  return counting(store);
}

const note = (text: string) => ({
  table: "notes_entries",
  row: { user_id: 1, note_id: 10, text },
});

Deno.test("a plugin's writes share the registrations' transaction and are never skipped as known", async () => {
  await withDir(async (dir) => {
    const counted = await notesStore(`${dir}/bot.db`);
    const registrar = new Registrar(counted.store);
    await Promise.all([
      registrar.apply({ user: alice }),
      registrar.apply({ user: alice, writes: [note("first")] }),
      registrar.apply({ writes: [note("second")] }),
    ]);
    assert.equal(counted.calls.length, 1);
    // Alice is known now; a row of hers still goes to the store.
    await registrar.apply({ user: alice, writes: [note("third")] });
    assert.equal(counted.calls.length, 2);
    const rows = await counted.store.read("notes_entries", {
      kind: "user",
      id: 1,
    });
    assert.deepEqual(rows.map((row) => row.text), ["third"]);
    await registrar.apply({
      removals: [{ table: "notes_entries", key: { user_id: 1, note_id: 10 } }],
    });
    assert.deepEqual(
      await counted.store.read("notes_entries", { kind: "user", id: 1 }),
      [],
    );
    await counted.store.close();
  });
});

Deno.test("a write to a table no plugin describes fails only its own update in a batch", async () => {
  await withDir(async (dir) => {
    const counted = await notesStore(`${dir}/bot.db`);
    const registrar = new Registrar(counted.store);
    const bob = { ...alice, id: 2, first_name: "Bob" };
    const results = await Promise.allSettled([
      registrar.apply({ user: bob }),
      registrar.apply({ writes: [{ table: "nowhere", row: { id: 1 } }] }),
      registrar.apply({ writes: [note("kept")] }),
    ]);
    assert.deepEqual(results.map((result) => result.status), [
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    assert.ok(
      (results[1] as PromiseRejectedResult).reason instanceof TypeError,
    );
    assert.ok(await readUser(counted.store, 2));
    assert.equal(
      (await counted.store.read("notes_entries", { kind: "user", id: 1 }))
        .length,
      1,
    );
    await counted.store.close();
  });
});

Deno.test("a plugin's write dated before the person's purge is dropped, one from the same second is kept", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const counted = await notesStore(path);
    const cli = await openSqliteStore(path, {
      catalog: catalogOf([NOTES_DATA]),
    });
    const registrar = new Registrar(counted.store);
    await registrar.apply({ user: alice, writes: [note("before")] });
    await cli.purge({ kind: "user", id: 1 }, "cli");
    const at = (await cli.recentAudit(1))[0]!.at;
    const read = () =>
      counted.store.read("notes_entries", { kind: "user", id: 1 });
    await registrar.apply({ writes: [note("late")], sentAt: at - 1 });
    assert.deepEqual(await read(), []);
    await registrar.apply({ writes: [note("same second")], sentAt: at });
    assert.deepEqual((await read()).map((row) => row.text), ["same second"]);
    await cli.close();
    await counted.store.close();
  });
});

Deno.test("with a retention period a known sender is written once a day, with the day; without one never again", async () => {
  const user = {
    id: 5,
    username: null,
    first_name: "A",
    last_name: null,
    language_code: null,
  };
  for (const retention of [true, false]) {
    const counted = await countingStore();
    let now = Date.parse("2026-03-01T23:59:00Z");
    const registrar = new Registrar(counted.store, {
      retention,
      now: () => now,
    });
    try {
      for (let i = 0; i < 3; i++) await registrar.apply({ user });
      assert.equal(counted.calls.length, 1, "once on the first day");
      now += 2 * 60_000;
      for (let i = 0; i < 3; i++) await registrar.apply({ user });
      assert.equal(counted.calls.length, retention ? 2 : 1);
      assert.equal(
        (await readUser(counted.store, 5))?.seen_on,
        retention ? "2026-03-02" : null,
      );
    } finally {
      await counted.store.close();
    }
  }
});

Deno.test("with ERASE_ON_BLOCK off a block writes nothing at all", async () => {
  const counted = await countingStore();
  const registrar = new Registrar(counted.store, { eraseOnBlock: false });
  try {
    await registrar.apply({ blockedUserId: 5, sentAt: 100 });
    assert.deepEqual(counted.calls, []);
    assert.deepEqual(await counted.store.recentAudit(1), []);
  } finally {
    await counted.store.close();
  }
});
