import type { AuditEntry, RecordRef } from "../store/audit.ts";
import type { PrivacyStore } from "../store/store.ts";
import { isoTime } from "../privacy/formats.ts";
import { plural } from "../base/plural.ts";
import { CliError, EXIT } from "./cli_error.ts";
import type { CliIo } from "./io.ts";

/** How `audit` prints the entries. */
export const AUDIT_FORMATS = ["text", "json", "ndjson"] as const;

/** One of `AUDIT_FORMATS`. */
export type AuditFormat = typeof AUDIT_FORMATS[number];

/** Options of `audit`. */
export interface AuditOptions {
  target: RecordRef & { kind: "user" | "group" };
  format: AuditFormat;
  io: CliIo;
}

const ACTORS: Record<AuditEntry["actor"], string> = {
  bot: "in the bot",
  cli: "with the CLI",
  telegram: "by Telegram",
};

// Why an erasure happened, as a line ends.
const REASONS: Record<NonNullable<AuditEntry["reason"]>, string> = {
  request: "on request",
  blocked: "because the person blocked the bot",
  removed: "because the bot was removed from the group",
  inactive: "after the retention period without activity",
  decommission: "because the bot was shut down",
};

const DONE: Record<AuditEntry["action"], string> = {
  export: "exported",
  purge: "deleted",
};

// What a line says of an entry: what was done, or that it was not.
function outcomeOf(entry: AuditEntry): string {
  switch (entry.outcome) {
    case "done":
      return DONE[entry.action];
    case "failed":
      return "to export; it failed";
    case "started":
      return "to export; it was cut short";
  }
}

/**
 * `audit`: every audit-log entry about one record, oldest first. The log
 * holds a keyed hash of the id, not the id: the store hashes the id it is
 * given the same way, so the operator never computes it. No entry is exit 1.
 */
export async function audit(
  store: PrivacyStore,
  options: AuditOptions,
): Promise<void> {
  const { target, io } = options;
  const entries = await store.auditOf(target);
  if (entries.length === 0) {
    throw new CliError(
      `No audit entry is about the ${target.kind} with id "${target.id}"`,
      EXIT.notFound,
    );
  }
  const subject = entries[0]!.subject;
  const records = entries.map((entry) => ({
    at: isoTime(entry.at),
    actor: entry.actor,
    action: entry.action,
    kind: target.kind,
    id: target.id,
    records: entry.records,
    outcome: entry.outcome,
    reason: entry.reason,
  }));
  if (options.format === "json") {
    await io.stdout.write(
      JSON.stringify({ ...target, subject, entries: records }, null, 2) + "\n",
    );
    return;
  }
  if (options.format === "ndjson") {
    await io.stdout.write(
      records.map((record) => JSON.stringify(record) + "\n").join(""),
    );
    return;
  }
  let text =
    `audit entries about ${target.kind} ${target.id} (subject ${subject}), oldest first:\n`;
  for (const entry of entries) {
    text += `  ${isoTime(entry.at).replace("T", " ").replace("Z", " UTC")}  ${
      entry.action.padEnd(6)
    }  ${ACTORS[entry.actor].padEnd(12)}  ${plural(entry.records, "record")} ${
      outcomeOf(entry)
    }${entry.reason === null ? "" : ` ${REASONS[entry.reason]}`}\n`;
  }
  await io.stdout.write(text);
}
