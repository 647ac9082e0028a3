import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

// Every way the code names an environment variable it reads.
const READS = [
  /\benv\.([A-Z][A-Z0-9_]+)/g,
  /\benv\[\s*"([A-Z][A-Z0-9_]+)"\s*\]/g,
  /\(\s*env,\s*"([A-Z][A-Z0-9_]+)"/g,
  /Deno\.env\.get\(\s*"([A-Z][A-Z0-9_]+)"/g,
];

async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sources(url);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
      yield url;
    }
  }
}

Deno.test("every environment variable the bot and the CLI read is documented in docs/configuration.md", async () => {
  const read = new Set<string>();
  const files = [new URL("main.ts", root), new URL("cli.ts", root)];
  for await (const file of sources(new URL("src/", root))) files.push(file);
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    for (const pattern of READS) {
      for (const match of text.matchAll(pattern)) read.add(match[1]!);
    }
  }
  // Sanity: the scan finds what it must.
  for (const name of ["BOT_TOKEN", "BOT_MODE", "WEBHOOK_URL", "PGHOST"]) {
    assert.ok(read.has(name), `the scan missed ${name}`);
  }
  const doc = await Deno.readTextFile(new URL("docs/configuration.md", root));
  const missing = [...read].filter((name) => !doc.includes(`\`${name}\``));
  assert.deepEqual(missing, []);
});
