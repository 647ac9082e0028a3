import assert from "node:assert/strict";
import { installedCatalog } from "../plugins.ts";
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore } from "../src/store/sqlite/open.ts";
import { openTestStore, tempDir } from "./_db.ts";
import { runCliProcess, taskFlags, TEST_DATA_KEY } from "./_main_process.ts";
import { registerUser } from "../src/store/_seed.ts";

const CLEAR = "\r\x1b[K";

const hasScript = await new Deno.Command("sh", {
  args: ["-c", "command -v script"],
  stdout: "null",
})
  .output().then((output) => output.success, () => false);

// Runs the CLI with stdout and stderr on a pseudo-terminal made by
// util-linux `script`; returns everything the terminal received.
async function onTerminal(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  const command = ["deno", "run", ...await taskFlags("cli"), "cli.ts", ...args]
    .map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
  const output = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: new URL("../", import.meta.url),
    env: { NO_COLOR: "1", DATA_ENCRYPTION_KEY: TEST_DATA_KEY, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    output: new TextDecoder().decode(output.stdout),
  };
}

async function seeded(dir: string, users: number, keyed = true) {
  const path = `${dir}/bot.db`;
  const store = keyed
    ? await openTestStore(path)
    : await openSqliteStore(path, { catalog: installedCatalog() });
  for (let id = 1; id <= users; id++) {
    await registerUser(store, {
      id,
      username: null,
      first_name: `U${id}`,
      last_name: null,
      language_code: null,
    }, 0);
  }
  await store.close();
  return path;
}

Deno.test({
  name:
    "export --all on a terminal shows records done of total, then clears the line",
  ignore: !hasScript,
  fn: async () => {
    await using dir = await tempDir();
    const path = await seeded(dir.path, 3);
    const out = `${dir.path}/all.ndjson`;
    const args = ["--database", path, "export", "--all", "--format", "ndjson"];
    let result = await onTerminal([...args, "--out", out]);
    assert.equal(result.code, 0, result.output);
    const shown = result.output.indexOf(
      `${CLEAR}Exporting: 0 of 3 records (0%)`,
    );
    const cleared = result.output.lastIndexOf(CLEAR);
    // "3 users and 0 groups", or "3 users, 0 groups, …" with plugin tables.
    const done = result.output.search(/Exported 3 users(,| and) 0 groups/);
    assert.ok(shown >= 0, JSON.stringify(result.output));
    // Drawn first, cleared before the closing line.
    assert.ok(shown < cleared && cleared < done, JSON.stringify(result.output));

    result = await onTerminal([...args, "--out", `${out}.2`, "--quiet"]);
    assert.equal(result.code, 0, result.output);
    assert.ok(!result.output.includes("\x1b"), JSON.stringify(result.output));
    assert.match(result.output, /^Exported 3 users(,| and) 0 groups\b.* to /);

    // Not a terminal: only the closing line.
    const piped = await runCliProcess([...args, "--out", `${out}.3`]);
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(
      piped.stderr,
      /^Exported 3 users(,| and) 0 groups\b[^\n]* to "[^"]+"\n$/,
    );
  },
});

Deno.test({
  name: "rotate-key on a terminal shows its progress, and nothing with --quiet",
  ignore: !hasScript,
  fn: async () => {
    await using dir = await tempDir();
    const path = await seeded(dir.path, 2);
    const keyFile = `${dir.path}/data.key`;
    await Deno.writeTextFile(keyFile, `${TEST_DATA_KEY}\n`, { mode: 0o600 });
    const env = { DATA_ENCRYPTION_KEY: "", DATA_KEY_FILE: keyFile };
    let result = await onTerminal(["--database", path, "rotate-key"], env);
    assert.equal(result.code, 0, result.output);
    assert.ok(
      result.output.includes(`${CLEAR}Re-encrypting: 0 of 2 records (0%)`),
      JSON.stringify(result.output),
    );
    assert.ok(
      result.output.lastIndexOf(CLEAR) <
        result.output.indexOf("Moved the database to key"),
    );
    result = await onTerminal(
      ["--database", path, "rotate-key", "--quiet"],
      env,
    );
    assert.equal(result.code, 0, result.output);
    assert.ok(!result.output.includes("\x1b"), JSON.stringify(result.output));
    assert.match(
      result.output,
      /^Moved the database to key \w{8} and wrote it to .*; re-encrypted 2 records/,
    );
  },
});

Deno.test({
  name:
    "the first encryption of a plaintext database shows its progress on a terminal",
  ignore: !hasScript,
  fn: async () => {
    await using dir = await tempDir();
    const path = await seeded(dir.path, 4, false);
    const result = await onTerminal([
      "--database",
      path,
      "export",
      "--all",
      "--out",
      `${dir.path}/all.json`,
    ]);
    assert.equal(result.code, 0, result.output);
    assert.ok(
      result.output.includes(
        `${CLEAR}Encrypting the database: 0 of 4 records (0%)`,
      ),
      JSON.stringify(result.output),
    );
    const db = new DatabaseSync(path, { readOnly: true });
    const row = db.prepare("SELECT first_name FROM users WHERE id = 1").get();
    db.close();
    assert.notEqual(row?.first_name, "U1");
  },
});
