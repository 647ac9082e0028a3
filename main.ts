import "./src/runtime/node_warnings.ts";
import { type Config, ConfigError, loadConfig } from "./src/config/config.ts";
import { type DataKey, encodeKey, loadDataKey } from "./src/crypto/data_key.ts";
import { errorLine } from "./src/base/error_text.ts";
import { EXIT } from "./src/base/exit_codes.ts";
import {
  createLogger,
  type Logger,
  logSettings,
  relayLine,
} from "./src/base/log.ts";
import {
  noTelemetry,
  type Telemetry,
  telemetryOn,
} from "./src/base/telemetry.ts";
import { createRedactor, type Redactor } from "./src/base/redact.ts";
import type { Reporter } from "./src/runtime/reporter.ts";
import { Stopper } from "./src/runtime/stopper.ts";
import type { Store } from "./src/store/store.ts";
import type { Plugin } from "./src/bot/plugin.ts";

// Only light modules are imported above: the signal handlers must be in
// place before anything slow, and grammY, the stores and the features load
// below, in parallel with reading the configuration and the key.
function loadModules() {
  return Promise.all([
    import("./src/bot/bot.ts"),
    import("./src/runtime/open_database.ts"),
    import("./src/runtime/reporter.ts"),
    import("./src/runtime/polling.ts"),
    import("./src/runtime/webhook.ts"),
    import("./src/runtime/serve_webhook.ts"),
    import("./src/runtime/one_time_calls.ts"),
    import("./src/runtime/bot_profile.ts"),
    import("./src/bot/plugin.ts"),
    import("./src/base/tables.ts"),
    import("./src/runtime/quiet_fetch.ts"),
    import("./src/runtime/retention_schedule.ts"),
    import("./src/bot/plugin_messages.ts"),
  ]).then((
    [
      bot,
      open,
      reporter,
      polling,
      webhook,
      serveWebhook,
      oneTime,
      profile,
      plugin,
      tables,
      quietFetch,
      retention,
      messages,
    ],
  ) => ({
    ...quietFetch,
    ...retention,
    ...messages,
    ...plugin,
    ...tables,
    ...profile,
    ...polling,
    ...webhook,
    ...serveWebhook,
    ...oneTime,
    ...bot,
    ...open,
    ...reporter,
  }));
}

type Modules = Awaited<ReturnType<typeof loadModules>>;

/** Options for `main`. */
export interface MainOptions {
  /** The installed plugins; default those `plugins.ts` lists. */
  plugins?: readonly Plugin[];
}

/**
 * Runs the bot until a stop and returns its exit code (`EXIT`, shared with
 * the CLI): ok for a clean stop (SIGINT or SIGTERM at any moment, start-up
 * included), usage for bad configuration (also a webhook set at Telegram
 * when polling was not chosen with BOT_MODE), store when the database cannot
 * be opened and waiting will not help, unreachable when it stayed out of
 * reach through DATABASE_START_TIMEOUT_SECONDS, damaged when polling stopped
 * on a store failure that will not mend, telegram when Telegram refused the
 * token or stayed out of reach. A plugin list `catalogOf`, `commandsOf` or
 * `checkPluginMessages` refuses is a usage error too.
 */
export async function main(
  stopper: Stopper,
  options: MainOptions = {},
): Promise<number> {
  const modules = loadModules();
  // Awaited below; a failure to load is reported there, not as unhandled.
  modules.catch(() => {});
  const installed = options.plugins !== undefined
    ? Promise.resolve(options.plugins)
    : import("./plugins.ts").then((module) => module.plugins);
  installed.catch(() => {});
  const env = Deno.env.toObject();
  let config: Config;
  let dataKey: DataKey | undefined;
  let logging;
  try {
    logging = logSettings(env);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return EXIT.usage;
  }
  // Loaded only when Deno exports telemetry: otherwise nothing of
  // OpenTelemetry is imported and every hook is the no-op.
  const otel = telemetryOn(env) ? import("./src/runtime/otel.ts") : undefined;
  otel?.catch(() => {});
  let telemetry: Telemetry = noTelemetry;
  try {
    config = loadConfig(env);
    stopper.timeoutMs = config.stopTimeoutMs;
    dataKey = await loadDataKey(env, { create: false });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    return EXIT.usage;
  }
  let redactor = createRedactor(secretsOf(config, dataKey));
  const redact: Redactor = (text) => redactor(text);
  const log = createLogger(redact, undefined, {
    ...logging,
    ids: () => telemetry.ids(),
  });
  stopper.writeTo((line) => relayLine(log, line));
  if (otel !== undefined) telemetry = (await otel).createOtelTelemetry();
  if (stopper.stopping) return EXIT.ok;
  const m = await modules;
  const plugins = await installed;
  let catalog;
  try {
    catalog = m.catalogOf(plugins);
    m.commandsOf(plugins);
    m.checkPluginMessages(plugins);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    console.error(`error: ${error.message}`);
    return EXIT.usage;
  }
  if (stopper.stopping) return EXIT.ok;

  // Polling needs getMe anyway; it runs while the store opens. In webhook
  // mode the profile stored by `setup` may spare it, so it waits.
  const startup = new AbortController();
  // With telemetry on, Bot API calls go over plain sockets, which Deno
  // does not trace: its fetch spans would carry the token in `url.full`.
  const apiFetch = telemetry.enabled ? m.createQuietFetch() : undefined;
  const identity = config.mode === "polling"
    ? m.askTelegram(config, {
      log,
      signal: AbortSignal.any([stopper.signal, startup.signal]),
      fetch: apiFetch,
    })
    : undefined;

  const opened = await m.openWithKey(config.database, {
    env,
    dataKey,
    log,
    startTimeoutMs: config.databaseStartTimeoutMs,
    signal: stopper.signal,
    catalog,
  });
  if (typeof opened === "number") {
    startup.abort();
    await identity;
    return opened;
  }
  const { store } = opened;
  dataKey = opened.dataKey;
  redactor = createRedactor(secretsOf(config, dataKey));
  const unguard = stopper.onDeadline(() => store.close());
  const reporter = m.createReporter(config.sentry, { log, redact });
  try {
    return await serve(m, config, {
      store,
      reporter,
      log,
      stopper,
      identity,
      plugins,
      telemetry,
      apiFetch,
    });
  } finally {
    unguard();
    await store.close().catch((error) =>
      log.warn(`closing the store failed: ${(error as Error).message}`)
    );
    await reporter.flush();
  }
}

interface ServeDeps {
  store: Store;
  reporter: Reporter;
  log: Logger;
  stopper: Stopper;
  identity: ReturnType<Modules["askTelegram"]> | undefined;
  plugins: readonly Plugin[];
  telemetry: Telemetry;
  apiFetch: ReturnType<Modules["createQuietFetch"]> | undefined;
}

async function serve(
  m: Modules,
  config: Config,
  deps: ServeDeps,
): Promise<number> {
  const { store, log, stopper } = deps;
  if (stopper.stopping) return EXIT.ok;
  const found = await m.botProfile(config, {
    store,
    log,
    signal: stopper.signal,
    asked: deps.identity,
    fetch: deps.apiFetch,
  });
  if (!found.ok) {
    log.error((found.error as Error).message);
    return EXIT.telegram;
  }
  const botInfo = found.profile;
  if (botInfo === undefined || stopper.stopping) return EXIT.ok;

  const built = m.createBot(config, {
    store,
    reporter: deps.reporter,
    plugins: deps.plugins,
    botInfo,
    registerEachUpdate: config.mode === "webhook",
    telemetry: deps.telemetry,
    fetch: deps.apiFetch,
  });
  // Without a stored profile, `setup` was not run: the one-time calls are
  // made now, in the background, bounded, and never in the way of serving.
  const webhookUrl = config.mode === "webhook" ? config.webhookUrl : undefined;
  const background = !found.stored
    ? m.backgroundOneTimeCalls(built.bot.api, {
      i18n: built.i18n,
      plugins: deps.plugins,
      allowedUpdates: built.allowedUpdates,
      webhook: webhookUrl === undefined
        ? undefined
        : { url: webhookUrl, secret: config.webhookSecret },
      log,
      signal: stopper.signal,
    })
    : Promise.resolve();

  // The privacy center (src/app/), loaded only when MINI_APP_URL is set.
  const miniApp = config.miniAppUrl === undefined
    ? undefined
    : (await import("./src/app/mini_app.ts")).createMiniApp({
      store,
      token: config.token,
      api: built.bot.api,
      i18n: built.i18n,
      publicUrl: config.miniAppUrl,
      maxAgeSeconds: config.miniAppMaxAgeSeconds,
      exportIntervalMs: config.exportIntervalMinutes * 60_000,
      reporter: deps.reporter,
      contact: config.privacyContact,
      policyUrl: config.privacyPolicyUrl,
      crashReports: config.sentry !== undefined,
      eraseOnBlock: config.eraseOnBlock,
      retentionDays: config.retentionDays,
      telemetry: deps.telemetry,
    });
  // Ends with polling, however polling ends.
  const appStop = new AbortController();
  const appServer = config.mode === "polling" && miniApp !== undefined
    ? import("./src/app/serve_mini_app.ts").then(({ serveMiniApp }) =>
      serveMiniApp(miniApp, {
        hostname: config.hostname,
        port: config.port,
        log,
        signal: AbortSignal.any([stopper.signal, appStop.signal]),
      })
    )
    : Promise.resolve();
  const retention = await m.startRetention(store, {
    days: config.retentionDays,
    onDeploy: config.onDeploy,
    log,
    telemetry: deps.telemetry,
  });
  try {
    if (config.mode === "polling") {
      const { poll, PollingError } = m;
      log.info(
        `@${botInfo.username} is running in polling mode`,
        "bot.started",
      );
      try {
        await poll({
          bot: built.bot,
          register: built.register,
          allowedUpdates: built.allowedUpdates,
          log,
          reporter: deps.reporter,
          signal: stopper.signal,
          takeOverWebhook: config.modeExplicit,
          telemetry: deps.telemetry,
        });
      } catch (error) {
        if (!(error instanceof PollingError)) throw error;
        log.error(error.message);
        return error.exitCode;
      }
      return EXIT.ok;
    }
    const { createWebhookHandler } = m;
    const webhook = createWebhookHandler(built.bot, {
      path: config.webhookPath,
      secret: config.webhookSecret!,
      store,
      reporter: deps.reporter,
      log,
      telemetry: deps.telemetry,
    });
    const handler = miniApp === undefined
      ? webhook
      : (await import("./src/app/mini_app.ts")).withMiniApp(miniApp, webhook);
    if (stopper.stopping) return EXIT.ok;
    await m.serveWebhook(handler, {
      hostname: config.hostname,
      port: config.port,
      path: config.webhookPath,
      username: botInfo.username,
      log,
      signal: stopper.signal,
    });
    return EXIT.ok;
  } finally {
    await Promise.all([background, retention.stop()]);
    appStop.abort();
    await appServer;
  }
}

function secretsOf(
  config: Config,
  dataKey: DataKey | undefined,
): (string | undefined)[] {
  return [
    config.token,
    config.webhookSecret,
    dataKey === undefined ? undefined : encodeKey(dataKey.key),
    ...(dataKey?.previous ?? []).map(encodeKey),
    config.database.kind === "postgres"
      ? config.database.connection.password
      : undefined,
  ];
}

/**
 * The program: installs the signal handlers, runs `main` and exits with
 * its code. Tests run it with other plugins installed.
 */
export async function run(options: MainOptions = {}): Promise<never> {
  const stopper = new Stopper();
  stopper.install();
  let code: number;
  try {
    code = await main(stopper, options);
  } catch (error) {
    // Not expected; the token is kept out of the line all the same.
    const redact = createRedactor([Deno.env.get("BOT_TOKEN")]);
    console.error(redact(`error: ${errorLine(error)}`));
    code = EXIT.unexpected;
  }
  Deno.exit(
    stopper.stopping && code !== EXIT.usage && code !== EXIT.store
      ? EXIT.ok
      : code,
  );
}

if (import.meta.main) await run();
