/**
 * Helpers shared by the benches: statistics over rounds, memory from /proc,
 * the commit measured, task flags, and a fresh PostgreSQL database.
 */
import postgres from "postgres";

/** The repository root. */
export const root = new URL("../", import.meta.url);

/** Where the benches look for PostgreSQL (loopback, trust authentication). */
export const PG_SERVER = "postgres://postgres@127.0.0.1:5432";

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** "low–high" (or one value when they agree), with thousands separators. */
export function range(values: number[], digits = 0): string {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high
    ? number(low, digits)
    : `${number(low, digits)}–${number(high, digits)}`;
}

/** A number with thousands separators and a fixed count of decimals. */
export function number(value: number, digits = 0): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Resident memory of a process now and at its peak, in KiB (NaN once it exited). */
export async function memoryOf(
  pid: number,
): Promise<{ rssKiB: number; peakKiB: number }> {
  // Deno reads /proc only with --allow-all, so `cat` reads it instead.
  const output = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const status = new TextDecoder().decode(output.stdout);
  const field = (name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rssKiB: field("VmRSS"), peakKiB: field("VmHWM") };
}

/**
 * Samples a process's peak resident memory (VmHWM, the kernel's high-water
 * mark) until `stop` is called; the last sample before the exit holds the peak.
 */
export function watchPeak(pid: number): { stop(): number } {
  let peakKiB = 0;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    const { peakKiB: now } = await memoryOf(pid);
    if (Number.isFinite(now)) peakKiB = Math.max(peakKiB, now);
    busy = false;
  }, 25);
  return {
    stop() {
      clearInterval(timer);
      return peakKiB;
    },
  };
}

/** The commit checked out, read from .git (no git subprocess). */
export async function commit(): Promise<string> {
  try {
    const head = (await Deno.readTextFile(new URL(".git/HEAD", root))).trim();
    if (!head.startsWith("ref: ")) return head.slice(0, 12);
    const ref = head.slice("ref: ".length);
    try {
      return (await Deno.readTextFile(new URL(`.git/${ref}`, root))).trim()
        .slice(0, 12);
    } catch {
      const packed = await Deno.readTextFile(new URL(".git/packed-refs", root));
      return new RegExp(`^([0-9a-f]{40}) ${ref}$`, "m").exec(packed)?.[1]
        ?.slice(0, 12) ?? "unknown";
    }
  } catch {
    return "unknown";
  }
}

/** The 1, 5 and 15 minute load averages: other work on the machine slows every figure. */
export async function loadAverage(): Promise<string> {
  const output = await new Deno.Command("cat", {
    args: ["/proc/loadavg"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout).split(" ").slice(0, 3).join(
    " ",
  );
}

/** The permission flags of a `deno.json` task, so benches run what operators run. */
export async function taskFlags(task: string): Promise<string[]> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  return (config.tasks[task] as string).split(/\s+/).filter((word) =>
    word.startsWith("--")
  );
}

/**
 * PATH, HOME and the like, for a child started with a clean environment;
 * also every `OTEL_*`, so that `OTEL_DENO=true deno task bench` measures
 * with telemetry on.
 */
export function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (name.startsWith("OTEL_")) env[name] = value;
  }
  return env;
}

/** A fresh random data key, base64 as DATA_ENCRYPTION_KEY takes it. */
export function dataKey(): string {
  return btoa(
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))),
  );
}

/** A database created for one bench run; `drop` removes it. */
export interface FreshPostgres {
  url: string;
  drop(): Promise<void>;
}

/** A new, empty PostgreSQL database, or why there is none. */
export async function freshPostgres(
  tag: string,
): Promise<FreshPostgres | string> {
  const admin = postgres(`${PG_SERVER}/postgres`, {
    max: 1,
    connect_timeout: 3,
    onnotice: () => {},
  });
  const name = `bench_${tag}_${Date.now()}_${Deno.pid}`;
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } catch (error) {
    await admin.end({ timeout: 1 });
    return `PostgreSQL at 127.0.0.1:5432 is not reachable (${
      (error as Error).message
    })`;
  }
  return {
    url: `${PG_SERVER}/${name}`,
    drop: async () => {
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end({ timeout: 1 });
      }
    },
  };
}
