import assert from "node:assert/strict";
import { NOTES_ENTRIES } from "../../examples/notes/data.ts";
import { notes } from "../../examples/notes/notes.ts";
import { CORE_PLUGINS } from "./core_plugins.ts";
import type { Plugin } from "./plugin.ts";
import { checkPluginMessages } from "./plugin_messages.ts";

// A plugin whose locales folder holds the given files, removed afterwards.
async function withLocales(
  files: Record<string, string>,
  body: (folder: URL, dir: string) => void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "privacy_bot_locales_" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    body(new URL(`file://${dir}/`), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the project's and the notes plugin's messages pass the start check", () => {
  checkPluginMessages(CORE_PLUGINS);
  checkPluginMessages([...CORE_PLUGINS, notes]);
});

Deno.test("a plugin message the project already defines is refused, naming plugin, message and file", async () => {
  await withLocales({
    "en.ftl": "favcolour-saved = Saved.\nhelp = My own help\n",
  }, (locales, dir) => {
    const favcolour: Plugin = { name: "favcolour", locales };
    assert.throws(
      () => checkPluginMessages([...CORE_PLUGINS, favcolour]),
      {
        name: "TypeError",
        message:
          `Plugin "favcolour" defines message "help" in ${dir}/en.ftl, which the project already defines: start its messages with "favcolour-"`,
      },
    );
  });
});

Deno.test("a plugin message another plugin already defines is refused, in any locale", async () => {
  await withLocales({
    "pt-BR.ftl": "notes-saved = Outra coisa\n",
  }, (locales, dir) => {
    const copycat: Plugin = { name: "copycat", locales };
    assert.throws(
      () => checkPluginMessages([...CORE_PLUGINS, notes, copycat]),
      {
        message:
          `Plugin "copycat" defines message "notes-saved" in ${dir}/pt-BR.ftl, which plugin "notes" already defines: start its messages with "copycat-"`,
      },
    );
  });
});

Deno.test("a command without its menu description in English is refused, naming plugin, command and locale", async () => {
  await withLocales({
    "en.ftl": "cmd-colour = Your colour\n",
    "pt-BR.ftl": "cmd-colour = Sua cor\ncmd-colours = Cores\n",
  }, (locales, dir) => {
    const favcolour: Plugin = {
      name: "favcolour",
      locales,
      commands: [{ command: "colour" }, { command: "colours" }],
    };
    assert.throws(
      () => checkPluginMessages([...CORE_PLUGINS, favcolour]),
      {
        message:
          `Plugin "favcolour" command "/colours" has no message "cmd-colours" in locale "en": add it to ${dir}/en.ftl`,
      },
    );
  });
});

Deno.test("a plugin table without its policy line or its /privacy labels in English is refused", async () => {
  const en = [
    "privacy-policy-notes_entries = - notes",
    "privacy-rows-notes_entries = notes: { $count }",
  ];
  const table = { ...NOTES_ENTRIES };
  const one = {
    ...NOTES_ENTRIES,
    name: "notes_mood",
    key: ["user_id"],
  };
  for (
    const [lines, tables, missing] of [
      [en.slice(1), [table], "privacy-policy-notes_entries"],
      [en.slice(0, 1), [table], "privacy-rows-notes_entries"],
      [
        ["privacy-policy-notes_mood = - mood"],
        [one],
        "privacy-column-notes_mood-user_id",
      ],
    ] as const
  ) {
    await withLocales({ "en.ftl": lines.join("\n") }, (locales) => {
      const plugin: Plugin = { name: "notes", locales, tables };
      assert.throws(
        () => checkPluginMessages([...CORE_PLUGINS, plugin]),
        {
          message: new RegExp(
            `^Plugin "notes" table "${
              tables[0]!.name
            }" has no message "${missing}" in locale "en": add it to `,
          ),
        },
      );
    });
  }
  await withLocales({ "en.ftl": en.join("\n") }, (locales) => {
    checkPluginMessages([...CORE_PLUGINS, {
      name: "notes",
      locales,
      tables: [table],
    }]);
  });
});
