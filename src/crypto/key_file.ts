import { basename, dirname, join } from "node:path";
import {
  createOwnerOnly,
  keepOwnership,
  syncDirectory,
} from "../fs/new_file.ts";
import { type DataKey, encodeKey, parseKeyFile } from "./data_key.ts";
import { FieldCipher } from "./field_cipher.ts";

/**
 * The keyring a data key gives: its current key first, then the previous
 * ones. A key file is read again when a value names a key it lacks, so a
 * running bot follows a rotate-key that wrote a new key into the file.
 */
export function dataKeyCipher(dataKey: DataKey): FieldCipher {
  const path = dataKey.path;
  const reload = dataKey.source === "DATA_KEY_FILE" && path !== undefined
    ? () => parseKeyFile(Deno.readTextFileSync(path), path)
    : undefined;
  return FieldCipher.fromKeys([dataKey.key, ...dataKey.previous], reload);
}

/** A key file already exists where a new one was to be written. */
export class KeyFileExistsError extends Error {
  /** The path that is taken. */
  readonly path: string;

  /** Names the existing file. */
  constructor(path: string) {
    super(`The file "${path}" already exists`);
    this.name = "KeyFileExistsError";
    this.path = path;
  }
}

/**
 * Writes `key` to a new file at `path` with mode 0600 and flushes it to disk
 * (the file and its directory entry). Never overwrites: an existing file
 * throws `KeyFileExistsError` and is left as it was.
 */
export async function writeNewKeyFile(
  path: string,
  key: Uint8Array,
): Promise<void> {
  await ensureDirectory(dirname(path));
  await writeKey(path, key);
  await syncDirectory(dirname(path));
}

/** A new key written next to the live key file, not yet in its place. */
export interface StagedKeyFile {
  /** Where the new key waits until `commit`. */
  readonly stagedPath: string;
  /** Renames the staged file over the live one and flushes the directory. */
  commit(): Promise<void>;
  /** Removes the staged file; the live key file is untouched. */
  discard(): Promise<void>;
}

/**
 * Writes `key` to `<path>.new` (mode 0600, flushed to disk) so that a
 * rotation can commit the database knowing the new key is already saved,
 * then move it into place. A leftover `<path>.new` is never overwritten: it
 * may be the only copy of a key (`KeyFileExistsError`).
 */
export async function stageKeyFile(
  path: string,
  key: Uint8Array | Uint8Array[],
): Promise<StagedKeyFile> {
  const directory = dirname(path);
  const stagedPath = join(directory, `${basename(path)}.new`);
  await ensureDirectory(directory);
  await writeKey(stagedPath, key);
  // The new key replaces the old: it keeps the old file's owner, group and
  // mode, so a service reading it as its own user still can.
  await keepOwnership(path, stagedPath).catch(async (error) => {
    await Deno.remove(stagedPath).catch(() => {});
    throw error;
  });
  await syncDirectory(directory);
  return {
    stagedPath,
    async commit() {
      // rename(2) replaces the old file atomically: a reader sees the old
      // key or the new one, never a missing or half-written file.
      await Deno.rename(stagedPath, path);
      await syncDirectory(directory);
    },
    async discard() {
      await Deno.remove(stagedPath).catch(() => {});
      await syncDirectory(directory).catch(() => {});
    },
  };
}

async function writeKey(
  path: string,
  key: Uint8Array | Uint8Array[],
): Promise<void> {
  const keys = key instanceof Uint8Array ? [key] : key;
  let file: Deno.FsFile;
  try {
    file = await createOwnerOnly(path);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new KeyFileExistsError(path);
    }
    throw error;
  }
  try {
    const bytes = new TextEncoder().encode(
      keys.map((k) => `${encodeKey(k)}\n`).join(""),
    );
    let written = 0;
    while (written < bytes.length) {
      written += await file.write(bytes.subarray(written));
    }
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(path).catch(() => {});
    throw error;
  }
  file.close();
}

async function ensureDirectory(path: string): Promise<void> {
  // Owner-only, like the default secrets/ directory the bot creates.
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
}

/**
 * What to add to a wrong-key error when a key file's `.new` sibling is left
 * by a rotate-key interrupted between its commit and its rename: the key
 * that opens the database may be there. Empty otherwise.
 */
export async function interruptedRotation(dataKey: DataKey): Promise<string> {
  if (dataKey.source !== "DATA_KEY_FILE" || dataKey.path === undefined) {
    return "";
  }
  const staged = `${dataKey.path}.new`;
  try {
    await Deno.lstat(staged);
  } catch {
    return "";
  }
  return `; "${staged}" is left from an interrupted rotate-key: if the database opens with it, move it to "${dataKey.path}"`;
}
