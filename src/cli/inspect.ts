import type { PrivacyStore, SubjectRef } from "../store/store.ts";
import { tablesAbout } from "../base/tables.ts";
import { notFound } from "./cli_error.ts";
import { aligned, describeRow } from "../privacy/describe.ts";
import { isoTime } from "../privacy/formats.ts";
import type { CliIo } from "./io.ts";

/** Options of `inspect`. */
export interface InspectOptions {
  /** One person or group; without it, a summary of the store. */
  target?: SubjectRef;
  /** How the database is named to the operator, e.g. `sqlite:data/bot.db`. */
  location: string;
  io: CliIo;
}

const RECENT_AUDIT = 10;

/** Prints one record, or the store's summary with the latest audit entries. */
export async function inspect(
  store: PrivacyStore,
  options: InspectOptions,
): Promise<void> {
  const { target, io } = options;
  if (target !== undefined) {
    await io.stdout.write(await describeSubject(store, target));
    return;
  }
  const summary = await store.summary();
  const when = (time: number | null) =>
    time === null ? "(no records)" : isoTime(time);
  let text = aligned("summary", [
    ["database", options.location],
    ["schema version", String(summary.schemaVersion)],
    // Each plugin's own numbering, beside the project's.
    ...Object.entries(summary.versions).filter(([namespace]) =>
      namespace !== "core"
    ).map(([namespace, version]): [string, string] => [
      `${namespace} schema version`,
      String(version),
    ]),
    // Every described table's rows, users and groups first.
    ...store.tables.map((
      table,
    ): [string, string] => [table.name, String(summary.rows[table.name] ?? 0)]),
    ["oldest registration", when(summary.oldestRegistration)],
    ["newest registration", when(summary.newestRegistration)],
    ["size", formatBytes(summary.sizeBytes)],
    ["data key", summary.keyId ?? "(not encrypted)"],
  ]);
  // Which keys the stored values need: a key still named here cannot be
  // retired, and a backup made now needs the same keys.
  text += "\nvalues per key id:\n";
  const keys = Object.entries(summary.valuesByKeyId);
  if (keys.length === 0) text += "  (none)\n";
  for (const [id, count] of keys) {
    text += `  ${id}  ${String(count).padStart(9)}${
      id === summary.keyId ? "  (current)" : ""
    }\n`;
  }
  const audit = await store.recentAudit(RECENT_AUDIT);
  text += "\nrecent privacy requests (newest first):\n";
  if (audit.length === 0) text += "  (none)\n";
  for (const entry of audit) {
    text +=
      `  ${isoTime(entry.at)}  ${entry.actor.padEnd(3)}  ${
        entry.action.padEnd(6)
      }  ${entry.kind.padEnd(5)}  ${String(entry.records).padStart(6)} record${
        entry.records === 1 ? " " : "s"
      }  ${entry.outcome === "done" ? "" : `(${entry.outcome}) `}${
        entry.subject === null ? "" : `subject ${entry.subject}`
      }`
        .trimEnd() + "\n";
  }
  await io.stdout.write(text);
}

/**
 * Every row about one person (theirs, and theirs within groups) or one
 * group (its own, not its members'), table by table, users and groups
 * first. A damaged row ends it with a `DamagedRecordError`, as an export
 * would. Nothing stored is a not-found error (exit 1).
 */
export async function describeSubject(
  store: PrivacyStore,
  target: SubjectRef,
): Promise<string> {
  const parts: string[] = [];
  for (const table of tablesAbout(store.tables, target.kind)) {
    for (const row of await store.read(table.name, target)) {
      parts.push(describeRow(table, row));
    }
  }
  if (parts.length === 0) throw notFound(target.kind, target.id);
  return parts.join("\n");
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]} (${bytes} bytes)`;
}
