import assert from "node:assert/strict";
import { installedCatalog } from "../plugins.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { testCipher } from "./_db.ts";
import {
  runCliProcess,
  type RunningProgram,
  startMain,
  TEST_TOKEN,
} from "./_main_process.ts";
import {
  createTestDatabase,
  execPg,
  pgTest,
  type TestDatabase,
} from "./_pg.ts";
import { TcpProxy } from "./_tcp_proxy.ts";
import { callback, message, privateChat, user, withId } from "./_updates.ts";
import type { Update } from "grammy/types";
import { openPostgresStore } from "../src/store/postgres/open.ts";
import type { GroupRecord, UserRecord } from "../src/store/store.ts";
import { registerGroup, registerUser } from "../src/store/_seed.ts";

const SECRET = "pg_webhook_secret";
let nextUpdateId = 1;

interface Instance {
  bot: RunningProgram;
  base: string;
}

async function startInstance(
  api: FakeBotApi,
  databaseUrl: string,
): Promise<Instance> {
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: databaseUrl,
    WEBHOOK_SECRET: SECRET,
    HOSTNAME: "127.0.0.1",
    PORT: "0",
  });
  const [, port] = await bot.waitForLine(/webhook mode on port (\d+)/);
  return { bot, base: `http://127.0.0.1:${port}` };
}

async function stopAll(instances: Instance[], api: FakeBotApi): Promise<void> {
  for (const { bot } of instances) bot.kill("SIGTERM");
  for (const { bot } of instances) await bot.exit();
  await api.close();
}

// Posts an update (given the next update_id) and answers the HTTP status.
async function post(
  instance: Instance,
  update: Omit<Update, "update_id">,
): Promise<number> {
  const response = await fetch(`${instance.base}/webhook`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "X-Telegram-Bot-Api-Secret-Token": SECRET,
    },
    body: JSON.stringify(withId(update, nextUpdateId++)),
  });
  await response.body?.cancel();
  return response.status;
}

// Posts a message from user `id`, sent now, and answers the HTTP status.
function send(
  instance: Instance,
  id: number,
  extra: { first_name?: string } = {},
): Promise<number> {
  const from = user(id, extra);
  return post(instance, message(from, privateChat(from)));
}

async function health(instance: Instance): Promise<number> {
  const response = await fetch(`${instance.base}/healthz`);
  await response.body?.cancel();
  return response.status;
}

// Everything stored, decrypted with the test key, as another process reads it.
async function readPg(
  db: TestDatabase,
): Promise<{ users: UserRecord[]; groups: GroupRecord[] }> {
  const store = await openPostgresStore(db.location.connection, {
    cipher: await testCipher(),
    catalog: installedCatalog(),
  });
  try {
    const users = [];
    for await (const record of store.iterate("users")) {
      users.push(record as unknown as UserRecord);
    }
    const groups = [];
    for await (const record of store.iterate("groups")) {
      groups.push(record as unknown as GroupRecord);
    }
    return { users, groups };
  } finally {
    await store.close();
  }
}

pgTest(
  "two webhook instances on one PostgreSQL database keep one record and one registered_at per person under concurrent updates",
  async () => {
    await using db = await createTestDatabase();
    const api = new FakeBotApi();
    const instances = await Promise.all([
      startInstance(api, db.url),
      startInstance(api, db.url),
    ]);
    const [a, b] = instances;
    try {
      const ids = Array.from({ length: 40 }, (_, i) => 5000 + i);
      // Every person's first update reaches both instances at once.
      const statuses = await Promise.all(
        ids.flatMap((id) => [
          send(a!, id, { first_name: "FromA" }),
          send(b!, id, { first_name: "FromB" }),
        ]),
      );
      assert.deepEqual(new Set(statuses), new Set([200]));
      const first = await readPg(db);
      assert.deepEqual(first.users.map((u) => u.id), ids);
      for (const record of first.users) {
        assert.ok(["FromA", "FromB"].includes(record.first_name));
      }
      const counts = await execPg(
        db,
        (sql) =>
          sql`SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids FROM users`,
      );
      assert.deepEqual({ ...counts[0] }, { rows: 40, ids: 40 });

      // Later updates, in a later second, through either instance change
      // names, never registered_at.
      const newest = Math.max(...first.users.map((u) => u.registered_at));
      while (Math.floor(Date.now() / 1000) <= newest) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await Promise.all(ids.map((id, i) => send(i % 2 ? a! : b!, id)));
      const later = await readPg(db);
      assert.deepEqual(
        later.users.map((u) => [u.id, u.registered_at]),
        first.users.map((u) => [u.id, u.registered_at]),
      );
      assert.ok(later.users.every((u) => u.first_name === `User${u.id}`));
    } finally {
      await stopAll(instances, api);
    }
  },
);

pgTest(
  "a purge from the CLI is honoured by every instance: each one's next update registers the person again",
  async () => {
    await using db = await createTestDatabase();
    const api = new FakeBotApi();
    const instances = await Promise.all([
      startInstance(api, db.url),
      startInstance(api, db.url),
    ]);
    const [a, b] = instances;
    const purge = async () => {
      const result = await runCliProcess(
        ["purge", "--user", "7", "--yes"],
        { DATABASE_URL: db.url },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual((await readPg(db)).users, []);
    };
    try {
      // Both instances have written person 7, and would skip an unchanged
      // record if they trusted what they remember.
      assert.equal(await send(a!, 7), 200);
      assert.equal(await send(b!, 7), 200);
      assert.deepEqual((await readPg(db)).users.map((u) => u.id), [7]);

      for (const [name, instance] of [["B", b!], ["A", a!]] as const) {
        await purge();
        assert.equal(await send(instance, 7), 200);
        assert.deepEqual(
          (await readPg(db)).users.map((u) => u.id),
          [7],
          `instance ${name} did not register the person again`,
        );
      }
    } finally {
      await stopAll(instances, api);
    }
  },
);

pgTest(
  "while PostgreSQL is unreachable updates get 500 and /healthz 503, and the same process recovers when it returns",
  async () => {
    await using db = await createTestDatabase();
    await using proxy = TcpProxy.start({ hostname: "127.0.0.1", port: 5432 });
    const api = new FakeBotApi();
    const url =
      `postgres://postgres@127.0.0.1:${proxy.port}/${db.name}?sslmode=disable`;
    const instance = await startInstance(api, url);
    const events: string[] = [];
    try {
      assert.equal(await send(instance, 11), 200);
      assert.equal(await health(instance), 200);

      await proxy.cut();
      events.push("cut");
      assert.equal(await send(instance, 12), 500);
      assert.equal(await health(instance), 503);
      events.push("refused while cut");

      // A database that accepts connections but never answers is bounded too.
      await proxy.stall();
      events.push("stalled");
      assert.equal(await health(instance), 503);
      assert.equal(await send(instance, 13), 500);
      events.push("refused while hung");

      await proxy.restore();
      events.push("restored");
      // The pool reconnects by itself; the first tries may still fail.
      let status = 0;
      for (let attempt = 0; attempt < 40 && status !== 200; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, 250));
        status = await send(instance, 12);
      }
      assert.equal(status, 200);
      assert.equal(await health(instance), 200);
      events.push("recovered");
      assert.deepEqual(events, [
        "cut",
        "refused while cut",
        "stalled",
        "refused while hung",
        "restored",
        "recovered",
      ]);
      // Nothing refused was half-stored; the resent update was stored.
      assert.deepEqual((await readPg(db)).users.map((u) => u.id), [11, 12]);
      assert.equal(
        instance.bot.lines.filter((line) =>
          /running in webhook mode/.test(line)
        )
          .length,
        1,
        "the process started once",
      );
    } finally {
      await stopAll([instance], api);
    }
    // Stopping is clean after an outage.
    assert.equal((await instance.bot.exit()).code, 0);
  },
);

pgTest(
  "two instances starting together on a new database apply the migrations once",
  async () => {
    await using db = await createTestDatabase();
    const api = new FakeBotApi();
    const instances = await Promise.all([
      startInstance(api, db.url),
      startInstance(api, db.url),
      startInstance(api, db.url),
    ]);
    try {
      for (const instance of instances) {
        assert.equal(await send(instance, 21), 200);
      }
      const rows = await execPg(
        db,
        (sql) =>
          sql`SELECT version, count(*)::int AS n FROM schema_migrations
          WHERE namespace = 'core' GROUP BY version ORDER BY version`,
      );
      assert.deepEqual(
        rows.map((row) => [row.version, row.n]),
        [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1], [6, 1], [7, 1], [8, 1]],
      );
    } finally {
      await stopAll(instances, api);
    }
  },
);

pgTest(
  "polling on PostgreSQL confirms an update only once it is stored",
  async () => {
    await using db = await createTestDatabase();
    const api = new FakeBotApi();
    const bot = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATABASE_URL: db.url,
    });
    try {
      await bot.waitForLine(/running in polling mode/);
      const alice = user(31, { username: "alice", language_code: "en" });
      await api.processed(api.push(message(alice, privateChat(alice))));
      const { users } = await readPg(db);
      assert.deepEqual(users.map((u) => [u.id, u.username]), [[31, "alice"]]);
    } finally {
      bot.kill("SIGTERM");
      assert.equal((await bot.exit()).code, 0);
      await api.close();
    }
  },
);

pgTest(
  "the CLI works on PostgreSQL: migrate, inspect with the database's size, export, purge and rotate-key",
  async () => {
    await using db = await createTestDatabase();
    const env = { DATABASE_URL: db.url };
    const migrated = await runCliProcess(["migrate"], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stderr + migrated.stdout, /8/);

    const store = await openPostgresStore(db.location.connection, {
      cipher: await testCipher(),
      catalog: installedCatalog(),
    });
    await registerUser(store, {
      id: 41,
      username: "bob",
      first_name: "Bob",
      last_name: null,
      language_code: null,
    }, 1_700_000_000);
    await registerGroup(store, {
      id: -42,
      username: null,
      title: "Club",
      type: "group",
    }, 1_700_000_100);
    const size = (await store.summary()).sizeBytes;
    await store.close();
    assert.ok(size > 1_000_000, `pg_database_size gave ${size}`);

    const inspect = await runCliProcess(["inspect"], env);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout + inspect.stderr, /2023-11-14T22:13:20Z/);
    assert.doesNotMatch(inspect.stdout + inspect.stderr, /password/i);

    const exported = await runCliProcess(
      ["export", "--user", "41", "--format", "ndjson"],
      env,
    );
    assert.equal(exported.code, 0, exported.stderr);
    assert.deepEqual(JSON.parse(exported.stdout), {
      kind: "user",
      id: 41,
      username: "bob",
      first_name: "Bob",
      last_name: null,
      language_code: null,
      registered_at: "2023-11-14T22:13:20Z",
      seen_on: null,
    });

    const purged = await runCliProcess(
      ["purge", "--group", "-42", "--yes"],
      env,
    );
    assert.equal(purged.code, 0, purged.stderr);
    assert.deepEqual((await readPg(db)).groups, []);

    const newKey = "bmV3LWRhdGEta2V5LTAxMjM0NTY3ODlhYmNkZWYhISE=";
    const rotated = await runCliProcess(["rotate-key"], {
      ...env,
      NEW_DATA_ENCRYPTION_KEY: newKey,
    });
    assert.equal(rotated.code, 0, rotated.stderr);
    const after = await runCliProcess(
      ["export", "--user", "41", "--format", "ndjson"],
      { ...env, DATA_ENCRYPTION_KEY: newKey },
    );
    assert.equal(after.code, 0, after.stderr);
    assert.equal(JSON.parse(after.stdout).first_name, "Bob");
    const old = await runCliProcess(["inspect"], env);
    assert.equal(old.code, 3, "the old key no longer opens the database");
  },
);

pgTest(
  "polling on PostgreSQL does not confirm an update while the database is unreachable, and stores it once it returns",
  async () => {
    await using db = await createTestDatabase();
    await using proxy = TcpProxy.start({ hostname: "127.0.0.1", port: 5432 });
    const api = new FakeBotApi();
    const bot = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATABASE_URL:
        `postgres://postgres@127.0.0.1:${proxy.port}/${db.name}?sslmode=disable`,
    });
    try {
      await bot.waitForLine(/running in polling mode/);
      const before = user(3201);
      await api.processed(api.push(message(before, privateChat(before))));
      await proxy.cut();
      const alice = user(3202);
      const id = api.push(message(alice, privateChat(alice)));
      await bot.waitForLine(/cannot store update \d+/);
      assert.ok(
        api.confirmedOffset <= id,
        `update ${id} was confirmed (offset ${api.confirmedOffset})`,
      );
      await proxy.restore();
      await api.processed(id, 30_000);
      assert.deepEqual(
        (await readPg(db)).users.map((u) => u.id),
        [3201, 3202],
      );
    } finally {
      bot.kill("SIGTERM");
      const status = await bot.exit();
      await api.close();
      assert.equal(status.code, 0, bot.stderr);
    }
  },
);

pgTest(
  "an erasure pressed in one instance's privacy menu is honoured by the other; an older update delivered late does not register",
  async () => {
    await using db = await createTestDatabase();
    const api = new FakeBotApi();
    const instances = await Promise.all([
      startInstance(api, db.url),
      startInstance(api, db.url),
    ]);
    const [a, b] = instances;
    const zoe = user(4101, { first_name: "Zoe" });
    const chat = privateChat(zoe);
    const stored = async () => (await readPg(db)).users.map((u) => u.id);
    try {
      assert.equal(await post(a!, message(zoe, chat)), 200);
      assert.equal(await post(b!, message(zoe, chat)), 200);
      assert.deepEqual(await stored(), [4101]);
      // Zoe confirms "delete my data" through instance A.
      assert.equal(
        await post(a!, callback(zoe, chat, "prv:y:u:4101:4101")),
        200,
      );
      assert.deepEqual(await stored(), []);
      const [entry] = await execPg(
        db,
        (sql) =>
          sql`SELECT at, actor, action FROM audit_log ORDER BY id DESC LIMIT 1`,
      );
      assert.deepEqual([entry!.actor, entry!.action], ["bot", "purge"]);
      const at = Number(entry!.at);
      // Written before the erasure, delivered late to instance B.
      assert.equal(await post(b!, message(zoe, chat, { date: at - 1 })), 200);
      assert.deepEqual(await stored(), []);
      // Her next message, through B, registers her again.
      assert.equal(await post(b!, message(zoe, chat, { date: at })), 200);
      assert.deepEqual(await stored(), [4101]);
    } finally {
      await stopAll(instances, api);
    }
  },
);

pgTest(
  "after a purge on PostgreSQL the CLI points at compact, which rewrites the tables",
  async () => {
    await using pg = await createTestDatabase();
    const store = await openPostgresStore(pg.location.connection, {
      cipher: await testCipher(),
      catalog: installedCatalog(),
    });
    await registerUser(store, {
      id: 41,
      username: null,
      first_name: "Gone",
      last_name: null,
      language_code: null,
    }, 1);
    await store.close();
    const purged = await runCliProcess(
      ["--database", pg.url, "purge", "--user", "41", "--yes"],
    );
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stderr, /run deno task cli compact/);
    const before = await relfilenode(pg);
    const compacted = await runCliProcess(["--database", pg.url, "compact"]);
    assert.equal(compacted.code, 0, compacted.stderr);
    assert.match(compacted.stderr, /^Done: /);
    assert.notEqual(await relfilenode(pg), before, "the table was rewritten");
  },
);

async function relfilenode(pg: TestDatabase): Promise<number> {
  const [row] = await execPg(
    pg,
    (sql) => sql`SELECT relfilenode FROM pg_class WHERE relname = 'users'`,
  );
  return Number(row!.relfilenode);
}
