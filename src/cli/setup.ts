import { loadSetupConfig } from "../config/config.ts";
import { createLogger } from "../base/log.ts";
import { telemetryOn } from "../base/telemetry.ts";
import { createRedactor } from "../base/redact.ts";
import type { BotProfileStore } from "../store/store.ts";
import { CliError, EXIT } from "./cli_error.ts";
import type { CliIo } from "./io.ts";
import type { Plugin } from "../bot/plugin.ts";

/** Options of `setup`. */
export interface SetupOptions {
  /** The environment, for BOT_TOKEN, BOT_API_ROOT, BOT_MODE, WEBHOOK_URL, WEBHOOK_SECRET. */
  env: Readonly<Record<string, string | undefined>>;
  io: CliIo;
  /** The installed plugins (`plugins.ts`): their commands and update types; default the project's own. */
  plugins?: readonly Plugin[];
}

/**
 * The one-time Bot API calls, so that the bot makes none at start: fetches
 * the bot's profile (`getMe`) and stores it, sets the command menu in every
 * language, and with `WEBHOOK_URL` (unless `BOT_MODE=polling`) sets the
 * webhook with the secret and the updates the bot reads; it never removes
 * a webhook. A refused token is a usage error (exit 2); another
 * failed call is reported and gives exit 6 (`EXIT.telegram`) once the
 * others were tried.
 */
export async function setup(
  store: BotProfileStore,
  options: SetupOptions,
): Promise<void> {
  const { io } = options;
  const config = loadSetupConfig(options.env);
  // Loaded here, not at the top: the other commands do not need grammY.
  const [
    { Api },
    { describeApiError },
    { BotProfileError, fetchBotProfile },
    { createI18n },
    { oneTimeCalls },
    { allowedUpdates },
    { CORE_PLUGINS },
  ] = await Promise.all([
    import("grammy"),
    import("../runtime/api_error.ts"),
    import("../runtime/bot_profile.ts"),
    import("../bot/i18n.ts"),
    import("../runtime/one_time_calls.ts"),
    import("../bot/plugin.ts"),
    import("../bot/core_plugins.ts"),
  ]);
  const plugins = options.plugins ?? CORE_PLUGINS;
  const redact = createRedactor([config.token, config.webhookSecret]);
  const say = (line: string) => io.stderr.write(redact(line) + "\n");
  const lines: string[] = [];
  const log = createLogger(redact, (line) => lines.push(line));
  const never = new AbortController().signal;

  // With OTEL_DENO on, Deno would export each call's path, token and all:
  // the calls then go over sockets it does not trace.
  const fetch = telemetryOn(options.env)
    ? (await import("../runtime/quiet_fetch.ts")).createQuietFetch()
    : undefined;
  let me;
  try {
    me = (await fetchBotProfile(config.token, {
      apiRoot: config.apiRoot,
      log,
      signal: never,
      tries: 3,
      fetch,
    }))!;
  } catch (error) {
    for (const line of lines) await say(line);
    if (!(error instanceof BotProfileError)) throw error;
    throw new CliError(
      redact(error.message),
      /did not accept BOT_TOKEN/.test(error.message)
        ? EXIT.usage
        : EXIT.telegram,
    );
  }
  for (const line of lines) await say(line);
  await store.saveBotProfile(me);
  await say(
    `Stored the profile of @${me.username} (id ${me.id}): the bot now starts in webhook mode without calling Telegram`,
  );

  const api = new Api(config.token, {
    apiRoot: config.apiRoot,
    ...(fetch === undefined ? {} : { fetch: fetch as never }),
  });
  const failures: string[] = [];
  let webhookFailure: string | undefined;
  const i18n = createI18n(plugins);
  const done = await oneTimeCalls(api, {
    i18n,
    plugins,
    allowedUpdates: allowedUpdates(plugins),
    webhook: config.webhookUrl === undefined
      ? undefined
      : { url: config.webhookUrl, secret: config.webhookSecret },
    onError: (call, error) => {
      const failure = `${call} failed: ${describeApiError(error).reason}`;
      // The calls run together; the webhook's failure is still said last.
      if (call === "setWebhook") webhookFailure = failure;
      else failures.push(failure);
    },
  });
  await say(
    `Set the command menu in ${done.menus.length} of ${done.locales.length} languages (${
      done.locales.join(", ")
    })`,
  );
  if (done.webhook) {
    await say(
      `Set the webhook to ${config.webhookUrl}, with WEBHOOK_SECRET and the updates the bot reads`,
    );
  } else if (config.pollingChosen) {
    await say(
      "BOT_MODE=polling, so no webhook was set although WEBHOOK_URL is set (the bot removes any webhook when it starts polling)",
    );
  } else if (config.webhookUrl === undefined) {
    await say(
      "WEBHOOK_URL is not set, so no webhook was set (polling mode needs none)",
    );
  }
  if (config.miniAppUrl !== undefined) {
    // The menu button's text is one for every language: the default's.
    const english = "en";
    const text = i18n.t(english, "button-open-app");
    try {
      await api.setChatMenuButton({
        menu_button: {
          type: "web_app",
          text,
          web_app: { url: config.miniAppUrl },
        },
      });
      await say(
        `Set the menu button to the privacy center at ${config.miniAppUrl}`,
      );
    } catch (error) {
      failures.push(
        `setChatMenuButton failed: ${describeApiError(error).reason}`,
      );
    }
  }
  if (webhookFailure !== undefined) failures.push(webhookFailure);
  if (failures.length > 0) {
    for (const failure of failures.slice(0, -1)) await say(`error: ${failure}`);
    throw new CliError(
      `${failures[failures.length - 1]}; run setup again`,
      EXIT.telegram,
    );
  }
}
