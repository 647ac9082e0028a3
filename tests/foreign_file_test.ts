import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { tempDir } from "./_db.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { runCliProcess, startMain, TEST_TOKEN } from "./_main_process.ts";

// What a file is, to the byte, with the files SQLite would add beside it.
async function snapshot(path: string) {
  const bytes = await Deno.readFile(path);
  const { mode } = await Deno.stat(path);
  const beside = [];
  for (const suffix of ["-wal", "-shm", "-journal"]) {
    try {
      await Deno.stat(path + suffix);
      beside.push(suffix);
    } catch {
      // Not there: as it should be.
    }
  }
  return { hash: await crypto.subtle.digest("SHA-256", bytes), mode, beside };
}

// Another application's database: a table of its own, nothing of ours.
function otherApplication(path: string): void {
  const db = new DatabaseSync(path);
  db.exec(
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('keep me')",
  );
  db.close();
}

Deno.test("read-only commands and the bot refuse an empty file or another application's database, exit 3 naming it, and leave it untouched", async () => {
  await using dir = await tempDir();
  const empty = `${dir.path}/empty.db`;
  await Deno.writeFile(empty, new Uint8Array(), { mode: 0o644 });
  const foreign = `${dir.path}/notes.db`;
  otherApplication(foreign);
  await Deno.chmod(foreign, 0o644);

  for (const path of [empty, foreign]) {
    const before = await snapshot(path);
    for (
      const args of [
        ["inspect"],
        ["export", "--all"],
        ["purge", "--user", "1", "--yes"],
      ]
    ) {
      const result = await runCliProcess(["--database", path, ...args]);
      assert.equal(result.code, 3, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `^error: "${path}" is not this bot's database \\(.*\\); it was left untouched`,
        ),
      );
      assert.deepEqual(await snapshot(path), before);
    }
    const api = new FakeBotApi();
    const bot = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATABASE_URL: `sqlite:${path}`,
    });
    const status = await bot.exit();
    await api.close();
    assert.equal(status.code, 3, bot.stderr);
    assert.match(bot.stderr, /is not this bot's database/);
    assert.deepEqual(await snapshot(path), before);
  }

  // Another application's database stays refused even by migrate.
  const migrated = await runCliProcess(["--database", foreign, "migrate"]);
  assert.equal(migrated.code, 3);
  assert.match(migrated.stderr, /it holds other tables: notes/);
  // An empty file becomes a database only when migrate is asked to.
  const made = await runCliProcess(["--database", empty, "migrate"]);
  assert.equal(made.code, 0, made.stderr);
  const inspected = await runCliProcess(["--database", empty, "inspect"]);
  assert.equal(inspected.code, 0, inspected.stderr);
});
