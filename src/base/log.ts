import type { Redactor } from "./redact.ts";

/** One-line operator messages on stderr, with secrets removed. */
export interface Logger {
  /** Something the operator may want to know. */
  info(message: string, event?: string): void;
  /** Something went wrong but the bot runs on. */
  warn(message: string, event?: string): void;
  /** Something failed. */
  error(message: string, event?: string): void;
  /** Detail for finding a fault; written only at `LOG_LEVEL=debug`. */
  debug?(message: string, event?: string): void;
}

/** The levels `LOG_LEVEL` takes, least severe first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** One of `LOG_LEVELS`. */
export type LogLevel = typeof LOG_LEVELS[number];

/** How lines are written: `text` (`info: …`, today's) or `json` (one object a line). */
export type LogFormat = "text" | "json";

/** Options for `createLogger`. */
export interface LogOptions {
  /** Default `text`. */
  format?: LogFormat;
  /** The least severe level written; default `info`. */
  level?: LogLevel;
  /** The active trace and span ids, added to JSON lines when telemetry is on. */
  ids?: () => { traceId: string; spanId: string } | undefined;
  /** The clock in milliseconds; replaceable for tests. */
  now?: () => number;
}

const TEXT_PREFIX: Record<LogLevel, string> = {
  debug: "debug",
  info: "info",
  warn: "warning",
  error: "error",
};

/**
 * Builds the logger; every line passes through `redact` before it is
 * written. Callers never put a person's name, username or id in a message,
 * only counts, update ids and the operator's own settings; `redact` is the
 * second line of defence for the secrets.
 */
export function createLogger(
  redact: Redactor,
  write: (line: string) => void = (line) => console.error(line),
  options: LogOptions = {},
): Logger {
  const least = LOG_LEVELS.indexOf(options.level ?? "info");
  const json = options.format === "json";
  const now = options.now ?? Date.now;
  const line = (level: LogLevel) => {
    if (LOG_LEVELS.indexOf(level) < least) return undefined;
    return (message: string, event?: string) => {
      if (!json) {
        write(redact(`${TEXT_PREFIX[level]}: ${message}`));
        return;
      }
      const ids = options.ids?.();
      // The redactor runs on each value, not on the JSON text, so that an
      // escaped secret cannot slip past it.
      write(JSON.stringify({
        time: new Date(now()).toISOString(),
        level,
        message: redact(message),
        ...(event === undefined ? {} : { event: redact(event) }),
        ...(ids === undefined
          ? {}
          : { trace_id: ids.traceId, span_id: ids.spanId }),
      }));
    };
  };
  const skip = () => {};
  return {
    debug: line("debug") ?? skip,
    info: line("info") ?? skip,
    warn: line("warn") ?? skip,
    error: line("error") ?? skip,
  };
}

/**
 * Reads `LOG_FORMAT` and `LOG_LEVEL`; throws `TypeError` quoting a value
 * that is not one of theirs.
 */
export function logSettings(
  env: Record<string, string | undefined>,
): { format: LogFormat; level: LogLevel } {
  const format = (env.LOG_FORMAT ?? "").trim().toLowerCase() || "text";
  if (format !== "text" && format !== "json") {
    throw new TypeError(
      `LOG_FORMAT must be "text" or "json", not "${env.LOG_FORMAT}"`,
    );
  }
  const raw = (env.LOG_LEVEL ?? "").trim().toLowerCase() || "info";
  const level = raw === "warning" ? "warn" : raw;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new TypeError(
      `LOG_LEVEL must be one of ${
        LOG_LEVELS.join(", ")
      }, not "${env.LOG_LEVEL}"`,
    );
  }
  return { format, level: level as LogLevel };
}

/** Sends a `info: …`/`warning: …`/`error: …` line through `log` at its level. */
export function relayLine(log: Logger, line: string): void {
  const match = /^(info|warning|error|debug): (.*)$/s.exec(line);
  if (match === null) return log.info(line);
  const level = match[1] === "warning" ? "warn" : match[1];
  if (level === "debug") log.debug?.(match[2]);
  else log[level as "info" | "warn" | "error"](match[2]);
}
