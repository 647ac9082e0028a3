import { dirname, normalize } from "node:path";
import { ConfigError } from "../config/config.ts";
import type { DatabaseLocation } from "../config/database_url.ts";
import type { FieldCipher } from "../crypto/field_cipher.ts";
import type { Catalog } from "../base/tables.ts";
import { openSqliteStore } from "./sqlite/open.ts";
import type { RawDatabase } from "./raw_copy.ts";
import type { ProgressCallback, Store } from "./store.ts";

/** Options for `openStore`. */
export interface OpenStoreOptions {
  /**
   * What the installed plugins store (default: the core's alone): their
   * migrations are applied, and every table must be described or declared.
   */
  catalog?: Catalog;
  cipher?: FieldCipher;
  /** Create a missing SQLite file (the bot does; most CLI commands do not). */
  create?: boolean;
  /** Create the SQLite file's missing folder too (only the default `data/`). */
  createFolder?: boolean;
  /** Make an existing empty SQLite file a database (`migrate` only). */
  initialiseEmpty?: boolean;
  /** Told how the first encryption of a plaintext database advances. */
  onProgress?: ProgressCallback;
}

/** The folder of the default database, the only one made when missing. */
const DEFAULT_DATA_FOLDER = "data";

/**
 * What opening a SQLite database at `path` with `create` would make:
 * nothing (the file is there), the file, or the default `data/` folder and
 * the file. Any other missing folder is a mistyped path, never created:
 * a `ConfigError` naming `variable` and the folder.
 */
export async function sqliteCreates(
  path: string,
  variable: string,
): Promise<"nothing" | "file" | "folder"> {
  if (path === ":memory:" || await exists(path)) return "nothing";
  const folder = dirname(path);
  if (await exists(folder)) return "file";
  if (normalize(folder) === DEFAULT_DATA_FOLDER) return "folder";
  throw new ConfigError(
    variable,
    `names a database in the folder "${folder}", which does not exist: correct the path, or create the folder first (only the default ${DEFAULT_DATA_FOLDER}/ folder is made when missing)`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Opens the store at `location`, picking the engine from its kind. The
 * PostgreSQL driver is loaded only when a PostgreSQL database is named, so
 * a SQLite bot does not pay for it at start-up.
 */
export async function openStore(
  location: DatabaseLocation,
  options: OpenStoreOptions = {},
): Promise<Store> {
  if (location.kind === "sqlite") {
    return await openSqliteStore(location.path, options);
  }
  const { openPostgresStore } = await import("./postgres/open.ts");
  return await openPostgresStore(location.connection, {
    catalog: options.catalog,
    cipher: options.cipher,
    onProgress: options.onProgress,
  });
}

/**
 * Opens the database at `location` as stored values (a copy's target),
 * migrated with `catalog`'s migrations first (default: the core's alone)
 * and its tables checked; with `create`, a missing SQLite file is made.
 */
export async function openRawDatabase(
  location: DatabaseLocation,
  options: { create: boolean; catalog?: Catalog },
): Promise<RawDatabase> {
  if (location.kind === "sqlite") {
    const { openSqliteRaw } = await import("./sqlite/open.ts");
    return await openSqliteRaw(location.path, options);
  }
  const { openPostgresRaw } = await import("./postgres/open.ts");
  return await openPostgresRaw(location.connection, {
    catalog: options.catalog,
  });
}
