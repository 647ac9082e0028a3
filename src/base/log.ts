import type { Redactor } from "./redact.ts";

/** One-line operator messages on stderr, with secrets removed. */
export interface Logger {
  /** Something the operator may want to know. */
  info(message: string): void;
  /** Something went wrong but the bot runs on. */
  warn(message: string): void;
  /** Something failed. */
  error(message: string): void;
}

/** Builds the logger; every line passes through `redact` before it is written. */
export function createLogger(
  redact: Redactor,
  write: (line: string) => void = (line) => console.error(line),
): Logger {
  return {
    info: (message) => write(redact(`info: ${message}`)),
    warn: (message) => write(redact(`warning: ${message}`)),
    error: (message) => write(redact(`error: ${message}`)),
  };
}
