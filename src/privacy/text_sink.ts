/** Text written in order to a byte stream, a file or memory. */
export interface TextSink {
  /** Writes the text; resolves when it has been handed to the stream. */
  write(text: string): Promise<void>;
  /**
   * Writes UTF-8 bytes that the caller may reuse once this resolves; offered
   * by byte streams so that big exports skip a copy per chunk.
   */
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

// Characters, not bytes: a chunk of this many UTF-16 units encodes to at
// most three times as many bytes.
const CHUNK_CHARS = 512 * 1024;

/**
 * Collects small writes into chunks of about half a megabyte, so exporting
 * a million records costs a few hundred writes, not millions. Strings are
 * joined by concatenation and encoded into one reused buffer, which keeps
 * both the time and the garbage per record low; memory stays bounded.
 */
export class BufferedSink implements TextSink {
  #sink: TextSink;
  #text = "";
  #bytes: Uint8Array | undefined;

  /** Buffers in front of `sink`; call `flush` at the end. */
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
    this.#text += text;
    return this.#text.length >= CHUNK_CHARS;
  }

  /** Writes out whatever is buffered. */
  async flush(): Promise<void> {
    const text = this.#text;
    if (text.length === 0) return;
    this.#text = "";
    const sink = this.#sink;
    if (sink.writeBytes === undefined) return await sink.write(text);
    const needed = text.length * 3;
    if (this.#bytes === undefined || this.#bytes.length < needed) {
      this.#bytes = new Uint8Array(Math.max(needed, CHUNK_CHARS * 3));
    }
    const { written } = encoder.encodeInto(text, this.#bytes);
    await sink.writeBytes(this.#bytes.subarray(0, written));
  }
}
