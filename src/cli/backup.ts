import { backup as copyPages, DatabaseSync } from "node:sqlite";
import { dirname } from "node:path";
import {
  createOwnerOnly,
  partialPathFor,
  pathExists,
  publishFile,
  syncDirectory,
} from "../fs/new_file.ts";
import { CliError, EXIT, usageError } from "./cli_error.ts";
import type { CliIo } from "./io.ts";

/** Options of `backup`. */
export interface BackupOptions {
  /** The new backup file; it must not exist. */
  out: string;
  io: CliIo;
}

/**
 * Writes a consistent snapshot of the SQLite database at `databasePath` to
 * a new file (mode 0600) while the bot keeps running. SQLite's online
 * backup copies every page in one step through its own read-only connection,
 * under one read transaction: a consistent snapshot, and in WAL mode the
 * bot's writes go on meanwhile. (`VACUUM INTO` would need ATTACH, which Deno
 * allows only with --allow-all.)
 * The snapshot is built under a temporary name beside `out` and linked into
 * place, so `out` is either absent or complete, and an existing file is
 * never overwritten (exit 2).
 */
export async function backup(
  databasePath: string,
  options: BackupOptions,
): Promise<void> {
  const { out, io } = options;
  if (await pathExists(out)) throw existing(out);
  const partial = partialPathFor(out);
  try {
    // Owner-only, like the backups it will hold.
    await Deno.mkdir(dirname(out), { recursive: true, mode: 0o700 });
    // SQLite keeps the mode of an existing, empty target file.
    (await createOwnerOnly(partial)).close();
  } catch (error) {
    throw usageError(
      `Cannot create the backup file "${out}": ${(error as Error).message}`,
    );
  }
  try {
    await snapshot(databasePath, partial, out);
    const file = await Deno.open(partial, { read: true, write: true });
    try {
      await file.sync();
    } finally {
      file.close();
    }
    await publish(partial, out);
  } finally {
    for (const suffix of ["", "-wal", "-shm", "-journal"]) {
      await Deno.remove(partial + suffix).catch(() => {});
    }
    await syncDirectory(dirname(out)).catch(() => {});
  }
  const size = (await Deno.stat(out)).size;
  await io.stderr.write(
    `Wrote a snapshot of "${databasePath}" to "${out}" (${size} bytes, mode 0600); it is encrypted with the data key, so keep a copy of the key apart from it\n`,
  );
}

async function snapshot(
  databasePath: string,
  target: string,
  out: string,
): Promise<void> {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(databasePath, { readOnly: true });
    db.exec("PRAGMA busy_timeout = 5000");
    // All pages in one step: a backup in several steps restarts whenever
    // another connection writes, and might never finish under a busy bot.
    await copyPages(db, target, { rate: -1 });
  } catch (error) {
    // The source is opened read-only: a full disk or an I/O error while
    // writing is the backup file's, and is named as such.
    if (db !== undefined && isWriteFailure(error)) {
      throw new CliError(
        `Cannot write the backup file "${out}": ${
          (error as Error).message
        } (where the backup is written)`,
        EXIT.store,
      );
    }
    throw new CliError(
      `Cannot take a snapshot of the SQLite database at "${databasePath}": ${
        (error as Error).message
      }`,
      EXIT.store,
    );
  } finally {
    db?.close();
  }
}

// SQLITE_FULL and SQLITE_IOERR; the backup's errors carry no code, only
// SQLite's message.
function isWriteFailure(error: unknown): boolean {
  return error instanceof Error &&
    /disk is full|disk I\/O error/.test(error.message);
}

// link(2) fails when `out` exists, so a file that appeared meanwhile is kept.
async function publish(partial: string, out: string): Promise<void> {
  try {
    await publishFile(partial, out, { replace: false });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw existing(out);
    throw usageError(
      `Cannot create the backup file "${out}": ${(error as Error).message}`,
    );
  }
}

function existing(out: string): CliError {
  return usageError(
    `The file "${out}" already exists; backup never overwrites: choose a new name`,
  );
}
