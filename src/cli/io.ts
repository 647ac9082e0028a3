/** Where a CLI command writes and how it asks questions; injectable for tests. */
export interface CliIo {
  /** Records (the data). */
  stdout: TextSink;
  /** Messages, prompts and progress. */
  stderr: TextSink;
  /** Whether a person is at the keyboard to answer a question. */
  interactive: boolean;
  /** Whether stderr is a terminal (progress is shown only there). */
  stderrIsTerminal: boolean;
  /** Asks on stderr and reads one line of the answer; null at end of input. */
  prompt(question: string): Promise<string | null>;
}

/** Text written in order to a byte stream. */
export interface TextSink {
  /** Writes the text; resolves when it has been handed to the stream. */
  write(text: string): Promise<void>;
}

const encoder = new TextEncoder();

/** A sink writing UTF-8 to a Deno writer (stdout, stderr, a file). */
export function writerSink(
  writer: { write(bytes: Uint8Array): Promise<number> },
): TextSink {
  return {
    async write(text) {
      let bytes = encoder.encode(text);
      while (bytes.length > 0) {
        bytes = bytes.subarray(await writer.write(bytes));
      }
    },
  };
}

/**
 * Collects small writes into chunks of about 64 KiB, so exporting a million
 * records costs a few thousand writes, not millions; memory stays bounded.
 */
export class BufferedSink implements TextSink {
  #sink: TextSink;
  #parts: string[] = [];
  #size = 0;

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
    this.#parts.push(text);
    this.#size += text.length;
    return this.#size >= 64 * 1024;
  }

  /** Writes out whatever is buffered. */
  async flush(): Promise<void> {
    if (this.#parts.length === 0) return;
    const text = this.#parts.join("");
    this.#parts = [];
    this.#size = 0;
    await this.#sink.write(text);
  }
}

/** The real terminal: Deno's stdout and stderr, questions answered on stdin. */
export function processIo(): CliIo {
  const stderr = writerSink(Deno.stderr);
  return {
    stdout: writerSink(Deno.stdout),
    stderr,
    interactive: Deno.stdin.isTerminal() && Deno.stderr.isTerminal(),
    stderrIsTerminal: Deno.stderr.isTerminal(),
    async prompt(question) {
      await stderr.write(question);
      return await readLine(Deno.stdin);
    },
  };
}

// Reads byte by byte up to a newline: a confirmation answer is a few bytes,
// and nothing after the line may be consumed.
async function readLine(
  input: { read(buffer: Uint8Array): Promise<number | null> },
): Promise<string | null> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  for (;;) {
    const n = await input.read(one);
    if (n === null) {
      return bytes.length === 0
        ? null
        : new TextDecoder().decode(new Uint8Array(bytes));
    }
    if (n === 0) continue;
    if (one[0] === 0x0a) break;
    bytes.push(one[0]!);
  }
  return new TextDecoder().decode(new Uint8Array(bytes)).replace(/\r$/, "");
}
