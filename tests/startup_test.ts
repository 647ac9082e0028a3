import assert from "node:assert/strict";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { tempDir } from "./_db.ts";
import { createTestDatabase, PG_HOST, PG_PORT, pgTest } from "./_pg.ts";
import { startMain, TEST_TOKEN, TOKEN_SECRET } from "./_main_process.ts";
import { message, privateChat, user } from "./_updates.ts";
import { openSqliteStore } from "../src/store/sqlite_store.ts";

// A loopback port with nothing listening on it.
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("a refused connection to BOT_API_ROOT is named at once and each retry is logged", async () => {
  await using dir = await tempDir();
  const root = `http://127.0.0.1:${closedPort()}`;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: root,
    DATABASE_URL: `${dir.path}/bot.db`,
  });
  try {
    const [line] = await bot.waitForLine(/^warning: .*try 2 of 5\)$/);
    assert.equal(
      line,
      `warning: the Bot API at ${root} cannot be reached: connection refused; trying again in 1 s (try 2 of 5)`,
    );
    await bot.waitForLine(/try 3 of 5/);
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    assert.ok(!bot.stderr.includes(TOKEN_SECRET));
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
  }
});

Deno.test("slow setMyCommands and setWebhook never delay serving, and a stop does not wait for them", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  api.delays.set("setMyCommands", 60_000);
  api.delays.set("setWebhook", 60_000);
  const secret = "startup_secret";
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    BOT_MODE: "webhook",
    WEBHOOK_URL: "https://bot.example.org/webhook",
    WEBHOOK_SECRET: secret,
    PORT: "0",
    HOSTNAME: "127.0.0.1",
    DATABASE_URL: `${dir.path}/bot.db`,
  });
  try {
    const [, port] = await bot.waitForLine(/webhook mode on port (\d+)/);
    await api.waitForCall("setWebhook");
    const alice = user(9001);
    const response = await fetch(`http://127.0.0.1:${port}/webhook`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-telegram-bot-api-secret-token": secret,
      },
      body: JSON.stringify({
        update_id: 1,
        ...message(alice, privateChat(alice)),
      }),
    });
    await response.body?.cancel();
    assert.equal(response.status, 200);
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    api.note("bot exited");
    // Served and stopped while both calls were still unanswered.
    assert.deepEqual(
      api.events.filter((event) => !event.startsWith("getMe")),
      ["bot exited"],
    );
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
});

pgTest(
  "the start-up log names the PostgreSQL database but never its password",
  async () => {
    await using db = await createTestDatabase();
    const api = new FakeBotApi();
    const password = "pw-never-logged-42";
    const bot = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATABASE_URL:
        `postgres://postgres:${password}@${PG_HOST}:${PG_PORT}/${db.name}?sslmode=disable`,
    });
    try {
      await bot.waitForLine(/running in polling mode/);
      const [line] = await bot.waitForLine(/using the PostgreSQL database.*/);
      assert.ok(line.includes(db.name), line);
      assert.ok(line.includes(PG_HOST), line);
    } finally {
      bot.kill("SIGTERM");
      assert.equal((await bot.exit()).code, 0, bot.stderr);
      await api.close();
    }
    assert.ok(!bot.stderr.includes(password), bot.stderr);
  },
);

Deno.test("an existing database without a key gets one line and no key file", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  // Records from before encryption: a plaintext database.
  const store = await openSqliteStore(dbPath);
  await store.register([{
    user: {
      id: 9101,
      username: null,
      first_name: "Old",
      last_name: null,
      language_code: null,
    },
  }], 1_700_000_000);
  await store.close();
  const keyFile = `${dir.path}/secrets/data.key`;
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
    DATA_ENCRYPTION_KEY: "",
    DATA_KEY_FILE: keyFile,
  });
  const status = await bot.exit();
  await api.close();
  assert.equal(status.code, 3, bot.stderr);
  const errors = bot.lines.filter((line) => !line.startsWith("info: using"));
  assert.deepEqual(errors.filter((line) => !/getMe|BOT_TOKEN/.test(line)), [
    "error: This database holds records but no data key was found: set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to a new key from deno task cli keygen, and the bot encrypts the records with it at start",
  ]);
  assert.doesNotMatch(bot.stderr, /created the data encryption key/);
  await assert.rejects(Deno.stat(keyFile), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(`${dir.path}/secrets`), Deno.errors.NotFound);
});
