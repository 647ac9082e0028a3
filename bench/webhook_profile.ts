/**
 * Where the project's time goes under webhook load: starts `main.ts` as
 * `deno task bench` does, with the V8 inspector on loopback, records a CPU
 * profile during one autocannon run, and prints the functions and the
 * sources with the most samples. Run with `deno task bench:profile`
 * (options: `--scenario new40|new10|known10`, `--duration SECONDS`).
 */
import { parseArgs } from "node:util";
import {
  botApi,
  freePort,
  KNOWN_10,
  KNOWN_SENDERS,
  load,
  NEW_10,
  NEW_40,
  PROJECT,
  restartKnownSenders,
  Server,
} from "./_webhook.ts";
import { commit, number } from "./_measure.ts";

const { values: options } = parseArgs({
  args: Deno.args,
  options: {
    scenario: { type: "string", default: "new40" },
    duration: { type: "string", default: "5" },
  },
});
const scenarios = { new40: NEW_40, new10: NEW_10, known10: KNOWN_10 };
const scenario = scenarios[options.scenario as keyof typeof scenarios];
const seconds = Number(options.duration);
if (scenario === undefined || !(seconds > 0)) {
  console.error(
    `error: --scenario takes new40, new10 or known10 and --duration a positive number of seconds, got "${options.scenario}" and "${options.duration}"`,
  );
  Deno.exit(2);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
class Inspector {
  #socket: WebSocket;
  #next = 1;
  #waiting = new Map<number, (result: unknown) => void>();

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      this.#waiting.get(message.id)?.(message.result);
      this.#waiting.delete(message.id);
    };
  }

  /** Connects to the first target the inspector on `port` lists. */
  static async connect(port: number): Promise<Inspector> {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`))
      .json();
    const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    return new Inspector(socket);
  }

  /** Sends one command and resolves with its result. */
  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#next++;
    const result = new Promise((resolve) => this.#waiting.set(id, resolve));
    this.#socket.send(JSON.stringify({ id, method, params }));
    return result;
  }

  /** Closes the connection. */
  close(): void {
    this.#socket.close();
  }
}

function where(node: ProfileNode): string {
  const { url, lineNumber } = node.callFrame;
  if (url === "") return "";
  const short = url.replace(/^file:\/\/.*?\/(node_modules|npm)\//, "npm/")
    .replace(/^file:\/\/.*\/(src|main\.ts)/, "$1")
    .replace(/^.*registry\.npmjs\.org\//, "npm/");
  return `${short}:${lineNumber + 1}`;
}

function source(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (url === "") return functionName; // (garbage collector), (idle), (program)
  if (url.startsWith("ext:") || url.startsWith("node:")) {
    return url.split("/").slice(0, 2).join("/");
  }
  const npm = /registry\.npmjs\.org\/([^/]+(?:\/[^/]+)?)\/[^/]+\//.exec(url) ??
    /node_modules\/([^/]+)\//.exec(url);
  if (npm) return `npm:${npm[1]!.split("/")[0]}`;
  const local = /\/(src\/[^/]+|main\.ts)/.exec(url);
  return local ? local[1]! : url;
}

function top(counts: Map<string, number>, total: number, limit: number) {
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, limit).map((
    [name, count],
  ) => `${(100 * count / total).toFixed(1).padStart(5)}%  ${name}`);
}

const dir = await Deno.makeTempDir({ prefix: "webhook_profile_" });
const inspectPort = freePort();
let server: Server | undefined;
try {
  server = await Server.start(PROJECT, {
    dir,
    tag: "profile",
    flags: [`--inspect=127.0.0.1:${inspectPort}`],
  });
  // Warm up, and make the known senders known.
  await load(server, NEW_10, { seconds: 1 });
  restartKnownSenders();
  await load(server, KNOWN_10, { amount: KNOWN_SENDERS });

  const inspector = await Inspector.connect(inspectPort);
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: 200 });
  await inspector.send("Profiler.start");
  const measure = await load(server, scenario, { seconds });
  const { profile } = await inspector.send("Profiler.stop") as {
    profile: { nodes: ProfileNode[] };
  };
  inspector.close();

  const bySource = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    total += hits;
    const name = source(node);
    bySource.set(name, (bySource.get(name) ?? 0) + hits);
    const fn = `${node.callFrame.functionName || "(anonymous)"} ${where(node)}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
  }
  console.log(
    `CPU profile of the project (commit ${await commit()}), ${scenario.name}, ${seconds} s: ${
      number(measure.rate)
    } updates/s, p50 ${measure.p50.toFixed(2)} ms, p99 ${
      measure.p99.toFixed(2)
    } ms; ${number(total)} samples of the main thread`,
  );
  console.log("\nself time by source");
  for (const line of top(bySource, total, 15)) console.log(line);
  console.log("\nself time by function");
  for (const line of top(byFunction, total, 25)) console.log(line);
} finally {
  await server?.stop();
  await botApi.shutdown();
  await Deno.remove(dir, { recursive: true });
}
