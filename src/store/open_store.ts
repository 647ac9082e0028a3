import type { DatabaseLocation } from "../config.ts";
import type { FieldCipher } from "../crypto/field_cipher.ts";
import { openSqliteStore } from "./sqlite_store.ts";
import { type Store, StoreError } from "./store.ts";

/** Options for `openStore`. */
export interface OpenStoreOptions {
  cipher?: FieldCipher;
  /** Create a missing SQLite file (the bot does; most CLI commands do not). */
  create?: boolean;
}

/** Opens the store at `location`, picking the engine from its kind. */
export async function openStore(
  location: DatabaseLocation,
  options: OpenStoreOptions = {},
): Promise<Store> {
  if (location.kind === "sqlite") {
    return await openSqliteStore(location.path, options);
  }
  throw new StoreError("PostgreSQL is not supported yet");
}
