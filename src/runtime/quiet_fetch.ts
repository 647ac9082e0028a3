/**
 * A small HTTP/1.1 client over `Deno.connect`/`Deno.connectTls` with the
 * shape of `fetch`, for the Bot API calls when telemetry is on. Deno 2.9
 * exports every `fetch`, `Deno.HttpClient` and `node:http` request as a
 * span whose `url.full` and `url.path` hold the request path, and a Bot API
 * path holds the token (`/bot<token>/getMe`); nothing in the runtime turns
 * that off (not a sampler, not an unsampled parent, not `suppressTracing`).
 * A plain socket is not traced, so the token stays out of the export.
 *
 * It speaks just what the Bot API needs: one request at a time per
 * connection, a body sent with Content-Length, an answer read by
 * Content-Length, chunks or the connection's end, and idle connections
 * kept for the next call.
 *
 * @module
 */

/** The part of `fetch`'s init that grammY passes and this client reads. */
export interface QuietInit {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal | null;
}

type Conn = Deno.Conn | Deno.TlsConn;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// Idle connections kept per origin; more are closed when they come back.
const MAX_IDLE = 4;

/** Builds a `fetch` that the runtime does not trace; idle connections are shared by its calls. */
export function createQuietFetch(): (
  url: string | URL,
  init?: QuietInit,
) => Promise<Response> {
  const idle = new Map<string, Conn[]>();
  return async (url, init = {}) => {
    const target = new URL(url);
    if (target.protocol !== "http:" && target.protocol !== "https:") {
      throw new TypeError(`Cannot fetch "${target.protocol}" addresses`);
    }
    // grammY may pass the signal of its AbortController polyfill, which
    // has `aborted` and `addEventListener` but not `throwIfAborted`.
    const signal = init.signal ?? undefined;
    throwIfAborted(signal);
    const body = await bodyBytes(init.body);
    const head = requestHead(target, init, body.length);
    const origin = `${target.protocol}//${target.host}`;
    const request = concat([encoder.encode(head), body]);
    // A kept connection the server has closed fails before any answer
    // comes back; the request then goes once more on a fresh one.
    for (let attempt = 0;; attempt++) {
      const reused = idle.get(origin)?.pop();
      const conn = reused ?? await connect(target);
      const abort = () => close(conn);
      signal?.addEventListener("abort", abort, { once: true });
      try {
        await writeAll(conn, request);
        const answer = await readResponse(conn, init.method === "HEAD");
        if (answer.reusable) {
          const kept = idle.get(origin) ?? [];
          if (kept.length < MAX_IDLE) {
            kept.push(conn);
            idle.set(origin, kept);
          } else close(conn);
        } else close(conn);
        return answer.response;
      } catch (error) {
        close(conn);
        throwIfAborted(signal);
        if (
          reused !== undefined && attempt === 0 && error instanceof Unanswered
        ) {
          continue;
        }
        throw error instanceof Unanswered ? error.cause : error;
      } finally {
        signal?.removeEventListener("abort", abort);
      }
    }
  };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason ??
      new DOMException("The call was aborted", "AbortError");
  }
}

// The connection closed before the first byte of an answer.
class Unanswered extends Error {}

function connect(target: URL): Promise<Conn> {
  const hostname = target.hostname.replace(/^\[|\]$/g, "");
  if (target.protocol === "https:") {
    return Deno.connectTls({ hostname, port: Number(target.port || 443) });
  }
  return Deno.connect({ hostname, port: Number(target.port || 80) });
}

function close(conn: Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

function requestHead(target: URL, init: QuietInit, length: number): string {
  const lines = [
    `${init.method ?? "GET"} ${target.pathname}${target.search} HTTP/1.1`,
    `host: ${target.host}`,
  ];
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    const lower = name.toLowerCase();
    if (
      lower === "host" || lower === "content-length" || lower === "connection"
    ) continue;
    lines.push(`${name}: ${value}`);
  }
  lines.push(`content-length: ${length}`, "connection: keep-alive", "", "");
  return lines.join("\r\n");
}

// grammY sends a JSON string, or a multipart body as a stream or an async
// iterable; either is read whole (uploads to the Bot API are bounded).
async function bodyBytes(body: unknown): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array();
  if (typeof body === "string") return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body instanceof Blob) return new Uint8Array(await body.arrayBuffer());
  if (
    typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] ===
      "function"
  ) {
    const parts: Uint8Array[] = [];
    for await (const part of body as AsyncIterable<unknown>) {
      parts.push(
        typeof part === "string" ? encoder.encode(part) : part as Uint8Array,
      );
    }
    return concat(parts);
  }
  throw new TypeError(`Cannot send a body of type "${typeof body}"`);
}

async function writeAll(conn: Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  try {
    while (written < bytes.length) {
      written += await conn.write(bytes.subarray(written));
    }
  } catch (error) {
    throw new Unanswered("The connection closed", { cause: error });
  }
}

/** Buffered reads from one connection. */
class Reader {
  #conn: Conn;
  #buffer: Uint8Array = new Uint8Array(0);
  /** Whether any byte came back yet. */
  started = false;

  constructor(conn: Conn) {
    this.#conn = conn;
  }

  // Reads more bytes; false at the connection's end.
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    let n: number | null;
    try {
      n = await this.#conn.read(chunk);
    } catch (error) {
      if (!this.started) {
        throw new Unanswered("The connection closed", { cause: error });
      }
      throw error;
    }
    if (n === null) return false;
    this.started = true;
    this.#buffer = concat([this.#buffer, chunk.subarray(0, n)]);
    return true;
  }

  /** The bytes up to `separator` (dropped), or throws at the end. */
  async until(separator: string): Promise<string> {
    const needle = encoder.encode(separator);
    for (;;) {
      const at = indexOf(this.#buffer, needle);
      if (at !== -1) {
        const text = decoder.decode(this.#buffer.subarray(0, at));
        this.#buffer = this.#buffer.subarray(at + needle.length);
        return text;
      }
      if (!await this.#fill()) {
        if (!this.started) {
          throw new Unanswered("The connection closed", {
            cause: new TypeError("The connection closed before an answer"),
          });
        }
        throw new TypeError("The connection closed in the middle of an answer");
      }
    }
  }

  /** Exactly `length` bytes. */
  async take(length: number): Promise<Uint8Array> {
    while (this.#buffer.length < length) {
      if (!await this.#fill()) {
        throw new TypeError("The connection closed in the middle of an answer");
      }
    }
    const bytes = this.#buffer.slice(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return bytes;
  }

  /** Everything until the connection's end. */
  async rest(): Promise<Uint8Array> {
    while (await this.#fill());
    return this.#buffer;
  }
}

async function readResponse(
  conn: Conn,
  head: boolean,
): Promise<{ response: Response; reusable: boolean }> {
  const reader = new Reader(conn);
  let status: number;
  let lines: string[];
  // 1xx answers come before the real one and are skipped.
  do {
    lines = (await reader.until("\r\n\r\n")).split("\r\n");
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (match === null) {
      throw new TypeError(`Not an HTTP answer: "${lines[0].slice(0, 40)}"`);
    }
    status = Number(match[1]);
  } while (status >= 100 && status < 200);
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
  }
  let reusable = !/close/i.test(headers.get("connection") ?? "");
  let body: Uint8Array;
  const length = headers.get("content-length");
  if (head || status === 204 || status === 304) body = new Uint8Array();
  else if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const size = parseInt((await reader.until("\r\n")).split(";")[0], 16);
      if (!Number.isFinite(size)) throw new TypeError("A malformed chunk");
      if (size === 0) {
        while ((await reader.until("\r\n")) !== "");
        break;
      }
      chunks.push(await reader.take(size));
      await reader.take(2);
    }
    body = concat(chunks);
  } else if (length !== null) body = await reader.take(Number(length));
  else {
    body = await reader.rest();
    reusable = false;
  }
  const nullBody = status === 204 || status === 304 || status < 200;
  return {
    response: new Response(nullBody ? null : new Uint8Array(body), {
      status,
      headers,
    }),
    reusable,
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
