import type { MaintenanceStore } from "../store/store.ts";
import type { CliIo } from "./io.ts";

/** Options of `compact`. */
export interface CompactOptions {
  io: CliIo;
}

/**
 * `compact`: rewrites the record tables so that values deleted or replaced
 * earlier (purges, a rotation) leave the database files now rather than
 * whenever the engine reuses their space.
 */
export async function compact(
  store: MaintenanceStore,
  options: CompactOptions,
): Promise<void> {
  await store.compact();
  await options.io.stderr.write(
    "Done: deleted values are gone from the table files (backups, and on PostgreSQL the write-ahead log and replicas, keep theirs until they expire)\n",
  );
}
