import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { tempDir } from "./_db.ts";
import {
  taskFlags,
  TEST_DATA_KEY,
  TEST_TOKEN,
  TOKEN_SECRET,
} from "./_main_process.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { SECRET, startWebhookBot } from "./_webhook_bot.ts";
import { OtlpReceiver } from "./_otlp_receiver.ts";
import { callback, message, privateChat, user, withId } from "./_updates.ts";

// A person whose name, username and id must appear in no export and no log.
const ALICE = user(7_310_442, {
  first_name: "Alicewonder",
  last_name: "Zebrafinch",
  username: "alice_quietly",
});
const BOB = user(7_310_443, { first_name: "Bobsecretname" });

/** What must never be exported or logged. */
export function forbidden(): string[] {
  return [
    TEST_TOKEN,
    TOKEN_SECRET,
    SECRET,
    TEST_DATA_KEY,
    ...[ALICE, BOB].flatMap((person) => [
      String(person.id),
      person.first_name,
      person.last_name ?? person.first_name,
      person.username ?? person.first_name,
    ]),
  ];
}

function command(from: typeof ALICE, text: string) {
  return message(from, privateChat(from), {
    text,
    entities: [{ type: "bot_command", offset: 0, length: text.length }],
  });
}

Deno.test("a webhook bot with OTEL_DENO=true exports update, commit and privacy metrics and spans, and no secret, name or id", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bot.db`;
  const receiver = new OtlpReceiver();
  const hook = await startWebhookBot(path, {
    env: { ...receiver.env, LOG_LEVEL: "debug", LOG_FORMAT: "json" },
  });
  try {
    let id = 1;
    const post = async (update: ReturnType<typeof message>) =>
      await hook.post(withId(update, id++));
    assert.equal(await post(message(ALICE, privateChat(ALICE))), 200);
    assert.equal(await post(message(ALICE, privateChat(ALICE))), 200);
    assert.equal(await post(command(ALICE, "/privacy")), 200);
    assert.equal(
      await post(
        callback(ALICE, privateChat(ALICE), `prv:x:u:${ALICE.id}:${ALICE.id}`),
      ),
      200,
    );
    assert.equal(
      await post(
        callback(ALICE, privateChat(ALICE), `prv:y:u:${ALICE.id}:${ALICE.id}`),
      ),
      200,
    );
    // A store outage: another process holds the write lock.
    const other = new DatabaseSync(path);
    other.exec("BEGIN IMMEDIATE");
    try {
      assert.equal(await post(message(BOB, privateChat(BOB))), 500);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    assert.equal(await post(message(BOB, privateChat(BOB))), 200);
    const live = await fetch(`${hook.base}/livez`);
    assert.equal(live.status, 200);
    await live.body?.cancel();

    const sum = (name: string, labels: Record<string, string>) =>
      receiver.points().filter((point) =>
        point.name === name &&
        Object.entries(labels).every(([k, v]) => point.attributes[k] === v)
      ).reduce((max, point) => Math.max(max, point.value), 0);
    await receiver.until(
      () => sum("bot.privacy.requests", { "bot.privacy.kind": "erase" }) > 0,
      "privacy metrics",
    );
    await receiver.until(
      () =>
        sum("bot.updates", { "bot.update.outcome": "refused" }) > 0 &&
        receiver.spans().some((span) => span.name === "bot.privacy.erase"),
      "refused updates and spans",
    );
    const message_ = { "bot.update.type": "message" };
    assert.equal(
      sum("bot.updates", { ...message_, "bot.update.outcome": "stored" }) >= 2,
      true,
    );
    assert.equal(
      sum("bot.updates", { ...message_, "bot.update.outcome": "unchanged" }) >=
        1,
      true,
    );
    assert.equal(
      sum("bot.updates", { ...message_, "bot.update.outcome": "refused" }),
      1,
    );
    assert.equal(
      sum("bot.updates", { "bot.update.type": "callback_query" }) >= 1,
      true,
    );
    assert.equal(
      sum("bot.privacy.requests", {
        "bot.privacy.kind": "export",
        "bot.privacy.channel": "chat",
      }),
      1,
    );
    assert.equal(
      sum("bot.privacy.requests", {
        "bot.privacy.kind": "inspect",
        "bot.privacy.channel": "chat",
      }),
      1,
    );
    assert.equal(
      sum("bot.erasures", { "bot.erasure.reason": "request" }) >= 1,
      true,
    );
    assert.equal(sum("bot.store.failures", {}) >= 1, true);
    assert.equal(
      sum("bot.store.commit.size", { "bot.store.commit.result": "ok" }) >= 2,
      true,
    );
    assert.equal(
      sum("bot.api.calls", {
        "bot.api.method": "sendDocument",
        "bot.api.result": "ok",
      }),
      1,
    );
    const units = new Map(receiver.points().map((p) => [p.name, p.unit]));
    assert.equal(units.get("bot.update.duration"), "s");
    assert.equal(units.get("bot.store.commit.duration"), "s");
    assert.equal(units.get("bot.updates"), "{update}");

    // One span per update, a child of the webhook request's span.
    const spans = receiver.spans();
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const updates = spans.filter((span) => span.name === "bot.update");
    assert.equal(updates.length >= 6, true);
    for (const span of updates) {
      const parent = byId.get(span.parentSpanId);
      assert.equal(parent?.scope, "deno", `parent of ${JSON.stringify(span)}`);
    }
    const stored = updates.find((span) =>
      span.attributes["bot.update.outcome"] === "stored"
    )!;
    assert.equal(Number(stored.attributes["bot.batch.size"]) >= 1, true);
    const commit = spans.find((span) => span.name === "bot.store.commit")!;
    assert.notEqual(commit, undefined);
    assert.equal(
      spans.some((span) => span.name === "bot.privacy.export"),
      true,
    );
    assert.equal(
      spans.some((span) => span.name === "bot.privacy.inspect"),
      true,
    );

    // The Bot API calls went over the untraced transport: no client span
    // names the Bot API's path at all.
    assert.equal(
      spans.some((span) =>
        String(span.attributes["url.full"] ?? "").includes(hook.api.url)
      ),
      false,
    );
    assert.equal(hook.api.callsOf("sendDocument").length, 1);
  } finally {
    await hook.stop();
    await receiver.close();
  }
  const exported = receiver.bodies.map((body) => body.text).join("\n");
  const logged = hook.bot.stderr;
  for (const value of forbidden()) {
    assert.equal(exported.includes(value), false, `exported: ${value}`);
    assert.equal(logged.includes(value), false, `logged: ${value}`);
  }
  // Every log line is one JSON object with the agreed fields.
  for (const line of hook.bot.lines) {
    const entry = JSON.parse(line);
    assert.equal(typeof entry.time, "string");
    assert.equal(typeof entry.level, "string");
    assert.equal(typeof entry.message, "string");
  }
});

Deno.test("Deno 2.9 exports a fetch's url.full and url.path with the token in them, and the bot's quiet fetch exports no span at all", async () => {
  const receiver = new OtlpReceiver();
  const api = new FakeBotApi();
  try {
    const flags = await taskFlags("start");
    const { code, stderr } = await new Deno.Command("deno", {
      args: ["run", ...flags, "tests/_fetch_spans.ts", api.url, TEST_TOKEN],
      env: receiver.exitEnv,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    await receiver.until(() => receiver.spans().length > 0, "spans");
    assert.equal(api.callsOf("getMe").length, 1);
    assert.equal(api.callsOf("getMyName").length, 1);
    const clients = receiver.spans().filter((span) =>
      "url.full" in span.attributes
    );
    // The exposure the quiet fetch exists for, pinned so that a change in
    // Deno is noticed: the runtime's fetch span names the whole path.
    assert.deepEqual(
      clients.map((
        span,
      ) => [span.attributes["url.full"], span.attributes["url.path"]]),
      [
        [`${api.url}/bot${TEST_TOKEN}/getMe`, `/bot${TEST_TOKEN}/getMe`],
      ],
    );
    const exported = receiver.bodies.map((body) => body.text).join("\n");
    assert.equal(exported.includes("getMyName"), false);
  } finally {
    await api.close();
    await receiver.close();
  }
});
