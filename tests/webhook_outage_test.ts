import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { readDb, tempDir } from "./_db.ts";
import { TOKEN_SECRET } from "./_main_process.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { message, privateChat, user, withId } from "./_updates.ts";

Deno.test("a store outage in webhook mode is one line when it starts and one with the count when it ends, never a stack trace", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const hook = await startWebhookBot(path);
  try {
    const first = user(8101);
    assert.equal(
      await hook.post(withId(message(first, privateChat(first)), 1)),
      200,
    );

    // Another process holds the write lock past the bot's lock timeout:
    // every update that arrives meanwhile is refused with a 500.
    const refused = [user(8102), user(8103), user(8104), user(8106)].map((
      sender,
      i,
    ) => withId(message(sender, privateChat(sender)), [2, 3, 4, 6][i]!));
    const other = new DatabaseSync(path);
    other.exec("BEGIN IMMEDIATE");
    const statuses: number[] = [];
    try {
      const firstThree = refused.slice(0, 3).map((update) => hook.post(update));
      statuses.push(...await Promise.all(firstThree));
      // A known sender needs no write, so this 200 does not end the outage.
      statuses.push(
        await hook.post(withId(message(first, privateChat(first)), 5)),
      );
      statuses.push(await hook.post(refused[3]!));
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    assert.deepEqual(statuses, [500, 500, 500, 200, 500]);

    // The store works again; Telegram sends the refused updates again.
    const last = user(8105);
    assert.equal(
      await hook.post(withId(message(last, privateChat(last)), 7)),
      200,
    );
    await hook.bot.waitForLine(/the store works again/);
    for (const update of refused) assert.equal(await hook.post(update), 200);
    const { users } = await readDb(path);
    assert.deepEqual(users.map((u) => u.id), [
      8101,
      8102,
      8103,
      8104,
      8105,
      8106,
    ]);

    const lines = hook.bot.lines.filter((line) =>
      !line.startsWith("info: ") ||
      /store/.test(line)
    );
    assert.equal(lines.length, 2, hook.bot.stderr);
    assert.match(
      lines[0]!,
      /^error: cannot store updates, so they are answered 500 and Telegram sends them again: The database is locked by another process/,
    );
    assert.equal(
      lines[1],
      "info: the store works again: 4 updates were answered 500 meanwhile, and Telegram sends them again",
    );
    assert.doesNotMatch(
      hook.bot.stderr,
      /^\s+at /m,
      "a stack trace was logged",
    );
    assert.ok(!hook.bot.stderr.includes(TOKEN_SECRET));
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});
