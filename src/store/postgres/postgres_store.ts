import postgres from "postgres";
import type { UserFromGetMe } from "grammy/types";
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
  type UserCells,
} from "../../crypto/field_codec.ts";
import type { PostgresConnection } from "../../config/database_url.ts";
import { GROUP_COLUMNS, PAGE_SIZE, USER_COLUMNS } from "../_columns.ts";
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

/** A postgres.js connection pool. */
export type Sql = postgres.Sql<Record<string, never>>;
/** A postgres.js transaction. */
export type Tx = postgres.TransactionSql<Record<string, never>>;

// Rows per cursor fetch when exporting: fewer round trips, still a few MB.
const CURSOR_ROWS = 5000;

/** Where the PostgreSQL migrations live. */
export const POSTGRES_MIGRATIONS = new URL(
  "../../../migrations/postgres/",
  import.meta.url,
);

/** How long any one store call may take before it fails, in ms. */
export const QUERY_TIMEOUT_MS = 10_000;
/** How long the health probe may take, in ms. */
export const HEALTH_TIMEOUT_MS = 3_000;
/** How long rewriting the tables may take, in ms: it grows with them. */
const COMPACT_TIMEOUT_MS = 60 * 60_000;
/** How long opening a connection may take, in seconds (postgres.js unit). */
export const CONNECT_TIMEOUT_S = 5;

// Advisory lock keys. The two-key form used for migrations lives in a key
// space apart from the one-key form used for record ids.
const MIGRATION_LOCK: [number, number] = [0x7072_6976, 1];
// Taken shared by every registration and exclusively by a purge of all
// records; no Telegram id is this small.
const ALL_RECORDS_LOCK = Number.MIN_SAFE_INTEGER;

/** Options for `openPostgresStore`. */
export interface PostgresStoreOptions {
  /** Migrations to apply; defaults to the files in `migrations/postgres/`. */
  migrations?: Migration[];
  /** Encrypts names, usernames and titles, exactly as the SQLite store does. */
  cipher?: FieldCipher;
  /** Bound on each store call, in ms; default `QUERY_TIMEOUT_MS`. */
  queryTimeoutMs?: number;
  /** Told how the first encryption of a plaintext database advances. */
  onProgress?: ProgressCallback;
}

/**
 * Connects a pool to PostgreSQL with the bounds this project relies on:
 * connecting fails after `CONNECT_TIMEOUT_S`, ids come back as numbers, and
 * a lost connection is replaced on the next query.
 */
export function connectPostgres(
  connection: PostgresConnection,
  options: { max?: number } = {},
): Sql {
  return postgres({
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    password: connection.password,
    ssl: sslOption(connection.sslmode),
    max: options.max ?? connection.poolSize,
    connect_timeout: CONNECT_TIMEOUT_S,
    // Idle connections are closed, so a pool never holds many for nothing.
    idle_timeout: 60,
    // Reconnects after a lost connection quickly: at most one second apart.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    // One round trip fewer when connecting: no custom array types are used.
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: "privacy-bot", ...connection.params },
    types: {
      // BIGINT columns (ids, Unix seconds, counts) are safe integers here.
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: (value: string) => Number(value),
      },
    },
  }) as unknown as Sql;
}

function sslOption(mode: PostgresConnection["sslmode"]) {
  switch (mode) {
    case "disable":
      return false;
    case "allow":
    case "prefer":
    case "require":
      return mode;
    default:
      // verify-ca and verify-full: the certificate must check out.
      return "verify-full";
  }
}

/**
 * Connects to PostgreSQL, applies pending migrations (once, even when
 * several instances start together) and returns the store. Throws
 * `StoreError` when it cannot, `WrongKeyError` for the wrong data key.
 */
export async function openPostgresStore(
  connection: PostgresConnection,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const migrations = options.migrations ??
    await loadMigrations(POSTGRES_MIGRATIONS);
  const sql = connectPostgres(connection);
  const where = `${connection.host}:${connection.port}/${connection.database}`;
  try {
    const given = new FieldCodec(options.cipher);
    const { auditKey, check } = await bounded(
      "opening the store",
      QUERY_TIMEOUT_MS * 3,
      async () => {
        await migratePostgres(sql, migrations);
        const rows = await sql`SELECT key FROM audit_key WHERE id = 1`;
        if (rows.length === 0) throw new StoreError("The audit key is missing");
        return {
          auditKey: new Uint8Array(rows[0]!.key as Uint8Array),
          check: await readKeyCheck(sql),
        };
      },
    );
    // Not bounded: encrypting an existing database is long work that goes
    // on, with progress, rather than a wait on an answer.
    const codec = await guard(() =>
      bindDataKey(sql, given, check, options.onProgress)
    );
    return new PostgresStore(sql, {
      codec,
      auditKey,
      queryTimeoutMs: options.queryTimeoutMs ?? QUERY_TIMEOUT_MS,
    });
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    if (error instanceof WrongKeyError) throw error;
    throw new StoreError(
      `Cannot open the PostgreSQL database at ${where}: ${messageOf(error)}`,
      { cause: error },
    );
  }
}

/**
 * Applies pending migrations, each in its own transaction under an advisory
 * lock, so that instances starting together apply each exactly once.
 */
export async function migratePostgres(
  sql: Sql,
  migrations: Migration[],
): Promise<void> {
  // An up-to-date database is opened without taking the lock.
  const current = await currentVersion(sql);
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    try {
      await sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK[0]}::int, ${
          MIGRATION_LOCK[1]
        }::int)`;
        // Checked again under the lock: another instance may have applied it.
        if (await currentVersion(tx) >= migration.version) return;
        await tx.unsafe(migration.sql).simple();
        await tx`INSERT INTO schema_migrations (version, name, applied_at)
                 VALUES (${migration.version}, ${migration.name}, ${unixNow()})`;
      });
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

async function currentVersion(sql: Sql | Tx): Promise<number> {
  // Read from the catalog table, not through to_regclass(): after waiting
  // for the migration lock, only a fresh read sees a table another instance
  // has just created.
  const [table] = await sql`SELECT count(*) AS n FROM pg_catalog.pg_tables
                            WHERE tablename = 'schema_migrations'
                              AND schemaname = ANY (current_schemas(false))`;
  if (Number(table!.n) === 0) return 0;
  const [row] = await sql`SELECT coalesce(max(version), 0) AS version
                           FROM schema_migrations`;
  return Number(row!.version);
}

// Checks the keys against the database, and returns the codec that writes
// with the key the database is bound to (any key of the ring may be). The
// first key a database meets is bound to it, and rows written in plaintext
// before then are encrypted, in one transaction under the migration lock
// (two instances starting at once do it once).
async function bindDataKey(
  sql: Sql,
  codec: FieldCodec,
  check: { key_id: string; check_value: string } | undefined,
  onProgress?: ProgressCallback,
): Promise<FieldCodec> {
  if (codec.cipher === undefined) {
    if (check !== undefined) throw noKeyError(check.key_id);
    return codec;
  }
  if (check !== undefined) {
    codec.verifyKeyCheckSync(check.key_id, check.check_value);
    return codec.boundTo(check.key_id);
  }
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK[0]}::int, ${
      MIGRATION_LOCK[1]
    }::int)`;
    const again = await readKeyCheck(tx);
    if (again !== undefined) {
      codec.verifyKeyCheckSync(again.key_id, again.check_value);
      return codec.boundTo(again.key_id);
    }
    await encryptAll(tx, codec, onProgress);
    return codec;
  });
}

async function readKeyCheck(
  sql: Sql | Tx,
): Promise<{ key_id: string; check_value: string } | undefined> {
  const [row] = await sql`SELECT key_id, check_value FROM data_key_check
                           WHERE id = 1`;
  return row as { key_id: string; check_value: string } | undefined;
}

function noKeyError(keyId: string): WrongKeyError {
  return new WrongKeyError(
    `This database is encrypted (key ${keyId}): set DATA_ENCRYPTION_KEY, or DATA_KEY_FILE, to its key`,
  );
}

interface StoreParts {
  codec: FieldCodec;
  auditKey: Uint8Array;
  queryTimeoutMs: number;
}

/** The `Store` on PostgreSQL through `npm:postgres`; see `openPostgresStore`. */
export class PostgresStore implements Store {
  #sql: Sql;
  #codec: FieldCodec;
  #auditKey: Uint8Array;
  #timeoutMs: number;
  #closed = false;

  /** Wraps a connected, migrated pool; use `openPostgresStore`. */
  constructor(sql: Sql, parts: StoreParts) {
    this.#sql = sql;
    this.#codec = parts.codec;
    this.#auditKey = parts.auditKey;
    this.#timeoutMs = parts.queryTimeoutMs;
  }

  /** The pool, for raw copies of the stored values. */
  get sql(): Sql {
    return this.#sql;
  }

  /**
   * Inserts the user, or updates its fields keeping `registered_at`. An
   * unchanged record is not written again (ciphertexts differ every time).
   */
  async upsertUser(user: UserFields, now: number): Promise<void> {
    const current = await readable(() => this.getUser(user.id));
    if (current !== undefined && sameUser(current, user)) return;
    await this.register([{ user }], now);
  }

  /** Inserts the group, or updates its fields keeping `registered_at`. */
  async upsertGroup(group: GroupFields, now: number): Promise<void> {
    const current = await readable(() => this.getGroup(group.id));
    if (current !== undefined && sameGroup(current, group)) return;
    await this.register([{ group }], now);
  }

  /**
   * Moves a group record to `toId` keeping the earliest `registered_at`,
   * encrypted again for the new id (part of what each value is bound to).
   */
  moveGroup(fromId: number, toId: number): Promise<boolean> {
    return retryOnKeyMove(() => this.#moveGroupOnce(fromId, toId));
  }

  async #moveGroupOnce(fromId: number, toId: number): Promise<boolean> {
    const codec = this.#codec;
    const cells = await this.#movedCells(codec, fromId, toId);
    return await this.#write(
      "moving a group",
      codec,
      [fromId, toId],
      async (tx, ready) => {
        await ready;
        return await this.#move(tx, fromId, toId, cells);
      },
    );
  }

  /** Deletes a user; returns whether one was there. */
  deleteUser(id: number): Promise<boolean> {
    return this.#transaction("deleting a user", async (tx) => {
      await lockIds(tx, [id]);
      return await deleteRecords(tx, "users", id) > 0;
    });
  }

  /** Deletes a group; returns whether one was there. */
  deleteGroup(id: number): Promise<boolean> {
    return this.#transaction("deleting a group", async (tx) => {
      await lockIds(tx, [id]);
      return await deleteRecords(tx, "groups", id) > 0;
    });
  }

  /** The user with this id, if stored; `TamperedError` if it fails its check. */
  async getUser(id: number): Promise<UserRecord | undefined> {
    const [row] = await this.#bounded(
      "reading a user",
      () =>
        this.#sql.unsafe(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [
          id,
        ]),
    );
    return row === undefined
      ? undefined
      : this.#codec.decodeUserSync(row as unknown as UserRecord);
  }

  /** The group with this id, if stored; `TamperedError` if it fails its check. */
  async getGroup(id: number): Promise<GroupRecord | undefined> {
    const [row] = await this.#bounded(
      "reading a group",
      () =>
        this.#sql.unsafe(`SELECT ${GROUP_COLUMNS} FROM groups WHERE id = $1`, [
          id,
        ]),
    );
    return row === undefined
      ? undefined
      : this.#codec.decodeGroupSync(row as unknown as GroupRecord);
  }

  /**
   * Applies the plans in order in one transaction. Every value is encrypted
   * before it begins; inside, the ids are locked in ascending order (so two
   * instances never deadlock, and a purge of the same record waits or is
   * waited for), then the statements are sent pipelined.
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
    if (plans.length === 0) return { erased: [] };
    const codec = this.#codec;
    const prepared = await Promise.all(
      plans.map((plan) => this.#prepare(codec, plan)),
    );
    const ids = plans.flatMap((plan) => [
      ...(plan.user === undefined ? [] : [plan.user.id]),
      ...(plan.move === undefined ? [] : [plan.move.fromId, plan.move.toId]),
      ...(plan.group === undefined ? [] : [plan.group.id]),
      ...(plan.removeGroupId === undefined ? [] : [plan.removeGroupId]),
    ]);
    // Without moves or removals the plans' groups are independent of each
    // other's order, like the users always are: each table gets one
    // statement carrying the last values of each id.
    const ordered = plans.some((plan) =>
      plan.move !== undefined || plan.removeGroupId !== undefined
    );
    return await this.#write("registering", codec, ids, async (tx, ready) => {
      // Sent right behind the locks, in the same round trip.
      const [, purges] = await Promise.all([
        ready,
        purgeTimes(
          tx,
          prepared.flatMap((p) => [p.user?.subject, p.group?.subject]),
        ),
      ]);
      const erasedAfter = (subject: string | null | undefined, at?: number) =>
        at !== undefined && subject != null &&
        Math.max(purges.all, purges.bySubject.get(subject) ?? -Infinity) > at;
      const erased: number[] = [];
      const users = new Map<number, UserRow>();
      const groups = new Map<number, GroupRow>();
      let pending: Promise<unknown>[] = [];
      for (const { plan, user, group, move } of prepared) {
        if (plan.user !== undefined && user !== undefined) {
          if (erasedAfter(user.subject, plan.sentAt)) erased.push(plan.user.id);
          else {
            users.delete(plan.user.id);
            users.set(plan.user.id, {
              id: plan.user.id,
              username: user.cells[0],
              first_name: user.cells[1],
              last_name: user.cells[2],
              language_code: plan.user.language_code,
            });
          }
        }
        if (plan.move !== undefined) {
          // The move reads the old record: what came before must be done.
          await Promise.all(pending);
          pending = [];
          await this.#move(tx, plan.move.fromId, plan.move.toId, move);
        }
        if (plan.group !== undefined && group !== undefined) {
          if (erasedAfter(group.subject, plan.sentAt)) {
            erased.push(plan.group.id);
          } else {
            const row = {
              id: plan.group.id,
              username: group.cells[0],
              title: group.cells[1],
              type: plan.group.type,
            };
            if (ordered) pending.push(upsertGroups(tx, [row], now));
            else {
              groups.delete(row.id);
              groups.set(row.id, row);
            }
          }
        }
        if (plan.removeGroupId !== undefined) {
          pending.push(deleteRecords(tx, "groups", plan.removeGroupId));
        }
      }
      if (users.size > 0) {
        pending.push(upsertUsers(tx, [...users.values()], now));
      }
      if (groups.size > 0) {
        pending.push(upsertGroups(tx, [...groups.values()], now));
      }
      await Promise.all(pending);
      return { erased };
    });
  }

  /** The counter every deletion, move and purge raises, read now. */
  async erasureVersion(): Promise<number> {
    const [row] = await this.#bounded(
      "reading the erasure counter",
      () => this.#sql`SELECT version FROM erasure_version WHERE id = 1`,
    );
    return Number(row!.version);
  }

  /** Every user in id order, read through a cursor a page at a time. */
  iterateUsers(options: IterateOptions = {}): AsyncIterable<UserRecord> {
    return decodePages(
      rawPages<UserRecord>(this.#sql, "users"),
      skippingDamaged(
        (row) => this.#codec.decodeUserSync(row),
        options.onDamaged,
      ),
    );
  }

  /** Every group in id order, read through a cursor a page at a time. */
  iterateGroups(options: IterateOptions = {}): AsyncIterable<GroupRecord> {
    return decodePages(
      rawPages<GroupRecord>(this.#sql, "groups"),
      skippingDamaged(
        (row) => this.#codec.decodeGroupSync(row),
        options.onDamaged,
      ),
    );
  }

  /**
   * Moves the database to `next`'s key while other instances go on: the
   * binding moves first (writers elsewhere that hold the key follow it at
   * their next write), then the values under other keys are re-encrypted a
   * page at a time, each page under the record locks a registration takes.
   */
  async rotateKey(
    next: FieldCipher,
    options: RotateKeyOptions = {},
  ): Promise<RotationResult> {
    const from = this.#codec;
    const to = new FieldCodec(
      from.cipher === undefined ? next : next.including(from.cipher),
    );
    await this.#transaction("moving to the new key", async (tx) => {
      await tx`INSERT INTO data_key_check (id, key_id, check_value)
               VALUES (1, ${to.cipher!.keyId}, ${to.keyCheckSync()})
               ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id,
                 check_value = excluded.check_value`;
    });
    this.#codec = to;
    const [counts] = await this.#bounded(
      "counting records",
      () =>
        this.#sql`SELECT (SELECT count(*) FROM users) +
                         (SELECT count(*) FROM groups) AS total`,
    );
    const total = Number(counts!.total);
    let done = 0;
    let records = 0;
    options.onProgress?.(0, total);
    for (const table of ["users", "groups"] as const) {
      for await (const rows of this.#pages(table)) {
        const stale = rows.filter((row) => to.needsRewrite(table, row))
          .map((row) => row.id);
        if (stale.length > 0) {
          records += await this.#write(
            "re-encrypting",
            to,
            stale,
            async (tx, ready) => {
              await ready;
              // Read again under the locks: a registration may have
              // written the record meanwhile, already under the new key.
              const fresh = (await tx.unsafe(
                `SELECT ${
                  table === "users" ? USER_COLUMNS : GROUP_COLUMNS
                } FROM ${table} WHERE id = ANY($1::text::bigint[])`,
                [`{${stale.join(",")}}`],
              ) as unknown as (UserRecord | GroupRecord)[]).filter((row) =>
                to.needsRewrite(table, row)
              );
              return await rewriteRows(tx, table, fresh, {
                from: to,
                to,
                onDamaged: options.onDamaged,
              });
            },
          );
        }
        done += rows.length;
        options.onProgress?.(done, total);
      }
    }
    const { valuesByKeyId } = await this.summary();
    let remaining = 0;
    for (const [id, n] of Object.entries(valuesByKeyId)) {
      if (id !== to.cipher!.keyId) remaining += n;
    }
    return { records, remaining };
  }

  // Pages of records by id, each read by a short bounded query.
  async *#pages(
    table: "users" | "groups",
  ): AsyncIterable<(UserRecord | GroupRecord)[]> {
    const columns = table === "users" ? USER_COLUMNS : GROUP_COLUMNS;
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const rows = await this.#bounded(
        "reading a page of records",
        () =>
          this.#sql.unsafe(
            `SELECT ${columns} FROM ${table} WHERE id > $1 ORDER BY id LIMIT ${PAGE_SIZE}`,
            [after],
          ),
      ) as unknown as (UserRecord | GroupRecord)[];
      if (rows.length > 0) yield rows;
      if (rows.length < PAGE_SIZE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  /** Counts, schema version, registration range and the database's size. */
  async summary(): Promise<StoreSummary> {
    const [row] = await this.#bounded(
      "summarising",
      () =>
        this.#sql`SELECT (SELECT count(*) FROM users) AS users,
                       (SELECT count(*) FROM groups) AS groups,
                       (SELECT min(registered_at) FROM (
                          SELECT min(registered_at) AS registered_at FROM users
                          UNION ALL SELECT min(registered_at) FROM groups) AS r) AS oldest,
                       (SELECT max(registered_at) FROM (
                          SELECT max(registered_at) AS registered_at FROM users
                          UNION ALL SELECT max(registered_at) FROM groups) AS r) AS newest,
                       pg_database_size(current_database()) AS size,
                       (SELECT coalesce(max(version), 0) FROM schema_migrations) AS version,
                       (SELECT key_id FROM data_key_check WHERE id = 1) AS key_id`,
    );
    // The key each stored value names: the text between the first two dots.
    const keys = await this.#bounded(
      "counting values per key",
      () =>
        this.#sql`SELECT split_part(v, '.', 2) AS key_id, count(*) AS n FROM (
                    SELECT username AS v FROM users
                    UNION ALL SELECT first_name FROM users
                    UNION ALL SELECT last_name FROM users
                    UNION ALL SELECT username FROM groups
                    UNION ALL SELECT title FROM groups) AS t
                  WHERE v LIKE 'v1.%' GROUP BY 1 ORDER BY 1`,
    );
    return {
      users: Number(row!.users),
      groups: Number(row!.groups),
      schemaVersion: Number(row!.version),
      oldestRegistration: row!.oldest === null ? null : Number(row!.oldest),
      newestRegistration: row!.newest === null ? null : Number(row!.newest),
      sizeBytes: Number(row!.size),
      keyId: (row!.key_id as string | null) ?? null,
      valuesByKeyId: Object.fromEntries(
        keys.map((k) => [k.key_id as string, Number(k.n)]),
      ),
    };
  }

  /** Deletes the target and records the purge, in one transaction. */
  purge(target: RecordRef, actor: Actor): Promise<number> {
    return this.#transaction("purging", async (tx) => {
      let deleted: number;
      if (target.kind === "all") {
        await tx`SELECT pg_advisory_xact_lock(${ALL_RECORDS_LOCK})`;
        deleted = await deleteRecords(tx, "users") +
          await deleteRecords(tx, "groups");
      } else {
        await lockIds(tx, [target.id]);
        deleted = await deleteRecords(
          tx,
          target.kind === "user" ? "users" : "groups",
          target.id,
        );
      }
      if (deleted > 0) {
        await this.#audit(tx, {
          actor,
          action: "purge",
          target,
          records: deleted,
        });
      }
      return deleted;
    });
  }

  /** Appends an entry to the audit log; returns the entry's number. */
  recordAudit(record: AuditRecord): Promise<number> {
    return this.#transaction(
      "writing the audit log",
      (tx) => this.#audit(tx, record),
    );
  }

  /** Sets how the request logged as entry `entry` ended. */
  async finishAudit(entry: number, outcome: AuditOutcome): Promise<void> {
    await this.#transaction(
      "writing the audit log",
      (tx) => tx`UPDATE audit_log SET outcome = ${outcome} WHERE id = ${entry}`,
    );
  }

  /** When `actor` last did `action` to the record (Unix seconds), if ever. */
  async lastAudit(
    target: RecordRef,
    action: AuditEntry["action"],
    actor: Actor,
  ): Promise<number | undefined> {
    const subject = subjectRef(this.#auditKey, target);
    const [row] = await this.#bounded(
      "reading the audit log",
      () =>
        this.#sql`SELECT max(at) AS at FROM audit_log
                WHERE subject IS NOT DISTINCT FROM ${subject}
                  AND action = ${action} AND actor = ${actor}`,
    );
    return row!.at === null ? undefined : Number(row!.at);
  }

  /** The most recent audit entries, newest first. */
  async recentAudit(limit: number): Promise<AuditEntry[]> {
    const rows = await this.#bounded(
      "reading the audit log",
      () =>
        this
          .#sql`SELECT at, actor, action, kind, subject, records, outcome FROM audit_log
                ORDER BY id DESC LIMIT ${limit}`,
    );
    return rows.map(auditEntry);
  }

  /** Every audit entry about one record, oldest first. */
  async auditOf(target: RecordRef): Promise<AuditEntry[]> {
    const subject = subjectRef(this.#auditKey, target);
    const rows = await this.#bounded(
      "reading the audit log",
      () =>
        this.#sql`SELECT at, actor, action, kind, subject, records, outcome
                FROM audit_log
                WHERE subject IS NOT DISTINCT FROM ${subject}
                  AND kind = ${target.kind}
                ORDER BY at, id`,
    );
    return rows.map(auditEntry);
  }

  /** The audit log's reference for a record. */
  auditSubject(target: RecordRef): Promise<string | null> {
    return Promise.resolve(subjectRef(this.#auditKey, target));
  }

  /** Succeeds when the database answers a query. */
  async ping(): Promise<void> {
    await this.#bounded("ping", () => this.#sql`SELECT 1`, HEALTH_TIMEOUT_MS);
  }

  /**
   * Takes the locks a registration takes (the records' shared lock, and the
   * write lock on the users and groups tables), checks the key and writes
   * the one-row health probe; a lock held more than a second (a key
   * rotation, another session's LOCK TABLE) rejects.
   */
  async checkWritable(): Promise<void> {
    const codec = this.#codec;
    await this.#transaction("the write probe", async (tx) => {
      await tx`SET LOCAL lock_timeout = 1000`;
      await tx`SELECT pg_advisory_xact_lock_shared(${ALL_RECORDS_LOCK})`;
      await tx`LOCK TABLE users, groups IN ROW EXCLUSIVE MODE`;
      // Follows a rotation to another key of the ring; no value is written.
      this.#codec = await checkKey(tx, codec);
      await tx`UPDATE health SET checked_at = ${unixNow()} WHERE id = 1`;
    }, HEALTH_TIMEOUT_MS);
  }

  /**
   * Rewrites the record tables into new files, so that deleted and replaced
   * values no longer linger in them as dead rows. VACUUM FULL would keep
   * every dead row that another session's snapshot might still see; here
   * the live rows are set aside (in temporary tables dropped at commit), the
   * tables emptied with TRUNCATE, which gives them new files, and refilled,
   * in one transaction. Writers wait meanwhile, about as long as a copy of
   * the tables takes.
   */
  async compact(): Promise<void> {
    await this.#transaction("rewriting the tables", async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${ALL_RECORDS_LOCK})`;
      await tx`CREATE TEMPORARY TABLE kept_users ON COMMIT DROP
               AS SELECT * FROM users`;
      await tx`CREATE TEMPORARY TABLE kept_groups ON COMMIT DROP
               AS SELECT * FROM groups`;
      await tx`TRUNCATE users, groups`;
      await tx`INSERT INTO users SELECT * FROM kept_users`;
      await tx`INSERT INTO groups SELECT * FROM kept_groups`;
    }, COMPACT_TIMEOUT_MS);
  }

  /** The bot's own profile stored by `setup`, if any. */
  async botProfile(): Promise<UserFromGetMe | undefined> {
    const [row] = await this.#bounded(
      "reading the bot profile",
      () => this.#sql`SELECT profile FROM bot_profile WHERE id = 1`,
    );
    return row === undefined ? undefined : JSON.parse(row.profile as string);
  }

  /** Stores the bot's own profile (`getMe`). */
  async saveBotProfile(profile: UserFromGetMe): Promise<void> {
    await this.#transaction(
      "storing the bot profile",
      (tx) =>
        tx`INSERT INTO bot_profile (id, profile, saved_at)
           VALUES (1, ${JSON.stringify(profile)}, ${unixNow()})
           ON CONFLICT (id) DO UPDATE SET profile = excluded.profile,
             saved_at = excluded.saved_at`,
    );
  }

  /** The highest applied migration. */
  schemaVersion(): Promise<number> {
    return this.#bounded(
      "reading the schema version",
      () => currentVersion(this.#sql),
    );
  }

  /** Ends the pool, waiting at most 5 s for queries in flight; safe twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sql.end({ timeout: 5 });
  }

  async #audit(sql: Sql | Tx, record: AuditRecord): Promise<number> {
    const [row] = await sql`INSERT INTO audit_log
                              (at, actor, action, kind, subject, records, outcome)
              VALUES (${
      record.at ?? unixNow()
    }, ${record.actor}, ${record.action},
                      ${record.target.kind}, ${
      subjectRef(this.#auditKey, record.target)
    }, ${record.records}, ${record.outcome ?? "done"})
              RETURNING id`;
    return Number(row!.id);
  }

  // What a plan needs that takes a cipher or a keyed hash, computed before
  // the transaction. The hash is needed only to look for a later erasure.
  async #prepare(codec: FieldCodec, plan: RegistrationPlan) {
    const subject = (ref: RecordRef) =>
      plan.sentAt === undefined ? null : subjectRef(this.#auditKey, ref);
    const user = plan.user === undefined ? undefined : {
      cells: codec.encodeUserSync(plan.user),
      subject: subject({ kind: "user", id: plan.user.id }),
    };
    const group = plan.group === undefined ? undefined : {
      cells: codec.encodeGroupSync(plan.group),
      subject: subject({ kind: "group", id: plan.group.id }),
    };
    const move = plan.move === undefined
      ? undefined
      : await this.#movedCells(codec, plan.move.fromId, plan.move.toId);
    return { plan, user, group, move };
  }

  // The values of the group at `fromId` encrypted for `toId`, if it is there.
  async #movedCells(
    codec: FieldCodec,
    fromId: number,
    toId: number,
  ): Promise<GroupCells | undefined> {
    const old = await readable(() => this.getGroup(fromId));
    if (old === undefined) return undefined;
    return codec.encodeGroupSync({ ...old, id: toId, type: "supergroup" });
  }

  // Inside a transaction. The old record is looked up again under the lock:
  // if another process deleted it meanwhile, it is not brought back.
  async #move(
    tx: Tx,
    fromId: number,
    toId: number,
    cells: GroupCells | undefined,
  ): Promise<boolean> {
    const [old] = await tx`SELECT registered_at FROM groups WHERE id = ${fromId}
                           FOR UPDATE`;
    if (old !== undefined && cells !== undefined) {
      await tx`INSERT INTO groups (id, username, title, type, registered_at)
               VALUES (${toId}, ${cells[0]}, ${
        cells[1]
      }, 'supergroup', ${old.registered_at})
               ON CONFLICT (id) DO UPDATE SET
                 registered_at = least(groups.registered_at, excluded.registered_at)`;
    }
    return await deleteRecords(tx, "groups", fromId) > 0;
  }

  // A write transaction: the ids are locked, and the key check is read
  // under a share lock, so if another process bound or rotated the key
  // meanwhile nothing is written under the old key, nor as plaintext into an
  // encrypted database.
  // `body` gets `ready`, which it awaits before writing; queries it starts
  // first go out in the same round trip as the locks, after them.
  #write<T>(
    what: string,
    codec: FieldCodec,
    ids: number[],
    body: (tx: Tx, ready: Promise<unknown>) => Promise<T>,
  ): Promise<T> {
    return this.#transaction(what, async (tx) => {
      // Sent together in this order (postgres.js runs queries in the order
      // they are started): one round trip instead of three.
      const all = tx`SELECT pg_advisory_xact_lock_shared(${ALL_RECORDS_LOCK})`
        .execute();
      const ready = Promise.all([
        all,
        lockIds(tx, ids),
        checkKey(tx, codec).then((bound) => {
          if (bound === codec) return;
          // Another process rotated to a key this ring holds: the values
          // are encrypted again with it, and the write retried.
          this.#codec = bound;
          throw new KeyMovedError(bound.cipher!.keyId);
        }),
      ]);
      // Handled here too, so that a body that fails before awaiting it
      // leaves no unhandled rejection.
      ready.catch(() => {});
      return await body(tx, ready);
    });
  }

  // A bounded transaction. A caller told it failed must not see it commit
  // later: postgres.js sends a query queued on a lost connection again once
  // it reconnects, so a transaction that starts, or reaches its end, after
  // the deadline rolls back instead.
  #transaction<T>(
    what: string,
    body: (tx: Tx) => Promise<T>,
    ms = this.#timeoutMs,
  ): Promise<T> {
    return bounded(what, ms, (expired) =>
      this.#sql.begin(async (tx) => {
        if (expired()) throw new StoreError(`Gave up ${what}`);
        // The server stops waiting for a lock when the caller stops waiting,
        // so an abandoned transaction frees its connection and its locks.
        // Sent in the same round trip as the body's first statement.
        const limit = tx.unsafe(`SET LOCAL lock_timeout = ${Math.ceil(ms)}`)
          .execute();
        const [, result] = await Promise.all([limit, body(tx)]);
        if (expired()) throw new StoreError(`Gave up ${what}`);
        return result;
      }) as Promise<T>);
  }

  // Every store call is bounded in time, so that no request waits on a
  // database that does not answer; failures become `StoreError`.
  #bounded<T>(
    what: string,
    body: () => Promise<T>,
    ms = this.#timeoutMs,
  ): Promise<T> {
    return bounded(what, ms, body);
  }
}

// Runs `body` with a deadline; errors other than the key's and the data's
// own become `StoreError`.
async function bounded<T>(
  what: string,
  ms: number,
  body: (expired: () => boolean) => Promise<T>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(
        new StoreError(
          `PostgreSQL did not answer within ${ms / 1000} s (${what})`,
        ),
      );
    }, ms);
  });
  try {
    return await Promise.race([guard(() => body(() => late)), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function guard<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw asStoreError(error);
  }
}

function asStoreError(error: unknown): Error {
  if (
    error instanceof StoreError || error instanceof WrongKeyError ||
    error instanceof TamperedError
  ) {
    return error;
  }
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^(XX001|XX002)$/.test(code)) {
    return new DamagedStoreError(
      `The PostgreSQL database is damaged: ${
        messageOf(error)
      }; it will not mend by itself: restore it from a backup`,
      { cause: error },
    );
  }
  // Class 23: a constraint the data can never meet, however often it is sent.
  if (typeof code === "string" && code.startsWith("23")) {
    return new PermanentStoreError(`PostgreSQL failed: ${messageOf(error)}`, {
      cause: error,
    });
  }
  return new StoreError(`PostgreSQL failed: ${messageOf(error)}`, {
    cause: error,
  });
}

interface UserRow {
  id: number;
  username: string | null;
  first_name: string | null;
  last_name: string | null;
  language_code: string | null;
}

interface GroupRow {
  id: number;
  username: string | null;
  title: string | null;
  type: string;
}

// Inserts the users, or updates their fields keeping registered_at; ids
// must be distinct.
async function upsertUsers(tx: Tx, rows: UserRow[], now: number) {
  await tx`INSERT INTO users (id, username, first_name, last_name, language_code, registered_at)
           SELECT id, username, first_name, last_name, language_code, ${now}::bigint
           FROM json_to_recordset(${JSON.stringify(rows)}::text::json)
             AS v(id bigint, username text, first_name text, last_name text,
                  language_code text)
           ON CONFLICT (id) DO UPDATE SET
             username = excluded.username, first_name = excluded.first_name,
             last_name = excluded.last_name, language_code = excluded.language_code`;
}

// Inserts the groups, or updates their fields keeping registered_at; ids
// must be distinct.
async function upsertGroups(tx: Tx, rows: GroupRow[], now: number) {
  await tx`INSERT INTO groups (id, username, title, type, registered_at)
           SELECT id, username, title, type, ${now}::bigint
           FROM json_to_recordset(${JSON.stringify(rows)}::text::json)
             AS v(id bigint, username text, title text, type text)
           ON CONFLICT (id) DO UPDATE SET
             username = excluded.username, title = excluded.title,
             type = excluded.type`;
}

// Locks record ids for this transaction, in ascending order so that two
// transactions never wait on each other in a cycle.
async function lockIds(tx: Tx, ids: number[]): Promise<void> {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  if (sorted.length === 0) return;
  await tx`SELECT pg_advisory_xact_lock(id)
           FROM unnest(${`{${sorted.join(",")}}`}::text::bigint[]) AS id
           ORDER BY id`;
}

// The codec to write with under the key the database is bound to now, read
// under a share lock so that a rotation's move waits for this transaction.
async function checkKey(tx: Tx, codec: FieldCodec): Promise<FieldCodec> {
  const [check] = await tx`SELECT key_id FROM data_key_check WHERE id = 1
                           FOR SHARE`;
  return codecForBinding(codec, check?.key_id as string | undefined);
}

// The latest purge time of each subject asked for, and of all records.
async function purgeTimes(
  tx: Tx,
  subjects: (string | null | undefined)[],
): Promise<{ all: number; bySubject: Map<string, number> }> {
  const wanted = [...new Set(subjects.filter((s): s is string => s != null))];
  const bySubject = new Map<string, number>();
  if (wanted.length === 0) return { all: -Infinity, bySubject };
  // Both halves are look-ups in the audit_log_subject index: the records'
  // own purges, and purges of everything (whose subject is null).
  const rows = await tx`
    SELECT subject, max(at) AS at FROM audit_log
    WHERE action = 'purge'
      AND (subject IN (SELECT json_array_elements_text(${
    JSON.stringify(wanted)
  }::text::json))
           OR (subject IS NULL AND kind = 'all'))
    GROUP BY subject`;
  let all = -Infinity;
  for (const row of rows) {
    if (row.subject === null) all = Number(row.at);
    else bySubject.set(row.subject as string, Number(row.at));
  }
  return { all, bySubject };
}

// Deletes one record (or every one of a table) and raises the erasure
// counter in the same statement when something was deleted.
async function deleteRecords(
  tx: Tx,
  table: "users" | "groups",
  id?: number,
): Promise<number> {
  const where = id === undefined ? "" : "WHERE id = $1";
  const [row] = await tx.unsafe(
    `WITH deleted AS (DELETE FROM ${table} ${where} RETURNING 1),
          counted AS (SELECT count(*) AS n FROM deleted),
          bumped AS (UPDATE erasure_version SET version = version + 1
                     WHERE id = 1 AND (SELECT n FROM counted) > 0)
     SELECT n FROM counted`,
    id === undefined ? [] : [id],
  );
  return Number(row!.n);
}

// Pages of CURSOR_ROWS rows through a server-side cursor, in id order.
async function* rawPages<T>(
  sql: Sql | Tx,
  table: "users" | "groups",
): AsyncIterable<T[]> {
  const columns = table === "users" ? USER_COLUMNS : GROUP_COLUMNS;
  try {
    for await (
      const rows of sql.unsafe(
        `SELECT ${columns} FROM ${table} ORDER BY id`,
      ).cursor(CURSOR_ROWS)
    ) {
      yield rows as unknown as T[];
    }
  } catch (error) {
    throw asStoreError(error);
  }
}

// Decrypts a page at a time: node:crypto is synchronous and fast, so no
// call waits on a thread pool.
async function* decodePages<T>(
  pages: AsyncIterable<T[]>,
  decode: (row: T) => T | undefined,
): AsyncIterable<T> {
  for await (const rows of pages) {
    for (const row of rows) {
      const record = decode(row);
      if (record !== undefined) yield record;
    }
  }
}

// Encrypts every record of a plaintext database and stores the key check,
// inside the caller's transaction. Updating the rows in place would leave
// the plaintext in the table files as dead rows, which VACUUM cannot remove
// while any other session's snapshot might still see them. So the rows are
// set aside in temporary tables (dropped, with their files, at commit) and
// the tables emptied with TRUNCATE, which gives them new files: the
// encrypted rows are written into files that never held a name in clear.
async function encryptAll(
  tx: Tx,
  to: FieldCodec,
  onProgress?: (done: number, total: number) => void,
): Promise<number> {
  await tx`CREATE TEMPORARY TABLE plain_users ON COMMIT DROP
           AS SELECT * FROM users`;
  await tx`CREATE TEMPORARY TABLE plain_groups ON COMMIT DROP
           AS SELECT * FROM groups`;
  await tx`TRUNCATE users, groups`;
  const [counts] = await tx`SELECT (SELECT count(*) FROM plain_users) +
                                   (SELECT count(*) FROM plain_groups) AS total`;
  const total = Number(counts!.total);
  let done = 0;
  for await (const rows of keysetPages<UserRecord>(tx, "plain_users")) {
    const cells = rows.map((row) => ({
      ...userCells(row.id, to.encodeUserSync(row)),
      language_code: row.language_code,
      registered_at: row.registered_at,
    }));
    await tx`INSERT INTO users (${tx(USER_FIELDS)})
             SELECT * FROM json_to_recordset(${
      JSON.stringify(cells)
    }::text::json) AS v(id bigint, username text, first_name text,
                        last_name text, language_code text, registered_at bigint)`;
    done += rows.length;
    onProgress?.(done, total);
  }
  for await (const rows of keysetPages<GroupRecord>(tx, "plain_groups")) {
    const cells = rows.map((row) => {
      const [username, title] = to.encodeGroupSync(row);
      return { ...row, username, title };
    });
    await tx`INSERT INTO groups (${tx(GROUP_FIELDS)})
             SELECT * FROM json_to_recordset(${
      JSON.stringify(cells)
    }::text::json) AS v(id bigint, username text, title text, type text,
                        registered_at bigint)`;
    done += rows.length;
    onProgress?.(done, total);
  }
  if (done === 0) onProgress?.(0, total);
  await tx`INSERT INTO data_key_check (id, key_id, check_value)
           VALUES (1, ${to.cipher!.keyId}, ${to.keyCheckSync()})
           ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id,
             check_value = excluded.check_value`;
  return done;
}

// Writes the rows' encrypted columns again, decoded with `from` and encoded
// with `to`, in one statement; returns how many were written. A damaged
// record is reported and left as it is.
async function rewriteRows(
  tx: Tx,
  table: "users" | "groups",
  rows: (UserRecord | GroupRecord)[],
  options: IterateOptions & { from: FieldCodec; to: FieldCodec },
): Promise<number> {
  const { from, to } = options;
  if (table === "users") {
    const decode = skippingDamaged(
      (row: UserRecord) => from.decodeUserSync(row),
      options.onDamaged,
    );
    const cells = (rows as UserRecord[]).flatMap((row) => {
      const user = decode(row);
      return user === undefined
        ? []
        : [userCells(row.id, to.encodeUserSync(user))];
    });
    if (cells.length === 0) return 0;
    await tx`UPDATE users AS u
             SET username = v.username, first_name = v.first_name, last_name = v.last_name
             FROM json_to_recordset(${
      JSON.stringify(cells)
    }::text::json) AS v(id bigint, username text, first_name text, last_name text)
             WHERE u.id = v.id`;
    return cells.length;
  }
  const decode = skippingDamaged(
    (row: GroupRecord) => from.decodeGroupSync(row),
    options.onDamaged,
  );
  const cells = (rows as GroupRecord[]).flatMap((row) => {
    const group = decode(row);
    if (group === undefined) return [];
    const [username, title] = to.encodeGroupSync(group);
    return [{ id: row.id, username, title }];
  });
  if (cells.length === 0) return 0;
  await tx`UPDATE groups AS g
           SET username = v.username, title = v.title
           FROM json_to_recordset(${
    JSON.stringify(cells)
  }::text::json) AS v(id bigint, username text, title text)
           WHERE g.id = v.id`;
  return cells.length;
}

function userCells(id: number, cells: UserCells) {
  return {
    id,
    username: cells[0],
    first_name: cells[1],
    last_name: cells[2],
  };
}

const USER_FIELDS = USER_COLUMNS.split(", ");
const GROUP_FIELDS = GROUP_COLUMNS.split(", ");

// Keyset pagination inside a transaction: each page is a short query.
async function* keysetPages<T extends { id: number }>(
  tx: Tx,
  table: "plain_users" | "plain_groups",
): AsyncIterable<T[]> {
  const columns = table === "plain_users" ? USER_COLUMNS : GROUP_COLUMNS;
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = await tx.unsafe(
      `SELECT ${columns} FROM ${table} WHERE id > $1 ORDER BY id LIMIT ${PAGE_SIZE}`,
      [after],
    ) as unknown as T[];
    if (rows.length > 0) yield [...rows];
    if (rows.length < PAGE_SIZE) return;
    after = rows[rows.length - 1]!.id;
  }
}

// A record that fails its integrity check counts as absent for writes: the
// update being written replaces it with values that check out.
async function readable<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof TamperedError) return undefined;
    throw error;
  }
}

function sameUser(a: UserFields, b: UserFields): boolean {
  return a.username === b.username && a.first_name === b.first_name &&
    a.last_name === b.last_name && a.language_code === b.language_code;
}

function sameGroup(a: GroupFields, b: GroupFields): boolean {
  return a.username === b.username && a.title === b.title && a.type === b.type;
}

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
