/**
 * The project's own features as plugins: registration, `/start` and
 * `/help`, and `/privacy`. Light to import (the CLI reads their data
 * declarations): their handlers load only when the bot builds them.
 *
 * @module
 */
import { GROUPS, USERS } from "../base/tables.ts";
import type { Plugin } from "./plugin.ts";

/**
 * Registration: it declares the users and groups tables and the updates
 * that tell who writes and where. Its handler is not a middleware of its
 * own: the bot registers every update before any plugin sees it (the
 * polling loop does so for a whole batch).
 */
export const registrationPlugin: Plugin = {
  name: "registration",
  tables: [USERS, GROUPS],
  // `my_chat_member` tells of the bot's removal from a group.
  updates: ["message", "edited_message", "callback_query", "my_chat_member"],
};

/** `/start` and `/help`. */
export const helpPlugin: Plugin = {
  name: "help",
  updates: ["message"],
  filter: ["message:entities:bot_command"],
  commands: [{ command: "start" }, { command: "help" }],
  // `/help` lists the other plugins' commands after the project's own.
  middleware: async (env) =>
    (await import("./features/help.ts")).help({
      commands: env.commands.filter(({ plugin }) =>
        !CORE_PLUGINS.some((core) => core.name === plugin)
      ).map(({ command }) => command),
    }),
};

/** `/privacy`: what is stored, with buttons to export or delete it. */
export const privacyPlugin: Plugin = {
  name: "privacy",
  updates: ["message", "callback_query"],
  filter: ["message:entities:bot_command", "callback_query"],
  commands: [{ command: "privacy" }],
  middleware: async (env) => {
    const { privacy } = await import("./features/privacy.ts");
    return privacy({
      store: env.store,
      reporter: env.reporter,
      contact: env.settings.privacyContact,
      policyUrl: env.settings.privacyPolicyUrl,
      miniAppUrl: env.settings.miniAppUrl,
      crashReports: env.settings.sentry !== undefined,
      exportIntervalMs: (env.settings.exportIntervalMinutes ?? 60) * 60_000,
      eraseOnBlock: env.settings.eraseOnBlock,
      retentionDays: env.settings.retentionDays,
      now: env.now,
      telemetry: env.telemetry,
    });
  },
};

/** The project's own plugins, in the order their commands appear in the menus. */
export const CORE_PLUGINS: readonly Plugin[] = [
  registrationPlugin,
  helpPlugin,
  privacyPlugin,
];
