import type { Update } from "grammy/types";

/** One Bot API call the fake received. */
export interface ApiCall {
  method: string;
  token: string;
  params: Record<string, unknown>;
  /** When the call arrived (Date.now()). */
  at: number;
  /** Set once the fake has sent its answer (after any delay). */
  answered?: boolean;
}

/** How the fake answers one method instead of succeeding. */
export interface Failure {
  status: number;
  description: string;
  /** Wait this long before answering, in milliseconds. */
  delayMs?: number;
}

/** The bot user the fake's `getMe` returns. */
export const FAKE_BOT = {
  // The id in TEST_TOKEN: a bot token starts with its bot's id.
  id: 123456789,
  is_bot: true as const,
  first_name: "Test Bot",
  username: "test_privacy_bot",
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
};

/**
 * A Telegram Bot API server on loopback: `getUpdates` long polling with
 * offsets, `getMe`, a webhook that can be set (which holds back
 * `getUpdates`), and success answers for everything else; every call is
 * recorded, and any method can be made to fail or to answer slowly.
 */
export class FakeBotApi {
  readonly calls: ApiCall[] = [];
  readonly failures = new Map<string, Failure>();
  readonly delays = new Map<string, number>();
  /** Member statuses for `getChatMember`, keyed "chatId:userId"; default "member". */
  readonly members = new Map<string, string>();
  /**
   * What happened, in order: "<method> answered" when an answer is sent,
   * and whatever a test notes with `note`. Tests assert the order of
   * events here rather than durations.
   */
  readonly events: string[] = [];
  /**
   * The webhook Telegram has for the bot, "" for none. While one is set,
   * `getUpdates` answers 409 as Telegram does; `setWebhook` sets it,
   * `deleteWebhook` clears it and `getWebhookInfo` tells it.
   */
  webhookUrl = "";
  #server: Deno.HttpServer<Deno.NetAddr>;
  #queue: Update[] = [];
  #nextUpdateId = 1;
  #confirmed = 0;
  #wake = new Set<() => void>();
  #closing = new AbortController();

  /** Starts the server on a free loopback port. */
  constructor() {
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
      signal: this.#closing.signal,
    }, (request) => this.#handle(request));
  }

  /** The value for `BOT_API_ROOT`. */
  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Adds a test's own event to `events`, after everything before it. */
  note(event: string): void {
    this.events.push(event);
  }

  /** The highest `getUpdates` offset seen: every update below it is confirmed. */
  get confirmedOffset(): number {
    return this.#confirmed;
  }

  /** The calls of one method, in order. */
  callsOf(method: string): ApiCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /** Queues an update for `getUpdates`, giving it the next id. */
  push(update: Omit<Update, "update_id">): number {
    const full = { ...update, update_id: this.#nextUpdateId++ } as Update;
    this.#queue.push(full);
    for (const wake of this.#wake) wake();
    return full.update_id;
  }

  /** Resolves once the bot confirmed (by its next offset) it handled `updateId`. */
  async processed(updateId: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#confirmed <= updateId) {
      if (Date.now() > deadline) {
        throw new Error(`Update ${updateId} was not processed in time`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** The text of the file sent as `field` in a multipart call. */
  async fileOf(
    call: ApiCall,
    field: string,
  ): Promise<{ name: string; text: string }> {
    let value = call.params[field];
    // grammY sends files as multipart parts referenced by "attach://<part>".
    if (typeof value === "string" && value.startsWith("attach://")) {
      value = call.params[value.slice("attach://".length)];
    }
    if (!(value instanceof File)) throw new Error(`No file in "${field}"`);
    return { name: value.name, text: await value.text() };
  }

  /** Resolves with the first call of `method` (waiting for it to arrive). */
  async waitForCall(method: string, timeoutMs = 10_000): Promise<ApiCall> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const call = this.calls.find((call) => call.method === method);
      if (call !== undefined) return call;
      if (Date.now() > deadline) throw new Error(`No ${method} call arrived`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Stops the server, ending any long poll in progress. */
  async close(): Promise<void> {
    for (const wake of this.#wake) wake();
    this.#closing.abort();
    await this.#server.finished;
  }

  async #handle(request: Request): Promise<Response> {
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(
      new URL(request.url).pathname,
    );
    if (match === null) return Response.json({ ok: false }, { status: 404 });
    const [, token, method] = match as unknown as [string, string, string];
    const params = await readParams(request);
    const call: ApiCall = { method, token, params, at: Date.now() };
    this.calls.push(call);
    const response = await this.#respond(method, params);
    call.answered = true;
    this.events.push(`${method} answered`);
    return response;
  }

  async #respond(
    method: string,
    params: Record<string, unknown>,
  ): Promise<Response> {
    const delay = this.delays.get(method);
    if (delay !== undefined) await new Promise((r) => setTimeout(r, delay));
    const failure = this.failures.get(method) ??
      (method === "getUpdates" && this.webhookUrl !== ""
        ? {
          status: 409,
          description:
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        }
        : undefined);
    if (failure !== undefined) {
      if (failure.delayMs) {
        await new Promise((r) => setTimeout(r, failure.delayMs));
      }
      return Response.json(
        {
          ok: false,
          error_code: failure.status,
          description: failure.description,
        },
        { status: failure.status },
      );
    }
    return Response.json({
      ok: true,
      result: await this.#answer(method, params),
    });
  }

  #answer(method: string, params: Record<string, unknown>): unknown {
    switch (method) {
      case "getMe":
        return FAKE_BOT;
      case "getUpdates":
        return this.#getUpdates(params);
      case "getWebhookInfo":
        return {
          url: this.webhookUrl,
          has_custom_certificate: false,
          pending_update_count: this.#queue.length,
        };
      case "setWebhook":
        this.webhookUrl = String(params.url);
        return true;
      case "deleteWebhook":
        this.webhookUrl = "";
        return true;
      case "sendMessage":
      case "sendDocument":
        return {
          message_id: this.calls.length,
          date: Math.floor(Date.now() / 1000),
          chat: {
            id: Number(params.chat_id),
            type: "private",
            first_name: "x",
          },
          ...(method === "sendMessage" ? { text: params.text } : {}),
        };
      case "getChatMember": {
        const status =
          this.members.get(`${params.chat_id}:${params.user_id}`) ?? "member";
        return {
          status,
          user: { id: Number(params.user_id), is_bot: false, first_name: "x" },
        };
      }
      default:
        return true;
    }
  }

  async #getUpdates(params: Record<string, unknown>): Promise<Update[]> {
    const offset = Number(params.offset ?? 0);
    if (offset > this.#confirmed) this.#confirmed = offset;
    this.#queue = this.#queue.filter((update) => update.update_id >= offset);
    const timeoutMs = Math.min(Number(params.timeout ?? 0), 30) * 1000;
    if (
      this.#queue.length === 0 && timeoutMs > 0 && !this.#closing.signal.aborted
    ) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#wake.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        this.#wake.add(done);
      });
    }
    const limit = Number(params.limit ?? 100);
    return this.#queue.slice(0, limit);
  }
}

async function readParams(request: Request): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type") ?? "";
  if (type.includes("application/json")) return await request.json();
  if (type.includes("multipart/form-data")) {
    const form = await request.formData();
    const params: Record<string, unknown> = {};
    for (const [key, value] of form) params[key] = value;
    return params;
  }
  await request.body?.cancel();
  return {};
}
