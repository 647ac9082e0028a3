// How people reach the privacy center: the /privacy button (a web_app
// button in private chats, a startapp link in groups) and the menu button
// `setup` sets.
import assert from "node:assert/strict";
import { openTestStore, tempDir } from "./_db.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { runCliProcess, TEST_TOKEN } from "./_main_process.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { group, message, privateChat, user, withId } from "./_updates.ts";

const MINI_APP_URL = "https://bot.example.com/app";

const privacyCommand = {
  text: "/privacy",
  entities: [{ type: "bot_command" as const, offset: 0, length: 8 }],
};

type Keyboard = {
  text: string;
  url?: string;
  web_app?: { url: string };
}[][];

Deno.test("/privacy offers the privacy center: a web_app button in a private chat, a startapp link in a group", async () => {
  await using dir = await tempDir();
  const bot = await startWebhookBot(`${dir.path}/bot.db`, {
    env: { MINI_APP_URL },
  });
  try {
    const zoe = user(4001, { language_code: "pt-br" });
    bot.api.members.set("-700:4001", "administrator");
    const keyboards: Keyboard[] = [];
    let id = 1;
    for (const chat of [privateChat(zoe), group(-700, "Garden club")]) {
      const before = bot.api.calls.length;
      assert.equal(
        await bot.post(withId(message(zoe, chat, privacyCommand), id++)),
        200,
      );
      const reply = bot.api.calls.slice(before).find((call) =>
        call.method === "sendMessage"
      );
      keyboards.push(
        (reply!.params.reply_markup as { inline_keyboard: Keyboard })
          .inline_keyboard,
      );
    }
    assert.deepEqual(keyboards[0]!.at(-1), [{
      text: "Abrir central de privacidade",
      web_app: { url: MINI_APP_URL },
    }]);
    assert.deepEqual(keyboards[1]!.at(-1), [{
      text: "Abrir central de privacidade",
      url: "https://t.me/test_privacy_bot?startapp=g-700",
    }]);
  } finally {
    await bot.stop();
  }
});

Deno.test("setup with MINI_APP_URL sets the privacy center as the menu button", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  await (await openTestStore(dbPath)).close();
  const api = new FakeBotApi();
  try {
    const result = await runCliProcess(["--database", dbPath, "setup"], {
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      MINI_APP_URL,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Set the menu button to the privacy center/);
    const [call] = api.callsOf("setChatMenuButton");
    assert.deepEqual(call?.params.menu_button, {
      type: "web_app",
      text: "Open privacy center",
      web_app: { url: MINI_APP_URL },
    });
  } finally {
    await api.close();
  }
});

Deno.test("MINI_APP_URL must be an https URL of the /app page, and the age bound a sane number", async () => {
  const { loadConfig, ConfigError } = await import("../src/config/config.ts");
  const base = { BOT_TOKEN: TEST_TOKEN };
  const config = loadConfig({ ...base, MINI_APP_URL: `${MINI_APP_URL}/` });
  assert.equal(config.miniAppUrl, MINI_APP_URL);
  assert.equal(config.miniAppMaxAgeSeconds, 3600);
  assert.equal(loadConfig(base).miniAppUrl, undefined);
  for (
    const env of [
      { MINI_APP_URL: "http://bot.example.com/app" },
      { MINI_APP_URL: "https://bot.example.com/" },
      { MINI_APP_MAX_AGE_SECONDS: "10" },
      { MINI_APP_MAX_AGE_SECONDS: "an hour" },
    ]
  ) {
    assert.throws(() => loadConfig({ ...base, ...env }), ConfigError);
  }
  assert.equal(
    loadConfig({ ...base, MINI_APP_MAX_AGE_SECONDS: "600" })
      .miniAppMaxAgeSeconds,
    600,
  );
});
