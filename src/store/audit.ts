import { createHmac } from "node:crypto";

/**
 * Who did something to the records: the operator's tool, a person in the
 * bot, or Telegram (an update saying the bot was blocked or removed).
 */
export type Actor = "cli" | "bot" | "telegram";

/** Why records were erased. */
export type ErasureReason =
  /** Someone asked: the person in the bot, or the operator for them. */
  | "request"
  /** The person blocked the bot. */
  | "blocked"
  /** The bot was removed from the group. */
  | "removed"
  /** Not seen for longer than the retention period. */
  | "inactive"
  /** The bot was shut down for good. */
  | "decommission";

/** Every `ErasureReason`, as the audit log's column allows them. */
export const ERASURE_REASONS: readonly ErasureReason[] = [
  "request",
  "blocked",
  "removed",
  "inactive",
  "decommission",
];

/** Which records a privacy request is about. */
export type RecordRef =
  | { kind: "user"; id: number }
  | { kind: "group"; id: number }
  | { kind: "all" };

/** One entry of the privacy-request audit log. */
export interface AuditEntry {
  /** Unix seconds (UTC). */
  at: number;
  actor: Actor;
  action: "export" | "purge";
  kind: RecordRef["kind"];
  /** Keyed hash of the record's id (`subjectRef`); null for all records. */
  subject: string | null;
  /** How many records were exported or deleted. */
  records: number;
  /**
   * How it ended: an export is `started` until every record is written,
   * then `done` or `failed`; `started` alone means it was cut short.
   */
  outcome: AuditOutcome;
  /** Why records were erased (a purge's); null for an export. */
  reason: ErasureReason | null;
}

/** How a logged privacy request ended. */
export type AuditOutcome = "started" | "done" | "failed";

/**
 * The audit log's reference to a record: HMAC-SHA-256 of kind and id under
 * the database's audit key, so the log can be searched by id (rate limits,
 * "was this request answered?") without holding the id itself.
 */
export function subjectRef(key: Uint8Array, ref: RecordRef): string | null {
  if (ref.kind === "all") return null;
  return createHmac("sha256", key).update(`${ref.kind}:${ref.id}`).digest(
    "hex",
  ).slice(0, 32);
}

/**
 * An audit row as read from either engine, with its numbers as numbers
 * (PostgreSQL's BIGINT columns may come back as strings).
 */
export function auditEntry(row: Record<string, unknown>): AuditEntry {
  return {
    at: Number(row.at),
    actor: row.actor as Actor,
    action: row.action as AuditEntry["action"],
    kind: row.kind as RecordRef["kind"],
    subject: (row.subject ?? null) as string | null,
    records: Number(row.records),
    outcome: (row.outcome ?? "done") as AuditOutcome,
    reason: (row.reason ?? null) as ErasureReason | null,
  };
}
