import assert from "node:assert/strict";
import type { Store } from "./store.ts";

/**
 * The behaviour every `Store` must have (SPEC section 2). Each store's test
 * file calls this with a function that opens a fresh, empty store.
 */
export function storeContract(name: string, open: () => Promise<Store>): void {
  const test = (title: string, body: (store: Store) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const store = await open();
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });

  const alice = {
    id: 1,
    username: "alice",
    first_name: "Alice",
    last_name: "Liddell",
    language_code: "en",
  };

  test("a new user is stored with its first sighting", async (store) => {
    await store.upsertUser(alice, 1000);
    assert.deepEqual(await store.getUser(1), { ...alice, registered_at: 1000 });
    assert.equal(await store.getUser(2), undefined);
  });

  test("an update changes the fields and never registered_at", async (store) => {
    await store.upsertUser(alice, 1000);
    const changed = {
      ...alice,
      username: null,
      last_name: null,
      first_name: "Al",
      language_code: "pt-br",
    };
    await store.upsertUser(changed, 2000);
    assert.deepEqual(await store.getUser(1), {
      ...changed,
      registered_at: 1000,
    });
  });

  test("names keep commas, quotes, emoji and the 64-bit id range", async (store) => {
    const odd = {
      id: 8_000_000_000_123,
      username: null,
      first_name: 'A, "B" 🦊',
      last_name: "null",
      language_code: null,
    };
    await store.upsertUser(odd, 1);
    assert.deepEqual(await store.getUser(odd.id), { ...odd, registered_at: 1 });
  });

  test("groups are stored and updated keeping registered_at", async (store) => {
    await store.upsertGroup({
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 10);
    await store.upsertGroup({
      id: -5,
      username: "g_pub",
      title: "G2",
      type: "supergroup",
    }, 20);
    assert.deepEqual(await store.getGroup(-5), {
      id: -5,
      username: "g_pub",
      title: "G2",
      type: "supergroup",
      registered_at: 10,
    });
  });

  test("moving a group keeps registered_at and leaves one record", async (store) => {
    await store.upsertGroup({
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 10);
    assert.equal(await store.moveGroup(-5, -1005), true);
    assert.equal(await store.getGroup(-5), undefined);
    assert.deepEqual(await store.getGroup(-1005), {
      id: -1005,
      username: null,
      title: "G",
      type: "supergroup",
      registered_at: 10,
    });
    assert.equal(await store.moveGroup(-5, -1005), false);
  });

  test("moving onto an existing new record keeps the earliest registered_at", async (store) => {
    await store.upsertGroup({
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 10);
    await store.upsertGroup({
      id: -1005,
      username: null,
      title: "G new",
      type: "supergroup",
    }, 30);
    assert.equal(await store.moveGroup(-5, -1005), true);
    assert.equal(await store.getGroup(-5), undefined);
    const moved = await store.getGroup(-1005);
    assert.equal(moved?.registered_at, 10);
    assert.equal(moved?.title, "G new");
  });

  test("deleting reports whether a record was there", async (store) => {
    await store.upsertUser(alice, 1);
    await store.upsertGroup({
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 1);
    assert.equal(await store.deleteUser(1), true);
    assert.equal(await store.deleteUser(1), false);
    assert.equal(await store.deleteGroup(-5), true);
    assert.equal(await store.deleteGroup(-5), false);
    assert.equal(await store.getUser(1), undefined);
  });

  test("the store answers pings and knows its schema version", async (store) => {
    await store.ping();
    assert.ok(await store.schemaVersion() >= 1);
    assert.equal(typeof await store.erasureVersion(), "number");
  });

  test("iteration streams every record in id order", async (store) => {
    for (const id of [3, 1, 2]) await store.upsertUser({ ...alice, id }, id);
    await store.upsertGroup({
      id: -7,
      username: null,
      title: "G7",
      type: "group",
    }, 1);
    await store.upsertGroup({
      id: -9,
      username: null,
      title: "G9",
      type: "group",
    }, 1);
    const users = [];
    for await (const user of store.iterateUsers()) users.push(user.id);
    const groups = [];
    for await (const group of store.iterateGroups()) groups.push(group.id);
    assert.deepEqual(users, [1, 2, 3]);
    assert.deepEqual(groups, [-9, -7]);
  });

  test("the summary counts records and spans registrations of both kinds", async (store) => {
    let summary = await store.summary();
    assert.deepEqual(
      [
        summary.users,
        summary.groups,
        summary.oldestRegistration,
        summary.newestRegistration,
      ],
      [0, 0, null, null],
    );
    await store.upsertUser(alice, 500);
    summary = await store.summary();
    assert.deepEqual([summary.oldestRegistration, summary.newestRegistration], [
      500,
      500,
    ]);
    await store.upsertGroup({
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 100);
    await store.upsertUser({ ...alice, id: 2 }, 900);
    summary = await store.summary();
    assert.deepEqual(
      [
        summary.users,
        summary.groups,
        summary.oldestRegistration,
        summary.newestRegistration,
      ],
      [2, 1, 100, 900],
    );
    assert.ok(summary.sizeBytes > 0);
  });

  test("a purge deletes and is audited; a purge of nothing is not", async (store) => {
    await store.upsertUser(alice, 1);
    await store.upsertGroup({
      id: -5,
      username: null,
      title: "G",
      type: "group",
    }, 1);
    assert.equal(await store.purge({ kind: "user", id: 2 }, "cli"), 0);
    assert.equal(await store.purge({ kind: "user", id: 1 }, "bot"), 1);
    assert.equal(await store.getUser(1), undefined);
    await store.upsertUser(alice, 1);
    assert.equal(await store.purge({ kind: "all" }, "cli"), 2);
    const audit = await store.recentAudit(10);
    assert.deepEqual(audit.map((e) => [e.actor, e.action, e.kind, e.records]), [
      ["cli", "purge", "all", 2],
      ["bot", "purge", "user", 1],
    ]);
    assert.equal(audit[0]!.subject, null);
    assert.equal(
      audit[1]!.subject,
      await store.auditSubject({ kind: "user", id: 1 }),
    );
  });

  test("audit subjects are keyed hashes: stable per record, never the id", async (store) => {
    const one = await store.auditSubject({ kind: "user", id: 1 });
    assert.equal(await store.auditSubject({ kind: "user", id: 1 }), one);
    assert.notEqual(await store.auditSubject({ kind: "group", id: 1 }), one);
    assert.match(one ?? "", /^[0-9a-f]{32}$/);
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target: { kind: "user", id: 1 },
      records: 1,
      at: 77,
    });
    assert.deepEqual(await store.recentAudit(1), [
      {
        at: 77,
        actor: "bot",
        action: "export",
        kind: "user",
        subject: one,
        records: 1,
      },
    ]);
  });

  test("the last audit entry of an action is found by record and actor", async (store) => {
    const target = { kind: "user" as const, id: 1 };
    assert.equal(await store.lastAudit(target, "export", "bot"), undefined);
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target,
      records: 1,
      at: 100,
    });
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target,
      records: 1,
      at: 300,
    });
    await store.recordAudit({
      actor: "cli",
      action: "export",
      target,
      records: 1,
      at: 900,
    });
    await store.recordAudit({
      actor: "bot",
      action: "export",
      target: { kind: "user", id: 2 },
      records: 1,
      at: 950,
    });
    assert.equal(await store.lastAudit(target, "export", "bot"), 300);
    assert.equal(await store.lastAudit(target, "export", "cli"), 900);
    assert.equal(await store.lastAudit(target, "purge", "bot"), undefined);
  });
}
