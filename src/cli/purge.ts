import type { RecordRef } from "../store/audit.ts";
import type { PrivacyStore } from "../store/store.ts";
import { CliError, EXIT, notFound, usageError } from "./cli_error.ts";
import {
  describeDamaged,
  describeGroup,
  describeUser,
} from "../privacy/describe.ts";
import { DamagedRecordError } from "../crypto/field_codec.ts";
import { plural } from "../base/plural.ts";
import type { CliIo } from "./io.ts";

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
}

/** What the operator types to confirm `purge --all` on a terminal. */
export const PURGE_ALL_PHRASE = "delete all records";

/**
 * Deletes one record, or all of them, in one transaction that also writes
 * the audit entry. On a terminal it asks first unless `yes`; with nobody to
 * ask and no `yes` it refuses (exit 2) and deletes nothing.
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
  const shown = await describeTarget(store, target);
  if (options.dryRun) {
    await io.stdout.write(shown);
    await io.stderr.write("Dry run: nothing was deleted\n");
    return;
  }
  if (!options.yes) await confirm(io, target, shown);
  const deleted = await store.purge(target, "cli");
  if (deleted === 0 && target.kind !== "all") {
    // Deleted by someone else (the bot) between the look-up and the purge.
    throw notFound(target.kind, target.id);
  }
  await io.stderr.write(`Deleted ${describeCount(target, deleted)}\n`);
  if (options.deletedRowsLinger) {
    await io.stderr.write(
      "The deleted values stay in PostgreSQL's table files as dead rows until their space is reused: run deno task cli compact to rewrite the tables now\n",
    );
  }
}

// What will be deleted, read for the operator to check. A record whose
// values cannot be read is still deleted: erasure never depends on reading.
async function describeTarget(
  store: PrivacyStore,
  target: RecordRef,
): Promise<string> {
  try {
    return await describeStored(store, target);
  } catch (error) {
    if (!(error instanceof DamagedRecordError)) throw error;
    return describeDamaged(error);
  }
}

async function describeStored(
  store: PrivacyStore,
  target: RecordRef,
): Promise<string> {
  if (target.kind === "user") {
    const user = await store.getUser(target.id);
    if (user === undefined) throw notFound("user", target.id);
    return describeUser(user);
  }
  if (target.kind === "group") {
    const group = await store.getGroup(target.id);
    if (group === undefined) throw notFound("group", target.id);
    return describeGroup(group);
  }
  const summary = await store.summary();
  return `all records: ${plural(summary.users, "user")} and ${
    plural(summary.groups, "group")
  }\n`;
}

async function confirm(
  io: CliIo,
  target: RecordRef,
  shown: string,
): Promise<void> {
  await io.stderr.write(shown);
  if (target.kind === "all") {
    const answer = await io.prompt(
      `Type "${PURGE_ALL_PHRASE}" to delete every user and group record: `,
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

function describeCount(target: RecordRef, deleted: number): string {
  return target.kind === "all"
    ? `${plural(deleted, "record")}`
    : `${target.kind} ${target.id}`;
}
