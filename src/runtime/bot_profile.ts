/**
 * Who the bot is (its profile from \`getMe\`): stored by \`cli setup\`, or
 * asked of Telegram at start, and checked against the token.
 *
 * @module
 */
import { Api } from "grammy";
import type { UserFromGetMe } from "grammy/types";
import { apiSignal, describeApiError } from "./api_error.ts";
import type { Logger } from "../base/log.ts";
import { sleep } from "./stopper.ts";
import type { Config } from "../config/config.ts";
import type { BotProfileStore } from "../store/store.ts";
import type { ApiFetch } from "../bot/bot.ts";

/** The outcome of work started early and looked at later. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** What `askTelegram` needs besides the configuration. */
export interface AskTelegramOptions {
  log: Logger;
  /** The stop: the profile is then undefined. */
  signal: AbortSignal;
  /** The Bot API client's `fetch` (`createBot`'s); default grammY's. */
  fetch?: ApiFetch;
}

/**
 * Starts `getMe` (which also proves the token) and settles when it ends,
 * never rejecting: it may run while other start-up work goes on.
 */
export function askTelegram(
  config: Pick<Config, "token" | "apiRoot">,
  options: AskTelegramOptions,
): Promise<Settled<UserFromGetMe | undefined>> {
  options.log.info(`checking BOT_TOKEN with the Bot API at ${config.apiRoot}`);
  return outcomeOf(fetchBotProfile(config.token, {
    apiRoot: config.apiRoot,
    log: options.log,
    signal: options.signal,
    fetch: options.fetch,
  }));
}

/** What `botProfile` needs besides the configuration. */
export interface BotProfileOptions {
  store: BotProfileStore;
  log: Logger;
  /** The stop: the profile is then undefined. */
  signal: AbortSignal;
  /** A `getMe` already started by `askTelegram`, used instead of a new one. */
  asked?: Promise<Settled<UserFromGetMe | undefined>>;
  /** The Bot API client's `fetch`; default grammY's. */
  fetch?: ApiFetch;
}

/** Who the bot is, and whether that came from the profile `setup` stored. */
export type BotProfile =
  | { ok: true; profile: UserFromGetMe | undefined; stored: boolean }
  | { ok: false; error: unknown };

/**
 * Who the bot is: in webhook mode the profile stored by `setup`, so that a
 * cold start answers its first update without calling Telegram at all;
 * otherwise, or without one, Telegram's answer to `getMe`. The profile is
 * undefined when a stop came first.
 */
export async function botProfile(
  config: Pick<Config, "token" | "apiRoot" | "mode" | "onDeploy">,
  options: BotProfileOptions,
): Promise<BotProfile> {
  const { log } = options;
  const stored = config.mode === "webhook"
    ? await storedProfile(config.token, {
      store: options.store,
      log,
      onDeploy: config.onDeploy,
    })
    : undefined;
  if (stored !== undefined) return { ok: true, profile: stored, stored: true };
  const result = await (options.asked ??
    askTelegram(config, {
      log,
      signal: options.signal,
      fetch: options.fetch,
    }));
  return result.ok
    ? { ok: true, profile: result.value, stored: false }
    : { ok: false, error: result.error };
}

/** Where `storedProfile` reads and what it checks the profile against. */
export interface StoredProfileOptions {
  store: BotProfileStore;
  log: Logger;
  /** Whether this is a cloud deployment, where a missing profile is worth a warning. */
  onDeploy: boolean;
}

/**
 * The bot profile stored by `setup`, if it can be read and belongs to the
 * token's bot; otherwise undefined, with a warning where that is news.
 */
async function storedProfile(
  token: string,
  options: StoredProfileOptions,
): Promise<UserFromGetMe | undefined> {
  const { log } = options;
  let profile: UserFromGetMe | undefined;
  try {
    profile = await options.store.botProfile();
  } catch (error) {
    log.warn(
      `the stored bot profile cannot be read, asking Telegram instead: ${
        (error as Error).message
      }`,
    );
    return undefined;
  }
  if (profile === undefined) {
    if (options.onDeploy) {
      log.warn(
        "no bot profile is stored: every cold start asks Telegram first; run deno task cli setup once",
      );
    }
    return undefined;
  }
  if (profile.id !== botIdOfToken(token)) {
    log.warn(
      "the stored bot profile belongs to another bot than BOT_TOKEN: asking Telegram instead; run deno task cli setup again",
    );
    return undefined;
  }
  return profile;
}

function outcomeOf<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error) => ({ ok: false as const, error }),
  );
}

/** Options for `fetchBotProfile`. */
export interface FetchBotProfileOptions {
  apiRoot: string;
  log: Logger;
  /** Aborted on stop: the call is dropped and undefined returned. */
  signal: AbortSignal;
  /** How long one try may take, in ms; default 10,000. */
  tryTimeoutMs?: number;
  /** How many tries before giving up; default 5. */
  tries?: number;
  /** The Bot API client's `fetch`; default grammY's. */
  fetch?: ApiFetch;
}

/** The Bot API refused the token, or stayed out of reach through every try. */
export class BotProfileError extends Error {
  /** Wraps the one-line reason. */
  constructor(message: string) {
    super(message);
    this.name = "BotProfileError";
  }
}

/**
 * Asks Telegram who the bot is (`getMe`), which also proves the token. Each
 * try is bounded; network trouble and Telegram's own failures are retried
 * with growing waits, each logged with its cause (connection refused, DNS,
 * TLS), and a refused token fails at once. Resolves with undefined when a
 * stop came first.
 */
export async function fetchBotProfile(
  token: string,
  options: FetchBotProfileOptions,
): Promise<UserFromGetMe | undefined> {
  const { apiRoot, log, signal } = options;
  const tries = options.tries ?? 5;
  const tryTimeoutMs = options.tryTimeoutMs ?? 10_000;
  const api = new Api(token, {
    apiRoot,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch as never }),
  });
  for (let attempt = 1;; attempt++) {
    if (signal.aborted) return undefined;
    try {
      return await api.getMe(
        apiSignal(signal, AbortSignal.timeout(tryTimeoutMs)),
      );
    } catch (error) {
      if (signal.aborted) return undefined;
      const failure = describeApiError(error);
      const where = `the Bot API at ${apiRoot}`;
      if (failure.status !== undefined && !failure.transient) {
        throw new BotProfileError(
          `${where} did not accept BOT_TOKEN: ${failure.reason}; check the token from @BotFather`,
        );
      }
      if (attempt >= tries) {
        throw new BotProfileError(
          `${where} cannot be reached: ${failure.reason} (gave up after ${tries} tries)`,
        );
      }
      const waitMs = failure.retryAfter !== undefined
        ? failure.retryAfter * 1000
        : 1000 * 2 ** (attempt - 1);
      log.warn(
        `${where} cannot be reached: ${failure.reason}; trying again in ${
          waitMs / 1000
        } s (try ${attempt + 1} of ${tries})`,
      );
      await sleep(waitMs, signal);
    }
  }
}

/** The bot's numeric id, which is the part of its token before the colon. */
function botIdOfToken(token: string): number {
  return Number(token.split(":")[0]);
}
