import assert from "node:assert/strict";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { tempDir } from "./_db.ts";
import { startMain, TEST_TOKEN } from "./_main_process.ts";
import { message, privateChat, user, withId } from "./_updates.ts";

const SECRET = "slow_body_secret";
const CLIENTS = 100;
const MIB = 1024 * 1024;

// Read through sh: Deno grants /proc to nothing short of --allow-all.
async function rss(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("sh", {
    args: [
      "-c",
      `while read -r key value unit; do
      [ "$key" = VmRSS: ] && echo "$value"; done < /proc/${pid}/status`,
    ],
    stdout: "piped",
  }).output();
  return Number(new TextDecoder().decode(stdout).trim()) * 1024;
}

// One client with the secret that sends its body a byte per TCP segment.
async function trickle(port: number, body: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  try {
    const head = `POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      `X-Telegram-Bot-Api-Secret-Token: ${SECRET}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
      `Connection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    for (let i = 0; i < body.length; i++) {
      await conn.write(body.subarray(i, i + 1));
      // A pause now and then lets each byte leave as its own segment.
      if (i % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const answer = new Uint8Array(256);
    const read = await conn.read(answer);
    return new TextDecoder().decode(answer.subarray(0, read ?? 0));
  } finally {
    conn.close();
  }
}

Deno.test("bodies sent a byte per segment by 100 clients cost no more memory than their size", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${dir.path}/bot.db`,
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
  });
  try {
    const [, port] = await bot.waitForLine(/on port (\d+)/);
    // A real update padded to about 2 KiB with a long name.
    const bodies = (first: number) =>
      Array.from({ length: CLIENTS }, (_, i) => {
        const sender = user(first + i, { first_name: "x".repeat(1800) });
        return new TextEncoder().encode(
          JSON.stringify(
            withId(message(sender, privateChat(sender)), first + i),
          ),
        );
      });
    // Idle is measured once the bot has served as many clients the usual
    // way (its code compiled, its buffers and connections warmed up), so
    // that what is compared is what the slow bodies themselves cost.
    for (const body of bodies(1)) {
      const response = await fetch(`http://127.0.0.1:${port}/webhook`, {
        method: "POST",
        body,
        headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
      });
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
    const idle = await rss(bot.pid);
    const answers = await Promise.all(
      bodies(1 + CLIENTS).map((body) => trickle(Number(port), body)),
    );
    for (const answer of answers) assert.match(answer, /^HTTP\/1\.1 200 /);
    const after = await rss(bot.pid);
    assert.ok(
      after - idle < 30 * MIB,
      `${CLIENTS} slow bodies of 2 KiB took the bot from ${
        (idle / MIB).toFixed(0)
      } MiB to ${(after / MIB).toFixed(0)} MiB`,
    );
  } finally {
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    await api.close();
  }
});
