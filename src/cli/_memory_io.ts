import type { CliIo } from "./io.ts";

/** A `CliIo` that keeps what was written and answers prompts from a list. */
export interface MemoryIo extends CliIo {
  out: string[];
  err: string[];
  questions: string[];
}

/** Builds a `MemoryIo`; `answers` are given to prompts in order. */
export function memoryIo(
  options: {
    interactive?: boolean;
    stderrIsTerminal?: boolean;
    answers?: string[];
  } = {},
): MemoryIo {
  const out: string[] = [];
  const err: string[] = [];
  const questions: string[] = [];
  const answers = [...(options.answers ?? [])];
  return {
    out,
    err,
    questions,
    stdout: { write: (text) => Promise.resolve(void out.push(text)) },
    stderr: { write: (text) => Promise.resolve(void err.push(text)) },
    interactive: options.interactive ?? false,
    stderrIsTerminal: options.stderrIsTerminal ?? false,
    prompt(question) {
      questions.push(question);
      return Promise.resolve(answers.shift() ?? null);
    },
  };
}
