/**
 * The long privacy-request work at scale, run as the operator runs it (each
 * a `deno task cli` subprocess, with the task's flags), on generated SQLite
 * databases of users:
 *
 * - `export --all --format ndjson` on plaintext, against the `sqlite3` shell
 *   writing the same rows (the same JSON lines, and CSV);
 * - the first encryption of the plaintext database (`migrate` with a key);
 * - the same export on the encrypted database;
 * - `rotate-key` and `copy` (to SQLite, and to PostgreSQL when reachable),
 *   when the CLI has them.
 *
 * Each reports time (spawn to exit, median and range of `--rounds`) and the
 * peak resident memory (VmHWM). Run with `deno task bench:export`
 * (options: `--sizes 200000,1000000`, `--rounds 3`).
 */
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import {
  commit,
  dataKey,
  freshPostgres,
  inheritedEnv,
  loadAverage,
  median,
  number,
  range,
  root,
  taskFlags,
  watchPeak,
} from "./_measure.ts";

const { values: options } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "200000,1000000" },
    rounds: { type: "string", default: "3" },
  },
});
const SIZES = options.sizes.split(",").map(Number);
const ROUNDS = Number(options.rounds);
if (
  !SIZES.every((size) => Number.isInteger(size) && size > 0) ||
  !Number.isInteger(ROUNDS) || ROUNDS < 1
) {
  console.error(
    `error: --sizes takes positive integers separated by commas and --rounds a positive integer, got "${options.sizes}" and "${options.rounds}"`,
  );
  Deno.exit(2);
}
const cliFlags = await taskFlags("cli");

/** One run of a subprocess: time, peak memory, what it wrote. */
interface Run {
  seconds: number;
  /** Peak resident memory in MB (10^6 bytes), as the goal states it. */
  peakMB: number;
  bytes: number;
  lines: number;
}

/** Runs `command`, counting its stdout, and fails unless it exits 0. */
async function measure(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Run> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args,
    cwd: root,
    clearEnv: true,
    env: { ...inheritedEnv(), ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const peak = watchPeak(child.pid);
  let stderr = "";
  const collect = (async () => {
    for await (
      const text of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      stderr = (stderr + text).slice(-4096);
    }
  })();
  let bytes = 0;
  let lines = 0;
  for await (const chunk of child.stdout) {
    bytes += chunk.byteLength;
    for (
      let i = chunk.indexOf(0x0a);
      i !== -1;
      i = chunk.indexOf(0x0a, i + 1)
    ) {
      lines++;
    }
  }
  const status = await child.status;
  const seconds = (performance.now() - started) / 1000;
  const peakKiB = peak.stop();
  await collect;
  if (!status.success) {
    throw new Error(
      `${env.LABEL ?? command} exited ${status.code}: ${
        stderr.trim().split("\n").at(-1)
      }`,
    );
  }
  return { seconds, peakMB: peakKiB * 1024 / 1e6, bytes, lines };
}

/** `deno task cli <args>` with exactly `env` (no key unless given). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return measure("deno", ["run", ...cliFlags, "cli.ts", ...args], {
    // Names the command in a failure message; the CLI ignores it.
    LABEL: `cli ${args.filter((_, i) => i > 1).join(" ")}`,
    DATA_ENCRYPTION_KEY: "",
    DATA_KEY_FILE: "/nonexistent/bench.key",
    ...env,
  });
}

async function seed(path: string, users: number): Promise<void> {
  await cli(["--database", `sqlite:${path}`, "migrate"]);
  const db = new DatabaseSync(path);
  db.exec("PRAGMA synchronous = OFF; BEGIN");
  const insert = db.prepare(
    "INSERT INTO users (id, username, first_name, last_name, language_code, registered_at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  for (let id = 1; id <= users; id++) {
    insert.run(
      id,
      `user_${id}`,
      `First, "${id}" 🦊`,
      id % 3 ? `Last ${id}` : null,
      "en",
      1_795_960_800 + id,
    );
  }
  db.exec("COMMIT");
  db.close();
}

/** The sqlite3 shell, installed with apt-get when missing and root; else why not. */
async function sqlite3(): Promise<string | undefined> {
  const found = async () => {
    try {
      return (await new Deno.Command("sqlite3", { args: ["-version"] })
        .output()).success;
    } catch {
      return false;
    }
  };
  if (await found()) return undefined;
  if (Deno.uid() !== 0) {
    return "the sqlite3 shell is missing: install it (sudo apt-get install -y sqlite3) and run again";
  }
  console.error("installing the sqlite3 shell (apt-get install -y sqlite3)");
  for (
    const args of [["install", "-y", "sqlite3"], ["update"], [
      "install",
      "-y",
      "sqlite3",
    ]]
  ) {
    await new Deno.Command("apt-get", {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "null",
      stderr: "inherit",
    }).output();
    if (args[0] === "install" && await found()) return undefined;
  }
  return "the sqlite3 shell is missing and apt-get could not install it";
}

const NDJSON_SQL =
  `SELECT json_object('kind', 'user', 'id', id, 'username', username, 'first_name', first_name, 'last_name', last_name, 'language_code', language_code, 'registered_at', strftime('%Y-%m-%dT%H:%M:%SZ', registered_at, 'unixepoch')) FROM users ORDER BY id`;
const CSV_SQL =
  `SELECT 'user' AS kind, id, username, first_name, last_name, language_code, NULL AS title, NULL AS type, strftime('%Y-%m-%dT%H:%M:%SZ', registered_at, 'unixepoch') AS registered_at FROM users ORDER BY id`;

interface Row {
  name: string;
  runs: Run[];
}

interface Goal {
  name: string;
  /** The ratio of the medians (or the figure itself, for memory). */
  ratio: number;
  ratios: number[];
  /** The ratio of the shortest times. */
  best?: number;
  goal: string;
  met: boolean;
  bestMet?: boolean;
}

const goals: Goal[] = [];

function compareTime(name: string, ours: Run[], theirs: Run[], atMost: number) {
  const ratios = ours.map((run, i) => run.seconds / theirs[i]!.seconds);
  const ratio = median(ours.map((run) => run.seconds)) /
    median(theirs.map((run) => run.seconds));
  const best = Math.min(...ours.map((run) => run.seconds)) /
    Math.min(...theirs.map((run) => run.seconds));
  goals.push({
    name,
    ratio,
    ratios,
    best,
    goal: `≤ ${atMost}×`,
    met: ratio <= atMost,
    bestMet: best <= atMost,
  });
}

async function rounds(
  work: (round: number) => Promise<Run>,
  expectLines?: number,
): Promise<Run[]> {
  const runs: Run[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const run = await work(round);
    if (expectLines !== undefined && run.lines !== expectLines) {
      throw new Error(`expected ${expectLines} lines, got ${run.lines}`);
    }
    runs.push(run);
  }
  return runs;
}

function print(size: number, rows: Row[]): void {
  const widths = [44, 22, 20, 18, 10];
  const line = (cells: string[]) =>
    cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  console.log("");
  console.log(`${number(size)} users`);
  console.log(
    line(["work", "seconds", "records/s", "peak RSS MB", "output MiB"]),
  );
  for (const { name, runs } of rows) {
    const seconds = runs.map((run) => run.seconds);
    console.log(line([
      name,
      `${number(median(seconds), 2)} (${range(seconds, 2)})`,
      number(size / median(seconds)),
      `${number(median(runs.map((run) => run.peakMB)))} (max ${
        number(Math.max(...runs.map((run) => run.peakMB)))
      })`,
      runs[0]!.bytes ? number(runs[0]!.bytes / 2 ** 20) : "",
    ]));
  }
}

let loadBefore = "";
const dir = await Deno.makeTempDir({ prefix: "export_bench_" });
const cleanups: (() => Promise<void>)[] = [];
try {
  console.log(
    `export bench: commit ${await commit()}, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ${ROUNDS} rounds (median and range)`,
  );
  loadBefore = await loadAverage();
  const noShell = await sqlite3();
  if (noShell !== undefined) console.log(`sqlite3: ${noShell}`);
  const notes = new Set<string>();

  for (const size of SIZES) {
    const plain = `${dir}/plain_${size}.db`;
    await seed(plain, size);
    const rows: Row[] = [];
    const exportAll = (path: string, env: Record<string, string> = {}) =>
      cli(
        [
          "--database",
          `sqlite:${path}`,
          "export",
          "--all",
          "--format",
          "ndjson",
        ],
        env,
      );

    const plainExport = await rounds(() => exportAll(plain), size);
    rows.push({ name: "export ndjson, plaintext", runs: plainExport });
    let shellNdjson: Run[] | undefined;
    if (noShell === undefined) {
      shellNdjson = await rounds(
        () => measure("sqlite3", ["-readonly", plain, NDJSON_SQL]),
        size,
      );
      const shellCsv = await rounds(
        () =>
          measure("sqlite3", ["-readonly", "-csv", "-header", plain, CSV_SQL]),
        size + 1,
      );
      rows.push({
        name: "sqlite3 shell, same rows as JSON lines",
        runs: shellNdjson,
      });
      rows.push({ name: "sqlite3 shell, same rows as CSV", runs: shellCsv });
      compareTime(
        `${number(size)}: export plaintext / sqlite3 JSON lines`,
        plainExport,
        shellNdjson,
        2.5,
      );
      compareTime(
        `${number(size)}: export plaintext / sqlite3 CSV`,
        plainExport,
        shellCsv,
        2.5,
      );
    }

    // Opening a plaintext database with a key encrypts it: each round on a
    // fresh copy of the plaintext file.
    let key = dataKey();
    let encrypted = "";
    const firstEncryption = await rounds(async (round) => {
      encrypted = `${dir}/encrypted_${size}_${round}.db`;
      await Deno.copyFile(plain, encrypted);
      return await cli(["--database", `sqlite:${encrypted}`, "migrate"], {
        DATA_ENCRYPTION_KEY: key,
      });
    });
    rows.push({
      name: "first encryption (migrate with a key)",
      runs: firstEncryption,
    });
    compareTime(
      `${number(size)}: first encryption / export plaintext`,
      firstEncryption,
      plainExport,
      2,
    );

    const encryptedExport = await rounds(
      () => exportAll(encrypted, { DATA_ENCRYPTION_KEY: key }),
      size,
    );
    rows.push({ name: "export ndjson, encrypted", runs: encryptedExport });
    compareTime(
      `${number(size)}: export encrypted / plaintext`,
      encryptedExport,
      plainExport,
      2,
    );

    try {
      const rotations = await rounds(async () => {
        const next = dataKey();
        const run = await cli([
          "--database",
          `sqlite:${encrypted}`,
          "rotate-key",
        ], {
          DATA_ENCRYPTION_KEY: key,
          NEW_DATA_ENCRYPTION_KEY: next,
        });
        key = next;
        return run;
      });
      rows.push({ name: "rotate-key", runs: rotations });
      compareTime(
        `${number(size)}: rotate-key / export plaintext`,
        rotations,
        plainExport,
        2,
      );
    } catch (error) {
      notes.add(`rotate-key not measured: ${(error as Error).message}`);
    }

    try {
      const copies = await rounds((round) =>
        cli([
          "--database",
          `sqlite:${encrypted}`,
          "copy",
          "--to",
          `sqlite:${dir}/copy_${size}_${round}.db`,
        ], { DATA_ENCRYPTION_KEY: key })
      );
      rows.push({ name: "copy to SQLite", runs: copies });
      compareTime(
        `${number(size)}: copy to SQLite / export plaintext`,
        copies,
        plainExport,
        2,
      );
    } catch (error) {
      notes.add(`copy to SQLite not measured: ${(error as Error).message}`);
    }

    try {
      const copies = await rounds(async () => {
        const target = await freshPostgres("copy");
        if (typeof target === "string") throw new Error(target);
        cleanups.push(target.drop);
        return await cli(
          ["--database", `sqlite:${encrypted}`, "copy", "--to", target.url],
          { DATA_ENCRYPTION_KEY: key },
        );
      });
      rows.push({ name: "copy to PostgreSQL", runs: copies });
      compareTime(
        `${number(size)}: copy to PostgreSQL / export plaintext`,
        copies,
        plainExport,
        2,
      );
    } catch (error) {
      notes.add(`copy to PostgreSQL not measured: ${(error as Error).message}`);
    }
    while (cleanups.length > 0) await cleanups.pop()!();

    print(size, rows);
    const peaks = rows.filter((row) => !row.name.startsWith("sqlite3")).map((
      row,
    ) => ({
      name: row.name,
      peak: Math.max(...row.runs.map((run) => run.peakMB)),
    }));
    const worst = peaks.reduce((a, b) => (b.peak > a.peak ? b : a));
    goals.push({
      name: `${number(size)}: highest peak RSS of the CLI (MB)`,
      ratio: worst.peak,
      ratios: [worst.peak],
      goal: "< 100 MB",
      met: worst.peak < 100,
    });
    for await (const entry of Deno.readDir(dir)) {
      await Deno.remove(`${dir}/${entry.name}`);
    }
  }

  for (const note of notes) console.log(note);
  console.log("");
  console.log(
    "goals: ratio of the medians (range of the per-round ratios), ratio of the shortest times",
  );
  for (const goal of goals) {
    const figure = goal.best === undefined
      ? `${number(goal.ratio)} MB`
      : `${goal.ratio.toFixed(2)}× (${range(goal.ratios, 2)})`;
    const verdict = goal.met
      ? "met"
      : goal.bestMet
      ? "met by the best rounds only"
      : "NOT met";
    console.log(
      [
        goal.name.padEnd(52),
        figure.padEnd(20),
        (goal.best === undefined ? "" : `best ${goal.best.toFixed(2)}×`)
          .padEnd(12),
        `goal ${goal.goal}`.padEnd(14),
        verdict,
      ].join("  "),
    );
  }
  console.log(
    `load average before and after: ${loadBefore} / ${await loadAverage()}`,
  );
} finally {
  while (cleanups.length > 0) await cleanups.pop()!();
  await Deno.remove(dir, { recursive: true });
}
