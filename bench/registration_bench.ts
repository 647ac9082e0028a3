/**
 * The registration hot path: the full bot's `handleUpdate` against bare
 * grammY (no middleware) on the same stream of 100k updates from 10k users,
 * where a few hot users send most messages. Run with `deno task bench`.
 */
import "../src/node_warnings.ts";
import { Bot } from "grammy";
import type { Update, UserFromGetMe } from "grammy/types";
import { createBot } from "../src/bot.ts";
import { createLogger } from "../src/log.ts";
import { createReporter } from "../src/reporter.ts";
import { FieldCipher, generateKey } from "../src/crypto/field_cipher.ts";
import { openSqliteStore } from "../src/store/sqlite_store.ts";

const UPDATES = 100_000;
const USERS = 10_000;
const HOT_USERS = 100;
const HOT_SHARE = 0.8;
const GROUPS = 50;
const TOKEN = "123456789:AAHbenchSECRETtokenPART_0123456789abc";
const botInfo = {
  id: 42,
  is_bot: true,
  first_name: "Bench",
  username: "bench_bot",
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
} as UserFromGetMe;

// A small seeded generator, so every run measures the same stream.
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

function makeStream(): Update[] {
  const next = random(7);
  const updates: Update[] = [];
  for (let i = 0; i < UPDATES; i++) {
    // Every user speaks at least once; after that the hot few dominate.
    const userId = i < USERS
      ? i + 1
      : next() < HOT_SHARE
      ? 1 + Math.floor(next() * HOT_USERS)
      : 1 + Math.floor(next() * USERS);
    const inGroup = next() < 0.3;
    const groupId = -1_000_000 - Math.floor(next() * GROUPS);
    updates.push({
      update_id: i + 1,
      message: {
        message_id: i + 1,
        date: 1_700_000_000,
        chat: inGroup
          ? { id: groupId, type: "supergroup", title: `Group ${groupId}` }
          : { id: userId, type: "private", first_name: `User ${userId}` },
        from: {
          id: userId,
          is_bot: false,
          first_name: `User ${userId}`,
          username: `user${userId}`,
          language_code: "en",
        },
        text: "hello there",
      },
    } as Update);
  }
  return updates;
}

// deno-lint-ignore no-explicit-any
async function time(bot: Bot<any>, updates: Update[]): Promise<number> {
  const start = performance.now();
  for (const update of updates) await bot.handleUpdate(update);
  return performance.now() - start;
}

interface Pass {
  firstMs: number;
  warmMs: number;
}

// The full bot on a fresh database file: once with every sender new, then
// the same stream again, when nothing changes and nothing is written.
async function fullBot(
  updates: Update[],
  path: string,
  cipher?: FieldCipher,
): Promise<Pass> {
  const store = await openSqliteStore(path, { cipher });
  const silent = createLogger((text) => text, () => {});
  const { bot } = createBot({ token: TOKEN, apiRoot: "http://127.0.0.1:9" }, {
    store,
    reporter: createReporter(undefined, { log: silent, redact: (t) => t }),
    botInfo,
  });
  const firstMs = await time(bot, updates);
  const warmMs = await time(bot, updates);
  await store.close();
  return { firstMs, warmMs };
}

const ROUNDS = 3;

// Best of ROUNDS, plain and encrypted interleaved, each on a fresh database:
// this machine's timings wander by tens of percent between runs.
async function best(
  updates: Update[],
  dir: string,
): Promise<{ plain: Pass; encrypted: Pass }> {
  const plain: Pass[] = [];
  const encrypted: Pass[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(await fullBot(updates, `${dir}/plain_${round}.db`));
    encrypted.push(
      await fullBot(
        updates,
        `${dir}/encrypted_${round}.db`,
        await FieldCipher.fromKey(generateKey()),
      ),
    );
  }
  const min = (passes: Pass[]) => ({
    firstMs: Math.min(...passes.map((pass) => pass.firstMs)),
    warmMs: Math.min(...passes.map((pass) => pass.warmMs)),
  });
  return { plain: min(plain), encrypted: min(encrypted) };
}

const updates = makeStream();
const dir = await Deno.makeTempDir({ prefix: "registration_bench_" });
try {
  const bare = new Bot(TOKEN, { botInfo });
  await time(bare, updates.slice(0, 10_000)); // warm up the JIT
  let bareMs = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    bareMs = Math.min(bareMs, await time(bare, updates));
  }
  const { plain, encrypted } = await best(updates, dir);

  const row = (name: string, ms: number, note = "") =>
    `${name.padEnd(46)} ${ms.toFixed(0).padStart(7)} ms ${
      (ms * 1000 / UPDATES).toFixed(2).padStart(8)
    } µs/update ${(ms / bareMs).toFixed(2).padStart(7)}x bare${note}`;
  const speed = (off: number, on: number) =>
    `   encryption keeps ${(off / on).toFixed(2)} of the speed`;
  console.log(
    `${UPDATES} updates from ${USERS} users (${HOT_USERS} send ${
      HOT_SHARE * 100
    }%), ${GROUPS} groups; best of ${ROUNDS}`,
  );
  console.log(row("bare grammY, no middleware", bareMs));
  console.log(row("full bot, empty database (10k new users)", plain.firstMs));
  console.log(
    row(
      "  same, encrypted",
      encrypted.firstMs,
      speed(plain.firstMs, encrypted.firstMs),
    ),
  );
  console.log(row("full bot, all known (no writes)", plain.warmMs));
  console.log(
    row(
      "  same, encrypted",
      encrypted.warmMs,
      speed(plain.warmMs, encrypted.warmMs),
    ),
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
