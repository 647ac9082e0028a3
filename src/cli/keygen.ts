import { encodeKey } from "../crypto/data_key.ts";
import { generateKey } from "../crypto/field_cipher.ts";
import type { CliIo } from "./io.ts";

/** Options of `keygen`. */
export interface KeygenOptions {
  io: CliIo;
}

/** Prints a fresh data encryption key (base64 of 32 random bytes). */
export async function keygen(options: KeygenOptions): Promise<void> {
  await options.io.stdout.write(`${encodeKey(generateKey())}\n`);
  await options.io.stderr.write(
    "Keep this key apart from the database and its backups: without it the data cannot be read\n",
  );
}
