import assert from "node:assert/strict";
import { catalogOf, type Row } from "../base/tables.ts";
import { DamagedRecordError } from "../crypto/field_codec.ts";
import { NOTES_DATA } from "../../examples/notes/data.ts";
import type { RegistrationPlan, RowWrite, Store } from "./store.ts";
import { alice } from "./_fixtures.ts";
import {
  moveGroup,
  readAll,
  readGroup,
  readUser,
  registerGroup,
  removeGroup,
} from "./_seed.ts";
import type { ContractTarget } from "./_store_contract.ts";
import { pluginWithMigrations } from "./_plugin_fixtures.ts";

/** The catalog of the example notes plugin: users, groups and its two tables. */
export const NOTES_CATALOG = catalogOf([NOTES_DATA]);

const bob = { ...alice, id: 2, username: "bob", first_name: "Bob" };
const group = (id: number) => ({
  id,
  username: null,
  title: `G${id}`,
  type: "supergroup" as const,
});

// A private note and a note shared with a group, as the plugin writes them.
const entry = (
  user: number,
  note: number,
  text = `note ${note}`,
): RowWrite => ({
  table: "notes_entries",
  row: { user_id: user, note_id: note, text },
});
const shared = (chat: number, user: number, text = `shared ${user}`) => ({
  table: "notes_shared",
  row: { chat_id: chat, user_id: user, text },
});

const member = (id: number) => ({ kind: "user" as const, id });
const inGroup = (id: number) => ({ kind: "group" as const, id });

/**
 * The store contract's part about plugin tables (see `storeContract`), on
 * stores opened with the example notes plugin's catalog.
 */
export function pluginContract(name: string, target: ContractTarget): void {
  const test = (title: string, body: (store: Store) => Promise<void>) =>
    Deno.test(`${name}, notes plugin: ${title}`, async () => {
      const store = await target.open(NOTES_CATALOG);
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });
  const write = (store: Store, plan: RegistrationPlan, now: number) =>
    store.register([plan], now);
  const notes = async (store: Store, user: number) =>
    (await store.read("notes_entries", member(user))).map((row) => row.text);
  const sharedIn = async (store: Store, chat: number) =>
    (await store.read("notes_shared", inGroup(chat))).map((row) => row.user_id);
  // Alice and Bob, each with a private note and a note shared in -5 and -6.
  const seed = async (store: Store) => {
    await store.register([
      { user: alice, group: group(-5), writes: [entry(1, 10), shared(-5, 1)] },
      { user: alice, group: group(-6), writes: [shared(-6, 1)] },
      { user: bob, group: group(-5), writes: [entry(2, 20), shared(-5, 2)] },
      { user: bob, group: group(-6), writes: [shared(-6, 2)] },
    ], 100);
  };

  test("the store lists every described table, users and groups first", (store) => {
    assert.deepEqual(store.tables.map((table) => table.name), [
      "users",
      "groups",
      "notes_entries",
      "notes_shared",
    ]);
    return Promise.resolve();
  });

  test("a plugin row is written with its stamp, updated keeping it, and removed by key", async (store) => {
    await write(store, { user: alice, writes: [entry(1, 10, "first")] }, 100);
    assert.deepEqual(await store.read("notes_entries", member(1)), [
      { user_id: 1, note_id: 10, text: "first", created_at: 100 },
    ]);
    await write(store, { writes: [entry(1, 10, "changed")] }, 200);
    assert.deepEqual(await store.read("notes_entries", member(1)), [
      { user_id: 1, note_id: 10, text: "changed", created_at: 100 },
    ]);
    await write(store, {
      removals: [{ table: "notes_entries", key: { user_id: 1, note_id: 10 } }],
    }, 300);
    assert.deepEqual(await store.read("notes_entries", member(1)), []);
    assert.ok(await readUser(store, 1), "the user stays");
  });

  test("writes and removals of a batch are applied in plan order", async (store) => {
    const key = { user_id: 1, note_id: 10 };
    await store.register([
      { writes: [entry(1, 10, "a")] },
      { removals: [{ table: "notes_entries", key }] },
      { writes: [entry(1, 11, "b")] },
      { writes: [entry(1, 11, "c")] },
    ], 5);
    assert.deepEqual(await notes(store, 1), ["c"]);
    await store.register([
      { removals: [{ table: "notes_entries", key: { ...key, note_id: 11 } }] },
      { writes: [entry(1, 11, "d")] },
    ], 6);
    assert.deepEqual(await notes(store, 1), ["d"]);
  });

  test("a write to an undescribed table, or with a wrong column, is a TypeError and writes nothing", async (store) => {
    const bad: RowWrite[] = [
      { table: "notes_missing", row: {} },
      { table: "notes_entries", row: { user_id: 1, note_id: 1 } },
      { table: "notes_entries", row: { ...entry(1, 1).row, colour: "red" } },
      { table: "notes_entries", row: { ...entry(1, 1).row, created_at: 5 } },
      { table: "notes_entries", row: { ...entry(1, 1).row, text: null } },
      { table: "notes_entries", row: { ...entry(1, 1).row, note_id: "1" } },
    ];
    for (const wrong of bad) {
      await assert.rejects(
        write(store, { user: alice, writes: [entry(1, 2), wrong] }, 1),
        TypeError,
        JSON.stringify(wrong),
      );
    }
    await assert.rejects(
      write(store, {
        removals: [{ table: "notes_entries", key: { user_id: 1 } }],
      }, 1),
      TypeError,
    );
    assert.equal(await readUser(store, 1), undefined);
    assert.deepEqual(await notes(store, 1), []);
  });

  Deno.test(`${name}, notes plugin: a write may leave out a nullable column, stored as null, but not a key or a required one`, async () => {
    const moods = await pluginWithMigrations("moods", {
      "0001_moods.sql":
        "CREATE TABLE moods_days (user_id BIGINT PRIMARY KEY, mood TEXT NOT NULL, remark TEXT)",
    }, {
      tables: [{
        name: "moods_days",
        record: "mood",
        subject: "user",
        userColumn: "user_id",
        key: ["user_id"],
        columns: [
          { name: "user_id", type: "integer", meaning: "Whose mood." },
          { name: "mood", type: "text", meaning: "The mood." },
          {
            name: "remark",
            type: "text",
            nullable: true,
            encrypted: true,
            meaning: "A remark.",
          },
        ],
      }],
    });
    const store = await target.open(catalogOf([moods.plugin]));
    try {
      await write(store, {
        writes: [{ table: "moods_days", row: { user_id: 1, mood: "calm" } }],
      }, 1);
      await write(store, {
        writes: [{
          table: "moods_days",
          row: { user_id: 2, mood: "glad", remark: "sunny" },
        }],
      }, 1);
      assert.deepEqual(await readAll(store, "moods_days"), [
        { user_id: 1, mood: "calm", remark: null },
        { user_id: 2, mood: "glad", remark: "sunny" },
      ]);
      for (const row of [{ user_id: 3 }, { mood: "odd" }] as Row[]) {
        await assert.rejects(
          write(store, { writes: [{ table: "moods_days", row }] }, 1),
          TypeError,
        );
      }
    } finally {
      await store.close();
      await moods.remove();
    }
  });

  test(
    target.encrypted
      ? "a plugin's encrypted column is stored encrypted"
      : "without a key a plugin's column is stored as given",
    async (store) => {
      const secret = "Meet at the old mill at noon";
      await write(store, { writes: [shared(-5, 1, secret)] }, 1);
      const [stored] = await target.stored(store, "notes_shared");
      assert.equal(JSON.stringify(stored).includes(secret), !target.encrypted);
      assert.equal((await readAll(store, "notes_shared"))[0]!.text, secret);
    },
  );

  test("a plugin write dated before its person's or group's purge is dropped; the same second keeps it", async (store) => {
    await seed(store);
    await store.purge({ kind: "user", id: 1 }, "bot");
    const at = (await store.recentAudit(1))[0]!.at;
    await write(store, { writes: [entry(1, 11)], sentAt: at - 1 }, at);
    assert.deepEqual(await notes(store, 1), []);
    await write(store, { writes: [entry(1, 12)], sentAt: at }, at);
    assert.deepEqual(await notes(store, 1), ["note 12"]);
    await store.purge({ kind: "group", id: -5 }, "bot");
    const groupAt = (await store.recentAudit(1))[0]!.at;
    await store.register([
      { writes: [shared(-5, 2)], sentAt: groupAt - 1 },
      // Bob was not purged: his private note is kept.
      { writes: [entry(2, 21)], sentAt: groupAt - 1 },
    ], groupAt);
    assert.deepEqual(await sharedIn(store, -5), []);
    assert.deepEqual(await notes(store, 2), ["note 20", "note 21"]);
    await write(store, { writes: [shared(-5, 2)], sentAt: groupAt }, groupAt);
    assert.deepEqual(await sharedIn(store, -5), [2]);
  });

  test("a purge of someone who only has plugin rows, by another connection, drops this connection's older writes", async (store) => {
    const other = await target.connectAgain(store);
    try {
      await write(store, { writes: [entry(3, 30)] }, 100);
      const before = await store.erasureVersion();
      assert.equal(await other.purge({ kind: "user", id: 3 }, "cli"), 1);
      assert.notEqual(await store.erasureVersion(), before);
      const at = (await store.recentAudit(1))[0]!.at;
      await write(store, { writes: [entry(3, 31)], sentAt: at - 1 }, at);
      assert.deepEqual(await notes(store, 3), []);
    } finally {
      await other.close();
    }
  });

  test("a person's purge deletes their notes and shared notes, counted in one audit entry", async (store) => {
    await seed(store);
    assert.equal(await store.purge({ kind: "user", id: 1 }, "cli"), 4);
    assert.deepEqual(
      (await store.recentAudit(10)).map((e) => [e.kind, e.records]),
      [["user", 4]],
    );
    assert.deepEqual(await notes(store, 1), []);
    assert.deepEqual(await store.read("notes_shared", member(1)), []);
    assert.deepEqual(await notes(store, 2), ["note 20"]);
    assert.deepEqual(await sharedIn(store, -5), [2]);
    assert.deepEqual(await sharedIn(store, -6), [2]);
    assert.equal(await store.purge({ kind: "user", id: 1 }, "cli"), 0);
  });

  test("a group's purge deletes its members' shared notes in it, not their private notes", async (store) => {
    await seed(store);
    assert.equal(await store.purge({ kind: "group", id: -5 }, "cli"), 3);
    assert.equal(await readGroup(store, -5), undefined);
    assert.deepEqual(await sharedIn(store, -5), []);
    assert.deepEqual(await sharedIn(store, -6), [1, 2]);
    assert.deepEqual(await notes(store, 1), ["note 10"]);
    assert.deepEqual(await notes(store, 2), ["note 20"]);
  });

  test("the bot's removal from a group deletes its members' shared notes in it", async (store) => {
    await seed(store);
    const before = await store.erasureVersion();
    assert.equal(await removeGroup(store, -5), true);
    assert.notEqual(await store.erasureVersion(), before);
    assert.deepEqual(await sharedIn(store, -5), []);
    assert.deepEqual(await sharedIn(store, -6), [1, 2]);
    assert.deepEqual(await notes(store, 1), ["note 10"]);
  });

  test("a purge of all records empties every described table", async (store) => {
    await seed(store);
    assert.equal(await store.purge({ kind: "all" }, "cli"), 10);
    for (const table of store.tables) {
      assert.deepEqual(await readAll(store, table.name), [], table.name);
    }
    const summary = await store.summary();
    assert.deepEqual(summary.rows, {
      users: 0,
      groups: 0,
      notes_entries: 0,
      notes_shared: 0,
    });
  });

  test("a group's move carries its shared notes, readable under the new id with their stamps", async (store) => {
    await seed(store);
    await registerGroup(store, group(-1005), 300);
    // Already shared under the new id: kept, with the earliest stamp.
    await write(store, { writes: [shared(-1005, 2, "newer")] }, 300);
    assert.equal(await moveGroup(store, -5, -1005), true);
    assert.deepEqual(await store.read("notes_shared", inGroup(-1005)), [
      { chat_id: -1005, user_id: 1, text: "shared 1", shared_at: 100 },
      { chat_id: -1005, user_id: 2, text: "newer", shared_at: 100 },
    ]);
    assert.deepEqual(await sharedIn(store, -5), []);
    assert.deepEqual(await sharedIn(store, -6), [1, 2]);
    assert.equal((await readGroup(store, -1005))?.registered_at, 100);
    // They are erased with the group under its new id.
    assert.equal(await store.purge({ kind: "group", id: -1005 }, "cli"), 3);
  });

  test("member rows are read by person and by group, and iterated, in key order", async (store) => {
    await seed(store);
    const pairs = (rows: Row[]) => rows.map((r) => [r.chat_id, r.user_id]);
    assert.deepEqual(pairs(await store.read("notes_shared", member(1))), [
      [-6, 1],
      [-5, 1],
    ]);
    assert.deepEqual(pairs(await store.read("notes_shared", inGroup(-5))), [
      [-5, 1],
      [-5, 2],
    ]);
    assert.deepEqual(pairs(await readAll(store, "notes_shared")), [
      [-6, 1],
      [-6, 2],
      [-5, 1],
      [-5, 2],
    ]);
    // A person's private notes are nothing about a group.
    assert.deepEqual(await store.read("notes_entries", inGroup(-5)), []);
    await assert.rejects(store.read("notes_missing", member(1)), TypeError);
    assert.throws(() => store.iterate("notes_missing"), TypeError);
  });

  test("iteration pages through a composite key past a page's length", async (store) => {
    const writes = [];
    for (let user = 1; user <= 1100; user++) {
      writes.push(shared(user % 2 === 0 ? -5 : -6, user, "x"));
    }
    await store.register([{ writes }], 1);
    const rows = await readAll(store, "notes_shared");
    assert.equal(rows.length, 1100);
    const sorted = [...rows].sort((a, b) =>
      Number(a.chat_id) - Number(b.chat_id) ||
      Number(a.user_id) - Number(b.user_id)
    );
    assert.deepEqual(rows, sorted);
  });

  test("the summary counts every described table and every encrypted value", async (store) => {
    await seed(store);
    const summary = await store.summary();
    assert.deepEqual(summary.rows, {
      users: 2,
      groups: 2,
      notes_entries: 2,
      notes_shared: 4,
    });
    assert.equal(summary.versions.core, summary.schemaVersion);
    const values = Object.values(summary.valuesByKeyId).reduce(
      (sum, n) => sum + n,
      0,
    );
    // Users: username, first and last name; groups: the title; notes: text.
    assert.equal(values, target.encrypted ? 2 * 3 + 2 + 2 + 4 : 0);
  });

  if (target.encrypted) {
    test("a damaged plugin row is reported by iteration and thrown by a read", async (store) => {
      await seed(store);
      // Bob's shared note's value put in Alice's row: it is bound to Bob's.
      await target.exec(
        store,
        `UPDATE notes_shared SET text = (SELECT text FROM notes_shared
           WHERE chat_id = -5 AND user_id = 2) WHERE chat_id = -5 AND user_id = 1`,
      );
      await assert.rejects(
        store.read("notes_shared", inGroup(-5)),
        (error: Error) =>
          error instanceof DamagedRecordError &&
          error.table === "notes_shared" && error.key === "-5,1",
      );
      const damaged: DamagedRecordError[] = [];
      const rows: Row[] = [];
      for await (
        const row of store.iterate("notes_shared", {
          onDamaged: (error) => damaged.push(error),
        })
      ) rows.push(row);
      assert.deepEqual(damaged.map((e) => [e.kind, e.key, e.columns]), [
        ["shared note", "-5,1", ["text"]],
      ]);
      assert.equal(rows.length, 3);
      // Erasing it needs no reading.
      assert.equal(await store.purge({ kind: "user", id: 1 }, "cli"), 4);
    });
  }
}
