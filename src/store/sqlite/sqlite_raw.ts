import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  AUDIT_COLUMNS,
  AUDIT_FIELDS,
  GROUP_COLUMNS,
  GROUP_FIELDS,
  PAGE_SIZE,
  placeholders,
  USER_COLUMNS,
  USER_FIELDS,
} from "../_columns.ts";
import {
  type RawAudit,
  type RawDatabase,
  type RawGroup,
  type RawSnapshot,
  type RawUser,
  TargetNotEmptyError,
} from "../raw_copy.ts";
import { StoreError } from "../store.ts";

/**
 * The stored values of the migrated SQLite file at `path`, through a
 * connection of its own (see `openSqliteRaw` for a copy's target).
 */
export function sqliteRawAt(path: string): RawDatabase {
  const db = new DatabaseSync(path);
  // Only the CLI copies, so waiting here blocks no bot.
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA secure_delete = ON");
  return new SqliteRaw(db);
}

class SqliteRaw implements RawDatabase {
  #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  // A read transaction in WAL mode sees one snapshot throughout, while the
  // bot keeps writing.
  async read<T>(body: (snapshot: RawSnapshot) => Promise<T>): Promise<T> {
    const db = this.#db;
    db.exec("BEGIN");
    try {
      const counts = db.prepare(
        `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM groups) +
                (SELECT count(*) FROM audit_log) AS total`,
      ).get() as { total: number };
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
        total: Number(counts.total),
        users: () => pages<RawUser>(db, "users", USER_COLUMNS),
        groups: () => pages<RawGroup>(db, "groups", GROUP_COLUMNS),
        audit: () => pages<RawAudit>(db, "audit_log", AUDIT_COLUMNS),
        auditKey: new Uint8Array(key.key),
        keyCheck: keyCheck && { ...keyCheck },
        botProfile: profile && { ...profile },
      });
    } finally {
      db.exec("COMMIT");
    }
  }

  holdings(): Promise<{ records: number; audit: number }> {
    return Promise.resolve(holdings(this.#db));
  }

  async write(
    snapshot: RawSnapshot,
    onRows: (rows: number) => void,
  ): Promise<void> {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const held = holdings(db);
      if (held.records + held.audit > 0) throw new TargetNotEmptyError(held);
      const user = db.prepare(
        `INSERT INTO users (${USER_COLUMNS}) VALUES (${
          placeholders(USER_FIELDS)
        })`,
      );
      await insertPages(
        snapshot.users(),
        onRows,
        (row) => user.run(...USER_FIELDS.map((field) => row[field])),
      );
      const group = db.prepare(
        `INSERT INTO groups (${GROUP_COLUMNS}) VALUES (${
          placeholders(GROUP_FIELDS)
        })`,
      );
      await insertPages(
        snapshot.groups(),
        onRows,
        (row) => group.run(...GROUP_FIELDS.map((field) => row[field])),
      );
      const audit = db.prepare(
        `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (${
          placeholders(AUDIT_FIELDS)
        })`,
      );
      await insertPages(
        snapshot.audit(),
        onRows,
        (row) => audit.run(...AUDIT_FIELDS.map((field) => row[field])),
      );
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

function holdings(db: DatabaseSync): { records: number; audit: number } {
  const row = db.prepare(
    `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM groups) AS records,
            (SELECT count(*) FROM audit_log) AS audit`,
  ).get() as { records: number; audit: number };
  return { records: Number(row.records), audit: Number(row.audit) };
}

async function insertPages<T>(
  source: AsyncIterable<T[]>,
  onRows: (rows: number) => void,
  insert: (row: T) => void,
): Promise<void> {
  for await (const rows of source) {
    for (const row of rows) insert(row);
    onRows(rows.length);
  }
}

// Pages by rowid order (the id, or the audit log's insertion order).
async function* pages<T>(
  db: DatabaseSync,
  table: string,
  columns: string,
): AsyncIterable<T[]> {
  const page: StatementSync = db.prepare(
    `SELECT rowid AS _rowid, ${columns} FROM ${table}
     WHERE rowid > ? ORDER BY rowid LIMIT ${PAGE_SIZE}`,
  );
  let after: number | bigint = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = page.all(after) as (T & { _rowid: number })[];
    if (rows.length === 0) return;
    after = rows[rows.length - 1]!._rowid;
    yield rows.map(({ _rowid, ...row }) => ({ ...row }) as T);
    if (rows.length < PAGE_SIZE) return;
  }
}
