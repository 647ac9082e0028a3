/** How long a stop may take before the process exits anyway, by default. */
const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** Options for `Stopper`. */
export interface StopperOptions {
  /** How long the stop may take once asked for; default 10 s. */
  timeoutMs?: number;
  /** Writes one operator line (stderr by default). */
  write?: (line: string) => void;
  /** Ends the process; replaceable for tests. */
  exit?: (code: number) => void;
}

/**
 * Turns SIGINT and SIGTERM into one orderly stop. The first signal aborts
 * `signal`, which every start-up step and the serving loop watch; later
 * signals (systemd sends one to the whole process group, `deno task` passes
 * another on) are only noted. The listeners stay installed until the
 * process exits, so no second signal can find the default action, which
 * would end the process with 143. When the stop outlasts its deadline, what
 * was registered with `onDeadline` is closed and the process exits 0.
 */
export class Stopper {
  #controller = new AbortController();
  #timeoutMs: number;
  #write: (line: string) => void;
  #exit: (code: number) => void;
  #lastResort: (() => Promise<void>)[] = [];
  #installed = false;

  /** Builds the stopper; call `install` to listen for signals. */
  constructor(options: StopperOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.#write = options.write ?? ((line) => console.error(line));
    this.#exit = options.exit ?? ((code) => Deno.exit(code));
  }

  /** Sends its lines (`info: …`) to `write` from now on, e.g. once the log format is known. */
  writeTo(write: (line: string) => void): void {
    this.#write = write;
  }

  /** Listens for SIGINT and SIGTERM (SIGINT only on Windows). */
  install(): void {
    if (this.#installed) return;
    this.#installed = true;
    const signals: Deno.Signal[] = Deno.build.os === "windows"
      ? ["SIGINT"]
      : ["SIGINT", "SIGTERM"];
    for (const name of signals) {
      Deno.addSignalListener(name, () => this.stop(name));
    }
  }

  /** Aborted once a stop was asked for. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether a stop was asked for. */
  get stopping(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Sets the stop's deadline, e.g. from the configuration once it is read. */
  set timeoutMs(ms: number) {
    this.#timeoutMs = ms;
  }

  /**
   * Registers something to close if the stop outlasts its deadline (the
   * store). Returns a function that unregisters it.
   */
  onDeadline(close: () => Promise<void>): () => void {
    this.#lastResort.push(close);
    return () => {
      this.#lastResort = this.#lastResort.filter((item) => item !== close);
    };
  }

  /** Asks for the stop, as a signal does. */
  stop(reason = "a stop request"): void {
    if (this.stopping) {
      this.#write(`info: ${reason} again: already stopping`);
      return;
    }
    this.#write(`info: ${reason}: stopping, finishing the work in hand`);
    this.#controller.abort(new StopRequestedError(reason));
    // Kept referenced: should every other task hang or vanish, this timer is
    // what still ends the process with 0.
    setTimeout(() => this.#giveUp(), this.#timeoutMs);
  }

  async #giveUp(): Promise<void> {
    this.#write(
      `warning: the stop took longer than ${
        this.#timeoutMs / 1000
      } s: closing what is open and exiting; unfinished updates were not acknowledged and will be sent again`,
    );
    for (const close of this.#lastResort) {
      try {
        await Promise.race([close(), sleep(1_000)]);
      } catch {
        // The process is ending either way; nothing more can be done.
      }
    }
    this.#exit(0);
  }
}

/** The reason a stopped operation was aborted with. */
class StopRequestedError extends Error {
  /** Names what asked for the stop (a signal). */
  constructor(reason: string) {
    super(`stopped by ${reason}`);
    this.name = "StopRequestedError";
  }
}

/** Waits `ms`, resolving early (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
