import assert from "node:assert/strict";
import { installedCatalog } from "../plugins.ts";
import { createTestDatabase, pgTest } from "./_pg.ts";
import { runCliProcess, TEST_DATA_KEY } from "./_main_process.ts";
import { startWebhookBot, type WebhookBot } from "./_webhook_bot.ts";
import { message, privateChat, user } from "./_updates.ts";
import { tempDir, testCipher } from "./_db.ts";
import { openPostgresStore } from "../src/store/postgres/open.ts";

let nextUpdateId = 1;

// One slot of the load balancer: an instance, or none while it restarts.
interface Slot {
  name: string;
  bot: WebhookBot | undefined;
}

const PRIVACY = {
  text: "/privacy",
  entities: [{ type: "bot_command", offset: 0, length: 8 }],
} as never;

// Posts updates to the instances in service until stopped, in rounds about
// one person each. With two instances in service, one writes the person's
// name, the other writes another, and the first is asked /privacy with the
// name it wrote: it has that name cached, so it writes nothing and reads
// the record the other instance wrote. Records every status by phase.
function steadyTraffic(slots: Slot[]) {
  const statuses: { phase: string; instance: string; status: number }[] = [];
  let phase = "before";
  let running = true;
  let round = 0;
  const loop = (async () => {
    while (running) {
      const live = slots.flatMap((slot) =>
        slot.bot === undefined ? [] : [{ name: slot.name, bot: slot.bot }]
      );
      if (live.length === 0) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      round++;
      const reader = live[round % live.length]!;
      const writer = live[(round + 1) % live.length]!;
      const id = 7000 + (round % 25);
      const send = async (
        to: { name: string; bot: WebhookBot },
        name: string,
        extra = {},
      ) => {
        const from = user(id, { first_name: name });
        const status = await to.bot.post({
          ...message(from, privateChat(from), extra),
          update_id: nextUpdateId++,
        });
        statuses.push({ phase, instance: to.name, status });
      };
      await send(reader, `Reader${round}`);
      if (writer !== reader) await send(writer, `Writer${round}`);
      await send(reader, `Reader${round}`, PRIVACY);
    }
  })();
  return {
    statuses,
    set phase(name: string) {
      phase = name;
    },
    // Lets at least `n` more updates through before going on.
    async pass(n: number) {
      const target = statuses.length + n;
      while (statuses.length < target) {
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

pgTest(
  "rotating the key by the documented procedure, two webhook instances on one PostgreSQL database answer every update 200",
  async () => {
    await using db = await createTestDatabase();
    await using dir = await tempDir();
    const oldKey = TEST_DATA_KEY;
    // Enough records for rotate-key to work through several pages.
    const seed = await openPostgresStore(db.location.connection, {
      cipher: await testCipher(),
      catalog: installedCatalog(),
    });
    await seed.register(
      Array.from({ length: 2500 }, (_, i) => ({
        user: {
          id: i + 1,
          username: `seeded${i + 1}`,
          first_name: "Seeded",
          last_name: null,
          language_code: "en",
        },
      })),
      1,
    );
    await seed.close();
    const started: WebhookBot[] = [];
    const start = async (env: Record<string, string>) => {
      const bot = await startWebhookBot(`${dir.path}/unused.db`, {
        env: {
          DATABASE_URL: db.url,
          HOSTNAME: "127.0.0.1",
          DATA_ENCRYPTION_KEYS_PREVIOUS: "",
          ...env,
        },
      });
      started.push(bot);
      return bot;
    };
    const slots: Slot[] = [
      { name: "A", bot: await start({ DATA_ENCRYPTION_KEY: oldKey }) },
      { name: "B", bot: await start({ DATA_ENCRYPTION_KEY: oldKey }) },
    ];
    const traffic = steadyTraffic(slots);
    // One instance at a time leaves the balancer, stops, and comes back
    // with its new environment, while the other takes the traffic.
    const restartEach = async (env: Record<string, string>) => {
      for (const slot of slots) {
        const bot = slot.bot!;
        slot.bot = undefined;
        // Drained: the round that may still have chosen it is over.
        await traffic.pass(4);
        assert.equal((await bot.stop()).code, 0, bot.bot.stderr);
        await traffic.pass(10);
        slot.bot = await start(env);
        await traffic.pass(10);
      }
    };
    try {
      await traffic.pass(20);

      // 1. A new key, saved to a file and labelled by its id.
      traffic.phase = "new key";
      const keyFile = `${dir.path}/new.key`;
      const made = await runCliProcess(["keygen", "--out", keyFile]);
      assert.equal(made.code, 0, made.stderr);
      const newKey = (await Deno.readTextFile(keyFile)).trim();
      const newId = (await runCliProcess(["keygen", "--id", keyFile])).stdout
        .trim();
      assert.match(newId, /^[0-9a-f]{8}$/);

      // 2. Every instance gets it as current, the old key as previous.
      traffic.phase = "rolling restart with both keys";
      const both = {
        DATA_ENCRYPTION_KEY: newKey,
        DATA_ENCRYPTION_KEYS_PREVIOUS: oldKey,
      };
      await restartEach(both);

      // 3. rotate-key, while both instances serve.
      traffic.phase = "rotate-key";
      const rotated = await runCliProcess(
        ["--database", db.url, "rotate-key"],
        both,
      );
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.match(
        rotated.stderr,
        new RegExp(
          `Moved the database to key ${newId}.*No value is left under another key`,
        ),
      );
      await traffic.pass(20);
      const inspected = await runCliProcess(
        ["--database", db.url, "inspect"],
        both,
      );
      assert.equal(inspected.code, 0, inspected.stderr);
      assert.match(
        inspected.stdout,
        new RegExp(
          `values per key id:\\n  ${newId} +\\d+  \\(current\\)\\n\\n`,
        ),
      );

      // 4. The old key is removed everywhere.
      traffic.phase = "rolling restart without the old key";
      await restartEach({ DATA_ENCRYPTION_KEY: newKey });
      await traffic.pass(20);
      for (const slot of slots) assert.equal(await slot.bot!.health(), 200);
    } finally {
      await traffic.stop();
      for (const slot of slots) await slot.bot?.stop();
    }
    const refused = traffic.statuses.filter((s) => s.status !== 200);
    assert.deepEqual(refused, []);
    // Every /privacy could read the record it was asked about.
    const replies = started.flatMap((bot) =>
      bot.api.callsOf("sendMessage").map((call) => String(call.params.text))
    );
    assert.deepEqual(replies.filter((text) => text.includes("went wrong")), []);
    // Some read a record the other instance had just written.
    assert.ok(replies.filter((text) => /Writer\d+/.test(text)).length > 10);
    // Updates reached the instances in every phase of the procedure.
    const phases = new Set(traffic.statuses.map((s) => s.phase));
    assert.deepEqual(
      phases,
      new Set([
        "before",
        "new key",
        "rolling restart with both keys",
        "rotate-key",
        "rolling restart without the old key",
      ]),
    );
  },
);
