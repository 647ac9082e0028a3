import type { Store } from "../store/store.ts";
import type { CliIo } from "./io.ts";

/** Options of `copy`. */
export interface CopyOptions {
  /** The target database, as a `DATABASE_URL` value. */
  to: string;
  io: CliIo;
  /** No progress display even on a terminal. */
  quiet?: boolean;
}

/**
 * Copies every record and the audit log into another, empty database.
 * Placeholder until the PostgreSQL store lands.
 */
export function copy(_store: Store, _options: CopyOptions): Promise<void> {
  return Promise.reject(new Error("copy is not built yet"));
}
