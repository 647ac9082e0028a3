import assert from "node:assert/strict";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { startMain, TEST_TOKEN, TOKEN_SECRET } from "./_main_process.ts";

async function failsWith(
  env: Record<string, string>,
  pattern: RegExp,
): Promise<void> {
  const program = await startMain(env);
  const status = await program.exit();
  assert.equal(status.code, 2, program.stderr);
  const lines = program.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${program.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(program.stderr, /^\s+at /m, "a stack trace was printed");
  assert.ok(!program.stderr.includes(TOKEN_SECRET), "the token was printed");
}

Deno.test("a missing BOT_TOKEN is one line saying what to do", async () => {
  await failsWith(
    {},
    /^error: BOT_TOKEN is required: set it to the token @BotFather gave you/,
  );
});

Deno.test("a malformed BOT_TOKEN is refused without echoing it", async () => {
  await failsWith(
    { BOT_TOKEN: TOKEN_SECRET },
    /^error: BOT_TOKEN is not a bot token/,
  );
});

Deno.test("an unknown BOT_MODE is one line naming the variable and the value", async () => {
  await failsWith(
    { BOT_TOKEN: TEST_TOKEN, BOT_MODE: "push" },
    /^error: BOT_MODE must be "polling" or "webhook", got "push"$/,
  );
});

Deno.test("webhook mode without WEBHOOK_SECRET is refused", async () => {
  await failsWith(
    { BOT_TOKEN: TEST_TOKEN, BOT_MODE: "webhook" },
    /^error: WEBHOOK_SECRET is required in webhook mode/,
  );
});

Deno.test("Deno Deploy defaults to webhook mode, which needs WEBHOOK_SECRET", async () => {
  await failsWith(
    { BOT_TOKEN: TEST_TOKEN, DENO_DEPLOYMENT_ID: "abc123" },
    /^error: WEBHOOK_SECRET is required/,
  );
});

Deno.test("WEBHOOK_URL without BOT_MODE means webhook mode, so WEBHOOK_SECRET is required and polling named as the way out", async () => {
  await failsWith(
    {
      BOT_TOKEN: TEST_TOKEN,
      WEBHOOK_URL: "https://bot.example.org/webhook",
    },
    /^error: WEBHOOK_SECRET is required in webhook mode \(BOT_MODE is unset and WEBHOOK_URL is set, so the bot runs in webhook mode; set BOT_MODE=polling to poll instead\)/,
  );
});

Deno.test("a PORT that is not a port number is refused", async () => {
  await failsWith({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    WEBHOOK_SECRET: "s",
    PORT: "80a",
  }, /^error: PORT must be a port number from 0 to 65535, got "80a"$/);
  await failsWith(
    { BOT_TOKEN: TEST_TOKEN, PORT: "70000" },
    /^error: PORT must be a port number/,
  );
});

Deno.test("bad URLs for the API root, webhook, database and Sentry are refused", async () => {
  await failsWith(
    { BOT_TOKEN: TEST_TOKEN, BOT_API_ROOT: "ftp://x" },
    /^error: BOT_API_ROOT must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x"$/,
  );
  await failsWith({
    BOT_TOKEN: TEST_TOKEN,
    WEBHOOK_URL: "http://bot.example.org/hook",
  }, /^error: WEBHOOK_URL must be a public https:\/\/ URL/);
  await failsWith(
    { BOT_TOKEN: TEST_TOKEN, DATABASE_URL: "mysql://db/x" },
    /^error: DATABASE_URL must be sqlite:PATH/,
  );
  await failsWith({
    BOT_TOKEN: TEST_TOKEN,
    SENTRY_DSN: "https://sentry.example.org",
  }, /^error: SENTRY_DSN must be a Sentry DSN/);
});

Deno.test("a database that cannot be opened exits 3 with one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A directory where the database file should be.
    await Deno.mkdir(`${dir}/bot.db`);
    const api = new FakeBotApi();
    const program = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATABASE_URL: `sqlite:${dir}/bot.db`,
    });
    const status = await program.exit();
    await api.close();
    assert.equal(status.code, 3, program.stderr);
    // Information lines may come first; the failure is one error line.
    const errors = program.lines.filter((line) => !line.startsWith("info:"));
    assert.equal(errors.length, 1, program.stderr);
    assert.match(
      errors[0]!,
      /^error: Cannot open the SQLite database at ".*bot\.db": /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a token the Bot API refuses stops the bot with exit 6 and one error line", async () => {
  const dir = await Deno.makeTempDir();
  const api = new FakeBotApi();
  api.failures.set("getMe", { status: 401, description: "Unauthorized" });
  try {
    const program = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATABASE_URL: `${dir}/bot.db`,
    });
    assert.equal((await program.exit()).code, 6, program.stderr);
    const errors = program.lines.filter((line) => line.startsWith("error:"));
    assert.equal(errors.length, 1, program.stderr);
    assert.match(
      errors[0]!,
      /the Bot API at http:\/\/127\.0\.0\.1:\d+ did not accept BOT_TOKEN: Telegram answered 401: Unauthorized/,
    );
    assert.ok(!program.stderr.includes(TOKEN_SECRET));
  } finally {
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
