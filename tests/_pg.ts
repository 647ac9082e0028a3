import postgres from "postgres";
import {
  parseDatabaseUrl,
  type PostgresLocation,
} from "../src/config/database_url.ts";

/** The PostgreSQL server the tests use: loopback, user postgres, trust. */
export const PG_HOST = "127.0.0.1";
/** Its port. */
export const PG_PORT = 5432;
const ADMIN_URL = `postgres://postgres@${PG_HOST}:${PG_PORT}/postgres`;

/** A database made for one test run; dropped when disposed. */
export interface TestDatabase {
  name: string;
  /** A `DATABASE_URL` for it (no TLS: loopback). */
  url: string;
  location: PostgresLocation;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

let reachable: Promise<string | undefined> | undefined;

/**
 * Why PostgreSQL cannot be used for tests, or undefined when it can. Under
 * `CI=true` an unreachable server is an error, never a reason to skip.
 */
export function postgresUnavailable(): Promise<string | undefined> {
  reachable ??= (async () => {
    const sql = admin();
    try {
      await sql`SELECT 1`;
      return undefined;
    } catch (error) {
      const why =
        `PostgreSQL is not reachable at ${PG_HOST}:${PG_PORT} as user postgres (${
          (error as Error).message
        }): start it (trust authentication on loopback) to run the PostgreSQL tests`;
      if (Deno.env.get("CI") === "true") throw new Error(why);
      return why;
    } finally {
      await sql.end({ timeout: 1 });
    }
  })();
  return reachable;
}

// Asked once, when a test file that needs PostgreSQL is loaded.
const unavailable = await postgresUnavailable();

/**
 * Registers `title` as a test that needs PostgreSQL: it runs when the
 * server is reachable and is skipped, saying why, otherwise. Under
 * `CI=true` an unreachable server fails the run instead.
 */
export function pgTest(title: string, body: () => Promise<void>): void {
  if (unavailable !== undefined) {
    console.warn(`skipping "${title}": ${unavailable}`);
    Deno.test({ name: title, ignore: true, fn: () => {} });
    return;
  }
  Deno.test(title, body);
}

/** Creates a fresh, uniquely named, empty database. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `privacy_bot_test_${Date.now()}_${
    crypto.randomUUID().slice(0, 8)
  }`;
  const sql = admin();
  try {
    await sql.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await sql.end({ timeout: 1 });
  }
  const url =
    `postgres://postgres@${PG_HOST}:${PG_PORT}/${name}?sslmode=disable`;
  const drop = async () => {
    const sql = admin();
    try {
      await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await sql.end({ timeout: 1 });
    }
  };
  return {
    name,
    url,
    location: parseDatabaseUrl(url) as PostgresLocation,
    drop,
    [Symbol.asyncDispose]: drop,
  };
}

/** Runs SQL in a test database from outside the program. */
export async function execPg<T>(
  database: TestDatabase,
  body: (sql: postgres.Sql) => Promise<T>,
): Promise<T> {
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    return await body(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

function admin(): postgres.Sql {
  return postgres(ADMIN_URL, {
    max: 1,
    connect_timeout: 5,
    onnotice: () => {},
  });
}
