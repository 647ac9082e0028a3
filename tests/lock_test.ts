import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { readDb, tempDir } from "./_db.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { message, privateChat, user, withId } from "./_updates.ts";

Deno.test("while another process holds the write lock, /healthz answers 503 and a message waits, then is stored", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const hook = await startWebhookBot(path);
  try {
    const early = user(8001);
    assert.equal(
      await hook.post(withId(message(early, privateChat(early)), 1)),
      200,
    );
    assert.equal(await hook.health(), 200);

    // This test process is "another process" to the bot.
    const other = new DatabaseSync(path);
    other.exec("BEGIN IMMEDIATE");
    const events: string[] = [];
    let released = false;
    const newcomer = user(8002);
    const pending = hook.post(
      withId(message(newcomer, privateChat(newcomer)), 2),
    )
      .then((status) => {
        events.push(`message ${status}${released ? "" : " while locked"}`);
        return status;
      });
    try {
      // The bot's event loop is free while its write waits: /healthz is
      // answered, more than once, and says the store cannot take writes.
      for (let i = 0; i < 3; i++) {
        const status = await hook.health();
        events.push(`healthz ${status}${released ? "" : " while locked"}`);
      }
    } finally {
      released = true;
      other.exec("COMMIT");
      other.close();
      events.push("released");
    }
    assert.equal(await pending, 200);
    assert.deepEqual(events, [
      "healthz 503 while locked",
      "healthz 503 while locked",
      "healthz 503 while locked",
      "released",
      "message 200",
    ]);
    assert.equal(await hook.health(), 200);
    const { users } = await readDb(path);
    assert.deepEqual(users.map((u) => u.id), [8001, 8002]);
    assert.doesNotMatch(hook.bot.stderr, /error/);
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});
