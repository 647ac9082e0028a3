/**
 * `main.ts` with more plugins installed than `plugins.ts` lists: the ones
 * named in TEST_PLUGINS (comma-separated, in order; default `notes`) after
 * the installed ones (one `plugins.ts` already installs moves there, not
 * added twice). With TEST_BASE=core the project's own plugins come first instead
 * of `plugins.ts`'s, for tests about the core whatever a project installs. `broken` is a plugin whose handler throws on every
 * text message.
 *
 * @module
 */
import { Composer } from "grammy";
import { run } from "../main.ts";
import { plugins } from "../plugins.ts";
import { CORE_PLUGINS } from "../src/bot/core_plugins.ts";
import { notes } from "../examples/notes/notes.ts";
import type { BotContext } from "../src/bot/context.ts";
import type { Plugin } from "../src/bot/plugin.ts";

/** A plugin that fails on every text message, to be reported by its name. */
const broken: Plugin = {
  name: "broken",
  updates: ["message"],
  filter: ["message:text"],
  middleware: () =>
    new Composer<BotContext>().use(() => {
      throw new Error("the broken plugin fails on purpose");
    }),
};

/** A plugin whose command has no `cmd-mute` message: the bot must refuse it. */
const mute: Plugin = { name: "mute", commands: [{ command: "mute" }] };

const available: Record<string, Plugin> = { notes, broken, mute };
const names = (Deno.env.get("TEST_PLUGINS") ?? "notes").split(",");
const wanted = names.filter((name) => name !== "");
// A named plugin plugins.ts installs already moves to its place in the list.
const base = (Deno.env.get("TEST_BASE") === "core" ? CORE_PLUGINS : plugins)
  .filter((plugin) => !wanted.includes(plugin.name));
await run({
  plugins: [
    ...base,
    ...wanted.map((name) => {
      const plugin = available[name];
      if (plugin === undefined) {
        throw new TypeError(
          `TEST_PLUGINS names "${name}", which is no test plugin`,
        );
      }
      return plugin;
    }),
  ],
});
