/**
 * Configuration: every setting read from the environment and checked once,
 * at start, with one line naming a bad value. `config/` sits just above
 * `base/`; everything else may read what it returns.
 *
 * @module
 */
import {
  type DatabaseLocation,
  parseDatabaseUrl,
  postgresFromEnv,
} from "./database_url.ts";

export { ConfigError, type Env } from "../base/errors.ts";
import { ConfigError, type Env } from "../base/errors.ts";
import { loadRetention, type RetentionConfig } from "./retention.ts";

/** How the bot receives updates. */
export type BotMode = "polling" | "webhook";

/** Where the records are stored, parsed from `DATABASE_URL`. */
export type { DatabaseLocation };
export { parseDatabaseUrl };

/** The validated configuration of the bot, read from the environment. */
export interface Config extends RetentionConfig {
  token: string;
  mode: BotMode;
  /**
   * Whether `BOT_MODE` itself chose the mode. Only an explicit
   * `BOT_MODE=polling` lets the bot remove a webhook set at Telegram.
   */
  modeExplicit: boolean;
  apiRoot: string;
  database: DatabaseLocation;
  webhookUrl: string | undefined;
  webhookPath: string;
  webhookSecret: string | undefined;
  port: number;
  /** The address the webhook server listens on, from `HOSTNAME`. */
  hostname: string;
  /** Whether the bot runs on Deno Deploy (`DENO_DEPLOYMENT_ID` is set). */
  onDeploy: boolean;
  /** How long a stop may take before the process exits anyway, in ms. */
  stopTimeoutMs: number;
  /** How long an unreachable database is retried at start, in ms (0: once). */
  databaseStartTimeoutMs: number;
  sentry: SentryConfig | undefined;
  /** Who users write to for privacy requests, from `PRIVACY_CONTACT`. */
  privacyContact: string | undefined;
  /** A link to the full policy, from `PRIVACY_POLICY_URL`. */
  privacyPolicyUrl: string | undefined;
  /** Minutes between two in-bot exports, from `PRIVACY_EXPORT_INTERVAL_MINUTES`. */
  exportIntervalMinutes: number;
  /** The Mini App privacy center's public URL, from `MINI_APP_URL` (ends in `/app`). */
  miniAppUrl: string | undefined;
  /** The oldest Mini App init data accepted, from `MINI_APP_MAX_AGE_SECONDS`. */
  miniAppMaxAgeSeconds: number;
}

/** Crash-report settings; present only when `SENTRY_DSN` is set. */
export interface SentryConfig {
  dsn: string;
  environment: string | undefined;
  release: string | undefined;
}

/** The default database when `DATABASE_URL` is not set. */
const DEFAULT_DATABASE_URL = "sqlite:data/bot.db";

const DEFAULT_API_ROOT = "https://api.telegram.org";
const DEFAULT_WEBHOOK_PATH = "/webhook";
const DEFAULT_PORT = 8000;
// Every interface, as before the address could be chosen.
const DEFAULT_HOSTNAME = "0.0.0.0";
const DEFAULT_STOP_TIMEOUT_SECONDS = 10;
// Telegram's own shape: numeric bot id, colon, a 35-character secret.
const TOKEN_PATTERN = /^\d{1,20}:[A-Za-z0-9_-]{30,}$/;
// Telegram accepts 1-256 characters from this set for secret_token.
const SECRET_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

/** Reads and validates every bot setting; throws `ConfigError` on the first bad one. */
export function loadConfig(env: Env): Config {
  const token = readToken(env);
  const webhookUrl = readWebhookUrl(env);
  const mode = readMode(env, webhookUrl);
  const apiRoot = readHttpUrl(env, "BOT_API_ROOT") ?? DEFAULT_API_ROOT;
  const database = loadDatabaseLocation(env);
  const webhookSecret = readSecret(env, mode);
  const port = readPort(env);
  const onDeploy = nonEmpty(env.DENO_DEPLOYMENT_ID) !== undefined;
  if (onDeploy && database.kind === "sqlite") {
    throw new ConfigError(
      "DATABASE_URL",
      "must name a PostgreSQL database on Deno Deploy (postgres://…, or assign one to the app so that Deploy sets it): a SQLite file there is lost whenever Deploy starts a new instance",
    );
  }
  return {
    token,
    mode: mode.mode,
    modeExplicit: mode.explicit,
    apiRoot: apiRoot.replace(/\/+$/, ""),
    database,
    webhookUrl,
    webhookPath: webhookUrl === undefined
      ? DEFAULT_WEBHOOK_PATH
      : new URL(webhookUrl).pathname,
    webhookSecret,
    port,
    hostname: readHostname(env),
    onDeploy,
    stopTimeoutMs: readStopTimeout(env),
    databaseStartTimeoutMs: readDatabaseStartTimeout(env),
    sentry: readSentry(env),
    privacyContact: nonEmpty(env.PRIVACY_CONTACT),
    privacyPolicyUrl: readHttpUrl(env, "PRIVACY_POLICY_URL"),
    exportIntervalMinutes: readExportInterval(env),
    ...readMiniApp(env),
    ...loadRetention(env),
  };
}

/** What `setup` needs: the token, the Bot API and the webhook to set. */
export interface SetupConfig {
  token: string;
  apiRoot: string;
  /** The webhook to set; undefined without `WEBHOOK_URL` or with `BOT_MODE=polling`. */
  webhookUrl: string | undefined;
  /** Required with `webhookUrl`. */
  webhookSecret: string | undefined;
  /** Whether `BOT_MODE=polling` is why no webhook is set despite `WEBHOOK_URL`. */
  pollingChosen: boolean;
  /** The Mini App to set as the menu button, from `MINI_APP_URL`. */
  miniAppUrl: string | undefined;
}

/**
 * Reads the settings of `deno task cli setup`, by the bot's own mode rule:
 * the webhook is set when the bot will serve it, never with
 * `BOT_MODE=polling`. Throws `ConfigError`.
 */
export function loadSetupConfig(env: Env): SetupConfig {
  const token = readToken(env, "deno task cli setup");
  const apiRoot = readHttpUrl(env, "BOT_API_ROOT") ?? DEFAULT_API_ROOT;
  const url = readWebhookUrl(env);
  const mode = readMode(env, url);
  const pollingChosen = url !== undefined && mode.mode === "polling";
  const webhookUrl = pollingChosen ? undefined : url;
  return {
    token,
    apiRoot: apiRoot.replace(/\/+$/, ""),
    webhookUrl,
    webhookSecret: readSecret(
      env,
      webhookUrl === undefined ? { mode: "polling", explicit: false } : mode,
    ),
    pollingChosen,
    miniAppUrl: readMiniApp(env).miniAppUrl,
  };
}

/**
 * Parses `DATABASE_URL`; when it is unset, PostgreSQL from the libpq
 * variables if `PGHOST` is set, else the default SQLite file. Shared by the
 * bot and the CLI.
 */
export function loadDatabaseLocation(
  env: Env,
  variable = "DATABASE_URL",
): DatabaseLocation {
  const value = nonEmpty(env[variable]);
  if (value === undefined) {
    const postgres = postgresFromEnv(env);
    if (postgres !== undefined) return postgres;
  }
  return parseDatabaseUrl(value ?? DEFAULT_DATABASE_URL, { variable, env });
}

function readToken(env: Env, command = "deno task start"): string {
  const token = nonEmpty(env.BOT_TOKEN);
  if (token === undefined) {
    throw new ConfigError(
      "BOT_TOKEN",
      `is required: set it to the token @BotFather gave you, e.g. BOT_TOKEN=123456:ABC… ${command}`,
    );
  }
  // The value itself is a secret, so the message never quotes it.
  if (!TOKEN_PATTERN.test(token)) {
    throw new ConfigError(
      "BOT_TOKEN",
      "is not a bot token: expected the form 123456789:AAH… from @BotFather",
    );
  }
  return token;
}

/** The mode and how it was chosen: by `BOT_MODE`, or by the rule for its absence. */
interface ModeChoice {
  mode: BotMode;
  explicit: boolean;
  /** Why the mode is webhook without `BOT_MODE`, as the secret's error says it. */
  implied?: string;
}

// Without BOT_MODE a set WEBHOOK_URL means webhook mode: a quick polling
// start with the production environment must not take the webhook over.
function readMode(env: Env, webhookUrl: string | undefined): ModeChoice {
  const value = nonEmpty(env.BOT_MODE);
  if (value === undefined) {
    if (webhookUrl !== undefined) {
      return {
        mode: "webhook",
        explicit: false,
        implied:
          " (BOT_MODE is unset and WEBHOOK_URL is set, so the bot runs in webhook mode; set BOT_MODE=polling to poll instead)",
      };
    }
    return nonEmpty(env.DENO_DEPLOYMENT_ID) === undefined
      ? { mode: "polling", explicit: false }
      : {
        mode: "webhook",
        explicit: false,
        implied: " (the default on Deno Deploy)",
      };
  }
  if (value !== "polling" && value !== "webhook") {
    throw new ConfigError(
      "BOT_MODE",
      `must be "polling" or "webhook", got "${value}"`,
    );
  }
  return { mode: value, explicit: true };
}

function readHttpUrl(env: Env, variable: string): string | undefined {
  const value = nonEmpty(env[variable]);
  if (value === undefined) return undefined;
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new ConfigError(
      variable,
      `must be an http:// or https:// URL, got "${value}"`,
    );
  }
  return value;
}

function readWebhookUrl(env: Env): string | undefined {
  const value = nonEmpty(env.WEBHOOK_URL);
  if (value === undefined) return undefined;
  if (!URL.canParse(value) || new URL(value).protocol !== "https:") {
    throw new ConfigError(
      "WEBHOOK_URL",
      `must be a public https:// URL, got "${value}"`,
    );
  }
  return value;
}

function readSecret(env: Env, mode: ModeChoice): string | undefined {
  const value = nonEmpty(env.WEBHOOK_SECRET);
  if (value === undefined) {
    if (mode.mode === "webhook") {
      const why = mode.implied ?? "";
      throw new ConfigError(
        "WEBHOOK_SECRET",
        `is required in webhook mode${why}: 1-256 characters from A-Z, a-z, 0-9, _ and -`,
      );
    }
    return undefined;
  }
  // Not quoted: the secret must not reach logs either.
  if (!SECRET_PATTERN.test(value)) {
    throw new ConfigError(
      "WEBHOOK_SECRET",
      "must be 1-256 characters from A-Z, a-z, 0-9, _ and -",
    );
  }
  return value;
}

function readPort(env: Env): number {
  const value = nonEmpty(env.PORT);
  if (value === undefined) return DEFAULT_PORT;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new ConfigError(
      "PORT",
      `must be a port number from 0 to 65535, got "${value}"`,
    );
  }
  return port;
}

// An IP address or a host name; Deno.serve resolves a name itself.
const HOSTNAME_PATTERN =
  /^(\[?[0-9A-Fa-f:.]+\]?|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)$/;

function readHostname(env: Env): string {
  const value = nonEmpty(env.HOSTNAME);
  if (value === undefined) return DEFAULT_HOSTNAME;
  if (!HOSTNAME_PATTERN.test(value)) {
    throw new ConfigError(
      "HOSTNAME",
      `must be an IP address or host name to listen on, e.g. 127.0.0.1, got "${value}"`,
    );
  }
  return value.replace(/^\[(.*)\]$/, "$1");
}

function readStopTimeout(env: Env): number {
  const value = nonEmpty(env.STOP_TIMEOUT_SECONDS);
  if (value === undefined) return DEFAULT_STOP_TIMEOUT_SECONDS * 1000;
  const seconds = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= 1 && seconds <= 3600)) {
    throw new ConfigError(
      "STOP_TIMEOUT_SECONDS",
      `must be a whole number of seconds from 1 to 3600, got "${value}"`,
    );
  }
  return seconds * 1000;
}

// A database starting with the machine (PostgreSQL after a reboot) is
// waited for this long before the bot gives up with a restartable exit.
function readDatabaseStartTimeout(env: Env): number {
  const value = nonEmpty(env.DATABASE_START_TIMEOUT_SECONDS);
  if (value === undefined) return 60_000;
  const seconds = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= 0 && seconds <= 3600)) {
    throw new ConfigError(
      "DATABASE_START_TIMEOUT_SECONDS",
      `must be a whole number of seconds from 0 (no retry) to 3600, got "${value}"`,
    );
  }
  return seconds * 1000;
}

function readExportInterval(env: Env): number {
  const value = nonEmpty(env.PRIVACY_EXPORT_INTERVAL_MINUTES);
  if (value === undefined) return 60;
  if (!/^\d{1,6}$/.test(value)) {
    throw new ConfigError(
      "PRIVACY_EXPORT_INTERVAL_MINUTES",
      `must be a whole number of minutes (0 for no limit), got "${value}"`,
    );
  }
  return Number(value);
}

/** Reads `MINI_APP_URL` and `MINI_APP_MAX_AGE_SECONDS`. */
function readMiniApp(
  env: Env,
): { miniAppUrl: string | undefined; miniAppMaxAgeSeconds: number } {
  const url = nonEmpty(env.MINI_APP_URL);
  if (
    url !== undefined &&
    (!URL.canParse(url) || new URL(url).protocol !== "https:" ||
      new URL(url).pathname.replace(/\/+$/, "") !== "/app")
  ) {
    throw new ConfigError(
      "MINI_APP_URL",
      `must be the public https:// URL of the bot's /app page, e.g. https://bot.example.com/app, got "${url}"`,
    );
  }
  const age = nonEmpty(env.MINI_APP_MAX_AGE_SECONDS);
  const seconds = age === undefined
    ? 3600
    : /^\d{1,6}$/.test(age)
    ? Number(age)
    : NaN;
  if (!(seconds >= 60 && seconds <= 86400)) {
    throw new ConfigError(
      "MINI_APP_MAX_AGE_SECONDS",
      `must be a whole number of seconds from 60 to 86400, got "${age}"`,
    );
  }
  return {
    miniAppUrl: url?.replace(/\/+$/, ""),
    miniAppMaxAgeSeconds: seconds,
  };
}

function readSentry(env: Env): SentryConfig | undefined {
  const dsn = readHttpUrl(env, "SENTRY_DSN");
  if (dsn === undefined) return undefined;
  const url = new URL(dsn);
  if (url.username === "" || url.pathname.replace(/\//g, "") === "") {
    throw new ConfigError(
      "SENTRY_DSN",
      `must be a Sentry DSN like https://KEY@HOST/PROJECT, got "${dsn}"`,
    );
  }
  return {
    dsn,
    environment: nonEmpty(env.SENTRY_ENVIRONMENT),
    release: nonEmpty(env.SENTRY_RELEASE),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === "" ? undefined : trimmed;
}
