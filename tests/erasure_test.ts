import assert from "node:assert/strict";
import { openTestStore, readDb, tempDir } from "./_db.ts";
import { runCliProcess } from "./_main_process.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { group, message, privateChat, user, withId } from "./_updates.ts";

async function purgeUser(path: string, id: number): Promise<void> {
  const result = await runCliProcess([
    "--database",
    `sqlite:${path}`,
    "purge",
    "--user",
    String(id),
    "--yes",
  ]);
  assert.equal(result.code, 0, result.stderr);
}

// When the latest purge was recorded, from the audit log.
async function lastPurgeAt(path: string): Promise<number> {
  const store = await openTestStore(path);
  try {
    const [entry] = await store.recentAudit(1);
    assert.equal(entry?.action, "purge");
    return entry!.at;
  } finally {
    await store.close();
  }
}

async function userIds(path: string): Promise<number[]> {
  return (await readDb(path)).users.map((u) => u.id);
}

Deno.test("a message right after a CLI purge registers its sender again, every time", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const hook = await startWebhookBot(path);
  const leaving = user(7001);
  let updateId = 1;
  const hello = () =>
    hook.post(withId(message(leaving, privateChat(leaving)), updateId++));
  try {
    assert.equal(await hello(), 200);
    // Known to the bot's write cache from here on.
    assert.equal(await hello(), 200);
    for (let round = 1; round <= 10; round++) {
      await purgeUser(path, leaving.id);
      assert.deepEqual(await userIds(path), [], `round ${round}: purged`);
      assert.equal(await hello(), 200);
      assert.deepEqual(
        await userIds(path),
        [leaving.id],
        `round ${round}: registered again`,
      );
    }
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});

Deno.test("an update sent before an erasure and delivered after it does not register; one from the same second does", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const hook = await startWebhookBot(path);
  const leaving = user(7002);
  const chat = group(-7002);
  try {
    assert.equal(await hook.post(withId(message(leaving, chat), 1)), 200);
    await purgeUser(path, leaving.id);
    const at = await lastPurgeAt(path);
    // Written a second before the purge, delivered late (Telegram retries).
    assert.equal(
      await hook.post(withId(message(leaving, chat, { date: at - 1 }), 2)),
      200,
    );
    // An edit made before the purge of a message older still.
    const original = message(leaving, chat, { date: at - 60 }).message!;
    assert.equal(
      await hook.post(
        withId({ edited_message: { ...original, edit_date: at - 1 } }, 3),
      ),
      200,
    );
    let stored = await readDb(path);
    assert.deepEqual(stored.users, []);
    // The group was not erased: it is still registered.
    assert.deepEqual(stored.groups.map((g) => g.id), [-7002]);
    // Telegram dates are whole seconds: the purge's own second counts as
    // later. An edit made then registers the sender again, however old the
    // message it edits...
    assert.equal(
      await hook.post(
        withId({ edited_message: { ...original, edit_date: at } }, 4),
      ),
      200,
    );
    stored = await readDb(path);
    assert.deepEqual(stored.users.map((u) => u.id), [leaving.id]);
    // ...and so does a message sent in that second.
    await purgeUser(path, leaving.id);
    const again = await lastPurgeAt(path);
    assert.equal(
      await hook.post(withId(message(leaving, chat, { date: again }), 5)),
      200,
    );
    stored = await readDb(path);
    assert.deepEqual(stored.users.map((u) => u.id), [leaving.id]);
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});
