import type { RecordRef } from "../store/audit.ts";
import type { PrivacyStore, TableDescription } from "../store/store.ts";
import {
  GROUPS,
  tablesAbout,
  tablesErasedWith,
  USERS,
} from "../base/tables.ts";
import { CliError, EXIT, notFound, usageError } from "./cli_error.ts";
import { describeDamaged, describeRow } from "../privacy/describe.ts";
import { DamagedRecordError } from "../crypto/field_codec.ts";
import { plural } from "../base/plural.ts";
import type { CliIo } from "./io.ts";
import type { Telemetry } from "../base/telemetry.ts";

/** Options of `purge`. */
export interface PurgeOptions {
  target: RecordRef;
  /** Show what would be deleted and delete nothing. */
  dryRun?: boolean;
  /** Do not ask; required when nobody is at a terminal. */
  yes?: boolean;
  /**
   * The database keeps deleted rows in its files until their space is
   * reused (PostgreSQL): say how to remove them now.
   */
  deletedRowsLinger?: boolean;
  io: CliIo;
  /** Where the erased records are counted (reason "operator"); default none. */
  telemetry?: Telemetry;
}

/** What the operator types to confirm `purge --all` on a terminal. */
export const PURGE_ALL_PHRASE = "delete all records";

/**
 * Deletes one person's or group's rows in every described table, or every
 * row, in one transaction that also writes the audit entry. It first shows
 * what goes: the rows about the subject and, when plugins add tables, how
 * many rows of each table. On a terminal it asks first unless `yes`; with
 * nobody to ask and no `yes` it refuses (exit 2) and deletes nothing.
 */
export async function purge(
  store: PrivacyStore,
  options: PurgeOptions,
): Promise<void> {
  const { target, io } = options;
  if (!options.dryRun && !options.yes && !io.interactive) {
    throw usageError(
      "Refusing to purge without --yes when no terminal can confirm it",
    );
  }
  const look = await lookUp(store, target);
  if (options.dryRun) {
    await io.stdout.write(look.shown);
    await io.stderr.write("Dry run: nothing was deleted\n");
    return;
  }
  if (!options.yes) await confirm(io, target, look.shown);
  const deleted = await store.purge(target, "cli");
  options.telemetry?.erasure("operator", deleted);
  if (deleted === 0 && target.kind !== "all") {
    // Deleted by someone else (the bot) between the look-up and the purge.
    throw notFound(target.kind, target.id);
  }
  await io.stderr.write(
    `Deleted ${
      target.kind === "all"
        ? plural(deleted, "record")
        : `${target.kind} ${target.id}`
    }${
      look.plugins ? ` (${listCounts(look.counts, target.kind === "all")})` : ""
    }\n`,
  );
  if (options.deletedRowsLinger) {
    await io.stderr.write(
      "The deleted values stay in PostgreSQL's table files as dead rows until their space is reused: run deno task cli compact to rewrite the tables now\n",
    );
  }
}

/** How many rows of one table a purge deletes; undefined when they cannot be read. */
interface TableCount {
  table: TableDescription;
  rows: number | undefined;
}

/** What the look-up before a purge found. */
interface LookUp {
  /** What is shown to the operator. */
  shown: string;
  /** Rows per table that the purge deletes. */
  counts: TableCount[];
  /** Whether plugins add tables: then the counts per table are shown. */
  plugins: boolean;
}

// What will be deleted, read for the operator to check. A row whose values
// cannot be read is still deleted: erasure never depends on reading.
async function lookUp(
  store: PrivacyStore,
  target: RecordRef,
): Promise<LookUp> {
  const tables = store.tables;
  const plugins = tables.some((table) =>
    table.name !== USERS.name && table.name !== GROUPS.name
  );
  if (target.kind === "all") {
    const { rows } = await store.summary();
    const counts = tables.map((table) => ({
      table,
      rows: rows[table.name] ?? 0,
    }));
    return {
      shown: `all records: ${listCounts(counts, true)}\n`,
      counts,
      plugins,
    };
  }
  const about = new Set(tablesAbout(tables, target.kind));
  const parts: string[] = [];
  const counts: TableCount[] = [];
  for (const table of tablesErasedWith(tables, target.kind)) {
    try {
      const rows = await store.read(table.name, target);
      if (about.has(table)) {
        parts.push(...rows.map((row) => describeRow(table, row)));
      }
      counts.push({ table, rows: rows.length });
    } catch (error) {
      if (!(error instanceof DamagedRecordError)) throw error;
      parts.push(describeDamaged(error));
      counts.push({ table, rows: undefined });
    }
  }
  if (counts.every((count) => count.rows === 0)) {
    throw notFound(target.kind, target.id);
  }
  let shown = parts.join("\n");
  if (plugins) shown += `\nto delete: ${listCounts(counts)}\n`;
  return { shown, counts, plugins };
}

// "1 user, 2 notes and 1 shared note": the tables with rows, or all.
function listCounts(counts: TableCount[], all = false): string {
  const shown = counts.filter((count) => all || count.rows !== 0).map((
    { table, rows },
  ) =>
    rows === undefined
      ? `${table.record} rows that cannot be read`
      : plural(rows, table.record)
  );
  return shown.length <= 1
    ? shown.join("")
    : `${shown.slice(0, -1).join(", ")} and ${shown.at(-1)}`;
}

async function confirm(
  io: CliIo,
  target: RecordRef,
  shown: string,
): Promise<void> {
  await io.stderr.write(shown);
  if (target.kind === "all") {
    const answer = await io.prompt(
      `Type "${PURGE_ALL_PHRASE}" to delete every record of every table: `,
    );
    if (answer?.trim() !== PURGE_ALL_PHRASE) throw cancelled();
    return;
  }
  const answer = await io.prompt(`Delete this ${target.kind}? [y/N] `);
  if (!/^(y|yes)$/i.test(answer?.trim() ?? "")) throw cancelled();
}

function cancelled(): CliError {
  return new CliError("Cancelled: nothing was deleted", EXIT.usage);
}
