import { Api } from "grammy";
import type { UserFromGetMe } from "grammy/types";
import { apiSignal, describeApiError } from "./api_error.ts";
import type { Logger } from "../base/log.ts";
import { sleep } from "./stopper.ts";

/** Options for `fetchBotInfo`. */
export interface FetchBotInfoOptions {
  apiRoot: string;
  log: Logger;
  /** Aborted on stop: the call is dropped and undefined returned. */
  signal: AbortSignal;
  /** How long one try may take, in ms; default 10,000. */
  tryTimeoutMs?: number;
  /** How many tries before giving up; default 5. */
  tries?: number;
}

/** The Bot API refused the token, or stayed out of reach through every try. */
export class BotInfoError extends Error {
  /** Wraps the one-line reason. */
  constructor(message: string) {
    super(message);
    this.name = "BotInfoError";
  }
}

/**
 * Asks Telegram who the bot is (`getMe`), which also proves the token. Each
 * try is bounded; network trouble and Telegram's own failures are retried
 * with growing waits, each logged with its cause (connection refused, DNS,
 * TLS), and a refused token fails at once. Resolves with undefined when a
 * stop came first.
 */
export async function fetchBotInfo(
  token: string,
  options: FetchBotInfoOptions,
): Promise<UserFromGetMe | undefined> {
  const { apiRoot, log, signal } = options;
  const tries = options.tries ?? 5;
  const tryTimeoutMs = options.tryTimeoutMs ?? 10_000;
  const api = new Api(token, { apiRoot });
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
        throw new BotInfoError(
          `${where} did not accept BOT_TOKEN: ${failure.reason}; check the token from @BotFather`,
        );
      }
      if (attempt >= tries) {
        throw new BotInfoError(
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
export function botIdOfToken(token: string): number {
  return Number(token.split(":")[0]);
}
