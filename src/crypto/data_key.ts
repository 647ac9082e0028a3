import { dirname } from "node:path";
import { ConfigError, type Env } from "../config/config.ts";
// Not imported from the cipher module: main.ts loads this module before its
// signal handlers are in place, so it must stay light, and the cipher module
// pulls in node:crypto. The cipher checks the same size when it is built.
const KEY_BYTES = 32;

function generateKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

/** Where the data key file lives when `DATA_KEY_FILE` is not set: outside `data/`. */
const DEFAULT_KEY_FILE = "secrets/data.key";

/** A data key and where it came from (for messages). */
export interface DataKey {
  /** The current key: new data is bound to it by rotate-key. */
  key: Uint8Array;
  /**
   * Previous keys, still used to read values they encrypted (from
   * `DATA_ENCRYPTION_KEYS_PREVIOUS`, or the key file's later lines).
   */
  previous: Uint8Array[];
  source: "DATA_ENCRYPTION_KEY" | "DATA_KEY_FILE";
  /** The key file's path, when the key came from (or was written to) a file. */
  path?: string;
  /** True when this call created the key file. */
  created: boolean;
}

/** Where a key was read from, for messages: the variable, or the key file. */
export function keySource(dataKey: DataKey): string {
  return dataKey.source === "DATA_ENCRYPTION_KEY"
    ? "DATA_ENCRYPTION_KEY"
    : `the key file "${dataKey.path}" (DATA_KEY_FILE)`;
}

/** Options for `loadDataKey`. */
export interface LoadDataKeyOptions {
  /** Create the key file when there is no key at all (the bot does, the CLI not). */
  create: boolean;
}

/**
 * Finds the data encryption key: `DATA_ENCRYPTION_KEY` (base64 of 32
 * bytes), else the file at `DATA_KEY_FILE` (default `secrets/data.key`).
 * With neither, it creates the file (mode 0600) when `create` is set and
 * returns undefined otherwise. On Deno Deploy files do not last, so there
 * the variable is required.
 */
export async function loadDataKey(
  env: Env,
  options: LoadDataKeyOptions,
): Promise<DataKey | undefined> {
  const fromEnv = env.DATA_ENCRYPTION_KEY?.trim();
  const previous = env.DATA_ENCRYPTION_KEYS_PREVIOUS?.trim();
  if (fromEnv) {
    return {
      key: decodeKey(fromEnv, "DATA_ENCRYPTION_KEY"),
      previous: previous
        ? previous.split(/[\s,]+/).filter((k) => k !== "").map((k) =>
          decodeKey(k, "DATA_ENCRYPTION_KEYS_PREVIOUS")
        )
        : [],
      source: "DATA_ENCRYPTION_KEY",
      created: false,
    };
  }
  if (previous) {
    throw new ConfigError(
      "DATA_ENCRYPTION_KEYS_PREVIOUS",
      "is set but DATA_ENCRYPTION_KEY is not: set the current key there too (previous keys only read old values)",
    );
  }
  if (env.DENO_DEPLOYMENT_ID?.trim()) {
    throw new ConfigError(
      "DATA_ENCRYPTION_KEY",
      "is required on Deno Deploy, where files do not last: set it to the output of deno task cli keygen",
    );
  }
  const path = env.DATA_KEY_FILE?.trim() || DEFAULT_KEY_FILE;
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new ConfigError(
        "DATA_KEY_FILE",
        `cannot be read at "${path}": ${(error as Error).message}`,
      );
    }
  }
  if (text !== undefined) {
    const [key, ...rest] = parseKeyFile(text, path);
    return {
      key: key!,
      previous: rest,
      source: "DATA_KEY_FILE",
      path,
      created: false,
    };
  }
  if (!options.create) return undefined;
  const key = generateKey();
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // createNew: never overwrite a key that appeared meanwhile.
  await Deno.writeTextFile(path, encodeKey(key) + "\n", {
    createNew: true,
    mode: 0o600,
  });
  return { key, previous: [], source: "DATA_KEY_FILE", path, created: true };
}

/**
 * The keys in a key file: one base64 key a line, the current key first and
 * previous keys after it; blank lines and lines starting with `#` (labels)
 * are skipped. A `ConfigError` names `DATA_KEY_FILE` when there is none or
 * one is not a key.
 */
export function parseKeyFile(text: string, path: string): Uint8Array[] {
  const keys = text.split("\n").map((line) => line.trim()).filter((line) =>
    line !== "" && !line.startsWith("#")
  ).map((line) => decodeKey(line, "DATA_KEY_FILE", path));
  if (keys.length === 0) decodeKey("", "DATA_KEY_FILE", path);
  return keys;
}

/** A key as operators handle it: base64 of its 32 bytes. */
export function encodeKey(key: Uint8Array): string {
  let binary = "";
  for (const byte of key) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Reads a base64 key; a `ConfigError` names `variable` when it is not 32 bytes. */
export function decodeKey(
  text: string,
  variable: string,
  path?: string,
): Uint8Array {
  const where = path === undefined ? "" : ` (in "${path}")`;
  let bytes: Uint8Array | undefined;
  try {
    bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(text)
      ? Uint8Array.from(atob(text), (char) => char.charCodeAt(0))
      : undefined;
  } catch {
    bytes = undefined;
  }
  // The value is a secret: the message says what is wrong, never what it is.
  if (bytes?.length !== KEY_BYTES) {
    throw new ConfigError(
      variable,
      `must be the base64 of ${KEY_BYTES} random bytes${where}, e.g. from deno task cli keygen`,
    );
  }
  return bytes;
}
