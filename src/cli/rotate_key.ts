import { FieldCipher } from "../crypto/field_cipher.ts";
import type { Store } from "../store/store.ts";
import { usageError } from "./cli_error.ts";
import { plural } from "../privacy/export.ts";
import type { CliIo } from "./io.ts";

/** Options of `rotate-key`. */
export interface RotateKeyOptions {
  /** The key the store is opened with now. */
  current: FieldCipher | undefined;
  /** The key to move to (from `NEW_DATA_ENCRYPTION_KEY`). */
  next: Uint8Array;
  io: CliIo;
}

/**
 * Re-encrypts every record from the current key to the new one in one
 * transaction, then tells the operator to switch the configured key.
 */
export async function rotateKey(
  store: Store,
  options: RotateKeyOptions,
): Promise<void> {
  if (options.current === undefined) {
    throw usageError(
      "rotate-key needs the current key in DATA_ENCRYPTION_KEY or DATA_KEY_FILE",
    );
  }
  const next = await FieldCipher.fromKey(options.next);
  if (next.keyId === options.current.keyId) {
    throw usageError("NEW_DATA_ENCRYPTION_KEY is the key already in use");
  }
  const count = await store.rotateKey(next);
  await options.io.stderr.write(
    `Re-encrypted ${
      plural(count, "record")
    } with key ${next.keyId}; set DATA_ENCRYPTION_KEY (or the DATA_KEY_FILE contents) to the new key before starting the bot\n`,
  );
}
