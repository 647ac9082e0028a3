import type { MaintenanceStore } from "../store/store.ts";
import { ownershipWarning } from "../fs/new_file.ts";
import type { CliIo } from "./io.ts";

/** Options of `migrate`. */
export interface MigrateOptions {
  io: CliIo;
  /** The path of the SQLite database this run created, if it did. */
  created?: string;
}

/**
 * Prints the schema version. Opening the store already applied any pending
 * migration, each in its own transaction, so running it twice is harmless.
 */
export async function migrate(
  store: MaintenanceStore,
  options: MigrateOptions,
): Promise<void> {
  await options.io.stdout.write(
    `schema version ${await store.schemaVersion()}\n`,
  );
  if (options.created === undefined) return;
  await options.io.stderr.write(
    `Created a new, empty database at "${options.created}"\n`,
  );
  const warning = await ownershipWarning(options.created);
  if (warning !== undefined) await options.io.stderr.write(`${warning}\n`);
}
