import type { CliIo } from "./io.ts";

/** Options of `startProgress`. */
export interface ProgressOptions {
  /** What is being done, e.g. "Exporting". */
  label: string;
  /** How many records there are to do, when known. */
  total?: number;
  /** No display at all (`--quiet`). */
  quiet?: boolean;
}

/** Called as work advances; `total` may be refined on the way. */
export type ProgressCallback = (done: number, total?: number) => void;

// A few updates a second: enough to look alive, cheap enough to ignore.
const INTERVAL_MS = 200;
const CLEAR_LINE = "\r\x1b[K";

/**
 * A one-line progress display on stderr: records done and total, the rate
 * and the time left. It is shown only when stderr is a terminal and
 * `--quiet` was not given, so scripts and CI logs stay clean.
 */
export class Progress {
  #io: CliIo;
  #label: string;
  #total: number | undefined;
  #enabled: boolean;
  #started = performance.now();
  #lastShown = -Infinity;
  #shown = false;
  #pending: Promise<void> = Promise.resolve();

  /** Draws nothing until the first `update`. */
  constructor(io: CliIo, options: ProgressOptions) {
    this.#io = io;
    this.#label = options.label;
    this.#total = options.total;
    this.#enabled = io.stderrIsTerminal && options.quiet !== true;
  }

  /** Whether anything is drawn. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Records progress; redraws at most a few times a second. */
  readonly update: ProgressCallback = (done, total) => {
    if (!this.#enabled) return;
    if (total !== undefined) this.#total = total;
    // Nothing to do (an empty database): nothing worth a line.
    if (this.#total === 0) return;
    const now = performance.now();
    if (now - this.#lastShown < INTERVAL_MS) return;
    this.#lastShown = now;
    this.#draw(`${CLEAR_LINE}${this.#describe(done, now)}`);
  };

  /** Removes the line, leaving the terminal as it was; waits for the writes. */
  async finish(): Promise<void> {
    if (this.#shown) this.#draw(CLEAR_LINE);
    this.#shown = false;
    this.#enabled = false;
    await this.#pending;
  }

  #describe(done: number, now: number): string {
    const seconds = (now - this.#started) / 1000;
    const total = this.#total;
    let text = `${this.#label}: ${count(done)}`;
    if (total !== undefined && total > 0) {
      text += ` of ${count(total)} records (${
        Math.min(100, Math.floor(done / total * 100))
      }%)`;
    } else {
      text += " records";
    }
    if (done > 0 && seconds > 0.1) {
      const rate = done / seconds;
      text += `, ${count(Math.round(rate))}/s`;
      if (total !== undefined && total > done) {
        text += `, ${duration((total - done) / rate)} left`;
      }
    }
    return text;
  }

  #draw(text: string): void {
    this.#shown = true;
    // Chained so that lines reach the terminal in order without the caller
    // awaiting each one.
    this.#pending = this.#pending.then(() => this.#io.stderr.write(text))
      .catch(() => {});
  }
}

function count(value: number): string {
  return value.toLocaleString("en-US");
}

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.ceil(seconds))} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Builds a `Progress` and draws its first line at once (0 done). */
export function startProgress(io: CliIo, options: ProgressOptions): Progress {
  const progress = new Progress(io, options);
  progress.update(0);
  return progress;
}
