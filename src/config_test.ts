import assert from "node:assert/strict";
import { ConfigError, loadConfig, parseDatabaseUrl } from "./config.ts";

const TOKEN = "123456789:AAHtestSECRETtokenPART_0123456789abcd";

Deno.test("with only BOT_TOKEN the bot polls into data/bot.db without Sentry", () => {
  const config = loadConfig({ BOT_TOKEN: TOKEN });
  assert.equal(config.mode, "polling");
  assert.deepEqual(config.database, { kind: "sqlite", path: "data/bot.db" });
  assert.equal(config.apiRoot, "https://api.telegram.org");
  assert.equal(config.webhookPath, "/webhook");
  assert.equal(config.port, 8000);
  assert.equal(config.sentry, undefined);
});

Deno.test("the webhook route is the path of WEBHOOK_URL", () => {
  const config = loadConfig({
    BOT_TOKEN: TOKEN,
    BOT_MODE: "webhook",
    WEBHOOK_SECRET: "abc",
    WEBHOOK_URL: "https://bot.example.org/tg/hook?x=1",
    BOT_API_ROOT: "http://127.0.0.1:8081/",
    PORT: "0",
  });
  assert.equal(config.webhookPath, "/tg/hook");
  assert.equal(config.apiRoot, "http://127.0.0.1:8081");
  assert.equal(config.port, 0);
});

Deno.test("database URLs take sqlite:, bare paths and postgres://", () => {
  assert.deepEqual(parseDatabaseUrl("sqlite:/var/lib/bot.db"), {
    kind: "sqlite",
    path: "/var/lib/bot.db",
  });
  assert.deepEqual(parseDatabaseUrl("./bot.db"), {
    kind: "sqlite",
    path: "./bot.db",
  });
  const postgres = parseDatabaseUrl("postgresql://u@h/db");
  assert.equal(postgres.kind, "postgres");
  assert.equal(
    postgres.kind === "postgres" && postgres.url,
    "postgresql://u@h/db",
  );
  assert.throws(() => parseDatabaseUrl("sqlite:"), ConfigError);
});

Deno.test("Sentry settings are read only with a DSN", () => {
  const config = loadConfig({
    BOT_TOKEN: TOKEN,
    SENTRY_DSN: "https://key@o1.ingest.example.org/42",
    SENTRY_ENVIRONMENT: "prod",
    SENTRY_RELEASE: "1.0.0",
  });
  assert.deepEqual(config.sentry, {
    dsn: "https://key@o1.ingest.example.org/42",
    environment: "prod",
    release: "1.0.0",
  });
});

Deno.test("a bad WEBHOOK_SECRET is refused without quoting it", () => {
  assert.throws(
    () =>
      loadConfig({
        BOT_TOKEN: TOKEN,
        BOT_MODE: "webhook",
        WEBHOOK_SECRET: "has space",
      }),
    (error: Error) =>
      error instanceof ConfigError && !error.message.includes("has space"),
  );
});
