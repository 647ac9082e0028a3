import assert from "node:assert/strict";
import { Registrar } from "./registrar.ts";
import { openSqliteStore } from "./store/sqlite_store.ts";
import type { Store } from "./store/store.ts";

// The real SQLite store, with a count of the calls that write.
async function countingStore(): Promise<{ store: Store; writes: string[] }> {
  const real = await openSqliteStore(":memory:");
  const writes: string[] = [];
  const store = new Proxy(real, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (/^(upsert|move|delete)/.test(String(key))) writes.push(String(key));
        return value.apply(target, args);
      };
    },
  });
  return { store, writes };
}

const alice = {
  id: 1,
  username: "alice",
  first_name: "Alice",
  last_name: null,
  language_code: "en",
};

Deno.test("an unchanged sender is not written again", async () => {
  const { store, writes } = await countingStore();
  const registrar = new Registrar(store);
  await registrar.apply({ user: alice });
  await registrar.apply({ user: alice });
  await registrar.apply({ user: { ...alice } });
  assert.deepEqual(writes, ["upsertUser"]);
  await registrar.apply({ user: { ...alice, last_name: "null" } });
  await registrar.apply({ user: { ...alice, last_name: null } });
  assert.deepEqual(writes, ["upsertUser", "upsertUser", "upsertUser"]);
  await store.close();
});

Deno.test("the cache is bounded and forgets the least recently seen", async () => {
  const { store, writes } = await countingStore();
  const registrar = new Registrar(store, { cacheSize: 2 });
  const user = (id: number) => ({ ...alice, id });
  await registrar.apply({ user: user(1) });
  await registrar.apply({ user: user(2) });
  await registrar.apply({ user: user(1) }); // 1 is now the most recent
  await registrar.apply({ user: user(3) }); // evicts 2
  writes.length = 0;
  await registrar.apply({ user: user(1) });
  await registrar.apply({ user: user(3) });
  assert.deepEqual(writes, []);
  await registrar.apply({ user: user(2) });
  assert.deepEqual(writes, ["upsertUser"]);
  await store.close();
});

Deno.test("a change by another process empties the cache at the next check", async () => {
  const { store, writes } = await countingStore();
  let clock = 0;
  let version = 1;
  const watched = Object.assign(Object.create(store), {
    erasureVersion: () => Promise.resolve(version),
  }) as Store;
  const registrar = new Registrar(watched, {
    recheckMs: 1000,
    now: () => clock,
  });
  await registrar.apply({ user: alice });
  version = 2;
  clock = 500; // not yet re-checked
  await registrar.apply({ user: alice });
  assert.deepEqual(writes, ["upsertUser"]);
  clock = 1000;
  await registrar.apply({ user: alice });
  assert.deepEqual(writes, ["upsertUser", "upsertUser"]);
  await store.close();
});

Deno.test("a moved or removed group is written again when seen again", async () => {
  const { store, writes } = await countingStore();
  const registrar = new Registrar(store);
  const group = { id: -5, username: null, title: "G", type: "group" as const };
  await registrar.apply({ group });
  await registrar.apply({ removeGroupId: -5 });
  await registrar.apply({ group });
  assert.deepEqual(await store.getGroup(-5).then((g) => g?.title), "G");
  assert.deepEqual(writes, ["upsertGroup", "deleteGroup", "upsertGroup"]);
  await store.close();
});
