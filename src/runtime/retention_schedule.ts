import type { RetentionStore } from "../store/store.ts";
import type { Logger } from "../base/log.ts";
import { dayOf, daysBefore } from "../base/days.ts";
import { plural } from "../base/plural.ts";
import { noTelemetry, type Telemetry } from "../base/telemetry.ts";

/** Options for `startRetention`. */
export interface RetentionScheduleOptions {
  /** `RETENTION_DAYS`; undefined clears the stored days and schedules nothing. */
  days: number | undefined;
  /** On Deno Deploy the daily run is a `Deno.cron`; elsewhere a timer. */
  onDeploy: boolean;
  log: Logger;
  /** The clock in milliseconds; default `Date.now`. */
  now?: () => number;
  /** How often the timer asks whether today's sweep is due; default an hour. */
  checkEveryMs?: number;
  /** Where the sweep's erasures are counted (reason `inactive`); default none. */
  telemetry?: Telemetry;
}

/** A running daily sweep; `stop` ends its timer and waits for a sweep in progress. */
export interface RetentionSchedule {
  stop(): Promise<void>;
}

// Deno.cron is unstable outside Deploy: reached without needing its types.
type Cron = (
  name: string,
  schedule: string,
  handler: () => Promise<void>,
) => Promise<void>;

/**
 * Records the retention period in force (turning it off clears every
 * stored day) and, with one, sweeps once a day: the day is claimed in the
 * database first, so that of several instances sharing it exactly one
 * sweeps. The first check runs at once, so a start after a pause sweeps.
 * A failed sweep is logged and tried again at the next check.
 */
export async function startRetention(
  store: RetentionStore,
  options: RetentionScheduleOptions,
): Promise<RetentionSchedule> {
  const { days, log } = options;
  const now = options.now ?? Date.now;
  await store.applyRetention(days, dayOf(now()));
  if (days === undefined) return { stop: () => Promise.resolve() };
  let running: Promise<void> = Promise.resolve();
  const check = async () => {
    const today = dayOf(now());
    try {
      if (!await store.claimSweep(today)) return;
      const cutoff = daysBefore(today, days);
      const result = await store.sweep(cutoff, { actor: "bot" });
      (options.telemetry ?? noTelemetry).erasure(
        "inactive",
        result.users + result.groups,
      );
      log.info(
        `retention sweep: erased ${plural(result.users, "user")} and ${
          plural(result.groups, "group")
        } not seen for more than ${days} days`,
      );
    } catch (error) {
      log.warn(`retention sweep failed: ${(error as Error).message}`);
    }
  };
  const run = () => {
    running = running.then(check);
    return running;
  };
  const cron = (Deno as unknown as { cron?: Cron }).cron;
  if (options.onDeploy && cron !== undefined) {
    // Deploy runs it in one isolate a day; the claim still keeps it once.
    await cron("retention sweep", "17 3 * * *", run);
    return { stop: () => running };
  }
  run();
  const timer = setInterval(run, options.checkEveryMs ?? 3_600_000);
  Deno.unrefTimer(timer);
  return {
    stop: () => {
      clearInterval(timer);
      return running;
    },
  };
}
