import assert from "node:assert/strict";
import { readDb, tempDir } from "./_db.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { message, privateChat, user, withId } from "./_updates.ts";

const CONNECTIONS = 40;
const KILL_AFTER = 400;

Deno.test("kill -9 during a burst of new senders loses no update that was answered 200", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const hook = await startWebhookBot(path);
  const confirmed: number[] = [];
  let refused = 0;
  let killed = false;
  let nextId = 100_000;
  try {
    // Forty connections, each sending new senders one after another until
    // the bot is gone; it is killed once KILL_AFTER were answered.
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        for (let i = 0; i < 10_000; i++) {
          const id = nextId++;
          const sender = user(id);
          let status: number;
          try {
            status = await hook.post(
              withId(message(sender, privateChat(sender)), id),
            );
          } catch {
            refused++;
            return; // The bot is gone.
          }
          if (status === 200) confirmed.push(id);
          else refused++;
          if (confirmed.length >= KILL_AFTER && !killed) {
            killed = true;
            hook.bot.kill("SIGKILL");
          }
        }
      }),
    );
  } finally {
    hook.bot.kill("SIGKILL");
    await hook.bot.exit();
    await hook.api.close();
  }
  assert.ok(killed);
  // The kill came in the middle of the burst: requests were in flight.
  assert.ok(refused > 0, "no request was cut by the kill");
  const stored = new Set((await readDb(path)).users.map((u) => u.id));
  const lost = confirmed.filter((id) => !stored.has(id));
  assert.deepEqual(lost, [], `${lost.length} of ${confirmed.length} lost`);
});
