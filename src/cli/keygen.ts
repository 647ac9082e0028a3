import { ConfigError } from "../config/config.ts";
import { encodeKey, parseKeyFile } from "../crypto/data_key.ts";
import { generateKey, keyIdOf } from "../crypto/field_cipher.ts";
import { KeyFileExistsError, writeNewKeyFile } from "../crypto/key_file.ts";
import { ownershipWarning } from "../fs/new_file.ts";
import { fileError, usageError } from "./cli_error.ts";
import type { CliIo } from "./io.ts";

/** Options of `keygen`. */
export interface KeygenOptions {
  /** Write the key to this new file (0600) instead of stdout. */
  out?: string;
  /**
   * Print the id of each key in this file (`-`: stdin) instead of making
   * one; `read` gives the text.
   */
  id?: { path: string; read: () => Promise<string> };
  io: CliIo;
}

const KEEP_APART =
  "keep it apart from the database and its backups: without it the data cannot be read";

/**
 * Makes a fresh data encryption key (base64 of 32 random bytes) and prints
 * it, or writes it to a new file that must not exist yet (exit 2 if it does,
 * nothing changed).
 */
export async function keygen(options: KeygenOptions): Promise<void> {
  const { io } = options;
  if (options.id !== undefined) return await printIds(options.id, io);
  const key = generateKey();
  if (options.out === undefined) {
    await io.stdout.write(`${encodeKey(key)}\n`);
    // Deno cannot tell here whether stdout is a file the shell has already
    // emptied (`keygen > secrets/data.key`), so the safe way is named always.
    await io.stderr.write(
      `Printed a new key; ${KEEP_APART}. To save a key, use keygen --out FILE, which never overwrites a file\n`,
    );
    return;
  }
  try {
    await writeNewKeyFile(options.out, key);
  } catch (error) {
    if (error instanceof KeyFileExistsError) {
      throw usageError(
        `The file "${options.out}" already exists; keygen never overwrites a key file: choose a new name`,
      );
    }
    throw fileError("the key file", options.out, error);
  }
  await io.stderr.write(
    `Wrote a new key to "${options.out}" (mode 0600); ${KEEP_APART}\n`,
  );
  const warning = await ownershipWarning(options.out);
  if (warning !== undefined) await io.stderr.write(`${warning}\n`);
}

/**
 * Prints the id of every key in a key file, one a line, the current key
 * first: the id that stored values, `inspect` and rotate-key name.
 */
async function printIds(
  source: NonNullable<KeygenOptions["id"]>,
  io: CliIo,
): Promise<void> {
  const where = source.path === "-" ? "stdin" : `"${source.path}"`;
  let text: string;
  try {
    text = await source.read();
  } catch (error) {
    throw usageError(`Cannot read ${where}: ${(error as Error).message}`);
  }
  let keys: Uint8Array[];
  try {
    keys = parseKeyFile(text, source.path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // The text may be a secret: the message says what is wrong, never what it is.
    throw usageError(
      `${where} holds no data key: expected one base64 key of 32 bytes a line, as keygen writes`,
    );
  }
  await io.stdout.write(keys.map((key) => `${keyIdOf(key)}\n`).join(""));
}
