import assert from "node:assert/strict";
import { installedCatalog } from "../plugins.ts";
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore } from "../src/store/sqlite/open.ts";
import { openTestStore, readDb, tempDir } from "./_db.ts";
import { runCliProcess } from "./_main_process.ts";
import { registerUser } from "../src/store/_seed.ts";

// Commits a user and a group together, transaction after transaction, until
// the stop file appears; prints "writing" after the first commit.
const WRITER = `
import { DatabaseSync } from "node:sqlite";
const [path, stop] = Deno.args;
const db = new DatabaseSync(path);
db.exec("PRAGMA busy_timeout = 5000");
const user = db.prepare("INSERT INTO users (id, username, first_name, last_name, language_code, registered_at) VALUES (?, NULL, 'U', NULL, NULL, 0)");
const group = db.prepare("INSERT INTO groups (id, username, title, type, registered_at) VALUES (?, NULL, 'G', 'group', 0)");
for (let n = 1; n <= 1_000_000; n++) {
  db.exec("BEGIN IMMEDIATE");
  user.run(n);
  group.run(-n);
  db.exec("COMMIT");
  if (n === 1) console.log("writing");
  try { Deno.statSync(stop); break; } catch { /* keep writing */ }
}
db.close();
`;

function counts(path: string): { users: number; groups: number } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return {
      ...db.prepare(
        "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM groups) AS groups",
      ).get(),
    } as { users: number; groups: number };
  } finally {
    db.close();
  }
}

Deno.test("backup takes a consistent 0600 snapshot while another process writes", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  // A database without a key: the writer stores plaintext rows directly.
  await (await openSqliteStore(path, { catalog: installedCatalog() })).close();
  const script = `${dir.path}/writer.ts`;
  await Deno.writeTextFile(script, WRITER);
  const stop = `${dir.path}/stop`;
  const writer = new Deno.Command("deno", {
    args: ["run", "--allow-read", "--allow-write", script, path, stop],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = writer.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  // The directory is made by backup itself.
  const out = `${dir.path}/backups/one.db`;
  let result, before = 0;
  try {
    assert.match((await lines.read()).value ?? "", /writing/);
    before = counts(path).users;
    result = await runCliProcess([
      "--database",
      path,
      "backup",
      "--out",
      out,
    ]);
  } finally {
    await Deno.writeTextFile(stop, "");
    await lines.cancel();
    await writer.status;
  }
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(
    result.stderr,
    /^Wrote a snapshot of ".*bot\.db" to ".*one\.db" \(\d+ bytes, mode 0600\); it is encrypted with the data key, so keep a copy of the key apart from it\n$/,
  );
  assert.equal((await Deno.stat(out)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(`${dir.path}/backups`)).mode! & 0o777, 0o700);
  // Nothing else was left beside it.
  assert.deepEqual(
    [...Deno.readDirSync(`${dir.path}/backups`)].map((entry) => entry.name),
    ["one.db"],
  );
  const db = new DatabaseSync(out, { readOnly: true });
  assert.equal(
    (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string })
      .integrity_check,
    "ok",
  );
  db.close();
  const snapshot = counts(out);
  // Each transaction added one of each: a torn copy would differ.
  assert.equal(snapshot.users, snapshot.groups);
  // It holds every transaction committed before it began, WAL included.
  assert.ok(snapshot.users >= before, `${snapshot.users} >= ${before}`);
  // The writer went on committing after the snapshot was taken.
  assert.ok(
    counts(path).users > snapshot.users,
    `${counts(path).users} > ${snapshot.users}`,
  );
});

Deno.test("backup never overwrites, needs --out, and refuses PostgreSQL", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  await (await openTestStore(path)).close();
  const out = `${dir.path}/taken.db`;
  await Deno.writeTextFile(out, "keep me");
  let result = await runCliProcess([
    "--database",
    path,
    "backup",
    "--out",
    out,
  ]);
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr,
    `error: The file "${out}" already exists; backup never overwrites: choose a new name\n`,
  );
  assert.equal(await Deno.readTextFile(out), "keep me");

  result = await runCliProcess(["--database", path, "backup"]);
  assert.equal(result.code, 2);
  assert.equal(result.stderr, "error: backup needs --out\n");

  result = await runCliProcess([
    "--database",
    "postgres://postgres@127.0.0.1:5432/none",
    "backup",
    "--out",
    `${dir.path}/pg.db`,
  ]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^error: backup copies SQLite databases only; for PostgreSQL use pg_dump/,
  );
  await assert.rejects(Deno.stat(`${dir.path}/pg.db`), Deno.errors.NotFound);
});

Deno.test("a backup restored in place, with the same key, brings the records back", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const store = await openTestStore(path);
  await registerUser(store, {
    id: 7,
    username: "kept",
    first_name: "Kept",
    last_name: null,
    language_code: null,
  }, 1);
  await store.close();
  const out = `${dir.path}/backup.db`;
  let result = await runCliProcess([
    "--database",
    path,
    "backup",
    "--out",
    out,
  ]);
  assert.equal(result.code, 0, result.stderr);
  result = await runCliProcess([
    "--database",
    path,
    "purge",
    "--user",
    "7",
    "--yes",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual((await readDb(path)).users, []);

  // The restore the README gives: with the bot stopped, drop the old WAL
  // files and copy the backup over the database.
  for (const suffix of ["-wal", "-shm"]) {
    await Deno.remove(path + suffix).catch(() => {});
  }
  await Deno.copyFile(out, path);
  result = await runCliProcess(["--database", path, "export", "--user", "7"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).users[0].first_name, "Kept");
});
