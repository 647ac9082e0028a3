import assert from "node:assert/strict";
import type { Row } from "../base/tables.ts";
import type { RecordRef } from "./audit.ts";
import type { RowWrite, Store } from "./store.ts";
import { alice } from "./_fixtures.ts";
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
}
