import assert from "node:assert/strict";
import { installedCatalog } from "../plugins.ts";
import { DatabaseSync } from "node:sqlite";
import { parse as parseCsv } from "csv-parse/sync";
import { COMMAND_HELP, MAIN_HELP, VERSION } from "../src/cli/help.ts";
import type { GroupFields, UserFields } from "../src/store/store.ts";
import { openPostgresStore } from "../src/store/postgres/open.ts";
import {
  openCoreStore,
  openTestStore,
  readDb,
  tempDir,
  testCipher,
} from "./_db.ts";
import {
  type CliResult,
  runCliProcess,
  taskFlags,
  TEST_DATA_KEY,
} from "./_main_process.ts";
import { createTestDatabase, pgTest } from "./_pg.ts";
import { registerGroup, registerUser } from "../src/store/_seed.ts";

const alice: UserFields = {
  id: 1001,
  username: "alice",
  first_name: 'Alice, "the" 🦊',
  last_name: "Liddell\nof Oxford",
  language_code: "en",
};
const bob: UserFields = {
  id: 1002,
  username: null,
  first_name: "Bob",
  last_name: null,
  language_code: null,
};
const club: GroupFields = {
  id: -1001234567890,
  username: "book_club",
  title: 'Books, "mostly" 📚',
  type: "supergroup",
};
// 2026-11-29T14:00:00Z and an hour later.
const T0 = 1_795_960_800;

async function seeded(
  dir: string,
  options: { core?: boolean } = {},
): Promise<string> {
  const path = `${dir}/bot.db`;
  const store = options.core
    ? await openCoreStore(path)
    : await openTestStore(path);
  await registerUser(store, alice, T0);
  await registerUser(store, bob, T0 + 3600);
  await registerGroup(store, club, T0 + 60);
  await store.close();
  return path;
}

function cli(path: string, ...args: string[]) {
  return runCliProcess(["--database", `sqlite:${path}`, ...args]);
}

// The CLI with the project's own tables only, on a database `seeded` with
// `core`: for the core's own output, which installed plugins would extend.
function coreCli(path: string, ...args: string[]) {
  return runCliProcess(["--database", `sqlite:${path}`, ...args], {}, {
    script: "tests/_core_cli.ts",
  });
}

function auditRows(path: string): Record<string, unknown>[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("SELECT * FROM audit_log ORDER BY id").all().map((
      row,
    ) => ({ ...row }));
  } finally {
    db.close();
  }
}

Deno.test("the help texts are the tested constants, with --version", async () => {
  let result = await runCliProcess(["--help"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, MAIN_HELP);
  for (
    const command of Object.keys(COMMAND_HELP) as (keyof typeof COMMAND_HELP)[]
  ) {
    result = await runCliProcess([command, "--help"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, COMMAND_HELP[command]);
    assert.match(COMMAND_HELP[command], /Examples?:\n {2}.*deno task cli /);
  }
  result = await runCliProcess(["--version"]);
  assert.equal(result.stdout, `${VERSION}\n`);
  result = await runCliProcess([]);
  assert.equal(result.code, 2);
  assert.equal(result.stdout, "");
  assert.equal(result.stderr, MAIN_HELP);
});

Deno.test("usage errors exit 2 with one line naming the bad value, and change nothing", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const before = await readDb(path);
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /^error: Unknown command "frobnicate"/],
    [
      ["export", "--user", "1", "--bogus"],
      /^error: Unknown option "--bogus" for export/,
    ],
    [
      ["export", "--user", "abc"],
      /^error: --user needs an integer Telegram id, got "abc"$/,
    ],
    [
      ["export", "--group", "1.5"],
      /^error: --group needs an integer Telegram id, got "1.5"$/,
    ],
    [
      ["export", "--user", "99999999999999999999"],
      /^error: --user needs an integer Telegram id/,
    ],
    [["export"], /^error: Give exactly one of --user ID, --group ID or --all$/],
    [["export", "--user", "1", "--all"], /^error: Give exactly one of/],
    [
      ["export", "--user", "1", "--group", "-1"],
      /^error: Give --user or --group, not both$/,
    ],
    [
      ["export", "--all", "--format", "xml"],
      /^error: --format must be json, ndjson or csv, got "xml"$/,
    ],
    [["export", "--user"], /^error: Option "--user" needs a value$/],
    [
      ["purge", "--user", "1001"],
      /^error: Refusing to purge without --yes when no terminal can confirm it$/,
    ],
    [["purge", "--all"], /^error: Refusing to purge without --yes/],
    [["inspect", "extra"], /^error: Unexpected argument "extra"$/],
  ];
  for (const [args, pattern] of cases) {
    const result = await cli(path, ...args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr.trimEnd(), pattern, args.join(" "));
    assert.equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
    assert.equal(result.stdout, "");
  }
  assert.deepEqual(await readDb(path), before);
  assert.deepEqual(auditRows(path), []);
});

Deno.test("export --user writes the documented JSON document and is audited", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path, { core: true });
  const result = await coreCli(path, "export", "--user", "1001");
  assert.equal(result.code, 0, result.stderr);
  const document = JSON.parse(result.stdout);
  assert.equal(document.format_version, 1);
  assert.match(document.exported_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(document.users, [{
    ...alice,
    registered_at: "2026-11-29T14:00:00Z",
    seen_on: null,
  }]);
  assert.deepEqual(document.groups, []);
  assert.deepEqual(Object.keys(document.users[0]), [
    "id",
    "username",
    "first_name",
    "last_name",
    "language_code",
    "registered_at",
    "seen_on",
  ]);
  assert.match(result.stderr, /^Exported 1 user and 0 groups\n$/);
  const [entry] = auditRows(path);
  assert.equal(entry?.actor, "cli");
  assert.equal(entry?.action, "export");
  assert.equal(entry?.kind, "user");
  assert.equal(entry?.records, 1);
});

Deno.test("export --group takes a negative id as a separate argument", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const result = await cli(path, "export", "--group", "-1001234567890");
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout).groups, [{
    ...club,
    registered_at: "2026-11-29T14:01:00Z",
    seen_on: null,
  }]);
});

Deno.test("export --all in every format parses back to the stored records", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path, { core: true });
  const users = [
    { ...alice, registered_at: "2026-11-29T14:00:00Z", seen_on: null },
    { ...bob, registered_at: "2026-11-29T15:00:00Z", seen_on: null },
  ];
  const groups = [{
    ...club,
    registered_at: "2026-11-29T14:01:00Z",
    seen_on: null,
  }];

  const json = await coreCli(path, "export", "--all");
  assert.equal(json.code, 0, json.stderr);
  const document = JSON.parse(json.stdout);
  assert.deepEqual([document.users, document.groups], [users, groups]);

  const ndjson = await coreCli(path, "export", "--all", "--format", "ndjson");
  assert.equal(ndjson.code, 0, ndjson.stderr);
  const lines = ndjson.stdout.trimEnd().split("\n").map((line) =>
    JSON.parse(line)
  );
  assert.deepEqual(lines, [
    ...users.map((user) => ({ kind: "user", ...user })),
    ...groups.map((group) => ({ kind: "group", ...group })),
  ]);

  const csv = await coreCli(path, "export", "--all", "--format", "csv");
  assert.equal(csv.code, 0, csv.stderr);
  assert.ok(csv.stdout.startsWith(
    "kind,id,username,first_name,last_name,language_code,title,type,registered_at,seen_on\r\n",
  ));
  const rows = parseCsv(csv.stdout, { columns: true }) as Record<
    string,
    string
  >[];
  assert.deepEqual(rows, [
    ...users.map((user) => ({
      kind: "user",
      id: String(user.id),
      username: user.username ?? "",
      first_name: user.first_name,
      last_name: user.last_name ?? "",
      language_code: user.language_code ?? "",
      title: "",
      type: "",
      registered_at: user.registered_at,
      seen_on: "",
    })),
    {
      kind: "group",
      id: String(club.id),
      username: "book_club",
      first_name: "",
      last_name: "",
      language_code: "",
      title: club.title,
      type: "supergroup",
      registered_at: "2026-11-29T14:01:00Z",
      seen_on: "",
    },
  ]);
  assert.deepEqual(
    auditRows(path).map((row) => [row.kind, row.subject, row.records]),
    [
      ["all", null, 3],
      ["all", null, 3],
      ["all", null, 3],
    ],
  );
});

Deno.test("exporting or inspecting a record that is not stored exits 1", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  for (
    const args of [["export", "--user", "42"], ["export", "--group", "-42"], [
      "inspect",
      "--user",
      "42",
    ]]
  ) {
    const result = await cli(path, ...args);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /^error: No (user|group) with id "-?42" is stored\n$/,
    );
  }
  assert.deepEqual(auditRows(path), []);
});

Deno.test("--out creates an owner-only file and overwrites only with --force", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const out = `${dir.path}/alice.json`;
  let result = await cli(path, "export", "--user", "1001", "--out", out);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /to ".*alice\.json"/);
  assert.equal((await Deno.stat(out)).mode! & 0o777, 0o600);
  assert.equal(JSON.parse(await Deno.readTextFile(out)).users[0].id, 1001);

  result = await cli(path, "export", "--user", "1002", "--out", out);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^error: The file ".*alice\.json" already exists; pass --force to overwrite it\n$/,
  );
  assert.equal(JSON.parse(await Deno.readTextFile(out)).users[0].id, 1001);

  await Deno.chmod(out, 0o644);
  result = await cli(path, "export", "--user", "1002", "--out", out, "--force");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(await Deno.readTextFile(out)).users[0].id, 1002);
  assert.equal((await Deno.stat(out)).mode! & 0o777, 0o600);
});

Deno.test("an export whose audit entry cannot be written writes nothing and exits 3", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const out = `${dir.path}/all.ndjson`;
  // Another process holds the write lock past the CLI's busy timeout: the
  // records can be read, but the audit entry cannot be written.
  const blocker = new DatabaseSync(path);
  blocker.exec("BEGIN IMMEDIATE");
  let toFile, toStdout;
  try {
    toFile = await cli(
      path,
      "export",
      "--all",
      "--format",
      "ndjson",
      "--out",
      out,
    );
    toStdout = await cli(path, "export", "--user", "1001");
  } finally {
    blocker.exec("ROLLBACK");
    blocker.close();
  }
  for (const result of [toFile, toStdout]) {
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^error: [^\n]*locked[^\n]*\n$/);
  }
  // No file, not even a partial one under another name.
  assert.deepEqual(
    [...Deno.readDirSync(dir.path)].map((entry) => entry.name).filter((
      name,
    ) => !name.startsWith("bot.db")),
    [],
  );
  assert.deepEqual(auditRows(path), []);
});

Deno.test("export --out leaves only the finished file, and a record that is not stored leaves none", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const out = `${dir.path}/nobody.json`;
  let result = await cli(path, "export", "--user", "42", "--out", out);
  assert.equal(result.code, 1, result.stderr);
  result = await cli(path, "export", "--all", "--format", "csv", "--out", out);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    [...Deno.readDirSync(dir.path)].map((entry) => entry.name).filter((
      name,
    ) => !name.startsWith("bot.db")),
    ["nobody.json"],
  );
  assert.equal((await Deno.readTextFile(out)).split("\r\n").length, 5);
  assert.deepEqual(auditRows(path).map((row) => row.records), [3]);
});

Deno.test("inspect shows a record readably and a summary with the audit log", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  let result = await cli(path, "inspect", "--group", "-1001234567890");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    [
      "group -1001234567890",
      "  username:       book_club",
      '  title:          Books, "mostly" 📚',
      "  type:           supergroup",
      "  registered at:  2026-11-29T14:01:00Z",
      "  seen on:        (none)",
      "",
    ].join("\n"),
  );
  result = await cli(path, "inspect", "--user", "1002");
  assert.match(
    result.stdout,
    /^user 1002\n {2}username: +\(none\)\n {2}first name: +Bob\n/,
  );

  await cli(path, "export", "--user", "1001");
  result = await cli(path, "inspect");
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /schema version: +8\n/);
  assert.match(result.stdout, /users: +2\n/);
  assert.match(result.stdout, /groups: +1\n/);
  assert.match(result.stdout, /oldest registration: +2026-11-29T14:00:00Z\n/);
  assert.match(result.stdout, /newest registration: +2026-11-29T15:00:00Z\n/);
  assert.match(result.stdout, /size: +[\d.]+ KiB \(\d+ bytes\)\n/);
  assert.match(
    result.stdout,
    /recent privacy requests \(newest first\):\n {2}\d{4}-\d\d-\d\dT[\d:]+Z {2}cli {2}export {2}user +1 record +subject [0-9a-f]{32}\n/,
  );
});

Deno.test("purge --dry-run shows the record and deletes nothing", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const result = await cli(path, "purge", "--user", "1001", "--dry-run");
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^user 1001\n/);
  assert.match(result.stderr, /Dry run: nothing was deleted/);
  assert.equal((await readDb(path)).users.length, 2);
  assert.deepEqual(auditRows(path), []);
});

Deno.test("purge --yes deletes one record in one audited transaction", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path, { core: true });
  let result = await coreCli(path, "purge", "--user", "1001", "--yes");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "Deleted user 1001\n");
  assert.deepEqual(
    (await readDb(path, { core: true })).users.map((u) => u.id),
    [1002],
  );
  result = await coreCli(path, "purge", "--group", "-1001234567890", "--yes");
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual((await readDb(path, { core: true })).groups, []);
  result = await coreCli(path, "purge", "--user", "1001", "--yes");
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^error: No user with id "1001" is stored\n$/);

  const rows = auditRows(path);
  assert.deepEqual(
    rows.map((row) => [row.actor, row.action, row.kind, row.records]),
    [
      ["cli", "purge", "user", 1],
      ["cli", "purge", "group", 1],
    ],
  );
  // The audit log holds no name, username or plain id.
  const text = JSON.stringify(rows);
  for (
    const secret of [
      "alice",
      "Alice",
      "book_club",
      "Books",
      "1001",
      "1234567890",
    ]
  ) {
    assert.ok(!text.includes(secret), `the audit log holds "${secret}"`);
  }
});

Deno.test("a purge whose audit entry cannot be written deletes nothing and exits 3", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const before = await readDb(path);
  const db = new DatabaseSync(path);
  db.exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit log refused'); END`);
  db.close();
  for (const args of [["--user", "1001"], ["--all"]]) {
    const result = await cli(path, "purge", ...args, "--yes");
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /^error: [^\n]*audit log refused[^\n]*\n$/);
  }
  // The deletion was rolled back with the audit entry.
  assert.deepEqual(await readDb(path), before);
});

Deno.test("purge --all --yes deletes every record (the bot stops operating)", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path, { core: true });
  const result = await coreCli(path, "purge", "--all", "--yes");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "Deleted 3 records\n");
  assert.deepEqual(await readDb(path, { core: true }), {
    users: [],
    groups: [],
  });
  assert.deepEqual(
    auditRows(path).map((row) => [row.kind, row.subject, row.records]),
    [["all", null, 3]],
  );
});

Deno.test("migrate creates the database, says so once, prints the schema version and is idempotent", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const stderrs = [];
  for (let i = 0; i < 2; i++) {
    const result = await coreCli(path, "migrate");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "schema version 8\n");
    stderrs.push(result.stderr);
  }
  assert.deepEqual(stderrs, [
    `Created a new, empty database at "${path}"\n`,
    "",
  ]);
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
});

Deno.test("migrate never creates a missing folder: a mistyped path exits 2 naming it and changes nothing", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/nonexistent/dir/bot.db`;
  const viaOption = await cli(path, "migrate");
  assert.equal(viaOption.code, 2, viaOption.stderr);
  assert.equal(
    viaOption.stderr,
    `error: --database names a database in the folder "${dir.path}/nonexistent/dir", which does not exist: correct the path, or create the folder first (only the default data/ folder is made when missing)\n`,
  );
  const viaVariable = await runCliProcess(["migrate"], {
    DATABASE_URL: `sqlite:${path}`,
  });
  assert.equal(viaVariable.code, 2, viaVariable.stderr);
  assert.match(viaVariable.stderr, /^error: DATABASE_URL names a database/);
  await assertMissing(`${dir.path}/nonexistent`);
  // The commands that only read never create a database either.
  for (const args of [["inspect"], ["export", "--all"], ["setup"]]) {
    const result = await cli(path, ...args);
    assert.equal(result.code, 3, `${args.join(" ")}: ${result.stderr}`);
    await assertMissing(`${dir.path}/nonexistent`);
  }
});

Deno.test("DATABASE_URL is used when --database is not given", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const result = await runCliProcess(["inspect", "--user", "1002"], {
    DATABASE_URL: `sqlite:${path}`,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^user 1002/);
});

Deno.test("a database that cannot be opened or written exits 3", async () => {
  await using dir = await tempDir();
  for (
    const args of [["inspect"], ["export", "--all"], [
      "backup",
      "--out",
      `${dir.path}/b.db`,
    ]]
  ) {
    const result = await cli(`${dir.path}/missing.db`, ...args);
    assert.equal(result.code, 3, args.join(" "));
    assert.equal(
      result.stderr,
      `error: There is no SQLite database at "${dir.path}/missing.db": check --database or DATABASE_URL, or create it with deno task cli migrate\n`,
    );
  }
  await assertMissing(`${dir.path}/missing.db`);
  await assertMissing(`${dir.path}/b.db`);
  let result;

  const path = await seeded(dir.path);
  // Another connection keeps the write lock past the CLI's busy timeout.
  const blocker = new DatabaseSync(path);
  blocker.exec("BEGIN IMMEDIATE");
  try {
    result = await cli(path, "purge", "--user", "1001", "--yes");
  } finally {
    blocker.exec("ROLLBACK");
    blocker.close();
  }
  assert.equal(result.code, 3, result.stderr);
  // One line that names the lock, whatever the store's wording.
  assert.match(result.stderr, /^error: [^\n]*locked[^\n]*\n$/);
  assert.equal((await readDb(path)).users.length, 2);
});

async function assertMissing(path: string): Promise<void> {
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
}

const hasScript = await new Deno.Command("sh", {
  args: ["-c", "command -v script"],
  stdout: "null",
})
  .output().then((output) => output.success, () => false);

// Runs the CLI under a pseudo-terminal made by util-linux `script`, typing `input`.
async function cliOnTerminal(path: string, args: string[], input: string) {
  const flags = await taskFlags("cli");
  const command = [
    "deno",
    "run",
    ...flags,
    "cli.ts",
    "--database",
    `sqlite:${path}`,
    ...args,
  ]
    .map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: new URL("../", import.meta.url),
    env: { NO_COLOR: "1", DATA_ENCRYPTION_KEY: TEST_DATA_KEY },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  // Typed only once the question is on the screen, as a person would.
  const output = (async () => {
    let seen = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      seen += decoder.decode(chunk);
      if (
        /\[y\/N\] $|to delete every record of every table: $/.test(seen) &&
        input !== ""
      ) {
        await writer.write(new TextEncoder().encode(input));
        input = "";
      }
    }
    await writer.close().catch(() => {});
    return seen;
  })();
  const status = await child.status;
  return { code: status.code, output: await output };
}

Deno.test({
  name: "purge on a terminal asks y/N and deletes only on yes",
  ignore: !hasScript,
  fn: async () => {
    await using dir = await tempDir();
    const path = await seeded(dir.path);
    let result = await cliOnTerminal(path, ["purge", "--user", "1001"], "n\n");
    assert.equal(result.code, 2, result.output);
    assert.match(result.output, /user 1001[\s\S]*Delete this user\? \[y\/N\]/);
    assert.match(result.output, /Cancelled: nothing was deleted/);
    assert.equal((await readDb(path)).users.length, 2);

    result = await cliOnTerminal(path, ["purge", "--user", "1001"], "y\n");
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /Deleted user 1001/);
    assert.deepEqual((await readDb(path)).users.map((u) => u.id), [1002]);

    result = await cliOnTerminal(path, ["purge", "--all"], "yes\n");
    assert.equal(result.code, 2, result.output);
    assert.equal((await readDb(path)).users.length, 1);
    result = await cliOnTerminal(
      path,
      ["purge", "--all"],
      "delete all records\n",
    );
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(await readDb(path), { users: [], groups: [] });
  },
});

// What an operator does to answer "what did you do with my request": export
// and purge a user, export a group, then ask the audit log by id. `run` runs
// the CLI against a seeded database of either engine.
async function auditAnswersByRecord(
  run: (...args: string[]) => Promise<CliResult>,
): Promise<void> {
  for (
    const args of [
      ["export", "--user", "1001"],
      ["purge", "--user", "1001", "--yes"],
      ["export", "--group", String(club.id), "--format", "csv"],
    ]
  ) {
    const result = await run(...args);
    assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
  }

  let result = await run("audit", "--user", "1001");
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split("\n");
  assert.match(
    lines[0]!,
    /^audit entries about user 1001 \(subject [0-9a-f]{32}\), oldest first:$/,
  );
  assert.equal(lines.length, 3, result.stdout);
  assert.match(
    lines[1]!,
    /^ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC {2}export {2}with the CLI {2}1 record exported$/,
  );
  assert.match(
    lines[2]!,
    /^ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC {2}purge {3}with the CLI {2}1 record deleted on request$/,
  );
  assert.doesNotMatch(result.stdout, /alice|Alice/);

  result = await run("audit", "--user", "1001", "--format", "json");
  assert.equal(result.code, 0, result.stderr);
  const document = JSON.parse(result.stdout);
  assert.deepEqual(
    document.entries.map((e: Record<string, unknown>) => [
      e.action,
      e.actor,
      e.records,
      e.id,
      e.reason,
    ]),
    [["export", "cli", 1, 1001, null], ["purge", "cli", 1, 1001, "request"]],
  );
  assert.match(document.entries[0].at, /^\d{4}-\d\d-\d\dT[\d:]+Z$/);

  result = await run("audit", "--group", String(club.id), "--format", "ndjson");
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line).action),
    ["export"],
  );

  // Bob is stored but nothing was ever done about him.
  result = await run("audit", "--user", "1002");
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, "");
  assert.equal(
    result.stderr,
    'error: No audit entry is about the user with id "1002"\n',
  );
  result = await run("audit");
  assert.equal(result.code, 2);
  assert.equal(result.stderr, "error: Give --user ID or --group ID\n");
  result = await run("audit", "--user", "1001", "--format", "csv");
  assert.equal(result.code, 2);
}

Deno.test("audit --user lists what was done about the record, and exits 1 when nothing was (SQLite)", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  await auditAnswersByRecord((...args) => cli(path, ...args));
});

pgTest(
  "audit --user lists what was done about the record, and exits 1 when nothing was (PostgreSQL)",
  async () => {
    await using db = await createTestDatabase();
    const env = { DATABASE_URL: db.url };
    const migrated = await runCliProcess(["migrate"], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    const store = await openPostgresStore(db.location.connection, {
      cipher: await testCipher(),
      catalog: installedCatalog(),
    });
    await registerUser(store, alice, T0);
    await registerUser(store, bob, T0 + 3600);
    await registerGroup(store, club, T0 + 60);
    await store.close();
    await auditAnswersByRecord((...args) => runCliProcess(args, env));
  },
);
