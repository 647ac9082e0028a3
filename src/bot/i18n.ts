import type { Api } from "grammy";
import type { BotCommandScope, LanguageCode } from "grammy/types";
import { I18n } from "@grammyjs/i18n";
import type { BotContext } from "./context.ts";
import { commandsOf, type Plugin } from "./plugin.ts";

export type { BotContext } from "./context.ts";

/** The language used when the user's is not translated. */
export const DEFAULT_LOCALE = "en";

/** The project's own Fluent files: one `<locale>.ftl` per language. */
export const LOCALES_DIR = new URL("./locales/", import.meta.url);

/**
 * Loads the project's locale files and every plugin's (`Plugin.locales`)
 * into one catalog: a locale's files from all folders make one bundle,
 * the project's first. A new language is a new `.ftl` file: the
 * negotiation below picks it up without code changes.
 */
export function createI18n(plugins: readonly Plugin[] = []): I18n<BotContext> {
  const i18n: I18n<BotContext> = new I18n<BotContext>({
    defaultLocale: DEFAULT_LOCALE,
    useSession: false,
    // Fluent wraps values in bidi isolation marks by default; Telegram
    // clients lay out mixed scripts themselves.
    fluentBundleOptions: { useIsolating: false },
    localeNegotiator: (ctx) =>
      negotiateLocale(ctx.from?.language_code, i18n.locales),
  });
  const folders = [LOCALES_DIR, ...plugins.flatMap((p) => p.locales ?? [])];
  for (const [locale, source] of localeSources(folders)) {
    i18n.loadLocaleSync(locale, { source });
  }
  return i18n;
}

// Each locale's Fluent text over all folders (a folder named twice is read
// once), the default locale first, then by name.
function localeSources(folders: readonly URL[]): [string, string][] {
  const sources = new Map<string, string[]>();
  for (const href of new Set(folders.map((folder) => folder.href))) {
    const folder = new URL(href.endsWith("/") ? href : `${href}/`);
    const names = [...Deno.readDirSync(folder)]
      .filter((entry) => entry.isFile && entry.name.endsWith(".ftl"))
      .map((entry) => entry.name).sort();
    for (const name of names) {
      const locale = name.slice(0, -".ftl".length);
      const text = Deno.readTextFileSync(new URL(name, folder));
      sources.set(locale, [...sources.get(locale) ?? [], text]);
    }
  }
  return [...sources].sort(([a], [b]) =>
    a === DEFAULT_LOCALE ? -1 : b === DEFAULT_LOCALE ? 1 : a < b ? -1 : 1
  ).map(([locale, texts]) => [locale, texts.join("\n")]);
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

/** Which chats a menu is for: every chat, or private chats or groups only. */
export type MenuChats = "all" | "private" | "groups";

/**
 * The command menu in one locale, for `setMyCommands`: every plugin's
 * commands offered in `chats` (default `all`: those offered everywhere),
 * each described by its `cmd-<command>` message.
 */
export function commandsFor(
  i18n: I18n<BotContext>,
  locale: string,
  options: { plugins: readonly Plugin[]; chats?: MenuChats },
): { command: string; description: string }[] {
  const chats = options.chats ?? "all";
  return commandsOf(options.plugins).filter(({ command }) =>
    (command.scope ?? "all") === "all" || command.scope === chats
  ).map(({ command }) => ({
    command: command.command,
    description: i18n.t(locale, `cmd-${command.command}`),
  }));
}

// The menus to set per locale: one for every chat while no command is
// narrower, else one for private chats and one for groups.
function menusOf(plugins: readonly Plugin[]): MenuChats[] {
  const narrow = commandsOf(plugins).some(({ command }) =>
    (command.scope ?? "all") !== "all"
  );
  return narrow ? ["private", "groups"] : ["all"];
}

const SCOPES: Record<MenuChats, BotCommandScope | undefined> = {
  all: undefined,
  private: { type: "all_private_chats" },
  groups: { type: "all_group_chats" },
};

/** Options for `setCommandMenus`. */
export interface CommandMenuOptions {
  /** The installed plugins, whose commands make the menus. */
  plugins: readonly Plugin[];
  /** Told of each locale whose menu could not be set; the rest go on. */
  onError: (locale: string, error: Error) => void;
  /** Aborts the calls (a stop); default none. */
  signal?: AbortSignal;
  /** How long each call may take, in ms; default 10,000. */
  timeoutMs?: number;
}

/**
 * Sets the command menu once per locale (twice, for private chats and for
 * groups, when a command is offered in one of them only): the default
 * locale's for everyone, the others for their two-letter language. The
 * calls run together, each bounded in time. A failure is passed to
 * `onError` and the rest go on: the menu is a convenience.
 */
export async function setCommandMenus(
  api: Api,
  i18n: I18n<BotContext>,
  options: CommandMenuOptions,
): Promise<void> {
  const menus = menusOf(options.plugins);
  await Promise.all(
    i18n.locales.flatMap((locale) =>
      menus.map(async (chats) => {
        const language = locale === DEFAULT_LOCALE
          ? undefined
          : locale.split("-")[0] as LanguageCode;
        const signals = [AbortSignal.timeout(options.timeoutMs ?? 10_000)];
        if (options.signal !== undefined) signals.push(options.signal);
        const scope = SCOPES[chats];
        try {
          await api.setMyCommands(
            commandsFor(i18n, locale, { plugins: options.plugins, chats }),
            {
              ...(language === undefined ? {} : { language_code: language }),
              ...(scope === undefined ? {} : { scope }),
            },
            // grammY's npm build types its own AbortSignal; the platform's works.
            AbortSignal.any(signals) as never,
          );
        } catch (error) {
          options.onError(locale, error as Error);
        }
      })
    ),
  );
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
