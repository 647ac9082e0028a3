import { FieldCipher, generateKey } from "../crypto/field_cipher.ts";
import type { DamagedRecordError } from "../crypto/field_codec.ts";
import {
  KeyFileExistsError,
  type StagedKeyFile,
  stageKeyFile,
} from "../crypto/key_file.ts";
import type { MaintenanceStore, RotationResult } from "../store/store.ts";
import { CliError, EXIT, usageError } from "./cli_error.ts";
import { plural } from "../base/plural.ts";
import type { CliIo } from "./io.ts";
import { Progress } from "./progress.ts";

/** Where the keys come from, and where a new key would be kept. */
export type KeyDestination =
  /** A key file: a new key is made and written there, before the old ones. */
  | { kind: "file"; path: string; keys: Uint8Array[] }
  /** `DATA_ENCRYPTION_KEY`: a new key, if any, comes from `NEW_DATA_ENCRYPTION_KEY`. */
  | { kind: "variable"; next?: Uint8Array };

/** Options of `rotate-key`. */
export interface RotateKeyOptions {
  /** The keyring the store is opened with. */
  current: FieldCipher | undefined;
  destination: KeyDestination;
  io: CliIo;
  /** No progress display even on a terminal. */
  quiet?: boolean;
}

/**
 * Moves the data to a new key while bots go on serving. When the keyring's
 * current key is not yet the database's (the new key was added everywhere
 * first, the old one kept as previous), the data moves to it. Otherwise a
 * new key is made: with a key file, it is written there first, the old keys
 * kept after it, so that the file opens the database at every moment and a
 * running bot that reads it again finds the new key; with the variable, it
 * comes from `NEW_DATA_ENCRYPTION_KEY`. Ends by saying whether any value is
 * left under an old key (exit 3 if so).
 */
export async function rotateKey(
  store: MaintenanceStore,
  options: RotateKeyOptions,
): Promise<void> {
  const { current, destination, io } = options;
  if (current === undefined) {
    throw usageError(
      "rotate-key needs the current key in DATA_ENCRYPTION_KEY or DATA_KEY_FILE",
    );
  }
  const { keyId: bound } = await store.summary();
  let target: FieldCipher;
  let wrote = "";
  let then = "";
  if (current.currentKeyId !== bound) {
    if (destination.kind === "variable" && destination.next !== undefined) {
      throw usageError(
        `NEW_DATA_ENCRYPTION_KEY is set, but the current key (key ${current.currentKeyId}) is not yet the database's (key ${bound}): rotate-key moves the data to the current key, so unset NEW_DATA_ENCRYPTION_KEY`,
      );
    }
    target = current.using(current.currentKeyId);
  } else if (destination.kind === "file") {
    const nextKey = generateKey();
    target = FieldCipher.fromKeySync(nextKey).including(current);
    await save(destination.path, [nextKey, ...destination.keys]);
    wrote = ` and wrote it to "${destination.path}" before the old ${
      destination.keys.length === 1 ? "key" : "keys"
    }`;
  } else {
    if (destination.next === undefined) {
      throw usageError(
        'NEW_DATA_ENCRYPTION_KEY is not set: save a new key first with deno task cli keygen --out FILE, then pass NEW_DATA_ENCRYPTION_KEY="$(cat FILE)"; with several instances, see docs/keys.md instead',
      );
    }
    target = FieldCipher.fromKeySync(destination.next).including(current);
    if (target.keyId === bound) {
      throw usageError("NEW_DATA_ENCRYPTION_KEY is the key already in use");
    }
    then =
      "; Set DATA_ENCRYPTION_KEY to the new key, and the old one in DATA_ENCRYPTION_KEYS_PREVIOUS, and restart a running bot: until then its writes are refused";
  }
  const damaged: DamagedRecordError[] = [];
  const result = await reencrypt(store, target, {
    ...options,
    onDamaged: (error) => {
      damaged.push(error);
      io.stderr.write(`warning: left as it is: ${error.message}\n`).catch(
        () => {},
      );
    },
  });
  const old = target.keyIds.filter((id) => id !== target.keyId);
  if (damaged.length > 0) {
    throw new CliError(
      `Moved the database to key ${target.keyId}${wrote}; re-encrypted ${
        plural(result.records, "record")
      }, but ${
        plural(damaged.length, "damaged record")
      } (named above) could not be read and stay under the old key: purge deletes such a record without reading it; keep the old key until then`,
      EXIT.damaged,
    );
  }
  await report(io, target.keyId, result, { wrote, old });
  if (then !== "") await io.stderr.write(`${then.slice(2)}\n`);
}

async function report(
  io: CliIo,
  keyId: string,
  result: RotationResult,
  details: { wrote: string; old: string[] },
): Promise<void> {
  const done =
    `Moved the database to key ${keyId}${details.wrote}; re-encrypted ${
      plural(result.records, "record")
    }`;
  if (result.remaining > 0) {
    throw new CliError(
      `${done}, but ${
        plural(result.remaining, "value")
      } are still under an old key: an instance still writes with one. Give every instance key ${keyId} as its current key, then run rotate-key again`,
      EXIT.store,
    );
  }
  const old = details.old.map((id) => `key ${id}`).join(", ");
  await io.stderr.write(
    `${done}. No value is left under another key${
      old === ""
        ? ""
        : `: ${old} can now be removed from every instance's keys; keep a copy labelled with its id as long as you keep backups made before now`
    }\n`,
  );
}

// Writes the new key file beside the old one, then moves it into place: a
// reader sees the old file or the new one, and both open the database.
async function save(path: string, keys: Uint8Array[]): Promise<void> {
  const staged = await stage(path, keys);
  try {
    await staged.commit();
  } catch (error) {
    await staged.discard();
    throw new CliError(
      `Cannot replace the key file "${path}": ${
        (error as Error).message
      }; nothing was changed`,
      EXIT.store,
    );
  }
}

async function stage(path: string, keys: Uint8Array[]): Promise<StagedKeyFile> {
  try {
    return await stageKeyFile(path, keys);
  } catch (error) {
    if (error instanceof KeyFileExistsError) {
      // The database opened with the keys in `path`, so the leftover file is
      // not needed; still, a key file is never overwritten.
      throw usageError(
        `"${error.path}" is left from an interrupted rotate-key; this database opens with the keys in "${path}", so it is not needed: remove it, then run rotate-key again`,
      );
    }
    throw new CliError(
      `Cannot write the new key next to "${path}": ${(error as Error).message}`,
      EXIT.store,
    );
  }
}

async function reencrypt(
  store: MaintenanceStore,
  next: FieldCipher,
  options: RotateKeyOptions & {
    onDamaged: (error: DamagedRecordError) => void;
  },
): Promise<RotationResult> {
  const progress = new Progress(options.io, {
    label: "Re-encrypting",
    quiet: options.quiet,
  });
  try {
    return await store.rotateKey(next, {
      onProgress: progress.update,
      onDamaged: options.onDamaged,
    });
  } finally {
    await progress.finish();
  }
}
