import type { PostgresConnection } from "../../config/database_url.ts";
import { AUDIT_COLUMNS, GROUP_COLUMNS, USER_COLUMNS } from "../_columns.ts";
import { loadMigrations } from "../migrations.ts";
import {
  connectPostgres,
  migratePostgres,
  POSTGRES_MIGRATIONS,
  type Sql,
  type Tx,
} from "./postgres_store.ts";
import {
  RAW_PAGE_SIZE,
  type RawAudit,
  type RawDatabase,
  type RawGroup,
  type RawSnapshot,
  type RawUser,
  TargetNotEmptyError,
} from "../raw_copy.ts";
import { StoreError } from "../store.ts";

/** A PostgreSQL database seen as stored values; migrated first. */
export async function openPostgresRaw(
  connection: PostgresConnection,
): Promise<RawDatabase> {
  const sql = connectPostgres(connection, { max: 1 });
  try {
    await migratePostgres(sql, await loadMigrations(POSTGRES_MIGRATIONS));
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new StoreError(
      `Cannot open the PostgreSQL database at ${connection.host}:${connection.port}/${connection.database}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  return new PostgresRaw(sql, true);
}

/**
 * The stored values behind an open pool (a `PostgresStore`'s); closing the
 * result ends the pool only when `owned`.
 */
export function postgresRawOn(
  sql: Sql,
  options: { owned: boolean },
): RawDatabase {
  return new PostgresRaw(sql, options.owned);
}

class PostgresRaw implements RawDatabase {
  #sql: Sql;
  #owned: boolean;

  constructor(sql: Sql, owned: boolean) {
    this.#sql = sql;
    this.#owned = owned;
  }

  // One repeatable-read transaction: every page comes from one snapshot
  // while instances keep writing.
  async read<T>(body: (snapshot: RawSnapshot) => Promise<T>): Promise<T> {
    return await this.#sql.begin(
      "ISOLATION LEVEL REPEATABLE READ READ ONLY",
      async (tx) => {
        const [counts] = await tx`
          SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM groups) +
                 (SELECT count(*) FROM audit_log) AS total`;
        const [key] = await tx`SELECT key FROM audit_key WHERE id = 1`;
        if (key === undefined) throw new StoreError("The audit key is missing");
        const [keyCheck] = await tx`SELECT key_id, check_value
                                    FROM data_key_check WHERE id = 1`;
        const [profile] = await tx`SELECT profile, saved_at
                                   FROM bot_profile WHERE id = 1`;
        return await body({
          total: Number(counts!.total),
          users: () => pages<RawUser>(tx, "users", USER_COLUMNS, "id"),
          groups: () => pages<RawGroup>(tx, "groups", GROUP_COLUMNS, "id"),
          audit: () => pages<RawAudit>(tx, "audit_log", AUDIT_COLUMNS, "id"),
          auditKey: new Uint8Array(key.key as Uint8Array),
          keyCheck: keyCheck === undefined ? undefined : {
            key_id: keyCheck.key_id as string,
            check_value: keyCheck.check_value as string,
          },
          botProfile: profile === undefined ? undefined : {
            profile: profile.profile as string,
            saved_at: Number(profile.saved_at),
          },
        });
      },
    ) as T;
  }

  async holdings(): Promise<{ records: number; audit: number }> {
    return await holdings(this.#sql);
  }

  async write(
    snapshot: RawSnapshot,
    onRows: (rows: number) => void,
  ): Promise<void> {
    await this.#sql.begin(async (tx) => {
      // Nothing else writes the target while it fills: a bot started on it
      // meanwhile waits, then finds the copied records.
      await tx`LOCK TABLE users, groups, audit_log IN EXCLUSIVE MODE`;
      const held = await holdings(tx);
      if (held.records + held.audit > 0) throw new TargetNotEmptyError(held);
      for await (const rows of snapshot.users()) {
        await tx`INSERT INTO users (id, username, first_name, last_name, language_code, registered_at)
                 SELECT * FROM json_to_recordset(${json(rows)}::text::json)
                   AS v(id bigint, username text, first_name text, last_name text,
                        language_code text, registered_at bigint)`;
        onRows(rows.length);
      }
      for await (const rows of snapshot.groups()) {
        await tx`INSERT INTO groups (id, username, title, type, registered_at)
                 SELECT * FROM json_to_recordset(${json(rows)}::text::json)
                   AS v(id bigint, username text, title text, type text,
                        registered_at bigint)`;
        onRows(rows.length);
      }
      for await (const rows of snapshot.audit()) {
        // Numbered, so that the new ids keep the log's order.
        const numbered = rows.map((row, n) => ({ ...row, n }));
        await tx`INSERT INTO audit_log (at, actor, action, kind, subject, records, outcome)
                 SELECT at, actor, action, kind, subject, records, outcome
                 FROM json_to_recordset(${json(numbered)}::text::json)
                   AS v(at bigint, actor text, action text, kind text,
                        subject text, records bigint, outcome text, n integer)
                 ORDER BY n`;
        onRows(rows.length);
      }
      await tx`UPDATE audit_key SET key = decode(${
        hex(snapshot.auditKey)
      }, 'hex') WHERE id = 1`;
      await tx`DELETE FROM data_key_check`;
      if (snapshot.keyCheck !== undefined) {
        await tx`INSERT INTO data_key_check (id, key_id, check_value)
                 VALUES (1, ${snapshot.keyCheck.key_id}, ${snapshot.keyCheck.check_value})`;
      }
      await tx`DELETE FROM bot_profile`;
      if (snapshot.botProfile !== undefined) {
        await tx`INSERT INTO bot_profile (id, profile, saved_at)
                 VALUES (1, ${snapshot.botProfile.profile}, ${snapshot.botProfile.saved_at})`;
      }
    });
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#sql.end({ timeout: 5 });
  }
}

async function holdings(
  sql: Sql | Tx,
): Promise<{ records: number; audit: number }> {
  const [row] = await sql`
    SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM groups) AS records,
           (SELECT count(*) FROM audit_log) AS audit`;
  return { records: Number(row!.records), audit: Number(row!.audit) };
}

// Pages through a server-side cursor inside the snapshot's transaction.
async function* pages<T>(
  tx: Tx,
  table: string,
  columns: string,
  order: string,
): AsyncIterable<T[]> {
  for await (
    const rows of tx.unsafe(
      `SELECT ${columns} FROM ${table} ORDER BY ${order}`,
    ).cursor(RAW_PAGE_SIZE)
  ) {
    yield rows.map((row) => ({ ...row }) as T);
  }
}

function json(rows: unknown[]): string {
  return JSON.stringify(rows);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(
    "",
  );
}
