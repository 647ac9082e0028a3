import assert from "node:assert/strict";
import { installedCatalog } from "../plugins.ts";
import { DatabaseSync } from "node:sqlite";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { tempDir, testCipher } from "./_db.ts";
import {
  programEnv,
  runCliProcess,
  startMain,
  taskFlags,
  TEST_TOKEN,
} from "./_main_process.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { message, privateChat, user } from "./_updates.ts";
import { openSqliteStore } from "../src/store/sqlite/open.ts";
import { registerUser } from "../src/store/_seed.ts";
import type { UserRecord } from "../src/store/store.ts";

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
    catalog: installedCatalog(),
  });
  await registerUser(store, rota, 1);
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
  const store = await openSqliteStore(path, {
    cipher: await testCipher(key),
    catalog: installedCatalog(),
  });
  try {
    const users = [];
    for await (const one of store.iterate("users")) {
      users.push(one as unknown as UserRecord);
    }
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

Deno.test("rotate-key on a key file while the webhook bot serves: every update answers 200, and the bot writes with the new key without a restart", async () => {
  await using dir = await tempDir();
  const { keyFile, dbPath, env } = await seededWithKeyFile(dir.path);
  const bot = await startWebhookBot(dbPath, { env });
  const statuses: number[] = [];
  let running = true;
  let count = 0;
  const traffic = (async () => {
    while (running) {
      // Names change every time, so every update writes.
      const from = user(9000 + (count % 5), { first_name: `Name${count}` });
      count++;
      statuses.push(
        await bot.post({
          ...message(from, privateChat(from)),
          update_id: count,
        }),
      );
    }
  })();
  const pass = async (n: number) => {
    const target = statuses.length + n;
    while (statuses.length < target) {
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  let rotated;
  try {
    await pass(10);
    rotated = await runCliProcess(["--database", dbPath, "rotate-key"], env);
    await pass(20);
    // Rota was re-encrypted under the new key: the bot reads her too.
    statuses.push(
      await bot.post({
        ...message(user(5, { first_name: "Rota" }), privateChat(user(5))),
        update_id: 100_000,
      }),
    );
    assert.equal(await bot.health(), 200);
  } finally {
    running = false;
    await traffic;
    assert.equal((await bot.stop()).code, 0, bot.bot.stderr);
  }
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.deepEqual(statuses.filter((status) => status !== 200), []);
  const [newKey] = (await Deno.readTextFile(keyFile)).trim().split("\n");
  const newId = (await testCipher(newKey)).keyId;
  // Every value the bot wrote after the rotation is under the new key.
  const inspected = await runCliProcess(["--database", dbPath, "inspect"], env);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.match(
    inspected.stdout,
    new RegExp(`values per key id:\\n  ${newId} +\\d+  \\(current\\)\\n\\n`),
  );
});

// Runs `cli.ts keygen --id -` with `input` on stdin.
async function keyIdsFromStdin(input: string) {
  const child = new Deno.Command("deno", {
    args: ["run", ...await taskFlags("cli"), "cli.ts", "keygen", "--id", "-"],
    cwd: new URL("../", import.meta.url),
    clearEnv: true,
    env: programEnv({}),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("keygen --id prints the id of each key in a file or on stdin, the id inspect shows for the data", async () => {
  await using dir = await tempDir();
  const { keyFile, key, dbPath, env } = await seededWithKeyFile(dir.path);
  const id = (await testCipher(key)).keyId;

  let result = await runCliProcess(["keygen", "--id", keyFile]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `${id}\n`);
  assert.equal(result.stderr, "");

  // A key file with a label, the current key and a previous one.
  const other = btoa("p".repeat(32));
  const otherId = (await testCipher(other)).keyId;
  await Deno.writeTextFile(
    `${dir.path}/ring.key`,
    `# current\n${key}\n\n# previous\n${other}\n`,
  );
  result = await runCliProcess(["keygen", "--id", `${dir.path}/ring.key`]);
  assert.equal(result.stdout, `${id}\n${otherId}\n`);

  result = await keyIdsFromStdin(`${other}\n`);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `${otherId}\n`);

  result = await keyIdsFromStdin("not a key\n");
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr,
    "error: stdin holds no data key: expected one base64 key of 32 bytes a line, as keygen writes\n",
  );
  result = await runCliProcess(["keygen", "--id", `${dir.path}/missing`]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^error: Cannot read ".*missing": /);

  // Rota's username and first name: two values, under that key.
  const inspected = await runCliProcess(["--database", dbPath, "inspect"], env);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.match(inspected.stdout, new RegExp(`data key: +${id}\\n`));
  assert.match(
    inspected.stdout,
    new RegExp(`values per key id:\\n  ${id} +2  \\(current\\)\\n\\n`),
  );
});

Deno.test("a backup made before a rotation opens with the new key as current and the old one, found by its id, as previous", async () => {
  await using dir = await tempDir();
  const { keyFile, key: oldKey, dbPath, env } = await seededWithKeyFile(
    dir.path,
  );
  const oldId = (await testCipher(oldKey)).keyId;
  const backupPath = `${dir.path}/before.db`;
  let result = await runCliProcess(
    ["--database", dbPath, "backup", "--out", backupPath],
    env,
  );
  assert.equal(result.code, 0, result.stderr);
  result = await runCliProcess(["--database", dbPath, "rotate-key"], env);
  assert.equal(result.code, 0, result.stderr);
  const [newKey] = (await Deno.readTextFile(keyFile)).trim().split("\n");

  // With the new key alone the backup is refused, naming the key it needs.
  result = await runCliProcess(["--database", backupPath, "inspect"], {
    DATA_ENCRYPTION_KEY: newKey!,
  });
  assert.equal(result.code, 3);
  assert.match(result.stderr, new RegExp(`\\(key ${oldId}\\)`));

  // The old key, kept under its id, opens it as a previous key.
  const ring = {
    DATA_ENCRYPTION_KEY: newKey!,
    DATA_ENCRYPTION_KEYS_PREVIOUS: oldKey,
  };
  result = await runCliProcess(["--database", backupPath, "inspect"], ring);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`  ${oldId} +2  \\(current\\)`));
  result = await runCliProcess(
    ["--database", backupPath, "export", "--user", "5"],
    ring,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).users[0].first_name, "Rota");
});
