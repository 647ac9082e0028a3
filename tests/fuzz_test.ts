import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { FAKE_BOT, FakeBotApi } from "./_fake_bot_api.ts";
import { readDb, tempDir } from "./_db.ts";
import { startMain, TEST_TOKEN } from "./_main_process.ts";
import { checkUpdate } from "../src/runtime/update_check.ts";

const SECRET = "fuzz_secret";
const SEED = 0x5eed_2026;
const BAD_UPDATES = 10_000;
const CONCURRENCY = 24;
const MAX_BODY = 1024 * 1024;
const encoder = new TextEncoder();

// mulberry32: a small seeded generator, so every run sends the same bodies.
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// Well-formed updates of every shape the bot reads; `n` keeps ids apart.
function baseUpdate(n: number, pick: number): { [key: string]: Json } {
  const person = {
    id: 100_000 + n,
    is_bot: false,
    first_name: `Fuzz${n}`,
    last_name: "Tester",
    username: `fuzz${n}`,
    language_code: "en",
  };
  const groupChat = { id: -(100_000 + n), type: "group", title: `G${n}` };
  const command = (text: string) => ({
    text,
    entities: [{ type: "bot_command", offset: 0, length: text.length }],
  });
  const message = (chat: Json, extra: { [key: string]: Json } = {}) => ({
    message_id: n,
    date: 1_700_000_000 + n,
    chat,
    from: person,
    text: "hello",
    ...extra,
  });
  const kinds: (() => { [key: string]: Json })[] = [
    () => ({
      message: message({ id: person.id, type: "private", first_name: "F" }),
    }),
    () => ({ message: message(groupChat, command("/privacy")) }),
    () => ({
      message: message(
        { id: -(1_000_000_000_000 + n), type: "supergroup", title: "S" },
        { migrate_from_chat_id: groupChat.id },
      ),
    }),
    () => ({
      message: message(groupChat, { migrate_to_chat_id: -(2_000_000 + n) }),
    }),
    () => ({ edited_message: { ...message(groupChat), edit_date: 1 } }),
    () => ({
      callback_query: {
        id: String(n),
        from: person,
        chat_instance: "1",
        data: `prv:x:u:${person.id}:${person.id}`,
        message: message(groupChat, { from: FAKE_BOT }),
      },
    }),
    () => ({
      my_chat_member: {
        chat: groupChat,
        from: person,
        date: 1_700_000_000,
        old_chat_member: { status: "member", user: FAKE_BOT },
        new_chat_member: { status: "kicked", user: FAKE_BOT, until_date: 0 },
      },
    }),
    () => ({
      message: message(groupChat, {
        left_chat_member: { id: 55, is_bot: false, first_name: "L" },
      }),
    }),
    () => ({
      message: message(groupChat, {
        ...command("/privacy"),
        from: { id: 1087968824, is_bot: true, first_name: "Group" },
        sender_chat: groupChat,
      }),
    }),
    () => ({
      channel_post: {
        message_id: n,
        date: 1,
        chat: { id: -(3_000_000 + n), type: "channel", title: "C" },
        text: "news",
      },
    }),
    () => ({ message: message(groupChat, command("/start")) }),
  ];
  // A copy without shared parts, so that a mutation changes one place only.
  return JSON.parse(
    JSON.stringify({ update_id: n, ...kinds[pick % kinds.length]!() }),
  );
}

// Stand-ins replaced by raw JSON text that JSON.stringify cannot write.
const RAW_TOKENS = [
  "-0",
  "1e400",
  "-1e400",
  "9007199254740993",
  "-9007199254740993",
  "123456789012345678901234567890",
  "1.0",
  "1e2",
  "0.1e1",
  "-0.0",
  "5e-324",
  // Not JSON at all, though JavaScript would take some of them.
  "NaN",
  "Infinity",
  "0x10",
  "01",
  "+1",
  ".5",
  "1.",
  "1_000",
];

function deep(depth: number, rnd: () => number): Json {
  let value: Json = rnd() < 0.5 ? 1 : "x";
  for (let i = 0; i < depth; i++) value = rnd() < 0.5 ? [value] : { a: value };
  return value;
}

function badValue(rnd: () => number): Json {
  const choices: (() => Json)[] = [
    () => 2 ** 53,
    () => 2 ** 53 + 2,
    () => -(2 ** 53),
    () => 2 ** 64,
    () => -(2 ** 63),
    () => 1e308,
    () => 0.5,
    () => -1.5,
    () => 0,
    () => -1,
    () => 1,
    () => `RAW:${RAW_TOKENS[Math.floor(rnd() * RAW_TOKENS.length)]}`,
    () => "123",
    () => "",
    () => "-0",
    () => "\u0000",
    () => "a\ud800b",
    () => "\udfff",
    () => "x".repeat(10_000),
    () => null,
    () => true,
    () => false,
    () => [],
    () => [1, "2", null],
    () => ({}),
    () => ({ id: 1, type: "private" }),
    () => ({ id: 2 ** 53, is_bot: false, first_name: "x" }),
    () => "group",
    () => "left",
    () => "creator",
    () => deep(10 + Math.floor(rnd() * 200), rnd),
    () => `DEEP:${5_000 + Math.floor(rnd() * 50_000)}`,
  ];
  return choices[Math.floor(rnd() * choices.length)]!();
}

// Every place in `value`, as key paths (objects and arrays alike), down to
// the depth of a real update: nesting added by earlier mutations is skipped.
function paths(value: Json): string[][] {
  const found: string[][] = [];
  const walk = (here: Json, prefix: string[]) => {
    if (typeof here !== "object" || here === null || prefix.length >= 8) {
      return;
    }
    for (const [key, child] of Object.entries(here)) {
      const path = [...prefix, key];
      found.push(path);
      walk(child, path);
    }
  };
  walk(value, []);
  return found;
}

function mutate(update: { [key: string]: Json }, rnd: () => number): void {
  const all = paths(update);
  if (all.length === 0) return;
  const path = all[Math.floor(rnd() * all.length)]!;
  let parent = update as Json;
  for (const key of path.slice(0, -1)) {
    parent = (parent as Record<string, Json>)[key]!;
  }
  const last = path.at(-1)!;
  const container = parent as Record<string, Json>;
  const roll = rnd();
  const isArray = Array.isArray(container);
  if (roll < 0.2 && !isArray) delete container[last];
  else if (roll < 0.25 && !isArray) {
    container[`extra_${Math.floor(rnd() * 99)}`] = badValue(rnd);
  } else container[last] = badValue(rnd);
}

// JSON text with the RAW stand-ins written out, and DEEP ones as nesting far
// deeper than JSON.stringify could write.
function toText(update: Json): string {
  return JSON.stringify(update)
    .replace(/"RAW:([^"]*)"/g, (_, token: string) => token)
    .replace(/"DEEP:(\d+)"/g, (_, depth: string) => {
      const half = Math.floor(Number(depth) / 2);
      return "[".repeat(half) + '{"a":'.repeat(half) + "0" +
        "}".repeat(half) + "]".repeat(half);
    });
}

const INVALID_UTF8 = [
  [0xff],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0x80],
];

interface Case {
  body: Uint8Array<ArrayBuffer>;
  /** The status the webhook must answer. */
  expected: number;
}

// What the webhook must answer for a body: the oracle is the same check the
// bot uses, but the database checks after the run do not depend on it.
function expectedStatus(body: Uint8Array): number {
  if (body.byteLength > MAX_BODY) return 413;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return 400;
  }
  return typeof checkUpdate(value) === "string" ? 400 : 200;
}

function generate(rnd: () => number): { cases: Case[]; bad: number } {
  const cases: Case[] = [];
  let bad = 0;
  for (let n = 1; bad < BAD_UPDATES; n++) {
    const update = baseUpdate(n, Math.floor(rnd() * 1000));
    const mutations = 1 + Math.floor(rnd() * 3);
    for (let i = 0; i < mutations; i++) mutate(update, rnd);
    let body: Uint8Array<ArrayBuffer> = encoder.encode(toText(update));
    const roll = rnd();
    if (roll < 0.08) {
      body = body.slice(0, Math.floor(rnd() * body.byteLength));
    } else if (roll < 0.13) {
      const at = Math.floor(rnd() * body.byteLength);
      const bytes = INVALID_UTF8[Math.floor(rnd() * INVALID_UTF8.length)]!;
      body = new Uint8Array([
        ...body.slice(0, at),
        ...bytes,
        ...body.slice(at),
      ]);
    } else if (roll < 0.15) {
      body = new Uint8Array(1 + Math.floor(rnd() * 64));
      for (let i = 0; i < body.length; i++) body[i] = Math.floor(rnd() * 256);
    } else if (roll < 0.17) {
      body = encoder.encode(
        ["null", "1", '"update"', "[]", "[{}]", "true", "{}", ""][
          Math.floor(rnd() * 8)
        ]!,
      );
    } else if (roll < 0.175) {
      // Just over the limit, and a valid update otherwise.
      const padded = toText({ ...baseUpdate(n, 0), pad: "" });
      const pad = "x".repeat(MAX_BODY + 1 - encoder.encode(padded).byteLength);
      body = encoder.encode(padded.replace('"pad":""', `"pad":"${pad}"`));
    }
    const expected = expectedStatus(body);
    if (expected !== 200) bad++;
    cases.push({ body, expected });
  }
  return { cases, bad };
}

// Every number under an "id"-like key in a value, for "what may be stored".
function idsIn(value: unknown, into: Set<number>): void {
  if (typeof value !== "object" || value === null) return;
  for (const [key, child] of Object.entries(value)) {
    if (typeof child === "number" && /id$/.test(key)) into.add(child);
    idsIn(child, into);
  }
}

Deno.test("10,000 malformed updates with the right secret get no 5xx, store nothing unsafe, and the bot serves on", async () => {
  await using dir = await tempDir();
  const { cases, bad } = generate(random(SEED));
  assert.ok(bad >= BAD_UPDATES);
  const api = new FakeBotApi();
  const dbPath = `${dir.path}/bot.db`;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${dbPath}`,
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
  });
  try {
    const [, port] = await bot.waitForLine(/webhook mode on port (\d+)/);
    const hook = `http://127.0.0.1:${port}/webhook`;
    const answers = new Array<number>(cases.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const index = next++;
          const res = await fetch(hook, {
            method: "POST",
            body: cases[index]!.body,
            headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
          });
          await res.body?.cancel();
          answers[index] = res.status;
        }
      }),
    );

    const serverErrors = answers.filter((status) => status >= 500);
    assert.equal(
      serverErrors.length,
      0,
      `${serverErrors.length} answers were 5xx`,
    );
    const wrong = cases.flatMap((c, i) =>
      answers[i] === c.expected ? [] : [
        `#${i}: ${answers[i]} instead of ${c.expected}: ${
          new TextDecoder().decode(c.body.slice(0, 300))
        }`,
      ]
    );
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} wrong answers`);

    // The process still serves a valid update, and stores it.
    const after = {
      update_id: 999_999,
      message: {
        message_id: 1,
        date: Math.floor(Date.now() / 1000),
        chat: { id: 77, type: "private", first_name: "After" },
        from: { id: 77, is_bot: false, first_name: "After" },
        text: "still there?",
      },
    };
    const res = await fetch(hook, {
      method: "POST",
      body: JSON.stringify(after),
      headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
    });
    await res.body?.cancel();
    assert.equal(res.status, 200);

    // Nothing was stored from a refused update, and no id is unsafe.
    const allowed = new Set<number>([77]);
    cases.forEach((c, i) => {
      if (answers[i] === 200) {
        idsIn(JSON.parse(new TextDecoder().decode(c.body)), allowed);
      }
    });
    const { users, groups } = await readDb(dbPath);
    assert.ok(users.some((u) => u.id === 77), "the last update was not stored");
    const strays = [...users, ...groups].filter((r) => !allowed.has(r.id));
    assert.deepEqual(
      strays.map((r) => r.id),
      [],
      "stored from a refused update",
    );
    const db = new DatabaseSync(dbPath, { readOnly: true });
    try {
      const unsafe = db.prepare(
        `SELECT (SELECT count(*) FROM users WHERE typeof(id) != 'integer'
            OR id <= 0 OR id > 9007199254740991
            OR typeof(registered_at) != 'integer')
          + (SELECT count(*) FROM groups WHERE typeof(id) != 'integer'
            OR id >= 0 OR id < -9007199254740991
            OR typeof(registered_at) != 'integer') AS n`,
      ).get() as { n: number };
      assert.equal(unsafe.n, 0, "an unsafe id or date was stored");
    } finally {
      db.close();
    }
    assert.doesNotMatch(bot.stderr, /Uncaught|panicked/);
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr.slice(-2000));
  } finally {
    // Cleanup only: an assertion here would hide the failure that led here.
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
});
