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
 * Prints the schema version, and each plugin's beside it (`notes schema
 * version 1`, as `inspect` says). Opening the store already applied any
 * pending migration, each in its own transaction, so running it twice is
 * harmless.
 */
export async function migrate(
  store: MaintenanceStore,
  options: MigrateOptions,
): Promise<void> {
  const { schemaVersion, versions } = await store.summary();
  const plugins = Object.entries(versions).filter(([namespace]) =>
    namespace !== "core"
  ).map(([namespace, version]) => `${namespace} schema version ${version}\n`);
  await options.io.stdout.write(
    `schema version ${schemaVersion}\n${plugins.join("")}`,
  );
  if (options.created === undefined) return;
  await options.io.stderr.write(
    `Created a new, empty database at "${options.created}"\n`,
  );
  const warning = await ownershipWarning(options.created);
  if (warning !== undefined) await options.io.stderr.write(`${warning}\n`);
}
