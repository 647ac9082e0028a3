import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { readDb, tempDir } from "./_db.ts";
import {
  type RunningProgram,
  startMain,
  TEST_TOKEN,
  TOKEN_SECRET,
} from "./_main_process.ts";
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

Deno.test("the webhook answers every request as SPEC 4 says", async (t) => {
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
      "a body over 1 MiB is 413, with or without Content-Length",
      async () => {
        const big = JSON.stringify({
          update_id: 1,
          pad: "x".repeat(1024 * 1024),
        });
        assert.equal(await status(post(hook, big)), 413);
        const chunks = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < 20; i++) {
              controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
            }
            controller.close();
          },
        });
        assert.equal(await status(post(hook, chunks)), 413);
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
  } finally {
    const result = await stop(bot, api);
    assert.equal(result.code, 0, bot.stderr);
    assert.ok(!bot.stderr.includes(TOKEN_SECRET), "the token leaked to stderr");
    assert.ok(
      !bot.stderr.includes(SECRET),
      "the webhook secret leaked to stderr",
    );
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
    assert.match(bot.stderr, /warning: setMyCommands \(en\) failed/);
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
  } finally {
    assert.equal((await stop(bot, api)).code, 0, bot.stderr);
  }
});
