import { errorMessage } from "../../base/error_text.ts";
import type { FieldCipher } from "../../crypto/field_cipher.ts";
import { WrongKeyError } from "../../crypto/field_cipher.ts";
import { FieldCodec } from "../../crypto/field_codec.ts";
import type { PostgresConnection } from "../../config/database_url.ts";
import {
  type Catalog,
  CORE_CATALOG,
  CORE_NAMESPACE,
} from "../../base/tables.ts";
import { SchemaError } from "../../base/errors.ts";
import { codecForCheck, type KeyCheck } from "../_engine.ts";
import { checkSchema } from "../_check_schema.ts";
import {
  applyMigrations,
  catalogMigrations,
  isApplied,
  type Migration,
} from "../migrations.ts";
import type { RawDatabase } from "../raw_copy.ts";
import { type ProgressCallback, StoreError } from "../store.ts";
import {
  appliedVersions,
  bounded,
  connectPostgres,
  guard,
  MIGRATION_LOCK,
  QUERY_TIMEOUT_MS,
  readKeyCheck,
  type Sql,
  tableColumns,
  type Tx,
} from "./_driver.ts";
import { PostgresStore } from "./postgres_store.ts";
import { postgresRawOn } from "./postgres_raw.ts";
import { encryptAll } from "./rotate.ts";

/** Where the PostgreSQL migrations live. */
export const POSTGRES_MIGRATIONS = new URL(
  "../../../migrations/postgres/",
  import.meta.url,
);

/** Options for `openPostgresStore`. */
export interface PostgresStoreOptions {
  /**
   * What the installed plugins store and how their tables are made
   * (default: the core's alone): their migrations are applied with the
   * core's, and every table in the database must be described or declared.
   */
  catalog?: Catalog;
  /** Migrations to apply; defaults to the catalog's PostgreSQL migrations. */
  migrations?: Migration[];
  /** Encrypts names, usernames and titles, exactly as the SQLite store does. */
  cipher?: FieldCipher;
  /** Bound on each store call, in ms; default `QUERY_TIMEOUT_MS`. */
  queryTimeoutMs?: number;
  /** Told how the first encryption of a plaintext database advances. */
  onProgress?: ProgressCallback;
}

/**
 * Connects to PostgreSQL, applies pending migrations (once, even when
 * several instances start together) and returns the store. Throws
 * `StoreError` when it cannot, `WrongKeyError` for the wrong data key.
 */
export async function openPostgresStore(
  connection: PostgresConnection,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const catalog = options.catalog ?? CORE_CATALOG;
  const migrations = options.migrations ??
    await catalogMigrations(catalog, "postgres");
  const sql = connectPostgres(connection);
  const where = `${connection.host}:${connection.port}/${connection.database}`;
  try {
    const given = new FieldCodec(options.cipher);
    const { auditKey, check } = await bounded(
      "opening the store",
      QUERY_TIMEOUT_MS * 3,
      async () => {
        await migratePostgres(sql, migrations);
        checkSchema(await tableColumns(sql), catalog);
        const rows = await sql`SELECT key FROM audit_key WHERE id = 1`;
        if (rows.length === 0) throw new StoreError("The audit key is missing");
        return {
          auditKey: new Uint8Array(rows[0]!.key as Uint8Array),
          check: await readKeyCheck(sql),
        };
      },
    );
    // Not bounded: encrypting an existing database is long work that goes
    // on, with progress, rather than a wait on an answer.
    const codec = await guard(() =>
      bindDataKey(sql, given, check, {
        tables: catalog.tables,
        onProgress: options.onProgress,
      })
    );
    return new PostgresStore(sql, {
      catalog,
      codec,
      auditKey,
      queryTimeoutMs: options.queryTimeoutMs ?? QUERY_TIMEOUT_MS,
    });
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    if (error instanceof WrongKeyError) throw error;
    if (error instanceof SchemaError) throw error;
    throw new StoreError(
      `Cannot open the PostgreSQL database at ${where}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

/** A PostgreSQL database seen as stored values, for a copy; migrated first. */
export async function openPostgresRaw(
  connection: PostgresConnection,
  options: { catalog?: Catalog } = {},
): Promise<RawDatabase> {
  const catalog = options.catalog ?? CORE_CATALOG;
  const sql = connectPostgres(connection, { max: 1 });
  try {
    await migratePostgres(sql, await catalogMigrations(catalog, "postgres"));
    checkSchema(await tableColumns(sql), catalog);
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    if (error instanceof SchemaError) throw error;
    throw new StoreError(
      `Cannot open the PostgreSQL database at ${connection.host}:${connection.port}/${connection.database}: ${
        errorMessage(error)
      }`,
      { cause: error },
    );
  }
  return postgresRawOn(sql, { owned: true, catalog });
}

/**
 * Applies pending migrations, each in its own transaction under an advisory
 * lock, so that instances starting together apply each exactly once.
 */
export function migratePostgres(
  sql: Sql,
  migrations: Migration[],
): Promise<void> {
  return applyMigrations(migrations, {
    current: () => appliedVersions(sql),
    apply: async (migration, appliedAt) => {
      await sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK[0]}::int, ${
          MIGRATION_LOCK[1]
        }::int)`;
        // Checked again under the lock: another instance may have applied it.
        if (isApplied(await appliedVersions(tx), migration)) return;
        await tx.unsafe(migration.sql).simple();
        await recordMigration(tx, migration, { appliedAt });
      });
    },
  });
}

// The core's own rows leave the namespace to its default ('core'): before
// the core's migration 6 the table has no such column.
async function recordMigration(
  tx: Tx,
  migration: Migration,
  { appliedAt }: { appliedAt: number },
): Promise<void> {
  if (migration.namespace === CORE_NAMESPACE) {
    await tx`INSERT INTO schema_migrations (version, name, applied_at)
             VALUES (${migration.version}, ${migration.name}, ${appliedAt})`;
    return;
  }
  await tx`INSERT INTO schema_migrations (namespace, version, name, applied_at)
           VALUES (${migration.namespace}, ${migration.version},
                   ${migration.name}, ${appliedAt})`;
}

// Checks the keys against the database, and returns the codec that writes
// with the key the database is bound to (any key of the ring may be). The
// first key a database meets is bound to it, and rows written in plaintext
// before then are encrypted, in one transaction under the migration lock
// (two instances starting at once do it once).
async function bindDataKey(
  sql: Sql,
  codec: FieldCodec,
  check: KeyCheck | undefined,
  options: { tables: Catalog["tables"]; onProgress?: ProgressCallback },
): Promise<FieldCodec> {
  const bound = codecForCheck(codec, check);
  if (bound !== undefined) return bound;
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK[0]}::int, ${
      MIGRATION_LOCK[1]
    }::int)`;
    const again = codecForCheck(codec, await readKeyCheck(tx));
    if (again !== undefined) return again;
    await encryptAll(tx, codec, options);
    return codec;
  });
}
