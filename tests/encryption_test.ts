import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { execDb, openTestStore, tempDir } from "./_db.ts";
import {
  runCliProcess,
  startMain,
  TEST_DATA_KEY,
  TEST_TOKEN,
} from "./_main_process.ts";
import { message, privateChat, supergroup, user } from "./_updates.ts";
import { registerGroup, registerUser } from "../src/store/_seed.ts";

const NAMES = ["zoe_username", "Zoëfirst", "Zoëlast", "Secret title"];

async function fileText(path: string): Promise<string> {
  const parts: string[] = [];
  for (const suffix of ["", "-wal", "-shm"]) {
    try {
      parts.push(
        new TextDecoder("latin1").decode(await Deno.readFile(path + suffix)),
      );
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return parts.join("\n");
}

function latin1(text: string): string {
  return new TextDecoder("latin1").decode(new TextEncoder().encode(text));
}

Deno.test("with only BOT_TOKEN the bot makes a key file, stores ciphertext, and the CLI exports plaintext", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const keyFile = `${dir.path}/secrets/data.key`;
  const dbPath = `${dir.path}/data/bot.db`;
  await Deno.mkdir(`${dir.path}/data`);
  const env = { DATA_ENCRYPTION_KEY: "", DATA_KEY_FILE: keyFile };
  // Whole seconds, as stored: the registration happens between the two.
  const startedAt = Math.floor(Date.now() / 1000);
  const bot = await startMain({
    ...env,
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
  });
  try {
    await bot.waitForLine(/running in polling mode/);
    const notices = bot.lines.filter((line) =>
      line.includes("data encryption key")
    );
    assert.deepEqual(notices, [
      `info: created the data encryption key in "${keyFile}": keep it safe and apart from database backups, since losing it loses the data`,
    ]);
    assert.equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
    const zoe = user(8001, {
      username: "zoe_username",
      first_name: "Zoëfirst",
      last_name: "Zoëlast",
    });
    await api.processed(
      api.push(message(zoe, supergroup(-1008, "Secret title"))),
    );
    await api.processed(api.push(message(zoe, privateChat(zoe))));
  } finally {
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    await api.close();
  }
  const raw = await fileText(dbPath);
  for (const name of NAMES) {
    assert.ok(!raw.includes(latin1(name)), `"${name}" is in the database file`);
  }
  // Neither decrypted values nor the key itself reach the log.
  for (const name of NAMES) {
    assert.ok(!bot.stderr.includes(name), `"${name}" was logged`);
  }
  assert.ok(!bot.stderr.includes((await Deno.readTextFile(keyFile)).trim()));

  const exported = await runCliProcess([
    "--database",
    dbPath,
    "export",
    "--user",
    "8001",
  ], env);
  assert.equal(exported.code, 0, exported.stderr);
  const exportedAt = Math.floor(Date.now() / 1000);
  const { registered_at: registeredAt, ...fields } =
    JSON.parse(exported.stdout).users[0];
  assert.deepEqual(fields, {
    id: 8001,
    username: "zoe_username",
    first_name: "Zoëfirst",
    last_name: "Zoëlast",
    language_code: null,
    seen_on: null,
  });
  // The first sighting, as an ISO 8601 UTC time within the bot's run.
  assert.match(registeredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const registered = Date.parse(registeredAt) / 1000;
  assert.ok(
    startedAt <= registered && registered <= exportedAt,
    `${startedAt} <= ${registered} <= ${exportedAt}`,
  );
  const group = await runCliProcess([
    "--database",
    dbPath,
    "inspect",
    "--group",
    "-1008",
  ], env);
  assert.match(group.stdout, /title: +Secret title\n/);
});

Deno.test("a wrong key stops the bot and the CLI with exit 3 and one line naming DATA_ENCRYPTION_KEY", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  await (await openTestStore(dbPath)).close();
  const wrong = btoa("w".repeat(32));

  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    DATABASE_URL: dbPath,
    DATA_ENCRYPTION_KEY: wrong,
  });
  assert.equal((await bot.exit()).code, 3, bot.stderr);
  assert.deepEqual(
    bot.lines.filter((line) => line.startsWith("error:")).length,
    1,
  );
  assert.match(
    bot.stderr,
    /error: The data key \(key \w{8}\) is not the key this database was encrypted with \(key \w{8}\); it came from DATA_ENCRYPTION_KEY\n/,
  );
  assert.ok(!bot.stderr.includes(wrong));

  const cli = await runCliProcess(["--database", dbPath, "inspect"], {
    DATA_ENCRYPTION_KEY: wrong,
  });
  assert.equal(cli.code, 3);
  assert.match(
    cli.stderr,
    /^error: The data key \(key \w{8}\) is not the key this database was encrypted with \(key \w{8}\); it came from DATA_ENCRYPTION_KEY\n/,
  );
  assert.equal(cli.stderr.trimEnd().split("\n").length, 1);

  const keyless = await runCliProcess(["--database", dbPath, "inspect"], {
    DATA_ENCRYPTION_KEY: "",
    DATA_KEY_FILE: `${dir.path}/none.key`,
  });
  assert.equal(keyless.code, 3);
  assert.match(
    keyless.stderr,
    /^error: This database is encrypted \(key \w{8}\): set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key\n$/,
  );
});

Deno.test("an encrypted database and a lost key: the bot says so and leaves no stray key file", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  await (await openTestStore(dbPath)).close();
  const keyFile = `${dir.path}/secrets/data.key`;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    DATABASE_URL: dbPath,
    DATA_ENCRYPTION_KEY: "",
    DATA_KEY_FILE: keyFile,
  });
  assert.equal((await bot.exit()).code, 3, bot.stderr);
  assert.match(
    bot.stderr,
    /error: This database is encrypted, but no key was found: set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key/,
  );
  await assert.rejects(Deno.stat(keyFile), Deno.errors.NotFound);
});

Deno.test("a malformed DATA_ENCRYPTION_KEY is a configuration error (exit 2)", async () => {
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    DATA_ENCRYPTION_KEY: "not-a-key",
  });
  assert.equal((await bot.exit()).code, 2);
  assert.equal(
    bot.stderr,
    "error: DATA_ENCRYPTION_KEY must be the base64 of 32 random bytes, e.g. from deno task cli keygen\n",
  );
});

Deno.test("a tampered record is reported by the CLI, never shown as garbage", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  const store = await openTestStore(dbPath);
  await registerUser(store, {
    id: 5,
    username: "fine",
    first_name: "Fine",
    last_name: null,
    language_code: null,
  }, 1);
  await store.close();
  execDb(
    dbPath,
    `UPDATE users SET first_name = substr(first_name, 1, 29) ||
      (CASE substr(first_name, 30, 1) WHEN 'A' THEN 'B' ELSE 'A' END) ||
      substr(first_name, 31) WHERE id = 5`,
  );
  const inspected = await runCliProcess([
    "--database",
    dbPath,
    "inspect",
    "--user",
    "5",
  ]);
  assert.equal(inspected.code, 5, inspected.stderr);
  assert.equal(inspected.stdout, "");
  assert.match(
    inspected.stderr,
    /^error: The stored value of users\.first_name for id 5 fails its integrity check: it was altered or copied from another record; nothing of the user can be shown or exported, but purge --user 5 deletes it without reading it\n$/,
  );
  const exported = await runCliProcess([
    "--database",
    dbPath,
    "export",
    "--all",
  ]);
  assert.equal(exported.code, 5, exported.stderr);
  assert.doesNotMatch(exported.stdout, /Fine/);
  assert.match(
    exported.stderr,
    /^warning: left out: The stored value of users\.first_name for id 5 fails its integrity check/,
  );
});

Deno.test("keygen prints a fresh key; rotate-key moves every record to it", async () => {
  await using dir = await tempDir();
  const keygen = await runCliProcess(["keygen"]);
  assert.equal(keygen.code, 0);
  const newKey = keygen.stdout.trim();
  assert.equal(atob(newKey).length, 32);
  assert.notEqual((await runCliProcess(["keygen"])).stdout.trim(), newKey);

  const dbPath = `${dir.path}/bot.db`;
  const store = await openTestStore(dbPath);
  await registerUser(store, {
    id: 5,
    username: "rot",
    first_name: "Rota",
    last_name: null,
    language_code: "en",
  }, 1);
  await registerGroup(store, {
    id: -6,
    username: null,
    title: "Rotating",
    type: "group",
  }, 1);
  await store.close();
  const before = {
    ...new DatabaseSync(dbPath, { readOnly: true }).prepare(
      "SELECT first_name FROM users",
    ).get(),
  };

  let result = await runCliProcess(["--database", dbPath, "rotate-key"], {
    NEW_DATA_ENCRYPTION_KEY: "short",
  });
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^error: NEW_DATA_ENCRYPTION_KEY must be the base64 of 32 random bytes/,
  );
  result = await runCliProcess(["--database", dbPath, "rotate-key"], {
    NEW_DATA_ENCRYPTION_KEY: TEST_DATA_KEY,
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /is the key already in use/);

  result = await runCliProcess(["--database", dbPath, "rotate-key"], {
    NEW_DATA_ENCRYPTION_KEY: newKey,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stderr,
    /^Moved the database to key \w{8}; re-encrypted 2 records\. No value is left under another key.*\nSet DATA_ENCRYPTION_KEY to the new key/,
  );
  const after = {
    ...new DatabaseSync(dbPath, { readOnly: true }).prepare(
      "SELECT first_name FROM users",
    ).get(),
  };
  assert.notDeepEqual(after, before);

  const old = await runCliProcess([
    "--database",
    dbPath,
    "inspect",
    "--user",
    "5",
  ]);
  assert.equal(old.code, 3);
  const fresh = await runCliProcess(["--database", dbPath, "export", "--all"], {
    DATA_ENCRYPTION_KEY: newKey,
  });
  assert.equal(fresh.code, 0, fresh.stderr);
  const document = JSON.parse(fresh.stdout);
  assert.equal(document.users[0].first_name, "Rota");
  assert.equal(document.groups[0].title, "Rotating");
});
