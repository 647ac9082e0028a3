import { plural } from "../base/plural.ts";
import { type Catalog, CORE_BOOKKEEPING } from "../base/tables.ts";

/**
 * A stored row exactly as the database holds it, column name to value
 * (encrypted columns stay ciphertexts; a plugin's bookkeeping may hold
 * bytes).
 */
export type RawRow = Record<string, unknown>;

/** An audit log entry as stored (its subject is already a keyed hash). */
export interface RawAudit {
  at: number;
  actor: string;
  action: string;
  kind: string;
  subject: string | null;
  records: number;
  outcome: string;
  reason: string | null;
}

/** One table a copy carries row by row: its name and its stored rows. */
export interface RawTable {
  name: string;
  /** Pages of every row, every column (in key order for described tables). */
  pages(): AsyncIterable<RawRow[]>;
}

/**
 * A consistent view of everything a database holds that a copy carries
 * over: every described table (users and groups first), every plugin's
 * bookkeeping table, the audit log, the audit key (so subjects still
 * match), the data key check (so the same key opens the copy) and the
 * bot's profile.
 */
export interface RawSnapshot {
  /** Rows of every carried table and audit entries together, for progress. */
  total: number;
  /** The tables carried row by row, in the catalog's order. */
  tables: RawTable[];
  /** Oldest first, so the copy keeps the log's order. */
  audit(): AsyncIterable<RawAudit[]>;
  auditKey: Uint8Array;
  keyCheck: { key_id: string; check_value: string } | undefined;
  botProfile: { profile: string; saved_at: number } | undefined;
}

/** What a database holds that makes it no copy's target. */
export interface Holdings {
  /** Rows in every described table and every plugin's bookkeeping table. */
  records: number;
  audit: number;
}

/** One database seen as stored values, for `copy`: no decryption at all. */
export interface RawDatabase {
  /** The tables it holds, as the store was opened with them (a copy's target gets the same). */
  readonly catalog: Catalog;
  /** Runs `body` on a snapshot that other writers do not change meanwhile. */
  read<T>(body: (snapshot: RawSnapshot) => Promise<T>): Promise<T>;
  /** What the database already holds: rows of the carried tables and audit entries. */
  holdings(): Promise<Holdings>;
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

/**
 * The tables a copy carries row by row: every described table, then every
 * plugin's bookkeeping table (the core's own bookkeeping is carried by
 * name: the audit log, its key, the key check, the bot's profile).
 */
export function carriedTables(catalog: Catalog): string[] {
  return [
    ...catalog.tables.map((table) => table.name),
    ...catalog.bookkeeping.filter((name) => !CORE_BOOKKEEPING.includes(name)),
  ];
}

/** The key columns of a described table, to read it in order; none for bookkeeping. */
export function orderOf(catalog: Catalog, name: string): string[] {
  return [...(catalog.tables.find((table) => table.name === name)?.key ?? [])];
}

/** The copy's target already holds data; nothing was written. */
export class TargetNotEmptyError extends Error {
  /** Says what the target holds. */
  constructor(holdings: Holdings) {
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
