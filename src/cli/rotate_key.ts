import { FieldCipher, generateKey } from "../crypto/field_cipher.ts";
import {
  KeyFileExistsError,
  type StagedKeyFile,
  stageKeyFile,
} from "../crypto/key_file.ts";
import type { Store } from "../store/store.ts";
import { CliError, EXIT, usageError } from "./cli_error.ts";
import { plural } from "../plural.ts";
import type { CliIo } from "./io.ts";
import { Progress } from "./progress.ts";

/** Where the new key comes from and where it is kept. */
export type KeyDestination =
  /** The key file the current key came from: the new key is made and written there. */
  | { kind: "file"; path: string }
  /** `DATA_ENCRYPTION_KEY`: the operator gave the new key and saved it. */
  | { kind: "variable"; next: Uint8Array };

/** Options of `rotate-key`. */
export interface RotateKeyOptions {
  /** The key the store is opened with now. */
  current: FieldCipher | undefined;
  destination: KeyDestination;
  io: CliIo;
  /** No progress display even on a terminal. */
  quiet?: boolean;
}

/**
 * Re-encrypts every record from the current key to a new one in one
 * transaction. With a key file, the new key is written beside it first
 * (0600, flushed), the database is rotated, and only then is the new file
 * renamed over the old one: at every moment the data opens with a key saved
 * on disk. If the rotation fails, the new file is removed and nothing changed.
 */
export async function rotateKey(
  store: Store,
  options: RotateKeyOptions,
): Promise<void> {
  const { current, destination, io } = options;
  if (current === undefined) {
    throw usageError(
      "rotate-key needs the current key in DATA_ENCRYPTION_KEY or DATA_KEY_FILE",
    );
  }
  const nextKey = destination.kind === "file"
    ? generateKey()
    : destination.next;
  const next = await FieldCipher.fromKey(nextKey);
  if (next.keyId === current.keyId) {
    throw usageError("NEW_DATA_ENCRYPTION_KEY is the key already in use");
  }
  const staged = destination.kind === "file"
    ? await stage(destination.path, nextKey)
    : undefined;
  let count: number;
  try {
    count = await reencrypt(store, next, options);
  } catch (error) {
    await staged?.discard();
    throw error;
  }
  if (destination.kind === "variable") {
    await io.stderr.write(
      `Re-encrypted ${
        plural(count, "record")
      } with key ${next.keyId}; set DATA_ENCRYPTION_KEY to the new key before starting the bot, and restart a running bot\n`,
    );
    return;
  }
  try {
    await staged!.commit();
  } catch (error) {
    throw new CliError(
      `The database now uses the new key, saved in "${
        staged!.stagedPath
      }", but it could not be moved to "${destination.path}": ${
        (error as Error).message
      }; move it there by hand before starting the bot`,
      EXIT.store,
    );
  }
  await io.stderr.write(
    `Re-encrypted ${
      plural(count, "record")
    } with key ${next.keyId} and wrote the new key to "${destination.path}"; restart a running bot, and back up the new key: copies of the old one no longer open this database\n`,
  );
}

async function stage(path: string, key: Uint8Array): Promise<StagedKeyFile> {
  try {
    return await stageKeyFile(path, key);
  } catch (error) {
    if (error instanceof KeyFileExistsError) {
      // The database opened with the key in `path`, so the leftover file is
      // not its key; still, a key file is never overwritten.
      throw usageError(
        `"${error.path}" is left from an interrupted rotate-key; this database opens with the key in "${path}", so it is not needed: remove it, then run rotate-key again`,
      );
    }
    throw new CliError(
      `Cannot write the new key next to "${path}": ${(error as Error).message}`,
      EXIT.store,
    );
  }
}

async function reencrypt(
  store: Store,
  next: FieldCipher,
  options: RotateKeyOptions,
): Promise<number> {
  const progress = new Progress(options.io, {
    label: "Re-encrypting",
    quiet: options.quiet,
  });
  try {
    return await store.rotateKey(next, { onProgress: progress.update });
  } finally {
    await progress.finish();
  }
}
