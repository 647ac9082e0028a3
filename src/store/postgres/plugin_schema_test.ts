import assert from "node:assert/strict";
import { SchemaError } from "../../base/errors.ts";
import { catalogOf, type Row } from "../../base/tables.ts";
import {
  FieldCipher,
  generateKey,
  valueKeyId,
} from "../../crypto/field_cipher.ts";
import { DamagedRecordError, FieldCodec } from "../../crypto/field_codec.ts";
import { NOTES_DATA } from "../../../examples/notes/data.ts";
import { execPg, type TestDatabase } from "../../../tests/_pg.ts";
import {
  NOTE_ROWS,
  NOTE_TEXTS,
  noteInserts,
  NOTES_CATALOG,
  pluginWithMigrations,
} from "../_plugin_fixtures.ts";
import { loadMigrations } from "../migrations.ts";
import { StoreError } from "../store.ts";
import { openPostgresStore, POSTGRES_MIGRATIONS } from "./open.ts";
import { pgCase } from "./_test_support.ts";

function query(db: TestDatabase, sql: string): Promise<Row[]> {
  return execPg(
    db,
    async (pg) => (await pg.unsafe(sql)).map((row) => ({ ...row }) as Row),
  );
}

function exec(
  db: TestDatabase,
  sql: string,
  params: (string | number | null)[] = [],
): Promise<unknown> {
  return execPg(db, (pg) => pg.unsafe(sql, params));
}

async function insertNotes(db: TestDatabase, cipher?: FieldCipher) {
  for (const { sql, params } of noteInserts(cipher, (i) => `$${i}`)) {
    await exec(db, sql, params);
  }
}

pgCase(
  "a database from before plugins upgrades in place, its versions becoming the core's",
  async (db) => {
    // Applied by hand: today's store does not run on so old a schema.
    const old = (await loadMigrations(POSTGRES_MIGRATIONS)).slice(0, 5);
    for (const { version, name, sql } of old) {
      await exec(db, sql);
      await exec(
        db,
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)",
        [version, name],
      );
    }
    await exec(
      db,
      "INSERT INTO users (id, first_name, registered_at) VALUES (1, 'Ann', 1700)",
    );
    await exec(
      db,
      "INSERT INTO audit_log (at, actor, action, kind, subject, records) VALUES (1702, 'cli', 'purge', 'user', 'hash', 1)",
    );
    const store = await openPostgresStore(db.location.connection, {
      catalog: NOTES_CATALOG,
    });
    assert.equal(await store.schemaVersion(), 8);
    await store.close();
    assert.deepEqual(
      await query(
        db,
        "SELECT namespace, version, name FROM schema_migrations ORDER BY namespace, version",
      ),
      [
        ...(await loadMigrations(POSTGRES_MIGRATIONS)).map((
          { version, name },
        ) => ({ namespace: "core", version, name })),
        { namespace: "notes", version: 1, name: "notes" },
      ],
    );
    assert.deepEqual(
      await query(
        db,
        `SELECT a.attname AS name FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = 'schema_migrations'::regclass AND i.indisprimary
         ORDER BY a.attname`,
      ),
      [{ name: "namespace" }, { name: "version" }],
    );
    assert.deepEqual(await query(db, "SELECT id, first_name FROM users"), [
      { id: "1", first_name: "Ann" },
    ]);
    assert.deepEqual(await query(db, "SELECT subject FROM audit_log"), [
      { subject: "hash" },
    ]);
  },
);

pgCase(
  "a plugin's migrations are numbered on their own and applied once, after the core's",
  async (db) => {
    const counter = await pluginWithMigrations("counter", {
      "0001_state.sql": "CREATE TABLE counter_state (n INTEGER NOT NULL);",
      "0002_seed.sql": "INSERT INTO counter_state (n) VALUES (41);",
      "0003_more.sql": "UPDATE counter_state SET n = n + 1;",
    }, { bookkeeping: ["counter_state"] });
    try {
      const catalog = catalogOf([NOTES_DATA, counter.plugin]);
      await (await openPostgresStore(db.location.connection)).close();
      await (await openPostgresStore(db.location.connection, { catalog }))
        .close();
      const store = await openPostgresStore(db.location.connection, {
        catalog,
      });
      assert.deepEqual((await store.summary()).versions, {
        core: 8,
        counter: 3,
        notes: 1,
      });
      await store.close();
      assert.deepEqual(await query(db, "SELECT n FROM counter_state"), [
        { n: 42 },
      ]);
      assert.deepEqual(
        await query(
          db,
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
  },
);

pgCase(
  "a plugin's failing migration names the plugin and rolls back",
  async (db) => {
    const broken = await pluginWithMigrations("broken", {
      "0001_fine.sql": "CREATE TABLE broken_t (x INTEGER);",
      "0002_bad.sql": "CREATE TABLE broken_u (x INTEGER); THIS IS NOT SQL",
    }, { bookkeeping: ["broken_t", "broken_u"] });
    try {
      await assert.rejects(
        openPostgresStore(db.location.connection, {
          catalog: catalogOf([broken.plugin]),
        }),
        (error: Error) =>
          error instanceof StoreError &&
          /Plugin "broken"'s migration 2 "bad" failed/.test(error.message),
      );
      assert.deepEqual(
        await query(
          db,
          "SELECT version FROM schema_migrations WHERE namespace = 'broken'",
        ),
        [{ version: 1 }],
      );
      assert.deepEqual(
        await query(db, "SELECT to_regclass('broken_u') AS t"),
        [{ t: null }],
      );
    } finally {
      await broken.remove();
    }
  },
);

pgCase(
  "a table nobody describes, or a drifted description, stops the open with one line",
  async (db) => {
    const connection = db.location.connection;
    await (await openPostgresStore(connection, { catalog: NOTES_CATALOG }))
      .close();
    await assert.rejects(
      openPostgresStore(connection),
      (error: Error) =>
        error instanceof SchemaError &&
        error.message ===
          `Table "notes_entries" in the database is not described by any installed plugin: describe its personal data in the plugin's tables, or declare it as bookkeeping if it holds none, or install again the plugin that made it, or drop the table`,
    );
    // Another schema is not this bot's: only the current one is checked.
    await exec(db, "CREATE SCHEMA other");
    await exec(db, "CREATE TABLE other.elsewhere (user_id BIGINT)");
    await (await openPostgresStore(connection, { catalog: NOTES_CATALOG }))
      .close();
    await exec(db, "CREATE TABLE tracking (user_id BIGINT)");
    await assert.rejects(
      openPostgresStore(connection, { catalog: NOTES_CATALOG }),
      (error: Error) =>
        error instanceof SchemaError &&
        /^Table "tracking" /.test(error.message),
    );
    await exec(db, "DROP TABLE tracking");
    await exec(db, "ALTER TABLE notes_shared ADD COLUMN color TEXT");
    await assert.rejects(
      openPostgresStore(connection, { catalog: NOTES_CATALOG }),
      (error: Error) =>
        error instanceof SchemaError &&
        error.message ===
          `Table "notes_shared" does not match its description: the database has column "color", which it does not describe; describe exactly the columns its migrations create`,
    );
  },
);

pgCase(
  "a column of another type or nullable against its description, a view or a materialized view stops the open",
  async (db) => {
    const connection = db.location.connection;
    await (await openPostgresStore(connection, { catalog: NOTES_CATALOG }))
      .close();
    await exec(db, "CREATE VIEW notes_texts AS SELECT text FROM notes_entries");
    await assert.rejects(
      openPostgresStore(connection, { catalog: NOTES_CATALOG }),
      (error: Error) =>
        error instanceof SchemaError &&
        /^View "notes_texts" in the database is not described/.test(
          error.message,
        ),
    );
    await exec(db, "DROP VIEW notes_texts");
    await exec(
      db,
      "CREATE MATERIALIZED VIEW notes_copy AS SELECT user_id FROM notes_entries",
    );
    await assert.rejects(
      openPostgresStore(connection, { catalog: NOTES_CATALOG }),
      (error: Error) =>
        error instanceof SchemaError &&
        /^View "notes_copy" in the database/.test(error.message),
    );
    await exec(db, "DROP MATERIALIZED VIEW notes_copy");
    await exec(db, "ALTER TABLE notes_shared ALTER COLUMN shared_at TYPE text");
    await assert.rejects(
      openPostgresStore(connection, { catalog: NOTES_CATALOG }),
      (error: Error) =>
        error instanceof SchemaError &&
        error.message ===
          `Table "notes_shared" column "shared_at" does not match its description: it is described as time NOT NULL but migrated as text NOT NULL; never change a landed column's type, add a new column with a new migration`,
    );
    await exec(
      db,
      "ALTER TABLE notes_shared ALTER COLUMN shared_at TYPE bigint USING shared_at::bigint",
    );
    await exec(db, "ALTER TABLE notes_shared ALTER COLUMN text DROP NOT NULL");
    await assert.rejects(
      openPostgresStore(connection, { catalog: NOTES_CATALOG }),
      (error: Error) =>
        error instanceof SchemaError &&
        /column "text" .* described as text NOT NULL but migrated as text nullable;/
          .test(error.message),
    );
    await exec(db, "ALTER TABLE notes_shared ALTER COLUMN text SET NOT NULL");
    await (await openPostgresStore(connection, { catalog: NOTES_CATALOG }))
      .close();
  },
);

pgCase(
  "the first encryption and a rotation go over the plugin's encrypted columns, leaving a damaged row as it is",
  async (db) => {
    const connection = db.location.connection;
    await (await openPostgresStore(connection, { catalog: NOTES_CATALOG }))
      .close();
    await insertNotes(db);
    const first = FieldCipher.fromKeySync(generateKey());
    const progress: [number, number][] = [];
    const store = await openPostgresStore(connection, {
      catalog: NOTES_CATALOG,
      cipher: first,
      onProgress: (done, total) => progress.push([done, total]),
    });
    try {
      assert.deepEqual(progress.at(-1), [3, 3]);
      assert.deepEqual(await leakedNotes(db), []);
      const stored = await storedRows(db);
      assert.deepEqual(stored.map((row) => valueKeyId(String(row.text))), [
        first.keyId,
        first.keyId,
        first.keyId,
      ]);
      const codec = new FieldCodec(first);
      assert.deepEqual(
        stored.map((row, i) => codec.decodeRowSync(NOTE_ROWS[i]!.table, row)),
        NOTE_ROWS.map(({ row }) => row),
      );

      const [a] = stored.map((row) => String(row.text));
      await exec(db, "UPDATE notes_entries SET text = $1 WHERE note_id = 11", [
        a!,
      ]);
      const next = FieldCipher.fromKeySync(generateKey());
      const damaged: DamagedRecordError[] = [];
      const result = await store.rotateKey(next, {
        onDamaged: (error) => damaged.push(error),
      });
      assert.equal(result.records, 2);
      assert.deepEqual(
        damaged.map((error) => [error.table, error.key, error.columns]),
        [["notes_entries", "8000000000123,11", ["text"]]],
      );
      const after = await storedRows(db);
      assert.equal(after[1]!.text, a, "the damaged row stays as it was");
      const reread = new FieldCodec(next);
      for (const i of [0, 2]) {
        assert.equal(valueKeyId(String(after[i]!.text)), next.keyId);
        assert.deepEqual(
          reread.decodeRowSync(NOTE_ROWS[i]!.table, after[i]!),
          NOTE_ROWS[i]!.row,
        );
      }
    } finally {
      await store.close();
    }
  },
);

// Every note row as stored: both entries in key order, then the shared one,
// with ids as numbers.
async function storedRows(db: TestDatabase): Promise<Row[]> {
  const rows = [
    ...await query(db, "SELECT * FROM notes_entries ORDER BY user_id, note_id"),
    ...await query(db, "SELECT * FROM notes_shared ORDER BY chat_id, user_id"),
  ];
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map((
        [key, value],
      ) => [key, key === "text" ? value : Number(value)]),
    )
  );
}

// Which note texts are in the plugin tables' files as the server wrote
// them (after a checkpoint): the first encryption leaves none behind.
async function leakedNotes(db: TestDatabase): Promise<string[]> {
  const [row] = await execPg(db, async (sql) => {
    await sql`CHECKPOINT`;
    return await sql`SELECT current_setting('data_directory') AS dir,
      pg_relation_filepath('notes_entries') AS entries,
      pg_relation_filepath('notes_shared') AS shared`;
  });
  let text = "";
  for (const file of [row!.entries, row!.shared] as string[]) {
    text += new TextDecoder().decode(
      await Deno.readFile(`${row!.dir}/${file}`),
    );
  }
  return NOTE_TEXTS.filter((note) => text.includes(note));
}
