import { DatabaseSync, type StatementSync } from "node:sqlite";
import { dirname } from "node:path";
import {
  type Actor,
  type AuditEntry,
  type RecordRef,
  subjectRef,
} from "./audit.ts";
import { loadMigrations, type Migration } from "./migrations.ts";
import {
  type AuditRecord,
  type GroupFields,
  type GroupRecord,
  type Store,
  StoreError,
  type StoreSummary,
  type UserFields,
  type UserRecord,
} from "./store.ts";

const PAGE_SIZE = 1000;

/** Options for `openSqliteStore`. */
export interface SqliteStoreOptions {
  /** Migrations to apply; defaults to the files in `migrations/`. */
  migrations?: Migration[];
  /** How long to wait for another process's write lock, in milliseconds. */
  busyTimeoutMs?: number;
  /** Create the file (and its directory) when missing; default true. */
  create?: boolean;
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
    migrate(db, migrations);
    return new SqliteStore(db);
  } catch (error) {
    db?.close();
    throw new StoreError(
      `Cannot open the SQLite database at "${path}": ${messageOf(error)}`,
      { cause: error },
    );
  }
}

/** The `Store` on a SQLite file through Deno's built-in `node:sqlite`. */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #upsertUser: StatementSync;
  #upsertGroup: StatementSync;
  #getUser: StatementSync;
  #getGroup: StatementSync;
  #deleteUser: StatementSync;
  #deleteGroup: StatementSync;
  #moveGroup: StatementSync;
  #dataVersion: StatementSync;
  #insertAudit: StatementSync;
  #auditKey: Uint8Array;

  /** Wraps an open, migrated database; use `openSqliteStore`. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    // The WHERE clauses skip rewriting a row whose fields did not change.
    this.#upsertUser = db.prepare(
      `INSERT INTO users (id, username, first_name, last_name, language_code, registered_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET
         username = excluded.username, first_name = excluded.first_name,
         last_name = excluded.last_name, language_code = excluded.language_code
       WHERE users.username IS NOT excluded.username
          OR users.first_name IS NOT excluded.first_name
          OR users.last_name IS NOT excluded.last_name
          OR users.language_code IS NOT excluded.language_code`,
    );
    this.#upsertGroup = db.prepare(
      `INSERT INTO groups (id, username, title, type, registered_at)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET
         username = excluded.username, title = excluded.title, type = excluded.type
       WHERE groups.username IS NOT excluded.username
          OR groups.title IS NOT excluded.title
          OR groups.type IS NOT excluded.type`,
    );
    this.#getUser = db.prepare(
      "SELECT id, username, first_name, last_name, language_code, registered_at FROM users WHERE id = ?",
    );
    this.#getGroup = db.prepare(
      "SELECT id, username, title, type, registered_at FROM groups WHERE id = ?",
    );
    this.#deleteUser = db.prepare("DELETE FROM users WHERE id = ?");
    this.#deleteGroup = db.prepare("DELETE FROM groups WHERE id = ?");
    this.#moveGroup = db.prepare(
      `INSERT INTO groups (id, username, title, type, registered_at)
       SELECT ?, username, title, 'supergroup', registered_at FROM groups WHERE id = ?
       ON CONFLICT (id) DO UPDATE SET
         registered_at = min(groups.registered_at, excluded.registered_at)`,
    );
    this.#dataVersion = db.prepare("PRAGMA data_version");
    this.#insertAudit = db.prepare(
      "INSERT INTO audit_log (at, actor, action, kind, subject, records) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const key = db.prepare("SELECT key FROM audit_key WHERE id = 1").get() as
      | { key: Uint8Array }
      | undefined;
    if (key === undefined) throw new StoreError("The audit key is missing");
    this.#auditKey = key.key;
  }

  /** Inserts the user, or updates its fields keeping `registered_at`. */
  upsertUser(user: UserFields, now: number): Promise<void> {
    return run(() => {
      this.#upsertUser.run(
        user.id,
        user.username,
        user.first_name,
        user.last_name,
        user.language_code,
        now,
      );
    });
  }

  /** Inserts the group, or updates its fields keeping `registered_at`. */
  upsertGroup(group: GroupFields, now: number): Promise<void> {
    return run(() => {
      this.#upsertGroup.run(
        group.id,
        group.username,
        group.title,
        group.type,
        now,
      );
    });
  }

  /** Moves a group record to `toId` keeping the earliest `registered_at`. */
  moveGroup(fromId: number, toId: number): Promise<boolean> {
    return run(() =>
      this.#transaction(() => {
        this.#moveGroup.run(toId, fromId);
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

  /** The user with this id, if stored. */
  getUser(id: number): Promise<UserRecord | undefined> {
    return run(() => plain(this.#getUser.get(id)) as UserRecord | undefined);
  }

  /** The group with this id, if stored. */
  getGroup(id: number): Promise<GroupRecord | undefined> {
    return run(() => plain(this.#getGroup.get(id)) as GroupRecord | undefined);
  }

  /** SQLite's `data_version`: it changes when another connection commits. */
  externalVersion(): Promise<number> {
    return run(() =>
      Number((this.#dataVersion.get() as { data_version: number }).data_version)
    );
  }

  /** Every user in id order, read a page at a time. */
  iterateUsers(): AsyncIterable<UserRecord> {
    return this.#pages<UserRecord>(
      "id, username, first_name, last_name, language_code, registered_at",
      "users",
    );
  }

  /** Every group in id order, read a page at a time. */
  iterateGroups(): AsyncIterable<GroupRecord> {
    return this.#pages<GroupRecord>(
      "id, username, title, type, registered_at",
      "groups",
    );
  }

  /** Counts, schema version, registration range and size. */
  summary(): Promise<StoreSummary> {
    return run(() => {
      const row = this.#db.prepare(
        `SELECT (SELECT count(*) FROM users) AS users,
                (SELECT count(*) FROM groups) AS groups,
                min((SELECT min(registered_at) FROM users), (SELECT min(registered_at) FROM groups)) AS both_min,
                coalesce((SELECT min(registered_at) FROM users), (SELECT min(registered_at) FROM groups)) AS any_min,
                max((SELECT max(registered_at) FROM users), (SELECT max(registered_at) FROM groups)) AS both_max,
                coalesce((SELECT max(registered_at) FROM users), (SELECT max(registered_at) FROM groups)) AS any_max,
                (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size()) AS size`,
      ).get() as Record<string, number | null>;
      // SQLite's two-argument min/max return NULL when either side is NULL.
      return {
        users: Number(row.users),
        groups: Number(row.groups),
        schemaVersion: currentVersion(this.#db),
        oldestRegistration: row.both_min ?? row.any_min ?? null,
        newestRegistration: row.both_max ?? row.any_max ?? null,
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

  // Reads pages of PAGE_SIZE rows by id (keyset pagination): faster than a
  // row-by-row cursor, and each page is a short read, so a long export never
  // holds a snapshot that stops the bot's writes from being checkpointed.
  async *#pages<T extends { id: number }>(
    columns: string,
    table: string,
  ): AsyncIterable<T> {
    const page = this.#db.prepare(
      `SELECT ${columns} FROM ${table} WHERE id > ? ORDER BY id LIMIT ${PAGE_SIZE}`,
    );
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const rows = await run(() => page.all(after) as unknown as T[]);
      yield* rows;
      if (rows.length < PAGE_SIZE) return;
      after = rows[rows.length - 1]!.id;
    }
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

// node:sqlite rows have a null prototype; callers get ordinary objects.
function plain(row: object | undefined): object | undefined {
  return row === undefined ? undefined : { ...row };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
