// The record statements of the PostgreSQL store, built from the column
// lists in `_columns.ts`: a row set is sent as one JSON parameter and read
// back with json_to_recordset, so a page is one statement.

import {
  AUDIT_COLUMNS,
  AUDIT_FIELDS,
  ENCRYPTED_VALUES,
  fromExcluded,
  GROUP_COLUMNS,
  GROUP_UPDATED,
  PAGE_SIZE,
  USER_COLUMNS,
  USER_UPDATED,
} from "../_columns.ts";
import { subjectRef } from "../audit.ts";
import { unixNow } from "../_engine.ts";
import type { AuditRecord, StoreSummary } from "../store.ts";
import {
  ALL_RECORDS_LOCK,
  asStoreError,
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

/** A user as a registration writes it: every column but `registered_at`. */
export interface UserRow {
  id: number;
  username: string | null;
  first_name: string | null;
  last_name: string | null;
  language_code: string | null;
}

/** A group as a registration writes it: every column but `registered_at`. */
export interface GroupRow {
  id: number;
  username: string | null;
  title: string | null;
  type: string;
}

const USER_WRITTEN = ["id", ...USER_UPDATED];
const GROUP_WRITTEN = ["id", ...GROUP_UPDATED];

const UPSERT_USERS = `INSERT INTO users (${USER_COLUMNS})
  SELECT ${USER_WRITTEN.join(", ")}, $2::bigint
  FROM json_to_recordset($1::text::json) AS ${recordset(USER_WRITTEN)}
  ON CONFLICT (id) DO UPDATE SET ${fromExcluded(USER_UPDATED)}`;

const UPSERT_GROUPS = `INSERT INTO groups (${GROUP_COLUMNS})
  SELECT ${GROUP_WRITTEN.join(", ")}, $2::bigint
  FROM json_to_recordset($1::text::json) AS ${recordset(GROUP_WRITTEN)}
  ON CONFLICT (id) DO UPDATE SET ${fromExcluded(GROUP_UPDATED)}`;

/** Inserts the users, or updates their fields keeping registered_at; ids must be distinct. */
export async function upsertUsers(
  tx: Tx,
  rows: UserRow[],
  now: number,
): Promise<void> {
  await tx.unsafe(UPSERT_USERS, [JSON.stringify(rows), now], {
    prepare: true,
  });
}

/** Inserts the groups, or updates their fields keeping registered_at; ids must be distinct. */
export async function upsertGroups(
  tx: Tx,
  rows: GroupRow[],
  now: number,
): Promise<void> {
  await tx.unsafe(UPSERT_GROUPS, [JSON.stringify(rows), now], {
    prepare: true,
  });
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
           OR (subject IS NULL AND kind = 'all'))
    GROUP BY subject`;
  let all = -Infinity;
  for (const row of rows) {
    if (row.subject === null) all = Number(row.at);
    else bySubject.set(row.subject as string, Number(row.at));
  }
  return { all, bySubject };
}

/**
 * Deletes one record (or every one of a table) and raises the erasure
 * counter in the same statement when something was deleted: every deletion,
 * by a registration or a purge, does.
 */
export async function deleteRecords(
  tx: Tx,
  table: "users" | "groups",
  id?: number,
): Promise<number> {
  const where = id === undefined ? "" : "WHERE id = $1";
  const [row] = await tx.unsafe(
    `WITH deleted AS (DELETE FROM ${table} ${where} RETURNING 1),
          counted AS (SELECT count(*) AS n FROM deleted),
          bumped AS (UPDATE erasure_version SET version = version + 1
                     WHERE id = 1 AND (SELECT n FROM counted) > 0)
     SELECT n FROM counted`,
    id === undefined ? [] : [id],
  );
  return Number(row!.n);
}

/**
 * Pages of a table through a server-side cursor, in id order: five pages a
 * fetch, for fewer round trips while still a few MB.
 */
export async function* cursorPages<T>(
  sql: Sql | Tx,
  table: "users" | "groups",
): AsyncIterable<T[]> {
  const columns = table === "users" ? USER_COLUMNS : GROUP_COLUMNS;
  try {
    for await (
      const rows of sql.unsafe(
        `SELECT ${columns} FROM ${table} ORDER BY id`,
      ).cursor(PAGE_SIZE * 5)
    ) {
      yield rows as unknown as T[];
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

/** Pages of PAGE_SIZE rows by id (keyset pagination), each a short query. */
export async function* keysetPages<T extends { id: number }>(
  read: (query: string, after: number) => Promise<T[]>,
  table: string,
  columns: string,
): AsyncIterable<T[]> {
  const query =
    `SELECT ${columns} FROM ${table} WHERE id > $1 ORDER BY id LIMIT ${PAGE_SIZE}`;
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = await read(query, after);
    if (rows.length > 0) yield rows;
    if (rows.length < PAGE_SIZE) return;
    after = rows[rows.length - 1]!.id;
  }
}

/** Counts, schema version, registration range, size and keys in use. */
export async function readSummary(sql: Sql): Promise<StoreSummary> {
  const [row] = await sql`SELECT (SELECT count(*) FROM users) AS users,
                   (SELECT count(*) FROM groups) AS groups,
                   (SELECT min(registered_at) FROM (
                      SELECT min(registered_at) AS registered_at FROM users
                      UNION ALL SELECT min(registered_at) FROM groups) AS r) AS oldest,
                   (SELECT max(registered_at) FROM (
                      SELECT max(registered_at) AS registered_at FROM users
                      UNION ALL SELECT max(registered_at) FROM groups) AS r) AS newest,
                   pg_database_size(current_database()) AS size,
                   (SELECT coalesce(max(version), 0) FROM schema_migrations) AS version,
                   (SELECT key_id FROM data_key_check WHERE id = 1) AS key_id`;
  // The key each stored value names: the text between the first two dots.
  const keys = await sql.unsafe(
    `SELECT split_part(v, '.', 2) AS key_id, count(*) AS n
     FROM (${ENCRYPTED_VALUES}) AS t
     WHERE v LIKE 'v1.%' GROUP BY 1 ORDER BY 1`,
  );
  return {
    users: Number(row!.users),
    groups: Number(row!.groups),
    schemaVersion: Number(row!.version),
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
 * Rewrites the record tables into new files, so that deleted and replaced
 * values no longer linger in them as dead rows. VACUUM FULL would keep
 * every dead row that another session's snapshot might still see; here
 * the live rows are set aside (in temporary tables dropped at commit), the
 * tables emptied with TRUNCATE, which gives them new files, and refilled,
 * inside the caller's transaction.
 */
export async function rewriteTables(tx: Tx): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${ALL_RECORDS_LOCK})`;
  await tx`CREATE TEMPORARY TABLE kept_users ON COMMIT DROP
           AS SELECT * FROM users`;
  await tx`CREATE TEMPORARY TABLE kept_groups ON COMMIT DROP
           AS SELECT * FROM groups`;
  await tx`TRUNCATE users, groups`;
  await tx`INSERT INTO users SELECT * FROM kept_users`;
  await tx`INSERT INTO groups SELECT * FROM kept_groups`;
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
  };
  const [row] = await sql.unsafe(
    INSERT_AUDIT,
    AUDIT_FIELDS.map((field) => entry[field]),
    { prepare: true },
  );
  return Number(row!.id);
}
