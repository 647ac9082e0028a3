import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SchemaError } from "../../base/errors.ts";
import { catalogOf, type Row } from "../../base/tables.ts";
import {
  FieldCipher,
  generateKey,
  valueKeyId,
} from "../../crypto/field_cipher.ts";
import { DamagedRecordError, FieldCodec } from "../../crypto/field_codec.ts";
import {
  NOTES_DATA,
  NOTES_ENTRIES,
  NOTES_SHARED,
} from "../../../examples/notes/data.ts";
import {
  NOTE_ROWS,
  NOTE_TEXTS,
  noteInserts,
  NOTES_CATALOG,
  pluginWithMigrations,
} from "../_plugin_fixtures.ts";
import { loadMigrations } from "../migrations.ts";
import { StoreError } from "../store.ts";
import { openSqliteStore } from "./open.ts";
import { withDir } from "./_test_support.ts";

function query(path: string, sql: string): Row[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(sql).all().map((row) => ({ ...row }) as Row);
  } finally {
    db.close();
  }
}

function exec(path: string, sql: string, params: unknown[] = []): void {
  const db = new DatabaseSync(path);
  try {
    db.prepare(sql).run(...params as (string | number | null)[]);
  } finally {
    db.close();
  }
}

function insertNotes(path: string, cipher?: FieldCipher): void {
  for (const { sql, params } of noteInserts(cipher, () => "?")) {
    exec(path, sql, params);
  }
}

// The database the core's migrations 1 to 5 made, with records and an
// audit entry in it, as every database was before plugins.
async function databaseAtVersion5(path: string): Promise<void> {
  // Applied by hand: today's store does not run on so old a schema.
  const db = new DatabaseSync(path);
  try {
    for (const { version, name, sql } of (await loadMigrations()).slice(0, 5)) {
      db.exec(sql);
      db.prepare(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)",
      ).run(version, name);
    }
  } finally {
    db.close();
  }
  exec(
    path,
    "INSERT INTO users (id, first_name, registered_at) VALUES (1, 'Ann', 1700)",
  );
  exec(
    path,
    "INSERT INTO groups (id, title, type, registered_at) VALUES (-5, 'Club', 'group', 1701)",
  );
  exec(
    path,
    "INSERT INTO audit_log (at, actor, action, kind, subject, records) VALUES (1702, 'cli', 'purge', 'user', 'hash', 1)",
  );
}

Deno.test("SQLite: a database from before plugins upgrades in place, its versions becoming the core's", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await databaseAtVersion5(path);
    assert.deepEqual(
      query(path, "SELECT name FROM pragma_table_info('schema_migrations')")
        .map((row) => row.name),
      ["version", "name", "applied_at"],
    );
    const store = await openSqliteStore(path, { catalog: NOTES_CATALOG });
    assert.equal(await store.schemaVersion(), 8);
    await store.close();
    assert.deepEqual(
      query(
        path,
        "SELECT namespace, version, name FROM schema_migrations ORDER BY namespace, version",
      ),
      [
        ...(await loadMigrations()).map(({ version, name }) => ({
          namespace: "core",
          version,
          name,
        })),
        { namespace: "notes", version: 1, name: "notes" },
      ],
    );
    assert.deepEqual(
      query(
        path,
        "SELECT name FROM pragma_table_info('schema_migrations') WHERE pk > 0 ORDER BY pk",
      ).map((row) => row.name),
      ["namespace", "version"],
    );
    assert.deepEqual(query(path, "SELECT id, first_name FROM users"), [
      { id: 1, first_name: "Ann" },
    ]);
    assert.deepEqual(query(path, "SELECT id, title FROM groups"), [
      { id: -5, title: "Club" },
    ]);
    assert.deepEqual(query(path, "SELECT subject, outcome FROM audit_log"), [
      { subject: "hash", outcome: "done" },
    ]);
  });
});

Deno.test("SQLite: a plugin's migrations are numbered on their own and applied once, after the core's", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await (await openSqliteStore(path)).close();
    const counter = await pluginWithMigrations("counter", {
      "0001_state.sql": "CREATE TABLE counter_state (n INTEGER NOT NULL);",
      "0002_seed.sql": "INSERT INTO counter_state (n) VALUES (41);",
      "0003_more.sql": "UPDATE counter_state SET n = n + 1;",
    }, { bookkeeping: ["counter_state"] });
    try {
      const catalog = catalogOf([NOTES_DATA, counter.plugin]);
      await (await openSqliteStore(path, { catalog })).close();
      const store = await openSqliteStore(path, { catalog });
      assert.deepEqual((await store.summary()).versions, {
        core: 8,
        counter: 3,
        notes: 1,
      });
      await store.close();
      assert.deepEqual(query(path, "SELECT n FROM counter_state"), [{ n: 42 }]);
      assert.deepEqual(
        query(
          path,
          "SELECT namespace, max(version) AS version FROM schema_migrations GROUP BY namespace ORDER BY namespace",
        ),
        [
          { namespace: "core", version: 8 },
          { namespace: "counter", version: 3 },
          { namespace: "notes", version: 1 },
        ],
      );
    } finally {
      await counter.remove();
    }
  });
});

Deno.test("SQLite: a plugin's failing migration names the plugin, and its numbering gaps are refused", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    const broken = await pluginWithMigrations("broken", {
      "0001_fine.sql": "CREATE TABLE broken_t (x INTEGER);",
      "0002_bad.sql": "THIS IS NOT SQL",
    }, { bookkeeping: ["broken_t"] });
    const gappy = await pluginWithMigrations("gappy", {
      "0001_one.sql": "SELECT 1;",
      "0003_three.sql": "SELECT 3;",
    });
    try {
      await assert.rejects(
        openSqliteStore(path, { catalog: catalogOf([broken.plugin]) }),
        (error: Error) =>
          error instanceof StoreError &&
          /Plugin "broken"'s migration 2 "bad" failed/.test(error.message),
      );
      assert.deepEqual(
        query(
          path,
          "SELECT version FROM schema_migrations WHERE namespace = 'broken'",
        ),
        [{ version: 1 }],
      );
      await assert.rejects(
        openSqliteStore(path, { catalog: catalogOf([gappy.plugin]) }),
        /Plugin "gappy": migration numbering has a gap or a duplicate at "3_three"/,
      );
    } finally {
      await broken.remove();
      await gappy.remove();
    }
  });
});

Deno.test("SQLite: a table nobody describes or declares stops the open, naming it and what to declare", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await (await openSqliteStore(path, { catalog: NOTES_CATALOG })).close();
    // The notes plugin removed: its tables escape every privacy tool.
    await assert.rejects(
      openSqliteStore(path),
      (error: Error) =>
        error instanceof SchemaError &&
        error.message ===
          `Table "notes_entries" in the database is not described by any installed plugin: describe its personal data in the plugin's tables, or declare it as bookkeeping if it holds none, or install again the plugin that made it, or drop the table`,
    );
    exec(path, "CREATE TABLE tracking (user_id INTEGER, seen_at INTEGER)");
    await assert.rejects(
      openSqliteStore(path, { catalog: NOTES_CATALOG }),
      (error: Error) =>
        error instanceof SchemaError &&
        /^Table "tracking" /.test(error.message),
    );
    exec(path, "DROP TABLE tracking");
    await (await openSqliteStore(path, { catalog: NOTES_CATALOG })).close();
  });
});

Deno.test("SQLite: a description that does not match the migrated table is refused, naming its columns", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await (await openSqliteStore(path, { catalog: NOTES_CATALOG })).close();
    const drifted = {
      ...NOTES_DATA,
      tables: [
        {
          ...NOTES_ENTRIES,
          columns: [
            ...NOTES_ENTRIES.columns.filter((column) =>
              column.name !== "created_at"
            ),
            { name: "mood", type: "text" as const, meaning: "How they felt." },
          ],
        },
        NOTES_SHARED,
      ],
    };
    await assert.rejects(
      openSqliteStore(path, { catalog: catalogOf([drifted]) }),
      (error: Error) =>
        error instanceof SchemaError &&
        error.message ===
          `Table "notes_entries" does not match its description: the database has column "created_at", which it does not describe; it describes column "mood", which the database lacks; describe exactly the columns its migrations create`,
    );
  });
});

Deno.test("SQLite: a column whose type or nullability does not fit its description is refused, naming both", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await (await openSqliteStore(path, { catalog: NOTES_CATALOG })).close();
    const retyped = (column: string, type: "text" | "integer") => ({
      ...NOTES_DATA,
      tables: [
        {
          ...NOTES_ENTRIES,
          columns: NOTES_ENTRIES.columns.map((c) =>
            c.name === column ? { ...c, type, encrypted: false } : c
          ),
        },
        NOTES_SHARED,
      ],
    });
    await assert.rejects(
      openSqliteStore(path, {
        catalog: catalogOf([retyped("text", "integer")]),
      }),
      (error: Error) =>
        error instanceof SchemaError &&
        error.message ===
          `Table "notes_entries" column "text" does not match its description: it is described as integer NOT NULL but migrated as TEXT NOT NULL; never change a landed column's type, add a new column with a new migration`,
    );
    await assert.rejects(
      openSqliteStore(path, {
        catalog: catalogOf([retyped("note_id", "text")]),
      }),
      (error: Error) =>
        error instanceof SchemaError &&
        /column "note_id" .* described as text NOT NULL but migrated as INTEGER NOT NULL;/
          .test(error.message),
    );
    // A column the description says is always given, migrated as nullable.
    exec(path, "DROP TABLE notes_shared");
    exec(
      path,
      "CREATE TABLE notes_shared (chat_id INTEGER NOT NULL, user_id INTEGER NOT NULL, text TEXT, shared_at INTEGER NOT NULL, PRIMARY KEY (chat_id, user_id))",
    );
    await assert.rejects(
      openSqliteStore(path, { catalog: NOTES_CATALOG }),
      (error: Error) =>
        error instanceof SchemaError &&
        error.message ===
          `Table "notes_shared" column "text" does not match its description: it is described as text NOT NULL but migrated as TEXT nullable; never change a landed column's type, add a new column with a new migration`,
    );
  });
});

Deno.test("SQLite: a view nobody declares stops the open like a table", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await (await openSqliteStore(path, { catalog: NOTES_CATALOG })).close();
    exec(
      path,
      "CREATE VIEW notes_texts AS SELECT user_id, text FROM notes_entries",
    );
    await assert.rejects(
      openSqliteStore(path, { catalog: NOTES_CATALOG }),
      (error: Error) =>
        error instanceof SchemaError &&
        /^View "notes_texts" in the database is not described by any installed plugin: .* or drop the view$/
          .test(error.message),
    );
  });
});

Deno.test("SQLite: the first encryption and a rotation go over the plugin's encrypted columns, leaving a damaged row as it is", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bot.db`;
    await (await openSqliteStore(path, { catalog: NOTES_CATALOG })).close();
    insertNotes(path);
    const first = FieldCipher.fromKeySync(generateKey());
    const progress: [number, number][] = [];
    const store = await openSqliteStore(path, {
      catalog: NOTES_CATALOG,
      cipher: first,
      onProgress: (done, total) => progress.push([done, total]),
    });
    assert.deepEqual(progress.at(-1), [3, 3]);
    assert.deepEqual(await leakedNotes(path), []);
    assert.deepEqual(storedTexts(path).map(valueKeyId), [
      first.keyId,
      first.keyId,
      first.keyId,
    ]);
    assert.deepEqual(decoded(path, new FieldCodec(first)), NOTE_ROWS);

    // One shared note's ciphertext moved to another row: it fails its check.
    const [a, b] = storedTexts(path);
    exec(path, "UPDATE notes_entries SET text = ? WHERE note_id = 11", [a]);
    const next = FieldCipher.fromKeySync(generateKey());
    const damaged: DamagedRecordError[] = [];
    const result = await store.rotateKey(next, {
      onDamaged: (error) => damaged.push(error),
    });
    await store.close();
    assert.equal(result.records, 2);
    assert.deepEqual(
      damaged.map((error) => [error.table, error.key, error.columns]),
      [["notes_entries", "8000000000123,11", ["text"]]],
    );
    const [, left, shared] = storedTexts(path);
    assert.equal(left, a, "the damaged row stays as it was");
    assert.notEqual(left, b);
    assert.equal(valueKeyId(shared!), next.keyId);
    const ring = new FieldCodec(next.including(first));
    const reread = new FieldCodec(next);
    assert.deepEqual(
      reread.decodeRowSync(NOTES_SHARED, storedRows(path, "notes_shared")[0]!),
      NOTE_ROWS[2]!.row,
    );
    assert.deepEqual(
      ring.decodeRowSync(NOTES_ENTRIES, storedRows(path, "notes_entries")[0]!),
      NOTE_ROWS[0]!.row,
    );
    assert.equal(
      valueKeyId(String(storedRows(path, "notes_entries")[0]!.text)),
      next.keyId,
    );
  });
});

function storedRows(path: string, table: string): Row[] {
  const order = table === "notes_entries" ? "user_id, note_id" : "chat_id";
  return query(path, `SELECT * FROM ${table} ORDER BY ${order}`);
}

// The stored note texts: both entries in key order, then the shared note.
function storedTexts(path: string): string[] {
  return [
    ...storedRows(path, "notes_entries"),
    ...storedRows(path, "notes_shared"),
  ].map((row) => String(row.text));
}

function decoded(path: string, codec: FieldCodec): typeof NOTE_ROWS {
  return [
    ...storedRows(path, "notes_entries").map((row) => ({
      table: NOTES_ENTRIES,
      row: codec.decodeRowSync(NOTES_ENTRIES, row),
    })),
    ...storedRows(path, "notes_shared").map((row) => ({
      table: NOTES_SHARED,
      row: codec.decodeRowSync(NOTES_SHARED, row),
    })),
  ];
}

// Which note texts are in the file's bytes (or its -wal).
async function leakedNotes(path: string): Promise<string[]> {
  let text = "";
  for (const suffix of ["", "-wal"]) {
    try {
      text += new TextDecoder().decode(await Deno.readFile(path + suffix));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return NOTE_TEXTS.filter((note) => text.includes(note));
}
