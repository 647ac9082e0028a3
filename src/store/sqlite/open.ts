import { errorMessage } from "../../base/error_text.ts";
import { DatabaseSync } from "node:sqlite";
import { dirname } from "node:path";
import { type FieldCipher, WrongKeyError } from "../../crypto/field_cipher.ts";
import { FieldCodec } from "../../crypto/field_codec.ts";
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
import {
  PermanentStoreError,
  type ProgressCallback,
  StoreError,
} from "../store.ts";
import {
  appliedVersions,
  checkpoint,
  DEFAULT_LOCK_TIMEOUT_MS,
  errcodeOf,
  LockWait,
  SQLITE_CANTOPEN,
  tableColumns,
  transaction,
} from "./_driver.ts";
import { encryptAll } from "./rotate.ts";
import { sqliteRawAt } from "./sqlite_raw.ts";
import { SqliteStore } from "./sqlite_store.ts";

/** Options for `openSqliteStore`. */
export interface SqliteStoreOptions {
  /**
   * What the installed plugins store and how their tables are made
   * (default: the core's alone): their migrations are applied with the
   * core's, and every table in the database must be described or declared.
   */
  catalog?: Catalog;
  /** Migrations to apply; defaults to the catalog's SQLite migrations. */
  migrations?: Migration[];
  /**
   * How long a write waits for another process's write lock before it fails
   * with "locked", in milliseconds (default 5000). The wait is a timer, so
   * the event loop keeps serving meanwhile.
   */
  lockTimeoutMs?: number;
  /** Create the file when missing; default true. */
  create?: boolean;
  /**
   * Create its missing folder too; default false, so that a mistyped path
   * fails rather than becoming a new, empty database somewhere else.
   */
  createFolder?: boolean;
  /**
   * Make an existing empty file (no table in it) a database; default false:
   * only `migrate` does, when asked to.
   */
  initialiseEmpty?: boolean;
  /**
   * Encrypts names, usernames and titles. The first key a database is opened
   * with is bound to it (older plaintext rows are encrypted then); opening
   * it later with another key, or with none, fails with `WrongKeyError`.
   */
  cipher?: FieldCipher;
  /** Told how the first encryption of a plaintext database is going. */
  onProgress?: ProgressCallback;
}

/**
 * Opens (creating if needed) the SQLite database at `path`, applies pending
 * migrations and returns the store. Throws `StoreError` when it cannot.
 */
export async function openSqliteStore(
  path: string,
  options: SqliteStoreOptions = {},
): Promise<SqliteStore> {
  const catalog = options.catalog ?? CORE_CATALOG;
  const migrations = options.migrations ??
    await catalogMigrations(catalog, "sqlite");
  const lock = new LockWait(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  let db: DatabaseSync | undefined;
  try {
    const existed = path !== ":memory:" && existsFile(path);
    if (path !== ":memory:") {
      prepareFile(path, {
        create: options.create ?? true,
        createFolder: options.createFolder ?? false,
      });
    }
    db = new DatabaseSync(path);
    const open = db;
    // Before anything is written (WAL mode writes the header): a file that
    // is not this bot's database is left exactly as it was.
    if (existed) {
      requireOwnDatabase(open, path, options.initialiseEmpty ?? false);
    }
    if (path !== ":memory:") ownerOnly(path);
    // node:sqlite's busy handler sleeps on the calling thread, which here is
    // the event loop: a lock held by another process would freeze every
    // request. Lock waits are retried on a timer instead (`LockWait`).
    open.exec("PRAGMA busy_timeout = 0");
    await lock.retry(() => open.exec("PRAGMA journal_mode = WAL"));
    // FULL makes every commit survive a power cut, which is what lets the
    // webhook answer 200 only after a registration is durable.
    open.exec("PRAGMA synchronous = FULL");
    // Deleted and overwritten values are zeroed in the file, not left behind.
    open.exec("PRAGMA secure_delete = ON");
    await migrate(open, migrations, lock);
    if (path !== ":memory:") ownerOnly(path);
    checkSchema(tableColumns(open), catalog);
    const codec = await bindDataKey(open, new FieldCodec(options.cipher), {
      lock,
      onProgress: options.onProgress,
      tables: catalog.tables,
    });
    return new SqliteStore(open, { codec, lock, path, catalog });
  } catch (error) {
    if (db?.isOpen) db.close();
    if (error instanceof WrongKeyError) throw error;
    if (error instanceof NotOurDatabaseError) throw error;
    if (error instanceof SchemaError) throw error;
    throw new StoreError(
      `Cannot open the SQLite database at "${path}": ${
        cantOpenCause(path, error) ?? errorMessage(error)
      }`,
      { cause: error },
    );
  }
}

/**
 * A SQLite file seen as stored values, for a copy. The file is created and
 * migrated first (by the store itself) when `create` is set, as a copy's
 * target is.
 */
export async function openSqliteRaw(
  path: string,
  options: { create: boolean; catalog?: Catalog },
): Promise<RawDatabase> {
  const catalog = options.catalog ?? CORE_CATALOG;
  try {
    // The store applies the migrations, checks the tables and makes the
    // file owner-only.
    await (await openSqliteStore(path, { create: options.create, catalog }))
      .close();
  } catch (error) {
    // Opening without a key an encrypted file is refused only after its
    // migrations were applied: the raw copy needs no key.
    if (!(error instanceof WrongKeyError)) throw error;
  }
  return sqliteRawAt(path, catalog);
}

// Applies pending migrations, each in a write transaction.
function migrate(
  db: DatabaseSync,
  migrations: Migration[],
  lock: LockWait,
): Promise<void> {
  return applyMigrations(migrations, {
    current: () => lock.retry(() => appliedVersions(db)),
    apply: (migration, appliedAt) =>
      lock.retry(() =>
        transaction(db, () => {
          // Checked inside the write lock, so two processes starting
          // together never apply the same migration twice.
          if (isApplied(appliedVersions(db), migration)) return;
          db.exec(migration.sql);
          recordMigration(db, migration, { appliedAt });
        })
      ),
  });
}

// The core's own rows leave the namespace to its default ('core'): before
// the core's migration 6 the table has no such column.
function recordMigration(
  db: DatabaseSync,
  migration: Migration,
  { appliedAt }: { appliedAt: number },
): void {
  if (migration.namespace === CORE_NAMESPACE) {
    db.prepare(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
    ).run(migration.version, migration.name, appliedAt);
    return;
  }
  db.prepare(
    "INSERT INTO schema_migrations (namespace, version, name, applied_at) VALUES (?, ?, ?, ?)",
  ).run(migration.namespace, migration.version, migration.name, appliedAt);
}

// Checks the key against the database. The first key a database meets is
// bound to it, and rows written in plaintext before then are encrypted.
async function bindDataKey(
  db: DatabaseSync,
  codec: FieldCodec,
  options: {
    lock: LockWait;
    onProgress?: ProgressCallback;
    tables: Catalog["tables"];
  },
): Promise<FieldCodec> {
  const check = db.prepare(
    "SELECT key_id, check_value FROM data_key_check WHERE id = 1",
  ).get() as KeyCheck | undefined;
  const bound = codecForCheck(codec, check);
  if (bound !== undefined) return bound;
  const encrypted = await encryptAll(db, codec, options);
  if (encrypted > 0) await checkpoint(db, options.lock);
  return codec;
}

// Creates an owner-only file (and, when asked, its folder) before SQLite
// opens it; SQLite gives new -wal and -shm files the same mode as the
// database.
function prepareFile(
  path: string,
  options: { create: boolean; createFolder: boolean },
): void {
  if (!options.create) {
    if (!existsFile(path)) throw new Error("there is no database file there");
  } else {
    if (options.createFolder) {
      Deno.mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    } else if (!existsDirectory(dirname(path))) {
      throw new Error(`its folder "${dirname(path)}" does not exist`);
    }
    const file = Deno.openSync(path, {
      create: true,
      write: true,
      mode: 0o600,
    });
    file.close();
  }
}

// SQLite says only "unable to open database file" whatever the reason; the
// system's own words are found by doing what SQLite needs: writing the file,
// and creating its -wal and -shm files beside it.
function cantOpenCause(path: string, error: unknown): string | undefined {
  if (errcodeOf(error) !== SQLITE_CANTOPEN || path === ":memory:") {
    return undefined;
  }
  try {
    Deno.openSync(path, { read: true, write: true }).close();
  } catch (cause) {
    return `the file cannot be written: ${errorMessage(cause)}`;
  }
  try {
    Deno.removeSync(Deno.makeTempFileSync({ dir: dirname(path) }));
  } catch (cause) {
    return `its folder "${
      dirname(path)
    }" cannot be written, and SQLite keeps its -wal and -shm files there: ${
      errorMessage(cause)
    }`;
  }
  return undefined;
}

/**
 * An existing file that is not this bot's database: another application's
 * SQLite file, or an empty file. It is refused and left untouched, so that
 * a wrong path never turns someone else's file into a bot database.
 */
export class NotOurDatabaseError extends PermanentStoreError {
  /** Names the file and what it holds instead. */
  constructor(path: string, what: string) {
    super(
      `"${path}" is not this bot's database (${what}); it was left untouched: check DATABASE_URL or --database`,
    );
    this.name = "NotOurDatabaseError";
  }
}

// This bot's database has its migration record and its two record tables.
// An empty file (no table at all) is made a database only where creating
// one is allowed (`migrate`, the bot's first start on a missing file).
function requireOwnDatabase(
  db: DatabaseSync,
  path: string,
  mayInitialise: boolean,
): void {
  const tables = (db.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  ).all() as { name: string }[]).map((row) => row.name);
  if (tables.length === 0) {
    if (mayInitialise) return;
    throw new NotOurDatabaseError(
      path,
      "it holds no table: an empty file; deno task cli migrate makes it one",
    );
  }
  const ours = ["schema_migrations", "users", "groups"];
  if (ours.every((table) => tables.includes(table))) return;
  const shown = tables.slice(0, 5).join(", ") +
    (tables.length > 5 ? ", …" : "");
  throw new NotOurDatabaseError(path, `it holds other tables: ${shown}`);
}

// An existing file keeps its mode through an open, and so do -wal and -shm
// files left from before: each is made owner-only on every open.
function ownerOnly(path: string): void {
  if (Deno.build.os === "windows") return;
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((Deno.statSync(file).mode! & 0o777) !== 0o600) {
        Deno.chmodSync(file, 0o600);
      }
    } catch (error) {
      // Gone meanwhile, or not ours to change (a reader running as another
      // user, a run without write permission): opening goes on.
      if (
        !(error instanceof Deno.errors.NotFound ||
          error instanceof Deno.errors.PermissionDenied ||
          error instanceof Deno.errors.NotCapable)
      ) throw error;
    }
  }
}

function existsDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function existsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
