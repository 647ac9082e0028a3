/**
 * The Mini App's init data: the signed query string Telegram hands a Mini
 * App, checked as Telegram documents it (HMAC-SHA256 over the sorted
 * data-check string, keyed with HMAC-SHA256("WebAppData", bot token)).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

/** The person who opened the Mini App, as the init data says. */
export interface InitDataUser {
  id: number;
  firstName: string;
  languageCode: string | undefined;
}

/** Checked init data: who opened the app, when, and from where. */
export interface InitData {
  user: InitDataUser;
  /** When Telegram signed it, Unix seconds. */
  authDate: number;
  /** The `startapp` parameter of the link that opened the app, if any. */
  startParam: string | undefined;
}

/** Why init data was refused; the message never quotes the data itself. */
export class InitDataError extends Error {
  /** `missing`, `malformed`, `signature` or `expired`. */
  readonly reason: "missing" | "malformed" | "signature" | "expired";

  /** Names the reason. */
  constructor(reason: InitDataError["reason"], message: string) {
    super(message);
    this.name = "InitDataError";
    this.reason = reason;
  }
}

/** Options of `validateInitData`. */
export interface ValidateOptions {
  /** The oldest accepted init data, in seconds. */
  maxAgeSeconds: number;
  /** The clock, Unix seconds; replaceable for tests. */
  now?: number;
}

// Signed data from a clock slightly ahead of ours is still accepted.
const CLOCK_SKEW_SECONDS = 60;

/**
 * Checks `raw` (the init data string) against the bot's token and its age;
 * returns what it says or throws `InitDataError`. Data signed with another
 * bot's token fails the signature check.
 */
export function validateInitData(
  raw: string,
  token: string,
  options: ValidateOptions,
): InitData {
  if (raw === "") throw new InitDataError("missing", "No init data was sent");
  const fields = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(raw)) {
    // A repeated key could be read one way here and another way by whoever
    // signed: refused outright.
    if (fields.has(key)) {
      throw new InitDataError("malformed", `Init data repeats key "${key}"`);
    }
    fields.set(key, value);
  }
  const hash = fields.get("hash");
  if (hash === undefined || !/^[0-9a-f]{64}$/.test(hash)) {
    throw new InitDataError("malformed", "Init data has no valid hash");
  }
  fields.delete("hash");
  const expected = signInitFields(fields, token);
  if (
    !timingSafeEqual(Buffer.from(hash, "hex"), Buffer.from(expected, "hex"))
  ) {
    throw new InitDataError("signature", "Init data signature does not match");
  }
  const authDate = Number(fields.get("auth_date"));
  if (!Number.isSafeInteger(authDate)) {
    throw new InitDataError("malformed", "Init data has no auth_date");
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (
    now - authDate > options.maxAgeSeconds ||
    authDate - now > CLOCK_SKEW_SECONDS
  ) {
    throw new InitDataError("expired", "Init data is too old");
  }
  const user = parseUser(fields.get("user"));
  return { user, authDate, startParam: fields.get("start_param") };
}

/**
 * The hex hash Telegram puts beside `fields` for the bot with `token`:
 * the data-check string is every `key=value` sorted by key, one per line.
 */
export function signInitFields(
  fields: ReadonlyMap<string, string>,
  token: string,
): string {
  const check = [...fields].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([key, value]) => `${key}=${value}`).join("\n");
  const secret = createHmac("sha256", "WebAppData").update(token).digest();
  return createHmac("sha256", secret).update(check).digest("hex");
}

/**
 * Signed init data for `fields`, as Telegram would make it for the bot
 * with `token` (for tests and local trials).
 */
export function signInitData(
  fields: Record<string, string>,
  token: string,
): string {
  const map = new Map(Object.entries(fields));
  const params = new URLSearchParams(fields);
  params.set("hash", signInitFields(map, token));
  return params.toString();
}

function parseUser(json: string | undefined): InitDataUser {
  let user: unknown;
  try {
    user = JSON.parse(json ?? "");
  } catch {
    throw new InitDataError("malformed", "Init data has no user");
  }
  const { id, first_name, language_code } = (user ?? {}) as Record<
    string,
    unknown
  >;
  if (typeof id !== "number" || !Number.isSafeInteger(id)) {
    throw new InitDataError("malformed", "Init data has no user id");
  }
  return {
    id,
    firstName: typeof first_name === "string" ? first_name : "",
    languageCode: typeof language_code === "string" ? language_code : undefined,
  };
}
