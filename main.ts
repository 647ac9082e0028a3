import "./src/node_warnings.ts";
import type { Bot } from "grammy";
import { ALLOWED_UPDATES, createBot } from "./src/bot.ts";
import { type Config, ConfigError, loadConfig } from "./src/config.ts";
import { type DataKey, encodeKey, loadDataKey } from "./src/crypto/data_key.ts";
import { FieldCipher, WrongKeyError } from "./src/crypto/field_cipher.ts";
import { createLogger, type Logger } from "./src/log.ts";
import { type BotContext, setCommandMenus } from "./src/i18n.ts";
import { createRedactor } from "./src/redact.ts";
import { createReporter, type Reporter } from "./src/reporter.ts";
import { openSqliteStore } from "./src/store/sqlite_store.ts";
import type { Store } from "./src/store/store.ts";
import { createWebhookHandler } from "./src/webhook.ts";

/** Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration, 3 store. */
async function main(): Promise<number> {
  const env = Deno.env.toObject();
  let config: Config;
  let dataKey: DataKey;
  try {
    config = loadConfig(env);
    dataKey = (await loadDataKey(env, { create: true }))!;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }
  const redact = createRedactor([
    config.token,
    config.webhookSecret,
    encodeKey(dataKey.key),
  ]);
  const log = createLogger(redact);
  if (dataKey.created) {
    log.info(
      `created the data encryption key in "${dataKey.path}": keep it safe and apart from database backups, since losing it loses the data`,
    );
  }
  try {
    return await run(config, { dataKey, log, redact });
  } catch (error) {
    log.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

interface RunDeps {
  dataKey: DataKey;
  log: Logger;
  redact: (text: string) => string;
}

async function run(config: Config, deps: RunDeps): Promise<number> {
  const { dataKey, log, redact } = deps;
  if (config.database.kind !== "sqlite") {
    log.error(
      "DATABASE_URL names PostgreSQL, which this version cannot use yet: use sqlite:PATH",
    );
    return 2;
  }
  const reporter = createReporter(config.sentry, { log, redact });
  let store: Store;
  try {
    store = await openSqliteStore(config.database.path, {
      cipher: await FieldCipher.fromKey(dataKey.key),
    });
  } catch (error) {
    if (error instanceof WrongKeyError && dataKey.created) {
      // The key just made cannot be the database's: do not leave it behind.
      await Deno.remove(dataKey.path!);
      log.error(
        "This database is encrypted, but no key was found: set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key",
      );
    } else {
      log.error((error as Error).message);
    }
    return 3;
  }
  try {
    const { bot, i18n } = createBot(config, { store, reporter });
    log.info(`checking BOT_TOKEN with the Bot API at ${config.apiRoot}`);
    try {
      await withTimeout(bot.init(), INIT_TIMEOUT_MS);
    } catch (error) {
      log.error(
        `the Bot API at ${config.apiRoot} did not accept BOT_TOKEN or cannot be reached: ${
          (error as Error).message
        }`,
      );
      return 1;
    }
    await setCommandMenus(bot.api, i18n, (locale, error) =>
      log.warn(
        `setMyCommands (${locale}) failed, continuing without it: ${error.message}`,
      ));
    if (config.mode === "polling") await poll(bot, log);
    else await serve(bot, config, { log, store, reporter });
    return 0;
  } finally {
    await store.close();
    await reporter.flush();
  }
}

async function poll(bot: Bot<BotContext>, log: Logger): Promise<void> {
  const stop = () => {
    log.info("stopping: finishing the updates in hand");
    bot.stop();
  };
  const unwire = onSignals(stop);
  try {
    await bot.start({
      allowed_updates: ALLOWED_UPDATES,
      onStart: (me) => log.info(`@${me.username} is running in polling mode`),
    });
  } finally {
    unwire();
  }
}

interface ServeDeps {
  log: Logger;
  store: Store;
  reporter: Reporter;
}

async function serve(
  bot: Bot<BotContext>,
  config: Config,
  deps: ServeDeps,
): Promise<void> {
  const { log } = deps;
  const handler = createWebhookHandler(bot, {
    path: config.webhookPath,
    secret: config.webhookSecret!,
    store: deps.store,
    reporter: deps.reporter,
  });
  const server = Deno.serve({
    port: config.port,
    onListen: ({ port }) =>
      log.info(
        `@${bot.botInfo.username} is running in webhook mode on port ${port}, route ${config.webhookPath}`,
      ),
  }, handler);
  const unwire = onSignals(() => {
    log.info("stopping: finishing the requests in hand");
    server.shutdown();
  });
  if (config.webhookUrl !== undefined) {
    const url = config.webhookUrl;
    await optional(log, "setWebhook", () =>
      bot.api.setWebhook(url, {
        secret_token: config.webhookSecret,
        allowed_updates: ALLOWED_UPDATES,
      }));
  }
  try {
    await server.finished;
  } finally {
    unwire();
  }
}

// grammY waits up to 500 s for an API call; at start-up an operator should
// hear much sooner that Telegram is out of reach.
const INIT_TIMEOUT_MS = 30_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${ms / 1000} s`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Start-up calls the bot can do without: a failure is a warning, not a stop.
async function optional(
  log: Logger,
  name: string,
  call: () => Promise<unknown>,
): Promise<void> {
  try {
    await call();
  } catch (error) {
    log.warn(
      `${name} failed, continuing without it: ${(error as Error).message}`,
    );
  }
}

function onSignals(handler: () => void): () => void {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, handler);
  return () => {
    for (const signal of signals) Deno.removeSignalListener(signal, handler);
  };
}

if (import.meta.main) Deno.exit(await main());
