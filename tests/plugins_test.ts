import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { Chat, Update, User } from "grammy/types";
import { type ApiCall, FakeBotApi } from "./_fake_bot_api.ts";
import { type RunningProgram, startMain, TEST_TOKEN } from "./_main_process.ts";
import { SentryIngest } from "./_sentry_ingest.ts";
import { group, message, privateChat, user, withId } from "./_updates.ts";
import { startWebhookBot } from "./_webhook_bot.ts";
import { holdWriteLock, tempDir } from "./_db.ts";

const PLUGINS_MAIN = "tests/_plugins_main.ts";

// A message with one command at its start, as Telegram marks it.
function command(
  from: User,
  chat: Chat,
  text: string,
): Omit<Update, "update_id"> {
  const length = text.split(" ")[0]!.length;
  return message(from, chat, {
    text,
    entities: [{ type: "bot_command", offset: 0, length }],
  });
}

function inlineQuery(from: User, query: string): Omit<Update, "update_id"> {
  return {
    inline_query: { id: `q${from.id}`, from, query, offset: "" },
  } as Omit<Update, "update_id">;
}

// Rows read straight from the file, as stored (encrypted columns encrypted).
function rawRows(path: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

async function until<T>(
  what: string,
  probe: () => T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function repliesTo(api: FakeBotApi, chatId: number): string[] {
  return api.callsOf("sendMessage").filter((call) =>
    call.params.chat_id === chatId
  ).map((call) => String(call.params.text));
}

function menus(api: FakeBotApi): Map<string, ApiCall["params"]> {
  return new Map(
    api.callsOf("setMyCommands").map((call) => [
      String(call.params.language_code ?? "default"),
      call.params,
    ]),
  );
}

// Runs `body` with the bot polling a fake Bot API on a new SQLite file
// (with the test plugins when `script` is PLUGINS_MAIN), then stops it and
// checks it exited 0.
async function withPollingBot(
  options: { script?: string; env?: Record<string, string> },
  body: (bot: RunningProgram, api: FakeBotApi, path: string) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: path,
    ...options.env,
  }, { script: options.script });
  try {
    await bot.waitForLine(/polling mode/);
    await body(bot, api, path);
  } finally {
    bot.kill("SIGTERM");
    const status = await bot.exit();
    await api.close();
    assert.equal(status.code, 0, bot.stderr);
  }
}

Deno.test("with the notes plugin installed, its command and an inline query reach it, the menus list its commands in every locale, and its notes are stored encrypted", async () => {
  await withPollingBot({ script: PLUGINS_MAIN }, async (_bot, api, path) => {
    const ana = user(4001, { language_code: "pt-br" });
    await api.processed(
      api.push(command(ana, privateChat(ana), "/note comprar leite")),
    );
    assert.deepEqual(repliesTo(api, 4001), [
      "Anotado. /notes lista suas notas.",
    ]);
    const allowed = api.callsOf("getUpdates")[0]!.params.allowed_updates;
    assert.ok(
      (allowed as string[]).includes("inline_query"),
      `allowed_updates: ${allowed}`,
    );

    await api.processed(api.push(inlineQuery(ana, "leite")));
    const answer = api.callsOf("answerInlineQuery")[0]!.params;
    const results = answer.results as {
      input_message_content: { message_text: string };
    }[];
    assert.deepEqual(
      results.map((result) => result.input_message_content.message_text),
      ["comprar leite"],
    );
    assert.equal(answer.is_personal, true);

    await api.processed(
      api.push(command(ana, group(-4500, "Notes"), "/note hello all")),
    );
    await api.processed(api.push(command(ana, privateChat(ana), "/notes")));
    assert.match(repliesTo(api, 4001).at(-1)!, /comprar leite/);

    const entries = rawRows(path, "SELECT * FROM notes_entries");
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.user_id, 4001);
    const shared = rawRows(path, "SELECT * FROM notes_shared");
    assert.deepEqual(
      shared.map((row) => [row.chat_id, row.user_id]),
      [[-4500, 4001]],
    );
    for (const row of [...entries, ...shared]) {
      assert.ok(
        !/leite|hello/.test(String(row.text)),
        `a note is stored in plaintext: ${row.text}`,
      );
    }

    // The menus are set a moment after start, once per locale.
    const set = await until("both menus", () => {
      const found = menus(api);
      return found.size >= 2 ? found : undefined;
    });
    const commandsIn = (
      key: string,
    ) => (set.get(key)!.commands as { command: string; description: string }[]);
    assert.deepEqual(commandsIn("default").map((c) => c.command), [
      "start",
      "help",
      "privacy",
      "note",
      "notes",
    ]);
    assert.equal(
      commandsIn("default").find((c) => c.command === "note")!.description,
      "Keep a note (in a group: share one)",
    );
    assert.equal(
      commandsIn("pt").find((c) => c.command === "notes")!.description,
      "Listar suas notas",
    );
  });
});

Deno.test("without the notes plugin Telegram is asked for no inline queries and the menus have only the project's commands", async () => {
  // The project's own plugins only, whatever plugins.ts installs.
  await withPollingBot({
    script: PLUGINS_MAIN,
    env: { TEST_BASE: "core", TEST_PLUGINS: "" },
  }, async (_bot, api) => {
    const call = await api.waitForCall("getUpdates");
    assert.deepEqual(call.params.allowed_updates, [
      "message",
      "edited_message",
      "callback_query",
      "my_chat_member",
    ]);
    const menu = await api.waitForCall("setMyCommands");
    assert.deepEqual(
      (menu.params.commands as { command: string }[]).map((c) => c.command),
      ["start", "help", "privacy"],
    );
  });
});

Deno.test("a plugin that throws is reported to Sentry with its name, and registration and the next plugin still run", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const ingest = new SentryIngest();
  const hook = await startWebhookBot(path, {
    script: PLUGINS_MAIN,
    env: { TEST_PLUGINS: "broken,notes", SENTRY_DSN: ingest.dsn },
  });
  try {
    const bea = user(4201);
    const update = withId(
      command(bea, privateChat(bea), "/note after the failure"),
      42,
    );
    assert.equal(await hook.post(update), 200);
    assert.deepEqual(repliesTo(hook.api, 4201), [
      "Noted. /notes lists your notes.",
    ]);
    assert.deepEqual(
      rawRows(path, "SELECT id FROM users").map((row) => row.id),
      [4201],
    );
    assert.equal(rawRows(path, "SELECT * FROM notes_entries").length, 1);
    assert.match(
      hook.bot.stderr,
      /handling update 42 failed in plugin "broken"/,
    );
    const event = await ingest.firstEvent();
    assert.equal(event.tags?.plugin, "broken");
    assert.equal(
      event.exception?.values?.[0]?.value,
      "the broken plugin fails on purpose",
    );
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  } finally {
    hook.bot.kill("SIGKILL");
    await hook.bot.exit();
    await hook.api.close();
    await ingest.close();
  }
});

Deno.test("a webhook update whose note cannot be stored is answered 500 and stored when Telegram sends it again", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const hook = await startWebhookBot(path, { script: PLUGINS_MAIN });
  try {
    const cy = user(4301);
    // Registered first: the note's update then writes only the note.
    assert.equal(
      await hook.post(withId(message(cy, privateChat(cy)), 1)),
      200,
    );
    const update = withId(command(cy, privateChat(cy), "/note kept"), 2);
    const lock = holdWriteLock(path);
    try {
      assert.equal(await hook.post(update), 500);
    } finally {
      lock.release();
    }
    assert.equal(rawRows(path, "SELECT * FROM notes_entries").length, 0);
    assert.equal(await hook.post(update), 200);
    assert.equal(rawRows(path, "SELECT * FROM notes_entries").length, 1);
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  } finally {
    hook.bot.kill("SIGKILL");
    await hook.bot.exit();
    await hook.api.close();
  }
});

Deno.test("in polling an update whose note cannot be stored is not confirmed, and is stored once the store works", async () => {
  await withPollingBot({ script: PLUGINS_MAIN }, async (bot, api, path) => {
    let lock: { release(): void } | undefined = undefined;
    try {
      const dee = user(4401);
      await api.processed(api.push(message(dee, privateChat(dee))));
      lock = holdWriteLock(path);
      const id = api.push(command(dee, privateChat(dee), "/note kept"));
      await bot.waitForLine(/cannot store what update \d+ made/);
      assert.ok(
        api.confirmedOffset <= id,
        `update ${id} was confirmed (offset ${api.confirmedOffset})`,
      );
      lock.release();
      lock = undefined;
      await api.processed(id);
      assert.equal(rawRows(path, "SELECT * FROM notes_entries").length, 1);
      await bot.waitForLine(/the store works again/);
    } finally {
      lock?.release();
    }
  });
});
