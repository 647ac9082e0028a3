import type { UserFromGetMe } from "grammy/types";
import {
  type Actor,
  type AuditEntry,
  auditEntry,
  type AuditOutcome,
  type RecordRef,
  subjectRef,
} from "../audit.ts";
import type { FieldCipher } from "../../crypto/field_cipher.ts";
import type { FieldCodec } from "../../crypto/field_codec.ts";
import {
  type Catalog,
  type Row,
  type TableDescription,
} from "../../base/tables.ts";
import { AUDIT_FIELDS } from "../_columns.ts";
import {
  healthStamp,
  KeyMovedError,
  remainingValues,
  retryOnKeyMove,
  unixNow,
} from "../_engine.ts";
import {
  encodeRecords,
  prepareMove,
  prepareRowOps,
  rowDecoder,
  TableSet,
} from "../_rows.ts";
import type { RawDatabase } from "../raw_copy.ts";
import {
  type AuditRecord,
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
  ALL_RECORDS_LOCK,
  bounded,
  checkKey,
  currentVersion,
  lockIds,
  PROBE_TIMEOUT_MS,
  type Sql,
  type Tx,
} from "./_driver.ts";
import {
  cursorPages,
  decodePages,
  eraseRows,
  insertAudit,
  Queries,
  readSummary,
  rewriteTables,
} from "./_queries.ts";
import { postgresRawOn } from "./postgres_raw.ts";
import { planIds, type PreparedPlan, refKey, writePlans } from "./register.ts";
import { rotatePostgres } from "./rotate.ts";

/** How long rewriting the tables may take, in ms: it grows with them. */
const COMPACT_TIMEOUT_MS = 60 * 60_000;

/** What a `PostgresStore` is made of besides its pool. */
export interface StoreParts {
  /** Encodes values under the key the database is bound to. */
  codec: FieldCodec;
  /** The key of the audit log's subject hashes. */
  auditKey: Uint8Array;
  /** Bound on each store call, in ms. */
  queryTimeoutMs: number;
  /** Every described table it holds: users, groups and the plugins'. */
  catalog: Catalog;
}

/** The `Store` on PostgreSQL through `npm:postgres`; see `openPostgresStore`. */
export class PostgresStore implements Store {
  #sql: Sql;
  #catalog: Catalog;
  #codec: FieldCodec;
  #auditKey: Uint8Array;
  #timeoutMs: number;
  #closed = false;
  #tables: TableSet;
  #queries: Queries;

  /** Every described table, users and groups first. */
  get tables(): readonly TableDescription[] {
    return this.#tables.tables;
  }

  /** Wraps a connected, migrated pool; use `openPostgresStore`. */
  constructor(sql: Sql, parts: StoreParts) {
    this.#sql = sql;
    this.#catalog = parts.catalog;
    this.#codec = parts.codec;
    this.#auditKey = parts.auditKey;
    this.#timeoutMs = parts.queryTimeoutMs;
    this.#tables = new TableSet(parts.catalog);
    this.#queries = new Queries(this.#tables);
  }

  /**
   * The rows of `table` about the subject, decrypted, in key order; none
   * when the table holds nothing about such a subject.
   */
  async read(table: string, subject: SubjectRef): Promise<Row[]> {
    const described = this.#tables.describe(table);
    const rows = await this.#stored(described, subject);
    return rows.map((row) => this.#codec.decodeRowSync(described, row));
  }

  // The stored rows of `table` about the subject, as they are stored.
  async #stored(table: TableDescription, subject: SubjectRef): Promise<Row[]> {
    const query = this.#queries.of(table).bySubject[subject.kind];
    if (query === undefined) return [];
    return await this.#bounded(
      `reading ${table.name}`,
      () => this.#sql.unsafe(query, [subject.id], { prepare: true }),
    ) as unknown as Row[];
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
    // Checked first: a bad plugin write is a `TypeError` before anything.
    const ops = prepareRowOps(this.#tables, codec, plans);
    const prepared = await Promise.all(
      plans.map((plan, i) => this.#prepare(codec, plan, ops[i]!)),
    );
    return await this.#write(
      "registering",
      codec,
      planIds(prepared),
      (tx, ready) =>
        writePlans(tx, prepared, {
          now,
          ready,
          queries: this.#queries,
          audit: (tx, record) => this.#audit(tx, record),
        }),
    );
  }

  /** The counter every deletion, move and purge raises, read now. */
  async erasureVersion(): Promise<number> {
    const [row] = await this.#bounded(
      "reading the erasure counter",
      () => this.#sql`SELECT version FROM erasure_version WHERE id = 1`,
    );
    return Number(row!.version);
  }

  /** Every row of `table` in key order, decrypted, read through a cursor a page at a time. */
  iterate(table: string, options: IterateOptions = {}): AsyncIterable<Row> {
    const described = this.#tables.describe(table);
    return decodePages(
      cursorPages(this.#sql, this.#queries.of(described)),
      rowDecoder(this.#codec, described, options.onDamaged),
    );
  }

  /**
   * Moves the database to `next`'s key while other instances go on (see
   * `rotatePostgres`).
   */
  async rotateKey(
    next: FieldCipher,
    options: RotateKeyOptions = {},
  ): Promise<RotationResult> {
    const records = await rotatePostgres(next, {
      from: this.#codec,
      tables: this.#tables.tables,
      bind: async (to) => {
        await this.#transaction("moving to the new key", async (tx) => {
          await tx`INSERT INTO data_key_check (id, key_id, check_value)
                   VALUES (1, ${to.cipher!.keyId}, ${to.keyCheckSync()})
                   ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id,
                     check_value = excluded.check_value`;
        });
        this.#codec = to;
      },
      read: (query, params) =>
        this.#bounded(
          "reading a page of records",
          () => this.#sql.unsafe(query, params),
        ) as unknown as Promise<Row[]>,
      write: (codec, ids, body) =>
        this.#write("re-encrypting", codec, ids, async (tx, ready) => {
          await ready;
          return await body(tx);
        }),
    }, options);
    return {
      records,
      remaining: remainingValues(await this.summary(), next.keyId),
    };
  }

  /** Counts, schema version, registration range and the database's size. */
  summary(): Promise<StoreSummary> {
    return this.#bounded(
      "summarising",
      () => readSummary(this.#sql, this.#tables.tables),
    );
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
    return this.#transaction("purging", async (tx) => {
      if (target.kind === "all") {
        await tx`SELECT pg_advisory_xact_lock(${ALL_RECORDS_LOCK})`;
      } else {
        await lockIds(tx, [target.id]);
      }
      const deleted = await eraseRows(tx, this.#queries, target);
      if (deleted > 0) {
        await this.#audit(tx, {
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
    const [current] = await this.#bounded(
      "reading the retention period",
      () => this.#sql`SELECT days, since FROM retention WHERE id = 1`,
    );
    const unchanged = days === undefined
      ? current?.since === null
      : Number(current?.days) === days && current?.since !== null;
    if (unchanged) return;
    await this.#transaction("recording the retention period", async (tx) => {
      if (days !== undefined) {
        await tx`UPDATE retention SET days = ${days},
                   since = coalesce(since, ${today}) WHERE id = 1`;
        return;
      }
      await tx`UPDATE users SET seen_on = NULL WHERE seen_on IS NOT NULL`;
      await tx`UPDATE groups SET seen_on = NULL WHERE seen_on IS NOT NULL`;
      await tx`UPDATE retention SET days = NULL, since = NULL WHERE id = 1`;
    });
  }

  /**
   * Claims today's sweep: one row updated only when its day is older, so
   * that of several instances exactly one gets it (the row lock orders
   * them; the later one finds the day already set).
   */
  async claimSweep(today: string): Promise<boolean> {
    const rows = await this.#transaction(
      "claiming the sweep",
      (tx) =>
        tx`UPDATE retention SET swept_on = ${today}
           WHERE id = 1 AND (swept_on IS NULL OR swept_on < ${today})
           RETURNING id`,
    );
    return rows.length === 1;
  }

  /** Erases users and groups last seen before `cutoff`, a page at a time. */
  async sweep(
    cutoff: string,
    options: SweepOptions = {},
  ): Promise<SweepResult> {
    const pageSize = options.pageSize ?? 200;
    const result: SweepResult = { users: 0, groups: 0, rows: 0 };
    const stale = (sql: Sql | Tx, table: string, limit: number | null) =>
      sql.unsafe(
        `SELECT id FROM ${table}
         WHERE coalesce(seen_on, (SELECT since FROM retention WHERE id = 1)) < $1
         ORDER BY id LIMIT $2`,
        [cutoff, limit],
      ).then((rows) => rows.map((row) => Number(row.id)));
    if (options.dryRun) {
      return await this.#bounded("counting inactive records", async () => ({
        users: (await stale(this.#sql, "users", null)).length,
        groups: (await stale(this.#sql, "groups", null)).length,
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
    for (const kind of ["user", "group"] as const) {
      const table = kind === "user" ? "users" : "groups";
      while (true) {
        // One page per transaction: a registration of the same ids waits
        // at most a page, and a record seen meanwhile is kept.
        const erased = await this.#transaction("sweeping", async (tx) => {
          const found = await stale(tx, table, pageSize);
          await lockIds(tx, found);
          // Read again under the locks: one seen meanwhile is kept.
          const ids = found.length === 0 ? [] : (await tx.unsafe(
            `SELECT id FROM ${table}
             WHERE id = ANY($1::text::bigint[])
               AND coalesce(seen_on, (SELECT since FROM retention WHERE id = 1)) < $2`,
            [`{${found.join(",")}}`, cutoff],
          )).map((row) => Number(row.id));
          let rows = 0;
          for (const id of ids) {
            rows += await eraseRows(tx, this.#queries, { kind, id });
          }
          await tx`UPDATE audit_log SET records = records + ${rows}
                   WHERE id = ${entry}`;
          return { found: found.length, records: ids.length, rows };
        });
        result[kind === "user" ? "users" : "groups"] += erased.records;
        result.rows += erased.rows;
        if (erased.found < pageSize) break;
      }
    }
    await this.finishAudit(entry, "done");
    return result;
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
          .#sql`SELECT ${this.#sql(AUDIT_FIELDS)} FROM audit_log
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
        this.#sql`SELECT ${this.#sql(AUDIT_FIELDS)}
                FROM audit_log
                WHERE subject IS NOT DISTINCT FROM ${subject}
                  AND kind = ${target.kind}
                ORDER BY at, id`,
    );
    return rows.map(auditEntry);
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
      await tx`UPDATE health
               SET checked_at = greatest(${healthStamp()}, checked_at + 1)
               WHERE id = 1`;
    }, PROBE_TIMEOUT_MS);
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
    await this.#transaction(
      "rewriting the tables",
      (tx) => rewriteTables(tx, this.#tables.tables),
      COMPACT_TIMEOUT_MS,
    );
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

  /** The stored values behind this store's pool; closing them leaves it open. */
  rawCopy(): Promise<RawDatabase> {
    return Promise.resolve(
      postgresRawOn(this.#sql, { owned: false, catalog: this.#catalog }),
    );
  }

  /** Ends the pool, waiting at most 5 s for queries in flight; safe twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sql.end({ timeout: 5 });
  }

  #audit(sql: Sql | Tx, record: AuditRecord): Promise<number> {
    return insertAudit(sql, this.#auditKey, record);
  }

  // What a plan needs that takes a cipher or a keyed hash, computed before
  // the transaction. The hashes are needed only to look for a later erasure.
  async #prepare(
    codec: FieldCodec,
    plan: RegistrationPlan,
    ops: PreparedPlan["ops"],
  ): Promise<PreparedPlan> {
    const refs: RecordRef[] = [
      ...(plan.user === undefined ? [] : [{
        kind: "user" as const,
        id: plan.user.id,
      }]),
      ...(plan.group === undefined ? [] : [{
        kind: "group" as const,
        id: plan.group.id,
      }]),
      ...ops.flatMap((op) => op.op === "write" ? op.about : []),
    ];
    const subjects = new Map<string, string | null>();
    if (plan.sentAt !== undefined) {
      for (const ref of refs) {
        subjects.set(refKey(ref), subjectRef(this.#auditKey, ref));
      }
    }
    const { move } = plan;
    return {
      plan,
      ...encodeRecords(codec, plan),
      ops,
      subjects,
      move: move === undefined ? undefined : await prepareMove(
        this.#tables,
        codec,
        move.toId,
        (table) => this.#stored(table, { kind: "group", id: move.fromId }),
      ),
    };
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
