import { encodeKey } from "../crypto/data_key.ts";
import { generateKey } from "../crypto/field_cipher.ts";
import { KeyFileExistsError, writeNewKeyFile } from "../crypto/key_file.ts";
import { ownershipWarning } from "../_new_file.ts";
import { CliError, EXIT, usageError } from "./cli_error.ts";
import type { CliIo } from "./io.ts";

/** Options of `keygen`. */
export interface KeygenOptions {
  /** Write the key to this new file (0600) instead of stdout. */
  out?: string;
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
    throw new CliError(
      `Cannot write the key file "${options.out}": ${(error as Error).message}`,
      EXIT.usage,
    );
  }
  await io.stderr.write(
    `Wrote a new key to "${options.out}" (mode 0600); ${KEEP_APART}\n`,
  );
  const warning = await ownershipWarning(options.out);
  if (warning !== undefined) await io.stderr.write(`${warning}\n`);
}
