// `cli sweep` and `cli decommission` as subprocesses, with the example notes
// plugin installed (tests/_notes_cli.ts), on real SQLite files and the fake
// Bot API.
import assert from "node:assert/strict";
import { tempDir } from "./_db.ts";
import { openNotesStore, storedOwners } from "./_notes.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import {
  runCliProcess,
  spawnCli,
  TEST_DATA_KEY,
  TEST_TOKEN,
} from "./_main_process.ts";
import { dayOf } from "../src/base/days.ts";
import type { RowWrite } from "../src/store/store.ts";

const DAY = 86_400_000;

function notesCli(path: string, args: string[], env = {}) {
  return runCliProcess(["--database", `sqlite:${path}`, ...args], env, {
    script: "tests/_notes_cli.ts",
  });
}

// Ann was seen 60 days ago, Bob today, each with a note and a shared note;
// the group -5 was seen 60 days ago, -6 today.
async function seed(path: string): Promise<void> {
  const store = await openNotesStore(path);
  const user = (id: number) => ({
    id,
    username: null,
    first_name: `U${id}`,
    last_name: null,
    language_code: null,
  });
  const group = (id: number) => ({
    id,
    username: null,
    title: `G${id}`,
    type: "group" as const,
  });
  const note = (user: number, chat: number): RowWrite[] => [
    { table: "notes_entries", row: { user_id: user, note_id: 1, text: "n" } },
    { table: "notes_shared", row: { chat_id: chat, user_id: user, text: "s" } },
  ];
  try {
    await store.register([
      {
        user: user(1),
        group: group(-5),
        seenOn: dayOf(Date.now() - 60 * DAY),
        writes: note(1, -5),
      },
      {
        user: user(2),
        group: group(-6),
        seenOn: dayOf(Date.now()),
        writes: note(2, -6),
      },
    ], 100);
    // Retention was on since long ago.
    await store.applyRetention(30, dayOf(Date.now() - 90 * DAY));
  } finally {
    await store.close();
  }
}

async function ids(path: string, table: "users" | "groups") {
  const store = await openNotesStore(path);
  try {
    const found = [];
    for await (const row of store.iterate(table)) found.push(row.id);
    return found;
  } finally {
    await store.close();
  }
}

async function audit(path: string) {
  const store = await openNotesStore(path);
  try {
    return (await store.recentAudit(10)).map((e) => [
      e.actor,
      e.kind,
      e.reason,
      e.records,
      e.outcome,
    ]);
  } finally {
    await store.close();
  }
}

Deno.test("cli sweep erases exactly the users and groups not seen for RETENTION_DAYS, with their notes; --dry-run only counts", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  await seed(path);
  let result = await notesCli(path, ["sweep", "--dry-run"], {
    RETENTION_DAYS: "30",
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^Would erase 1 user and 1 group not seen since before \d{4}-\d\d-\d\d \(30 days\)\n$/,
  );
  assert.deepEqual(await ids(path, "users"), [1, 2]);

  result = await notesCli(path, ["sweep"], { RETENTION_DAYS: "30" });
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^Erased 1 user and 1 group .*: 4 rows in every table\n$/,
  );
  assert.deepEqual(await ids(path, "users"), [2]);
  assert.deepEqual(await ids(path, "groups"), [-6]);
  assert.deepEqual(storedOwners(path, "notes_entries"), [2]);
  assert.deepEqual(storedOwners(path, "notes_shared"), [2]);
  assert.deepEqual(await audit(path), [["cli", "all", "inactive", 4, "done"]]);

  // Again: nothing more is stale.
  result = await notesCli(path, ["sweep"], { RETENTION_DAYS: "30" });
  assert.match(result.stdout, /^Erased 0 users and 0 groups/);
});

Deno.test("cli sweep without RETENTION_DAYS refuses and changes nothing", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  await seed(path);
  const result = await notesCli(path, ["sweep"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /sweep needs RETENTION_DAYS/);
  assert.deepEqual(await ids(path, "users"), [1, 2]);
  const bad = await notesCli(path, ["sweep"], { RETENTION_DAYS: "soon" });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /RETENTION_DAYS must be a whole number/);
});

Deno.test("cli decommission without confirmation changes nothing (exit 2)", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  await seed(path);
  const result = await notesCli(path, ["decommission"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Refusing to decommission without --yes/);
  assert.deepEqual(await ids(path, "users"), [1, 2]);
  assert.deepEqual(await audit(path), []);
});

Deno.test("cli decommission --yes erases every record and note, writes the final entry, cleans up at Telegram and destroys the key file", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  await seed(path);
  const keyFile = `${dir.path}/data.key`;
  await Deno.writeTextFile(keyFile, `${TEST_DATA_KEY}\n`, { mode: 0o600 });
  const api = new FakeBotApi();
  api.webhookUrl = "https://bot.example.com/webhook";
  try {
    const result = await notesCli(path, [
      "decommission",
      "--yes",
      "--destroy-key",
    ], {
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATA_ENCRYPTION_KEY: "",
      DATA_KEY_FILE: keyFile,
    });
    assert.equal(result.code, 0, result.stderr);
    const warned = result.stderr.indexOf(
      "every backup made with this key becomes unreadable",
    );
    const erased = result.stderr.indexOf("Erased 8 records");
    assert.ok(warned >= 0 && erased > warned, result.stderr);
    assert.doesNotMatch(result.stderr, new RegExp(TEST_TOKEN.split(":")[1]!));
    assert.equal(api.webhookUrl, "");
    assert.equal(api.callsOf("deleteWebhook").length, 1);
    // The default menu and English's, Portuguese's: every scope.
    assert.equal(api.callsOf("deleteMyCommands").length, 6);
    await assert.rejects(Deno.stat(keyFile), Deno.errors.NotFound);
  } finally {
    await api.close();
  }
  // Read with the key it had: nothing is left, and the end is on record.
  const store = await openNotesStore(path);
  try {
    for (const table of store.tables) {
      const rows = [];
      for await (const row of store.iterate(table.name)) rows.push(row);
      assert.deepEqual(rows, [], table.name);
    }
    const [entry] = await store.recentAudit(1);
    assert.deepEqual(
      [entry?.actor, entry?.kind, entry?.reason, entry?.records],
      ["cli", "all", "decommission", 8],
    );
  } finally {
    await store.close();
  }
});

Deno.test("cli decommission --destroy-key refuses when the key is not in a file", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  await seed(path);
  const result = await notesCli(path, [
    "decommission",
    "--yes",
    "--destroy-key",
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--destroy-key destroys the key file/);
  assert.deepEqual(await ids(path, "users"), [1, 2]);
});

Deno.test("a sweep killed with kill -9 leaves every record whole or gone, its entry true, and the next run finishes it", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const count = 30_000;
  const store = await openNotesStore(path);
  try {
    await store.register(
      Array.from({ length: count }, (_, i) => ({
        user: {
          id: 10_000 + i,
          username: null,
          first_name: "U",
          last_name: null,
          language_code: null,
        },
        seenOn: dayOf(Date.now() - 60 * DAY),
        writes: [{
          table: "notes_entries",
          row: { user_id: 10_000 + i, note_id: 1, text: "n" },
        }],
      })),
      100,
    );
    await store.applyRetention(30, dayOf(Date.now() - 90 * DAY));
  } finally {
    await store.close();
  }
  const child = await spawnCli(
    ["--database", `sqlite:${path}`, "sweep"],
    { RETENTION_DAYS: "30" },
    { script: "tests/_notes_cli.ts" },
  );
  // Killed once the first pages are committed, long before the last.
  while ((await ids(path, "users")).length === count) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel();
  await child.stderr.cancel();
  const users = new Set(await ids(path, "users"));
  const owners = storedOwners(path, "notes_entries");
  assert.deepEqual(owners, [...users].sort((a, b) => Number(a) - Number(b)));
  const rows = 2 * (count - users.size);
  const [entry] = await audit(path);
  assert.deepEqual(entry, ["cli", "all", "inactive", rows, "started"]);

  const again = await notesCli(path, ["sweep"], { RETENTION_DAYS: "30" });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await ids(path, "users"), []);
  assert.deepEqual(storedOwners(path, "notes_entries"), []);
});
