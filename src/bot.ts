import { Bot, type BotError, type Context } from "grammy";
import type { UserFromGetMe } from "grammy/types";
import { help } from "./help.ts";
import { privacy } from "./privacy.ts";
import { Registrar } from "./registrar.ts";
import { registration } from "./registration.ts";
import type { Reporter } from "./reporter.ts";
import type { Store } from "./store.ts";

/** The settings `createBot` reads. */
export interface BotSettings {
  token: string;
  apiRoot: string;
  /** Who users write to for privacy requests, shown in `/privacy`. */
  privacyContact?: string;
}

/** What the bot is built from. */
export interface BotDeps {
  store: Store;
  reporter: Reporter;
  /** Known bot identity; skips `getMe` (benchmarks, tests). */
  botInfo?: UserFromGetMe;
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
export function createBot(settings: BotSettings, deps: BotDeps): Bot {
  const bot = new Bot(settings.token, {
    botInfo: deps.botInfo,
    client: { apiRoot: settings.apiRoot },
  });
  const report = (error: BotError<Context>) =>
    deps.reporter.report(error.error, error.ctx.update);

  bot.use(registration(new Registrar(deps.store)));
  bot.errorBoundary(report).use(
    help(),
    privacy({ contact: settings.privacyContact }),
  );
  // Polling mode only: what escapes the boundary (a failed registration).
  bot.catch(report);
  return bot;
}
