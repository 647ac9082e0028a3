import { DatabaseSync, type StatementSync } from "node:sqlite";
import { type Catalog, CORE_CATALOG } from "../../base/tables.ts";
import {
  AUDIT_COLUMNS,
  AUDIT_FIELDS,
  PAGE_SIZE,
  placeholders,
} from "../_columns.ts";
import {
  carriedTables,
  type Holdings,
  orderOf,
  type RawAudit,
  type RawDatabase,
  type RawRow,
  type RawSnapshot,
  TargetNotEmptyError,
} from "../raw_copy.ts";
import { StoreError } from "../store.ts";

/**
 * The stored values of the migrated SQLite file at `path`, through a
 * connection of its own (see `openSqliteRaw` for a copy's target): the
 * tables of `catalog` (default: the core's alone).
 */
export function sqliteRawAt(
  path: string,
  catalog: Catalog = CORE_CATALOG,
): RawDatabase {
  const db = new DatabaseSync(path);
  // Only the CLI copies, so waiting here blocks no bot.
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA secure_delete = ON");
  return new SqliteRaw(db, catalog);
}

class SqliteRaw implements RawDatabase {
  #db: DatabaseSync;
  #catalog: Catalog;

  get catalog(): Catalog {
    return this.#catalog;
  }

  constructor(db: DatabaseSync, catalog: Catalog) {
    this.#db = db;
    this.#catalog = catalog;
  }

  // A read transaction in WAL mode sees one snapshot throughout, while the
  // bot keeps writing.
  async read<T>(body: (snapshot: RawSnapshot) => Promise<T>): Promise<T> {
    const db = this.#db;
    db.exec("BEGIN");
    try {
      const held = holdings(db, this.#catalog);
      const key = db.prepare("SELECT key FROM audit_key WHERE id = 1").get() as
        | { key: Uint8Array }
        | undefined;
      if (key === undefined) throw new StoreError("The audit key is missing");
      const keyCheck = db.prepare(
        "SELECT key_id, check_value FROM data_key_check WHERE id = 1",
      ).get() as { key_id: string; check_value: string } | undefined;
      const profile = db.prepare(
        "SELECT profile, saved_at FROM bot_profile WHERE id = 1",
      ).get() as { profile: string; saved_at: number } | undefined;
      return await body({
        total: held.records + held.audit,
        tables: carriedTables(this.#catalog).map((name) => ({
          name,
          pages: () => pages(db, name, orderOf(this.#catalog, name)),
        })),
        audit: () =>
          pages(db, "audit_log", ["id"], AUDIT_COLUMNS) as AsyncIterable<
            RawAudit[]
          >,
        auditKey: new Uint8Array(key.key),
        keyCheck: keyCheck && { ...keyCheck },
        botProfile: profile && { ...profile },
      });
    } finally {
      db.exec("COMMIT");
    }
  }

  holdings(): Promise<Holdings> {
    return Promise.resolve(holdings(this.#db, this.#catalog));
  }

  async write(
    snapshot: RawSnapshot,
    onRows: (rows: number) => void,
  ): Promise<void> {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const held = holdings(db, this.#catalog);
      if (held.records + held.audit > 0) throw new TargetNotEmptyError(held);
      for (const table of snapshot.tables) {
        const inserts = new Map<string, StatementSync>();
        for await (const rows of table.pages()) {
          for (const row of rows) {
            const columns = Object.keys(row);
            const shape = columns.join(",");
            let insert = inserts.get(shape);
            if (insert === undefined) {
              insert = db.prepare(
                `INSERT INTO "${table.name}" (${
                  columns.map((column) => `"${column}"`).join(", ")
                }) VALUES (${placeholders(columns)})`,
              );
              inserts.set(shape, insert);
            }
            insert.run(...columns.map((column) => sqliteValue(row[column])));
          }
          onRows(rows.length);
        }
      }
      const audit = db.prepare(
        `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (${
          placeholders(AUDIT_FIELDS)
        })`,
      );
      for await (const rows of snapshot.audit()) {
        for (const row of rows) {
          audit.run(...AUDIT_FIELDS.map((field) => row[field]));
        }
        onRows(rows.length);
      }
      db.prepare("UPDATE audit_key SET key = ? WHERE id = 1").run(
        snapshot.auditKey,
      );
      db.exec("DELETE FROM data_key_check");
      if (snapshot.keyCheck !== undefined) {
        db.prepare(
          "INSERT INTO data_key_check (id, key_id, check_value) VALUES (1, ?, ?)",
        ).run(snapshot.keyCheck.key_id, snapshot.keyCheck.check_value);
      }
      db.exec("DELETE FROM bot_profile");
      if (snapshot.botProfile !== undefined) {
        db.prepare(
          "INSERT INTO bot_profile (id, profile, saved_at) VALUES (1, ?, ?)",
        ).run(snapshot.botProfile.profile, snapshot.botProfile.saved_at);
      }
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }

  close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}

// A value read from either engine as SQLite binds it: PostgreSQL's
// booleans and times have no SQLite type of their own.
function sqliteValue(
  value: unknown,
): string | number | bigint | null | Uint8Array {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value as string | number | bigint | null | Uint8Array;
}

function holdings(db: DatabaseSync, catalog: Catalog): Holdings {
  const counts = carriedTables(catalog).map((name) =>
    `(SELECT count(*) FROM "${name}")`
  );
  const row = db.prepare(
    `SELECT ${counts.join(" + ")} AS records,
            (SELECT count(*) FROM audit_log) AS audit`,
  ).get() as { records: number; audit: number };
  return { records: Number(row.records), audit: Number(row.audit) };
}

// Pages of one statement's rows, read as they are needed, in key order
// (the audit log: in id order; a bookkeeping table: as stored).
async function* pages(
  db: DatabaseSync,
  table: string,
  order: string[],
  columns = "*",
): AsyncIterable<RawRow[]> {
  const orderBy = order.length === 0
    ? ""
    : ` ORDER BY ${order.map((column) => `"${column}"`).join(", ")}`;
  let page: RawRow[] = [];
  for (
    const row of db.prepare(`SELECT ${columns} FROM "${table}"${orderBy}`)
      .iterate()
  ) {
    page.push({ ...row });
    if (page.length === PAGE_SIZE) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}
