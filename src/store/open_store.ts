import type { DatabaseLocation } from "./database_url.ts";
import type { FieldCipher } from "../crypto/field_cipher.ts";
import { openSqliteStore } from "./sqlite_store.ts";
import type { ProgressCallback, Store } from "./store.ts";

/** Options for `openStore`. */
export interface OpenStoreOptions {
  cipher?: FieldCipher;
  /** Create a missing SQLite file (the bot does; most CLI commands do not). */
  create?: boolean;
  /** Told how the first encryption of a plaintext database advances. */
  onProgress?: ProgressCallback;
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
  const { openPostgresStore } = await import("./postgres_store.ts");
  return await openPostgresStore(location.connection, {
    cipher: options.cipher,
    onProgress: options.onProgress,
  });
}
