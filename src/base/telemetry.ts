/**
 * What the bot tells about its work: counters, durations and spans, with
 * bounded labels only (never an id, a name or a secret). The interface is
 * here, with a no-op for telemetry off; `runtime/otel.ts` sends it through
 * OpenTelemetry. It is passed in like any other dependency.
 *
 * @module
 */

/** How an update ended: written, found unchanged, refused for Telegram to resend, or failed in a handler. */
export type UpdateOutcome = "stored" | "unchanged" | "refused" | "failed";

/** A kind of privacy request. */
export type PrivacyKind = "export" | "erase" | "inspect";

/** Where a privacy request came from. */
export type PrivacyChannel = "chat" | "cli" | "mini_app";

/** The bot's telemetry; every method is cheap and never throws. */
export interface Telemetry {
  /** False for the no-op: callers skip work done only for telemetry. */
  readonly enabled: boolean;
  /**
   * Runs the handling of one update inside its span and records it once
   * `run` settles with its outcome; `receivedAt` (`performance.now()`) is
   * when it arrived, for the time to acknowledgement.
   */
  update<T>(
    update: object,
    run: () => Promise<T>,
    options: {
      receivedAt: number;
      outcome: (result: UpdateResult<T>) => UpdateOutcome;
      batch?: (update: object) => number | undefined;
    },
  ): Promise<T>;
  /** Runs one store commit of `size` plans inside its span, recording its size, duration and failure. */
  commit<T>(size: number, run: () => Promise<T>): Promise<T>;
  /** A store failure of one kind (bounded: an error class or a short name). */
  storeFailure(kind: string): void;
  /** One Bot API call by method, with `result` "ok" or an error code. */
  apiCall(method: string, result: string, seconds: number): void;
  /** Runs one privacy request inside its span and counts it. */
  privacy<T>(
    kind: PrivacyKind,
    channel: PrivacyChannel,
    run: () => Promise<T>,
  ): Promise<T>;
  /** Records erased records, by why they were erased (a short fixed word). */
  erasure(reason: string, count?: number): void;
  /** The active trace and span ids, for log lines; undefined without a span. */
  ids(): { traceId: string; spanId: string } | undefined;
}

/** How `run` settled, for `Telemetry.update`'s outcome. */
export type UpdateResult<T> = { ok: true; value: T } | {
  ok: false;
  error: unknown;
};

/** Telemetry off: nothing is recorded and nothing is spent. */
export const noTelemetry: Telemetry = {
  enabled: false,
  update: (_update, run) => run(),
  commit: (_size, run) => run(),
  storeFailure: () => {},
  apiCall: () => {},
  privacy: (_kind, _channel, run) => run(),
  erasure: () => {},
  ids: () => undefined,
};

/** The update's type: its one field besides `update_id` (bounded by Telegram's list). */
export function updateType(update: object): string {
  for (const key in update) if (key !== "update_id") return key;
  return "unknown";
}

/**
 * Whether Deno exports telemetry in this process: `OTEL_DENO` is `true` or
 * `1`, or it runs on Deno Deploy, which always collects it.
 */
export function telemetryOn(
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  return /^(true|1)$/i.test(env.OTEL_DENO ?? "") ||
    (env.DENO_DEPLOYMENT_ID ?? "") !== "";
}
