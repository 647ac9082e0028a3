import assert from "node:assert/strict";
import { readDb } from "./_db.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { startMain, TEST_TOKEN } from "./_main_process.ts";
import { startWebhookBot, type WebhookBot } from "./_webhook_bot.ts";
import { message, privateChat, user, withId } from "./_updates.ts";
import { sh } from "./_sh.ts";

/** A place whose file system can be made full, and emptied again. */
interface FullDisk {
  dir: string;
  /** Cause of the failure as SQLite words it. */
  cause: RegExp;
  /** Shell commands to start the bot with (see `startWebhookBot`). */
  shell?: string;
  fill(bot?: WebhookBot): Promise<void>;
  free(bot?: WebhookBot): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// A small tmpfs of its own, so that "disk full" is real and harms nothing.
// Mounting needs root; elsewhere the bot's file size limit stands in for a
// full disk (SQLite then says "disk I/O error" or "disk is full").
async function fullDisk(): Promise<FullDisk> {
  const dir = await Deno.makeTempDir({ prefix: "privacy_bot_full_" });
  const mounted = await sh(
    `mount -t tmpfs -o size=2m,mode=0700 tmpfs '${dir}'`,
  );
  const filler = `${dir}/filler`;
  if (mounted.ok) {
    return {
      dir,
      cause: /disk is full/,
      fill: () => fill(filler),
      free: () => Deno.remove(filler),
      async [Symbol.asyncDispose]() {
        await sh(`umount '${dir}'`);
        await Deno.remove(dir, { recursive: true });
      },
    };
  }
  if (Deno.env.get("CI") === "true" && !await hasPrlimit()) {
    throw new Error(
      `Cannot make a full disk: mounting a tmpfs failed (${mounted.stderr}) and prlimit is missing`,
    );
  }
  // The file size limit sends SIGXFSZ, which would kill the bot: ignored,
  // the write fails with EFBIG instead, as on a full disk.
  return {
    dir,
    cause: /disk I\/O error|disk is full/,
    shell: "trap '' XFSZ;",
    async fill(bot) {
      const { size } = await Deno.stat(`${dir}/bot.db-wal`);
      await limitFileSize(bot!, String(size));
    },
    free: (bot) => limitFileSize(bot!, "unlimited"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

async function limitFileSize(bot: WebhookBot, limit: string): Promise<void> {
  const result = await sh(`prlimit --pid ${bot.pid} --fsize=${limit}:`);
  assert.ok(result.ok, result.stderr);
}

async function hasPrlimit(): Promise<boolean> {
  return (await sh("command -v prlimit")).ok;
}

// Writes a file until the file system refuses even one more byte.
async function fill(path: string): Promise<void> {
  const file = await Deno.open(path, { create: true, write: true });
  try {
    for (const size of [65536, 4096, 512, 1]) {
      const chunk = new Uint8Array(size);
      for (let i = 0; i < 100_000; i++) {
        try {
          await file.write(chunk);
        } catch {
          break;
        }
      }
    }
    await file.sync();
  } catch {
    // Even the flush found the disk full, which is the point.
  } finally {
    file.close();
  }
}

Deno.test("on a full disk a message is refused with 500, the log names the cause, /healthz is 503; freed, it is stored", async () => {
  await using disk = await fullDisk();
  const path = `${disk.dir}/bot.db`;
  const hook = await startWebhookBot(path, { shell: disk.shell });
  let updateId = 1;
  const hello = (id: number) => {
    const sender = user(id);
    return withId(message(sender, privateChat(sender)), updateId++);
  };
  try {
    assert.equal(await hook.post(hello(9001)), 200);
    assert.equal(await hook.health(), 200);
    await disk.fill(hook);

    // Every update is either stored (200) or refused (500), never lost: the
    // WAL may still have room for a few; new senders soon need more.
    const answered: number[] = [];
    let refused: ReturnType<typeof hello> | undefined;
    for (let id = 9100; id < 9300 && refused === undefined; id++) {
      const update = hello(id);
      const status = await hook.post(update);
      if (status === 200) answered.push(id);
      else {
        assert.equal(status, 500);
        refused = update;
      }
    }
    assert.ok(refused !== undefined, "no write failed on the full disk");
    assert.equal(await hook.health(), 503);
    assert.match(hook.bot.stderr, disk.cause);
    assert.doesNotMatch(hook.bot.stderr, /cannot rollback/);

    await disk.free(hook);
    // Telegram sends the refused update again: now it is stored.
    assert.equal(await hook.post(refused), 200);
    assert.equal(await hook.health(), 200);
    const { users } = await readDb(path);
    assert.deepEqual(
      users.map((u) => u.id),
      [9001, ...answered, refused.message!.from!.id],
    );
  } finally {
    assert.equal((await hook.stop()).code, 0, hook.bot.stderr);
  }
});

Deno.test("polling on a full disk confirms nothing it could not store, and stores it all once space is freed", async () => {
  await using disk = await fullDisk();
  // The file size limit needs the bot started through a shell; the webhook
  // test above covers that way. Here the disk itself is full.
  if (disk.shell !== undefined) return;
  const path = `${disk.dir}/bot.db`;
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${path}`,
  });
  try {
    await bot.waitForLine(/running in polling mode/);
    const first = user(9001);
    await api.processed(api.push(message(first, privateChat(first))));
    await disk.fill();

    // New senders, until the full disk refuses one.
    const ids: number[] = [];
    for (let id = 9100; id < 9300; id++) {
      const sender = user(id);
      ids.push(api.push(message(sender, privateChat(sender))));
    }
    const [, refused] = await bot.waitForLine(/cannot store updates? (\d+)/);
    assert.match(bot.stderr, disk.cause);
    assert.doesNotMatch(bot.stderr, /cannot rollback/);
    // Whatever Telegram was told arrived is stored; the refused one was not
    // confirmed.
    const confirmed = api.confirmedOffset;
    assert.ok(confirmed <= Number(refused), `offset ${confirmed} passed it`);
    const stored = new Set((await readDb(path)).users.map((u) => u.id));
    for (const updateId of ids.filter((id) => id < confirmed)) {
      const senderId = 9100 + ids.indexOf(updateId);
      assert.ok(stored.has(senderId), `update ${updateId} confirmed, lost`);
    }

    await disk.free();
    await api.processed(ids[ids.length - 1]!);
    const users = (await readDb(path)).users.map((u) => u.id);
    assert.deepEqual(users, [9001, ...ids.map((_, i) => 9100 + i)]);
  } finally {
    bot.kill("SIGTERM");
    const status = await bot.exit();
    await api.close();
    assert.equal(status.code, 0, bot.stderr);
  }
});
