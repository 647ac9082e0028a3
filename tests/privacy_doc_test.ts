import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { subjectRef } from "../src/store/audit.ts";
import { loadMigrations } from "../src/store/migrations.ts";

// Every column the migrations create, read back from a real SQLite schema.
async function migratedColumns(): Promise<Set<string>> {
  const db = new DatabaseSync(":memory:");
  for (const migration of await loadMigrations()) db.exec(migration.sql);
  const columns = new Set<string>();
  const tables = db.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
  ).all();
  for (const { name } of tables) {
    for (const column of db.prepare(`PRAGMA table_info("${name}")`).all()) {
      columns.add(`${name}.${column.name}`);
    }
  }
  db.close();
  return columns;
}

// Every `table.column` PRIVACY.md names in the first cell of a table row.
async function documentedColumns(): Promise<Set<string>> {
  const text = await Deno.readTextFile(
    new URL("../PRIVACY.md", import.meta.url),
  );
  const columns = new Set<string>();
  for (const match of text.matchAll(/^\|\s*`([a-z_]+\.[a-z_]+)`\s*\|/gm)) {
    columns.add(match[1]!);
  }
  return columns;
}

Deno.test("PRIVACY.md documents exactly the columns the migrations create", async () => {
  const migrated = await migratedColumns();
  const documented = await documentedColumns();
  assert.ok(migrated.has("users.first_name"), "the schema was not read");
  const undocumented = [...migrated].filter((column) =>
    !documented.has(column)
  );
  const missing = [...documented].filter((column) => !migrated.has(column));
  assert.deepEqual(undocumented, [], "columns stored but not in PRIVACY.md");
  assert.deepEqual(missing, [], "columns in PRIVACY.md that do not exist");
});

Deno.test("users and groups store exactly their documented columns, no more", async () => {
  const personal = [...await migratedColumns()].filter((column) =>
    column.startsWith("users.") || column.startsWith("groups.")
  ).sort();
  assert.deepEqual(personal, [
    "groups.id",
    "groups.registered_at",
    "groups.title",
    "groups.type",
    "groups.username",
    "users.first_name",
    "users.id",
    "users.language_code",
    "users.last_name",
    "users.registered_at",
    "users.username",
  ]);
});

Deno.test("PRIVACY.md gives the audit hash's real length and names the command that finds entries by id", async () => {
  const text = await Deno.readTextFile(
    new URL("../PRIVACY.md", import.meta.url),
  );
  const hash = subjectRef(new Uint8Array(32), { kind: "user", id: 1 })!;
  assert.match(hash, /^[0-9a-f]+$/);
  assert.match(
    text,
    new RegExp(
      `first\\s+${
        hash.length * 4
      }\\s+bits, written as ${hash.length}\\s+hexadecimal\\s+characters`,
    ),
  );
  assert.match(text, /`audit`\s+command takes the id/);
});

Deno.test("PRIVACY.md says what deletion leaves behind on each engine instead of claiming it is zeroed", async () => {
  const text = await Deno.readTextFile(
    new URL("../PRIVACY.md", import.meta.url),
  );
  const section = /## What an erasure removes\n([\s\S]*?)\n## /.exec(text)?.[1];
  assert.ok(section !== undefined, "the section is missing");
  assert.doesNotMatch(text, /values are zeroed in the database file/);
  assert.match(section, /\*\*SQLite\*\*[\s\S]*`secure_delete`/);
  assert.match(
    section,
    /\*\*PostgreSQL\*\*[\s\S]*`VACUUM`[\s\S]*`compact` command rewrites the tables into new files/,
  );
  assert.match(section, /write-ahead log \(`pg_wal`\)/);
  assert.match(section, /backups, dumps and disk snapshots/);
  assert.match(section, /\(docs\/privacy-requests\.md\)/);
  // The setting the text relies on is really made.
  const engine = await Deno.readTextFile(
    new URL("../src/store/sqlite/open.ts", import.meta.url),
  );
  assert.match(engine, /PRAGMA secure_delete = ON/);
});
