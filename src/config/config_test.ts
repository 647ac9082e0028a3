import assert from "node:assert/strict";
import {
  ConfigError,
  loadConfig,
  loadSetupConfig,
  parseDatabaseUrl,
} from "./config.ts";

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

Deno.test("the mode: BOT_MODE when set, else webhook with WEBHOOK_URL or on Deno Deploy, else polling", () => {
  const url = "https://bot.example.org/webhook";
  const modeOf = (env: Record<string, string>) => {
    const config = loadConfig({ BOT_TOKEN: TOKEN, ...env });
    return [config.mode, config.modeExplicit];
  };
  assert.deepEqual(modeOf({}), ["polling", false]);
  assert.deepEqual(modeOf({ WEBHOOK_URL: url, WEBHOOK_SECRET: "s" }), [
    "webhook",
    false,
  ]);
  assert.deepEqual(
    modeOf({
      DENO_DEPLOYMENT_ID: "d",
      WEBHOOK_SECRET: "s",
      DATABASE_URL: "postgres://u@h/db",
    }),
    [
      "webhook",
      false,
    ],
  );
  assert.deepEqual(modeOf({ BOT_MODE: "polling" }), ["polling", true]);
  assert.deepEqual(modeOf({ BOT_MODE: "polling", WEBHOOK_URL: url }), [
    "polling",
    true,
  ]);
  assert.deepEqual(modeOf({ BOT_MODE: "webhook", WEBHOOK_SECRET: "s" }), [
    "webhook",
    true,
  ]);
});

Deno.test("setup sets the webhook by the same rule, never with BOT_MODE=polling", () => {
  const url = "https://bot.example.org/webhook";
  const setup = loadSetupConfig({
    BOT_TOKEN: TOKEN,
    WEBHOOK_URL: url,
    WEBHOOK_SECRET: "s",
  });
  assert.equal(setup.webhookUrl, url);
  assert.equal(setup.pollingChosen, false);
  const polling = loadSetupConfig({
    BOT_TOKEN: TOKEN,
    BOT_MODE: "polling",
    WEBHOOK_URL: url,
  });
  assert.equal(polling.webhookUrl, undefined);
  assert.equal(polling.pollingChosen, true);
  assert.throws(
    () => loadSetupConfig({ BOT_TOKEN: TOKEN, WEBHOOK_URL: url }),
    /WEBHOOK_SECRET is required in webhook mode/,
  );
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

Deno.test("HOSTNAME picks the listening address, every interface by default", () => {
  assert.equal(loadConfig({ BOT_TOKEN: TOKEN }).hostname, "0.0.0.0");
  assert.equal(
    loadConfig({ BOT_TOKEN: TOKEN, HOSTNAME: "127.0.0.1" }).hostname,
    "127.0.0.1",
  );
  assert.equal(
    loadConfig({ BOT_TOKEN: TOKEN, HOSTNAME: "[::1]" }).hostname,
    "::1",
  );
  assert.equal(
    loadConfig({ BOT_TOKEN: TOKEN, HOSTNAME: "bot.internal" }).hostname,
    "bot.internal",
  );
  assert.throws(
    () => loadConfig({ BOT_TOKEN: TOKEN, HOSTNAME: "http://x/" }),
    (error: Error) =>
      error instanceof ConfigError &&
      error.message ===
        'HOSTNAME must be an IP address or host name to listen on, e.g. 127.0.0.1, got "http://x/"',
  );
});

Deno.test("STOP_TIMEOUT_SECONDS bounds a stop, 10 s by default", () => {
  assert.equal(loadConfig({ BOT_TOKEN: TOKEN }).stopTimeoutMs, 10_000);
  assert.equal(
    loadConfig({ BOT_TOKEN: TOKEN, STOP_TIMEOUT_SECONDS: "30" }).stopTimeoutMs,
    30_000,
  );
  for (const bad of ["0", "-1", "1.5", "3601", "ten"]) {
    assert.throws(
      () => loadConfig({ BOT_TOKEN: TOKEN, STOP_TIMEOUT_SECONDS: bad }),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message.startsWith("STOP_TIMEOUT_SECONDS must be") &&
        error.message.includes(`"${bad}"`),
    );
  }
});

Deno.test("DATABASE_START_TIMEOUT_SECONDS bounds the wait for the database at start, 60 s by default and 0 for none", () => {
  assert.equal(loadConfig({ BOT_TOKEN: TOKEN }).databaseStartTimeoutMs, 60_000);
  for (const [given, ms] of [["0", 0], ["120", 120_000]] as const) {
    assert.equal(
      loadConfig({ BOT_TOKEN: TOKEN, DATABASE_START_TIMEOUT_SECONDS: given })
        .databaseStartTimeoutMs,
      ms,
    );
  }
  for (const bad of ["-1", "1.5", "3601", "a minute"]) {
    assert.throws(
      () =>
        loadConfig({ BOT_TOKEN: TOKEN, DATABASE_START_TIMEOUT_SECONDS: bad }),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message.startsWith("DATABASE_START_TIMEOUT_SECONDS must be") &&
        error.message.includes(`"${bad}"`),
    );
  }
});

Deno.test("on Deno Deploy the bot is in webhook mode and refuses SQLite, naming DATABASE_URL", () => {
  const deploy = {
    BOT_TOKEN: TOKEN,
    DENO_DEPLOYMENT_ID: "abc",
    WEBHOOK_SECRET: "s",
  };
  assert.throws(
    () => loadConfig(deploy),
    (error: Error) =>
      error instanceof ConfigError &&
      error.message.startsWith(
        "DATABASE_URL must name a PostgreSQL database on Deno Deploy",
      ),
  );
  const config = loadConfig({
    ...deploy,
    PGHOST: "db.example.org",
    PGDATABASE: "bot",
    PGUSER: "bot",
  });
  assert.equal(config.mode, "webhook");
  assert.equal(config.onDeploy, true);
  assert.equal(config.database.kind, "postgres");
  assert.equal(loadConfig({ BOT_TOKEN: TOKEN }).onDeploy, false);
});
