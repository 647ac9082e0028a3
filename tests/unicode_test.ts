import assert from "node:assert/strict";
import { parse as parseCsv } from "csv-parse/sync";
import { openTestStore, tempDir } from "./_db.ts";
import { runCliProcess } from "./_main_process.ts";
import { createTestDatabase, pgTest } from "./_pg.ts";
import {
  gauntletGroups,
  gauntletUsers,
} from "../src/store/_unicode_gauntlet.ts";
import { registerGroup, registerUser } from "../src/store/_seed.ts";

const users = gauntletUsers();
// Exports list groups by id, the most negative first.
const groups = gauntletGroups().sort((a, b) => a.id - b.id);

async function exported(
  database: string,
  format: string,
  env: Record<string, string> = {},
): Promise<string> {
  const args = ["--database", database, "export", "--all", "--format", format];
  if (format === "csv") args.push("--keep-formulas");
  const result = await runCliProcess(args, env);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

// Every format of the export, read back, must hold the gauntlet exactly.
async function assertExportsExact(
  database: string,
  env: Record<string, string> = {},
): Promise<void> {
  const json = JSON.parse(await exported(database, "json", env));
  assert.deepEqual(strip(json.users), users);
  assert.deepEqual(strip(json.groups), groups);

  const lines = (await exported(database, "ndjson", env)).trimEnd().split(
    "\n",
  ).map((line) => JSON.parse(line));
  assert.deepEqual(
    strip(lines.filter((line) => line.kind === "user")),
    users,
  );
  assert.deepEqual(
    strip(lines.filter((line) => line.kind === "group")),
    groups,
  );

  const rows: Record<string, string>[] = parseCsv(
    await exported(database, "csv", env),
    { columns: true },
  );
  const csvUsers = rows.filter((row) => row.kind === "user").map((row) => ({
    id: Number(row.id),
    username: row.username,
    first_name: row.first_name,
    last_name: row.last_name,
    language_code: row.language_code,
  }));
  assert.deepEqual(csvUsers, users);
  const csvGroups = rows.filter((row) => row.kind === "group").map((row) => ({
    id: Number(row.id),
    username: row.username,
    title: row.title,
    type: row.type,
  }));
  assert.deepEqual(csvGroups, groups);
}

function strip(records: Record<string, unknown>[]): Record<string, unknown>[] {
  return records.map((
    { kind: _kind, registered_at: _at, seen_on: _seen, ...rest },
  ) => rest);
}

pgTest(
  "every Unicode value comes back byte for byte through every export format, copy and rotation",
  async () => {
    await using dir = await tempDir();
    await using pg = await createTestDatabase();
    const path = `${dir.path}/bot.db`;
    const store = await openTestStore(path);
    for (const user of users) await registerUser(store, user, 1_700_000_000);
    for (const group of groups) {
      await registerGroup(store, group, 1_700_000_000);
    }
    await store.close();
    await assertExportsExact(`sqlite:${path}`);

    const copied = await runCliProcess(
      ["--database", `sqlite:${path}`, "copy", "--to", pg.url],
    );
    assert.equal(copied.code, 0, copied.stderr);
    await assertExportsExact(pg.url);

    const newKey = (await runCliProcess(["keygen"])).stdout.trim();
    for (const database of [`sqlite:${path}`, pg.url]) {
      const rotated = await runCliProcess(
        ["--database", database, "rotate-key"],
        { NEW_DATA_ENCRYPTION_KEY: newKey },
      );
      assert.equal(rotated.code, 0, rotated.stderr);
      await assertExportsExact(database, { DATA_ENCRYPTION_KEY: newKey });
    }
  },
);
