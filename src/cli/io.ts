/**
 * The CLI's commands, one file each, every one a function of the store and
 * its options; `cli.ts` at the root only parses and dispatches. This file
 * is where a command writes its data and its messages.
 *
 * @module
 */
import { type TextSink, writerSink } from "../privacy/text_sink.ts";

/** The sinks a command writes through, re-exported so commands import one module. */
export {
  BufferedSink,
  type TextSink,
  writerSink,
} from "../privacy/text_sink.ts";

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
