import { type Bot, BotError, Context } from "grammy";
import type { Update } from "grammy/types";
import { apiSignal, describeApiError } from "./api_error.ts";
import { planRegistration } from "../registration/registration.ts";
import { EXIT } from "../base/exit_codes.ts";
import type { Logger } from "../base/log.ts";
import type { Reporter } from "./reporter.ts";
import { sleep } from "./stopper.ts";
import { type OutageLines, StoreOutage } from "./store_outage.ts";
import { errorLine } from "../base/error_text.ts";
import {
  PermanentStoreError,
  type RegistrationPlan,
  StoreError,
} from "../store/store.ts";
import { WrongKeyError } from "../crypto/field_cipher.ts";
import { checkUpdate } from "./update_check.ts";
import { noTelemetry, type Telemetry } from "../base/telemetry.ts";

/** What the polling loop needs. */
export interface PollingOptions<C extends Context> {
  /**
   * The bot, initialised (its `botInfo` set) and built without the
   * registration middleware: the loop registers each batch itself.
   */
  bot: Bot<C>;
  /**
   * Stores the plans in one transaction; rejects, having stored nothing,
   * when it cannot. May resolve with each plan's batch size (0: unchanged).
   */
  register(plans: RegistrationPlan[]): Promise<readonly number[] | void>;
  /** Where each update's span, outcome and time to confirm are told; default none. */
  telemetry?: Telemetry;
  /** The updates to ask Telegram for. */
  allowedUpdates: readonly string[];
  log: Logger;
  reporter: Reporter;
  /** Aborted to stop: the loop finishes the update in hand and returns. */
  signal: AbortSignal;
  /**
   * Whether a webhook set at Telegram may be removed to poll: only when the
   * operator chose polling with `BOT_MODE=polling`. Otherwise polling stops
   * with a `PollingError` of exit code 2 naming the webhook.
   */
  takeOverWebhook: boolean;
  /** Seconds Telegram may hold a `getUpdates` call open; default 30. */
  pollSeconds?: number;
  /** First wait before trying again after a failure, in ms; default 200. */
  firstRetryMs?: number;
  /** Longest wait between two tries, in ms; default 5,000 (30,000 for Telegram). */
  maxRetryMs?: number;
}

/**
 * Polling cannot go on: Telegram refused the token, a webhook is in the way,
 * or the store fails in a way that will not mend.
 */
export class PollingError extends Error {
  /**
   * The process's exit code (`EXIT`): `telegram` for a refused token,
   * `usage` for a setting to change, `damaged` for a store that keeps
   * failing the same way.
   */
  readonly exitCode: number;

  /** Wraps the one-line reason. */
  constructor(message: string, exitCode: number = EXIT.telegram) {
    super(message);
    this.name = "PollingError";
    this.exitCode = exitCode;
  }
}

// A hung connection must not hold the loop for grammY's default 500 s.
const SLACK_SECONDS = 15;

/**
 * Long polling that confirms nothing it has not stored. grammY's
 * `bot.start()` moves the offset past an update whose handling failed, and
 * its `bot.stop()` confirms the update still being handled; this loop
 * instead stores each batch (in one transaction) before handling it, keeps
 * trying while the store fails, and asks for the next batch, which is what
 * confirms the previous one to Telegram, only once every update in it was
 * stored and handled. Malformed updates are logged and skipped. On stop it
 * finishes the update in hand; updates stored and handled in an unfinished
 * batch are confirmed with one bounded call, and nothing else is.
 */
export async function poll<C extends Context>(
  options: PollingOptions<C>,
): Promise<void> {
  const { bot, log, signal } = options;
  const pollSeconds = options.pollSeconds ?? 30;
  const firstRetryMs = options.firstRetryMs ?? 200;
  const maxRetryMs = options.maxRetryMs ?? 5_000;
  let offset: number | undefined;
  let failures = 0;
  let lastReason = "";
  let webhookRemoved = false;
  while (!signal.aborted) {
    let batch: unknown[];
    try {
      batch = await bot.api.getUpdates(
        {
          offset,
          timeout: pollSeconds,
          allowed_updates: options.allowedUpdates as never,
        },
        apiSignal(
          signal,
          AbortSignal.timeout((pollSeconds + SLACK_SECONDS) * 1000),
        ),
      );
    } catch (error) {
      if (signal.aborted) break;
      const failure = describeApiError(error);
      if (failure.status === 401 || failure.status === 404) {
        throw new PollingError(
          `Telegram refused BOT_TOKEN (${failure.reason}): check the token from @BotFather`,
        );
      }
      if (
        failure.status === 409 && /webhook/i.test(failure.reason) &&
        !webhookRemoved && await takeOverWebhook(options)
      ) {
        webhookRemoved = true;
        continue;
      }
      failures++;
      if (failures === 1 || failure.reason !== lastReason) {
        log.warn(
          `getUpdates failed, trying again until it works: ${
            failure.status === 409
              ? `${failure.reason} (another process may be polling with this token)`
              : failure.reason
          }`,
          "telegram.unreachable",
        );
        lastReason = failure.reason;
      }
      const wait = failure.retryAfter !== undefined
        ? failure.retryAfter * 1000
        : backoff(failures, firstRetryMs * 5, 30_000);
      await sleep(wait, signal);
      continue;
    }
    if (failures > 0) {
      log.info(
        `getUpdates works again after ${failures} failed tries`,
        "telegram.reachable",
      );
      failures = 0;
      lastReason = "";
    }
    if (batch.length === 0) continue;
    log.debug?.(`getUpdates gave ${batch.length} updates`, "updates.received");
    const outcome = await handleBatch(batch, {
      ...options,
      firstRetryMs,
      maxRetryMs,
    });
    if (!outcome.complete) {
      await confirm(bot, offset, outcome.next);
      break;
    }
    if (outcome.next !== undefined) offset = outcome.next;
  }
}

// Telegram holds back getUpdates while a webhook is set. Removing it takes
// whoever serves it off the air, so that happens only when the operator
// chose polling explicitly, and the line says which webhook it was. False
// when there was nothing to remove (the webhook went meanwhile, or a stop).
async function takeOverWebhook<C extends Context>(
  options: PollingOptions<C>,
): Promise<boolean> {
  const { bot, log, signal } = options;
  let url: string;
  try {
    const info = await bot.api.getWebhookInfo(
      apiSignal(signal, AbortSignal.timeout(10_000)),
    );
    if (info.url === undefined || info.url === "") return false;
    url = info.url;
  } catch (error) {
    if (signal.aborted) return false;
    url = `an address that could not be read (${
      describeApiError(error).reason
    })`;
  }
  if (!options.takeOverWebhook) {
    throw new PollingError(
      `a webhook is set for this bot at ${url}, so Telegram gives no updates by polling; the bot removes a webhook only when told to: set BOT_MODE=polling to remove it and poll here, or WEBHOOK_URL (with WEBHOOK_SECRET) or BOT_MODE=webhook to serve it`,
      EXIT.usage,
    );
  }
  log.warn(
    `a webhook is set for this bot at ${url}; BOT_MODE=polling, so removing it to poll (waiting updates are kept)`,
  );
  await bot.api.deleteWebhook(
    { drop_pending_updates: false },
    apiSignal(signal, AbortSignal.timeout(10_000)),
  ).catch((error) => {
    if (signal.aborted) return;
    log.warn(
      `removing the webhook failed, polling cannot start until it is removed: ${
        describeApiError(error).reason
      }`,
    );
  });
  return true;
}

interface BatchOutcome {
  /** The offset that confirms everything done in the batch, if anything was. */
  next: number | undefined;
  /** False when a stop cut the batch short. */
  complete: boolean;
}

interface BatchOptions<C extends Context> extends PollingOptions<C> {
  firstRetryMs: number;
  maxRetryMs: number;
}

// Handles one batch in order. Updates are stored in runs that end at a
// button press: a press can erase its sender, and a later update of theirs
// in the same batch must be stored after that erasure, not before it.
async function handleBatch<C extends Context>(
  batch: unknown[],
  options: BatchOptions<C>,
): Promise<BatchOutcome> {
  const { bot, log, reporter, signal } = options;
  const telemetry = options.telemetry ?? noTelemetry;
  const receivedAt = telemetry.enabled ? performance.now() : 0;
  let next: number | undefined;
  let run: { update: Update; plan: RegistrationPlan }[] = [];
  const skipped: number[] = [];
  const flush = async (): Promise<boolean> => {
    if (run.length > 0) {
      const joined = await storeWithRetry(run, options);
      if (joined === false) return false;
      for (const [i, { update }] of run.entries()) {
        const handled = telemetry.enabled
          ? await telemetry.update(
            update,
            () => handleWithRetry(update, options),
            {
              receivedAt,
              outcome: (result) =>
                !result.ok
                  ? "failed"
                  : !result.value
                  ? "refused"
                  : (joined[i] ?? 0) > 0
                  ? "stored"
                  : "unchanged",
              batch: () => joined[i] || undefined,
            },
          )
          : await handleWithRetry(update, options);
        if (!handled) return false;
        next = update.update_id + 1;
        if (signal.aborted) {
          // What follows in the run is stored but not handled: it stays
          // unconfirmed and comes again, and storing it again changes nothing.
          return false;
        }
      }
    }
    for (const id of skipped) next = Math.max(next ?? 0, id + 1);
    run = [];
    skipped.length = 0;
    return true;
  };
  for (const raw of batch) {
    const id = (raw as { update_id?: unknown } | null)?.update_id;
    const checked = checkUpdate(raw);
    let plan: RegistrationPlan | undefined;
    if (typeof checked !== "string") {
      try {
        plan = planRegistration(new Context(checked, bot.api, bot.botInfo));
      } catch (error) {
        reporter.report(error, checked);
      }
    }
    if (typeof checked === "string" || plan === undefined) {
      const what = Number.isSafeInteger(id) ? `update ${id}` : "an update";
      log.warn(
        `skipping ${what}, which is not a well-formed Telegram update: ${
          typeof checked === "string" ? checked : "it could not be read"
        }`,
      );
      if (Number.isSafeInteger(id)) {
        if (run.length === 0) next = Math.max(next ?? 0, (id as number) + 1);
        else skipped.push(id as number);
      }
      continue;
    }
    run.push({ update: checked, plan });
    if (checked.callback_query !== undefined) {
      if (!await flush()) return { next, complete: false };
    }
  }
  if (!await flush()) return { next, complete: false };
  return { next, complete: true };
}

// Stores the plans, trying again with growing waits while the store fails;
// false when a stop came first (nothing of this run is then confirmed),
// otherwise each plan's batch size (0: nothing needed writing).
async function storeWithRetry<C extends Context>(
  run: { update: Update; plan: RegistrationPlan }[],
  options: BatchOptions<C>,
): Promise<readonly number[] | false> {
  if (options.signal.aborted) return false;
  const plans = run.map((item) => item.plan);
  const ids = run.map((item) => item.update.update_id);
  const which = ids.length === 1
    ? `update ${ids[0]}`
    : `updates ${ids[0]}-${ids[ids.length - 1]}`;
  let joined: readonly number[] = [];
  const stored = await untilStored(
    async () => {
      joined = await options.register(plans) ?? [];
    },
    options,
    {
      started: (cause) =>
        `cannot store ${which}, so Telegram is not told they arrived; trying again until the store works: ${cause}`,
      ended: (failures) =>
        `the store works again: stored the waiting updates after ${failures} failed tries`,
      unconfirmed: "these updates stay unconfirmed and Telegram keeps them",
    },
  );
  return stored && joined;
}

// Handles one stored update. A plugin's write that the store could not
// commit fails the update as its registration would: it is handled again
// (every plugin sees it again) with growing waits until what it stores is
// stored, and stays unconfirmed meanwhile; false when a stop came first.
// Any other failure is reported and the update counts as handled.
async function handleWithRetry<C extends Context>(
  update: Update,
  options: BatchOptions<C>,
): Promise<boolean> {
  const { bot, reporter } = options;
  const id = update.update_id;
  return await untilStored(
    async () => {
      try {
        await bot.handleUpdate(update);
      } catch (error) {
        const cause = error instanceof BotError ? error.error : error;
        if (cause instanceof StoreError || cause instanceof WrongKeyError) {
          throw cause;
        }
        reporter.report(cause, update);
      }
    },
    options,
    {
      started: (cause) =>
        `cannot store what update ${id} made, so Telegram is not told it arrived; handling it again until the store works: ${cause}`,
      ended: (failures) =>
        `the store works again: stored what update ${id} made after ${failures} failed tries`,
      unconfirmed: `update ${id} stays unconfirmed and Telegram keeps it`,
    },
  );
}

/** Tries given to a write that failed in a way that will not mend. */
const PERMANENT_TRIES = 3;

// Runs `attempt` until it succeeds, trying again with growing waits while
// it fails, the outage told in two lines; false when a stop came during a
// wait. A failure that will not mend (a damaged database) is tried a few
// times, in case it was not what it seemed, then stops polling: retried
// forever it would hold back every later update while saying nothing new.
async function untilStored<C extends Context>(
  attempt: () => Promise<void>,
  options: BatchOptions<C>,
  lines: OutageLines & { unconfirmed: string },
): Promise<boolean> {
  const { log, signal } = options;
  const outage = new StoreOutage(log, lines);
  let permanent = 0;
  for (;;) {
    try {
      await attempt();
      outage.recovered();
      return true;
    } catch (error) {
      outage.failed(error);
      if (
        error instanceof PermanentStoreError && ++permanent >= PERMANENT_TRIES
      ) {
        throw new PollingError(
          `stopping: the store failed ${permanent} times in a way that trying again will not mend, so ${lines.unconfirmed} for the next start: ${
            errorLine(error)
          }`,
          EXIT.damaged,
        );
      }
      await sleep(
        backoff(outage.failures, options.firstRetryMs, options.maxRetryMs),
        signal,
      );
      if (signal.aborted) return false;
    }
  }
}

// Confirms, at stop, the updates of an unfinished batch that were stored and
// handled, so they are not answered twice after a restart. One short call;
// if it fails they come again, which is safe.
async function confirm<C extends Context>(
  bot: Bot<C>,
  previous: number | undefined,
  next: number | undefined,
): Promise<void> {
  if (next === undefined || next === previous) return;
  await bot.api.getUpdates(
    { offset: next, limit: 1, timeout: 0 },
    apiSignal(AbortSignal.timeout(2_000)),
  ).catch(() => {});
}

function backoff(failures: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(failures - 1, 16));
}
