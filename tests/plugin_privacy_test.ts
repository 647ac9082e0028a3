import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { tempDir } from "./_db.ts";
import { openNotesStore, storedOwners } from "./_notes.ts";
import { runCliProcess, TEST_DATA_KEY } from "./_main_process.ts";
import { exportRecords } from "../src/privacy/export.ts";

const ALICE = 1;
const BOB = 2;
const GROUP = -100;

// Alice keeps two notes and shares one in the group; Bob keeps one and
// shares one there too.
async function seeded(dir: string): Promise<string> {
  const path = `${dir}/bot.db`;
  const store = await openNotesStore(path);
  const person = (id: number, name: string) => ({
    id,
    username: null,
    first_name: name,
    last_name: null,
    language_code: "en",
  });
  const group = {
    id: GROUP,
    username: null,
    title: "Readers",
    type: "supergroup" as const,
  };
  try {
    await store.register([{
      user: person(ALICE, "Alice"),
      group,
      sentAt: 1000,
      writes: [
        {
          table: "notes_entries",
          row: { user_id: ALICE, note_id: 10, text: "alice private" },
        },
        {
          table: "notes_entries",
          row: { user_id: ALICE, note_id: 11, text: "=1+1" },
        },
        {
          table: "notes_shared",
          row: { chat_id: GROUP, user_id: ALICE, text: "alice shared" },
        },
      ],
    }, {
      user: person(BOB, "Bob"),
      group,
      sentAt: 1000,
      writes: [
        {
          table: "notes_entries",
          row: { user_id: BOB, note_id: 20, text: "bob private" },
        },
        {
          table: "notes_shared",
          row: { chat_id: GROUP, user_id: BOB, text: "bob shared" },
        },
      ],
    }], 1000);
  } finally {
    await store.close();
  }
  return path;
}

// The CLI with the notes plugin installed, as a subprocess.
function cli(path: string, ...args: string[]) {
  return runCliProcess(
    ["--database", path, ...args],
    { DATA_ENCRYPTION_KEY: TEST_DATA_KEY },
    { script: "tests/_notes_cli.ts" },
  );
}

// The JSON export of one person or group from a fresh seeded database:
// the document, its top-level keys, and what the CLI said.
async function exported(kind: "--user" | "--group", id: number) {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const result = await cli(path, "export", kind, String(id));
  assert.equal(result.code, 0, result.stderr);
  const document = JSON.parse(result.stdout);
  return {
    document,
    keys: Object.keys(document),
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

const CORE_KEYS = ["format_version", "exported_at", "users", "groups"];

Deno.test("a person's export holds their notes and the notes they shared in groups, after users and groups", async () => {
  const { document, keys, stdout, stderr } = await exported("--user", ALICE);
  assert.deepEqual(keys, [...CORE_KEYS, "notes_entries", "notes_shared"]);
  assert.deepEqual(document.users.map((user: { id: number }) => user.id), [
    ALICE,
  ]);
  assert.deepEqual(document.groups, []);
  assert.deepEqual(
    document.notes_entries.map((note: { text: string }) => note.text),
    ["alice private", "=1+1"],
  );
  assert.match(document.notes_entries[0].created_at, /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(document.notes_shared.map((note: object) => note), [{
    chat_id: GROUP,
    user_id: ALICE,
    text: "alice shared",
    shared_at: document.notes_shared[0].shared_at,
  }]);
  assert.equal(
    stderr,
    "Exported 1 user, 0 groups, 2 notes and 1 shared note\n",
  );
  assert.ok(!stdout.includes("bob"), "Bob's notes are not Alice's");
});

Deno.test("NDJSON and CSV lines of a person's export say which kind of row they are", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const lines = await cli(path, "export", "--user", "1", "--format", "ndjson");
  assert.equal(lines.code, 0, lines.stderr);
  assert.deepEqual(
    lines.stdout.trimEnd().split("\n").map((line) => JSON.parse(line).kind),
    ["user", "note", "note", "shared note"],
  );
  const csv = await cli(path, "export", "--user", "1", "--format", "csv");
  assert.equal(csv.code, 0, csv.stderr);
  assert.equal(
    csv.stdout.split("\r\n")[0],
    "kind,id,username,first_name,last_name,language_code,title,type,registered_at,seen_on,chat_id,user_id,note_id,text,created_at,shared_at",
  );
  const rows = parse(csv.stdout, { columns: true }) as Record<
    string,
    string
  >[];
  assert.deepEqual(
    rows.map((row) => [row.kind, row.id, row.user_id, row.note_id, row.text]),
    [
      ["user", "1", "", "", ""],
      ["note", "", "1", "10", "alice private"],
      // A plugin's text is neutralised for spreadsheets like a name.
      ["note", "", "1", "11", "'=1+1"],
      ["shared note", "", "1", "", "alice shared"],
    ],
  );
});

Deno.test("a group's export holds the group's own rows, never what its members stored in it", async () => {
  const { document, keys, stdout, stderr } = await exported("--group", GROUP);
  assert.deepEqual(keys, CORE_KEYS);
  assert.deepEqual(document.groups.map((group: { id: number }) => group.id), [
    GROUP,
  ]);
  assert.doesNotMatch(stdout, /shared|private/);
  assert.equal(stderr, "Exported 0 users and 1 group\n");
});

Deno.test("an export of everything holds every table, and its audit entry counts every row", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const store = await openNotesStore(path);
  try {
    const parts: string[] = [];
    const counts = await exportRecords(store, {
      write: (text) => Promise.resolve(void parts.push(text)),
    }, { target: { kind: "all" }, format: "json", actor: "cli" });
    assert.deepEqual(counts, {
      users: 2,
      groups: 1,
      notes_entries: 3,
      notes_shared: 2,
    });
    const document = JSON.parse(parts.join(""));
    assert.equal(document.notes_shared.length, 2);
    const [entry] = await store.recentAudit(1);
    assert.equal(entry?.records, 8);
  } finally {
    await store.close();
  }
});

Deno.test("inspect shows a person's rows in every table and the summary counts every table", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const one = await cli(path, "inspect", "--user", "1");
  assert.equal(one.code, 0, one.stderr);
  assert.match(
    one.stdout,
    /^user 1\n {2}username: +\(none\)\n {2}first name: +Alice\n/,
  );
  assert.match(
    one.stdout,
    /\nnote 1,10\n {2}text: +alice private\n {2}created at: +\d{4}-/,
  );
  assert.match(one.stdout, /\nshared note -100,1\n {2}text: +alice shared\n/);
  const summary = await cli(path, "inspect");
  assert.equal(summary.code, 0, summary.stderr);
  assert.match(
    summary.stdout,
    /\n {2}schema version: +8\n {2}notes schema version: +1\n {2}users: +2\n {2}groups: +1\n {2}notes_entries: +3\n {2}notes_shared: +2\n/,
  );
  const migrated = await cli(path, "migrate");
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(
    migrated.stdout,
    /^schema version \d+\nnotes schema version 1\n$/,
  );
});

Deno.test("purge deletes a person's rows in every plugin table and says how many of each", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const shown = await cli(path, "purge", "--user", "1", "--dry-run");
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(
    shown.stdout,
    /\nto delete: 1 user, 2 notes and 1 shared note\n$/,
  );
  assert.deepEqual(storedOwners(path, "notes_entries"), [ALICE, ALICE, BOB]);

  const purged = await cli(path, "purge", "--user", "1", "--yes");
  assert.equal(purged.code, 0, purged.stderr);
  assert.equal(
    purged.stderr,
    "Deleted user 1 (1 user, 2 notes and 1 shared note)\n",
  );
  assert.deepEqual(storedOwners(path, "notes_entries"), [BOB]);
  assert.deepEqual(storedOwners(path, "notes_shared"), [BOB]);
});

Deno.test("purging a group deletes what its members stored in it, and nothing of theirs elsewhere", async () => {
  await using dir = await tempDir();
  const path = await seeded(dir.path);
  const purged = await cli(path, "purge", "--group", String(GROUP), "--yes");
  assert.equal(purged.code, 0, purged.stderr);
  assert.equal(
    purged.stderr,
    `Deleted group ${GROUP} (1 group and 2 shared notes)\n`,
  );
  assert.deepEqual(storedOwners(path, "notes_shared"), []);
  assert.deepEqual(storedOwners(path, "notes_entries"), [ALICE, ALICE, BOB]);

  const all = await cli(path, "purge", "--all", "--yes");
  assert.equal(all.code, 0, all.stderr);
  assert.equal(
    all.stderr,
    "Deleted 5 records (2 users, 0 groups, 3 notes and 0 shared notes)\n",
  );
  assert.deepEqual(storedOwners(path, "notes_entries"), []);
});
