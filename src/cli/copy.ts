import { resolve } from "node:path";
import type { Env } from "../config/config.ts";
import {
  type DatabaseLocation,
  describeLocation,
  parseDatabaseUrl,
} from "../config/database_url.ts";
import { type RawDatabase, TargetNotEmptyError } from "../store/raw_copy.ts";
import type { Store } from "../store/store.ts";
import { plural } from "../base/plural.ts";
import { usageError } from "./cli_error.ts";
import type { CliIo } from "./io.ts";
import { startProgress } from "./progress.ts";

/** Options of `copy`. */
export interface CopyOptions {
  /** The target database, as a `DATABASE_URL` value. */
  to: string;
  /**
   * The database `store` is open on. Needed for SQLite; for PostgreSQL it
   * defaults to the store's own connection.
   */
  from?: DatabaseLocation;
  io: CliIo;
  /** No progress display even on a terminal. */
  quiet?: boolean;
  /** Read for `PG_POOL_SIZE`; defaults to the process environment. */
  env?: Env;
}

/**
 * Copies every record, the audit log (with its key, so subjects still
 * match), the data key check and the bot's profile into another, empty
 * database, SQLite or PostgreSQL. Values are copied as stored: ciphertexts
 * are bound to table, column and id, not to the database, so no key is
 * needed and nothing is re-encrypted. The source is read from one snapshot
 * and the target written in one transaction, a page at a time; a target
 * that holds anything is refused with nothing changed.
 */
export async function copy(store: Store, options: CopyOptions): Promise<void> {
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
  const source = await openSource(store, options.from);
  try {
    const destination = await openRaw(target, { create: true });
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

async function openSource(
  store: Store,
  from: DatabaseLocation | undefined,
): Promise<RawDatabase> {
  if (from !== undefined) return await openRaw(from, { create: false });
  const { PostgresStore } = await import("../store/postgres/postgres_store.ts");
  if (store instanceof PostgresStore) {
    const { postgresRawOn } = await import("../store/postgres/postgres_raw.ts");
    return postgresRawOn(store.sql, { owned: false });
  }
  throw new Error("copy needs the location of the SQLite database it reads");
}

async function openRaw(
  location: DatabaseLocation,
  options: { create: boolean },
): Promise<RawDatabase> {
  if (location.kind === "sqlite") {
    const { openSqliteRaw } = await import("../store/sqlite/sqlite_raw.ts");
    return await openSqliteRaw(location.path, options);
  }
  const { openPostgresRaw } = await import("../store/postgres/postgres_raw.ts");
  return await openPostgresRaw(location.connection);
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
