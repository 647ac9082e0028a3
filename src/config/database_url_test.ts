import assert from "node:assert/strict";
import { ConfigError, loadDatabaseLocation } from "./config.ts";
import {
  describeLocation,
  parseDatabaseUrl,
  postgresFromEnv,
} from "./database_url.ts";

Deno.test("a PostgreSQL URL gives host, port, database, user, password and sslmode", () => {
  const location = parseDatabaseUrl(
    "postgresql://bot:p%40ss%3Aword@db.example.org:6543/records?sslmode=require&application_name=bot1",
  );
  assert.equal(location.kind, "postgres");
  if (location.kind !== "postgres") return;
  assert.deepEqual(location.connection, {
    host: "db.example.org",
    port: 6543,
    database: "records",
    user: "bot",
    password: "p@ss:word",
    sslmode: "require",
    params: { application_name: "bot1" },
    poolSize: 5,
  });
});

Deno.test("a PostgreSQL URL without port, database or sslmode takes libpq's defaults", () => {
  const location = parseDatabaseUrl("postgres://u@h");
  assert.ok(location.kind === "postgres");
  assert.deepEqual(
    [
      location.connection.port,
      location.connection.database,
      location.connection.sslmode,
      location.connection.password,
    ],
    [5432, "u", "prefer", undefined],
  );
});

Deno.test("the description of a PostgreSQL location never shows the password", () => {
  const secret = "s3cr3t-pass";
  for (
    const location of [
      parseDatabaseUrl(`postgres://bot:${secret}@h:5432/db`),
      postgresFromEnv({ PGHOST: "h", PGUSER: "bot", PGPASSWORD: secret })!,
    ]
  ) {
    const description = describeLocation(location);
    assert.ok(!description.includes(secret), description);
    assert.match(description, /^postgres:\/\/bot@h:5432\/\w+ \(sslmode=\w+\)$/);
  }
});

Deno.test("without DATABASE_URL, PGHOST and the other libpq variables choose PostgreSQL", () => {
  const location = loadDatabaseLocation({
    PGHOST: "10.0.0.5",
    PGPORT: "5433",
    PGDATABASE: "botdb",
    PGUSER: "deploy",
    PGPASSWORD: "pw/with?odd#chars",
    PGSSLMODE: "verify-full",
    PG_POOL_SIZE: "3",
  });
  assert.ok(location.kind === "postgres");
  assert.deepEqual(location.connection, {
    host: "10.0.0.5",
    port: 5433,
    database: "botdb",
    user: "deploy",
    password: "pw/with?odd#chars",
    sslmode: "verify-full",
    params: {},
    poolSize: 3,
  });
  // The URL built from them reads back the same.
  const again = parseDatabaseUrl(location.url, { env: { PG_POOL_SIZE: "3" } });
  assert.ok(again.kind === "postgres");
  assert.deepEqual(again.connection, location.connection);
});

Deno.test("DATABASE_URL wins over the libpq variables, and without either SQLite is the default", () => {
  assert.deepEqual(
    loadDatabaseLocation({ DATABASE_URL: "sqlite:x.db", PGHOST: "h" }),
    { kind: "sqlite", path: "x.db" },
  );
  assert.deepEqual(loadDatabaseLocation({}), {
    kind: "sqlite",
    path: "data/bot.db",
  });
});

Deno.test("bad sslmode, port or pool size name the variable and never the password", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [
      { DATABASE_URL: "postgres://u:pw@h/db?sslmode=sometimes" },
      /^DATABASE_URL sslmode must be one of/,
    ],
    [{ DATABASE_URL: "postgres://u:pw@h:99999/db" }, /^DATABASE_URL /],
    [
      { PGHOST: "h", PGPASSWORD: "pw", PGSSLMODE: "maybe" },
      /^PGSSLMODE must be one of/,
    ],
    [{ PGHOST: "h", PGPASSWORD: "pw", PGPORT: "x" }, /^PGPORT must be a port/],
    [
      { PGHOST: "h", PGPASSWORD: "pw", PG_POOL_SIZE: "0" },
      /^PG_POOL_SIZE must be/,
    ],
  ];
  for (const [env, pattern] of cases) {
    assert.throws(
      () => loadDatabaseLocation(env),
      (error: Error) =>
        error instanceof ConfigError && pattern.test(error.message) &&
        !error.message.includes("pw@") && !error.message.includes(":pw"),
    );
  }
});
