import assert from "node:assert/strict";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { damageTable, openTestStore, tempDir } from "./_db.ts";
import { startMain, TEST_TOKEN } from "./_main_process.ts";
import { message, privateChat, user, withId } from "./_updates.ts";

const SECRET = "damaged_secret";

Deno.test("once the bot meets a damaged page it logs the cause and /healthz turns 503", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const store = await openTestStore(path);
  for (let id = 1; id <= 300; id++) {
    await store.upsertUser({
      id,
      username: null,
      first_name: `Person ${id}`,
      last_name: null,
      language_code: null,
    }, 1);
  }
  await store.close();
  damageTable(path, "users");

  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${path}`,
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
  });
  try {
    const [, port] = await bot.waitForLine(/on port (\d+)/);
    const base = `http://127.0.0.1:${port}`;
    const health = async () => {
      const response = await fetch(`${base}/healthz`);
      await response.body?.cancel();
      return response.status;
    };
    // The probe's own table is intact: nothing has met the damage yet.
    assert.equal(await health(), 200);
    const sender = user(150);
    const response = await fetch(`${base}/webhook`, {
      method: "POST",
      body: JSON.stringify(withId(message(sender, privateChat(sender)), 1)),
      headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
    });
    await response.body?.cancel();
    assert.equal(response.status, 500, "not stored, so not acknowledged");
    assert.equal(await health(), 503);
    await bot.waitForLine(/database disk image is malformed/);
  } finally {
    bot.kill("SIGTERM");
    await bot.exit();
    await api.close();
  }
});
