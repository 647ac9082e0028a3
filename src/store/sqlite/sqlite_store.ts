import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { UserFromGetMe } from "grammy/types";
import { dirname } from "node:path";
import {
  type Actor,
  type AuditEntry,
  auditEntry,
  type AuditOutcome,
  type RecordRef,
  subjectRef,
} from "../audit.ts";
import {
  type FieldCipher,
  TamperedError,
  WrongKeyError,
} from "../../crypto/field_cipher.ts";
import {
  codecForBinding,
  FieldCodec,
  type GroupCells,
  KeyMovedError,
  retryOnKeyMove,
  skippingDamaged,
} from "../../crypto/field_codec.ts";
import {
  AUDIT_COLUMNS,
  GROUP_COLUMNS,
  PAGE_SIZE,
  USER_COLUMNS,
} from "../_columns.ts";
import { loadMigrations, type Migration } from "../migrations.ts";
import {
  type AuditRecord,
  DamagedStoreError,
  type GroupFields,
  type GroupRecord,
  type IterateOptions,
  PermanentStoreError,
  type ProgressCallback,
  type RegisterResult,
  type RegistrationPlan,
  type RotateKeyOptions,
  type RotationResult,
  type Store,
  StoreError,
  type StoreSummary,
  type UserFields,
  type UserRecord,
} from "../store.ts";

const DEFAULT_LOCK_TIMEOUT_MS = 5000;
const FIRST_RETRY_MS = 2;
const MAX_RETRY_MS = 50;

/** Options for `openSqliteStore`. */
export interface SqliteStoreOptions {
  /** Migrations to apply; defaults to the files in `migrations/`. */
  migrations?: Migration[];
  /**
   * How long a write waits for another process's write lock before it fails
   * with "locked", in milliseconds (default 5000). The wait is a timer, so
   * the event loop keeps serving meanwhile.
   */
  lockTimeoutMs?: number;
  /** Create the file when missing; default true. */
  create?: boolean;
  /**
   * Create its missing folder too; default false, so that a mistyped path
   * fails rather than becoming a new, empty database somewhere else.
   */
  createFolder?: boolean;
  /**
   * Make an existing empty file (no table in it) a database; default false:
   * only `migrate` does, when asked to.
   */
  initialiseEmpty?: boolean;
  /**
   * Encrypts names, usernames and titles. The first key a database is opened
   * with is bound to it (older plaintext rows are encrypted then); opening
   * it later with another key, or with none, fails with `WrongKeyError`.
   */
  cipher?: FieldCipher;
  /** Told how the first encryption of a plaintext database is going. */
  onProgress?: ProgressCallback;
}

/**
 * Opens (creating if needed) the SQLite database at `path`, applies pending
 * migrations and returns the store. Throws `StoreError` when it cannot.
 */
export async function openSqliteStore(
  path: string,
  options: SqliteStoreOptions = {},
): Promise<SqliteStore> {
  const migrations = options.migrations ?? await loadMigrations();
  const lock = new LockWait(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  let db: DatabaseSync | undefined;
  try {
    const existed = path !== ":memory:" && existsFile(path);
    if (path !== ":memory:") {
      prepareFile(path, {
        create: options.create ?? true,
        createFolder: options.createFolder ?? false,
      });
    }
    db = new DatabaseSync(path);
    const open = db;
    // Before anything is written (WAL mode writes the header): a file that
    // is not this bot's database is left exactly as it was.
    if (existed) {
      requireOwnDatabase(open, path, options.initialiseEmpty ?? false);
    }
    if (path !== ":memory:") ownerOnly(path);
    // node:sqlite's busy handler sleeps on the calling thread, which here is
    // the event loop: a lock held by another process would freeze every
    // request. Lock waits are retried on a timer instead (`LockWait`).
    open.exec("PRAGMA busy_timeout = 0");
    await lock.retry(() => open.exec("PRAGMA journal_mode = WAL"));
    // FULL makes every commit survive a power cut, which is what lets the
    // webhook answer 200 only after a registration is durable.
    open.exec("PRAGMA synchronous = FULL");
    // Deleted and overwritten values are zeroed in the file, not left behind.
    open.exec("PRAGMA secure_delete = ON");
    await migrate(open, migrations, lock);
    if (path !== ":memory:") ownerOnly(path);
    const codec = await bindDataKey(open, new FieldCodec(options.cipher), {
      lock,
      onProgress: options.onProgress,
    });
    return new SqliteStore(open, codec, lock);
  } catch (error) {
    if (db?.isOpen) db.close();
    if (error instanceof WrongKeyError) throw error;
    if (error instanceof NotOurDatabaseError) throw error;
    throw new StoreError(
      `Cannot open the SQLite database at "${path}": ${
        cantOpenCause(path, error) ?? messageOf(error)
      }`,
      { cause: error },
    );
  }
}

/** The `Store` on a SQLite file through Deno's built-in `node:sqlite`. */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #codec: FieldCodec;
  #lock: LockWait;
  #damage: DamagedStoreError | undefined;
  #upsertUser: StatementSync;
  #upsertGroup: StatementSync;
  #getUser: StatementSync;
  #getGroup: StatementSync;
  #deleteUser: StatementSync;
  #deleteGroup: StatementSync;
  #moveGroup: StatementSync;
  #groupSince: StatementSync;
  #erasedAfter: StatementSync;
  #bumpErasure: StatementSync;
  #erasureVersion: StatementSync;
  #latestPurgeAt: StatementSync;
  #purgeCache: { version: number; at: number | null } | undefined;
  #insertAudit: StatementSync;
  #keyCheck: StatementSync;
  #touchHealth: StatementSync;
  #auditKey: Uint8Array;

  /** Wraps an open, migrated database; use `openSqliteStore`. */
  constructor(db: DatabaseSync, codec: FieldCodec, lock: LockWait) {
    this.#db = db;
    this.#codec = codec;
    this.#lock = lock;
    this.#upsertUser = db.prepare(
      `INSERT INTO users (id, username, first_name, last_name, language_code, registered_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET
         username = excluded.username, first_name = excluded.first_name,
         last_name = excluded.last_name, language_code = excluded.language_code`,
    );
    this.#upsertGroup = db.prepare(
      `INSERT INTO groups (id, username, title, type, registered_at)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET
         username = excluded.username, title = excluded.title, type = excluded.type`,
    );
    this.#getUser = db.prepare(
      `SELECT ${USER_COLUMNS} FROM users WHERE id = ?`,
    );
    this.#getGroup = db.prepare(
      `SELECT ${GROUP_COLUMNS} FROM groups WHERE id = ?`,
    );
    this.#deleteUser = db.prepare("DELETE FROM users WHERE id = ?");
    this.#deleteGroup = db.prepare("DELETE FROM groups WHERE id = ?");
    this.#moveGroup = db.prepare(
      `INSERT INTO groups (id, username, title, type, registered_at)
       VALUES (?, ?, ?, 'supergroup', ?)
       ON CONFLICT (id) DO UPDATE SET
         registered_at = min(groups.registered_at, excluded.registered_at)`,
    );
    this.#groupSince = db.prepare(
      "SELECT registered_at FROM groups WHERE id = ?",
    );
    // Both halves are look-ups in the audit_log_subject index: the record's
    // own purges, and purges of everything (whose subject is null).
    this.#erasedAfter = db.prepare(
      `SELECT EXISTS (SELECT 1 FROM audit_log
                       WHERE subject = ?1 AND action = 'purge' AND at > ?2)
           OR EXISTS (SELECT 1 FROM audit_log
                       WHERE subject IS NULL AND action = 'purge' AND at > ?2
                         AND kind = 'all') AS erased`,
    );
    this.#bumpErasure = db.prepare(
      "UPDATE erasure_version SET version = version + 1 WHERE id = 1",
    );
    this.#erasureVersion = db.prepare(
      "SELECT version FROM erasure_version WHERE id = 1",
    );
    this.#latestPurgeAt = db.prepare(
      "SELECT max(at) AS at FROM audit_log WHERE action = 'purge'",
    );
    this.#keyCheck = db.prepare(
      "SELECT key_id FROM data_key_check WHERE id = 1",
    );
    // A probe must change the row: an update to the same value writes
    // nothing and would commit even on a full disk.
    this.#touchHealth = db.prepare(
      "UPDATE health SET checked_at = max(?, checked_at + 1) WHERE id = 1",
    );
    this.#insertAudit = db.prepare(
      `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const key = db.prepare("SELECT key FROM audit_key WHERE id = 1").get() as
      | { key: Uint8Array }
      | undefined;
    if (key === undefined) throw new StoreError("The audit key is missing");
    this.#auditKey = key.key;
  }

  /**
   * Inserts the user, or updates its fields keeping `registered_at`. The
   * stored fields are compared as plaintext first: ciphertexts differ on
   * every write, and an unchanged record is not written again.
   */
  async upsertUser(user: UserFields, now: number): Promise<void> {
    const current = await this.#readable(() => this.getUser(user.id));
    if (current !== undefined && sameUser(current, user)) return;
    await this.register([{ user }], now);
  }

  /** Inserts the group, or updates its fields keeping `registered_at`. */
  async upsertGroup(group: GroupFields, now: number): Promise<void> {
    const current = await this.#readable(() => this.getGroup(group.id));
    if (current !== undefined && sameGroup(current, group)) return;
    await this.register([{ group }], now);
  }

  /**
   * Moves a group record to `toId` keeping the earliest `registered_at`.
   * The values are encrypted again for the new id, which is part of what
   * each ciphertext is bound to.
   */
  moveGroup(fromId: number, toId: number): Promise<boolean> {
    return retryOnKeyMove(() => this.#moveGroupOnce(fromId, toId));
  }

  async #moveGroupOnce(fromId: number, toId: number): Promise<boolean> {
    const codec = this.#codec;
    const cells = await this.#movedCells(codec, fromId, toId);
    return await this.#write(codec, () => this.#move(fromId, toId, cells));
  }

  /** Deletes a user; returns whether one was there. */
  deleteUser(id: number): Promise<boolean> {
    return this.#transaction(() => this.#delete(this.#deleteUser, id) > 0);
  }

  /** Deletes a group; returns whether one was there. */
  deleteGroup(id: number): Promise<boolean> {
    return this.#transaction(() => this.#delete(this.#deleteGroup, id) > 0);
  }

  /** The user with this id, if stored; `TamperedError` if it fails its check. */
  async getUser(id: number): Promise<UserRecord | undefined> {
    const row = await this.#read(() =>
      this.#getUser.get(id) as UserRecord | undefined
    );
    return row === undefined ? undefined : this.#codec.decodeUserSync(row);
  }

  /** The group with this id, if stored; `TamperedError` if it fails its check. */
  async getGroup(id: number): Promise<GroupRecord | undefined> {
    const row = await this.#read(() =>
      this.#getGroup.get(id) as GroupRecord | undefined
    );
    return row === undefined ? undefined : this.#codec.decodeGroupSync(row);
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
    // Encrypted before the transaction begins, so that the write lock is
    // held only for the writes; moves (rare) read the old record first.
    const prepared = await this.#settle(() =>
      plans.map((plan) => ({
        plan,
        user: plan.user === undefined
          ? undefined
          : codec.encodeUserSync(plan.user),
        group: plan.group === undefined
          ? undefined
          : codec.encodeGroupSync(plan.group),
      }))
    );
    const moves = await Promise.all(
      plans.map((plan) =>
        plan.move === undefined
          ? undefined
          : this.#movedCells(codec, plan.move.fromId, plan.move.toId)
      ),
    );
    return await this.#write(codec, () => {
      const erased: number[] = [];
      const latestPurge = this.#latestPurge();
      const isErased = (ref: RecordRef, sentAt: number | undefined) =>
        sentAt !== undefined && latestPurge !== null && sentAt < latestPurge &&
        this.#erased(ref, sentAt);
      prepared.forEach(({ plan, user, group }, i) => {
        if (plan.user !== undefined && user !== undefined) {
          if (isErased({ kind: "user", id: plan.user.id }, plan.sentAt)) {
            erased.push(plan.user.id);
          } else {
            this.#upsertUser.run(
              plan.user.id,
              ...user,
              plan.user.language_code,
              now,
            );
          }
        }
        if (plan.move !== undefined) {
          this.#move(plan.move.fromId, plan.move.toId, moves[i]);
        }
        if (plan.group !== undefined && group !== undefined) {
          if (isErased({ kind: "group", id: plan.group.id }, plan.sentAt)) {
            erased.push(plan.group.id);
          } else {
            this.#upsertGroup.run(
              plan.group.id,
              ...group,
              plan.group.type,
              now,
            );
          }
        }
        if (plan.removeGroupId !== undefined) {
          this.#delete(this.#deleteGroup, plan.removeGroupId);
        }
      });
      return { erased };
    });
  }

  /** The counter every deletion, move and purge raises, read now. */
  erasureVersion(): Promise<number> {
    const read = () =>
      Number((this.#erasureVersion.get() as { version: number }).version);
    // Every known sender's update asks this, so the usual case is one
    // synchronous read; only a failed read goes through the lock wait.
    try {
      return Promise.resolve(read());
    } catch {
      return this.#read(read);
    }
  }

  /** Every user in id order, read a page at a time. */
  iterateUsers(options: IterateOptions = {}): AsyncIterable<UserRecord> {
    const codec = this.#codec;
    const decode = skippingDamaged(
      (user: UserRecord) => codec.decodeUserSync(user),
      options.onDamaged,
    );
    return recordPages(this.#db, "users", this.#lock, (row) => {
      const user: UserRecord = {
        id: row[0] as number,
        username: row[1] as string | null,
        first_name: row[2] as string,
        last_name: row[3] as string | null,
        language_code: row[4] as string | null,
        registered_at: row[5] as number,
      };
      return codec.cipher === undefined ? user : decode(user);
    });
  }

  /** Every group in id order, read a page at a time. */
  iterateGroups(options: IterateOptions = {}): AsyncIterable<GroupRecord> {
    const codec = this.#codec;
    const decode = skippingDamaged(
      (group: GroupRecord) => codec.decodeGroupSync(group),
      options.onDamaged,
    );
    return recordPages(this.#db, "groups", this.#lock, (row) => {
      const group: GroupRecord = {
        id: row[0] as number,
        username: row[1] as string | null,
        title: row[2] as string,
        type: row[3] as GroupRecord["type"],
        registered_at: row[4] as number,
      };
      return codec.cipher === undefined ? group : decode(group);
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
    const from = this.#codec;
    const codec = new FieldCodec(
      from.cipher === undefined ? next : next.including(from.cipher),
    );
    const records = await reencodeAll(this.#db, from, codec, {
      lock: this.#lock,
      onProgress: options.onProgress,
      onDamaged: options.onDamaged,
    });
    this.#codec = codec;
    await checkpoint(this.#db, this.#lock);
    const { valuesByKeyId } = await this.summary();
    let remaining = 0;
    for (const [id, n] of Object.entries(valuesByKeyId)) {
      if (id !== next.keyId) remaining += n;
    }
    return { records, remaining };
  }

  /** Counts, schema version, registration range and size. */
  summary(): Promise<StoreSummary> {
    return this.#read(() => {
      const row = this.#db.prepare(
        `SELECT (SELECT count(*) FROM users) AS users,
                (SELECT count(*) FROM groups) AS groups,
                min(registered_at) AS oldest,
                max(registered_at) AS newest,
                (SELECT page_count FROM pragma_page_count()) *
                  (SELECT page_size FROM pragma_page_size()) AS size
         FROM (SELECT registered_at FROM users UNION ALL SELECT registered_at FROM groups)`,
      ).get() as Record<string, number | null>;
      const check = this.#keyCheck.get() as { key_id: string } | undefined;
      // The key each stored value names: the text between the first two dots.
      const keys = this.#db.prepare(
        `SELECT substr(v, 4, instr(substr(v, 4), '.') - 1) AS key_id, count(*) AS n
         FROM (SELECT username AS v FROM users
               UNION ALL SELECT first_name FROM users
               UNION ALL SELECT last_name FROM users
               UNION ALL SELECT username FROM groups
               UNION ALL SELECT title FROM groups)
         WHERE v LIKE 'v1.%' GROUP BY 1 ORDER BY 1`,
      ).all() as { key_id: string; n: number }[];
      return {
        users: Number(row.users),
        groups: Number(row.groups),
        schemaVersion: currentVersion(this.#db),
        oldestRegistration: row.oldest,
        newestRegistration: row.newest,
        sizeBytes: Number(row.size),
        keyId: check?.key_id ?? null,
        valuesByKeyId: Object.fromEntries(
          keys.map((k) => [k.key_id, Number(k.n)]),
        ),
      };
    });
  }

  /** Deletes the target and records the purge, in one transaction. */
  purge(target: RecordRef, actor: Actor): Promise<number> {
    return this.#transaction(() => {
      let deleted: number;
      if (target.kind === "user") {
        deleted = Number(this.#deleteUser.run(target.id).changes);
      } else if (target.kind === "group") {
        deleted = Number(this.#deleteGroup.run(target.id).changes);
      } else {
        deleted = Number(this.#db.prepare("DELETE FROM users").run().changes) +
          Number(this.#db.prepare("DELETE FROM groups").run().changes);
      }
      if (deleted > 0) {
        this.#audit({ actor, action: "purge", target, records: deleted });
      }
      return deleted;
    });
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

  /** The audit log's reference for a record. */
  auditSubject(target: RecordRef): Promise<string | null> {
    return Promise.resolve(subjectRef(this.#auditKey, target));
  }

  /** Succeeds when the database answers a query. */
  ping(): Promise<void> {
    return this.#read(() => {
      this.#db.prepare("SELECT 1").get();
    });
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
        this.#touchHealth.run(Date.now());
      })
    );
  }

  /**
   * Moves the write-ahead log into the database file and empties it: deleted
   * values are overwritten with zeros in the database file (secure_delete),
   * but their older copies stay in the log until a checkpoint.
   */
  async compact(): Promise<void> {
    await checkpoint(this.#db, this.#lock);
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
      ).run(JSON.stringify(profile), Math.floor(Date.now() / 1000));
    });
  }

  /** The highest applied migration. */
  schemaVersion(): Promise<number> {
    return this.#read(() => currentVersion(this.#db));
  }

  /** Closes the database; safe to call twice. */
  close(): Promise<void> {
    return settle(() => {
      if (this.#db.isOpen) this.#db.close();
    });
  }

  // A recorded purge raises the erasure counter in the same transaction:
  // caches of what was written, and of the latest purge, depend on it.
  #audit(record: AuditRecord): number {
    if (record.action === "purge") this.#bumpErasure.run();
    return Number(
      this.#insertAudit.run(
        record.at ?? Math.floor(Date.now() / 1000),
        record.actor,
        record.action,
        record.target.kind,
        subjectRef(this.#auditKey, record.target),
        record.records,
        record.outcome ?? "done",
      ).lastInsertRowid,
    );
  }

  // The values of the group at `fromId` encrypted for `toId`, if it is there.
  async #movedCells(
    codec: FieldCodec,
    fromId: number,
    toId: number,
  ): Promise<GroupCells | undefined> {
    const old = await this.#readable(() => this.getGroup(fromId));
    if (old === undefined) return undefined;
    return codec.encodeGroupSync({ ...old, id: toId, type: "supergroup" });
  }

  // Inside a transaction. The old record is looked up again under the write
  // lock: if another process deleted it meanwhile, it is not brought back.
  #move(fromId: number, toId: number, cells: GroupCells | undefined): boolean {
    const old = this.#groupSince.get(fromId) as
      | { registered_at: number }
      | undefined;
    if (old !== undefined && cells !== undefined) {
      this.#moveGroup.run(toId, cells[0], cells[1], old.registered_at);
    }
    return this.#delete(this.#deleteGroup, fromId) > 0;
  }

  // Inside a transaction: a deletion raises the erasure counter with it.
  #delete(statement: StatementSync, id: number): number {
    const changes = Number(statement.run(id).changes);
    if (changes > 0) this.#bumpErasure.run();
    return changes;
  }

  // Whether the record was purged (alone or with everything) after `sentAt`.
  #erased(ref: RecordRef, sentAt: number): boolean {
    const subject = subjectRef(this.#auditKey, ref);
    const row = this.#erasedAfter.get(subject, sentAt) as { erased: number };
    return Number(row.erased) !== 0;
  }

  // Inside a transaction: when the latest purge of anything was recorded,
  // or null. Every purge raises the erasure counter in its transaction, so
  // the value is looked up again only when the counter moved: most updates
  // are newer than every purge and need neither a keyed hash nor a look-up.
  #latestPurge(): number | null {
    const version = Number(
      (this.#erasureVersion.get() as { version: number }).version,
    );
    if (version !== this.#purgeCache?.version) {
      const row = this.#latestPurgeAt.get() as { at: number | null };
      this.#purgeCache = {
        version,
        at: row.at === null ? null : Number(row.at),
      };
    }
    return this.#purgeCache.at;
  }

  // A record that fails its integrity check counts as absent for writes:
  // the update being written replaces it with values that check out.
  async #readable<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof TamperedError) return undefined;
      throw error;
    }
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
    const check = this.#keyCheck.get() as { key_id: string } | undefined;
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

/** Thrown for our own connection being mid-transaction; retried as a lock. */
class LockedError extends Error {
  constructor() {
    super("database is locked");
  }
}

/**
 * Waits for another process's write lock on a timer (2 ms, doubling up to
 * 50 ms) instead of SQLite's busy handler, which sleeps on the event loop's
 * thread; gives up with "locked by another process" after the bound.
 */
class LockWait {
  #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  async retry<T>(attempt: () => T | Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs;
    let delay = FIRST_RETRY_MS;
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (!isBusy(error)) throw error;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new StoreError(
            `The database is locked by another process: no write was possible within ${
              this.#timeoutMs / 1000
            } s`,
            { cause: error },
          );
        }
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(delay, left))
        );
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    }
  }
}

function isBusy(error: unknown): boolean {
  return error instanceof LockedError ||
    (error instanceof Error && /^database is locked/.test(error.message));
}

// BEGIN IMMEDIATE takes the write lock at once (or fails busy), so the body
// never meets a lock halfway. When COMMIT itself fails (disk full) SQLite may
// already have rolled back, and ROLLBACK would throw "no transaction is
// active" over the real cause: the original error is what propagates.
function transaction<T>(db: DatabaseSync, body: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = body();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    rollback(db);
    throw error;
  }
}

function rollback(db: DatabaseSync): void {
  if (!db.isOpen || !db.isTransaction) return;
  try {
    db.exec("ROLLBACK");
  } catch {
    // The error that led here is the one worth reporting.
  }
}

// Keeps the async Store contract for a synchronous driver: errors become
// rejections of `StoreError`, carrying SQLite's own message.
async function settle<T>(body: () => T | Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof StoreError) throw error;
    if (isDamage(error)) {
      throw new DamagedStoreError(
        `The SQLite database is damaged: ${
          messageOf(error)
        }; it will not mend by itself: restore it from a backup`,
        { cause: error },
      );
    }
    if (errcodeOf(error) === SQLITE_CONSTRAINT) {
      throw new PermanentStoreError(`SQLite failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
    throw new StoreError(`SQLite failed: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;
const SQLITE_CONSTRAINT = 19;
const SQLITE_CANTOPEN = 14;

// SQLite's primary result code (extended codes carry it in the low byte).
function errcodeOf(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown })?.errcode;
  return typeof code === "number" ? code & 0xff : undefined;
}

// A malformed page, or a file that is not a database.
function isDamage(error: unknown): boolean {
  const code = errcodeOf(error);
  return code === SQLITE_CORRUPT || code === SQLITE_NOTADB;
}

// Reads pages of PAGE_SIZE rows by id (keyset pagination): faster than a
// row-by-row cursor, and each page is a short read, so a long export never
// holds a snapshot that stops the bot's writes from being checkpointed.
async function* rawPages<T extends { id: number }>(
  db: DatabaseSync,
  table: "users" | "groups",
  lock: LockWait,
): AsyncIterable<T[]> {
  const page = db.prepare(
    `SELECT ${table === "users" ? USER_COLUMNS : GROUP_COLUMNS} FROM ${table}
     WHERE id > ? ORDER BY id LIMIT ${PAGE_SIZE}`,
  );
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = await settle(() =>
      lock.retry(() => page.all(after) as unknown as T[])
    );
    if (rows.length > 0) yield rows;
    if (rows.length < PAGE_SIZE) return;
    after = rows[rows.length - 1]!.id;
  }
}

// Reads pages of PAGE_SIZE rows by id, as arrays, and hands the records
// out one at a time through a plain iterator, decrypting synchronously. An
// export of a million records measured about three times faster this way
// than through an async generator with a promise per decryption: no
// intermediate row objects, no copies, no generator frames.
function recordPages<T>(
  db: DatabaseSync,
  table: "users" | "groups",
  lock: LockWait,
  toRecord: (row: unknown[]) => T | undefined,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const page = db.prepare(
        `SELECT ${
          table === "users" ? USER_COLUMNS : GROUP_COLUMNS
        } FROM ${table}
         WHERE id > ? ORDER BY id LIMIT ${PAGE_SIZE}`,
      );
      // node:sqlite has it; its type declarations do not yet.
      (page as unknown as { setReturnArrays(on: boolean): void })
        .setReturnArrays(true);
      let rows: unknown[][] = [];
      let index = 0;
      let after = Number.MIN_SAFE_INTEGER;
      let last = false;
      const next = (): Promise<IteratorResult<T>> => {
        // A record left out (damaged, reported) is skipped.
        while (index < rows.length) {
          try {
            const value = toRecord(rows[index++]!);
            if (value !== undefined) {
              return Promise.resolve({ value, done: false });
            }
          } catch (error) {
            return Promise.reject(error);
          }
        }
        if (last) return Promise.resolve({ value: undefined, done: true });
        return settle(() =>
          lock.retry(() => page.all(after) as unknown as unknown[][])
        ).then((got) => {
          rows = got;
          index = 0;
          last = got.length < PAGE_SIZE;
          if (got.length > 0) after = got[got.length - 1]![0] as number;
          return next();
        });
      };
      return { next };
    },
  };
}

interface LongWorkOptions {
  lock: LockWait;
  onProgress?: ProgressCallback;
  onDamaged?: IterateOptions["onDamaged"];
}

// Rewrites every record's encrypted columns from one codec to another and
// stores the new key check, in one transaction. Other processes' writers
// wait on their own timers meanwhile; their reads go on.
async function reencodeAll(
  db: DatabaseSync,
  from: FieldCodec,
  to: FieldCodec,
  options: LongWorkOptions,
): Promise<number> {
  const updateUser = db.prepare(
    "UPDATE users SET username = ?, first_name = ?, last_name = ? WHERE id = ?",
  );
  const updateGroup = db.prepare(
    "UPDATE groups SET username = ?, title = ? WHERE id = ?",
  );
  const { lock, onProgress } = options;
  const decodeUser = skippingDamaged(
    (row: UserRecord) => from.decodeUserSync(row),
    options.onDamaged,
  );
  const decodeGroup = skippingDamaged(
    (row: GroupRecord) => from.decodeGroupSync(row),
    options.onDamaged,
  );
  let count = 0;
  let done = 0;
  await lock.retry(() => {
    if (db.isTransaction) throw new LockedError();
    db.exec("BEGIN IMMEDIATE");
  });
  try {
    const totals = db.prepare(
      "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM groups) AS total",
    ).get() as { total: number };
    const total = Number(totals.total);
    onProgress?.(0, total);
    for await (const rows of rawPages<UserRecord>(db, "users", lock)) {
      // A damaged record stays as it is, under its old key.
      for (const row of rows) {
        const user = decodeUser(row);
        if (user === undefined) continue;
        updateUser.run(...to.encodeUserSync(user), row.id);
        count++;
      }
      done += rows.length;
      onProgress?.(done, total);
    }
    for await (const rows of rawPages<GroupRecord>(db, "groups", lock)) {
      for (const row of rows) {
        const group = decodeGroup(row);
        if (group === undefined) continue;
        updateGroup.run(...to.encodeGroupSync(group), row.id);
        count++;
      }
      done += rows.length;
      onProgress?.(done, total);
    }
    db.prepare(
      `INSERT INTO data_key_check (id, key_id, check_value) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, check_value = excluded.check_value`,
    ).run(to.cipher!.keyId, to.keyCheckSync());
    db.exec("COMMIT");
  } catch (error) {
    rollback(db);
    throw error;
  }
  return count;
}

// Checks the key against the database. The first key a database meets is
// bound to it, and rows written in plaintext before then are encrypted.
async function bindDataKey(
  db: DatabaseSync,
  codec: FieldCodec,
  options: LongWorkOptions,
): Promise<FieldCodec> {
  const check = db.prepare(
    "SELECT key_id, check_value FROM data_key_check WHERE id = 1",
  ).get() as { key_id: string; check_value: string } | undefined;
  if (codec.cipher === undefined) {
    if (check !== undefined) {
      throw new WrongKeyError(
        `This database is encrypted (key ${check.key_id}): set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key`,
      );
    }
    return codec;
  }
  if (check !== undefined) {
    // Any key of the ring opens it; new values go on under the bound key.
    codec.verifyKeyCheckSync(check.key_id, check.check_value);
    return codec.boundTo(check.key_id);
  }
  const migrated = await reencodeAll(db, new FieldCodec(), codec, options);
  if (migrated > 0) await checkpoint(db, options.lock);
  return codec;
}

// Moves everything from the WAL into the database file and empties the WAL,
// so that the old plaintext or old ciphertexts do not linger in it. A
// reader in another process can keep it from finishing: it is tried again
// for a while, then left to SQLite's next checkpoint. It never fails: the
// work it follows is already committed, and must not be reported as failed.
async function checkpoint(db: DatabaseSync, lock: LockWait): Promise<void> {
  try {
    await lock.retry(() => {
      const row = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as
        | { busy: number }
        | undefined;
      if (row !== undefined && Number(row.busy) !== 0) throw new LockedError();
    });
  } catch {
    // Left to the next checkpoint.
  }
}

function sameUser(a: UserFields, b: UserFields): boolean {
  return a.username === b.username && a.first_name === b.first_name &&
    a.last_name === b.last_name && a.language_code === b.language_code;
}

function sameGroup(a: GroupFields, b: GroupFields): boolean {
  return a.username === b.username && a.title === b.title && a.type === b.type;
}

// Creates an owner-only file (and, when asked, its folder) before SQLite
// opens it; SQLite gives new -wal and -shm files the same mode as the
// database.
function prepareFile(
  path: string,
  options: { create: boolean; createFolder: boolean },
): void {
  if (!options.create) {
    if (!existsFile(path)) throw new Error("there is no database file there");
  } else {
    if (options.createFolder) {
      Deno.mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    } else if (!existsDirectory(dirname(path))) {
      throw new Error(`its folder "${dirname(path)}" does not exist`);
    }
    const file = Deno.openSync(path, {
      create: true,
      write: true,
      mode: 0o600,
    });
    file.close();
  }
}

// SQLite says only "unable to open database file" whatever the reason; the
// system's own words are found by doing what SQLite needs: writing the file,
// and creating its -wal and -shm files beside it.
function cantOpenCause(path: string, error: unknown): string | undefined {
  if (errcodeOf(error) !== SQLITE_CANTOPEN || path === ":memory:") {
    return undefined;
  }
  try {
    Deno.openSync(path, { read: true, write: true }).close();
  } catch (cause) {
    return `the file cannot be written: ${messageOf(cause)}`;
  }
  try {
    Deno.removeSync(Deno.makeTempFileSync({ dir: dirname(path) }));
  } catch (cause) {
    return `its folder "${
      dirname(path)
    }" cannot be written, and SQLite keeps its -wal and -shm files there: ${
      messageOf(cause)
    }`;
  }
  return undefined;
}

/**
 * An existing file that is not this bot's database: another application's
 * SQLite file, or an empty file. It is refused and left untouched, so that
 * a wrong path never turns someone else's file into a bot database.
 */
export class NotOurDatabaseError extends PermanentStoreError {
  /** Names the file and what it holds instead. */
  constructor(path: string, what: string) {
    super(
      `"${path}" is not this bot's database (${what}); it was left untouched: check DATABASE_URL or --database`,
    );
    this.name = "NotOurDatabaseError";
  }
}

// This bot's database has its migration record and its two record tables.
// An empty file (no table at all) is made a database only where creating
// one is allowed (`migrate`, the bot's first start on a missing file).
function requireOwnDatabase(
  db: DatabaseSync,
  path: string,
  mayInitialise: boolean,
): void {
  const tables = (db.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  ).all() as { name: string }[]).map((row) => row.name);
  if (tables.length === 0) {
    if (mayInitialise) return;
    throw new NotOurDatabaseError(
      path,
      "it holds no table: an empty file; deno task cli migrate makes it one",
    );
  }
  const ours = ["schema_migrations", "users", "groups"];
  if (ours.every((table) => tables.includes(table))) return;
  const shown = tables.slice(0, 5).join(", ") +
    (tables.length > 5 ? ", …" : "");
  throw new NotOurDatabaseError(path, `it holds other tables: ${shown}`);
}

// An existing file keeps its mode through an open, and so do -wal and -shm
// files left from before: each is made owner-only on every open.
function ownerOnly(path: string): void {
  if (Deno.build.os === "windows") return;
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((Deno.statSync(file).mode! & 0o777) !== 0o600) {
        Deno.chmodSync(file, 0o600);
      }
    } catch (error) {
      // Gone meanwhile, or not ours to change (a reader running as another
      // user, a run without write permission): opening goes on.
      if (
        !(error instanceof Deno.errors.NotFound ||
          error instanceof Deno.errors.PermissionDenied ||
          error instanceof Deno.errors.NotCapable)
      ) throw error;
    }
  }
}

function existsDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function existsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function migrate(
  db: DatabaseSync,
  migrations: Migration[],
  lock: LockWait,
): Promise<void> {
  // An up-to-date database is opened without taking the write lock, so the
  // CLI and the bot can start while the other is writing.
  const current = await lock.retry(() => currentVersion(db));
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    try {
      await lock.retry(() =>
        transaction(db, () => {
          // Checked inside the write lock, so two processes starting
          // together never apply the same migration twice.
          if (currentVersion(db) >= migration.version) return;
          db.exec(migration.sql);
          db.prepare(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
          ).run(
            migration.version,
            migration.name,
            Math.floor(Date.now() / 1000),
          );
        })
      );
    } catch (error) {
      throw new Error(
        `migration ${migration.version} "${migration.name}" failed: ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
  }
}

function currentVersion(db: DatabaseSync): number {
  const table = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
  ).get();
  if (table === undefined) return 0;
  const row = db.prepare(
    "SELECT coalesce(max(version), 0) AS version FROM schema_migrations",
  ).get() as { version: number };
  return Number(row.version);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
