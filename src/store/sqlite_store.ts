import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { UserFromGetMe } from "grammy/types";
import { dirname } from "node:path";
import {
  type Actor,
  type AuditEntry,
  type RecordRef,
  subjectRef,
} from "./audit.ts";
import {
  type FieldCipher,
  TamperedError,
  WrongKeyError,
} from "../crypto/field_cipher.ts";
import { FieldCodec } from "../crypto/field_codec.ts";
import { loadMigrations, type Migration } from "./migrations.ts";
import {
  type AuditRecord,
  type GroupFields,
  type GroupRecord,
  type RegistrationPlan,
  type Store,
  StoreError,
  type StoreSummary,
  type UserFields,
  type UserRecord,
} from "./store.ts";

const PAGE_SIZE = 1000;
const USER_COLUMNS =
  "id, username, first_name, last_name, language_code, registered_at";
const GROUP_COLUMNS = "id, username, title, type, registered_at";
const CRYPTO_BATCH = 100;

/** Options for `openSqliteStore`. */
export interface SqliteStoreOptions {
  /** Migrations to apply; defaults to the files in `migrations/`. */
  migrations?: Migration[];
  /** How long to wait for another process's write lock, in milliseconds. */
  busyTimeoutMs?: number;
  /** Create the file (and its directory) when missing; default true. */
  create?: boolean;
  /**
   * Encrypts names, usernames and titles. The first key a database is opened
   * with is bound to it (older plaintext rows are encrypted then); opening
   * it later with another key, or with none, fails with `WrongKeyError`.
   */
  cipher?: FieldCipher;
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
  let db: DatabaseSync | undefined;
  try {
    if (path !== ":memory:") prepareFile(path, options.create ?? true);
    db = new DatabaseSync(path);
    db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    db.exec("PRAGMA journal_mode = WAL");
    // FULL makes every commit survive a power cut, which is what lets the
    // webhook answer 200 only after a registration is durable.
    db.exec("PRAGMA synchronous = FULL");
    // Deleted and overwritten values are zeroed in the file, not left behind.
    db.exec("PRAGMA secure_delete = ON");
    migrate(db, migrations);
    const codec = new FieldCodec(options.cipher);
    await bindDataKey(db, codec);
    return new SqliteStore(db, codec);
  } catch (error) {
    db?.close();
    if (error instanceof WrongKeyError) throw error;
    throw new StoreError(
      `Cannot open the SQLite database at "${path}": ${messageOf(error)}`,
      { cause: error },
    );
  }
}

/** The `Store` on a SQLite file through Deno's built-in `node:sqlite`. */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #codec: FieldCodec;
  #upsertUser: StatementSync;
  #upsertGroup: StatementSync;
  #getUser: StatementSync;
  #getGroup: StatementSync;
  #deleteUser: StatementSync;
  #deleteGroup: StatementSync;
  #moveGroup: StatementSync;
  #dataVersion: StatementSync;
  #insertAudit: StatementSync;
  #keyCheck: StatementSync;
  #auditKey: Uint8Array;

  /** Wraps an open, migrated database; use `openSqliteStore`. */
  constructor(db: DatabaseSync, codec: FieldCodec) {
    this.#db = db;
    this.#codec = codec;
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
    this.#dataVersion = db.prepare("PRAGMA data_version");
    this.#keyCheck = db.prepare(
      "SELECT key_id FROM data_key_check WHERE id = 1",
    );
    this.#insertAudit = db.prepare(
      "INSERT INTO audit_log (at, actor, action, kind, subject, records) VALUES (?, ?, ?, ?, ?, ?)",
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
    const [username, firstName, lastName] = await this.#codec.encodeUser(user);
    await run(() =>
      this.#write(() => {
        this.#upsertUser.run(
          user.id,
          username,
          firstName,
          lastName,
          user.language_code,
          now,
        );
      })
    );
  }

  /** Inserts the group, or updates its fields keeping `registered_at`. */
  async upsertGroup(group: GroupFields, now: number): Promise<void> {
    const current = await this.#readable(() => this.getGroup(group.id));
    if (current !== undefined && sameGroup(current, group)) return;
    const [username, title] = await this.#codec.encodeGroup(group);
    await run(() =>
      this.#write(() => {
        this.#upsertGroup.run(group.id, username, title, group.type, now);
      })
    );
  }

  /**
   * Moves a group record to `toId` keeping the earliest `registered_at`.
   * The values are encrypted again for the new id, which is part of what
   * each ciphertext is bound to.
   */
  async moveGroup(fromId: number, toId: number): Promise<boolean> {
    const old = await this.#readable(() => this.getGroup(fromId));
    const cells = old === undefined
      ? undefined
      : await this.#codec.encodeGroup({ ...old, id: toId, type: "supergroup" });
    return await run(() =>
      this.#write(() => {
        if (old !== undefined && cells !== undefined) {
          this.#moveGroup.run(toId, cells[0], cells[1], old.registered_at);
        }
        return Number(this.#deleteGroup.run(fromId).changes) > 0;
      })
    );
  }

  /** Deletes a user; returns whether one was there. */
  deleteUser(id: number): Promise<boolean> {
    return run(() => Number(this.#deleteUser.run(id).changes) > 0);
  }

  /** Deletes a group; returns whether one was there. */
  deleteGroup(id: number): Promise<boolean> {
    return run(() => Number(this.#deleteGroup.run(id).changes) > 0);
  }

  /** The user with this id, if stored; `TamperedError` if it fails its check. */
  async getUser(id: number): Promise<UserRecord | undefined> {
    const row = await run(() =>
      this.#getUser.get(id) as UserRecord | undefined
    );
    return row === undefined ? undefined : await this.#codec.decodeUser(row);
  }

  /** The group with this id, if stored; `TamperedError` if it fails its check. */
  async getGroup(id: number): Promise<GroupRecord | undefined> {
    const row = await run(() =>
      this.#getGroup.get(id) as GroupRecord | undefined
    );
    return row === undefined ? undefined : await this.#codec.decodeGroup(row);
  }

  /** SQLite's `data_version`: it changes when another connection commits. */
  erasureVersion(): Promise<number> {
    return run(() =>
      Number((this.#dataVersion.get() as { data_version: number }).data_version)
    );
  }

  /** Every user in id order, read a page at a time. */
  iterateUsers(): AsyncIterable<UserRecord> {
    return decodePages(
      rawPages<UserRecord>(this.#db, "users"),
      (row) => this.#codec.decodeUser(row),
    );
  }

  /** Every group in id order, read a page at a time. */
  iterateGroups(): AsyncIterable<GroupRecord> {
    return decodePages(
      rawPages<GroupRecord>(this.#db, "groups"),
      (row) => this.#codec.decodeGroup(row),
    );
  }

  /**
   * Re-encrypts every record with `next` and makes it the bound key, in one
   * transaction: a crash midway leaves the old key valid and nothing lost.
   * Returns how many records were re-encrypted.
   */
  async rotateKey(next: FieldCipher): Promise<number> {
    const codec = new FieldCodec(next);
    const count = await reencodeAll(this.#db, this.#codec, codec);
    this.#codec = codec;
    checkpoint(this.#db);
    return count;
  }

  /** Counts, schema version, registration range and size. */
  summary(): Promise<StoreSummary> {
    return run(() => {
      const row = this.#db.prepare(
        `SELECT (SELECT count(*) FROM users) AS users,
                (SELECT count(*) FROM groups) AS groups,
                min(registered_at) AS oldest,
                max(registered_at) AS newest,
                (SELECT page_count FROM pragma_page_count()) *
                  (SELECT page_size FROM pragma_page_size()) AS size
         FROM (SELECT registered_at FROM users UNION ALL SELECT registered_at FROM groups)`,
      ).get() as Record<string, number | null>;
      return {
        users: Number(row.users),
        groups: Number(row.groups),
        schemaVersion: currentVersion(this.#db),
        oldestRegistration: row.oldest,
        newestRegistration: row.newest,
        sizeBytes: Number(row.size),
      };
    });
  }

  /** Deletes the target and records the purge, in one transaction. */
  purge(target: RecordRef, actor: Actor): Promise<number> {
    return run(() =>
      this.#transaction(() => {
        let deleted: number;
        if (target.kind === "user") {
          deleted = Number(this.#deleteUser.run(target.id).changes);
        } else if (target.kind === "group") {
          deleted = Number(this.#deleteGroup.run(target.id).changes);
        } else {
          deleted =
            Number(this.#db.prepare("DELETE FROM users").run().changes) +
            Number(this.#db.prepare("DELETE FROM groups").run().changes);
        }
        if (deleted > 0) {
          this.#audit({ actor, action: "purge", target, records: deleted });
        }
        return deleted;
      })
    );
  }

  /** Appends an entry to the audit log. */
  recordAudit(record: AuditRecord): Promise<void> {
    return run(() => this.#audit(record));
  }

  /** When `actor` last did `action` to the record (Unix seconds), if ever. */
  lastAudit(
    target: RecordRef,
    action: AuditEntry["action"],
    actor: Actor,
  ): Promise<number | undefined> {
    return run(() => {
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
    return run(() =>
      this.#db.prepare(
        "SELECT at, actor, action, kind, subject, records FROM audit_log ORDER BY id DESC LIMIT ?",
      ).all(limit).map((row) => ({ ...row }) as unknown as AuditEntry)
    );
  }

  /** The audit log's reference for a record. */
  auditSubject(target: RecordRef): Promise<string | null> {
    return Promise.resolve(subjectRef(this.#auditKey, target));
  }

  /** Succeeds when the database answers a query. */
  ping(): Promise<void> {
    return run(() => {
      this.#db.prepare("SELECT 1").get();
    });
  }

  /** TODO(issue 8/10): one transaction for all plans; erasure dates. */
  async register(
    plans: readonly RegistrationPlan[],
    now: number,
  ): Promise<void> {
    for (const plan of plans) {
      if (plan.user !== undefined) await this.upsertUser(plan.user, now);
      if (plan.move !== undefined) {
        await this.moveGroup(plan.move.fromId, plan.move.toId);
      }
      if (plan.group !== undefined) await this.upsertGroup(plan.group, now);
      if (plan.removeGroupId !== undefined) {
        await this.deleteGroup(plan.removeGroupId);
      }
    }
  }

  /** TODO(issue 8): a real write probe. */
  checkWritable(): Promise<void> {
    return this.ping();
  }

  /** The bot's own profile stored by `setup`, if any. */
  botProfile(): Promise<UserFromGetMe | undefined> {
    return run(() => {
      const row = this.#db.prepare(
        "SELECT profile FROM bot_profile WHERE id = 1",
      ).get() as { profile: string } | undefined;
      return row === undefined ? undefined : JSON.parse(row.profile);
    });
  }

  /** Stores the bot's own profile (`getMe`). */
  saveBotProfile(profile: UserFromGetMe): Promise<void> {
    return run(() => {
      this.#db.prepare(
        `INSERT INTO bot_profile (id, profile, saved_at) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET profile = excluded.profile, saved_at = excluded.saved_at`,
      ).run(JSON.stringify(profile), Math.floor(Date.now() / 1000));
    });
  }

  /** The highest applied migration. */
  schemaVersion(): Promise<number> {
    return run(() => currentVersion(this.#db));
  }

  /** Closes the database; safe to call twice. */
  close(): Promise<void> {
    return run(() => {
      if (this.#db.isOpen) this.#db.close();
    });
  }

  #audit(record: AuditRecord): void {
    this.#insertAudit.run(
      record.at ?? Math.floor(Date.now() / 1000),
      record.actor,
      record.action,
      record.target.kind,
      subjectRef(this.#auditKey, record.target),
      record.records,
    );
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

  // Writes values encoded before the transaction began. The key check is
  // read inside it, so if another process bound or rotated the key
  // meanwhile (a first keyed open, rotate-key), nothing is written under the
  // old key, nor as plaintext into an encrypted database.
  #write<T>(body: () => T): T {
    return this.#transaction(() => {
      const check = this.#keyCheck.get() as { key_id: string } | undefined;
      if (check !== undefined && check.key_id !== this.#codec.cipher?.keyId) {
        throw new WrongKeyError(
          `The database was encrypted with key ${check.key_id} by another process: restart with that key in DATA_ENCRYPTION_KEY`,
        );
      }
      return body();
    });
  }

  #transaction<T>(body: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = body();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }
}

// Keeps the async Store contract for a synchronous driver: errors become
// rejections instead of synchronous throws.
function run<T>(body: () => T): Promise<T> {
  try {
    return Promise.resolve(body());
  } catch (error) {
    return Promise.reject(
      error instanceof StoreError
        ? error
        : new StoreError(`SQLite failed: ${messageOf(error)}`, {
          cause: error,
        }),
    );
  }
}

// Reads pages of PAGE_SIZE rows by id (keyset pagination): faster than a
// row-by-row cursor, and each page is a short read, so a long export never
// holds a snapshot that stops the bot's writes from being checkpointed.
async function* rawPages<T extends { id: number }>(
  db: DatabaseSync,
  table: "users" | "groups",
): AsyncIterable<T[]> {
  const page = db.prepare(
    `SELECT ${table === "users" ? USER_COLUMNS : GROUP_COLUMNS} FROM ${table}
     WHERE id > ? ORDER BY id LIMIT ${PAGE_SIZE}`,
  );
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = await run(() => page.all(after) as unknown as T[]);
    if (rows.length > 0) yield rows;
    if (rows.length < PAGE_SIZE) return;
    after = rows[rows.length - 1]!.id;
  }
}

// Decrypts a page at a time (see `inBatches`).
async function* decodePages<T>(
  pages: AsyncIterable<T[]>,
  decode: (row: T) => Promise<T>,
): AsyncIterable<T> {
  for await (const rows of pages) yield* await inBatches(rows, decode);
}

// Maps CRYPTO_BATCH rows at a time with all their calls in flight together:
// WebCrypto calls are slow one by one and faster overlapped, and a bounded
// batch keeps memory flat.
async function inBatches<T, R>(
  rows: T[],
  map: (row: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < rows.length; i += CRYPTO_BATCH) {
    results.push(
      ...await Promise.all(rows.slice(i, i + CRYPTO_BATCH).map(map)),
    );
  }
  return results;
}

// Rewrites every record's encrypted columns from one codec to another and
// stores the new key check, in one transaction.
async function reencodeAll(
  db: DatabaseSync,
  from: FieldCodec,
  to: FieldCodec,
): Promise<number> {
  const updateUser = db.prepare(
    "UPDATE users SET username = ?, first_name = ?, last_name = ? WHERE id = ?",
  );
  const updateGroup = db.prepare(
    "UPDATE groups SET username = ?, title = ? WHERE id = ?",
  );
  let count = 0;
  db.exec("BEGIN IMMEDIATE");
  try {
    for await (const rows of rawPages<UserRecord>(db, "users")) {
      const cells = await inBatches(
        rows,
        async (row) => to.encodeUser(await from.decodeUser(row)),
      );
      rows.forEach((row, i) => updateUser.run(...cells[i]!, row.id));
      count += rows.length;
    }
    for await (const rows of rawPages<GroupRecord>(db, "groups")) {
      const cells = await inBatches(
        rows,
        async (row) => to.encodeGroup(await from.decodeGroup(row)),
      );
      rows.forEach((row, i) => updateGroup.run(...cells[i]!, row.id));
      count += rows.length;
    }
    db.prepare(
      `INSERT INTO data_key_check (id, key_id, check_value) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, check_value = excluded.check_value`,
    ).run(to.cipher!.keyId, await to.keyCheck());
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
  return count;
}

// Checks the key against the database. The first key a database meets is
// bound to it, and rows written in plaintext before then are encrypted.
async function bindDataKey(db: DatabaseSync, codec: FieldCodec): Promise<void> {
  const check = db.prepare(
    "SELECT key_id, check_value FROM data_key_check WHERE id = 1",
  ).get() as { key_id: string; check_value: string } | undefined;
  if (codec.cipher === undefined) {
    if (check !== undefined) {
      throw new WrongKeyError(
        `This database is encrypted (key ${check.key_id}): set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key`,
      );
    }
    return;
  }
  if (check !== undefined) {
    await codec.verifyKeyCheck(check.key_id, check.check_value);
    return;
  }
  const migrated = await reencodeAll(db, new FieldCodec(), codec);
  if (migrated > 0) checkpoint(db);
}

// Moves everything from the WAL into the database file and empties the WAL,
// so that the old plaintext or old ciphertexts do not linger in it.
function checkpoint(db: DatabaseSync): void {
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

function sameUser(a: UserFields, b: UserFields): boolean {
  return a.username === b.username && a.first_name === b.first_name &&
    a.last_name === b.last_name && a.language_code === b.language_code;
}

function sameGroup(a: GroupFields, b: GroupFields): boolean {
  return a.username === b.username && a.title === b.title && a.type === b.type;
}

// Creates the data directory and an owner-only file before SQLite opens it;
// SQLite gives the -wal and -shm files the same mode as the database.
function prepareFile(path: string, create: boolean): void {
  if (!create) {
    if (!existsFile(path)) throw new Error("there is no database file there");
    return;
  }
  Deno.mkdirSync(dirname(path), { recursive: true });
  const file = Deno.openSync(path, { create: true, write: true, mode: 0o600 });
  file.close();
  if (Deno.build.os !== "windows") Deno.chmodSync(path, 0o600);
}

function existsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function migrate(db: DatabaseSync, migrations: Migration[]): void {
  // An up-to-date database is opened without taking the write lock, so the
  // CLI and the bot can start while the other is writing.
  const current = currentVersion(db);
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.exec("BEGIN IMMEDIATE");
    try {
      // Checked inside the write lock, so two processes starting together
      // never apply the same migration twice.
      if (currentVersion(db) < migration.version) {
        db.exec(migration.sql);
        db.prepare(
          "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        ).run(migration.version, migration.name, Math.floor(Date.now() / 1000));
      }
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
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
