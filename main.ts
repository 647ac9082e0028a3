import "./src/node_warnings.ts";
import type { UserFromGetMe } from "grammy/types";
import {
  type Config,
  ConfigError,
  type Env,
  loadConfig,
} from "./src/config.ts";
import { type DataKey, encodeKey, loadDataKey } from "./src/crypto/data_key.ts";
import { createLogger, type Logger } from "./src/log.ts";
import { createRedactor, type Redactor } from "./src/redact.ts";
import type { Reporter } from "./src/reporter.ts";
import { sleep, Stopper } from "./src/stopper.ts";
import type { Store } from "./src/store/store.ts";

// Only light modules are imported above: the signal handlers must be in
// place before anything slow, and grammY, the stores and the features load
// below, in parallel with reading the configuration and the key.
function loadModules() {
  return Promise.all([
    import("./src/bot.ts"),
    import("./src/bot_identity.ts"),
    import("./src/store/open_store.ts"),
    import("./src/crypto/field_cipher.ts"),
    import("./src/reporter.ts"),
    import("./src/api_error.ts"),
    import("./src/polling.ts"),
    import("./src/webhook.ts"),
  ]).then((
    [bot, identity, store, cipher, reporter, apiError, polling, webhook],
  ) => ({
    ...apiError,
    ...polling,
    ...webhook,
    ...bot,
    ...identity,
    ...store,
    ...cipher,
    ...reporter,
  }));
}

type Modules = Awaited<ReturnType<typeof loadModules>>;

/**
 * Runs the bot until a stop. Exit codes: 0 clean stop (SIGINT or SIGTERM at
 * any moment, start-up included), 1 runtime failure (the Bot API refused the
 * token or stayed out of reach), 2 bad configuration, 3 the store could not
 * be opened.
 */
export async function main(stopper: Stopper): Promise<number> {
  const modules = loadModules();
  // Awaited below; a failure to load is reported there, not as unhandled.
  modules.catch(() => {});
  const env = Deno.env.toObject();
  let config: Config;
  let dataKey: DataKey | undefined;
  try {
    config = loadConfig(env);
    stopper.timeoutMs = config.stopTimeoutMs;
    dataKey = await loadDataKey(env, { create: false });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }
  let redactor = createRedactor(secretsOf(config, dataKey));
  const redact: Redactor = (text) => redactor(text);
  const log = createLogger(redact);
  if (stopper.stopping) return 0;
  const m = await modules;
  if (stopper.stopping) return 0;

  // Polling needs getMe anyway; it runs while the store opens. In webhook
  // mode the profile stored by `setup` may spare it, so it waits.
  const startup = new AbortController();
  const identity = config.mode === "polling"
    ? settle(identify(m, config, {
      log,
      signal: AbortSignal.any([stopper.signal, startup.signal]),
    }))
    : undefined;

  log.info(`using ${describeDatabase(config)}`);
  const opened = await openWithKey(m, config, { env, dataKey, log });
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
    return await serve(m, config, { store, reporter, log, stopper, identity });
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
  identity: Promise<Settled<UserFromGetMe | undefined>> | undefined;
}

async function serve(
  m: Modules,
  config: Config,
  deps: ServeDeps,
): Promise<number> {
  const { store, log, stopper } = deps;
  if (stopper.stopping) return 0;
  // A profile stored by `setup` is used in webhook mode: a cold start then
  // answers its first update without calling Telegram at all.
  const stored = config.mode === "webhook"
    ? await storedProfile(m, config, { store, log })
    : undefined;
  let botInfo = stored;
  if (botInfo === undefined) {
    const result = await (deps.identity ??
      settle(identify(m, config, { log, signal: stopper.signal })));
    if (!result.ok) {
      log.error((result.error as Error).message);
      return 1;
    }
    botInfo = result.value;
  }
  if (botInfo === undefined || stopper.stopping) return 0;

  const built = m.createBot(config, {
    store,
    reporter: deps.reporter,
    botInfo,
    registerEachUpdate: config.mode === "webhook",
  });
  // Without a stored profile, `setup` was not run: the one-time calls are
  // made now, in the background, bounded, and never in the way of serving.
  const background = stored === undefined
    ? oneTimeCalls(m, config, { built, log, signal: stopper.signal })
    : Promise.resolve();

  try {
    if (config.mode === "polling") {
      const { poll, PollingError } = m;
      log.info(`@${botInfo.username} is running in polling mode`);
      try {
        await poll({
          bot: built.bot,
          register: built.register,
          allowedUpdates: m.ALLOWED_UPDATES,
          log,
          reporter: deps.reporter,
          signal: stopper.signal,
        });
      } catch (error) {
        if (!(error instanceof PollingError)) throw error;
        log.error(error.message);
        return 1;
      }
      return 0;
    }
    const { createWebhookHandler } = m;
    const handler = createWebhookHandler(built.bot, {
      path: config.webhookPath,
      secret: config.webhookSecret!,
      store,
      reporter: deps.reporter,
      log,
    });
    if (stopper.stopping) return 0;
    const server = Deno.serve({
      hostname: config.hostname,
      port: config.port,
      onListen: ({ hostname, port }) =>
        log.info(
          `@${botInfo.username} is running in webhook mode on port ${port} (address ${hostname}), route ${config.webhookPath}`,
        ),
    }, (request) => handler(request));
    // Shutting down stops accepting and waits for the requests in hand,
    // each of which answers only after its update is stored.
    const shutdown = () => server.shutdown();
    stopper.signal.addEventListener("abort", shutdown, { once: true });
    if (stopper.stopping) shutdown();
    await server.finished;
    return 0;
  } finally {
    await background;
  }
}

interface OneTimeDeps {
  built: ReturnType<Modules["createBot"]>;
  log: Logger;
  signal: AbortSignal;
}

const ONE_TIME_CALLS_DELAY_MS = 1_000;

// setMyCommands and setWebhook: what `setup` does once. Here each call is
// bounded and a failure is a warning; they run alongside serving.
async function oneTimeCalls(
  m: Modules,
  config: Config,
  deps: OneTimeDeps,
): Promise<void> {
  const { built, log, signal } = deps;
  // A moment later than serving: the first updates should not share the
  // one JavaScript thread with loading the message catalogs.
  await sleep(ONE_TIME_CALLS_DELAY_MS, signal);
  if (signal.aborted) return;
  const api = built.bot.api;
  const calls: Promise<void>[] = [];
  calls.push(
    (async () => {
      const [{ setCommandMenus }, i18n] = await Promise.all([
        import("./src/i18n.ts"),
        built.i18n,
      ]);
      await setCommandMenus(api, i18n, {
        signal,
        onError: (locale, error) => {
          if (!signal.aborted) {
            log.warn(
              `setMyCommands (${locale}) failed, continuing without it: ${
                m.describeApiError(error).reason
              }`,
            );
          }
        },
      });
    })().catch((error) =>
      log.warn(`the command menus were not set: ${(error as Error).message}`)
    ),
  );
  const url = config.webhookUrl;
  if (config.mode === "webhook" && url !== undefined) {
    calls.push(
      api.setWebhook(url, {
        secret_token: config.webhookSecret,
        allowed_updates: m.ALLOWED_UPDATES,
      }, m.apiSignal(signal, AbortSignal.timeout(10_000))).then(
        () => {},
        (error) => {
          if (!signal.aborted) {
            log.warn(
              `setWebhook failed, continuing without it: ${
                m.describeApiError(error).reason
              }`,
            );
          }
        },
      ),
    );
  }
  await Promise.all(calls);
}

interface IdentifyDeps {
  log: Logger;
  signal: AbortSignal;
}

async function identify(
  m: Modules,
  config: Config,
  deps: IdentifyDeps,
): Promise<UserFromGetMe | undefined> {
  deps.log.info(`checking BOT_TOKEN with the Bot API at ${config.apiRoot}`);
  return await m.fetchBotInfo(config.token, {
    apiRoot: config.apiRoot,
    log: deps.log,
    signal: deps.signal,
  });
}

async function storedProfile(
  m: Modules,
  config: Config,
  deps: { store: Store; log: Logger },
): Promise<UserFromGetMe | undefined> {
  let profile: UserFromGetMe | undefined;
  try {
    profile = await deps.store.botProfile();
  } catch (error) {
    deps.log.warn(
      `the stored bot profile cannot be read, asking Telegram instead: ${
        (error as Error).message
      }`,
    );
    return undefined;
  }
  if (profile === undefined) {
    if (config.onDeploy) {
      deps.log.warn(
        "no bot profile is stored: every cold start asks Telegram first; run deno task cli setup once",
      );
    }
    return undefined;
  }
  if (profile.id !== m.botIdOfToken(config.token)) {
    deps.log.warn(
      "the stored bot profile belongs to another bot than BOT_TOKEN: asking Telegram instead; run deno task cli setup again",
    );
    return undefined;
  }
  return profile;
}

interface OpenDeps {
  env: Env;
  dataKey: DataKey | undefined;
  log: Logger;
}

/**
 * Opens the store with the data key. Without a key, one is created only
 * for a new, empty database; an existing one gets one line saying what to
 * set, and no key file is made. Returns an exit code on failure.
 */
async function openWithKey(
  m: Modules,
  config: Config,
  deps: OpenDeps,
): Promise<{ store: Store; dataKey: DataKey } | number> {
  const { env, log } = deps;
  let dataKey = deps.dataKey;
  try {
    if (dataKey === undefined) {
      const state = await keylessState(m, config);
      if (state !== "new") {
        log.error(
          state === "encrypted"
            ? "This database is encrypted, but no key was found: set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key"
            : "This database holds records but no data key was found: set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to a new key from deno task cli keygen, and the bot encrypts the records with it at start",
        );
        return 3;
      }
      dataKey = (await loadDataKey(env, { create: true }))!;
      if (dataKey.created) {
        log.info(
          `created the data encryption key in "${dataKey.path}": keep it safe and apart from database backups, since losing it loses the data`,
        );
      }
    }
    const store = await m.openStore(config.database, {
      cipher: await m.FieldCipher.fromKey(dataKey.key),
      create: true,
    });
    return { store, dataKey };
  } catch (error) {
    if (error instanceof ConfigError) {
      log.error(error.message);
      return 2;
    }
    log.error(firstLine(error));
    return 3;
  }
}

// What a database opened without a key is: new (no file yet, or no records
// and no key bound), encrypted under a key not given, or holding plaintext
// records from before encryption.
async function keylessState(
  m: Modules,
  config: Config,
): Promise<"new" | "encrypted" | "records"> {
  if (config.database.kind === "sqlite") {
    try {
      const info = await Deno.stat(config.database.path);
      if (info.size === 0) return "new";
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "new";
      throw error;
    }
  }
  let store: Store;
  try {
    store = await m.openStore(config.database, { create: true });
  } catch (error) {
    if (error instanceof m.WrongKeyError) return "encrypted";
    throw error;
  }
  try {
    const summary = await store.summary();
    return summary.users + summary.groups === 0 ? "new" : "records";
  } finally {
    await store.close();
  }
}

function describeDatabase(config: Config): string {
  const database = config.database;
  if (database.kind === "sqlite") {
    return `the SQLite database "${database.path}"`;
  }
  // The description names host, port, database and user, never the password.
  return `the PostgreSQL database ${database.description}`;
}

function secretsOf(
  config: Config,
  dataKey: DataKey | undefined,
): (string | undefined)[] {
  return [
    config.token,
    config.webhookSecret,
    dataKey === undefined ? undefined : encodeKey(dataKey.key),
    config.database.kind === "postgres"
      ? config.database.connection.password
      : undefined,
  ];
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

// A promise that never rejects, for work started early and awaited later.
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error) => ({ ok: false as const, error }),
  );
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] ?? text;
}

if (import.meta.main) {
  const stopper = new Stopper();
  stopper.install();
  let code: number;
  try {
    code = await main(stopper);
  } catch (error) {
    // Not expected; the token is kept out of the line all the same.
    const redact = createRedactor([Deno.env.get("BOT_TOKEN")]);
    console.error(redact(`error: ${firstLine(error)}`));
    code = 1;
  }
  Deno.exit(stopper.stopping && code !== 2 && code !== 3 ? 0 : code);
}
