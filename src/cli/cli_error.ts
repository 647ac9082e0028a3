import type { DamagedRecordError } from "../crypto/field_codec.ts";
import type { SubjectRef } from "../store/store.ts";

/** The exit codes, shared with the bot: see `base/exit_codes.ts`. */
export { EXIT } from "../base/exit_codes.ts";
import { EXIT } from "../base/exit_codes.ts";

/** An expected CLI failure: a one-line message and the exit code it maps to. */
export class CliError extends Error {
  readonly exitCode: number;

  /** Builds the error; `exitCode` is one of `EXIT`. */
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** A usage error (exit 2): nothing was changed. */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT.usage);
}

/** No record with the requested id (exit 1). */
export function notFound(kind: string, id: number): CliError {
  return new CliError(`No ${kind} with id "${id}" is stored`, EXIT.notFound);
}

// What the operating system says when writing cannot succeed there now (a
// full disk, a read-only file system, a quota, a failing device), rather
// than when the path itself is wrong.
const CANNOT_WRITE = /\(os error (28|30|122|5)\)/;

/**
 * A file the CLI was writing (an export, a backup, a key file) could not be
 * written. Names the file and the system's own cause. A full disk or a
 * read-only file system exits 3, as a database that cannot be written does;
 * a path that cannot be used (no such folder, no permission) exits 2.
 */
export function fileError(
  what: string,
  path: string,
  error: unknown,
): CliError {
  const cause = error instanceof Error ? error.message : String(error);
  return new CliError(
    `Cannot write ${what} "${path}": ${cause}`,
    CANNOT_WRITE.test(cause) ? EXIT.store : EXIT.usage,
  );
}

/**
 * A damaged row met while showing or exporting one person or group (exit
 * 5): names what cannot be read, and how to delete the subject anyway.
 */
export function damagedRecord(
  error: DamagedRecordError,
  subject: SubjectRef,
): CliError {
  return new CliError(
    `${error.message}; nothing of the ${subject.kind} can be shown or exported, but purge --${subject.kind} ${subject.id} deletes it without reading it`,
    EXIT.damaged,
  );
}
