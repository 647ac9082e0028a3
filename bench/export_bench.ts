/**
 * `export --all --format ndjson` on generated databases of 100k and 1M users,
 * run as the operator runs it (a `deno task cli` subprocess). Reports
 * records per second and the subprocess's peak resident memory.
 * Run with `deno task bench:export`.
 */
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore } from "../src/sqlite_store.ts";

const SIZES = [100_000, 1_000_000];
const root = new URL("../", import.meta.url);

async function seed(path: string, users: number): Promise<void> {
  await (await openSqliteStore(path)).close();
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

// VmHWM is the kernel's high-water mark of resident memory for the process.
// Deno reads /proc only with --allow-all, so `cat` reads it instead.
async function peakRssKiB(pid: number): Promise<number> {
  const output = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const status = new TextDecoder().decode(output.stdout);
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function cliFlags(): Promise<string[]> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  return (config.tasks.cli as string).split(/\s+/).filter((word) =>
    word.startsWith("--")
  );
}

const dir = await Deno.makeTempDir({ prefix: "export_bench_" });
try {
  console.log("records     seconds   records/s   peak RSS   output");
  for (const size of SIZES) {
    const path = `${dir}/users_${size}.db`;
    await seed(path, size);
    const start = performance.now();
    const child = new Deno.Command("deno", {
      args: [
        "run",
        ...(await cliFlags()),
        "cli.ts",
        "--database",
        path,
        "export",
        "--all",
        "--format",
        "ndjson",
      ],
      cwd: root,
      stdout: "piped",
      stderr: "null",
    }).spawn();
    let peak = 0;
    const sampler = setInterval(async () => {
      peak = Math.max(peak, await peakRssKiB(child.pid));
    }, 50);
    let bytes = 0;
    let lines = 0;
    for await (const chunk of child.stdout) {
      bytes += chunk.byteLength;
      for (const byte of chunk) if (byte === 0x0a) lines++;
    }
    peak = Math.max(peak, await peakRssKiB(child.pid));
    const status = await child.status;
    clearInterval(sampler);
    const seconds = (performance.now() - start) / 1000;
    if (!status.success || lines !== size) {
      throw new Error(
        `export of ${size} failed: exit ${status.code}, ${lines} lines`,
      );
    }
    console.log(
      `${String(size).padStart(9)} ${seconds.toFixed(2).padStart(9)} ${
        Math.round(size / seconds).toString().padStart(11)
      } ${(peak / 1024).toFixed(0).padStart(7)} MB ${
        (bytes / 2 ** 20).toFixed(0).padStart(6)
      } MiB`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
