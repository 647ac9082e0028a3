/**
 * `export --all --format ndjson` on generated databases of 100k and 1M users,
 * run as the operator runs it (a `deno task cli` subprocess). Reports
 * records per second and the subprocess's peak resident memory.
 * Each size runs on plaintext, then on the same records encrypted.
 * Run with `deno task bench:export`.
 */
import { DatabaseSync } from "node:sqlite";
import { decodeKey, encodeKey } from "../src/crypto/data_key.ts";
import { FieldCipher, generateKey } from "../src/crypto/field_cipher.ts";
import { openSqliteStore } from "../src/store/sqlite_store.ts";

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

interface Run {
  seconds: number;
  peakKiB: number;
  bytes: number;
}

// One `export --all --format ndjson` as a subprocess, with its peak RSS.
async function exportOnce(
  path: string,
  size: number,
  key?: string,
): Promise<Run> {
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
    env: key === undefined
      ? { DATA_ENCRYPTION_KEY: "", DATA_KEY_FILE: `${path}.nokey` }
      : { DATA_ENCRYPTION_KEY: key },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let peakKiB = 0;
  const sampler = setInterval(async () => {
    peakKiB = Math.max(peakKiB, await peakRssKiB(child.pid));
  }, 50);
  let bytes = 0;
  let lines = 0;
  for await (const chunk of child.stdout) {
    bytes += chunk.byteLength;
    for (const byte of chunk) if (byte === 0x0a) lines++;
  }
  peakKiB = Math.max(peakKiB, await peakRssKiB(child.pid));
  const status = await child.status;
  clearInterval(sampler);
  if (!status.success || lines !== size) {
    throw new Error(
      `export of ${size} failed: exit ${status.code}, ${lines} lines`,
    );
  }
  return { seconds: (performance.now() - start) / 1000, peakKiB, bytes };
}

function line(size: number, name: string, run: Run): string {
  return `${String(size).padStart(9)}  ${name.padEnd(10)} ${
    run.seconds.toFixed(2).padStart(8)
  } ${Math.round(size / run.seconds).toString().padStart(11)} ${
    (run.peakKiB / 1024).toFixed(0).padStart(7)
  } MB ${(run.bytes / 2 ** 20).toFixed(0).padStart(6)} MiB`;
}

const dir = await Deno.makeTempDir({ prefix: "export_bench_" });
try {
  console.log("  records  database    seconds   records/s   peak RSS   output");
  for (const size of SIZES) {
    const path = `${dir}/users_${size}.db`;
    await seed(path, size);
    console.log(line(size, "plaintext", await exportOnce(path, size)));
    // Opening with a key encrypts the plaintext rows: the migration path.
    const key = encodeKey(generateKey());
    const started = performance.now();
    const store = await openSqliteStore(path, {
      cipher: await FieldCipher.fromKey(decodeKey(key, "key")),
    });
    await store.close();
    const migrated = (performance.now() - started) / 1000;
    console.log(line(size, "encrypted", await exportOnce(path, size, key)));
    console.log(
      `           (encrypting the ${size} plaintext records took ${
        migrated.toFixed(1)
      } s)`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
