import { ConfigError, type Env } from "../config/config.ts";
import { type DataKey, keySource, loadDataKey } from "../crypto/data_key.ts";
import { WrongKeyError } from "../crypto/field_cipher.ts";
import { dataKeyCipher, interruptedRotation } from "../crypto/key_file.ts";
import { EXIT } from "../base/exit_codes.ts";
import type { Logger } from "../base/log.ts";
import {
  type DatabaseLocation,
  describeLocation,
} from "../config/database_url.ts";
import { errorLine } from "../base/error_text.ts";
import { openStore, sqliteCreates } from "../store/open_store.ts";
import type { Store } from "../store/store.ts";
import type { Catalog } from "../base/tables.ts";
import { unreachableCause, untilReachable } from "./until_reachable.ts";

/** What `openWithKey` needs besides the database. */
export interface OpenWithKeyOptions {
  /** The environment, for DATA_ENCRYPTION_KEY or DATA_KEY_FILE. */
  env: Env;
  /** The key already loaded, if one was configured. */
  dataKey: DataKey | undefined;
  log: Logger;
  /** How long a database out of reach is tried again, in ms (default 0). */
  startTimeoutMs?: number;
  /** A stop: ends the waiting for the database. */
  signal?: AbortSignal;
  /** What the installed plugins store (default: the core's alone). */
  catalog?: Catalog;
}

/**
 * Opens the store with the data key. Without a key, one is created only
 * for a new, empty database; an existing one gets one line saying what to
 * set, and no key file is made. A database out of reach is tried again
 * for `startTimeoutMs`. Returns an exit code on failure (`EXIT`): `usage`
 * for bad configuration, `store` when the store could not be opened,
 * `unreachable` when it stayed out of reach, `ok` when a stop came while
 * waiting.
 */
export async function openWithKey(
  database: DatabaseLocation,
  options: OpenWithKeyOptions,
): Promise<{ store: Store; dataKey: DataKey } | number> {
  // The description names host, port, database and user, never a password.
  const where = database.kind === "sqlite"
    ? `the SQLite database "${database.path}"`
    : `the PostgreSQL database ${describeLocation(database)}`;
  options.log.info(`using ${where}`);
  return await untilReachable(() => openOnce(database, options), {
    timeoutMs: options.startTimeoutMs ?? 0,
    signal: options.signal,
    log: options.log,
    where: where.replace(/^t/, "T"),
    discard: (late) => {
      if (typeof late !== "number") late.store.close().catch(() => {});
    },
  });
}

async function openOnce(
  database: DatabaseLocation,
  options: OpenWithKeyOptions,
): Promise<{ store: Store; dataKey: DataKey } | number> {
  const { env, log } = options;
  let dataKey = options.dataKey;
  try {
    // Checked before a key file is made: a mistyped path changes nothing.
    const creates = database.kind === "sqlite"
      ? await sqliteCreates(database.path, "DATABASE_URL")
      : "nothing";
    if (dataKey === undefined) {
      const state = await keylessState(database, options.catalog);
      if (state !== "new") {
        log.error(
          state === "encrypted"
            ? "This database is encrypted, but no key was found: set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key"
            : "This database holds records but no data key was found: set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to a new key from deno task cli keygen, and the bot encrypts the records with it at start",
        );
        return EXIT.store;
      }
      dataKey = (await loadDataKey(env, { create: true }))!;
      if (dataKey.created) {
        log.info(
          `created the data encryption key in "${dataKey.path}": keep it safe and apart from database backups, since losing it loses the data`,
        );
      }
    }
    const store = await openStore(database, {
      catalog: options.catalog,
      cipher: dataKeyCipher(dataKey),
      create: true,
      createFolder: creates === "folder",
    });
    if (creates !== "nothing" && database.kind === "sqlite") {
      log.info(`created a new, empty database at "${database.path}"`);
    }
    return { store, dataKey };
  } catch (error) {
    // Tried again by the caller: the database may not be up yet.
    if (unreachableCause(error) !== undefined) throw error;
    if (error instanceof ConfigError) {
      log.error(error.message);
      return EXIT.usage;
    }
    // Name where the refused key came from: the operator may not know
    // which of the variable and the key file was read.
    const source = error instanceof WrongKeyError && dataKey !== undefined
      ? `; it came from ${keySource(dataKey)}${await interruptedRotation(
        dataKey,
      )}`
      : "";
    log.error(errorLine(error) + source);
    return EXIT.store;
  }
}

/**
 * What a database opened without a key is: new (no file yet, or no records
 * and no key bound), encrypted under a key not given, or holding plaintext
 * records from before encryption.
 */
async function keylessState(
  database: DatabaseLocation,
  catalog: Catalog | undefined,
): Promise<"new" | "encrypted" | "records"> {
  if (database.kind === "sqlite") {
    try {
      const info = await Deno.stat(database.path);
      if (info.size === 0) return "new";
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "new";
      throw error;
    }
  }
  let store: Store;
  try {
    store = await openStore(database, { create: true, catalog });
  } catch (error) {
    if (error instanceof WrongKeyError) return "encrypted";
    throw error;
  }
  try {
    const summary = await store.summary();
    return summary.rows.users + summary.rows.groups === 0 ? "new" : "records";
  } finally {
    await store.close();
  }
}
