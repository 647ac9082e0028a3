import assert from "node:assert/strict";
import { execDb, tempDir } from "./_db.ts";
import { runCliProcess, startMain, TEST_TOKEN } from "./_main_process.ts";
import { createTestDatabase, execPg, pgTest } from "./_pg.ts";

const ESCAPED =
  `Table "member_scores" in the database is not described by any installed plugin: describe its personal data in the plugin's tables, or declare it as bookkeeping if it holds none, or install again the plugin that made it, or drop the table`;

// A table a plugin made without describing it: a user id per group.
const UNDESCRIBED =
  "CREATE TABLE member_scores (chat_id BIGINT, user_id BIGINT, score INTEGER)";

function closedRoot(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `http://127.0.0.1:${port}`;
}

Deno.test("the CLI refuses a SQLite database with an undescribed table: exit 2 and one line naming it", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const made = await runCliProcess(["migrate"], { DATABASE_URL: path });
  assert.equal(made.code, 0, made.stderr);
  execDb(path, UNDESCRIBED);
  for (const command of [["migrate"], ["inspect"], ["export", "--all"]]) {
    const result = await runCliProcess(command, { DATABASE_URL: path });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr, `error: ${ESCAPED}\n`);
    assert.equal(result.stdout, "");
  }
});

Deno.test("the bot does not start on a SQLite database with an undescribed table: exit 2 and one line naming it", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const made = await runCliProcess(["migrate"], { DATABASE_URL: path });
  assert.equal(made.code, 0, made.stderr);
  execDb(path, UNDESCRIBED);
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: closedRoot(),
    DATABASE_URL: path,
  });
  const status = await bot.exit();
  assert.equal(status.code, 2, bot.stderr);
  const errors = bot.lines.filter((line) => line.startsWith("error: "));
  assert.deepEqual(errors, [`error: ${ESCAPED}`]);
});

Deno.test("the bot does not start with a plugin command that has no English menu description: exit 2 and one line", async () => {
  await using dir = await tempDir();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: closedRoot(),
    DATABASE_URL: `${dir.path}/bot.db`,
    TEST_PLUGINS: "mute",
  }, { script: "tests/_plugins_main.ts" });
  const status = await bot.exit();
  assert.equal(status.code, 2, bot.stderr);
  const errors = bot.lines.filter((line) => line.startsWith("error: "));
  assert.deepEqual(errors, [
    `error: Plugin "mute" command "/mute" has no message "cmd-mute" in locale "en": it has no locales folder`,
  ]);
});

pgTest(
  "the CLI and the bot refuse a PostgreSQL database with an undescribed table: exit 2 and one line naming it",
  async () => {
    await using pg = await createTestDatabase();
    const made = await runCliProcess(["migrate"], { DATABASE_URL: pg.url });
    assert.equal(made.code, 0, made.stderr);
    await execPg(pg, (sql) => sql.unsafe(UNDESCRIBED));
    const result = await runCliProcess(["inspect"], { DATABASE_URL: pg.url });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr, `error: ${ESCAPED}\n`);
    const bot = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: closedRoot(),
      DATABASE_URL: pg.url,
    });
    const status = await bot.exit();
    assert.equal(status.code, 2, bot.stderr);
    assert.deepEqual(
      bot.lines.filter((line) => line.startsWith("error: ")),
      [`error: ${ESCAPED}`],
    );
  },
);
