import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

// Packages the tests import that neither the bot nor the CLI do. They stay in
// the root lockfile (the tests share the root configuration), so a fresh
// start downloads them too; each is small and has no dependencies.
const TEST_ONLY = ["csv-parse"];

interface Info {
  modules: { kind: string; npmPackage?: string }[];
  npmPackages: Record<string, { name: string; dependencies: string[] }>;
}

// `deno info` reads the local cache and the lockfile only: no network. Its
// `npmPackages` is the lockfile's whole npm snapshot, which is what Deno
// installs before running anything; the npm modules are what the program
// imports.
async function info(script: string): Promise<Info> {
  const output = await new Deno.Command("deno", {
    args: ["info", "--json", script],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

// Every package `roots` pull in, following the snapshot's dependencies.
function closure(info: Info, roots: string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const id = queue.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    queue.push(...(info.npmPackages[id]?.dependencies ?? []));
  }
  return seen;
}

Deno.test("a fresh start installs only the packages the bot and the CLI import, and the tests' CSV parser", async () => {
  const needed = new Set<string>();
  let snapshot: Info["npmPackages"] = {};
  for (const script of ["main.ts", "cli.ts"]) {
    const graph = await info(script);
    snapshot = graph.npmPackages;
    const roots = graph.modules.flatMap((module) =>
      module.npmPackage === undefined ? [] : [module.npmPackage]
    );
    assert.ok(roots.length > 0, `${script} imports no npm package`);
    for (const id of closure(graph, roots)) needed.add(id);
  }
  const testOnly = Object.keys(snapshot).filter((id) =>
    TEST_ONLY.includes(snapshot[id]!.name)
  );
  assert.equal(testOnly.length, TEST_ONLY.length, "a test-only package left");
  const extra = Object.keys(snapshot).filter((id) =>
    !needed.has(id) && !testOnly.includes(id)
  );
  assert.deepEqual(
    extra,
    [],
    "deno.lock makes a fresh start install packages neither main.ts nor cli.ts imports",
  );
});

Deno.test("the benches have their own configuration and lockfile, and every bench task uses it", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  const bench = JSON.parse(
    await Deno.readTextFile(new URL("bench/deno.json", root)),
  );
  assert.ok("autocannon" in bench.imports, "bench/deno.json lacks autocannon");
  assert.ok(!("autocannon" in config.imports), "autocannon is in deno.json");
  await Deno.stat(new URL("bench/deno.lock", root));
  const tasks = Object.entries(config.tasks as Record<string, string>)
    .filter(([name]) => name.startsWith("bench"));
  assert.ok(tasks.length >= 4);
  for (const [name, command] of tasks) {
    assert.match(command, /--config bench\/deno\.json /, name);
  }
});
