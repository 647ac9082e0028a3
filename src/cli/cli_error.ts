/** The CLI's exit codes, the same for every command. */
export const EXIT = {
  ok: 0,
  notFound: 1,
  usage: 2,
  store: 3,
} as const;

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
