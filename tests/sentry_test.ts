import assert from "node:assert/strict";
import * as Sentry from "@sentry/deno";
import type { Update } from "grammy/types";
import { createLogger } from "../src/base/log.ts";
import { createRedactor } from "../src/base/redact.ts";
import { createReporter } from "../src/runtime/reporter.ts";
import { FakeBotApi } from "./_fake_bot_api.ts";
import { tempDir } from "./_db.ts";
import { type SentryEvent, SentryIngest } from "./_sentry_ingest.ts";
import { startMain, TEST_TOKEN, TOKEN_SECRET } from "./_main_process.ts";
import { group, message, user, withId } from "./_updates.ts";

const SECRET = "sentry_test_secret";
const startCommand = {
  text: "/start",
  entities: [{ type: "bot_command" as const, offset: 0, length: 6 }],
};

// The handler's reply fails with an error whose text carries the token, the
// way a URL in an error message would: the report must arrive without it.
function failReplies(api: FakeBotApi): void {
  api.failures.set("sendMessage", {
    status: 400,
    description:
      `Bad Request: rejected ${api.url}/bot${TEST_TOKEN}/sendMessage`,
  });
}

function assertReportOf(event: SentryEvent, update: Update): void {
  const exception = event.exception?.values?.[0];
  assert.ok(exception !== undefined, "the event has no exception");
  assert.match(exception.value ?? "", /sendMessage/);
  assert.ok(
    (exception.stacktrace?.frames?.length ?? 0) > 0,
    "the event has no stack trace",
  );
  assert.equal(event.user?.id, "3001");
  assert.equal(event.tags?.chat_id, "-300");
  assert.equal(event.tags?.update_id, String(update.update_id));
  // Nested fields survive: the SDK's default depth of 3 would cut these.
  assert.deepEqual(event.extra?.update, update);
}

function assertNoSecrets(ingest: SentryIngest, output: string): void {
  for (const body of ingest.bodies) {
    assert.ok(!body.includes(TOKEN_SECRET), "the token reached Sentry");
    assert.ok(!body.includes(SECRET), "the webhook secret reached Sentry");
  }
  assert.ok(!output.includes(TOKEN_SECRET), "the token reached the output");
}

Deno.test("a handler error in webhook mode reaches Sentry with its update and without the token", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const ingest = new SentryIngest();
  failReplies(api);
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_MODE: "webhook",
    BOT_API_ROOT: api.url,
    DATABASE_URL: `${dir.path}/bot.db`,
    WEBHOOK_SECRET: SECRET,
    PORT: "0",
    SENTRY_DSN: ingest.dsn,
    SENTRY_ENVIRONMENT: "test",
  });
  try {
    const [, port] = await bot.waitForLine(/on port (\d+)/);
    const update = withId(
      message(
        user(3001, { username: "reporter" }),
        group(-300, "Crashers"),
        startCommand,
      ),
      77,
    );
    const res = await fetch(`http://127.0.0.1:${port}/webhook`, {
      method: "POST",
      body: JSON.stringify(update),
      headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    const event = await ingest.firstEvent();
    assertReportOf(event, update);
    assertNoSecrets(ingest, bot.stderr + bot.stdout);
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
    await ingest.close();
  }
});

Deno.test("a handler error in polling mode reaches Sentry too", async () => {
  await using dir = await tempDir();
  const api = new FakeBotApi();
  const ingest = new SentryIngest();
  failReplies(api);
  const bot = await startMain({
    BOT_TOKEN: TEST_TOKEN,
    BOT_API_ROOT: api.url,
    DATABASE_URL: `${dir.path}/bot.db`,
    SENTRY_DSN: ingest.dsn,
  });
  try {
    await bot.waitForLine(/polling mode/);
    const body = message(user(3001), group(-300, "Crashers"), startCommand);
    const id = api.push(body);
    await api.processed(id);
    const event = await ingest.firstEvent();
    assertReportOf(event, withId(body, id));
    bot.kill("SIGTERM");
    assert.equal((await bot.exit()).code, 0, bot.stderr);
    assertNoSecrets(ingest, bot.stderr + bot.stdout);
  } finally {
    bot.kill("SIGKILL");
    await bot.exit();
    await api.close();
    await ingest.close();
  }
});

Deno.test("without a DSN the reporter only logs and starts no Sentry client", () => {
  const lines: string[] = [];
  const redact = createRedactor([TEST_TOKEN]);
  const reporter = createReporter(undefined, {
    log: createLogger(redact, (line) => lines.push(line)),
    redact,
  });
  reporter.report(new Error("boom"));
  assert.equal(Sentry.getClient(), undefined);
  assert.match(lines[0] ?? "", /^error: outside an update failed: Error: boom/);
});

Deno.test("the reporter scrubs the token from breadcrumbs and messages", async () => {
  const ingest = new SentryIngest();
  const lines: string[] = [];
  const redact = createRedactor([TEST_TOKEN]);
  const reporter = createReporter(
    { dsn: ingest.dsn, environment: undefined, release: undefined },
    { log: createLogger(redact, (line) => lines.push(line)), redact },
  );
  try {
    // The SDK loads in the background; flushing waits until it is ready.
    await reporter.flush();
    Sentry.addBreadcrumb({
      category: "fetch",
      message: `POST https://api.telegram.org/bot${TEST_TOKEN}/getMe`,
      data: { url: `https://api.telegram.org/bot${TEST_TOKEN}/getMe` },
    });
    reporter.report(new Error(`request to /bot${TEST_TOKEN}/getMe failed`));
    await reporter.flush();
    const event = await ingest.firstEvent();
    assert.match(
      event.exception?.values?.[0]?.value ?? "",
      /\/bot123456789:\[REDACTED\]\/getMe/,
    );
    assert.ok(
      event.breadcrumbs?.some((crumb) =>
        crumb.data?.url ===
          "https://api.telegram.org/bot123456789:[REDACTED]/getMe"
      ),
      "the breadcrumb is missing or unscrubbed",
    );
    assertNoSecrets(ingest, lines.join("\n"));
    assert.match(lines.join("\n"), /\[REDACTED\]/);
  } finally {
    await Sentry.close();
    await ingest.close();
  }
});
