import assert from "node:assert/strict";

// The project's own modules and what each imports (static, dynamic and type
// imports alike), read from `deno info --json` for both programs.
async function importGraph(): Promise<Map<string, string[]>> {
  const root = new URL("../", import.meta.url).href;
  const graph = new Map<string, string[]>();
  for (const program of ["main.ts", "cli.ts"]) {
    const output = await new Deno.Command("deno", {
      args: ["info", "--json", program],
      cwd: new URL(root),
      stdout: "piped",
    }).output();
    assert.ok(output.success, `deno info ${program} failed`);
    const info = JSON.parse(new TextDecoder().decode(output.stdout));
    for (const module of info.modules) {
      const from = module.specifier as string;
      if (!from.startsWith(root)) continue;
      const to = ((module.dependencies ?? []) as {
        code?: { specifier: string };
        type?: { specifier: string };
      }[]).flatMap((dependency) =>
        [dependency.code?.specifier, dependency.type?.specifier].filter((
          specifier,
        ): specifier is string => specifier?.startsWith(root) ?? false)
      ).map((specifier) => specifier.slice(root.length));
      graph.set(from.slice(root.length), to);
    }
  }
  return graph;
}

Deno.test("no module of the bot or the CLI imports itself through others", async () => {
  const graph = await importGraph();
  assert.ok(graph.size > 40, "the graph was not read");
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (module: string) => {
    state.set(module, "open");
    path.push(module);
    for (const next of graph.get(module) ?? []) {
      if (state.get(next) === "open") {
        cycles.push([...path.slice(path.indexOf(next)), next].join(" → "));
      } else if (state.get(next) === undefined) visit(next);
    }
    path.pop();
    state.set(module, "done");
  };
  for (const module of graph.keys()) {
    if (state.get(module) === undefined) visit(module);
  }
  assert.deepEqual(cycles, []);
});

// Each folder of src/ may import only folders below it; the programs at the
// root sit above them all. docs/architecture.md draws the same order.
const LAYERS: Record<string, number> = {
  base: 0,
  config: 1,
  fs: 1,
  crypto: 2,
  store: 3,
  privacy: 4,
  registration: 4,
  bot: 5,
  app: 6,
  runtime: 7,
  cli: 8,
};

Deno.test("the folders of src/ depend one way: base, config, crypto, store, privacy and registration, bot, app, runtime, cli", async () => {
  const graph = await importGraph();
  const folder = (module: string) =>
    module.startsWith("src/") ? module.split("/")[1]! : undefined;
  const wrong: string[] = [];
  for (const [module, imports] of graph) {
    const from = folder(module);
    if (from === undefined) continue;
    assert.ok(from in LAYERS, `src/${from}/ has no place in the layers`);
    for (const imported of imports) {
      const to = folder(imported);
      if (to === undefined) {
        wrong.push(`${module} imports the program ${imported}`);
      } else if (to !== from && LAYERS[to]! >= LAYERS[from]!) {
        wrong.push(`${module} → ${imported}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});
