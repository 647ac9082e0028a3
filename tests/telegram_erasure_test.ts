// Erasures that Telegram's own updates cause, end to end: main.ts (with the
// example notes plugin) as a subprocess in webhook mode against the fake
// Bot API, on a real SQLite file.
import assert from "node:assert/strict";
import type { Update } from "grammy/types";
import { tempDir } from "./_db.ts";
import { openNotesStore, storedOwners } from "./_notes.ts";
import { dayOf } from "../src/base/days.ts";
import { startWebhookBot, type WebhookBot } from "./_webhook_bot.ts";
import {
  group,
  message,
  myChatMember,
  privateChat,
  user,
  withId,
} from "./_updates.ts";

const command = (text: string) => ({
  text,
  entities: [{
    type: "bot_command" as const,
    offset: 0,
    length: text.split(" ")[0]!.length,
  }],
});

function startNotesBot(
  path: string,
  env: Record<string, string> = {},
): Promise<WebhookBot> {
  return startWebhookBot(path, {
    script: "tests/_plugins_main.ts",
    env: { TEST_PLUGINS: "notes", ...env },
  });
}

// Every audit entry about a record, as [actor, reason, records, at].
async function auditOf(path: string, kind: "user" | "group", id: number) {
  const store = await openNotesStore(path);
  try {
    return (await store.auditOf({ kind, id })).map((
      e,
    ) => [e.actor, e.reason, e.records, e.at]);
  } finally {
    await store.close();
  }
}

// Users and groups as stored, read with the notes plugin's catalog.
async function readDb(path: string) {
  const store = await openNotesStore(path);
  try {
    const all = async (table: string) => {
      const rows = [];
      for await (const row of store.iterate(table)) rows.push(row);
      return rows;
    };
    return { users: await all("users"), groups: await all("groups") };
  } finally {
    await store.close();
  }
}

function dated(update: Omit<Update, "update_id">, date: number) {
  const body = Object.values(update)[0] as { date: number };
  body.date = date;
  return update;
}

Deno.test("a person who blocks the bot has nothing left in any table; a late update does not bring them back; writing again does", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const hook = await startNotesBot(path);
  const zoe = user(4101);
  const chat = group(-4101);
  let id = 1;
  const post = async (update: Omit<Update, "update_id">) =>
    assert.equal(await hook.post(withId(update, id++)), 200);
  try {
    await post(message(zoe, privateChat(zoe), command("/note apple")));
    await post(message(zoe, chat, command("/note cherry all")));
    assert.deepEqual(storedOwners(path, "notes_entries"), [zoe.id]);
    assert.deepEqual(storedOwners(path, "notes_shared"), [zoe.id]);

    const block = myChatMember(zoe, privateChat(zoe), "kicked");
    const at = (block.my_chat_member as { date: number }).date;
    await post(block);
    assert.deepEqual((await readDb(path)).users, []);
    assert.deepEqual(storedOwners(path, "notes_entries"), []);
    assert.deepEqual(storedOwners(path, "notes_shared"), []);
    assert.deepEqual(
      (await readDb(path)).groups.map((g) => g.id),
      [chat.id],
      "the group stays",
    );
    assert.deepEqual(await auditOf(path, "user", zoe.id), [
      ["telegram", "blocked", 3, at],
    ]);

    // Written before the block, delivered after it.
    await post(dated(message(zoe, chat), at - 1));
    assert.deepEqual((await readDb(path)).users, []);
    // Unblocked, and writing again in the same second.
    await post(dated(myChatMember(zoe, privateChat(zoe), "member"), at));
    assert.deepEqual((await readDb(path)).users.map((u) => u.id), [zoe.id]);
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});

Deno.test("with ERASE_ON_BLOCK=false a block leaves the person's records as they were", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const hook = await startNotesBot(path, { ERASE_ON_BLOCK: "false" });
  const zoe = user(4102);
  try {
    assert.equal(
      await hook.post(
        withId(message(zoe, privateChat(zoe), command("/note apple")), 1),
      ),
      200,
    );
    const before = await readDb(path);
    const renamed = { ...zoe, first_name: "Renamed" };
    assert.equal(
      await hook.post(
        withId(myChatMember(renamed, privateChat(renamed), "kicked"), 2),
      ),
      200,
    );
    assert.deepEqual(await readDb(path), before, "neither erased nor updated");
    assert.deepEqual(storedOwners(path, "notes_entries"), [zoe.id]);
    assert.deepEqual(await auditOf(path, "user", zoe.id), []);
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});

Deno.test("the bot's removal erases the group with its shared notes; an old message from it does not register it again; one from the same second does", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const hook = await startNotesBot(path);
  const zoe = user(4103);
  const chat = group(-4103);
  let id = 1;
  const post = async (update: Omit<Update, "update_id">) =>
    assert.equal(await hook.post(withId(update, id++)), 200);
  try {
    await post(message(zoe, chat, command("/note cherry all")));
    assert.deepEqual(storedOwners(path, "notes_shared"), [zoe.id]);
    const removal = myChatMember(zoe, chat, "left");
    const at = (removal.my_chat_member as { date: number }).date;
    await post(removal);
    assert.deepEqual((await readDb(path)).groups, []);
    assert.deepEqual(storedOwners(path, "notes_shared"), []);
    assert.deepEqual(await auditOf(path, "group", chat.id), [
      ["telegram", "removed", 2, at],
    ]);
    await post(dated(message(zoe, chat), at - 1));
    assert.deepEqual((await readDb(path)).groups, []);
    await post(dated(message(zoe, chat), at));
    assert.deepEqual((await readDb(path)).groups.map((g) => g.id), [chat.id]);
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});

Deno.test("with RETENTION_DAYS the bot stores the day seen, sweeps the inactive with their notes at start, and keeps everyone else", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const day = (ago: number) => dayOf(Date.now() - ago * 86_400_000);
  const seed = await openNotesStore(path);
  try {
    const person = (id: number) => ({
      id,
      username: null,
      first_name: `U${id}`,
      last_name: null,
      language_code: null,
    });
    await seed.register([
      {
        user: person(4301),
        seenOn: day(31),
        writes: [{
          table: "notes_entries",
          row: { user_id: 4301, note_id: 1, text: "old" },
        }],
      },
      { user: person(4302), seenOn: day(30) },
    ], 100);
    await seed.applyRetention(30, day(400));
  } finally {
    await seed.close();
  }
  const hook = await startNotesBot(path, { RETENTION_DAYS: "30" });
  try {
    await hook.bot.waitForLine(/retention sweep: erased 1 user and 0 groups/);
    const zoe = user(4303);
    assert.equal(
      await hook.post(withId(message(zoe, privateChat(zoe)), 1)),
      200,
    );
    const { users } = await readDb(path);
    assert.deepEqual(
      users.map((u) => [u.id, u.seen_on]),
      [[4302, day(30)], [4303, day(0)]],
    );
    assert.deepEqual(storedOwners(path, "notes_entries"), []);
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});

Deno.test("without RETENTION_DAYS the bot clears every stored day at start and stores none", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const seed = await openNotesStore(path);
  try {
    await seed.applyRetention(30, "2026-01-01");
    await seed.register([{
      user: {
        id: 4401,
        username: null,
        first_name: "A",
        last_name: null,
        language_code: null,
      },
      seenOn: "2026-01-02",
    }], 100);
  } finally {
    await seed.close();
  }
  const hook = await startNotesBot(path);
  try {
    const zoe = user(4402);
    assert.equal(
      await hook.post(withId(message(zoe, privateChat(zoe)), 1)),
      200,
    );
    const { users } = await readDb(path);
    assert.deepEqual(users.map((u) => [u.id, u.seen_on]), [[4401, null], [
      4402,
      null,
    ]]);
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});
