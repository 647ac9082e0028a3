import assert from "node:assert/strict";
import { installedCatalog } from "../plugins.ts";
import { DatabaseSync } from "node:sqlite";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { damageTable, openTestStore, tempDir, testCipher } from "./_db.ts";
import { createTestDatabase, execPg, pgTest } from "./_pg.ts";
import { openPostgresStore } from "../src/store/postgres/open.ts";
import type { Store } from "../src/store/store.ts";
import {
  runCliProcess,
  spawnCli,
  startMain,
  TEST_DATA_KEY,
  TEST_TOKEN,
} from "./_main_process.ts";
import { message, privateChat, user, withId } from "./_updates.ts";
import { registerUser } from "../src/store/_seed.ts";

const SECRET = "damaged_secret";

// 300 users, then the users table's root page overwritten: any look-up of
// a user meets a malformed page, while the rest of the file is intact.
async function damagedDatabase(path: string): Promise<void> {
  const store = await openTestStore(path);
  for (let id = 1; id <= 300; id++) {
    await registerUser(store, {
      id,
      username: null,
      first_name: `Person ${id}`,
      last_name: null,
      language_code: null,
    }, 1);
  }
  await store.close();
  damageTable(path, "users");
}

Deno.test("once the bot meets a damaged page it logs the cause and /healthz turns 503", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  await damagedDatabase(path);

  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${path}`,
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
  });
  try {
    const [, port] = await bot.waitForLine(/on port (\d+)/);
    const base = `http://127.0.0.1:${port}`;
    const health = async () => {
      const response = await fetch(`${base}/healthz`);
      await response.body?.cancel();
      return response.status;
    };
    // The probe's own table is intact: nothing has met the damage yet.
    assert.equal(await health(), 200);
    const sender = user(150);
    const response = await fetch(`${base}/webhook`, {
      method: "POST",
      body: JSON.stringify(withId(message(sender, privateChat(sender)), 1)),
      headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
    });
    await response.body?.cancel();
    assert.equal(response.status, 500, "not stored, so not acknowledged");
    assert.equal(await health(), 503);
    await bot.waitForLine(/database disk image is malformed/);
  } finally {
    bot.kill("SIGTERM");
    await bot.exit();
    await api.close();
  }
});

// Flips one character inside a stored ciphertext, as one bad byte on disk
// would: the value then fails its integrity check.
function flip(value: string): string {
  const at = value.length - 5;
  return value.slice(0, at) + (value[at] === "A" ? "B" : "A") +
    value.slice(at + 1);
}

interface Engine {
  name: string;
  url: string;
  /** Flips a byte in the stored first name of user `id`. */
  damage(id: number): Promise<void>;
  open(): Promise<Store>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function sqliteEngine(): Promise<Engine> {
  const dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  return {
    name: "SQLite",
    url: `sqlite:${path}`,
    damage(id) {
      const db = new DatabaseSync(path);
      const { first_name } = db.prepare(
        "SELECT first_name FROM users WHERE id = ?",
      ).get(id) as { first_name: string };
      db.prepare("UPDATE users SET first_name = ? WHERE id = ?").run(
        flip(first_name),
        id,
      );
      db.close();
      return Promise.resolve();
    },
    open: () => openTestStore(path),
    [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
  };
}

async function postgresEngine(): Promise<Engine> {
  const pg = await createTestDatabase();
  return {
    name: "PostgreSQL",
    url: pg.url,
    async damage(id) {
      await execPg(pg, async (sql) => {
        const [row] = await sql`SELECT first_name FROM users WHERE id = ${id}`;
        await sql`UPDATE users SET first_name = ${
          flip(row!.first_name as string)
        } WHERE id = ${id}`;
      });
    },
    async open() {
      return await openPostgresStore(pg.location.connection, {
        cipher: await testCipher(),
        catalog: installedCatalog(),
      });
    },
    [Symbol.asyncDispose]: () => pg.drop(),
  };
}

for (const make of [sqliteEngine, postgresEngine]) {
  const name = make === sqliteEngine ? "SQLite" : "PostgreSQL";
  (make === sqliteEngine ? Deno.test : pgTest)(
    `${name}: a damaged record never blocks a purge; exports and rotate-key name it, finish the rest and exit 5`,
    async () => {
      await using engine = await make();
      const store = await engine.open();
      await store.register(
        Array.from({ length: 50 }, (_, i) => ({
          user: {
            id: i + 1,
            username: `user${i + 1}`,
            first_name: `Person ${i + 1}`,
            last_name: null,
            language_code: "en",
          },
        })),
        1,
      );
      await store.close();
      await engine.damage(7);
      await engine.damage(30);
      const cli = (args: string[], env: Record<string, string> = {}) =>
        runCliProcess(["--database", engine.url, ...args], env);

      const shown = await cli(["purge", "--user", "7", "--dry-run"]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(
        shown.stdout,
        // With plugin tables installed, the counts per table follow.
        installedCatalog().tables.length > 2
          ? /^user 7\n +first name: +\(unreadable: it fails its integrity check\)\n\nto delete: user rows that cannot be read[^\n]*\n$/
          : /^user 7\n +first name: +\(unreadable: it fails its integrity check\)\n$/,
      );
      const purged = await cli(["purge", "--user", "7", "--yes"]);
      assert.equal(purged.code, 0, purged.stderr);
      assert.match(purged.stderr, /^Deleted user 7( \([^)]*\))?\n/);

      const one = await cli(["export", "--user", "30"]);
      assert.equal(one.code, 5);
      assert.equal(one.stdout, "");
      assert.match(
        one.stderr,
        /^error: The stored value of users\.first_name for id 30 fails its integrity check.*purge --user 30 deletes it without reading it\n$/,
      );

      for (const format of ["json", "ndjson", "csv"]) {
        const all = await cli(["export", "--all", "--format", format]);
        assert.equal(all.code, 5, all.stderr);
        assert.ok(all.stdout.includes("Person 50"), "the rest was exported");
        assert.ok(!all.stdout.includes("user30"), "the damaged one was not");
        const lines = all.stderr.trimEnd().split("\n");
        assert.match(
          lines[0]!,
          /^warning: left out: The stored value of users\.first_name for id 30 fails its integrity check/,
        );
        assert.match(
          lines.at(-1)!,
          /^error: 1 damaged record left out of the export \(named above\)/,
        );
      }

      const newKey = (await runCliProcess(["keygen"])).stdout.trim();
      const rotated = await cli(["rotate-key"], {
        NEW_DATA_ENCRYPTION_KEY: newKey,
      });
      assert.equal(rotated.code, 5, rotated.stderr);
      assert.match(
        rotated.stderr,
        /^warning: left as it is: The stored value of users\.first_name for id 30/,
      );
      assert.match(rotated.stderr, /1 damaged record \(named above\)/);
      const after = await cli(["export", "--all", "--format", "ndjson"], {
        DATA_ENCRYPTION_KEY: newKey,
        DATA_ENCRYPTION_KEYS_PREVIOUS: TEST_DATA_KEY,
      });
      assert.equal(after.code, 5, after.stderr);
      assert.equal(after.stdout.trimEnd().split("\n").length, 48);
      const gone = await cli(["purge", "--user", "30", "--yes"], {
        DATA_ENCRYPTION_KEY: newKey,
        DATA_ENCRYPTION_KEYS_PREVIOUS: TEST_DATA_KEY,
      });
      assert.equal(gone.code, 0, gone.stderr);
    },
  );
}

Deno.test("an export to standard output cut off midway says so as its last line and exits non-zero", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const store = await openTestStore(path);
  await store.register(
    Array.from({ length: 20_000 }, (_, i) => ({
      user: {
        id: i + 1,
        username: null,
        first_name: "x".repeat(100),
        last_name: null,
        language_code: null,
      },
    })),
    1,
  );
  await store.close();
  const child = await spawnCli(["--database", path, "export", "--all"]);
  // The reader goes away after the first chunk, as `| head` would.
  const reader = child.stdout.getReader();
  await reader.read();
  await reader.cancel();
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  assert.notEqual(status.code, 0);
  const last = stderr.trimEnd().split("\n").at(-1)!;
  assert.match(
    last,
    /^error: The export to standard output stopped partway and what was written is incomplete: /,
  );
});

Deno.test("polling on a damaged database reports it once, never confirms the update and stops with exit 5", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  await damagedDatabase(path);
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${path}`,
  });
  try {
    await bot.waitForLine(/running in polling mode/);
    const sender = user(150);
    const id = api.push(message(sender, privateChat(sender)));
    // Bounded: a loop that retries forever fails here instead of hanging.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      bot.exit(),
      new Promise<{ code: number }>((resolve) => {
        timer = setTimeout(() => resolve({ code: -1 }), 30_000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(status.code, 5, bot.stderr);
    assert.ok(api.confirmedOffset <= id, "the update was never confirmed");
    const lines = bot.lines.filter((line) => /malformed/.test(line));
    assert.equal(lines.length, 2, bot.stderr);
    assert.match(lines[0]!, /^error: cannot store update \d+/);
    assert.match(
      lines[1]!,
      /^error: stopping: the store failed 3 times in a way that trying again will not mend/,
    );
    assert.doesNotMatch(bot.stderr, /\n\s+at /, "no stack trace");
  } finally {
    bot.kill("SIGTERM");
    await bot.exit();
    await api.close();
  }
});
