/** A test token in Telegram's shape; its secret part must never be printed. */
export const TEST_TOKEN = "123456789:AAHtestSECRETtokenPART_0123456789abcd";
/** The data key every test process gets unless a test says otherwise. */
export const TEST_DATA_KEY = "dGVzdC1kYXRhLWtleS0wMTIzNDU2Nzg5YWJjZGVmISE=";

/** The part of `TEST_TOKEN` that is secret. */
export const TOKEN_SECRET = TEST_TOKEN.split(":")[1]!;

const root = new URL("../", import.meta.url);

/** The permission flags of a `deno.json` task, so tests run what operators run. */
export async function taskFlags(task: string): Promise<string[]> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  const words = (config.tasks[task] as string).split(/\s+/);
  return words.filter((word) => word.startsWith("--"));
}

/** A running program started as a subprocess, with its stderr collected by line. */
export class RunningProgram {
  stdout = "";
  #stderr = "";
  #child: Deno.ChildProcess;
  #done: Promise<void>;

  /** Starts `deno run <task flags> <script>` with exactly `env` (plus PATH, HOME). */
  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    const err = child.stderr.pipeThrough(new TextDecoderStream());
    const out = child.stdout.pipeThrough(new TextDecoderStream());
    this.#done = Promise.all([
      (async () => {
        for await (const chunk of err) this.#stderr += chunk;
      })(),
      (async () => {
        for await (const chunk of out) this.stdout += chunk;
      })(),
    ]).then(() => {});
  }

  /** Resolves with the first stderr line matching `pattern`. */
  async waitForLine(
    pattern: RegExp,
    timeoutMs = 20_000,
  ): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines) {
        const match = pattern.exec(line);
        if (match !== null) return match;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `No line matched ${pattern}; stderr was:\n${this.lines.join("\n")}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The process id, for reading what the program uses from /proc. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Sends a signal; does nothing once the process has exited. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  /**
   * Sends a signal to the program's whole process group, as systemd does
   * to `deno task start` and everything under it. Needs a program started
   * with `ownGroup`. Goes through `sh`, whose `kill` builtin takes a group.
   */
  async killGroup(signal: "TERM" | "INT" = "TERM"): Promise<void> {
    const { code, stderr } = await new Deno.Command("sh", {
      args: ["-c", `kill -${signal} -${this.#child.pid}`],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new Error(
        `kill -${signal} of the group failed: ${
          new TextDecoder().decode(stderr)
        }`,
      );
    }
  }

  /** Waits for the exit and for all output. */
  async exit(): Promise<Deno.CommandStatus> {
    const status = await this.#child.status;
    await this.#done;
    return status;
  }

  /** All of stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** The complete lines of stderr so far. */
  get lines(): string[] {
    return this.#stderr.split("\n").slice(0, -1);
  }
}

/** How `startMain` starts the bot. */
export interface StartOptions {
  /** Permission flags instead of the `start` task's (a Deploy-like run). */
  flags?: string[];
  /** Run `deno task start` itself, not `deno run`, as an operator does. */
  viaTask?: boolean;
  /** Start in a process group of its own, for `killGroup`. */
  ownGroup?: boolean;
  /** The script to run instead of `main.ts` (as `tests/_plugins_main.ts`). */
  script?: string;
}

/** Starts `main.ts` as `deno task start` would, with the given environment. */
export async function startMain(
  env: Record<string, string>,
  options: StartOptions = {},
): Promise<RunningProgram> {
  const args = options.viaTask ? ["task", "start"] : [
    "run",
    ...(options.flags ?? await taskFlags("start")),
    options.script ?? "main.ts",
  ];
  return new RunningProgram(
    programCommandOf(args, env, options.ownGroup ?? false).spawn(),
  );
}

// `deno run <the task's flags> <script>` with exactly the given environment
// (plus PATH and HOME, and the test data key unless the test sets its own).
async function programCommand(
  task: string,
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<Deno.Command> {
  return programCommandOf(
    ["run", ...(await taskFlags(task)), script, ...args],
    env,
    false,
  );
}

function programCommandOf(
  args: string[],
  env: Record<string, string>,
  ownGroup: boolean,
): Deno.Command {
  return new Deno.Command("deno", {
    args,
    // A session of its own makes the child the leader of a new group.
    detached: ownGroup,
    cwd: root,
    clearEnv: true,
    env: programEnv(env),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * The whole environment of a program under test: `env` over the little it
 * needs from ours and the test data key, so nothing else leaks in.
 */
export function programEnv(
  env: Record<string, string>,
): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "",
    NO_COLOR: "1",
    DATA_ENCRYPTION_KEY: TEST_DATA_KEY,
    ...env,
  };
}

/** What a finished CLI run printed, and its exit code. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts `cli.ts` as `deno task cli` would, for a test that reads as it runs. */
export async function spawnCli(
  args: string[],
  env: Record<string, string> = {},
  options: { script?: string } = {},
): Promise<Deno.ChildProcess> {
  return (await programCommand("cli", options.script ?? "cli.ts", args, env))
    .spawn();
}

/**
 * Runs `cli.ts` as `deno task cli` would, with no terminal attached;
 * `script` runs another entry to the CLI instead (a test's, with plugins).
 */
export async function runCliProcess(
  args: string[],
  env: Record<string, string> = {},
  options: { script?: string } = {},
): Promise<CliResult> {
  const output = await (await programCommand(
    "cli",
    options.script ?? "cli.ts",
    args,
    env,
  )).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
