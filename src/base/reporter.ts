import type { Update } from "grammy/types";

/** Where errors met while handling updates are reported. */
export interface Reporter {
  /** Logs the error and, with Sentry enabled, sends it with its update. */
  report(error: unknown, update?: Update): void;
  /** Waits until queued reports are sent (or the timeout passes). */
  flush(timeoutMs?: number): Promise<void>;
}
