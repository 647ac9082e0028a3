import type { Api } from "grammy";
import type { I18n } from "@grammyjs/i18n";
import { apiSignal, describeApiError } from "./api_error.ts";
import type { BotContext } from "../bot/i18n.ts";
import type { Plugin } from "../bot/plugin.ts";
import type { Logger } from "../base/log.ts";
import { sleep } from "./stopper.ts";

/** What `oneTimeCalls` is told to do. */
export interface OneTimeCallsOptions {
  /** The message catalogs, for the command menu in every language. */
  i18n: I18n<BotContext> | Promise<I18n<BotContext>>;
  /** The installed plugins: their commands make the menus. */
  plugins: readonly Plugin[];
  /** The update types the bot reads (`allowedUpdates(plugins)`), for `setWebhook`. */
  allowedUpdates: readonly string[];
  /** Where Telegram should post updates; no `setWebhook` without it. */
  webhook?: { url: string; secret?: string };
  /** Aborts the calls (a stop); default none. */
  signal?: AbortSignal;
  /** How long each call may take, in ms; default 10,000. */
  timeoutMs?: number;
  /**
   * Told of each call that failed, named `setMyCommands (<locale>)`,
   * `setWebhook`, or `catalogs` when the menus could not be tried (the
   * catalogs did not load); the other calls go on.
   */
  onError: (call: string, error: unknown) => void;
}

/** What `oneTimeCalls` got done. */
export interface OneTimeCallsResult {
  /** The locales whose command menu is now set. */
  menus: string[];
  /** Every locale the catalogs hold (none when they did not load). */
  locales: readonly string[];
  /** Whether `setWebhook` succeeded (false when it was not asked for). */
  webhook: boolean;
}

/** Name of the failure `oneTimeCalls` reports when the catalogs did not load. */
const CATALOGS = "catalogs";

/**
 * The calls that make the bot look right in Telegram, done once by `setup`
 * (or in the background by a start without it): the command menu per
 * language and, with a URL, the webhook with its secret and the updates the
 * bot reads. The calls run together, each bounded; none throws.
 */
export async function oneTimeCalls(
  api: Api,
  options: OneTimeCallsOptions,
): Promise<OneTimeCallsResult> {
  const { signal, onError } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const result: OneTimeCallsResult = { menus: [], locales: [], webhook: false };
  const menus = (async () => {
    try {
      // Loaded when asked for: the catalogs' parser is not needed to serve.
      const [{ setCommandMenus }, i18n] = await Promise.all([
        import("../bot/i18n.ts"),
        options.i18n,
      ]);
      result.locales = i18n.locales;
      const failed = new Set<string>();
      await setCommandMenus(api, i18n, {
        plugins: options.plugins,
        signal,
        timeoutMs,
        onError: (locale, error) => {
          failed.add(locale);
          onError(`setMyCommands (${locale})`, error);
        },
      });
      result.menus = i18n.locales.filter((locale) => !failed.has(locale));
    } catch (error) {
      onError(CATALOGS, error);
    }
  })();
  const webhook = options.webhook;
  const hook = webhook === undefined
    ? Promise.resolve()
    : api.setWebhook(webhook.url, {
      secret_token: webhook.secret,
      allowed_updates: options.allowedUpdates as never,
    }, apiSignal(...bounded(signal, timeoutMs))).then(
      () => {
        result.webhook = true;
      },
      (error) => onError("setWebhook", error),
    );
  await Promise.all([menus, hook]);
  return result;
}

function bounded(
  signal: AbortSignal | undefined,
  timeoutMs: number,
): AbortSignal[] {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal === undefined ? [timeout] : [signal, timeout];
}

/** What `backgroundOneTimeCalls` needs. */
export interface BackgroundCallsOptions {
  /** The message catalogs, loaded by the bot in the background. */
  i18n: Promise<I18n<BotContext>>;
  plugins: readonly Plugin[];
  allowedUpdates: readonly string[];
  webhook?: { url: string; secret?: string };
  log: Logger;
  /** The stop: no call starts after it, and calls in flight are aborted. */
  signal: AbortSignal;
}

/** How long a start without `setup` serves before it makes the one-time calls. */
const ONE_TIME_CALLS_DELAY_MS = 1_000;

/**
 * The one-time calls for a start without `setup`: made alongside serving,
 * a moment later, each failure a warning.
 */
export async function backgroundOneTimeCalls(
  api: Api,
  options: BackgroundCallsOptions,
): Promise<void> {
  const { log, signal } = options;
  // A moment later than serving: the first updates should not share the
  // one JavaScript thread with loading the message catalogs.
  await sleep(ONE_TIME_CALLS_DELAY_MS, signal);
  if (signal.aborted) return;
  await oneTimeCalls(api, {
    i18n: options.i18n,
    plugins: options.plugins,
    allowedUpdates: options.allowedUpdates,
    webhook: options.webhook,
    signal,
    onError: (call, error) => {
      if (call === CATALOGS) {
        log.warn(`the command menus were not set: ${(error as Error).message}`);
      } else if (!signal.aborted) {
        // A stop aborts the calls; that is no failure worth a line.
        log.warn(
          `${call} failed, continuing without it: ${
            describeApiError(error).reason
          }`,
        );
      }
    },
  });
}
