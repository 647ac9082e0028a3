import { errorMessage } from "../../base/error_text.ts";
// The PostgreSQL primitives the store, its opening, its rotation and its raw
// view share: the connection, time bounds, error translation, locks.

import postgres from "postgres";
import { TamperedError, WrongKeyError } from "../../crypto/field_cipher.ts";
import type { FieldCodec } from "../../crypto/field_codec.ts";
import type { PostgresConnection } from "../../config/database_url.ts";
import { CORE_NAMESPACE } from "../../base/tables.ts";
import { SchemaError } from "../../base/errors.ts";
import { codecForBinding, type KeyCheck } from "../_engine.ts";
import type { FoundTable } from "../_check_schema.ts";
import {
  DamagedStoreError,
  PermanentStoreError,
  StoreError,
} from "../store.ts";

/** A postgres.js connection pool. */
export type Sql = postgres.Sql<Record<string, never>>;
/** A postgres.js transaction. */
export type Tx = postgres.TransactionSql<Record<string, never>>;

/** How long any one store call may take before it fails, in ms. */
export const QUERY_TIMEOUT_MS = 10_000;
/** How long the write probe (`checkWritable`) may take, in ms. */
export const PROBE_TIMEOUT_MS = 3_000;
/** How long opening a connection may take, in seconds (postgres.js unit). */
export const CONNECT_TIMEOUT_S = 5;

// Advisory lock keys. The two-key form used for migrations lives in a key
// space apart from the one-key form used for record ids.
/** Taken by migrations and by the first binding of a key. */
export const MIGRATION_LOCK: [number, number] = [0x7072_6976, 1];
/**
 * Taken shared by every registration and exclusively by a purge of all
 * records; no Telegram id is this small.
 */
export const ALL_RECORDS_LOCK = Number.MIN_SAFE_INTEGER;

/**
 * Connects a pool to PostgreSQL with the bounds this project relies on:
 * connecting fails after `CONNECT_TIMEOUT_S`, ids come back as numbers, and
 * a lost connection is replaced on the next query.
 */
export function connectPostgres(
  connection: PostgresConnection,
  options: { max?: number } = {},
): Sql {
  return postgres({
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    password: connection.password,
    ssl: sslOption(connection.sslmode),
    max: options.max ?? connection.poolSize,
    connect_timeout: CONNECT_TIMEOUT_S,
    // Idle connections are closed, so a pool never holds many for nothing.
    idle_timeout: 60,
    // Reconnects after a lost connection quickly: at most one second apart.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    // One round trip fewer when connecting: no custom array types are used.
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: "privacy-bot", ...connection.params },
    types: {
      // BIGINT columns (ids, Unix seconds, counts) are safe integers here.
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: (value: string) => Number(value),
      },
    },
  }) as unknown as Sql;
}

function sslOption(mode: PostgresConnection["sslmode"]) {
  switch (mode) {
    case "disable":
      return false;
    case "allow":
    case "prefer":
    case "require":
      return mode;
    default:
      // verify-ca and verify-full: the certificate must check out.
      return "verify-full";
  }
}

/**
 * Connects to PostgreSQL, applies pending migrations (once, even when
 * several instances start together) and returns the store. Throws
/** Runs `body` with a deadline; errors other than the key's and the data's own become `StoreError`. */
export async function bounded<T>(
  what: string,
  ms: number,
  body: (expired: () => boolean) => Promise<T>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(
        new StoreError(
          `PostgreSQL did not answer within ${ms / 1000} s (${what})`,
        ),
      );
    }, ms);
  });
  try {
    return await Promise.race([guard(() => body(() => late)), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
/** Runs `body`, turning the driver's errors into `StoreError`. */
export async function guard<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw asStoreError(error);
  }
}
/** The driver's error as a `StoreError` (damaged, permanent or passing). */
export function asStoreError(error: unknown): Error {
  if (
    error instanceof StoreError || error instanceof WrongKeyError ||
    error instanceof TamperedError || error instanceof SchemaError
  ) {
    return error;
  }
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^(XX001|XX002)$/.test(code)) {
    return new DamagedStoreError(
      `The PostgreSQL database is damaged: ${
        errorMessage(error)
      }; it will not mend by itself: restore it from a backup`,
      { cause: error },
    );
  }
  // Class 23: a constraint the data can never meet, however often it is sent.
  if (typeof code === "string" && code.startsWith("23")) {
    return new PermanentStoreError(
      `PostgreSQL failed: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  return new StoreError(`PostgreSQL failed: ${errorMessage(error)}`, {
    cause: error,
  });
}

/** Locks record ids for this transaction, in ascending order so that two transactions never wait on each other in a cycle. */
export async function lockIds(tx: Tx, ids: number[]): Promise<void> {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  if (sorted.length === 0) return;
  await tx`SELECT pg_advisory_xact_lock(id)
           FROM unnest(${`{${sorted.join(",")}}`}::text::bigint[]) AS id
           ORDER BY id`;
}

/**
 * The codec to write with under the key the database is bound to now, read
 * under a share lock so that a rotation's move waits for this transaction.
 */
export async function checkKey(tx: Tx, codec: FieldCodec): Promise<FieldCodec> {
  const [check] = await tx`SELECT key_id FROM data_key_check WHERE id = 1
                           FOR SHARE`;
  return codecForBinding(codec, check?.key_id as string | undefined);
}
/** The highest applied migration of the core; 0 for a database without any. */
export async function currentVersion(sql: Sql | Tx): Promise<number> {
  return (await appliedVersions(sql)).get(CORE_NAMESPACE) ?? 0;
}

/**
 * The highest applied migration of each namespace (core and plugins'); a
 * database from before the core's migration 6 has only core versions.
 */
export async function appliedVersions(
  sql: Sql | Tx,
): Promise<Map<string, number>> {
  // Read from the catalog, not through to_regclass(): after waiting for
  // the migration lock, only a fresh read sees a table another instance
  // has just created.
  const columns = (await sql`SELECT a.attname AS name
    FROM pg_catalog.pg_attribute AS a
    JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
    WHERE c.relname = 'schema_migrations' AND c.relkind = 'r'
      AND c.relnamespace IN (SELECT oid FROM pg_catalog.pg_namespace
                             WHERE nspname = ANY (current_schemas(false)))
      AND a.attnum > 0 AND NOT a.attisdropped`).map((row) => row.name);
  if (columns.length === 0) return new Map();
  const rows = columns.includes("namespace")
    ? await sql`SELECT namespace, max(version) AS version
                FROM schema_migrations GROUP BY namespace`
    : await sql`SELECT ${CORE_NAMESPACE}::text AS namespace,
                       max(version) AS version
                FROM schema_migrations HAVING count(*) > 0`;
  return new Map(
    rows.map((row) => [String(row.namespace), Number(row.version)]),
  );
}

/** The highest applied migration of each namespace (core and plugins'), for the summary. */
export async function namespaceVersions(
  sql: Sql | Tx,
): Promise<Record<string, number>> {
  return Object.fromEntries(await appliedVersions(sql));
}

/**
 * Every table, view and materialized view of the current schema with its
 * columns in order, their types and whether they refuse NULL, in one
 * query: what the schema check at open compares with the descriptions.
 */
export async function tableColumns(
  sql: Sql | Tx,
): Promise<Map<string, FoundTable>> {
  const rows = await sql`SELECT c.relname AS tbl, c.relkind AS kind,
      a.attname AS col, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
      a.attnotnull AS not_null
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid
    WHERE c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
      AND c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace
                            WHERE nspname = current_schema())
      AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.relname, a.attnum`;
  const tables = new Map<string, FoundTable>();
  for (const row of rows) {
    const name = String(row.tbl);
    const view = row.kind === "v" || row.kind === "m";
    const table = tables.get(name) ??
      { kind: view ? "view" as const : "table" as const, columns: [] };
    table.columns.push({
      name: String(row.col),
      type: String(row.type),
      notNull: row.not_null === true,
    });
    tables.set(name, table);
  }
  return tables;
}

/** The stored key check, if a key is bound. */
export async function readKeyCheck(
  sql: Sql | Tx,
): Promise<KeyCheck | undefined> {
  const [row] = await sql`SELECT key_id, check_value FROM data_key_check
                           WHERE id = 1`;
  return row as KeyCheck | undefined;
}
