/**
 * The pieces of the webhook benches: a fake Bot API served in-process, the
 * updates sent, the servers measured (the project, bare grammY, the naive
 * bot, an HTTP floor) as subprocesses on loopback, and autocannon runs.
 */
import autocannon from "autocannon";
import {
  dataKey,
  inheritedEnv,
  memoryOf,
  root,
  taskFlags,
} from "./_measure.ts";

const TOKEN = "123456789:AAHbenchSECRETtokenPART_0123456789abc";
const SECRET = "bench-webhook-secret";
const ROUTE = "/webhook";
/** How many senders the known-sender scenario cycles through. */
export const KNOWN_SENDERS = 1_000;

// ---------------------------------------------------------------- fake Bot API

const botInfo = {
  // The id is the token's first part, as Telegram's is: the project
  // distrusts a stored profile of another bot.
  id: Number(TOKEN.split(":")[0]),
  is_bot: true,
  first_name: "Bench Bot",
  username: "bench_privacy_bot",
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
};

/** Bot API calls received, by method: a bot that calls Telegram per update shows here. */
export const apiCalls = new Map<string, number>();

/** The fake Bot API server; shut it down at the end. */
export const botApi = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: () => {},
}, async (request) => {
  const method = /\/bot[^/]+\/([A-Za-z]+)$/.exec(new URL(request.url).pathname)
    ?.[1] ?? "?";
  await request.body?.cancel();
  apiCalls.set(method, (apiCalls.get(method) ?? 0) + 1);
  return Response.json({
    ok: true,
    result: method === "getMe" ? botInfo : true,
  });
});
const API_ROOT = `http://127.0.0.1:${botApi.addr.port}`;

// ---------------------------------------------------------------- updates

let nextUpdateId = 1;
// New senders never repeat, across scenarios and rounds.
let nextNewSender = 10_000_000;

function update(senderId: number): string {
  const id = nextUpdateId++;
  const from = {
    id: senderId,
    is_bot: false,
    first_name: `Sender ${senderId}`,
    last_name: "Bench",
    username: `sender_${senderId}`,
    language_code: "en",
  };
  return JSON.stringify({
    update_id: id,
    message: {
      message_id: id,
      date: Math.floor(Date.now() / 1000),
      chat: { id: senderId, type: "private", first_name: from.first_name },
      from,
      text: "hello",
    },
  });
}

// ---------------------------------------------------------------- servers

/** A server to measure: how to start it. */
export interface Target {
  name: string;
  script: string;
  flags: string[];
  env(dir: string, tag: string): Record<string, string>;
  /**
   * Prepares the database once before the first start with `tag`; resolves
   * with why it could not, if it could not.
   */
  prepare?(dir: string, tag: string): Promise<string | undefined>;
}

const commonEnv = {
  BOT_TOKEN: TOKEN,
  BOT_API_ROOT: API_ROOT,
  WEBHOOK_SECRET: SECRET,
};

const projectFlags = await taskFlags("start");
const cliFlags = await taskFlags("cli");
const projectKey = dataKey();

/** The project on the database `database` names, optionally after `cli setup`. */
export function project(
  name: string,
  database: (dir: string, tag: string) => string,
  options: { setup?: boolean } = {},
): Target {
  const env = (dir: string, tag: string) => ({
    ...commonEnv,
    BOT_MODE: "webhook",
    DATABASE_URL: database(dir, tag),
    DATA_ENCRYPTION_KEY: projectKey,
    DATA_KEY_FILE: `${dir}/${tag}.unused.key`,
  });
  return {
    name,
    script: "main.ts",
    flags: projectFlags,
    env,
    prepare: options.setup
      ? async (dir, tag) => {
        // What an operator does once: create the database, then store the
        // bot's profile and set the menus, so that a start calls no one.
        for (const command of ["migrate", "setup"]) {
          const output = await new Deno.Command("deno", {
            args: ["run", ...cliFlags, "cli.ts", command],
            cwd: root,
            clearEnv: true,
            env: { ...inheritedEnv(), ...env(dir, tag) },
            stdin: "null",
            stdout: "null",
            stderr: "piped",
          }).output();
          if (!output.success) {
            const text = new TextDecoder().decode(output.stderr).trim();
            return `cli ${command} failed: ${text.split("\n").at(-1)}`;
          }
        }
        return undefined;
      }
      : undefined,
  };
}

/** The project on SQLite. */
export const PROJECT = project(
  "project",
  (dir, tag) => `sqlite:${dir}/project_${tag}.db`,
);
/** The project on SQLite prepared by `cli migrate` and `cli setup`. */
export const PROJECT_SETUP = project(
  "project after cli setup",
  (dir, tag) => `sqlite:${dir}/project_setup_${tag}.db`,
  { setup: true },
);
/** Bare grammY, no middleware. */
export const BARE: Target = {
  name: "bare grammY",
  script: "bench/_bare_bot.ts",
  flags: ["--allow-net", "--allow-env"],
  env: () => ({ ...commonEnv }),
};
/** Bare grammY plus one autocommit upsert per update. */
export const NAIVE: Target = {
  name: "naive bot",
  script: "bench/_naive_bot.ts",
  flags: ["--allow-net", "--allow-env", "--allow-read", "--allow-write"],
  env: (dir, tag) => ({ ...commonEnv, DB_PATH: `${dir}/naive_${tag}.db` }),
};
/** Deno.serve answering 200, no grammY. */
export const FLOOR: Target = {
  name: "HTTP floor (no grammY)",
  script: "bench/_http_floor.ts",
  flags: ["--allow-net", "--allow-env"],
  env: () => ({}),
};

/** A target running as a subprocess, answering on `port`. */
export class Server {
  readonly target: Target;
  readonly port: number;
  readonly pid: number;
  /** Milliseconds from spawn to the first 200. */
  startupMs = 0;
  #child: Deno.ChildProcess;
  #stderr = "";
  #exited = false;

  private constructor(target: Target, port: number, child: Deno.ChildProcess) {
    this.target = target;
    this.port = port;
    this.#child = child;
    this.pid = child.pid;
    child.status.then(() => this.#exited = true);
    (async () => {
      const text = child.stderr.pipeThrough(new TextDecoderStream());
      // Only the tail matters, for a failure message.
      for await (const chunk of text) {
        this.#stderr = (this.#stderr + chunk).slice(-4096);
      }
    })();
  }

  /** Spawns `target` and resolves once it answered a first update with 200. */
  static async start(
    target: Target,
    options: { dir: string; tag: string; flags?: string[] },
  ) {
    const { dir, tag, flags = [] } = options;
    const port = freePort();
    const started = performance.now();
    const child = new Deno.Command("deno", {
      args: ["run", ...target.flags, ...flags, target.script],
      cwd: root,
      clearEnv: true,
      env: {
        ...inheritedEnv(),
        ...target.env(dir, tag),
        PORT: String(port),
      },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const server = new Server(target, port, child);
    try {
      await server.#firstOk(started);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** The last line the process wrote to stderr. */
  get lastLine(): string {
    return this.#stderr.trim().split("\n").at(-1) ?? "";
  }

  async #firstOk(started: number): Promise<void> {
    const deadline = started + 30_000;
    const body = update(1);
    while (performance.now() < deadline) {
      if (this.#exited) {
        throw new Error(
          `${this.target.name} exited before answering: ${this.lastLine}`,
        );
      }
      try {
        const response = await fetch(`http://127.0.0.1:${this.port}${ROUTE}`, {
          method: "POST",
          headers: headers(),
          body,
        });
        await response.body?.cancel();
        if (response.status === 200) {
          this.startupMs = performance.now() - started;
          return;
        }
        throw new Error(
          `${this.target.name} answered ${response.status}: ${this.lastLine}`,
        );
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        // Not listening yet.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    throw new Error(`${this.target.name} did not answer within 30 s`);
  }

  /** Resident memory now and at its peak, in KiB, from /proc. */
  memory(): Promise<{ rssKiB: number; peakKiB: number }> {
    return memoryOf(this.pid);
  }

  /** SIGTERM, then SIGKILL if it is still running after 10 s. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 10_000);
    await this.#child.status;
    clearTimeout(timer);
  }
}

/** A free TCP port on loopback. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function headers(): Record<string, string> {
  return {
    "content-type": "application/json",
    "x-telegram-bot-api-secret-token": SECRET,
  };
}

// ---------------------------------------------------------------- load

/** Who sends the updates, over how many connections. */
export interface Scenario {
  name: string;
  connections: number;
  sender: () => number;
}

let knownCursor = 0;

/** Starts the known senders from the first again. */
export function restartKnownSenders(): void {
  knownCursor = 0;
}

/** A scenario of the measurement. */
export const NEW_1: Scenario = {
  name: "new senders, 1 connection",
  connections: 1,
  sender: () => nextNewSender++,
};
/** A scenario of the measurement. */
export const NEW_10: Scenario = {
  ...NEW_1,
  name: "new senders, 10 connections",
  connections: 10,
};
/** A scenario of the measurement. */
export const NEW_40: Scenario = {
  ...NEW_1,
  name: "new senders, 40 connections",
  connections: 40,
};
/** A scenario of the measurement. */
export const KNOWN_10: Scenario = {
  name: "known senders, 10 connections",
  connections: 10,
  sender: () => 1 + (knownCursor++ % KNOWN_SENDERS),
};

/** What one autocannon run measured. */
export interface Measure {
  rate: number;
  p50: number;
  p99: number;
  failures: number;
}

/** Runs `scenario` against `server` for `seconds` (or `amount` requests). */
export async function load(
  server: Server,
  scenario: Scenario,
  limit: { seconds?: number; amount?: number },
): Promise<Measure> {
  const latencies: number[] = [];
  const instance = autocannon({
    url: `http://127.0.0.1:${server.port}`,
    connections: scenario.connections,
    ...(limit.amount === undefined
      ? { duration: limit.seconds }
      : { amount: limit.amount }),
    timeout: 10,
    requests: [{
      method: "POST",
      path: ROUTE,
      headers: headers(),
      setupRequest: (request: Record<string, unknown>) => ({
        ...request,
        body: update(scenario.sender()),
      }),
    }],
  });
  // autocannon's own percentiles are whole milliseconds; this keeps fractions.
  instance.on(
    "response",
    (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    },
  );
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const at = (share: number) =>
    latencies[
      Math.min(latencies.length - 1, Math.floor(share * latencies.length))
    ] ??
      NaN;
  return {
    rate: result["2xx"] / result.duration,
    p50: at(0.5),
    p99: at(0.99),
    failures: result.non2xx + result.errors + result.timeouts,
  };
}
