import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { subjectRef } from "../src/store/audit.ts";
import { loadMigrations } from "../src/store/migrations.ts";
import { type Catalog, catalogOf } from "../src/base/tables.ts";
import { NOTES_DATA } from "../examples/notes/data.ts";
import { installedCatalog } from "../plugins.ts";

// What plugins.ts installs: the policy must cover every table of it.
const INSTALLED_CATALOG = installedCatalog();

/**
 * Every `table.column` of the real SQLite schema that the catalog's
 * migrations make: the project's own, then each plugin's folder.
 */
async function migratedColumns(catalog: Catalog): Promise<Set<string>> {
  const db = new DatabaseSync(":memory:");
  try {
    for (const source of catalog.migrations) {
      if (source.sqlite === undefined) continue;
      for (const migration of await loadMigrations(source.sqlite)) {
        db.exec(migration.sql);
      }
    }
    const columns = new Set<string>();
    const tables = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    ).all();
    for (const { name } of tables) {
      for (const column of db.prepare(`PRAGMA table_info("${name}")`).all()) {
        columns.add(`${name}.${column.name}`);
      }
    }
    return columns;
  } finally {
    db.close();
  }
}

// Every `table.column` PRIVACY.md names in the first cell of a table row.
function documentedColumns(policy: string): Set<string> {
  const columns = new Set<string>();
  for (const match of policy.matchAll(/^\|\s*`([a-z_]+\.[a-z_]+)`\s*\|/gm)) {
    columns.add(match[1]!);
  }
  return columns;
}

/** Where the privacy policy and what is stored disagree, column by column. */
interface PolicyDrift {
  /** Described by a plugin or kept in a bookkeeping table, but not in the policy. */
  undocumented: string[];
  /** In the policy, but neither described nor a bookkeeping table's column. */
  unstored: string[];
  /** Described, but no migration makes the column: the description lies. */
  unmigrated: string[];
  /** Made by a migration in a table neither described nor bookkeeping. */
  undeclared: string[];
}

/**
 * Checks the policy against the catalog: it must document exactly the
 * described columns of every installed table plus the bookkeeping tables'
 * migrated columns, and every described column must exist in the schema
 * the catalog's migrations make.
 */
async function policyDrift(
  catalog: Catalog,
  policy: string,
): Promise<PolicyDrift> {
  const migrated = await migratedColumns(catalog);
  const described = new Set(
    catalog.tables.flatMap((table) =>
      table.columns.map((column) => `${table.name}.${column.name}`)
    ),
  );
  const bookkeeping = new Set(catalog.bookkeeping);
  const kept = [...migrated].filter((column) =>
    bookkeeping.has(column.split(".")[0]!)
  );
  const expected = new Set([...described, ...kept]);
  const documented = documentedColumns(policy);
  const describedTables = new Set(catalog.tables.map((table) => table.name));
  return {
    undocumented: [...expected].filter((column) => !documented.has(column)),
    unstored: [...documented].filter((column) => !expected.has(column)),
    unmigrated: [...described].filter((column) => !migrated.has(column)),
    undeclared: [...migrated].filter((column) => {
      const table = column.split(".")[0]!;
      return !describedTables.has(table) && !bookkeeping.has(table);
    }),
  };
}

// The sentence PRIVACY.md may hold only while no plugin table is installed.
const NOTHING_BEYOND =
  /The features installed now store nothing beyond\s+the two tables above\./;

/**
 * The policy's claims the catalog makes false: "nothing beyond the two
 * tables above" once a plugin with tables is installed.
 */
function falseClaims(catalog: Catalog, policy: string): string[] {
  const plugin = catalog.tables.some((table) =>
    table.name !== "users" && table.name !== "groups"
  );
  return plugin && NOTHING_BEYOND.test(policy)
    ? ["The features installed now store nothing beyond the two tables above."]
    : [];
}

async function policy(): Promise<string> {
  return await Deno.readTextFile(new URL("../PRIVACY.md", import.meta.url));
}

Deno.test("PRIVACY.md documents exactly the installed tables' described columns and the bookkeeping, all of them migrated", async () => {
  const drift = await policyDrift(INSTALLED_CATALOG, await policy());
  assert.ok(
    (await migratedColumns(INSTALLED_CATALOG)).has("users.first_name"),
    "the schema was not read",
  );
  assert.deepEqual(drift, {
    undocumented: [],
    unstored: [],
    unmigrated: [],
    undeclared: [],
  });
});

Deno.test("PRIVACY.md claims nothing the installed plugins make false", async () => {
  assert.deepEqual(falseClaims(INSTALLED_CATALOG, await policy()), []);
});

Deno.test("with a plugin table installed, the sentence that features store nothing more is a false claim", () => {
  // As PRIVACY.md says it while no plugin stores anything.
  const text =
    "with the\nsame three columns as above. The features installed now store nothing beyond\nthe two tables above.\n";
  assert.equal(falseClaims(catalogOf([NOTES_DATA]), text).length, 1);
  assert.deepEqual(falseClaims(catalogOf([]), text), []);
});

Deno.test("installing the notes plugin without documenting it fails the policy check, naming its columns", async () => {
  // The policy without its notes rows, should plugins.ts install notes.
  const undocumented = (await policy()).replace(/^\|\s*`notes_[^\n]*\n/gm, "");
  const drift = await policyDrift(catalogOf([NOTES_DATA]), undocumented);
  assert.deepEqual(drift.undocumented.sort(), [
    "notes_entries.created_at",
    "notes_entries.note_id",
    "notes_entries.text",
    "notes_entries.user_id",
    "notes_shared.chat_id",
    "notes_shared.shared_at",
    "notes_shared.text",
    "notes_shared.user_id",
  ]);
  assert.deepEqual(drift.unmigrated, []);
});

Deno.test("a description naming a column no migration makes is reported", async () => {
  const [entries, shared] = NOTES_DATA.tables!;
  const drifted = catalogOf([{
    ...NOTES_DATA,
    tables: [
      {
        ...entries!,
        columns: [...entries!.columns, {
          name: "mood",
          type: "text",
          meaning: "How they felt.",
        }],
      },
      shared!,
    ],
  }]);
  const drift = await policyDrift(drifted, await policy());
  assert.deepEqual(drift.unmigrated, ["notes_entries.mood"]);
});

Deno.test("users and groups store exactly their documented columns, no more", async () => {
  const personal = [...await migratedColumns(INSTALLED_CATALOG)].filter((
    column,
  ) => column.startsWith("users.") || column.startsWith("groups.")).sort();
  assert.deepEqual(personal, [
    "groups.id",
    "groups.registered_at",
    "groups.seen_on",
    "groups.title",
    "groups.type",
    "groups.username",
    "users.first_name",
    "users.id",
    "users.language_code",
    "users.last_name",
    "users.registered_at",
    "users.seen_on",
    "users.username",
  ]);
});

Deno.test("PRIVACY.md lists the day seen as stored only when a retention period is configured", async () => {
  const text = await Deno.readTextFile(
    new URL("../PRIVACY.md", import.meta.url),
  );
  for (const column of ["users.seen_on", "groups.seen_on"]) {
    const row = text.split("\n").find((line) =>
      line.startsWith(`| \`${column}\``)
    );
    assert.match(
      row ?? "",
      /the date only, no time\).*stored only when a retention period is configured \(`RETENTION_DAYS`\), empty otherwise/,
      column,
    );
  }
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
