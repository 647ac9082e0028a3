/**
 * The grammY bot: its features (`features/`), languages (`i18n.ts`,
 * `locales/`) and how they are put together (this file). It answers
 * updates; how updates arrive is `runtime/`'s business.
 *
 * @module
 */
import { Bot, type BotError, Composer } from "grammy";
import type { UserFromGetMe } from "grammy/types";
import type { I18n } from "@grammyjs/i18n";
import type { BotContext } from "./i18n.ts";
import { Registrar } from "../registration/registrar.ts";
import { registration } from "../registration/registration.ts";
import type { Reporter } from "../base/reporter.ts";
import type {
  PrivacyStore,
  RegistrationPlan,
  RegistrationStore,
} from "../store/store.ts";

/** The settings `createBot` reads. */
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
}

/** What the bot is built from. */
export interface BotDeps {
  store: RegistrationStore & PrivacyStore;
  reporter: Reporter;
  /** Known bot identity (stored by setup, or from `getMe`); skips `getMe`. */
  botInfo?: UserFromGetMe;
  /** The clock in milliseconds, for the export rate limit. */
  now?: () => number;
  /**
   * Whether each update is registered by the bot's first middleware (the
   * default, for webhooks). The polling loop registers whole batches itself
   * before handling them and turns this off.
   */
  registerEachUpdate?: boolean;
  /** When to load the command features if no command came first; default 1 s. */
  featuresDelayMs?: number;
}

/** A built bot, its batch registration and its message catalogs (loaded in the background). */
export interface BuiltBot {
  bot: Bot<BotContext>;
  /** Stores the plans of one `getUpdates` batch in one transaction. */
  register(plans: RegistrationPlan[]): Promise<void>;
  /** The message catalogs, for per-language command menus (loaded when asked for). */
  readonly i18n: Promise<I18n<BotContext>>;
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
 *
 * The features and their message catalogs are loaded in the background:
 * most updates are plain messages that only need registering, and they do
 * not wait for code that only commands and buttons use.
 */
export function createBot(settings: BotSettings, deps: BotDeps): BuiltBot {
  const bot = new Bot<BotContext>(settings.token, {
    botInfo: deps.botInfo,
    client: { apiRoot: settings.apiRoot },
  });
  const registrar = new Registrar(deps.store);
  const report = (error: BotError<BotContext>) =>
    deps.reporter.report(error.error, error.ctx.update);
  let loading: Promise<Features> | undefined;
  const loaded = () => {
    loading ??= loadFeatures(settings, deps);
    return loading;
  };
  // Loaded shortly after start, not at once: loading competes for the one
  // JavaScript thread with the first updates, which only need registering.
  // A command or button arriving earlier loads them on the spot.
  const warmUp = setTimeout(
    () => loaded().catch(() => {}),
    deps.featuresDelayMs ?? 1_000,
  );
  Deno.unrefTimer(warmUp);

  if (deps.registerEachUpdate ?? true) bot.use(registration(registrar));
  // Most updates are plain messages that no feature answers: after
  // registration they leave with one filter check, and locale negotiation
  // and the features' own filters run only for commands and buttons.
  bot.on(["message:entities:bot_command", "callback_query"])
    .errorBoundary(report)
    .use(async (ctx, next) => (await loaded()).features(ctx, next));
  return {
    bot,
    register: (plans) => registrar.applyAll(plans),
    get i18n() {
      return loaded().then((parts) => parts.i18n);
    },
  };
}

interface Features {
  i18n: I18n<BotContext>;
  features: ReturnType<Composer<BotContext>["middleware"]>;
}

async function loadFeatures(
  settings: BotSettings,
  deps: BotDeps,
): Promise<Features> {
  const [{ createI18n }, { help }, { privacy }] = await Promise.all([
    import("./i18n.ts"),
    import("./features/help.ts"),
    import("./features/privacy.ts"),
  ]);
  const i18n = createI18n();
  const composer = new Composer<BotContext>();
  composer.use(
    i18n,
    help(),
    privacy({
      store: deps.store,
      reporter: deps.reporter,
      contact: settings.privacyContact,
      policyUrl: settings.privacyPolicyUrl,
      crashReports: settings.sentry !== undefined,
      exportIntervalMs: (settings.exportIntervalMinutes ?? 60) * 60_000,
      now: deps.now,
    }),
  );
  return { i18n, features: composer.middleware() };
}
