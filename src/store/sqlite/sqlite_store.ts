import type { DatabaseSync } from "node:sqlite";
import type { UserFromGetMe } from "grammy/types";
import {
  type Actor,
  type AuditEntry,
  auditEntry,
  type AuditOutcome,
  type ErasureReason,
  type RecordRef,
  subjectRef,
} from "../audit.ts";
import type { FieldCipher } from "../../crypto/field_cipher.ts";
import type { FieldCodec } from "../../crypto/field_codec.ts";
import {
  type Catalog,
  GROUPS,
  type Row,
  type TableDescription,
  USERS,
} from "../../base/tables.ts";
import { AUDIT_COLUMNS } from "../_columns.ts";
import {
  codecForBinding,
  healthStamp,
  KeyMovedError,
  remainingValues,
  retryOnKeyMove,
  unixNow,
} from "../_engine.ts";
import {
  columnValues,
  encodeRecords,
  erasedBeforeWrite,
  keyValues,
  type PreparedMove,
  prepareMove,
  prepareRowOps,
  rowDecoder,
  subjectColumn,
  TableSet,
  upsertValues,
} from "../_rows.ts";
import type { RawDatabase } from "../raw_copy.ts";
import {
  type AuditRecord,
  DamagedStoreError,
  type IterateOptions,
  type PurgeOptions,
  type RegisterResult,
  type RegistrationPlan,
  type RotateKeyOptions,
  type RotationResult,
  type Store,
  StoreError,
  type StoreSummary,
  type SubjectRef,
  type SweepOptions,
  type SweepResult,
} from "../store.ts";
import {
  checkpoint,
  currentVersion,
  LockedError,
  type LockWait,
  recordPages,
  settle,
  transaction,
} from "./_driver.ts";
import { rotateSqlite } from "./rotate.ts";
import {
  prepareStatements,
  PurgeTimes,
  readSummary,
  type Statements,
  TableStatementCache,
} from "./_statements.ts";
import { sqliteRawAt } from "./sqlite_raw.ts";

/** What a `SqliteStore` is made of besides its connection. */
export interface StoreParts {
  /** Encodes values under the key the database is bound to. */
  codec: FieldCodec;
  /** Waits for other processes' locks. */
  lock: LockWait;
  /** The database file (or `:memory:`). */
  path: string;
  /** Every described table it holds: users, groups and the plugins'. */
  catalog: Catalog;
}

/** The `Store` on a SQLite file through Deno's built-in `node:sqlite`; see `openSqliteStore`. */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #codec: FieldCodec;
  #lock: LockWait;
  #path: string;
  #damage: DamagedStoreError | undefined;
  #sql: Statements;
  #purges: PurgeTimes;
  #auditKey: Uint8Array;
  #tables: TableSet;
  #catalog: Catalog;
  #tableSql: TableStatementCache;

  /** Every described table, users and groups first. */
  get tables(): readonly TableDescription[] {
    return this.#tables.tables;
  }

  /** Wraps an open, migrated database; use `openSqliteStore`. */
  constructor(db: DatabaseSync, parts: StoreParts) {
    this.#db = db;
    this.#catalog = parts.catalog;
    this.#codec = parts.codec;
    this.#lock = parts.lock;
    this.#path = parts.path;
    this.#sql = prepareStatements(db);
    this.#tables = new TableSet(parts.catalog);
    this.#tableSql = new TableStatementCache(db);
    const key = db.prepare("SELECT key FROM audit_key WHERE id = 1").get() as
      | { key: Uint8Array }
      | undefined;
    if (key === undefined) throw new StoreError("The audit key is missing");
    this.#auditKey = key.key;
    this.#purges = new PurgeTimes(this.#sql, key.key);
  }

  /**
   * The rows of `table` about the subject, decrypted, in key order; none
   * when the table holds nothing about such a subject.
   */
  async read(table: string, subject: SubjectRef): Promise<Row[]> {
    const described = this.#tables.describe(table);
    if (subjectColumn(described, subject.kind) === undefined) return [];
    const rows = await this.#stored(described, subject);
    return rows.map((row) => this.#codec.decodeRowSync(described, row));
  }

  // The stored rows of `table` about the subject, as they are stored.
  #stored(table: TableDescription, subject: SubjectRef): Promise<Row[]> {
    return this.#read(() => {
      const statement = this.#tableSql.of(table).bySubject[subject.kind];
      return statement === undefined ? [] : statement.all(subject.id) as Row[];
    });
  }

  /**
   * Applies the plans in order in one transaction, encrypting every value
   * before it begins so that the write lock is held only for the writes.
   */
  register(
    plans: readonly RegistrationPlan[],
    now: number,
  ): Promise<RegisterResult> {
    return retryOnKeyMove(() => this.#registerOnce(plans, now));
  }

  async #registerOnce(
    plans: readonly RegistrationPlan[],
    now: number,
  ): Promise<RegisterResult> {
    const codec = this.#codec;
    // Checked first: a bad plugin write is a `TypeError` before anything.
    const ops = prepareRowOps(this.#tables, codec, plans);
    // Encrypted before the transaction begins, so that the write lock is
    // held only for the writes; moves (rare) read the old rows first.
    const prepared = await this.#settle(() =>
      plans.map((plan) => ({ plan, ...encodeRecords(codec, plan) }))
    );
    const moves = await Promise.all(
      plans.map(({ move }) =>
        move === undefined ? undefined : prepareMove(
          this.#tables,
          codec,
          move.toId,
          (table) => this.#stored(table, { kind: "group", id: move.fromId }),
        )
      ),
    );
    return await this.#write(codec, () => {
      const erased: number[] = [];
      // Read at each check: an erasure earlier in this batch counts too.
      const erasedAfter = (ref: RecordRef, sentAt: number) => {
        const latestPurge = this.#purges.latest();
        return latestPurge !== null && sentAt < latestPurge &&
          this.#purges.after(ref, sentAt);
      };
      const upsert = (table: TableDescription, row: Row) =>
        this.#tableSql.of(table).upsert.run(...upsertValues(table, row, now));
      prepared.forEach(({ plan, user, group }, i) => {
        if (plan.user !== undefined && user !== undefined) {
          const ref = { kind: "user" as const, id: plan.user.id };
          if (erasedBeforeWrite([ref], plan.sentAt, erasedAfter)) {
            erased.push(plan.user.id);
          } else upsert(USERS, user);
        }
        const move = moves[i];
        if (plan.move !== undefined && move !== undefined) {
          this.#move(plan.move.fromId, move);
        }
        if (plan.group !== undefined && group !== undefined) {
          const ref = { kind: "group" as const, id: plan.group.id };
          if (erasedBeforeWrite([ref], plan.sentAt, erasedAfter)) {
            erased.push(plan.group.id);
          } else upsert(GROUPS, group);
        }
        if (plan.removeGroupId !== undefined) {
          this.#eraseByTelegram(
            { kind: "group", id: plan.removeGroupId },
            "removed",
            plan.sentAt ?? now,
          );
        }
        if (plan.blockedUserId !== undefined) {
          this.#eraseByTelegram(
            { kind: "user", id: plan.blockedUserId },
            "blocked",
            plan.sentAt ?? now,
          );
        }
        for (const op of ops[i]!) {
          if (op.op === "remove") {
            this.#tableSql.of(op.table).removeByKey.run(
              ...keyValues(op.table, op.key),
            );
          } else if (!erasedBeforeWrite(op.about, plan.sentAt, erasedAfter)) {
            upsert(op.table, op.row);
          }
        }
      });
      return { erased };
    });
  }

  /** The counter every deletion, move and purge raises, read now. */
  erasureVersion(): Promise<number> {
    const read = () =>
      Number((this.#sql.erasureVersion.get() as { version: number }).version);
    // Every known sender's update asks this, so the usual case is one
    // synchronous read; only a failed read goes through the lock wait.
    try {
      return Promise.resolve(read());
    } catch {
      return this.#read(read);
    }
  }

  /** Every row of `table` in key order, decrypted, read a page at a time. */
  iterate(table: string, options: IterateOptions = {}): AsyncIterable<Row> {
    const described = this.#tables.describe(table);
    const decode = rowDecoder(this.#codec, described, options.onDamaged);
    const names = described.columns.map((column) => column.name);
    return recordPages(this.#db, described, this.#lock, (values) => {
      const row: Row = {};
      for (let i = 0; i < names.length; i++) {
        row[names[i]!] = values[i] as string | number | null;
      }
      return decode(row);
    });
  }

  /**
   * Re-encrypts every record with `next` and makes it the bound key, in one
   * transaction: a crash midway leaves the old key valid and nothing lost.
   * The bot's writes wait meanwhile; then, if its keyring holds the new
   * key, it writes with it.
   */
  async rotateKey(
    next: FieldCipher,
    options: RotateKeyOptions = {},
  ): Promise<RotationResult> {
    const { codec, records } = await rotateSqlite(this.#db, this.#codec, next, {
      ...options,
      lock: this.#lock,
      tables: this.#tables.tables,
    });
    this.#codec = codec;
    await checkpoint(this.#db, this.#lock);
    return {
      records,
      remaining: remainingValues(await this.summary(), next.keyId),
    };
  }

  /** Counts, schema version, registration range and size. */
  summary(): Promise<StoreSummary> {
    return this.#read(() => readSummary(this.#db, this.#tables.tables));
  }

  /**
   * Deletes the target's rows in every described table and records the
   * purge, in one transaction.
   */
  purge(
    target: RecordRef,
    actor: Actor,
    options: PurgeOptions = {},
  ): Promise<number> {
    return this.#transaction(() => {
      const deleted = this.#erase(target);
      if (deleted > 0) {
        this.#audit({
          actor,
          action: "purge",
          target,
          records: deleted,
          reason: options.reason ?? "request",
        });
      }
      return deleted;
    });
  }

  /** Records the retention period in force; see `RetentionStore`. */
  async applyRetention(days: number | undefined, today: string): Promise<void> {
    // Read first: a start with an unchanged period writes nothing.
    const current = await this.#read(() =>
      this.#db.prepare("SELECT days, since FROM retention WHERE id = 1").get()
    ) as { days: number | null; since: string | null };
    if (unchangedRetention(current, days)) return;
    await this.#transaction(() => {
      if (days !== undefined) {
        this.#db.prepare(
          "UPDATE retention SET days = ?, since = coalesce(since, ?) WHERE id = 1",
        ).run(days, today);
        return;
      }
      for (const table of [USERS, GROUPS]) {
        this.#db.prepare(
          `UPDATE ${table.name} SET seen_on = NULL WHERE seen_on IS NOT NULL`,
        ).run();
      }
      this.#db.prepare(
        "UPDATE retention SET days = NULL, since = NULL WHERE id = 1",
      ).run();
    });
  }

  /** Claims today's sweep: one row updated only when its day is older. */
  claimSweep(today: string): Promise<boolean> {
    return this.#transaction(() =>
      Number(
        this.#db.prepare(
          "UPDATE retention SET swept_on = ? WHERE id = 1 AND (swept_on IS NULL OR swept_on < ?)",
        ).run(today, today).changes,
      ) === 1
    );
  }

  /** Erases users and groups last seen before `cutoff`, a page at a time. */
  async sweep(
    cutoff: string,
    options: SweepOptions = {},
  ): Promise<SweepResult> {
    const pageSize = options.pageSize ?? 200;
    const stale = (table: TableDescription, limit: number) =>
      (this.#db.prepare(
        `SELECT id FROM ${table.name}
         WHERE coalesce(seen_on, (SELECT since FROM retention WHERE id = 1)) < ?
         ORDER BY id LIMIT ?`,
      ).all(cutoff, limit) as { id: number }[]).map((row) => Number(row.id));
    const result: SweepResult = { users: 0, groups: 0, rows: 0 };
    if (options.dryRun) {
      return await this.#read(() => ({
        users: stale(USERS, -1).length,
        groups: stale(GROUPS, -1).length,
        rows: 0,
      }));
    }
    const entry = await this.recordAudit({
      actor: options.actor ?? "cli",
      action: "purge",
      target: { kind: "all" },
      records: 0,
      reason: "inactive",
      outcome: "started",
    });
    for (const [table, kind] of [[USERS, "user"], [GROUPS, "group"]] as const) {
      while (true) {
        // One page per transaction: the bot's writes wait at most a page.
        const erased = await this.#transaction(() => {
          const ids = stale(table, pageSize);
          let rows = 0;
          for (const id of ids) rows += this.#erase({ kind, id });
          this.#db.prepare(
            "UPDATE audit_log SET records = records + ? WHERE id = ?",
          ).run(rows, entry);
          return { records: ids.length, rows };
        });
        result[kind === "user" ? "users" : "groups"] += erased.records;
        result.rows += erased.rows;
        if (erased.records < pageSize) break;
      }
    }
    await this.finishAudit(entry, "done");
    return result;
  }

  /** Appends an entry to the audit log; returns the entry's number. */
  recordAudit(record: AuditRecord): Promise<number> {
    return this.#transaction(() => this.#audit(record));
  }

  /** Sets how the request logged as entry `entry` ended. */
  async finishAudit(entry: number, outcome: AuditOutcome): Promise<void> {
    await this.#transaction(() =>
      this.#db.prepare("UPDATE audit_log SET outcome = ? WHERE id = ?").run(
        outcome,
        entry,
      )
    );
  }

  /** When `actor` last did `action` to the record (Unix seconds), if ever. */
  lastAudit(
    target: RecordRef,
    action: AuditEntry["action"],
    actor: Actor,
  ): Promise<number | undefined> {
    return this.#read(() => {
      const row = this.#db.prepare(
        "SELECT max(at) AS at FROM audit_log WHERE subject IS ? AND action = ? AND actor = ?",
      ).get(subjectRef(this.#auditKey, target), action, actor) as {
        at: number | null;
      };
      return row.at ?? undefined;
    });
  }

  /** The most recent audit entries, newest first. */
  recentAudit(limit: number): Promise<AuditEntry[]> {
    return this.#read(() =>
      this.#db.prepare(
        `SELECT ${AUDIT_COLUMNS} FROM audit_log ORDER BY id DESC LIMIT ?`,
      ).all(limit).map(auditEntry)
    );
  }

  /** Every audit entry about one record, oldest first. */
  auditOf(target: RecordRef): Promise<AuditEntry[]> {
    return this.#read(() =>
      this.#db.prepare(
        `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE subject IS ? AND kind = ? ORDER BY at, id`,
      ).all(subjectRef(this.#auditKey, target), target.kind).map(auditEntry)
    );
  }

  /**
   * Commits a one-row write under the same key check as a registration,
   * without waiting for a lock: a lock held elsewhere, a full disk or a key
   * rotated by another process all reject at once.
   */
  checkWritable(): Promise<void> {
    if (this.#damage !== undefined) return Promise.reject(this.#damage);
    const codec = this.#codec;
    return this.#settle(() =>
      this.#transactionNow(() => {
        // Follows a rotation to another key of the ring; no value is written.
        this.#codec = this.#boundCodec(codec);
        this.#sql.touchHealth.run(healthStamp());
      })
    );
  }

  /**
   * Moves the write-ahead log into the database file and empties it: deleted
   * values are overwritten with zeros in the database file (secure_delete),
   * but their older copies stay in the log until a checkpoint.
   */
  async compact(): Promise<void> {
    // Here, unlike after other work, an unfinished checkpoint is the answer
    // the operator asked for: it is said, not left to the next one.
    if (!await checkpoint(this.#db, this.#lock)) {
      throw new StoreError(
        "Another connection is reading an older state of the database, so the write-ahead log could not be emptied: run compact again once it is done (the bot's own reads are short)",
      );
    }
  }

  /** The bot's own profile stored by `setup`, if any. */
  botProfile(): Promise<UserFromGetMe | undefined> {
    return this.#read(() => {
      const row = this.#db.prepare(
        "SELECT profile FROM bot_profile WHERE id = 1",
      ).get() as { profile: string } | undefined;
      return row === undefined ? undefined : JSON.parse(row.profile);
    });
  }

  /** Stores the bot's own profile (`getMe`). */
  saveBotProfile(profile: UserFromGetMe): Promise<void> {
    return this.#transaction(() => {
      this.#db.prepare(
        `INSERT INTO bot_profile (id, profile, saved_at) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET profile = excluded.profile, saved_at = excluded.saved_at`,
      ).run(JSON.stringify(profile), unixNow());
    });
  }

  /** The highest applied migration. */
  schemaVersion(): Promise<number> {
    return this.#read(() => currentVersion(this.#db));
  }

  /**
   * The database file seen as stored values, through a connection of its
   * own that waits for locks (only the CLI copies).
   */
  rawCopy(): Promise<RawDatabase> {
    if (this.#path === ":memory:") {
      return Promise.reject(
        new Error("An in-memory database cannot be copied"),
      );
    }
    return Promise.resolve(sqliteRawAt(this.#path, this.#catalog));
  }

  /** Closes the database; safe to call twice. */
  close(): Promise<void> {
    return settle(() => {
      if (this.#db.isOpen) this.#db.close();
    });
  }

  #audit(record: AuditRecord): number {
    return Number(
      this.#sql.insertAudit.run(
        record.at ?? unixNow(),
        record.actor,
        record.action,
        record.target.kind,
        subjectRef(this.#auditKey, record.target),
        record.records,
        record.outcome ?? "done",
        record.reason ?? (record.action === "purge" ? "request" : null),
      ).lastInsertRowid,
    );
  }

  // Inside a transaction. Each old row is deleted under the write lock and
  // written at its new key only if it was still there: a row another
  // process deleted meanwhile is not brought back.
  #move(fromId: number, move: PreparedMove): void {
    let deleted = 0;
    const carry = (table: TableDescription, from: Row, row?: Row) => {
      const sql = this.#tableSql.of(table);
      const gone = Number(
        sql.removeByKey.run(...keyValues(table, from)).changes,
      );
      if (gone > 0 && row !== undefined) {
        sql.insertMoved.run(...columnValues(table, row));
      }
      deleted += gone;
    };
    carry(GROUPS, { id: fromId }, move.group);
    for (const { table, from, row } of move.rows) carry(table, from, row);
    if (deleted > 0) this.#sql.bumpErasure.run();
  }

  // Inside a transaction: deletes the rows of every table erased with the
  // target, and raises the erasure counter when something was deleted.
  // Caches of what was written, and of the latest purge, depend on it.
  #erase(target: RecordRef): number {
    let deleted = 0;
    for (const { table, column } of this.#tables.erasedWith(target.kind)) {
      const sql = this.#tableSql.of(table);
      const result = target.kind === "all" || column === null
        ? sql.eraseAll.run()
        : sql.eraseBySubject[target.kind]!.run(target.id);
      deleted += Number(result.changes);
    }
    if (deleted > 0) this.#sql.bumpErasure.run();
    return deleted;
  }

  // Inside a transaction: an erasure Telegram's update caused, logged at
  // the update's date even when nothing was stored, since the entry is what
  // keeps a late update dated before it from registering the record again.
  // The counter moves either way, so that every cache sees the entry.
  #eraseByTelegram(
    target: RecordRef & { kind: "user" | "group" },
    reason: ErasureReason,
    at: number,
  ): void {
    const deleted = this.#erase(target);
    this.#audit({
      actor: "telegram",
      action: "purge",
      target,
      records: deleted,
      reason,
      at,
    });
    if (deleted === 0) this.#sql.bumpErasure.run();
  }

  // Writes values encoded by `codec` before the transaction began. The key
  // check is read inside it, so if another process bound or rotated the key
  // meanwhile (a first keyed open, rotate-key), nothing is written under the
  // old key, nor as plaintext into an encrypted database.
  #write<T>(codec: FieldCodec, body: () => T): Promise<T> {
    return this.#transaction(() => {
      const bound = this.#boundCodec(codec);
      if (bound !== codec) {
        // Another process rotated to a key this ring holds: the values are
        // encrypted again with it, and the write retried.
        this.#codec = bound;
        throw new KeyMovedError(bound.cipher!.keyId);
      }
      return body();
    });
  }

  // The codec to write with under the key the database is bound to now.
  #boundCodec(codec: FieldCodec): FieldCodec {
    const check = this.#sql.keyCheck.get() as { key_id: string } | undefined;
    return codecForBinding(codec, check?.key_id);
  }

  // A write transaction, retried on a timer while another process holds
  // the write lock (see `LockWait`).
  #transaction<T>(body: () => T): Promise<T> {
    return this.#settle(() =>
      this.#lock.retry(() => this.#transactionNow(body))
    );
  }

  #transactionNow<T>(body: () => T): T {
    // A long transaction of this connection (rotate-key) is awaiting between
    // pages: wait for it like for another process's lock.
    if (this.#db.isTransaction) throw new LockedError();
    return transaction(this.#db, body);
  }

  // Like `settle`, remembering damage once met: the write probe reports it
  // from then on, since a damaged page stays damaged.
  async #settle<T>(body: () => T | Promise<T>): Promise<T> {
    try {
      return await settle(body);
    } catch (error) {
      if (error instanceof DamagedStoreError) this.#damage ??= error;
      throw error;
    }
  }

  // Reads never wait for writers in WAL mode, but can meet a lock briefly
  // (another process recovering or truncating the log).
  #read<T>(body: () => T): Promise<T> {
    return this.#settle(() => this.#lock.retry(body));
  }
}

// Whether the stored period is already `days` (and its start recorded), or
// no period is stored and none is wanted.
function unchangedRetention(
  current: { days: number | null; since: string | null },
  days: number | undefined,
): boolean {
  return days === undefined
    ? current.since === null
    : Number(current.days) === days && current.since !== null;
}
