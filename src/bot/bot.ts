/**
 * The grammY bot: the installed plugins (`plugin.ts`; the project's own in
 * `core_plugins.ts` and `features/`), languages (`i18n.ts`, `locales/`) and
 * how they are put together (this file). It answers updates; how updates
 * arrive is `runtime/`'s business.
 *
 * @module
 */
import { Bot, Composer, type MiddlewareFn, type Transformer } from "grammy";
import { noTelemetry, type Telemetry } from "../base/telemetry.ts";
import type { UserFromGetMe } from "grammy/types";
import type { I18n } from "@grammyjs/i18n";
import type { BotContext } from "./context.ts";
import { Registrar } from "../registration/registrar.ts";
import { actedAt, registration } from "../registration/registration.ts";
import type { Reporter } from "../base/reporter.ts";
import { catalogOf } from "../base/tables.ts";
import type {
  PrivacyStore,
  RegistrationPlan,
  RegistrationStore,
} from "../store/store.ts";
import {
  allowedUpdates,
  type BotSettings,
  commandsOf,
  filterOf,
  type Plugin,
  type PluginEnv,
  type UpdateType,
} from "./plugin.ts";
import { isStoreFailure, PluginRecords } from "./records.ts";

export type { BotSettings } from "./plugin.ts";

/** What the bot is built from. */
export interface BotDeps {
  store: RegistrationStore & PrivacyStore;
  reporter: Reporter;
  /** The installed plugins, in order (`plugins.ts`). */
  plugins: readonly Plugin[];
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
  /** When to build the plugins if no update for them came first; default 1 s. */
  featuresDelayMs?: number;
  /** Counters and spans for updates, commits, Bot API calls and privacy requests; default none. */
  telemetry?: Telemetry;
  /**
   * The `fetch` the Bot API client uses; default grammY's own. With
   * telemetry on, one the runtime does not trace keeps the token (in every
   * Bot API path) out of the exported spans.
   */
  fetch?: ApiFetch;
}

/** A `fetch` for the Bot API client (grammY's `client.fetch` option). */
export type ApiFetch = (
  url: string | URL,
  init?: {
    method?: string;
    headers?: Record<string, string>;
    body?: unknown;
    signal?: AbortSignal | null;
  },
) => Promise<Response>;

/** A built bot, its batch registration and its message catalogs (loaded in the background). */
export interface BuiltBot {
  bot: Bot<BotContext>;
  /**
   * Stores the plans of one `getUpdates` batch in one transaction; resolves
   * with each plan's batch size (0: nothing needed writing).
   */
  register(plans: RegistrationPlan[]): Promise<number[]>;
  /** The message catalogs, for per-language command menus (loaded when asked for). */
  readonly i18n: Promise<I18n<BotContext>>;
  /** The update types to ask Telegram for: the union of the plugins'. */
  readonly allowedUpdates: readonly UpdateType[];
}

/**
 * Builds the bot: registration first (its store errors fail the update so a
 * webhook request is retried), then each plugin with a middleware, in
 * order, behind its own filter and its own error boundary: a plugin's
 * exception is reported with its name and the update goes on to the next
 * plugin, while a store failure of its writes fails the update like a
 * registration's. The plugins and the message catalogs are built in the
 * background: most updates are plain messages that only need registering,
 * and they do not wait for code that only commands and buttons use.
 * Throws `TypeError` for a plugin list `catalogOf` or `commandsOf` refuses.
 */
export function createBot(settings: BotSettings, deps: BotDeps): BuiltBot {
  const { plugins, reporter } = deps;
  const tables = catalogOf(plugins).tables;
  const commands = commandsOf(plugins);
  const telemetry = deps.telemetry ?? noTelemetry;
  const bot = new Bot<BotContext>(settings.token, {
    botInfo: deps.botInfo,
    client: {
      apiRoot: settings.apiRoot,
      ...(deps.fetch === undefined ? {} : { fetch: deps.fetch as never }),
    },
  });
  if (telemetry.enabled) bot.api.config.use(countedCalls(telemetry));
  const registrar = new Registrar(deps.store, {
    telemetry,
    eraseOnBlock: settings.eraseOnBlock,
    retention: settings.retentionDays !== undefined,
  });
  const parts = plugins.filter((plugin) => plugin.middleware !== undefined)
    .map((plugin) =>
      new PluginPart(plugin, {
        store: deps.store,
        settings,
        reporter: namedReporter(reporter, plugin.name),
        now: deps.now ?? Date.now,
        tables,
        telemetry,
        commands,
      })
    );
  let catalogs: Promise<Catalogs> | undefined;
  const loadCatalogs = () => {
    catalogs ??= import("./i18n.ts").then(({ createI18n }) => {
      const i18n = createI18n(plugins);
      return { i18n, middleware: i18n.middleware() };
    });
    return catalogs;
  };
  // Built shortly after start, not at once: loading competes for the one
  // JavaScript thread with the first updates, which only need registering.
  // An update for a plugin arriving earlier builds what it needs on the spot.
  const warmUp = setTimeout(() => {
    loadCatalogs().catch(() => {});
    for (const part of parts) part.build().catch(() => {});
  }, deps.featuresDelayMs ?? 1_000);
  Deno.unrefTimer(warmUp);

  if (deps.registerEachUpdate ?? true) bot.use(registration(registrar));
  const chain = new Composer<BotContext>();
  for (const part of parts) {
    const filter = filterOf(part.plugin);
    const middleware = part.middleware(registrar, deps.store);
    if (filter === undefined) chain.use(middleware);
    else chain.on([...filter], middleware);
  }
  const handle = chain.middleware();
  const withCatalogs: MiddlewareFn<BotContext> = async (ctx, next) => {
    const { middleware } = await loadCatalogs();
    await middleware(ctx, async () => {
      await handle(ctx, next);
    });
  };
  // Most updates are plain messages that no plugin answers: after
  // registration they leave with one filter check, and locale negotiation
  // and the plugins run only for what some plugin's filter lets through.
  const filters = parts.map((part) => filterOf(part.plugin));
  if (filters.some((filter) => filter === undefined)) bot.use(withCatalogs);
  else if (filters.length > 0) {
    bot.on(filters.flatMap((filter) => [...filter!]), withCatalogs);
  }
  return {
    bot,
    register: (plans) => registrar.applyAll(plans),
    get i18n() {
      return loadCatalogs().then((loaded) => loaded.i18n);
    },
    allowedUpdates: allowedUpdates(plugins),
  };
}

interface Catalogs {
  i18n: I18n<BotContext>;
  middleware: MiddlewareFn<BotContext>;
}

// One installed plugin: its middleware built once (again after a failed
// build), and run behind its error boundary with its own `ctx.records`.
class PluginPart {
  readonly plugin: Plugin;
  #env: PluginEnv;
  #built: Promise<MiddlewareFn<BotContext>> | undefined;

  constructor(plugin: Plugin, env: PluginEnv) {
    this.plugin = plugin;
    this.#env = env;
  }

  build(): Promise<MiddlewareFn<BotContext>> {
    if (this.#built === undefined) {
      const built = Promise.resolve()
        .then(() => this.plugin.middleware!(this.#env))
        .then((composer) => composer.middleware());
      built.catch(() => {
        if (this.#built === built) this.#built = undefined;
      });
      this.#built = built;
    }
    return this.#built;
  }

  middleware(
    registrar: Registrar,
    store: PrivacyStore,
  ): MiddlewareFn<BotContext> {
    const { plugin } = this;
    return async (ctx, next) => {
      const records = new PluginRecords(plugin, {
        registrar,
        store,
        senderId: ctx.from?.id,
        sentAt: actedAt(ctx),
      });
      ctx.records = records;
      // As grammY's error boundary: `next` is called once the plugin is
      // done, so that its failure cannot be mistaken for a later plugin's.
      let passed = false;
      let failure: { error: unknown } | undefined;
      try {
        const middleware = await this.build();
        await middleware(ctx, () => {
          passed = true;
          return Promise.resolve();
        });
      } catch (error) {
        failure = { error };
      }
      // Every write it started is committed before the update goes on;
      // a store failure fails the update even when the plugin caught it.
      await records.settled();
      if (failure !== undefined) {
        if (isStoreFailure(failure.error)) throw failure.error;
        this.#env.reporter.report(failure.error, ctx.update);
        passed = true;
      }
      if (passed) await next();
    };
  }
}

// Counts every Bot API call by method and result (the error code, or
// "network" when no answer came); the payload is never looked at.
function countedCalls(telemetry: Telemetry): Transformer {
  return async (prev, method, payload, signal) => {
    const start = performance.now();
    try {
      const result = await prev(method, payload, signal);
      telemetry.apiCall(
        method,
        result.ok ? "ok" : String(result.error_code),
        (performance.now() - start) / 1000,
      );
      return result;
    } catch (error) {
      telemetry.apiCall(method, "network", (performance.now() - start) / 1000);
      throw error;
    }
  };
}

// The reporter a plugin is given: every report names the plugin.
function namedReporter(reporter: Reporter, plugin: string): Reporter {
  return {
    report: (error, update, options) =>
      reporter.report(error, update, { plugin, ...options }),
    flush: (timeoutMs) => reporter.flush(timeoutMs),
  };
}
