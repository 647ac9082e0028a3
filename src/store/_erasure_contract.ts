import assert from "node:assert/strict";
import type { Row } from "../base/tables.ts";
import type { RecordRef } from "./audit.ts";
import type { RowWrite, Store } from "./store.ts";
import { alice } from "./_fixtures.ts";
import { daysBefore } from "../base/days.ts";
import { readAll, readGroup, readUser } from "./_seed.ts";
import { NOTES_CATALOG } from "./_plugin_contract.ts";
import type { ContractTarget } from "./_store_contract.ts";

const bob = { ...alice, id: 2, username: "bob", first_name: "Bob" };
const group = (id: number) => ({
  id,
  username: null,
  title: `G${id}`,
  type: "supergroup" as const,
});
const entry = (user: number, note: number): RowWrite => ({
  table: "notes_entries",
  row: { user_id: user, note_id: note, text: `note ${note}` },
});
const shared = (chat: number, user: number): RowWrite => ({
  table: "notes_shared",
  row: { chat_id: chat, user_id: user, text: `shared ${user}` },
});

// Every row of every described table, by table: what an erasure must leave.
async function everything(store: Store): Promise<Record<string, Row[]>> {
  const all: Record<string, Row[]> = {};
  for (const table of store.tables) {
    all[table.name] = await readAll(store, table.name);
  }
  return all;
}

// The rows of every table that mention the id in a subject column.
function about(all: Record<string, Row[]>, store: Store, ref: RecordRef) {
  return store.tables.flatMap((table) => {
    const column = ref.kind === "user" ? table.userColumn : table.groupColumn;
    if (column === undefined || ref.kind === "all") return [];
    return all[table.name]!.filter((row) => row[column] === ref.id);
  });
}

/**
 * The erasures Telegram's updates cause (a block, the bot's removal), on
 * stores with the example notes plugin: every table erased with the record
 * loses its rows, one audit entry says so, and the late-update rule holds
 * from the update's date.
 */
export function erasureContract(name: string, target: ContractTarget): void {
  const test = (title: string, body: (store: Store) => Promise<void>) =>
    Deno.test(`${name}, erasures: ${title}`, async () => {
      const store = await target.open(NOTES_CATALOG);
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });
  // Alice and Bob, each with a private note and a note shared in -5 and -6.
  const seed = async (store: Store) => {
    await store.register([
      { user: alice, group: group(-5), writes: [entry(1, 10), shared(-5, 1)] },
      { user: alice, group: group(-6), writes: [shared(-6, 1)] },
      { user: bob, group: group(-5), writes: [entry(2, 20), shared(-5, 2)] },
      { user: bob, group: group(-6), writes: [shared(-6, 2)] },
    ], 100);
  };

  test("a person who blocks the bot loses every row about them, in one entry by Telegram", async (store) => {
    await seed(store);
    const before = await everything(store);
    const version = await store.erasureVersion();
    await store.register([{ blockedUserId: 1, sentAt: 200 }], 300);
    const after = await everything(store);
    assert.deepEqual(about(after, store, { kind: "user", id: 1 }), []);
    // Everyone and everything else stays as it was.
    for (const table of store.tables) {
      const column = table.userColumn;
      assert.deepEqual(
        after[table.name],
        before[table.name]!.filter((row) =>
          column === undefined || row[column] !== 1
        ),
        table.name,
      );
    }
    const entries = await store.auditOf({ kind: "user", id: 1 });
    assert.equal(entries.length, 1);
    assert.deepEqual(
      { ...entries[0]!, subject: null },
      {
        at: 200,
        actor: "telegram",
        action: "purge",
        kind: "user",
        subject: null,
        records: about(before, store, { kind: "user", id: 1 }).length,
        outcome: "done",
        reason: "blocked",
      },
    );
    assert.notEqual(await store.erasureVersion(), version);
  });

  test("an update dated before the block does not register them again; the same second does", async (store) => {
    await seed(store);
    await store.register([{ blockedUserId: 1, sentAt: 200 }], 300);
    const late = await store.register([
      { user: alice, sentAt: 199, writes: [entry(1, 11)] },
    ], 301);
    assert.deepEqual(late.erased, [1]);
    assert.equal(await readUser(store, 1), undefined);
    assert.deepEqual(
      await store.read("notes_entries", { kind: "user", id: 1 }),
      [],
    );
    await store.register([
      { user: alice, sentAt: 200, writes: [entry(1, 12)] },
    ], 302);
    assert.equal((await readUser(store, 1))?.registered_at, 302);
    assert.equal(
      (await store.read("notes_entries", { kind: "user", id: 1 })).length,
      1,
    );
  });

  test("a block is an erasure even for a person never stored, and counts within its own batch", async (store) => {
    const result = await store.register([
      { user: alice, sentAt: 150 },
      { blockedUserId: 1, sentAt: 200 },
      { user: alice, sentAt: 180 },
    ], 300);
    assert.deepEqual(result.erased, [1]);
    assert.equal(await readUser(store, 1), undefined);
    const entries = await store.auditOf({ kind: "user", id: 1 });
    assert.deepEqual(
      entries.map((e) => [e.actor, e.reason, e.records, e.at]),
      [["telegram", "blocked", 1, 200]],
    );
    await store.register([{ blockedUserId: 2, sentAt: 200 }], 300);
    const none = await store.auditOf({ kind: "user", id: 2 });
    assert.deepEqual(none.map((e) => [e.reason, e.records]), [["blocked", 0]]);
    await store.register([{ user: bob, sentAt: 199 }], 301);
    assert.equal(await readUser(store, 2), undefined);
  });

  test("the bot's removal from a group erases it and its rows, in one entry by Telegram", async (store) => {
    await seed(store);
    const before = await everything(store);
    await store.register([{ user: bob, removeGroupId: -5, sentAt: 200 }], 300);
    const after = await everything(store);
    assert.deepEqual(about(after, store, { kind: "group", id: -5 }), []);
    assert.ok(await readGroup(store, -6), "another group stays");
    assert.equal(after.notes_entries!.length, 2, "private notes stay");
    const entries = await store.auditOf({ kind: "group", id: -5 });
    assert.deepEqual(
      entries.map((e) => [e.at, e.actor, e.action, e.reason, e.records]),
      [[
        200,
        "telegram",
        "purge",
        "removed",
        about(before, store, { kind: "group", id: -5 }).length,
      ]],
    );
  });

  test("an old message from a group the bot left does not register it again; the same second does", async (store) => {
    await seed(store);
    await store.register([{ removeGroupId: -5, sentAt: 200 }], 300);
    const late = await store.register([
      { user: alice, group: group(-5), sentAt: 199, writes: [shared(-5, 1)] },
    ], 301);
    assert.deepEqual(late.erased, [-5]);
    assert.equal(await readGroup(store, -5), undefined);
    assert.deepEqual(
      await store.read("notes_shared", { kind: "group", id: -5 }),
      [],
    );
    await store.register([{ group: group(-5), sentAt: 200 }], 302);
    assert.equal((await readGroup(store, -5))?.registered_at, 302);
  });

  test("a purge on request says so, and a purge may give another reason", async (store) => {
    await seed(store);
    await store.purge({ kind: "user", id: 1 }, "bot");
    await store.purge({ kind: "user", id: 2 }, "cli", { reason: "inactive" });
    const reasons = async (id: number) =>
      (await store.auditOf({ kind: "user", id })).map((e) => e.reason);
    assert.deepEqual(await reasons(1), ["request"]);
    assert.deepEqual(await reasons(2), ["inactive"]);
  });

  test("a sweep erases exactly the users and groups not seen for longer than the period, with every row erased with them", async (store) => {
    await store.applyRetention(30, "2026-01-01");
    await store.register([
      {
        user: alice,
        group: group(-5),
        seenOn: "2026-01-01",
        writes: [entry(1, 10), shared(-5, 1)],
      },
      {
        user: bob,
        group: group(-6),
        seenOn: "2026-02-01",
        writes: [entry(2, 20), shared(-6, 2), shared(-5, 2)],
      },
    ], 100);
    await store.register([{ writes: [shared(-6, 1)] }], 100);
    assert.deepEqual(
      await store.sweep(daysBefore("2026-02-02", 30), { dryRun: true }),
      { users: 1, groups: 1, rows: 0 },
    );
    const before = await everything(store);
    const result = await store.sweep(daysBefore("2026-02-02", 30), {
      pageSize: 1,
    });
    const after = await everything(store);
    assert.deepEqual(after.users!.map((row) => row.id), [2]);
    assert.deepEqual(after.groups!.map((row) => row.id), [-6]);
    assert.deepEqual(after.notes_entries!.map((row) => row.user_id), [2]);
    assert.deepEqual(
      after.notes_shared!.map((row) => [row.chat_id, row.user_id]),
      [[-6, 2]],
    );
    const count = (all: Record<string, Row[]>) =>
      Object.values(all).reduce((n, rows) => n + rows.length, 0);
    assert.deepEqual(result, {
      users: 1,
      groups: 1,
      rows: count(before) - count(after),
    });
    const entries = (await store.recentAudit(5)).filter((e) =>
      e.reason === "inactive"
    );
    assert.deepEqual(
      entries.map((e) => [e.kind, e.subject, e.records, e.outcome, e.actor]),
      [["all", null, result.rows, "done", "cli"]],
    );
    // The sweep erased only the inactive: a late update of anyone else
    // dated before it still registers them.
    await store.register([{ user: { ...alice, id: 3 }, sentAt: 1 }], 200);
    assert.ok(await readUser(store, 3));
  });

  test("records stored before the period was set count as seen that day; unsetting it clears every day", async (store) => {
    await store.register([{ user: alice, group: group(-5) }], 100);
    assert.equal((await readUser(store, 1))?.seen_on, null);
    await store.sweep("2030-01-01");
    assert.ok(await readUser(store, 1), "no period was ever set");
    await store.applyRetention(30, "2026-01-10");
    await store.applyRetention(30, "2026-03-01");
    assert.deepEqual(
      await store.sweep("2026-01-10", { dryRun: true }),
      { users: 0, groups: 0, rows: 0 },
      "seen on the day the period was first set, not before",
    );
    await store.register([{ user: bob, seenOn: "2026-01-20" }], 100);
    await store.applyRetention(undefined, "2026-01-21");
    assert.equal((await readUser(store, 2))?.seen_on, null);
    assert.deepEqual(
      await store.sweep("2026-12-31", { dryRun: true }),
      { users: 0, groups: 0, rows: 0 },
    );
    await store.applyRetention(30, "2026-02-01");
    assert.deepEqual(
      await store.sweep("2026-02-02", { dryRun: true }),
      { users: 2, groups: 1, rows: 0 },
    );
  });

  test("a registration with a day seen keeps it; the next day's moves it", async (store) => {
    await store.register([{ user: alice, seenOn: "2026-01-01" }], 100);
    await store.register([{ user: alice, seenOn: "2026-01-02" }], 200);
    const row = await readUser(store, 1);
    assert.deepEqual([row?.seen_on, row?.registered_at], ["2026-01-02", 100]);
  });

  Deno.test(`${name}, erasures: of two connections asking together, exactly one claims a day's sweep`, async () => {
    const store = await target.open(NOTES_CATALOG);
    const other = await target.connectAgain(store);
    try {
      for (const day of ["2026-01-01", "2026-01-02"]) {
        const claims = await Promise.all([
          store.claimSweep(day),
          other.claimSweep(day),
          store.claimSweep(day),
          other.claimSweep(day),
        ]);
        assert.equal(claims.filter(Boolean).length, 1, day);
      }
      assert.equal(await store.claimSweep("2026-01-01"), false);
    } finally {
      await other.close();
      await store.close();
    }
  });
}
