import { Bot, type BotError } from "grammy";
import type { UserFromGetMe } from "grammy/types";
import type { I18n } from "@grammyjs/i18n";
import { help } from "./features/help.ts";
import { type BotContext, createI18n } from "./i18n.ts";
import { privacy } from "./features/privacy.ts";
import { Registrar } from "./registrar.ts";
import { registration } from "./features/registration.ts";
import type { Reporter } from "./reporter.ts";
import type { Store } from "./store/store.ts";

/** The settings `createBot` reads. */
export interface BotSettings {
  token: string;
  apiRoot: string;
  /** Who users write to with privacy questions, shown in `/privacy`. */
  privacyContact?: string;
  /** A link to the full privacy policy, shown as a `/privacy` button. */
  privacyPolicyUrl?: string;
  /** Minutes between two in-bot exports of one record; default 60. */
  exportIntervalMinutes?: number;
}

/** What the bot is built from. */
export interface BotDeps {
  store: Store;
  reporter: Reporter;
  /** Known bot identity; skips `getMe` (benchmarks, tests). */
  botInfo?: UserFromGetMe;
  /** The clock in milliseconds, for the export rate limit. */
  now?: () => number;
}

/** A built bot and its message catalogs (for per-language command menus). */
export interface BuiltBot {
  bot: Bot<BotContext>;
  i18n: I18n<BotContext>;
}

/** The updates the bot asks Telegram for; `my_chat_member` tells of its removal. */
export const ALLOWED_UPDATES = [
  "message",
  "edited_message",
  "callback_query",
  "my_chat_member",
] as const;

/**
 * Builds the bot: registration first (its store errors fail the update so a
 * webhook request is retried), then the features behind an error boundary
 * that reports and lets the bot serve the next update.
 */
export function createBot(settings: BotSettings, deps: BotDeps): BuiltBot {
  const bot = new Bot<BotContext>(settings.token, {
    botInfo: deps.botInfo,
    client: { apiRoot: settings.apiRoot },
  });
  const i18n = createI18n();
  const registrar = new Registrar(deps.store);
  const report = (error: BotError<BotContext>) =>
    deps.reporter.report(error.error, error.ctx.update);

  bot.use(registration(registrar));
  // Most updates are plain messages that no feature answers: after
  // registration they leave with one filter check, and locale negotiation
  // and the features' own filters run only for commands and buttons.
  const answerable = bot.on(["message:entities:bot_command", "callback_query"]);
  answerable.use(i18n);
  answerable.errorBoundary(report).use(
    help(),
    privacy({
      store: deps.store,
      registrar,
      reporter: deps.reporter,
      contact: settings.privacyContact,
      policyUrl: settings.privacyPolicyUrl,
      exportIntervalMs: (settings.exportIntervalMinutes ?? 60) * 60_000,
      now: deps.now,
    }),
  );
  // Polling mode only: what escapes the boundary (a failed registration).
  bot.catch(report);
  return { bot, i18n };
}
