/**
 * How an error reads in a log line or a CLI message: one line, no stack.
 *
 * @module
 */

/** An error's whole message (or the thrown value as text). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The first line of an error's message (its name when it has none). */
export function errorLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] || (error as Error)?.name || "unknown error";
}

/**
 * The message followed by its causes where it does not already say them,
 * so that "SQLite failed" never hides "database or disk is full". The chain
 * stops at an error `final` accepts, whose own words say all there is.
 */
export function errorChain(
  error: unknown,
  final: (error: Error) => boolean = () => false,
): string {
  let message = error instanceof Error ? error.message : String(error);
  let cause = error instanceof Error && !final(error) ? error.cause : undefined;
  for (let depth = 0; depth < 5 && cause instanceof Error; depth++) {
    if (cause.message !== "" && !message.includes(cause.message)) {
      message += `: ${cause.message}`;
    }
    cause = final(cause) ? undefined : cause.cause;
  }
  return message;
}
