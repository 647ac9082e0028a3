import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { catalogOf, type Row } from "../src/base/tables.ts";
import { FieldCodec } from "../src/crypto/field_codec.ts";
import { copy } from "../src/cli/copy.ts";
import { memoryIo } from "../src/cli/_memory_io.ts";
import { parseDatabaseUrl } from "../src/config/database_url.ts";
import { openSqliteStore } from "../src/store/sqlite/open.ts";
import { openPostgresStore } from "../src/store/postgres/open.ts";
import {
  noteInserts,
  pluginWithMigrations,
} from "../src/store/_plugin_fixtures.ts";
import { USERS } from "../src/base/tables.ts";
import { NOTES_DATA } from "../examples/notes/data.ts";
import { tempDir, testCipher } from "./_db.ts";
import {
  createTestDatabase,
  execPg,
  pgTest,
  type TestDatabase,
} from "./_pg.ts";

const CARRIED = ["users", "groups", "notes_entries", "notes_shared"];

// Every row of the plugin's and the core's record tables and of the
// plugin's bookkeeping, as stored, in a stable order, values as text.
function sqliteRows(path: string): Record<string, Row[]> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return Object.fromEntries(
      [...CARRIED, "counter_state"].map((table) => [
        table,
        db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all().map(asText),
      ]),
    );
  } finally {
    db.close();
  }
}

async function postgresRows(pg: TestDatabase): Promise<Record<string, Row[]>> {
  const rows: Record<string, Row[]> = {};
  await execPg(pg, async (sql) => {
    for (const table of [...CARRIED, "counter_state"]) {
      rows[table] = (await sql.unsafe(`SELECT * FROM ${table} ORDER BY 1, 2`))
        .map(asText);
    }
  });
  return rows;
}

function asText(row: Record<string, unknown>): Row {
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [
      key,
      value === null
        ? null
        : value instanceof Uint8Array
        ? `bytes:${Array.from(value).join(",")}`
        : String(value),
    ]),
  );
}

pgTest(
  "copy carries a plugin's rows and bookkeeping from SQLite to PostgreSQL and back, byte for byte",
  async () => {
    await using dir = await tempDir();
    await using pg = await createTestDatabase();
    const counter = await pluginWithMigrations("counter", {
      "0001_state.sql":
        "CREATE TABLE counter_state (name TEXT PRIMARY KEY, n BIGINT NOT NULL);",
    }, { bookkeeping: ["counter_state"] });
    try {
      const catalog = catalogOf([NOTES_DATA, counter.plugin]);
      const cipher = testCipher();
      const path = `${dir.path}/bot.db`;
      await (await openSqliteStore(path, { catalog, cipher })).close();
      const db = new DatabaseSync(path);
      for (const { sql, params } of noteInserts(cipher, () => "?")) {
        db.prepare(sql).run(...params);
      }
      const ann = new FieldCodec(cipher).encodeRowSync(USERS, {
        id: 1,
        username: "ann",
        first_name: "Ann",
        last_name: null,
        language_code: "en",
        registered_at: 1_700,
        seen_on: "2026-11-30",
      });
      db.prepare(
        "INSERT INTO users (id, username, first_name, last_name, language_code, registered_at, seen_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ).run(
        ...USERS.columns.map((column) => ann[column.name] ?? null),
      );
      db.exec(
        "INSERT INTO counter_state (name, n) VALUES ('visits', 7), ('zoë', 8000000000123)",
      );
      db.close();
      const before = sqliteRows(path);
      assert.equal(before.notes_entries!.length, 2);

      const source = await openSqliteStore(path, { catalog, cipher });
      const io = memoryIo({ stderrIsTerminal: true });
      try {
        await copy(source, {
          from: parseDatabaseUrl(path),
          to: pg.url,
          io,
          catalog,
        });
      } finally {
        await source.close();
      }
      // 1 user, 3 notes, 2 bookkeeping rows, no audit entry.
      assert.match(io.err.join(""), /Copying: 0 of 6 records/);
      assert.match(
        io.err.at(-1)!,
        /^Copied 6 records and 0 audit entries to /,
      );
      assert.deepEqual(await postgresRows(pg), before);

      // A second copy into the same target is refused: it holds plugin rows.
      await execPg(pg, (sql) => sql`DELETE FROM users`);
      const again = await openSqliteStore(path, { catalog, cipher });
      try {
        await assert.rejects(
          copy(again, { to: pg.url, io: memoryIo(), catalog }),
          /The target database is not empty \(5 records, 0 audit entries\)/,
        );
      } finally {
        await again.close();
      }
      await execPg(
        pg,
        (sql) => sql`TRUNCATE notes_entries, notes_shared, counter_state`,
      );
      const refill = await openSqliteStore(path, { catalog, cipher });
      try {
        await copy(refill, { to: pg.url, io: memoryIo(), catalog });
      } finally {
        await refill.close();
      }

      const back = `${dir.path}/back.db`;
      const fromPg = await openPostgresStore(pg.location.connection, {
        catalog,
        cipher,
      });
      try {
        await copy(fromPg, { to: back, io: memoryIo() });
      } finally {
        await fromPg.close();
      }
      assert.deepEqual(sqliteRows(back), before);
    } finally {
      await counter.remove();
    }
  },
);
