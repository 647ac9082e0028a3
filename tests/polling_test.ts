import assert from "node:assert/strict";
import { plugins } from "../plugins.ts";
import { CORE_PLUGINS } from "../src/bot/core_plugins.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { execDb, holdWriteLock, readDb, tempDir } from "./_db.ts";
import { startMain, TEST_TOKEN, TOKEN_SECRET } from "./_main_process.ts";
import {
  callback,
  channelPost,
  group,
  message,
  myChatMember,
  privateChat,
  supergroup,
  user,
} from "./_updates.ts";

Deno.test("the bot in polling mode registers exactly the documented fields and stops cleanly", async (t) => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  // The database file does not exist yet: the bot must create it.
  const dbPath = `${dir.path}/data/bot.db`;
  await Deno.mkdir(`${dir.path}/data`);
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${dbPath}`,
  });
  try {
    await bot.waitForLine(/running in polling mode/);
    const send = async (update: Parameters<FakeBotApi["push"]>[0]) => {
      await api.processed(api.push(update));
    };
    const alice = user(1001, {
      username: "alice",
      last_name: "Liddell",
      language_code: "en",
    });
    const bob = user(1002);
    const carol = user(1003);
    const dave = user(1004);

    await t.step(
      "the sender of a private message is registered, and the private chat is not a group",
      async () => {
        await send(message(alice, privateChat(alice)));
        const { users, groups } = await readDb(dbPath);
        assert.deepEqual(users.map((u) => u.id), [alice.id]);
        assert.deepEqual(users[0], {
          id: 1001,
          username: "alice",
          first_name: "User1001",
          last_name: "Liddell",
          language_code: "en",
          registered_at: users[0]!.registered_at,
          seen_on: null,
        });
        assert.ok(Math.abs(users[0]!.registered_at - Date.now() / 1000) < 60);
        assert.deepEqual(groups, []);
      },
    );

    await t.step(
      "replied-to, forwarded, mentioned and newly added people are not registered",
      async () => {
        await send(message(alice, group(-100, "Book club"), {
          reply_to_message: message(bob, group(-100)).message as never,
          forward_origin: { type: "user", sender_user: carol, date: 1 },
          entities: [{
            type: "text_mention",
            offset: 0,
            length: 5,
            user: dave,
          }],
        }));
        await send(message(alice, group(-100, "Book club"), {
          text: undefined,
          new_chat_members: [bob, carol],
        }));
        const { users, groups } = await readDb(dbPath);
        assert.deepEqual(users.map((u) => u.id), [alice.id]);
        assert.deepEqual(groups.map((g) => [g.id, g.title, g.type]), [[
          -100,
          "Book club",
          "group",
        ]]);
      },
    );

    await t.step("bots and channels are not registered", async () => {
      await send(
        message({ ...bob, is_bot: true }, supergroup(-1009, "Bots only")),
      );
      await send(channelPost(-1008));
      const { users, groups } = await readDb(dbPath);
      assert.deepEqual(users.map((u) => u.id), [alice.id]);
      assert.deepEqual(groups.map((g) => g.id), [-1009, -100]);
    });

    await t.step(
      "changed names update the record and keep registered_at",
      async () => {
        execDb(
          dbPath,
          "UPDATE users SET registered_at = 1000; UPDATE groups SET registered_at = 1000",
        );
        await send(message(
          {
            ...alice,
            username: "alice2",
            first_name: "Alice",
            last_name: undefined,
            language_code: "pt-br",
          },
          supergroup(-1009, "Bots and people", "bots_public"),
        ));
        const { users, groups } = await readDb(dbPath);
        assert.deepEqual(users, [{
          id: 1001,
          username: "alice2",
          first_name: "Alice",
          last_name: null,
          language_code: "pt-br",
          registered_at: 1000,
          seen_on: null,
        }]);
        assert.deepEqual(groups.find((g) => g.id === -1009), {
          id: -1009,
          username: "bots_public",
          title: "Bots and people",
          type: "supergroup",
          registered_at: 1000,
          seen_on: null,
        });
      },
    );

    await t.step(
      "a group upgraded to a supergroup moves, migrate_to first",
      async () => {
        await send(
          message(alice, group(-100, "Book club"), {
            text: undefined,
            migrate_to_chat_id: -1000100,
          }),
        );
        let groups = (await readDb(dbPath)).groups;
        assert.equal(groups.find((g) => g.id === -100), undefined);
        assert.deepEqual(groups.find((g) => g.id === -1000100), {
          id: -1000100,
          username: null,
          title: "Book club",
          type: "supergroup",
          registered_at: 1000,
          seen_on: null,
        });
        await send(
          message(alice, supergroup(-1000100, "Book club"), {
            text: undefined,
            migrate_from_chat_id: -100,
          }),
        );
        groups = (await readDb(dbPath)).groups;
        assert.deepEqual(
          groups.filter((g) => g.id === -100 || g.id === -1000100).map((
            g,
          ) => [g.id, g.registered_at]),
          [
            [-1000100, 1000],
          ],
        );
      },
    );

    await t.step(
      "a group upgraded to a supergroup moves, migrate_from first",
      async () => {
        await send(message(bob, group(-200, "Chess")));
        execDb(
          dbPath,
          "UPDATE groups SET registered_at = 2000 WHERE id = -200",
        );
        await send(
          message(bob, supergroup(-1000200, "Chess"), {
            text: undefined,
            migrate_from_chat_id: -200,
          }),
        );
        let groups = (await readDb(dbPath)).groups;
        assert.equal(groups.find((g) => g.id === -200), undefined);
        assert.equal(
          groups.find((g) => g.id === -1000200)?.registered_at,
          2000,
        );
        await send(
          message(bob, group(-200, "Chess"), {
            text: undefined,
            migrate_to_chat_id: -1000200,
          }),
        );
        groups = (await readDb(dbPath)).groups;
        assert.deepEqual(
          groups.filter((g) => g.id === -200 || g.id === -1000200).map((
            g,
          ) => [g.id, g.registered_at, g.type]),
          [
            [-1000200, 2000, "supergroup"],
          ],
        );
      },
    );

    await t.step(
      "the bot's removal from a group deletes the group, blocking in private erases the user",
      async () => {
        await send(
          myChatMember(
            alice,
            supergroup(-1009, "Bots and people", "bots_public"),
            "kicked",
          ),
        );
        await send(myChatMember(bob, supergroup(-1000200, "Chess"), "left"));
        await send(myChatMember(alice, privateChat(alice), "kicked"));
        const { users, groups } = await readDb(dbPath);
        assert.deepEqual(groups.map((g) => g.id), [-1000100]);
        assert.ok(!users.some((u) => u.id === alice.id));
      },
    );

    await t.step(
      "a user purged by another process is registered again by their next update",
      async () => {
        execDb(dbPath, `DELETE FROM users WHERE id = ${bob.id}`);
        // At once: no waiting for the bot to notice the outside change.
        await send(message(bob, privateChat(bob)));
        assert.ok((await readDb(dbPath)).users.some((u) => u.id === bob.id));
      },
    );

    await t.step(
      "setMyCommands was called at start, once per language",
      async () => {
        // They run in the background, a moment after serving began.
        for (let i = 0; i < 500; i++) {
          const answered = api.events.filter((event) =>
            event === "setMyCommands answered"
          );
          if (answered.length >= 2) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        // The calls run together, so they may arrive in either order.
        const calls = api.callsOf("setMyCommands").map((call) => ({
          language: call.params.language_code as string | undefined,
          commands: call.params.commands as {
            command: string;
            description: string;
          }[],
        })).sort((a, b) => (a.language ?? "").localeCompare(b.language ?? ""));
        assert.deepEqual(calls.map((call) => call.language), [undefined, "pt"]);
        // The project's three first, then the installed plugins' own.
        for (const call of calls) {
          assert.deepEqual(call.commands.map((c) => c.command), [
            "start",
            "help",
            "privacy",
            ...plugins.flatMap((plugin) =>
              CORE_PLUGINS.some((core) => core.name === plugin.name)
                ? []
                : (plugin.commands ?? []).map((c) => c.command)
            ),
          ]);
        }
        assert.equal(
          calls[0]!.commands[2]!.description,
          "See, export or delete your data",
        );
        assert.equal(
          calls[1]!.commands[2]!.description,
          "Ver, exportar ou apagar seus dados",
        );
      },
    );
  } finally {
    bot.kill("SIGTERM");
    const status = await bot.exit();
    await api.close();
    assert.equal(status.code, 0, bot.stderr);
    assert.ok(!bot.stderr.includes(TOKEN_SECRET), "the token leaked to stderr");
    assert.ok(!bot.stdout.includes(TOKEN_SECRET), "the token leaked to stdout");
  }
});

Deno.test("polling stops on SIGINT after finishing the update in hand", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
  });
  try {
    await bot.waitForLine(/running in polling mode/);
    // /start answers through sendMessage, which the fake makes slow.
    api.delays.set("sendMessage", 1500);
    const alice = user(2001);
    api.push(
      message(alice, privateChat(alice), {
        text: "/start",
        entities: [{ type: "bot_command", offset: 0, length: 6 }],
      }),
    );
    await api.waitForCall("sendMessage");
    bot.kill("SIGINT");
    const status = await bot.exit();
    api.note("bot exited");
    // The process waited for the slow reply instead of dropping it.
    assert.ok(
      api.events.indexOf("sendMessage answered") >= 0 &&
        api.events.indexOf("sendMessage answered") <
          api.events.indexOf("bot exited"),
      `the bot exited before the update in hand finished: ${api.events}`,
    );
    assert.equal(status.code, 0, bot.stderr);
    assert.match(bot.stderr, /stopping/);
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
  assert.deepEqual((await readDb(dbPath)).users.map((u) => u.id), [2001]);
});

// Another process (the CLI, a backup) holding SQLite's write lock, as
// `BEGIN IMMEDIATE` does, until `release`.

Deno.test("an update that cannot be stored is not confirmed, and is stored once the store works", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
  });
  let lock: { release(): void } | undefined;
  try {
    await bot.waitForLine(/running in polling mode/);
    const before = user(3001);
    await api.processed(api.push(message(before, privateChat(before))));
    lock = holdWriteLock(dbPath);
    const alice = user(3002);
    const id = api.push(message(alice, privateChat(alice)));
    await bot.waitForLine(/cannot store update \d+/);
    // Telegram has not been told: the next offset still asks for it.
    assert.ok(
      api.confirmedOffset <= id,
      `update ${id} was confirmed (offset ${api.confirmedOffset})`,
    );
    lock.release();
    lock = undefined;
    await api.processed(id);
    assert.deepEqual(
      (await readDb(dbPath)).users.map((u) => u.id),
      [3001, 3002],
    );
    await bot.waitForLine(/the store works again/);
    // One line for the outage and one for its end, not one per try.
    assert.equal(
      bot.lines.filter((line) => /cannot store/.test(line)).length,
      1,
      bot.stderr,
    );
  } finally {
    lock?.release();
    bot.kill("SIGTERM");
    const status = await bot.exit();
    await api.close();
    assert.equal(status.code, 0, bot.stderr);
  }
});

Deno.test("SIGTERM while an update waits for the store exits 0 without confirming it, and the next start stores it", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  const env = {
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
  };
  let lock: { release(): void } | undefined;
  const alice = user(3101);
  let id: number;
  const first = await startMain(env);
  try {
    await first.waitForLine(/running in polling mode/);
    lock = holdWriteLock(dbPath);
    id = api.push(message(alice, privateChat(alice)));
    await first.waitForLine(/cannot store update \d+/);
    first.kill("SIGTERM");
    assert.equal((await first.exit()).code, 0, first.stderr);
  } finally {
    lock?.release();
    first.kill("SIGKILL");
    await first.exit();
  }
  try {
    // No call, not even one on the way out, moved the offset past it.
    assert.ok(
      api.callsOf("getUpdates").every((call) =>
        Number(call.params.offset ?? 0) <= id
      ),
      `update ${id} was confirmed: ${
        api.callsOf("getUpdates").map((call) => call.params.offset)
      }`,
    );
    assert.deepEqual((await readDb(dbPath)).users, []);
    const second = await startMain(env);
    try {
      await api.processed(id);
      assert.deepEqual(
        (await readDb(dbPath)).users.map((u) => u.id),
        [alice.id],
      );
    } finally {
      second.kill("SIGTERM");
      assert.equal((await second.exit()).code, 0, second.stderr);
    }
  } finally {
    await api.close();
  }
});

Deno.test("a malformed update in polling is logged once, skipped and confirmed, and the next one is handled", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
  });
  try {
    await bot.waitForLine(/running in polling mode/);
    const mallory = user(4001);
    const bad = message(mallory, privateChat(mallory));
    // An id that is not a number: nothing of it may be stored.
    (bad.message as unknown as { from: { id: unknown } }).from.id = "4001";
    const badId = api.push(bad);
    const alice = user(4002);
    const goodId = api.push(message(alice, privateChat(alice)));
    await api.processed(goodId);
    assert.ok(api.confirmedOffset > badId);
    assert.deepEqual((await readDb(dbPath)).users.map((u) => u.id), [4002]);
    assert.equal(
      bot.lines.filter((line) =>
        line.startsWith(`warning: skipping update ${badId}`)
      ).length,
      1,
      bot.stderr,
    );
  } finally {
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    await api.close();
  }
});

const PRODUCTION_WEBHOOK = "https://bot.example.org/hook/production";

Deno.test("with BOT_MODE=polling a webhook left set is removed once, named in the log, keeping waiting updates", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  api.webhookUrl = PRODUCTION_WEBHOOK;
  const alice = user(4101);
  const id = api.push(message(alice, privateChat(alice)));
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "polling",
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
  });
  try {
    await api.processed(id);
    assert.deepEqual((await readDb(dbPath)).users.map((u) => u.id), [4101]);
    const removals = api.callsOf("deleteWebhook");
    assert.equal(removals.length, 1);
    assert.equal(removals[0]!.params.drop_pending_updates, false);
    assert.equal(api.webhookUrl, "");
    const lines = bot.lines.filter((line) => /webhook/.test(line));
    assert.deepEqual(lines, [
      `warning: a webhook is set for this bot at ${PRODUCTION_WEBHOOK}; BOT_MODE=polling, so removing it to poll (waiting updates are kept)`,
    ]);
  } finally {
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    await api.close();
  }
  assert.ok(!bot.stderr.includes(TOKEN_SECRET));
});

Deno.test("without BOT_MODE a webhook set at Telegram is left alone: exit 2 naming its URL and what to set", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  api.webhookUrl = PRODUCTION_WEBHOOK;
  const alice = user(4102);
  api.push(message(alice, privateChat(alice)));
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
  });
  try {
    // Today's fault would remove the webhook and poll on, never exiting.
    const outcome = await Promise.race([
      bot.exit().then((status) => `exit ${status.code}`),
      api.waitForCall("deleteWebhook", 20_000).then(
        () => "deleteWebhook called",
        () => "neither",
      ),
    ]);
    assert.equal(outcome, "exit 2", bot.stderr);
    const errors = bot.lines.filter((line) => line.startsWith("error:"));
    assert.equal(errors.length, 1, bot.stderr);
    assert.ok(errors[0]!.includes(PRODUCTION_WEBHOOK), errors[0]);
    assert.match(errors[0]!, /set BOT_MODE=polling to remove it/);
    assert.match(errors[0]!, /WEBHOOK_URL .*BOT_MODE=webhook to serve it/);
    assert.deepEqual(api.callsOf("deleteWebhook"), []);
    assert.equal(api.webhookUrl, PRODUCTION_WEBHOOK);
    assert.deepEqual((await readDb(dbPath)).users, []);
    assert.ok(!bot.stderr.includes(TOKEN_SECRET));
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
});

Deno.test("getUpdates refusing the token stops polling with exit 6 and one error line", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  api.failures.set("getUpdates", { status: 401, description: "Unauthorized" });
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `${dir.path}/bot.db`,
  });
  try {
    assert.equal((await bot.exit()).code, 6, bot.stderr);
    const errors = bot.lines.filter((line) => line.startsWith("error:"));
    assert.deepEqual(errors, [
      "error: Telegram refused BOT_TOKEN (Telegram answered 401: Unauthorized): check the token from @BotFather",
    ]);
    assert.ok(!bot.stderr.includes(TOKEN_SECRET));
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
});

Deno.test("a message after a delete press in the same getUpdates batch registers its sender again", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
  });
  try {
    await bot.waitForLine(/running in polling mode/);
    const alice = user(4201);
    await api.processed(api.push(message(alice, privateChat(alice))));
    // Pushed in one turn, so one getUpdates answer carries both: the press
    // that erases Alice, then a message she sent after it (dated later).
    api.push(
      callback(alice, privateChat(alice), `prv:y:u:${alice.id}:${alice.id}`),
    );
    const later = api.push(message(alice, privateChat(alice), {
      date: Math.floor(Date.now() / 1000) + 5,
    }));
    await api.processed(later);
    assert.ok(
      api.callsOf("answerCallbackQuery").length === 1,
      "the press was not handled",
    );
    assert.deepEqual((await readDb(dbPath)).users.map((u) => u.id), [4201]);
  } finally {
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    await api.close();
  }
});
