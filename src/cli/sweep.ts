import type { RetentionStore } from "../store/store.ts";
import { dayOf, daysBefore } from "../base/days.ts";
import { plural } from "../base/plural.ts";
import type { Telemetry } from "../base/telemetry.ts";
import { usageError } from "./cli_error.ts";
import type { CliIo } from "./io.ts";

/** Options of `sweep`. */
export interface SweepCommandOptions {
  /** `RETENTION_DAYS`; the sweep refuses to run without it. */
  days: number | undefined;
  /** Print the counts and erase nothing. */
  dryRun: boolean;
  /** The clock in milliseconds; default `Date.now`. */
  now?: () => number;
  io: CliIo;
  /** Where the erasures are counted (reason `inactive`); default none. */
  telemetry?: Telemetry;
}

/**
 * `sweep`: erases the users and groups not seen for longer than the
 * retention period, as the bot does once a day, and prints the counts.
 * It records the period first, as the bot does at start, so that records
 * stored before it count as seen today.
 */
export async function sweepCommand(
  store: RetentionStore,
  options: SweepCommandOptions,
): Promise<void> {
  const { days, io } = options;
  if (days === undefined) {
    throw usageError(
      "sweep needs RETENTION_DAYS: without a retention period nothing expires",
    );
  }
  const today = dayOf((options.now ?? Date.now)());
  await store.applyRetention(days, today);
  const cutoff = daysBefore(today, days);
  const result = await store.sweep(cutoff, { dryRun: options.dryRun });
  const counts = `${plural(result.users, "user")} and ${
    plural(result.groups, "group")
  } not seen since before ${cutoff} (${days} days)`;
  if (options.dryRun) {
    await io.stdout.write(`Would erase ${counts}\n`);
    await io.stderr.write("Dry run: nothing was deleted\n");
    return;
  }
  options.telemetry?.erasure("inactive", result.users + result.groups);
  await io.stdout.write(
    `Erased ${counts}: ${plural(result.rows, "row")} in every table\n`,
  );
}
