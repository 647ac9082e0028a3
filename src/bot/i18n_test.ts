import assert from "node:assert/strict";
import {
  commandsFor,
  createI18n,
  dateLocale,
  formatTime,
  LOCALES_DIR,
  negotiateLocale,
} from "./i18n.ts";
import { CORE_PLUGINS } from "./core_plugins.ts";
import { notes } from "../../examples/notes/notes.ts";

// The message ids of one Fluent file: "key = …" at the start of a line.
async function keysOf(file: string): Promise<Set<string>> {
  const text = await Deno.readTextFile(new URL(file, LOCALES_DIR));
  return new Set(
    [...text.matchAll(/^([a-z][a-z0-9-]*)\s*=/gm)].map((m) => m[1]!),
  );
}

async function localeFiles(): Promise<string[]> {
  const files = [];
  for await (const entry of Deno.readDir(LOCALES_DIR)) {
    if (entry.name.endsWith(".ftl")) files.push(entry.name);
  }
  return files.sort();
}

Deno.test("every locale has exactly the keys of the English one", async () => {
  const files = await localeFiles();
  assert.deepEqual(files, ["en.ftl", "pt-BR.ftl"]);
  const english = await keysOf("en.ftl");
  assert.ok(english.size > 20, "the English keys were not read");
  for (const file of files) {
    const keys = await keysOf(file);
    assert.deepEqual(
      [...english].filter((key) => !keys.has(key)),
      [],
      `missing in ${file}`,
    );
    assert.deepEqual(
      [...keys].filter((key) => !english.has(key)),
      [],
      `only in ${file}`,
    );
  }
});

Deno.test("every key the code asks for exists", async () => {
  const english = await keysOf("en.ftl");
  const used = new Set<string>();
  for await (const file of sourceFiles(new URL("../", import.meta.url))) {
    const code = await Deno.readTextFile(file);
    for (const args of callArguments(code, /\bt\(/g)) {
      // The key itself, or either key of a choice between two.
      const keys = args.matchAll(
        /(?:^|[?:])\s*"([a-z][a-z0-9]*(?:-[a-z0-9]+)*)"\s*(?=[,?:]|$)/g,
      );
      for (const match of keys) used.add(match[1]!);
    }
    // Keys built from a kind: `button-export-${kind}` and the like.
    for (const match of code.matchAll(/t\(\s*`([a-z-]+)\$\{kind\}`/g)) {
      used.add(`${match[1]}user`);
      used.add(`${match[1]}group`);
    }
  }
  assert.ok(
    used.has("privacy-policy") && used.has("button-export-group") &&
      used.has("admin-check-failed"),
    "the code was not read",
  );
  assert.ok(!used.has("user"), "a value was taken for a key");
  assert.deepEqual([...used].filter((key) => !english.has(key)), []);
});

Deno.test("Telegram language codes map to the loaded locales", () => {
  const locales = ["en", "pt-BR"];
  assert.equal(negotiateLocale("pt-br", locales), "pt-BR");
  assert.equal(negotiateLocale("pt", locales), "pt-BR");
  assert.equal(negotiateLocale("PT-BR", locales), "pt-BR");
  assert.equal(negotiateLocale("en-GB", locales), "en");
  assert.equal(negotiateLocale("xx", locales), "en");
  assert.equal(negotiateLocale(undefined, locales), "en");
});

Deno.test("dates follow the person's own variant of the answer's language, with UTC said", () => {
  // 2026-11-29T14:00:00Z.
  const at = 1_795_960_800;
  const cases: [string | undefined, string, string][] = [
    ["en", "en", "November 29, 2026 at 14:00 UTC"],
    ["en-gb", "en", "29 November 2026 at 14:00 UTC"],
    ["pt-br", "pt-BR", "29 de novembro de 2026 às 14:00 UTC"],
    ["pt", "pt-BR", "29 de novembro de 2026 às 14:00 UTC"],
    // Answered in English: the date is English too, not Japanese or broken.
    ["ja", "en", "November 29, 2026 at 14:00 UTC"],
    ["not a tag!", "en", "November 29, 2026 at 14:00 UTC"],
    [undefined, "en", "November 29, 2026 at 14:00 UTC"],
  ];
  for (const [code, locale, expected] of cases) {
    assert.equal(formatTime(at, dateLocale(code, locale)), expected, code);
  }
});

Deno.test("the command menu is translated without Fluent's isolation marks", () => {
  const i18n = createI18n(CORE_PLUGINS);
  const menu = commandsFor(i18n, "pt-BR", { plugins: CORE_PLUGINS });
  assert.deepEqual(menu.map((c) => c.description), [
    "O que é este bot",
    "Como usar este bot",
    "Ver, exportar ou apagar seus dados",
  ]);
  const text = i18n.t("en", "privacy-contact", { contact: "@op" });
  assert.equal(text, "Questions go to the operator of this bot: @op");
});

Deno.test("a plugin's locale files join the project's: its messages and menu entries in every locale", async () => {
  const i18n = createI18n([...CORE_PLUGINS, notes]);
  assert.deepEqual(i18n.locales, ["en", "pt-BR"]);
  const plugins = [...CORE_PLUGINS, notes];
  assert.deepEqual(
    commandsFor(i18n, "pt-BR", { plugins }).map((c) => c.description),
    [
      "O que é este bot",
      "Como usar este bot",
      "Ver, exportar ou apagar seus dados",
      "Guardar uma nota (num grupo: compartilhar uma)",
      "Listar suas notas",
    ],
  );
  assert.equal(
    i18n.t("en", "notes-none").startsWith("You have no notes"),
    true,
  );
  // The project's messages are still there beside the plugin's.
  assert.match(i18n.t("en", "cmd-privacy"), /export or delete/);
  // The plugin's locales have the same keys, as the project's must.
  const keys = async (file: string) =>
    new Set(
      [...(await Deno.readTextFile(new URL(file, notes.locales))).matchAll(
        /^([a-z][a-z0-9-]*)\s*=/gm,
      )].map((m) => m[1]!),
    );
  assert.deepEqual(await keys("pt-BR.ftl"), await keys("en.ftl"));
});

Deno.test("a command offered in private chats only makes one menu for private chats and one for groups", () => {
  const i18n = createI18n(CORE_PLUGINS);
  const plugins = [
    ...CORE_PLUGINS,
    { name: "p", commands: [{ command: "secret", scope: "private" as const }] },
  ];
  const names = (chats: "all" | "private" | "groups") =>
    commandsFor(i18n, "en", { plugins, chats }).map((c) => c.command);
  assert.deepEqual(names("private"), ["start", "help", "privacy", "secret"]);
  assert.deepEqual(names("groups"), ["start", "help", "privacy"]);
});

// Every non-test TypeScript file under `dir`, in its subfolders too.
async function* sourceFiles(dir: URL): AsyncIterable<URL> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      yield* sourceFiles(new URL(`${entry.name}/`, dir));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
      yield new URL(entry.name, dir);
    }
  }
}

// The text between the parentheses of every call that `opener` finds.
function* callArguments(code: string, opener: RegExp): Iterable<string> {
  for (const match of code.matchAll(opener)) {
    const start = match.index! + match[0].length;
    let depth = 1;
    let end = start;
    for (; end < code.length && depth > 0; end++) {
      if (code[end] === "(") depth++;
      else if (code[end] === ")") depth--;
    }
    yield code.slice(start, end - 1).trim();
  }
}
