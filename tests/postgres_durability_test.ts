import assert from "node:assert/strict";
import { testCipher } from "./_db.ts";
import { createTestDatabase, pgTest } from "./_pg.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { message, privateChat, user, withId } from "./_updates.ts";
import { openPostgresStore } from "../src/store/postgres_store.ts";

const CONNECTIONS = 40;
const KILL_AFTER = 400;

pgTest(
  "kill -9 during a burst of new senders on PostgreSQL loses no update that was answered 200",
  async () => {
    await using db = await createTestDatabase();
    const hook = await startWebhookBot("unused", {
      env: { DATABASE_URL: db.url },
    });
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
    assert.ok(refused > 0, "no request was cut by the kill");
    const store = await openPostgresStore(db.location.connection, {
      cipher: await testCipher(),
    });
    const stored = new Set<number>();
    for await (const record of store.iterateUsers()) stored.add(record.id);
    await store.close();
    const lost = confirmed.filter((id) => !stored.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${confirmed.length} lost`);
  },
);
