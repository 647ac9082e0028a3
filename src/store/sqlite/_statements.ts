import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  AUDIT_COLUMNS,
  AUDIT_FIELDS,
  ENCRYPTED_VALUES,
  fromExcluded,
  GROUP_COLUMNS,
  GROUP_FIELDS,
  GROUP_UPDATED,
  placeholders,
  USER_COLUMNS,
  USER_FIELDS,
  USER_UPDATED,
} from "../_columns.ts";
import { type RecordRef, subjectRef } from "../audit.ts";
import type { StoreSummary } from "../store.ts";
import { currentVersion } from "./_driver.ts";

/** The statements a `SqliteStore` runs on every update, prepared once. */
export type Statements = Record<
  | "upsertUser"
  | "upsertGroup"
  | "getUser"
  | "getGroup"
  | "deleteUser"
  | "deleteGroup"
  | "moveGroup"
  | "groupSince"
  | "erasedAfter"
  | "bumpErasure"
  | "erasureVersion"
  | "latestPurgeAt"
  | "insertAudit"
  | "keyCheck"
  | "touchHealth",
  StatementSync
>;

/** Prepares the store's statements on an open, migrated database. */
export function prepareStatements(db: DatabaseSync): Statements {
  return {
    upsertUser: db.prepare(
      `INSERT INTO users (${USER_COLUMNS}) VALUES (${placeholders(USER_FIELDS)})
         ON CONFLICT (id) DO UPDATE SET ${fromExcluded(USER_UPDATED)}`,
    ),
    upsertGroup: db.prepare(
      `INSERT INTO groups (${GROUP_COLUMNS}) VALUES (${
        placeholders(GROUP_FIELDS)
      })
         ON CONFLICT (id) DO UPDATE SET ${fromExcluded(GROUP_UPDATED)}`,
    ),
    getUser: db.prepare(
      `SELECT ${USER_COLUMNS} FROM users WHERE id = ?`,
    ),
    getGroup: db.prepare(
      `SELECT ${GROUP_COLUMNS} FROM groups WHERE id = ?`,
    ),
    deleteUser: db.prepare("DELETE FROM users WHERE id = ?"),
    deleteGroup: db.prepare("DELETE FROM groups WHERE id = ?"),
    moveGroup: db.prepare(
      `INSERT INTO groups (${GROUP_COLUMNS}) VALUES (?, ?, ?, 'supergroup', ?)
         ON CONFLICT (id) DO UPDATE SET
           registered_at = min(groups.registered_at, excluded.registered_at)`,
    ),
    groupSince: db.prepare(
      "SELECT registered_at FROM groups WHERE id = ?",
    ),
    // Both halves are look-ups in the audit_log_subject index: the record's
    // own purges, and purges of everything (whose subject is null).
    erasedAfter: db.prepare(
      `SELECT EXISTS (SELECT 1 FROM audit_log
                         WHERE subject = ?1 AND action = 'purge' AND at > ?2)
             OR EXISTS (SELECT 1 FROM audit_log
                         WHERE subject IS NULL AND action = 'purge' AND at > ?2
                           AND kind = 'all') AS erased`,
    ),
    bumpErasure: db.prepare(
      "UPDATE erasure_version SET version = version + 1 WHERE id = 1",
    ),
    erasureVersion: db.prepare(
      "SELECT version FROM erasure_version WHERE id = 1",
    ),
    latestPurgeAt: db.prepare(
      "SELECT max(at) AS at FROM audit_log WHERE action = 'purge'",
    ),
    keyCheck: db.prepare(
      "SELECT key_id FROM data_key_check WHERE id = 1",
    ),
    // A probe must change the row: an update to the same value writes
    // nothing and would commit even on a full disk.
    touchHealth: db.prepare(
      "UPDATE health SET checked_at = max(?, checked_at + 1) WHERE id = 1",
    ),
    insertAudit: db.prepare(
      `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (${
        placeholders(AUDIT_FIELDS)
      })`,
    ),
  };
}

/** Counts, schema version, registration range, size and keys in use. */
export function readSummary(db: DatabaseSync): StoreSummary {
  const row = db.prepare(
    `SELECT (SELECT count(*) FROM users) AS users,
            (SELECT count(*) FROM groups) AS groups,
            min(registered_at) AS oldest,
            max(registered_at) AS newest,
            (SELECT page_count FROM pragma_page_count()) *
              (SELECT page_size FROM pragma_page_size()) AS size
     FROM (SELECT registered_at FROM users UNION ALL SELECT registered_at FROM groups)`,
  ).get() as Record<string, number | null>;
  const check = db.prepare("SELECT key_id FROM data_key_check WHERE id = 1")
    .get() as { key_id: string } | undefined;
  // The key each stored value names: the text between the first two dots.
  const keys = db.prepare(
    `SELECT substr(v, 4, instr(substr(v, 4), '.') - 1) AS key_id, count(*) AS n
     FROM (${ENCRYPTED_VALUES})
     WHERE v LIKE 'v1.%' GROUP BY 1 ORDER BY 1`,
  ).all() as { key_id: string; n: number }[];
  return {
    users: Number(row.users),
    groups: Number(row.groups),
    schemaVersion: currentVersion(db),
    oldestRegistration: row.oldest,
    newestRegistration: row.newest,
    sizeBytes: Number(row.size),
    keyId: check?.key_id ?? null,
    valuesByKeyId: Object.fromEntries(
      keys.map((k) => [k.key_id, Number(k.n)]),
    ),
  };
}

/**
 * When purges happened, as a registration asks inside its transaction.
 * Every purge deletes, raising the erasure counter, so the latest purge
 * time is looked up again only when the counter moved: most updates are
 * newer than every purge and need neither a keyed hash nor a look-up.
 */
export class PurgeTimes {
  #sql: Statements;
  #auditKey: Uint8Array;
  #cache: { version: number; at: number | null } | undefined;

  /** Reads with the store's statements and audit key. */
  constructor(sql: Statements, auditKey: Uint8Array) {
    this.#sql = sql;
    this.#auditKey = auditKey;
  }

  /** When the latest purge of anything was recorded, or null. */
  latest(): number | null {
    const version = Number(
      (this.#sql.erasureVersion.get() as { version: number }).version,
    );
    if (version !== this.#cache?.version) {
      const row = this.#sql.latestPurgeAt.get() as { at: number | null };
      this.#cache = { version, at: row.at === null ? null : Number(row.at) };
    }
    return this.#cache.at;
  }

  /** Whether the record was purged (alone or with everything) after `sentAt`. */
  after(ref: RecordRef, sentAt: number): boolean {
    const subject = subjectRef(this.#auditKey, ref);
    const row = this.#sql.erasedAfter.get(subject, sentAt) as {
      erased: number;
    };
    return Number(row.erased) !== 0;
  }
}
