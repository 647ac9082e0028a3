import { errorLine } from "../base/error_text.ts";
import type { Logger } from "../base/log.ts";

/** What an outage says when it starts and when it ends. */
export interface OutageLines {
  /** The error line of the first failure, given the first line of its cause. */
  started(cause: string): string;
  /** The info line once a write works again, given the failures meanwhile. */
  ended(failures: number): string;
}

/**
 * A store that cannot write, told to the operator as one event however many
 * writes fail: an error line at the first failure, naming its cause, and an
 * info line with the count of failures once a write works again. Nothing in
 * between, and never a stack trace. The logger keeps secrets out of the
 * lines. Shared by polling and the webhook.
 */
export class StoreOutage {
  #log: Logger;
  #lines: OutageLines;
  #failures = 0;

  /** Starts with the store working. */
  constructor(log: Logger, lines: OutageLines) {
    this.#log = log;
    this.#lines = lines;
  }

  /** How many writes failed in the current outage (0 when there is none). */
  get failures(): number {
    return this.#failures;
  }

  /** Counts a failed write; the first of an outage is logged with its cause. */
  failed(error: unknown): void {
    this.#failures++;
    if (this.#failures === 1) {
      this.#log.error(
        this.#lines.started(errorLine(error)),
        "store.outage.started",
      );
    }
  }

  /** A write worked: ends the outage, if there is one, with its count. */
  recovered(): void {
    if (this.#failures === 0) return;
    const failures = this.#failures;
    this.#failures = 0;
    this.#log.info(this.#lines.ended(failures), "store.outage.ended");
  }
}
