import { readUser } from "../src/store/_seed.ts";
import { installedCatalog } from "../plugins.ts";
import assert from "node:assert/strict";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { tempDir, testCipher } from "./_db.ts";
import { createTestDatabase, PG_HOST, PG_PORT, pgTest } from "./_pg.ts";
import {
  programEnv,
  RunningProgram,
  startMain,
  taskFlags,
  TEST_TOKEN,
  TOKEN_SECRET,
} from "./_main_process.ts";
import { message, privateChat, user } from "./_updates.ts";
import { TcpProxy } from "./_tcp_proxy.ts";
import { openSqliteStore } from "../src/store/sqlite/open.ts";
import { openPostgresStore } from "../src/store/postgres/open.ts";

// A loopback port with nothing listening on it.
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("a refused connection to BOT_API_ROOT is named at once and each retry is logged", async () => {
  await using dir = await tempDir();
  const root = `http://127.0.0.1:${closedPort()}`;
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: root,
    DATABASE_URL: `${dir.path}/bot.db`,
  });
  try {
    const [line] = await bot.waitForLine(/^warning: .*try 2 of 5\)$/);
    assert.equal(
      line,
      `warning: the Bot API at ${root} cannot be reached: connection refused; trying again in 1 s (try 2 of 5)`,
    );
    await bot.waitForLine(/try 3 of 5/);
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    assert.ok(!bot.stderr.includes(TOKEN_SECRET));
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
  }
});

Deno.test("slow setMyCommands and setWebhook never delay serving, and a stop does not wait for them", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  api.delays.set("setMyCommands", 60_000);
  api.delays.set("setWebhook", 60_000);
  const secret = "startup_secret";
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    BOT_MODE: "webhook",
    WEBHOOK_URL: "https://bot.example.org/webhook",
    WEBHOOK_SECRET: secret,
    PORT: "0",
    HOSTNAME: "127.0.0.1",
    DATABASE_URL: `${dir.path}/bot.db`,
  });
  try {
    const [, port] = await bot.waitForLine(/webhook mode on port (\d+)/);
    await api.waitForCall("setWebhook");
    const alice = user(9001);
    const response = await fetch(`http://127.0.0.1:${port}/webhook`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-telegram-bot-api-secret-token": secret,
      },
      body: JSON.stringify({
        update_id: 1,
        ...message(alice, privateChat(alice)),
      }),
    });
    await response.body?.cancel();
    assert.equal(response.status, 200);
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    api.note("bot exited");
    // Served and stopped while both calls were still unanswered.
    assert.deepEqual(
      api.events.filter((event) => !event.startsWith("getMe")),
      ["bot exited"],
    );
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
});

pgTest(
  "the start-up log names the PostgreSQL database but never its password",
  async () => {
    await using db = await createTestDatabase();
    const api = new FakeBotApi();
    const password = "pw-never-logged-42";
    const bot = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATABASE_URL:
        `postgres://postgres:${password}@${PG_HOST}:${PG_PORT}/${db.name}?sslmode=disable`,
    });
    try {
      await bot.waitForLine(/running in polling mode/);
      const [line] = await bot.waitForLine(/using the PostgreSQL database.*/);
      assert.ok(line.includes(db.name), line);
      assert.ok(line.includes(PG_HOST), line);
    } finally {
      bot.kill("SIGTERM");
      assert.equal((await bot.exit()).code, 0, bot.stderr);
      await api.close();
    }
    assert.ok(!bot.stderr.includes(password), bot.stderr);
  },
);

Deno.test("an existing database without a key gets one line and no key file", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/bot.db`;
  // Records from before encryption: a plaintext database.
  const store = await openSqliteStore(dbPath, { catalog: installedCatalog() });
  await store.register([{
    user: {
      id: 9101,
      username: null,
      first_name: "Old",
      last_name: null,
      language_code: null,
    },
  }], 1_700_000_000);
  await store.close();
  const keyFile = `${dir.path}/secrets/data.key`;
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: dbPath,
    DATA_ENCRYPTION_KEY: "",
    DATA_KEY_FILE: keyFile,
  });
  const status = await bot.exit();
  await api.close();
  assert.equal(status.code, 3, bot.stderr);
  const errors = bot.lines.filter((line) => !line.startsWith("info: using"));
  assert.deepEqual(errors.filter((line) => !/getMe|BOT_TOKEN/.test(line)), [
    "error: This database holds records but no data key was found: set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to a new key from deno task cli keygen, and the bot encrypts the records with it at start",
  ]);
  assert.doesNotMatch(bot.stderr, /created the data encryption key/);
  await assert.rejects(Deno.stat(keyFile), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(`${dir.path}/secrets`), Deno.errors.NotFound);
});

pgTest(
  "a PostgreSQL that starts accepting connections after the bot is waited for, each try logged with its cause, and the bot then registers updates",
  async () => {
    await using db = await createTestDatabase();
    await using proxy = TcpProxy.start({ hostname: PG_HOST, port: PG_PORT });
    // PostgreSQL is not there yet, as at boot before it has started.
    await proxy.cut();
    const api = new FakeBotApi();
    const bot = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATABASE_URL:
        `postgres://postgres@127.0.0.1:${proxy.port}/${db.name}?sslmode=disable`,
    });
    try {
      await bot.waitForLine(/\(try 3\)$/);
      await proxy.restore();
      await bot.waitForLine(/running in polling mode/);
      const alice = user(9201);
      await api.processed(api.push(message(alice, privateChat(alice))));
      bot.kill("SIGTERM");
      assert.equal((await bot.exit()).code, 0, bot.stderr);
    } finally {
      bot.kill("SIGKILL");
      await bot.exit();
      await api.close();
    }
    const waits = bot.lines.filter((line) =>
      line.includes("cannot be reached")
    );
    assert.ok(waits.length >= 2, bot.stderr);
    for (const line of waits) {
      assert.match(
        line,
        /^warning: The PostgreSQL database postgres:\/\/postgres@127\.0\.0\.1:\d+\/\S+ \(sslmode=disable\) cannot be reached: connection refused; trying again in [\d.]+ s \(try \d+\)$/,
      );
    }
    const store = await openPostgresStore(db.location.connection, {
      cipher: await testCipher(),
      catalog: installedCatalog(),
    });
    try {
      assert.equal((await readUser(store, 9201))?.first_name, "User9201");
    } finally {
      await store.close();
    }
  },
);

Deno.test("a database that stays out of reach is given up after DATABASE_START_TIMEOUT_SECONDS with exit 4 and one line per try", async () => {
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort()}/bot`,
    DATABASE_START_TIMEOUT_SECONDS: "2",
  });
  const status = await bot.exit();
  await api.close();
  assert.equal(status.code, 4, bot.stderr);
  const tries = bot.lines.filter((line) =>
    /cannot be reached|out of reach/.test(line)
  );
  assert.ok(tries.length >= 2, bot.stderr);
  assert.match(
    tries.at(-1)!,
    new RegExp(
      `^error: The PostgreSQL database .* stayed out of reach \\(connection refused\\) through ${tries.length} tries in \\d+ s: giving up with exit code 4`,
    ),
  );
  assert.ok(tries.slice(0, -1).every((line) => line.startsWith("warning: ")));
});

Deno.test("a stop while the database is waited for exits 0 at once", async () => {
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort()}/bot`,
    DATABASE_START_TIMEOUT_SECONDS: "600",
  });
  await bot.waitForLine(/cannot be reached: connection refused/);
  bot.kill("SIGTERM");
  const status = await bot.exit();
  await api.close();
  assert.equal(status.code, 0, bot.stderr);
  assert.doesNotMatch(bot.stderr, /out of reach|stop took longer/);
});

Deno.test("DATABASE_START_TIMEOUT_SECONDS=0 tries the database once and exits 4", async () => {
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort()}/bot`,
    DATABASE_START_TIMEOUT_SECONDS: "0",
  });
  const status = await bot.exit();
  await api.close();
  assert.equal(status.code, 4, bot.stderr);
  assert.deepEqual(
    bot.lines.filter((line) => /cannot be reached|out of reach/.test(line))
      .map((line) => line.replace(/database .* stayed/, "database stayed")),
    [
      "error: The PostgreSQL database stayed out of reach (connection refused) through 1 try in 0 s: giving up with exit code 4, so that the service manager starts the bot again later (DATABASE_START_TIMEOUT_SECONDS sets how long to wait)",
    ],
  );
});

Deno.test("a DATABASE_URL in a folder that does not exist stops the bot with exit 2 naming the folder, and nothing is created", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `sqlite:${dir.path}/nonexistent/dir/bot.db`,
    DATA_ENCRYPTION_KEY: "",
    DATA_KEY_FILE: `${dir.path}/secrets/data.key`,
  });
  let code: number | string;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // A bot that made the folder after all would serve on: not waited for.
    await bot.waitForLine(/DATABASE_URL names|running in polling mode/);
    code = await Promise.race([
      bot.exit().then((status) => status.code),
      new Promise<string>((resolve) => {
        timer = setTimeout(resolve, 5_000, "still running");
      }),
    ]);
  } finally {
    clearTimeout(timer);
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
  }
  assert.equal(code, 2, bot.stderr);
  assert.ok(
    bot.lines.includes(
      `error: DATABASE_URL names a database in the folder "${dir.path}/nonexistent/dir", which does not exist: correct the path, or create the folder first (only the default data/ folder is made when missing)`,
    ),
    bot.stderr,
  );
  assert.deepEqual(
    [...Deno.readDirSync(dir.path)].map((entry) => entry.name),
    [],
  );
});

Deno.test("the default data/ folder and a new database are created, saying so in one line, and only the first time", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const root = new URL("../", import.meta.url);
  // Started from another folder, as a fresh clone's `deno task start` is,
  // so that data/ is made there and not in the repository.
  const start = async () =>
    new RunningProgram(
      new Deno.Command("deno", {
        args: [
          "run",
          ...await taskFlags("start"),
          "--config",
          new URL("deno.json", root).pathname,
          new URL("main.ts", root).pathname,
        ],
        cwd: dir.path,
        clearEnv: true,
        env: programEnv({ BOT_TOKEN: TEST_TOKEN, BOT_API_ROOT: api.url }),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    );
  try {
    for (const run of [1, 2]) {
      const bot = await start();
      try {
        await bot.waitForLine(/running in polling mode/);
        bot.kill("SIGTERM");
        assert.equal((await bot.exit()).code, 0, bot.stderr);
      } finally {
        bot.kill("SIGKILL");
        await bot.exit();
      }
      assert.deepEqual(
        bot.lines.filter((line) => line.includes("created a new")),
        run === 1
          ? ['info: created a new, empty database at "data/bot.db"']
          : [],
      );
    }
    assert.ok((await Deno.stat(`${dir.path}/data/bot.db`)).isFile);
  } finally {
    await api.close();
  }
});
