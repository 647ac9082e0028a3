import assert from "node:assert/strict";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { createTestDatabase, execPg, PG_HOST, PG_PORT, pgTest } from "./_pg.ts";
import {
  runCliProcess,
  startMain,
  TEST_TOKEN,
  TOKEN_SECRET,
} from "./_main_process.ts";
import { message, privateChat, user } from "./_updates.ts";

// What Deno Deploy grants: no write permission at all.
const DEPLOY_FLAGS = ["--allow-net", "--allow-env", "--allow-read"];
const SECRET = "deploy_secret";

pgTest(
  "on Deno Deploy, after setup, the first update is answered before any Bot API call, with no write permission",
  async () => {
    await using db = await createTestDatabase();
    const api = new FakeBotApi();
    // The variables Deploy injects for an assigned database, no DATABASE_URL.
    const pg = {
      PGHOST: PG_HOST,
      PGPORT: String(PG_PORT),
      PGDATABASE: db.name,
      PGUSER: "postgres",
      PGSSLMODE: "disable",
    };
    const env = {
      ...pg,
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      WEBHOOK_URL: "https://bot.example.org/tg/hook",
      WEBHOOK_SECRET: SECRET,
    };
    const migrated = await runCliProcess(["migrate"], pg);
    assert.equal(migrated.code, 0, migrated.stderr);
    const setup = await runCliProcess(["setup"], env);
    assert.equal(setup.code, 0, setup.stderr);
    api.calls.length = 0;

    const bot = await startMain({
      ...env,
      DENO_DEPLOYMENT_ID: "test-deployment",
      PORT: "0",
      HOSTNAME: "127.0.0.1",
    }, { flags: DEPLOY_FLAGS });
    try {
      // Webhook mode by default, on the path of WEBHOOK_URL.
      const [, port] = await bot.waitForLine(
        /webhook mode on port (\d+) .*route \/tg\/hook/,
      );
      assert.match(bot.stderr, /using the PostgreSQL database/);
      const alice = user(7001);
      const response = await fetch(`http://127.0.0.1:${port}/tg/hook`, {
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
    assert.doesNotMatch(bot.stderr, /^(error|warning):/m);
    assert.ok(!bot.stderr.includes(TOKEN_SECRET));
    const ids = await execPg(db, (sql) => sql`SELECT id FROM users`);
    assert.deepEqual(ids.map((row) => Number(row.id)), [7001]);
  },
);

Deno.test("on Deno Deploy without PostgreSQL the bot exits 2 with one line naming DATABASE_URL", async () => {
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    DENO_DEPLOYMENT_ID: "test-deployment",
    WEBHOOK_SECRET: SECRET,
  }, { flags: DEPLOY_FLAGS });
  const status = await bot.exit();
  assert.equal(status.code, 2, bot.stderr);
  const lines = bot.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, bot.stderr);
  assert.match(
    lines[0]!,
    /^error: DATABASE_URL must name a PostgreSQL database on Deno Deploy .*SQLite file there is lost/,
  );
});

Deno.test("on Deno Deploy without DATA_ENCRYPTION_KEY the bot exits 2 with one line and writes no key file", async () => {
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    DENO_DEPLOYMENT_ID: "test-deployment",
    WEBHOOK_SECRET: SECRET,
    DATABASE_URL: `postgres://postgres@${PG_HOST}:${PG_PORT}/none`,
    DATA_ENCRYPTION_KEY: "",
  }, { flags: DEPLOY_FLAGS });
  const status = await bot.exit();
  assert.equal(status.code, 2, bot.stderr);
  assert.equal(bot.stderr.trimEnd().split("\n").length, 1, bot.stderr);
  assert.match(bot.stderr, /^error: DATA_ENCRYPTION_KEY is required/);
});
