import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { tempDir, testCipher } from "./_db.ts";
import { runCliProcess, startMain, TEST_TOKEN } from "./_main_process.ts";
import { message, privateChat, user } from "./_updates.ts";
import { openSqliteStore } from "../src/store/sqlite_store.ts";

const rota = {
  id: 5,
  username: "rot",
  first_name: "Rota",
  last_name: null,
  language_code: "en",
};

// A database holding one user, encrypted with the key in `keyFile`.
async function seededWithKeyFile(dir: string) {
  const keyFile = `${dir}/secrets/data.key`;
  const made = await runCliProcess(["keygen", "--out", keyFile]);
  assert.equal(made.code, 0, made.stderr);
  const key = (await Deno.readTextFile(keyFile)).trim();
  const dbPath = `${dir}/bot.db`;
  const store = await openSqliteStore(dbPath, {
    cipher: await testCipher(key),
  });
  await store.upsertUser(rota, 1);
  await store.close();
  const env = { DATA_ENCRYPTION_KEY: "", DATA_KEY_FILE: keyFile };
  return { keyFile, key, dbPath, env };
}

function modeOf(path: string): number {
  return Deno.statSync(path).mode! & 0o777;
}

async function assertMissing(path: string): Promise<void> {
  await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
}

Deno.test("rotate-key on a key file writes the new key there, and the bot and the CLI read with it", async () => {
  await using dir = await tempDir();
  const { keyFile, key: oldKey, dbPath, env } = await seededWithKeyFile(
    dir.path,
  );

  const rotated = await runCliProcess(
    ["--database", dbPath, "rotate-key"],
    env,
  );
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.match(
    rotated.stderr,
    /^Moved the database to key \w{8} and wrote it to ".*data\.key" before the old key; re-encrypted 1 record\. No value is left under another key/,
  );
  // The new key first, the old one kept after it as a previous key.
  const [newKey, kept] = (await Deno.readTextFile(keyFile)).trim().split("\n");
  assert.equal(kept, oldKey);
  assert.notEqual(newKey, oldKey);
  assert.equal(atob(newKey!).length, 32);
  assert.equal(modeOf(keyFile), 0o600);
  await assertMissing(`${keyFile}.new`);
  // The new key never reaches the output.
  assert.ok(!rotated.stderr.includes(newKey!));
  assert.equal(rotated.stdout, "");

  // The old key alone no longer opens the database; the key file does.
  const withOld = await runCliProcess(["--database", dbPath, "inspect"], {
    DATA_ENCRYPTION_KEY: oldKey,
  });
  assert.equal(withOld.code, 3, withOld.stderr);

  const api = new FakeBotApi();
  const bot = await startMain({
    ...env,
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
  });
  try {
    await bot.waitForLine(/running in polling mode/);
    const zoe = user(8001, { first_name: "Zoë" });
    await api.processed(api.push(message(zoe, privateChat(zoe))));
  } finally {
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    await api.close();
  }

  const exported = await runCliProcess(
    ["--database", dbPath, "export", "--all", "--format", "ndjson"],
    env,
  );
  assert.equal(exported.code, 0, exported.stderr);
  const names = exported.stdout.trimEnd().split("\n").map((line) =>
    JSON.parse(line).first_name
  );
  assert.deepEqual(names, ["Rota", "Zoë"]);
});

Deno.test("a rotation that fails leaves a key file that opens the database, and a second run finishes it", async () => {
  await using dir = await tempDir();
  const { keyFile, key, dbPath, env } = await seededWithKeyFile(dir.path);
  // Another process holds the write lock past the CLI's busy timeout.
  const blocker = new DatabaseSync(dbPath);
  blocker.exec("BEGIN IMMEDIATE");
  let result;
  try {
    result = await runCliProcess(["--database", dbPath, "rotate-key"], env);
  } finally {
    blocker.exec("ROLLBACK");
    blocker.close();
  }
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /locked/);
  // The new key was written first, the old one kept after it.
  const [newKey, kept] = (await Deno.readTextFile(keyFile)).trim().split("\n");
  assert.equal(kept, key);
  await assertMissing(`${keyFile}.new`);
  const exported = await runCliProcess(
    ["--database", dbPath, "export", "--user", "5"],
    env,
  );
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(JSON.parse(exported.stdout).users[0].first_name, "Rota");
  // Run again, it moves the data to the key file's current key: no third key.
  result = await runCliProcess(["--database", dbPath, "rotate-key"], env);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stderr,
    /^Moved the database to key \w{8}; re-encrypted 1 record\./,
  );
  assert.equal(
    (await Deno.readTextFile(keyFile)).trim(),
    `${newKey}\n${key}`,
  );
  assert.equal((await usersWith(dbPath, newKey!))[0]?.first_name, "Rota");
});

Deno.test("a key file left by an interrupted rotation is never overwritten", async () => {
  await using dir = await tempDir();
  const { keyFile, key, dbPath, env } = await seededWithKeyFile(dir.path);
  await Deno.writeTextFile(`${keyFile}.new`, "left over\n", { mode: 0o600 });
  const result = await runCliProcess(
    ["--database", dbPath, "rotate-key"],
    env,
  );
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /^error: ".*data\.key\.new" is left from an interrupted rotate-key; this database opens with the keys in ".*data\.key", so it is not needed: remove it, then run rotate-key again\n$/,
  );
  assert.equal(await Deno.readTextFile(`${keyFile}.new`), "left over\n");
  assert.equal((await Deno.readTextFile(keyFile)).trim(), key);
  assert.equal((await usersWith(dbPath, key))[0]?.first_name, "Rota");
});

Deno.test("with a key file, NEW_DATA_ENCRYPTION_KEY is refused and nothing changes", async () => {
  await using dir = await tempDir();
  const { keyFile, key, dbPath, env } = await seededWithKeyFile(dir.path);
  const result = await runCliProcess(["--database", dbPath, "rotate-key"], {
    ...env,
    NEW_DATA_ENCRYPTION_KEY: btoa("n".repeat(32)),
  });
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /^error: NEW_DATA_ENCRYPTION_KEY is set, but the key comes from the file ".*data\.key"/,
  );
  assert.equal((await Deno.readTextFile(keyFile)).trim(), key);
});

Deno.test("keygen --out writes a new 0600 file and never overwrites one", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/keys/new.key`;
  let result = await runCliProcess(["keygen", "--out", path]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^Wrote a new key to ".*new\.key" \(mode 0600\)/);
  const key = await Deno.readTextFile(path);
  assert.match(key, /^[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(modeOf(path), 0o600);
  assert.equal(modeOf(`${dir.path}/keys`), 0o700);

  await Deno.chmod(path, 0o640);
  result = await runCliProcess(["keygen", "--out", path]);
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stdout, "");
  assert.equal(
    result.stderr,
    `error: The file "${path}" already exists; keygen never overwrites a key file: choose a new name\n`,
  );
  assert.equal(await Deno.readTextFile(path), key);
  assert.equal(modeOf(path), 0o640);
});

Deno.test("with DATA_ENCRYPTION_KEY, the recipe saves the new key to a file, then rotates", async () => {
  await using dir = await tempDir();
  const { key: oldKey, dbPath } = await seededWithKeyFile(dir.path);
  const env = { DATA_ENCRYPTION_KEY: oldKey };

  let result = await runCliProcess(["--database", dbPath, "rotate-key"], env);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^error: NEW_DATA_ENCRYPTION_KEY is not set: /);

  const newFile = `${dir.path}/secrets/new.key`;
  result = await runCliProcess(["keygen", "--out", newFile]);
  assert.equal(result.code, 0, result.stderr);
  const newKey = (await Deno.readTextFile(newFile)).trim();
  result = await runCliProcess(["--database", dbPath, "rotate-key"], {
    ...env,
    NEW_DATA_ENCRYPTION_KEY: newKey,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stderr,
    /^Moved the database to key \w{8}; re-encrypted 1 record\. .*\nSet DATA_ENCRYPTION_KEY to the new key/,
  );
  const exported = await runCliProcess(
    ["--database", dbPath, "export", "--all"],
    { DATA_ENCRYPTION_KEY: newKey },
  );
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(JSON.parse(exported.stdout).users[0].first_name, "Rota");
  const old = await runCliProcess(["--database", dbPath, "inspect"], env);
  assert.equal(old.code, 3);
});

// The users of a database whose key is not the test key.
async function usersWith(path: string, key: string) {
  const store = await openSqliteStore(path, { cipher: await testCipher(key) });
  try {
    const users = [];
    for await (const one of store.iterateUsers()) users.push(one);
    return users;
  } finally {
    await store.close();
  }
}

Deno.test("after a crash between the rotation and the rename, the CLI says where the new key is", async () => {
  await using dir = await tempDir();
  const { keyFile, key: oldKey, dbPath, env } = await seededWithKeyFile(
    dir.path,
  );
  // The state such a crash leaves: the database under the key in FILE.new.
  let result = await runCliProcess(["keygen", "--out", `${keyFile}.new`]);
  assert.equal(result.code, 0, result.stderr);
  const newKey = (await Deno.readTextFile(`${keyFile}.new`)).trim();
  result = await runCliProcess(["--database", dbPath, "rotate-key"], {
    DATA_ENCRYPTION_KEY: oldKey,
    NEW_DATA_ENCRYPTION_KEY: newKey,
  });
  assert.equal(result.code, 0, result.stderr);

  result = await runCliProcess(["--database", dbPath, "inspect"], env);
  assert.equal(result.code, 3);
  assert.match(
    result.stderr,
    /; it came from the key file ".*data\.key" \(DATA_KEY_FILE\); ".*data\.key\.new" is left from an interrupted rotate-key: if the database opens with it, move it to ".*data\.key"\n$/,
  );
  assert.equal(result.stderr.trimEnd().split("\n").length, 1);
  // The bot says the same, in one line.
  const bot = await startMain({
    ...env,
    BOT_TOKEN: TEST_TOKEN,
    DATABASE_URL: dbPath,
  });
  assert.equal((await bot.exit()).code, 3, bot.stderr);
  assert.match(
    bot.stderr,
    /error: The data key \(key \w{8}\) is not the key this database was encrypted with \(key \w{8}\); it came from the key file ".*data\.key" \(DATA_KEY_FILE\); ".*data\.key\.new" is left from an interrupted rotate-key/,
  );
  await Deno.rename(`${keyFile}.new`, keyFile);
  result = await runCliProcess(["--database", dbPath, "inspect"], env);
  assert.equal(result.code, 0, result.stderr);
});
