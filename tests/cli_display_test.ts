import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openTestStore, tempDir } from "./_db.ts";
import { runCliProcess } from "./_main_process.ts";
import { registerUser } from "../src/store/_seed.ts";

Deno.test("inspect and purge show control characters in names escaped, never raw", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const store = await openTestStore(path);
  // A name that would clear the screen, draw a fake prompt line and turn the
  // rest of the line around if it were printed as it is.
  const hostile = "Ann\u001b[2J\rDelete user 1? [y/N] y\n\u202Eevil\u2028x";
  await registerUser(store, {
    id: 7,
    username: "ann",
    first_name: hostile,
    last_name: "Zoë 🦊",
    language_code: "en",
  }, 1);
  await store.close();

  const expected =
    "Ann\\u{001b}[2J\\u{000d}Delete user 1? [y/N] y\\u{000a}\\u{202e}evil\\u{2028}x";
  for (
    const args of [
      ["inspect", "--user", "7"],
      ["purge", "--user", "7", "--dry-run"],
    ]
  ) {
    const result = await runCliProcess(["--database", path, ...args]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /first name: +(.*)\n/);
    const shown = /first name: +(.*)\n/.exec(result.stdout)![1];
    assert.equal(shown, expected);
    assert.match(result.stdout, /last name: +Zoë 🦊\n/);
    // deno-lint-ignore no-control-regex -- the point is that there are none
    assert.doesNotMatch(result.stdout, /[\u001b\r\u202e\u2028]/);
  }
});

Deno.test("compact on SQLite says so when another reader keeps the log from being emptied, and works once it is gone", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  // The bot keeps its connection open, so the log is not emptied at close.
  const store = await openTestStore(path);
  try {
    await registerUser(store, {
      id: 8,
      username: null,
      first_name: "Gone",
      last_name: null,
      language_code: null,
    }, 1);
    // Another program in the middle of a read holds the state before the
    // purge, which lives in the log.
    const reader = new DatabaseSync(path);
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM users").get();
    await store.purge({ kind: "user", id: 8 }, "cli");
    const held = await runCliProcess(["--database", path, "compact"]);
    assert.equal(held.code, 3, held.stderr);
    assert.match(held.stderr, /could not be emptied: run compact again/);
    reader.exec("COMMIT");
    reader.close();
    const done = await runCliProcess(["--database", path, "compact"]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /^Done: /);
  } finally {
    await store.close();
  }
});
