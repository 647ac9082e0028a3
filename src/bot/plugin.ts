/**
 * The plugin API: how a feature is added to the bot. A plugin is a plain
 * object; `plugins.ts` at the root lists the installed ones, and both the
 * bot and the CLI read that list, so every privacy tool knows every table.
 *
 * @module
 */
import type { Composer, FilterQuery } from "grammy";
import type { Update } from "grammy/types";
import type { Reporter } from "../base/reporter.ts";
import type { DataDeclaration, TableDescription } from "../base/tables.ts";
import type { BotContext } from "./i18n.ts";
import type { BotSettings } from "./bot.ts";
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
   * Its handlers, built once at start. It sees the updates `filter` lets
   * through (default: every update of its `updates`), after registration.
   */
  readonly middleware?: (
    env: PluginEnv,
  ) => Composer<BotContext> | Promise<Composer<BotContext>>;
  /** The update types it needs from Telegram (`allowed_updates` is the union). */
  readonly updates?: readonly UpdateType[];
  /** Narrows which updates reach `middleware` (grammY filter queries). */
  readonly filter?: readonly FilterQuery[];
  /** Commands for the menus. */
  readonly commands?: readonly PluginCommand[];
  /** A folder of `<locale>.ftl` files, merged with every other plugin's. */
  readonly locales?: URL;
}
