import assert from "node:assert/strict";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { openTestStore, readDb, tempDir } from "./_db.ts";
import { runCliProcess, startMain, TEST_TOKEN } from "./_main_process.ts";
import { group, message, user, withId } from "./_updates.ts";
import { registerUser } from "../src/store/_seed.ts";

const SECRET = "concurrency_secret";

Deno.test("a CLI purge during webhook traffic neither fails nor loses the bot's writes", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  // Ten people who will ask for erasure, registered before the traffic.
  const store = await openTestStore(path);
  for (let id = 9001; id <= 9010; id++) {
    await registerUser(store, {
      id,
      username: null,
      first_name: "Leaving",
      last_name: null,
      language_code: null,
    }, 1);
  }
  await store.close();

  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${path}`,
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
  });
  try {
    const [, port] = await bot.waitForLine(/on port (\d+)/);
    const hook = `http://127.0.0.1:${port}/webhook`;
    // Updates from 100 senders in 4 groups, 8 requests at a time, for as
    // long as the operator is purging (and at least 300 of them)...
    let purging = true;
    let answered = 0;
    const lastName = new Map<number, string>();
    const traffic = (async () => {
      const statuses: number[] = [];
      for (let n = 0; purging || n < 300; n += 8) {
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => {
          const sender = user(1 + ((n + i) % 100), {
            first_name: `Name ${n + i}`,
          });
          lastName.set(sender.id, sender.first_name);
          const update = withId(
            message(sender, group(-1 - ((n + i) % 4))),
            n + i + 1,
          );
          return fetch(hook, {
            method: "POST",
            body: JSON.stringify(update),
            headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
          }).then(async (res) => {
            await res.body?.cancel();
            answered++;
            return res.status;
          });
        }));
        statuses.push(...results);
      }
      return statuses;
    })();
    // ...while the operator purges the ten, one after another. How many
    // requests were answered while each purge ran shows that they overlapped.
    const answeredDuring: number[] = [];
    const purges = (async () => {
      // Traffic flows before the first purge starts, so that every purge
      // overlaps it even when the machine is slow to get the traffic going.
      while (answered === 0) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const results = [];
      for (let id = 9001; id <= 9010; id++) {
        const before = answered;
        results.push(
          await runCliProcess([
            "--database",
            path,
            "purge",
            "--user",
            String(id),
            "--yes",
          ]),
        );
        answeredDuring.push(answered - before);
      }
      purging = false;
      return results;
    })();
    const [statuses, results] = await Promise.all([traffic, purges]);
    assert.ok(statuses.length >= 300);
    answeredDuring.forEach((count, i) =>
      assert.ok(count > 0, `no request was answered during purge ${i + 1}`)
    );

    for (const result of results) {
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /locked/);
    }
    assert.deepEqual(new Set(statuses), new Set([200]));
    const { users, groups } = await readDb(path);
    assert.deepEqual(
      users.map((u) => u.id),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.deepEqual(groups.map((g) => g.id), [-4, -3, -2, -1]);
    // Each sender's latest name won: no write was lost.
    for (const stored of users) {
      assert.equal(stored.first_name, lastName.get(stored.id));
    }
  } finally {
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    await api.close();
  }
});
