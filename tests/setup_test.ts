import assert from "node:assert/strict";
import type { UserFromGetMe } from "grammy/types";
import { FAKE_BOT, FakeBotApi } from "./_fake_bot_api.ts";
import { openTestStore, tempDir } from "./_db.ts";
import { plugins } from "../plugins.ts";
import {
  runCliProcess,
  startMain,
  TEST_TOKEN,
  TOKEN_SECRET,
} from "./_main_process.ts";
import { message, privateChat, user } from "./_updates.ts";

const SECRET = "setup_secret";
const WEBHOOK_URL = "https://bot.example.org/hook/telegram";

Deno.test("setup stores the profile, sets the menus in each language and the webhook with its secret", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  await (await openTestStore(dbPath)).close();
  const api = new FakeBotApi();
  try {
    const result = await runCliProcess(["--database", dbPath, "setup"], {
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      WEBHOOK_URL,
      WEBHOOK_SECRET: SECRET,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "");
    assert.ok(!result.stderr.includes(TOKEN_SECRET));
    assert.ok(!result.stderr.includes(SECRET));
    assert.match(result.stderr, /Stored the profile of @test_privacy_bot/);

    const store = await openTestStore(dbPath);
    try {
      assert.deepEqual(await store.botProfile(), FAKE_BOT);
    } finally {
      await store.close();
    }
    assert.deepEqual(
      api.callsOf("setMyCommands").map((call) =>
        call.params.language_code ?? "default"
      ).sort(),
      ["default", "pt"],
    );
    const [webhook, ...more] = api.callsOf("setWebhook");
    assert.equal(more.length, 0);
    assert.equal(webhook?.params.url, WEBHOOK_URL);
    assert.equal(webhook?.params.secret_token, SECRET);
    // The project's own four, and whatever the installed plugins ask for.
    assert.deepEqual(
      [...webhook?.params.allowed_updates as string[]].sort(),
      [
        ...new Set([
          "message",
          "edited_message",
          "callback_query",
          "my_chat_member",
          ...plugins.flatMap((plugin) => plugin.updates ?? []),
        ]),
      ].sort(),
    );
  } finally {
    await api.close();
  }
});

Deno.test("after setup a webhook start answers its first update before any Bot API call", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  await (await openTestStore(dbPath)).close();
  const api = new FakeBotApi();
  const setup = await runCliProcess(["--database", dbPath, "setup"], {
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
  });
  assert.equal(setup.code, 0, setup.stderr);
  assert.match(setup.stderr, /WEBHOOK_URL is not set/);
  assert.equal(api.callsOf("setWebhook").length, 0);
  api.calls.length = 0;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    BOT_MODE: "webhook",
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
    HOSTNAME: "127.0.0.1",
    DATABASE_URL: dbPath,
  });
  try {
    const [, port] = await bot.waitForLine(/webhook mode on port (\d+)/);
    const alice = user(6001);
    const response = await fetch(`http://127.0.0.1:${port}/webhook`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-telegram-bot-api-secret-token": SECRET,
      },
      body: JSON.stringify({
        update_id: 1,
        ...message(alice, privateChat(alice)),
      }),
    });
    await response.body?.cancel();
    assert.equal(response.status, 200);
    assert.deepEqual(api.calls.map((call) => call.method), []);
  } finally {
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    await api.close();
  }
  // No one-time calls in the background either: setup made them.
  assert.deepEqual(api.calls.map((call) => call.method), []);
});

Deno.test("setup with a token Telegram refuses exits 2 with one line and stores nothing", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  await (await openTestStore(dbPath)).close();
  const api = new FakeBotApi();
  api.failures.set("getMe", { status: 401, description: "Unauthorized" });
  try {
    const result = await runCliProcess(["--database", dbPath, "setup"], {
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^error: the Bot API at .* did not accept BOT_TOKEN: Telegram answered 401: Unauthorized/,
    );
    assert.equal(result.stderr.trimEnd().split("\n").length, 1);
    const store = await openTestStore(dbPath);
    try {
      assert.equal(await store.botProfile(), undefined);
    } finally {
      await store.close();
    }
  } finally {
    await api.close();
  }
});

Deno.test("setup without BOT_TOKEN is a usage error naming it", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  await (await openTestStore(dbPath)).close();
  const result = await runCliProcess(["--database", dbPath, "setup"], {});
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^error: BOT_TOKEN is required/);
});

Deno.test("a stored profile of another bot is not trusted: the bot warns and asks Telegram", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  const store = await openTestStore(dbPath);
  try {
    // Saved by a setup run with an earlier token of another bot.
    await store.saveBotProfile(
      { ...FAKE_BOT, id: 42, username: "old_bot" } as UserFromGetMe,
    );
  } finally {
    await store.close();
  }
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    BOT_MODE: "webhook",
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
    HOSTNAME: "127.0.0.1",
    DATABASE_URL: dbPath,
  });
  try {
    await bot.waitForLine(/belongs to another bot than BOT_TOKEN/);
    await bot.waitForLine(/@test_privacy_bot is running in webhook mode/);
    assert.equal(api.callsOf("getMe").length, 1);
  } finally {
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    await api.close();
  }
});

Deno.test("setup with BOT_MODE=polling sets no webhook despite WEBHOOK_URL, says why, and removes none", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  await (await openTestStore(dbPath)).close();
  const api = new FakeBotApi();
  api.webhookUrl = WEBHOOK_URL;
  try {
    const result = await runCliProcess(["--database", dbPath, "setup"], {
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      BOT_MODE: "polling",
      WEBHOOK_URL,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /BOT_MODE=polling, so no webhook was set although WEBHOOK_URL is set/,
    );
    assert.deepEqual(api.callsOf("setWebhook"), []);
    assert.deepEqual(api.callsOf("deleteWebhook"), []);
    assert.equal(api.webhookUrl, WEBHOOK_URL);
  } finally {
    await api.close();
  }
});
