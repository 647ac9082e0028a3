import { EXIT } from "../base/exit_codes.ts";
import type { Logger } from "../base/log.ts";
import { sleep } from "./stopper.ts";

const FIRST_WAIT_MS = 500;
const MAX_WAIT_MS = 5_000;

// Codes along an error's cause chain that say the server is not there yet,
// or not taking connections yet: all may pass on their own. Node's network
// codes as the PostgreSQL driver passes them on, the driver's own, and
// PostgreSQL's SQLSTATEs for "cannot connect now" and "too many clients".
const CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  CONNECTION_CLOSED: "connection closed",
  CONNECTION_ENDED: "connection closed",
  CONNECTION_DESTROYED: "connection closed",
  ENOTFOUND: "DNS lookup failed",
  EAI_AGAIN: "DNS lookup failed",
  EHOSTUNREACH: "network unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "no answer in time",
  CONNECT_TIMEOUT: "no answer in time",
  "57P01": "PostgreSQL is shutting down",
  "57P02": "PostgreSQL is shutting down",
};
// These keep the server's own words ("the database system is starting up").
const SERVER_WORDS = new Set(["57P03", "53300"]);

/**
 * Why `error` may pass on its own (the database is not reachable yet), as a
 * few words for the operator; undefined for a failure that will not fix
 * itself (a wrong key, a file that is not a database, a missing database).
 */
export function unreachableCause(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") {
      if (SERVER_WORDS.has(code)) return `PostgreSQL: ${current.message}`;
      const cause = CODES[code];
      if (cause !== undefined) return cause;
    }
    // The store's own bound on a database that accepts but never answers.
    if (/did not answer within/.test(current.message)) {
      return "no answer in time";
    }
    current = current.cause;
  }
  return undefined;
}

/** Options for `untilReachable`. */
export interface UntilReachableOptions<T> {
  /** How long to keep trying, in ms; 0 tries once. */
  timeoutMs: number;
  /** Aborted by a stop: the waiting ends at once. */
  signal?: AbortSignal;
  log: Logger;
  /** Names the database in log lines, e.g. "the PostgreSQL database …". */
  where: string;
  /** Closes what a try in flight at a stop opens after all. */
  discard?: (late: T) => void;
}

/**
 * Runs `attempt` until it succeeds, or fails in a way that will not pass
 * (thrown on), or the database stays out of reach for `timeoutMs`: then
 * one error line and `EXIT.unreachable`. Each failed try gets one
 * line naming its cause. A stop while waiting returns 0.
 */
export async function untilReachable<T>(
  attempt: () => Promise<T>,
  options: UntilReachableOptions<T>,
): Promise<T | number> {
  const { log, signal } = options;
  const started = Date.now();
  let wait = FIRST_WAIT_MS;
  for (let tries = 1;; tries++) {
    let cause: string | undefined;
    try {
      return await stoppable(attempt(), signal, options.discard);
    } catch (error) {
      if (error === STOPPED) return EXIT.ok;
      cause = unreachableCause(error);
      if (cause === undefined) throw error;
    }
    const left = started + options.timeoutMs - Date.now();
    if (left <= 0) {
      const seconds = Math.round((Date.now() - started) / 1000);
      log.error(
        `${options.where} stayed out of reach (${cause}) through ${tries} ${
          tries === 1 ? "try" : "tries"
        } in ${seconds} s: giving up with exit code ${EXIT.unreachable}, so that the service manager starts the bot again later (DATABASE_START_TIMEOUT_SECONDS sets how long to wait)`,
      );
      return EXIT.unreachable;
    }
    const ms = Math.min(wait, left);
    log.warn(
      `${options.where} cannot be reached: ${cause}; trying again in ${
        ms / 1000
      } s (try ${tries + 1})`,
    );
    await sleep(ms, signal);
    if (signal?.aborted) return EXIT.ok;
    wait = Math.min(wait * 2, MAX_WAIT_MS);
  }
}

const STOPPED = Symbol("stopped");

// A stop does not wait for a connection attempt in flight (up to its own
// connect timeout); whatever it opens late is closed when it comes.
function stoppable<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  discard: ((late: T) => void) | undefined,
): Promise<T> {
  if (signal === undefined) return work;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(STOPPED);
      work.then(discard, () => {});
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}
