import { fileURLToPath } from "node:url";
import type { Api, Context } from "grammy";
import type { LanguageCode } from "grammy/types";
import { I18n, type I18nFlavor } from "@grammyjs/i18n";

/** The context every feature sees: grammY's, with `ctx.t` for messages. */
export type BotContext = Context & I18nFlavor;

/** The language used when the user's is not translated. */
const DEFAULT_LOCALE = "en";

/** The folder of Fluent files: one `<locale>.ftl` per language. */
export const LOCALES_DIR = new URL("./locales/", import.meta.url);

/** The commands in the menu; each has a `cmd-<name>` description per locale. */
const COMMAND_NAMES = ["start", "help", "privacy"] as const;

/**
 * Loads every locale file. A new language is a new `.ftl` file: the
 * negotiation below picks it up without code changes.
 */
export function createI18n(): I18n<BotContext> {
  const i18n: I18n<BotContext> = new I18n<BotContext>({
    defaultLocale: DEFAULT_LOCALE,
    // The plugin takes each locale's name from the path below this folder,
    // which must not end in a slash.
    directory: fileURLToPath(LOCALES_DIR).replace(/\/$/, ""),
    useSession: false,
    // Fluent wraps values in bidi isolation marks by default; Telegram
    // clients lay out mixed scripts themselves.
    fluentBundleOptions: { useIsolating: false },
    localeNegotiator: (ctx) =>
      negotiateLocale(ctx.from?.language_code, i18n.locales),
  });
  return i18n;
}

/**
 * Maps Telegram's `language_code` (an IETF tag such as `pt-br`, `pt` or
 * `en`) to a loaded locale: the exact tag first, then the first locale of the
 * same language, else the default.
 */
export function negotiateLocale(
  code: string | undefined,
  locales: readonly string[],
): string {
  if (code === undefined) return DEFAULT_LOCALE;
  const wanted = code.toLowerCase();
  const exact = locales.find((locale) => locale.toLowerCase() === wanted);
  if (exact !== undefined) return exact;
  const language = wanted.split("-")[0];
  return locales.find((locale) =>
    locale.toLowerCase().split("-")[0] === language
  ) ??
    DEFAULT_LOCALE;
}

/** The command menu in one locale, for `setMyCommands`. */
export function commandsFor(
  i18n: I18n<BotContext>,
  locale: string,
): { command: string; description: string }[] {
  return COMMAND_NAMES.map((command) => ({
    command,
    description: i18n.t(locale, `cmd-${command}`),
  }));
}

/** Options for `setCommandMenus`. */
export interface CommandMenuOptions {
  /** Told of each locale whose menu could not be set; the rest go on. */
  onError: (locale: string, error: Error) => void;
  /** Aborts the calls (a stop); default none. */
  signal?: AbortSignal;
  /** How long each call may take, in ms; default 10,000. */
  timeoutMs?: number;
}

/**
 * Sets the command menu once per locale: the default locale's for everyone,
 * the others for their two-letter language. The calls run together, each
 * bounded in time. A failure is passed to `onError` and the rest go on: the
 * menu is a convenience.
 */
export async function setCommandMenus(
  api: Api,
  i18n: I18n<BotContext>,
  options: CommandMenuOptions,
): Promise<void> {
  await Promise.all(i18n.locales.map(async (locale) => {
    const language = locale === DEFAULT_LOCALE
      ? undefined
      : locale.split("-")[0] as LanguageCode;
    const signals = [AbortSignal.timeout(options.timeoutMs ?? 10_000)];
    if (options.signal !== undefined) signals.push(options.signal);
    try {
      await api.setMyCommands(
        commandsFor(i18n, locale),
        language === undefined ? {} : { language_code: language },
        // grammY's npm build types its own AbortSignal; the platform's works.
        AbortSignal.any(signals) as never,
      );
    } catch (error) {
      options.onError(locale, error as Error);
    }
  }));
}

/**
 * The locale dates are written in: the person's own tag when it is a
 * variant of the language they are answered in (`en-GB` for `en`), so the
 * date follows their conventions, else the locale of the answer.
 */
export function dateLocale(code: string | undefined, locale: string): string {
  if (code === undefined) return locale;
  let supported: string[];
  try {
    supported = Intl.DateTimeFormat.supportedLocalesOf(code);
  } catch {
    return locale; // Not a well-formed tag.
  }
  const tag = supported[0];
  if (tag === undefined) return locale;
  const language = (name: string) => name.toLowerCase().split("-")[0];
  return language(tag) === language(locale) ? tag : locale;
}

/**
 * A moment as a person reads it, in their language and with the time zone
 * said: "November 29, 2026 at 14:00 UTC", "29 de novembro de 2026 às 14:00
 * UTC". Times are always shown in UTC: Telegram does not tell a bot where
 * someone is.
 */
export function formatTime(unixSeconds: number, locale: string): string {
  return new Intl.DateTimeFormat(locale, {
    day: "numeric",
    month: "long",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone: "UTC",
    timeZoneName: "short",
  }).format(unixSeconds * 1000);
}
