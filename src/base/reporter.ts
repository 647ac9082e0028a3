import type { Update } from "grammy/types";

/** What a report says besides the error and its update. */
export interface ReportOptions {
  /** The plugin the error came from (Sentry gets it as the tag `plugin`). */
  plugin?: string;
}

/** Where errors met while handling updates are reported. */
export interface Reporter {
  /** Logs the error and, with Sentry enabled, sends it with its update. */
  report(error: unknown, update?: Update, options?: ReportOptions): void;
  /** Waits until queued reports are sent (or the timeout passes). */
  flush(timeoutMs?: number): Promise<void>;
}
