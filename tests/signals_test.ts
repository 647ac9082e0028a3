import assert from "node:assert/strict";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { readDb, tempDir } from "./_db.ts";
import {
  type RunningProgram,
  startMain,
  type StartOptions,
  TEST_TOKEN,
} from "./_main_process.ts";
import { message, privateChat, user } from "./_updates.ts";

const SECRET = "test_secret";

// The bot in webhook mode on a free port, with everything else in `dir`.
async function startWebhook(
  api: FakeBotApi,
  dir: string,
  options: StartOptions & { env?: Record<string, string> } = {},
): Promise<{ bot: RunningProgram; url: string }> {
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    BOT_MODE: "webhook",
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
    HOSTNAME: "127.0.0.1",
    DATABASE_URL: `${dir}/bot.db`,
    ...options.env,
  }, options);
  const [, port] = await bot.waitForLine(/webhook mode on port (\d+)/);
  return { bot, url: `http://127.0.0.1:${port}/webhook` };
}

function post(url: string, update: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-telegram-bot-api-secret-token": SECRET,
    },
    body: JSON.stringify(update),
  });
}

// A /start from a new user: registered, then answered through sendMessage.
function startCommand(id: number, updateId: number) {
  const sender = user(id);
  return {
    update_id: updateId,
    ...message(sender, privateChat(sender), {
      text: "/start",
      entities: [{ type: "bot_command", offset: 0, length: 6 }],
    }),
  };
}

Deno.test("SIGTERM while getMe is still unanswered at start-up exits 0", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  api.delays.set("getMe", 60_000);
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `${dir.path}/bot.db`,
  });
  try {
    await api.waitForCall("getMe");
    bot.kill("SIGTERM");
    const status = await bot.exit();
    assert.equal(status.code, 0, bot.stderr);
    assert.ok(!/running in/.test(bot.stderr), bot.stderr);
    assert.match(bot.stderr, /SIGTERM: stopping/);
    assert.doesNotMatch(bot.stderr, /^error:/m);
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
});

Deno.test("SIGINT while the store is being opened exits 0", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    BOT_MODE: "webhook",
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
    DATABASE_URL: `${dir.path}/bot.db`,
  });
  try {
    // The line just before the store opens.
    await bot.waitForLine(/using the SQLite database/);
    bot.kill("SIGINT");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    assert.doesNotMatch(bot.stderr, /^error:/m);
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
});

Deno.test("SIGTERM in polling mode while the Bot API fails exits 0", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  api.failures.set("getUpdates", { status: 502, description: "Bad Gateway" });
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `${dir.path}/bot.db`,
  });
  try {
    await bot.waitForLine(/getUpdates failed, trying again/);
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
});

Deno.test("SIGTERM during a webhook request lets it finish with 200, then exits 0", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const { bot, url } = await startWebhook(api, dir.path);
  try {
    api.delays.set("sendMessage", 1500);
    const answer = post(url, startCommand(5001, 1));
    await api.waitForCall("sendMessage");
    bot.kill("SIGTERM");
    const response = await answer;
    await response.body?.cancel();
    api.note("webhook answered");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    api.note("bot exited");
    assert.equal(response.status, 200);
    const order = ["sendMessage answered", "webhook answered", "bot exited"];
    assert.deepEqual(
      api.events.filter((event) => order.includes(event)),
      order,
    );
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
  assert.deepEqual(
    (await readDb(`${dir.path}/bot.db`)).users.map((u) => u.id),
    [5001],
  );
});

Deno.test("SIGTERM twice to the process group of deno task start exits 0 after the request in hand", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const { bot, url } = await startWebhook(api, dir.path, {
    viaTask: true,
    ownGroup: true,
  });
  try {
    api.delays.set("sendMessage", 1500);
    const answer = post(url, startCommand(5101, 1));
    await api.waitForCall("sendMessage");
    // As systemd stops a unit: the whole group, and again while it stops
    // (two signals sent at once may reach the process as one).
    await bot.killGroup("TERM");
    await bot.waitForLine(/SIGTERM: stopping/);
    await bot.killGroup("TERM");
    const response = await answer;
    await response.body?.cancel();
    assert.equal(response.status, 200);
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    assert.match(bot.stderr, /already stopping/);
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
  assert.deepEqual(
    (await readDb(`${dir.path}/bot.db`)).users.map((u) => u.id),
    [5101],
  );
});

Deno.test("a stop that outlasts STOP_TIMEOUT_SECONDS closes the store and exits 0 anyway", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const { bot, url } = await startWebhook(api, dir.path, {
    env: { STOP_TIMEOUT_SECONDS: "1" },
  });
  try {
    // A reply that never comes in time: the request in hand cannot finish.
    api.delays.set("sendMessage", 60_000);
    const answer = post(url, startCommand(5201, 1)).catch(() => undefined);
    await api.waitForCall("sendMessage");
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    api.note("bot exited");
    assert.match(bot.stderr, /the stop took longer than 1 s/);
    // It did not wait for the reply: the process ended first.
    assert.ok(!api.events.includes("sendMessage answered"), api.events.join());
    (await answer)?.body?.cancel();
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
  // The registration, committed before the reply, survived the forced stop.
  assert.deepEqual(
    (await readDb(`${dir.path}/bot.db`)).users.map((u) => u.id),
    [5201],
  );
});
