import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Bot } from "grammy";
import type { Update, UserFromGetMe } from "grammy/types";
import { FAKE_BOT, FakeBotApi } from "./_fake_bot_api.ts";
import { execDb, openTestStore, readDb, tempDir } from "./_db.ts";
import {
  runCliProcess,
  type RunningProgram,
  startMain,
  TEST_TOKEN,
  TOKEN_SECRET,
} from "./_main_process.ts";
import { WrongKeyError } from "../src/crypto/field_cipher.ts";
import { createLogger } from "../src/base/log.ts";
import { createReporter } from "../src/runtime/reporter.ts";
import { StoreError } from "../src/store/store.ts";
import { createWebhookHandler } from "../src/runtime/webhook.ts";
import { group, message, privateChat, user, withId } from "./_updates.ts";

const SECRET = "webhook_Secret-123";

async function startWebhookBot(
  api: FakeBotApi,
  dbPath: string,
  extra: Record<string, string> = {},
) {
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${dbPath}`,
    WEBHOOK_URL: "https://bot.example.org/tg/hook",
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
    ...extra,
  });
  const [, port] = await bot.waitForLine(/webhook mode on port (\d+)/);
  return { bot, base: `http://127.0.0.1:${port}` };
}

function post(
  url: string,
  body: BodyInit,
  secret: string | null = SECRET,
): Promise<Response> {
  const headers = new Headers({ "content-type": "application/json" });
  if (secret !== null) {
    headers.set("X-Telegram-Bot-Api-Secret-Token", secret);
  }
  return fetch(url, { method: "POST", body, headers });
}

async function status(response: Promise<Response>): Promise<number> {
  const res = await response;
  await res.body?.cancel();
  return res.status;
}

const startCommand = {
  text: "/start",
  entities: [{ type: "bot_command" as const, offset: 0, length: 6 }],
};

async function stop(
  bot: RunningProgram,
  api: FakeBotApi,
): Promise<Deno.CommandStatus> {
  bot.kill("SIGTERM");
  const result = await bot.exit();
  await api.close();
  return result;
}

// Ends the process and the fake Bot API whatever state they are in.
async function kill(bot: RunningProgram, api: FakeBotApi): Promise<void> {
  bot.kill("SIGKILL");
  await bot.exit();
  await api.close();
}

// An update of exactly `size` bytes of JSON, padded with a field the bot
// never reads.
function updateOfSize(
  size: number,
  update: Update,
): Uint8Array<ArrayBuffer> {
  const base = JSON.stringify({ ...update, pad: "" });
  const pad = size - new TextEncoder().encode(base).byteLength;
  return new TextEncoder().encode(
    base.replace('"pad":""', `"pad":"${"x".repeat(pad)}"`),
  );
}

// A private message from user `from`, as update `id`.
function fromUser(from: number, id: number): Update {
  return withId(message(user(from), privateChat(user(from))), id);
}

// The same bytes as a stream: fetch sends it chunked, without Content-Length.
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (let at = 0; at < bytes.byteLength; at += 64 * 1024) {
        controller.enqueue(bytes.slice(at, at + 64 * 1024));
      }
      controller.close();
    },
  });
}

// Sends raw bytes on a fresh connection, closes the sending side, and
// returns the status line of the answer ("" when the server just closed).
async function rawRequest(base: string, request: string): Promise<string> {
  const { hostname, port } = new URL(base);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(new TextEncoder().encode(request));
    await conn.closeWrite();
    let answer = "";
    const buffer = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      answer += new TextDecoder().decode(buffer.subarray(0, n));
      if (answer.includes("\r\n")) break;
    }
    return answer.split("\r\n")[0]!;
  } finally {
    conn.close();
  }
}

Deno.test("the webhook answers every kind of request as documented", async (t) => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  const { bot, base } = await startWebhookBot(api, dbPath);
  const hook = `${base}/tg/hook`;
  let nextId = 1;
  const alice = user(5001);
  try {
    await t.step(
      "setWebhook is called with the URL, the secret and my_chat_member",
      async () => {
        const call = await api.waitForCall("setWebhook");
        assert.equal(call.params.url, "https://bot.example.org/tg/hook");
        assert.equal(call.params.secret_token, SECRET);
        assert.ok(
          (call.params.allowed_updates as string[]).includes("my_chat_member"),
        );
      },
    );

    await t.step(
      "GET /healthz answers 200 with JSON while the store answers",
      async () => {
        const res = await fetch(`${base}/healthz`);
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { ok: true });
      },
    );

    await t.step("other routes and methods are 404", async () => {
      assert.equal(await status(fetch(`${base}/nope`)), 404);
      assert.equal(await status(fetch(hook)), 404);
      const update = JSON.stringify(
        withId(message(alice, privateChat(alice)), nextId++),
      );
      assert.equal(await status(post(`${base}/webhook`, update)), 404);
      assert.deepEqual((await readDb(dbPath)).users, []);
    });

    await t.step(
      "a request without the right secret is 401 and nothing is processed",
      async () => {
        const update = JSON.stringify(
          withId(message(alice, group(-51, "G")), nextId++),
        );
        assert.equal(await status(post(hook, update, null)), 401);
        assert.equal(await status(post(hook, update, "wrong")), 401);
        assert.equal(await status(post(hook, update, SECRET + "x")), 401);
        assert.deepEqual(await readDb(dbPath), { users: [], groups: [] });
      },
    );

    await t.step("malformed JSON and non-updates are 400", async () => {
      assert.equal(await status(post(hook, "{not json")), 400);
      assert.equal(await status(post(hook, "[1,2]")), 400);
      assert.equal(await status(post(hook, '{"message":{}}')), 400);
      assert.equal(
        await status(post(hook, new Uint8Array([0xff, 0xfe, 0x7b]))),
        400,
      );
    });

    await t.step(
      "a body of exactly 1 MiB is taken and 1 MiB + 1 is 413, with or without Content-Length",
      async () => {
        const MiB = 1024 * 1024;
        const exact = updateOfSize(MiB, fromUser(5101, nextId++));
        assert.equal(exact.byteLength, MiB);
        assert.equal(await status(post(hook, exact)), 200);
        const streamed = updateOfSize(MiB, fromUser(5102, nextId++));
        assert.equal(await status(post(hook, streamOf(streamed))), 200);
        const over = updateOfSize(MiB + 1, fromUser(5103, nextId++));
        assert.equal(over.byteLength, MiB + 1);
        assert.equal(await status(post(hook, over)), 413);
        const overStreamed = updateOfSize(MiB + 1, fromUser(5104, nextId++));
        assert.equal(await status(post(hook, streamOf(overStreamed))), 413);
        const ids = (await readDb(dbPath)).users.map((u) => u.id);
        assert.deepEqual(ids, [5101, 5102]);
        execDb(dbPath, "DELETE FROM users");
      },
    );

    await t.step(
      "a well-formed JSON update with a field of the wrong kind is 400 and stores nothing",
      async () => {
        const good = withId(message(user(5201), group(-5201, "G")), nextId++);
        const bad: unknown[] = [
          // 2^53 cannot be told apart from 2^53 + 1 once parsed.
          '{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":5202,"type":"private"},"from":{"id":9007199254740993,"is_bot":false,"first_name":"A"}}}',
          '{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":-0,"type":"group","title":"G"},"from":{"id":5203,"is_bot":false,"first_name":"A"}}}',
          '{"update_id":-0}',
          '{"update_id":1.5}',
          JSON.stringify({
            ...good,
            message: { ...good.message, from: { id: "5201" } },
          }),
          JSON.stringify({
            ...good,
            message: {
              ...good.message,
              from: { ...good.message!.from, first_name: 5 },
            },
          }),
          JSON.stringify({
            ...good,
            message: {
              ...good.message,
              chat: { id: -5201, type: "guild", title: "G" },
            },
          }),
          JSON.stringify({
            ...good,
            message: { ...good.message, entities: { type: "bot_command" } },
          }),
          JSON.stringify({
            update_id: 1,
            callback_query: {
              id: "1",
              from: user(5201),
              data: ["prv:x"],
              chat_instance: "1",
            },
          }),
        ];
        for (const body of bad) {
          const res = await post(hook, body as string);
          assert.equal(res.status, 400, body as string);
          assert.match(await res.text(), /^Bad request: /);
        }
        assert.deepEqual(await readDb(dbPath), { users: [], groups: [] });
      },
    );

    await t.step(
      "a body that ends before its Content-Length is 400 and stores nothing",
      async () => {
        const body = JSON.stringify(
          withId(message(user(5301), privateChat(user(5301))), nextId++),
        );
        const half = body.slice(0, body.length / 2);
        const answer = await rawRequest(
          base,
          `POST /tg/hook HTTP/1.1\r\nHost: bot\r\nX-Telegram-Bot-Api-Secret-Token: ${SECRET}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${half}`,
        );
        assert.equal(answer, "HTTP/1.1 400 Bad Request");
        assert.deepEqual(await readDb(dbPath), { users: [], groups: [] });
      },
    );

    await t.step(
      "a valid update is stored before the 200 arrives",
      async () => {
        const update = JSON.stringify(
          withId(message(alice, group(-51, "Garden")), nextId++),
        );
        assert.equal(await status(post(hook, update)), 200);
        const { users, groups } = await readDb(dbPath);
        assert.deepEqual(users.map((u) => u.id), [5001]);
        assert.deepEqual(groups.map((g) => g.title), ["Garden"]);
      },
    );

    await t.step(
      "an error in a handler is answered 200 and the next update is served",
      async () => {
        api.failures.set("sendMessage", {
          status: 400,
          description: "Bad Request: chat not found",
        });
        const first = withId(
          message(user(5002), privateChat(user(5002)), startCommand),
          nextId++,
        );
        assert.equal(await status(post(hook, JSON.stringify(first))), 200);
        api.failures.delete("sendMessage");
        const second = withId(
          message(user(5003), privateChat(user(5003)), startCommand),
          nextId++,
        );
        assert.equal(await status(post(hook, JSON.stringify(second))), 200);
        assert.equal(api.callsOf("sendMessage").length, 2);
        assert.deepEqual((await readDb(dbPath)).users.map((u) => u.id), [
          5001,
          5002,
          5003,
        ]);
        assert.match(bot.stderr, /handling update \d+ failed/);
      },
    );

    await t.step(
      "a registration that cannot be written is 500, so Telegram sends it again",
      async () => {
        // Another connection holds the write lock past the bot's busy timeout.
        const blocker = new DatabaseSync(dbPath);
        blocker.exec("BEGIN IMMEDIATE");
        const update = JSON.stringify(
          withId(message(user(5004), privateChat(user(5004))), nextId++),
        );
        try {
          assert.equal(await status(post(hook, update)), 500);
        } finally {
          blocker.exec("ROLLBACK");
          blocker.close();
        }
        assert.equal(
          (await readDb(dbPath)).users.some((u) => u.id === 5004),
          false,
        );
        assert.equal(await status(post(hook, update)), 200);
        assert.equal(
          (await readDb(dbPath)).users.some((u) => u.id === 5004),
          true,
        );
      },
    );
    const result = await stop(bot, api);
    assert.equal(result.code, 0, bot.stderr);
    assert.ok(!bot.stderr.includes(TOKEN_SECRET), "the token leaked to stderr");
    assert.ok(
      !bot.stderr.includes(SECRET),
      "the webhook secret leaked to stderr",
    );
  } finally {
    // Cleanup only: an assertion here would replace the error that got us
    // here with a less telling one.
    await kill(bot, api);
  }
});

Deno.test("SIGTERM in webhook mode lets the request in hand finish, then exits 0", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const { bot, base } = await startWebhookBot(api, `${dir.path}/bot.db`);
  try {
    api.delays.set("sendMessage", 1000);
    const alice = user(6001);
    const response = post(
      `${base}/tg/hook`,
      JSON.stringify(
        withId(message(alice, privateChat(alice), startCommand), 1),
      ),
    );
    await api.waitForCall("sendMessage");
    bot.kill("SIGTERM");
    assert.equal(await status(response), 200);
    assert.equal((await bot.exit()).code, 0, bot.stderr);
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
});

Deno.test("WEBHOOK_URL and WEBHOOK_SECRET without BOT_MODE serve the webhook, never polling or removing it", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const url = "https://bot.example.org/tg/hook";
  api.webhookUrl = url;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${dir.path}/bot.db`,
    WEBHOOK_URL: url,
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
  });
  try {
    const [, port] = await bot.waitForLine(/webhook mode on port (\d+)/);
    const alice = user(7101);
    assert.equal(
      await status(
        post(
          `http://127.0.0.1:${port}/tg/hook`,
          JSON.stringify(withId(message(alice, privateChat(alice)), 1)),
        ),
      ),
      200,
    );
    const set = await api.waitForCall("setWebhook");
    assert.equal(set.params.url, url);
    assert.deepEqual(
      (await readDb(`${dir.path}/bot.db`)).users.map((u) => u.id),
      [7101],
    );
    assert.equal((await stop(bot, api)).code, 0, bot.stderr);
    assert.deepEqual(api.callsOf("getUpdates"), []);
    assert.deepEqual(api.callsOf("deleteWebhook"), []);
    assert.equal(api.webhookUrl, url);
  } finally {
    await kill(bot, api);
  }
});

Deno.test("a failing setWebhook or setMyCommands is a warning and the bot still serves", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  api.failures.set("setWebhook", {
    status: 404,
    description: "Not Found: method not found",
  });
  api.failures.set("setMyCommands", {
    status: 500,
    description: "Internal Server Error",
  });
  const { bot, base } = await startWebhookBot(api, `${dir.path}/bot.db`);
  try {
    await bot.waitForLine(/warning: setMyCommands \(en\) failed/);
    await bot.waitForLine(/warning: setWebhook failed/);
    const alice = user(7001);
    assert.equal(
      await status(
        post(
          `${base}/tg/hook`,
          JSON.stringify(withId(message(alice, privateChat(alice)), 1)),
        ),
      ),
      200,
    );
    assert.equal((await stop(bot, api)).code, 0, bot.stderr);
  } finally {
    await kill(bot, api);
  }
});

Deno.test("/healthz is 503 while a registration could not be written, and 200 once it can", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  const { bot, base } = await startWebhookBot(api, dbPath);
  const health = async () => {
    const res = await fetch(`${base}/healthz`);
    return { status: res.status, body: await res.json() };
  };
  const failing = {
    status: 503,
    body: { ok: false, error: "store not writable" },
  };
  try {
    assert.deepEqual(await health(), { status: 200, body: { ok: true } });

    // Another process holds the write lock: reads still work, writes do not.
    const blocker = new DatabaseSync(dbPath);
    blocker.exec("BEGIN IMMEDIATE");
    try {
      assert.deepEqual(await health(), failing);
      assert.deepEqual(await health(), failing);
    } finally {
      blocker.exec("ROLLBACK");
      blocker.close();
    }
    assert.deepEqual(await health(), { status: 200, body: { ok: true } });
    // One line when the outage starts and one when it ends, not one a probe.
    const healthLines = () =>
      bot.lines.filter((line) => line.includes("/healthz: "));
    assert.deepEqual(healthLines().map((line) => line.split(":")[0]), [
      "warning",
      "info",
    ]);
    assert.match(healthLines()[0]!, /the store cannot take writes now: /);

    // The data was re-encrypted under a key this running bot does not have.
    const rotated = await runCliProcess(
      ["--database", dbPath, "rotate-key"],
      { NEW_DATA_ENCRYPTION_KEY: NEW_KEY },
    );
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.deepEqual(await health(), failing);

    assert.equal((await stop(bot, api)).code, 0, bot.stderr);
  } finally {
    await kill(bot, api);
  }
});

// A data key other than the one the test processes get.
const NEW_KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));

// The webhook handler in this process, in front of a real grammY bot whose
// only middleware is `middleware`, and a real store and reporter.
async function inProcess(
  dir: string,
  middleware: () => void,
): Promise<{
  handle: (request: Request) => Promise<Response>;
  log: string[];
  store: { close(): Promise<void> };
}> {
  const store = await openTestStore(`${dir}/bot.db`);
  const log: string[] = [];
  const logger = createLogger((text) => text, (line) => log.push(line));
  const bot = new Bot(TEST_TOKEN, { botInfo: FAKE_BOT as UserFromGetMe });
  bot.use(middleware);
  const handle = createWebhookHandler(bot, {
    path: "/webhook",
    secret: SECRET,
    store,
    reporter: createReporter(undefined, { log: logger, redact: (t) => t }),
    log: logger,
    bodyTimeoutMs: 50,
  });
  return { handle, log, store };
}

function request(body: BodyInit): Request {
  return new Request("http://127.0.0.1/webhook", {
    method: "POST",
    body,
    headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
  });
}

// The handler's answer, or a failure if it never comes: a handler that
// hangs must fail the test, not stall the suite.
async function answerOf(
  response: Promise<Response>,
): Promise<{ status: number; text: string }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const never = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("The handler never answered")),
      10_000,
    );
  });
  try {
    const res = await Promise.race([response, never]);
    return { status: res.status, text: await res.text() };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a body that stalls is 408 and one that breaks off is 400, and neither reaches the bot", async () => {
  await using dir = await tempDir();
  let handled = 0;
  const { handle, store } = await inProcess(dir.path, () => {
    handled++;
  });
  try {
    let cancelled!: () => void;
    const wasCancelled = new Promise<void>((resolve) => cancelled = resolve);
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"update_id":'));
      },
      cancel() {
        cancelled();
      },
    });
    assert.deepEqual(await answerOf(handle(request(stalled))), {
      status: 408,
      text: "Request timeout: the body did not arrive in time",
    });
    await wasCancelled;

    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"update_id":1,'));
        controller.error(new Error("Connection reset by peer"));
      },
    });
    assert.deepEqual(await answerOf(handle(request(broken))), {
      status: 400,
      text: "Bad request: the body ended early",
    });
    assert.equal(handled, 0);
  } finally {
    await store.close();
  }
});

Deno.test("only a store failure is 5xx; any other error in handling is reported and 200", async () => {
  await using dir = await tempDir();
  let failure: Error = new TypeError("Cannot read properties of undefined");
  const { handle, log, store } = await inProcess(dir.path, () => {
    throw failure;
  });
  const update = JSON.stringify(withId(message(user(8001), group(-81)), 1));
  try {
    assert.deepEqual(await answerOf(handle(request(update))), {
      status: 200,
      text: "OK",
    });
    assert.match(
      log.join("\n"),
      /handling update 1 failed: TypeError: Cannot read/,
    );
    failure = new StoreError("SQLite failed: database or disk is full");
    assert.equal((await answerOf(handle(request(update)))).status, 500);
    failure = new WrongKeyError("The data was encrypted with another key");
    assert.equal((await answerOf(handle(request(update)))).status, 500);
  } finally {
    await store.close();
  }
});
