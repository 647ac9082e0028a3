import { plural } from "../base/plural.ts";

/** A stored user row exactly as the database holds it (names may be ciphertexts). */
export interface RawUser {
  id: number;
  username: string | null;
  first_name: string;
  last_name: string | null;
  language_code: string | null;
  registered_at: number;
}

/** A stored group row exactly as the database holds it. */
export interface RawGroup {
  id: number;
  username: string | null;
  title: string;
  type: string;
  registered_at: number;
}

/** An audit log entry as stored (its subject is already a keyed hash). */
export interface RawAudit {
  at: number;
  actor: string;
  action: string;
  kind: string;
  subject: string | null;
  records: number;
  outcome: string;
}

/**
 * A consistent view of everything a database holds that a copy carries
 * over: records, audit log, the audit key (so subjects still match), the
 * data key check (so the same key opens the copy) and the bot's profile.
 */
export interface RawSnapshot {
  /** Users, groups and audit entries together, for progress. */
  total: number;
  users(): AsyncIterable<RawUser[]>;
  groups(): AsyncIterable<RawGroup[]>;
  /** Oldest first, so the copy keeps the log's order. */
  audit(): AsyncIterable<RawAudit[]>;
  auditKey: Uint8Array;
  keyCheck: { key_id: string; check_value: string } | undefined;
  botProfile: { profile: string; saved_at: number } | undefined;
}

/** One database seen as stored values, for `copy`: no decryption at all. */
export interface RawDatabase {
  /** Runs `body` on a snapshot that other writers do not change meanwhile. */
  read<T>(body: (snapshot: RawSnapshot) => Promise<T>): Promise<T>;
  /** What the database already holds: records and audit entries. */
  holdings(): Promise<{ records: number; audit: number }>;
  /**
   * Writes the snapshot in one transaction; throws `TargetNotEmptyError`,
   * writing nothing, when the database holds records or audit entries.
   */
  write(
    snapshot: RawSnapshot,
    onRows: (rows: number) => void,
  ): Promise<void>;
  /** Releases the connection. */
  close(): Promise<void>;
}

/** The copy's target already holds data; nothing was written. */
export class TargetNotEmptyError extends Error {
  /** Says what the target holds. */
  constructor(holdings: { records: number; audit: number }) {
    super(
      `The target database is not empty (${
        plural(holdings.records, "record")
      }, ${
        plural(holdings.audit, "audit entry")
      }): copy only into a new, empty database`,
    );
    this.name = "TargetNotEmptyError";
  }
}
