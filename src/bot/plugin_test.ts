import assert from "node:assert/strict";
import { allowedUpdates, commandsOf, filterOf, type Plugin } from "./plugin.ts";
import { CORE_PLUGINS } from "./core_plugins.ts";
import { notes } from "../../examples/notes/notes.ts";

Deno.test("allowed_updates is every plugin's update types once, in the order they are named", () => {
  assert.deepEqual(allowedUpdates(CORE_PLUGINS), [
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
  ]);
  assert.deepEqual(allowedUpdates([...CORE_PLUGINS, notes]), [
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "inline_query",
  ]);
});

Deno.test("a plugin's filter defaults to its update types, and to every update without either", () => {
  const plain: Plugin = { name: "plain" };
  assert.equal(filterOf(plain), undefined);
  assert.deepEqual(filterOf({ name: "typed", updates: ["inline_query"] }), [
    "inline_query",
  ]);
  assert.deepEqual(filterOf(notes), [
    "message:entities:bot_command",
    "inline_query",
  ]);
});

Deno.test("a command named by two plugins, or not in Telegram's form, is refused naming the plugin", () => {
  assert.deepEqual(
    commandsOf([...CORE_PLUGINS, notes]).map((c) => c.command.command),
    ["start", "help", "privacy", "note", "notes"],
  );
  assert.throws(
    () =>
      commandsOf([...CORE_PLUGINS, {
        name: "x",
        commands: [{ command: "help" }],
      }]),
    /Plugin "x" has command "help", which plugin "help" has already/,
  );
  assert.throws(
    () => commandsOf([{ name: "x", commands: [{ command: "Note" }] }]),
    /Plugin "x" has command "Note"/,
  );
});
