import type { Store } from "../store/store.ts";
import type { CliIo } from "./io.ts";

/** Options of `migrate`. */
export interface MigrateOptions {
  io: CliIo;
}

/**
 * Prints the schema version. Opening the store already applied any pending
 * migration, each in its own transaction, so running it twice is harmless.
 */
export async function migrate(
  store: Store,
  options: MigrateOptions,
): Promise<void> {
  await options.io.stdout.write(
    `schema version ${await store.schemaVersion()}\n`,
  );
}
