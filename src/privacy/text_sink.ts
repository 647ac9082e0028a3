/** Text written in order to a byte stream, a file or memory. */
export interface TextSink {
  /** Writes the text; resolves when it has been handed to the stream. */
  write(text: string): Promise<void>;
  /** Writes UTF-8 bytes as they are; offered by byte streams. */
  writeBytes?(bytes: Uint8Array): Promise<void>;
}

const encoder = new TextEncoder();

/** A sink writing UTF-8 to a Deno writer (stdout, stderr, a file). */
export function writerSink(
  writer: { write(bytes: Uint8Array): Promise<number> },
): TextSink {
  async function writeBytes(bytes: Uint8Array): Promise<void> {
    while (bytes.length > 0) bytes = bytes.subarray(await writer.write(bytes));
  }
  return {
    write: (text) => writeBytes(encoder.encode(text)),
    writeBytes,
  };
}

// Measured on exports of a million records: bigger chunks, or one string
// grown by concatenation, cost more in garbage collection than they save.
const CHUNK_CHARS = 64 * 1024;

/**
 * Collects small writes into chunks of about 64 KiB, so exporting a million
 * records costs a few thousand writes, not millions; memory stays bounded.
 * One chunk may be in flight while the next is being built, so the work of
 * producing records overlaps the wait for the disk or the pipe.
 */
export class BufferedSink implements TextSink {
  #sink: TextSink;
  #parts: string[] = [];
  #size = 0;
  #inFlight: Promise<void> = Promise.resolve();

  /** Buffers in front of `sink`; call `drain` at the end. */
  constructor(sink: TextSink) {
    this.#sink = sink;
  }

  /** Queues the text, writing through when the buffer is full. */
  async write(text: string): Promise<void> {
    if (this.push(text)) await this.flush();
  }

  /**
   * Queues the text without waiting; returns true when the buffer is full
   * and `flush` is due. Lets a hot loop skip a promise per record.
   */
  push(text: string): boolean {
    this.#parts.push(text);
    this.#size += text.length;
    return this.#size >= CHUNK_CHARS;
  }

  /**
   * Starts writing what is buffered once the chunk before it is written,
   * and resolves then; a failed write rejects here or in `drain`.
   */
  async flush(): Promise<void> {
    await this.#inFlight;
    if (this.#parts.length === 0) return;
    const text = this.#parts.join("");
    this.#parts = [];
    this.#size = 0;
    const sink = this.#sink;
    this.#inFlight = sink.writeBytes === undefined
      ? sink.write(text)
      : sink.writeBytes(encoder.encode(text));
    // Handled by the next flush or drain; not an unhandled rejection now.
    this.#inFlight.catch(() => {});
  }

  /** Writes out everything buffered and waits until it has been written. */
  async drain(): Promise<void> {
    await this.flush();
    await this.#inFlight;
  }
}
