/**
 * Storage: the interface the bot and the CLI use (this file), the audit
 * log, migrations, and the two engines in `sqlite/` and `postgres/`, which
 * pass one contract suite (`_store_contract.ts`).
 *
 * @module
 */
import type {
  Actor,
  AuditEntry,
  AuditOutcome,
  ErasureReason,
  RecordRef,
} from "./audit.ts";
import type { UserFromGetMe } from "grammy/types";
import type { FieldCipher } from "../crypto/field_cipher.ts";
import type { DamagedRecordError } from "../crypto/field_codec.ts";
import type { RawDatabase } from "./raw_copy.ts";
import type { GroupFields, UserFields } from "../base/records.ts";
import type { Row, TableDescription } from "../base/tables.ts";

export type {
  GroupFields,
  GroupRecord,
  GroupType,
  UserFields,
  UserRecord,
} from "../base/records.ts";
export type { Row, TableDescription } from "../base/tables.ts";
export {
  DamagedStoreError,
  PermanentStoreError,
  StoreError,
} from "../base/errors.ts";

/** What one update asks the store to do (registration rules 1-6 in PRIVACY.md). */
export interface RegistrationPlan {
  /** The sender to register, when it is a person. */
  user?: UserFields;
  /** A group upgraded to a supergroup: move its record first. */
  move?: { fromId: number; toId: number };
  /** The group or supergroup chat to register. */
  group?: GroupFields;
  /**
   * The bot was removed from this group: delete its record and every row
   * erased with it, logged as an erasure by Telegram (reason `removed`) at
   * `sentAt`, so that an update dated before never registers it again.
   */
  removeGroupId?: number;
  /**
   * The person blocked the bot: delete their record and every row erased
   * with it, logged as an erasure by Telegram (reason `blocked`) at
   * `sentAt`, so that an update dated before never registers them again.
   */
  blockedUserId?: number;
  /**
   * When the person acted (Telegram's `date`, Unix seconds). A user or group
   * purged later than this is not registered again by this plan; an update
   * dated in the same second as the purge does register them. The same
   * holds for every plugin row written by the plan: a row whose person or
   * group was purged later is dropped.
   */
  sentAt?: number;
  /**
   * The day (`YYYY-MM-DD`, UTC) to store as when the user and the group
   * were last seen, only while a retention period is configured.
   */
  seenOn?: string;
  /** Plugin rows to insert or update by key, after the user and the group. */
  writes?: RowWrite[];
  /** Plugin rows to delete by key (the plugin's own deletion, not an erasure). */
  removals?: RowRemoval[];
}

/**
 * A plugin row to store: every column of its table but the stamped ones,
 * plaintext (the store encrypts the encrypted columns). A row already
 * stored under the same key is updated; stamped columns keep their value.
 */
export interface RowWrite {
  table: string;
  row: Row;
}

/** A plugin row to delete: the values of its table's key columns. */
export interface RowRemoval {
  table: string;
  key: Row;
}

/** Whose rows to read: a person's or a group's, by Telegram id. */
export interface SubjectRef {
  kind: "user" | "group";
  id: number;
}

/** What `Store.register` did beyond writing. */
export interface RegisterResult {
  /**
   * Ids of users and groups that a plan did not register because they were
   * erased (purged) after the plan's `sentAt`. A cache of what was written
   * must not remember them.
   */
  erased: number[];
}

/** Called as long work goes on: `done` of `total` records so far. */
export type ProgressCallback = (done: number, total: number) => void;

/** Options for reading every record. */
export interface IterateOptions {
  /**
   * Told of each record whose stored values fail their integrity check; the
   * record is then left out and reading goes on. Without it, such a record
   * ends the reading with a `DamagedRecordError`.
   */
  onDamaged?: (error: DamagedRecordError) => void;
}

/** Options for `Store.rotateKey`. */
export interface RotateKeyOptions {
  /** Told after each page of records; the last call has `done === total`. */
  onProgress?: ProgressCallback;
  /**
   * Told of each record whose values fail their integrity check: it is left
   * as it is (under its old key) and the rotation goes on with the rest.
   * Without it, such a record stops the rotation.
   */
  onDamaged?: IterateOptions["onDamaged"];
}

/** What `Store.rotateKey` did. */
export interface RotationResult {
  /** Records whose values were encrypted again. */
  records: number;
  /** Values still under another key afterwards (written meanwhile by a process on an old key). */
  remaining: number;
}

/** Figures about a store for `inspect`. */
export interface StoreSummary {
  /** Rows per described table (users and groups included), by table name. */
  rows: Record<string, number>;
  /** The highest applied migration of the project's own (`core`) namespace. */
  schemaVersion: number;
  /** The highest applied migration per namespace (`core` and each plugin's). */
  versions: Record<string, number>;
  /** Earliest `registered_at` over users and groups; null when empty. */
  oldestRegistration: number | null;
  /** Latest `registered_at` over users and groups; null when empty. */
  newestRegistration: number | null;
  /** Bytes the database occupies. */
  sizeBytes: number;
  /** The id of the key new values are written with; null when not encrypted. */
  keyId: string | null;
  /** How many stored values each key id encrypted. */
  valuesByKeyId: Record<string, number>;
}

/** What to record in the audit log; the store turns the id into its hash. */
export interface AuditRecord {
  actor: Actor;
  action: AuditEntry["action"];
  target: RecordRef;
  records: number;
  /** Unix seconds; defaults to now. */
  at?: number;
  /** Defaults to `done`; an export starts as `started` (see `finishAudit`). */
  outcome?: AuditOutcome;
  /** Why records were erased; a purge's defaults to `request`. */
  reason?: ErasureReason;
}

/** Options for `PrivacyStore.purge`. */
export interface PurgeOptions {
  /** Why; defaults to `request`. */
  reason?: ErasureReason;
}

/**
 * What the registrar needs: writing registrations, and the erasure counter
 * that tells it when its cache of what was written must be dropped.
 */
export interface RegistrationStore {
  /**
   * Applies the plans in order in one transaction (group commit: concurrent
   * updates share one commit and one fsync). A user or group whose latest
   * purge (of them, or of all records) is later than a plan's `sentAt` is
   * not registered by that plan; the same second does register. Resolves
   * only once that transaction is durably committed; rejects with
   * `StoreError` (or `WrongKeyError`) when it could not be, having written
   * nothing. Waits for another process's write lock without blocking the
   * event loop, up to a bound, then rejects saying the database is locked.
   */
  register(
    plans: readonly RegistrationPlan[],
    now: number,
  ): Promise<RegisterResult>;
  /**
   * The erasure counter: it changes whenever any process or instance
   * deleted or moved a record, so that in-memory caches of what was written
   * must be dropped before the next write is skipped.
   */
  erasureVersion(): Promise<number>;
}

/** What `/healthz` needs: a write probe. */
export interface HealthProbe {
  /**
   * Succeeds only when a write like a registration's could be committed now
   * (lock free, disk writable, data key current). It writes a one-row
   * probe, and never waits for a lock: a held lock rejects.
   */
  checkWritable(): Promise<void>;
}

/** The bot's own profile (`getMe`), stored by `setup` and read at start. */
export interface BotProfileStore {
  /** The bot's own profile stored by `setup`, if any. */
  botProfile(): Promise<UserFromGetMe | undefined>;
  /** Stores the bot's own profile; it is not personal data. */
  saveBotProfile(profile: UserFromGetMe): Promise<void>;
}

/**
 * Reading the stored rows of every described table, about one person or
 * group or all of them, decrypted.
 */
export interface RecordReader {
  /** Every described table, users and groups first (the catalog's order). */
  readonly tables: readonly TableDescription[];
  /**
   * The rows of `table` about the subject, in key order: for `users` or
   * `groups` none or one; for a `member` table, a user's rows in every
   * group or a group's rows of every member; none from a table that holds
   * nothing about that kind of subject (a user table read for a group). A
   * row failing its integrity check throws `DamagedRecordError`; an
   * undescribed table `TypeError`.
   */
  read(table: string, subject: SubjectRef): Promise<Row[]>;
  /**
   * Every row of `table`, streamed in key order without loading them all;
   * an undescribed table throws `TypeError` at once.
   */
  iterate(table: string, options?: IterateOptions): AsyncIterable<Row>;
  /** Counts, schema versions, registration range and size. */
  summary(): Promise<StoreSummary>;
}

/** The privacy-request audit log. */
export interface AuditLog {
  /** Appends an entry to the audit log; returns the entry's number. */
  recordAudit(record: AuditRecord): Promise<number>;
  /** Sets how the request logged as entry `entry` ended. */
  finishAudit(entry: number, outcome: AuditOutcome): Promise<void>;
  /**
   * When (Unix seconds) `actor` last did `action` to the record, from the
   * audit log; undefined if never. Rate limits are derived from this.
   */
  lastAudit(
    target: RecordRef,
    action: AuditEntry["action"],
    actor: Actor,
  ): Promise<number | undefined>;
  /** The most recent audit entries, newest first. */
  recentAudit(limit: number): Promise<AuditEntry[]>;
  /**
   * Every audit entry about one record, oldest first: those whose subject is
   * the record's hash (for `all`, the entries about every record).
   */
  auditOf(target: RecordRef): Promise<AuditEntry[]>;
}

/**
 * What privacy requests need (the bot's commands, the CLI's export, purge,
 * inspect and audit): the records, their erasure, and the audit log.
 */
export interface PrivacyStore extends RecordReader, AuditLog {
  /**
   * Deletes the target's rows in every described table (a user's: theirs
   * and their member rows; a group's: its own and its members' rows in it;
   * `all`: every row) and records the purge in the audit log, in one
   * transaction. Returns how many rows were deleted; with none, no audit
   * entry is written.
   */
  purge(
    target: RecordRef,
    actor: Actor,
    options?: PurgeOptions,
  ): Promise<number>;
}

/** What a retention sweep erased, or would erase. */
export interface SweepResult {
  /** Users erased (or found, in a dry run). */
  users: number;
  /** Groups erased (or found, in a dry run). */
  groups: number;
  /** Rows deleted over every described table; 0 in a dry run. */
  rows: number;
}

/** Options for `RetentionStore.sweep`. */
export interface SweepOptions {
  /** Who sweeps, for the audit entry; default `cli`. */
  actor?: Actor;
  /** Count only; erase nothing and write no entry. */
  dryRun?: boolean;
  /** Records erased per transaction; default 200. */
  pageSize?: number;
}

/** The retention period's bookkeeping and its sweep. */
export interface RetentionStore {
  /**
   * Records the retention period in force as of `today` (`YYYY-MM-DD`):
   * turning it on makes every record stored before count as seen `today`;
   * turning it off (undefined) clears every stored day.
   */
  applyRetention(days: number | undefined, today: string): Promise<void>;
  /**
   * Claims the daily sweep of `today`: true for exactly one caller per day,
   * whichever process or instance asks first.
   */
  claimSweep(today: string): Promise<boolean>;
  /**
   * Erases every user and group last seen before `cutoff` (`YYYY-MM-DD`),
   * with every row erased with them, a page per transaction so that no lock
   * is held long; one audit entry (reason `inactive`) carries the counts,
   * raised with each page, so that an interrupted sweep leaves each record
   * whole or gone and its entry true. Records stored before the period was
   * turned on count as seen the day it was.
   */
  sweep(cutoff: string, options?: SweepOptions): Promise<SweepResult>;
}

/** What the CLI's maintenance commands need beyond the privacy requests. */
export interface MaintenanceStore {
  /** Counts, schema version, registration range and size. */
  summary(): Promise<StoreSummary>;
  /** The highest applied migration. */
  schemaVersion(): Promise<number>;
  /**
   * Binds `next`'s key (new values are written with it from then on, by
   * every process whose keyring holds it) and re-encrypts every value under
   * another key; it decrypts with the store's keys and `next`'s.
   */
  rotateKey(
    next: FieldCipher,
    options?: RotateKeyOptions,
  ): Promise<RotationResult>;
  /**
   * Rewrites the record tables so that values deleted or replaced earlier
   * no longer linger in the database files; locks them meanwhile.
   */
  compact(): Promise<void>;
  /**
   * The database this store is on, seen as stored values (for `copy`: no
   * decryption). Closing the view leaves the store open.
   */
  rawCopy(): Promise<RawDatabase>;
}

/**
 * Where user and group records live: everything each part of the program
 * needs, which every engine implements. Callers take the narrow interface
 * they use. Implementations are opened by the program and passed in;
 * nothing opens a store at import time.
 */
export interface Store
  extends
    RegistrationStore,
    HealthProbe,
    BotProfileStore,
    PrivacyStore,
    MaintenanceStore,
    RetentionStore {
  /** Releases the connection; the store is unusable afterwards. */
  close(): Promise<void>;
}
