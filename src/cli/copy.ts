import { resolve } from "node:path";
import type { Env } from "../config/config.ts";
import {
  type DatabaseLocation,
  describeLocation,
  parseDatabaseUrl,
} from "../config/database_url.ts";
import { openRawDatabase } from "../store/open_store.ts";
import { type RawDatabase, TargetNotEmptyError } from "../store/raw_copy.ts";
import type { MaintenanceStore } from "../store/store.ts";
import type { Catalog } from "../base/tables.ts";
import { plural } from "../base/plural.ts";
import { usageError } from "./cli_error.ts";
import type { CliIo } from "./io.ts";
import { startProgress } from "./progress.ts";

/** Options of `copy`. */
export interface CopyOptions {
  /** The target database, as a `DATABASE_URL` value. */
  to: string;
  /**
   * The database `store` is open on, so that a copy onto itself is refused
   * before anything is opened.
   */
  from?: DatabaseLocation;
  io: CliIo;
  /** No progress display even on a terminal. */
  quiet?: boolean;
  /** Read for `PG_POOL_SIZE`; defaults to the process environment. */
  env?: Env;
  /**
   * What the installed plugins store (default: what `store` was opened
   * with): the target is migrated with it and its tables are checked.
   */
  catalog?: Catalog;
}

/**
 * Copies every row of every described table and of every plugin's
 * bookkeeping table, the audit log (with its key, so subjects still
 * match), the data key check and the bot's profile into another, empty
 * database, SQLite or PostgreSQL. Values are copied as stored: ciphertexts
 * are bound to table, column and id, not to the database, so no key is
 * needed and nothing is re-encrypted. The source is read from one snapshot
 * and the target written in one transaction, a page at a time; a target
 * that holds anything is refused with nothing changed.
 */
export async function copy(
  store: MaintenanceStore,
  options: CopyOptions,
): Promise<void> {
  const { io } = options;
  const target = parseDatabaseUrl(options.to, {
    variable: "--to",
    env: options.env ?? Deno.env.toObject(),
  });
  if (options.from !== undefined && sameDatabase(options.from, target)) {
    throw usageError(
      `--to names the database being copied (${describeLocation(target)})`,
    );
  }
  const source = await store.rawCopy();
  try {
    const destination = await openRawDatabase(target, {
      create: true,
      catalog: options.catalog ?? source.catalog,
    });
    try {
      await refuseHoldings(destination);
      const copied = await source.read(async (snapshot) => {
        const progress = startProgress(io, {
          label: "Copying",
          total: snapshot.total,
          quiet: options.quiet,
        });
        let done = 0;
        try {
          await destination.write(snapshot, (rows) => {
            done += rows;
            progress.update(done, snapshot.total);
          });
        } catch (error) {
          if (error instanceof TargetNotEmptyError) {
            throw usageError(error.message);
          }
          throw error;
        } finally {
          await progress.finish();
        }
        return await destination.holdings();
      });
      await io.stderr.write(
        `Copied ${plural(copied.records, "record")} and ${
          plural(copied.audit, "audit entry")
        } to ${describeLocation(target)}\n`,
      );
    } finally {
      await destination.close();
    }
  } finally {
    await source.close();
  }
}

async function refuseHoldings(target: RawDatabase): Promise<void> {
  const held = await target.holdings();
  if (held.records + held.audit > 0) {
    throw usageError(new TargetNotEmptyError(held).message);
  }
}

function sameDatabase(a: DatabaseLocation, b: DatabaseLocation): boolean {
  if (a.kind === "sqlite" && b.kind === "sqlite") {
    return resolve(a.path) === resolve(b.path);
  }
  if (a.kind === "postgres" && b.kind === "postgres") {
    return a.connection.host === b.connection.host &&
      a.connection.port === b.connection.port &&
      a.connection.database === b.connection.database;
  }
  return false;
}
