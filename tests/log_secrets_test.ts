import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { tempDir } from "./_db.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import {
  runCliProcess,
  startMain,
  TEST_DATA_KEY,
  TEST_TOKEN,
  TOKEN_SECRET,
} from "./_main_process.ts";
import { OtlpReceiver } from "./_otlp_receiver.ts";
import { message, privateChat, user } from "./_updates.ts";

const PLUGINS_MAIN = "tests/_plugins_main.ts";

// People whose names, usernames and ids must appear in no log line.
const CAROL = user(7_420_551, {
  first_name: "Carolinesecret",
  last_name: "Quetzalname",
  username: "carol_hidden",
});
const DAN = user(7_420_552, { first_name: "Danhiddenname" });

const FORBIDDEN = [
  TEST_TOKEN,
  TOKEN_SECRET,
  TEST_DATA_KEY,
  ...[CAROL, DAN].flatMap((person) => [
    String(person.id),
    person.first_name,
    person.last_name ?? person.first_name,
    person.username ?? person.first_name,
  ]),
];

for (const format of ["text", "json"] as const) {
  Deno.test(`at LOG_LEVEL=debug in ${format} format, polling through a Bot API outage, a store outage and a failing plugin logs no token, data key, name or id, and exports none`, async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/bot.db`;
    const api = new FakeBotApi();
    const receiver = new OtlpReceiver();
    const bot = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: api.url,
      DATABASE_URL: path,
      TEST_PLUGINS: "broken",
      LOG_LEVEL: "debug",
      LOG_FORMAT: format,
      ...receiver.env,
    }, { script: PLUGINS_MAIN });
    try {
      await bot.waitForLine(/polling mode/);
      // A text message: registered, then the broken plugin throws.
      await api.processed(
        api.push(message(CAROL, privateChat(CAROL), { text: "hello" })),
      );
      // Telegram fails for a while (from the call after the one in hand,
      // which the next update ends).
      api.failures.set("getUpdates", {
        status: 502,
        description: "Bad Gateway",
      });
      api.push(message(CAROL, privateChat(CAROL)));
      await bot.waitForLine(/getUpdates failed/);
      api.failures.delete("getUpdates");
      await api.processed(api.push(message(CAROL, privateChat(CAROL))));
      await bot.waitForLine(/getUpdates works again/);
      // The store is locked by another process while an update arrives.
      const other = new DatabaseSync(path);
      other.exec("BEGIN IMMEDIATE");
      const id = api.push(message(DAN, privateChat(DAN)));
      try {
        await bot.waitForLine(/cannot store update/);
      } finally {
        other.exec("ROLLBACK");
        other.close();
      }
      await api.processed(id);
      await bot.waitForLine(/the store works again/);
      await receiver.until(
        () =>
          receiver.points().some((point) =>
            point.name === "bot.updates" &&
            point.attributes["bot.update.type"] === "message"
          ) &&
          receiver.points().some((point) =>
            point.name === "bot.api.calls" &&
            point.attributes["bot.api.method"] === "getUpdates" &&
            point.attributes["bot.api.result"] === "502"
          ),
        "polling metrics",
      );
    } finally {
      bot.kill("SIGTERM");
      await bot.exit();
      await api.close();
    }
    // The operator purges Dan through the CLI, with telemetry on.
    const purged = await runCliProcess(
      ["purge", "--user", String(DAN.id), "--yes"],
      { DATABASE_URL: path, ...receiver.exitEnv },
    );
    await receiver.close();
    assert.equal(purged.code, 0, purged.stderr);

    assert.match(bot.stderr, /broken/);
    for (const line of bot.lines) {
      if (format === "json") {
        const entry = JSON.parse(line);
        assert.deepEqual(
          Object.keys(entry).filter((key) =>
            !["time", "level", "message", "event", "trace_id", "span_id"]
              .includes(key)
          ),
          [],
        );
      } else {
        // A reported error's stack trace follows its line.
        assert.match(line, /^(debug|info|warning|error): |^ {4}at /);
      }
    }
    const exported = receiver.bodies.map((body) => body.text).join("\n");
    for (const value of FORBIDDEN) {
      assert.equal(bot.stderr.includes(value), false, `logged: ${value}`);
      assert.equal(exported.includes(value), false, `exported: ${value}`);
    }
  });
}

Deno.test("the CLI's privacy commands with OTEL_DENO=true count requests by kind on the cli channel and erasures by reason", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const receiver = new OtlpReceiver();
  try {
    const db = await runCliProcess(["migrate"], { DATABASE_URL: path });
    assert.equal(db.code, 0, db.stderr);
    for (const args of [["inspect"], ["purge", "--all", "--yes"]]) {
      const result = await runCliProcess(args, {
        DATABASE_URL: path,
        ...receiver.exitEnv,
      });
      assert.equal(result.code, 0, result.stderr);
    }
    await receiver.until(
      () =>
        ["inspect", "erase"].every((kind) =>
          receiver.points().some((point) =>
            point.name === "bot.privacy.requests" &&
            point.attributes["bot.privacy.kind"] === kind &&
            point.attributes["bot.privacy.channel"] === "cli"
          )
        ),
      "cli privacy metrics",
    );
    assert.equal(
      receiver.spans().some((span) => span.name === "bot.privacy.erase"),
      true,
    );
  } finally {
    await receiver.close();
  }
});

Deno.test("LOG_LEVEL and LOG_FORMAT refuse values they do not know, quoting them", async () => {
  for (
    const [name, value] of [["LOG_LEVEL", "loud"], ["LOG_FORMAT", "xml"]]
  ) {
    const bot = await startMain({
      BOT_TOKEN: TEST_TOKEN,
      BOT_API_ROOT: "http://127.0.0.1:9",
      [name]: value,
    });
    const status = await bot.exit();
    assert.equal(status.code, 2);
    assert.match(bot.stderr, new RegExp(`${name} .*"${value}"`));
  }
});
