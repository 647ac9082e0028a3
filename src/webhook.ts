import { timingSafeEqual } from "node:crypto";
import { type Bot, BotError, type Context } from "grammy";
import type { Update } from "grammy/types";
import type { Reporter } from "./reporter.ts";
import type { Store } from "./store/store.ts";

/** Telegram sends updates far smaller; anything bigger is refused unread. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** What the webhook handler needs. */
export interface WebhookOptions {
  /** The route Telegram posts to, e.g. `/webhook`. */
  path: string;
  /** Expected `X-Telegram-Bot-Api-Secret-Token`. */
  secret: string;
  store: Store;
  reporter: Reporter;
}

const SECRET_HEADER = "x-telegram-bot-api-secret-token";
const encoder = new TextEncoder();

/**
 * The HTTP side of webhook mode (SPEC section 4) as a `Deno.serve` handler.
 * The bot must be initialised (`bot.init()`) before the first request.
 */
export function createWebhookHandler<C extends Context>(
  bot: Bot<C>,
  options: WebhookOptions,
): (request: Request) => Promise<Response> {
  const { path, store, reporter } = options;
  const secret = encoder.encode(options.secret);
  return async (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/healthz" && request.method === "GET") {
      return await health(store);
    }
    if (url.pathname !== path || request.method !== "POST") {
      return text(404, "Not found");
    }
    if (!secretMatches(request.headers.get(SECRET_HEADER), secret)) {
      await request.body?.cancel();
      return text(401, "Unauthorized");
    }
    const body = await readBody(request, MAX_BODY_BYTES);
    if (body === undefined) return text(413, "Payload too large");
    const update = parseUpdate(body);
    if (update === undefined) {
      return text(400, "Bad request: not a Telegram update");
    }
    try {
      // Resolves after registration is committed and the handlers ran, so a
      // 200 promises Telegram that nothing needs to be sent again.
      await bot.handleUpdate(update);
      return text(200, "OK");
    } catch (error) {
      reporter.report(error instanceof BotError ? error.error : error, update);
      return text(500, "Internal server error");
    }
  };
}

function secretMatches(given: string | null, expected: Uint8Array): boolean {
  if (given === null) return false;
  const bytes = encoder.encode(given);
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

async function health(store: Store): Promise<Response> {
  try {
    await store.ping();
    return Response.json({ ok: true });
  } catch {
    return Response.json({ ok: false, error: "store unavailable" }, {
      status: 503,
    });
  }
}

// Reads at most `limit` bytes; undefined when the body is larger, which is
// found from Content-Length or while streaming, never by buffering it all.
async function readBody(
  request: Request,
  limit: number,
): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await request.body?.cancel();
    return undefined;
  }
  if (request.body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function parseUpdate(body: Uint8Array): Update | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return undefined;
  }
  const isUpdate = typeof value === "object" && value !== null &&
    !Array.isArray(value) &&
    Number.isSafeInteger((value as { update_id?: unknown }).update_id);
  return isUpdate ? value as Update : undefined;
}

function text(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
