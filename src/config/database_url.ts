import { ConfigError, type Env } from "../base/errors.ts";

/** How the PostgreSQL connection is secured, as libpq's `sslmode` names it. */
export type SslMode =
  | "disable"
  | "allow"
  | "prefer"
  | "require"
  | "verify-ca"
  | "verify-full";

/** Everything needed to connect to PostgreSQL, parsed and checked. */
export interface PostgresConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  /** Never logged; see `description`. */
  password: string | undefined;
  sslmode: SslMode;
  /** Other URL query parameters, passed to the server as settings. */
  params: Record<string, string>;
  /** Most connections the process holds open at once. */
  poolSize: number;
}

/** A PostgreSQL database location. */
export interface PostgresLocation {
  kind: "postgres";
  /** The URL as given, or built from the libpq variables; holds the password. */
  url: string;
  connection: PostgresConnection;
  /** Where the database is, for logs and messages: never the password. */
  description: string;
}

/** A SQLite database location. */
export interface SqliteLocation {
  kind: "sqlite";
  path: string;
}

/** Where the records are stored. */
export type DatabaseLocation = SqliteLocation | PostgresLocation;

/** Connections per process when `PG_POOL_SIZE` is not set. */
const DEFAULT_POOL_SIZE = 5;

const SSL_MODES: readonly SslMode[] = [
  "disable",
  "allow",
  "prefer",
  "require",
  "verify-ca",
  "verify-full",
];

/**
 * Parses a database URL: `sqlite:PATH` or a bare path for SQLite,
 * `postgres://…` or `postgresql://…` for PostgreSQL. `PG_POOL_SIZE` in
 * `env` sets the PostgreSQL pool size.
 */
export function parseDatabaseUrl(
  value: string,
  options: { variable?: string; env?: Env } = {},
): DatabaseLocation {
  const variable = options.variable ?? "DATABASE_URL";
  if (/^postgres(ql)?:\/\//i.test(value)) {
    return parsePostgresUrl(value, variable, options.env ?? {});
  }
  const path = value.startsWith("sqlite:")
    ? value.slice("sqlite:".length)
    : value;
  if (path === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new ConfigError(
      variable,
      `must be sqlite:PATH, a file path or postgres://…, got "${value}"`,
    );
  }
  return { kind: "sqlite", path };
}

/**
 * The PostgreSQL location from the libpq variables (`PGHOST`, `PGPORT`,
 * `PGDATABASE`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`), as Deno Deploy and
 * other hosts inject them; undefined when `PGHOST` is not set.
 */
export function postgresFromEnv(env: Env): PostgresLocation | undefined {
  const host = nonEmpty(env.PGHOST);
  if (host === undefined) return undefined;
  const user = nonEmpty(env.PGUSER) ?? "postgres";
  const connection: PostgresConnection = {
    host,
    port: readPort(nonEmpty(env.PGPORT), "PGPORT"),
    database: nonEmpty(env.PGDATABASE) ?? user,
    user,
    password: env.PGPASSWORD === "" ? undefined : env.PGPASSWORD,
    sslmode: readSslMode(nonEmpty(env.PGSSLMODE), "PGSSLMODE"),
    params: {},
    poolSize: readPoolSize(env),
  };
  return {
    kind: "postgres",
    url: buildUrl(connection),
    connection,
    description: describeConnection(connection),
  };
}

/** Where a database is, for messages; a PostgreSQL password never shows. */
export function describeLocation(location: DatabaseLocation): string {
  return location.kind === "sqlite"
    ? `sqlite:${location.path}`
    : location.description;
}

function parsePostgresUrl(
  value: string,
  variable: string,
  env: Env,
): PostgresLocation {
  // The value may hold a password, so errors never quote it.
  const invalid = (why: string) =>
    new ConfigError(
      variable,
      `must be a PostgreSQL URL like postgres://USER:PASSWORD@HOST:5432/DATABASE: ${why}`,
    );
  if (!URL.canParse(value)) throw invalid("it cannot be parsed");
  const url = new URL(value);
  const params: Record<string, string> = {};
  let sslmode: string | undefined;
  let host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, "$1");
  for (const [name, param] of url.searchParams) {
    if (name === "sslmode" || name === "ssl") sslmode = param;
    else if (name === "host") host = param;
    else params[name] = param;
  }
  if (host === "") throw invalid("the host is missing");
  const user = decodeURIComponent(url.username) || "postgres";
  const connection: PostgresConnection = {
    host,
    port: readPort(url.port || undefined, variable),
    database: decodeURIComponent(url.pathname.replace(/^\//, "")) || user,
    user,
    password: url.password === ""
      ? undefined
      : decodeURIComponent(url.password),
    sslmode: readSslMode(sslmode, `${variable} sslmode`),
    params,
    poolSize: readPoolSize(env),
  };
  return {
    kind: "postgres",
    url: value,
    connection,
    description: describeConnection(connection),
  };
}

function readPort(value: string | undefined, variable: string): number {
  if (value === undefined) return 5432;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new ConfigError(
      variable,
      `must be a port number from 1 to 65535, got "${value}"`,
    );
  }
  return port;
}

// libpq's default is prefer: TLS when the server offers it.
function readSslMode(value: string | undefined, variable: string): SslMode {
  if (value === undefined) return "prefer";
  const mode = value === "true"
    ? "require"
    : value === "false"
    ? "disable"
    : value;
  if (!SSL_MODES.includes(mode as SslMode)) {
    throw new ConfigError(
      variable,
      `must be one of ${SSL_MODES.join(", ")}, got "${value}"`,
    );
  }
  return mode as SslMode;
}

function readPoolSize(env: Env): number {
  const value = nonEmpty(env.PG_POOL_SIZE);
  if (value === undefined) return DEFAULT_POOL_SIZE;
  const size = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(size >= 1 && size <= 1000)) {
    throw new ConfigError(
      "PG_POOL_SIZE",
      `must be a whole number of connections from 1 to 1000, got "${value}"`,
    );
  }
  return size;
}

function buildUrl(connection: PostgresConnection): string {
  const auth = encodeURIComponent(connection.user) +
    (connection.password === undefined
      ? ""
      : `:${encodeURIComponent(connection.password)}`);
  const socket = connection.host.startsWith("/");
  const host = socket
    ? ""
    : connection.host.includes(":")
    ? `[${connection.host}]`
    : connection.host;
  const query = new URLSearchParams({ sslmode: connection.sslmode });
  if (socket) query.set("host", connection.host);
  return `postgres://${auth}@${host}:${connection.port}/${
    encodeURIComponent(connection.database)
  }?${query}`;
}

function describeConnection(connection: PostgresConnection): string {
  const host = connection.host.includes(":") && !connection.host.startsWith("/")
    ? `[${connection.host}]`
    : connection.host;
  return `postgres://${connection.user}@${host}:${connection.port}/${connection.database} (sslmode=${connection.sslmode})`;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === "" ? undefined : trimmed;
}
