// The privacy center in the real program: served beside the webhook in
// webhook mode, and on PORT in polling mode when MINI_APP_URL is set.
import assert from "node:assert/strict";
import { tempDir } from "./_db.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { startMain, TEST_TOKEN } from "./_main_process.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { message, privateChat, user, withId } from "./_updates.ts";
import { signInitData } from "../src/app/init_data.ts";

const MINI_APP_URL = "https://bot.example.com/app";

function initData(id: number, name: string): string {
  return signInitData({
    auth_date: String(Math.floor(Date.now() / 1000)),
    user: JSON.stringify({ id, first_name: name, language_code: "en" }),
  }, TEST_TOKEN);
}

async function view(base: string, init: string) {
  const response = await fetch(`${base}/app/api/view`, {
    headers: { authorization: `tma ${init}` },
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("in webhook mode the privacy center shares the webhook's server, which still answers as before, and nothing about the person is logged", async () => {
  await using dir = await tempDir();
  const bot = await startWebhookBot(`${dir.path}/bot.db`, {
    env: { MINI_APP_URL },
  });
  try {
    const alice = user(4242, { first_name: "Zelda", language_code: "en" });
    assert.equal(
      await bot.post(withId(message(alice, privateChat(alice)), 1)),
      200,
    );
    assert.equal(await bot.health(), 200);
    const page = await fetch(`${bot.base}/app`);
    assert.equal(page.status, 200);
    assert.match(
      page.headers.get("content-security-policy")!,
      /script-src 'self'/,
    );
    await page.body?.cancel();
    const init = initData(4242, "Zelda");
    const shown = await view(bot.base, init);
    assert.equal(shown.status, 200);
    assert.match(JSON.stringify(shown.body.sections), /Zelda/);
    const refused = await view(bot.base, init.replace("Zelda", "Zeldb"));
    assert.equal(refused.status, 401);
    const other = await fetch(`${bot.base}/elsewhere`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
    const erased = await fetch(`${bot.base}/app/api/erase`, {
      method: "POST",
      headers: { authorization: `tma ${init}` },
    });
    assert.equal((await erased.json()).deleted, 1);
  } finally {
    const status = await bot.stop();
    assert.equal(status.code, 0);
  }
  const log = bot.bot.lines.join("\n") + bot.bot.stdout;
  assert.doesNotMatch(log, /Zelda|4242|tgWebAppData|auth_date|hash=/);
  assert.ok(!log.includes(TEST_TOKEN.split(":")[1]!));
});

Deno.test("in polling mode with MINI_APP_URL the bot serves the privacy center on PORT and stops it with polling", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${dir.path}/bot.db`,
    MINI_APP_URL,
    PORT: "0",
    HOSTNAME: "127.0.0.1",
  });
  try {
    await bot.waitForLine(/running in polling mode/);
    const [, port] = await bot.waitForLine(
      /privacy center is served on port (\d+)/,
    );
    const shown = await view(`http://127.0.0.1:${port}`, initData(7, "Nobody"));
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body.sections, []);
  } finally {
    bot.kill("SIGTERM");
    const status = await bot.exit();
    await api.close();
    assert.equal(status.code, 0);
  }
});
