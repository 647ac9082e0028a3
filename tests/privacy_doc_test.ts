import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
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
