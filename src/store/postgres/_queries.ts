// The record statements of the PostgreSQL store, built from the table
// descriptions: a row set is sent as one JSON parameter and read back with
// json_to_recordset, so a page, or a batch of rows, is one statement.

import type { Row, TableDescription } from "../../base/tables.ts";
import type { RecordRef } from "../audit.ts";
import {
  AUDIT_COLUMNS,
  AUDIT_FIELDS,
  columnNames,
  encryptedValues,
  keyList,
  onConflictKeepEarliest,
  onConflictUpdate,
  PAGE_SIZE,
} from "../_columns.ts";
import { subjectRef } from "../audit.ts";
import { unixNow } from "../_engine.ts";
import type { AuditRecord, StoreSummary } from "../store.ts";
import type { TableSet } from "../_rows.ts";
import {
  ALL_RECORDS_LOCK,
  asStoreError,
  namespaceVersions,
  type Sql,
  type Tx,
} from "./_driver.ts";

// Every other column of these tables is text.
const TYPES: Record<string, string> = {
  id: "bigint",
  registered_at: "bigint",
  at: "bigint",
  records: "bigint",
  n: "integer",
};

/** `v(a type, …)`: the row type json_to_recordset reads `columns` as. */
export function recordset(columns: readonly string[]): string {
  return `v(${
    columns.map((column) => `${column} ${TYPES[column] ?? "text"}`).join(", ")
  })`;
}

/** `v(a type, …)` for `columns` of a described table, typed by its description. */
export function tableRecordset(
  table: TableDescription,
  columns: readonly string[],
): string {
  return `v(${
    columns.map((name) => {
      const column = table.columns.find((c) => c.name === name)!;
      return `${name} ${column.type === "text" ? "text" : "bigint"}`;
    }).join(", ")
  })`;
}

const ROWS = "json_to_recordset($1::text::json)";

/**
 * The statements on one described table, built once from its description.
 * Rows go in as one JSON parameter (`$1`); keys come back as rows.
 */
export class TableQueries {
  readonly table: TableDescription;
  /** Inserts the rows (`$1`), or updates them by key keeping their stamps (`$2`: now). */
  readonly upsert: string;
  /** Inserts rows carried to a new key; one already there keeps its values and the earliest stamps. */
  readonly insertMoved: string;
  /** Deletes the rows with the keys (`$1`), returning the keys deleted. */
  readonly removeByKeys: string;
  /** The rows about a person or a group (`$1`), in key order. */
  readonly bySubject: { user?: string; group?: string };
  /** Every row, in key order. */
  readonly all: string;

  /** Builds the statements of `table`. */
  constructor(table: TableDescription) {
    this.table = table;
    const columns = columnNames(table);
    const written = table.columns.filter((column) => !column.stamp).map((c) =>
      c.name
    );
    const into = `INSERT INTO ${table.name} (${columns.join(", ")})`;
    this.upsert = `${into}
      SELECT ${
      table.columns.map((c) => c.stamp ? "$2::bigint" : c.name).join(", ")
    }
      FROM ${ROWS} AS ${tableRecordset(table, written)}${
      // `$2` is always sent: a table without a stamp still types it.
      table.columns.some((c) => c.stamp) ? "" : " WHERE $2::bigint IS NOT NULL"}
      ${onConflictUpdate(table)}`;
    this.insertMoved = `${into}
      SELECT ${columns.join(", ")} FROM ${ROWS} AS ${
      tableRecordset(table, columns)
    }
      ${onConflictKeepEarliest(table, "least")}`;
    this.removeByKeys = `DELETE FROM ${table.name}
      WHERE (${keyList(table)}) IN (SELECT ${keyList(table)} FROM ${ROWS} AS ${
      tableRecordset(table, table.key)
    })
      RETURNING ${keyList(table)}`;
    const select = `SELECT ${columns.join(", ")} FROM ${table.name}`;
    const by = (column: string | undefined) =>
      column === undefined
        ? undefined
        : `${select} WHERE ${column} = $1 ORDER BY ${keyList(table)}`;
    this.bySubject = {
      user: by(table.userColumn),
      group: by(table.groupColumn),
    };
    this.all = `${select} ORDER BY ${keyList(table)}`;
  }
}

/** Every described table's statements, and the erasures over all of them. */
export class Queries {
  #tables: TableSet;
  #byTable = new Map<TableDescription, TableQueries>();
  #erasures = new Map<RecordRef["kind"], string>();

  /** The statements of `tables`, each built at its first use. */
  constructor(tables: TableSet) {
    this.#tables = tables;
  }

  /** The statements on `table`. */
  of(table: TableDescription): TableQueries {
    let queries = this.#byTable.get(table);
    if (queries === undefined) {
      queries = new TableQueries(table);
      this.#byTable.set(table, queries);
    }
    return queries;
  }

  /**
   * One statement deleting the rows of every table erased with a subject of
   * `kind` (its id is `$1`; `all`: every row) that counts them and raises
   * the erasure counter when something was deleted.
   */
  erasure(kind: RecordRef["kind"]): string {
    let sql = this.#erasures.get(kind);
    if (sql === undefined) {
      const parts = this.#tables.erasedWith(kind);
      const deletes = parts.map(({ table, column }, i) =>
        `d${i} AS (DELETE FROM ${table.name}${
          column === null ? "" : ` WHERE ${column} = $1`
        } RETURNING 1)`
      );
      const total = parts.map((_, i) => `(SELECT count(*) FROM d${i})`).join(
        " + ",
      );
      sql = `WITH ${deletes.join(", ")},
          counted AS (SELECT ${total} AS n),
          bumped AS (UPDATE erasure_version SET version = version + 1
                     WHERE id = 1 AND (SELECT n FROM counted) > 0)
        SELECT n FROM counted`;
      this.#erasures.set(kind, sql);
    }
    return sql;
  }
}

/**
 * Inserts the rows of a table, or updates them by key keeping their stamps
 * (set to `now` on insert); keys must be distinct.
 */
export async function upsertRows(
  tx: Tx,
  queries: TableQueries,
  rows: Row[],
  now: number,
): Promise<void> {
  await tx.unsafe(queries.upsert, [JSON.stringify(rows), now], {
    prepare: true,
  });
}

/** Deletes rows of a table by key; returns the keys that were there. */
export async function removeRows(
  tx: Tx,
  queries: TableQueries,
  keys: Row[],
): Promise<Row[]> {
  return await tx.unsafe(queries.removeByKeys, [JSON.stringify(keys)], {
    prepare: true,
  }) as unknown as Row[];
}

/**
 * Deletes the rows of every table erased with the target in one statement,
 * raising the erasure counter when something was deleted; returns how many.
 */
export async function eraseRows(
  tx: Tx,
  queries: Queries,
  target: RecordRef,
): Promise<number> {
  const [row] = await tx.unsafe(
    queries.erasure(target.kind),
    target.kind === "all" ? [] : [target.id],
    { prepare: true },
  );
  return Number(row!.n);
}

/** The latest purge time of each subject asked for, and of all records. */
export async function purgeTimes(
  tx: Tx,
  subjects: (string | null | undefined)[],
): Promise<{ all: number; bySubject: Map<string, number> }> {
  const wanted = [...new Set(subjects.filter((s): s is string => s != null))];
  const bySubject = new Map<string, number>();
  if (wanted.length === 0) return { all: -Infinity, bySubject };
  // Both halves are look-ups in the audit_log_subject index: the records'
  // own purges, and purges of everything (whose subject is null).
  const rows = await tx`
    SELECT subject, max(at) AS at FROM audit_log
    WHERE action = 'purge'
      AND (subject IN (SELECT json_array_elements_text(${
    JSON.stringify(wanted)
  }::text::json))
           OR (subject IS NULL AND kind = 'all'
               AND reason IS DISTINCT FROM 'inactive'))
    GROUP BY subject`;
  let all = -Infinity;
  for (const row of rows) {
    if (row.subject === null) all = Number(row.at);
    else bySubject.set(row.subject as string, Number(row.at));
  }
  return { all, bySubject };
}

/**
 * Pages of a table through a server-side cursor, in key order: five pages
 * a fetch, for fewer round trips while still a few MB.
 */
export async function* cursorPages(
  sql: Sql | Tx,
  queries: TableQueries,
): AsyncIterable<Row[]> {
  try {
    for await (const rows of sql.unsafe(queries.all).cursor(PAGE_SIZE * 5)) {
      yield rows as unknown as Row[];
    }
  } catch (error) {
    throw asStoreError(error);
  }
}

/**
 * Decrypts a page at a time: node:crypto is synchronous and fast, so no
 * call waits on a thread pool.
 */
export async function* decodePages<T>(
  pages: AsyncIterable<T[]>,
  decode: (row: T) => T | undefined,
): AsyncIterable<T> {
  for await (const rows of pages) {
    for (const row of rows) {
      const record = decode(row);
      if (record !== undefined) yield record;
    }
  }
}

/**
 * Pages of PAGE_SIZE rows in key order (keyset pagination), each a short
 * query, from `table` or from a table of the same columns named `from`.
 */
export async function* keysetPages(
  read: (query: string, after: unknown[]) => Promise<Row[]>,
  table: TableDescription,
  from = table.name,
): AsyncIterable<Row[]> {
  const select = `SELECT ${columnNames(table).join(", ")} FROM ${from}`;
  const order = `ORDER BY ${keyList(table)} LIMIT ${PAGE_SIZE}`;
  const first = `${select} ${order}`;
  const next = `${select} WHERE (${keyList(table)}) > (${
    table.key.map((_, i) => `$${i + 1}`).join(", ")
  }) ${order}`;
  let after: unknown[] | undefined;
  for (;;) {
    const rows = await read(after === undefined ? first : next, after ?? []);
    if (rows.length > 0) yield rows;
    if (rows.length < PAGE_SIZE) return;
    const last = rows[rows.length - 1]!;
    after = table.key.map((name) => last[name]);
  }
}

/** Counts per table, schema versions, registration range, size and keys in use. */
export async function readSummary(
  sql: Sql,
  tables: readonly TableDescription[],
): Promise<StoreSummary> {
  const counts = tables.map((table, i) =>
    `(SELECT count(*) FROM ${table.name}) AS n${i}`
  ).join(", ");
  const [row] = await sql.unsafe(`SELECT ${counts},
                   (SELECT min(registered_at) FROM (
                      SELECT min(registered_at) AS registered_at FROM users
                      UNION ALL SELECT min(registered_at) FROM groups) AS r) AS oldest,
                   (SELECT max(registered_at) FROM (
                      SELECT max(registered_at) AS registered_at FROM users
                      UNION ALL SELECT max(registered_at) FROM groups) AS r) AS newest,
                   pg_database_size(current_database()) AS size,
                   (SELECT key_id FROM data_key_check WHERE id = 1) AS key_id`);
  const values = encryptedValues(tables);
  // The key each stored value names: the text between the first two dots.
  const keys = values === null ? [] : await sql.unsafe(
    `SELECT split_part(v, '.', 2) AS key_id, count(*) AS n
     FROM (${values}) AS t
     WHERE v LIKE 'v1.%' GROUP BY 1 ORDER BY 1`,
  );
  const versions = await namespaceVersions(sql);
  return {
    rows: Object.fromEntries(
      tables.map((table, i) => [table.name, Number(row![`n${i}`])]),
    ),
    schemaVersion: versions.core ?? 0,
    versions,
    oldestRegistration: row!.oldest === null ? null : Number(row!.oldest),
    newestRegistration: row!.newest === null ? null : Number(row!.newest),
    sizeBytes: Number(row!.size),
    keyId: (row!.key_id as string | null) ?? null,
    valuesByKeyId: Object.fromEntries(
      keys.map((k) => [k.key_id as string, Number(k.n)]),
    ),
  };
}

/**
 * Rewrites the described tables into new files, so that deleted and replaced
 * values no longer linger in them as dead rows. VACUUM FULL would keep
 * every dead row that another session's snapshot might still see; here
 * the live rows are set aside (in temporary tables dropped at commit), the
 * tables emptied with TRUNCATE, which gives them new files, and refilled,
 * inside the caller's transaction.
 */
export async function rewriteTables(
  tx: Tx,
  tables: readonly TableDescription[],
): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${ALL_RECORDS_LOCK})`;
  for (const table of tables) {
    await tx.unsafe(`CREATE TEMPORARY TABLE kept_${table.name} ON COMMIT DROP
                     AS SELECT * FROM ${table.name}`);
  }
  await tx.unsafe(`TRUNCATE ${tables.map((table) => table.name).join(", ")}`);
  for (const table of tables) {
    await tx.unsafe(
      `INSERT INTO ${table.name} SELECT * FROM kept_${table.name}`,
    );
  }
}

const INSERT_AUDIT = `INSERT INTO audit_log (${AUDIT_COLUMNS})
  VALUES (${AUDIT_FIELDS.map((_, i) => `$${i + 1}`).join(", ")})
  RETURNING id`;

/** Appends an audit entry, its subject hashed with `auditKey`; returns its number. */
export async function insertAudit(
  sql: Sql | Tx,
  auditKey: Uint8Array,
  record: AuditRecord,
): Promise<number> {
  const entry: Record<(typeof AUDIT_FIELDS)[number], string | number | null> = {
    at: record.at ?? unixNow(),
    actor: record.actor,
    action: record.action,
    kind: record.target.kind,
    subject: subjectRef(auditKey, record.target),
    records: record.records,
    outcome: record.outcome ?? "done",
    reason: record.reason ?? (record.action === "purge" ? "request" : null),
  };
  const [row] = await sql.unsafe(
    INSERT_AUDIT,
    AUDIT_FIELDS.map((field) => entry[field]),
    { prepare: true },
  );
  return Number(row!.id);
}
