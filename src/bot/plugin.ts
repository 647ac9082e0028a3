/**
 * The plugin API: how a feature is added to the bot. A plugin is a plain
 * object; `plugins.ts` at the root lists the installed ones, and both the
 * bot and the CLI read that list, so every privacy tool knows every table.
 * docs/plugins.md walks through writing one.
 *
 * @module
 */
import type { Composer, FilterQuery } from "grammy";
import type { Update } from "grammy/types";
import type { Reporter } from "../base/reporter.ts";
import type { DataDeclaration, TableDescription } from "../base/tables.ts";
import type { Telemetry } from "../base/telemetry.ts";
import type { BotContext } from "./context.ts";
import type { PrivacyStore } from "../store/store.ts";

/** A kind of update Telegram sends (`message`, `inline_query`, …). */
export type UpdateType = Exclude<keyof Update, "update_id">;

/** A command a plugin adds to the menus; its text is `cmd-<command>` in its locales. */
export interface PluginCommand {
  /** The command without its slash: lowercase letters, digits and `_`. */
  readonly command: string;
  /** Where it is offered in the menu; default `all`. */
  readonly scope?: "all" | "private" | "groups";
}

/** The operator's settings the bot and its plugins read. */
export interface BotSettings {
  token: string;
  apiRoot: string;
  /** Who users write to with privacy questions, shown in `/privacy`. */
  privacyContact?: string;
  /** A link to the full privacy policy, shown as a `/privacy` button. */
  privacyPolicyUrl?: string;
  /**
   * Crash-report settings, present when Sentry is configured: what the bot
   * tells users about crash reports follows them.
   */
  sentry?: object;
  /** Minutes between two in-bot exports of one record; default 60. */
  exportIntervalMinutes?: number;
  /** The Mini App privacy center (`MINI_APP_URL`): `/privacy` offers it. */
  miniAppUrl?: string;
  /** Whether a person blocking the bot erases their records; default true. */
  eraseOnBlock?: boolean;
  /** Days unseen after which the sweep erases a record; undefined: never. */
  retentionDays?: number;
}

/** What a plugin's middleware is built from. */
export interface PluginEnv {
  /** Reading any described table; writes go through `ctx.records`. */
  readonly store: PrivacyStore;
  readonly settings: BotSettings;
  /** Reports an error with the plugin's name attached. */
  readonly reporter: Reporter;
  /** The clock in milliseconds. */
  readonly now: () => number;
  /** Every installed table description (for privacy features). */
  readonly tables: readonly TableDescription[];
  /** Counters and spans (a no-op when telemetry is off); labels must stay bounded. */
  readonly telemetry?: Telemetry;
  /** Every installed plugin's commands with its plugin's name (for `/help`). */
  readonly commands: readonly { plugin: string; command: PluginCommand }[];
}

/**
 * One feature of the bot. Only `name` is required; a plugin that stores
 * personal data describes every table it stores it in (`tables`), creates
 * them with its own numbered migrations (`migrations`) and writes them
 * through `ctx.records`, never through SQL of its own.
 */
export interface Plugin extends DataDeclaration {
  /** Its namespace: lowercase letters, digits and `_`; its tables start with it and `_`. */
  readonly name: string;
  /**
   * Its handlers, built once, at the first update that passes `filter` or
   * about a second after start, whichever comes first: load heavy modules
   * here with `import()`, not at the top of the plugin's file. It sees the
   * updates `filter` lets through, after registration; `next()` passes an
   * update on to the plugins after it.
   */
  readonly middleware?: (
    env: PluginEnv,
  ) => Composer<BotContext> | Promise<Composer<BotContext>>;
  /** The update types it needs from Telegram (`allowed_updates` is the union). */
  readonly updates?: readonly UpdateType[];
  /**
   * Which updates reach `middleware` (grammY filter queries); default its
   * `updates`, and every update without either. An update no plugin's
   * filter lets through costs nothing beyond registration: no message
   * catalogs, no plugin loading.
   */
  readonly filter?: readonly FilterQuery[];
  /** Commands for the menus. */
  readonly commands?: readonly PluginCommand[];
  /** A folder of `<locale>.ftl` files, merged with every other plugin's. */
  readonly locales?: URL;
}

/**
 * The `allowed_updates` sent to Telegram: every update type any plugin
 * needs, each once, in the order the plugins name them.
 */
export function allowedUpdates(
  plugins: readonly Plugin[],
): UpdateType[] {
  const union = new Set<UpdateType>();
  for (const plugin of plugins) {
    for (const type of plugin.updates ?? []) union.add(type);
  }
  return [...union];
}

/** What `filterOf` reads: a plugin's `filter`, else its `updates`. */
export function filterOf(plugin: Plugin): readonly FilterQuery[] | undefined {
  if (plugin.filter !== undefined) return plugin.filter;
  if (plugin.updates !== undefined) return plugin.updates as FilterQuery[];
  return undefined;
}

const COMMAND = /^[a-z0-9_]{1,32}$/;

/**
 * Every plugin's commands in plugin order, checked: a command is named
 * once over all plugins, in Telegram's form. Throws `TypeError` naming the
 * plugin and the command.
 */
export function commandsOf(
  plugins: readonly Plugin[],
): { plugin: string; command: PluginCommand }[] {
  const owners = new Map<string, string>();
  const commands: { plugin: string; command: PluginCommand }[] = [];
  for (const plugin of plugins) {
    for (const command of plugin.commands ?? []) {
      if (!COMMAND.test(command.command)) {
        throw new TypeError(
          `Plugin "${plugin.name}" has command "${command.command}": a command is 1-32 lowercase letters, digits and _`,
        );
      }
      const owner = owners.get(command.command);
      if (owner !== undefined) {
        throw new TypeError(
          `Plugin "${plugin.name}" has command "${command.command}", which plugin "${owner}" has already`,
        );
      }
      owners.set(command.command, plugin.name);
      commands.push({ plugin: plugin.name, command });
    }
  }
  return commands;
}
