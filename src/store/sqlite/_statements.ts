import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { TableDescription } from "../../base/tables.ts";
import {
  AUDIT_COLUMNS,
  AUDIT_FIELDS,
  columnNames,
  encryptedValues,
  keyList,
  onConflictKeepEarliest,
  onConflictUpdate,
  placeholders,
} from "../_columns.ts";
import { type RecordRef, subjectRef } from "../audit.ts";
import type { StoreSummary } from "../store.ts";
import { namespaceVersions } from "./_driver.ts";

/** The statements a `SqliteStore` runs on every update, prepared once. */
export type Statements = Record<
  | "erasedAfter"
  | "bumpErasure"
  | "erasureVersion"
  | "latestPurgeAt"
  | "insertAudit"
  | "keyCheck"
  | "touchHealth",
  StatementSync
>;

/** Prepares the store's statements on an open, migrated database. */
export function prepareStatements(db: DatabaseSync): Statements {
  return {
    // Both halves are look-ups in the audit_log_subject index: the record's
    // own purges, and purges of everything (whose subject is null). A
    // retention sweep's entry names no record and erased only the inactive.
    erasedAfter: db.prepare(
      `SELECT EXISTS (SELECT 1 FROM audit_log
                         WHERE subject = ?1 AND action = 'purge' AND at > ?2)
             OR EXISTS (SELECT 1 FROM audit_log
                         WHERE subject IS NULL AND action = 'purge' AND at > ?2
                           AND kind = 'all' AND reason IS NOT 'inactive')
             AS erased`,
    ),
    bumpErasure: db.prepare(
      "UPDATE erasure_version SET version = version + 1 WHERE id = 1",
    ),
    erasureVersion: db.prepare(
      "SELECT version FROM erasure_version WHERE id = 1",
    ),
    latestPurgeAt: db.prepare(
      "SELECT max(at) AS at FROM audit_log WHERE action = 'purge'",
    ),
    keyCheck: db.prepare(
      "SELECT key_id FROM data_key_check WHERE id = 1",
    ),
    // A probe must change the row: an update to the same value writes
    // nothing and would commit even on a full disk.
    touchHealth: db.prepare(
      "UPDATE health SET checked_at = max(?, checked_at + 1) WHERE id = 1",
    ),
    insertAudit: db.prepare(
      `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (${
        placeholders(AUDIT_FIELDS)
      })`,
    ),
  };
}

/**
 * The statements on one described table, built from its description. Every
 * one takes positional values: whole rows in column order, keys in key
 * order, a subject's id.
 */
export interface TableStatements {
  /** Inserts a row, or updates it by key keeping its stamps. */
  upsert: StatementSync;
  /** Inserts a row carried to a new key; one already there keeps its values and the earliest stamps. */
  insertMoved: StatementSync;
  /** Deletes the row with the key. */
  removeByKey: StatementSync;
  /** The rows about a person or a group (when the table has the column), in key order. */
  bySubject: { user?: StatementSync; group?: StatementSync };
  /** Deletes the rows about a person or a group. */
  eraseBySubject: { user?: StatementSync; group?: StatementSync };
  /** Deletes every row. */
  eraseAll: StatementSync;
}

/**
 * The tables' statements, each table's prepared at its first use (a
 * plugin's table exists once its migrations ran).
 */
export class TableStatementCache {
  #db: DatabaseSync;
  #prepared = new Map<TableDescription, TableStatements>();

  /** Prepares on `db`. */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The statements of `table`. */
  of(table: TableDescription): TableStatements {
    let statements = this.#prepared.get(table);
    if (statements === undefined) {
      statements = prepareTable(this.#db, table);
      this.#prepared.set(table, statements);
    }
    return statements;
  }
}

function prepareTable(
  db: DatabaseSync,
  table: TableDescription,
): TableStatements {
  const columns = columnNames(table);
  const insert = `INSERT INTO ${table.name} (${columns.join(", ")}) VALUES (${
    placeholders(columns)
  })`;
  const keyMatch = table.key.map((name) => `${name} = ?`).join(" AND ");
  const select = `SELECT ${columns.join(", ")} FROM ${table.name}`;
  const bySubject = (column: string | undefined) =>
    column === undefined
      ? undefined
      : db.prepare(`${select} WHERE ${column} = ? ORDER BY ${keyList(table)}`);
  const eraseBy = (column: string | undefined) =>
    column === undefined
      ? undefined
      : db.prepare(`DELETE FROM ${table.name} WHERE ${column} = ?`);
  return {
    upsert: db.prepare(`${insert} ${onConflictUpdate(table)}`),
    insertMoved: db.prepare(
      `${insert} ${onConflictKeepEarliest(table, "min")}`,
    ),
    removeByKey: db.prepare(`DELETE FROM ${table.name} WHERE ${keyMatch}`),
    bySubject: {
      user: bySubject(table.userColumn),
      group: bySubject(table.groupColumn),
    },
    eraseBySubject: {
      user: eraseBy(table.userColumn),
      group: eraseBy(table.groupColumn),
    },
    eraseAll: db.prepare(`DELETE FROM ${table.name}`),
  };
}

/** Counts per table, schema versions, registration range, size and keys in use. */
export function readSummary(
  db: DatabaseSync,
  tables: readonly TableDescription[],
): StoreSummary {
  const row = db.prepare(
    `SELECT min(registered_at) AS oldest,
            max(registered_at) AS newest,
            (SELECT page_count FROM pragma_page_count()) *
              (SELECT page_size FROM pragma_page_size()) AS size
     FROM (SELECT registered_at FROM users UNION ALL SELECT registered_at FROM groups)`,
  ).get() as Record<string, number | null>;
  const rows: Record<string, number> = {};
  for (const table of tables) {
    const counted = db.prepare(`SELECT count(*) AS n FROM ${table.name}`)
      .get() as { n: number };
    rows[table.name] = Number(counted.n);
  }
  const check = db.prepare("SELECT key_id FROM data_key_check WHERE id = 1")
    .get() as { key_id: string } | undefined;
  const values = encryptedValues(tables);
  // The key each stored value names: the text between the first two dots.
  const keys = values === null ? [] : db.prepare(
    `SELECT substr(v, 4, instr(substr(v, 4), '.') - 1) AS key_id, count(*) AS n
     FROM (${values})
     WHERE v LIKE 'v1.%' GROUP BY 1 ORDER BY 1`,
  ).all() as { key_id: string; n: number }[];
  const versions = namespaceVersions(db);
  return {
    rows,
    schemaVersion: versions.core ?? 0,
    versions,
    oldestRegistration: row.oldest,
    newestRegistration: row.newest,
    sizeBytes: Number(row.size),
    keyId: check?.key_id ?? null,
    valuesByKeyId: Object.fromEntries(
      keys.map((k) => [k.key_id, Number(k.n)]),
    ),
  };
}

/**
 * When purges happened, as a registration asks inside its transaction.
 * Every purge deletes, raising the erasure counter, so the latest purge
 * time is looked up again only when the counter moved: most updates are
 * newer than every purge and need neither a keyed hash nor a look-up.
 */
export class PurgeTimes {
  #sql: Statements;
  #auditKey: Uint8Array;
  #cache: { version: number; at: number | null } | undefined;

  /** Reads with the store's statements and audit key. */
  constructor(sql: Statements, auditKey: Uint8Array) {
    this.#sql = sql;
    this.#auditKey = auditKey;
  }

  /** When the latest purge of anything was recorded, or null. */
  latest(): number | null {
    const version = Number(
      (this.#sql.erasureVersion.get() as { version: number }).version,
    );
    if (version !== this.#cache?.version) {
      const row = this.#sql.latestPurgeAt.get() as { at: number | null };
      this.#cache = { version, at: row.at === null ? null : Number(row.at) };
    }
    return this.#cache.at;
  }

  /** Whether the record was purged (alone or with everything) after `sentAt`. */
  after(ref: RecordRef, sentAt: number): boolean {
    const subject = subjectRef(this.#auditKey, ref);
    const row = this.#sql.erasedAfter.get(subject, sentAt) as {
      erased: number;
    };
    return Number(row.erased) !== 0;
  }
}
