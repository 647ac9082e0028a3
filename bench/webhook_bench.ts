/**
 * The webhook measurement: the project (`main.ts` in webhook mode, encryption
 * on, SQLite in a temporary directory), bare grammY and a naive bot (bare
 * grammY plus one autocommit `node:sqlite` upsert per update), each a
 * subprocess on loopback under autocannon, in one run, against a small fake
 * Bot API served here. Then, when PostgreSQL is reachable, the project on
 * PostgreSQL next to SQLite; and the start-up time and idle memory of each.
 *
 * Run with `deno task bench` (options: `--duration SECONDS`, `--rounds N`,
 * `--startup-rounds N`, `--skip-load`, `--skip-startup`).
 */
import { parseArgs } from "node:util";
import {
  commit,
  type FreshPostgres,
  freshPostgres,
  loadAverage,
  median,
  number,
  range,
} from "./_measure.ts";
import {
  apiCalls,
  BARE,
  botApi,
  FLOOR,
  KNOWN_10,
  KNOWN_SENDERS,
  load,
  type Measure,
  NAIVE,
  NEW_1,
  NEW_10,
  NEW_40,
  PROJECT,
  project,
  PROJECT_SETUP,
  restartKnownSenders,
  type Scenario,
  Server,
  type Target,
} from "./_webhook.ts";

const { values: options } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "4" },
    rounds: { type: "string", default: "5" },
    "startup-rounds": { type: "string", default: "5" },
    "skip-load": { type: "boolean", default: false },
    "skip-startup": { type: "boolean", default: false },
  },
});
const DURATION = positive(options.duration, "--duration");
const ROUNDS = positive(options.rounds, "--rounds");
const STARTUP_ROUNDS = positive(options["startup-rounds"], "--startup-rounds");

function positive(text: string | undefined, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`error: ${flag} takes a positive integer, got "${text}"`);
    Deno.exit(2);
  }
  return value;
}

// ---------------------------------------------------------------- report

interface Goal {
  name: string;
  /** Per-round ratios, each of two figures measured in the same round. */
  ratios: number[];
  /** The ratio of the medians. */
  ratio: number;
  /** The ratio of the best figures (highest rate, shortest time, least memory). */
  best: number;
  goal: string;
  /** Met by the ratio of the medians, by the best figures only, or not. */
  verdict: "met" | "met by the best rounds only" | "NOT met";
}

const goals: Goal[] = [];

function compare(
  name: string,
  pair: { ours: number[]; theirs: number[] },
  goal: { atLeast: number } | { atMost: number },
): void {
  const ratios = pair.ours.map((value, i) => value / pair.theirs[i]!);
  const ratio = median(pair.ours) / median(pair.theirs);
  const higher = "atLeast" in goal;
  const pick = higher ? Math.max : Math.min;
  const best = pick(...pair.ours) / pick(...pair.theirs);
  const meets = (value: number) =>
    "atLeast" in goal ? value >= goal.atLeast : value <= goal.atMost;
  goals.push({
    name,
    ratios,
    ratio,
    best,
    goal: "atLeast" in goal ? `≥ ${goal.atLeast}×` : `≤ ${goal.atMost}×`,
    verdict: meets(ratio)
      ? "met"
      : meets(best)
      ? "met by the best rounds only"
      : "NOT met",
  });
}

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")
    .trimEnd();
}

function figure(values: number[], digits = 0): string {
  return `${number(median(values), digits)} (${range(values, digits)})`;
}

// ---------------------------------------------------------------- run

/** Throughput of every target under every scenario, interleaved by round. */
async function measureLoad(dir: string): Promise<void> {
  for (const target of [PROJECT, NAIVE, BARE, FLOOR]) {
    servers.push(await Server.start(target, { dir, tag: "load" }));
  }
  pg = await freshPostgres("webhook");
  let pgServer: Server | undefined;
  let pgNote = typeof pg === "string" ? pg : "";
  if (typeof pg !== "string") {
    const url = pg.url;
    try {
      const target = project("project on PostgreSQL", () => url, {
        setup: true,
      });
      // Without `setup` (not built yet, or failing) it still may start.
      const note = await target.prepare!(dir, "pg");
      if (note !== undefined) pgNote = `without setup (${note})`;
      pgServer = await Server.start(target, { dir, tag: "pg" });
      servers.push(pgServer);
    } catch (error) {
      pgNote = `the project does not run on PostgreSQL yet: ${
        (error as Error).message
      }${pgNote === "" ? "" : `; ${pgNote}`}`;
    }
  }

  // Warm the JIT, then register the known senders once.
  for (const server of servers) {
    await load(server, NEW_10, { seconds: 1 });
    restartKnownSenders();
    await load(server, KNOWN_10, { amount: KNOWN_SENDERS });
  }

  const scenarios = [NEW_1, NEW_10, NEW_40, KNOWN_10];
  const results = new Map<string, Measure[]>();
  const key = (scenario: Scenario, target: Target) =>
    `${scenario.name}|${target.name}`;
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of scenarios) {
      // PostgreSQL and the floor run only the scenario they are compared on.
      const here = servers.filter((server) =>
        (server !== pgServer && server.target !== FLOOR) || scenario === NEW_40
      );
      // Rotate the order so that no target always runs first or last.
      const shift = round % here.length;
      for (const server of [...here.slice(shift), ...here.slice(0, shift)]) {
        const measure = await load(server, scenario, { seconds: DURATION });
        const id = key(scenario, server.target);
        results.set(id, [...results.get(id) ?? [], measure]);
      }
    }
    console.error(`  round ${round + 1} of ${ROUNDS} done`);
  }

  const widths = [30, 22, 22, 20, 22, 6];
  console.log("");
  console.log(
    row(
      ["scenario", "server", "updates/s", "p50 ms", "p99 ms", "failed"],
      widths,
    ),
  );
  for (const scenario of scenarios) {
    for (const server of servers) {
      const measures = results.get(key(scenario, server.target));
      if (measures === undefined) continue;
      console.log(row([
        scenario.name,
        server.target.name,
        figure(measures.map((m) => m.rate)),
        figure(measures.map((m) => m.p50), 2),
        figure(measures.map((m) => m.p99), 2),
        String(measures.reduce((sum, m) => sum + m.failures, 0)),
      ], widths));
    }
  }
  if (pgNote !== "") console.log(`PostgreSQL: ${pgNote}`);

  const rates = (scenario: Scenario, target: Target) =>
    results.get(key(scenario, target))!.map((m) => m.rate);
  const versus = (scenario: Scenario, ours: Target, theirs: Target) => ({
    ours: rates(scenario, ours),
    theirs: rates(scenario, theirs),
  });
  console.log("");
  for (const scenario of [NEW_1, NEW_10]) {
    const ours = median(rates(scenario, PROJECT));
    console.log(
      `${scenario.name}: project ${
        (ours / median(rates(scenario, NAIVE))).toFixed(2)
      }× naive, ${(ours / median(rates(scenario, BARE))).toFixed(2)}× bare`,
    );
  }
  if (pgServer !== undefined) {
    const ours = median(rates(NEW_40, pgServer.target));
    console.log(
      `${NEW_40.name}: project on PostgreSQL ${
        (ours / median(rates(NEW_40, PROJECT))).toFixed(2)
      }× project on SQLite, ${
        (ours / median(rates(NEW_40, NAIVE))).toFixed(2)
      }× naive (SQLite), ${
        (ours / median(rates(NEW_40, BARE))).toFixed(2)
      }× bare`,
    );
  }
  compare(
    "new senders, 40 conn., project / naive",
    versus(NEW_40, PROJECT, NAIVE),
    {
      atLeast: 2,
    },
  );
  compare(
    "new senders, 40 conn., project / bare",
    versus(NEW_40, PROJECT, BARE),
    {
      atLeast: 0.4,
    },
  );
  compare(
    "known senders, 10 conn., project / bare",
    versus(KNOWN_10, PROJECT, BARE),
    { atLeast: 0.85 },
  );
  for (const server of servers) {
    const memory = await server.memory();
    console.log(
      `${server.target.name}: RSS ${
        number(memory.rssKiB / 1024)
      } MiB after the load, peak ${number(memory.peakKiB / 1024)} MiB`,
    );
  }
  for (const server of servers.splice(0)) await server.stop();
}

/** Spawn to first 200, and resident memory once idle, of each target. */
async function measureStartup(dir: string): Promise<void> {
  const notes: string[] = [];
  const targets: Target[] = [];
  for (const target of [PROJECT, PROJECT_SETUP, NAIVE, BARE]) {
    const note = await target.prepare?.(dir, "startup");
    if (note === undefined) targets.push(target);
    else notes.push(`${target.name}: not measured, ${note}`);
  }
  const startup = new Map<Target, number[]>();
  const rss = new Map<Target, number[]>();
  const calls = new Map<Target, number[]>();
  const add = (map: Map<Target, number[]>, target: Target, value: number) =>
    map.set(target, [...map.get(target) ?? [], value]);
  // The first spawn of each compiles its modules into Deno's cache and
  // creates its database; the measured ones start as a restart would.
  for (let round = -1; round < STARTUP_ROUNDS; round++) {
    for (const target of targets) {
      const before = totalCalls();
      const server = await Server.start(target, { dir, tag: "startup" });
      servers.push(server);
      // Idle: the first update answered, then nothing for a second.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const memory = await server.memory();
      await server.stop();
      servers.pop();
      if (round < 0) continue;
      add(startup, target, server.startupMs);
      add(rss, target, memory.rssKiB / 1024);
      add(calls, target, totalCalls() - before);
    }
  }
  const widths = [24, 22, 20, 14];
  console.log("");
  console.log(
    `start-up and idle memory, ${STARTUP_ROUNDS} rounds (median and range)`,
  );
  console.log(
    row([
      "server",
      "spawn to first 200 ms",
      "idle RSS MiB",
      "Bot API calls",
    ], widths),
  );
  for (const target of targets) {
    console.log(row([
      target.name,
      figure(startup.get(target)!),
      figure(rss.get(target)!, 1),
      range(calls.get(target)!),
    ], widths));
  }
  for (const note of notes) console.log(note);
  for (const target of [PROJECT, PROJECT_SETUP]) {
    if (!targets.includes(target)) continue;
    compare(`start-up, ${target.name} / bare`, {
      ours: startup.get(target)!,
      theirs: startup.get(BARE)!,
    }, { atMost: 1.5 });
  }
  compare("idle RSS, project / bare", {
    ours: rss.get(PROJECT)!,
    theirs: rss.get(BARE)!,
  }, { atMost: 1.3 });
}

function totalCalls(): number {
  let total = 0;
  for (const count of apiCalls.values()) total += count;
  return total;
}

let loadBefore = "";
const servers: Server[] = [];
let pg: FreshPostgres | string | undefined;
const dir = await Deno.makeTempDir({ prefix: "webhook_bench_" });
try {
  console.log(
    `webhook bench: commit ${await commit()}, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ${DURATION} s per run, ${ROUNDS} rounds (median and range)`,
  );
  console.log(
    "each update: a private message from a sender with username, first and last name (the project encrypts all three)",
  );
  // Other work on the machine slows every figure; the load average says
  // whether there was any.
  loadBefore = await loadAverage();
  if (!options["skip-load"]) await measureLoad(dir);
  if (!options["skip-startup"]) await measureStartup(dir);

  console.log("");
  console.log(
    "goals: ratio of the medians (range of the per-round ratios), ratio of the best figures",
  );
  for (const goal of goals) {
    console.log(row([
      goal.name,
      `${goal.ratio.toFixed(2)}× (${range(goal.ratios, 2)})`,
      `best ${goal.best.toFixed(2)}×`,
      `goal ${goal.goal}`,
      goal.verdict,
    ], [44, 20, 12, 12]));
  }
  console.log(
    `load average before and after: ${loadBefore} / ${await loadAverage()}`,
  );
  const calls = [...apiCalls].map(([method, count]) => `${method} ${count}`);
  console.log(`Bot API calls received: ${calls.join(", ") || "none"}`);
} finally {
  for (const server of servers) await server.stop();
  if (typeof pg === "object") await pg.drop();
  await botApi.shutdown();
  await Deno.remove(dir, { recursive: true });
}
