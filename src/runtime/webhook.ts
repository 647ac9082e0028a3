import { timingSafeEqual } from "node:crypto";
import { type Bot, BotError, type Context } from "grammy";
import type { Update } from "grammy/types";
import { WrongKeyError } from "../crypto/field_cipher.ts";
import type { Logger } from "../base/log.ts";
import type { Reporter } from "./reporter.ts";
import { type HealthProbe, StoreError } from "../store/store.ts";
import { StoreOutage } from "./store_outage.ts";
import { checkUpdate } from "./update_check.ts";
import { batchOf } from "../registration/registration.ts";
import {
  noTelemetry,
  type Telemetry,
  type UpdateOutcome,
  type UpdateResult,
} from "../base/telemetry.ts";

/** Telegram sends updates far smaller; anything bigger is refused unread. */
const MAX_BODY_BYTES = 1024 * 1024;

/** How long a request's body may take to arrive once its headers have. */
const BODY_TIMEOUT_MS = 10_000;

/** How long `/healthz` waits for the store's write probe before saying 503. */
export const HEALTH_TIMEOUT_MS = 2_000;

/** What the webhook handler needs. */
export interface WebhookOptions {
  /** The route Telegram posts to, e.g. `/webhook`. */
  path: string;
  /** Expected `X-Telegram-Bot-Api-Secret-Token`. */
  secret: string;
  store: HealthProbe;
  reporter: Reporter;
  /**
   * Told, one line each, when the store starts refusing updates (with the
   * cause) and when it takes them again (with the count refused), and when
   * `/healthz` turns failing or healthy again.
   */
  log: Logger;
  /** Where each update's span, outcome and time to answer are told; default none. */
  telemetry?: Telemetry;
  /** Overrides `BODY_TIMEOUT_MS` (tests). */
  bodyTimeoutMs?: number;
  /** Overrides `HEALTH_TIMEOUT_MS` (tests). */
  healthTimeoutMs?: number;
}

const SECRET_HEADER = "x-telegram-bot-api-secret-token";
const encoder = new TextEncoder();
// Not streaming, so one decoder serves every request.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The HTTP side of webhook mode as a `Deno.serve` handler. It never throws:
 * 401 without the secret, 413 over 1 MiB, 408 for a body that stalls, 400 for
 * a truncated body or anything that is not a well-formed update, 500 only when
 * the store could not write what the update made stored (its registration,
 * or a plugin's rows: Telegram sends it again), and 200 otherwise, also
 * when a plugin failed after registration.
 * A store that keeps failing is logged as one outage, not once per update.
 * The bot must be initialised (`bot.init()`) before the first request.
 */
export function createWebhookHandler<C extends Context>(
  bot: Bot<C>,
  options: WebhookOptions,
): (request: Request) => Promise<Response> {
  const { path, reporter } = options;
  // An outage refuses every update with a 500 until the store works again:
  // the operator gets one line when it starts and one when it ends.
  const outage = new StoreOutage(options.log, {
    started: (cause) =>
      `cannot store updates, so they are answered 500 and Telegram sends them again: ${cause}`,
    ended: (refused) =>
      refused === 1
        ? "the store works again: 1 update was answered 500 meanwhile, and Telegram sends it again"
        : `the store works again: ${refused} updates were answered 500 meanwhile, and Telegram sends them again`,
  });
  // A 200 during an outage does not prove the store writes again: a known
  // sender's update needs no write. The end is told once a real write (the
  // `/healthz` probe) succeeds; one probe at a time, off the request's path.
  // The probe is shared with `/healthz`: two at once would contend for the
  // probe row, and one of them would report a healthy store as failing.
  const probe = sharedProbe(options.store);
  let confirming = false;
  const confirmRecovery = () => {
    if (outage.failures === 0 || confirming) return;
    confirming = true;
    probe().then(() => outage.recovered(), () => {}).finally(() =>
      confirming = false
    );
  };
  const secret = encoder.encode(options.secret);
  const bodyTimeoutMs = options.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
  const checkHealth = healthCheck(options, probe);
  const deadlines = new Deadlines(bodyTimeoutMs);
  const telemetry = options.telemetry ?? noTelemetry;
  return async (request) => {
    const receivedAt = telemetry.enabled ? performance.now() : 0;
    const pathname = pathOf(request.url);
    if (pathname === "/healthz" && request.method === "GET") {
      await discard(request);
      return await checkHealth();
    }
    // Liveness only: the process answers. It touches no store, so a
    // restart policy pointed here does not restart the bot for an outage
    // that a restart cannot mend.
    if (pathname === "/livez" && request.method === "GET") {
      await discard(request);
      return Response.json({ ok: true });
    }
    if (pathname !== path || request.method !== "POST") {
      await discard(request);
      return text(404, "Not found");
    }
    if (!secretMatches(request.headers.get(SECRET_HEADER), secret)) {
      await discard(request);
      return text(401, "Unauthorized");
    }
    const body = await readBody(request, {
      limit: MAX_BODY_BYTES,
      deadlines,
    });
    switch (body) {
      case "too large":
        return text(413, "Payload too large");
      case "too slow":
        return text(408, "Request timeout: the body did not arrive in time");
      case "truncated":
        return text(400, "Bad request: the body ended early");
    }
    const update = parseUpdate(body);
    if (typeof update === "string") return text(400, `Bad request: ${update}`);
    try {
      // Resolves after registration is committed and the handlers ran, so a
      // 200 promises Telegram that nothing needs to be sent again.
      if (telemetry.enabled) {
        await telemetry.update(update, () => bot.handleUpdate(update), {
          receivedAt,
          outcome: (result) => outcomeOf(update, result),
          batch: batchOf,
        });
      } else await bot.handleUpdate(update);
      confirmRecovery();
      return text(200, "OK");
    } catch (error) {
      const cause = error instanceof BotError ? error.error : error;
      // Only a store that could not write asks Telegram to send the update
      // again; any other failure would fail again the same way, forever.
      if (cause instanceof StoreError || cause instanceof WrongKeyError) {
        outage.failed(cause);
        return text(500, "Internal server error: the update was not stored");
      }
      try {
        reporter.report(cause, update);
      } catch {
        // A failing crash report must not turn the answer into a 500.
      }
      return text(200, "OK");
    }
  };
}

// How a handled update ended, for telemetry: a store failure is refused
// (answered 500, sent again), any other failure failed.
function outcomeOf(
  update: Update,
  result: UpdateResult<unknown>,
): UpdateOutcome {
  if (!result.ok) {
    const cause = result.error instanceof BotError
      ? result.error.error
      : result.error;
    return cause instanceof StoreError || cause instanceof WrongKeyError
      ? "refused"
      : "failed";
  }
  return batchOf(update) === undefined ? "unchanged" : "stored";
}

function secretMatches(given: string | null, expected: Uint8Array): boolean {
  if (given === null) return false;
  const bytes = encoder.encode(given);
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

// `/healthz` says 200 only when a registration could be written now; a probe
// that does not settle in time counts as a failure, so the answer is fast.
function healthCheck(
  options: WebhookOptions,
  probe: () => Promise<void>,
): () => Promise<Response> {
  const { log } = options;
  const timeoutMs = options.healthTimeoutMs ?? HEALTH_TIMEOUT_MS;
  let healthy = true;
  return async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    const check = probe();
    check.catch(() => {});
    try {
      await Promise.race([check, late]);
      if (!healthy) {
        log.info("/healthz: the store accepts writes again", "health.ok");
      }
      healthy = true;
      return Response.json({ ok: true });
    } catch (error) {
      if (healthy) {
        log.warn(
          `/healthz: the store cannot take writes now: ${
            (error as Error).message
          }`,
          "health.failing",
        );
      }
      healthy = false;
      return Response.json({ ok: false, error: "store not writable" }, {
        status: 503,
      });
    } finally {
      clearTimeout(timer);
    }
  };
}

// The store's write probe, run once for everyone who asks while it runs: a
// burst of health checks is one write, not one each.
function sharedProbe(store: HealthProbe): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= Promise.resolve().then(() => store.checkWritable()).finally(
      () => running = undefined,
    );
    return running;
  };
}

type Body = Uint8Array | "too large" | "too slow" | "truncated";

// Reads at most `limit` bytes before the body's deadline. A larger body is
// found from Content-Length or while streaming, never by buffering it all; a
// body that breaks off (the client went away, fewer bytes than
// Content-Length) is "truncated". Never throws.
async function readBody(
  request: Request,
  bounds: { limit: number; deadlines: Deadlines },
): Promise<Body> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > bounds.limit) {
    await discard(request);
    return "too large";
  }
  if (request.body === null) return new Uint8Array();
  // The body is read into our own buffer (a BYOB reader, where the stream
  // is a byte stream as served ones are): the default reader hands out a
  // fresh 64 KiB buffer per read, so a body sent a byte per TCP segment
  // would cost memory by the segment, not by the byte. Chunks from another
  // kind of stream are copied in and dropped at once. The buffer holds a
  // little more than the limit, which is how a larger body is found; that
  // margin also keeps every BYOB view a few bytes long, since a read into a
  // view of one or two bytes can stall at the end of a body (Deno 2.9).
  const capacity = bounds.limit + MIN_VIEW_BYTES;
  let buffer = new Uint8Array(
    Math.min(
      capacity,
      (declared > 0 ? declared : INITIAL_BYTES) + MIN_VIEW_BYTES,
    ),
  );
  let size = 0;
  // Makes room for `needed` more bytes (never past `capacity`).
  const grow = (needed: number): void => {
    if (size + needed <= buffer.length) return;
    const grown = new Uint8Array(
      Math.min(capacity, Math.max(buffer.length * 2, size + needed)),
    );
    grown.set(buffer.subarray(0, size));
    buffer = grown;
  };
  const byob = byobReader(request.body);
  const plain = byob === undefined ? request.body.getReader() : undefined;
  const reader = byob ?? plain!;
  const watch = bounds.deadlines.watch(reader);
  try {
    for (;;) {
      if (byob !== undefined) {
        if (size > bounds.limit) return tooLarge(reader);
        grow(MIN_VIEW_BYTES);
        const result = await byob.read(buffer.subarray(size));
        if (watch.expired) return "too slow";
        if (result.value !== undefined) {
          buffer = new Uint8Array(result.value.buffer);
        }
        if (result.done) break;
        size += result.value.byteLength;
      } else {
        const result = await plain!.read();
        if (watch.expired) return "too slow";
        if (result.done) break;
        const length = result.value.byteLength;
        if (size + length > bounds.limit) return tooLarge(reader);
        grow(length);
        buffer.set(result.value, size);
        size += length;
      }
    }
  } catch {
    if (watch.expired) return "too slow";
    reader.cancel().catch(() => {});
    return "truncated";
  } finally {
    watch.end();
  }
  if (size > bounds.limit) return "too large";
  return buffer.subarray(0, size);
}

function byobReader(
  body: ReadableStream<Uint8Array>,
): ReadableStreamBYOBReader | undefined {
  try {
    return body.getReader({ mode: "byob" });
  } catch {
    return undefined;
  }
}

function tooLarge(reader: { cancel(): Promise<void> }): "too large" {
  reader.cancel().catch(() => {});
  return "too large";
}

// Room for a typical update when the client did not say how big it is.
const INITIAL_BYTES = 4096;
const MIN_VIEW_BYTES = 64;

interface Watch {
  /** Set once the deadline passed and the read was cancelled. */
  expired: boolean;
  /** The read finished: stop watching it. */
  end(): void;
}

/**
 * The bodies being read, each cancelled when it outlives the deadline. One
 * timer sweeps them all, so that a request costs no timer of its own: the
 * deadline is kept to within a quarter of itself.
 */
class Deadlines {
  #timeoutMs: number;
  #reads = new Map<Watch, { since: number; cancel: () => void }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  watch(reader: { cancel(): Promise<void> }): Watch {
    const watch: Watch = {
      expired: false,
      end: () => {
        this.#reads.delete(watch);
        if (this.#reads.size === 0) this.#stop();
      },
    };
    this.#reads.set(watch, {
      since: Date.now(),
      cancel: () => {
        watch.expired = true;
        reader.cancel().catch(() => {});
      },
    });
    this.#timer ??= setInterval(
      () => this.#sweep(),
      Math.max(1, Math.floor(this.#timeoutMs / 4)),
    );
    return watch;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [watch, read] of this.#reads) {
      if (now - read.since >= this.#timeoutMs) {
        this.#reads.delete(watch);
        read.cancel();
      }
    }
    if (this.#reads.size === 0) this.#stop();
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

// The path of a request URL (`http://host:port/path?query`), without the
// cost of parsing the whole URL on every update.
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  const end = query === -1 ? (hash === -1 ? url.length : hash) : query;
  return url.slice(start, end);
}

// Drops a body nobody will read, ignoring a client that already went away.
async function discard(request: Request): Promise<void> {
  try {
    await request.body?.cancel();
  } catch {
    // Nothing to release.
  }
}

function parseUpdate(body: Uint8Array): Update | string {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch (error) {
    return error instanceof TypeError
      ? "the body is not UTF-8"
      : "the body is not JSON";
  }
  return checkUpdate(value);
}

function text(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
